//! The registry of the example domains: what a shell (the JS API, the app, a server)
//! needs to know about them without naming their types, in one place.
//!
//! - [`READ_MODELS`]: every read model, with its domain and what it keeps;
//!   [`add_read_model`] / [`add_read_models`] put their runners into a
//!   [`ProjectionHub`], each configured as its domain needs (upcasters included).
//! - [`upcasters`]: every upcaster the domains' events need, for anyone reading them.
//! - [`AggregateType`]: which aggregate (and domain, [`domain_of`]) a stream folds into,
//!   by its category, with [`AggregateType::with`] to run generic code on its type.
//!
//! Adding a read model or an upcaster is one edit here; every shell picks it up.
//!
//! ```
//! use chronik_core::{ManualClock, MemoryStore, ProjectionHub, SequentialIds};
//! use chronik_examples::registry::{self, READ_MODELS};
//! use std::rc::Rc;
//!
//! let clock = Rc::new(ManualClock::new(0));
//! let store = Rc::new(MemoryStore::new(Rc::clone(&clock), SequentialIds::new("evt")));
//! let mut hub = ProjectionHub::new(Rc::clone(&store));
//! registry::add_read_models(&mut hub, &store, &clock).unwrap();
//! assert_eq!(hub.names().len(), READ_MODELS.len());
//! ```

use chronik_core::{
    stream_category, Aggregate, Clock, EventStore, HubError, Projection, ProjectionHub,
    ProjectionRunner, Upcasters,
};

use crate::bank::{
    bank_upcasters, AccountBalances, BankAccount, DailySummary, PendingTransfers,
    TransactionHistory, Transfer,
};
use crate::orders::{CurrentOrders, CustomerStats, InventoryDemand, Order, OrderHistory};
use crate::saga::SagaState;
use crate::services::{Inventory, Payment, Shipment};

/// One of the example domains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Domain {
    /// Accounts and transfers.
    Bank,
    /// Orders, their fulfilment saga and the simulated services.
    Orders,
}

impl Domain {
    /// Its name as shown to people: `Bank` or `Orders`.
    pub fn label(self) -> &'static str {
        match self {
            Domain::Bank => "Bank",
            Domain::Orders => "Orders",
        }
    }
}

/// A read model the example domains provide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadModel {
    /// Its name: the projection's name, under which its checkpoint is saved.
    pub name: &'static str,
    /// The domain whose events it reads.
    pub domain: Domain,
    /// What it keeps, in one line.
    pub description: &'static str,
}

/// Every read model of the example domains, in display order.
pub const READ_MODELS: [ReadModel; 8] = [
    ReadModel {
        name: "AccountBalances",
        domain: Domain::Bank,
        description: "Balance and status of every account",
    },
    ReadModel {
        name: "TransactionHistory",
        domain: Domain::Bank,
        description: "Every deposit and withdrawal, per account",
    },
    ReadModel {
        name: "DailySummary",
        domain: Domain::Bank,
        description: "Deposits, withdrawals and net change per UTC day",
    },
    ReadModel {
        name: "PendingTransfers",
        domain: Domain::Bank,
        description: "Transfers that have started and not yet finished",
    },
    ReadModel {
        name: "CurrentOrders",
        domain: Domain::Orders,
        description: "Every unfinished order, and how many orders are in each status",
    },
    ReadModel {
        name: "OrderHistory",
        domain: Domain::Orders,
        description: "Every order of every customer, with its outcome",
    },
    ReadModel {
        name: "CustomerStats",
        domain: Domain::Orders,
        description: "Orders, completions, cancellations and spend per customer",
    },
    ReadModel {
        name: "InventoryDemand",
        domain: Domain::Orders,
        description: "Units reserved, ordered and shipped per product",
    },
];

/// The read model named `name`, if the examples have one.
pub fn read_model(name: &str) -> Option<&'static ReadModel> {
    READ_MODELS.iter().find(|m| m.name == name)
}

/// Every upcaster the example domains' events need (today: `MoneyDeposited` v1 → v2).
/// Every reader of their events (runners, the log, time travel) uses this one set.
pub fn upcasters() -> Upcasters {
    bank_upcasters()
}

