//! The engine on a pool of single-threaded workers.
//!
//! chronik-core's store futures are not `Send` (IndexedDB's cannot be), and neither is a
//! [`PgStore`] (it owns a boxed, unsynchronized clock and id source). axum handlers must
//! be `Send`. So the engine runs on a [`LocalPoolHandle`]: a few threads, each with its
//! own current-thread runtime and `LocalSet`. A handler sends a closure to the pool
//! ([`Engine::run`]) and awaits its `Send` result. Each worker lazily connects its own
//! [`PgStore`] on the one shared deadpool [`Pool`]; PostgreSQL does the concurrency
//! control between them (per-stream advisory locks, the head row), exactly as between
//! two server processes.
//!
//! The read models live in one [`ProjectionHub`] on worker 0 ([`Engine::with_hub`]), so
//! one runner per projection saves its checkpoint.
//!
//! The generic store API (`/v1/stores/{store}`) reaches any named store of the database
//! through [`Engine::with_store`]: each worker connects a [`PgStore`] per store name on
//! first use and keeps it. Appends through this server are announced on a broadcast
//! channel ([`Engine::notify`], [`Engine::subscribe`]) that wakes the live readers.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use chronik_core::{Clock, CommandHandler, IdSource, ProjectionHub};
use chronik_examples::bank::bank_upcasters;
use chronik_examples::orders::Order;
use chronik_examples::registry::add_read_models;
use chronik_examples::{BankAccount, FulfilmentSagas, Services};
use chronik_postgres::deadpool_postgres::Pool;
use chronik_postgres::PgStore;
use tokio::sync::{broadcast, watch, Mutex, OnceCell};
use tokio_util::task::LocalPoolHandle;

use crate::error::ApiError;

/// How many times a command is decided again when other writers changed its stream
/// in between (each attempt reloads the stream). High: a busy account must not turn
/// into 409s under ordinary contention.
pub const COMMAND_ATTEMPTS: u32 = 64;

/// The wall clock, in ms since the Unix epoch.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }
}

/// Where fresh ids come from (event ids the store makes, order ids): injected, so that
/// tests can use predictable ones. The server's default is [`UuidIds`].
pub trait IdGenerator: Send + Sync + 'static {
    /// A new id, unique across every server instance and restart.
    fn next_id(&self) -> String;
}

/// Random (version 4) UUIDs.
#[derive(Debug, Clone, Copy, Default)]
pub struct UuidIds;

impl IdGenerator for UuidIds {
    fn next_id(&self) -> String {
        uuid::Uuid::new_v4().to_string()
    }
}

/// An [`IdGenerator`] as a store's [`IdSource`].
struct SharedIds(Arc<dyn IdGenerator>);

impl IdSource for SharedIds {
    fn next_id(&self) -> String {
        self.0.next_id()
    }
}

/// The shared store type of a worker.
pub type Store = Rc<PgStore>;

/// The read models of a worker, behind an async lock.
pub type Hub = Rc<Mutex<ProjectionHub<Store>>>;

/// What one worker thread holds: its store on the shared pool and the domain handlers
/// over it.
pub struct Worker {
    /// The worker's store.
    pub store: Store,
    /// Bank accounts, reading through the bank upcasters, retrying conflicts.
    pub accounts: CommandHandler<Store, BankAccount>,
    /// Orders, retrying conflicts.
    pub orders: CommandHandler<Store, Order>,
    /// The fulfilment sagas over the simulated services (products never received are
    /// always reservable, as in seed 003: see [`crate::routes::orders`]).
    pub sagas: FulfilmentSagas<Store>,
    /// The read models (used on worker 0 only, see [`Engine::with_hub`]).
    hub: Hub,
    /// The named stores this worker connected so far (the default one included).
    named: RefCell<HashMap<String, Store>>,
    db: Pool,
    ids: Arc<dyn IdGenerator>,
}

impl Worker {
    async fn connect(shared: &Shared) -> Result<Worker, ApiError> {
        let store = Rc::new(
            PgStore::connect(
                shared.db.clone(),
                &shared.store_name,
                SystemClock,
                SharedIds(Arc::clone(&shared.ids)),
            )
            .await
            .map_err(|e| ApiError::Unavailable(format!("cannot open the store: {e}")))?,
        );
        let mut hub = ProjectionHub::new(Rc::clone(&store));
        add_read_models(&mut hub, &store, &SystemClock)
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        let named = RefCell::new(HashMap::from([(
            shared.store_name.clone(),
            Rc::clone(&store),
        )]));
        Ok(Worker {
            named,
            db: shared.db.clone(),
            ids: Arc::clone(&shared.ids),
            accounts: CommandHandler::new(Rc::clone(&store))
                .with_upcasters(bank_upcasters())
                .with_max_attempts(COMMAND_ATTEMPTS),
            orders: CommandHandler::new(Rc::clone(&store)).with_max_attempts(COMMAND_ATTEMPTS),
            sagas: FulfilmentSagas::new(
                Rc::clone(&store),
                Services::new(Rc::clone(&store)).with_untracked(crate::routes::orders::UNTRACKED),
            ),
            hub: Rc::new(Mutex::new(hub)),
            store,
        })
    }
}

impl Worker {
    /// The store named `name` in the database, connected (and created, with its head
    /// row, when it is new) on this worker's first use of it. A blank or too long name is
    /// a 400; an unreachable database a 503.
    pub async fn store_named(&self, name: &str) -> Result<Store, ApiError> {
        if let Some(store) = self.named.borrow().get(name) {
            return Ok(Rc::clone(store));
        }
        let store = Rc::new(
            PgStore::connect(
                self.db.clone(),
                name,
                SystemClock,
                SharedIds(Arc::clone(&self.ids)),
            )
            .await
            .map_err(|e| ApiError::from(chronik_core::StoreError::from(e)))?,
        );
        // Another request on this thread may have connected it meanwhile: keep the first.
        Ok(Rc::clone(
            self.named
                .borrow_mut()
                .entry(name.to_string())
                .or_insert(store),
        ))
    }
}

