//! A chronik-server for the browser sync tests: a throwaway PostgreSQL cluster (or
//! `DATABASE_URL`'s server) and the server binary on a free loopback port, allowing the
//! test pages' origin by CORS. Both stop when [`SyncServer`] drops.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{cmd, describe, exec, root};

/// A running chronik-server and the database behind it.
pub struct SyncServer {
    url: String,
    child: Child,
    binary: std::path::PathBuf,
    origin: String,
    /// Held for its `Drop`, which stops and deletes a throwaway cluster.
    database: crate::pg::Server,
}

impl SyncServer {
    /// The server's base URL, `http://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// What a test needs to run servers of its own on the same database (to kill one
    /// under a push and start another): `CHRONIK_SERVER_BIN`,
    /// `CHRONIK_SERVER_DATABASE_URL` and `CHRONIK_SERVER_ORIGIN` (the CORS origin).
    pub fn env(&self) -> [(&'static str, String); 3] {
        [
            ("CHRONIK_SERVER_BIN", self.binary.display().to_string()),
            (
                "CHRONIK_SERVER_DATABASE_URL",
                self.database.url().to_string(),
            ),
            ("CHRONIK_SERVER_ORIGIN", self.origin.clone()),
        ]
    }
}

impl Drop for SyncServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Builds (in release when `release`, as benchmarks need) and starts chronik-server for
/// pages served from `origin`; waits until `/ready` answers 200 (at most 60 s).
pub fn start(origin: &str, release: bool) -> Result<SyncServer, String> {
    let database = crate::pg::test_server()?;
    let mut build = vec!["build", "-p", "chronik-server"];
    if release {
        build.push("--release");
    }
    exec(&mut cmd("cargo", &build))?;
    let binary = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .map(|p| if p.is_absolute() { p } else { root().join(p) })
        .unwrap_or_else(|| root().join("target"))
        .join(if release { "release" } else { "debug" })
        .join("chronik-server");
    let port = TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("no free port: {e}"))?
        .port();
    let mut c = Command::new(&binary);
    c.args(["--port", &port.to_string(), "--cors-origin", origin])
        .env("DATABASE_URL", database.url())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .current_dir(root());
    eprintln!("$ {}", describe(&c));
    let child = c
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
    let mut server = SyncServer {
        url: format!("http://127.0.0.1:{port}"),
        child,
        binary,
        origin: origin.to_string(),
        database,
    };
    let started = Instant::now();
    loop {
        if ready(port) {
            return Ok(server);
        }
        if let Ok(Some(status)) = server.child.try_wait() {
            return Err(format!(
                "chronik-server exited before it was ready ({status})"
            ));
        }
        if started.elapsed() > Duration::from_secs(60) {
            return Err("chronik-server was not ready within 60 s".into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether `GET /ready` answers 200.
fn ready(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let request =
        format!("GET /ready HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.1 200")
}
