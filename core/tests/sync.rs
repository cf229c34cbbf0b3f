//! Sync between replicas and an in-memory "server" (a `MemoryStore` behind a fake
//! `Transport` with injectable failures), deterministic: every step is driven by hand.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::rc::Rc;

use chronik_core::sync::{
    BatchOrigin, CommandRunner, ConflictReason, ExecuteError, PendingCommand, PullError, PullPage,
    PushError, Replica, ReplicaStore, RunError, StepOutcome, SyncEngine, SyncError, SyncStatus,
    Transport,
};
use chronik_core::{
    Aggregate, AppendResult, CommandContext, CommandHandler, DomainEvent, EventStore,
    ExpectedVersion, HandlerError, JsonProjection, ManualClock, MemoryStore, NewEvent,
    ProjectionRunner, ReadAllOptions, RecordedEvent, SequentialIds, SnapshotPolicy, StoreError,
};
use futures::executor::block_on;
use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;

// ---- a tiny account aggregate --------------------------------------------------------

#[derive(Debug, Default, Serialize, Deserialize)]
struct Account {
    balance: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
enum Event {
    Deposited { amount: i64 },
    Withdrawn { amount: i64 },
}

impl DomainEvent for Event {
    fn event_type(&self) -> &'static str {
        match self {
            Event::Deposited { .. } => "Deposited",
            Event::Withdrawn { .. } => "Withdrawn",
        }
    }
}

enum Command {
    Deposit(i64),
    Withdraw(i64),
}

#[derive(Debug, thiserror::Error)]
#[error("insufficient funds: balance {0}")]
struct InsufficientFunds(i64);

impl Aggregate for Account {
    type Command = Command;
    type Event = Event;
    type Error = InsufficientFunds;
    const CATEGORY: &'static str = "account";

    fn decide(&self, command: &Command) -> Result<Vec<Event>, InsufficientFunds> {
        match *command {
            Command::Deposit(amount) => Ok(vec![Event::Deposited { amount }]),
            Command::Withdraw(amount) if amount > self.balance => {
                Err(InsufficientFunds(self.balance))
            }
            Command::Withdraw(amount) => Ok(vec![Event::Withdrawn { amount }]),
        }
    }

    fn evolve(&mut self, event: &Event) {
        match event {
            Event::Deposited { amount } => self.balance += amount,
            Event::Withdrawn { amount } => self.balance -= amount,
        }
    }
}

/// The shell's command runner: `deposit` / `withdraw` `{account, amount}` through the
/// ordinary `CommandHandler`.
struct Bank;

impl CommandRunner for Bank {
    async fn run<S: EventStore>(
        &self,
        store: &S,
        command: &PendingCommand,
    ) -> Result<(), RunError> {
        let account = command.input["account"]
            .as_str()
            .ok_or_else(|| RunError::Failed("no account".into()))?;
        let amount = command.input["amount"]
            .as_i64()
            .ok_or_else(|| RunError::Failed("no amount".into()))?;
        let cmd = match command.name.as_str() {
            "deposit" => Command::Deposit(amount),
            "withdraw" => Command::Withdraw(amount),
            other => return Err(RunError::Failed(format!("unknown command {other}"))),
        };
        let handler = CommandHandler::<_, Account>::new(store)
            .with_snapshot_policy(SnapshotPolicy::Every(2))
            .with_max_attempts(1);
        match handler
            .handle(account, &cmd, &CommandContext::default())
            .await
        {
            Ok(_) => Ok(()),
            Err(HandlerError::Rejected(e)) => Err(RunError::Refused(e.to_string())),
            Err(e) => Err(RunError::Failed(e.to_string())),
        }
    }
}

fn deposit(account: &str, amount: i64) -> PendingCommand {
    PendingCommand {
        name: "deposit".into(),
        input: json!({ "account": account, "amount": amount }),
    }
}

fn withdraw(account: &str, amount: i64) -> PendingCommand {
    PendingCommand {
        name: "withdraw".into(),
        input: json!({ "account": account, "amount": amount }),
    }
}

// ---- the fake server and transport ---------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// The request never reaches the server.
    DropRequest,
    /// The server handles the request (a push commits), then the answer is lost (or the
    /// server restarts before answering).
    DropResponse,
}

struct FakeTransport {
    server: Rc<MemoryStore>,
    offline: Cell<bool>,
    faults: RefCell<VecDeque<Fault>>,
    /// Makes the next page skip its first event (a server that lost one).
    hole: Cell<bool>,
}

