//! The command handler: decide/append, metadata, retries, snapshots, upcasting and
//! temporal queries, against a MemoryStore.

mod support;

use std::cell::Cell;

use chronik_core::testing::AggregateTest;
use chronik_core::{
    AggregateState, AppendResult, Checkpoint, CommandContext, CommandHandler, EventStore,
    ExpectedVersion, HandlerError, MemoryStore, NewEvent, ReadAllOptions, ReadStreamOptions,
    RecordedEvent, Snapshot, SnapshotPolicy, StoreError, StreamInfo, UpcastError,
};
use futures::executor::block_on;
use serde_json::json;
use support::{
    deposited_v1, store, upcasters, Account, AccountCommand, AccountError, AccountEvent,
};

use AccountCommand::*;

fn ctx(id: &str) -> CommandContext {
    CommandContext::new(id)
}

fn open(h: &CommandHandler<&MemoryStore, Account>, id: &str) {
    block_on(h.handle(
        id,
        &Open {
            owner: "ada".into(),
        },
        &CommandContext::default(),
    ))
    .unwrap();
}

#[test]
fn handling_commands_appends_events_and_returns_them_with_the_new_state() {
    let (store, _clock) = store();
    let h = CommandHandler::<_, Account>::new(&store);
    let opened = block_on(h.handle(
        "1",
        &Open {
            owner: "ada".into(),
        },
        &ctx("c1"),
    ))
    .unwrap();
    assert_eq!(opened.version, 1);
    assert_eq!(opened.attempts, 1);
    assert_eq!(opened.events.len(), 1);
    assert_eq!(opened.events[0].stream_id, "account-1");
    assert_eq!(opened.events[0].event_type, "Opened");
    let deposit = block_on(h.handle("1", &Deposit(50), &ctx("c2"))).unwrap();
    assert_eq!(deposit.version, 2);
    assert_eq!(deposit.state.balance, 50);
    assert_eq!(deposit.events[0].schema_version, 2);
    assert_eq!(
        deposit.events[0].data,
        json!({"type": "Deposited", "amount": 50})
    );
    let loaded = block_on(h.load("1")).unwrap();
    assert_eq!(loaded.state, deposit.state);
    assert_eq!(loaded.version, 2);
}

#[test]
fn handle_state_records_what_handle_records_and_returns_the_state() {
    let (store, _clock) = store_pair();
    let (other, _other_clock) = store_pair();
    // Snapshots every 2 events: the second command saves one (its time is the event's).
    let quiet =
        CommandHandler::<_, Account>::new(&store).with_snapshot_policy(SnapshotPolicy::Every(2));
    let full =
        CommandHandler::<_, Account>::new(&other).with_snapshot_policy(SnapshotPolicy::Every(2));
    let commands = [
        Open {
            owner: "ada".into(),
        },
        Deposit(50),
        Deposit(7),
    ];
    for (i, command) in commands.iter().enumerate() {
        let context = ctx(&format!("c{i}"));
        let (state, version) = block_on(quiet.handle_state("1", command, &context)).unwrap();
        let outcome = block_on(full.handle("1", command, &context)).unwrap();
        assert_eq!((&state, version), (&outcome.state, outcome.version));
    }
    let all = |s: &MemoryStore| block_on(s.read_all(ReadAllOptions::default())).unwrap();
    assert_eq!(all(&store), all(&other));
    let snapshots = |s: &MemoryStore| block_on(s.list_snapshots("account-1")).unwrap();
    assert_eq!(snapshots(&store), snapshots(&other));
    assert_eq!(snapshots(&store).len(), 1);
    // A rejection is returned as by `handle`, and writes nothing.
    assert!(matches!(
        block_on(quiet.handle_state("1", &Deposit(0), &ctx("c9"))),
        Err(HandlerError::Rejected(_))
    ));
    assert_eq!(all(&store).len(), 3);
}

