//! The routes, one module per API, merged into one router. Later APIs (the generic
//! `/v1/stores`, live events) slot in as further modules.

pub mod bank;
pub mod ops;
pub mod orders;
pub mod seed004;

use axum::Router;

use crate::{ApiError, AppState};

/// Every route; unknown paths are a JSON 404.
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(bank::routes())
        .merge(seed004::routes())
        .merge(orders::routes())
        .merge(ops::routes())
        .fallback(|| async { ApiError::NotFound("no such route".to_string()) })
}