/// An aggregate type of the example domains: what a stream of theirs folds into, found
/// by the stream's category. Shells that work on any stream (the app's Time travel and
/// snapshots, a server's generic endpoints) dispatch on it instead of matching
/// categories themselves; [`with`](Self::with) runs generic code on the Rust type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AggregateType {
    /// [`BankAccount`], streams `account-…`.
    BankAccount,
    /// [`Transfer`], streams `transfer-…`.
    Transfer,
    /// [`Order`], streams `order-…`.
    Order,
    /// [`SagaState`] (the fulfilment saga), streams `saga-…`.
    Saga,
    /// [`Inventory`], streams `inventory-…`.
    Inventory,
    /// [`Payment`], streams `payment-…`.
    Payment,
    /// [`Shipment`], streams `shipment-…`.
    Shipment,
}

/// Generic code to run on an [`AggregateType`]'s Rust type.
pub trait AggregateVisitor {
    /// What the code gives back.
    type Output;
    /// Runs on aggregate type `A`.
    fn visit<A: Aggregate + 'static>(self) -> Self::Output;
}

impl AggregateType {
    /// Every aggregate type of the examples.
    pub const ALL: [AggregateType; 7] = [
        AggregateType::BankAccount,
        AggregateType::Transfer,
        AggregateType::Order,
        AggregateType::Saga,
        AggregateType::Inventory,
        AggregateType::Payment,
        AggregateType::Shipment,
    ];

    /// The stream category its streams carry (`account`, `order`, ...).
    pub fn category(self) -> &'static str {
        match self {
            AggregateType::BankAccount => BankAccount::CATEGORY,
            AggregateType::Transfer => Transfer::CATEGORY,
            AggregateType::Order => Order::CATEGORY,
            AggregateType::Saga => SagaState::CATEGORY,
            AggregateType::Inventory => Inventory::CATEGORY,
            AggregateType::Payment => Payment::CATEGORY,
            AggregateType::Shipment => Shipment::CATEGORY,
        }
    }

    /// The domain it belongs to.
    pub fn domain(self) -> Domain {
        match self {
            AggregateType::BankAccount | AggregateType::Transfer => Domain::Bank,
            _ => Domain::Orders,
        }
    }

    /// Its name as shown to people (`Bank account`, `Fulfilment saga`, ...).
    pub fn label(self) -> &'static str {
        match self {
            AggregateType::BankAccount => "Bank account",
            AggregateType::Transfer => "Transfer",
            AggregateType::Order => "Order",
            AggregateType::Saga => "Fulfilment saga",
            AggregateType::Inventory => "Inventory",
            AggregateType::Payment => "Payment",
            AggregateType::Shipment => "Shipment",
        }
    }

    /// The aggregate type of stream `stream_id` (`account-1` → [`BankAccount`](Self::BankAccount));
    /// `None` for streams the examples do not write (no `{category}-{id}` form, or
    /// another category).
    pub fn of_stream(stream_id: &str) -> Option<AggregateType> {
        let category = stream_category(stream_id);
        if category == stream_id {
            return None;
        }
        Self::ALL.into_iter().find(|a| a.category() == category)
    }

    /// Runs `visitor` on this aggregate type's Rust type.
    pub fn with<V: AggregateVisitor>(self, visitor: V) -> V::Output {
        match self {
            AggregateType::BankAccount => visitor.visit::<BankAccount>(),
            AggregateType::Transfer => visitor.visit::<Transfer>(),
            AggregateType::Order => visitor.visit::<Order>(),
            AggregateType::Saga => visitor.visit::<SagaState>(),
            AggregateType::Inventory => visitor.visit::<Inventory>(),
            AggregateType::Payment => visitor.visit::<Payment>(),
            AggregateType::Shipment => visitor.visit::<Shipment>(),
        }
    }
}

/// The domain a stream belongs to, by its category (`account-1` → [`Domain::Bank`]);
/// `None` for streams the examples do not write.
pub fn domain_of(stream_id: &str) -> Option<Domain> {
    AggregateType::of_stream(stream_id).map(AggregateType::domain)
}

