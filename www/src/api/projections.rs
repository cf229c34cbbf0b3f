//! The example domains' read models, each run by a [`ProjectionRunner`] over the app's
//! store: their status, checkpoint, lag and event counts, catch-up and rebuild.
//!
//! The runners live for the page's lifetime (one per read model, shared by every view)
//! behind an async lock, so a catch-up and a rebuild of the same projection never
//! interleave. They are recreated when the store is reopened (after the database is
//! cleared).

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use chronik_core::{
    EventStore, Projection, ProjectionError, ProjectionRunner, ProjectionStatus, ReadAllOptions,
    RebuildProgress,
};
use chronik_examples::bank::{AccountBalances, DailySummary, TransactionHistory};
use chronik_examples::orders::{CurrentOrders, CustomerStats, InventoryDemand, OrderHistory};
use chronik_examples::{Bank, Orders};
use chronik_idb::{IdbStore, JsClock};
use futures::lock::Mutex;

use super::store;

type Store = Rc<IdbStore>;
type LocalFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// Where one read model stands, as the projections page shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectionInfo {
    /// The projection's name (its checkpoint is saved under it).
    pub name: String,
    /// The domain it belongs to.
    pub domain: &'static str,
    /// What it keeps.
    pub description: &'static str,
    /// The event types it handles.
    pub handles: Vec<String>,
    /// Caught up, catching up, rebuilding or failed (with the event and error).
    pub status: ProjectionStatus,
    /// The checkpoint: global position of the last event accounted for.
    pub position: u64,
    /// The log's head.
    pub head: u64,
    /// Events of the log past the checkpoint (head − checkpoint).
    pub lag: u64,
    /// Events of the handled types at or before the checkpoint: how many it has applied.
    /// Unknown (`None`) while it lags by more than [`COUNT_PENDING_UP_TO`] events.
    pub processed: Option<u64>,
    /// A one-line summary of its current state.
    pub summary: String,
}

/// One runner with what the page says about it, its concrete type hidden.
trait Runner {
    fn handles(&self) -> Option<Vec<String>>;
    fn position(&self) -> u64;
    fn status(&self) -> ProjectionStatus;
    fn summary(&self) -> String;
    fn lag(&mut self) -> LocalFuture<'_, Result<u64, ProjectionError>>;
    fn catch_up(&mut self) -> LocalFuture<'_, Result<usize, ProjectionError>>;
    fn rebuild<'a>(
        &'a mut self,
        progress: &'a mut dyn FnMut(RebuildProgress),
    ) -> LocalFuture<'a, Result<usize, ProjectionError>>;
}

struct Entry<P: Projection> {
    runner: ProjectionRunner<Store, P>,
    summarize: fn(&P::State) -> String,
}

impl<P: Projection + 'static> Runner for Entry<P> {
    fn handles(&self) -> Option<Vec<String>> {
        self.runner.projection().event_types()
    }
    fn position(&self) -> u64 {
        self.runner.position()
    }
    fn status(&self) -> ProjectionStatus {
        self.runner.status().clone()
    }
    fn summary(&self) -> String {
        (self.summarize)(self.runner.state())
    }
    fn lag(&mut self) -> LocalFuture<'_, Result<u64, ProjectionError>> {
        Box::pin(self.runner.lag())
    }
    fn catch_up(&mut self) -> LocalFuture<'_, Result<usize, ProjectionError>> {
        Box::pin(self.runner.catch_up())
    }
    fn rebuild<'a>(
        &'a mut self,
        progress: &'a mut dyn FnMut(RebuildProgress),
    ) -> LocalFuture<'a, Result<usize, ProjectionError>> {
        Box::pin(self.runner.rebuild(progress))
    }
}

/// Events per page while catching up or rebuilding (the checkpoint is saved after each).
const PAGE_SIZE: usize = 500;

/// The largest lag for which the events a projection still has to apply are read to
/// count them; past it, its applied count is left unknown until it catches up.
pub const COUNT_PENDING_UP_TO: u64 = 5_000;

/// One read model: its runner behind an async lock, and what is known about it while
/// the lock is held by a long run.
struct Slot {
    name: String,
    domain: &'static str,
    description: &'static str,
    runner: Mutex<Box<dyn Runner>>,
    /// What holds the lock: a catch-up or a rebuild.
    busy: RefCell<Option<ProjectionStatus>>,
    /// The last info read, shown (with `busy` as its status) while the runner is busy.
    last: RefCell<Option<ProjectionInfo>>,
}

