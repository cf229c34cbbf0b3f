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
//!
//! Every input may also carry `commandId` and `correlationId` (the [`CommandContext`]).
//! A rule's refusal (insufficient funds, an illegal transition) is
//! [`RunError::Refused`]: on a rebase the batch becomes a conflict. Anything else
//! (an unknown name, bad input, a store failure) is [`RunError::Failed`].

use chronik_core::sync::{CommandRunner, PendingCommand, RunError};
use chronik_core::{CommandContext, EventStore, HandlerError};
use serde_json::{Map, Value};

use crate::bank::{bank_upcasters, BankAccount, BankCommand};
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

/// Every command name [`DomainCommands`] knows.
pub fn command_names() -> impl Iterator<Item = &'static str> {
    BANK.iter().chain(ORDERS.iter()).map(|(name, _)| *name)
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
        Err(RunError::Failed(format!(
            "unknown command '{}'; known: {}",
            command.name,
            command_names().collect::<Vec<_>>().join(", ")
        )))
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
        assert_eq!(command_names().count(), BANK.len() + ORDERS.len());
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
            a.replica()
                .execute(bank_command("acc-1", &open, &ctx()))
                .await
                .unwrap();
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
            b.replica()
                .execute(bank_command("acc-1", &BankCommand::withdraw("60"), &ctx()))
                .await
                .unwrap();
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
            a.replica()
                .execute(bank_command("acc-1", &open, &ctx()))
                .await
                .unwrap();
            sync(&mut a).await;
            sync(&mut b).await;
            a.replica()
                .execute(bank_command("acc-1", &BankCommand::deposit("5"), &ctx()))
                .await
                .unwrap();
            b.replica()
                .execute(bank_command("acc-1", &BankCommand::withdraw("20"), &ctx()))
                .await
                .unwrap();
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
}
