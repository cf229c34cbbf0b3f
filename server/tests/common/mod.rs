//! A server over real HTTP on a fresh database of the PostgreSQL server in
//! `DATABASE_URL` (`cargo xtask test` starts one and sets it; without it these tests
//! fail, they never skip).

#![allow(dead_code)] // each test file uses part of it

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chronik_server::{Options, RunningServer};
use reqwest::StatusCode;
use serde_json::Value;

/// A fresh database, dropped when this is dropped (`DATABASE_URL`'s server).
pub use chronik_postgres::testing::TestDb;

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
        let db = TestDb::new("chronik_server_test").await;
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

/// The server binary as a child process, killed (SIGKILL) when dropped.
pub struct ServerProcess {
    child: Child,
    /// `http://127.0.0.1:{port}`.
    pub url: String,
    port: u16,
}

impl ServerProcess {
    /// Starts the binary on a free port of loopback, on `db`.
    pub async fn start(db: &TestDb) -> ServerProcess {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        ServerProcess::start_on(db, port).await
    }

    /// Starts the binary on `port` (the same port again after a kill), on `db`.
    pub async fn start_on(db: &TestDb, port: u16) -> ServerProcess {
        let child = Command::new(env!("CARGO_BIN_EXE_chronik-server"))
            .args(["--port", &port.to_string()])
            .env("DATABASE_URL", db.url())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the server binary starts");
        // Owned at once, so that a panic below kills it.
        let server = ServerProcess {
            child,
            url: format!("http://127.0.0.1:{port}"),
            port,
        };
        let http = reqwest::Client::new();
        for _ in 0..600 {
            if let Ok(r) = http.get(format!("{}/health", server.url)).send().await {
                if r.status().is_success() {
                    return server;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the server did not answer /health within 30 s");
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// SIGKILL, and waits for the process to be gone.
    pub fn kill(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("the killed server is reaped");
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