#[test]
fn rejected_commands_write_nothing() {
    let (store, _clock) = store();
    let h = CommandHandler::<_, Account>::new(&store);
    let err = block_on(h.handle("1", &Deposit(5), &ctx("c1"))).unwrap_err();
    assert!(matches!(err, HandlerError::Rejected(AccountError::NotOpen)));
    open(&h, "1");
    let err = block_on(h.handle("1", &Withdraw(5), &ctx("c2"))).unwrap_err();
    assert_eq!(
        err.to_string(),
        "command rejected: insufficient funds: balance 0, requested 5"
    );
    assert_eq!(block_on(store.head_position()).unwrap(), 1);
    let noop = block_on(h.handle("1", &Noop, &ctx("c3"))).unwrap();
    assert!(noop.events.is_empty());
    assert_eq!(noop.version, 1);
}

#[test]
fn the_context_enriches_metadata_and_makes_commands_idempotent() {
    let (store, _clock) = store();
    let h = CommandHandler::<_, Account>::new(&store);
    open(&h, "1");
    let context = CommandContext::new("cmd-9")
        .correlated_with("req-1")
        .with_extra("user", json!("ada"));
    let first = block_on(h.handle("1", &Deposit(10), &context)).unwrap();
    let e = &first.events[0];
    assert_eq!(e.event_id, "cmd-9-1");
    assert_eq!(e.metadata.causation_id.as_deref(), Some("cmd-9"));
    assert_eq!(e.metadata.correlation_id.as_deref(), Some("req-1"));
    assert_eq!(e.metadata.extra["user"], json!("ada"));

    // The same command again (a lost answer, a double click): nothing is written twice.
    let again = block_on(h.handle("1", &Deposit(10), &context)).unwrap();
    assert_eq!(again.events, first.events);
    assert_eq!(again.state.balance, 10);
    assert_eq!(block_on(store.head_position()).unwrap(), 2);

    // Without a correlation id the command starts one.
    let solo = block_on(h.handle("1", &Deposit(1), &ctx("cmd-10"))).unwrap();
    assert_eq!(
        solo.events[0].metadata.correlation_id.as_deref(),
        Some("cmd-10")
    );
}

/// A store that lets another writer append to the stream just before each of the next
/// `remaining` appends: a deterministic version conflict.
struct Interfering {
    inner: MemoryStore,
    remaining: Cell<u32>,
}

impl EventStore for Interfering {
    async fn append(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        if self.remaining.get() > 0 {
            self.remaining.set(self.remaining.get() - 1);
            let other = NewEvent::new("Deposited", json!({"type": "Deposited", "amount": 1}))
                .with_schema_version(2);
            self.inner
                .append(stream_id, ExpectedVersion::Any, vec![other])
                .await?;
        }
        self.inner.append(stream_id, expected, events).await
    }
    async fn read_stream(
        &self,
        stream_id: &str,
        options: ReadStreamOptions,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_stream(stream_id, options).await
    }
    async fn read_all(&self, options: ReadAllOptions) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_all(options).await
    }
    async fn read_time_range(
        &self,
        from_ms: i64,
        to_ms: i64,
        options: ReadAllOptions,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_time_range(from_ms, to_ms, options).await
    }
    async fn stream_version(&self, stream_id: &str) -> Result<Option<u64>, StoreError> {
        self.inner.stream_version(stream_id).await
    }
    async fn head_position(&self) -> Result<u64, StoreError> {
        self.inner.head_position().await
    }
    async fn list_streams(&self) -> Result<Vec<StreamInfo>, StoreError> {
        self.inner.list_streams().await
    }
    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        self.inner.save_snapshot(snapshot).await
    }
    async fn load_snapshot(
        &self,
        stream_id: &str,
        schema_version: u32,
        at_or_below: Option<u64>,
    ) -> Result<Option<Snapshot>, StoreError> {
        self.inner
            .load_snapshot(stream_id, schema_version, at_or_below)
            .await
    }
    async fn list_snapshots(&self, stream_id: &str) -> Result<Vec<Snapshot>, StoreError> {
        self.inner.list_snapshots(stream_id).await
    }
    async fn snapshot_count(&self) -> Result<u64, StoreError> {
        self.inner.snapshot_count().await
    }
    async fn save_checkpoint(&self, checkpoint: Checkpoint) -> Result<(), StoreError> {
        self.inner.save_checkpoint(checkpoint).await
    }
    async fn load_checkpoint(&self, name: &str) -> Result<Option<Checkpoint>, StoreError> {
        self.inner.load_checkpoint(name).await
    }
}

