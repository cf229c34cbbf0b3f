//! Projections: read models folded from the global log, with a persisted checkpoint.
//!
//! A [`ProjectionRunner`] catches a [`Projection`] up from its saved [`Checkpoint`] in
//! pages, reports its lag and status, and rebuilds it from zero on demand. A projection
//! whose `apply` fails stops on its own (status [`ProjectionStatus::Failed`]) with its
//! checkpoint just before the failing event, so no event is lost or applied twice; other
//! projections are not affected.

use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::clock::Clock;
use crate::error::StoreError;
use crate::event::RecordedEvent;
use crate::store::{Checkpoint, EventStore, ReadAllOptions};
use crate::upcast::Upcasters;

/// A read model folded from events of the global log.
pub trait Projection {
    /// The read model; saved as JSON in the projection's checkpoint.
    type State: Default + Serialize + DeserializeOwned;
    /// Why `apply` can fail.
    type Error: fmt::Display;

    /// The projection's unique name; its checkpoint is saved under it.
    fn name(&self) -> &str;

    /// The event types the projection handles; `None` (the default) for all.
    fn event_types(&self) -> Option<Vec<String>> {
        None
    }

    /// The state before any event.
    fn initial_state(&self) -> Self::State {
        Self::State::default()
    }

    /// Applies one event (already upcast) to the state.
    fn apply(&self, state: &mut Self::State, event: &RecordedEvent) -> Result<(), Self::Error>;
}

/// A reducer over JSON state: the previous state and an event in, the next state out.
pub type JsonReducer = dyn Fn(Value, &RecordedEvent) -> Result<Value, String>;

/// A projection defined at run time over `serde_json::Value` state, for example one
/// written in JavaScript and wrapped by the bindings.
pub struct JsonProjection {
    name: String,
    event_types: Option<Vec<String>>,
    initial: Value,
    reduce: Box<JsonReducer>,
}

impl fmt::Debug for JsonProjection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonProjection")
            .field("name", &self.name)
            .field("event_types", &self.event_types)
            .field("initial", &self.initial)
            .finish_non_exhaustive()
    }
}

impl JsonProjection {
    /// A projection `name` starting from `initial` and folding every event with `reduce`.
    pub fn new(
        name: impl Into<String>,
        initial: Value,
        reduce: impl Fn(Value, &RecordedEvent) -> Result<Value, String> + 'static,
    ) -> Self {
        Self {
            name: name.into(),
            event_types: None,
            initial,
            reduce: Box::new(reduce),
        }
    }

    /// Only events of these types reach the reducer.
    pub fn handling(mut self, event_types: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.event_types = Some(event_types.into_iter().map(Into::into).collect());
        self
    }
}

impl Projection for JsonProjection {
    type State = Value;
    type Error = String;

    fn name(&self) -> &str {
        &self.name
    }

    fn event_types(&self) -> Option<Vec<String>> {
        self.event_types.clone()
    }

    fn initial_state(&self) -> Value {
        self.initial.clone()
    }

    fn apply(&self, state: &mut Value, event: &RecordedEvent) -> Result<(), String> {
        *state = (self.reduce)(std::mem::take(state), event)?;
        Ok(())
    }
}

/// Where a projection stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "camelCase")]
pub enum ProjectionStatus {
    /// Events past the checkpoint remain (or the runner has not looked yet).
    CatchingUp,
    /// The checkpoint is at the head of the log as of the last run.
    CaughtUp,
    /// A rebuild from position zero is under way.
    Rebuilding,
    /// The event at `position` could not be applied (or upcast, or the saved state
    /// could not be decoded). The checkpoint stays before it. Fix the projection, then
    /// [`resume`](ProjectionRunner::resume) or [`rebuild`](ProjectionRunner::rebuild).
    #[serde(rename_all = "camelCase")]
    Failed {
        /// Global position of the failing event.
        position: u64,
        /// What went wrong.
        error: String,
    },
}

