//! Order domain: every rule and illegal transition as given/when/then, JSON shapes,
//! and the four read models (each equal to its rebuild from scratch).

use chronik_core::testing::AggregateTest;
use chronik_core::{CommandContext, ManualClock, MemoryStore, Projection, SequentialIds};
use chronik_examples::orders::{CurrentOrders, CustomerStats, InventoryDemand, OrderHistory};
use chronik_examples::{
    Money, MoneyError, Order, OrderCommand, OrderError, OrderEvent, OrderItem, OrderStatus, Orders,
};
use futures::executor::block_on;
use serde_json::json;
use std::rc::Rc;

fn cents(c: i64) -> Money {
    Money::from_cents(c)
}

fn created() -> Vec<OrderEvent> {
    vec![OrderEvent::OrderCreated {
        customer_id: "cust-1".into(),
    }]
}

fn json<T: serde::Serialize>(state: &T) -> serde_json::Value {
    serde_json::to_value(state).unwrap()
}

fn item(product: &str, quantity: u32, price: i64) -> OrderItem {
    OrderItem {
        product_id: product.into(),
        product_name: None,
        quantity,
        unit_price: cents(price),
    }
}

fn with_item() -> Vec<OrderEvent> {
    let mut events = created();
    events.push(OrderEvent::ItemAdded {
        product_id: "sku-1".into(),
        product_name: None,
        quantity: 2,
        unit_price: cents(999),
    });
    events
}

fn submitted() -> Vec<OrderEvent> {
    let mut events = with_item();
    events.push(OrderEvent::OrderSubmitted {
        customer_id: "cust-1".into(),
        items: vec![item("sku-1", 2, 999)],
        total: cents(1998),
    });
    events
}

fn reserved() -> Vec<OrderEvent> {
    let mut events = submitted();
    events.push(OrderEvent::OrderReserved {
        reservation_id: "r1".into(),
    });
    events
}

fn processing() -> Vec<OrderEvent> {
    let mut events = reserved();
    events.push(OrderEvent::OrderProcessing {
        payment_id: "p1".into(),
    });
    events
}

fn completed() -> Vec<OrderEvent> {
    let mut events = processing();
    events.push(OrderEvent::OrderCompleted {
        tracking_number: "TRK1".into(),
    });
    events
}

fn cancelled() -> Vec<OrderEvent> {
    let mut events = with_item();
    events.push(OrderEvent::OrderCancelled {
        reason: "no longer needed".into(),
    });
    events
}

fn add(product: &str, quantity: u32, price: &str) -> OrderCommand {
    OrderCommand::AddItem {
        product_id: product.into(),
        product_name: None,
        quantity,
        unit_price: price.into(),
    }
}

#[test]
fn creating_needs_a_customer_and_a_free_id() {
    AggregateTest::<Order>::given_no_events()
        .when(OrderCommand::CreateOrder {
            customer_id: "cust-1".into(),
        })
        .then_expect(created())
        .then_state(|o| assert_eq!(o.status, OrderStatus::Draft));
    AggregateTest::<Order>::given_no_events()
        .when(OrderCommand::CreateOrder {
            customer_id: " ".into(),
        })
        .then_expect_error(OrderError::EmptyCustomer);
    AggregateTest::<Order>::given(created())
        .when(OrderCommand::CreateOrder {
            customer_id: "cust-2".into(),
        })
        .then_expect_error(OrderError::OrderAlreadyExists);
}

#[test]
fn every_command_on_a_missing_order_says_it_does_not_exist() {
    for command in [
        add("sku-1", 1, "1"),
        OrderCommand::RemoveItem {
            product_id: "sku-1".into(),
        },
        OrderCommand::UpdateItemQuantity {
            product_id: "sku-1".into(),
            quantity: 1,
        },
        OrderCommand::SubmitOrder,
        OrderCommand::MarkReserved {
            reservation_id: "r".into(),
        },
        OrderCommand::MarkProcessing {
            payment_id: "p".into(),
        },
        OrderCommand::CompleteOrder {
            tracking_number: "t".into(),
        },
        OrderCommand::CancelOrder { reason: "x".into() },
    ] {
        AggregateTest::<Order>::given_no_events()
            .when(command)
            .then_expect_error(OrderError::OrderNotFound);
    }
}

