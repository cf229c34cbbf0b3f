//! Seed 004's CQRS bank API over real HTTP on PostgreSQL: its example workflows with
//! the same requests, checked against the shapes its responses show.

mod common;

use common::{assert_refused, TestServer};
use reqwest::StatusCode;
use serde_json::{json, Value};

fn without_timestamps(mut events: Value) -> Value {
    for e in events.as_array_mut().unwrap() {
        let meta = e["metadata"].as_object_mut().unwrap();
        assert!(meta.remove("timestamp").unwrap().as_i64().unwrap() > 1_600_000_000_000);
        let id = e.as_object_mut().unwrap().remove("id").unwrap();
        assert!(!id.as_str().unwrap().is_empty());
    }
    events
}

/// "1. Complete Account Lifecycle", "2. Event Replay" and "3. Analytics", as written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_workflows() {
    let t = TestServer::start().await;
    let opened = t
        .post(
            "/commands/open-account",
            r#"{"accountId":"acc-999","initialBalance":1000}"#,
        )
        .await;
    assert_eq!(opened.0, StatusCode::CREATED, "{}", opened.1);
    for body in [
        r#"{"accountId":"acc-999","amount":500}"#,
        r#"{"accountId":"acc-999","amount":250}"#,
    ] {
        assert_eq!(t.post("/commands/deposit", body).await.0, StatusCode::OK);
    }
    let withdrawn = t
        .post(
            "/commands/withdraw",
            r#"{"accountId":"acc-999","amount":100}"#,
        )
        .await;
    assert_eq!(withdrawn.0, StatusCode::OK, "{}", withdrawn.1);
    assert_eq!(withdrawn.1["balance"], json!(1650));

    let (status, account) = t.get("/queries/account/acc-999").await;
    assert_eq!(status, StatusCode::OK);
    let stamps: Vec<_> = account["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tx| tx["timestamp"].as_i64().unwrap())
        .collect();
    assert_eq!(stamps.len(), 3);
    assert_eq!(
        account,
        json!({
            "id": "acc-999",
            "version": 4,
            "balance": 1650,
            "isActive": true,
            "transactionCount": 3,
            "transactions": [
                { "type": "deposit", "amount": 500, "timestamp": stamps[0] },
                { "type": "deposit", "amount": 250, "timestamp": stamps[1] },
                { "type": "withdrawal", "amount": 100, "timestamp": stamps[2] }
            ]
        })
    );

    let (status, events) = t.get("/events/account/acc-999").await;
    assert_eq!(status, StatusCode::OK);
    let event = |n: u64, event_type: &str, data: Value| {
        json!({
            "aggregateId": "acc-999",
            "aggregateType": "BankAccount",
            "eventType": event_type,
            "data": data,
            "metadata": { "version": n, "position": n }
        })
    };
    assert_eq!(
        without_timestamps(events),
        json!([
            event(
                1,
                "AccountOpened",
                json!({ "owner": "acc-999", "initialBalance": 1000 })
            ),
            event(2, "MoneyDeposited", json!({ "amount": 500 })),
            event(3, "MoneyDeposited", json!({ "amount": 250 })),
            event(4, "MoneyWithdrawn", json!({ "amount": 100 })),
        ])
    );

    let (status, balances) = t.get("/projections/AccountBalances").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(balances["name"], "AccountBalances");
    assert_eq!(balances["lastProcessedVersion"], 4);
    assert!(balances["lastProcessedEvent"].is_string());
    assert_eq!(
        balances["data"]["balances"]["acc-999"]["balance"],
        json!(1650)
    );
    assert!(balances["data"]["balances"]["acc-999"]["lastUpdated"].is_i64());

    // 2. Event replay.
    let (status, all) = t.get("/events/stream").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(all.as_array().unwrap().len(), 4);
    let rebuilt = t
        .post("/projections/rebuild", r#"{"name":"TransactionHistory"}"#)
        .await;
    assert_eq!(rebuilt.0, StatusCode::OK, "{}", rebuilt.1);
    assert_eq!(rebuilt.1["lastProcessedVersion"], 4);
    let (_, history) = t.get("/projections/TransactionHistory").await;
    let kinds: Vec<_> = history["data"]["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tx| (tx["type"].clone(), tx["amount"].clone()))
        .collect();
    assert_eq!(
        kinds,
        [
            (json!("deposit"), json!(1000)),
            (json!("deposit"), json!(500)),
            (json!("deposit"), json!(250)),
            (json!("withdrawal"), json!(100)),
        ]
    );

    // 3. Analytics.
    let (_, daily) = t.get("/projections/DailySummary").await;
    assert_eq!(
        daily["data"]["summary"],
        json!({ "deposits": 1750, "withdrawals": 100, "netChange": 1650 })
    );
    let (status, list) = t.get("/projections").await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<_> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    assert!(names.contains(&"AccountBalances".to_string()), "{names:?}");
    assert!(names.contains(&"CurrentOrders".to_string()), "{names:?}");

    // Snapshots every 10 events: six more deposits take the account past version 10.
    for _ in 0..6 {
        let ok = t
            .post(
                "/commands/deposit",
                r#"{"accountId":"acc-999","amount":0.5}"#,
            )
            .await;
        assert_eq!(ok.0, StatusCode::OK);
    }
    let (_, stats) = t.get("/stats").await;
    assert_eq!(
        stats,
        json!({
            "totalEvents": 10,
            "totalAggregates": 1,
            "totalSnapshots": 1,
            "eventsByType": { "AccountOpened": 1, "MoneyDeposited": 8, "MoneyWithdrawn": 1 },
            "aggregates": [
                { "aggregate": "BankAccount:acc-999", "eventCount": 10, "latestVersion": 10 }
            ]
        })
    );
    assert_eq!(
        t.get("/queries/account/acc-999").await.1["balance"],
        json!(1653)
    );
    t.shutdown().await;
}

/// The seed 004 commands refuse as the bank does, and write nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed004_refusals() {
    let t = TestServer::start().await;
    t.post(
        "/commands/open-account",
        r#"{"accountId":"a","initialBalance":5}"#,
    )
    .await;
    assert_refused(
        &t.post("/commands/withdraw", r#"{"accountId":"a","amount":6}"#)
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "insufficient funds",
    );
    assert_refused(
        &t.post("/commands/close-account", r#"{"accountId":"a"}"#)
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "withdraw it first",
    );
    assert_refused(
        &t.post("/commands/deposit", r#"{"accountId":"a","amount":0.001}"#)
            .await,
        StatusCode::BAD_REQUEST,
        "more than two decimals",
    );
    assert_refused(
        &t.post("/commands/deposit", r#"{"accountId":"b","amount":1}"#)
            .await,
        StatusCode::NOT_FOUND,
        "does not exist",
    );
    assert_refused(
        &t.post("/commands/open-account", r#"{"accountId":"a"}"#)
            .await,
        StatusCode::CONFLICT,
        "already exists",
    );
    assert_refused(
        &t.get("/projections/Nope").await,
        StatusCode::NOT_FOUND,
        "no projection named 'Nope'",
    );
    assert_refused(
        &t.post("/projections/rebuild", r#"{"name":"Nope"}"#).await,
        StatusCode::NOT_FOUND,
        "Nope",
    );
    assert_eq!(t.get("/queries/account/a").await.1["version"], 1);
    // Closing an emptied account works, and then it refuses everything.
    t.post("/commands/withdraw", r#"{"accountId":"a","amount":5}"#)
        .await;
    let closed = t
        .post("/commands/close-account", r#"{"accountId":"a"}"#)
        .await;
    assert_eq!(closed.1["isActive"], false);
    assert_refused(
        &t.post("/commands/deposit", r#"{"accountId":"a","amount":1}"#)
            .await,
        StatusCode::CONFLICT,
        "closed",
    );
    t.shutdown().await;
}