/// Progress of a rebuild, reported after every page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RebuildProgress {
    /// The global position processed so far.
    pub position: u64,
    /// The head position when the rebuild started.
    pub head: u64,
}

/// Runs one projection against a store: catch-up in pages, live updates, lag, status,
/// failure isolation and rebuilds. Checkpoint (position) and state are always saved
/// together: after every [`run_once`](Self::run_once), and during a catch-up or rebuild
/// every [`with_checkpoint_every`](Self::with_checkpoint_every) events of the log and when
/// it ends.
pub struct ProjectionRunner<S, P: Projection> {
    store: S,
    projection: P,
    upcasters: Upcasters,
    clock: Box<dyn Clock>,
    page_size: usize,
    checkpoint_every: u64,
    loaded: bool,
    state: P::State,
    position: u64,
    /// The state as last saved, to roll back to when an event fails half-applied;
    /// `None` once the runner has saved it: the checkpoint it wrote holds it then (read
    /// back only on such a failure, so a save does not copy the whole state).
    saved_state: Option<Value>,
    /// The position of the last saved checkpoint.
    saved_position: u64,
    /// The events applied since the last save, re-applied over `saved_state` when a
    /// later event fails.
    unsaved: Vec<RecordedEvent>,
    status: ProjectionStatus,
    /// The last state computed by [`state_at`](Self::state_at), by position: scrubbing
    /// through time folds forward from it instead of from the start.
    state_at_cache: Option<(u64, Value)>,
}

/// What one page did.
struct Page {
    applied: usize,
    /// The page reached the head of the log as read before it (or the projection failed).
    done: bool,
}

impl<S: EventStore, P: Projection> ProjectionRunner<S, P> {
    /// A runner for `projection` over `store`; checkpoints are stamped with `clock`.
    /// It loads the saved checkpoint on its first run.
    pub fn new(store: S, projection: P, clock: impl Clock + 'static) -> Self {
        let state = projection.initial_state();
        Self {
            store,
            projection,
            upcasters: Upcasters::new(),
            clock: Box::new(clock),
            page_size: 4_000,
            checkpoint_every: 10_000,
            loaded: false,
            state,
            position: 0,
            saved_state: None,
            saved_position: 0,
            unsaved: Vec::new(),
            status: ProjectionStatus::CatchingUp,
            state_at_cache: None,
        }
    }

    /// Reads events through `upcasters`.
    pub fn with_upcasters(mut self, upcasters: Upcasters) -> Self {
        self.upcasters = upcasters;
        self
    }

    /// Reads at most `page_size` events per page (default 4,000, at least 1). Larger pages
    /// let a store fetch ahead while the events of the page are applied.
    pub fn with_page_size(mut self, page_size: usize) -> Self {
        self.page_size = page_size.max(1);
        self
    }

    /// During [`catch_up`](Self::catch_up) and [`rebuild`](Self::rebuild), saves the
    /// checkpoint once at least `events` positions of the log were processed since the
    /// last save (default 10,000; 1 saves after every page), and always when the run ends.
    /// Each save serializes the whole state and commits a write, so a long catch-up
    /// spends most of its time saving if it saves often; a catch-up interrupted (the
    /// page closed) resumes from the last save and replays at most this many events.
    pub fn with_checkpoint_every(mut self, events: u64) -> Self {
        self.checkpoint_every = events.max(1);
        self
    }

    /// Events read per page.
    pub(crate) fn page_size(&self) -> usize {
        self.page_size
    }

    /// The projection.
    pub fn projection(&self) -> &P {
        &self.projection
    }

    /// The projection's current state.
    pub fn state(&self) -> &P::State {
        &self.state
    }

    /// The global position of the last event accounted for in [`state`](Self::state).
    /// Outside a catch-up it is also the saved checkpoint's.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// The runner's status.
    pub fn status(&self) -> &ProjectionStatus {
        &self.status
    }

