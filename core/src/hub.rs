//! [`ProjectionHub`]: every projection runner of one store, caught up together.
//!
//! A store should have one runner per projection name: two runners saving under one
//! checkpoint name would overwrite each other's progress. The hub owns the runners of
//! a store, type-erased over JSON state, so every caller (the JS API, the app's pages)
//! reads a read model through the same runner. Catching up reads the log **once** for
//! all of them: each page is fed to every runner that is behind, instead of one pass
//! over the log per read model.

use std::future::Future;
use std::pin::Pin;

use serde::Serialize;
use serde_json::Value;

use crate::error::StoreError;
use crate::event::RecordedEvent;
use crate::projection::{
    Projection, ProjectionError, ProjectionRunner, ProjectionStatus, RebuildProgress, StateAtError,
};
use crate::store::{EventStore, ReadAllOptions};

type LocalFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// A projection runner with its state erased to JSON.
trait Erased {
    fn name(&self) -> String;
    fn event_types(&self) -> Option<Vec<String>>;
    fn page_size(&self) -> usize;
    fn loaded_position(&mut self) -> LocalFuture<'_, Result<Option<u64>, ProjectionError>>;
    fn feed<'a>(
        &'a mut self,
        page: &'a [RecordedEvent],
        full: bool,
        head: u64,
    ) -> LocalFuture<'a, Result<usize, ProjectionError>>;
    fn save_if_moved(&mut self) -> LocalFuture<'_, Result<(), ProjectionError>>;
    fn state(&self) -> Result<Value, ProjectionError>;
    fn state_at(&mut self, position: u64) -> LocalFuture<'_, Result<Value, StateAtError>>;
    fn status(&self) -> ProjectionStatus;
    fn position(&self) -> u64;
    fn lag(&mut self) -> LocalFuture<'_, Result<u64, ProjectionError>>;
    fn resume(&mut self);
    fn rebuild<'a>(
        &'a mut self,
        progress: &'a mut dyn FnMut(RebuildProgress),
    ) -> LocalFuture<'a, Result<usize, ProjectionError>>;
}

fn json<T: Serialize>(state: &T) -> Result<Value, ProjectionError> {
    serde_json::to_value(state)
        .map_err(|e| ProjectionError::Encode(format!("cannot serialize projection state: {e}")))
}

impl<S: EventStore, P: Projection> Erased for ProjectionRunner<S, P> {
    fn name(&self) -> String {
        self.projection().name().to_string()
    }
    fn event_types(&self) -> Option<Vec<String>> {
        self.projection().event_types()
    }
    fn page_size(&self) -> usize {
        ProjectionRunner::page_size(self)
    }
    fn loaded_position(&mut self) -> LocalFuture<'_, Result<Option<u64>, ProjectionError>> {
        Box::pin(ProjectionRunner::loaded_position(self))
    }
    fn feed<'a>(
        &'a mut self,
        page: &'a [RecordedEvent],
        full: bool,
        head: u64,
    ) -> LocalFuture<'a, Result<usize, ProjectionError>> {
        Box::pin(ProjectionRunner::feed(self, page, full, head))
    }
    fn save_if_moved(&mut self) -> LocalFuture<'_, Result<(), ProjectionError>> {
        Box::pin(ProjectionRunner::save_if_moved(self))
    }
    fn state(&self) -> Result<Value, ProjectionError> {
        json(ProjectionRunner::state(self))
    }
    fn state_at(&mut self, position: u64) -> LocalFuture<'_, Result<Value, StateAtError>> {
        Box::pin(async move {
            let state = ProjectionRunner::state_at(self, position).await?;
            Ok(json(&state)?)
        })
    }
    fn status(&self) -> ProjectionStatus {
        ProjectionRunner::status(self).clone()
    }
    fn position(&self) -> u64 {
        ProjectionRunner::position(self)
    }
    fn lag(&mut self) -> LocalFuture<'_, Result<u64, ProjectionError>> {
        Box::pin(ProjectionRunner::lag(self))
    }
    fn resume(&mut self) {
        ProjectionRunner::resume(self);
    }
    fn rebuild<'a>(
        &'a mut self,
        progress: &'a mut dyn FnMut(RebuildProgress),
    ) -> LocalFuture<'a, Result<usize, ProjectionError>> {
        Box::pin(ProjectionRunner::rebuild(self, progress))
    }
}