#[test]
fn adding_an_existing_product_merges_quantities() {
    AggregateTest::<Order>::given(with_item())
        .when(add("sku-1", 3, "9.99"))
        .then_expect(vec![OrderEvent::ItemAdded {
            product_id: "sku-1".into(),
            product_name: None,
            quantity: 3,
            unit_price: cents(999),
        }])
        .then_state(|o| {
            assert_eq!(o.items, vec![item("sku-1", 5, 999)]);
            assert_eq!(o.total(), cents(4995));
        });
    AggregateTest::<Order>::given(with_item())
        .when(add("sku-1", 1, "5"))
        .then_expect_error(OrderError::PriceMismatch {
            product_id: "sku-1".into(),
            existing: cents(999),
            requested: cents(500),
        });
    AggregateTest::<Order>::given(with_item())
        .when(add("sku-1", u32::MAX, "9.99"))
        .then_expect_error(OrderError::QuantityOverflow {
            product_id: "sku-1".into(),
            max: u32::MAX,
        });
}

#[test]
fn line_and_order_totals_never_pass_the_maximum_amount() {
    let too_large = |product: &str| OrderError::TotalTooLarge {
        product_id: product.into(),
        max: Money::MAX,
    };
    // One line: quantity × unit price past Money::MAX (it used to saturate silently).
    AggregateTest::<Order>::given(created())
        .when(add("sku-1", u32::MAX, "90071992547409.91"))
        .then_expect_error(too_large("sku-1"));
    AggregateTest::<Order>::given(created())
        .when(add("sku-1", 3, "30023997515803.31"))
        .then_expect_error(too_large("sku-1"));
    // Exactly the maximum is fine.
    AggregateTest::<Order>::given(created())
        .when(add("sku-1", 1, "90071992547409.91"))
        .then_state(|o| assert_eq!(o.total(), Money::MAX));
    // The order total over several lines.
    let mut big = created();
    big.push(OrderEvent::ItemAdded {
        product_id: "sku-1".into(),
        product_name: None,
        quantity: 1,
        unit_price: cents(Money::MAX.cents() - 100),
    });
    AggregateTest::<Order>::given(big.clone())
        .when(add("sku-2", 1, "1.01"))
        .then_expect_error(too_large("sku-2"));
    AggregateTest::<Order>::given(big.clone())
        .when(add("sku-2", 1, "1"))
        .then_state(|o| assert_eq!(o.checked_total(), Some(Money::MAX)));
    // Merging quantities and updating a quantity are checked the same way.
    AggregateTest::<Order>::given(big.clone())
        .when(add("sku-1", 1, "90071992547408.91"))
        .then_expect_error(too_large("sku-1"));
    AggregateTest::<Order>::given(big)
        .when(OrderCommand::UpdateItemQuantity {
            product_id: "sku-1".into(),
            quantity: 2,
        })
        .then_expect_error_message(
            "the total for sku-1 would exceed the maximum amount 90071992547409.91; order fewer or cheaper items",
        );
    AggregateTest::<Order>::given(created())
        .when(add("sku-1", 1, "90071992547409.92"))
        .then_expect_error(OrderError::InvalidPrice(MoneyError::Overflow(
            "90071992547409.92".into(),
        )));
    // A fold of items written by other means saturates at the maximum, never wraps.
    let line = item("sku-1", u32::MAX, i64::MAX);
    assert_eq!(line.line_total(), Money::MAX);
    assert_eq!(line.checked_line_total(), None);
}

#[test]
fn items_need_a_product_a_positive_quantity_and_a_valid_price() {
    AggregateTest::<Order>::given(created())
        .when(add("", 1, "1"))
        .then_expect_error(OrderError::EmptyProduct);
    AggregateTest::<Order>::given(created())
        .when(add("sku-1", 0, "1"))
        .then_expect_error(OrderError::InvalidQuantity);
    AggregateTest::<Order>::given(created())
        .when(add("sku-1", 1, "1.999"))
        .then_expect_error(OrderError::InvalidPrice(MoneyError::TooManyDecimals(
            "1.999".into(),
        )));
    AggregateTest::<Order>::given(with_item())
        .when(OrderCommand::UpdateItemQuantity {
            product_id: "sku-1".into(),
            quantity: 0,
        })
        .then_expect_error(OrderError::InvalidQuantity);
}

