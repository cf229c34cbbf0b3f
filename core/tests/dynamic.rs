//! Dynamic (JSON) aggregates through the DynamicHandler: decide/evolve over JSON,
//! metadata, snapshots, retries, rejections, upcasting and temporal queries.

use std::cell::Cell;
use std::rc::Rc;

use chronik_core::{
    CommandContext, DecidedEvent, DynamicAggregate, DynamicError, DynamicHandler, EventStore,
    ExpectedVersion, ManualClock, MemoryStore, NewEvent, ReadStreamOptions, RecordedEvent,
    SequentialIds, SnapshotPolicy, StoreError, Upcasters,
};
use futures::executor::block_on;
use futures::FutureExt;
use serde_json::{json, Value};

const T0: i64 = 1_700_000_000_000;

/// A ledger written the way a JS app would write it: JSON state, JSON commands, and
/// errors that are arbitrary JSON payloads (standing in for a thrown JS value).
///
/// Commands: `{"type": "deposit", "amount": n}`, `{"type": "withdraw", "amount": n}`,
/// `{"type": "noop"}`. Events: `Deposited {amount}`, `Withdrawn {amount}`.
struct Ledger {
    /// How many times `decide` ran.
    decisions: Cell<u32>,
    /// While > 0, each `decide` lets another writer deposit 1 into `interfere_in`
    /// first, so the handler's append meets a conflict.
    interfere: Cell<u32>,
    interfere_in: Option<Rc<MemoryStore>>,
}

impl Ledger {
    fn new() -> Self {
        Self {
            decisions: Cell::new(0),
            interfere: Cell::new(0),
            interfere_in: None,
        }
    }
}

impl DynamicAggregate for Ledger {
    type Error = Value;

    fn name(&self) -> &str {
        "ledger"
    }

    fn initial_state(&self) -> Value {
        json!({ "balance": 0, "entries": 0 })
    }

    fn decide(&self, state: &Value, command: &Value) -> Result<Vec<DecidedEvent>, Value> {
        self.decisions.set(self.decisions.get() + 1);
        if self.interfere.get() > 0 {
            self.interfere.set(self.interfere.get() - 1);
            let store = self.interfere_in.as_ref().expect("a store to interfere in");
            store
                .append(
                    "ledger-1",
                    ExpectedVersion::Any,
                    vec![NewEvent::new("Deposited", json!({ "amount": 1 }))],
                )
                .now_or_never()
                .expect("MemoryStore appends complete at once")
                .expect("the interfering append");
        }
        let amount = command["amount"].as_i64().unwrap_or(0);
        match command["type"].as_str() {
            Some("deposit") if amount <= 0 => {
                Err(json!({ "code": "InvalidAmount", "amount": amount }))
            }
            Some("deposit") => Ok(vec![DecidedEvent::new(
                "Deposited",
                json!({ "amount": amount }),
            )
            .with_metadata("source", json!("decide"))]),
            Some("withdraw") => {
                let balance = state["balance"].as_i64().unwrap_or(0);
                if amount > balance {
                    Err(json!({ "code": "InsufficientFunds", "balance": balance }))
                } else {
                    Ok(vec![DecidedEvent::new(
                        "Withdrawn",
                        json!({ "amount": amount }),
                    )])
                }
            }
            Some("noop") => Ok(vec![]),
            _ => Err(json!({ "code": "UnknownCommand", "command": command })),
        }
    }

    fn evolve(&self, mut state: Value, event: &RecordedEvent) -> Result<Value, Value> {
        let amount = event.data["amount"]
            .as_i64()
            .ok_or_else(|| json!({ "code": "BadEvent", "version": event.version }))?;
        let delta = match event.event_type.as_str() {
            "Deposited" => amount,
            "Withdrawn" => -amount,
            other => return Err(json!({ "code": "UnknownEvent", "type": other })),
        };
        state["balance"] = json!(state["balance"].as_i64().unwrap_or(0) + delta);
        state["entries"] = json!(state["entries"].as_i64().unwrap_or(0) + 1);
        Ok(state)
    }
}

