//! The example domains' read models, all run by **one** [`ProjectionHub`] over the app's
//! store: their status, checkpoint, lag and event counts, catch-up and rebuild; and the
//! typed states the pages read.
//!
//! The hub holds one runner per read model of [`READ_MODELS`] (so no two runners ever
//! save under one checkpoint name) and lives for the page's lifetime behind an async
//! lock, so a catch-up and a rebuild never interleave. A page's read catches up only
//! the read model it shows (on a cold start the Bank page's balances do not wait for the
//! orders' read models); the Projections page's catch-up is one pass over the log
//! feeding every read model. It is recreated when the store is reopened (after the
//! database is cleared).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;

use chronik_core::{
    EventStore, ProjectionHub, ProjectionStatus, ReadAllOptions, RebuildProgress, StateAtError,
};
use chronik_examples::bank::{
    AccountBalancesState, DailySummaryState, PendingTransfersState, TransactionHistoryState,
};
use chronik_examples::orders::{
    CurrentOrdersState, CustomerStatsState, InventoryDemandState, OrderHistoryState,
};
use chronik_examples::registry::{self, READ_MODELS};
use chronik_idb::JsClock;

use super::AppStore;
use futures::lock::Mutex;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::store;
use super::AppError;

type Store = Rc<AppStore>;

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

/// The largest lag for which the events a projection still has to apply are read to
/// count them; past it, its applied count is left unknown until it catches up.
pub const COUNT_PENDING_UP_TO: u64 = 5_000;

/// What holds the hub's lock for a long run.
#[derive(Debug, Clone, PartialEq)]
enum Busy {
    /// A catch-up of every read model.
    CatchingUp,
    /// A rebuild of this one.
    Rebuilding(String),
}

/// The hub over the current store, and what is known about it while a long run holds it.
pub(crate) struct Hub {
    store: Store,
    hub: Mutex<ProjectionHub<Store>>,
    busy: RefCell<Option<Busy>>,
    /// The last info read per read model, shown while the hub is busy.
    last: RefCell<BTreeMap<String, ProjectionInfo>>,
    /// A catch-up of every projection is running.
    catching_up: Cell<bool>,
    /// Another catch-up was asked for while one ran.
    again: Cell<bool>,
}

thread_local! {
    static HUB: RefCell<Option<Rc<Hub>>> = const { RefCell::new(None) };
}

/// The hub over the current store, created on first use and again after the store has
/// been reopened.
pub(crate) async fn hub() -> Result<Rc<Hub>, AppError> {
    let store = store().await?;
    if let Some(hub) = HUB.with(|h| h.borrow().clone()) {
        if Rc::ptr_eq(&hub.store, &store) {
            return Ok(hub);
        }
    }
    let mut projections = ProjectionHub::new(Rc::clone(&store));
    registry::add_read_models(&mut projections, &store, &JsClock).map_err(AppError::from)?;
    let made = Rc::new(Hub {
        store,
        hub: Mutex::new(projections),
        busy: RefCell::new(None),
        last: RefCell::new(BTreeMap::new()),
        catching_up: Cell::new(false),
        again: Cell::new(false),
    });
    // Two callers may race to make it; keep whichever finished first for this store.
    Ok(HUB.with(|h| {
        let mut slot = h.borrow_mut();
        match &*slot {
            Some(kept) if Rc::ptr_eq(&kept.store, &made.store) => kept.clone(),
            _ => slot.insert(made).clone(),
        }
    }))
}

/// Forgets the hub: its store is about to be closed.
pub(crate) fn forget_runners() {
    HUB.with(|h| h.borrow_mut().take());
}

/// Catches read model `name` up (the others stay where they are, so a page pays only
/// for what it shows) and reads its state as `T`. A read model stopped on an event it cannot apply is an error naming
/// that event.
pub(crate) async fn state<T: DeserializeOwned>(name: &str) -> Result<T, AppError> {
    let hub = hub().await?;
    let mut projections = hub.hub.lock().await;
    let value = projections.state(name).await.map_err(AppError::from)?;
    let info = projections.info(name).await.map_err(AppError::from)?;
    if let ProjectionStatus::Failed { position, error } = info.status {
        return Err(AppError::store(format!(
            "{name} stopped at position {position}: {error}"
        )));
    }
    decode(name, value)
}

/// The state of read model `name` just after global position `position`, as its live
/// runner had it then (see [`chronik_core::ProjectionRunner::state_at`]). Catches it up
/// first, so the runner's own state is the starting point for the head.
pub(crate) async fn state_at<T: DeserializeOwned>(
    name: &str,
    position: u64,
) -> Result<Result<T, StateAtError>, AppError> {
    let hub = hub().await?;
    let mut projections = hub.hub.lock().await;
    projections
        .catch_up_only(&[name])
        .await
        .map_err(AppError::from)?;
    match projections.state_at(name, position).await {
        Ok(value) => Ok(Ok(decode(name, value)?)),
        Err(StateAtError::Projection(e)) => Err(e.into()),
        Err(failed) => Ok(Err(failed)),
    }
}

