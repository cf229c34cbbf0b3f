//! Operations over real HTTP: liveness, readiness against the database, Prometheus
//! metrics that count what was served, and CORS only for the origins configured.

mod common;

use chronik_server::Options;
use common::TestServer;
use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_and_metrics_tell_what_happened() {
    let t = TestServer::start().await;
    assert_eq!(t.get("/health").await.0, StatusCode::OK);
    let ready = t.get("/ready").await;
    assert_eq!(
        ready,
        (StatusCode::OK, serde_json::json!({"status": "ready"}))
    );
    let open = t
        .post("/accounts/m-1", r#"{"type":"OpenAccount","owner":"Mo"}"#)
        .await;
    assert_eq!(open.0, StatusCode::OK, "{}", open.1);
    let refused = t
        .post("/accounts/m-1", r#"{"type":"Withdraw","amount":5}"#)
        .await;
    assert_eq!(refused.0, StatusCode::UNPROCESSABLE_ENTITY);

    let response = t
        .http
        .get(format!("{}/metrics", t.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let text = response.text().await.unwrap();
    // Metrics are process-wide (the tests of this file share the recorder): a count at
    // least as large as what this test did.
    let count = |needle: &str| -> f64 {
        text.lines()
            .filter(|l| !l.starts_with('#') && l.contains(needle))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    assert!(
        count(r#"route="/accounts/{id}",status="200""#) >= 1.0,
        "{text}"
    );
    assert!(
        count(r#"route="/accounts/{id}",status="422""#) >= 1.0,
        "{text}"
    );
    assert!(
        count("chronik_http_request_duration_seconds_count") >= 2.0,
        "{text}"
    );
    assert!(count("chronik_events_appended_total") >= 1.0, "{text}");
    assert!(
        text.contains(r#"chronik_projection_lag_events{projection="AccountBalances"}"#),
        "{text}"
    );
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_answers_the_configured_origins_only() {
    let mut options = Options::local();
    options.cors_origins = vec!["https://app.example".into()];
    let t = TestServer::with_options(options).await;
    let preflight = |origin: &'static str| {
        t.http
            .request(reqwest::Method::OPTIONS, format!("{}/accounts/c-1", t.url))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "content-type, authorization, last-event-id",
            )
            .send()
    };
    let allowed = preflight("https://app.example").await.unwrap();
    assert_eq!(
        allowed
            .headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap()),
        Some("https://app.example")
    );
    let headers = allowed.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    for header in ["content-type", "authorization", "last-event-id"] {
        assert!(headers.contains(header), "{header} in {headers}");
    }
    let other = preflight("https://evil.example").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());

    // Without configured origins, no CORS headers at all.
    let plain = TestServer::start().await;
    let r = plain
        .http
        .get(format!("{}/health", plain.url))
        .header("origin", "https://app.example")
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
    plain.shutdown().await;
    t.shutdown().await;
}

/// Holds the store's head row (every append takes it) in a transaction of its own until
/// dropped, and waits until an append of the server is blocked on it.
async fn hold_the_head(t: &TestServer) -> chronik_postgres::tokio_postgres::Client {
    let client = t.db.client().await;
    client
        .batch_execute("BEGIN; SELECT position FROM chronik_heads FOR UPDATE")
        .await
        .unwrap();
    client
}

async fn wait_for_a_blocked_append(client: &chronik_postgres::tokio_postgres::Client) {
    for _ in 0..400 {
        let row = client
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'",
                &[],
            )
            .await
            .unwrap();
        if row.get::<_, i64>(0) > 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("no append blocked on the head row within 10 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_past_its_timeout_is_408_and_appends_nothing() {
    let mut options = Options::local();
    options.request_timeout = std::time::Duration::from_secs(1);
    let t = TestServer::with_options(options).await;
    let open = t
        .post("/accounts/t-1", r#"{"type":"OpenAccount","owner":"Tim"}"#)
        .await;
    assert_eq!(open.0, StatusCode::OK, "{}", open.1);
    let lock = hold_the_head(&t).await;
    let slow = t
        .post("/accounts/t-1", r#"{"type":"Deposit","amount":5}"#)
        .await;
    assert_eq!(slow.0, StatusCode::REQUEST_TIMEOUT, "{}", slow.1);
    lock.batch_execute("ROLLBACK").await.unwrap();
    // The timed-out deposit's transaction never commits.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let account = t.get("/accounts/t-1").await;
    assert_eq!(account.1["version"], 1, "{}", account.1);
    assert_eq!(account.1["balance"], 0.0, "{}", account.1);
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_shutdown_finishes_the_request_in_flight() {
    let t = TestServer::start().await;
    let open = t
        .post("/accounts/g-1", r#"{"type":"OpenAccount","owner":"Gus"}"#)
        .await;
    assert_eq!(open.0, StatusCode::OK, "{}", open.1);
    let lock = hold_the_head(&t).await;
    let (http, url) = (t.http.clone(), t.url.clone());
    let in_flight = tokio::spawn(async move {
        http.post(format!("{url}/accounts/g-1"))
            .header("content-type", "application/json")
            .body(r#"{"type":"Deposit","amount":5}"#)
            .send()
            .await
    });
    wait_for_a_blocked_append(&lock).await;
    // Shut down while the deposit waits; let it go a moment later.
    let url = t.url.clone();
    let shutdown = tokio::spawn(t.shutdown());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        reqwest::get(format!("{url}/health")).await.is_err(),
        "a stopping server accepts no new connection"
    );
    lock.batch_execute("ROLLBACK").await.unwrap();
    let answer = in_flight
        .await
        .unwrap()
        .expect("the request in flight is answered");
    assert_eq!(answer.status(), StatusCode::OK);
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(body["version"], 2, "{body}");
    shutdown.await.expect("the server stopped cleanly");
}
