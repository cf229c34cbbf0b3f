//! `cargo xtask bench`: the native criterion benches with short measurement times, then
//! the browser workloads (bench/run.mjs driving headless Chromium against bench/index.html
//! and the release app), then bench/results.md and the README's Benchmarks table
//! (bench/report.mjs). Not part of `cargo xtask test`: timings assert nothing.

use std::path::{Path, PathBuf};

use crate::util::{cmd, exec, root};

const USAGE: &str = "\
usage: cargo xtask bench [--no-native] [--no-seed003] [--no-server] [--no-browser] [--no-sync] [--sync-only] [--app-dist DIR]

  --no-native       skip `cargo bench -p chronik-core -p chronik-examples` (reuse criterion's last results)
  --no-seed003      skip seed 003's own criterion benches, which otherwise run right after
                    the native ones (maumercado/event-sourcing-rust at the pinned commit,
                    cloned into <target>/seed003, with the same criterion settings) so the
                    report puts its figures of this run next to chronik's (the clone needs
                    the network the first time, or a clone copied there by hand; without
                    one the seed 003 target reads 'not measured'; its first build takes minutes)
  --no-server       skip the server load on PostgreSQL (reuse bench/server.json); it uses
                    DATABASE_URL's server, or starts a throwaway PostgreSQL
  --no-browser      skip the browser workloads (reuse bench/results.json)
  --no-sync         skip the sync workloads (reuse bench/sync.json)
  --sync-only       only the sync workloads (bench/sync.mjs: a new device catching up, and
                    append-to-visible latency between two devices) against a throwaway
                    PostgreSQL and chronik-server (sync_server.rs), then the report
  --app-dist DIR    measure the app already built in DIR instead of building it with
                    Trunk into <target>/bench-dist
Environment for bench/run.mjs: BENCH_RUNS (3), BENCH_APPEND_EVENTS (10000),
BENCH_DEMO_EVENTS (100000), BENCH_TEMPORAL_EVENTS (1000000), BENCH_JS_PROJECTION (0 skips
the JS-defined projection); for bench/sync.mjs: BENCH_RUNS, BENCH_SYNC_EVENTS (100000),
BENCH_SYNC_APPENDS (200).";

/// Short criterion settings: every bench still gets its samples, in about 3 minutes.
const CRITERION_ARGS: [&str; 5] = [
    "--warm-up-time",
    "0.5",
    "--measurement-time",
    "1",
    "--noplot",
];

/// The seed 003 order system the native rows are compared with, at the commit its
/// published figures and its benches come from.
const SEED003_REPO: &str = "https://github.com/maumercado/event-sourcing-rust";
const SEED003_COMMIT: &str = "4b9c75f146876efb2856158b29e0e92fbc6cc572";

/// Seed 003's bench targets (package, bench) and the ids each runs: all but
/// `domain/add_item`, whose time grows with criterion's iteration count (it appends to
/// one order without snapshots), so it is no steady-state figure.
const SEED003_BENCHES: [(&str, &str, &str); 3] = [
    ("event-store", "event_store_bench", "."),
    (
        "domain",
        "domain_bench",
        "^domain/(create_order|full_create_add_submit|reconstruct_50_events|reconstruct_100_events)$",
    ),
    ("projections", "projections_bench", "."),
];

/// Clones seed 003 into `<target>/seed003` (once), checks out the pinned commit, and
/// runs its benches with [`CRITERION_ARGS`]; its estimates land in its own
/// `target/criterion`, which is returned.
fn seed003(target: &Path) -> Result<PathBuf, String> {
    let dir = target.join("seed003");
    let dir_str = dir.to_string_lossy().into_owned();
    if !dir.join(".git").exists() {
        exec(&mut cmd(
            "git",
            &["clone", "--quiet", SEED003_REPO, &dir_str],
        ))?;
    }
    exec(&mut cmd(
        "git",
        &[
            "-C",
            &dir_str,
            "checkout",
            "--quiet",
            "--detach",
            SEED003_COMMIT,
        ],
    ))?;
    for (package, bench, filter) in SEED003_BENCHES {
        // `--bench` names the criterion target: its library's libtest bench target
        // would refuse criterion's options.
        let mut args = vec!["bench", "-p", package, "--bench", bench, "--", filter];
        args.extend(CRITERION_ARGS);
        let mut c = cmd("cargo", &args);
        c.current_dir(&dir).env_remove("CARGO_TARGET_DIR");
        exec(&mut c)?;
    }
    Ok(dir.join("target").join("criterion"))
}