    /// How many events of the log lie past the checkpoint (head − checkpoint).
    pub async fn lag(&mut self) -> Result<u64, ProjectionError> {
        self.load().await?;
        Ok(self
            .store
            .head_position()
            .await?
            .saturating_sub(self.position))
    }

    /// Clears a failure so that the next run retries the failing event.
    pub fn resume(&mut self) {
        if matches!(self.status, ProjectionStatus::Failed { .. }) {
            self.status = ProjectionStatus::CatchingUp;
        }
    }

    async fn load(&mut self) -> Result<(), ProjectionError> {
        if self.loaded {
            return Ok(());
        }
        self.loaded = true;
        if let Some(cp) = self.store.load_checkpoint(self.projection.name()).await? {
            self.position = cp.position;
            self.saved_position = cp.position;
            match serde_json::from_value(cp.state.clone()) {
                Ok(state) => {
                    self.state = state;
                    self.saved_state = Some(cp.state);
                }
                Err(e) => {
                    self.status = ProjectionStatus::Failed {
                        position: cp.position,
                        error: format!(
                            "cannot decode the saved state: {e}; rebuild the projection"
                        ),
                    };
                }
            }
        } else {
            self.saved_state = Some(to_json(&self.state)?);
        }
        Ok(())
    }

    /// The state as last saved (see `saved_state`): the runner's copy, or the state of
    /// the checkpoint it saved at `saved_position`, read back from the store.
    async fn saved_state(&self) -> Result<Value, ProjectionError> {
        if let Some(state) = &self.saved_state {
            return Ok(state.clone());
        }
        let name = self.projection.name();
        match self.store.load_checkpoint(name).await? {
            Some(cp) if cp.position == self.saved_position => Ok(cp.state),
            other => Err(ProjectionError::NotDeterministic(format!(
                "the checkpoint of projection '{name}' changed under its runner (saved at position {}, now {}); only one runner may write a projection's checkpoint",
                self.saved_position,
                other.map_or_else(|| "none".to_string(), |cp| cp.position.to_string()),
            ))),
        }
    }

    /// Processes one page of events past the checkpoint and saves the checkpoint.
    /// Returns how many events were applied; 0 when caught up or failed. A failing event
    /// sets [`ProjectionStatus::Failed`] and is not an `Err`: only store errors are.
    pub async fn run_once(&mut self) -> Result<usize, ProjectionError> {
        self.load().await?;
        if matches!(self.status, ProjectionStatus::Failed { .. }) {
            return Ok(0);
        }
        let head = self.store.head_position().await?;
        let page = self.page(head).await?;
        if self.position != self.saved_position {
            self.save().await?;
        }
        Ok(page.applied)
    }

    /// Reads and applies one page past `position`, knowing the log reached `head`;
    /// saves only on failure (the caller decides when else to save).
    async fn page(&mut self, head: u64) -> Result<Page, ProjectionError> {
        if self.position >= head {
            if self.status != ProjectionStatus::Rebuilding {
                self.status = ProjectionStatus::CaughtUp;
            }
            return Ok(Page {
                applied: 0,
                done: true,
            });
        }
        let page = self
            .store
            .read_all(ReadAllOptions {
                from_position: self.position + 1,
                limit: Some(self.page_size),
                event_types: self.projection.event_types(),
                stream_prefix: None,
            })
            .await?;
        let full = page.len() == self.page_size;
        let last = page.last().map_or(self.position, |e| e.position);
        self.apply_page(page, last, full, head).await
    }