impl FakeTransport {
    fn new(server: &Rc<MemoryStore>) -> Self {
        Self {
            server: Rc::clone(server),
            offline: Cell::new(false),
            faults: RefCell::new(VecDeque::new()),
            hole: Cell::new(false),
        }
    }

    fn fault(&self) -> Option<Fault> {
        if self.offline.get() {
            return Some(Fault::DropRequest);
        }
        self.faults.borrow_mut().pop_front()
    }
}

impl Transport for FakeTransport {
    async fn push(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: &[NewEvent],
    ) -> Result<AppendResult, PushError> {
        let fault = self.fault();
        if fault == Some(Fault::DropRequest) {
            return Err(PushError::Network("request lost".into()));
        }
        let answer = match self.server.append(stream, expected, events.to_vec()).await {
            Ok(result) => Ok(result),
            Err(StoreError::WrongExpectedVersion { actual, .. }) => {
                Err(PushError::WrongExpectedVersion { actual })
            }
            Err(e) => Err(PushError::Refused(e.to_string())),
        };
        if fault == Some(Fault::DropResponse) {
            return Err(PushError::Network("response lost".into()));
        }
        answer
    }

    async fn pull(&self, after: u64, limit: usize) -> Result<PullPage, PullError> {
        if self.fault().is_some() {
            return Err(PullError::Network("no answer".into()));
        }
        let head = self.server.head_position().await.unwrap();
        let mut events = self
            .server
            .read_all(ReadAllOptions {
                from_position: after + 1,
                limit: Some(limit),
                ..ReadAllOptions::default()
            })
            .await
            .unwrap();
        let last = events.last().map_or(after, |e| e.position);
        if self.hole.replace(false) && !events.is_empty() {
            events.remove(0);
        }
        let next = if events.len() == limit {
            last
        } else {
            last.max(head)
        };
        Ok(PullPage {
            events,
            after,
            next,
            head,
        })
    }
}

type Engine = SyncEngine<Rc<MemoryStore>, Bank, Rc<FakeTransport>>;

struct Device {
    name: String,
    store: Rc<MemoryStore>,
    transport: Rc<FakeTransport>,
    clock: Rc<ManualClock>,
    engine: Engine,
    restarts: u32,
}

impl Device {
    fn new(name: &str, server: &Rc<MemoryStore>, clock: &Rc<ManualClock>) -> Self {
        let store = Rc::new(MemoryStore::new(
            Rc::clone(clock),
            SequentialIds::new(format!("{name}-local")),
        ));
        let transport = Rc::new(FakeTransport::new(server));
        let engine = Self::engine(name, 0, &store, &transport, clock);
        Self {
            name: name.to_string(),
            store,
            transport,
            clock: Rc::clone(clock),
            engine,
            restarts: 0,
        }
    }

    fn engine(
        name: &str,
        restarts: u32,
        store: &Rc<MemoryStore>,
        transport: &Rc<FakeTransport>,
        clock: &Rc<ManualClock>,
    ) -> Engine {
        let replica = Replica::new(
            Rc::clone(store),
            Bank,
            Rc::clone(clock),
            SequentialIds::new(format!("{name}r{restarts}")),
        );
        SyncEngine::new(replica, Rc::clone(transport)).with_page_limit(3)
    }

    /// The tab closes and opens again: a new engine on the same store.
    fn restart(&mut self) {
        self.restarts += 1;
        self.engine = Self::engine(
            &self.name,
            self.restarts,
            &self.store,
            &self.transport,
            &self.clock,
        );
    }

    fn replica(&self) -> &Replica<Rc<MemoryStore>, Bank> {
        self.engine.replica()
    }

