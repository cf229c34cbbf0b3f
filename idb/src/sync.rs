//! Sync in a browser (or Node): [`HttpTransport`], core's [`Transport`] over `fetch`
//! against a chronik-server's store API, and [`SyncHandle`], the driver that runs a
//! [`SyncEngine`] with `spawn_local`: it steps the engine, waits when caught up for a
//! wake-up (a live notice from the server, a local write, the `online` event, a poll
//! timer), backs off on network failures, and with Web Locks lets only one tab of a
//! database run the engine (see "Sync" in ARCHITECTURE.md).
//!
//! `fetch`, `setTimeout` and `clearTimeout` are bound on the global object, not on
//! `window`, so the same code runs in a page, a worker and Node 18+.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use chronik_core::sync::{
    CommandRunner, PullError, PullPage, PushError, ReplicaStore, StepOutcome, SyncEngine,
    SyncStatus, Transport,
};
use chronik_core::{AppendResult, ExpectedVersion, NewEvent};
use futures::channel::mpsc;
use futures::future::{select, Either};
use futures::StreamExt;
use serde_json::{json, Value};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortController, BroadcastChannel, Headers, MessageEvent, Request, RequestInit};

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(catch, js_name = fetch)]
    fn global_fetch(request: &Request) -> Result<js_sys::Promise, JsValue>;
    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout(handler: &js_sys::Function, ms: i32) -> JsValue;
    #[wasm_bindgen(js_name = clearTimeout)]
    fn clear_timeout(id: &JsValue);
}

/// A timer as a future; dropping it clears the timer.
struct Sleep {
    id: JsValue,
    done: JsFuture,
}

impl Sleep {
    fn new(ms: u32) -> Self {
        let mut id = JsValue::UNDEFINED;
        let promise = js_sys::Promise::new(&mut |resolve, _| {
            id = set_timeout(&resolve, ms.min(i32::MAX as u32) as i32);
        });
        Sleep {
            id,
            done: JsFuture::from(promise),
        }
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        clear_timeout(&self.id);
    }
}

impl std::future::Future for Sleep {
    type Output = ();
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        std::pin::Pin::new(&mut self.done).poll(cx).map(|_| ())
    }
}

/// Waits `ms`, or less when `signal` aborts; the timer is cleared either way (so a
/// stopped sync keeps no Node process alive).
async fn sleep_unless_aborted(ms: u32, signal: &web_sys::AbortSignal) {
    if signal.aborted() {
        return;
    }
    let (tx, rx) = futures::channel::oneshot::channel::<()>();
    let tx = RefCell::new(Some(tx));
    let on_abort = Closure::<dyn FnMut(JsValue)>::new(move |_| {
        if let Some(tx) = tx.borrow_mut().take() {
            let _ = tx.send(());
        }
    });
    let target: &web_sys::EventTarget = signal;
    let _ = target.add_event_listener_with_callback("abort", on_abort.as_ref().unchecked_ref());
    let _ = select(Sleep::new(ms), rx).await;
    let _ = target.remove_event_listener_with_callback("abort", on_abort.as_ref().unchecked_ref());
}

/// What a thrown JS value says.
fn describe(e: &JsValue) -> String {
    if let Some(err) = e.dyn_ref::<js_sys::Error>() {
        return String::from(err.message());
    }
    e.as_string().unwrap_or_else(|| format!("{e:?}"))
}

/// An answer from the server: its status and body text.
struct Answer {
    status: u16,
    body: String,
}

impl Answer {
    /// The `error` of a JSON error body, else the body itself, else the status.
    fn message(&self) -> String {
        let from_json = serde_json::from_str::<Value>(&self.body)
            .ok()
            .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_string));
        match from_json {
            Some(m) => m,
            None if !self.body.trim().is_empty() => self.body.trim().to_string(),
            None => format!("http status {}", self.status),
        }
    }

    /// Whether retrying may get another answer: 408 (the server's time limit), 429 and
    /// every 5xx. Other 4xx are definite.
    fn is_indefinite(&self) -> bool {
        matches!(self.status, 408 | 429) || self.status >= 500
    }
}