    /// Applies `page` (events past `position` of this projection's types, in order), read
    /// up to position `last` of the log, knowing the log reached `head`; `full` when the
    /// read stopped at its limit (more may follow). Saves only on failure.
    async fn apply_page(
        &mut self,
        page: Vec<RecordedEvent>,
        last: u64,
        full: bool,
        head: u64,
    ) -> Result<Page, ProjectionError> {
        let mut applied = 0;
        let mut failure = None;
        for event in page.iter() {
            if let Err(error) = self.apply(event) {
                failure = Some((event.position, error));
                break;
            }
            applied += 1;
        }
        if let Some((position, error)) = failure {
            // The failing event may have half-changed the state: restore the saved state
            // and re-apply the events that succeeded since.
            self.state = serde_json::from_value(self.saved_state().await?).map_err(|e| {
                ProjectionError::Encode(format!(
                    "the saved state of projection '{}' does not decode: {e}",
                    self.projection.name()
                ))
            })?;
            let unsaved = std::mem::take(&mut self.unsaved);
            for event in unsaved.iter().chain(&page[..applied]) {
                self.apply(event).map_err(|e| {
                    ProjectionError::NotDeterministic(format!(
                        "projection '{}' failed on an event it had applied: {e}",
                        self.projection.name()
                    ))
                })?;
            }
            self.position = position - 1;
            self.save().await?;
            self.status = ProjectionStatus::Failed { position, error };
            return Ok(Page {
                applied,
                done: true,
            });
        }
        // A short page holds every matching event up to the head read before it.
        self.position = if full { last } else { last.max(head) };
        self.unsaved.extend(page);
        if self.status != ProjectionStatus::Rebuilding {
            self.status = if self.position >= head {
                ProjectionStatus::CaughtUp
            } else {
                ProjectionStatus::CatchingUp
            };
        }
        Ok(Page {
            applied,
            done: self.position >= head,
        })
    }

    /// Applies the events of a page of the log that another reader (a
    /// [`ProjectionHub`](crate::hub::ProjectionHub) pass) read: those past this
    /// projection's position and of its types. `page` holds every event of the log
    /// from its first position to its last (or every one of a superset of this
    /// projection's types); `full` and `head` as for one of the runner's own pages.
    /// Saves when `checkpoint_every` events went by since the last save.
    pub(crate) async fn feed(
        &mut self,
        page: &[RecordedEvent],
        full: bool,
        head: u64,
    ) -> Result<usize, ProjectionError> {
        self.load().await?;
        if matches!(self.status, ProjectionStatus::Failed { .. }) || self.position >= head {
            return Ok(0);
        }
        let Some(last) = page.last().map(|e| e.position) else {
            // Nothing past the reader's start: caught up to the head it read.
            self.position = self.position.max(head);
            if self.status != ProjectionStatus::Rebuilding {
                self.status = ProjectionStatus::CaughtUp;
            }
            return Ok(0);
        };
        if last <= self.position {
            return Ok(0);
        }
        let types = self.projection.event_types();
        let mine: Vec<RecordedEvent> = page
            .iter()
            .filter(|e| {
                e.position > self.position
                    && types.as_ref().is_none_or(|t| t.contains(&e.event_type))
            })
            .cloned()
            .collect();
        let done = self.apply_page(mine, last, full, head).await?;
        if !matches!(self.status, ProjectionStatus::Failed { .. })
            && self.position - self.saved_position >= self.checkpoint_every
        {
            self.save().await?;
        }
        Ok(done.applied)
    }

    /// Saves the checkpoint if events were applied since the last save (the end of a
    /// hub pass).
    pub(crate) async fn save_if_moved(&mut self) -> Result<(), ProjectionError> {
        if self.position != self.saved_position
            && !matches!(self.status, ProjectionStatus::Failed { .. })
        {
            self.save().await?;
        }
        Ok(())
    }

    /// Loads the saved checkpoint (once) and gives the position to read from.
    pub(crate) async fn loaded_position(&mut self) -> Result<Option<u64>, ProjectionError> {
        self.load().await?;
        Ok((!matches!(self.status, ProjectionStatus::Failed { .. })).then_some(self.position))
    }

    fn apply(&mut self, event: &RecordedEvent) -> Result<(), String> {
        apply_one(&self.projection, &self.upcasters, &mut self.state, event)
    }

