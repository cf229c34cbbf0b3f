//! The fulfilment saga: the happy path, a failure at each step with its compensations,
//! resuming after an interruption at every point, and deterministic failure rates.

use chronik_core::{
    CommandContext, EventStore, ManualClock, MemoryStore, ReadAllOptions, ReadStreamOptions,
    SequentialIds,
};
use chronik_examples::saga::{SagaAction, StepStatus};
use chronik_examples::services::CallCounts;
use chronik_examples::{
    Faults, FulfilmentSagas, Interruption, OrderCommand, OrderStatus, Orders, SagaError,
    SagaStatus, SagaStep, Services,
};
use futures::executor::block_on;
use std::rc::Rc;

type Store = Rc<MemoryStore>;

fn new_store() -> Store {
    Rc::new(MemoryStore::new(
        ManualClock::new(1_700_000_000_000),
        SequentialIds::new("e"),
    ))
}

fn runner(store: &Store, faults: Faults) -> FulfilmentSagas<Store> {
    FulfilmentSagas::new(
        Rc::clone(store),
        Services::new(Rc::clone(store)).with_faults(faults),
    )
}

/// Stock: 10 apples, 5 pears. Order `id`: `apples` apples at 1.50 and one pear at 2.
async fn setup(store: &Store, id: &str, apples: u32) {
    let services = Services::new(Rc::clone(store));
    if store
        .stream_version("inventory-main")
        .await
        .unwrap()
        .is_none()
    {
        services.receive_stock("apple", 10, "d1").await.unwrap();
        services.receive_stock("pear", 5, "d2").await.unwrap();
    }
    let orders = Orders::new(Rc::clone(store));
    let ctx = CommandContext::default;
    let commands = [
        OrderCommand::CreateOrder {
            customer_id: "alice".into(),
        },
        OrderCommand::AddItem {
            product_id: "apple".into(),
            product_name: None,
            quantity: apples,
            unit_price: "1.50".into(),
        },
        OrderCommand::AddItem {
            product_id: "pear".into(),
            product_name: None,
            quantity: 1,
            unit_price: "2".into(),
        },
        OrderCommand::SubmitOrder,
    ];
    for command in &commands {
        orders.execute(id, command, &ctx()).await.unwrap();
    }
}

async fn count(store: &Store, event_type: &str) -> usize {
    store
        .read_all(ReadAllOptions {
            event_types: Some(vec![event_type.into()]),
            ..Default::default()
        })
        .await
        .unwrap()
        .len()
}

async fn saga_log(store: &Store, order: &str) -> Vec<String> {
    store
        .read_stream(&format!("saga-{order}"), ReadStreamOptions::default())
        .await
        .unwrap()
        .into_iter()
        .map(|e| match e.data.get("step").and_then(|s| s.as_str()) {
            Some(step) => format!("{}({step})", e.event_type),
            None => e.event_type,
        })
        .collect()
}

async fn order_status(store: &Store, id: &str) -> (OrderStatus, Option<String>) {
    let order = Orders::new(Rc::clone(store))
        .order(id)
        .await
        .unwrap()
        .unwrap();
    (order.status, order.cancel_reason)
}

/// (available, on hand) of a product.
async fn stock(store: &Store, product: &str) -> (u64, u64) {
    let inventory = Services::new(Rc::clone(store)).inventory().await.unwrap();
    let level = inventory.products[product];
    (level.available(), level.on_hand)
}