fn decode<T: DeserializeOwned>(name: &str, value: Value) -> Result<T, AppError> {
    serde_json::from_value(value)
        .map_err(|e| AppError::store(format!("cannot read the state of {name}: {e}")))
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A one-line summary of read model `name`'s state.
fn summary(name: &str, state: Value) -> String {
    fn typed<T: DeserializeOwned>(state: Value, f: impl FnOnce(T) -> String) -> String {
        serde_json::from_value(state).map_or_else(|e| format!("unreadable state: {e}"), f)
    }
    match name {
        "AccountBalances" => typed(state, |s: AccountBalancesState| {
            format!(
                "{}, total {}",
                plural(s.accounts.len(), "account", "accounts"),
                s.total
            )
        }),
        "TransactionHistory" => typed(state, |s: TransactionHistoryState| {
            let n: usize = s.accounts.values().map(|t| t.len()).sum();
            format!(
                "{} in {}",
                plural(n, "transaction", "transactions"),
                plural(s.accounts.len(), "account", "accounts")
            )
        }),
        "DailySummary" => typed(state, |s: DailySummaryState| {
            plural(s.days.len(), "day", "days")
        }),
        "PendingTransfers" => typed(state, |s: PendingTransfersState| {
            format!(
                "{} under way",
                plural(s.transfers.len(), "transfer", "transfers")
            )
        }),
        "CurrentOrders" => typed(state, |s: CurrentOrdersState| {
            let total: u64 = s.counts.values().sum();
            format!(
                "{} open of {}",
                s.orders.len(),
                plural(total as usize, "order", "orders")
            )
        }),
        "OrderHistory" => typed(state, |s: OrderHistoryState| {
            format!(
                "{} by {}",
                plural(s.order_customer.len(), "order", "orders"),
                plural(s.customers.len(), "customer", "customers")
            )
        }),
        "CustomerStats" => typed(state, |s: CustomerStatsState| {
            plural(s.customers.len(), "customer", "customers")
        }),
        "InventoryDemand" => typed(state, |s: InventoryDemandState| {
            plural(s.products.len(), "product", "products")
        }),
        _ => String::new(),
    }
}

/// Where every read model stands, in [`READ_MODELS`] order. While a long catch-up or
/// rebuild holds the hub, each is reported as last seen, with that activity as its
/// status.
pub async fn overview() -> Result<Vec<ProjectionInfo>, AppError> {
    let hub = hub().await?;
    let store = &hub.store;
    let stats = store.stats().await.map_err(AppError::from)?;
    let head = store.head_position().await.map_err(AppError::from)?;
    let Some(mut projections) = hub.hub.try_lock() else {
        let busy = hub.busy.borrow().clone().unwrap_or(Busy::CatchingUp);
        let last = hub.last.borrow();
        return Ok(READ_MODELS
            .iter()
            .map(|model| {
                let seen = last.get(model.name).cloned();
                let status = match (&busy, &seen) {
                    (Busy::Rebuilding(name), _) if name == model.name => {
                        ProjectionStatus::Rebuilding
                    }
                    (Busy::Rebuilding(_), Some(info)) => info.status.clone(),
                    (_, Some(info)) if matches!(info.status, ProjectionStatus::Failed { .. }) => {
                        info.status.clone()
                    }
                    _ => ProjectionStatus::CatchingUp,
                };
                match seen {
                    Some(info) => ProjectionInfo {
                        status,
                        head,
                        lag: head.saturating_sub(info.position),
                        ..info
                    },
                    None => ProjectionInfo {
                        name: model.name.to_string(),
                        domain: model.domain.label(),
                        description: model.description,
                        handles: Vec::new(),
                        status,
                        position: 0,
                        head,
                        lag: head,
                        processed: None,
                        summary: String::new(),
                    },
                }
            })
            .collect());
    };
    let mut list = Vec::with_capacity(READ_MODELS.len());
    for model in READ_MODELS {
        let name = model.name;
        // Loads the checkpoint on first use.
        let info = projections.info(name).await.map_err(AppError::from)?;
        let state = projections
            .current_state(name)
            .await
            .map_err(AppError::from)?;
        let handles = projections.event_types(name).map_err(AppError::from)?;
        let all: u64 = match &handles {
            Some(types) => types
                .iter()
                .map(|t| stats.events_by_type.get(t).copied().unwrap_or(0))
                .sum(),
            None => stats.event_count,
        };
        // Handled events past the checkpoint, read only when the projection lags a little.
        let position = info.position;
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
                .map_err(AppError::from)?;
            Some(events.len() as u64)
        } else {
            None
        };
        let info = ProjectionInfo {
            name: name.to_string(),
            domain: model.domain.label(),
            description: model.description,
            handles: handles.unwrap_or_default(),
            status: info.status,
            position,
            head,
            lag,
            processed: pending.map(|p| all.saturating_sub(p)),
            summary: summary(name, state),
        };
        hub.last.borrow_mut().insert(name.to_string(), info.clone());
        list.push(info);
    }
    Ok(list)
}

/// Catches every read model up to the head in one pass over the log, then calls
/// `after`. A call while one runs makes that run go round once more instead. A failing
/// event stops only its projection, with [`ProjectionStatus::Failed`].
pub async fn catch_up_all(after: impl Fn()) -> Result<(), AppError> {
    let hub = hub().await?;
    if hub.catching_up.replace(true) {
        hub.again.set(true);
        return Ok(());
    }
    let result = async {
        loop {
            hub.again.set(false);
            let mut projections = hub.hub.lock().await;
            *hub.busy.borrow_mut() = Some(Busy::CatchingUp);
            let ran = projections.catch_up().await;
            *hub.busy.borrow_mut() = None;
            drop(projections);
            ran.map_err(AppError::from)?;
            after();
            if !hub.again.get() {
                return Ok(());
            }
        }
    }
    .await;
    hub.catching_up.set(false);
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
    progress: impl FnMut(RebuildProgress),
) -> Result<Rebuilt, AppError> {
    let hub = hub().await?;
    let mut projections = hub.hub.lock().await;
    *hub.busy.borrow_mut() = Some(Busy::Rebuilding(name.to_string()));
    let result = projections.rebuild(name, progress).await;
    *hub.busy.borrow_mut() = None;
    let applied = result.map_err(AppError::from)?;
    let info = projections.info(name).await.map_err(AppError::from)?;
    Ok(Rebuilt {
        applied,
        position: info.position,
        status: info.status,
    })
}
