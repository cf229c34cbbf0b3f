//! The server process killed with SIGKILL in the middle of a load, then started again on
//! the same database: every acknowledged append is there, nothing of an unacknowledged
//! one (a batch of several events) is half there, versions and global positions have no gap, and the restarted
//! server goes on where the first stopped.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chronik_core::{EventStore, ManualClock, ReadAllOptions, SequentialIds};
use chronik_postgres::PgStore;
use common::{ServerProcess as Server, TestDb};
use serde_json::{json, Value};

const CLIENTS: usize = 12;
const BATCH_WRITERS: usize = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_server_killed_mid_load_loses_no_acknowledged_append_and_leaves_no_gap() {
    let db = TestDb::new("chronik_server_test").await;
    let mut server = Server::start(&db).await;
    let http = reqwest::Client::new();
    for k in 0..CLIENTS {
        let r = http
            .post(format!("{}/accounts/acc-{k}", server.url))
            .json(&json!({"type": "OpenAccount", "owner": format!("owner {k}"), "initial_balance": 0}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "open acc-{k}: {}", r.status());
    }

    // Each client deposits 1 unit after another into its own account and counts what
    // the server acknowledged, until the server dies under it.
    let acknowledged: Arc<Vec<AtomicU64>> =
        Arc::new((0..CLIENTS).map(|_| AtomicU64::new(0)).collect());
    let mut clients = Vec::new();
    for k in 0..CLIENTS {
        let (http, url, acked) = (http.clone(), server.url.clone(), Arc::clone(&acknowledged));
        clients.push(tokio::spawn(async move {
            loop {
                let sent = http
                    .post(format!("{url}/accounts/acc-{k}"))
                    .json(&json!({"type": "Deposit", "amount": 1}))
                    .timeout(Duration::from_secs(10))
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status().is_success() => {
                        acked[k].fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(r) => panic!(
                        "deposit refused: {} {}",
                        r.status(),
                        r.text().await.unwrap_or_default()
                    ),
                    Err(_) => return, // the server is gone
                }
            }
        }));
    }
    // And writers of batches of 5 events through the store API, into the same store.
    let batches_acked: Arc<Vec<AtomicU64>> =
        Arc::new((0..BATCH_WRITERS).map(|_| AtomicU64::new(0)).collect());
    for w in 0..BATCH_WRITERS {
        let (http, url, acked) = (http.clone(), server.url.clone(), Arc::clone(&batches_acked));
        clients.push(tokio::spawn(async move {
            for b in 0_u64.. {
                let events: Vec<Value> = (0..5)
                    .map(|i| json!({"id": format!("w{w}-{b}-{i}"), "type": "Noted", "data": {"i": i}}))
                    .collect();
                let sent = http
                    .post(format!("{url}/v1/stores/default/streams/batch-{w}"))
                    .json(&json!({"expectedVersion": b * 5, "events": events}))
                    .timeout(Duration::from_secs(10))
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status().is_success() => {
                        acked[w].fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(r) => panic!("batch refused: {} {}", r.status(), r.text().await.unwrap_or_default()),
                    Err(_) => return,
                }
            }
        }));
    }
    let total = || {
        acknowledged
            .iter()
            .map(|a| a.load(Ordering::SeqCst))
            .sum::<u64>()
    };
    for _ in 0..1200 {
        if total() >= 400 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(
        total() >= 400,
        "the load got going ({} acknowledged)",
        total()
    );
    server.kill();
    for client in clients {
        client.await.expect("a client ended without panicking");
    }
    let acknowledged: Vec<u64> = acknowledged
        .iter()
        .map(|a| a.load(Ordering::SeqCst))
        .collect();
    let batches_acked: Vec<u64> = batches_acked
        .iter()
        .map(|a| a.load(Ordering::SeqCst))
        .collect();

    // Straight from PostgreSQL: the log is gapless and every stream contiguous.
    let store = PgStore::connect(
        db.pool(2),
        "default",
        ManualClock::new(0),
        SequentialIds::new("check"),
    )
    .await
    .unwrap();
    let log = store.read_all(ReadAllOptions::default()).await.unwrap();
    assert_eq!(
        log.iter().map(|e| e.position).collect::<Vec<_>>(),
        (1..=log.len() as u64).collect::<Vec<_>>(),
        "global positions 1..n without a gap"
    );
    let mut versions: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for e in &log {
        versions
            .entry(e.stream_id.as_str())
            .or_default()
            .push(e.version);
    }
    for (stream, v) in &versions {
        assert_eq!(v, &(1..=v.len() as u64).collect::<Vec<_>>(), "{stream}");
    }
    // Every batch is there whole or not at all: acknowledged ones all, at most one more.
    for (w, &acked) in batches_acked.iter().enumerate() {
        let stored = versions
            .get(format!("batch-{w}").as_str())
            .map_or(0, |v| v.len() as u64);
        assert_eq!(
            stored % 5,
            0,
            "batch-{w}: {stored} events, not whole batches of 5"
        );
        let batches = stored / 5;
        assert!(
            batches >= acked && batches <= acked + 1,
            "batch-{w}: {batches} batches stored, {acked} acknowledged"
        );
    }

    // Restarted on the same database: every acknowledged deposit is there (at most one
    // more per client, the one in flight when the server died), and it goes on.
    let server = Server::start(&db).await;
    for (k, &acked) in acknowledged.iter().enumerate() {
        let events: Value = http
            .get(format!("{}/accounts/acc-{k}/events", server.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let deposits = events
            .as_array()
            .expect("an array of events")
            .iter()
            .filter(|e| e["type"] == "MoneyDeposited")
            .count() as u64;
        assert!(
            deposits >= acked && deposits <= acked + 1,
            "acc-{k}: {deposits} deposits stored, {acked} acknowledged"
        );
        let account: Value = http
            .get(format!("{}/accounts/acc-{k}", server.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            account["balance"].as_f64(),
            Some(deposits as f64),
            "acc-{k}: {account}"
        );
        let r = http
            .post(format!("{}/accounts/acc-{k}", server.url))
            .json(&json!({"type": "Deposit", "amount": 1}))
            .send()
            .await
            .unwrap();
        assert!(
            r.status().is_success(),
            "a deposit after the restart: {}",
            r.status()
        );
    }
}