/// Why the hub refuses a request about a projection.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HubError {
    /// No projection of that name was added. Add it first (see
    /// [`ProjectionHub::names`] for the known ones).
    #[error("no projection named '{0}'")]
    Unknown(String),
    /// A projection of that name is already in the hub: each name has one runner, or
    /// two would overwrite each other's checkpoint. Use the one there.
    #[error("a projection named '{0}' is already in the hub")]
    Duplicate(String),
    /// A runner stopped: the store failed, or a state does not encode.
    #[error(transparent)]
    Projection(#[from] ProjectionError),
}

/// Where one projection stands.
#[derive(Debug, Clone, PartialEq)]
pub struct HubInfo {
    /// The projection's name.
    pub name: String,
    /// Its status.
    pub status: ProjectionStatus,
    /// The global position its state includes (its checkpoint).
    pub position: u64,
    /// Events in the log past it.
    pub lag: u64,
}

/// Every projection runner of one store, each name once, caught up by one pass over the
/// log. Methods take `&mut self`: share a hub behind an async lock.
pub struct ProjectionHub<S> {
    store: S,
    runners: Vec<Box<dyn Erased>>,
}

impl<S: EventStore> ProjectionHub<S> {
    /// An empty hub over `store` (the runners added must use the same store).
    pub fn new(store: S) -> Self {
        Self {
            store,
            runners: Vec::new(),
        }
    }

    /// Adds `runner` under its projection's name; refuses a second one of that name.
    pub fn add<R, P>(&mut self, runner: ProjectionRunner<R, P>) -> Result<(), HubError>
    where
        R: EventStore + 'static,
        P: Projection + 'static,
    {
        let name = runner.projection().name().to_string();
        if self.contains(&name) {
            return Err(HubError::Duplicate(name));
        }
        self.runners.push(Box::new(runner));
        Ok(())
    }

    /// Whether a projection named `name` is in the hub.
    pub fn contains(&self, name: &str) -> bool {
        self.runners.iter().any(|r| r.name() == name)
    }

    /// The names of the projections, in the order they were added.
    pub fn names(&self) -> Vec<String> {
        self.runners.iter().map(|r| r.name()).collect()
    }

    fn runner(&mut self, name: &str) -> Result<&mut Box<dyn Erased>, HubError> {
        self.runners
            .iter_mut()
            .find(|r| r.name() == name)
            .ok_or_else(|| HubError::Unknown(name.to_string()))
    }

    /// Catches every projection up to the head of the log in one pass: reads each page
    /// of the log once, from the position of the one furthest behind, and feeds it to
    /// every projection that is behind. A projection whose `apply` fails stops there
    /// (status failed) and the others go on. Returns the events applied, summed over
    /// the projections.
    pub async fn catch_up(&mut self) -> Result<usize, ProjectionError> {
        self.catch_up_where(|_| true).await
    }

    /// Catches up only the projections named in `names`, in one pass as
    /// [`catch_up`](Self::catch_up) does, reading only the event types they handle; the
    /// others stay where they are (and their checkpoints are not even loaded). A page
    /// that shows one read model pays for that one. Refuses an unknown name before
    /// reading anything.
    pub async fn catch_up_only(&mut self, names: &[&str]) -> Result<usize, HubError> {
        if let Some(unknown) = names.iter().find(|n| !self.contains(n)) {
            return Err(HubError::Unknown(unknown.to_string()));
        }
        Ok(self.catch_up_where(|name| names.contains(&name)).await?)
    }

