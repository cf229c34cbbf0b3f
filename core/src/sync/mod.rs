//! Sync: a local store as a replica of a server store (see "Sync" in ARCHITECTURE.md).
//!
//! The local store keeps two things apart: the *confirmed log*, a gapless prefix of the
//! server's log with the server's positions (the store's own [`EventStore`] log, written
//! only by [`EventStore::import_events`] inside a [`ReplicaStore::write_replica`]), and the
//! *outbox*, the [`PendingBatch`]es written here and not yet confirmed, each with what is
//! needed to decide it again. What a user sees is the [`Overlay`]: confirmed, then pending.
//!
//! - [`Replica`]: local writes ([`Replica::execute`] a command, [`Replica::append`] raw
//!   events), the view, the pending batches and the conflicts, discard and retry.
//! - [`SyncEngine`]: one [`step`](SyncEngine::step) at a time of the pull/push state
//!   machine over a [`Transport`]; no timers, clock or IO of its own.
//! - [`CommandRunner`]: how a shell decides a command again (rebase), on any store.
//! - [`plan_replica_write`]: the one decision every [`ReplicaStore`] makes inside its write.
//! - [`plan_adoption`], [`plan_adoption_write`]: a never-synced store's own log made
//!   pending ([`ReplicaStore::adopt_local_log`]), so its history is uploaded.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::event::{AppendResult, ExpectedVersion, NewEvent, RecordedEvent};
use crate::store::EventStore;

mod adopt;
mod engine;
mod overlay;
mod replica;

pub use adopt::{plan_adoption, plan_adoption_write};
pub use engine::{StepOutcome, SyncEngine, SyncError};
pub use overlay::{Decision, Overlay};
pub use replica::{
    plan_replica_write, ExecuteError, Replica, ReplicaContext, ReplicaState, ReplicaStore,
    ReplicaWrite, OUTBOX_STREAM,
};

/// A command as the outbox keeps it, so that it can be decided again: a name the shell's
/// [`CommandRunner`] knows and its input as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingCommand {
    /// The command's name, such as `bank.withdraw`.
    pub name: String,
    /// The command's input.
    pub input: Value,
}

/// Where a pending batch came from, which decides what a rebase does with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum BatchOrigin {
    /// A command: on a version conflict it is decided again on the fresh state.
    Command {
        /// The command.
        command: PendingCommand,
    },
    /// A raw append: pushed as it is; when its expected version no longer holds it
    /// becomes a [`Conflict`], never applied blindly.
    Raw,
}

/// Local events not yet confirmed by the server: one append, as it will be pushed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingBatch {
    /// The batch's id, unique across devices (from the replica's `IdSource`).
    pub id: String,
    /// The stream the batch appends to.
    pub stream_id: String,
    /// The expected version it was decided against (the local view's version).
    pub expected: ExpectedVersion,
    /// The events, every one with its id: a push is retried with exactly these.
    pub events: Vec<NewEvent>,
    /// A command (rebased by deciding it again) or a raw append.
    pub origin: BatchOrigin,
    /// How many times the batch was decided again (0: as first written). Part of its
    /// event ids, `{id}.{attempt}.{n}`, so a rebased batch never reuses an id.
    pub attempt: u32,
    /// When it was written locally (ms since the Unix epoch); its events show this time
    /// until they are confirmed.
    pub created_at: i64,
    /// The server's answer once it accepted the batch; the batch stays here, still
    /// shown, until a pull brings its events with their positions and times.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pushed: Option<AppendResult>,
    /// How many of its leading events a pull already brought into the confirmed log
    /// (a page may end inside a batch); the view shows only the rest.
    #[serde(default)]
    pub confirmed: usize,
}

impl PendingBatch {
    /// Whether the server has (or may have) the batch: acknowledged, or partly pulled. Such
    /// a batch is never decided again.
    pub fn is_committed(&self) -> bool {
        self.pushed.is_some() || self.confirmed > 0
    }

    /// The events not yet in the confirmed log.
    pub fn unconfirmed(&self) -> &[NewEvent] {
        self.events.get(self.confirmed..).unwrap_or_default()
    }

    /// The operation the batch is one step of: its events' correlation id when it is
    /// not their causation id (a command that starts its own correlation is an
    /// operation of one step). The steps of a transfer or a saga share one. When a step
    /// becomes a conflict, the later pending steps of its operation are
    /// [abandoned](ConflictReason::Abandoned): they were decided on the assumption that
    /// it succeeded.
    pub fn operation(&self) -> Option<&str> {
        let metadata = &self.events.first()?.metadata;
        let correlation = metadata.correlation_id.as_deref()?;
        (metadata.causation_id.as_deref() != Some(correlation)).then_some(correlation)
    }
}

/// Why a batch became a conflict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum ConflictReason {
    /// Decided again on the server's state, the command was refused (the aggregate's
    /// reason, such as insufficient funds).
    Rejected {
        /// The refusal.
        message: String,
    },
    /// A raw append's expected version no longer holds.
    #[serde(rename_all = "camelCase")]
    VersionConflict {
        /// What the batch expected.
        expected: ExpectedVersion,
        /// The stream's version on the fresh state (`None`: no stream).
        actual: Option<u64>,
    },
    /// The server refused the batch with a definite answer (invalid input, an id used
    /// with other content).
    Refused {
        /// The server's message.
        message: String,
    },
    /// An earlier step of the same [operation](PendingBatch::operation) (a transfer's
    /// debit, a saga's step) became a conflict, and this step was decided on the
    /// assumption that it succeeded: it is not sent. Retrying it alone is refused; retry
    /// or discard the step that failed (the operation's process manager finishes it from
    /// what the server has).
    Abandoned {
        /// The operation (the correlation id).
        operation: String,
        /// The batch that became a conflict first.
        batch: String,
    },
}