#[test]
fn items_can_be_updated_and_removed_in_draft() {
    AggregateTest::<Order>::given(with_item())
        .when(OrderCommand::UpdateItemQuantity {
            product_id: "sku-1".into(),
            quantity: 7,
        })
        .then_expect(vec![OrderEvent::ItemQuantityUpdated {
            product_id: "sku-1".into(),
            quantity: 7,
        }])
        .then_state(|o| assert_eq!(o.items[0].quantity, 7));
    AggregateTest::<Order>::given(with_item())
        .when(OrderCommand::UpdateItemQuantity {
            product_id: "sku-1".into(),
            quantity: 2,
        })
        .then_expect(vec![]);
    AggregateTest::<Order>::given(with_item())
        .when(OrderCommand::RemoveItem {
            product_id: "sku-1".into(),
        })
        .then_expect(vec![OrderEvent::ItemRemoved {
            product_id: "sku-1".into(),
        }])
        .then_state(|o| assert!(o.items.is_empty()));
    for command in [
        OrderCommand::RemoveItem {
            product_id: "sku-9".into(),
        },
        OrderCommand::UpdateItemQuantity {
            product_id: "sku-9".into(),
            quantity: 1,
        },
    ] {
        AggregateTest::<Order>::given(with_item())
            .when(command)
            .then_expect_error(OrderError::ItemNotFound {
                product_id: "sku-9".into(),
            });
    }
}

#[test]
fn items_only_change_in_draft() {
    let histories = [
        (submitted(), OrderStatus::Submitted),
        (reserved(), OrderStatus::Reserved),
        (processing(), OrderStatus::Processing),
        (completed(), OrderStatus::Completed),
        (cancelled(), OrderStatus::Cancelled),
    ];
    for (history, status) in histories {
        for command in [
            add("sku-2", 1, "1"),
            OrderCommand::RemoveItem {
                product_id: "sku-1".into(),
            },
            OrderCommand::UpdateItemQuantity {
                product_id: "sku-1".into(),
                quantity: 3,
            },
        ] {
            AggregateTest::<Order>::given(history.clone())
                .when(command)
                .then_expect_error(OrderError::ItemsLocked { status });
        }
    }
}

#[test]
fn an_empty_order_cannot_be_submitted() {
    AggregateTest::<Order>::given(created())
        .when(OrderCommand::SubmitOrder)
        .then_expect_error_message("cannot submit an empty order; add an item first");
    AggregateTest::<Order>::given(with_item())
        .when(OrderCommand::SubmitOrder)
        .then_expect(submitted()[2..].to_vec())
        .then_state(|o| assert_eq!(o.status, OrderStatus::Submitted));
}

#[test]
fn the_happy_path_walks_the_state_machine() {
    AggregateTest::<Order>::given(submitted())
        .when(OrderCommand::MarkReserved {
            reservation_id: "r1".into(),
        })
        .then_expect(reserved()[3..].to_vec());
    AggregateTest::<Order>::given(reserved())
        .when(OrderCommand::MarkProcessing {
            payment_id: "p1".into(),
        })
        .then_expect(processing()[4..].to_vec());
    AggregateTest::<Order>::given(processing())
        .when(OrderCommand::CompleteOrder {
            tracking_number: "TRK1".into(),
        })
        .then_expect(completed()[5..].to_vec())
        .then_state(|o| {
            assert_eq!(o.status, OrderStatus::Completed);
            assert_eq!(o.tracking_number.as_deref(), Some("TRK1"));
            assert_eq!(o.version, 6);
        });
}

