//! [`AppError`]: why an operation of the app's api did not happen, in the kinds the
//! pages treat differently.

use chronik_core::sync::{ExecuteError, RunError};
use chronik_core::{HandlerError, HubError, ProjectionError, StoreError};
use chronik_examples::bank::TransferRunError;
use chronik_examples::saga::SagaError;
use chronik_examples::services::ServiceError;
use chronik_idb::replica_mode::ReplicaModeError;
use leptos::prelude::{ArcRwSignal, Get, Set};

/// Why an operation of the app did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppError {
    /// The database connection is closed: another tab upgraded the database (a newer
    /// version of the app) or deleted it. Nothing was written; reload the page. Every
    /// page then shows the reload banner (see [`store_closed`]).
    #[error("{0}")]
    StoreClosed(String),
    /// The domain refused the command (the reason in its words). Nothing was recorded.
    #[error("{0}")]
    Refused(String),
    /// The input is not valid (an empty id, an amount that does not parse). Nothing was
    /// recorded; fix it and retry.
    #[error("{0}")]
    InvalidInput(String),
    /// The store (or the data in it) failed. The operation may be retried.
    #[error("{0}")]
    Store(String),
}

impl AppError {
    /// Invalid input, with what to fix.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::InvalidInput(message.into())
    }

    /// A refusal, with its reason.
    pub fn refused(message: impl Into<String>) -> Self {
        Self::Refused(message.into())
    }

    /// A store failure, with what failed.
    pub fn store(message: impl Into<String>) -> Self {
        Self::Store(message.into())
    }

    /// Whether this is the closed store, for which only a reload helps.
    pub fn is_closed(&self) -> bool {
        matches!(self, Self::StoreClosed(_))
    }

    /// The same kind of error with `context` before its message.
    pub fn context(self, context: &str) -> Self {
        match self {
            Self::StoreClosed(m) => Self::StoreClosed(m),
            Self::Refused(m) => Self::Refused(format!("{context}: {m}")),
            Self::InvalidInput(m) => Self::InvalidInput(format!("{context}: {m}")),
            Self::Store(m) => Self::Store(format!("{context}: {m}")),
        }
    }
}

thread_local! {
    static CLOSED: ArcRwSignal<Option<String>> = ArcRwSignal::new(None);
}

/// Why the store was closed under the app, once an operation met it: the app shows the
/// reload banner while it is `Some`.
pub fn store_closed() -> Option<String> {
    CLOSED.with(|c| c.get())
}

/// Remembers that the store was closed (and why), for the banner.
fn closed(reason: String) -> AppError {
    CLOSED.with(|c| c.set(Some(reason.clone())));
    AppError::StoreClosed(reason)
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Closed(reason) => closed(reason),
            StoreError::InvalidInput(m) => Self::InvalidInput(m),
            StoreError::WrongExpectedVersion { .. }
            | StoreError::PartialDuplicate { .. }
            | StoreError::DuplicateEventId { .. } => Self::Refused(e.to_string()),
            other => Self::Store(other.to_string()),
        }
    }
}

impl From<ExecuteError> for AppError {
    fn from(e: ExecuteError) -> Self {
        match e {
            // The rule's own words, as when the command runs on the store directly.
            ExecuteError::Run(RunError::Refused(m)) => Self::Refused(m),
            ExecuteError::Run(RunError::Failed(m)) => Self::Store(m),
            ExecuteError::Store(e) => e.into(),
            ExecuteError::Abandoned { .. } => Self::Refused(e.to_string()),
            other => Self::Store(other.to_string()),
        }
    }
}

impl From<ReplicaModeError> for AppError {
    fn from(e: ReplicaModeError) -> Self {
        match e {
            ReplicaModeError::Store(e) => e.into(),
            ReplicaModeError::BadUrl(_) | ReplicaModeError::NoStore => {
                Self::InvalidInput(e.to_string())
            }
            ReplicaModeError::Start(_) => Self::Store(e.to_string()),
        }
    }
}

impl From<ProjectionError> for AppError {
    fn from(e: ProjectionError) -> Self {
        match e {
            ProjectionError::Store(e) => e.into(),
            other => Self::Store(other.to_string()),
        }
    }
}

impl From<HubError> for AppError {
    fn from(e: HubError) -> Self {
        match e {
            HubError::Projection(e) => e.into(),
            other => Self::Store(other.to_string()),
        }
    }
}

impl<E: std::error::Error> From<HandlerError<E>> for AppError {
    fn from(e: HandlerError<E>) -> Self {
        match e {
            HandlerError::Rejected(reason) => Self::Refused(reason.to_string()),
            HandlerError::Store(e) => e.into(),
            other => Self::Store(other.to_string()),
        }
    }
}

impl From<TransferRunError> for AppError {
    fn from(e: TransferRunError) -> Self {
        match e {
            TransferRunError::InvalidAmount(m) => {
                Self::InvalidInput(format!("invalid amount: {m}"))
            }
            TransferRunError::Transfer(h) => h.into(),
            TransferRunError::Account(h) => Self::from(h).context("account step failed"),
            TransferRunError::Replica(e) => Self::from(e).context("transfer step"),
            other => Self::Refused(other.to_string()),
        }
    }
}

impl From<ServiceError> for AppError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Store(e) => e.into(),
            other => Self::Refused(other.to_string()),
        }
    }
}

impl From<SagaError> for AppError {
    fn from(e: SagaError) -> Self {
        match e {
            SagaError::Order(h) => Self::from(h).context("order"),
            SagaError::Saga(h) => Self::from(h).context("saga stream"),
            SagaError::Service(s) => Self::from(s).context("service"),
            other => Self::Refused(other.to_string()),
        }
    }
}

/// The app's api results.
pub type AppResult<T> = Result<T, AppError>;
