//! The local side of sync: [`ReplicaStore`] (what a store keeps), [`plan_replica_write`]
//! (the decision every store shares) and [`Replica`] (local writes, pending, conflicts).

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::append::{plan_import, ImportContext, ImportPlan};
use crate::clock::{Clock, IdSource};
use crate::error::StoreError;
use crate::event::{ExpectedVersion, NewEvent, RecordedEvent};
use crate::limits::check_name;
use crate::store::EventStore;

use super::{
    BatchOrigin, CommandRunner, Conflict, Decision, Overlay, PendingBatch, PendingCommand, RunError,
};

/// The pseudo stream named in the [`StoreError::WrongExpectedVersion`] of a
/// [`ReplicaWrite`] whose revision is stale (another writer changed the outbox first).
pub const OUTBOX_STREAM: &str = "$outbox";

/// The outbox of a replica and its conflicts, as one consistent read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaState {
    /// Bumped by every write; a write names the revision it was planned on.
    pub revision: u64,
    /// The pending batches, oldest first: pushed in this order.
    pub pending: Vec<PendingBatch>,
    /// The batches the server will not take, oldest first.
    pub conflicts: Vec<Conflict>,
    /// Whether the confirmed log holds server events: set by the first write that
    /// confirms any and never cleared. A store that was never synced may have a log of
    /// its own (local positions), which [`ReplicaStore::adopt_local_log`] moves into the
    /// outbox; once synced, its log is the server's and cannot be adopted.
    #[serde(default)]
    pub synced: bool,
}

/// One atomic write of a replica: confirmed events appended to the log and the new
/// outbox and conflicts, or nothing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReplicaWrite {
    /// The [`ReplicaState::revision`] this write was planned on.
    pub revision: u64,
    /// Server events continuing the confirmed log exactly (server positions), imported
    /// as they are.
    pub confirm: Vec<RecordedEvent>,
    /// The whole outbox after the write.
    pub pending: Vec<PendingBatch>,
    /// Every conflict after the write.
    pub conflicts: Vec<Conflict>,
}

/// What a store reads inside its write transaction for [`plan_replica_write`].
#[derive(Debug, Clone, Copy)]
pub struct ReplicaContext<'a> {
    /// The stored outbox's revision.
    pub revision: u64,
    /// The stored [`ReplicaState::synced`].
    pub synced: bool,
    /// What [`ImportContext`] needs for `confirm` (its head, the versions of the streams
    /// it touches, its stored ids); unused when `confirm` is empty.
    pub import: ImportContext<'a>,
}

/// Decides a [`ReplicaWrite`]: refused with [`StoreError::WrongExpectedVersion`] on the
/// pseudo stream [`OUTBOX_STREAM`] when the outbox changed since it was planned; the
/// confirmed events checked by [`plan_import`] (they must continue the log and every
/// stream exactly: no hole, no duplicate); every pending batch has an id, a stream, at
/// least one event, every event an id, and no batch id twice. Returns the import to
/// write (if any) and the new state, whose revision is one more (and which is
/// [`synced`](ReplicaState::synced) from the first write that confirms an event on).
pub fn plan_replica_write(
    write: ReplicaWrite,
    ctx: ReplicaContext<'_>,
) -> Result<(Option<ImportPlan>, ReplicaState), StoreError> {
    if write.revision != ctx.revision {
        return Err(StoreError::WrongExpectedVersion {
            stream: OUTBOX_STREAM.to_string(),
            expected: ExpectedVersion::Exact(write.revision),
            actual: Some(ctx.revision),
        });
    }
    let mut ids = HashSet::new();
    for batch in write
        .pending
        .iter()
        .chain(write.conflicts.iter().map(|c| &c.batch))
    {
        check_name("batch id", &batch.id).map_err(|e| StoreError::InvalidInput(e.to_string()))?;
        check_name("stream id", &batch.stream_id)
            .map_err(|e| StoreError::InvalidInput(e.to_string()))?;
        if !ids.insert(batch.id.as_str()) {
            return Err(StoreError::InvalidInput(format!(
                "batch '{}' appears twice in the outbox",
                batch.id
            )));
        }
        if batch.events.is_empty() || batch.confirmed > batch.events.len() {
            return Err(StoreError::InvalidInput(format!(
                "batch '{}' has {} events of which {} confirmed",
                batch.id,
                batch.events.len(),
                batch.confirmed
            )));
        }
        if batch.events.iter().any(|e| e.event_id.is_none()) {
            return Err(StoreError::InvalidInput(format!(
                "batch '{}' has an event without an id",
                batch.id
            )));
        }
    }
    let import = if write.confirm.is_empty() {
        None
    } else {
        Some(plan_import(write.confirm, ctx.import)?)
    };
    let state = ReplicaState {
        revision: ctx.revision.saturating_add(1),
        pending: write.pending,
        conflicts: write.conflicts,
        synced: ctx.synced || import.is_some(),
    };
    Ok((import, state))
}