    /// The projection's state just after the event at global position `position` (0:
    /// before any event): what the live runner held when its checkpoint was there.
    ///
    /// It starts from the nearest known state at or below `position` (the runner's
    /// current state, the last `state_at` result, or the initial state) and folds the
    /// events in between exactly as a catch-up does: the same event types, upcasters and
    /// `apply`. So it agrees with the live runner event for event, also where `apply`
    /// fails: asking for a position at or past an event `apply` fails on is
    /// [`StateAtError::Failed`] at that event, where the live runner stops too.
    pub async fn state_at(&mut self, position: u64) -> Result<P::State, StateAtError> {
        self.load().await?;
        if let ProjectionStatus::Failed {
            position: at,
            error,
        } = &self.status
        {
            if *at <= position {
                return Err(StateAtError::Failed {
                    position: *at,
                    error: error.clone(),
                });
            }
        }
        let decode = |value: Value| {
            serde_json::from_value::<P::State>(value)
                .map_err(|e| ProjectionError::Encode(format!("projection state: {e}")))
        };
        let mut from = 0;
        let mut state = self.projection.initial_state();
        let healthy = !matches!(self.status, ProjectionStatus::Failed { .. });
        if healthy && self.position <= position {
            from = self.position;
            state = decode(to_json(&self.state)?)?;
        }
        if let Some((at, cached)) = &self.state_at_cache {
            if *at <= position && *at > from {
                from = *at;
                state = decode(cached.clone())?;
            }
        }
        let mut next = from + 1;
        while next <= position {
            let page = self
                .store
                .read_all(ReadAllOptions {
                    from_position: next,
                    limit: Some(self.page_size),
                    event_types: self.projection.event_types(),
                    stream_prefix: None,
                })
                .await
                .map_err(ProjectionError::from)?;
            let full = page.len() == self.page_size;
            for event in page.iter().take_while(|e| e.position <= position) {
                apply_one(&self.projection, &self.upcasters, &mut state, event).map_err(
                    |error| StateAtError::Failed {
                        position: event.position,
                        error,
                    },
                )?;
            }
            match page.last() {
                Some(last) if full => next = last.position + 1,
                _ => break,
            }
        }
        self.state_at_cache = Some((position, to_json(&state)?));
        Ok(state)
    }

    async fn save(&mut self) -> Result<(), ProjectionError> {
        let state = to_json(&self.state)?;
        // A checkpoint nesting deeper than the limit could never be loaded again.
        crate::limits::check_depth(
            &format!("the state of projection '{}'", self.projection.name()),
            &state,
        )
        .map_err(|e| ProjectionError::Encode(e.to_string()))?;
        self.store
            .save_checkpoint(Checkpoint {
                name: self.projection.name().to_string(),
                position: self.position,
                state,
                updated_at: self.clock.now_ms(),
            })
            .await?;
        self.saved_state = None;
        self.saved_position = self.position;
        self.unsaved.clear();
        Ok(())
    }

    /// Pages from the checkpoint to the head (read once, then again at the end to pick
    /// up events appended meanwhile), saving every `checkpoint_every` events and at the
    /// end. `progress` hears the position after every page.
    async fn run_to_head(
        &mut self,
        mut progress: impl FnMut(RebuildProgress),
    ) -> Result<usize, ProjectionError> {
        self.load().await?;
        let mut total = 0;
        loop {
            if matches!(self.status, ProjectionStatus::Failed { .. }) {
                return Ok(total);
            }
            let head = self.store.head_position().await?;
            if self.position >= head {
                if self.position != self.saved_position {
                    self.save().await?;
                }
                if self.status != ProjectionStatus::Rebuilding {
                    self.status = ProjectionStatus::CaughtUp;
                }
                return Ok(total);
            }
            loop {
                let page = self.page(head).await?;
                total += page.applied;
                if matches!(self.status, ProjectionStatus::Failed { .. }) {
                    return Ok(total);
                }
                progress(RebuildProgress {
                    position: self.position,
                    head,
                });
                if page.done {
                    break;
                }
                if self.position - self.saved_position >= self.checkpoint_every {
                    self.save().await?;
                }
            }
        }
    }

