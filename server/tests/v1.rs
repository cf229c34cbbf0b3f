//! The generic store API (`/v1/stores/{store}`) over real HTTP on PostgreSQL: appends,
//! reads, pages and filters, conflicts, idempotent retries across connections and
//! restarts, isolated stores, live events over SSE, gapless pages under concurrent
//! writers, the OpenAPI document against the router, and the append counters.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use chronik_core::RecordedEvent;
use chronik_server::Options;
use common::{assert_refused, TestServer};
use reqwest::StatusCode;
use serde_json::{json, Value};

fn events_of(body: &Value) -> Vec<RecordedEvent> {
    serde_json::from_value(body["events"].clone())
        .unwrap_or_else(|e| panic!("events in core's shape ({e}): {body}"))
}

fn positions(events: &[RecordedEvent]) -> Vec<u64> {
    events.iter().map(|e| e.position).collect()
}

fn batch(expected: Value, events: &[(&str, &str)]) -> String {
    let events: Vec<Value> = events
        .iter()
        .map(|(id, ty)| json!({ "id": id, "type": ty, "data": { "n": id } }))
        .collect();
    json!({ "expectedVersion": expected, "events": events }).to_string()
}

const S: &str = "/v1/stores/main";

/// Appends, stream reads both ways, log pages, type and prefix filters, lists, stats and
/// the refusals of malformed requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_read_page_and_filter() {
    let t = TestServer::start().await;
    let (status, first) = t
        .post(
            &format!("{S}/streams/account-1"),
            &batch(
                json!("noStream"),
                &[("e1", "Opened"), ("e2", "Deposited"), ("e3", "Deposited")],
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(
        first,
        json!({ "firstVersion": 1, "lastVersion": 3, "firstPosition": 1, "lastPosition": 3 })
    );
    let (status, order) = t
        .post(
            &format!("{S}/streams/order-1"),
            &batch(json!("any"), &[("o1", "Placed"), ("o2", "Paid")]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{order}");
    assert_eq!(order["lastPosition"], json!(5));
    let (status, more) = t
        .post(
            &format!("{S}/streams/account-1"),
            &json!({
                "expectedVersion": 3,
                "events": [{
                    "id": "e4", "type": "Withdrawn", "data": { "amount": 5 }, "schemaVersion": 2,
                    "metadata": { "correlationId": "c-1" }
                }]
            })
            .to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{more}");
    assert_eq!(more["lastVersion"], json!(4));
    assert_eq!(more["lastPosition"], json!(6));

    // The stream, forwards and backwards, in pages.
    let (status, all) = t.get(&format!("{S}/streams/account-1")).await;
    assert_eq!(status, StatusCode::OK);
    let events = events_of(&all);
    assert_eq!(
        events.iter().map(|e| e.version).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    assert_eq!(positions(&events), [1, 2, 3, 6]);
    assert_eq!(events[3].event_id, "e4");
    assert_eq!(events[3].event_type, "Withdrawn");
    assert_eq!(events[3].schema_version, 2);
    assert_eq!(events[3].data, json!({ "amount": 5 }));
    assert_eq!(events[3].metadata.correlation_id.as_deref(), Some("c-1"));
    assert!(events[3].recorded_at > 1_600_000_000_000);
    assert_eq!(all["next"], Value::Null);
    let (_, page) = t
        .get(&format!("{S}/streams/account-1?from=2&limit=2"))
        .await;
    assert_eq!(
        events_of(&page)
            .iter()
            .map(|e| e.version)
            .collect::<Vec<_>>(),
        [2, 3]
    );
    assert_eq!(page["next"], json!(4));
    let (_, back) = t
        .get(&format!("{S}/streams/account-1?direction=backward&limit=3"))
        .await;
    assert_eq!(
        events_of(&back)
            .iter()
            .map(|e| e.version)
            .collect::<Vec<_>>(),
        [4, 3, 2]
    );
    assert_eq!(back["next"], json!(1));
    let (status, none) = t.get(&format!("{S}/streams/nobody")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(none, json!({ "events": [], "next": null }));

    // The log in pages of 2: each starts right after the last, `next` is the cursor.
    let mut after = 0;
    let mut seen = Vec::new();
    loop {
        let (status, page) = t.get(&format!("{S}/events?after={after}&limit=2")).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let events = events_of(&page);
        assert_eq!(page["after"], json!(after));
        assert_eq!(page["head"], json!(6));
        if let Some(first) = events.first() {
            assert_eq!(
                first.position,
                after + 1,
                "a page starts right after the last"
            );
        }
        seen.extend(positions(&events));
        let next = page["next"].as_u64().unwrap();
        if events.is_empty() {
            assert_eq!(next, after);
            break;
        }
        after = next;
    }
    assert_eq!(seen, [1, 2, 3, 4, 5, 6]);

    // Filters.
    let (_, deposits) = t.get(&format!("{S}/events?types=Deposited,Paid")).await;
    assert_eq!(positions(&events_of(&deposits)), [2, 3, 5]);
    assert_eq!(
        deposits["next"],
        json!(6),
        "a short page covers up to the head"
    );
    let (_, orders) = t.get(&format!("{S}/events?prefix=order-")).await;
    assert_eq!(positions(&events_of(&orders)), [4, 5]);
    let (_, both) = t
        .get(&format!(
            "{S}/events?prefix=account-&types=Deposited&after=2&limit=1"
        ))
        .await;
    assert_eq!(positions(&events_of(&both)), [3]);
    assert_eq!(both["next"], json!(3), "a full page ends at its last event");

    // Lists and counts.
    let (status, streams) = t.get(&format!("{S}/streams")).await;
    assert_eq!(status, StatusCode::OK);
    let listed: Vec<(String, u64)> = streams["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["streamId"].as_str().unwrap().to_string(),
                s["version"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [("account-1".to_string(), 4), ("order-1".to_string(), 2)]
    );
    let (status, stats) = t.get(&format!("{S}/stats")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stats["eventCount"], json!(6));
    assert_eq!(stats["streamCount"], json!(2));
    assert_eq!(stats["headPosition"], json!(6));
    assert_eq!(stats["eventsByType"]["Deposited"], json!(2));

    // The export: core's NDJSON, one event a line in position order, the same bytes as
    // the same events exported from any other store.
    let response = t
        .http
        .get(format!("{}{S}/export", t.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "application/x-ndjson",
        "the export's media type"
    );
    let ndjson = response.text().await.unwrap();
    let exported: Vec<RecordedEvent> = ndjson
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let (_, all) = t.get(&format!("{S}/events?after=0")).await;
    assert_eq!(exported, events_of(&all));
    let memory = chronik_core::MemoryStore::new(
        chronik_core::ManualClock::new(0),
        chronik_core::SequentialIds::new("m"),
    );
    chronik_core::EventStore::import_events(&memory, exported)
        .await
        .unwrap();
    let mut same = String::new();
    chronik_core::export_ndjson(&memory, 7, |c| same.push_str(c))
        .await
        .unwrap();
    assert_eq!(ndjson, same);

    // Malformed requests: 400, nothing written.
    let stream = format!("{S}/streams/account-1");
    for body in [
        r#"{"expectedVersion":-1,"events":[{"type":"A","data":1}]}"#,
        r#"{"expectedVersion":"whenever","events":[{"type":"A","data":1}]}"#,
        r#"{"expectedVersion":1.5,"events":[{"type":"A","data":1}]}"#,
        r#"{"expectedVersion":"any","events":[]}"#,
        r#"{"expectedVersion":"any","events":[{"type":"A"}]}"#,
        r#"{"expectedVersion":"any","events":[{"type":"A","data":1,"extra":true}]}"#,
        r#"{"events":[{"type":"A","data":1}]}"#,
        r#"{"expectedVersion":"any","events":[{"type":"A","data":1,"schemaVersion":0}]}"#,
        r#"not json"#,
    ] {
        let got = t.post(&stream, body).await;
        assert_eq!(got.0, StatusCode::BAD_REQUEST, "{body}: {}", got.1);
        assert!(got.1["error"].is_string());
    }
    for query in [
        "events?limit=0",
        "events?limit=100000",
        "events?after=x",
        "events?offset=1",
        "streams/account-1?direction=sideways",
    ] {
        let got = t.get(&format!("{S}/{query}")).await;
        assert_eq!(got.0, StatusCode::BAD_REQUEST, "{query}: {}", got.1);
    }
    assert_refused(
        &t.get("/v1/stores/%20/events").await,
        StatusCode::BAD_REQUEST,
        "store name",
    );
    assert_eq!(t.get(&format!("{S}/stats")).await.1["eventCount"], json!(6));
    t.shutdown().await;
}

/// A wrong expected version is 409 with the stream, what was expected (as the request
/// wrote it) and the stream's version, and writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflict_says_expected_and_actual() {
    let t = TestServer::start().await;
    let stream = format!("{S}/streams/account-7");
    let body = batch(json!(0), &[("a", "Opened"), ("b", "Deposited")]);
    assert_eq!(t.post(&stream, &body).await.0, StatusCode::OK);
    for (expected, actual) in [
        (json!("noStream"), json!(2)),
        (json!(1), json!(2)),
        (json!(0), json!(2)),
    ] {
        let (status, body) = t
            .post(&stream, &batch(expected.clone(), &[("c", "Deposited")]))
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert_eq!(body["expected"], expected);
        assert_eq!(body["actual"], actual);
        assert_eq!(body["stream"], json!("account-7"));
        assert!(body["error"]
            .as_str()
            .unwrap()
            .contains("wrong expected version"));
    }
    let (status, body) = t
        .post(
            &format!("{S}/streams/account-8"),
            &batch(json!("streamExists"), &[("d", "Deposited")]),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["expected"], json!("streamExists"));
    assert_eq!(body["actual"], Value::Null);
    let (_, stats) = t.get(&format!("{S}/stats")).await;
    assert_eq!(
        stats["headPosition"],
        json!(2),
        "no conflict wrote anything"
    );

    // The conflicts and appends are counted.
    let response = t
        .http
        .get(format!("{}/metrics", t.url))
        .send()
        .await
        .unwrap();
    let text = response.text().await.unwrap();
    for series in [
        "chronik_store_appends_total{outcome=\"appended\"}",
        "chronik_store_appends_total{outcome=\"conflict\"}",
        "chronik_store_events_appended_total",
        "chronik_conflicts_total{outcome=\"refused\"}",
    ] {
        assert!(text.contains(series), "{series} missing from:\n{text}");
    }
    t.shutdown().await;
}

/// The same batch again answers the same result and writes nothing: on another
/// connection, and after the server restarted. An overlap that is not the same batch is
/// refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_append_is_idempotent_across_connections_and_restarts() {
    let mut t = TestServer::start().await;
    let stream = format!("{S}/streams/cart-1");
    assert_eq!(
        t.post(
            &format!("{S}/streams/other-1"),
            &batch(json!("any"), &[("x", "X")])
        )
        .await
        .0,
        StatusCode::OK
    );
    let body = batch(json!("noStream"), &[("i-1", "Added"), ("i-2", "Added")]);
    let (status, original) = t.post(&stream, &body).await;
    assert_eq!(status, StatusCode::OK, "{original}");
    assert_eq!(
        original,
        json!({ "firstVersion": 1, "lastVersion": 2, "firstPosition": 2, "lastPosition": 3 })
    );
    let again = t.post(&stream, &body).await;
    assert_eq!(again, (StatusCode::OK, original.clone()));
    // Another client: new connections.
    let other = reqwest::Client::new();
    let response = other
        .post(format!("{}{stream}", t.url))
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap(), original);

    // A restart: a new server (engine, workers, pool) on the same database.
    let server = t.server.take().unwrap();
    server.shutdown().await.unwrap();
    let server = chronik_server::start(Options::local(), t.db.pool(8))
        .await
        .expect("the server starts again");
    t.url = server.url();
    t.server = Some(server);
    assert_eq!(t.post(&stream, &body).await, (StatusCode::OK, original));

    // Not the same batch: a partial overlap, an id of another stream.
    assert_refused(
        &t.post(
            &stream,
            &batch(json!("any"), &[("i-2", "Added"), ("i-3", "Added")]),
        )
        .await,
        StatusCode::CONFLICT,
        "i-2",
    );
    assert_refused(
        &t.post(
            &format!("{S}/streams/cart-2"),
            &batch(json!("any"), &[("i-1", "Added")]),
        )
        .await,
        StatusCode::CONFLICT,
        "i-1",
    );
    let (_, log) = t.get(&format!("{S}/events")).await;
    assert_eq!(
        positions(&events_of(&log)),
        [1, 2, 3],
        "nothing written twice"
    );
    t.shutdown().await;
}

/// Two stores in one database: each has its own log from position 1, its own streams
/// and counts, and an event id of one is free in the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stores_are_isolated() {
    let t = TestServer::start().await;
    let a = "/v1/stores/alpha";
    let b = "/v1/stores/beta%20two";
    assert_eq!(
        t.post(
            &format!("{a}/streams/s-1"),
            &batch(json!("noStream"), &[("same-id", "A1"), ("a2", "A2")])
        )
        .await
        .0,
        StatusCode::OK
    );
    let (status, in_b) = t
        .post(
            &format!("{b}/streams/s-1"),
            &batch(json!("noStream"), &[("same-id", "B1")]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{in_b}");
    assert_eq!(
        in_b,
        json!({ "firstVersion": 1, "lastVersion": 1, "firstPosition": 1, "lastPosition": 1 })
    );
    let (_, log_a) = t.get(&format!("{a}/events")).await;
    let (_, log_b) = t.get(&format!("{b}/events")).await;
    let types = |log: &Value| {
        events_of(log)
            .into_iter()
            .map(|e| e.event_type)
            .collect::<Vec<_>>()
    };
    assert_eq!(types(&log_a), ["A1", "A2"]);
    assert_eq!(types(&log_b), ["B1"]);
    assert_eq!(log_b["head"], json!(1));
    let (_, stream_b) = t.get(&format!("{b}/streams/s-1")).await;
    assert_eq!(events_of(&stream_b).len(), 1);
    assert_eq!(t.get(&format!("{a}/stats")).await.1["eventCount"], json!(2));
    assert_eq!(t.get(&format!("{b}/stats")).await.1["eventCount"], json!(1));
    let (_, empty) = t.get("/v1/stores/gamma/streams").await;
    assert_eq!(empty, json!({ "streams": [] }));
    // The seed APIs' default store is a store like the others.
    assert_eq!(
        t.post(
            "/commands/open-account",
            r#"{"accountId":"acc-1","initialBalance":10}"#
        )
        .await
        .0,
        StatusCode::CREATED
    );
    let (_, default) = t.get("/v1/stores/default/events").await;
    assert_eq!(events_of(&default).len(), 1);
    assert_eq!(t.get(&format!("{a}/stats")).await.1["eventCount"], json!(2));
    t.shutdown().await;
}

/// A Server-Sent Events reader of `path` on `url`.
struct Live {
    response: reqwest::Response,
    buffer: String,
}

impl Live {
    async fn connect(t: &TestServer, path: &str, last_event_id: Option<u64>) -> Live {
        let mut request = t.http.get(format!("{}{path}", t.url));
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id.to_string());
        }
        let response = request.send().await.expect("GET live");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        Live {
            response,
            buffer: String::new(),
        }
    }

    /// The next event (its SSE id and its data), waiting at most 20 s for it.
    async fn next(&mut self) -> (u64, RecordedEvent) {
        tokio::time::timeout(Duration::from_secs(20), self.next_event())
            .await
            .expect("an event within 20 s")
    }

    async fn next_event(&mut self) -> (u64, RecordedEvent) {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut id = None;
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = Some(v.trim().parse::<u64>().expect("a numeric id"));
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    } else if line.starts_with("event:") {
                        panic!("an unexpected named event: {block}");
                    }
                }
                if data.is_empty() {
                    continue; // a keep-alive comment
                }
                let event: RecordedEvent = serde_json::from_str(&data).expect("an event");
                return (id.expect("an id"), event);
            }
            let chunk = self
                .response
                .chunk()
                .await
                .expect("the stream reads")
                .expect("the stream stays open");
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }
}

/// A live reader gets what was stored, then what is appended after it connected, in
/// order, each with its position as the SSE id; reconnecting with `Last-Event-ID`
/// resumes right after it. An open live response does not hold up a shutdown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_events_arrive_in_order_and_resume_from_last_event_id() {
    // No poll in this test's time: new events arrive through the append notices alone.
    let t = TestServer::with_options(Options {
        live_poll: Duration::from_secs(3600),
        ..Options::local()
    })
    .await;
    let stream = |s: &str| format!("{S}/streams/{s}");
    assert_eq!(
        t.post(
            &stream("a-1"),
            &batch(json!("noStream"), &[("1", "T"), ("2", "T")])
        )
        .await
        .0,
        StatusCode::OK
    );
    let mut live = Live::connect(&t, &format!("{S}/live"), None).await;
    for expected in [1, 2] {
        let (id, event) = live.next().await;
        assert_eq!((id, event.position), (expected, expected));
    }
    assert_eq!(
        t.post(
            &stream("b-1"),
            &batch(json!("any"), &[("3", "T"), ("4", "U")])
        )
        .await
        .0,
        StatusCode::OK
    );
    assert_eq!(
        t.post(&stream("a-1"), &batch(json!(2), &[("5", "T")]))
            .await
            .0,
        StatusCode::OK
    );
    for (expected, event_id, stream_id) in [(3, "3", "b-1"), (4, "4", "b-1"), (5, "5", "a-1")] {
        let (id, event) = live.next().await;
        assert_eq!(id, expected);
        assert_eq!(event.position, expected);
        assert_eq!(event.event_id, event_id);
        assert_eq!(event.stream_id, stream_id);
    }
    drop(live);

    // Missed while disconnected: 6 and 7.
    assert_eq!(
        t.post(
            &stream("c-1"),
            &batch(json!("any"), &[("6", "T"), ("7", "T")])
        )
        .await
        .0,
        StatusCode::OK
    );
    let mut resumed = Live::connect(&t, &format!("{S}/live?after=1"), Some(5)).await;
    assert_eq!(resumed.next().await.0, 6, "Last-Event-ID wins over after");
    assert_eq!(resumed.next().await.0, 7);
    assert_eq!(
        t.post(&stream("c-1"), &batch(json!(2), &[("8", "T")]))
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(resumed.next().await.0, 8, "nothing twice, nothing skipped");

    // Filtered: only U events, from the start.
    let mut only_u = Live::connect(&t, &format!("{S}/live?types=U"), None).await;
    assert_eq!(only_u.next().await.0, 4);
    assert_eq!(
        t.post(
            &stream("d-1"),
            &batch(json!("any"), &[("9", "T"), ("10", "U")])
        )
        .await
        .0,
        StatusCode::OK
    );
    assert_eq!(only_u.next().await.0, 10);

    // A seed API's write to the default store wakes its live readers too.
    let mut default = Live::connect(&t, "/v1/stores/default/live", None).await;
    assert_eq!(
        t.post("/commands/open-account", r#"{"accountId":"acc-1"}"#)
            .await
            .0,
        StatusCode::CREATED
    );
    assert_eq!(default.next().await.1.stream_id, "account-acc-1");

    assert_eq!(
        t.get(&format!("{S}/live?after=nope")).await.0,
        StatusCode::BAD_REQUEST
    );
    // An open live response does not hold up a graceful shutdown.
    drop((only_u, resumed));
    let _keep_open = default;
    t.shutdown().await;
}

/// Appends by another server process on the same database reach a live reader through
/// its poll of the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_readers_see_appends_of_other_processes() {
    let t = TestServer::with_options(Options {
        live_poll: Duration::from_millis(100),
        ..Options::local()
    })
    .await;
    let other = chronik_server::start(Options::local(), t.db.pool(4))
        .await
        .expect("a second server");
    let mut live = Live::connect(&t, &format!("{S}/live"), None).await;
    let response = t
        .http
        .post(format!("{}{S}/streams/x-1", other.url()))
        .header("content-type", "application/json")
        .body(batch(json!("any"), &[("p", "T"), ("q", "T")]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(live.next().await.1.event_id, "p");
    assert_eq!(live.next().await.1.event_id, "q");
    drop(live);
    other.shutdown().await.unwrap();
    t.shutdown().await;
}

/// While 6 writers append concurrently, a reader paging after its last position sees
/// every position exactly once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_stay_gapless_under_concurrent_writers() {
    let t = TestServer::start().await;
    const WRITERS: u64 = 6;
    const BATCHES: u64 = 15;
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let (http, url) = (t.http.clone(), t.url.clone());
        writers.push(tokio::spawn(async move {
            for b in 0..BATCHES {
                let body = batch(
                    json!("any"),
                    &[(&format!("{w}-{b}-1"), "T"), (&format!("{w}-{b}-2"), "T")],
                );
                let response = http
                    .post(format!("{url}{S}/streams/w-{}", b % 3))
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), StatusCode::OK);
            }
        }));
    }
    let total = WRITERS * BATCHES * 2;
    let mut after = 0;
    let mut ids = BTreeSet::new();
    while after < total {
        let (status, page) = t.get(&format!("{S}/events?after={after}&limit=7")).await;
        assert_eq!(status, StatusCode::OK);
        let events = events_of(&page);
        for (i, e) in events.iter().enumerate() {
            assert_eq!(e.position, after + 1 + i as u64, "a gap or a reordering");
            assert!(ids.insert(e.event_id.clone()));
        }
        after = page["next"].as_u64().unwrap();
        if let Some(last) = events.last() {
            assert_eq!(after, last.position);
        }
    }
    for w in writers {
        w.await.unwrap();
    }
    assert_eq!(ids.len() as u64, total);
    t.shutdown().await;
}

