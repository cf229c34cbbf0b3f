//! Operations: `GET /health` (the process answers), `GET /ready` (the database answers)
//! and `GET /metrics` (Prometheus text).

use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::{ApiError, AppState};

/// The operations routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
}

async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// 200 `{"status": "ready"}` when a pooled connection answers `SELECT 1`, else 503.
async fn ready(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let unavailable = |e: String| ApiError::Unavailable(format!("database not ready: {e}"));
    let client = state
        .engine
        .db()
        .get()
        .await
        .map_err(|e| unavailable(e.to_string()))?;
    client
        .query_one("SELECT 1", &[])
        .await
        .map_err(|e| unavailable(e.to_string()))?;
    Ok(Json(json!({ "status": "ready" })))
}

/// Prometheus text. Before rendering, sets `chronik_projection_lag_events` (events in
/// the log past each read model's state) from the hub, unless the hub is busy (a
/// rebuild) for longer than a second: a scrape never waits behind one.
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let lags = state.engine.with_hub(|_, hub| async move {
        let Ok(mut hub) = tokio::time::timeout(Duration::from_secs(1), hub.lock()).await else {
            return Ok(Vec::new());
        };
        let mut lags = Vec::new();
        for name in hub.names() {
            let info = hub.info(&name).await?;
            lags.push((name, info.lag));
        }
        Ok(lags)
    });
    if let Ok(lags) = lags.await {
        for (name, lag) in lags {
            metrics::gauge!("chronik_projection_lag_events", "projection" => name).set(lag as f64);
        }
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}
