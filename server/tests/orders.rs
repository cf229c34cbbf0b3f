//! Seed 003's order system over real HTTP on PostgreSQL: its walkthrough with the
//! bodies its upstream `api` crate takes and answers (create, get, submit, fulfil, the
//! saga, the events), an out-of-stock fulfilment that compensates, untracked products,
//! illegal transitions, bad input that appends nothing, and the active-orders list.

mod common;

use common::{assert_refused, TestServer};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// The request body seed 003's API tests send.
const WIDGETS: &str = r#"{"items":[{"product_id":"SKU-001","product_name":"Widget","quantity":2,"unit_price_cents":1000}]}"#;

/// Every event in the store.
async fn log_len(t: &TestServer) -> usize {
    let (status, all) = t.get("/events/stream").await;
    assert_eq!(status, StatusCode::OK, "{all}");
    all.as_array().unwrap().len()
}

/// Creates an order from `body`; its id.
async fn create(t: &TestServer, body: &str) -> String {
    let (status, created) = t.post("/orders", body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["state"], "Draft");
    let id = created["order_id"].as_str().unwrap().to_string();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id} is a UUID");
    id
}

fn is_uuid(v: &Value) -> bool {
    v.as_str().is_some_and(|s| uuid::Uuid::parse_str(s).is_ok())
}

