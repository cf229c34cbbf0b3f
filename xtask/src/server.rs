//! `cargo xtask server [--port N]`: build and run chronik-server. Without
//! `DATABASE_URL` it runs on the persistent PostgreSQL cluster (data in
//! `target/postgres`, kept across restarts), and stops that cluster on exit if it
//! started it. Ctrl-C or SIGTERM stops the server gracefully first.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::util::{cmd, describe, exec, root};

/// Set by Ctrl-C (SIGINT) or SIGTERM.
static STOP: AtomicBool = AtomicBool::new(false);

#[cfg(unix)]
mod signals {
    use super::STOP;
    use std::sync::atomic::Ordering;

    const SIGINT: i32 = 2;
    const SIGTERM: i32 = 15;

    extern "C" {
        fn signal(signum: i32, handler: extern "C" fn(i32)) -> usize;
        fn kill(pid: i32, sig: i32) -> i32;
    }

    extern "C" fn on_signal(_: i32) {
        STOP.store(true, Ordering::SeqCst); // async-signal-safe: one atomic store
    }

    /// Catches SIGINT and SIGTERM (the server, a child, gets its own from the terminal
    /// or from us; handlers are not inherited across exec).
    pub fn catch() {
        // SAFETY: `on_signal` only stores to an atomic, which is async-signal-safe.
        unsafe {
            signal(SIGINT, on_signal);
            signal(SIGTERM, on_signal);
        }
    }

    /// Sends SIGTERM to `pid`: the server's graceful shutdown.
    pub fn terminate(pid: u32) {
        if let Ok(pid) = i32::try_from(pid) {
            // SAFETY: plain libc call on a child's pid.
            unsafe {
                kill(pid, SIGTERM);
            }
        }
    }
}

#[cfg(not(unix))]
mod signals {
    pub fn catch() {}
    pub fn terminate(_: u32) {}
}

/// `server [--port N]`.
pub fn run(args: &[String]) -> Result<(), String> {
    let port = crate::serve::port_option(args, "server")?;
    exec(&mut cmd("cargo", &["build", "-p", "chronik-server"]))?;
    let binary = target_dir().join("debug/chronik-server");

    signals::catch();
    let (url, cluster) = match std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
    {
        Some(url) => {
            println!("using DATABASE_URL; no PostgreSQL is started");
            (url, None)
        }
        None => {
            crate::pg::install_if_missing()?;
            let (server, started) = crate::pg::persistent_server_started()?;
            println!(
                "PostgreSQL data folder: {}",
                root().join("target/postgres/data").display()
            );
            (server.url().to_string(), Some((server, started)))
        }
    };
    let result = serve(&binary, &url, port);
    if let Some((_server, true)) = cluster {
        println!("stopping the PostgreSQL cluster this command started");
        crate::pg::stop_persistent_server()?;
    }
    result
}

fn serve(binary: &PathBuf, url: &str, port: u16) -> Result<(), String> {
    let mut c = Command::new(binary);
    c.args(["--port", &port.to_string()])
        .env("DATABASE_URL", url)
        .current_dir(root());
    eprintln!("$ {}", describe(&c));
    let mut child = c
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
    println!("chronik-server: http://127.0.0.1:{port}/ (Ctrl+C stops)");
    let mut asked = false;
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            return if status.success() || asked {
                Ok(())
            } else {
                Err(format!("chronik-server exited ({status})"))
            };
        }
        if STOP.load(Ordering::SeqCst) && !asked {
            asked = true;
            signals::terminate(child.id());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Where cargo puts its builds: `CARGO_TARGET_DIR`, or `target/` of the workspace.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| if p.is_absolute() { p } else { root().join(p) })
        .unwrap_or_else(|| root().join("target"))
}
