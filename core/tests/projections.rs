//! The projection runner: catch-up in pages, live updates, lag, status, failure
//! isolation, rebuilds, restarts and JSON projections.

mod support;

use std::cell::Cell;
use std::collections::BTreeMap;
use std::rc::Rc;

use chronik_core::{
    Checkpoint, EventStore, ExpectedVersion, JsonProjection, ManualClock, MemoryStore, NewEvent,
    Projection, ProjectionError, ProjectionRunner, ProjectionStatus, RebuildProgress,
    RecordedEvent,
};
use futures::executor::block_on;
use serde::{Deserialize, Serialize};
use serde_json::json;
use support::{deposited_v1, store, upcasters};

/// Balances per account; refuses deposits above `limit` (a stand-in for a bug).
struct Balances {
    limit: Rc<Cell<i64>>,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct BalancesState {
    balances: BTreeMap<String, i64>,
    applied: u64,
}

impl Projection for Balances {
    type State = BalancesState;
    type Error = String;

    fn name(&self) -> &str {
        "balances"
    }

    fn event_types(&self) -> Option<Vec<String>> {
        Some(vec!["Deposited".into(), "Withdrawn".into()])
    }

    fn apply(&self, state: &mut BalancesState, event: &RecordedEvent) -> Result<(), String> {
        // Changes the state before it may fail: the runner must roll this back.
        state.applied += 1;
        let amount = event.data["amount"]
            .as_i64()
            .ok_or_else(|| format!("no amount in {}", event.data))?;
        if amount > self.limit.get() {
            return Err(format!("amount {amount} over the limit"));
        }
        let sign = if event.event_type == "Withdrawn" {
            -1
        } else {
            1
        };
        *state.balances.entry(event.stream_id.clone()).or_default() += sign * amount;
        Ok(())
    }
}

fn deposit(store: &MemoryStore, account: &str, amount: i64) {
    block_on(store.append(
        account,
        ExpectedVersion::Any,
        vec![
                NewEvent::new("Deposited", json!({"type": "Deposited", "amount": amount}))
                    .with_schema_version(2),
            ],
    ))
    .unwrap();
}

fn other(store: &MemoryStore, stream: &str) {
    block_on(store.append(
        stream,
        ExpectedVersion::Any,
        vec![NewEvent::new("Renamed", json!({}))],
    ))
    .unwrap();
}

fn runner<'s>(
    store: &'s MemoryStore,
    clock: &Rc<ManualClock>,
    limit: &Rc<Cell<i64>>,
) -> ProjectionRunner<&'s MemoryStore, Balances> {
    ProjectionRunner::new(
        store,
        Balances {
            limit: Rc::clone(limit),
        },
        Rc::clone(clock),
    )
    .with_upcasters(upcasters())
    .with_page_size(3)
}

fn counter() -> JsonProjection {
    JsonProjection::new("count", json!({"n": 0}), |mut state, _event| {
        state["n"] = json!(state["n"].as_i64().unwrap_or(0) + 1);
        Ok(state)
    })
}

#[test]
fn catches_up_in_pages_then_follows_new_events() {
    let (store, clock) = store();
    let limit = Rc::new(Cell::new(1_000));
    for i in 0..10 {
        deposit(&store, &format!("account-{}", i % 2), 1);
    }
    other(&store, "profile-1");
    let mut r = runner(&store, &clock, &limit);
    assert_eq!(block_on(r.lag()).unwrap(), 11);
    assert_eq!(block_on(r.run_once()).unwrap(), 3);
    assert_eq!(r.status(), &ProjectionStatus::CatchingUp);
    assert_eq!(r.position(), 3);
    assert_eq!(block_on(r.lag()).unwrap(), 8);
    let saved = block_on(store.load_checkpoint("balances"))
        .unwrap()
        .unwrap();
    assert_eq!(saved.position, 3);
    assert_eq!(saved.state["applied"], json!(3));

    clock.advance(5);
    assert_eq!(block_on(r.catch_up()).unwrap(), 7);
    assert_eq!(r.status(), &ProjectionStatus::CaughtUp);
    // The trailing event of another type is accounted for too: no lag.
    assert_eq!(r.position(), 11);
    assert_eq!(block_on(r.lag()).unwrap(), 0);
    assert_eq!(r.state().balances["account-0"], 5);
    assert_eq!(r.state().balances["account-1"], 5);
    let saved = block_on(store.load_checkpoint("balances"))
        .unwrap()
        .unwrap();
    assert_eq!(saved.position, 11);
    assert_eq!(saved.updated_at, 1_700_000_000_005);
    assert_eq!(serde_json::to_value(r.state()).unwrap(), saved.state);

    // Live: events appended later are picked up by the next run.
    deposit(&store, "account-0", 10);
    assert_eq!(block_on(r.lag()).unwrap(), 1);
    assert_eq!(block_on(r.catch_up()).unwrap(), 1);
    assert_eq!(r.state().balances["account-0"], 15);
    assert_eq!(block_on(r.run_once()).unwrap(), 0);
    assert_eq!(r.status(), &ProjectionStatus::CaughtUp);
}

