//! The example domains' commands by name, for sync: [`DomainCommands`] is the
//! [`CommandRunner`] that decides a pending `bank.*` or `orders.*` command again on the
//! server's state (a rebase), and [`bank_command`] / [`order_command`] name a command so
//! that a replica can keep it in its outbox.
//!
//! | name | command | input |
//! | --- | --- | --- |
//! | `bank.open` | [`BankCommand::OpenAccount`] | `{ accountId, owner, initialDeposit?, initialBalance? }` |
//! | `bank.deposit` | [`BankCommand::Deposit`] | `{ accountId, amount, transferId? }` |
//! | `bank.withdraw` | [`BankCommand::Withdraw`] | `{ accountId, amount, transferId? }` |
//! | `bank.close` | [`BankCommand::CloseAccount`] | `{ accountId }` |
//! | `orders.create` | [`OrderCommand::CreateOrder`] | `{ orderId, customerId }` |
//! | `orders.addItem` | [`OrderCommand::AddItem`] | `{ orderId, productId, productName?, quantity, unitPrice }` |
//! | `orders.removeItem` | [`OrderCommand::RemoveItem`] | `{ orderId, productId }` |
//! | `orders.updateItemQuantity` | [`OrderCommand::UpdateItemQuantity`] | `{ orderId, productId, quantity }` |
//! | `orders.submit` | [`OrderCommand::SubmitOrder`] | `{ orderId }` |
//! | `orders.markReserved` | [`OrderCommand::MarkReserved`] | `{ orderId, reservationId }` |
//! | `orders.markProcessing` | [`OrderCommand::MarkProcessing`] | `{ orderId, paymentId }` |
//! | `orders.complete` | [`OrderCommand::CompleteOrder`] | `{ orderId, trackingNumber }` |
//! | `orders.cancel` | [`OrderCommand::CancelOrder`] | `{ orderId, reason }` |
//! | `transfer.request` | [`TransferCommand::Request`] | `{ transferId, from, to, amount }` (cents) |
//! | `transfer.markDebited` | [`TransferCommand::MarkDebited`] | `{ transferId }` |
//! | `transfer.markFailed` | [`TransferCommand::MarkFailed`] | `{ transferId, reason }` |
//! | `transfer.markCompleted` | [`TransferCommand::MarkCompleted`] | `{ transferId }` |
//! | `transfer.markCreditFailed` | [`TransferCommand::MarkCreditFailed`] | `{ transferId, reason }` |
//! | `transfer.markRefunded` | [`TransferCommand::MarkRefunded`] | `{ transferId }` |
//!
//! A transfer on a replica ([`ReplicaTransfers`]) records each of its steps as one of
//! these commands, correlated by the transfer's stream: each is decided again on the
//! server's state, and when one becomes a conflict (a debit the source no longer
//! covers) the later steps are abandoned, so a refused debit never credits the target.
//!
//! Every input may also carry `commandId` and `correlationId` (the [`CommandContext`]).
//! A rule's refusal (insufficient funds, an illegal transition) is
//! [`RunError::Refused`]: on a rebase the batch becomes a conflict. Anything else
//! (an unknown name, bad input, a store failure) is [`RunError::Failed`].

use chronik_core::sync::{CommandRunner, PendingCommand, RunError};
use chronik_core::{CommandContext, EventStore, HandlerError};
use serde_json::{Map, Value};

use chronik_core::sync::{ExecuteError, Replica, ReplicaStore};

use crate::bank::{
    bank_upcasters, resume_each, BankAccount, BankCommand, PendingTransfersState, Transfer,
    TransferCommand, TransferRunError, TransferSteps,
};
use crate::orders::{Order, OrderCommand};

/// `(name, variant)` of every bank command.
const BANK: [(&str, &str); 4] = [
    ("bank.open", "OpenAccount"),
    ("bank.deposit", "Deposit"),
    ("bank.withdraw", "Withdraw"),
    ("bank.close", "CloseAccount"),
];

