//! PostgreSQL for the tests and for a local server: find Debian's binaries (installing
//! the `postgresql` package when they are missing), and run a cluster of our own.
//!
//! - [`test_server`]: the server the `chronik-postgres` tests use. When `DATABASE_URL`
//!   is set, that server, and nothing is started. Otherwise a throwaway cluster in a
//!   temporary directory on a free loopback port (`fsync=off`), stopped and deleted when
//!   the returned [`Server`] is dropped, also when a test step fails or panics.
//! - [`persistent_server`]: for `cargo xtask postgres` (and a later `cargo xtask
//!   server`): a cluster whose data directory is `target/postgres/data` in the workspace,
//!   started if it is not running and reused if it is; it keeps running, and its data
//!   survives restarts (not `cargo clean`), until [`stop_persistent_server`]. It runs
//!   with `fsync` on; the throwaway one with `fsync=off`.
//!
//! Root cannot run `initdb` or `postgres`, so as root they run as the `postgres` user
//! (`runuser -u postgres --`) in directories it owns; as anyone else they run directly.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::util::{describe, exec, output, root};

/// Where Debian's `postgresql-NN` packages put the server binaries.
const DEBIAN_LIB: &str = "/usr/lib/postgresql";

/// The port of the persistent cluster of [`persistent_server`].
pub const PERSISTENT_PORT: u16 = 54_320;

/// The newest `/usr/lib/postgresql/<version>/bin` that holds `initdb`, `pg_ctl` and
/// `postgres`, `None` when PostgreSQL is not installed.
pub fn bin_dir() -> Option<PathBuf> {
    let names = std::fs::read_dir(DEBIAN_LIB)
        .ok()?
        .filter_map(Result::ok)
        .filter(|entry| {
            let bin = entry.path().join("bin");
            ["initdb", "pg_ctl", "postgres"]
                .iter()
                .all(|b| bin.join(b).is_file())
        })
        .map(|entry| entry.file_name().to_string_lossy().into_owned());
    newest(names).map(|v| Path::new(DEBIAN_LIB).join(v).join("bin"))
}

/// The highest version number among `names` (`15` above `9.6`), ignoring other names.
fn newest(names: impl Iterator<Item = String>) -> Option<String> {
    names
        .filter_map(|name| {
            let version: Vec<u32> = name
                .split('.')
                .map(str::parse)
                .collect::<Result<_, _>>()
                .ok()?;
            Some((version, name))
        })
        .max()
        .map(|(_, name)| name)
}

/// Installs Debian's `postgresql` when no server binaries are found (used by
/// `cargo xtask setup`); `Ok(true)` when it installed.
pub fn install_if_missing() -> Result<bool, String> {
    if bin_dir().is_some() {
        return Ok(false);
    }
    exec(Command::new("apt-get").arg("update"))?;
    exec(
        Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends", "postgresql"])
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )?;
    if bin_dir().is_none() {
        return Err(format!(
            "apt-get installed postgresql, but no server binaries are under {DEBIAN_LIB}/*/bin"
        ));
    }
    Ok(true)
}

/// A PostgreSQL server the tests can reach at [`Server::url`].
#[derive(Debug)]
pub struct Server {
    url: String,
    /// The cluster behind `url`, if we run it: held for its `Drop`.
    _cluster: Option<Cluster>,
}