#[test]
fn saga_transitions_repeated_with_the_same_reference_are_no_ops() {
    AggregateTest::<Order>::given(reserved())
        .when(OrderCommand::MarkReserved {
            reservation_id: "r1".into(),
        })
        .then_expect(vec![]);
    AggregateTest::<Order>::given(completed())
        .when(OrderCommand::MarkProcessing {
            payment_id: "p1".into(),
        })
        .then_expect(vec![]);
    // Another reference is not a repeat: it is an illegal transition.
    AggregateTest::<Order>::given(reserved())
        .when(OrderCommand::MarkReserved {
            reservation_id: "r2".into(),
        })
        .then_expect_error(OrderError::InvalidTransition {
            action: "reserve",
            status: OrderStatus::Reserved,
        });
}

#[test]
fn every_illegal_transition_is_a_clear_error() {
    let reserve = || OrderCommand::MarkReserved {
        reservation_id: "rX".into(),
    };
    let process = || OrderCommand::MarkProcessing {
        payment_id: "pX".into(),
    };
    let complete = || OrderCommand::CompleteOrder {
        tracking_number: "tX".into(),
    };
    let cases: Vec<(Vec<OrderEvent>, OrderCommand, &str)> = vec![
        (with_item(), reserve(), "cannot reserve: the order is Draft"),
        (
            with_item(),
            process(),
            "cannot start processing: the order is Draft",
        ),
        (
            with_item(),
            complete(),
            "cannot complete: the order is Draft",
        ),
        (
            submitted(),
            OrderCommand::SubmitOrder,
            "cannot submit: the order is Submitted",
        ),
        (
            submitted(),
            process(),
            "cannot start processing: the order is Submitted",
        ),
        (
            submitted(),
            complete(),
            "cannot complete: the order is Submitted",
        ),
        (
            reserved(),
            complete(),
            "cannot complete: the order is Reserved",
        ),
        (
            processing(),
            reserve(),
            "cannot reserve: the order is Processing",
        ),
        (
            completed(),
            reserve(),
            "cannot reserve: the order is Completed",
        ),
        (
            completed(),
            OrderCommand::CancelOrder { reason: "x".into() },
            "cannot cancel: the order is Completed",
        ),
        (
            cancelled(),
            OrderCommand::SubmitOrder,
            "cannot submit: the order is Cancelled",
        ),
        (
            cancelled(),
            reserve(),
            "cannot reserve: the order is Cancelled",
        ),
        (
            cancelled(),
            OrderCommand::CancelOrder { reason: "x".into() },
            "cannot cancel: the order is Cancelled",
        ),
    ];
    for (history, command, message) in cases {
        AggregateTest::<Order>::given(history)
            .when(command)
            .then_expect_error_message(message);
    }
}

#[test]
fn any_state_before_completed_can_be_cancelled_with_a_reason() {
    for history in [
        created(),
        with_item(),
        submitted(),
        reserved(),
        processing(),
    ] {
        AggregateTest::<Order>::given(history)
            .when(OrderCommand::CancelOrder {
                reason: "customer asked".into(),
            })
            .then_expect(vec![OrderEvent::OrderCancelled {
                reason: "customer asked".into(),
            }])
            .then_state(|o| {
                assert_eq!(o.status, OrderStatus::Cancelled);
                assert_eq!(o.cancel_reason.as_deref(), Some("customer asked"));
            });
    }
}

#[test]
fn commands_have_the_json_shapes_a_js_app_sends() {
    let shapes = [
        (
            json!({"type": "CreateOrder", "customerId": "c"}),
            OrderCommand::CreateOrder {
                customer_id: "c".into(),
            },
        ),
        (
            json!({"type": "AddItem", "productId": "p", "quantity": 2, "unitPrice": "9.99"}),
            add("p", 2, "9.99"),
        ),
        (
            json!({"type": "UpdateItemQuantity", "productId": "p", "quantity": 5}),
            OrderCommand::UpdateItemQuantity {
                product_id: "p".into(),
                quantity: 5,
            },
        ),
        (
            json!({"type": "RemoveItem", "productId": "p"}),
            OrderCommand::RemoveItem {
                product_id: "p".into(),
            },
        ),
        (json!({"type": "SubmitOrder"}), OrderCommand::SubmitOrder),
        (
            json!({"type": "CancelOrder", "reason": "r"}),
            OrderCommand::CancelOrder { reason: "r".into() },
        ),
    ];
    for (value, command) in shapes {
        assert_eq!(
            serde_json::from_value::<OrderCommand>(value.clone()).unwrap(),
            command
        );
        assert_eq!(serde_json::to_value(&command).unwrap(), value);
    }
    let negative = json!({"type": "AddItem", "productId": "p", "quantity": -1, "unitPrice": "1"});
    assert!(serde_json::from_value::<OrderCommand>(negative).is_err());
}

