//! [`SyncEngine`]: the pull/push state machine, one step at a time.

use std::collections::{HashMap, HashSet};

use crate::error::StoreError;
use crate::event::RecordedEvent;
use crate::limits::MAX_BATCH_EVENTS;
use crate::store::EventStore;

use super::replica::{batch_of, is_stale_outbox};
use super::{
    BatchOrigin, CommandRunner, Conflict, ConflictReason, ExecuteError, Overlay, PendingBatch,
    PullError, PushError, Replica, ReplicaStore, ReplicaWrite, RunError, SyncStatus, Transport,
};

/// What went wrong in a step that retrying the same step will not fix by itself.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SyncError {
    /// The local store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A page of the server's log does not continue the confirmed log: the server lost
    /// events, or it is another store. Nothing was applied.
    #[error("the server's page does not continue the confirmed log: expected position {expected}, got {found}")]
    Gap {
        /// The position the page had to start at.
        expected: u64,
        /// What it held (or the `after` it answered for).
        found: u64,
    },
    /// The server holds an event with the id of a local pending event but other content
    /// or out of order. Nothing was applied.
    #[error("event '{0}' on the server differs from the pending event with its id")]
    Mismatch(String),
    /// The server refused to page its log.
    #[error("the server refused the pull: {0}")]
    PullRefused(String),
    /// Deciding a command again failed (not a refusal, which becomes a conflict).
    #[error("rebase failed: {0}")]
    Rebase(String),
}

/// What one [`SyncEngine::step`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum StepOutcome {
    /// A page was applied: `events` confirmed events written, `confirmed` of them local
    /// ones, `rebased` batches decided again, `conflicts` new conflicts, `dropped`
    /// commands that now decided nothing.
    Pulled {
        /// Events written to the confirmed log.
        events: usize,
        /// Of those, events of local pending batches.
        confirmed: usize,
        /// Batches decided again on the fresh state.
        rebased: usize,
        /// Batches that became conflicts.
        conflicts: usize,
        /// Command batches that decided nothing on the fresh state.
        dropped: usize,
    },
    /// The server accepted the batch (its events come with the next pull).
    Pushed {
        /// The batch id.
        batch: String,
    },
    /// The server's stream moved: the next pull brings it and rebases the batch.
    Behind {
        /// The batch id.
        batch: String,
    },
    /// The server refused the batch: it is a conflict.
    Refused {
        /// The batch id.
        batch: String,
    },
    /// No answer: the same call is made again on the next step.
    NetworkFailure {
        /// What failed.
        message: String,
    },
    /// Another writer changed the outbox while this step planned: nothing was written;
    /// the next step plans again.
    Interrupted,
    /// Caught up and nothing to send.
    Idle,
}

/// At most this many batches are pushed between two pulls, so confirmations (and the
/// server's news) keep coming while a long outbox drains.
const PUSHES_PER_PULL: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Pull,
    Push,
}

/// Syncs a [`Replica`] with a server store through a [`Transport`]: pull before push,
/// one call to the server per [`step`](SyncEngine::step), and one atomic local write per
/// step. It holds no state that matters across restarts (the outbox is in the store):
/// a new engine on the same store resumes where the last one stopped.
pub struct SyncEngine<S, R, T> {
    replica: Replica<S, R>,
    transport: T,
    page_limit: usize,
    /// Batches pushed since the last pull (their events come with the next one).
    pushed_since_pull: usize,
    phase: Phase,
    status: SyncStatus,
    last_error: Option<String>,
}

impl<S: ReplicaStore, R: CommandRunner, T: Transport> SyncEngine<S, R, T> {
    /// An engine for `replica` over `transport`, paging 1,000 events per pull.
    pub fn new(replica: Replica<S, R>, transport: T) -> Self {
        Self {
            replica,
            transport,
            page_limit: 1_000,
            pushed_since_pull: 0,
            phase: Phase::Pull,
            status: SyncStatus::Connecting,
            last_error: None,
        }
    }

