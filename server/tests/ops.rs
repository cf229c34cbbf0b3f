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
