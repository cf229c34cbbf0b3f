//! The generic store API, per named store (`/v1/stores/{store}/…`): append to a stream
//! with an expected version, read a stream, page through the global log, follow it live
//! (Server-Sent Events), list the streams, count what the store holds, export it as
//! NDJSON. Documented by
//! `server/openapi.json`, served at `GET /v1/openapi.json`.
//!
//! Events are core's [`RecordedEvent`] serialized as it is, so the JSON shape follows
//! core's. A store is created (its head row) on first use; stores share the database's
//! tables, keyed by store name, and never see each other's events.
//!
//! Live readers wait on the engine's broadcast of appends made through this server
//! ([`Engine::notify`]: the v1 append, and any successful write of the seed APIs to the
//! default store, see [`wake_live_readers`]) and poll the log every
//! [`Options::live_poll`](crate::Options::live_poll) for appends made by other
//! processes. An idle live reader holds no database connection.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, MethodRouter};
use axum::{Json, Router};
use chronik_core::{
    AppendResult, Direction, EventStore, ExpectedVersion, Metadata, NewEvent, ReadAllOptions,
    ReadStreamOptions, RecordedEvent, StoreError, StoreStats, StreamInfo,
};
use futures::Stream;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::{broadcast, watch};

use crate::auth::authorize_store;
use crate::engine::Engine;
use crate::metrics_layer::store_append;
use crate::{ApiError, AppState, JsonBody};

/// The OpenAPI 3 document of this API.
pub const OPENAPI: &str = include_str!("../../openapi.json");

/// Events per page when the request names no limit.
pub const DEFAULT_LIMIT: usize = 100;

/// Most events per page (a larger `limit` is refused).
pub const MAX_LIMIT: usize = 1_000;

/// Events a live reader reads per query.
const LIVE_PAGE: usize = 500;

/// How often an idle live response sends a keep-alive comment.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The store routes: (method, path, handler). The router is built from this table and
/// [`route_list`] lists it, so the OpenAPI test checks what is really served.
fn table() -> Vec<(Method, &'static str, MethodRouter<AppState>)> {
    vec![
        (
            Method::POST,
            "/v1/stores/{store}/streams/{stream}",
            post(append),
        ),
        (
            Method::GET,
            "/v1/stores/{store}/streams/{stream}",
            get(read_stream),
        ),
        (Method::GET, "/v1/stores/{store}/streams", get(list_streams)),
        (Method::GET, "/v1/stores/{store}/events", get(events)),
        (Method::GET, "/v1/stores/{store}/live", get(live)),
        (Method::GET, "/v1/stores/{store}/stats", get(stats)),
        (Method::GET, "/v1/stores/{store}/export", get(export)),
    ]
}

/// The routes of this API: the store routes (behind [`authorize_store`]) and
/// `GET /v1/openapi.json`.
pub fn routes() -> Router<AppState> {
    let stores = table()
        .into_iter()
        .fold(Router::new(), |router, (_, path, handler)| {
            router.route(path, handler)
        })
        .route_layer(axum::middleware::from_fn(authorize_store));
    stores.route("/v1/openapi.json", get(openapi))
}

/// Every (method, path template) this API serves, `GET /v1/openapi.json` included.
pub fn route_list() -> Vec<(Method, &'static str)> {
    let mut list: Vec<_> = table().into_iter().map(|(m, p, _)| (m, p)).collect();
    list.push((Method::GET, "/v1/openapi.json"));
    list
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

/// A refusal of this API: [`ApiError`]s, and a version conflict whose body says what was
/// expected and what the stream is at, in the request's own terms.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum V1Error {
    /// Any other refusal.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// 409: the stream is not at the expected version. Read it and decide again.
    #[error("wrong expected version for stream '{stream}': expected {expected}, actual {}", actual.map_or_else(|| "no stream".to_string(), |v| v.to_string()))]
    Conflict {
        /// The stream.
        stream: String,
        /// What the append expected.
        expected: ExpectedVersion,
        /// The stream's version (`None`: it does not exist).
        actual: Option<u64>,
    },
}

impl From<StoreError> for V1Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::WrongExpectedVersion {
                stream,
                expected,
                actual,
            } => V1Error::Conflict {
                stream,
                expected,
                actual,
            },
            other => V1Error::Api(other.into()),
        }
    }
}

impl IntoResponse for V1Error {
    fn into_response(self) -> Response {
        match &self {
            V1Error::Api(e) => e.clone().into_response(),
            V1Error::Conflict {
                stream,
                expected,
                actual,
            } => (
                StatusCode::CONFLICT,
                Json(json!({
                    "error": self.to_string(),
                    "stream": stream,
                    "expected": expected.to_json(),
                    "actual": actual,
                })),
            )
                .into_response(),
        }
    }
}