    /// Pages of at most `limit` events (at least 1, at most [`MAX_BATCH_EVENTS`]).
    pub fn with_page_limit(mut self, limit: usize) -> Self {
        self.page_limit = limit.clamp(1, MAX_BATCH_EVENTS);
        self
    }

    /// The replica (local writes, view, pending, conflicts).
    pub fn replica(&self) -> &Replica<S, R> {
        &self.replica
    }

    /// The transport.
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// Where the sync stands.
    pub fn status(&self) -> SyncStatus {
        self.status
    }

    /// The last failure's message (network or otherwise), cleared by a success.
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// The position of the last confirmed event (the server's position).
    pub async fn confirmed_position(&self) -> Result<u64, StoreError> {
        self.replica.store().head_position().await
    }

    /// Asks for a pull on the next step (a live notice said the server has more).
    pub fn poke(&mut self) {
        self.phase = Phase::Pull;
    }

    /// One step: a pull of one page (applied with its rebase in one local write) when
    /// the confirmed log may be behind, else a push of the oldest pending batch, else a
    /// pull to look for news. `Err` only for failures that need attention (the status is
    /// then [`SyncStatus::Error`]); network failures are an outcome, retried next step.
    pub async fn step(&mut self) -> Result<StepOutcome, SyncError> {
        let result = self.try_step().await;
        match &result {
            Ok(StepOutcome::NetworkFailure { message }) => {
                self.status = SyncStatus::Offline;
                self.last_error = Some(message.clone());
            }
            Ok(StepOutcome::Interrupted) => {}
            Ok(outcome) => {
                self.last_error = None;
                let pending = self.replica.store().replica_state().await?.pending;
                self.status = match (outcome, self.phase, pending.is_empty()) {
                    (StepOutcome::Idle, _, _) => SyncStatus::Live,
                    (_, Phase::Pull, _) => SyncStatus::Pulling,
                    (_, Phase::Push, false) => SyncStatus::Pushing,
                    (_, Phase::Push, true) => SyncStatus::Live,
                };
            }
            Err(e) => {
                self.status = SyncStatus::Error;
                self.last_error = Some(e.to_string());
            }
        }
        result
    }

    async fn try_step(&mut self) -> Result<StepOutcome, SyncError> {
        if self.phase == Phase::Pull {
            return self.pull().await;
        }
        let state = self.replica.store().replica_state().await?;
        if state.pending.is_empty() {
            return match self.pull().await? {
                StepOutcome::Pulled { events: 0, .. } => Ok(StepOutcome::Idle),
                other => Ok(other),
            };
        }
        // Batches are pushed in outbox order, several before a pull confirms them (each
        // was decided on the ones before it, which the server then holds).
        let next = state.pending.iter().position(|b| !b.is_committed());
        let Some(index) = next.filter(|_| self.pushed_since_pull < PUSHES_PER_PULL) else {
            self.phase = Phase::Pull;
            return self.pull().await;
        };
        let batch = state.pending[index].clone();
        let answer = self
            .transport
            .push(&batch.stream_id, batch.expected, &batch.events)
            .await;
        match answer {
            Err(PushError::Network(message)) => Ok(StepOutcome::NetworkFailure { message }),
            Ok(result) => {
                // Recorded so that the batch is never decided again; a lost write here
                // is harmless: a retry of the same ids answers the same result.
                let mut pending = state.pending;
                if let Some(pushed) = pending.get_mut(index) {
                    pushed.pushed = Some(result);
                }
                self.pushed_since_pull += 1;
                self.write(state.revision, Vec::new(), pending, state.conflicts)
                    .await?;
                Ok(StepOutcome::Pushed { batch: batch.id })
            }
            Err(PushError::WrongExpectedVersion { .. }) => {
                self.phase = Phase::Pull;
                Ok(StepOutcome::Behind { batch: batch.id })
            }
            Err(PushError::Refused(message)) => {
                let mut conflicts = state.conflicts;
                conflicts.push(Conflict {
                    batch: batch.clone(),
                    reason: ConflictReason::Refused { message },
                    at: self.replica.now(),
                });
                // The later batches of the stream, and of the operation, were decided on
                // top of this one (the ones before it are committed: kept as they are).
                let rest = state
                    .pending
                    .into_iter()
                    .enumerate()
                    .filter_map(|(i, b)| (i != index).then_some(b))
                    .collect();
                let changed = HashSet::from([batch.stream_id.clone()]);
                let failed = batch
                    .operation()
                    .map(|op| HashMap::from([(op.to_string(), batch.id.clone())]))
                    .unwrap_or_default();
                let rebase = self.rebase(rest, &[], changed, failed).await?;
                conflicts.extend(rebase.conflicts);
                self.phase = Phase::Pull;
                if !self
                    .write(state.revision, Vec::new(), rebase.pending, conflicts)
                    .await?
                {
                    return Ok(StepOutcome::Interrupted);
                }
                Ok(StepOutcome::Refused { batch: batch.id })
            }
        }
    }