fn slot<P: Projection + 'static>(
    runner: ProjectionRunner<Store, P>,
    domain: &'static str,
    description: &'static str,
    summarize: fn(&P::State) -> String,
) -> Slot {
    Slot {
        name: runner.projection().name().to_string(),
        domain,
        description,
        runner: Mutex::new(Box::new(Entry {
            runner: runner.with_page_size(PAGE_SIZE),
            summarize,
        })),
        busy: RefCell::new(None),
        last: RefCell::new(None),
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn slots_for(store: &Store) -> Vec<Slot> {
    let bank = Bank::new(store.clone());
    let orders = Orders::new(store.clone());
    vec![
        slot(
            bank.projection(AccountBalances, JsClock),
            "Bank",
            "Balance and status of every account",
            |s| {
                format!(
                    "{}, total {}",
                    plural(s.accounts.len(), "account", "accounts"),
                    s.total
                )
            },
        ),
        slot(
            bank.projection(TransactionHistory, JsClock),
            "Bank",
            "Every deposit and withdrawal, per account",
            |s| {
                let n: usize = s.accounts.values().map(|t| t.len()).sum();
                format!(
                    "{} in {}",
                    plural(n, "transaction", "transactions"),
                    plural(s.accounts.len(), "account", "accounts")
                )
            },
        ),
        slot(
            bank.projection(DailySummary, JsClock),
            "Bank",
            "Deposits, withdrawals and net change per UTC day",
            |s| plural(s.days.len(), "day", "days"),
        ),
        slot(
            orders.projection(CurrentOrders, JsClock),
            "Orders",
            "Every unfinished order, and how many orders are in each status",
            |s| {
                let total: u64 = s.counts.values().sum();
                format!(
                    "{} open of {}",
                    s.orders.len(),
                    plural(total as usize, "order", "orders")
                )
            },
        ),
        slot(
            orders.projection(OrderHistory, JsClock),
            "Orders",
            "Every order of every customer, with its outcome",
            |s| {
                format!(
                    "{} by {}",
                    plural(s.order_customer.len(), "order", "orders"),
                    plural(s.customers.len(), "customer", "customers")
                )
            },
        ),
        slot(
            orders.projection(CustomerStats, JsClock),
            "Orders",
            "Orders, completions, cancellations and spend per customer",
            |s| plural(s.customers.len(), "customer", "customers"),
        ),
        slot(
            orders.projection(InventoryDemand, JsClock),
            "Orders",
            "Units reserved, ordered and shipped per product",
            |s| plural(s.products.len(), "product", "products"),
        ),
    ]
}

struct Registry {
    store: Store,
    slots: Vec<Slot>,
    /// A catch-up of every projection is running.
    catching_up: Cell<bool>,
    /// Another catch-up was asked for while one ran.
    again: Cell<bool>,
}

thread_local! {
    static REGISTRY: RefCell<Option<Rc<Registry>>> = const { RefCell::new(None) };
}

/// The runners over the current store, created on first use and again after the store
/// has been reopened.
async fn registry() -> Result<Rc<Registry>, String> {
    let store = store().await?;
    if let Some(reg) = REGISTRY.with(|r| r.borrow().clone()) {
        if Rc::ptr_eq(&reg.store, &store) {
            return Ok(reg);
        }
    }
    let reg = Rc::new(Registry {
        slots: slots_for(&store),
        store,
        catching_up: Cell::new(false),
        again: Cell::new(false),
    });
    REGISTRY.with(|r| *r.borrow_mut() = Some(reg.clone()));
    Ok(reg)
}

/// Forgets every runner: their store is about to be closed.
pub(crate) fn forget_runners() {
    REGISTRY.with(|r| r.borrow_mut().take());
}

/// Where every read model stands, in display order. A projection busy with a long
/// catch-up or rebuild is reported as last seen, with that activity as its status.
pub async fn overview() -> Result<Vec<ProjectionInfo>, String> {
    let reg = registry().await?;
    let store = &reg.store;
    let stats = store.stats().await.map_err(|e| e.to_string())?;
    let head = store.head_position().await.map_err(|e| e.to_string())?;
    let mut list = Vec::with_capacity(reg.slots.len());
    for slot in &reg.slots {
        let Some(mut runner) = slot.runner.try_lock() else {
            let status = slot
                .busy
                .borrow()
                .clone()
                .unwrap_or(ProjectionStatus::CatchingUp);
            let last = slot.last.borrow().clone();
            list.push(match last {
                Some(info) => ProjectionInfo {
                    status,
                    head,
                    lag: head.saturating_sub(info.position),
                    ..info
                },
                None => ProjectionInfo {
                    name: slot.name.clone(),
                    domain: slot.domain,
                    description: slot.description,
                    handles: Vec::new(),
                    status,
                    position: 0,
                    head,
                    lag: head,
                    processed: None,
                    summary: String::new(),
                },
            });
            continue;
        };
        // Loads the checkpoint on first use.
        runner.lag().await.map_err(|e| e.to_string())?;
        let position = runner.position();
        let handles = runner.handles();
        let all: u64 = match &handles {
            Some(types) => types
                .iter()
                .map(|t| stats.events_by_type.get(t).copied().unwrap_or(0))
                .sum(),
            None => stats.event_count,
        };
        // Handled events past the checkpoint, read only when the projection lags a little.
        let lag = head.saturating_sub(position);
        let pending = if lag == 0 {
            Some(0)
        } else if lag <= COUNT_PENDING_UP_TO {
            let events = store
                .read_all(ReadAllOptions {
                    from_position: position + 1,
                    limit: None,
                    event_types: handles.clone(),
                    stream_prefix: None,
                })
                .await
                .map_err(|e| e.to_string())?;
            Some(events.len() as u64)
        } else {
            None
        };
        let info = ProjectionInfo {
            name: slot.name.clone(),
            domain: slot.domain,
            description: slot.description,
            handles: handles.unwrap_or_default(),
            status: runner.status(),
            position,
            head,
            lag,
            processed: pending.map(|p| all.saturating_sub(p)),
            summary: runner.summary(),
        };
        *slot.last.borrow_mut() = Some(info.clone());
        list.push(info);
    }
    Ok(list)
}

/// Catches every projection up to the head, one after the other, calling `after_each`
/// when one is done. A call while one runs makes that run go round once more instead.
/// A failing event stops only its projection, with [`ProjectionStatus::Failed`].
pub async fn catch_up_all(after_each: impl Fn()) -> Result<(), String> {
    let reg = registry().await?;
    if reg.catching_up.replace(true) {
        reg.again.set(true);
        return Ok(());
    }
    let result = async {
        loop {
            reg.again.set(false);
            for slot in &reg.slots {
                let mut runner = slot.runner.lock().await;
                *slot.busy.borrow_mut() = Some(ProjectionStatus::CatchingUp);
                let ran = runner.catch_up().await;
                *slot.busy.borrow_mut() = None;
                drop(runner);
                ran.map_err(|e| e.to_string())?;
                after_each();
            }
            if !reg.again.get() {
                return Ok(());
            }
        }
    }
    .await;
    reg.catching_up.set(false);
    result
}

/// How a rebuild ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Rebuilt {
    /// Events applied.
    pub applied: usize,
    /// The checkpoint it reached.
    pub position: u64,
    /// Caught up, or failed at an event.
    pub status: ProjectionStatus,
}

/// Forgets projection `name`'s state and replays the whole log, calling `progress`
/// after every page. A failing event stops it there, as in a catch-up.
pub async fn rebuild(
    name: &str,
    mut progress: impl FnMut(RebuildProgress),
) -> Result<Rebuilt, String> {
    let reg = registry().await?;
    let slot = reg
        .slots
        .iter()
        .find(|s| s.name == name)
        .ok_or_else(|| format!("there is no projection named {name}"))?;
    let mut runner = slot.runner.lock().await;
    *slot.busy.borrow_mut() = Some(ProjectionStatus::Rebuilding);
    let result = runner.rebuild(&mut progress).await;
    *slot.busy.borrow_mut() = None;
    let applied = result.map_err(|e| e.to_string())?;
    Ok(Rebuilt {
        applied,
        position: runner.position(),
        status: runner.status(),
    })
}