/// `bench [options]`.
pub fn run(args: &[String]) -> Result<(), String> {
    let (mut native, mut server, mut browser, mut app_dist) = (true, true, true, None);
    let (mut sync, mut seed) = (true, true);
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--no-native" => native = false,
            "--no-seed003" => seed = false,
            // The default since seed 003 runs in every full bench; kept so older commands work.
            "--seed003" => seed = true,
            "--no-server" => server = false,
            "--no-browser" => browser = false,
            "--no-sync" => sync = false,
            "--sync-only" => (native, server, browser, seed) = (false, false, false, false),
            "--app-dist" => {
                app_dist = Some(PathBuf::from(it.next().ok_or("--app-dist needs a folder")?));
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => return Err(format!("unknown option '{other}' for bench\n\n{USAGE}")),
        }
    }
    crate::setup::run()?;
    let target = target_dir();
    if native {
        // Only the criterion targets get criterion's options (the library's libtest refuses them).
        let mut args = vec![
            "bench",
            "-p",
            "chronik-core",
            "-p",
            "chronik-examples",
            "--bench",
            "*",
            "--",
        ];
        args.extend(CRITERION_ARGS);
        exec(&mut cmd("cargo", &args))?;
    }
    // Without seed 003 (no clone, no network) the run goes on: its target reads
    // "not measured" in the report.
    let seed_criterion = if seed {
        match seed003(&target) {
            Ok(dir) => Some(dir),
            Err(e) => {
                eprintln!("bench: seed 003's benches did not run: {e}");
                None
            }
        }
    } else {
        None
    };
    if server {
        // The server's load on a real PostgreSQL: appends over HTTP, through PgStore and
        // raw SQL side by side, catch-up and a rebuild (server/benches/load.rs).
        let pg = crate::pg::test_server()?;
        exec(
            cmd(
                "cargo",
                &["bench", "-p", "chronik-server", "--bench", "load"],
            )
            .env("DATABASE_URL", pg.url()),
        )?;
    }
    if browser {
        crate::package::build("web", "pkg")?;
        crate::package::build_engine_only()?;
        let dist = match app_dist {
            Some(dir) => dir,
            None => {
                let dir = target.join("bench-dist");
                let dir_str = dir.to_string_lossy().into_owned();
                exec(&mut cmd(
                    "trunk",
                    &["build", "--release", "--dist", &dir_str],
                ))?;
                dir
            }
        };
        let site = site(&target, &dist)?;
        let port = crate::serve::serve_in_background(site)?;
        exec(
            cmd("node", &["bench/run.mjs"])
                .env("BENCH_URL", format!("http://127.0.0.1:{port}/"))
                .env("BENCH_APP_DIST", &dist)
                .env(
                    "BENCH_COMMAND",
                    format!("cargo xtask bench {}", args.join(" ")).trim_end(),
                ),
        )?;
    }
    if sync {
        // Sync against a real chronik-server: the package's page served from the
        // repository root, the server allowing that origin.
        crate::package::build("web", "pkg")?;
        let port = crate::serve::serve_in_background(root())?;
        let server = crate::sync_server::start(&format!("http://127.0.0.1:{port}"), true)?;
        let result = exec(
            cmd("node", &["bench/sync.mjs"])
                .env("BENCH_URL", format!("http://127.0.0.1:{port}/"))
                .env("BENCH_SERVER_URL", server.url())
                .env(
                    "BENCH_SERVER_BUILD",
                    "release (target/release/chronik-server)",
                )
                .env(
                    "BENCH_COMMAND",
                    format!("cargo xtask bench {}", args.join(" ")).trim_end(),
                ),
        );
        drop(server);
        result?;
    }
    let mut report = cmd("node", &["bench/report.mjs"]);
    report.env("CRITERION_DIR", target.join("criterion"));
    if let Some(dir) = seed_criterion {
        report.env("SEED003_CRITERION_DIR", dir);
    }
    if !(native || server || browser) {
        report.env("BENCH_REPORT_SYNC_ONLY", "1");
    }
    exec(&mut report)
}

/// Cargo's target folder, where criterion writes its estimates.
fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => root().join("target"),
    }
}

/// One origin for everything: the app's files at the root (it owns `/` and its routes),
/// and `bench/`, `web/` and `tests/` of the repository linked beside them, so the bench
/// page writes into the same IndexedDB the app then opens.
fn site(target: &Path, dist: &Path) -> Result<PathBuf, String> {
    let site = target.join("bench-site");
    let fail = |what: &str, e: std::io::Error| format!("{what} {}: {e}", site.display());
    if site.exists() {
        std::fs::remove_dir_all(&site).map_err(|e| fail("cannot clear", e))?;
    }
    std::fs::create_dir_all(&site).map_err(|e| fail("cannot create", e))?;
    let entries =
        std::fs::read_dir(dist).map_err(|e| format!("cannot read {}: {e}", dist.display()))?;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_file() {
            std::fs::copy(&path, site.join(entry.file_name()))
                .map_err(|e| fail("cannot copy the app into", e))?;
        }
    }
    for dir in ["bench", "web", "tests"] {
        std::os::unix::fs::symlink(root().join(dir), site.join(dir))
            .map_err(|e| fail("cannot link into", e))?;
    }
    Ok(site)
}