    /// Runs pages until the checkpoint reaches the head (or the projection fails).
    /// Call it at start-up and after appends. Returns how many events were applied.
    /// A state nesting deeper than [`MAX_DEPTH`](crate::limits::MAX_DEPTH) is never
    /// saved (a checkpoint of it could not be loaded again): the save fails with
    /// [`ProjectionError::Encode`] and the checkpoint stays at the last save.
    pub async fn catch_up(&mut self) -> Result<usize, ProjectionError> {
        self.run_to_head(|_| {}).await
    }

    /// Forgets the state and checkpoint and replays the whole log, calling `progress`
    /// after every page. Clears a failure first. Returns how many events were applied.
    pub async fn rebuild(
        &mut self,
        progress: impl FnMut(RebuildProgress),
    ) -> Result<usize, ProjectionError> {
        self.loaded = true;
        self.status = ProjectionStatus::Rebuilding;
        self.state = self.projection.initial_state();
        self.position = 0;
        self.unsaved.clear();
        self.save().await?;
        let total = self.run_to_head(progress).await?;
        if self.status == ProjectionStatus::Rebuilding {
            self.status = ProjectionStatus::CaughtUp;
        }
        Ok(total)
    }
}

/// Why a projection runner stopped: not an event its `apply` refuses (that is
/// [`ProjectionStatus::Failed`], and the runner goes on answering), but the store or
/// the projection's own state.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProjectionError {
    /// The store failed; see [`StoreError`] for what to do. The checkpoint stays at the
    /// last save, and a later run resumes there.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The state does not encode to JSON, its saved JSON does not decode, or it nests
    /// deeper than [`MAX_DEPTH`](crate::limits::MAX_DEPTH) (a checkpoint of it could never
    /// be loaded again). Nothing was saved; fix the state's serde form or its shape.
    #[error("cannot encode: {0}")]
    Encode(String),
    /// `apply` failed on an event it had applied before, when the runner replayed it
    /// after another event failed: its result depends on more than the state and the
    /// event. Make `apply` deterministic, then rebuild.
    #[error("not deterministic: {0}")]
    NotDeterministic(String),
}

/// Why [`ProjectionRunner::state_at`] has no state for a position.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StateAtError {
    /// The runner stopped (the store failed, or the state does not encode); the query
    /// may be retried once that is fixed.
    #[error(transparent)]
    Projection(#[from] ProjectionError),
    /// `apply` fails on the event at `position`, at or before the position asked for;
    /// the live runner stops at the same event. Fix the projection (or ask for an
    /// earlier position).
    #[error("the projection fails at position {position}: {error}")]
    Failed {
        /// The position of the event `apply` fails on.
        position: u64,
        /// Why.
        error: String,
    },
}

/// Applies one event, upcast first when an upcaster lifts its type.
fn apply_one<P: Projection>(
    projection: &P,
    upcasters: &Upcasters,
    state: &mut P::State,
    event: &RecordedEvent,
) -> Result<(), String> {
    if upcasters.current_version(&event.event_type).is_none() {
        // Nothing to lift: apply the event as read, without a copy.
        return projection.apply(state, event).map_err(|e| e.to_string());
    }
    let up = upcasters.upcast(event.clone()).map_err(|e| e.to_string())?;
    projection
        .apply(state, &up.event)
        .map_err(|e| e.to_string())
}

fn to_json<T: Serialize>(state: &T) -> Result<Value, ProjectionError> {
    serde_json::to_value(state)
        .map_err(|e| ProjectionError::Encode(format!("cannot serialize projection state: {e}")))
}