/// The store API of a chronik-server (`{base_url}/v1/stores/{store}/…`) as core's
/// [`Transport`]: `POST …/streams/{stream}` to push, `GET …/events?after=&limit=` to
/// pull, and [`live`](HttpTransport::live) on `GET …/live` for notices. Answers map
/// exactly: 2xx is the result; 409 with the stream's `actual` version is
/// [`PushError::WrongExpectedVersion`]; 408, 429, 5xx, a network failure and a timeout
/// are `Network` (indefinite: retried with the same event ids); any other 4xx is
/// `Refused` with the server's message.
#[derive(Debug, Clone)]
pub struct HttpTransport {
    base_url: String,
    store: String,
    token: Option<String>,
    timeout_ms: u32,
}

impl HttpTransport {
    /// The store `store` of the server at `base_url` (such as `https://example.org`),
    /// with a bearer `token` when the server requires one; calls time out after 30 s.
    pub fn new(base_url: &str, store: &str, token: Option<String>) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_string(),
            store: store.to_string(),
            token,
            timeout_ms: 30_000,
        }
    }

    /// Calls that take longer than `ms` are abandoned as network failures.
    pub fn with_timeout(mut self, ms: u32) -> Self {
        self.timeout_ms = ms.max(1);
        self
    }

    /// The server's base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The store's name.
    pub fn store(&self) -> &str {
        &self.store
    }

    fn store_url(&self) -> String {
        format!(
            "{}/v1/stores/{}",
            self.base_url,
            String::from(js_sys::encode_uri_component(&self.store))
        )
    }

    fn request(
        &self,
        method: &str,
        url: &str,
        body: Option<&str>,
        accept: &str,
        signal: &web_sys::AbortSignal,
    ) -> Result<Request, String> {
        let headers = Headers::new().map_err(|e| describe(&e))?;
        let set = |k: &str, v: &str| headers.set(k, v).map_err(|e| describe(&e));
        set("Accept", accept)?;
        if body.is_some() {
            set("Content-Type", "application/json")?;
        }
        if let Some(token) = &self.token {
            set("Authorization", &format!("Bearer {token}"))?;
        }
        let init = RequestInit::new();
        init.set_method(method);
        init.set_headers(&headers);
        init.set_signal(Some(signal));
        if let Some(body) = body {
            init.set_body(&JsValue::from_str(body));
        }
        Request::new_with_str_and_init(url, &init).map_err(|e| describe(&e))
    }

    /// One call; `Err` is a network failure (no answer, or none in time).
    async fn call(&self, method: &str, url: &str, body: Option<&str>) -> Result<Answer, String> {
        let controller = AbortController::new().map_err(|e| describe(&e))?;
        let request = self.request(method, url, body, "application/json", &controller.signal())?;
        let abort = Closure::once_into_js({
            let controller = controller.clone();
            move || controller.abort()
        });
        let timer = set_timeout(abort.unchecked_ref(), self.timeout_ms as i32);
        let result = async {
            let promise = global_fetch(&request).map_err(|e| describe(&e))?;
            let response: web_sys::Response = JsFuture::from(promise)
                .await
                .map_err(|e| describe(&e))?
                .unchecked_into();
            let text = response.text().map_err(|e| describe(&e))?;
            let body = JsFuture::from(text).await.map_err(|e| describe(&e))?;
            Ok(Answer {
                status: response.status(),
                body: body.as_string().unwrap_or_default(),
            })
        }
        .await;
        clear_timeout(&timer);
        if controller.signal().aborted() {
            return Err(format!("no answer within {} ms", self.timeout_ms));
        }
        result
    }

    /// Follows `GET …/live?after=` until the stream ends, fails or `signal` aborts it,
    /// calling `notice` for every event the server announces. `Ok` when the server
    /// ended the stream, `Err` with why otherwise.
    pub async fn live(
        &self,
        after: u64,
        signal: &web_sys::AbortSignal,
        mut notice: impl FnMut(),
    ) -> Result<(), String> {
        let url = format!("{}/live?after={after}", self.store_url());
        let request = self.request("GET", &url, None, "text/event-stream", signal)?;
        let promise = global_fetch(&request).map_err(|e| describe(&e))?;
        let response: web_sys::Response = JsFuture::from(promise)
            .await
            .map_err(|e| describe(&e))?
            .unchecked_into();
        if !response.ok() {
            let text = response.text().map_err(|e| describe(&e))?;
            let body = JsFuture::from(text).await.unwrap_or(JsValue::UNDEFINED);
            let answer = Answer {
                status: response.status(),
                body: body.as_string().unwrap_or_default(),
            };
            return Err(answer.message());
        }
        let Some(body) = response.body() else {
            return Err("the live response has no body".into());
        };
        let reader: web_sys::ReadableStreamDefaultReader = body.get_reader().unchecked_into();
        let mut line: Vec<u8> = Vec::new();
        loop {
            let chunk = JsFuture::from(reader.read())
                .await
                .map_err(|e| describe(&e))?;
            let done = js_sys::Reflect::get(&chunk, &"done".into()).unwrap_or(JsValue::TRUE);
            if done.is_truthy() {
                return Ok(());
            }
            let value = js_sys::Reflect::get(&chunk, &"value".into()).map_err(|e| describe(&e))?;
            let bytes = js_sys::Uint8Array::new(&value).to_vec();
            for b in bytes {
                if b != b'\n' {
                    line.push(b);
                    continue;
                }
                if line.starts_with(b"data:") {
                    notice();
                } else if line.starts_with(b"event: error") || line.starts_with(b"event:error") {
                    return Err("the server ended the live stream with an error".into());
                }
                line.clear();
            }
        }
    }
}