#[test]
fn the_happy_path_reserves_charges_ships_and_completes() {
    let store = new_store();
    block_on(async {
        setup(&store, "o1", 3).await;
        let sagas = runner(&store, Faults::none());
        let saga = sagas.run("o1").await.unwrap();
        assert_eq!(saga.status, SagaStatus::Completed);
        assert_eq!(saga.next_action(), SagaAction::Done);
        assert_eq!(
            saga_log(&store, "o1").await,
            [
                "SagaStarted",
                "StepStarted(ReserveInventory)",
                "StepCompleted(ReserveInventory)",
                "StepStarted(TakePayment)",
                "StepCompleted(TakePayment)",
                "StepStarted(Ship)",
                "StepCompleted(Ship)",
                "StepStarted(CompleteOrder)",
                "StepCompleted(CompleteOrder)",
                "SagaCompleted",
            ]
        );
        let order = Orders::new(Rc::clone(&store))
            .order("o1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(order.status, OrderStatus::Completed);
        assert_eq!(order.reservation_id.as_deref(), Some("o1"));
        assert_eq!(order.payment_id.as_deref(), Some("pay-o1"));
        let tracking = order.tracking_number.unwrap();
        assert!(
            tracking.starts_with("TRK") && tracking.len() == 13,
            "{tracking}"
        );
        // The units left the warehouse for good.
        assert_eq!(stock(&store, "apple").await, (7, 7));
        assert_eq!(stock(&store, "pear").await, (4, 4));
        let payment = sagas.services().payment("o1").await.unwrap();
        assert_eq!((payment.amount.cents(), payment.refunded), (650, false));
        assert_eq!(
            sagas.services().calls(),
            CallCounts {
                reserve: 1,
                commit: 1,
                charge: 1,
                ship: 1,
                ..CallCounts::default()
            }
        );
        // Running a finished saga again does nothing.
        let before = store.len();
        assert_eq!(sagas.run("o1").await.unwrap().status, SagaStatus::Completed);
        assert_eq!(store.len(), before);
    });
}

#[test]
fn a_failure_at_each_step_compensates_in_reverse_and_cancels_the_order() {
    for failing in SagaStep::ALL {
        let store = new_store();
        block_on(async {
            setup(&store, "o1", 3).await;
            // Another reservation stays untouched by the compensation.
            setup(&store, "o2", 1).await;
            Services::new(Rc::clone(&store))
                .reserve(
                    "o2",
                    &[chronik_examples::OrderItem {
                        product_id: "apple".into(),
                        product_name: None,
                        quantity: 1,
                        unit_price: chronik_examples::Money::from_cents(150),
                    }],
                )
                .await
                .unwrap();
            let sagas = runner(&store, Faults::fail(failing.operation()));
            let saga = sagas.run("o1").await.unwrap();
            assert_eq!(saga.status, SagaStatus::Aborted, "{failing}");
            let reason = format!("{failing} failed: simulated failure");
            assert_eq!(saga.failure.as_deref(), Some(reason.as_str()));

            // Compensations: every started compensable step, newest first.
            let started: Vec<SagaStep> = SagaStep::ALL
                .into_iter()
                .take_while(|s| *s <= failing)
                .collect();
            let mut expected = vec!["SagaStarted".to_string()];
            for step in &started {
                expected.push(format!("StepStarted({step})"));
                let end = if *step == failing {
                    "StepFailed"
                } else {
                    "StepCompleted"
                };
                expected.push(format!("{end}({step})"));
            }
            for step in started.iter().rev().filter(|s| s.is_compensable()) {
                expected.push(format!("CompensationStarted({step})"));
                expected.push(format!("CompensationCompleted({step})"));
            }
            expected.push("SagaAborted".into());
            assert_eq!(saga_log(&store, "o1").await, expected, "{failing}");

            // The order is cancelled with the reason.
            assert_eq!(
                order_status(&store, "o1").await,
                (OrderStatus::Cancelled, Some(reason.clone()))
            );
            // Stock restored: only o2's apple stays reserved.
            assert_eq!(stock(&store, "apple").await, (9, 10), "{failing}");
            assert_eq!(stock(&store, "pear").await, (5, 5), "{failing}");
            // Payment refunded when it was taken; shipment called back when sent.
            let payment = sagas.services().payment("o1").await.unwrap();
            let charged = failing > SagaStep::TakePayment;
            assert_eq!(payment.payment_id.is_some(), charged, "{failing}");
            assert_eq!(payment.refunded, charged, "{failing}");
            assert_eq!(count(&store, "PaymentRefunded").await, usize::from(charged));
            let shipment = sagas.services().shipment("o1").await.unwrap();
            let shipped = failing > SagaStep::Ship;
            assert_eq!(shipment.cancelled, shipped, "{failing}");
            assert_eq!(count(&store, "StockCommitted").await, 0);
        });
    }
}

#[test]
fn out_of_stock_is_a_real_failure_that_changes_no_stock() {
    let store = new_store();
    block_on(async {
        setup(&store, "big", 11).await;
        let saga = runner(&store, Faults::none()).run("big").await.unwrap();
        assert_eq!(saga.status, SagaStatus::Aborted);
        let reason = "ReserveInventory failed: out of stock: apple has 10 available, 11 requested";
        assert_eq!(
            order_status(&store, "big").await,
            (OrderStatus::Cancelled, Some(reason.into()))
        );
        assert_eq!(stock(&store, "apple").await, (10, 10));
        assert_eq!(count(&store, "StockReserved").await, 0);
    });
}

#[test]
fn an_order_cancelled_by_the_customer_mid_saga_is_compensated() {
    let store = new_store();
    block_on(async {
        setup(&store, "o1", 2).await;
        // Run up to and including TakePayment (1 + 2 + 2 actions).
        let first = runner(&store, Faults::none()).with_interruption(Interruption::AfterActions(5));
        assert!(matches!(
            first.run("o1").await,
            Err(SagaError::Interrupted(_))
        ));
        Orders::new(Rc::clone(&store))
            .execute(
                "o1",
                &OrderCommand::CancelOrder {
                    reason: "customer changed their mind".into(),
                },
                &CommandContext::default(),
            )
            .await
            .unwrap();
        let saga = runner(&store, Faults::none()).run("o1").await.unwrap();
        assert_eq!(saga.status, SagaStatus::Aborted);
        assert_eq!(
            saga.failure.as_deref(),
            Some("CompleteOrder failed: cannot complete: the order is Cancelled")
        );
        // The customer's reason stays; everything was undone.
        assert_eq!(
            order_status(&store, "o1").await,
            (
                OrderStatus::Cancelled,
                Some("customer changed their mind".into())
            )
        );
        assert_eq!(stock(&store, "apple").await, (10, 10));
        assert_eq!(count(&store, "PaymentRefunded").await, 1);
        assert_eq!(count(&store, "ShipmentCancelled").await, 1);
    });
}

/// Which service calls a step makes.
fn step_calls(c: &CallCounts, step: SagaStep) -> u32 {
    match step {
        SagaStep::ReserveInventory => c.reserve,
        SagaStep::TakePayment => c.charge,
        SagaStep::Ship => c.ship,
        SagaStep::CompleteOrder => c.commit,
    }
}

async fn assert_effects_once(store: &Store) {
    for event_type in [
        "StockReserved",
        "PaymentCaptured",
        "ShipmentDispatched",
        "StockCommitted",
        "OrderReserved",
        "OrderProcessing",
        "OrderCompleted",
    ] {
        assert_eq!(count(store, event_type).await, 1, "{event_type}");
    }
}

#[test]
fn a_saga_interrupted_after_any_action_resumes_without_repeating_a_step() {
    for k in 0..10 {
        let store = new_store();
        block_on(async {
            setup(&store, "o1", 3).await;
            let crashed =
                runner(&store, Faults::none()).with_interruption(Interruption::AfterActions(k));
            assert!(
                matches!(crashed.run("o1").await, Err(SagaError::Interrupted(_))),
                "k={k}"
            );
            let before = crashed.services().calls();
            let at_crash = crashed.saga("o1").await.unwrap();
            drop(crashed);

            // A new page: new services, new runner, same store.
            let resumed = runner(&store, Faults::none());
            let after = resumed.resume_all().await.unwrap();
            let saga = match after.as_slice() {
                [saga] => saga.clone(),
                // Interrupted before SagaStarted: nothing to resume; start it.
                [] => resumed.run("o1").await.unwrap(),
                _ => unreachable!(),
            };
            assert_eq!(saga.status, SagaStatus::Completed, "k={k}");
            let log = saga_log(&store, "o1").await;
            assert_eq!(log.len(), 10, "k={k}: {log:?}");
            assert_effects_once(&store).await;
            for step in SagaStep::ALL {
                let done_before = at_crash
                    .as_ref()
                    .and_then(|s| s.step(step))
                    .is_some_and(|r| r.status == StepStatus::Completed);
                let calls = (
                    step_calls(&before, step),
                    step_calls(&resumed.services().calls(), step),
                );
                let expected = if done_before { (1, 0) } else { (0, 1) };
                assert_eq!(calls, expected, "k={k} {step}");
            }
            assert_eq!(stock(&store, "apple").await, (7, 7));
        });
    }
}

#[test]
fn a_saga_interrupted_between_a_service_call_and_its_record_calls_again_harmlessly() {
    for step in SagaStep::ALL {
        let store = new_store();
        block_on(async {
            setup(&store, "o1", 3).await;
            let crashed = runner(&store, Faults::none())
                .with_interruption(Interruption::AfterServiceCall(step));
            assert!(matches!(
                crashed.run("o1").await,
                Err(SagaError::Interrupted(_))
            ));
            let saga = crashed.saga("o1").await.unwrap().unwrap();
            assert_eq!(saga.next_action(), SagaAction::RunStep(step), "{step}");
            assert_eq!(step_calls(&crashed.services().calls(), step), 1);

            let resumed = runner(&store, Faults::none());
            let saga = resumed.run("o1").await.unwrap();
            assert_eq!(saga.status, SagaStatus::Completed);
            // The half-done step is called once more (same key: a no-op), the earlier
            // ones not at all, and every effect happened exactly once.
            for s in SagaStep::ALL {
                let expected = u32::from(s >= step);
                assert_eq!(
                    step_calls(&resumed.services().calls(), s),
                    expected,
                    "{step}: {s}"
                );
            }
            assert_effects_once(&store).await;
            assert_eq!(saga_log(&store, "o1").await.len(), 10);
        });
    }
}

#[test]
fn a_saga_interrupted_while_compensating_resumes_and_undoes_each_step_once() {
    // Ship fails: 1 + 2 + 2 + 2 forward, 3 × 2 compensation, 1 abort = 14 actions.
    for k in 5..14 {
        let store = new_store();
        block_on(async {
            setup(&store, "o1", 3).await;
            let faults = Faults::fail(SagaStep::Ship.operation());
            let crashed =
                runner(&store, faults.clone()).with_interruption(Interruption::AfterActions(k));
            assert!(crashed.run("o1").await.is_err(), "k={k}");
            let saga = runner(&store, faults).run("o1").await.unwrap();
            assert_eq!(saga.status, SagaStatus::Aborted, "k={k}");
            assert_eq!(saga_log(&store, "o1").await.len(), 14, "k={k}");
            for event_type in [
                "StockReserved",
                "StockReleased",
                "PaymentCaptured",
                "PaymentRefunded",
                "OrderCancelled",
            ] {
                assert_eq!(count(&store, event_type).await, 1, "k={k} {event_type}");
            }
            assert_eq!(stock(&store, "apple").await, (10, 10));
        });
    }
}

#[test]
fn a_failure_rate_with_a_seed_fails_the_same_orders_on_every_run() {
    let outcomes = |seed: u64| {
        let store = new_store();
        block_on(async {
            let services = Services::new(Rc::clone(&store));
            services.receive_stock("apple", 1000, "d1").await.unwrap();
            services.receive_stock("pear", 1000, "d2").await.unwrap();
            let sagas = runner(&store, Faults::rate(0.25, seed));
            let mut outcomes = Vec::new();
            for i in 0..24 {
                let id = format!("o{i}");
                setup(&store, &id, 1).await;
                let saga = sagas.run(&id).await.unwrap();
                outcomes.push((saga.status, saga.failure));
            }
            outcomes
        })
    };
    let first = outcomes(42);
    assert_eq!(first, outcomes(42));
    let failed = first
        .iter()
        .filter(|(s, _)| *s == SagaStatus::Aborted)
        .count();
    // Four steps at 25 % each: most runs see some failures and some successes.
    assert!(
        failed > 0 && failed < first.len(),
        "{failed} of {}",
        first.len()
    );
    assert_ne!(first, outcomes(43));
}

#[test]
fn only_submitted_orders_start_a_saga() {
    let store = new_store();
    block_on(async {
        let sagas = runner(&store, Faults::none());
        assert!(matches!(
            sagas.start("nope").await,
            Err(SagaError::OrderNotFound(_))
        ));
        Orders::new(Rc::clone(&store))
            .execute(
                "d",
                &OrderCommand::CreateOrder {
                    customer_id: "c".into(),
                },
                &CommandContext::default(),
            )
            .await
            .unwrap();
        let err = sagas.start("d").await.unwrap_err();
        assert_eq!(err.to_string(), "order d is Draft; submit it first");
        assert_eq!(sagas.saga("d").await.unwrap(), None);
    });
}

#[test]
fn stock_deliveries_of_nothing_or_past_the_maximum_are_refused_and_record_nothing() {
    use chronik_examples::services::MAX_UNITS;
    use chronik_examples::ServiceError;
    let store = new_store();
    let services = Services::new(Rc::clone(&store));
    block_on(async {
        let err = services.receive_stock("tea", 0, "d0").await.unwrap_err();
        assert_eq!(
            err,
            ServiceError::InvalidQuantity {
                product_id: "tea".into()
            }
        );
        assert!(store.is_empty());
        // What `receiveStock("tea", -1)` became before the JS side checked it.
        let err = services
            .receive_stock("tea", u64::from(u32::MAX), "d1")
            .await
            .map(|level| level.on_hand);
        assert_eq!(
            err,
            Ok(u64::from(u32::MAX)),
            "4294967295 units is a lot, but fine"
        );
        let err = services
            .receive_stock("tea", MAX_UNITS, "d2")
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "receiving 9007199254740991 of tea would take its 4294967295 units on hand past the maximum 9007199254740991"
        );
        let err = services
            .receive_stock("tea", u64::MAX, "d3")
            .await
            .unwrap_err();
        assert!(matches!(err, ServiceError::StockOverflow { .. }), "{err:?}");
        assert!(err.is_business());
        assert_eq!(store.len(), 1);
        let left = MAX_UNITS - u64::from(u32::MAX);
        let level = services.receive_stock("tea", left, "d4").await.unwrap();
        assert_eq!(level.on_hand, MAX_UNITS);
        // A reservation whose lines add up past u64::MAX is out of stock, not a panic.
        let items = vec![
            chronik_examples::OrderItem {
                product_id: "tea".into(),
                product_name: None,
                quantity: u32::MAX,
                unit_price: chronik_examples::Money::from_cents(1),
            };
            3
        ];
        services.reserve("r1", &items).await.unwrap();
        let inv = services.inventory().await.unwrap();
        assert_eq!(inv.products["tea"].reserved, 3 * u64::from(u32::MAX));
    });
}

