//! Errors returned by event stores.

use crate::event::ExpectedVersion;

/// What can go wrong when talking to an [`EventStore`](crate::EventStore).
///
/// Every variant says what the caller can do about it. Whenever an error is returned
/// from an append, nothing was written.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StoreError {
    /// The stream was not at the expected version. Nothing was written; reload the
    /// stream (it is at `actual`, `None` meaning it does not exist) and decide again.
    #[error("wrong expected version for stream '{stream}': expected {expected}, actual {}", actual.map_or_else(|| "no stream".to_string(), |v| v.to_string()))]
    WrongExpectedVersion {
        /// The stream that was appended to.
        stream: String,
        /// The version the caller expected.
        expected: ExpectedVersion,
        /// The stream's actual version, `None` when the stream does not exist.
        actual: Option<u64>,
    },
    /// Some, but not all, of the event ids in the batch were already appended. Nothing
    /// was written; resend the original batch unchanged, or use fresh ids.
    #[error("event ids partly overlap an earlier append to stream '{stream}': {duplicate_ids:?} already exist")]
    PartialDuplicate {
        /// The stream that was appended to.
        stream: String,
        /// The ids in the batch that were already stored.
        duplicate_ids: Vec<String>,
    },
    /// An event id in the batch already belongs to another stream or another position.
    /// Nothing was written; use a fresh id.
    #[error("event id '{event_id}' already exists in stream '{existing_stream}'")]
    DuplicateEventId {
        /// The id that is already taken.
        event_id: String,
        /// The stream that holds it.
        existing_stream: String,
    },
    /// The input was rejected before anything was stored (empty stream id, empty batch,
    /// an id used twice in one batch, ...). Fix the input and retry.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The storage is full. Nothing was written; free space or export and clear data.
    #[error("storage quota exceeded: {0}")]
    QuotaExceeded(String),
    /// The underlying storage failed. Nothing was written; the operation may be retried.
    #[error("storage failure: {0}")]
    Storage(String),
    /// Stored data could not be decoded. The store may be corrupted or from a newer
    /// version of chronik.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// Opening, upgrading or deleting the database was blocked: another connection
    /// (usually another tab running an older version of the app) keeps it open and did
    /// not close when asked. Nothing was changed; close or reload the other tabs and retry.
    #[error("database upgrade blocked: {0}")]
    Blocked(String),
    /// The store's connection is closed: another tab opened a newer schema version of the
    /// database or deleted it. Nothing was written; reload the page to get the newer code.
    #[error("database closed: {0}")]
    Closed(String),
}