fn store() -> (Rc<MemoryStore>, Rc<ManualClock>) {
    let clock = Rc::new(ManualClock::new(T0));
    let store = Rc::new(MemoryStore::new(Rc::clone(&clock), SequentialIds::new("e")));
    (store, clock)
}

fn deposit(amount: i64) -> Value {
    json!({ "type": "deposit", "amount": amount })
}

fn withdraw(amount: i64) -> Value {
    json!({ "type": "withdraw", "amount": amount })
}

fn handler(store: &Rc<MemoryStore>) -> DynamicHandler<Rc<MemoryStore>, Ledger> {
    DynamicHandler::new(Rc::clone(store), Ledger::new()).unwrap()
}

#[test]
fn commands_decide_over_json_and_events_carry_ids_and_metadata() {
    let (store, _clock) = store();
    let h = handler(&store);
    let ctx = CommandContext::new("cmd-1")
        .correlated_with("session-9")
        .with_extra("user", json!("ada"));
    let out = block_on(h.handle("1", &deposit(100), &ctx)).unwrap();
    assert_eq!(out.version, 1);
    assert_eq!(out.attempts, 1);
    assert_eq!(out.state, json!({ "balance": 100, "entries": 1 }));
    let e = &out.events[0];
    assert_eq!(
        (
            e.event_id.as_str(),
            e.stream_id.as_str(),
            e.event_type.as_str()
        ),
        ("cmd-1-1", "ledger-1", "Deposited")
    );
    assert_eq!(e.data, json!({ "amount": 100 }));
    assert_eq!(e.metadata.causation_id.as_deref(), Some("cmd-1"));
    assert_eq!(e.metadata.correlation_id.as_deref(), Some("session-9"));
    assert_eq!(e.metadata.extra["user"], json!("ada"));
    assert_eq!(e.metadata.extra["source"], json!("decide"));

    let out = block_on(h.handle("1", &withdraw(30), &CommandContext::new("cmd-2"))).unwrap();
    assert_eq!((out.version, out.state["balance"].as_i64()), (2, Some(70)));
    // Without a correlation id the command starts its own correlation.
    assert_eq!(
        out.events[0].metadata.correlation_id.as_deref(),
        Some("cmd-2")
    );
    let loaded = block_on(h.load("1")).unwrap();
    assert_eq!(loaded.state, json!({ "balance": 70, "entries": 2 }));
    assert_eq!((loaded.version, loaded.events_replayed), (2, 2));

    // A command that decides nothing writes nothing and reports the current state.
    let noop =
        block_on(h.handle("1", &json!({"type": "noop"}), &CommandContext::new("cmd-3"))).unwrap();
    assert!(noop.events.is_empty());
    assert_eq!(
        (noop.version, noop.state["balance"].as_i64()),
        (2, Some(70))
    );
    assert_eq!(block_on(store.head_position()).unwrap(), 2);

    // A command handled again (a lost answer) never writes twice.
    let again = block_on(h.handle("1", &deposit(100), &ctx)).unwrap();
    assert_eq!(again.events[0].event_id, "cmd-1-1");
    assert_eq!(again.events[0].version, 1);
    assert_eq!(again.version, 2);
    assert_eq!(block_on(store.head_position()).unwrap(), 2);
}