    fn execute(&self, command: PendingCommand) -> Result<(), String> {
        block_on(self.replica().execute(command))
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn step(&mut self) -> Result<StepOutcome, SyncError> {
        let outcome = block_on(self.engine.step());
        // Whatever a step did, the view never shows a negative balance.
        for (account, balance) in self.view_balances() {
            assert!(balance >= 0, "{} shows {account} at {balance}", self.name);
        }
        outcome
    }

    /// Steps until the engine is idle (caught up, nothing to send).
    fn sync(&mut self) {
        for _ in 0..1_000 {
            if self.step().unwrap() == StepOutcome::Idle {
                return;
            }
        }
        panic!("{} did not settle", self.name);
    }

    fn view_balances(&self) -> BTreeMap<String, i64> {
        block_on(async {
            let view = self.replica().view().await.unwrap();
            balances(&view).await
        })
    }

    /// The balances read model, through a persisted projection runner on the view.
    fn read_model(&self) -> serde_json::Value {
        block_on(async {
            let view = self.replica().view().await.unwrap();
            let mut runner =
                ProjectionRunner::new(&view, balance_projection(), ManualClock::new(0))
                    .with_checkpoint_every(1);
            runner.catch_up().await.unwrap();
            runner.state().clone()
        })
    }

    fn confirmed_log(&self) -> String {
        log_bytes(&self.store)
    }

    fn pending(&self) -> usize {
        block_on(self.store.replica_state()).unwrap().pending.len()
    }

    fn conflicts(&self) -> Vec<chronik_core::sync::Conflict> {
        block_on(self.replica().conflicts()).unwrap()
    }
}

fn balance_projection() -> JsonProjection {
    JsonProjection::new("balances", json!({}), |mut state, event| {
        let amount = event.data["amount"].as_i64().unwrap_or(0);
        let delta = if event.event_type == "Withdrawn" {
            -amount
        } else {
            amount
        };
        let entry = &mut state[event.stream_id.as_str()];
        *entry = json!(entry.as_i64().unwrap_or(0) + delta);
        Ok(state)
    })
}

async fn balances(store: &impl EventStore) -> BTreeMap<String, i64> {
    let mut out = BTreeMap::new();
    for e in store.read_all(ReadAllOptions::default()).await.unwrap() {
        let amount = e.data["amount"].as_i64().unwrap();
        let delta = if e.event_type == "Withdrawn" {
            -amount
        } else {
            amount
        };
        *out.entry(e.stream_id.clone()).or_default() += delta;
    }
    out
}

fn log_bytes(store: &MemoryStore) -> String {
    let events = block_on(store.read_all(ReadAllOptions::default())).unwrap();
    events
        .iter()
        .map(|e| serde_json::to_string(e).unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

fn server_events(server: &MemoryStore) -> Vec<RecordedEvent> {
    block_on(server.read_all(ReadAllOptions::default())).unwrap()
}

/// Every batch id on the server appears with one attempt only (`{batch}.{attempt}.{n}`).
fn assert_each_batch_once(server: &MemoryStore) {
    let mut attempts: HashMap<String, String> = HashMap::new();
    for e in server_events(server) {
        let mut parts = e.event_id.rsplitn(3, '.');
        let (_n, attempt, batch) = (parts.next(), parts.next().unwrap(), parts.next().unwrap());
        let seen = attempts
            .entry(batch.to_string())
            .or_insert_with(|| attempt.to_string());
        assert_eq!(seen, attempt, "batch {batch} is on the server twice");
    }
}

fn setup(names: &[&str]) -> (Rc<MemoryStore>, Rc<ManualClock>, Vec<Device>) {
    let clock = Rc::new(ManualClock::new(1_700_000_000_000));
    let server = Rc::new(MemoryStore::new(
        Rc::clone(&clock),
        SequentialIds::new("srv"),
    ));
    let devices = names
        .iter()
        .map(|n| Device::new(n, &server, &clock))
        .collect();
    (server, clock, devices)
}

// ---- scripted scenarios --------------------------------------------------------------

#[test]
fn offline_withdrawal_that_no_longer_fits_becomes_a_conflict_on_its_device_only() {
    let (server, clock, mut d) = setup(&["a", "b"]);
    d[0].execute(deposit("1", 100)).unwrap();
    d[0].sync();
    d[1].sync();
    assert_eq!(d[1].view_balances()["account-1"], 100);

    // A goes offline: deposits 20, withdraws 100 (fits locally: 120).
    d[0].transport.offline.set(true);
    clock.advance(1_000);
    d[0].execute(deposit("1", 20)).unwrap();
    d[0].execute(withdraw("1", 100)).unwrap();
    assert_eq!(
        d[0].view_balances()["account-1"],
        20,
        "local writes show at once"
    );
    assert!(matches!(
        d[0].step().unwrap(),
        StepOutcome::NetworkFailure { .. }
    ));
    assert_eq!(d[0].engine.status(), SyncStatus::Offline);
    assert_eq!(d[0].pending(), 2);

    // B, online, withdraws 50.
    d[1].execute(withdraw("1", 50)).unwrap();
    d[1].sync();

    // A comes back.
    d[0].transport.offline.set(false);
    d[0].sync();
    d[1].sync();
    assert_eq!(d[0].engine.status(), SyncStatus::Live);

    for device in &d {
        assert_eq!(device.view_balances()["account-1"], 70, "{}", device.name);
        assert_eq!(device.read_model(), json!({ "account-1": 70 }));
        assert_eq!(device.confirmed_log(), log_bytes(&server));
        assert_eq!(device.pending(), 0);
    }
    let types: Vec<String> = server_events(&server)
        .iter()
        .map(|e| format!("{} {}", e.event_type, e.data["amount"]))
        .collect();
    assert_eq!(types, ["Deposited 100", "Withdrawn 50", "Deposited 20"]);
    assert_each_batch_once(&server);

    let conflicts = d[0].conflicts();
    assert_eq!(conflicts.len(), 1);
    assert_eq!(
        conflicts[0].reason,
        ConflictReason::Rejected {
            message: "insufficient funds: balance 70".into()
        }
    );
    assert_eq!(
        conflicts[0].batch.origin,
        BatchOrigin::Command {
            command: withdraw("1", 100)
        }
    );
    assert!(d[1].conflicts().is_empty());

    // Discarding it changes nothing else; retrying it is refused again and stays.
    assert!(block_on(d[0].replica().retry(&conflicts[0].batch.id)).is_err());
    assert_eq!(d[0].conflicts().len(), 1);
    block_on(d[0].replica().discard(&conflicts[0].batch.id)).unwrap();
    assert!(d[0].conflicts().is_empty());
    assert_eq!(d[0].view_balances()["account-1"], 70);
}

#[test]
fn a_retry_after_a_lost_response_does_not_duplicate() {
    let (server, _clock, mut d) = setup(&["a", "b"]);
    d[0].execute(deposit("1", 10)).unwrap();
    // Pull (nothing), then the push commits but the answer is lost.
    assert!(matches!(d[0].step().unwrap(), StepOutcome::Pulled { .. }));
    d[0].transport
        .faults
        .borrow_mut()
        .push_back(Fault::DropResponse);
    assert!(matches!(
        d[0].step().unwrap(),
        StepOutcome::NetworkFailure { .. }
    ));
    assert_eq!(server.len(), 1);
    // Meanwhile B writes to the same stream: the retry still answers the original result.
    d[1].sync();
    d[1].execute(deposit("1", 5)).unwrap();
    d[1].sync();
    // The tab closes and opens again before the retry.
    d[0].restart();
    d[0].sync();
    assert_eq!(server.len(), 2);
    assert_each_batch_once(&server);
    assert_eq!(d[0].confirmed_log(), log_bytes(&server));
    assert_eq!(d[0].view_balances()["account-1"], 15);
    assert_eq!(d[0].pending(), 0);
}

#[test]
fn a_lost_request_then_a_moved_stream_rebases_the_command() {
    let (server, _clock, mut d) = setup(&["a", "b"]);
    d[0].execute(deposit("1", 10)).unwrap();
    d[0].step().unwrap();
    d[0].transport
        .faults
        .borrow_mut()
        .push_back(Fault::DropRequest);
    assert!(matches!(
        d[0].step().unwrap(),
        StepOutcome::NetworkFailure { .. }
    ));
    d[1].execute(deposit("1", 7)).unwrap();
    d[1].sync();
    // A's retry meets the moved stream, pulls, decides again, pushes.
    assert!(matches!(d[0].step().unwrap(), StepOutcome::Behind { .. }));
    assert!(matches!(
        d[0].step().unwrap(),
        StepOutcome::Pulled { rebased: 1, .. }
    ));
    d[0].sync();
    assert_eq!(server.len(), 2);
    let ids: Vec<String> = server_events(&server)
        .into_iter()
        .map(|e| e.event_id)
        .collect();
    assert!(ids[1].ends_with(".1.1"), "the rebased attempt: {ids:?}");
    assert_each_batch_once(&server);
    assert_eq!(d[0].view_balances()["account-1"], 17);
}

#[test]
fn a_raw_append_with_an_exact_version_becomes_a_conflict_and_any_is_pushed_as_is() {
    let (server, _clock, mut d) = setup(&["a", "b"]);
    d[0].execute(deposit("1", 10)).unwrap();
    d[0].sync();
    d[1].sync();
    d[0].transport.offline.set(true);
    let raw = |amount: i64| NewEvent::new("Deposited", json!({ "amount": amount }));
    block_on(
        d[0].replica()
            .append("account-1", ExpectedVersion::Exact(1), vec![raw(1)]),
    )
    .unwrap();
    block_on(
        d[0].replica()
            .append("account-2", ExpectedVersion::Any, vec![raw(2)]),
    )
    .unwrap();
    d[1].execute(deposit("1", 3)).unwrap();
    d[1].sync();
    d[0].transport.offline.set(false);
    d[0].sync();
    let conflicts = d[0].conflicts();
    assert_eq!(conflicts.len(), 1);
    assert_eq!(
        conflicts[0].reason,
        ConflictReason::VersionConflict {
            expected: ExpectedVersion::Exact(1),
            actual: Some(2)
        }
    );
    assert_eq!(
        d[0].view_balances(),
        BTreeMap::from([("account-1".into(), 13), ("account-2".into(), 2)])
    );
    assert_eq!(d[0].confirmed_log(), log_bytes(&server));

    // Retrying a raw conflict is the user's choice to write it on the current state.
    block_on(d[0].replica().retry(&conflicts[0].batch.id)).unwrap();
    d[0].sync();
    assert_eq!(d[0].view_balances()["account-1"], 14);
    assert_each_batch_once(&server);
}

#[test]
fn a_page_with_a_hole_is_refused_and_nothing_is_applied() {
    let (_server, _clock, mut d) = setup(&["a", "b"]);
    d[1].execute(deposit("1", 10)).unwrap();
    d[1].execute(deposit("1", 20)).unwrap();
    d[1].sync();
    d[0].transport.hole.set(true);
    let err = d[0].step().unwrap_err();
    assert_eq!(
        err,
        SyncError::Gap {
            expected: 1,
            found: 2
        }
    );
    assert_eq!(d[0].engine.status(), SyncStatus::Error);
    assert!(d[0].store.is_empty());
    d[0].sync();
    assert_eq!(d[0].view_balances()["account-1"], 30);
}

#[test]
fn a_batch_split_over_pages_is_never_shown_twice_or_half() {
    let (server, _clock, mut d) = setup(&["a", "b"]);
    let raw = |amount: i64| NewEvent::new("Deposited", json!({ "amount": amount }));
    block_on(d[0].replica().append(
        "account-1",
        ExpectedVersion::NoStream,
        (1..=5).map(raw).collect(),
    ))
    .unwrap();
    d[1].execute(deposit("2", 1)).unwrap();
    d[1].sync();
    // Pages of 3: [b's deposit, a1, a2], then [a3, a4, a5].
    for _ in 0..20 {
        let outcome = d[0].step().unwrap();
        let view = block_on(async {
            let v = d[0].replica().view().await.unwrap();
            v.read_all(ReadAllOptions::default()).await.unwrap()
        });
        let ones: Vec<_> = view.iter().filter(|e| e.stream_id == "account-1").collect();
        assert_eq!(ones.len(), 5, "after {outcome:?}");
        if outcome == StepOutcome::Idle {
            break;
        }
    }
    assert_eq!(d[0].pending(), 0);
    assert_eq!(d[0].confirmed_log(), log_bytes(&server));
}

#[test]
fn checkpoints_cover_only_the_confirmed_prefix() {
    let (_server, _clock, mut d) = setup(&["a"]);
    d[0].execute(deposit("1", 10)).unwrap();
    d[0].sync();
    assert_eq!(d[0].read_model(), json!({ "account-1": 10 }));
    d[0].transport.offline.set(true);
    d[0].execute(deposit("1", 5)).unwrap();
    d[0].execute(deposit("1", 1)).unwrap();
    // Pending events are folded on top at read time, from the confirmed checkpoint.
    assert_eq!(d[0].read_model(), json!({ "account-1": 16 }));
    assert_eq!(d[0].read_model(), json!({ "account-1": 16 }));
    let saved = block_on(d[0].store.load_checkpoint("balances"))
        .unwrap()
        .unwrap();
    assert_eq!(
        (saved.position, saved.state),
        (1, json!({ "account-1": 10 }))
    );
    // A snapshot is never saved at a pending version either (the runner snapshots every 2).
    assert!(block_on(d[0].store.list_snapshots("account-1"))
        .unwrap()
        .is_empty());
}

// ---- the property ---------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Op {
    Deposit(usize, u8, i64),
    Withdraw(usize, u8, i64),
    Step(usize, Option<Fault>),
    Offline(usize, bool),
    Restart(usize),
}

fn op() -> impl Strategy<Value = Op> {
    let device = 0..3usize;
    let fault = prop_oneof![
        4 => Just(None),
        1 => Just(Some(Fault::DropRequest)),
        1 => Just(Some(Fault::DropResponse)),
    ];
    prop_oneof![
        3 => (device.clone(), 0..2u8, 1..40i64).prop_map(|(d, a, n)| Op::Deposit(d, a, n)),
        3 => (device.clone(), 0..2u8, 1..60i64).prop_map(|(d, a, n)| Op::Withdraw(d, a, n)),
        6 => (device.clone(), fault).prop_map(|(d, f)| Op::Step(d, f)),
        1 => (device.clone(), any::<bool>()).prop_map(|(d, o)| Op::Offline(d, o)),
        1 => device.prop_map(Op::Restart),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_interleavings_converge_to_the_servers_log(ops in prop::collection::vec(op(), 1..120)) {
        let (server, clock, mut d) = setup(&["a", "b", "c"]);
        let mut batches: Vec<(usize, String)> = Vec::new();
        for op in ops {
            clock.advance(10);
            match op {
                Op::Deposit(i, a, n) | Op::Withdraw(i, a, n) => {
                    let account = a.to_string();
                    let command = if matches!(op, Op::Deposit(..)) {
                        deposit(&account, n)
                    } else {
                        withdraw(&account, n)
                    };
                    match block_on(d[i].replica().execute(command)) {
                        Ok(Some(batch)) => batches.push((i, batch.id)),
                        Ok(None) => {}
                        Err(ExecuteError::Run(RunError::Refused(_))) => {}
                        Err(e) => panic!("device {i}: {e}"),
                    }
                }
                Op::Step(i, fault) => {
                    d[i].transport.faults.borrow_mut().extend(fault);
                    d[i].step().unwrap();
                }
                Op::Offline(i, offline) => d[i].transport.offline.set(offline),
                Op::Restart(i) => d[i].restart(),
            }
        }
        for device in &d {
            device.transport.offline.set(false);
            device.transport.faults.borrow_mut().clear();
        }
        // Round-robin until every device is idle twice in a row.
        for _ in 0..3 {
            for device in d.iter_mut() {
                device.sync();
            }
        }
        let server_log = log_bytes(&server);
        let server_balances = block_on(balances(&*server));
        for device in &d {
            prop_assert_eq!(&device.confirmed_log(), &server_log);
            prop_assert_eq!(device.pending(), 0);
            prop_assert_eq!(&device.view_balances(), &server_balances);
        }
        prop_assert!(server_balances.values().all(|b| *b >= 0));
        assert_each_batch_once(&server);
        // Every local batch is on the server once, or a conflict on its device (or, a
        // command that decided nothing on the fresh state, gone).
        let on_server: std::collections::HashSet<String> = server_events(&server)
            .into_iter()
            .map(|e| e.event_id.rsplitn(3, '.').nth(2).unwrap().to_string())
            .collect();
        for (i, id) in batches {
            let conflict = d[i].conflicts().iter().any(|c| c.batch.id == id);
            prop_assert!(on_server.contains(&id) ^ conflict, "batch {} of device {}", id, i);
        }
    }
}

#[test]
fn a_view_built_before_sync_confirms_its_batches_reads_each_event_once() {
    let (_server, _clock, mut d) = setup(&["a"]);
    d[0].execute(deposit("1", 100)).unwrap();
    d[0].sync();
    d[0].execute(deposit("1", 5)).unwrap();
    d[0].execute(withdraw("1", 30)).unwrap();
    // Another tab's replica of the same store, whose view stays open meanwhile.
    let tab = Replica::new(
        Rc::clone(&d[0].store),
        Bank,
        ManualClock::new(0),
        SequentialIds::new("tab"),
    );
    let view = block_on(tab.view()).unwrap();
    let before = block_on(view.read_stream("account-1", Default::default())).unwrap();
    assert_eq!(before.len(), 3);
    // Sync pushes and confirms both pending batches while the view is in use.
    d[0].sync();
    assert_eq!(d[0].pending(), 0);
    block_on(async {
        let after = view
            .read_stream("account-1", Default::default())
            .await
            .unwrap();
        assert_eq!(
            after.iter().map(|e| e.version).collect::<Vec<_>>(),
            [1, 2, 3],
            "each event once, as the view saw them"
        );
        assert_eq!(view.stream_version("account-1").await.unwrap(), Some(3));
        assert_eq!(
            view.read_all(ReadAllOptions::default())
                .await
                .unwrap()
                .len(),
            3
        );
        // A command decided on it now is decided on what it shows.
        let handler = CommandHandler::<_, Account>::new(&view);
        assert_eq!(handler.load("1").await.unwrap().state.balance, 75);
    });
}