/// A store that can be a replica: its [`EventStore`] log is the confirmed log (server
/// positions; written by sync through [`write_replica`](ReplicaStore::write_replica)
/// only), and it keeps the outbox and the conflicts beside it, durably.
#[allow(async_fn_in_trait)] // deliberate: no `Send` bound, like `EventStore`
pub trait ReplicaStore: EventStore {
    /// The outbox and conflicts (an empty state, revision 0, for a store never written).
    async fn replica_state(&self) -> Result<ReplicaState, StoreError>;

    /// Writes `write` atomically, as decided by [`plan_replica_write`] over what the
    /// store reads inside its transaction: the confirmed events, the outbox and the
    /// conflicts all change, or nothing does. Returns the new state.
    async fn write_replica(&self, write: ReplicaWrite) -> Result<ReplicaState, StoreError>;

    /// Makes a never-synced store's own log pending, so that a store used offline and
    /// then connected for the first time uploads its history: atomically, the whole log
    /// becomes raw pending batches ([`plan_adoption`](super::plan_adoption)) placed
    /// *before* the outbox's batches (which were decided on top of that log), the
    /// confirmed log is emptied, and every checkpoint and snapshot is deleted (they
    /// were taken at local positions and versions). The [`Overlay`] shows the same
    /// events, versions and positions as before. Decided by
    /// [`plan_adoption_write`](super::plan_adoption_write) inside the store's
    /// transaction: refused with [`StoreError::InvalidInput`], changing nothing, once the
    /// store is [`synced`](ReplicaState::synced). Returns the new state (revision one
    /// more; an empty log adopts nothing but still bumps it).
    async fn adopt_local_log(&self) -> Result<ReplicaState, StoreError>;
}

impl<S: ReplicaStore + ?Sized> ReplicaStore for &S {
    async fn replica_state(&self) -> Result<ReplicaState, StoreError> {
        (**self).replica_state().await
    }
    async fn write_replica(&self, write: ReplicaWrite) -> Result<ReplicaState, StoreError> {
        (**self).write_replica(write).await
    }
    async fn adopt_local_log(&self) -> Result<ReplicaState, StoreError> {
        (**self).adopt_local_log().await
    }
}

impl<S: ReplicaStore + ?Sized> ReplicaStore for std::rc::Rc<S> {
    async fn replica_state(&self) -> Result<ReplicaState, StoreError> {
        (**self).replica_state().await
    }
    async fn write_replica(&self, write: ReplicaWrite) -> Result<ReplicaState, StoreError> {
        (**self).write_replica(write).await
    }
    async fn adopt_local_log(&self) -> Result<ReplicaState, StoreError> {
        (**self).adopt_local_log().await
    }
}

/// Why a local command wrote nothing.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExecuteError {
    /// The command was refused or failed on the local view.
    #[error(transparent)]
    Run(#[from] RunError),
    /// The command appended more than once; a command is one append.
    #[error("the command appended {0} times; a command must append once")]
    ManyAppends(usize),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No conflict or pending batch has this id.
    #[error("no conflict with batch id '{0}'")]
    UnknownBatch(String),
    /// The conflict is a step abandoned after an earlier step of its operation failed:
    /// alone it would apply a step whose premise did not happen. Retry or discard the
    /// batch that failed.
    #[error("batch '{batch}' was abandoned after batch '{first}' of the same operation failed; retry or discard that one")]
    Abandoned {
        /// The abandoned batch.
        batch: String,
        /// The operation's batch that failed.
        first: String,
    },
}

/// How often a local write re-plans when another writer changed the outbox first.
const LOCAL_ATTEMPTS: u32 = 16;

/// The local side of a replica: writes that are immediate and durable and pending until
/// the server confirms them, the view, the pending batches and the conflicts.
pub struct Replica<S, R> {
    store: S,
    runner: R,
    clock: Box<dyn Clock>,
    ids: Box<dyn IdSource>,
}