/// Adds the runner of read model `name` over `store` to `hub`, with the upcasters its
/// events need. `Ok(false)` when the examples have no read model of that name;
/// [`HubError::Duplicate`] when the hub already runs it.
pub fn add_read_model<H, S, C>(
    hub: &mut ProjectionHub<H>,
    store: &S,
    clock: &C,
    name: &str,
) -> Result<bool, HubError>
where
    H: EventStore,
    S: EventStore + Clone + 'static,
    C: Clock + Clone + 'static,
{
    fn add<H: EventStore, S: EventStore + Clone + 'static, P: Projection + 'static>(
        hub: &mut ProjectionHub<H>,
        store: &S,
        clock: impl Clock + 'static,
        projection: P,
    ) -> Result<bool, HubError> {
        let runner =
            ProjectionRunner::new(store.clone(), projection, clock).with_upcasters(upcasters());
        hub.add(runner)?;
        Ok(true)
    }
    let clock = clock.clone();
    match name {
        "AccountBalances" => add(hub, store, clock, AccountBalances),
        "TransactionHistory" => add(hub, store, clock, TransactionHistory),
        "DailySummary" => add(hub, store, clock, DailySummary),
        "PendingTransfers" => add(hub, store, clock, PendingTransfers),
        "CurrentOrders" => add(hub, store, clock, CurrentOrders),
        "OrderHistory" => add(hub, store, clock, OrderHistory),
        "CustomerStats" => add(hub, store, clock, CustomerStats),
        "InventoryDemand" => add(hub, store, clock, InventoryDemand),
        _ => Ok(false),
    }
}

/// Adds every read model of [`READ_MODELS`] that `hub` does not run yet.
pub fn add_read_models<H, S, C>(
    hub: &mut ProjectionHub<H>,
    store: &S,
    clock: &C,
) -> Result<(), HubError>
where
    H: EventStore,
    S: EventStore + Clone + 'static,
    C: Clock + Clone + 'static,
{
    for model in READ_MODELS {
        if !hub.contains(model.name) {
            add_read_model(hub, store, clock, model.name)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chronik_core::{ManualClock, MemoryStore, SequentialIds};
    use std::rc::Rc;

    #[test]
    fn every_listed_read_model_can_be_added_and_its_runner_has_its_name() {
        let clock = Rc::new(ManualClock::new(0));
        let store = Rc::new(MemoryStore::new(Rc::clone(&clock), SequentialIds::new("e")));
        let mut hub = ProjectionHub::new(Rc::clone(&store));
        for model in READ_MODELS {
            assert!(add_read_model(&mut hub, &store, &clock, model.name).unwrap());
        }
        let names: Vec<&str> = READ_MODELS.iter().map(|m| m.name).collect();
        assert_eq!(hub.names(), names);
        assert!(!add_read_model(&mut hub, &store, &clock, "Nope").unwrap());
        assert_eq!(
            add_read_model(&mut hub, &store, &clock, "AccountBalances"),
            Err(HubError::Duplicate("AccountBalances".into()))
        );
    }

    #[test]
    fn streams_map_to_their_domain() {
        assert_eq!(domain_of("account-1"), Some(Domain::Bank));
        assert_eq!(domain_of("transfer-t1"), Some(Domain::Bank));
        assert_eq!(domain_of("order-o1"), Some(Domain::Orders));
        assert_eq!(domain_of("inventory-main"), Some(Domain::Orders));
        assert_eq!(domain_of("saga-o1"), Some(Domain::Orders));
        assert_eq!(domain_of("todo-1"), None);
        assert_eq!(domain_of("account"), None);
    }

    #[test]
    fn every_aggregate_type_is_found_by_its_streams_and_visits_its_own_type() {
        struct Category;
        impl AggregateVisitor for Category {
            type Output = &'static str;
            fn visit<A: Aggregate + 'static>(self) -> &'static str {
                A::CATEGORY
            }
        }
        let mut categories: Vec<&str> = Vec::new();
        for kind in AggregateType::ALL {
            let stream = format!("{}-x1", kind.category());
            assert_eq!(AggregateType::of_stream(&stream), Some(kind));
            assert_eq!(kind.with(Category), kind.category());
            assert_eq!(domain_of(&stream), Some(kind.domain()));
            categories.push(kind.category());
        }
        categories.sort_unstable();
        categories.dedup();
        assert_eq!(
            categories.len(),
            AggregateType::ALL.len(),
            "one type per category"
        );
        assert_eq!(AggregateType::of_stream("todo-1"), None);
        assert_eq!(AggregateType::of_stream("order"), None);
    }
}
