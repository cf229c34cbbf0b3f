//! Prometheus metrics: requests by route and status, their latency, appends, conflicts.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// The process's recorder (installed once, shared by every server in the process).
pub fn handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("chronik_http_request_duration_seconds".into()),
                    &BUCKETS,
                )
                .expect("the buckets are not empty")
                .build_recorder();
            let handle = recorder.handle();
            // Another recorder installed first (an embedding program's) keeps working;
            // ours then renders only what it saw, which is nothing.
            let _ = metrics::set_global_recorder(recorder);
            metrics::describe_counter!(
                "chronik_http_requests_total",
                "HTTP requests by method, route and status"
            );
            metrics::describe_histogram!(
                "chronik_http_request_duration_seconds",
                metrics::Unit::Seconds,
                "HTTP request latency by method and route"
            );
            metrics::describe_gauge!(
                "chronik_projection_lag_events",
                "events in the log past each read model's state, at the last scrape"
            );
            metrics::describe_counter!(
                "chronik_events_appended_total",
                "events appended by commands"
            );
            metrics::describe_counter!(
                "chronik_conflicts_total",
                "version conflicts: retried inside a command (retried) or answered 409 (refused)"
            );
            metrics::describe_counter!(
                "chronik_store_appends_total",
                "appends of the generic store API by outcome: appended (a retried batch answered from the store counts again), conflict (409 wrong expected version), refused (any other refusal)"
            );
            metrics::describe_counter!(
                "chronik_store_events_appended_total",
                "events in the generic store API's successful appends"
            );
            handle
        })
        .clone()
}

/// Middleware: counts the request and times it, labelled by its route template.
pub async fn record(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("chronik_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status).increment(1);
    metrics::histogram!("chronik_http_request_duration_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

/// Counts events appended by a command and the conflicts it retried.
pub fn command_done(appended: usize, attempts: u32) {
    metrics::counter!("chronik_events_appended_total").increment(appended as u64);
    if attempts > 1 {
        metrics::counter!("chronik_conflicts_total", "outcome" => "retried")
            .increment(u64::from(attempts - 1));
    }
}

/// Counts an append of the generic store API: its outcome (`appended`, `conflict`,
/// `refused`) and, when appended, its events. A conflict also counts as a refused
/// conflict in `chronik_conflicts_total`.
pub fn store_append(outcome: &'static str, events: usize) {
    metrics::counter!("chronik_store_appends_total", "outcome" => outcome).increment(1);
    if outcome == "appended" {
        metrics::counter!("chronik_store_events_appended_total").increment(events as u64);
    }
    if outcome == "conflict" {
        metrics::counter!("chronik_conflicts_total", "outcome" => "refused").increment(1);
    }
}