/// Drives a few orders through the facade and checks all four read models, and that
/// each equals its rebuild from scratch.
#[test]
fn read_models_follow_orders_and_equal_their_rebuild() {
    let clock = Rc::new(ManualClock::new(1_700_000_000_000));
    let store = Rc::new(MemoryStore::new(Rc::clone(&clock), SequentialIds::new("e")));
    let orders = Orders::new(Rc::clone(&store));
    let ctx = CommandContext::default;
    block_on(async {
        let mut current = orders.projection(CurrentOrders, Rc::clone(&clock));
        let mut history = orders.projection(OrderHistory, Rc::clone(&clock));
        let mut stats = orders.projection(CustomerStats, Rc::clone(&clock));
        let mut demand = orders.projection(InventoryDemand, Rc::clone(&clock));
        let script: Vec<(&str, OrderCommand)> = vec![
            (
                "o1",
                OrderCommand::CreateOrder {
                    customer_id: "alice".into(),
                },
            ),
            ("o1", add("apple", 3, "1.50")),
            ("o1", add("pear", 1, "2")),
            ("o1", add("apple", 1, "1.50")),
            ("o1", OrderCommand::SubmitOrder),
            (
                "o1",
                OrderCommand::MarkReserved {
                    reservation_id: "o1".into(),
                },
            ),
            (
                "o2",
                OrderCommand::CreateOrder {
                    customer_id: "alice".into(),
                },
            ),
            ("o2", add("pear", 5, "2")),
            ("o2", OrderCommand::SubmitOrder),
            (
                "o2",
                OrderCommand::MarkReserved {
                    reservation_id: "o2".into(),
                },
            ),
            (
                "o2",
                OrderCommand::MarkProcessing {
                    payment_id: "p2".into(),
                },
            ),
            (
                "o2",
                OrderCommand::CompleteOrder {
                    tracking_number: "T2".into(),
                },
            ),
            (
                "o3",
                OrderCommand::CreateOrder {
                    customer_id: "bob".into(),
                },
            ),
            ("o3", add("apple", 1, "1.50")),
            (
                "o3",
                OrderCommand::CancelOrder {
                    reason: "changed mind".into(),
                },
            ),
            (
                "o4",
                OrderCommand::CreateOrder {
                    customer_id: "alice".into(),
                },
            ),
            ("o4", add("plum", 2, "0.75")),
            ("o4", OrderCommand::SubmitOrder),
            (
                "o4",
                OrderCommand::MarkReserved {
                    reservation_id: "o4".into(),
                },
            ),
            (
                "o4",
                OrderCommand::CancelOrder {
                    reason: "payment declined".into(),
                },
            ),
        ];
        for (i, (id, command)) in script.iter().enumerate() {
            clock.advance(1000);
            orders.execute(id, command, &ctx()).await.unwrap();
            if i % 3 == 0 {
                current.catch_up().await.unwrap();
                stats.catch_up().await.unwrap();
            }
        }
        current.catch_up().await.unwrap();
        history.catch_up().await.unwrap();
        stats.catch_up().await.unwrap();
        demand.catch_up().await.unwrap();

        let open: Vec<_> = current
            .state()
            .by_status(OrderStatus::Reserved)
            .map(|(id, o)| (id.as_str(), o.total.cents()))
            .collect();
        assert_eq!(open, [("o1", 800)]);
        assert_eq!(current.state().orders.len(), 1, "finished orders leave");
        assert_eq!(current.state().counts[&OrderStatus::Completed], 1);
        assert_eq!(current.state().counts[&OrderStatus::Cancelled], 2);
        assert_eq!(current.state().counts[&OrderStatus::Reserved], 1);
        assert_eq!(current.state().counts[&OrderStatus::Draft], 0);

        let alice = &history.state().customers["alice"];
        let summary: Vec<_> = alice
            .iter()
            .map(|o| (o.order_id.as_str(), o.status, o.total.cents()))
            .collect();
        assert_eq!(
            summary,
            [
                ("o1", OrderStatus::Reserved, 800),
                ("o2", OrderStatus::Completed, 1000),
                ("o4", OrderStatus::Cancelled, 150),
            ]
        );
        assert_eq!(alice[1].tracking_number.as_deref(), Some("T2"));
        assert_eq!(
            history.state().customers["bob"][0].cancel_reason.as_deref(),
            Some("changed mind")
        );

        let a = &stats.state().customers["alice"];
        assert_eq!(
            (a.order_count, a.completed_count, a.cancelled_count),
            (3, 1, 1)
        );
        assert_eq!(
            (a.total_spent.cents(), a.average_order_value.cents()),
            (1000, 1000)
        );
        assert_eq!(stats.state().customers["bob"].cancelled_count, 1);

        let d = &demand.state().products;
        assert_eq!((d["apple"].reserved, d["apple"].ordered), (4, 4));
        assert_eq!((d["pear"].reserved, d["pear"].shipped), (1, 5));
        assert_eq!(d["pear"].revenue.cents(), 1000);
        assert_eq!((d["plum"].reserved, d["plum"].ordered), (0, 2));

        async fn rebuilt<P: Projection>(
            orders: &Orders<Rc<MemoryStore>>,
            p: P,
            clock: &Rc<ManualClock>,
        ) -> serde_json::Value {
            let mut fresh = orders.projection(p, Rc::clone(clock));
            fresh.rebuild(|_| {}).await.unwrap();
            serde_json::to_value(fresh.state()).unwrap()
        }
        assert_eq!(
            json(current.state()),
            rebuilt(&orders, CurrentOrders, &clock).await
        );
        assert_eq!(
            json(history.state()),
            rebuilt(&orders, OrderHistory, &clock).await
        );
        assert_eq!(
            json(stats.state()),
            rebuilt(&orders, CustomerStats, &clock).await
        );
        assert_eq!(
            json(demand.state()),
            rebuilt(&orders, InventoryDemand, &clock).await
        );

        let o1 = orders.order("o1").await.unwrap().unwrap();
        assert_eq!((o1.id.as_str(), o1.status), ("o1", OrderStatus::Reserved));
        assert_eq!(orders.order("nope").await.unwrap(), None);
    });
}