#[test]
fn a_restarted_runner_continues_from_its_checkpoint() {
    let (store, clock) = store();
    let limit = Rc::new(Cell::new(1_000));
    for _ in 0..4 {
        deposit(&store, "account-1", 2);
    }
    let mut first = runner(&store, &clock, &limit);
    block_on(first.catch_up()).unwrap();
    deposit(&store, "account-1", 2);
    let mut second = runner(&store, &clock, &limit);
    assert_eq!(block_on(second.lag()).unwrap(), 1);
    assert_eq!(
        block_on(second.catch_up()).unwrap(),
        1,
        "only the new event"
    );
    assert_eq!(second.state().balances["account-1"], 10);
    assert_eq!(second.state().applied, 5);
}

#[test]
fn a_failing_projection_stops_alone_and_loses_no_event() {
    let (store, clock) = store();
    let limit = Rc::new(Cell::new(100));
    deposit(&store, "account-1", 1); // 1
    deposit(&store, "account-1", 2); // 2
    deposit(&store, "account-1", 500); // 3: over the limit
    deposit(&store, "account-1", 4); // 4
    let mut balances = runner(&store, &clock, &limit).with_page_size(10);
    let mut count = ProjectionRunner::new(&store, counter(), Rc::clone(&clock));

    assert_eq!(block_on(balances.catch_up()).unwrap(), 2);
    block_on(count.catch_up()).unwrap();
    assert_eq!(
        balances.status(),
        &ProjectionStatus::Failed {
            position: 3,
            error: "amount 500 over the limit".into()
        }
    );
    assert_eq!(
        balances.position(),
        2,
        "the checkpoint stays before the failing event"
    );
    // The half-applied failing event was rolled back: only events 1 and 2 count.
    assert_eq!(balances.state().applied, 2);
    assert_eq!(balances.state().balances["account-1"], 3);
    let saved = block_on(store.load_checkpoint("balances"))
        .unwrap()
        .unwrap();
    assert_eq!(
        (saved.position, saved.state["applied"].clone()),
        (2, json!(2))
    );
    // The other projection is unaffected.
    assert_eq!(count.status(), &ProjectionStatus::CaughtUp);
    assert_eq!(count.state()["n"], json!(4));

    // A failed projection stays put while events keep coming.
    deposit(&store, "account-1", 8);
    assert_eq!(block_on(balances.catch_up()).unwrap(), 0);
    assert_eq!(block_on(balances.lag()).unwrap(), 3);
    assert_eq!(block_on(count.catch_up()).unwrap(), 1);

    // Once fixed, resuming retries the failing event and nothing is lost.
    limit.set(1_000);
    balances.resume();
    assert_eq!(block_on(balances.catch_up()).unwrap(), 3);
    assert_eq!(balances.status(), &ProjectionStatus::CaughtUp);
    assert_eq!(balances.state().balances["account-1"], 515);
    assert_eq!(balances.state().applied, 5);
}

