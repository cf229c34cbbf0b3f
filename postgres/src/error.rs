//! What can go wrong talking to PostgreSQL, and how it becomes a [`StoreError`].

use chronik_core::StoreError;
use tokio_postgres::error::SqlState;

/// An error of the PostgreSQL store. Every variant turns into the contract's
/// [`StoreError`] (`From`), so callers of the [`EventStore`](chronik_core::EventStore)
/// methods only ever see that.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// No connection could be taken from the pool (the server is down, refuses the
    /// connection, or the pool timed out). Nothing was written; retry later.
    #[error("cannot get a postgresql connection from the pool: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    /// A statement failed on the server or the connection broke. The transaction was
    /// rolled back, so nothing of it was written.
    #[error("postgresql: {}", describe(.0))]
    Postgres(#[from] tokio_postgres::Error),
    /// The database holds a newer chronik schema than this build knows: a newer chronik
    /// migrated it. Nothing was changed; run the newer chronik.
    #[error("the database has chronik schema version {found}, newer than version {known} that this build knows; upgrade chronik to use it")]
    SchemaTooNew {
        /// The schema version recorded in `chronik_schema`.
        found: i32,
        /// The newest schema version this build can migrate to.
        known: i32,
    },
    /// The store name is empty, blank or too long.
    #[error("invalid store name: {0}")]
    InvalidStoreName(String),
    /// A pool could not be built from the given configuration or URL.
    #[error("invalid postgresql configuration: {0}")]
    Config(String),
    /// A number does not fit the column that would hold it (a version, position or
    /// time past `i64::MAX`).
    #[error("{0} does not fit in a postgresql bigint")]
    OutOfRange(String),
    /// A stored row could not be decoded.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// A schema migration met stored data it cannot convert (an event whose free metadata
    /// keys hold a reserved key, see [`chronik_core::previous`]). Its transaction was
    /// rolled back: the database is at its previous schema version, nothing changed.
    #[error("chronik schema migration to version {version} failed and was rolled back, the database is unchanged: store '{store}': {source}")]
    Migration {
        /// The schema version the migration would have reached.
        version: i32,
        /// The store holding the event.
        store: String,
        /// Which event, and why.
        source: chronik_core::previous::MigrateError,
    },
}

/// A server error's message (with its detail) instead of tokio-postgres's bare
/// "db error".
fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => match db.detail() {
            Some(detail) => format!(
                "{} ({}; sqlstate {})",
                db.message(),
                detail,
                db.code().code()
            ),
            None => format!("{} (sqlstate {})", db.message(), db.code().code()),
        },
        None => e.to_string(),
    }
}

impl PgError {
    /// The SQLSTATE of a server error, if this is one.
    pub fn code(&self) -> Option<&SqlState> {
        match self {
            PgError::Postgres(e) => e.code(),
            _ => None,
        }
    }
}

impl From<PgError> for StoreError {
    fn from(e: PgError) -> Self {
        let message = e.to_string();
        match &e {
            PgError::InvalidStoreName(_) | PgError::OutOfRange(_) => {
                StoreError::InvalidInput(message)
            }
            PgError::SchemaTooNew { .. } | PgError::Corrupt(_) | PgError::Migration { .. } => {
                StoreError::Corrupt(message)
            }
            PgError::Postgres(_) if e.code() == Some(&SqlState::DISK_FULL) => {
                StoreError::QuotaExceeded(message)
            }
            _ => StoreError::Storage(message),
        }
    }
}
