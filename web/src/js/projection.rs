//! Projections for JavaScript: JS-defined ones (`defineProjection`) and the Rust ones the
//! example domains provide, every one run by the database's one [`ProjectionHub`].

use std::rc::Rc;

use std::cell::RefCell;

use chronik_core::{
    HubError, HubInfo, Projection as CoreProjection, ProjectionHub, ProjectionStatus, StateAtError,
};
use futures::lock::{MappedMutexGuard, Mutex, MutexGuard};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use wasm_bindgen::prelude::*;

use super::backend::Backend;
use super::input::{self, describe_thrown};
use super::types::{ProjectionInfo, ProjectionState, RebuildProgress};
use super::{call, out, Shared};
use crate::error::{hub_error, js_error, projection_error, set_field};

/// `Number.MAX_SAFE_INTEGER`: the largest position a JS number holds exactly.
const MAX_SAFE_INTEGER: u64 = 9_007_199_254_740_991;

/// Every projection of one database, one runner per name; those asked for are caught up
/// together in one pass.
pub type Hub = ProjectionHub<Rc<Backend>>;

/// Adds a runner to the hub: asked for synchronously (`defineProjection`,
/// `projection(name)`) and made the next time the hub is locked, and again whenever the
/// hub is rebuilt (a sync changed what the runners had read).
pub type PendingRunner = Rc<dyn Fn(&mut Hub) -> Result<(), HubError>>;

/// The projections of one `Chronik` instance: the hub behind an async lock, and the
/// names known so far, so that synchronous calls can check them without the lock.
#[derive(Default)]
pub struct Projections {
    hub: Mutex<Option<Hub>>,
    names: RefCell<Vec<String>>,
    pending: RefCell<Vec<PendingRunner>>,
    /// Every runner ever registered, to rebuild the hub from.
    all: RefCell<Vec<PendingRunner>>,
    /// The runners' states may rest on pending events a sync has since confirmed,
    /// decided again or dropped: the hub is rebuilt at its next use, each runner from
    /// its checkpoint (which only ever covers confirmed events).
    stale: std::cell::Cell<bool>,
}

impl Projections {
    /// Whether a projection of that name was defined or requested.
    pub fn knows(&self, name: &str) -> bool {
        self.names.borrow().iter().any(|n| n == name)
    }

    /// The names defined or requested, in that order.
    pub fn names(&self) -> Vec<String> {
        self.names.borrow().clone()
    }

    /// Registers `name`, whose runner `add` puts into the hub at its next use.
    pub fn register(&self, name: String, add: PendingRunner) {
        self.names.borrow_mut().push(name);
        self.all.borrow_mut().push(Rc::clone(&add));
        self.pending.borrow_mut().push(add);
    }

    /// Rebuilds the hub at its next use (a sync rewrote the view the runners read).
    pub fn invalidate(&self) {
        self.stale.set(true);
    }

    /// Forgets every projection (the database was closed).
    pub fn clear(&self) {
        self.names.borrow_mut().clear();
        self.pending.borrow_mut().clear();
        self.all.borrow_mut().clear();
    }

    /// The hub over `store`, locked, with every registered runner in it.
    pub async fn lock(
        &self,
        store: &Rc<Backend>,
    ) -> Result<MappedMutexGuard<'_, Option<Hub>, Hub>, JsValue> {
        let mut guard = self.hub.lock().await;
        if self.stale.replace(false) {
            *guard = None;
            *self.pending.borrow_mut() = self.all.borrow().clone();
        }
        let hub = guard.get_or_insert_with(|| ProjectionHub::new(Rc::clone(store)));
        for add in self.pending.borrow_mut().drain(..) {
            add(hub).map_err(hub_error)?;
        }
        Ok(MutexGuard::map(guard, |hub| {
            hub.as_mut().expect("the hub was created above")
        }))
    }
}