fn interfering() -> Interfering {
    Interfering {
        inner: store().0,
        remaining: Cell::new(0),
    }
}

#[test]
fn a_conflict_reloads_and_decides_again_on_the_fresh_state() {
    let store = interfering();
    let h = CommandHandler::<_, Account>::new(&store).with_snapshot_policy(SnapshotPolicy::Off);
    block_on(h.handle(
        "1",
        &Open {
            owner: "ada".into(),
        },
        &ctx("c1"),
    ))
    .unwrap();
    block_on(h.handle("1", &Deposit(10), &ctx("c2"))).unwrap();
    store.remaining.set(2);
    let out = block_on(h.handle("1", &Withdraw(3), &ctx("c3"))).unwrap();
    assert_eq!(out.attempts, 3);
    assert_eq!(out.version, 5);
    // 10 + two interfering deposits of 1 − 3: decided on the state that includes them.
    assert_eq!(out.state.balance, 9);
    assert_eq!(out.events.len(), 1);
    assert_eq!(out.events[0].version, 5);
    assert_eq!(block_on(h.load("1")).unwrap().state, out.state);
}

#[test]
fn retries_are_bounded_and_the_conflict_is_reported() {
    let store = interfering();
    let h = CommandHandler::<_, Account>::new(&store).with_max_attempts(2);
    block_on(h.handle(
        "1",
        &Open {
            owner: "ada".into(),
        },
        &ctx("c1"),
    ))
    .unwrap();
    store.remaining.set(5);
    let err = block_on(h.handle("1", &Deposit(3), &ctx("c2"))).unwrap_err();
    match err {
        HandlerError::RetriesExhausted { attempts, source } => {
            assert_eq!(attempts, 2);
            assert_eq!(
                source,
                StoreError::WrongExpectedVersion {
                    stream: "account-1".into(),
                    expected: ExpectedVersion::Exact(2),
                    actual: Some(3)
                }
            );
        }
        other => panic!("expected RetriesExhausted, got {other:?}"),
    }
    // Only the two interfering events were written, none of the command's.
    let types: Vec<_> = block_on(store.read_stream("account-1", ReadStreamOptions::default()))
        .unwrap()
        .into_iter()
        .map(|e| e.event_id)
        .collect();
    assert_eq!(types.len(), 3);
    assert!(types.iter().all(|id| !id.starts_with("c2")));
}

#[test]
fn the_snapshot_policy_decides_when_to_snapshot() {
    assert!(!SnapshotPolicy::Every(10).should_snapshot(0, 9));
    assert!(SnapshotPolicy::Every(10).should_snapshot(9, 10));
    assert!(SnapshotPolicy::Every(10).should_snapshot(8, 13));
    assert!(!SnapshotPolicy::Every(10).should_snapshot(10, 19));
    assert!(!SnapshotPolicy::Off.should_snapshot(0, 100));
    assert!(!SnapshotPolicy::Every(0).should_snapshot(0, 100));
    assert_eq!(SnapshotPolicy::default(), SnapshotPolicy::Every(10));
}

fn deposits(h: &CommandHandler<&MemoryStore, Account>, id: &str, n: usize) {
    for i in 0..n {
        block_on(h.handle(id, &Deposit(i as i64 + 1), &CommandContext::default())).unwrap();
    }
}

#[test]
fn snapshots_every_ten_events_by_default_and_loads_start_from_the_newest() {
    let (store, _clock) = store();
    let h = CommandHandler::<_, Account>::new(&store);
    open(&h, "1");
    deposits(&h, "1", 24);
    let versions: Vec<_> = block_on(store.list_snapshots("account-1"))
        .unwrap()
        .iter()
        .map(|s| s.version)
        .collect();
    assert_eq!(versions, vec![10, 20]);
    let loaded = block_on(h.load("1")).unwrap();
    assert_eq!(loaded.snapshot_version, Some(20));
    assert_eq!(loaded.events_replayed, 5);
    let replayed = block_on(
        CommandHandler::<_, Account>::new(&store)
            .with_snapshot_policy(SnapshotPolicy::Off)
            .state_at_version("1", 25),
    )
    .unwrap();
    assert_eq!(replayed.state, loaded.state);
    assert_eq!(loaded.state.balance, (1..=24).sum::<i64>());

    let (plain, _clock) = store_pair();
    let off = CommandHandler::<_, Account>::new(&plain).with_snapshot_policy(SnapshotPolicy::Off);
    open(&off, "1");
    deposits(&off, "1", 24);
    assert_eq!(block_on(plain.snapshot_count()).unwrap(), 0);
    assert_eq!(block_on(off.load("1")).unwrap().events_replayed, 25);
}