/// `(name, variant)` of every order command.
const ORDERS: [(&str, &str); 9] = [
    ("orders.create", "CreateOrder"),
    ("orders.addItem", "AddItem"),
    ("orders.removeItem", "RemoveItem"),
    ("orders.updateItemQuantity", "UpdateItemQuantity"),
    ("orders.submit", "SubmitOrder"),
    ("orders.markReserved", "MarkReserved"),
    ("orders.markProcessing", "MarkProcessing"),
    ("orders.complete", "CompleteOrder"),
    ("orders.cancel", "CancelOrder"),
];

/// `(name, variant)` of every transfer step.
const TRANSFERS: [(&str, &str); 6] = [
    ("transfer.request", "Request"),
    ("transfer.markDebited", "MarkDebited"),
    ("transfer.markFailed", "MarkFailed"),
    ("transfer.markCompleted", "MarkCompleted"),
    ("transfer.markCreditFailed", "MarkCreditFailed"),
    ("transfer.markRefunded", "MarkRefunded"),
];

/// Every command name [`DomainCommands`] knows.
pub fn command_names() -> impl Iterator<Item = &'static str> {
    BANK.iter()
        .chain(ORDERS.iter())
        .chain(TRANSFERS.iter())
        .map(|(name, _)| *name)
}

/// The pending command for step `command` of transfer `transfer_id`.
pub fn transfer_command(
    transfer_id: &str,
    command: &TransferCommand,
    context: &CommandContext,
) -> PendingCommand {
    named(&TRANSFERS, "transferId", transfer_id, command, context)
}

/// The pending command for `command` on account `account_id`.
pub fn bank_command(
    account_id: &str,
    command: &BankCommand,
    context: &CommandContext,
) -> PendingCommand {
    named(&BANK, "accountId", account_id, command, context)
}

/// The pending command for `command` on order `order_id`.
pub fn order_command(
    order_id: &str,
    command: &OrderCommand,
    context: &CommandContext,
) -> PendingCommand {
    named(&ORDERS, "orderId", order_id, command, context)
}

fn named<T: serde::Serialize>(
    table: &[(&'static str, &'static str)],
    key: &str,
    id: &str,
    command: &T,
    context: &CommandContext,
) -> PendingCommand {
    // The commands are enums of plain fields, tagged by `type`: always an object.
    let mut input = match serde_json::to_value(command) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    let variant = input
        .remove("type")
        .and_then(|t| t.as_str().map(str::to_string))
        .unwrap_or_default();
    let name = table
        .iter()
        .find(|(_, v)| *v == variant)
        .map_or("", |(n, _)| *n);
    input.insert(key.to_string(), Value::String(id.to_string()));
    if let Some(c) = &context.command_id {
        input.insert("commandId".into(), Value::String(c.clone()));
    }
    if let Some(c) = &context.correlation_id {
        input.insert("correlationId".into(), Value::String(c.clone()));
    }
    PendingCommand {
        name: name.to_string(),
        input: Value::Object(input),
    }
}

/// Splits a pending command's input into the aggregate id, the typed command and its
/// context.
fn parse<T: serde::de::DeserializeOwned>(
    variant: &str,
    key: &str,
    command: &PendingCommand,
) -> Result<(String, T, CommandContext), RunError> {
    let failed = |m: String| RunError::Failed(format!("{}: {m}", command.name));
    let Value::Object(mut input) = command.input.clone() else {
        return Err(failed("the input must be an object".into()));
    };
    let id = match input.remove(key) {
        Some(Value::String(id)) => id,
        _ => return Err(failed(format!("the input needs a string '{key}'"))),
    };
    let mut context = CommandContext::default();
    for (field, slot) in [
        ("commandId", &mut context.command_id),
        ("correlationId", &mut context.correlation_id),
    ] {
        match input.remove(field) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => *slot = Some(s),
            Some(_) => return Err(failed(format!("'{field}' must be a string"))),
        }
    }
    input.insert("type".into(), Value::String(variant.to_string()));
    let typed = serde_json::from_value(Value::Object(input)).map_err(|e| failed(e.to_string()))?;
    Ok((id, typed, context))
}