#[test]
fn rebuild_replays_from_zero_and_reports_progress() {
    let (store, clock) = store();
    let limit = Rc::new(Cell::new(100));
    for i in 0..9 {
        deposit(&store, "account-1", i);
    }
    other(&store, "profile-1");
    let mut r = runner(&store, &clock, &limit).with_page_size(4);
    block_on(r.catch_up()).unwrap();
    // A projection's state can be wrong (a bug fixed since): a rebuild starts over.
    block_on(store.save_checkpoint(Checkpoint {
        name: "balances".into(),
        position: 10,
        state: json!({"balances": {"account-1": -1}, "applied": 99}),
        updated_at: 0,
    }))
    .unwrap();
    let mut r = runner(&store, &clock, &limit).with_page_size(4);
    block_on(r.catch_up()).unwrap();
    assert_eq!(r.state().balances["account-1"], -1);

    let mut seen = Vec::new();
    let applied = block_on(r.rebuild(|p| seen.push(p))).unwrap();
    assert_eq!(applied, 9);
    assert_eq!(
        seen,
        vec![
            RebuildProgress {
                position: 4,
                head: 10
            },
            RebuildProgress {
                position: 8,
                head: 10
            },
            RebuildProgress {
                position: 10,
                head: 10
            },
        ]
    );
    assert_eq!(r.status(), &ProjectionStatus::CaughtUp);
    assert_eq!(r.state().balances["account-1"], (0..9).sum::<i64>());
    assert_eq!(r.state().applied, 9);
    let saved = block_on(store.load_checkpoint("balances"))
        .unwrap()
        .unwrap();
    assert_eq!(saved.position, 10);
}

