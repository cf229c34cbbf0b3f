//! # chronik-server
//!
//! chronik's HTTP server: the example domains behind the APIs of the seeds they come from
//! (seed 000/001 and 004: the bank; seed 003: orders and their fulfilment saga), plus
//! health, readiness and Prometheus metrics, on a PostgreSQL store
//! ([`chronik_postgres::PgStore`]).
//!
//! | module | what |
//! | --- | --- |
//! | [`config`] | [`Config`]: flags and environment (clap) |
//! | [`auth`] | bearer tokens scoped to stores and to read or write |
//! | [`engine`] | [`Engine`]: the `!Send` engine on a pool of single-threaded workers |
//! | [`error`] | [`ApiError`]: statuses and `{"error": "..."}` bodies |
//! | [`amount`] | amounts as exact JSON numbers |
//! | [`routes`] | one module per API: `v1` (the generic store API), `bank` (seed 000/001), `seed004`, `orders` (seed 003), `ops` |
//!
//! [`start`] binds and serves; [`RunningServer::shutdown`] stops accepting, lets the
//! requests in flight finish and closes the database pool.
#![deny(missing_docs)]

pub mod amount;
pub mod auth;
pub mod config;
pub mod engine;
pub mod error;
mod metrics_layer;
pub mod routes;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Request};
use axum::http::{HeaderValue, Method};
use axum::Router;
use chronik_postgres::deadpool_postgres::Pool;
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::trace::TraceLayer;

pub use config::Config;
pub use engine::{Engine, IdGenerator, UuidIds};
pub use error::ApiError;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The engine.
    pub engine: Engine,
    /// Where new order ids come from.
    pub ids: Arc<dyn IdGenerator>,
    /// The request body limit, in bytes (for the 413 message).
    pub body_limit: usize,
    /// Renders the Prometheus metrics.
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
    /// How often a live reader polls the log without a notice.
    pub live_poll: Duration,
}

/// How to run a server (see [`Config::options`] for the command line's).
#[derive(Clone)]
pub struct Options {
    /// The address to listen on; port 0 picks a free one.
    pub listen: SocketAddr,
    /// The chronik store (in the database) the server uses.
    pub store: String,
    /// Origins allowed by CORS (`*` allows any); empty: no CORS headers.
    pub cors_origins: Vec<String>,
    /// Largest accepted request body, in bytes; larger is 413.
    pub body_limit: usize,
    /// Longest a request may take; longer is 408.
    pub request_timeout: Duration,
    /// Engine worker threads.
    pub workers: usize,
    /// Where event and order ids come from.
    pub ids: Arc<dyn IdGenerator>,
    /// Access tokens; none: no authentication, loopback only.
    pub tokens: Vec<auth::Token>,
    /// How often a live (SSE) reader polls the log when no append through this server
    /// woke it (appends by other processes).
    pub live_poll: Duration,
}

impl Options {
    /// Loopback on a free port, store `default`, 1 MiB bodies, 30 s, 2 workers, UUIDs,
    /// no tokens, live readers polling every second.
    pub fn local() -> Options {
        Options {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            store: "default".to_string(),
            cors_origins: Vec::new(),
            body_limit: 1 << 20,
            request_timeout: Duration::from_secs(30),
            workers: 2,
            ids: Arc::new(UuidIds),
            tokens: Vec::new(),
            live_poll: Duration::from_secs(1),
        }
    }
}

/// Why the server did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A non-loopback address without authentication. Listen on 127.0.0.1 or ::1, or
    /// configure access tokens (`--token`, `--tokens-file`).
    #[error("refusing to listen on {0}: no access tokens are configured, so only a loopback address (127.0.0.1 or ::1) is allowed")]
    Unprotected(SocketAddr),
    /// The tokens are not usable (the same secret twice).
    #[error("invalid access tokens: {0}")]
    Tokens(auth::TokenError),
    /// A CORS origin is not a valid header value.
    #[error("invalid CORS origin '{0}'")]
    CorsOrigin(String),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The database did not answer, or its schema is newer than this build.
    #[error("cannot open the store: {0}")]
    Store(ApiError),
}

/// A server serving in the background.
pub struct RunningServer {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    db: Pool,
    engine: Engine,
}