fn parse_expected(v: &Value) -> Result<ExpectedVersion, ApiError> {
    ExpectedVersion::from_json(v).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "expectedVersion must be a whole number >= 0 or one of \"any\", \"noStream\", \"streamExists\", got {v}"
        ))
    })
}

/// An append's body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AppendBody {
    expected_version: Value,
    events: Vec<EventIn>,
}

/// An event to append: `{id?, type, data, schemaVersion?, metadata?}`. Without an id
/// the server makes one, and a retry appends again: send ids to make retries safe.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct EventIn {
    id: Option<String>,
    #[serde(rename = "type")]
    event_type: String,
    data: Value,
    schema_version: Option<u32>,
    metadata: Option<Metadata>,
}

impl From<EventIn> for NewEvent {
    fn from(e: EventIn) -> NewEvent {
        let mut event = NewEvent::new(e.event_type, e.data)
            .with_schema_version(e.schema_version.unwrap_or(1))
            .with_metadata(e.metadata.unwrap_or_default());
        event.event_id = e.id;
        event
    }
}

/// `POST /v1/stores/{store}/streams/{stream}`: 200 with core's [`AppendResult`]; the
/// same batch again (same ids, same stream) answers the same, writing nothing.
async fn append(
    State(state): State<AppState>,
    Path((store, stream)): Path<(String, String)>,
    JsonBody(body): JsonBody<AppendBody>,
) -> Result<Json<AppendResult>, V1Error> {
    let expected = parse_expected(&body.expected_version).inspect_err(|_| {
        store_append("refused", 0);
    })?;
    let events: Vec<NewEvent> = body.events.into_iter().map(NewEvent::from).collect();
    let count = events.len();
    let target = stream.clone();
    let result = state
        .engine
        .with_store(&store, move |s| async move {
            Ok(s.append(&target, expected, events).await)
        })
        .await
        .map_err(V1Error::from)
        .and_then(|r| r.map_err(V1Error::from));
    match &result {
        Ok(_) => {
            store_append("appended", count);
            state.engine.notify(&store);
        }
        Err(V1Error::Conflict { .. }) => store_append("conflict", 0),
        Err(_) => store_append("refused", 0),
    }
    result.map(Json)
}

fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(q)| q)
        .map_err(|e| ApiError::BadRequest(format!("invalid query: {}", e.body_text())))
}