#[test]
fn rebuild_clears_a_failure_and_an_undecodable_checkpoint_is_a_failure() {
    let (store, clock) = store();
    let limit = Rc::new(Cell::new(100));
    deposit(&store, "account-1", 1);
    deposit(&store, "account-1", 2);
    block_on(store.save_checkpoint(Checkpoint {
        name: "balances".into(),
        position: 1,
        state: json!("not the state's shape"),
        updated_at: 0,
    }))
    .unwrap();
    let mut r = runner(&store, &clock, &limit);
    assert_eq!(block_on(r.run_once()).unwrap(), 0);
    match r.status() {
        ProjectionStatus::Failed { position, error } => {
            assert_eq!(*position, 1);
            assert!(error.contains("cannot decode the saved state"), "{error}");
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    let mut progress = 0;
    block_on(r.rebuild(|_| progress += 1)).unwrap();
    assert_eq!(progress, 1);
    assert_eq!(r.status(), &ProjectionStatus::CaughtUp);
    assert_eq!(r.state().balances["account-1"], 3);
}

#[test]
fn projections_see_upcast_events() {
    let (store, clock) = store();
    let limit = Rc::new(Cell::new(100));
    block_on(store.append(
        "account-1",
        ExpectedVersion::Any,
        vec![NewEvent::new("Deposited", deposited_v1(7))],
    ))
    .unwrap();
    let mut r = runner(&store, &clock, &limit);
    block_on(r.catch_up()).unwrap();
    assert_eq!(r.state().balances["account-1"], 7);

    // Without the upcaster the projection fails on that event instead of guessing
    // (reset to position 0: the first runner's checkpoint is past the event).
    block_on(store.save_checkpoint(Checkpoint {
        name: "balances".into(),
        position: 0,
        state: json!({"balances": {}, "applied": 0}),
        updated_at: 0,
    }))
    .unwrap();
    let mut raw = ProjectionRunner::new(
        &store,
        Balances {
            limit: Rc::clone(&limit),
        },
        Rc::clone(&clock),
    );
    block_on(raw.catch_up()).unwrap();
    assert!(matches!(
        raw.status(),
        ProjectionStatus::Failed { position: 1, .. }
    ));
}

#[test]
fn json_projections_filter_by_type_and_report_status_as_json() {
    let (store, clock) = store();
    deposit(&store, "account-1", 1);
    other(&store, "profile-1");
    deposit(&store, "account-2", 1);
    let renamed = JsonProjection::new("renames", json!([]), |mut state, event| {
        state
            .as_array_mut()
            .ok_or("state must be a list")?
            .push(json!(event.stream_id));
        Ok(state)
    })
    .handling(["Renamed"]);
    let mut r = ProjectionRunner::new(&store, renamed, Rc::clone(&clock));
    assert_eq!(block_on(r.catch_up()).unwrap(), 1);
    assert_eq!(r.state(), &json!(["profile-1"]));
    assert_eq!(r.position(), 3);
    assert_eq!(
        serde_json::to_value(r.status()).unwrap(),
        json!({"status": "caughtUp"})
    );
    let failed = ProjectionStatus::Failed {
        position: 3,
        error: "boom".into(),
    };
    assert_eq!(
        serde_json::to_value(&failed).unwrap(),
        json!({"status": "failed", "position": 3, "error": "boom"})
    );
    let failing = JsonProjection::new("failing", json!(0), |_, e| {
        Err(format!("cannot handle {}", e.event_type))
    });
    let mut f = ProjectionRunner::new(&store, failing, Rc::clone(&clock));
    block_on(f.catch_up()).unwrap();
    assert_eq!(
        f.status(),
        &ProjectionStatus::Failed {
            position: 1,
            error: "cannot handle Deposited".into()
        }
    );
    // The JSON state went back to its initial value, not the reducer's leftovers.
    assert_eq!(f.state(), &json!(0));
    assert_eq!(f.position(), 0);
}

#[test]
fn a_catch_up_saves_every_n_events_and_at_the_end() {
    use futures::FutureExt;
    let (store, clock) = store();
    let limit = Rc::new(Cell::new(1_000));
    for _ in 0..10 {
        deposit(&store, "account-1", 1);
    }
    let saved = || {
        store
            .load_checkpoint("balances")
            .now_or_never()
            .expect("MemoryStore answers at once")
            .unwrap()
            .map(|c| (c.position, c.state["applied"].clone()))
    };
    let mut r = runner(&store, &clock, &limit)
        .with_page_size(2)
        .with_checkpoint_every(4);
    let mut seen = Vec::new();
    block_on(r.rebuild(|p| seen.push((p.position, saved())))).unwrap();
    // After every page the checkpoint lags at most 4 events behind, and position and
    // state are always saved together.
    assert_eq!(
        seen,
        vec![
            (2, Some((0, json!(0)))),
            (4, Some((0, json!(0)))),
            (6, Some((4, json!(4)))),
            (8, Some((4, json!(4)))),
            (10, Some((8, json!(8)))),
        ]
    );
    assert_eq!(saved(), Some((10, json!(10))), "saved when the run ends");
    assert_eq!(r.status(), &ProjectionStatus::CaughtUp);
}

#[test]
fn a_failure_after_unsaved_pages_rolls_back_to_the_event_before_it() {
    let (store, clock) = store();
    let limit = Rc::new(Cell::new(100));
    for amount in [1, 2, 3, 4, 5, 500, 7] {
        deposit(&store, "account-1", amount);
    }
    // Pages of 2 and no save before the end: the failing event (6) comes three pages
    // after the last save, so the rollback must re-apply events 1 to 5 exactly once.
    let mut r = runner(&store, &clock, &limit)
        .with_page_size(2)
        .with_checkpoint_every(1_000);
    assert_eq!(block_on(r.catch_up()).unwrap(), 5);
    assert_eq!(
        r.status(),
        &ProjectionStatus::Failed {
            position: 6,
            error: "amount 500 over the limit".into()
        }
    );
    assert_eq!(r.position(), 5);
    assert_eq!(r.state().applied, 5);
    assert_eq!(r.state().balances["account-1"], 15);
    let saved = block_on(store.load_checkpoint("balances"))
        .unwrap()
        .unwrap();
    assert_eq!(
        (saved.position, saved.state["applied"].clone()),
        (5, json!(5))
    );

    limit.set(1_000);
    r.resume();
    assert_eq!(block_on(r.catch_up()).unwrap(), 2);
    assert_eq!(r.state().balances["account-1"], 522);
    assert_eq!(r.state().applied, 7);
}

#[test]
fn a_failure_after_a_save_rolls_back_to_the_saved_checkpoint() {
    let (store, clock) = store();
    let limit = Rc::new(Cell::new(100));
    deposit(&store, "account-1", 1);
    deposit(&store, "account-1", 2);
    let mut r = runner(&store, &clock, &limit).with_page_size(2);
    assert_eq!(block_on(r.catch_up()).unwrap(), 2);
    for amount in [3, 4, 500] {
        deposit(&store, "account-1", amount);
    }
    // The rollback starts from the checkpoint saved at 2 and re-applies 3 and 4.
    assert_eq!(block_on(r.catch_up()).unwrap(), 2);
    assert_eq!(
        r.status(),
        &ProjectionStatus::Failed {
            position: 5,
            error: "amount 500 over the limit".into()
        }
    );
    assert_eq!((r.position(), r.state().applied), (4, 4));
    assert_eq!(r.state().balances["account-1"], 10);
    let saved = block_on(store.load_checkpoint("balances"))
        .unwrap()
        .unwrap();
    assert_eq!(
        (saved.position, saved.state["applied"].clone()),
        (4, json!(4))
    );
    // Another writer replaces the checkpoint: a rollback cannot start from it.
    block_on(store.save_checkpoint(Checkpoint {
        position: 1,
        ..saved
    }))
    .unwrap();
    r.resume();
    assert!(matches!(
        block_on(r.catch_up()),
        Err(ProjectionError::NotDeterministic(message)) if message.contains("changed under its runner")
    ));
}

#[test]
fn a_state_too_deep_to_load_again_is_never_saved() {
    let (store, clock) = store();
    deposit(&store, "account-1", 1);
    deposit(&store, "account-1", 2);
    // Each event wraps the state in one more array.
    let deepening = JsonProjection::new("deepening", json!(0), |state, _| Ok(json!([state])));
    let limit = chronik_core::MAX_DEPTH;
    for _ in 2..limit {
        deposit(&store, "account-1", 1);
    }
    let mut r = ProjectionRunner::new(&store, deepening, Rc::clone(&clock));
    // MAX_DEPTH events: exactly at the limit, saved.
    assert_eq!(block_on(r.catch_up()).unwrap(), limit);
    assert_eq!(
        block_on(store.load_checkpoint("deepening"))
            .unwrap()
            .map(|c| c.position),
        Some(limit as u64)
    );
    // One more level: refused, and the checkpoint stays where it was.
    deposit(&store, "account-1", 1);
    let err = block_on(r.catch_up()).unwrap_err();
    assert!(
        err.to_string()
            .contains("the state of projection 'deepening' nests deeper than 64 levels"),
        "{err}"
    );
    let checkpoint = block_on(store.load_checkpoint("deepening"))
        .unwrap()
        .unwrap();
    assert_eq!(checkpoint.position, limit as u64);
    assert_eq!(chronik_core::limits::depth(&checkpoint.state), limit);
}

/// The live runner's view at a position: its state, or where it failed.
#[derive(Debug, PartialEq)]
enum Seen {
    State(BalancesState),
    FailedAt(u64),
}

#[test]
fn state_at_a_position_equals_the_live_runner_there_also_past_a_failing_event() {
    let (store, clock) = store();
    let limit = Rc::new(Cell::new(1_000));
    // The live runner catches up every tenth position while 2,000 events are written
    // (deposits, withdrawals and events it does not handle); one deposit is over its
    // limit, so from there on it is failed.
    let mut live = ProjectionRunner::new(
        &store,
        Balances {
            limit: Rc::clone(&limit),
        },
        Rc::clone(&clock),
    )
    .with_page_size(7);
    let mut seen = BTreeMap::new();
    for i in 1..=2_000u64 {
        let account = format!("acc-{}", i % 13);
        match i % 5 {
            0 => other(&store, &account),
            3 => block_on(store.append(
                &account,
                ExpectedVersion::Any,
                vec![NewEvent::new("Withdrawn", json!({ "amount": i % 7 }))],
            ))
            .map(|_| ())
            .unwrap(),
            _ => deposit(
                &store,
                &account,
                if i == 1_501 { 5_000 } else { (i % 97) as i64 },
            ),
        }
        if i % 10 == 0 {
            block_on(live.catch_up()).unwrap();
            let view = match live.status() {
                ProjectionStatus::Failed { position, .. } => Seen::FailedAt(*position),
                _ => Seen::State(live.state().clone()),
            };
            seen.insert(i, view);
        }
    }
    assert_eq!(
        seen[&2_000],
        Seen::FailedAt(1_501),
        "the bad deposit stops the live runner"
    );

    // A runner resumed from the saved checkpoint (failed, at 1,500) answers for every
    // tenth position, in a scrubbing order (forwards, backwards, jumps).
    let mut travel =
        ProjectionRunner::new(&store, Balances { limit }, Rc::clone(&clock)).with_page_size(11);
    let mut order: Vec<u64> = seen.keys().copied().collect();
    order.reverse();
    order.extend(seen.keys().copied().filter(|p| p % 30 == 0));
    for position in order {
        let answer = match block_on(travel.state_at(position)) {
            Ok(state) => Seen::State(state),
            Err(chronik_core::StateAtError::Failed { position, .. }) => Seen::FailedAt(position),
            Err(other) => panic!("{other}"),
        };
        assert_eq!(answer, seen[&position], "state at position {position}");
    }
    assert_eq!(
        block_on(travel.state_at(0)).unwrap(),
        BalancesState::default(),
        "before any event"
    );
}

/// A store that counts the pages of the global log read from it.
struct CountingReads {
    inner: MemoryStore,
    log_reads: Cell<u32>,
}

impl EventStore for CountingReads {
    async fn append(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<chronik_core::AppendResult, chronik_core::StoreError> {
        self.inner.append(stream_id, expected, events).await
    }
    async fn read_stream(
        &self,
        stream_id: &str,
        options: chronik_core::ReadStreamOptions,
    ) -> Result<Vec<RecordedEvent>, chronik_core::StoreError> {
        self.inner.read_stream(stream_id, options).await
    }
    async fn read_all(
        &self,
        options: chronik_core::ReadAllOptions,
    ) -> Result<Vec<RecordedEvent>, chronik_core::StoreError> {
        self.log_reads.set(self.log_reads.get() + 1);
        self.inner.read_all(options).await
    }
    async fn read_time_range(
        &self,
        from_ms: i64,
        to_ms: i64,
        options: chronik_core::ReadAllOptions,
    ) -> Result<Vec<RecordedEvent>, chronik_core::StoreError> {
        self.inner.read_time_range(from_ms, to_ms, options).await
    }
    async fn stream_version(
        &self,
        stream_id: &str,
    ) -> Result<Option<u64>, chronik_core::StoreError> {
        self.inner.stream_version(stream_id).await
    }
    async fn head_position(&self) -> Result<u64, chronik_core::StoreError> {
        self.inner.head_position().await
    }
    async fn list_streams(
        &self,
    ) -> Result<Vec<chronik_core::StreamInfo>, chronik_core::StoreError> {
        self.inner.list_streams().await
    }
    async fn save_snapshot(
        &self,
        snapshot: chronik_core::Snapshot,
    ) -> Result<(), chronik_core::StoreError> {
        self.inner.save_snapshot(snapshot).await
    }
    async fn load_snapshot(
        &self,
        stream_id: &str,
        schema_version: u32,
        at_or_below: Option<u64>,
    ) -> Result<Option<chronik_core::Snapshot>, chronik_core::StoreError> {
        self.inner
            .load_snapshot(stream_id, schema_version, at_or_below)
            .await
    }
    async fn list_snapshots(
        &self,
        stream_id: &str,
    ) -> Result<Vec<chronik_core::Snapshot>, chronik_core::StoreError> {
        self.inner.list_snapshots(stream_id).await
    }
    async fn snapshot_count(&self) -> Result<u64, chronik_core::StoreError> {
        self.inner.snapshot_count().await
    }
    async fn save_checkpoint(
        &self,
        checkpoint: Checkpoint,
    ) -> Result<(), chronik_core::StoreError> {
        self.inner.save_checkpoint(checkpoint).await
    }
    async fn load_checkpoint(
        &self,
        name: &str,
    ) -> Result<Option<Checkpoint>, chronik_core::StoreError> {
        self.inner.load_checkpoint(name).await
    }
}

/// Counts the events of every type (all types).
fn every_event() -> JsonProjection {
    JsonProjection::new("counter", json!(0), |n, _| {
        Ok(json!(n.as_u64().unwrap_or(0) + 1))
    })
}

/// Counts renames only.
fn renames() -> JsonProjection {
    JsonProjection::new("renames", json!(0), |n, _| {
        Ok(json!(n.as_u64().unwrap_or(0) + 1))
    })
    .handling(["Renamed"])
}

#[test]
fn one_hub_pass_catches_up_every_read_model_with_one_read_of_each_page() {
    let (inner, clock) = store();
    let store = Rc::new(CountingReads {
        inner,
        log_reads: Cell::new(0),
    });
    for i in 0..1_000 {
        if i % 4 == 0 {
            other(&store.inner, &format!("acc-{}", i % 9));
        } else {
            deposit(&store.inner, &format!("acc-{}", i % 9), 3);
        }
    }
    let limit = Rc::new(Cell::new(1_000));
    let mut hub = chronik_core::ProjectionHub::new(Rc::clone(&store));
    let page = 100;
    hub.add(
        ProjectionRunner::new(
            Rc::clone(&store),
            Balances {
                limit: Rc::clone(&limit),
            },
            Rc::clone(&clock),
        )
        .with_page_size(page),
    )
    .unwrap();
    hub.add(
        ProjectionRunner::new(Rc::clone(&store), every_event(), Rc::clone(&clock))
            .with_page_size(page),
    )
    .unwrap();
    hub.add(
        ProjectionRunner::new(Rc::clone(&store), renames(), Rc::clone(&clock)).with_page_size(page),
    )
    .unwrap();
    assert!(matches!(
        hub.add(ProjectionRunner::new(
            Rc::clone(&store),
            renames(),
            Rc::clone(&clock)
        )),
        Err(chronik_core::HubError::Duplicate(_))
    ));
    assert_eq!(hub.names(), ["balances", "counter", "renames"]);

    store.log_reads.set(0);
    block_on(hub.catch_up()).unwrap();
    // Three read models, 1,000 events, pages of 100: ten pages read once each, not thirty
    // (one read model handles every type, so the pages are of the whole log).
    assert_eq!(
        store.log_reads.get(),
        10,
        "one pass over the log for all three"
    );

    // The same states as three runners catching up on their own.
    let states = |hub: &mut chronik_core::ProjectionHub<Rc<CountingReads>>| {
        ["balances", "counter", "renames"].map(|n| block_on(hub.state(n)).unwrap())
    };
    let fresh =
        chronik_core::MemoryStore::new(Rc::clone(&clock), chronik_core::SequentialIds::new("x"));
    block_on(fresh.import_events(block_on(store.inner.read_all(Default::default())).unwrap()))
        .unwrap();
    let mut alone_b = ProjectionRunner::new(
        &fresh,
        Balances {
            limit: Rc::clone(&limit),
        },
        Rc::clone(&clock),
    );
    let mut alone_c = ProjectionRunner::new(&fresh, every_event(), Rc::clone(&clock));
    let mut alone_r = ProjectionRunner::new(&fresh, renames(), Rc::clone(&clock));
    block_on(alone_b.catch_up()).unwrap();
    block_on(alone_c.catch_up()).unwrap();
    block_on(alone_r.catch_up()).unwrap();
    assert_eq!(
        states(&mut hub),
        [
            serde_json::to_value(alone_b.state()).unwrap(),
            alone_c.state().clone(),
            alone_r.state().clone()
        ]
    );
    assert_eq!(alone_c.state(), &json!(1_000));
    assert_eq!(alone_r.state(), &json!(250));

    // Appends after: the next pass reads only the new page; a read model that fails
    // stops alone while the others go on.
    limit.set(0);
    deposit(&store.inner, "acc-1", 5);
    other(&store.inner, "acc-2");
    store.log_reads.set(0);
    block_on(hub.catch_up()).unwrap();
    assert_eq!(store.log_reads.get(), 1);
    let info = block_on(hub.info("balances")).unwrap();
    assert!(
        matches!(
            info.status,
            ProjectionStatus::Failed {
                position: 1_001,
                ..
            }
        ),
        "{info:?}"
    );
    assert_eq!(block_on(hub.state("counter")).unwrap(), json!(1_002));
    assert_eq!(block_on(hub.state("renames")).unwrap(), json!(251));
    // Checkpoints were saved: a new hub over the same store resumes without rereading.
    let mut again = chronik_core::ProjectionHub::new(Rc::clone(&store));
    again
        .add(
            ProjectionRunner::new(Rc::clone(&store), every_event(), Rc::clone(&clock))
                .with_page_size(page),
        )
        .unwrap();
    store.log_reads.set(0);
    assert_eq!(block_on(again.state("counter")).unwrap(), json!(1_002));
    assert_eq!(
        store.log_reads.get(),
        0,
        "resumed from its checkpoint at the head"
    );
    // What a read model handles, and its state as saved, without catching up.
    assert_eq!(again.event_types("counter").unwrap(), None);
    assert_eq!(
        hub.event_types("renames").unwrap(),
        Some(vec!["Renamed".to_string()])
    );
    let mut cold = chronik_core::ProjectionHub::new(Rc::clone(&store));
    cold.add(ProjectionRunner::new(
        Rc::clone(&store),
        renames(),
        Rc::clone(&clock),
    ))
    .unwrap();
    other(&store.inner, "acc-3");
    assert_eq!(block_on(cold.current_state("renames")).unwrap(), json!(251));
    assert!(matches!(
        cold.event_types("nope"),
        Err(chronik_core::HubError::Unknown(_))
    ));
}

#[test]
fn catching_up_some_read_models_reads_only_their_types_and_leaves_the_others_behind() {
    let (inner, clock) = store();
    let store = Rc::new(CountingReads {
        inner,
        log_reads: Cell::new(0),
    });
    for i in 0..1_000 {
        if i % 4 == 0 {
            other(&store.inner, &format!("acc-{}", i % 9));
        } else {
            deposit(&store.inner, &format!("acc-{}", i % 9), 3);
        }
    }
    let page = 100;
    let mut hub = chronik_core::ProjectionHub::new(Rc::clone(&store));
    hub.add(
        ProjectionRunner::new(Rc::clone(&store), every_event(), Rc::clone(&clock))
            .with_page_size(page),
    )
    .unwrap();
    hub.add(
        ProjectionRunner::new(Rc::clone(&store), renames(), Rc::clone(&clock)).with_page_size(page),
    )
    .unwrap();

    // The 250 renames, in pages of 100: three reads of renames only, not ten of the log.
    assert_eq!(block_on(hub.catch_up_only(&["renames"])).unwrap(), 250);
    assert_eq!(store.log_reads.get(), 3);
    assert_eq!(block_on(hub.current_state("renames")).unwrap(), json!(250));
    let counter = block_on(hub.info("counter")).unwrap();
    assert_eq!((counter.position, counter.lag), (0, 1_000), "left behind");

    // `state` catches up the one it is asked for.
    store.log_reads.set(0);
    assert_eq!(block_on(hub.state("counter")).unwrap(), json!(1_000));
    assert_eq!(store.log_reads.get(), 10);
    assert_eq!(block_on(hub.info("renames")).unwrap().lag, 0);

    // An unknown name is refused before anything is read.
    other(&store.inner, "acc-1");
    store.log_reads.set(0);
    assert_eq!(
        block_on(hub.catch_up_only(&["renames", "nope"])),
        Err(chronik_core::HubError::Unknown("nope".into()))
    );
    assert_eq!(store.log_reads.get(), 0);
    assert_eq!(block_on(hub.info("renames")).unwrap().lag, 1);
}