impl Server {
    /// A server this process neither started nor stops.
    fn unmanaged(url: String) -> Server {
        Server {
            url,
            _cluster: None,
        }
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`, or `DATABASE_URL` as given.
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// A cluster this process started (or found running, for the persistent one).
#[derive(Debug)]
struct Cluster {
    bin: PathBuf,
    data: PathBuf,
    /// Stop the server and delete this directory on drop (a throwaway cluster).
    remove_on_drop: Option<PathBuf>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let Some(dir) = self.remove_on_drop.take() else {
            return;
        };
        if let Err(e) = pg_ctl_stop(&self.bin, &self.data) {
            eprintln!("postgres: {e}");
        }
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            eprintln!("postgres: cannot remove {}: {e}", dir.display());
        }
    }
}

/// The server for the `chronik-postgres` tests: `DATABASE_URL` when set (nothing is
/// started), otherwise a throwaway cluster that stops and is deleted when the returned
/// [`Server`] is dropped.
pub fn test_server() -> Result<Server, String> {
    if let Some(url) = std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
    {
        eprintln!("postgres: using DATABASE_URL, starting nothing");
        return Ok(Server {
            url,
            _cluster: None,
        });
    }
    throwaway_server()
}

/// A new cluster in a temporary directory on a free loopback port, stopped and deleted
/// when the returned [`Server`] is dropped.
pub fn throwaway_server() -> Result<Server, String> {
    let bin = bin_dir().ok_or_else(not_installed)?;
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let dir = std::env::temp_dir().join(format!("chronik-pg-{}-{stamp}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    // From here on the guard removes the directory, whatever fails next.
    let cluster = Cluster {
        bin,
        data: dir.join("data"),
        remove_on_drop: Some(dir.clone()),
    };
    give_to_postgres(&dir)?;
    initdb(&cluster.bin, &cluster.data, true)?;
    let port = free_port()?;
    pg_ctl_start(&cluster.bin, &cluster.data, &dir, port, true)?;
    eprintln!(
        "postgres: throwaway cluster on 127.0.0.1:{port} in {}",
        dir.display()
    );
    Ok(Server {
        url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
        _cluster: Some(cluster),
    })
}

/// A persistent cluster for a local server: data in `target/postgres/data` of the
/// workspace (kept across runs and reboots), listening on 127.0.0.1:[`PERSISTENT_PORT`].
/// Created on first use, started when it is not running, reused when it is. Dropping
/// the returned [`Server`] leaves it running; [`stop_persistent_server`] stops it.
pub fn persistent_server() -> Result<Server, String> {
    persistent_server_started().map(|(server, _)| server)
}

/// [`persistent_server`], and whether this call started the cluster (`false`: it was
/// already running, so whoever started it stops it).
pub fn persistent_server_started() -> Result<(Server, bool), String> {
    let bin = bin_dir().ok_or_else(not_installed)?;
    let dir = root().join("target/postgres");
    let data = dir.join("data");
    let url = format!("postgres://postgres@127.0.0.1:{PERSISTENT_PORT}/postgres");
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    give_to_postgres(&dir)?;
    if !data.join("PG_VERSION").is_file() {
        initdb(&bin, &data, false)?;
    }
    let running = as_postgres(&bin.join("pg_ctl"))
        .args(["status", "-D"])
        .arg(&data)
        .output()
        .is_ok_and(|o| o.status.success());
    if running {
        eprintln!("postgres: reusing the cluster in {}", data.display());
        return Ok((Server::unmanaged(url), false));
    } else {
        pg_ctl_start(&bin, &data, &dir, PERSISTENT_PORT, false)?;
        eprintln!(
            "postgres: started the cluster in {} on 127.0.0.1:{PERSISTENT_PORT}",
            data.display()
        );
    }
    Ok((
        Server {
            url,
            _cluster: Some(Cluster {
                bin,
                data,
                remove_on_drop: None,
            }),
        },
        true,
    ))
}

/// Stops the cluster of [`persistent_server`] if it runs; its data stays.
pub fn stop_persistent_server() -> Result<(), String> {
    let bin = bin_dir().ok_or_else(not_installed)?;
    let data = root().join("target/postgres/data");
    if !data.join("PG_VERSION").is_file() {
        eprintln!("postgres: no cluster in {}", data.display());
        return Ok(());
    }
    pg_ctl_stop(&bin, &data)
}

fn not_installed() -> String {
    format!("no PostgreSQL server binaries under {DEBIAN_LIB}/*/bin; run `cargo xtask setup`")
}

/// Whether this process runs as root (which PostgreSQL refuses to run as).
fn is_root() -> bool {
    output(Command::new("id").arg("-u")).is_some_and(|uid| uid.trim() == "0")
}

/// `program` run as the `postgres` user when we are root, directly otherwise.
fn as_postgres(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

/// As root, hands `dir` to the `postgres` user (the server must own its directories).
fn give_to_postgres(dir: &Path) -> Result<(), String> {
    if !is_root() {
        return Ok(());
    }
    exec(Command::new("chown").arg("postgres:postgres").arg(dir))
}

/// Runs `c`, keeping its output quiet unless it fails.
fn quiet(c: &mut Command) -> Result<(), String> {
    eprintln!("$ {}", describe(c));
    let out = c
        .output()
        .map_err(|e| format!("cannot run {}: {e}", describe(c)))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{}` failed ({}):\n{}{}",
            describe(c),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Creates a cluster in `data` (trust auth on loopback, superuser `postgres`, UTF-8);
/// a throwaway one skips syncing its files to disk.
fn initdb(bin: &Path, data: &Path, throwaway: bool) -> Result<(), String> {
    let mut c = as_postgres(&bin.join("initdb"));
    c.arg("-D")
        .arg(data)
        .args(["--auth=trust", "-U", "postgres", "-E", "UTF8"]);
    if throwaway {
        c.arg("--no-sync");
    }
    quiet(&mut c)
}

/// Starts the server on `data`, listening on 127.0.0.1:`port` with its socket in
/// `socket_dir`, and waits until it accepts connections. A throwaway cluster runs without
/// `fsync` (fast, and a crash loses nothing anyone keeps); a persistent one is durable.
fn pg_ctl_start(
    bin: &Path,
    data: &Path,
    socket_dir: &Path,
    port: u16,
    throwaway: bool,
) -> Result<(), String> {
    let log = socket_dir.join("log");
    let mut options = format!(
        "-c listen_addresses=127.0.0.1 -p {port} -k {} -c max_connections=200",
        socket_dir.display()
    );
    if throwaway {
        options.push_str(" -c fsync=off -c synchronous_commit=off -c full_page_writes=off");
    }
    quiet(
        as_postgres(&bin.join("pg_ctl"))
            .arg("-D")
            .arg(data)
            .arg("-l")
            .arg(&log)
            .args(["-w", "-t", "60", "start", "-o", &options]),
    )
    .map_err(|e| {
        let tail = std::fs::read_to_string(&log).unwrap_or_default();
        format!("{e}\nserver log {}:\n{tail}", log.display())
    })
}

fn pg_ctl_stop(bin: &Path, data: &Path) -> Result<(), String> {
    quiet(
        as_postgres(&bin.join("pg_ctl"))
            .arg("-D")
            .arg(data)
            .args(["-m", "fast", "-w", "stop"]),
    )
}

/// A loopback port that was free a moment ago.
fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("cannot find a free port: {e}"))
}