/// A push's answer as core sees it.
fn push_result(answer: Result<Answer, String>) -> Result<AppendResult, PushError> {
    let answer = answer.map_err(PushError::Network)?;
    if (200..300).contains(&answer.status) {
        return serde_json::from_str(&answer.body)
            .map_err(|e| PushError::Network(format!("an unreadable append result: {e}")));
    }
    if answer.status == 409 {
        let body: Value = serde_json::from_str(&answer.body).unwrap_or(Value::Null);
        match body.get("actual") {
            Some(Value::Null) => return Err(PushError::WrongExpectedVersion { actual: None }),
            Some(v) if v.as_u64().is_some() => {
                return Err(PushError::WrongExpectedVersion { actual: v.as_u64() })
            }
            _ => return Err(PushError::Refused(answer.message())),
        }
    }
    if answer.is_indefinite() {
        return Err(PushError::Network(format!(
            "http {}: {}",
            answer.status,
            answer.message()
        )));
    }
    Err(PushError::Refused(answer.message()))
}

/// A pull's answer as core sees it.
fn pull_result(answer: Result<Answer, String>) -> Result<PullPage, PullError> {
    let answer = answer.map_err(PullError::Network)?;
    if (200..300).contains(&answer.status) {
        return serde_json::from_str(&answer.body)
            .map_err(|e| PullError::Network(format!("an unreadable page of the log: {e}")));
    }
    if answer.is_indefinite() {
        return Err(PullError::Network(format!(
            "http {}: {}",
            answer.status,
            answer.message()
        )));
    }
    Err(PullError::Refused(answer.message()))
}

impl Transport for HttpTransport {
    async fn push(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: &[NewEvent],
    ) -> Result<AppendResult, PushError> {
        let url = format!(
            "{}/streams/{}",
            self.store_url(),
            String::from(js_sys::encode_uri_component(stream))
        );
        let body = json!({ "expectedVersion": expected.to_json(), "events": events });
        let answer = self.call("POST", &url, Some(&body.to_string())).await;
        push_result(answer)
    }

    async fn pull(&self, after: u64, limit: usize) -> Result<PullPage, PullError> {
        let url = format!("{}/events?after={after}&limit={limit}", self.store_url());
        pull_result(self.call("GET", &url, None).await)
    }
}

