//! [`Config`]: the server's command line, every flag also an environment variable.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;

use crate::auth::{tokens_file, Token, TokenList};
use crate::{Options, UuidIds};

/// chronik-server: the example domains' HTTP APIs on PostgreSQL.
#[derive(Debug, Clone, Parser)]
#[command(name = "chronik-server", version, about)]
pub struct Config {
    /// The PostgreSQL server, such as postgres://user@127.0.0.1:5432/chronik.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: String,
    /// The port to listen on.
    #[arg(long, env = "PORT", default_value_t = 8080)]
    pub port: u16,
    /// The address to listen on. Without access tokens only a loopback address is
    /// allowed.
    #[arg(long, env = "CHRONIK_LISTEN", default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub listen: IpAddr,
    /// The chronik store (several can share one database).
    #[arg(long, env = "CHRONIK_STORE", default_value = "default")]
    pub store: String,
    /// Origins allowed by CORS, comma-separated (`*`: any). None: no CORS headers.
    #[arg(
        long = "cors-origin",
        env = "CHRONIK_CORS_ORIGINS",
        value_delimiter = ','
    )]
    pub cors_origins: Vec<String>,
    /// Largest request body, in bytes (larger: 413).
    #[arg(long, env = "CHRONIK_BODY_LIMIT", default_value_t = 1 << 20)]
    pub body_limit: usize,
    /// Longest a request may take, in seconds (longer: 408).
    #[arg(long, env = "CHRONIK_REQUEST_TIMEOUT", default_value_t = 30)]
    pub request_timeout: u64,
    /// Engine worker threads (default: the number of cores).
    #[arg(long, env = "CHRONIK_WORKERS")]
    pub workers: Option<usize>,
    /// Most database connections the server opens.
    #[arg(long, env = "CHRONIK_DB_POOL_SIZE", default_value_t = 16)]
    pub db_pool_size: usize,
    /// An access token, `secret:store1,store2:read|write` (`*` for every store; write
    /// includes read; the secret at least 16 bytes). Repeat the flag for several; in
    /// the environment separate them with `;`. With any token, every request but
    /// /health, /ready and /v1/openapi.json needs `Authorization: Bearer <secret>`.
    #[arg(
        long = "token",
        env = "CHRONIK_TOKENS",
        value_delimiter = ';',
        hide_env_values = true
    )]
    pub tokens: Vec<Token>,
    /// A file of access tokens, one `secret:stores:scope` per line (`#` comments): keeps
    /// the secrets out of the process list.
    #[arg(long, env = "CHRONIK_TOKENS_FILE", value_parser = tokens_file)]
    pub tokens_file: Option<TokenList>,
    /// How often a live (SSE) reader looks at the log when no append through this server
    /// woke it, in milliseconds: catches appends by other server processes.
    #[arg(long, env = "CHRONIK_LIVE_POLL_MS", default_value_t = 1000)]
    pub live_poll_ms: u64,
}

impl Config {
    /// The options these flags describe (ids are random UUIDs).
    pub fn options(&self) -> Options {
        Options {
            listen: SocketAddr::new(self.listen, self.port),
            store: self.store.clone(),
            cors_origins: self.cors_origins.clone(),
            body_limit: self.body_limit,
            request_timeout: Duration::from_secs(self.request_timeout),
            workers: self.workers.unwrap_or_else(|| {
                std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
            }),
            ids: Arc::new(UuidIds),
            tokens: self
                .tokens
                .iter()
                .chain(self.tokens_file.iter().flat_map(|f| &f.0))
                .cloned()
                .collect(),
            live_poll: Duration::from_millis(self.live_poll_ms.max(10)),
        }
    }
}
