//! A server over real HTTP on a fresh database of the PostgreSQL server in
//! `DATABASE_URL` (`cargo xtask test` starts one and sets it; without it these tests
//! fail, they never skip).

#![allow(dead_code)] // each test file uses part of it

use std::hash::{BuildHasher, Hasher};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

use chronik_postgres::tokio_postgres::{self, NoTls};
use chronik_postgres::{deadpool_postgres::Pool, pool_from_config};
use chronik_server::{Options, RunningServer};
use reqwest::StatusCode;
use serde_json::Value;

/// The base server URL from `DATABASE_URL`, or a panic saying how to run the tests.
pub fn base_url() -> String {
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => url,
        _ => panic!(
            "DATABASE_URL is not set: the chronik-server tests need a PostgreSQL server. \
             Run them with `cargo xtask test --postgres-only` (which starts a throwaway \
             PostgreSQL and sets DATABASE_URL), or set DATABASE_URL yourself"
        ),
    }
}

fn unique(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(NEXT.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    format!("{prefix}_{:016x}", h.finish())
}

async fn admin() -> tokio_postgres::Client {
    let config = tokio_postgres::Config::from_str(&base_url()).expect("DATABASE_URL parses");
    let (client, connection) = config
        .connect(NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {}: {e}", base_url()));
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

/// A fresh database, dropped when this is dropped.
pub struct TestDb {
    pub name: String,
    pub config: tokio_postgres::Config,
}

impl TestDb {
    pub async fn new() -> TestDb {
        let name = unique("chronik_server_test");
        admin()
            .await
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        let mut config = tokio_postgres::Config::from_str(&base_url()).unwrap();
        config.dbname(&name);
        TestDb { name, config }
    }

    /// The URL of this database: `DATABASE_URL` with its database name replaced (a
    /// `postgres://` URL; its query, if any, is kept).
    pub fn url(&self) -> String {
        let base = base_url();
        let (address, query) = base
            .split_once('?')
            .map_or((base.as_str(), None), |(a, q)| (a, Some(q)));
        let server = match address.rfind('/') {
            Some(i) if address[..i].contains("://") && !address[..i].ends_with('/') => {
                &address[..i]
            }
            _ => address.trim_end_matches('/'),
        };
        match query {
            Some(q) => format!("{server}/{}?{q}", self.name),
            None => format!("{server}/{}", self.name),
        }
    }

    pub fn pool(&self, size: usize) -> Pool {
        pool_from_config(self.config.clone(), size).expect("pool")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                if let Err(e) = admin()
                    .await
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await
                {
                    eprintln!("cannot drop test database {name}: {e}");
                }
            });
        })
        .join();
    }
}

/// A running server on its own database, and a client for it.
pub struct TestServer {
    pub server: Option<RunningServer>,
    pub url: String,
    pub http: reqwest::Client,
    pub db: TestDb,
}

impl TestServer {
    pub async fn start() -> TestServer {
        TestServer::with_options(Options::local()).await
    }

    pub async fn with_options(options: Options) -> TestServer {
        let db = TestDb::new().await;
        let server = chronik_server::start(options, db.pool(16))
            .await
            .expect("the server starts");
        TestServer {
            url: server.url(),
            server: Some(server),
            http: reqwest::Client::new(),
            db,
        }
    }

    /// `GET path`: the status and the JSON body.
    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let response = self
            .http
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .expect("GET");
        read(response).await
    }

    /// `POST path` with the JSON text `body` (sent as written, like curl's `-d`).
    pub async fn post(&self, path: &str, body: &str) -> (StatusCode, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.url))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("POST");
        read(response).await
    }

    pub async fn shutdown(mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await.expect("clean shutdown");
        }
    }
}

async fn read(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.expect("body");
    let value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("the body is not JSON ({e}): {text}"));
    (status, value)
}

/// Asserts `(status, body)` is a refusal with `status` whose message contains `part`.
#[track_caller]
pub fn assert_refused(got: &(StatusCode, Value), status: StatusCode, part: &str) {
    assert_eq!(got.0, status, "body: {}", got.1);
    let message = got.1["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error in {}", got.1));
    assert!(
        message.contains(part),
        "'{message}' should mention '{part}'"
    );
}