/// How a [`SyncHandle`] runs.
#[derive(Debug, Clone)]
pub struct SyncConfig {
    /// The Web Lock only whose holder runs the engine (one tab per database), and the
    /// name of the `BroadcastChannel` on which the leader tells its status and followers
    /// wake it. `None` (a memory store): always the leader.
    pub lock_name: Option<String>,
    /// When caught up, look for news at least this often (ms), in case a live notice
    /// was missed.
    pub poll_ms: u32,
    /// The first wait after a network failure (ms); it doubles up to `max_backoff_ms`.
    pub min_backoff_ms: u32,
    /// The longest wait after failures (ms).
    pub max_backoff_ms: u32,
    /// Follow the server's live stream for notices of new events.
    pub live: bool,
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self {
            lock_name: None,
            poll_ms: 30_000,
            min_backoff_ms: 500,
            max_backoff_ms: 30_000,
            live: true,
        }
    }
}

impl SyncConfig {
    /// The lock (and channel) name for the IndexedDB database `db`.
    pub fn lock_for_database(db: &str) -> String {
        format!("chronik-sync:{db}")
    }
}

/// Where a [`SyncHandle`] stands.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SyncState {
    /// The engine's status (a follower shows its leader's).
    pub status: SyncStatus,
    /// The last failure's message.
    pub last_error: Option<String>,
    /// Whether this handle runs the engine (holds the lock).
    pub leader: bool,
    /// Whether [`SyncHandle::stop`] was called.
    pub stopped: bool,
}

/// A change a [`SyncHandle`] reports to its listeners.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncChange {
    /// The state after it.
    pub state: SyncState,
    /// Whether the step wrote the local store (confirmed events, the outbox, conflicts):
    /// views of it should be read again.
    pub store_changed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wake {
    /// The server announced events.
    Live,
    /// A local write (here or, for the leader, in a follower tab).
    Local,
    /// The browser is back online.
    Online,
    /// `stop()`.
    Stop,
}

type Listener = Rc<dyn Fn(&SyncChange)>;

/// A JS callback kept alive while the sync runs.
type JsCallback = Closure<dyn FnMut(JsValue)>;

struct Inner {
    state: RefCell<SyncState>,
    listeners: RefCell<Vec<(u64, Listener)>>,
    next_listener: Cell<u64>,
    wake: mpsc::UnboundedSender<Wake>,
    channel: Option<BroadcastChannel>,
    /// Aborts the live stream and the lock request on stop.
    abort: AbortController,
    /// Resolves the lock callback's promise: releases the lock.
    release: RefCell<Option<js_sys::Function>>,
    /// JS callbacks (the `online` listener, the channel's handler), freed on stop.
    callbacks: RefCell<Vec<JsCallback>>,
    online_target: RefCell<Option<web_sys::EventTarget>>,
}

impl Inner {
    fn set(&self, change: impl FnOnce(&mut SyncState), store_changed: bool) {
        let before = self.state.borrow().clone();
        change(&mut self.state.borrow_mut());
        let state = self.state.borrow().clone();
        if state == before && !store_changed {
            return;
        }
        self.post_status();
        let change = SyncChange {
            state,
            store_changed,
        };
        let listeners: Vec<Listener> = self
            .listeners
            .borrow()
            .iter()
            .map(|(_, f)| Rc::clone(f))
            .collect();
        for f in listeners {
            f(&change);
        }
    }

    fn stopped(&self) -> bool {
        self.state.borrow().stopped
    }

    /// The leader tells the followers its status.
    fn post_status(&self) {
        let state = self.state.borrow().clone();
        if !state.leader || state.stopped {
            return;
        }
        let msg = json!({
            "kind": "status",
            "status": state.status,
            "lastError": state.last_error,
        });
        self.post(&msg);
    }

    fn post(&self, msg: &Value) {
        if let Some(channel) = &self.channel {
            if let Ok(msg) = js_sys::JSON::parse(&msg.to_string()) {
                let _ = channel.post_message(&msg);
            }
        }
    }
}