fn store_pair() -> (MemoryStore, std::rc::Rc<chronik_core::ManualClock>) {
    store()
}

#[test]
fn snapshots_of_another_schema_version_are_ignored() {
    let (store, _clock) = store();
    let h = CommandHandler::<_, Account>::new(&store).with_snapshot_policy(SnapshotPolicy::Off);
    open(&h, "1");
    deposits(&h, "1", 4);
    // A snapshot from another release, whose state has another shape.
    block_on(store.save_snapshot(Snapshot {
        stream_id: "account-1".into(),
        version: 5,
        schema_version: 7,
        state: json!({"totally": "different"}),
        taken_at: 0,
    }))
    .unwrap();
    let loaded = block_on(h.load("1")).unwrap();
    assert_eq!(loaded.snapshot_version, None);
    assert_eq!(loaded.events_replayed, 5);
    assert_eq!(loaded.state.balance, 10);

    // One with the current schema version that does not decode is a loud error.
    block_on(store.save_snapshot(Snapshot {
        stream_id: "account-1".into(),
        version: 4,
        schema_version: 1,
        state: json!({"totally": "different"}),
        taken_at: 0,
    }))
    .unwrap();
    let err = block_on(h.load("1")).unwrap_err();
    assert!(
        matches!(err, HandlerError::SnapshotDecode { version: 4, .. }),
        "{err:?}"
    );

    // snapshot_now writes a fresh one of the current version, which then wins.
    assert_eq!(block_on(h.snapshot_now("1")).unwrap(), Some(5));
    let loaded = block_on(h.load("1")).unwrap();
    assert_eq!(
        (loaded.snapshot_version, loaded.events_replayed),
        (Some(5), 0)
    );
    assert_eq!(loaded.state.balance, 10);
}

fn seed_v1_history(store: &MemoryStore) {
    block_on(store.append(
        "account-1",
        ExpectedVersion::NoStream,
        vec![
            NewEvent::new("Opened", json!({"type": "Opened", "owner": "ada"})),
            NewEvent::new("Deposited", deposited_v1(5)),
            NewEvent::new("Deposited", json!({"type": "Deposited", "amount": 7}))
                .with_schema_version(2),
        ],
    ))
    .unwrap();
}

#[test]
fn old_events_are_upcast_on_load_and_never_rewritten() {
    let (store, _clock) = store();
    seed_v1_history(&store);
    let h = CommandHandler::<_, Account>::new(&store).with_upcasters(upcasters());
    let out = block_on(h.handle("1", &Withdraw(12), &ctx("c1"))).unwrap();
    assert_eq!(out.state.balance, 0);
    let raw = block_on(store.read_stream("account-1", ReadStreamOptions::default())).unwrap();
    assert_eq!(raw[1].data, deposited_v1(5));
    assert_eq!(raw[1].schema_version, 1);
    let read = block_on(
        h.upcasters()
            .read_stream(&store, "account-1", Default::default()),
    )
    .unwrap();
    assert_eq!(
        read.iter().map(|e| e.was_upcast()).collect::<Vec<_>>(),
        vec![false, true, false, false]
    );
}

