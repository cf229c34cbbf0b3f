//! Sync against the real server: replicas (core's `SyncEngine` over `MemoryStore`s with the
//! examples' `DomainCommands`: the engine and commands the browser runs) talking to chronik-server over HTTP on PostgreSQL
//! through `/v1/stores/{store}/…`, with requests and answers lost at random, devices
//! offline for a while, and the server process killed under a push.

mod common;

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::time::Duration;

use chronik_core::sync::{
    PullError, PullPage, PushError, Replica, ReplicaStore, StepOutcome, SyncEngine,
};
use chronik_core::{
    AppendResult, CommandContext, EventStore, ExpectedVersion, ManualClock, MemoryStore, NewEvent,
    ReadAllOptions, RecordedEvent, SequentialIds,
};
use chronik_examples::commands::{bank_command, DomainCommands};
use chronik_examples::BankCommand;
use common::{ServerProcess, TestDb};
use serde_json::{json, Value};

const STORE: &str = "sync";

// ---- the HTTP transport, with failures on demand ------------------------------------

/// core's `Transport` over reqwest: what the browser's transport does over `fetch`.
struct Http {
    url: String,
    client: reqwest::Client,
    /// Every request fails before it is sent.
    offline: Cell<bool>,
    /// The next push is sent and handled, then its answer is lost.
    lose_next_answer: Cell<bool>,
    sent: Cell<u32>,
}

impl Http {
    fn new(url: &str) -> Self {
        Self {
            url: url.to_string(),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
            offline: Cell::new(false),
            lose_next_answer: Cell::new(false),
            sent: Cell::new(0),
        }
    }
}

impl chronik_core::sync::Transport for Http {
    async fn push(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: &[NewEvent],
    ) -> Result<AppendResult, PushError> {
        if self.offline.get() {
            return Err(PushError::Network("offline".into()));
        }
        self.sent.set(self.sent.get() + 1);
        let response = self
            .client
            .post(format!("{}/v1/stores/{STORE}/streams/{stream}", self.url))
            .json(&json!({ "expectedVersion": expected.to_json(), "events": events }))
            .send()
            .await
            .map_err(|e| PushError::Network(e.to_string()))?;
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .map_err(|e| PushError::Network(e.to_string()))?;
        if self.lose_next_answer.replace(false) {
            return Err(PushError::Network("the answer was lost".into()));
        }
        if status.is_success() {
            return serde_json::from_value(body).map_err(|e| PushError::Refused(e.to_string()));
        }
        let message = body["error"].as_str().unwrap_or_default().to_string();
        if status == reqwest::StatusCode::CONFLICT && body.get("actual").is_some() {
            return Err(PushError::WrongExpectedVersion {
                actual: body["actual"].as_u64(),
            });
        }
        if status.is_client_error() && status != reqwest::StatusCode::REQUEST_TIMEOUT {
            return Err(PushError::Refused(message));
        }
        Err(PushError::Network(format!("{status}: {message}")))
    }

    async fn pull(&self, after: u64, limit: usize) -> Result<PullPage, PullError> {
        if self.offline.get() {
            return Err(PullError::Network("offline".into()));
        }
        let response = self
            .client
            .get(format!(
                "{}/v1/stores/{STORE}/events?after={after}&limit={limit}",
                self.url
            ))
            .send()
            .await
            .map_err(|e| PullError::Network(e.to_string()))?;
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .map_err(|e| PullError::Network(e.to_string()))?;
        if !status.is_success() {
            return Err(PullError::Network(format!("{status}: {body}")));
        }
        serde_json::from_value(body).map_err(|e| PullError::Refused(e.to_string()))
    }
}

// ---- devices ---------------------------------------------------------------------------

type Engine = SyncEngine<Rc<MemoryStore>, DomainCommands, Rc<Http>>;

struct Device {
    name: String,
    store: Rc<MemoryStore>,
    http: Rc<Http>,
    engine: Engine,
    /// The commands this device decided locally, by batch id.
    written: RefCell<Vec<String>>,
}

impl Device {
    fn new(name: &str, url: &str, clock: &Rc<ManualClock>) -> Self {
        let store = Rc::new(MemoryStore::new(
            Rc::clone(clock),
            SequentialIds::new(format!("{name}-local")),
        ));
        let http = Rc::new(Http::new(url));
        let replica = Replica::new(
            Rc::clone(&store),
            DomainCommands,
            Rc::clone(clock),
            SequentialIds::new(name.to_string()),
        );
        let engine = SyncEngine::new(replica, Rc::clone(&http)).with_page_limit(7);
        Self {
            name: name.to_string(),
            store,
            http,
            engine,
            written: RefCell::new(Vec::new()),
        }
    }

    /// Decides `command` locally (offline or not); `false` when the view refuses it.
    async fn execute(&self, account: &str, command: BankCommand) -> bool {
        let command = bank_command(account, &command, &CommandContext::default());
        match self.engine.replica().execute(command).await {
            Ok(Some(batch)) => {
                self.written.borrow_mut().push(batch.id);
                true
            }
            Ok(None) => true,
            Err(_) => false,
        }
    }