/// Runs a [`SyncEngine`] in the background until [`stop`](SyncHandle::stop)ped. Cheap to
/// clone; every clone is the same sync.
#[derive(Clone)]
pub struct SyncHandle {
    inner: Rc<Inner>,
}

/// The global `navigator.locks`, when there is one.
fn lock_manager() -> Option<JsValue> {
    let navigator = js_sys::Reflect::get(&js_sys::global(), &"navigator".into()).ok()?;
    if navigator.is_undefined() || navigator.is_null() {
        return None;
    }
    let locks = js_sys::Reflect::get(&navigator, &"locks".into()).ok()?;
    let request = js_sys::Reflect::get(&locks, &"request".into()).ok()?;
    request.is_function().then_some(locks)
}

impl SyncHandle {
    /// Starts syncing `engine` with `spawn_local`: at once when `config.lock_name` is
    /// `None` or the platform has no Web Locks (Node), else once this tab holds the
    /// lock.
    pub fn start<S, R>(
        engine: SyncEngine<S, R, Rc<HttpTransport>>,
        config: SyncConfig,
    ) -> Result<SyncHandle, String>
    where
        S: ReplicaStore + 'static,
        R: CommandRunner + 'static,
    {
        let (tx, rx) = mpsc::unbounded();
        let locks = config.lock_name.as_ref().and_then(|_| lock_manager());
        let channel = match (&locks, &config.lock_name) {
            (Some(_), Some(name)) => Some(BroadcastChannel::new(name).map_err(|e| describe(&e))?),
            _ => None,
        };
        let inner = Rc::new(Inner {
            state: RefCell::new(SyncState::default()),
            listeners: RefCell::new(Vec::new()),
            next_listener: Cell::new(0),
            wake: tx,
            channel,
            abort: AbortController::new().map_err(|e| describe(&e))?,
            release: RefCell::new(None),
            callbacks: RefCell::new(Vec::new()),
            online_target: RefCell::new(None),
        });
        let handle = SyncHandle { inner };
        handle.listen_online();
        handle.listen_channel();
        let weak = Rc::downgrade(&handle.inner);
        let lock = locks.zip(config.lock_name.clone());
        wasm_bindgen_futures::spawn_local(run(weak, engine, config, rx, lock));
        Ok(handle)
    }

    /// Wakes the engine on the `online` event, where there is one.
    fn listen_online(&self) {
        let global = js_sys::global();
        let add = js_sys::Reflect::get(&global, &"addEventListener".into());
        if !add.map(|f| f.is_function()).unwrap_or(false) {
            return;
        }
        let target: web_sys::EventTarget = global.unchecked_into();
        let wake = self.inner.wake.clone();
        let cb = Closure::<dyn FnMut(JsValue)>::new(move |_| {
            let _ = wake.unbounded_send(Wake::Online);
        });
        if target
            .add_event_listener_with_callback("online", cb.as_ref().unchecked_ref())
            .is_ok()
        {
            self.inner.callbacks.borrow_mut().push(cb);
            *self.inner.online_target.borrow_mut() = Some(target);
        }
    }