fn run_error<E: std::fmt::Display, V: std::fmt::Display>(e: HandlerError<E, V>) -> RunError {
    match e {
        HandlerError::Rejected(r) => RunError::Refused(r.to_string()),
        other => RunError::Failed(other.to_string()),
    }
}

/// The example domains' commands, decided by their own handlers (the bank's reading
/// through its upcasters) with one attempt: the store it runs on is a replica's view,
/// which never moves under it.
#[derive(Debug, Clone, Copy, Default)]
pub struct DomainCommands;

impl CommandRunner for DomainCommands {
    async fn run<S: EventStore>(
        &self,
        store: &S,
        command: &PendingCommand,
    ) -> Result<(), RunError> {
        if let Some((_, variant)) = BANK.iter().find(|(n, _)| *n == command.name) {
            let (id, typed, ctx) = parse::<BankCommand>(variant, "accountId", command)?;
            let handler = chronik_core::CommandHandler::<_, BankAccount>::new(store)
                .with_upcasters(bank_upcasters())
                .with_max_attempts(1);
            return handler
                .handle(&id, &typed, &ctx)
                .await
                .map(drop)
                .map_err(run_error);
        }
        if let Some((_, variant)) = ORDERS.iter().find(|(n, _)| *n == command.name) {
            let (id, typed, ctx) = parse::<OrderCommand>(variant, "orderId", command)?;
            let handler = chronik_core::CommandHandler::<_, Order>::new(store).with_max_attempts(1);
            return handler
                .handle(&id, &typed, &ctx)
                .await
                .map(drop)
                .map_err(run_error);
        }
        if let Some((_, variant)) = TRANSFERS.iter().find(|(n, _)| *n == command.name) {
            let (id, typed, ctx) = parse::<TransferCommand>(variant, "transferId", command)?;
            let handler =
                chronik_core::CommandHandler::<_, Transfer>::new(store).with_max_attempts(1);
            return handler
                .handle(&id, &typed, &ctx)
                .await
                .map(drop)
                .map_err(run_error);
        }
        Err(RunError::Failed(format!(
            "unknown command '{}'; known: {}",
            command.name,
            command_names().collect::<Vec<_>>().join(", ")
        )))
    }
}

/// Transfers on a sync [`Replica`] ([`TransferSteps::transfer`]): the same process
/// manager as [`Bank::transfer`](crate::Bank::transfer) ([`run_transfer`](crate::bank::run_transfer)), each step recorded as a
/// named command (a pending batch, decided again on the server's state when its stream
/// moved there). Reads go through the replica's view. Wake the sync after it.
pub struct ReplicaTransfers<'a, S, R> {
    replica: &'a Replica<S, R>,
}

impl<'a, S: ReplicaStore, R: CommandRunner> ReplicaTransfers<'a, S, R> {
    /// Transfers recorded in `replica`, whose runner must know the `bank.*` and
    /// `transfer.*` names ([`DomainCommands`] does).
    pub fn new(replica: &'a Replica<S, R>) -> Self {
        Self { replica }
    }

    /// Finishes every unfinished transfer of the replica's view (see
    /// [`Bank::resume_transfers`](crate::Bank::resume_transfers)).
    pub async fn resume_transfers(&self) -> Result<Vec<Transfer>, TransferRunError> {
        let unfinished = {
            let view = self
                .replica
                .view()
                .await
                .map_err(|e| TransferRunError::Replica(e.into()))?;
            crate::Bank::new(&view).unfinished_transfers().await?
        };
        let each = unfinished
            .iter()
            .map(|t| (t.id.as_str(), t.from.as_str(), t.to.as_str(), t.amount));
        resume_each(self, each).await
    }