fn page_limit(limit: Option<usize>) -> Result<usize, ApiError> {
    match limit.unwrap_or(DEFAULT_LIMIT) {
        0 => Err(ApiError::BadRequest("limit must be at least 1".into())),
        n if n > MAX_LIMIT => Err(ApiError::BadRequest(format!(
            "limit {n} is over the most of {MAX_LIMIT} events per page"
        ))),
        n => Ok(n),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StreamQuery {
    from: Option<u64>,
    limit: Option<usize>,
    direction: Option<Direction>,
}

/// A page of one stream.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct StreamPage {
    events: Vec<RecordedEvent>,
    /// The `from` of the next page in the same direction; `null` when this page was not
    /// full (the end of the stream, or its start backwards).
    next: Option<u64>,
}

/// `GET /v1/stores/{store}/streams/{stream}?from=&limit=&direction=`: a missing stream
/// is an empty page.
async fn read_stream(
    State(state): State<AppState>,
    Path((store, stream)): Path<(String, String)>,
    q: Result<Query<StreamQuery>, QueryRejection>,
) -> Result<Json<StreamPage>, V1Error> {
    let q = query(q)?;
    let limit = page_limit(q.limit)?;
    let direction = q.direction.unwrap_or_default();
    let options = ReadStreamOptions {
        from_version: q.from,
        limit: Some(limit),
        direction,
    };
    let events = state
        .engine
        .with_store(&store, move |s| async move {
            Ok(s.read_stream(&stream, options).await?)
        })
        .await?;
    let next = match (events.last(), direction) {
        (Some(last), Direction::Forward) if events.len() == limit => last.version.checked_add(1),
        (Some(last), Direction::Backward) if events.len() == limit && last.version > 1 => {
            Some(last.version - 1)
        }
        _ => None,
    };
    Ok(Json(StreamPage { events, next }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LogQuery {
    after: Option<u64>,
    limit: Option<usize>,
    types: Option<String>,
    prefix: Option<String>,
}

/// The filters of a log query.
#[derive(Debug, Clone, Default)]
struct Filters {
    types: Option<Vec<String>>,
    prefix: Option<String>,
}

impl Filters {
    fn of(types: Option<String>, prefix: Option<String>) -> Filters {
        Filters {
            types: types
                .map(|t| {
                    t.split(',')
                        .map(str::trim)
                        .filter(|t| !t.is_empty())
                        .map(String::from)
                        .collect::<Vec<_>>()
                })
                .filter(|t| !t.is_empty()),
            prefix: prefix.filter(|p| !p.is_empty()),
        }
    }
}

/// A page of the global log.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct LogPage {
    /// The events after `after` that pass the filters, in position order.
    events: Vec<RecordedEvent>,
    /// The position this page starts after (as requested).
    after: u64,
    /// The `after` of the next page: the last event's position when the page is full,
    /// otherwise the head the read covered (with filters, positions in between held no
    /// matching event).
    next: u64,
    /// The store's head position when the page was read (at least `next`, unless the
    /// request was already past the head).
    head: u64,
}

/// Reads the page of the log after `after`: the head first, then the events, so that
/// a page that is not full covers every position up to that head (positions become
/// visible in order, see ARCHITECTURE.md).
async fn read_page(
    engine: &Engine,
    store: &str,
    after: u64,
    limit: usize,
    filters: Filters,
) -> Result<(LogPage, bool), ApiError> {
    let from_position = after
        .checked_add(1)
        .ok_or_else(|| ApiError::BadRequest(format!("after {after} is past the last position")))?;
    let (head, events) = engine
        .with_store(store, move |s| async move {
            let head = s.head_position().await?;
            let events = s
                .read_all(ReadAllOptions {
                    from_position,
                    limit: Some(limit),
                    event_types: filters.types,
                    stream_prefix: filters.prefix,
                })
                .await?;
            Ok((head, events))
        })
        .await?;
    let last = events.last().map_or(after, |e| e.position);
    let full = events.len() == limit;
    let next = if full { last } else { last.max(head) };
    Ok((
        LogPage {
            events,
            after,
            next,
            head: head.max(last),
        },
        full,
    ))
}

/// `GET /v1/stores/{store}/events?after=&limit=&types=a,b&prefix=`.
async fn events(
    State(state): State<AppState>,
    Path(store): Path<String>,
    q: Result<Query<LogQuery>, QueryRejection>,
) -> Result<Json<LogPage>, V1Error> {
    let q = query(q)?;
    let limit = page_limit(q.limit)?;
    let (page, _) = read_page(
        &state.engine,
        &store,
        q.after.unwrap_or(0),
        limit,
        Filters::of(q.types, q.prefix),
    )
    .await?;
    Ok(Json(page))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LiveQuery {
    after: Option<u64>,
    types: Option<String>,
    prefix: Option<String>,
}

/// `GET /v1/stores/{store}/live?after=&types=&prefix=`: Server-Sent Events, one per
/// event after `after` (or after the `Last-Event-ID` header, which wins: a reconnecting
/// `EventSource` sends it), each with `id:` its position and `data:` the event; first
/// the events already stored, then new ones as they are appended. A failed read sends
/// an `event: error` and ends the response (reconnect to resume).
async fn live(
    State(state): State<AppState>,
    Path(store): Path<String>,
    headers: HeaderMap,
    q: Result<Query<LiveQuery>, QueryRejection>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, V1Error> {
    let q = query(q)?;
    let resume = match headers.get("last-event-id") {
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .ok_or_else(|| {
                    ApiError::BadRequest(
                        "Last-Event-ID must be the position of the last event received".into(),
                    )
                })?,
        ),
        None => None,
    };
    let after = resume.or(q.after).unwrap_or(0);
    let filters = Filters::of(q.types, q.prefix);
    // Subscribe before the first read, so no notice of a later append is missed.
    let notices = state.engine.subscribe();
    let stopping = state.engine.stopping();
    let (first, full) = read_page(&state.engine, &store, after, LIVE_PAGE, filters.clone()).await?;
    let reader = LiveReader {
        engine: state.engine.clone(),
        store: Arc::from(store.as_str()),
        filters,
        buffer: first.events.into(),
        next: first.next,
        full,
        notices,
        stopping,
        poll: state.live_poll,
        done: false,
    };
    let stream = futures::stream::unfold(reader, |mut reader| async move {
        reader.next_event().await.map(|e| (Ok(e), reader))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}

/// One live response's state.
struct LiveReader {
    engine: Engine,
    store: Arc<str>,
    filters: Filters,
    /// Read, not yet sent.
    buffer: VecDeque<RecordedEvent>,
    /// Where the next read starts, once the buffer is sent.
    next: u64,
    /// Whether the last read was a full page (read again at once).
    full: bool,
    notices: broadcast::Receiver<Arc<str>>,
    stopping: watch::Receiver<bool>,
    poll: Duration,
    done: bool,
}

impl LiveReader {
    async fn next_event(&mut self) -> Option<Event> {
        loop {
            if self.done || *self.stopping.borrow() {
                return None;
            }
            if let Some(event) = self.buffer.pop_front() {
                return Some(
                    match Event::default()
                        .id(event.position.to_string())
                        .json_data(&event)
                    {
                        Ok(e) => e,
                        Err(e) => self.fail(format!("cannot encode event {}: {e}", event.position)),
                    },
                );
            }
            if !self.full && !self.wait().await {
                return None;
            }
            match read_page(
                &self.engine,
                &self.store,
                self.next,
                LIVE_PAGE,
                self.filters.clone(),
            )
            .await
            {
                Ok((page, full)) => {
                    self.buffer = page.events.into();
                    self.next = page.next;
                    self.full = full;
                }
                Err(e) => return Some(self.fail(e.to_string())),
            }
        }
    }

    /// Waits for a notice of an append to this store, a lag (notices were lost: read
    /// anyway) or the poll interval; false when the server is stopping.
    async fn wait(&mut self) -> bool {
        let poll = tokio::time::sleep(self.poll);
        tokio::pin!(poll);
        loop {
            tokio::select! {
                notice = self.notices.recv() => match notice {
                    Ok(store) if store == self.store => return true,
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => return true,
                    Err(broadcast::error::RecvError::Closed) => {
                        (&mut poll).await;
                        return true;
                    }
                },
                () = &mut poll => return true,
                () = stopped(&mut self.stopping) => return false,
            }
        }
    }

    fn fail(&mut self, message: String) -> Event {
        tracing::warn!(store = %self.store, %message, "live reader ends");
        self.done = true;
        Event::default()
            .event("error")
            .data(json!({ "error": message }).to_string())
    }
}

/// Returns when the server is stopping.
async fn stopped(stopping: &mut watch::Receiver<bool>) {
    // An error means the engine is gone, which also ends the wait.
    let _ = stopping.wait_for(|s| *s).await;
}

#[derive(Debug, Serialize)]
struct StreamList {
    streams: Vec<StreamInfo>,
}

/// `GET /v1/stores/{store}/streams`: every stream, ordered by id.
async fn list_streams(
    State(state): State<AppState>,
    Path(store): Path<String>,
) -> Result<Json<StreamList>, V1Error> {
    let streams = state
        .engine
        .with_store(&store, |s| async move { Ok(s.list_streams().await?) })
        .await?;
    Ok(Json(StreamList { streams }))
}

/// The store's statistics and head.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Stats {
    #[serde(flatten)]
    stats: StoreStats,
    head_position: u64,
}

/// `GET /v1/stores/{store}/stats`: core's statistics plus the head position.
async fn stats(
    State(state): State<AppState>,
    Path(store): Path<String>,
) -> Result<Json<Stats>, V1Error> {
    let stats = state
        .engine
        .with_store(&store, |s| async move {
            let head_position = s.head_position().await?;
            let stats = s.stats().await?;
            Ok(Stats {
                stats,
                head_position,
            })
        })
        .await?;
    Ok(Json(stats))
}

/// `GET /v1/stores/{store}/export`: the whole log as NDJSON, written by core's
/// [`export_ndjson`](chronik_core::export_ndjson), the function behind the browser
/// package's `exportNdjson`: a device that synced the store exports the same bytes.
/// The export is built in memory (about 300 bytes an event) before it is sent.
async fn export(State(state): State<AppState>, Path(store): Path<String>) -> Response {
    let body = state
        .engine
        .with_store(&store, |s| async move {
            let mut out = String::new();
            chronik_core::export_ndjson(&*s, chronik_core::ndjson::DEFAULT_EXPORT_PAGE, |chunk| {
                out.push_str(chunk)
            })
            .await?;
            Ok(out)
        })
        .await;
    match body {
        Ok(body) => ([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response(),
        Err(e) => V1Error::from(e).into_response(),
    }
}

/// Middleware on the whole router: a successful write outside `/v1` (the seed APIs,
/// all in the default store) wakes the live readers of the default store, as a v1
/// append wakes those of its store.
pub async fn wake_live_readers(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let write = !matches!(*request.method(), Method::GET | Method::HEAD)
        && !request.uri().path().starts_with("/v1/");
    let response = next.run(request).await;
    if write && response.status().is_success() {
        state.engine.notify(state.engine.default_store());
    }
    response
}