#[test]
fn a_charge_outside_the_money_bounds_is_refused() {
    use chronik_examples::{Money, ServiceError};
    let store = new_store();
    let services = Services::new(Rc::clone(&store));
    block_on(async {
        for amount in [0, -5, Money::MAX.cents() + 1] {
            let err = services
                .charge("k", "cust", Money::from_cents(amount))
                .await
                .unwrap_err();
            assert!(matches!(err, ServiceError::InvalidAmount { .. }), "{err:?}");
        }
        assert!(store.is_empty());
        services.charge("k", "cust", Money::MAX).await.unwrap();
        assert_eq!(services.payment("k").await.unwrap().amount, Money::MAX);
    });
}

#[test]
fn stock_events_past_the_maximum_written_by_other_means_fold_within_it() {
    use chronik_core::{ExpectedVersion, NewEvent};
    use chronik_examples::services::MAX_UNITS;
    use serde_json::json;
    let store = new_store();
    block_on(async {
        store
            .append(
                "inventory-main",
                ExpectedVersion::NoStream,
                vec![
                    NewEvent::new(
                        "StockReceived",
                        json!({ "productId": "tea", "quantity": u64::MAX }),
                    ),
                    NewEvent::new(
                        "StockReceived",
                        json!({ "productId": "tea", "quantity": u64::MAX }),
                    ),
                    NewEvent::new(
                        "StockReserved",
                        json!({ "reservationId": "r", "lines": [{ "productId": "tea", "quantity": u64::MAX }] }),
                    ),
                ],
            )
            .await
            .unwrap();
        let services = Services::new(Rc::clone(&store));
        let inventory = services.inventory().await.unwrap();
        let tea = inventory.products["tea"];
        assert_eq!(
            (tea.on_hand, tea.reserved, tea.available()),
            (MAX_UNITS, MAX_UNITS, 0)
        );
        assert_eq!(inventory.reservations["r"][0].quantity, MAX_UNITS);
        services.release("r").await.unwrap();
        let tea = services.inventory().await.unwrap().products["tea"];
        assert_eq!((tea.on_hand, tea.reserved), (MAX_UNITS, 0));
    });
}