/// The OpenAPI document parses, lists exactly the routes the router serves under `/v1`,
/// and each of them answers (no 404 "no such route", no 405).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_matches_the_router() {
    let t = TestServer::start().await;
    let (status, spec) = t.get("/v1/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."));
    let file: Value = serde_json::from_str(chronik_server::routes::v1::OPENAPI).unwrap();
    assert_eq!(file, spec);
    let methods = ["get", "post", "put", "patch", "delete", "head", "options"];
    let mut documented = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (key, op) in item.as_object().unwrap() {
            if methods.contains(&key.as_str()) {
                assert!(op["responses"].is_object(), "{key} {path} has responses");
                documented.insert((key.to_uppercase(), path.clone()));
            }
        }
    }
    let served: BTreeSet<(String, String)> = chronik_server::routes::v1::route_list()
        .into_iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(documented, served);
    // Every `$ref` resolves.
    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    out.push(r.clone());
                }
                m.values().for_each(|v| refs(v, out));
            }
            Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&spec, &mut all);
    for r in all {
        let name = r.strip_prefix("#/components/schemas/").unwrap();
        assert!(spec["components"]["schemas"][name].is_object(), "{r}");
    }
    for (method, path) in served {
        let concrete = path.replace("{store}", "probe").replace("{stream}", "s-1");
        let url = format!("{}{concrete}", t.url);
        let request = match method.as_str() {
            "GET" => t.http.get(&url),
            "POST" => t
                .http
                .post(&url)
                .header("content-type", "application/json")
                .body(batch(json!("any"), &[("probe", "Probe")])),
            other => panic!("no probe for {other}"),
        };
        let response = tokio::time::timeout(Duration::from_secs(20), request.send())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{method} {path}");
    }
    // And a route that is not documented is not served.
    let (status, _) = t.get("/v1/stores/probe/nothing").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    t.shutdown().await;
}
