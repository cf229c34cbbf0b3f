//! The order domain (seed 003): the order state machine and its read models. The
//! fulfilment saga lives in [`saga`](crate::saga).
//!
//! Streams: `order-{orderId}` ([`Order`]).

mod order;
mod projections;

pub use order::{Order, OrderCommand, OrderError, OrderEvent, OrderItem, OrderStatus};
pub use projections::{
    CurrentOrders, CurrentOrdersState, CustomerStat, CustomerStats, CustomerStatsState,
    InventoryDemand, InventoryDemandState, OrderHistory, OrderHistoryEntry, OrderHistoryState,
    OrderSummary, ProductDemand,
};

use chronik_core::clock::Clock;
use chronik_core::handler::{CommandContext, CommandHandler, HandlerError};
use chronik_core::projection::{Projection, ProjectionRunner};
use chronik_core::store::EventStore;

/// Orders, ready-made: a [`CommandHandler`] for [`Order`] that fills in the order id.
/// The JS bindings wrap this.
pub struct Orders<S> {
    handler: CommandHandler<S, Order>,
    store: S,
}

impl<S: EventStore + Clone> Orders<S> {
    /// Orders over `store` (snapshots every 10 events).
    pub fn new(store: S) -> Self {
        Self {
            handler: CommandHandler::new(store.clone()),
            store,
        }
    }

    /// The order handler, for temporal queries and snapshots.
    pub fn handler(&self) -> &CommandHandler<S, Order> {
        &self.handler
    }

    /// Handles `command` for order `order_id` and returns the order after it.
    pub async fn execute(
        &self,
        order_id: &str,
        command: &OrderCommand,
        context: &CommandContext,
    ) -> Result<Order, HandlerError<OrderError>> {
        let (mut order, _) = self
            .handler
            .handle_state(order_id, command, context)
            .await?;
        order.id = order_id.to_string();
        Ok(order)
    }

    /// The order `order_id`, `None` when it was never created.
    pub async fn order(&self, order_id: &str) -> Result<Option<Order>, HandlerError<OrderError>> {
        let loaded = self.handler.load(order_id).await?;
        Ok((loaded.version > 0).then(|| Order {
            id: order_id.to_string(),
            ..loaded.state
        }))
    }

    /// A runner for one of the order read models over this store; checkpoints are
    /// stamped with `clock`.
    pub fn projection<P: Projection>(
        &self,
        projection: P,
        clock: impl Clock + 'static,
    ) -> ProjectionRunner<S, P> {
        ProjectionRunner::new(self.store.clone(), projection, clock)
    }
}