impl RunningServer {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://addr`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting connections, waits for the requests in flight, closes the pool.
    pub async fn shutdown(self) -> std::io::Result<()> {
        // Live (SSE) responses never end by themselves: end them, or the graceful
        // shutdown would wait for them forever.
        self.engine.stop_live();
        let _ = self.stop.send(true);
        let result = self.wait().await;
        result
    }

    /// Waits until the server stops (after [`shutdown`](Self::shutdown) from elsewhere,
    /// or an I/O error), then closes the pool.
    async fn wait(self) -> std::io::Result<()> {
        let result = match self.task.await {
            Ok(result) => result,
            Err(e) => Err(std::io::Error::other(e)),
        };
        self.db.close();
        result
    }

    /// Serves until `signal` completes, then shuts down gracefully.
    pub async fn run_until(
        self,
        signal: impl std::future::Future<Output = ()>,
    ) -> std::io::Result<()> {
        signal.await;
        tracing::info!("shutting down: finishing the requests in flight");
        self.shutdown().await
    }
}

/// Checks the address rule, connects the store, binds and serves `db` in the background.
pub async fn start(options: Options, db: Pool) -> Result<RunningServer, StartError> {
    if !options.listen.ip().is_loopback() && options.tokens.is_empty() {
        return Err(StartError::Unprotected(options.listen));
    }
    let engine = Engine::new(
        db.clone(),
        &options.store,
        options.workers,
        Arc::clone(&options.ids),
    );
    engine.check().await.map_err(StartError::Store)?;
    let state = AppState {
        engine: engine.clone(),
        ids: Arc::clone(&options.ids),
        body_limit: options.body_limit,
        metrics: metrics_layer::handle(),
        live_poll: options.live_poll,
    };
    let app = app(state, &options)?;
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|source| StartError::Bind {
            addr: options.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr: options.listen,
        source,
    })?;
    let (stop, mut stopped) = watch::channel(false);
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.wait_for(|s| *s).await;
            })
            .await
    });
    tracing::info!(%addr, "chronik-server listening");
    Ok(RunningServer {
        addr,
        stop,
        task,
        db,
        engine,
    })
}

/// The whole router with its layers: routes, authentication, metrics, tracing, timeout,
/// body limit, CORS.
pub fn app(state: AppState, options: &Options) -> Result<Router, StartError> {
    let cors = cors(&options.cors_origins)?;
    let auth =
        auth::Auth::new(options.tokens.clone(), &options.store).map_err(StartError::Tokens)?;
    let mut router = routes::router()
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            routes::v1::wake_live_readers,
        ))
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(auth),
            auth::authenticate,
        ))
        .layer(axum::middleware::from_fn(metrics_layer::record))
        .layer(TraceLayer::new_for_http())
        .layer(axum::middleware::from_fn_with_state(
            options.request_timeout,
            time_limit,
        ))
        .layer(DefaultBodyLimit::max(options.body_limit));
    if let Some(cors) = cors {
        router = router.layer(cors);
    }
    Ok(router.with_state(state))
}

/// Stops a request that takes longer than `limit` with a JSON 408 ([`ApiError::Timeout`]).
/// The limit covers producing the response's head: a live (SSE) response, once started,
/// streams for as long as its client stays.
async fn time_limit(
    axum::extract::State(limit): axum::extract::State<Duration>,
    request: Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => axum::response::IntoResponse::into_response(ApiError::Timeout(limit)),
    }
}

fn cors(origins: &[String]) -> Result<Option<CorsLayer>, StartError> {
    if origins.is_empty() {
        return Ok(None);
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        let list = origins
            .iter()
            .map(|o| HeaderValue::from_str(o).map_err(|_| StartError::CorsOrigin(o.clone())))
            .collect::<Result<Vec<_>, _>>()?;
        AllowOrigin::list(list)
    };
    Ok(Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([
                axum::http::header::CONTENT_TYPE,
                axum::http::header::AUTHORIZATION,
                axum::http::HeaderName::from_static("last-event-id"),
            ]),
    ))
}

/// A JSON request body: over the limit is 413, unreadable or not the expected shape
/// is 400, both as `{"error": "..."}`.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::from_body(e, state.body_limit))?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| ApiError::BadRequest(format!("invalid request body: {e}")))
    }
}
