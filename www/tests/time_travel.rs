//! The Time travel page's whole-store view against the live read model, in headless
//! Chromium over the app's own IndexedDB database: at every tenth position of a
//! 2,000-event demo log the page's state (what `api::travel::travel` returns for the
//! whole store) equals the state a live `ProjectionRunner` of AccountBalances held when
//! the log reached that position; with one event AccountBalances cannot apply in the
//! log, the page fails at and past it, where the runner stops.
#![cfg(target_arch = "wasm32")]

use chronik_core::{EventStore, ExpectedVersion, NewEvent, ProjectionRunner, ProjectionStatus};
use chronik_examples::bank::{AccountBalances, AccountBalancesState};
use chronik_examples::registry;
use chronik_examples::{DemoConfig, DemoData};
use chronik_idb::{IdbStore, JsClock, RandomUuids};
use chronik_www::api::{self, travel};
use serde_json::json;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// What the live runner held when the log's head was at a position.
#[derive(Debug, Clone, PartialEq)]
enum Live {
    State(AccountBalancesState),
    Failed(u64),
}

/// An empty app database and a connection of the test's own to it.
async fn fresh_store() -> IdbStore {
    api::data::clear_database()
        .await
        .expect("clear the app's database");
    IdbStore::open(api::DATABASE, JsClock, RandomUuids)
        .await
        .expect("open the app's database")
}

/// Writes the demo log of `events` events, split so that an append ends at every tenth
/// position, and appends `bad` (one raw event) when the head reaches its position minus
/// one. After every append ending at a multiple of ten, the live runner catches up and
/// what it holds is kept. Returns those, by position.
async fn write_log(
    store: &IdbStore,
    events: u64,
    bad: Option<(u64, &str, NewEvent)>,
) -> Vec<(u64, Live)> {
    let mut live = ProjectionRunner::new(store, AccountBalances, JsClock)
        .with_upcasters(registry::upcasters());
    let mut seen = Vec::new();
    let mut head = 0u64;
    let mut bad = bad;
    for batch in DemoData::new(DemoConfig::new(7, events)) {
        let mut expected = batch.expected_version;
        let mut rest = batch.events;
        while !rest.is_empty() {
            if let Some((at, _, _)) = &bad {
                if head + 1 == *at {
                    let (_, stream, event) = bad.take().expect("the bad event");
                    let put = store
                        .append(stream, ExpectedVersion::Any, vec![event])
                        .await
                        .expect("append the bad event");
                    head = put.last_position;
                    if head % 10 == 0 {
                        seen.push(observe(head, &mut live).await);
                    }
                    continue;
                }
            }
            let room = (10 - head % 10) as usize;
            let tail = rest.split_off(room.min(rest.len()));
            let put = store
                .append(
                    &batch.stream_id,
                    expected,
                    std::mem::replace(&mut rest, tail),
                )
                .await
                .expect("append a demo batch");
            expected = ExpectedVersion::Exact(put.last_version);
            head = put.last_position;
            if head % 10 == 0 {
                seen.push(observe(head, &mut live).await);
            }
        }
    }
    seen
}

/// Catches the live runner up and says what it holds at `head`.
async fn observe(
    head: u64,
    live: &mut ProjectionRunner<&IdbStore, AccountBalances>,
) -> (u64, Live) {
    live.catch_up().await.expect("live catch-up");
    let now = match live.status() {
        ProjectionStatus::Failed { position, .. } => Live::Failed(*position),
        _ => {
            assert_eq!(live.position(), head, "the live runner is at the head");
            Live::State(live.state().clone())
        }
    };
    (head, now)
}

/// Asks the page's api for the whole store at `at` and compares it with `live`.
async fn check(at: u64, live: &Live) {
    let point = travel::travel(None, Some(at)).await.expect("travel");
    assert_eq!(point.at, at);
    assert!(point.stream.is_none());
    match live {
        Live::State(state) => {
            assert_eq!(point.error, None, "at {at}");
            assert_eq!(point.state, travel::balances_view(state), "at {at}");
        }
        Live::Failed(position) => {
            let error = point.error.unwrap_or_else(|| panic!("no error at {at}"));
            assert!(
                error.contains(&format!("position {position}")),
                "at {at}: {error}"
            );
        }
    }
}

/// Every tenth position forward (each one step past the last), then every fiftieth
/// backward (each folded afresh).
async fn check_all(seen: &[(u64, Live)]) {
    for (at, live) in seen {
        check(*at, live).await;
    }
    for (at, live) in seen.iter().rev().step_by(5) {
        check(*at, live).await;
    }
}

#[wasm_bindgen_test]
async fn the_whole_store_equals_the_live_read_model_at_every_tenth_position() {
    let store = fresh_store().await;
    let seen = write_log(&store, 2_000, None).await;
    assert_eq!(seen.len(), 200);
    assert!(seen.iter().all(|(_, l)| matches!(l, Live::State(_))));
    // The demo moves money: the balances differ along the way.
    assert_ne!(seen[20].1, seen[199].1);
    check_all(&seen).await;
    store.close();
}

#[wasm_bindgen_test]
async fn the_whole_store_fails_where_the_live_read_model_fails() {
    let store = fresh_store().await;
    // A schema-1 MoneyDeposited must carry its amount as a decimal string: the bank's
    // upcaster cannot lift an object, so AccountBalances fails on it.
    let bad = NewEvent::new("MoneyDeposited", json!({ "amount": { "bad": true } }));
    let seen = write_log(&store, 2_000, Some((1_005, "account-broken", bad))).await;
    assert_eq!(seen.len(), 200);
    for (at, live) in &seen {
        if *at < 1_005 {
            assert!(matches!(live, Live::State(_)), "at {at}");
        } else {
            assert_eq!(live, &Live::Failed(1_005), "at {at}");
        }
    }
    check_all(&seen).await;
    // Just before the failing event the page still has a state; at it, the error.
    let before = travel::travel(None, Some(1_004)).await.expect("travel");
    assert_eq!(before.error, None);
    let at = travel::travel(None, Some(1_005)).await.expect("travel");
    assert!(at.error.is_some_and(|e| e.contains("position 1005")));
    store.close();
}
