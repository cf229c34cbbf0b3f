//! The routes, one module per API, merged into one router: `v1` the generic store API
//! (`/v1/stores/{store}/…`, live events, its OpenAPI document), the seed APIs beside it.

pub mod bank;
pub mod ops;
pub mod orders;
pub mod seed004;
pub mod v1;

use axum::Router;

use crate::{ApiError, AppState};

/// Every route; unknown paths are a JSON 404.
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(bank::routes())
        .merge(seed004::routes())
        .merge(orders::routes())
        .merge(ops::routes())
        .merge(v1::routes())
        .fallback(|| async { ApiError::NotFound("no such route".to_string()) })
}

/// `value` when it is not blank; otherwise 400 saying that `what` must not be empty.
pub(crate) fn non_empty(value: String, what: &str) -> Result<String, ApiError> {
    if value.trim().is_empty() {
        return Err(ApiError::BadRequest(format!("{what} must not be empty")));
    }
    Ok(value)
}