/// The events' types and versions, checking each envelope's shape on the way.
fn types_and_versions(events: &Value, id: &str) -> Vec<(String, u64)> {
    events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let keys: Vec<_> = e.as_object().unwrap().keys().cloned().collect();
            assert_eq!(
                keys,
                [
                    "aggregate_id",
                    "event_id",
                    "event_type",
                    "payload",
                    "timestamp",
                    "version"
                ]
            );
            assert_eq!(e["aggregate_id"], id);
            assert!(!e["event_id"].as_str().unwrap().is_empty());
            let stamp = e["timestamp"].as_str().unwrap();
            let t = chrono::DateTime::parse_from_rfc3339(stamp)
                .unwrap_or_else(|err| panic!("{stamp} is not RFC 3339: {err}"));
            assert!(t.timestamp() > 1_600_000_000);
            assert!(e["payload"].is_object());
            (
                e["event_type"].as_str().unwrap().to_string(),
                e["version"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn owned(list: &[(&str, u64)]) -> Vec<(String, u64)> {
    list.iter().map(|(t, v)| (t.to_string(), *v)).collect()
}

/// Seed 003's walkthrough: create, get, submit, fulfil, the saga, the events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_walkthrough() {
    let t = TestServer::start().await;
    let id = create(&t, WIDGETS).await;

    let (status, order) = t.get(&format!("/orders/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{order}");
    assert!(is_uuid(&order["customer_id"]), "{order}");
    let customer = order["customer_id"].clone();
    let widgets = json!([{
        "product_id": "SKU-001",
        "product_name": "Widget",
        "quantity": 2,
        "unit_price_cents": 1000
    }]);
    assert_eq!(
        order,
        json!({
            "id": id,
            "customer_id": customer,
            "state": "Draft",
            "items": widgets,
            "total_cents": 2000
        })
    );

    let (status, events) = t.get(&format!("/orders/{id}/events")).await;
    assert_eq!(status, StatusCode::OK, "{events}");
    assert_eq!(
        types_and_versions(&events, &id),
        owned(&[("OrderCreated", 1), ("ItemAdded", 2)])
    );
    assert_eq!(events[0]["payload"], json!({ "customerId": customer }));
    assert_eq!(
        events[1]["payload"],
        json!({ "productId": "SKU-001", "productName": "Widget", "quantity": 2, "unitPrice": 1000 })
    );

    // Submitted: seed 003 shows it as Draft until the stock is reserved.
    let (status, submitted) = t.post(&format!("/orders/{id}/submit"), "").await;
    assert_eq!(status, StatusCode::OK, "{submitted}");
    assert_eq!(submitted["id"], id.as_str());
    assert_eq!(submitted["state"], "Draft");
    assert_eq!(submitted["total_cents"], 2000);

    let (status, fulfilled) = t.post(&format!("/orders/{id}/fulfill"), "").await;
    assert_eq!(status, StatusCode::OK, "{fulfilled}");
    assert_eq!(
        fulfilled,
        json!({ "saga_id": id, "saga_state": "Completed" })
    );

    let (status, saga) = t.get(&format!("/orders/{id}/saga")).await;
    assert_eq!(status, StatusCode::OK, "{saga}");
    let tracking = saga["tracking_number"].as_str().unwrap().to_string();
    assert!(tracking.starts_with("TRK"), "{tracking}");
    assert_eq!(
        saga,
        json!({
            "saga_id": id,
            "order_id": id,
            "state": "Completed",
            "completed_steps": ["reserve_inventory", "process_payment", "create_shipment"],
            "reservation_id": id,
            "payment_id": format!("pay-{id}"),
            "tracking_number": tracking,
            "failure_reason": null
        })
    );

    let (_, order) = t.get(&format!("/orders/{id}")).await;
    assert_eq!(order["state"], "Completed");
    assert_eq!(order["items"], widgets);
    let (_, events) = t.get(&format!("/orders/{id}/events")).await;
    assert_eq!(
        types_and_versions(&events, &id),
        owned(&[
            ("OrderCreated", 1),
            ("ItemAdded", 2),
            ("OrderSubmitted", 3),
            ("OrderReserved", 4),
            ("OrderProcessing", 5),
            ("OrderCompleted", 6),
        ])
    );
    assert_eq!(events[5]["payload"], json!({ "trackingNumber": tracking }));
    t.shutdown().await;
}

/// As seed 003's own API tests do: an order with a customer id, fulfilled straight from
/// Draft (the fulfilment submits it), with several items.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draft_is_fulfilled_directly_and_keeps_its_customer() {
    let t = TestServer::start().await;
    let customer = "6f1c2d3e-4b5a-4c6d-8e7f-901a2b3c4d5e";
    let id = create(
        &t,
        &json!({
            "customer_id": customer.to_uppercase(),
            "items": [
                { "product_id": "SKU-001", "product_name": "Widget", "quantity": 1, "unit_price_cents": 100 },
                { "product_id": "SKU-002", "product_name": "Gadget", "quantity": 3, "unit_price_cents": 250 },
                { "product_id": "SKU-001", "product_name": "Widget", "quantity": 2, "unit_price_cents": 100 }
            ]
        })
        .to_string(),
    )
    .await;
    let (_, order) = t.get(&format!("/orders/{id}")).await;
    assert_eq!(order["customer_id"], customer);
    assert_eq!(order["total_cents"], 1050);
    assert_eq!(order["items"][0]["quantity"], 3, "one line per product");
    // An id in another case names the same order.
    let (status, same) = t.get(&format!("/orders/{}", id.to_uppercase())).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(same["id"], id.as_str());

    let (status, fulfilled) = t.post(&format!("/orders/{id}/fulfill"), "").await;
    assert_eq!(status, StatusCode::OK, "{fulfilled}");
    assert_eq!(fulfilled["saga_state"], "Completed");
    let (_, events) = t.get(&format!("/orders/{id}/events")).await;
    let types: Vec<_> = types_and_versions(&events, &id)
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    assert_eq!(
        types,
        [
            "OrderCreated",
            "ItemAdded",
            "ItemAdded",
            "ItemAdded",
            "OrderSubmitted",
            "OrderReserved",
            "OrderProcessing",
            "OrderCompleted"
        ]
    );
    t.shutdown().await;
}

/// More units than are in stock: the saga fails its first step, releases the stock and
/// cancels the order with the reason; nothing stays reserved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_out_of_stock_fulfilment_compensates_and_cancels_the_order() {
    let t = TestServer::start().await;
    let (status, stock) = t
        .post("/inventory/SKU-LOW/receive", r#"{"quantity":1}"#)
        .await;
    assert_eq!(status, StatusCode::OK, "{stock}");
    assert_eq!(
        stock,
        json!({ "product_id": "SKU-LOW", "tracked": true, "on_hand": 1, "reserved": 0, "available": 1 })
    );
    let id = create(
        &t,
        r#"{"items":[
            {"product_id":"SKU-LOW","product_name":"Scarce","quantity":3,"unit_price_cents":500},
            {"product_id":"SKU-ANY","product_name":"Plenty","quantity":1,"unit_price_cents":100}
        ]}"#,
    )
    .await;
    let (status, fulfilled) = t.post(&format!("/orders/{id}/fulfill"), "").await;
    assert_eq!(status, StatusCode::OK, "{fulfilled}");
    assert_eq!(fulfilled, json!({ "saga_id": id, "saga_state": "Failed" }));

    let reason = "ReserveInventory failed: out of stock: SKU-LOW has 1 available, 3 requested";
    let (_, saga) = t.get(&format!("/orders/{id}/saga")).await;
    assert_eq!(
        saga,
        json!({
            "saga_id": id,
            "order_id": id,
            "state": "Failed",
            "completed_steps": [],
            "reservation_id": null,
            "payment_id": null,
            "tracking_number": null,
            "failure_reason": reason
        })
    );
    let (_, order) = t.get(&format!("/orders/{id}")).await;
    assert_eq!(order["state"], "Cancelled");
    let (_, events) = t.get(&format!("/orders/{id}/events")).await;
    let last = events.as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["event_type"], "OrderCancelled");
    assert_eq!(last["payload"], json!({ "reason": reason }));
    let (_, stock) = t.get("/inventory/SKU-LOW").await;
    assert_eq!(
        (&stock["on_hand"], &stock["reserved"]),
        (&json!(1), &json!(0))
    );
    // Finished: fulfilling again is refused and changes nothing.
    let before = log_len(&t).await;
    let again = t.post(&format!("/orders/{id}/fulfill"), "").await;
    assert_refused(&again, StatusCode::CONFLICT, "fulfilled already");
    assert_eq!(log_len(&t).await, before);
    t.shutdown().await;
}