impl<S: ReplicaStore, R: CommandRunner> Replica<S, R> {
    /// A replica of `store`, deciding commands with `runner`; `clock` dates local
    /// batches and conflicts, `ids` names batches (unique across devices: a UUID source
    /// in a browser).
    pub fn new(
        store: S,
        runner: R,
        clock: impl Clock + 'static,
        ids: impl IdSource + 'static,
    ) -> Self {
        Self {
            store,
            runner,
            clock: Box::new(clock),
            ids: Box::new(ids),
        }
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The command runner.
    pub fn runner(&self) -> &R {
        &self.runner
    }

    pub(crate) fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    /// What the user sees now: the confirmed log, then the pending batches, as one
    /// consistent snapshot (see [`snapshot`](Self::snapshot)).
    pub async fn view(&self) -> Result<Overlay<&S>, StoreError> {
        Ok(self.snapshot().await?.1)
    }

    /// The outbox and the view built on it, consistent with each other: the view's
    /// confirmed log is the one the outbox was written with. (Sync may confirm a batch
    /// between reading the outbox and reading the log; a view of both would show the
    /// batch twice. The outbox is read again after the log's head, and the view built
    /// again until no write came between.)
    pub async fn snapshot(&self) -> Result<(ReplicaState, Overlay<&S>), StoreError> {
        let mut tries = 0;
        loop {
            tries += 1;
            let state = self.store.replica_state().await?;
            let view = Overlay::new(&self.store, Vec::new(), &state.pending).await?;
            let again = self.store.replica_state().await?;
            if again.revision == state.revision || tries >= LOCAL_ATTEMPTS {
                return Ok((state, view));
            }
        }
    }

    /// The pending batches, oldest first.
    pub async fn pending(&self) -> Result<Vec<PendingBatch>, StoreError> {
        Ok(self.store.replica_state().await?.pending)
    }

    /// The conflicts, oldest first.
    pub async fn conflicts(&self) -> Result<Vec<Conflict>, StoreError> {
        Ok(self.store.replica_state().await?.conflicts)
    }

    /// Decides `command` on the current view and, when it decides events, writes them as
    /// a pending batch (durable, shown at once). `Ok(None)`: it decided nothing. A
    /// refusal is an error and writes nothing.
    pub async fn execute(
        &self,
        command: PendingCommand,
    ) -> Result<Option<PendingBatch>, ExecuteError> {
        let id = self.ids.next_id();
        self.enqueue_command(id, command, 0).await
    }

    async fn enqueue_command(
        &self,
        id: String,
        command: PendingCommand,
        attempt: u32,
    ) -> Result<Option<PendingBatch>, ExecuteError> {
        let mut tries = 0;
        loop {
            tries += 1;
            let (state, view) = self.snapshot().await?;
            let decision = self.decide_on(&view, &command).await?;
            let Some(decision) = decision else {
                return Ok(None);
            };
            let batch = batch_of(
                id.clone(),
                decision,
                BatchOrigin::Command {
                    command: command.clone(),
                },
                attempt,
                self.now(),
            );
            match self.push_local(state, batch.clone()).await {
                Ok(()) => return Ok(Some(batch)),
                Err(e) if is_stale_outbox(&e) && tries < LOCAL_ATTEMPTS => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Appends raw events locally as a pending batch, if the view's stream is at
    /// `expected` (events without ids get `{batch id}.0.{n}`). Pushed as it is; if
    /// `expected` no longer holds on the server's state it becomes a conflict.
    pub async fn append(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<PendingBatch, StoreError> {
        let id = self.ids.next_id();
        let mut tries = 0;
        loop {
            tries += 1;
            let (state, view) = self.snapshot().await?;
            view.append(stream_id, expected, events.clone()).await?;
            let decision = view.decisions().remove(0);
            let batch = batch_of(id.clone(), decision, BatchOrigin::Raw, 0, self.now());
            match self.push_local(state, batch.clone()).await {
                Ok(()) => return Ok(batch),
                Err(e) if is_stale_outbox(&e) && tries < LOCAL_ATTEMPTS => continue,
                Err(e) => return Err(e),
            }
        }
    }

    async fn push_local(&self, state: ReplicaState, batch: PendingBatch) -> Result<(), StoreError> {
        let mut pending = state.pending;
        pending.push(batch);
        self.store
            .write_replica(ReplicaWrite {
                revision: state.revision,
                confirm: Vec::new(),
                pending,
                conflicts: state.conflicts,
            })
            .await?;
        Ok(())
    }

    /// Decides `command` on `overlay`: the one decision it appended, `None` when it
    /// appended nothing. The overlay forgets the decision (it records nothing of it).
    pub(crate) async fn decide_on(
        &self,
        overlay: &Overlay<&S>,
        command: &PendingCommand,
    ) -> Result<Option<Decision>, ExecuteError> {
        overlay.take_decisions();
        let ran = self.runner.run(overlay, command).await;
        let mut decisions = overlay.take_decisions();
        ran?;
        match decisions.len() {
            0 => Ok(None),
            1 => Ok(decisions.pop()),
            n => Err(ExecuteError::ManyAppends(n)),
        }
    }

    /// Forgets the conflict of batch `id`: nothing of it was ever applied.
    pub async fn discard(&self, id: &str) -> Result<Conflict, ExecuteError> {
        loop {
            let mut state = self.store.replica_state().await?;
            let Some(i) = state.conflicts.iter().position(|c| c.batch.id == id) else {
                return Err(ExecuteError::UnknownBatch(id.to_string()));
            };
            let conflict = state.conflicts.remove(i);
            match self
                .store
                .write_replica(ReplicaWrite {
                    revision: state.revision,
                    confirm: Vec::new(),
                    pending: state.pending,
                    conflicts: state.conflicts,
                })
                .await
            {
                Ok(_) => return Ok(conflict),
                Err(e) if is_stale_outbox(&e) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Tries the conflict of batch `id` again, on the current view, at the end of the
    /// outbox: a command is decided again (and may be refused again: then the conflict
    /// stays); raw events are appended again expecting the stream's current version —
    /// the user's explicit choice to write them over what happened meanwhile.
    pub async fn retry(&self, id: &str) -> Result<Option<PendingBatch>, ExecuteError> {
        loop {
            let (state, view) = self.snapshot().await?;
            let Some(conflict) = state.conflicts.iter().find(|c| c.batch.id == id).cloned() else {
                return Err(ExecuteError::UnknownBatch(id.to_string()));
            };
            if let super::ConflictReason::Abandoned { batch: first, .. } = &conflict.reason {
                return Err(ExecuteError::Abandoned {
                    batch: id.to_string(),
                    first: first.clone(),
                });
            }
            let attempt = conflict.batch.attempt.saturating_add(1);
            let decision = match &conflict.batch.origin {
                BatchOrigin::Command { command } => self.decide_on(&view, command).await?,
                BatchOrigin::Raw => {
                    let expected = match view.stream_version(&conflict.batch.stream_id).await? {
                        Some(v) => ExpectedVersion::Exact(v),
                        None => ExpectedVersion::NoStream,
                    };
                    Some(Decision {
                        stream_id: conflict.batch.stream_id.clone(),
                        expected,
                        events: conflict
                            .batch
                            .events
                            .iter()
                            .map(|e| NewEvent {
                                event_id: None,
                                ..e.clone()
                            })
                            .collect(),
                    })
                }
            };
            let mut pending = state.pending;
            let batch = decision.map(|d| {
                batch_of(
                    conflict.batch.id.clone(),
                    d,
                    conflict.batch.origin.clone(),
                    attempt,
                    self.now(),
                )
            });
            pending.extend(batch.clone());
            let conflicts = state
                .conflicts
                .into_iter()
                .filter(|c| c.batch.id != id)
                .collect();
            match self
                .store
                .write_replica(ReplicaWrite {
                    revision: state.revision,
                    confirm: Vec::new(),
                    pending,
                    conflicts,
                })
                .await
            {
                Ok(_) => return Ok(batch),
                Err(e) if is_stale_outbox(&e) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// Whether `e` says the outbox changed since the write was planned.
pub(crate) fn is_stale_outbox(e: &StoreError) -> bool {
    matches!(e, StoreError::WrongExpectedVersion { stream, .. } if stream == OUTBOX_STREAM)
}

/// A pending batch of `decision`, its events named `{id}.{attempt}.{n}` (raw events keep
/// the ids they were given).
pub(crate) fn batch_of(
    id: String,
    decision: Decision,
    origin: BatchOrigin,
    attempt: u32,
    created_at: i64,
) -> PendingBatch {
    let keep_ids = matches!(origin, BatchOrigin::Raw);
    let events = decision
        .events
        .into_iter()
        .enumerate()
        .map(|(n, mut e)| {
            if !keep_ids || e.event_id.is_none() {
                e.event_id = Some(format!("{id}.{attempt}.{}", n + 1));
            }
            e
        })
        .collect();
    PendingBatch {
        id,
        stream_id: decision.stream_id,
        expected: decision.expected,
        events,
        origin,
        attempt,
        created_at,
        pushed: None,
        confirmed: 0,
    }
}