fn line(product: &str, quantity: u32) -> chronik_examples::OrderItem {
    chronik_examples::OrderItem {
        product_id: product.into(),
        product_name: None,
        quantity,
        unit_price: chronik_examples::Money::from_cents(100),
    }
}

#[test]
fn a_product_never_received_is_out_of_stock_by_default() {
    use chronik_examples::ServiceError;
    let store = new_store();
    let services = Services::new(Rc::clone(&store));
    block_on(async {
        let err = services.reserve("o1", &[line("tea", 1)]).await.unwrap_err();
        assert_eq!(
            err,
            ServiceError::OutOfStock {
                product_id: "tea".into(),
                requested: 1,
                available: 0
            }
        );
        assert_eq!(store.stream_version("inventory-main").await.unwrap(), None);
    });
}

#[test]
fn a_reservable_warehouse_reserves_untracked_products_without_counting_them() {
    use chronik_examples::{ServiceError, UntrackedStock};
    let store = new_store();
    let services = Services::new(Rc::clone(&store)).with_untracked(UntrackedStock::Reservable);
    block_on(async {
        // Untracked: any quantity, and it stays untracked.
        services
            .reserve("o1", &[line("tea", 1_000_000)])
            .await
            .unwrap();
        let inventory = services.inventory().await.unwrap();
        assert!(inventory.products.is_empty(), "{inventory:?}");
        assert_eq!(inventory.reservations["o1"], vec![]);

        // Receiving makes it tracked: from now on its units count.
        services.receive_stock("tea", 3, "d1").await.unwrap();
        let err = services.reserve("o2", &[line("tea", 4)]).await.unwrap_err();
        assert_eq!(
            err,
            ServiceError::OutOfStock {
                product_id: "tea".into(),
                requested: 4,
                available: 3
            }
        );
        // A mixed order: the tracked line is held, the untracked one is not.
        services
            .reserve("o3", &[line("tea", 2), line("mug", 50)])
            .await
            .unwrap();
        let tea = services.inventory().await.unwrap().products["tea"];
        assert_eq!((tea.on_hand, tea.reserved, tea.available()), (3, 2, 1));

        // Releasing the reservation made while tea was untracked takes back nothing.
        services.release("o1").await.unwrap();
        let inventory = services.inventory().await.unwrap();
        assert_eq!(inventory.products["tea"].reserved, 2);
        assert!(!inventory.products.contains_key("mug"));
        // Committing the mixed one ships only the tracked units out.
        services.commit("o3").await.unwrap();
        let inventory = services.inventory().await.unwrap();
        let tea = inventory.products["tea"];
        assert_eq!((tea.on_hand, tea.reserved), (1, 0));
        assert!(inventory.reservations.is_empty());
    });
}