/// `cargo xtask postgres [stop]`: start or reuse the persistent cluster and print its
/// URL, or stop it.
pub fn run(args: &[String]) -> Result<(), String> {
    match args.first().map(String::as_str) {
        None | Some("start") => {
            let server = persistent_server()?;
            println!("DATABASE_URL={}", server.url());
            Ok(())
        }
        Some("stop") => stop_persistent_server(),
        Some(other) => Err(format!(
            "unknown option '{other}' for postgres (start | stop)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpStream;
    use std::sync::Mutex;

    #[test]
    fn the_highest_version_is_chosen_numerically() {
        let names = ["9.6", "15", "10", "common", "16.beta"].map(String::from);
        assert_eq!(newest(names.into_iter()), Some("15".to_string()));
        assert_eq!(newest(std::iter::empty()), None);
    }

    #[test]
    fn a_throwaway_cluster_is_stopped_and_deleted_even_when_its_user_panics() {
        assert!(bin_dir().is_some(), "{}", not_installed());
        let seen: Mutex<Option<(PathBuf, u16)>> = Mutex::new(None);
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let server = throwaway_server().unwrap();
            let port: u16 = server
                .url()
                .rsplit_once(':')
                .and_then(|(_, rest)| rest.split('/').next()?.parse().ok())
                .expect("a port in the url");
            let dir = server._cluster.as_ref().unwrap().data.parent().unwrap();
            *seen.lock().unwrap() = Some((dir.to_path_buf(), port));
            assert!(dir.join("data/PG_VERSION").is_file());
            assert!(
                TcpStream::connect(("127.0.0.1", port)).is_ok(),
                "the server listens"
            );
            panic!("a failing test step");
        }));
        assert!(outcome.is_err());
        let (dir, port) = seen.lock().unwrap().take().expect("the cluster started");
        assert!(!dir.exists(), "{} is deleted", dir.display());
        assert!(
            TcpStream::connect(("127.0.0.1", port)).is_err(),
            "the server on {port} is stopped"
        );
    }
}