    /// Finishes the transfers `pending` lists (see
    /// [`Bank::resume_pending`](crate::Bank::resume_pending)).
    pub async fn resume_pending(
        &self,
        pending: &PendingTransfersState,
    ) -> Result<Vec<Transfer>, TransferRunError> {
        resume_each(self, pending.to_resume()).await
    }

    async fn execute(&self, command: PendingCommand) -> Result<Result<(), String>, ExecuteError> {
        match self.replica.execute(command).await {
            Ok(_) => Ok(Ok(())),
            Err(ExecuteError::Run(RunError::Refused(reason))) => Ok(Err(reason)),
            Err(e) => Err(e),
        }
    }
}

impl<S: ReplicaStore, R: CommandRunner> TransferSteps for ReplicaTransfers<'_, S, R> {
    async fn leg(
        &self,
        account_id: &str,
        command: &BankCommand,
        context: &CommandContext,
    ) -> Result<Result<(), String>, TransferRunError> {
        self.execute(bank_command(account_id, command, context))
            .await
            .map_err(TransferRunError::Replica)
    }

    async fn record(
        &self,
        transfer_id: &str,
        command: &TransferCommand,
        context: &CommandContext,
    ) -> Result<Transfer, TransferRunError> {
        let refused = |reason: String| {
            TransferRunError::Replica(ExecuteError::Run(RunError::Refused(reason)))
        };
        self.execute(transfer_command(transfer_id, command, context))
            .await
            .map_err(TransferRunError::Replica)?
            .map_err(refused)?;
        let view = self
            .replica
            .view()
            .await
            .map_err(|e| TransferRunError::Replica(e.into()))?;
        let handler = chronik_core::CommandHandler::<_, Transfer>::new(&view);
        Ok(handler.load(transfer_id).await?.state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chronik_core::sync::{
        ConflictReason, PendingBatch, PullError, PullPage, PushError, Replica, SyncEngine,
        Transport,
    };
    use chronik_core::{
        AppendResult, ExpectedVersion, ManualClock, MemoryStore, NewEvent, ReadAllOptions,
        SequentialIds,
    };
    use futures::executor::block_on;
    use std::rc::Rc;

    /// The server: a memory store whose appends the transport forwards.
    struct Server(MemoryStore);

    impl Transport for Server {
        async fn push(
            &self,
            stream: &str,
            expected: ExpectedVersion,
            events: &[NewEvent],
        ) -> Result<AppendResult, PushError> {
            match self.0.append(stream, expected, events.to_vec()).await {
                Ok(r) => Ok(r),
                Err(chronik_core::StoreError::WrongExpectedVersion { actual, .. }) => {
                    Err(PushError::WrongExpectedVersion { actual })
                }
                Err(e) => Err(PushError::Refused(e.to_string())),
            }
        }
        async fn pull(&self, after: u64, limit: usize) -> Result<PullPage, PullError> {
            let events = self
                .0
                .read_all(ReadAllOptions {
                    from_position: after + 1,
                    limit: Some(limit),
                    ..Default::default()
                })
                .await
                .map_err(|e| PullError::Refused(e.to_string()))?;
            let head = self.0.head_position().await.unwrap();
            let next = events.last().map_or(head, |e| e.position);
            Ok(PullPage {
                events,
                after,
                next,
                head,
            })
        }
    }

    type Device = SyncEngine<Rc<MemoryStore>, DomainCommands, Rc<Server>>;

    fn device(name: &str, server: &Rc<Server>) -> Device {
        let clock = Rc::new(ManualClock::new(1_700_000_000_000));
        let store = Rc::new(MemoryStore::new(
            Rc::clone(&clock),
            SequentialIds::new(format!("{name}-evt")),
        ));
        let replica = Replica::new(
            store,
            DomainCommands,
            clock,
            SequentialIds::new(format!("{name}-batch")),
        );
        SyncEngine::new(replica, Rc::clone(server))
    }

    async fn sync(device: &mut Device) {
        for _ in 0..50 {
            if device.step().await.unwrap() == chronik_core::sync::StepOutcome::Idle {
                return;
            }
        }
        panic!("no idle after 50 steps");
    }

    fn ctx() -> CommandContext {
        CommandContext::default()
    }

    /// Runs a bank command on the device (it must be accepted there).
    async fn bank(device: &Device, account: &str, command: &BankCommand) {
        device
            .replica()
            .execute(bank_command(account, command, &ctx()))
            .await
            .unwrap();
    }

    async fn balance(device: &Device) -> String {
        let view = device.replica().view().await.unwrap();
        let handler = chronik_core::CommandHandler::<_, BankAccount>::new(&view)
            .with_upcasters(bank_upcasters());
        handler
            .load("acc-1")
            .await
            .unwrap()
            .state
            .balance
            .to_string()
    }

    #[test]
    fn names_round_trip_through_the_runner() {
        let deposit = bank_command(
            "acc-1",
            &BankCommand::deposit("10"),
            &CommandContext::new("c-1"),
        );
        assert_eq!(deposit.name, "bank.deposit");
        assert_eq!(
            deposit.input,
            serde_json::json!({ "accountId": "acc-1", "amount": "10", "commandId": "c-1" })
        );
        let submit = order_command("ord-1", &OrderCommand::SubmitOrder, &ctx());
        assert_eq!(submit.name, "orders.submit");
        let (id, typed, _) = parse::<OrderCommand>("SubmitOrder", "orderId", &submit).unwrap();
        assert_eq!((id.as_str(), typed), ("ord-1", OrderCommand::SubmitOrder));
        assert_eq!(
            command_names().count(),
            BANK.len() + ORDERS.len() + TRANSFERS.len()
        );
    }

    #[test]
    fn unknown_names_and_bad_input_fail_without_writing() {
        block_on(async {
            let store = MemoryStore::new(ManualClock::new(0), SequentialIds::new("e"));
            let unknown = PendingCommand {
                name: "bank.rob".into(),
                input: serde_json::json!({ "accountId": "a" }),
            };
            let err = DomainCommands.run(&store, &unknown).await.unwrap_err();
            assert!(matches!(err, RunError::Failed(m) if m.contains("unknown command 'bank.rob'")));
            let bad = PendingCommand {
                name: "bank.deposit".into(),
                input: serde_json::json!({ "accountId": "a", "amount": 10 }),
            };
            assert!(matches!(
                DomainCommands.run(&store, &bad).await.unwrap_err(),
                RunError::Failed(_)
            ));
            let no_id = PendingCommand {
                name: "orders.submit".into(),
                input: serde_json::json!({}),
            };
            assert!(matches!(
                DomainCommands.run(&store, &no_id).await.unwrap_err(),
                RunError::Failed(m) if m.contains("'orderId'")
            ));
            assert_eq!(store.head_position().await.unwrap(), 0);
        });
    }

    #[test]
    fn a_withdrawal_rebased_onto_a_concurrent_withdrawal_is_refused() {
        block_on(async {
            let server = Rc::new(Server(MemoryStore::new(
                ManualClock::new(1_700_000_000_000),
                SequentialIds::new("server"),
            )));
            let mut a = device("a", &server);
            let mut b = device("b", &server);
            let open = BankCommand::OpenAccount {
                owner: "Alice".into(),
                initial_deposit: Some("100".into()),
                initial_balance: None,
            };
            bank(&a, "acc-1", &open).await;
            sync(&mut a).await;
            sync(&mut b).await;
            assert_eq!(balance(&b).await, "100.00");

            // A, offline, withdraws 70; B withdraws 60 and syncs first.
            let mine = a
                .replica()
                .execute(bank_command("acc-1", &BankCommand::withdraw("70"), &ctx()))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(balance(&a).await, "30.00");
            bank(&b, "acc-1", &BankCommand::withdraw("60")).await;
            sync(&mut b).await;

            // The runner itself refuses the withdrawal on the server's state.
            let err = DomainCommands
                .run(
                    &server.0,
                    &bank_command("acc-1", &BankCommand::withdraw("70"), &ctx()),
                )
                .await
                .unwrap_err();
            assert_eq!(
                err,
                RunError::Refused("insufficient funds: balance 40.00, amount 70.00".into())
            );

            // A's sync rebases its withdrawal onto B's: it no longer fits.
            sync(&mut a).await;
            let pending: Vec<PendingBatch> = a.replica().pending().await.unwrap();
            assert!(pending.is_empty());
            let conflicts = a.replica().conflicts().await.unwrap();
            assert_eq!(conflicts.len(), 1);
            assert_eq!(conflicts[0].batch.id, mine.id);
            assert_eq!(
                conflicts[0].reason,
                ConflictReason::Rejected {
                    message: "insufficient funds: balance 40.00, amount 70.00".into()
                }
            );
            assert_eq!(balance(&a).await, "40.00");
            assert_eq!(balance(&b).await, "40.00");
            // The server holds the opening, the deposit and B's withdrawal, once each.
            assert_eq!(server.0.head_position().await.unwrap(), 3);
        });
    }

    #[test]
    fn a_deposit_rebased_onto_a_concurrent_withdrawal_is_decided_again() {
        block_on(async {
            let server = Rc::new(Server(MemoryStore::new(
                ManualClock::new(0),
                SequentialIds::new("server"),
            )));
            let mut a = device("a", &server);
            let mut b = device("b", &server);
            let open = BankCommand::OpenAccount {
                owner: "Bob".into(),
                initial_deposit: None,
                initial_balance: Some("50".into()),
            };
            bank(&a, "acc-1", &open).await;
            sync(&mut a).await;
            sync(&mut b).await;
            bank(&a, "acc-1", &BankCommand::deposit("5")).await;
            bank(&b, "acc-1", &BankCommand::withdraw("20")).await;
            sync(&mut b).await;
            sync(&mut a).await;
            sync(&mut b).await;
            assert!(a.replica().conflicts().await.unwrap().is_empty());
            assert_eq!(balance(&a).await, "35.00");
            assert_eq!(balance(&b).await, "35.00");
            let rebased = server
                .0
                .read_all(ReadAllOptions::default())
                .await
                .unwrap()
                .pop()
                .unwrap();
            assert_eq!(rebased.event_type, "MoneyDeposited");
            assert!(rebased.event_id.ends_with(".1.1"), "{}", rebased.event_id);
        });
    }

    async fn order(device: &Device) -> Order {
        let view = device.replica().view().await.unwrap();
        chronik_core::CommandHandler::<_, Order>::new(&view)
            .load("ord-1")
            .await
            .unwrap()
            .state
    }

    fn add_item(product: &str) -> OrderCommand {
        OrderCommand::AddItem {
            product_id: product.into(),
            product_name: None,
            quantity: 1,
            unit_price: "2.50".into(),
        }
    }

    /// Devices A and B both hold draft order `ord-1` with one item, synced.
    async fn two_devices_with_a_draft() -> (Rc<Server>, Device, Device) {
        let server = Rc::new(Server(MemoryStore::new(
            ManualClock::new(0),
            SequentialIds::new("server"),
        )));
        let mut a = device("a", &server);
        let mut b = device("b", &server);
        let create = OrderCommand::CreateOrder {
            customer_id: "cust-1".into(),
        };
        for command in [create, add_item("p-1")] {
            a.replica()
                .execute(order_command("ord-1", &command, &ctx()))
                .await
                .unwrap();
        }
        sync(&mut a).await;
        sync(&mut b).await;
        assert_eq!(order(&b).await.items.len(), 1);
        (server, a, b)
    }

    #[test]
    fn an_item_added_while_another_device_added_one_is_decided_again() {
        block_on(async {
            let (server, mut a, mut b) = two_devices_with_a_draft().await;
            // Both add an item to the same draft; B syncs first. Kept as raw events
            // A's would be a version conflict; kept by name it is decided again.
            a.replica()
                .execute(order_command("ord-1", &add_item("p-2"), &ctx()))
                .await
                .unwrap();
            b.replica()
                .execute(order_command("ord-1", &add_item("p-3"), &ctx()))
                .await
                .unwrap();
            sync(&mut b).await;
            sync(&mut a).await;
            sync(&mut b).await;
            assert!(a.replica().conflicts().await.unwrap().is_empty());
            assert!(a.replica().pending().await.unwrap().is_empty());
            for device in [&a, &b] {
                let products: Vec<String> = order(device)
                    .await
                    .items
                    .iter()
                    .map(|i| i.product_id.clone())
                    .collect();
                assert_eq!(products, ["p-1", "p-3", "p-2"]);
            }
            // Created, p-1, p-3, then A's p-2 once.
            assert_eq!(server.0.head_position().await.unwrap(), 4);
        });
    }

    #[test]
    fn an_item_added_to_an_order_submitted_elsewhere_is_refused() {
        block_on(async {
            let (server, mut a, mut b) = two_devices_with_a_draft().await;
            let mine = a
                .replica()
                .execute(order_command("ord-1", &add_item("p-2"), &ctx()))
                .await
                .unwrap()
                .unwrap();
            b.replica()
                .execute(order_command("ord-1", &OrderCommand::SubmitOrder, &ctx()))
                .await
                .unwrap();
            sync(&mut b).await;
            sync(&mut a).await;
            let conflicts = a.replica().conflicts().await.unwrap();
            assert_eq!(conflicts.len(), 1);
            assert_eq!(conflicts[0].batch.id, mine.id);
            assert!(
                matches!(
                    &conflicts[0].reason,
                    ConflictReason::Rejected { message } if message.starts_with("items cannot change")
                ),
                "{:?}",
                conflicts[0].reason
            );
            assert_eq!(order(&a).await.items.len(), 1);
            assert_eq!(
                order(&a).await.status,
                crate::orders::OrderStatus::Submitted
            );
            // Created, p-1, submitted: nothing of A's addition.
            assert_eq!(server.0.head_position().await.unwrap(), 3);
        });
    }

    async fn balance_of(device: &Device, account: &str) -> String {
        let view = device.replica().view().await.unwrap();
        chronik_core::CommandHandler::<_, BankAccount>::new(&view)
            .with_upcasters(bank_upcasters())
            .load(account)
            .await
            .unwrap()
            .state
            .balance
            .to_string()
    }

    /// Devices A and B both hold `acc-1` with 100 and an empty `acc-2`, synced.
    async fn two_devices_with_two_accounts() -> (Rc<Server>, Device, Device) {
        let server = Rc::new(Server(MemoryStore::new(
            ManualClock::new(0),
            SequentialIds::new("server"),
        )));
        let mut a = device("a", &server);
        let mut b = device("b", &server);
        for (id, deposit) in [("acc-1", Some("100")), ("acc-2", None)] {
            let open = BankCommand::OpenAccount {
                owner: id.into(),
                initial_deposit: deposit.map(str::to_string),
                initial_balance: None,
            };
            bank(&a, id, &open).await;
        }
        sync(&mut a).await;
        sync(&mut b).await;
        (server, a, b)
    }

    #[test]
    fn a_transfer_on_a_replica_is_steps_by_name_and_completes_on_the_server() {
        block_on(async {
            let (server, mut a, mut b) = two_devices_with_two_accounts().await;
            let t = ReplicaTransfers::new(a.replica())
                .transfer("t-1", "acc-1", "acc-2", "30")
                .await
                .unwrap();
            assert_eq!(t.status, crate::TransferStatus::Completed);
            let names: Vec<String> = a
                .replica()
                .pending()
                .await
                .unwrap()
                .iter()
                .map(|b| match &b.origin {
                    chronik_core::sync::BatchOrigin::Command { command } => command.name.clone(),
                    chronik_core::sync::BatchOrigin::Raw => "raw".into(),
                })
                .collect();
            assert_eq!(
                names,
                [
                    "transfer.request",
                    "bank.withdraw",
                    "transfer.markDebited",
                    "bank.deposit",
                    "transfer.markCompleted"
                ]
            );
            // Meanwhile B deposits into the source: every step is decided again.
            bank(&b, "acc-1", &BankCommand::deposit("1")).await;
            sync(&mut b).await;
            sync(&mut a).await;
            sync(&mut b).await;
            assert!(a.replica().conflicts().await.unwrap().is_empty());
            for device in [&a, &b] {
                assert_eq!(balance_of(device, "acc-1").await, "71.00");
                assert_eq!(balance_of(device, "acc-2").await, "30.00");
            }
            // 2 openings + 1 deposit, B's deposit, 5 transfer steps.
            assert_eq!(server.0.head_position().await.unwrap(), 9);
        });
    }

    #[test]
    fn a_transfer_whose_debit_no_longer_fits_abandons_its_credit() {
        block_on(async {
            let (server, mut a, mut b) = two_devices_with_two_accounts().await;
            // A, offline, transfers 80; B withdraws 50 and syncs first.
            ReplicaTransfers::new(a.replica())
                .transfer("t-1", "acc-1", "acc-2", "80")
                .await
                .unwrap();
            assert_eq!(balance_of(&a, "acc-2").await, "80.00");
            bank(&b, "acc-1", &BankCommand::withdraw("50")).await;
            sync(&mut b).await;
            sync(&mut a).await;

            // The request went through; the debit is refused, and the steps after it
            // (decided on the assumption that it succeeded) are abandoned, not sent.
            let conflicts = a.replica().conflicts().await.unwrap();
            let reasons: Vec<&ConflictReason> = conflicts.iter().map(|c| &c.reason).collect();
            assert_eq!(conflicts.len(), 4, "{reasons:?}");
            assert_eq!(
                reasons[0],
                &ConflictReason::Rejected {
                    message: "insufficient funds: balance 50.00, amount 80.00".into()
                }
            );
            for reason in &reasons[1..] {
                assert_eq!(
                    *reason,
                    &ConflictReason::Abandoned {
                        operation: "transfer-t-1".into(),
                        batch: conflicts[0].batch.id.clone(),
                    }
                );
            }
            assert_eq!(balance_of(&a, "acc-1").await, "50.00");
            assert_eq!(balance_of(&a, "acc-2").await, "0.00");
            // An abandoned step alone cannot be retried: it would credit money that
            // was never debited.
            let err = a.replica().retry(&conflicts[2].batch.id).await.unwrap_err();
            assert!(matches!(err, ExecuteError::Abandoned { .. }), "{err}");

            // The process manager finishes the transfer from what the server has: the
            // debit is refused again, so it fails and nothing moved.
            let pending = crate::bank::PendingTransfersState {
                transfers: [(
                    "t-1".to_string(),
                    crate::bank::PendingTransfer {
                        from: "acc-1".into(),
                        to: "acc-2".into(),
                        amount: crate::Money::from_cents(8000),
                        debited: false,
                    },
                )]
                .into(),
            };
            let done = ReplicaTransfers::new(a.replica())
                .resume_pending(&pending)
                .await
                .unwrap();
            assert_eq!(done[0].status, crate::TransferStatus::Failed);
            sync(&mut a).await;
            sync(&mut b).await;
            let bank = crate::Bank::new(&server.0);
            let t = bank.transfer_status("t-1").await.unwrap().unwrap();
            assert_eq!(t.status, crate::TransferStatus::Failed);
            for device in [&a, &b] {
                assert_eq!(balance_of(device, "acc-1").await, "50.00");
                assert_eq!(balance_of(device, "acc-2").await, "0.00");
            }
        });
    }
}