#[test]
fn a_rejection_reaches_the_caller_unchanged_and_writes_nothing() {
    let (store, _clock) = store();
    let h = handler(&store);
    block_on(h.handle("1", &deposit(10), &CommandContext::new("c1"))).unwrap();
    let err = block_on(h.handle("1", &withdraw(50), &CommandContext::new("c2"))).unwrap_err();
    let payload = json!({ "code": "InsufficientFunds", "balance": 10 });
    assert_eq!(err.aggregate_error(), Some(&payload));
    assert_eq!(
        err.to_string(),
        format!("command rejected: {payload}"),
        "the message shows the payload"
    );
    match err {
        DynamicError::Rejected(e) => assert_eq!(e, payload),
        other => panic!("expected Rejected, got {other:?}"),
    }
    let err = block_on(h.handle("1", &deposit(-5), &CommandContext::new("c3"))).unwrap_err();
    assert!(matches!(
        err,
        DynamicError::Rejected(ref e) if e["code"] == "InvalidAmount"
    ));
    assert_eq!(block_on(store.head_position()).unwrap(), 1);
    assert_eq!(block_on(store.stream_version("ledger-1")).unwrap(), Some(1));
    assert_eq!(block_on(store.snapshot_count()).unwrap(), 0);
}

/// An error type with no `Display`, `Error`, `Send` or `Sync`: the handler still works,
/// and the value comes back as the very same object.
#[test]
fn the_error_type_needs_no_bounds() {
    struct Thrown(Rc<Cell<u32>>);
    struct Strict(Rc<Cell<u32>>);
    impl DynamicAggregate for Strict {
        type Error = Thrown;
        fn name(&self) -> &str {
            "strict"
        }
        fn initial_state(&self) -> Value {
            Value::Null
        }
        fn decide(&self, _: &Value, _: &Value) -> Result<Vec<DecidedEvent>, Thrown> {
            Err(Thrown(Rc::clone(&self.0)))
        }
        fn evolve(&self, state: Value, _: &RecordedEvent) -> Result<Value, Thrown> {
            Ok(state)
        }
    }
    let (store, _clock) = store();
    let marker = Rc::new(Cell::new(7));
    let Ok(h) = DynamicHandler::new(&*store, Strict(Rc::clone(&marker))) else {
        panic!("a valid name");
    };
    let Err(DynamicError::Rejected(Thrown(thrown))) =
        block_on(h.handle("x", &json!({}), &CommandContext::default()))
    else {
        panic!("expected the thrown value back");
    };
    assert!(Rc::ptr_eq(&thrown, &marker));
    assert!(store.is_empty());
}

