//! Projections for JavaScript: JS-defined ones (`defineProjection`) and, through the same
//! [`AnyProjection`] interface, the Rust ones the domains provide.

use std::rc::Rc;

use chronik_core::{
    Projection as CoreProjection, ProjectionRunner, ProjectionStatus, StateAtError, StoreError,
};
use futures::future::LocalBoxFuture;
use futures::lock::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use wasm_bindgen::prelude::*;

use super::backend::Backend;
use super::input::{self, describe_thrown};
use super::types::{ProjectionInfo, ProjectionState, RebuildProgress, RecordedEvent};
use super::{call, out, Shared};
use crate::error::{js_error, set_field, store_error};

/// `Number.MAX_SAFE_INTEGER`: the largest position a JS number holds exactly.
const MAX_SAFE_INTEGER: u64 = 9_007_199_254_740_991;

/// What the JS `Projection` class needs from a runner, whatever its state type.
pub trait AnyProjection {
    /// The projection's name.
    fn name(&self) -> String;
    /// Processes every event past the checkpoint.
    fn catch_up(&self) -> LocalBoxFuture<'_, Result<(), StoreError>>;
    /// The current state as JSON (after catching up).
    fn state(&self) -> LocalBoxFuture<'_, Result<Value, StoreError>>;
    /// Status, checkpoint and lag.
    fn info(&self) -> LocalBoxFuture<'_, Result<ProjectionInfo, StoreError>>;
    /// The state just after global position `position`, as the live runner had it.
    fn state_at(&self, position: u64) -> LocalBoxFuture<'_, Result<Value, StateAtError>>;
    /// Rebuilds from position zero, reporting progress after every page.
    fn rebuild<'a>(
        &'a self,
        progress: Box<dyn FnMut(RebuildProgress) + 'a>,
    ) -> LocalBoxFuture<'a, Result<usize, StoreError>>;
}

/// A projection runner shared by every caller of one `Chronik` instance.
pub struct SharedRunner<P: CoreProjection> {
    name: String,
    runner: Mutex<ProjectionRunner<Rc<Backend>, P>>,
}

impl<P: CoreProjection> SharedRunner<P> {
    /// Shares an existing runner (one a domain facade configured with its upcasters).
    pub fn from_runner(runner: ProjectionRunner<Rc<Backend>, P>) -> Self {
        Self {
            name: runner.projection().name().to_string(),
            runner: Mutex::new(runner),
        }
    }
}

impl<P> AnyProjection for SharedRunner<P>
where
    P: CoreProjection,
    P::State: Serialize,
{
    fn name(&self) -> String {
        self.name.clone()
    }

    fn catch_up(&self) -> LocalBoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            self.runner.lock().await.catch_up().await?;
            Ok(())
        })
    }

    fn state(&self) -> LocalBoxFuture<'_, Result<Value, StoreError>> {
        Box::pin(async move {
            let mut runner = self.runner.lock().await;
            runner.catch_up().await?;
            serde_json::to_value(runner.state())
                .map_err(|e| StoreError::Corrupt(format!("projection state: {e}")))
        })
    }

    fn state_at(&self, position: u64) -> LocalBoxFuture<'_, Result<Value, StateAtError>> {
        Box::pin(async move {
            let state = self.runner.lock().await.state_at(position).await?;
            serde_json::to_value(&state).map_err(|e| {
                StateAtError::Store(StoreError::Corrupt(format!("projection state: {e}")))
            })
        })
    }

    fn info(&self) -> LocalBoxFuture<'_, Result<ProjectionInfo, StoreError>> {
        Box::pin(async move {
            let mut runner = self.runner.lock().await;
            let lag = runner.lag().await?;
            let (status, failed_at, error) = match runner.status() {
                ProjectionStatus::CatchingUp => (ProjectionState::CatchingUp, None, None),
                ProjectionStatus::CaughtUp => (ProjectionState::CaughtUp, None, None),
                ProjectionStatus::Rebuilding => (ProjectionState::Rebuilding, None, None),
                ProjectionStatus::Failed { position, error } => (
                    ProjectionState::Failed,
                    Some(*position),
                    Some(error.clone()),
                ),
            };
            Ok(ProjectionInfo {
                name: self.name.clone(),
                status,
                position: runner.position(),
                lag,
                failed_at,
                error,
            })
        })
    }

    fn rebuild<'a>(
        &'a self,
        mut progress: Box<dyn FnMut(RebuildProgress) + 'a>,
    ) -> LocalBoxFuture<'a, Result<usize, StoreError>> {
        Box::pin(async move {
            self.runner
                .lock()
                .await
                .rebuild(|p| {
                    progress(RebuildProgress {
                        position: p.position,
                        head: p.head,
                    })
                })
                .await
        })
    }
}