impl std::fmt::Display for ConflictReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConflictReason::Rejected { message } => write!(f, "command rejected: {message}"),
            ConflictReason::VersionConflict { expected, actual } => write!(
                f,
                "the stream moved: expected {expected}, actual {}",
                actual.map_or_else(|| "no stream".to_string(), |v| v.to_string())
            ),
            ConflictReason::Refused { message } => write!(f, "refused by the server: {message}"),
            ConflictReason::Abandoned { operation, batch } => write!(
                f,
                "not sent: an earlier step of {operation} (batch {batch}) is a conflict"
            ),
        }
    }
}

/// A batch the server will not take as it is: nothing of it is applied anywhere. The
/// user sees it, and discards or retries it ([`Replica::discard`], [`Replica::retry`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Conflict {
    /// The batch as it was last pending (its command, or its raw events).
    pub batch: PendingBatch,
    /// Why.
    pub reason: ConflictReason,
    /// When it became a conflict (ms since the Unix epoch).
    pub at: i64,
}

/// Where a sync stands, as a shell shows it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SyncStatus {
    /// The last call to the server failed on the network; the next step retries.
    Offline,
    /// No call to the server has answered yet.
    #[default]
    Connecting,
    /// Catching up with the server's log.
    Pulling,
    /// Sending pending batches.
    Pushing,
    /// Caught up, nothing to send.
    Live,
    /// A failure that retrying will not fix by itself (see the last error).
    Error,
}

/// A page of the server's log: `GET …/events?after=&limit=`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PullPage {
    /// The events after `after`, in position order.
    pub events: Vec<RecordedEvent>,
    /// The position the page was asked after.
    pub after: u64,
    /// The next page's `after`.
    pub next: u64,
    /// The server's head when the page was read.
    pub head: u64,
}

/// Why a push got no `AppendResult`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PushError {
    /// Definite: the stream is not at the expected version; nothing was written.
    #[error("wrong expected version: actual {}", actual.map_or_else(|| "no stream".to_string(), |v| v.to_string()))]
    WrongExpectedVersion {
        /// The stream's version on the server (`None`: no stream).
        actual: Option<u64>,
    },
    /// Definite: the server refused the batch (4xx other than a version conflict);
    /// nothing was written, and sending it again would be refused again.
    #[error("refused: {0}")]
    Refused(String),
    /// Indefinite: no answer (network down, timeout, server restarting, 5xx). The batch
    /// may or may not be written; send exactly the same batch again.
    #[error("network failure: {0}")]
    Network(String),
}

/// Why a pull got no page.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PullError {
    /// Definite: the server refused the request (unknown store, no access).
    #[error("refused: {0}")]
    Refused(String),
    /// No answer; ask again.
    #[error("network failure: {0}")]
    Network(String),
}

/// The server as sync sees it: one server store. Implemented by the shell over HTTP
/// (`POST …/streams/{stream}`, `GET …/events`), by tests in memory. The futures have no
/// `Send` bound.
#[allow(async_fn_in_trait)] // deliberate: no `Send` bound, like `EventStore`
pub trait Transport {
    /// Appends `events` (all with ids) to `stream` if it is at `expected`. A retry of
    /// the same ids must answer the original result (exact idempotency on the server).
    async fn push(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: &[NewEvent],
    ) -> Result<AppendResult, PushError>;

    /// At most `limit` events of the server's log after position `after`.
    async fn pull(&self, after: u64, limit: usize) -> Result<PullPage, PullError>;
}

/// Why a command could not be decided.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RunError {
    /// The aggregate refused the command (a rule): on a rebase the batch becomes a
    /// [`Conflict`].
    #[error("command rejected: {0}")]
    Refused(String),
    /// Anything else (unknown command, undecodable input, a store failure): nothing is
    /// changed and the step fails.
    #[error("command failed: {0}")]
    Failed(String),
}

/// Decides a [`PendingCommand`] on a store: the shell's command handlers behind one
/// name-based entry point. It must append the command's events with ONE
/// [`EventStore::append`] to `store` (or none when it decides nothing), as
/// [`CommandHandler::handle`](crate::CommandHandler::handle) does: the store is an
/// [`Overlay`] that records the decision instead of writing it, and the replica gives
/// the events their ids.
#[allow(async_fn_in_trait)] // deliberate: no `Send` bound
pub trait CommandRunner {
    /// Decides `command` on `store`'s state and appends its events there.
    async fn run<S: EventStore>(&self, store: &S, command: &PendingCommand)
        -> Result<(), RunError>;
}

impl<R: CommandRunner + ?Sized> CommandRunner for &R {
    async fn run<S: EventStore>(
        &self,
        store: &S,
        command: &PendingCommand,
    ) -> Result<(), RunError> {
        (**self).run(store, command).await
    }
}

/// Forwards both calls, so an engine can hold a `&T` or an `Rc<T>` as its transport.
macro_rules! forward_transport {
    ($($ty:ty),*) => {$(
        impl<T: Transport + ?Sized> Transport for $ty {
            async fn push(
                &self,
                stream: &str,
                expected: ExpectedVersion,
                events: &[NewEvent],
            ) -> Result<AppendResult, PushError> {
                (**self).push(stream, expected, events).await
            }
            async fn pull(&self, after: u64, limit: usize) -> Result<PullPage, PullError> {
                (**self).pull(after, limit).await
            }
        }
    )*};
}

forward_transport!(&T, std::rc::Rc<T>);