    async fn catch_up_where(
        &mut self,
        wanted: impl Fn(&str) -> bool,
    ) -> Result<usize, ProjectionError> {
        let mut runners: Vec<&mut Box<dyn Erased>> = self
            .runners
            .iter_mut()
            .filter(|r| wanted(&r.name()))
            .collect();
        let mut start = None;
        for runner in runners.iter_mut() {
            if let Some(p) = runner.loaded_position().await? {
                start = Some(start.map_or(p, |s: u64| s.min(p)));
            }
        }
        let Some(mut from) = start else {
            return Ok(0);
        };
        // Read only the types some projection handles, unless one handles all.
        let mut types: Option<Vec<String>> = Some(Vec::new());
        for runner in &runners {
            match (runner.event_types(), types.as_mut()) {
                (Some(t), Some(all)) => all.extend(t),
                _ => types = None,
            }
        }
        if let Some(all) = types.as_mut() {
            all.sort();
            all.dedup();
        }
        let page_size = runners.iter().map(|r| r.page_size()).max().unwrap_or(4_000);
        let mut applied = 0;
        loop {
            let head = self.store.head_position().await?;
            if from >= head {
                break;
            }
            let page = self
                .store
                .read_all(ReadAllOptions {
                    from_position: from + 1,
                    limit: Some(page_size),
                    event_types: types.clone(),
                    stream_prefix: None,
                })
                .await?;
            let full = page.len() == page_size;
            for runner in runners.iter_mut() {
                applied += runner.feed(&page, full, head).await?;
            }
            from = if full {
                page.last().map_or(head, |e| e.position)
            } else {
                head
            };
        }
        for runner in runners.iter_mut() {
            runner.save_if_moved().await?;
        }
        Ok(applied)
    }

    /// The event types projection `name` reads; `None` when it reads every type.
    pub fn event_types(&self, name: &str) -> Result<Option<Vec<String>>, HubError> {
        self.runners
            .iter()
            .find(|r| r.name() == name)
            .map(|r| r.event_types())
            .ok_or_else(|| HubError::Unknown(name.to_string()))
    }

    /// The state projection `name` holds now, without catching up: its saved
    /// checkpoint's state until a catch-up moves it (loaded on first use).
    pub async fn current_state(&mut self, name: &str) -> Result<Value, HubError> {
        let runner = self.runner(name)?;
        runner.loaded_position().await?;
        Ok(runner.state()?)
    }

    /// The state of projection `name` after catching it up to the head of the log (the
    /// other projections are left where they are: see [`catch_up_only`](Self::catch_up_only)).
    pub async fn state(&mut self, name: &str) -> Result<Value, HubError> {
        self.catch_up_only(&[name]).await?;
        Ok(self.runner(name)?.state()?)
    }

    /// The state of projection `name` just after global position `position`, as its live
    /// runner had it (see [`ProjectionRunner::state_at`]).
    pub async fn state_at(&mut self, name: &str, position: u64) -> Result<Value, StateAtError> {
        let runner = self.runner(name).map_err(|e| match e {
            HubError::Projection(e) => StateAtError::Projection(e),
            other => StateAtError::Projection(ProjectionError::Store(StoreError::InvalidInput(
                other.to_string(),
            ))),
        })?;
        runner.state_at(position).await
    }

    /// Status, position and lag of projection `name` (without catching up).
    pub async fn info(&mut self, name: &str) -> Result<HubInfo, HubError> {
        let runner = self.runner(name)?;
        let lag = runner.lag().await?;
        Ok(HubInfo {
            name: name.to_string(),
            status: runner.status(),
            position: runner.position(),
            lag,
        })
    }

    /// Clears the failure of projection `name`, so the next catch-up retries its event.
    pub fn resume(&mut self, name: &str) -> Result<(), HubError> {
        self.runner(name)?.resume();
        Ok(())
    }

    /// Rebuilds projection `name` from the start of the log (the others are untouched),
    /// calling `progress` after every page; returns the events applied.
    pub async fn rebuild(
        &mut self,
        name: &str,
        mut progress: impl FnMut(RebuildProgress),
    ) -> Result<usize, HubError> {
        let runner = self.runner(name)?;
        Ok(runner.rebuild(&mut progress).await?)
    }
}
