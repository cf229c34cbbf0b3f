//! [`ApiError`]: every refusal of the HTTP API, as a status and a JSON body
//! `{"error": "..."}`. A refused request has appended nothing.

use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chronik_core::{HandlerError, HubError, ProjectionError, StoreError};
use chronik_examples::saga::SagaOutOfOrder;
use chronik_examples::{BankError, OrderError, SagaError};
use serde_json::json;

/// Why a request was refused. Each variant is one HTTP status; nothing was written.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed (bad JSON, a missing field, an amount with more
    /// than two decimals). Fix the request.
    #[error("{0}")]
    BadRequest(String),
    /// 404: no such account, order, projection or route.
    #[error("{0}")]
    NotFound(String),
    /// 409: the command does not fit the current state (an account that exists, a
    /// closed account, an order past that step). Reload and decide again.
    #[error("{0}")]
    Conflict(String),
    /// 409: other writers kept changing the stream while the command was retried.
    /// Retry the request.
    #[error("wrong expected version for stream '{stream}': expected {expected}, actual {actual}")]
    VersionConflict {
        /// The stream.
        stream: String,
        /// The version the last attempt expected.
        expected: String,
        /// The version the stream was at (`no stream` when it does not exist).
        actual: String,
    },
    /// 422: a business rule refused the command (insufficient funds, a non-empty
    /// account closed). Change the request.
    #[error("{0}")]
    Refused(String),
    /// 413: the request body is over the configured limit. Send less.
    #[error("request body is larger than the limit of {0} bytes")]
    TooLarge(usize),
    /// 408: the request took longer than the server allows; it was stopped where it
    /// was (an append not yet committed is not applied). Retry it: with event ids or
    /// idempotent commands a retry applies it at most once.
    #[error("the request took longer than the limit of {0:?}; retry it")]
    Timeout(std::time::Duration),
    /// 503: the database is unreachable or failed. Retry later.
    #[error("{0}")]
    Unavailable(String),
    /// 500: a bug or corrupt data; the message says what.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status of this refusal.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) | ApiError::VersionConflict { .. } => StatusCode::CONFLICT,
            ApiError::Refused(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A body that could not be read: over the limit (413) or broken (400).
    pub fn from_body(rejection: BytesRejection, limit: usize) -> ApiError {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge(limit)
        } else {
            ApiError::BadRequest(format!("cannot read the request body: {rejection}"))
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(%status, error = %self, "request failed");
        }
        if matches!(self, ApiError::VersionConflict { .. }) {
            metrics::counter!("chronik_conflicts_total", "outcome" => "refused").increment(1);
        }
        let body = match &self {
            ApiError::VersionConflict {
                expected, actual, ..
            } => json!({ "error": self.to_string(), "expected": expected, "actual": actual }),
            _ => json!({ "error": self.to_string() }),
        };
        (status, Json(body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::WrongExpectedVersion {
                stream,
                expected,
                actual,
            } => ApiError::VersionConflict {
                stream,
                expected: expected.to_string(),
                actual: actual.map_or_else(|| "no stream".to_string(), |v| v.to_string()),
            },
            StoreError::InvalidInput(_) => ApiError::BadRequest(e.to_string()),
            StoreError::PartialDuplicate { .. } | StoreError::DuplicateEventId { .. } => {
                ApiError::Conflict(e.to_string())
            }
            StoreError::Storage(_) | StoreError::Closed(_) | StoreError::Blocked(_) => {
                ApiError::Unavailable(e.to_string())
            }
            StoreError::QuotaExceeded(_) | StoreError::Corrupt(_) => {
                ApiError::Internal(e.to_string())
            }
        }
    }
}

/// How a domain's refusals map to statuses.
pub trait DomainRefusal: std::fmt::Display {
    /// The error for this refusal.
    fn api_error(&self) -> ApiError;
}

impl DomainRefusal for BankError {
    fn api_error(&self) -> ApiError {
        let message = self.to_string();
        match self {
            BankError::InvalidAmount(_) | BankError::EmptyOwner => ApiError::BadRequest(message),
            BankError::AccountNotFound => ApiError::NotFound(message),
            BankError::AccountAlreadyExists | BankError::AccountClosed => {
                ApiError::Conflict(message)
            }
            BankError::InsufficientFunds { .. }
            | BankError::BalanceNotZero { .. }
            | BankError::BalanceOverflow { .. } => ApiError::Refused(message),
        }
    }
}

impl DomainRefusal for OrderError {
    fn api_error(&self) -> ApiError {
        order_refusal(self)
    }
}

/// Order refusals: bad input is 400, a missing order 404, the rest (a step the state
/// machine does not allow now) 409.
fn order_refusal(e: &OrderError) -> ApiError {
    let message = e.to_string();
    match e {
        OrderError::OrderNotFound => ApiError::NotFound(message),
        OrderError::InvalidTransition { .. }
        | OrderError::OrderAlreadyExists
        | OrderError::ItemsLocked { .. }
        | OrderError::EmptyOrder => ApiError::Conflict(message),
        OrderError::TotalTooLarge { .. } | OrderError::PriceMismatch { .. } => {
            ApiError::Refused(message)
        }
        _ => ApiError::BadRequest(message),
    }
}

impl DomainRefusal for SagaOutOfOrder {
    fn api_error(&self) -> ApiError {
        ApiError::Conflict(format!("another request moved the saga first: {self}"))
    }
}

impl<R: DomainRefusal, V: std::fmt::Display> From<HandlerError<R, V>> for ApiError {
    fn from(e: HandlerError<R, V>) -> Self {
        match e {
            HandlerError::Rejected(reason) => reason.api_error(),
            HandlerError::Store(store) => store.into(),
            HandlerError::RetriesExhausted { source, .. } => source.into(),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<SagaError> for ApiError {
    fn from(e: SagaError) -> Self {
        let message = e.to_string();
        match e {
            SagaError::OrderNotFound(_) => ApiError::NotFound(message),
            SagaError::NotSubmitted { .. } => ApiError::Conflict(message),
            SagaError::Order(inner) => inner.into(),
            SagaError::Saga(inner) => inner.into(),
            SagaError::Service(_) => ApiError::Unavailable(message),
            SagaError::Interrupted(_) => ApiError::Unavailable(message),
        }
    }
}

impl From<HubError> for ApiError {
    fn from(e: HubError) -> Self {
        match e {
            HubError::Unknown(_) => ApiError::NotFound(e.to_string()),
            HubError::Duplicate(_) => ApiError::Internal(e.to_string()),
            HubError::Projection(p) => p.into(),
        }
    }
}

impl From<ProjectionError> for ApiError {
    fn from(e: ProjectionError) -> Self {
        match e {
            ProjectionError::Store(store) => store.into(),
            other => ApiError::Internal(other.to_string()),
        }
    }
}