#[test]
fn without_the_upcaster_old_events_are_clear_errors() {
    let (store, _clock) = store();
    seed_v1_history(&store);
    let h = CommandHandler::<_, Account>::new(&store);
    match block_on(h.load("1")).unwrap_err() {
        HandlerError::Decode {
            event_type,
            schema_version,
            version,
            ..
        } => assert_eq!(
            (event_type.as_str(), schema_version, version),
            ("Deposited", 1, 2)
        ),
        other => panic!("expected a decode error, got {other:?}"),
    }

    // A v1 event whose payload happens to decode is still caught by its version.
    let (store, _clock) = store_pair();
    block_on(store.append(
        "account-2",
        ExpectedVersion::NoStream,
        vec![
            NewEvent::new("Opened", json!({"type": "Opened", "owner": "bo"})),
            NewEvent::new("Deposited", json!({"type": "Deposited", "amount": 1})),
        ],
    ))
    .unwrap();
    let h = CommandHandler::<_, Account>::new(&store);
    let err = block_on(h.load("2")).unwrap_err();
    assert!(
        matches!(
            &err,
            HandlerError::Upcast {
                version: 2,
                source: UpcastError::MissingStep { event_type, version: 1, current: 2 },
                ..
            } if event_type == "Deposited"
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "stream 'account-2' version 2: no upcaster for event type 'Deposited' from schema version 1 (current is 2)"
    );
}

#[test]
fn state_at_version_and_time_start_from_the_nearest_snapshot_below() {
    let (store, clock) = store();
    let h = CommandHandler::<_, Account>::new(&store);
    let t0 = 1_700_000_000_000;
    open(&h, "1");
    for i in 1..25 {
        clock.advance(1_000);
        block_on(h.handle("1", &Deposit(i), &CommandContext::default())).unwrap();
    }
    let full = block_on(
        h.upcasters()
            .read_stream(&store, "account-1", Default::default()),
    )
    .unwrap();
    for v in 0..=25u64 {
        let at = block_on(h.state_at_version("1", v)).unwrap();
        let expected_balance: i64 = (1..v as i64).sum();
        assert_eq!(at.version, v);
        assert_eq!(at.state.balance, expected_balance, "balance at version {v}");
        assert_eq!(at.state.transactions, v);
        let nearest = v / 10 * 10;
        let expected_snapshot = (nearest >= 10).then_some(nearest);
        assert_eq!(
            at.snapshot_version, expected_snapshot,
            "snapshot for version {v}"
        );
        assert_eq!(at.events_replayed, v - nearest);
        if v > 0 {
            let by_time =
                block_on(h.state_at_time("1", full[v as usize - 1].event.recorded_at)).unwrap();
            assert_eq!(by_time, at, "state at the time of version {v}");
        }
    }
    let before = block_on(h.state_at_time("1", t0 - 1)).unwrap();
    assert_eq!(before, AggregateState::empty());
    let between = block_on(h.state_at_time("1", t0 + 1_500)).unwrap();
    assert_eq!(between.version, 2);
    let later = block_on(h.state_at_time("1", i64::MAX)).unwrap();
    assert_eq!(later.version, 25);
    let err = block_on(h.state_at_version("1", 26)).unwrap_err();
    assert!(matches!(
        err,
        HandlerError::VersionNotFound {
            requested: 26,
            current: 25,
            ..
        }
    ));
    assert_eq!(block_on(h.state_at_time("9", t0)).unwrap().version, 0);
}

#[test]
fn aggregate_rules_read_as_given_when_then() {
    AggregateTest::<Account>::given(vec![AccountEvent::Opened {
        owner: "ada".into(),
    }])
    .when(Deposit(5))
    .then_expect(vec![AccountEvent::Deposited { amount: 5 }])
    .then_state(|a| assert_eq!((a.balance, a.transactions), (5, 2)));
    AggregateTest::<Account>::given(vec![
        AccountEvent::Opened {
            owner: "ada".into(),
        },
        AccountEvent::Deposited { amount: 5 },
    ])
    .when(Withdraw(6))
    .then_expect_error(AccountError::InsufficientFunds {
        balance: 5,
        requested: 6,
    });
    AggregateTest::<Account>::given_no_events()
        .when(Withdraw(1))
        .then_expect_error_message("account is not open");
    AggregateTest::<Account>::given(vec![AccountEvent::Opened { owner: "bo".into() }])
        .when(Noop)
        .then_expect(vec![]);
}

/// A gauge whose readings are `f64`: a NaN reading serializes to `null` and then no load
/// could decode it again, so the handler must refuse it before it is stored.
#[derive(Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct Gauge {
    readings: u64,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Measured {
    value: f64,
}

impl chronik_core::DomainEvent for Measured {
    fn event_type(&self) -> &'static str {
        "Measured"
    }
}

#[derive(Debug, thiserror::Error)]
#[error("never")]
struct Never;