    /// Writes; `Ok(false)` when another writer changed the outbox first.
    async fn write(
        &self,
        revision: u64,
        confirm: Vec<RecordedEvent>,
        pending: Vec<PendingBatch>,
        conflicts: Vec<Conflict>,
    ) -> Result<bool, SyncError> {
        match self
            .replica
            .store()
            .write_replica(ReplicaWrite {
                revision,
                confirm,
                pending,
                conflicts,
            })
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if is_stale_outbox(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    async fn pull(&mut self) -> Result<StepOutcome, SyncError> {
        self.pushed_since_pull = 0;
        let store = self.replica.store();
        let head = store.head_position().await?;
        let page = match self.transport.pull(head, self.page_limit).await {
            Ok(page) => page,
            Err(PullError::Network(message)) => return Ok(StepOutcome::NetworkFailure { message }),
            Err(PullError::Refused(message)) => return Err(SyncError::PullRefused(message)),
        };
        if page.after != head {
            return Err(SyncError::Gap {
                expected: head.saturating_add(1),
                found: page.after.saturating_add(1),
            });
        }
        for (i, e) in page.events.iter().enumerate() {
            let expected = head.saturating_add(1).saturating_add(i as u64);
            if e.position != expected {
                return Err(SyncError::Gap {
                    expected,
                    found: e.position,
                });
            }
        }
        let more = page.events.len() >= self.page_limit || page.next < page.head;
        let state = store.replica_state().await?;

        // Local batches the page confirms: their events arrive in order, as pushed.
        let by_id: HashMap<&str, &RecordedEvent> = page
            .events
            .iter()
            .map(|e| (e.event_id.as_str(), e))
            .collect();
        let mut pending = Vec::with_capacity(state.pending.len());
        let mut confirmed = 0;
        for mut batch in state.pending {
            let mut done = batch.confirmed;
            for (n, event) in batch.events.iter().enumerate() {
                let Some(id) = event.event_id.as_deref() else {
                    continue;
                };
                let Some(server) = by_id.get(id) else {
                    continue;
                };
                let same = n == done
                    && server.stream_id == batch.stream_id
                    && server.event_type == event.event_type
                    && server.schema_version == event.schema_version
                    && server.data == event.data
                    && server.metadata == event.metadata;
                if !same {
                    return Err(SyncError::Mismatch(id.to_string()));
                }
                done += 1;
            }
            confirmed += done - batch.confirmed;
            batch.confirmed = done;
            if done < batch.events.len() {
                pending.push(batch);
            }
        }

        let rebase = self
            .rebase(pending, &page.events, HashSet::new(), HashMap::new())
            .await?;
        let mut conflicts = state.conflicts;
        let new_conflicts = rebase.conflicts.len();
        conflicts.extend(rebase.conflicts);
        let events = page.events.len();
        if !self
            .write(state.revision, page.events, rebase.pending, conflicts)
            .await?
        {
            return Ok(StepOutcome::Interrupted);
        }
        self.phase = if more { Phase::Pull } else { Phase::Push };
        Ok(StepOutcome::Pulled {
            events,
            confirmed,
            rebased: rebase.rebased,
            conflicts: new_conflicts,
            dropped: rebase.dropped,
        })
    }

    /// Re-checks every batch not yet committed against the confirmed log plus `page`
    /// plus the batches before it: one whose expected version no longer holds, or that
    /// follows a batch of its stream that changed here (or is in `changed`), is decided
    /// again (a command) or becomes a conflict (a raw append, or a command now refused).
    /// A batch of an operation with a step that became a conflict (here, or in `failed`:
    /// operation → that batch's id) is abandoned.
    async fn rebase(
        &self,
        batches: Vec<PendingBatch>,
        page: &[RecordedEvent],
        mut changed: HashSet<String>,
        mut failed: HashMap<String, String>,
    ) -> Result<Rebased, SyncError> {
        // One view for the whole pass: the confirmed log, the page, then each batch as it
        // is kept or decided again, so every batch is checked (and decided) on exactly
        // what precedes it.
        let mut view = Overlay::new(self.replica.store(), page.to_vec(), &[]).await?;
        let mut out = Rebased::default();
        for batch in batches {
            if batch.is_committed() {
                view.push_batch(&batch).await?;
                out.pending.push(batch);
                continue;
            }
            let operation = batch.operation().map(str::to_string);
            if let Some((op, first)) = operation
                .as_ref()
                .and_then(|op| failed.get_key_value(op.as_str()))
            {
                changed.insert(batch.stream_id.clone());
                out.conflicts.push(Conflict {
                    reason: ConflictReason::Abandoned {
                        operation: op.clone(),
                        batch: first.clone(),
                    },
                    batch,
                    at: self.replica.now(),
                });
                continue;
            }
            let actual = view.stream_version(&batch.stream_id).await?;
            let stale =
                changed.contains(&batch.stream_id) || !batch.expected.is_satisfied_by(actual);
            if !stale {
                view.push_batch(&batch).await?;
                out.pending.push(batch);
                continue;
            }
            changed.insert(batch.stream_id.clone());
            let command = match &batch.origin {
                BatchOrigin::Raw => {
                    if let Some(op) = operation {
                        failed.insert(op, batch.id.clone());
                    }
                    out.conflicts.push(Conflict {
                        reason: ConflictReason::VersionConflict {
                            expected: batch.expected,
                            actual,
                        },
                        batch,
                        at: self.replica.now(),
                    });
                    continue;
                }
                BatchOrigin::Command { command } => command.clone(),
            };
            match self.replica.decide_on(&view, &command).await {
                Ok(Some(decision)) => {
                    changed.insert(decision.stream_id.clone());
                    let attempt = batch.attempt.saturating_add(1);
                    let decided =
                        batch_of(batch.id, decision, batch.origin, attempt, batch.created_at);
                    view.push_batch(&decided).await?;
                    out.pending.push(decided);
                    out.rebased += 1;
                }
                Ok(None) => out.dropped += 1,
                Err(ExecuteError::Run(RunError::Refused(message))) => {
                    if let Some(op) = operation {
                        failed.insert(op, batch.id.clone());
                    }
                    out.conflicts.push(Conflict {
                        batch,
                        reason: ConflictReason::Rejected { message },
                        at: self.replica.now(),
                    });
                }
                Err(ExecuteError::Store(e)) => return Err(e.into()),
                Err(e) => return Err(SyncError::Rebase(e.to_string())),
            }
        }
        Ok(out)
    }
}

#[derive(Default)]
struct Rebased {
    pending: Vec<PendingBatch>,
    conflicts: Vec<Conflict>,
    rebased: usize,
    dropped: usize,
}