/// How many append notices a slow live reader may fall behind before it is told it
/// lagged (it then simply reads the log again).
const NOTICES: usize = 1024;

struct Shared {
    /// Tells this engine's workers apart from another engine's in the same process.
    key: u64,
    db: Pool,
    store_name: String,
    ids: Arc<dyn IdGenerator>,
    /// Announces the name of a store that was appended to through this server.
    appended: broadcast::Sender<Arc<str>>,
    /// True once the server is stopping: live readers end their streams.
    stopping: watch::Sender<bool>,
}

type Slot = Rc<OnceCell<Rc<Worker>>>;

thread_local! {
    /// The worker of each engine that ran on this thread.
    static WORKERS: RefCell<HashMap<u64, Slot>> = RefCell::new(HashMap::new());
}

/// The engine: a pool of single-threaded workers over one PostgreSQL pool. Cheap to
/// clone, `Send + Sync`.
#[derive(Clone)]
pub struct Engine {
    shared: Arc<Shared>,
    pool: LocalPoolHandle,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("store", &self.shared.store_name)
            .field("workers", &self.pool.num_threads())
            .finish()
    }
}

impl Engine {
    /// An engine with `workers` threads over `db`, using the chronik store named
    /// `store_name`; `ids` makes event ids. Nothing connects until the first request
    /// (or [`Engine::check`]).
    pub fn new(db: Pool, store_name: &str, workers: usize, ids: Arc<dyn IdGenerator>) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        Engine {
            shared: Arc::new(Shared {
                key: NEXT.fetch_add(1, Ordering::Relaxed),
                db,
                store_name: store_name.to_string(),
                ids,
                appended: broadcast::channel(NOTICES).0,
                stopping: watch::channel(false).0,
            }),
            pool: LocalPoolHandle::new(workers.max(1)),
        }
    }

    /// The PostgreSQL pool.
    pub fn db(&self) -> &Pool {
        &self.shared.db
    }

    /// The name of the store the seed APIs use.
    pub fn default_store(&self) -> &str {
        &self.shared.store_name
    }

    /// Tells the live readers of `store` that it was appended to.
    pub fn notify(&self, store: &str) {
        // No receiver (no live reader) is not an error.
        let _ = self.shared.appended.send(Arc::from(store));
    }

    /// Notices of appends through this server: the name of each store appended to.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<str>> {
        self.shared.appended.subscribe()
    }

    /// Ends every live reader's stream (the server is shutting down, and a graceful
    /// shutdown waits for open responses).
    pub fn stop_live(&self) {
        self.shared.stopping.send_replace(true);
    }

    /// Becomes true when [`stop_live`](Self::stop_live) is called.
    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.shared.stopping.subscribe()
    }

    /// Runs `f` on a worker with the store named `store` (see [`Worker::store_named`]).
    pub async fn with_store<F, Fut, T>(&self, store: &str, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(Store) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, ApiError>> + 'static,
        T: Send + 'static,
    {
        let name = store.to_string();
        self.run(move |worker| async move {
            let store = worker.store_named(&name).await?;
            f(store).await
        })
        .await
    }

    /// Runs `f` with a worker (the least busy one) and returns its result.
    pub async fn run<F, Fut, T>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(Rc<Worker>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, ApiError>> + 'static,
        T: Send + 'static,
    {
        let shared = Arc::clone(&self.shared);
        finish(
            self.pool
                .spawn_pinned(move || async move { f(worker(&shared).await?).await }),
        )
        .await
    }

    /// Runs `f` on worker 0 with the read models' hub (lock it for as long as it is
    /// used: one request at a time moves the runners).
    pub async fn with_hub<F, Fut, T>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(Rc<Worker>, Hub) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, ApiError>> + 'static,
        T: Send + 'static,
    {
        let shared = Arc::clone(&self.shared);
        finish(self.pool.spawn_pinned_by_idx(
            move || async move {
                let worker = worker(&shared).await?;
                let hub = Rc::clone(&worker.hub);
                f(worker, hub).await
            },
            0,
        ))
        .await
    }

    /// Connects the store (running its migrations) on a worker: fails when the database
    /// is unreachable or its schema is newer than this build.
    pub async fn check(&self) -> Result<(), ApiError> {
        self.run(|_| async { Ok(()) }).await
    }
}

/// This thread's worker of the engine `shared`, connected on first use.
async fn worker(shared: &Shared) -> Result<Rc<Worker>, ApiError> {
    let slot = WORKERS.with(|w| Rc::clone(w.borrow_mut().entry(shared.key).or_default()));
    slot.get_or_try_init(|| async { Worker::connect(shared).await.map(Rc::new) })
        .await
        .cloned()
}

/// Awaits a worker's task, and aborts it when the request is dropped first (its client
/// went away, or the time limit stopped it): the work stops at its next await, and a
/// transaction not yet committed rolls back, instead of going on unseen. Only a commit
/// already on its way when that happens may still land (as with any timeout).
async fn finish<T>(handle: tokio::task::JoinHandle<Result<T, ApiError>>) -> Result<T, ApiError> {
    struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);
    impl<T> Drop for AbortOnDrop<T> {
        fn drop(&mut self) {
            self.0.abort();
        }
    }
    let mut guard = AbortOnDrop(handle);
    (&mut guard.0)
        .await
        .map_err(|e| ApiError::Internal(format!("worker task failed: {e}")))?
}