#[test]
fn a_saga_on_a_reservable_warehouse_fulfils_an_order_of_untracked_products() {
    use chronik_examples::UntrackedStock;
    let store = new_store();
    block_on(async {
        let orders = Orders::new(Rc::clone(&store));
        let ctx = CommandContext::default;
        for command in [
            OrderCommand::CreateOrder {
                customer_id: "alice".into(),
            },
            OrderCommand::AddItem {
                product_id: "tea".into(),
                product_name: Some("Green tea".into()),
                quantity: 7,
                unit_price: "3".into(),
            },
            OrderCommand::SubmitOrder,
        ] {
            orders.execute("o1", &command, &ctx()).await.unwrap();
        }
        let sagas = FulfilmentSagas::new(
            Rc::clone(&store),
            Services::new(Rc::clone(&store)).with_untracked(UntrackedStock::Reservable),
        );
        let saga = sagas.run("o1").await.unwrap();
        assert_eq!(saga.status, SagaStatus::Completed);
        let order = orders.order("o1").await.unwrap().unwrap();
        assert_eq!(order.status, OrderStatus::Completed);
        assert_eq!(order.items[0].product_name.as_deref(), Some("Green tea"));
        assert!(sagas
            .services()
            .inventory()
            .await
            .unwrap()
            .products
            .is_empty());
        // The same order on the default warehouse would have been refused.
        let strict = runner(&store, Faults::none());
        assert_eq!(strict.services().untracked(), UntrackedStock::OutOfStock);
    });
}