/// A projection's state kept as the JavaScript value `apply` returned. It crosses into
/// Rust (as JSON) only when the runner saves or restores a checkpoint, not at every event:
/// converting the whole state twice per event made rebuilds slower the larger the state.
#[derive(Debug, Clone)]
pub struct JsState(JsValue);

impl Default for JsState {
    fn default() -> Self {
        JsState(JsValue::NULL)
    }
}

impl Serialize for JsState {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let json: Value = input::json(&self.0, "the state apply returned")
            .map_err(|e| serde::ser::Error::custom(describe_thrown(&e)))?;
        json.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for JsState {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        out(&value)
            .map(JsState)
            .map_err(|e| serde::de::Error::custom(describe_thrown(&e)))
    }
}

/// A projection whose reducer is the JavaScript `apply(state, event)`.
pub struct JsProjection {
    name: String,
    types: Option<Vec<String>>,
    initial: Value,
    apply: js_sys::Function,
}

impl JsProjection {
    /// The projection `name` folding the events of `types` (all when `None`) with `apply`.
    pub fn new(
        name: String,
        types: Option<Vec<String>>,
        initial: Value,
        apply: js_sys::Function,
    ) -> Self {
        Self {
            name,
            types,
            initial,
            apply,
        }
    }
}

impl CoreProjection for JsProjection {
    type State = JsState;
    type Error = String;

    fn name(&self) -> &str {
        &self.name
    }

    fn event_types(&self) -> Option<Vec<String>> {
        self.types.clone()
    }

    fn initial_state(&self) -> JsState {
        // `initial` was checked JSON when the projection was defined.
        JsState(out(&self.initial).unwrap_or(JsValue::NULL))
    }

    fn apply(
        &self,
        state: &mut JsState,
        event: &chronik_core::RecordedEvent,
    ) -> Result<(), String> {
        let event = out(&RecordedEvent::from(event.clone())).map_err(|e| describe_thrown(&e))?;
        let next = self
            .apply
            .call2(&JsValue::NULL, &state.0, &event)
            .map_err(|thrown| describe_thrown(&thrown))?;
        if next.is_undefined() {
            return Err("apply returned undefined; it must return the next state".into());
        }
        input::refuse_promise(&next, "the state apply returned")
            .map_err(|e| describe_thrown(&e))?;
        state.0 = next;
        Ok(())
    }
}

/// A read model kept up to date from the event log, with its checkpoint and state saved
/// together. Get one from `defineProjection` or `projection(name)`.
#[wasm_bindgen]
pub struct Projection {
    shared: Rc<Shared>,
    inner: Rc<dyn AnyProjection>,
}

impl Projection {
    /// Wraps a runner of the database `shared`.
    pub(super) fn new(shared: Rc<Shared>, inner: Rc<dyn AnyProjection>) -> Self {
        Self { shared, inner }
    }
}

#[wasm_bindgen]
impl Projection {
    /// The projection's name.
    #[wasm_bindgen(getter)]
    pub fn name(&self) -> String {
        self.inner.name()
    }