/// A product whose stock was never received is always reservable, and stays
/// untracked; a received one is counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untracked_products_are_reservable_and_received_ones_are_counted() {
    let t = TestServer::start().await;
    let (status, untracked) = t.get("/inventory/SKU-NEW").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        untracked,
        json!({ "product_id": "SKU-NEW", "tracked": false, "on_hand": 0, "reserved": 0, "available": null })
    );
    let id = create(
        &t,
        r#"{"items":[{"product_id":"SKU-NEW","product_name":"New","quantity":1000000,"unit_price_cents":1}]}"#,
    )
    .await;
    let (_, fulfilled) = t.post(&format!("/orders/{id}/fulfill"), "").await;
    assert_eq!(fulfilled["saga_state"], "Completed", "{fulfilled}");
    let (_, still) = t.get("/inventory/SKU-NEW").await;
    assert_eq!(still, untracked);

    let (_, stock) = t
        .post(
            "/inventory/SKU-KEPT/receive",
            r#"{"quantity":5,"delivery_id":"d-1"}"#,
        )
        .await;
    assert_eq!(stock["available"], 5);
    // The same delivery again counts once.
    let (_, stock) = t
        .post(
            "/inventory/SKU-KEPT/receive",
            r#"{"quantity":5,"delivery_id":"d-1"}"#,
        )
        .await;
    assert_eq!(stock["on_hand"], 5);
    let id = create(
        &t,
        r#"{"items":[{"product_id":"SKU-KEPT","product_name":"Kept","quantity":2,"unit_price_cents":700}]}"#,
    )
    .await;
    let (_, fulfilled) = t.post(&format!("/orders/{id}/fulfill"), "").await;
    assert_eq!(fulfilled["saga_state"], "Completed", "{fulfilled}");
    let (_, stock) = t.get("/inventory/SKU-KEPT").await;
    assert_eq!(
        stock,
        json!({ "product_id": "SKU-KEPT", "tracked": true, "on_hand": 3, "reserved": 0, "available": 3 })
    );
    t.shutdown().await;
}

