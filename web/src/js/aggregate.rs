//! Aggregates written in JavaScript (`db.defineAggregate`): JS `decide` and `evolve` over
//! JSON state, with the same snapshots, concurrency retries and metadata as Rust ones.

use std::rc::Rc;

use chronik_core::{
    AggregateState, DecidedEvent, DynamicAggregate, DynamicError, DynamicHandler, SnapshotPolicy,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tsify::Tsify;
use wasm_bindgen::prelude::*;

use super::types::{CommandOptions, StateOptions};
use super::{call, input, out, Backend, Shared};
use crate::error::handler_error;

/// The JavaScript functions behind an aggregate.
pub struct JsAggregate {
    name: String,
    initial: Value,
    decide: js_sys::Function,
    evolve: js_sys::Function,
}

impl JsAggregate {
    /// An aggregate named `name` (its streams are `<name>-<id>`).
    pub fn new(
        name: String,
        initial: Value,
        decide: js_sys::Function,
        evolve: js_sys::Function,
    ) -> Self {
        Self {
            name,
            initial,
            decide,
            evolve,
        }
    }
}

impl DynamicAggregate for JsAggregate {
    /// Whatever `decide` or `evolve` threw, passed back to the caller untouched.
    type Error = JsValue;

    fn name(&self) -> &str {
        &self.name
    }

    fn initial_state(&self) -> Value {
        self.initial.clone()
    }

    fn decide(&self, state: &Value, command: &Value) -> Result<Vec<DecidedEvent>, JsValue> {
        let events = self
            .decide
            .call2(&JsValue::NULL, &out(state)?, &out(command)?)?;
        let what = "the events decide returned";
        input::refuse_promise(&events, what)?;
        if input::array(&events, what)?.is_none() {
            return Err(input::invalid(
                what,
                format!(
                    "must be an array of {{ type, data }} events, not {}",
                    input::kind(&events)
                ),
            ));
        }
        // The array and each event object wrap data the planner bounds exactly.
        let json = input::json_within(&events, what, 3)?;
        input::decode(json, what)
    }

    fn evolve(&self, state: Value, event: &chronik_core::RecordedEvent) -> Result<Value, JsValue> {
        let event = out(event)?;
        let next = self.evolve.call2(&JsValue::NULL, &out(&state)?, &event)?;
        let what = "the state evolve returned";
        input::refuse_promise(&next, what)?;
        input::json(&next, what)
    }
}

/// A JS aggregate's state and the version of its stream that it includes.
#[derive(Debug, Clone, Serialize, Deserialize, Tsify)]
#[serde(rename_all = "camelCase")]
#[tsify(hashmap_as_object)]
pub struct AggregateView {
    /// The state.
    #[tsify(type = "JsonValue")]
    pub state: Value,
    /// The stream version the state includes (0: no events yet).
    pub version: u64,
}

/// What `execute` resolves to.
#[derive(Debug, Clone, Serialize, Deserialize, Tsify)]
#[serde(rename_all = "camelCase")]
#[tsify(hashmap_as_object)]
pub struct ExecuteResult {
    /// The state after the command.
    #[tsify(type = "JsonValue")]
    pub state: Value,
    /// The stream's new version.
    pub version: u64,
    /// The events the command recorded.
    // Core's own events: their serde shape is the declared `RecordedEvent`.
    #[tsify(type = "RecordedEvent[]")]
    pub events: Vec<chronik_core::RecordedEvent>,
}

/// A JS aggregate's error: what `decide` or `evolve` threw, unchanged, or a `ChronikError`.
fn dynamic_error(err: DynamicError<JsValue>) -> JsValue {
    handler_error(err, |thrown| thrown, |thrown| thrown)
}

/// An aggregate defined in JavaScript. Get one from `db.defineAggregate`.
#[wasm_bindgen]
pub struct Aggregate {
    shared: Rc<Shared>,
    handler: Rc<DynamicHandler<Rc<Backend>, JsAggregate>>,
}

impl Aggregate {
    /// Wraps `aggregate`, snapshotting every `snapshot_every` events (0: never).
    pub(super) fn new(
        shared: Rc<Shared>,
        aggregate: JsAggregate,
        snapshot_every: Option<u64>,
    ) -> Result<Self, JsValue> {
        let policy = match snapshot_every {
            Some(0) => SnapshotPolicy::Off,
            Some(n) => SnapshotPolicy::Every(n),
            None => SnapshotPolicy::default(),
        };
        let handler = DynamicHandler::new(Rc::clone(&shared.store), aggregate)
            .map_err(dynamic_error)?
            .with_snapshot_policy(policy);
        Ok(Aggregate {
            shared,
            handler: Rc::new(handler),
        })
    }
}

#[wasm_bindgen]
impl Aggregate {
    /// Loads aggregate `id` (nearest snapshot plus the events after it), runs `decide`,
    /// runs `evolve` on what it decided, and appends the events expecting the version it
    /// loaded; when another writer got there first it loads and decides again. Whatever
    /// `decide` or `evolve` throws is rethrown unchanged, and nothing is written.
    #[wasm_bindgen(unchecked_return_type = "Promise<ExecuteResult>")]
    pub fn execute(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] id: JsValue,
        #[wasm_bindgen(unchecked_param_type = "JsonValue")] command: JsValue,
        options: Option<super::ts::CommandOptions>,
    ) -> js_sys::Promise {
        let options: JsValue = options.map(JsValue::from).unwrap_or(JsValue::UNDEFINED);
        let (handler, shared) = (Rc::clone(&self.handler), Rc::clone(&self.shared));
        call(&self.shared, || {
            let id = input::name(&id, "id")?;
            let command = input::json(&command, "command")?;
            let ctx = input::options::<CommandOptions>(&options, "options")?.context();
            Ok(async move {
                let outcome = handler
                    .handle(&id, &command, &ctx)
                    .await
                    .map_err(dynamic_error)?;
                shared.changed();
                out(&ExecuteResult {
                    state: outcome.state,
                    version: outcome.version,
                    events: outcome.events,
                })
            })
        })
    }

    /// The state of `id` now, after version `atVersion`, or as of time `atTime`.
    #[wasm_bindgen(unchecked_return_type = "Promise<AggregateView>")]
    pub fn state(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] id: JsValue,
        options: Option<super::ts::StateOptions>,
    ) -> js_sys::Promise {
        let options: JsValue = options.map(JsValue::from).unwrap_or(JsValue::UNDEFINED);
        let handler = Rc::clone(&self.handler);
        call(&self.shared, || {
            let id = input::name(&id, "id")?;
            let options = input::options::<StateOptions>(&options, "options")?;
            Ok(async move {
                let loaded: AggregateState<Value> = match (options.at_version, options.at_time) {
                    (Some(v), _) => handler.state_at_version(&id, v).await,
                    (None, Some(t)) => handler.state_at_time(&id, t).await,
                    (None, None) => handler.load(&id).await,
                }
                .map_err(dynamic_error)?;
                out(&AggregateView {
                    state: loaded.state,
                    version: loaded.version,
                })
            })
        })
    }

    /// The stream that holds aggregate `id`: `<name>-<id>`.
    #[wasm_bindgen(js_name = streamId)]
    pub fn stream_id(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] id: JsValue,
    ) -> Result<String, JsValue> {
        let id = input::name(&id, "id")?;
        Ok(self.handler.stream_id(&id))
    }
}