#[test]
fn order_events_past_the_maximum_written_by_other_means_never_make_a_read_fail() {
    use chronik_core::{EventStore, ExpectedVersion, NewEvent};
    let clock = Rc::new(ManualClock::new(1_700_000_000_000));
    let store = Rc::new(MemoryStore::new(Rc::clone(&clock), SequentialIds::new("e")));
    let orders = Orders::new(Rc::clone(&store));
    let huge = json!({ "productId": "p", "quantity": u32::MAX, "unitPrice": i64::MAX });
    block_on(async {
        store
            .append(
                "order-x",
                ExpectedVersion::NoStream,
                vec![
                    NewEvent::new("OrderCreated", json!({ "customerId": "c" })),
                    NewEvent::new("ItemAdded", huge.clone()),
                    NewEvent::new(
                        "OrderSubmitted",
                        json!({ "customerId": "c", "items": [huge], "total": i64::MAX }),
                    ),
                    NewEvent::new("OrderReserved", json!({ "reservationId": "r" })),
                    NewEvent::new("OrderProcessing", json!({ "paymentId": "p" })),
                    NewEvent::new("OrderCompleted", json!({ "trackingNumber": "t" })),
                    // For an order no read model saw created.
                    NewEvent::new("OrderCompleted", json!({ "trackingNumber": "t" })),
                ],
            )
            .await
            .unwrap();
        store
            .append(
                "order-ghost",
                ExpectedVersion::NoStream,
                vec![NewEvent::new(
                    "OrderCompleted",
                    json!({ "trackingNumber": "t" }),
                )],
            )
            .await
            .unwrap();
        let order = orders.order("x").await.unwrap().unwrap();
        assert_eq!(order.items[0].unit_price, Money::MAX);
        assert_eq!(order.total(), Money::MAX);
        let mut current = orders.projection(CurrentOrders, Rc::clone(&clock));
        let mut history = orders.projection(OrderHistory, Rc::clone(&clock));
        let mut stats = orders.projection(CustomerStats, Rc::clone(&clock));
        let mut demand = orders.projection(InventoryDemand, Rc::clone(&clock));
        current.catch_up().await.unwrap();
        history.catch_up().await.unwrap();
        stats.catch_up().await.unwrap();
        demand.catch_up().await.unwrap();
        for status in [
            current.status(),
            history.status(),
            stats.status(),
            demand.status(),
        ] {
            assert_eq!(status, &chronik_core::ProjectionStatus::CaughtUp);
        }
        let c = &stats.state().customers["c"];
        assert_eq!(
            (c.total_spent, c.average_order_value),
            (Money::MAX, Money::MAX)
        );
        assert_eq!(history.state().customers["c"][0].total, Money::MAX);
        let p = &demand.state().products["p"];
        assert_eq!((p.shipped, p.revenue), (u64::from(u32::MAX), Money::MAX));
    });
}