/// Steps the order's state does not allow are 409 and append nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn illegal_transitions_are_409_and_append_nothing() {
    let t = TestServer::start().await;
    let empty = create(&t, r#"{"items":[]}"#).await;
    let id = create(&t, WIDGETS).await;
    assert_eq!(
        t.post(&format!("/orders/{id}/submit"), "").await.0,
        StatusCode::OK
    );
    let before = log_len(&t).await;
    let twice = t.post(&format!("/orders/{id}/submit"), "").await;
    assert_refused(&twice, StatusCode::CONFLICT, "cannot submit");
    let nothing = t.post(&format!("/orders/{empty}/submit"), "").await;
    assert_refused(&nothing, StatusCode::CONFLICT, "empty order");
    let nothing = t.post(&format!("/orders/{empty}/fulfill"), "").await;
    assert_refused(&nothing, StatusCode::CONFLICT, "empty order");
    assert_eq!(log_len(&t).await, before);

    assert_eq!(
        t.post(&format!("/orders/{id}/fulfill"), "").await.0,
        StatusCode::OK
    );
    let before = log_len(&t).await;
    let done = t.post(&format!("/orders/{id}/submit"), "").await;
    assert_refused(&done, StatusCode::CONFLICT, "the order is Completed");
    let done = t.post(&format!("/orders/{id}/fulfill"), "").await;
    assert_refused(&done, StatusCode::CONFLICT, "its saga is Completed");
    assert_eq!(log_len(&t).await, before);
    t.shutdown().await;
}