    /// Followers mirror the leader's status; the leader wakes on a follower's write.
    fn listen_channel(&self) {
        let Some(channel) = &self.inner.channel else {
            return;
        };
        let weak = Rc::downgrade(&self.inner);
        let cb = Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
            let Some(inner) = weak.upgrade() else {
                return;
            };
            let Some(e) = e.dyn_ref::<MessageEvent>() else {
                return;
            };
            let data = e.data();
            let get = |k: &str| js_sys::Reflect::get(&data, &k.into()).ok();
            let kind = get("kind").and_then(|k| k.as_string());
            let leader = inner.state.borrow().leader;
            match kind.as_deref() {
                Some("wake") if leader => {
                    let _ = inner.wake.unbounded_send(Wake::Local);
                }
                // A new follower asks for the status, which changes rarely when idle.
                Some("hello") if leader => inner.post_status(),
                Some("status") if !leader => {
                    let status = get("status")
                        .and_then(|s| s.as_string())
                        .and_then(|s| serde_json::from_value(Value::String(s)).ok());
                    let last_error = get("lastError").and_then(|s| s.as_string());
                    if let Some(status) = status {
                        inner.set(
                            |st| {
                                st.status = status;
                                st.last_error = last_error;
                            },
                            false,
                        );
                    }
                }
                _ => {}
            }
        });
        channel.set_onmessage(Some(cb.as_ref().unchecked_ref()));
        self.inner.callbacks.borrow_mut().push(cb);
        self.inner.post(&json!({ "kind": "hello" }));
    }

    /// The current state.
    pub fn state(&self) -> SyncState {
        self.inner.state.borrow().clone()
    }

    /// Calls `listener` after every change of the state and every local write of the
    /// engine; returns its id for [`off`](SyncHandle::off).
    pub fn on_change(&self, listener: impl Fn(&SyncChange) + 'static) -> u64 {
        let id = self.inner.next_listener.get();
        self.inner.next_listener.set(id + 1);
        self.inner
            .listeners
            .borrow_mut()
            .push((id, Rc::new(listener)));
        id
    }

    /// Removes a listener; an unknown id does nothing.
    pub fn off(&self, id: u64) {
        self.inner.listeners.borrow_mut().retain(|(i, _)| *i != id);
    }

    /// Something was written locally: push it now (in a follower tab, the leader is
    /// told).
    pub fn wake(&self) {
        let leader = self.inner.state.borrow().leader;
        if !leader {
            self.inner.post(&json!({ "kind": "wake" }));
        }
        let _ = self.inner.wake.unbounded_send(Wake::Local);
    }

    /// Stops syncing: the live stream is closed, the lock released (another tab takes
    /// over), and the engine stops after the step in flight. Stopping twice does
    /// nothing.
    pub fn stop(&self) {
        if self.inner.stopped() {
            return;
        }
        self.inner.set(
            |s| {
                s.stopped = true;
                s.status = SyncStatus::Offline;
            },
            false,
        );
        self.inner.listeners.borrow_mut().clear();
        let _ = self.inner.wake.unbounded_send(Wake::Stop);
        self.inner.abort.abort();
        if let Some(release) = self.inner.release.borrow_mut().take() {
            let _ = release.call0(&JsValue::NULL);
        }
        if let Some(channel) = &self.inner.channel {
            channel.set_onmessage(None);
            channel.close();
        }
        if let Some(target) = self.inner.online_target.borrow_mut().take() {
            for cb in self.inner.callbacks.borrow().iter() {
                let _ = target
                    .remove_event_listener_with_callback("online", cb.as_ref().unchecked_ref());
            }
        }
        // This may run inside one of them: free them afterwards.
        let callbacks = std::mem::take(&mut *self.inner.callbacks.borrow_mut());
        wasm_bindgen_futures::spawn_local(async move { drop(callbacks) });
    }
}

/// Waits for the Web Lock `name`; `None` when stopped first.
async fn acquire(
    locks: &JsValue,
    name: &str,
    inner: &Weak<Inner>,
    wakes: &mut mpsc::UnboundedReceiver<Wake>,
) -> Option<js_sys::Function> {
    let (tx, rx) = futures::channel::oneshot::channel::<js_sys::Function>();
    let granted = Closure::once_into_js(move |_lock: JsValue| -> js_sys::Promise {
        let mut release = None;
        let held = js_sys::Promise::new(&mut |resolve, _| release = Some(resolve));
        if let Some(release) = release {
            if let Err(release) = tx.send(release) {
                // Nobody waits any more: let the lock go at once.
                let _ = release.call0(&JsValue::NULL);
            }
        }
        held
    });
    let options = js_sys::Object::new();
    let signal = inner.upgrade()?.abort.signal();
    let _ = js_sys::Reflect::set(&options, &"mode".into(), &"exclusive".into());
    let _ = js_sys::Reflect::set(&options, &"signal".into(), &signal);
    let request: js_sys::Function = js_sys::Reflect::get(locks, &"request".into())
        .ok()?
        .unchecked_into();
    let promise = request
        .call3(locks, &name.into(), &options, &granted)
        .ok()?;
    // Settles when the lock is released (or the request aborted by `stop`): nothing to do.
    if let Ok(promise) = promise.dyn_into::<js_sys::Promise>() {
        wasm_bindgen_futures::spawn_local(async move {
            let _ = JsFuture::from(promise).await;
        });
    }
    let mut rx = rx;
    loop {
        match select(rx, wakes.next()).await {
            Either::Left((Ok(release), _)) => return Some(release),
            Either::Left((Err(_), _)) => return None,
            Either::Right((None | Some(Wake::Stop), _)) => return None,
            Either::Right((Some(_), pending)) => rx = pending,
        }
    }
}