#[test]
fn invalid_names_are_refused() {
    struct Named(&'static str);
    impl DynamicAggregate for Named {
        type Error = String;
        fn name(&self) -> &str {
            self.0
        }
        fn initial_state(&self) -> Value {
            Value::Null
        }
        fn decide(&self, _: &Value, _: &Value) -> Result<Vec<DecidedEvent>, String> {
            Ok(vec![])
        }
        fn evolve(&self, state: Value, _: &RecordedEvent) -> Result<Value, String> {
            Ok(state)
        }
    }
    let (store, _clock) = store();
    for bad in ["", " ", "shop-cart"] {
        let err = DynamicHandler::new(&*store, Named(bad))
            .err()
            .expect("an invalid name is refused");
        assert!(
            matches!(&err, DynamicError::InvalidName(n) if n == bad),
            "{bad:?}: {err:?}"
        );
    }
    let h = DynamicHandler::new(&*store, Named("cart")).unwrap();
    assert_eq!(h.stream_id("7"), "cart-7");
}

#[test]
fn snapshots_every_n_and_loads_start_from_the_newest() {
    let (store, _clock) = store();
    let h = handler(&store).with_snapshot_policy(SnapshotPolicy::Every(3));
    let mut saved = vec![];
    for i in 1..=7 {
        let out =
            block_on(h.handle("1", &deposit(i), &CommandContext::new(format!("c{i}")))).unwrap();
        saved.push(out.snapshot_saved);
    }
    assert_eq!(
        saved,
        vec![false, false, true, false, false, true, false],
        "snapshots at versions 3 and 6"
    );
    let snaps = block_on(store.list_snapshots("ledger-1")).unwrap();
    assert_eq!(
        snaps.iter().map(|s| s.version).collect::<Vec<_>>(),
        vec![3, 6]
    );
    assert_eq!(snaps[1].state, json!({ "balance": 21, "entries": 6 }));
    assert_eq!(snaps[1].schema_version, 1);
    let loaded = block_on(h.load("1")).unwrap();
    assert_eq!(loaded.state, json!({ "balance": 28, "entries": 7 }));
    assert_eq!(
        (loaded.snapshot_version, loaded.events_replayed),
        (Some(6), 1)
    );
}

#[test]
fn the_default_policy_snapshots_every_ten_and_off_never_does() {
    let (store, _clock) = store();
    let h = handler(&store);
    for i in 1..=10 {
        block_on(h.handle("1", &deposit(1), &CommandContext::new(format!("a{i}")))).unwrap();
    }
    assert_eq!(block_on(store.list_snapshots("ledger-1")).unwrap().len(), 1);

    let off = handler(&store).with_snapshot_policy(SnapshotPolicy::Off);
    for i in 1..=25 {
        let out =
            block_on(off.handle("2", &deposit(1), &CommandContext::new(format!("b{i}")))).unwrap();
        assert!(!out.snapshot_saved);
    }
    assert!(block_on(store.list_snapshots("ledger-2"))
        .unwrap()
        .is_empty());
    let loaded = block_on(off.load("2")).unwrap();
    assert_eq!(
        (loaded.snapshot_version, loaded.events_replayed),
        (None, 25)
    );
    // snapshot_now saves one whatever the policy.
    assert_eq!(block_on(off.snapshot_now("2")).unwrap(), Some(25));
    assert_eq!(block_on(off.load("2")).unwrap().snapshot_version, Some(25));
    assert_eq!(block_on(off.snapshot_now("3")).unwrap(), None);
}

#[test]
fn a_raised_snapshot_schema_version_ignores_older_snapshots() {
    struct V2(Ledger);
    impl DynamicAggregate for V2 {
        type Error = Value;
        fn name(&self) -> &str {
            self.0.name()
        }
        fn initial_state(&self) -> Value {
            self.0.initial_state()
        }
        fn decide(&self, s: &Value, c: &Value) -> Result<Vec<DecidedEvent>, Value> {
            self.0.decide(s, c)
        }
        fn evolve(&self, s: Value, e: &RecordedEvent) -> Result<Value, Value> {
            self.0.evolve(s, e)
        }
        fn snapshot_schema_version(&self) -> u32 {
            2
        }
    }
    let (store, _clock) = store();
    let v1 = handler(&store).with_snapshot_policy(SnapshotPolicy::Every(2));
    for i in 1..=4 {
        block_on(v1.handle("1", &deposit(1), &CommandContext::new(format!("c{i}")))).unwrap();
    }
    let v2 = DynamicHandler::new(Rc::clone(&store), V2(Ledger::new())).unwrap();
    let loaded = block_on(v2.load("1")).unwrap();
    assert_eq!((loaded.snapshot_version, loaded.events_replayed), (None, 4));
    assert_eq!(loaded.state["balance"], json!(4));
}

#[test]
fn a_conflicting_writer_makes_the_handler_decide_again_on_the_fresher_state() {
    let (store, _clock) = store();
    let ledger = Ledger {
        interfere_in: Some(Rc::clone(&store)),
        ..Ledger::new()
    };
    let h = DynamicHandler::new(Rc::clone(&store), ledger).unwrap();
    block_on(h.handle("1", &deposit(10), &CommandContext::new("c1"))).unwrap();
    h.aggregate().interfere.set(2);
    h.aggregate().decisions.set(0);
    let out = block_on(h.handle("1", &withdraw(10), &CommandContext::new("c2"))).unwrap();
    // Two deposits of 1 slipped in before the first two appends; the third decision
    // ran on the state that includes them.
    assert_eq!(out.attempts, 3);
    assert_eq!(h.aggregate().decisions.get(), 3);
    assert_eq!(out.version, 4);
    assert_eq!(out.state, json!({ "balance": 2, "entries": 4 }));
    assert_eq!(block_on(h.load("1")).unwrap().state, out.state);
    assert_eq!(out.events[0].event_id, "c2-1");

    // With one attempt allowed the conflict is reported and nothing of the command
    // is written.
    let h = h.with_max_attempts(1);
    h.aggregate().interfere.set(1);
    let err = block_on(h.handle("1", &deposit(5), &CommandContext::new("c3"))).unwrap_err();
    match err {
        DynamicError::RetriesExhausted { attempts, source } => {
            assert_eq!(attempts, 1);
            assert_eq!(
                source,
                StoreError::WrongExpectedVersion {
                    stream: "ledger-1".into(),
                    expected: ExpectedVersion::Exact(4),
                    actual: Some(5),
                }
            );
        }
        other => panic!("expected RetriesExhausted, got {other:?}"),
    }
    let events = block_on(store.read_stream("ledger-1", ReadStreamOptions::default())).unwrap();
    assert_eq!(events.len(), 5);
    assert!(events.iter().all(|e| !e.event_id.starts_with("c3")));
}

#[test]
fn state_at_version_and_time() {
    let (store, clock) = store();
    let h = handler(&store).with_snapshot_policy(SnapshotPolicy::Every(2));
    for i in 1..=5 {
        block_on(h.handle("1", &deposit(i * 10), &CommandContext::new(format!("c{i}")))).unwrap();
        clock.advance(1_000);
    }
    let at3 = block_on(h.state_at_version("1", 3)).unwrap();
    assert_eq!(at3.state, json!({ "balance": 60, "entries": 3 }));
    assert_eq!((at3.version, at3.snapshot_version), (3, Some(2)));
    let at0 = block_on(h.state_at_version("1", 0)).unwrap();
    assert_eq!(at0.state, json!({ "balance": 0, "entries": 0 }));
    let err = block_on(h.state_at_version("1", 6)).unwrap_err();
    assert!(matches!(
        err,
        DynamicError::VersionNotFound {
            requested: 6,
            current: 5,
            ..
        }
    ));
    // Event i was recorded at T0 + (i - 1) s.
    let at = block_on(h.state_at_time("1", T0 + 1_500)).unwrap();
    assert_eq!((at.version, at.state["balance"].as_i64()), (2, Some(30)));
    let before = block_on(h.state_at_time("1", T0 - 1)).unwrap();
    assert_eq!(before.version, 0);
    assert_eq!(before.state, json!({ "balance": 0, "entries": 0 }));
}

#[test]
fn evolve_sees_upcast_events_and_its_errors_name_the_event() {
    let (store, _clock) = store();
    block_on(store.append(
        "ledger-1",
        ExpectedVersion::NoStream,
        vec![
            NewEvent::new("Deposited", json!({ "amt": 5 })),
            NewEvent::new("Deposited", json!({ "amount": 7 })).with_schema_version(2),
        ],
    ))
    .unwrap();
    // Without the upcaster, v1's payload has no `amount`: evolve fails, naming it.
    let h = handler(&store);
    let err = block_on(h.load("1")).unwrap_err();
    match &err {
        DynamicError::Evolve {
            stream,
            version,
            error,
        } => {
            assert_eq!((stream.as_str(), *version), ("ledger-1", 1));
            assert_eq!(error, &json!({ "code": "BadEvent", "version": 1 }));
        }
        other => panic!("expected Evolve, got {other:?}"),
    }
    let up = Upcasters::new().register("Deposited", 1, |v| Ok(json!({ "amount": v["amt"] })));
    let h = handler(&store).with_upcasters(up);
    assert_eq!(block_on(h.load("1")).unwrap().state["balance"], json!(12));
    // Events decided at an old schema version are evolved upcast, as a load sees them.
    struct OldWriter(Ledger);
    impl DynamicAggregate for OldWriter {
        type Error = Value;
        fn name(&self) -> &str {
            "ledger"
        }
        fn initial_state(&self) -> Value {
            self.0.initial_state()
        }
        fn decide(&self, _: &Value, c: &Value) -> Result<Vec<DecidedEvent>, Value> {
            Ok(vec![DecidedEvent::new(
                "Deposited",
                json!({ "amt": c["amount"] }),
            )])
        }
        fn evolve(&self, s: Value, e: &RecordedEvent) -> Result<Value, Value> {
            self.0.evolve(s, e)
        }
    }
    let up = Upcasters::new().register("Deposited", 1, |v| Ok(json!({ "amount": v["amt"] })));
    let old = DynamicHandler::new(Rc::clone(&store), OldWriter(Ledger::new()))
        .unwrap()
        .with_upcasters(up);
    let out = block_on(old.handle("1", &deposit(3), &CommandContext::new("c1"))).unwrap();
    assert_eq!(out.events[0].data, json!({ "amt": 3 }), "stored as decided");
    assert_eq!(out.state["balance"], json!(15));
}

#[test]
fn invalid_decided_events_are_store_errors_and_write_nothing() {
    struct Blank;
    impl DynamicAggregate for Blank {
        type Error = String;
        fn name(&self) -> &str {
            "blank"
        }
        fn initial_state(&self) -> Value {
            json!({})
        }
        fn decide(&self, _: &Value, _: &Value) -> Result<Vec<DecidedEvent>, String> {
            Ok(vec![DecidedEvent::new(" ", json!({}))])
        }
        fn evolve(&self, state: Value, _: &RecordedEvent) -> Result<Value, String> {
            Ok(state)
        }
    }
    let (store, _clock) = store();
    let h = DynamicHandler::new(&*store, Blank).unwrap();
    let err = block_on(h.handle("1", &json!({}), &CommandContext::new("c"))).unwrap_err();
    assert!(
        matches!(err, DynamicError::Store(StoreError::InvalidInput(_))),
        "{err:?}"
    );
    assert!(store.is_empty());
}

#[test]
fn decided_events_have_a_js_friendly_json_form() {
    let e: DecidedEvent = serde_json::from_value(json!({
        "type": "Deposited", "data": { "amount": 5 }, "metadata": { "ip": "::1" }
    }))
    .unwrap();
    assert_eq!(
        e,
        DecidedEvent::new("Deposited", json!({ "amount": 5 })).with_metadata("ip", json!("::1"))
    );
    let e: DecidedEvent =
        serde_json::from_value(json!({ "eventType": "Closed", "schemaVersion": 2 })).unwrap();
    assert_eq!(
        (e.event_type.as_str(), e.schema_version, e.data),
        ("Closed", 2, Value::Null)
    );
    assert_eq!(
        serde_json::to_value(DecidedEvent::new("A", json!(1))).unwrap(),
        json!({ "type": "A", "data": 1, "schemaVersion": 1 })
    );
    assert!(serde_json::from_value::<DecidedEvent>(json!({ "data": 1 })).is_err());
}

/// The `Ledger`, except that `{"type": "bad"}` decides a `Deposited` without an amount,
/// which `evolve` refuses, and `{"type": "nest", "depth": n}` decides an event that makes
/// the state nest `n` levels deep.
struct Careless(Ledger);

impl DynamicAggregate for Careless {
    type Error = Value;
    fn name(&self) -> &str {
        "ledger"
    }
    fn initial_state(&self) -> Value {
        self.0.initial_state()
    }
    fn decide(&self, s: &Value, c: &Value) -> Result<Vec<DecidedEvent>, Value> {
        match c["type"].as_str() {
            Some("bad") => Ok(vec![
                DecidedEvent::new("Deposited", json!({ "amount": 1 })),
                DecidedEvent::new("Deposited", json!({ "amt": 1 })),
            ]),
            Some("nest") => Ok(vec![DecidedEvent::new("Nested", c["depth"].clone())]),
            _ => self.0.decide(s, c),
        }
    }
    fn evolve(&self, mut s: Value, e: &RecordedEvent) -> Result<Value, Value> {
        if e.event_type == "Nested" {
            let mut nested = json!(0);
            for _ in 0..e.data.as_u64().unwrap_or(0) {
                nested = json!([nested]);
            }
            s["nested"] = nested;
            return Ok(s);
        }
        self.0.evolve(s, e)
    }
}

#[test]
fn an_evolve_that_fails_on_the_decided_event_writes_nothing() {
    let (store, _clock) = store();
    let h = DynamicHandler::new(Rc::clone(&store), Careless(Ledger::new())).unwrap();
    block_on(h.handle("1", &deposit(10), &CommandContext::new("c1"))).unwrap();
    let before = block_on(store.read_stream("ledger-1", ReadStreamOptions::default())).unwrap();

    let err =
        block_on(h.handle("1", &json!({ "type": "bad" }), &CommandContext::new("c2"))).unwrap_err();
    match &err {
        DynamicError::Evolve {
            stream,
            version,
            error,
        } => {
            // The second decided event (version 3) is the one evolve refused.
            assert_eq!((stream.as_str(), *version), ("ledger-1", 3));
            assert_eq!(error, &json!({ "code": "BadEvent", "version": 3 }));
        }
        other => panic!("expected Evolve, got {other:?}"),
    }
    assert_eq!(block_on(store.stream_version("ledger-1")).unwrap(), Some(1));
    assert_eq!(
        block_on(store.read_stream("ledger-1", ReadStreamOptions::default())).unwrap(),
        before
    );
    assert_eq!(block_on(store.head_position()).unwrap(), 1);

    // A valid command still works, and what it returns is what a load rebuilds.
    let out = block_on(h.handle("1", &deposit(5), &CommandContext::new("c3"))).unwrap();
    assert_eq!(out.version, 2);
    assert_eq!(out.state, json!({ "balance": 15, "entries": 2 }));
    assert_eq!(block_on(h.load("1")).unwrap().state, out.state);
}

#[test]
fn a_state_deeper_than_the_limit_is_refused_before_the_append() {
    use chronik_core::limits::MAX_DEPTH;
    let (store, _clock) = store();
    let h = DynamicHandler::new(Rc::clone(&store), Careless(Ledger::new())).unwrap();
    // The state object is one level, `nested` adds MAX_DEPTH: one too many.
    let too_deep = json!({ "type": "nest", "depth": MAX_DEPTH });
    let err = block_on(h.handle("1", &too_deep, &CommandContext::new("c1"))).unwrap_err();
    match &err {
        DynamicError::Store(StoreError::InvalidInput(message)) => {
            assert!(
                message.contains("aggregate state nests deeper than 64"),
                "{message}"
            )
        }
        other => panic!("expected InvalidInput, got {other:?}"),
    }
    assert!(store.is_empty());
    let deep_enough = json!({ "type": "nest", "depth": MAX_DEPTH - 1 });
    let out = block_on(h.handle("1", &deep_enough, &CommandContext::new("c2"))).unwrap();
    assert_eq!(out.version, 1);
    assert_eq!(block_on(h.load("1")).unwrap().state, out.state);
}

#[test]
fn a_decision_larger_than_the_batch_limit_writes_nothing() {
    use chronik_core::limits::MAX_BATCH_EVENTS;
    struct Flood;
    impl DynamicAggregate for Flood {
        type Error = String;
        fn name(&self) -> &str {
            "flood"
        }
        fn initial_state(&self) -> Value {
            json!(0)
        }
        fn decide(&self, _: &Value, c: &Value) -> Result<Vec<DecidedEvent>, String> {
            let n = c.as_u64().unwrap_or(0) as usize;
            Ok(vec![DecidedEvent::new("Tick", Value::Null); n])
        }
        fn evolve(&self, s: Value, _: &RecordedEvent) -> Result<Value, String> {
            Ok(json!(s.as_u64().unwrap_or(0) + 1))
        }
    }
    let (store, _clock) = store();
    let h = DynamicHandler::new(&*store, Flood)
        .unwrap()
        .with_snapshot_policy(SnapshotPolicy::Off);
    let err = block_on(h.handle(
        "1",
        &json!(MAX_BATCH_EVENTS + 1),
        &CommandContext::new("c1"),
    ))
    .unwrap_err();
    assert!(
        matches!(&err, DynamicError::Store(StoreError::InvalidInput(m)) if m.contains("at most 100000")),
        "{err:?}"
    );
    assert!(store.is_empty());
    let out = block_on(h.handle("1", &json!(2), &CommandContext::new("c2"))).unwrap();
    assert_eq!((out.version, out.state), (2, json!(2)));
}

#[test]
fn snapshot_now_refuses_a_state_too_deep_to_load_again() {
    use chronik_core::limits::MAX_DEPTH;
    let (store, _clock) = store();
    // Written by other means: an event that makes the state one level too deep.
    block_on(store.append(
        "ledger-1",
        ExpectedVersion::NoStream,
        vec![NewEvent::new("Nested", json!(MAX_DEPTH))],
    ))
    .unwrap();
    let h = DynamicHandler::new(Rc::clone(&store), Careless(Ledger::new())).unwrap();
    let err = block_on(h.snapshot_now("1")).unwrap_err();
    assert!(
        matches!(&err, DynamicError::Store(StoreError::InvalidInput(m)) if m.contains("nests deeper")),
        "{err:?}"
    );
    assert!(block_on(store.list_snapshots("ledger-1"))
        .unwrap()
        .is_empty());
}

/// An aggregate whose `evolve` reads the envelope: the last position and time it saw.
struct Stamped;

impl DynamicAggregate for Stamped {
    type Error = Value;

    fn name(&self) -> &str {
        "stamped"
    }

    fn initial_state(&self) -> Value {
        json!({ "count": 0, "lastPosition": 0, "lastAt": 0 })
    }

    fn decide(&self, _state: &Value, _command: &Value) -> Result<Vec<DecidedEvent>, Value> {
        Ok(vec![DecidedEvent::new("Stamped", json!({}))])
    }

    fn evolve(&self, state: Value, event: &RecordedEvent) -> Result<Value, Value> {
        Ok(json!({
            "count": state["count"].as_i64().unwrap_or(0) + 1,
            "lastPosition": event.position,
            "lastAt": event.recorded_at,
        }))
    }
}

#[test]
fn an_evolve_that_reads_positions_and_times_returns_and_snapshots_what_a_replay_gives() {
    let clock = Rc::new(ManualClock::new(T0));
    let store = Rc::new(MemoryStore::new(Rc::clone(&clock), SequentialIds::new("e")));
    block_on(async {
        store
            .append(
                "other-1",
                ExpectedVersion::Any,
                vec![NewEvent::new("X", json!({}))],
            )
            .await
            .unwrap();
        let handler = DynamicHandler::new(Rc::clone(&store), Stamped)
            .unwrap()
            .with_snapshot_policy(SnapshotPolicy::Every(1));
        let out = handler
            .handle("s", &json!({}), &CommandContext::new("cmd-1"))
            .await
            .unwrap();
        assert_eq!(
            out.state,
            json!({ "count": 1, "lastPosition": 2, "lastAt": T0 })
        );
        let snapshots = store.list_snapshots("stamped-s").await.unwrap();
        assert_eq!(snapshots.last().unwrap().state, out.state);
        clock.advance(5);
        let second = handler
            .handle("s", &json!({}), &CommandContext::new("cmd-2"))
            .await
            .unwrap();
        assert_eq!(second.state["lastAt"], json!(T0 + 5));
        // Folding the stored events from scratch gives the same state.
        let events = store
            .read_stream("stamped-s", ReadStreamOptions::default())
            .await
            .unwrap();
        assert_eq!(events.len(), 2);
        let replayed = events.iter().fold(Stamped.initial_state(), |state, e| {
            Stamped.evolve(state, e).unwrap()
        });
        assert_eq!(replayed, second.state);
        assert_eq!(
            store.list_snapshots("stamped-s").await.unwrap()[1].state,
            replayed
        );
    });
}