#[test]
fn a_product_name_is_recorded_when_given_and_kept_by_the_line() {
    let named = |name: Option<&str>, quantity| OrderCommand::AddItem {
        product_id: "sku-1".into(),
        product_name: name.map(str::to_string),
        quantity,
        unit_price: "9.99".into(),
    };
    AggregateTest::<Order>::given(created())
        .when(named(Some("  Widget "), 2))
        .then_expect(vec![OrderEvent::ItemAdded {
            product_id: "sku-1".into(),
            product_name: Some("Widget".into()),
            quantity: 2,
            unit_price: cents(999),
        }]);
    // Blank is none; the first name stays; a nameless line takes a later name.
    let mut events = created();
    events.push(OrderEvent::ItemAdded {
        product_id: "sku-1".into(),
        product_name: Some("Widget".into()),
        quantity: 2,
        unit_price: cents(999),
    });
    AggregateTest::<Order>::given(events)
        .when(named(Some("Gadget"), 1))
        .then_state(|o| assert_eq!(o.items[0].product_name.as_deref(), Some("Widget")));
    AggregateTest::<Order>::given(with_item())
        .when(named(Some(" "), 1))
        .then_expect(vec![OrderEvent::ItemAdded {
            product_id: "sku-1".into(),
            product_name: None,
            quantity: 1,
            unit_price: cents(999),
        }]);
    AggregateTest::<Order>::given(with_item())
        .when(named(Some("Widget"), 1))
        .then_state(|o| {
            assert_eq!(o.items[0].product_name.as_deref(), Some("Widget"));
            assert_eq!(o.items[0].quantity, 3);
        });
}

#[test]
fn an_item_without_a_name_is_written_and_read_as_before() {
    use chronik_core::DomainEvent;
    // Written without the field, exactly as before it existed...
    let event = OrderEvent::ItemAdded {
        product_id: "sku-1".into(),
        product_name: None,
        quantity: 2,
        unit_price: cents(999),
    };
    assert_eq!(
        event.to_data().unwrap(),
        json!({ "productId": "sku-1", "quantity": 2, "unitPrice": 999 })
    );
    // ...and old events, and old commands, read back without a name.
    let old = json!({ "productId": "sku-1", "quantity": 2, "unitPrice": 999 });
    assert_eq!(OrderEvent::from_data("ItemAdded", old).unwrap(), event);
    let command: OrderCommand = serde_json::from_value(
        json!({ "type": "AddItem", "productId": "sku-1", "quantity": 2, "unitPrice": "9.99" }),
    )
    .unwrap();
    assert!(matches!(
        command,
        OrderCommand::AddItem {
            product_name: None,
            ..
        }
    ));
    let submitted = OrderEvent::OrderSubmitted {
        customer_id: "c".into(),
        items: vec![item("sku-1", 2, 999)],
        total: cents(1998),
    };
    assert_eq!(
        submitted.to_data().unwrap()["items"][0],
        json!({ "productId": "sku-1", "quantity": 2, "unitPrice": 999 })
    );
}