    /// The state after every event stored so far (catches up first).
    #[wasm_bindgen(unchecked_return_type = "Promise<JsonValue>")]
    pub fn state(&self) -> js_sys::Promise {
        let inner = Rc::clone(&self.inner);
        call(&self.shared, || {
            Ok(async move {
                let state = inner.state().await.map_err(store_error)?;
                out(&state)
            })
        })
    }

    /// Time travel for a read model: its state just after the event at global position
    /// `position` (0: the initial state), exactly as the live projection had it there.
    /// Rejects with `ProjectionFailed` (with `position` and `error`) when `apply` fails
    /// on an event at or before it, where the live projection stops too.
    #[wasm_bindgen(js_name = stateAt, unchecked_return_type = "Promise<JsonValue>")]
    pub fn state_at(
        &self,
        #[wasm_bindgen(unchecked_param_type = "number")] position: JsValue,
    ) -> js_sys::Promise {
        let inner = Rc::clone(&self.inner);
        call(&self.shared, || {
            let position = input::integer(&position, "position", 0, MAX_SAFE_INTEGER)?;
            Ok(async move {
                match inner.state_at(position).await {
                    Ok(state) => out(&state),
                    Err(StateAtError::Store(e)) => Err(store_error(e)),
                    Err(e @ StateAtError::Failed { position, .. }) => {
                        let err = js_error("ProjectionFailed", &e.to_string());
                        if let StateAtError::Failed { error, .. } = &e {
                            set_field(&err, "error", error.as_str().into());
                        }
                        set_field(&err, "position", (position as f64).into());
                        Err(err.into())
                    }
                }
            })
        })
    }

    /// Status, checkpoint position and lag behind the head of the log.
    #[wasm_bindgen(unchecked_return_type = "Promise<ProjectionInfo>")]
    pub fn info(&self) -> js_sys::Promise {
        let inner = Rc::clone(&self.inner);
        call(&self.shared, || {
            Ok(async move {
                let info = inner.info().await.map_err(store_error)?;
                out(&info)
            })
        })
    }

    /// Processes the events appended since the last run.
    #[wasm_bindgen(js_name = catchUp, unchecked_return_type = "Promise<void>")]
    pub fn catch_up(&self) -> js_sys::Promise {
        let inner = Rc::clone(&self.inner);
        call(&self.shared, || {
            Ok(async move {
                inner.catch_up().await.map_err(store_error)?;
                Ok(JsValue::UNDEFINED)
            })
        })
    }

    /// Throws the state away and processes the whole log again; resolves to the number
    /// of events processed. `onProgress` is called after every page.
    #[wasm_bindgen(unchecked_return_type = "Promise<number>")]
    pub fn rebuild(&self, options: Option<super::ts::RebuildOptions>) -> js_sys::Promise {
        let options: JsValue = options.map(JsValue::from).unwrap_or(JsValue::UNDEFINED);
        let inner = Rc::clone(&self.inner);
        call(&self.shared, || {
            let on_progress = if options.is_undefined() || options.is_null() {
                None
            } else {
                input::object(&options, "options")?;
                input::optional_function(
                    &input::field(&options, "onProgress", "options")?,
                    "options.onProgress",
                )?
            };
            Ok(async move {
                let mut thrown = None;
                let processed = inner
                    .rebuild(Box::new(|progress| {
                        if let (Some(f), None) = (&on_progress, &thrown) {
                            let progress = out(&progress).unwrap_or(JsValue::UNDEFINED);
                            if let Err(e) = f.call1(&JsValue::NULL, &progress) {
                                thrown = Some(e);
                            }
                        }
                    }))
                    .await
                    .map_err(store_error)?;
                if let Some(e) = thrown {
                    return Err(js_error(
                        "CallbackFailed",
                        &format!("onProgress threw: {}", describe_thrown(&e)),
                    )
                    .into());
                }
                Ok((processed as f64).into())
            })
        })
    }
}