/// Waits for a wake-up or `ms` (`None`: the time ran out).
async fn wait(wakes: &mut mpsc::UnboundedReceiver<Wake>, ms: u32) -> Option<Wake> {
    let woke = match select(wakes.next(), Sleep::new(ms)).await {
        Either::Left((None, _)) => return Some(Wake::Stop),
        Either::Left((Some(w), _)) => Some(w),
        Either::Right(((), _)) => None,
    };
    // Several wake-ups that came together are one.
    let mut woke = woke;
    while let Ok(w) = wakes.try_recv() {
        woke = match (woke, w) {
            (_, Wake::Stop) | (Some(Wake::Stop), _) => Some(Wake::Stop),
            (Some(Wake::Live), _) | (_, Wake::Live) => Some(Wake::Live),
            (_, w) => Some(w),
        };
    }
    woke
}

async fn run<S, R>(
    inner: Weak<Inner>,
    mut engine: SyncEngine<S, R, Rc<HttpTransport>>,
    config: SyncConfig,
    mut wakes: mpsc::UnboundedReceiver<Wake>,
    lock: Option<(JsValue, String)>,
) where
    S: ReplicaStore + 'static,
    R: CommandRunner + 'static,
{
    if let Some((locks, name)) = lock {
        let Some(release) = acquire(&locks, &name, &inner, &mut wakes).await else {
            return;
        };
        let Some(strong) = inner.upgrade() else {
            let _ = release.call0(&JsValue::NULL);
            return;
        };
        if strong.stopped() {
            let _ = release.call0(&JsValue::NULL);
            return;
        }
        *strong.release.borrow_mut() = Some(release);
    }
    match inner.upgrade() {
        Some(strong) => strong.set(|s| s.leader = true, false),
        None => return,
    }
    let head = Rc::new(Cell::new(engine.confirmed_position().await.unwrap_or(0)));
    // The live stream starts once caught up, from the confirmed head: before that it
    // would replay the log the pulls are reading anyway.
    let (caught_up_tx, caught_up) = futures::channel::oneshot::channel::<()>();
    let mut caught_up_tx = Some(caught_up_tx);
    if config.live {
        if let Some(strong) = inner.upgrade() {
            let transport = Rc::clone(engine.transport());
            let signal = strong.abort.signal();
            let wake = strong.wake.clone();
            let (head, inner, config) = (Rc::clone(&head), inner.clone(), config.clone());
            wasm_bindgen_futures::spawn_local(async move {
                // Dropped unsent: the sync stopped first.
                if caught_up.await.is_err() {
                    return;
                }
                let mut backoff = config.min_backoff_ms;
                while inner.upgrade().is_some_and(|i| !i.stopped()) {
                    let heard = Cell::new(false);
                    let ended = transport
                        .live(head.get(), &signal, || {
                            heard.set(true);
                            let _ = wake.unbounded_send(Wake::Live);
                        })
                        .await;
                    if signal.aborted() {
                        return;
                    }
                    if heard.get() || ended.is_ok() {
                        backoff = config.min_backoff_ms;
                    }
                    sleep_unless_aborted(backoff, &signal).await;
                    backoff = backoff.saturating_mul(2).min(config.max_backoff_ms);
                }
            });
        }
    }
    let mut backoff = config.min_backoff_ms;
    loop {
        let Some(strong) = inner.upgrade() else {
            return;
        };
        if strong.stopped() {
            return;
        }
        drop(strong);
        let outcome = engine.step().await;
        let store_changed = matches!(
            outcome,
            Ok(StepOutcome::Pulled { events: 1.., .. }
                | StepOutcome::Pulled { rebased: 1.., .. }
                | StepOutcome::Pulled { conflicts: 1.., .. }
                | StepOutcome::Pulled { dropped: 1.., .. }
                | StepOutcome::Pushed { .. }
                | StepOutcome::Refused { .. })
        );
        if let Ok(position) = engine.confirmed_position().await {
            head.set(position);
        }
        let Some(strong) = inner.upgrade() else {
            return;
        };
        if strong.stopped() {
            return;
        }
        let (status, last_error) = (engine.status(), engine.last_error().map(str::to_string));
        strong.set(
            |s| {
                s.status = status;
                s.last_error = last_error;
            },
            store_changed,
        );
        drop(strong);
        let woke = match outcome {
            Ok(StepOutcome::Idle) => {
                backoff = config.min_backoff_ms;
                if let Some(tx) = caught_up_tx.take() {
                    let _ = tx.send(());
                }
                wait(&mut wakes, config.poll_ms).await
            }
            Ok(StepOutcome::NetworkFailure { .. }) | Err(_) => {
                let woke = wait(&mut wakes, backoff).await;
                backoff = if woke == Some(Wake::Online) {
                    config.min_backoff_ms
                } else {
                    backoff.saturating_mul(2).min(config.max_backoff_ms)
                };
                woke
            }
            Ok(_) => {
                backoff = config.min_backoff_ms;
                None
            }
        };
        match woke {
            Some(Wake::Stop) => return,
            Some(Wake::Live) => engine.poke(),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> Result<Answer, String> {
        Ok(Answer {
            status,
            body: body.to_string(),
        })
    }

    #[test]
    fn push_answers_map_exactly() {
        let ok = r#"{"firstVersion":1,"lastVersion":2,"firstPosition":5,"lastPosition":6}"#;
        assert_eq!(
            push_result(answer(201, ok)).unwrap(),
            AppendResult {
                first_version: 1,
                last_version: 2,
                first_position: 5,
                last_position: 6
            }
        );
        let conflict = r#"{"error":"wrong expected version","stream":"s","expected":1,"actual":3}"#;
        assert_eq!(
            push_result(answer(409, conflict)),
            Err(PushError::WrongExpectedVersion { actual: Some(3) })
        );
        let none = r#"{"error":"x","stream":"s","expected":1,"actual":null}"#;
        assert_eq!(
            push_result(answer(409, none)),
            Err(PushError::WrongExpectedVersion { actual: None })
        );
        assert_eq!(
            push_result(answer(409, r#"{"error":"id reused"}"#)),
            Err(PushError::Refused("id reused".into()))
        );
        assert_eq!(
            push_result(answer(400, r#"{"error":"bad event"}"#)),
            Err(PushError::Refused("bad event".into()))
        );
        assert_eq!(
            push_result(answer(403, "")),
            Err(PushError::Refused("http status 403".into()))
        );
        for status in [408, 429, 500, 502, 503] {
            assert!(matches!(
                push_result(answer(status, r#"{"error":"later"}"#)),
                Err(PushError::Network(m)) if m == format!("http {status}: later")
            ));
        }
        assert_eq!(
            push_result(Err("failed to fetch".into())),
            Err(PushError::Network("failed to fetch".into()))
        );
    }

    #[test]
    fn pull_answers_map_exactly() {
        let page = r#"{"events":[],"after":4,"next":4,"head":4}"#;
        assert_eq!(pull_result(answer(200, page)).unwrap().head, 4);
        assert_eq!(
            pull_result(answer(401, r#"{"error":"no token"}"#)),
            Err(PullError::Refused("no token".into()))
        );
        assert!(matches!(
            pull_result(answer(503, "down")),
            Err(PullError::Network(_))
        ));
        assert!(matches!(
            pull_result(Err("offline".into())),
            Err(PullError::Network(_))
        ));
    }
}