/// Malformed requests are 400, unknown orders 404, a rule 422; none appends anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_400_unknown_orders_404_and_nothing_is_appended() {
    let t = TestServer::start().await;
    let item = |fields: Value| {
        let mut item = json!({ "product_id": "SKU-001", "product_name": "Widget", "quantity": 1, "unit_price_cents": 100 });
        for (k, v) in fields.as_object().unwrap() {
            if v.is_null() {
                item.as_object_mut().unwrap().remove(k);
            } else {
                item[k] = v.clone();
            }
        }
        item
    };
    let bad = [
        ("not json".to_string(), "invalid request body"),
        (r#"{"items":"none"}"#.to_string(), "invalid request body"),
        (r#"{}"#.to_string(), "missing field `items`"),
        (
            json!({ "items": [item(json!({ "product_name": null }))] }).to_string(),
            "product_name",
        ),
        (
            json!({ "items": [item(json!({ "quantity": -1 }))] }).to_string(),
            "invalid request body",
        ),
        (
            json!({ "items": [item(json!({ "quantity": 0 }))] }).to_string(),
            "quantity must be positive",
        ),
        (
            json!({ "items": [item(json!({ "unit_price_cents": 0 }))] }).to_string(),
            "unit_price_cents must be positive",
        ),
        (
            json!({ "items": [item(json!({ "unit_price_cents": 1.5 }))] }).to_string(),
            "invalid request body",
        ),
        (
            json!({ "items": [item(json!({ "product_id": " " }))] }).to_string(),
            "product id must not be empty",
        ),
        (
            json!({ "items": [item(json!({ "colour": "red" }))] }).to_string(),
            "unknown field",
        ),
        (
            json!({ "customer_id": "not-a-uuid", "items": [item(json!({}))] }).to_string(),
            "invalid customer_id",
        ),
        // A good item then a bad one: the order is not created either.
        (
            json!({ "items": [item(json!({})), item(json!({ "product_id": "SKU-2", "quantity": 0 }))] })
                .to_string(),
            "items[1]: quantity must be positive",
        ),
    ];
    for (body, part) in &bad {
        let refused = t.post("/orders", body).await;
        assert_refused(&refused, StatusCode::BAD_REQUEST, part);
    }
    // A rule: the same product at two prices.
    let refused = t
        .post(
            "/orders",
            &json!({ "items": [item(json!({})), item(json!({ "unit_price_cents": 200 }))] })
                .to_string(),
        )
        .await;
    assert_refused(&refused, StatusCode::UNPROCESSABLE_ENTITY, "items[1]");
    let refused = t
        .post("/inventory/SKU-1/receive", r#"{"quantity":0}"#)
        .await;
    assert_refused(&refused, StatusCode::BAD_REQUEST, "at least 1");
    let refused = t
        .post("/inventory/SKU-1/receive", r#"{"quantity":"many"}"#)
        .await;
    assert_refused(&refused, StatusCode::BAD_REQUEST, "invalid request body");
    assert_eq!(log_len(&t).await, 0, "nothing was appended");

    for path in ["", "/events", "/saga"] {
        let refused = t.get(&format!("/orders/not-a-uuid{path}")).await;
        assert_refused(&refused, StatusCode::BAD_REQUEST, "invalid order id");
    }
    let refused = t.post("/orders/not-a-uuid/submit", "").await;
    assert_refused(&refused, StatusCode::BAD_REQUEST, "invalid order id");
    let unknown = "0b9c1f4e-2a53-4e1c-9d47-3f5a6b7c8d9e";
    for path in ["", "/events", "/saga"] {
        let refused = t.get(&format!("/orders/{unknown}{path}")).await;
        assert_eq!(refused.0, StatusCode::NOT_FOUND, "{path}: {}", refused.1);
    }
    for path in ["/submit", "/fulfill"] {
        let refused = t.post(&format!("/orders/{unknown}{path}"), "").await;
        assert_refused(&refused, StatusCode::NOT_FOUND, "does not exist");
    }
    // A draft has no saga yet.
    let id = create(&t, WIDGETS).await;
    let refused = t.get(&format!("/orders/{id}/saga")).await;
    assert_refused(&refused, StatusCode::NOT_FOUND, "has no saga");
    assert_eq!(log_len(&t).await, 2, "only the good order was appended");
    t.shutdown().await;
}

/// `GET /orders` lists the active orders from the read model: drafts and submitted
/// orders (both `Draft` in seed 003's names), not completed or cancelled ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_orders_lists_the_active_orders() {
    let t = TestServer::start().await;
    let (status, none) = t.get("/orders").await;
    assert_eq!((status, none), (StatusCode::OK, json!([])));

    let draft = create(
        &t,
        r#"{"items":[{"product_id":"SKU-001","product_name":"Widget","quantity":1,"unit_price_cents":500}]}"#,
    )
    .await;
    let submitted = create(&t, WIDGETS).await;
    t.post(&format!("/orders/{submitted}/submit"), "").await;
    let completed = create(&t, WIDGETS).await;
    t.post(&format!("/orders/{completed}/fulfill"), "").await;
    t.post("/inventory/SKU-0/receive", r#"{"quantity":1}"#)
        .await;
    let cancelled = create(
        &t,
        r#"{"items":[{"product_id":"SKU-0","product_name":"None left","quantity":2,"unit_price_cents":1}]}"#,
    )
    .await;
    let (_, f) = t.post(&format!("/orders/{cancelled}/fulfill"), "").await;
    assert_eq!(f["saga_state"], "Failed");

    let (status, list) = t.get("/orders").await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let mut list = list.as_array().unwrap().clone();
    list.sort_by_key(|o| o["total_cents"].as_i64());
    let (_, draft_view) = t.get(&format!("/orders/{draft}")).await;
    let (_, submitted_view) = t.get(&format!("/orders/{submitted}")).await;
    assert_eq!(list, vec![draft_view, submitted_view]);
    assert_eq!(list[0]["total_cents"], 500);
    assert_eq!(list[1]["state"], "Draft");
    t.shutdown().await;
}