/// The API's view of a projection's status.
fn info(hub: HubInfo) -> ProjectionInfo {
    let (status, failed_at, error) = match hub.status {
        ProjectionStatus::CatchingUp => (ProjectionState::CatchingUp, None, None),
        ProjectionStatus::CaughtUp => (ProjectionState::CaughtUp, None, None),
        ProjectionStatus::Rebuilding => (ProjectionState::Rebuilding, None, None),
        ProjectionStatus::Failed { position, error } => {
            (ProjectionState::Failed, Some(position), Some(error))
        }
    };
    ProjectionInfo {
        name: hub.name,
        status,
        position: hub.position,
        lag: hub.lag,
        failed_at,
        error,
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
        let event = out(event).map_err(|e| describe_thrown(&e))?;
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
    name: String,
}

impl Projection {
    /// The projection `name` of the database `shared` (registered with its hub).
    pub(super) fn new(shared: Rc<Shared>, name: String) -> Self {
        Self { shared, name }
    }
}

#[wasm_bindgen]
impl Projection {
    /// The projection's name.
    #[wasm_bindgen(getter)]
    pub fn name(&self) -> String {
        self.name.clone()
    }

    /// The state after every event stored so far (catches up first).
    #[wasm_bindgen(unchecked_return_type = "Promise<JsonValue>")]
    pub fn state(&self) -> js_sys::Promise {
        let (shared, name) = (Rc::clone(&self.shared), self.name.clone());
        call(&self.shared, || {
            Ok(async move {
                let mut hub = shared.projections.lock(&shared.store).await?;
                let state = hub.state(&name).await.map_err(hub_error)?;
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
        let (shared, name) = (Rc::clone(&self.shared), self.name.clone());
        call(&self.shared, || {
            let position = input::integer(&position, "position", 0, MAX_SAFE_INTEGER)?;
            Ok(async move {
                let mut hub = shared.projections.lock(&shared.store).await?;
                match hub.state_at(&name, position).await {
                    Ok(state) => out(&state),
                    Err(StateAtError::Projection(e)) => Err(projection_error(e)),
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
        let (shared, name) = (Rc::clone(&self.shared), self.name.clone());
        call(&self.shared, || {
            Ok(async move {
                let mut hub = shared.projections.lock(&shared.store).await?;
                let found = hub.info(&name).await.map_err(hub_error)?;
                out(&info(found))
            })
        })
    }

    /// Processes the events appended since this projection's last run (the database's
    /// other projections catch up when they are asked).
    #[wasm_bindgen(js_name = catchUp, unchecked_return_type = "Promise<void>")]
    pub fn catch_up(&self) -> js_sys::Promise {
        let (shared, name) = (Rc::clone(&self.shared), self.name.clone());
        call(&self.shared, || {
            Ok(async move {
                let mut hub = shared.projections.lock(&shared.store).await?;
                hub.catch_up_only(&[&name]).await.map_err(hub_error)?;
                Ok(JsValue::UNDEFINED)
            })
        })
    }

    /// Throws the state away and processes the whole log again; resolves to the number
    /// of events processed. `onProgress` is called after every page.
    #[wasm_bindgen(unchecked_return_type = "Promise<number>")]
    pub fn rebuild(&self, options: Option<super::ts::RebuildOptions>) -> js_sys::Promise {
        let options: JsValue = options.map(JsValue::from).unwrap_or(JsValue::UNDEFINED);
        let (shared, name) = (Rc::clone(&self.shared), self.name.clone());
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
                let mut hub = shared.projections.lock(&shared.store).await?;
                let processed = hub
                    .rebuild(&name, |progress| {
                        if let (Some(f), None) = (&on_progress, &thrown) {
                            let progress = RebuildProgress {
                                position: progress.position,
                                head: progress.head,
                            };
                            let progress = out(&progress).unwrap_or(JsValue::UNDEFINED);
                            if let Err(e) = f.call1(&JsValue::NULL, &progress) {
                                thrown = Some(e);
                            }
                        }
                    })
                    .await
                    .map_err(hub_error)?;
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