    /// Steps until the engine is idle; network failures are retried (a bounded number of
    /// times, so a stuck engine fails the test instead of hanging it).
    async fn sync(&mut self) {
        let mut failures = 0;
        for _ in 0..2_000 {
            match self.engine.step().await {
                Ok(StepOutcome::Idle) => return,
                Ok(StepOutcome::NetworkFailure { message: e }) => {
                    failures += 1;
                    assert!(failures < 200, "{} keeps failing: {e}", self.name);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Ok(_) => {}
                Err(e) => panic!("{} failed: {e}", self.name),
            }
            self.assert_no_negative_balance().await;
        }
        panic!("{} did not settle", self.name);
    }

    async fn balances(&self) -> BTreeMap<String, i64> {
        let view = self.engine.replica().view().await.unwrap();
        balances(&view.read_all(ReadAllOptions::default()).await.unwrap())
    }

    async fn assert_no_negative_balance(&self) {
        for (account, cents) in self.balances().await {
            assert!(cents >= 0, "{} shows {account} at {cents}", self.name);
        }
    }

    async fn confirmed_log(&self) -> Vec<RecordedEvent> {
        self.store
            .read_all(ReadAllOptions::default())
            .await
            .unwrap()
    }
}

/// Balances in cents from a log of bank events.
fn balances(events: &[RecordedEvent]) -> BTreeMap<String, i64> {
    let mut out = BTreeMap::new();
    for e in events {
        let amount = match e.event_type.as_str() {
            "AccountOpened" => e.data["initialBalance"].as_i64().unwrap_or(0),
            "MoneyDeposited" => e.data["amount"].as_i64().unwrap(),
            "MoneyWithdrawn" => -e.data["amount"].as_i64().unwrap(),
            _ => 0,
        };
        *out.entry(e.stream_id.clone()).or_default() += amount;
    }
    out
}

async fn server_log(url: &str) -> Vec<RecordedEvent> {
    let http = reqwest::Client::new();
    let mut events: Vec<RecordedEvent> = Vec::new();
    loop {
        let after = events.last().map_or(0, |e| e.position);
        let page: Value = http
            .get(format!(
                "{url}/v1/stores/{STORE}/events?after={after}&limit=500"
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let got: Vec<RecordedEvent> = serde_json::from_value(page["events"].clone()).unwrap();
        if got.is_empty() {
            return events;
        }
        events.extend(got);
    }
}

/// Each batch id is on the server with one attempt only (event ids `{batch}.{attempt}.{n}`),
/// and `n` runs 1, 2, … within it: no batch twice, none in part.
fn assert_each_batch_once(events: &[RecordedEvent]) -> HashMap<String, usize> {
    let mut batches: HashMap<String, (String, usize)> = HashMap::new();
    for e in events {
        let mut parts = e.event_id.rsplitn(3, '.');
        let n: usize = parts.next().unwrap().parse().unwrap();
        let attempt = parts.next().unwrap().to_string();
        let batch = parts.next().unwrap().to_string();
        let entry = batches
            .entry(batch.clone())
            .or_insert_with(|| (attempt.clone(), 0));
        assert_eq!(entry.0, attempt, "batch {batch} is on the server twice");
        assert_eq!(entry.1 + 1, n, "batch {batch} is not whole and in order");
        entry.1 += 1;
    }
    batches.into_iter().map(|(k, (_, n))| (k, n)).collect()
}

/// A small deterministic generator (xorshift), so a failure replays.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

async fn open_accounts(device: &mut Device, accounts: &[&str]) {
    for account in accounts {
        assert!(
            device
                .execute(
                    account,
                    BankCommand::OpenAccount {
                        owner: format!("owner of {account}"),
                        initial_deposit: None,
                        initial_balance: Some("50.00".into()),
                    },
                )
                .await
        );
    }
    device.sync().await;
}

// ---- tests -------------------------------------------------------------------------------

/// Three devices share three accounts, deposit and withdraw at random, go offline for a
/// while, and lose answers to pushes the server committed. In the end every device's
/// confirmed log is the server's log, byte for byte; no batch is on the server twice or
/// in part; every command a device decided is on the server or listed as a conflict on
/// that device; no device ever showed a negative balance; money is conserved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_devices_converge_on_the_servers_log_over_http() {
    let db = TestDb::new("chronik_sync_test").await;
    let server = ServerProcess::start(&db).await;
    let clock = Rc::new(ManualClock::new(1_800_000_000_000));
    let mut devices: Vec<Device> = ["a", "b", "c"]
        .iter()
        .map(|n| Device::new(n, &server.url, &clock))
        .collect();
    let accounts = ["1", "2", "3"];
    open_accounts(&mut devices[0], &accounts).await;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..240 {
        clock.advance(1_000);
        let d = rng.below(3) as usize;
        let device = &mut devices[d];
        let account = accounts[rng.below(3) as usize];
        let cents = 100 * (1 + rng.below(40));
        let amount = format!("{}.{:02}", cents / 100, cents % 100);
        match rng.below(10) {
            0 => device.http.offline.set(!device.http.offline.get()),
            1 => device.http.lose_next_answer.set(true),
            2..=4 => {
                device.execute(account, BankCommand::deposit(amount)).await;
            }
            _ => {
                device.execute(account, BankCommand::withdraw(amount)).await;
            }
        }
        // A few steps, not necessarily to the end: devices interleave mid-sync.
        for _ in 0..rng.below(4) {
            let _ = device.engine.step().await;
            device.assert_no_negative_balance().await;
        }
    }
    for device in &devices {
        device.http.offline.set(false);
    }
    // Twice round: a device's last push must reach the others' pulls.
    for _ in 0..2 {
        for device in &mut devices {
            device.sync().await;
        }
    }

    let log = server_log(&server.url).await;
    let on_server = assert_each_batch_once(&log);
    let positions: Vec<u64> = log.iter().map(|e| e.position).collect();
    assert_eq!(positions, (1..=log.len() as u64).collect::<Vec<_>>());
    let server_bytes: Vec<String> = log
        .iter()
        .map(|e| serde_json::to_string(e).unwrap())
        .collect();
    let mut conflicts = 0;
    for device in &devices {
        let confirmed: Vec<String> = device
            .confirmed_log()
            .await
            .iter()
            .map(|e| serde_json::to_string(e).unwrap())
            .collect();
        assert_eq!(confirmed, server_bytes, "{} differs", device.name);
        let state = device.store.replica_state().await.unwrap();
        assert!(
            state.pending.is_empty(),
            "{} still has pending",
            device.name
        );
        let conflicted: Vec<String> = state.conflicts.iter().map(|c| c.batch.id.clone()).collect();
        conflicts += conflicted.len();
        for id in device.written.borrow().iter() {
            assert!(
                on_server.contains_key(id) != conflicted.contains(id),
                "{}'s batch {id} must be on the server or a conflict, exactly one",
                device.name
            );
        }
        assert_eq!(device.balances().await, balances(&log));
    }
    let totals = balances(&log);
    assert!(totals.values().all(|&c| c >= 0), "{totals:?}");
    let deposited: i64 = log
        .iter()
        .filter(|e| e.event_type != "MoneyWithdrawn")
        .map(|e| {
            e.data["amount"]
                .as_i64()
                .or(e.data["initialBalance"].as_i64())
                .unwrap_or(0)
        })
        .sum();
    let withdrawn: i64 = log
        .iter()
        .filter(|e| e.event_type == "MoneyWithdrawn")
        .map(|e| e.data["amount"].as_i64().unwrap())
        .sum();
    assert_eq!(totals.values().sum::<i64>(), deposited - withdrawn);
    assert!(
        conflicts > 0,
        "the run should contain refused withdrawals (it is seeded to)"
    );
}

/// A device pushes 40 offline deposits while the server process is SIGKILLed and
/// started again on the same database: every deposit is on the server exactly once, in
/// its own whole batch, and the device ends with the server's log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_during_a_push_loses_and_duplicates_nothing() {
    let db = TestDb::new("chronik_sync_test").await;
    let mut server = ServerProcess::start(&db).await;
    let port = server.port();
    let clock = Rc::new(ManualClock::new(1_800_000_000_000));
    let mut device = Device::new("k", &server.url, &clock);
    open_accounts(&mut device, &["k"]).await;
    device.http.offline.set(true);
    for _ in 0..40 {
        clock.advance(10);
        assert!(device.execute("k", BankCommand::deposit("1.00")).await);
    }
    device.http.offline.set(false);

    // Push until about half is sent, kill the server with a request in flight, then
    // push into the dead server for a while.
    let sent = device.http.sent.get();
    while device.http.sent.get() < sent + 20 {
        let _ = device.engine.step().await;
    }
    let (_, ()) = tokio::join!(device.engine.step(), async {
        tokio::time::sleep(Duration::from_millis(1)).await;
        server.kill();
    });
    for _ in 0..5 {
        assert!(
            matches!(
                device.engine.step().await,
                Ok(StepOutcome::NetworkFailure { .. })
            ),
            "the server is down"
        );
    }
    let server = ServerProcess::start_on(&db, port).await;
    device.sync().await;

    let log = server_log(&server.url).await;
    let batches = assert_each_batch_once(&log);
    assert_eq!(batches.len(), 41, "the opening and 40 deposits, each once");
    assert_eq!(balances(&log)["account-k"], 5_000 + 4_000);
    let confirmed = device.confirmed_log().await;
    assert_eq!(
        serde_json::to_string(&confirmed).unwrap(),
        serde_json::to_string(&log).unwrap()
    );
    assert!(device
        .store
        .replica_state()
        .await
        .unwrap()
        .pending
        .is_empty());
}