impl chronik_core::Aggregate for Gauge {
    type Command = f64;
    type Event = Measured;
    type Error = Never;
    const CATEGORY: &'static str = "gauge";

    fn decide(&self, value: &f64) -> Result<Vec<Measured>, Never> {
        Ok(vec![Measured { value: *value }])
    }

    fn evolve(&mut self, _: &Measured) {
        self.readings += 1;
    }
}

#[test]
fn an_event_that_would_not_decode_once_stored_is_refused_and_nothing_is_written() {
    let (store, _clock) = store();
    let h = CommandHandler::<_, Gauge>::new(&store);
    let first = block_on(h.handle("1", &1.5, &ctx("c1"))).unwrap();
    assert_eq!((first.version, first.state.readings), (1, 1));
    let before = block_on(store.read_stream("gauge-1", ReadStreamOptions::default())).unwrap();

    let err = block_on(h.handle("1", &f64::NAN, &ctx("c2"))).unwrap_err();
    match &err {
        HandlerError::Decode {
            stream,
            version,
            event_type,
            ..
        } => assert_eq!(
            (stream.as_str(), *version, event_type.as_str()),
            ("gauge-1", 2, "Measured")
        ),
        other => panic!("expected Decode, got {other:?}"),
    }
    assert_eq!(block_on(store.stream_version("gauge-1")).unwrap(), Some(1));
    assert_eq!(
        block_on(store.read_stream("gauge-1", ReadStreamOptions::default())).unwrap(),
        before
    );
    assert_eq!(block_on(store.head_position()).unwrap(), 1);

    // A valid command still works, and the stream still loads.
    let next = block_on(h.handle("1", &2.0, &ctx("c3"))).unwrap();
    assert_eq!((next.version, next.state.readings), (2, 2));
    assert_eq!(block_on(h.load("1")).unwrap().state, next.state);
}

#[test]
fn an_event_whose_upcaster_fails_is_refused_before_the_append() {
    let (store, _clock) = store();
    let failing = chronik_core::Upcasters::new().register("Measured", 1, |v| {
        if v["value"].as_f64().is_some_and(|x| x < 0.0) {
            Err("negative readings are not supported".to_string())
        } else {
            Ok(v)
        }
    });
    // The upcaster lifts v1 to v2, but Measured is decided at v1: a later load would run
    // the step, and so does the handler before appending.
    let h = CommandHandler::<_, Gauge>::new(&store).with_upcasters(failing);
    let err = block_on(h.handle("1", &-1.0, &ctx("c1"))).unwrap_err();
    assert!(
        matches!(
            err,
            HandlerError::Upcast {
                source: UpcastError::StepFailed { .. },
                ..
            }
        ),
        "{err:?}"
    );
    assert!(store.is_empty());
    assert_eq!(block_on(store.stream_version("gauge-1")).unwrap(), None);
}

/// Decides `n` events per command.
#[derive(Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct Burst {
    events: u64,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Tick;

impl chronik_core::DomainEvent for Tick {
    fn event_type(&self) -> &'static str {
        "Tick"
    }
}

impl chronik_core::Aggregate for Burst {
    type Command = usize;
    type Event = Tick;
    type Error = Never;
    const CATEGORY: &'static str = "burst";

    fn decide(&self, n: &usize) -> Result<Vec<Tick>, Never> {
        Ok(vec![Tick; *n])
    }

    fn evolve(&mut self, _: &Tick) {
        self.events += 1;
    }
}

#[test]
fn a_decision_larger_than_the_batch_limit_is_refused_and_writes_nothing() {
    use chronik_core::limits::MAX_BATCH_EVENTS;
    let (store, _clock) = store();
    let h = CommandHandler::<_, Burst>::new(&store).with_snapshot_policy(SnapshotPolicy::Off);
    let err = block_on(h.handle("1", &(MAX_BATCH_EVENTS + 1), &ctx("c1"))).unwrap_err();
    match &err {
        HandlerError::Store(StoreError::InvalidInput(message)) => {
            assert!(message.contains("100001 events"), "{message}")
        }
        other => panic!("expected InvalidInput, got {other:?}"),
    }
    assert!(store.is_empty());
    let ok = block_on(h.handle("1", &3, &ctx("c2"))).unwrap();
    assert_eq!((ok.version, ok.state.events), (3, 3));
}
