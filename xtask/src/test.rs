//! `cargo xtask test`: setup, then every check, ending with one line `N passed, N failed`.
//!
//! Suites: formatting, clippy (native and wasm32), native tests, the PostgreSQL store's
//! tests against a throwaway server (`pg.rs`), wasm-bindgen tests in
//! headless Chromium (the IndexedDB store, and the app's api against the live read
//! models), the npm package built by wasm-pack and tested
//! from Node and in Chromium (its sync against a real chronik-server on a throwaway
//! PostgreSQL, `sync_server.rs`), and Playwright end-to-end tests against the release
//! build of the app.
//! A suite that cannot even build counts as one failure; the others still run.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::setup::CHROMEDRIVER;
use crate::util::{cmd, describe, root};

/// Passed and failed counts of one suite.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    passed: u64,
    failed: u64,
}

/// Runs every check (`--postgres-only`: only the PostgreSQL store's step, with the same
/// summary, for work on `postgres/`; `--browser-package-only`: only the npm package's web
/// build and its tests in Chromium, sync against a real server included).
pub fn run(args: &[String]) -> Result<(), String> {
    let (postgres_only, browser_package_only) = match args {
        [] => (false, false),
        [only] if only == "--postgres-only" => (true, false),
        [only] if only == "--browser-package-only" => (false, true),
        [extra, ..] => return Err(format!("unknown option '{extra}' for test")),
    };
    let started = Instant::now();
    if postgres_only {
        if crate::pg::install_if_missing()? {
            eprintln!("setup: installed postgresql (apt)");
        }
    } else {
        crate::setup::run()?;
    }

    let mut results: Vec<(&str, Tally, f64)> = Vec::new();
    let mut step = |name: &'static str, f: &mut dyn FnMut() -> Tally| {
        eprintln!("\n==> {name}");
        let t = Instant::now();
        let tally = f();
        let secs = t.elapsed().as_secs_f64();
        eprintln!(
            "<== {name}: {} passed, {} failed ({secs:.0}s)",
            tally.passed, tally.failed
        );
        results.push((name, tally, secs));
    };
    if postgres_only {
        step(POSTGRES_STEP, &mut postgres_step);
        return summary(&results, started);
    }
    if browser_package_only {
        step(BROWSER_PACKAGE_STEP, &mut || {
            if let Err(e) = crate::package::build("web", "pkg") {
                eprintln!("{e}");
                return Tally {
                    passed: 0,
                    failed: 1,
                };
            }
            browser_suite_with_server(root(), "CHRONIK_ROOT_URL", "browser/")
        });
        return summary(&results, started);
    }

    step("format", &mut || {
        check(&mut cmd("cargo", &["fmt", "--all", "--", "--check"]))
    });
    step("clippy (native)", &mut || {
        check(&mut cmd(
            "cargo",
            &[
                "clippy",
                "-p",
                "chronik-core",
                "-p",
                "chronik-examples",
                "-p",
                "chronik-postgres",
                "-p",
                "chronik-server",
                "-p",
                "xtask",
                "--all-targets",
                "--all-features",
                "--",
                "-D",
                "warnings",
            ],
        ))
    });
    step("clippy (wasm32)", &mut || {
        // The libraries only: their dev-dependencies (proptest, criterion) are native tools.
        let core = check(&mut cmd(
            "cargo",
            &[
                "clippy",
                "-p",
                "chronik-core",
                "-p",
                "chronik-examples",
                "--lib",
                "--features",
                "testkit",
                "--target",
                "wasm32-unknown-unknown",
                "--",
                "-D",
                "warnings",
            ],
        ));
        let bindings_and_app = check(&mut cmd(
            "cargo",
            &[
                "clippy",
                "-p",
                "chronik-idb",
                "-p",
                "chronik",
                "-p",
                "chronik-www",
                "--all-targets",
                "--target",
                "wasm32-unknown-unknown",
                "--",
                "-D",
                "warnings",
            ],
        ));
        // The npm package without its example domains, as a user who wants only the engine builds it.
        let engine_only = check(&mut cmd(
            "cargo",
            &[
                "clippy",
                "-p",
                "chronik",
                "--no-default-features",
                "--all-targets",
                "--target",
                "wasm32-unknown-unknown",
                "--",
                "-D",
                "warnings",
            ],
        ));
        Tally {
            passed: core.passed + bindings_and_app.passed + engine_only.passed,
            failed: core.failed + bindings_and_app.failed + engine_only.failed,
        }
    });
    // Not chronik-postgres: its tests need a server and run in the next step.
    step("native tests", &mut || {
        let rust = suite(&mut cmd(
            "cargo",
            &[
                "test",
                "-p",
                "chronik-core",
                "-p",
                "chronik-examples",
                "-p",
                "xtask",
                // The npm crate's native unit tests: its TypeScript mirrors have core's serde shape.
                "-p",
                "chronik",
                "--all-features",
            ],
        ));
        // The IndexedDB crate's unit tests that need no browser (how the sync transport
        // reads the server's answers); its other tests run in Chromium below.
        let idb = suite(&mut cmd("cargo", &["test", "-p", "chronik-idb", "--lib"]));
        Tally {
            passed: rust.passed + idb.passed,
            failed: rust.failed + idb.failed,
        }
    });
    step(POSTGRES_STEP, &mut postgres_step);
    step("IndexedDB store in headless Chromium", &mut || {
        suite(
            cmd(
                "cargo",
                &[
                    "test",
                    "-p",
                    "chronik-idb",
                    "-p",
                    "chronik",
                    "--target",
                    "wasm32-unknown-unknown",
                ],
            )
            .env("CHROMEDRIVER", CHROMEDRIVER)
            .env("WASM_BINDGEN_TEST_TIMEOUT", "180"),
        )
    });
    step("app's api in headless Chromium", &mut || {
        suite(
            cmd(
                "cargo",
                &[
                    "test",
                    "-p",
                    "chronik-www",
                    "--target",
                    "wasm32-unknown-unknown",
                ],
            )
            .env("CHROMEDRIVER", CHROMEDRIVER)
            .env("WASM_BINDGEN_TEST_TIMEOUT", "180"),
        )
    });
    // Every target the package ships (web, bundler, nodejs), built as `cargo xtask package`
    // builds them; the tests use the web and nodejs builds.
    let package = match crate::package::build_all() {
        Ok(()) => Tally {
            passed: 1,
            failed: 0,
        },
        Err(e) => {
            eprintln!("{e}");
            Tally {
                passed: 0,
                failed: 1,
            }
        }
    };
    step("npm package from Node", &mut || {
        if package.failed > 0 {
            return package;
        }
        suite(
            cmd("node", &["--test", "--test-reporter=tap", "npm/"])
                .current_dir(root().join("tests")),
        )
    });
    let web_build = package;
    step(BROWSER_PACKAGE_STEP, &mut || {
        if web_build.failed > 0 {
            return web_build;
        }
        browser_suite_with_server(root(), "CHRONIK_ROOT_URL", "browser/")
    });
    step("TypeScript consumer (tsc --noEmit)", &mut || {
        if web_build.failed > 0 {
            return web_build;
        }
        check(cmd("tsc", &["-p", "types/tsconfig.json"]).current_dir(root().join("tests")))
    });
    step("app end to end in headless Chromium", &mut || {
        let build = check(&mut cmd("trunk", &["build", "--release"]));
        if build.failed > 0 {
            return build;
        }
        // With a chronik-server for the app's sync test.
        browser_suite_with_server(root().join("dist"), "CHRONIK_URL", "e2e/")
    });

    summary(&results, started)
}

/// The name of the step testing the npm package in Chromium (and its sync against a
/// server) in the summary.
const BROWSER_PACKAGE_STEP: &str = "npm package in headless Chromium";

/// The name of the PostgreSQL store's step in the summary.
const POSTGRES_STEP: &str = "PostgreSQL store and HTTP server";

/// `cargo test -p chronik-postgres -p chronik-server` (the store's tests and the HTTP
/// server's) against a throwaway cluster (or `DATABASE_URL`'s
/// server), which is stopped and deleted when `server` drops at the end of the step,
/// whatever the tests did.
fn postgres_step() -> Tally {
    let server = match crate::pg::test_server() {
        Ok(server) => server,
        Err(e) => {
            eprintln!("cannot start PostgreSQL: {e}");
            return Tally {
                passed: 0,
                failed: 1,
            };
        }
    };
    suite(
        cmd(
            "cargo",
            &["test", "-p", "chronik-postgres", "-p", "chronik-server"],
        )
        .env("DATABASE_URL", server.url()),
    )
}

/// Prints the table of steps and the final `N passed, N failed` line.
fn summary(results: &[(&str, Tally, f64)], started: Instant) -> Result<(), String> {
    eprintln!("\nsummary:");
    for (name, t, secs) in results {
        eprintln!(
            "  {name:<40} {:>4} passed {:>4} failed {secs:>6.0}s",
            t.passed, t.failed
        );
    }
    eprintln!("  total time {:.0}s", started.elapsed().as_secs_f64());
    let total = results
        .iter()
        .fold(Tally::default(), |acc, (_, t, _)| Tally {
            passed: acc.passed + t.passed,
            failed: acc.failed + t.failed,
        });
    println!("{} passed, {} failed", total.passed, total.failed);
    if total.failed > 0 {
        Err(format!("{} failed", total.failed))
    } else {
        Ok(())
    }
}

/// [`browser_suite`] with a chronik-server (on a throwaway PostgreSQL) that allows the
/// pages' origin, its URL in `CHRONIK_SERVER_URL`, for the sync tests.
fn browser_suite_with_server(dir: std::path::PathBuf, url_var: &str, tests: &str) -> Tally {
    let port = match crate::serve::serve_in_background(dir.clone()) {
        Ok(port) => port,
        Err(e) => {
            eprintln!("cannot serve {}: {e}", dir.display());
            return Tally {
                passed: 0,
                failed: 1,
            };
        }
    };
    let server = match crate::sync_server::start(&format!("http://127.0.0.1:{port}"), false) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("cannot start chronik-server: {e}");
            return Tally {
                passed: 0,
                failed: 1,
            };
        }
    };
    let tally = browser_suite(dir, url_var, tests, Some((port, &server)));
    drop(server);
    tally
}

/// Serves `dir` on a free loopback port (or uses `served`: its port, and the sync
/// server, its URL in `CHRONIK_SERVER_URL` and [`crate::sync_server::SyncServer::env`]), tells the node tests in `tests/<tests>` its
/// URL in the environment variable `url_var`, and runs them one file at a time (each
/// drives its own headless Chromium).
fn browser_suite(
    dir: std::path::PathBuf,
    url_var: &str,
    tests: &str,
    served: Option<(u16, &crate::sync_server::SyncServer)>,
) -> Tally {
    let port = match served {
        Some((port, _)) => port,
        None => match crate::serve::serve_in_background(dir.clone()) {
            Ok(port) => port,
            Err(e) => {
                eprintln!("cannot serve {}: {e}", dir.display());
                return Tally {
                    passed: 0,
                    failed: 1,
                };
            }
        },
    };
    let mut c = cmd(
        "node",
        &[
            "--test",
            "--test-reporter=tap",
            "--test-concurrency=1",
            tests,
        ],
    );
    c.current_dir(root().join("tests"))
        .env(url_var, format!("http://127.0.0.1:{port}/"));
    if let Some((_, server)) = served {
        c.env("CHRONIK_SERVER_URL", server.url());
        c.envs(server.env());
    }
    suite(&mut c)
}

/// A check that passes or fails as a whole (fmt, clippy, a build).
fn check(c: &mut Command) -> Tally {
    eprintln!("$ {}", describe(c));
    match c.status() {
        Ok(s) if s.success() => Tally {
            passed: 1,
            failed: 0,
        },
        Ok(s) => {
            eprintln!("`{}` failed ({s})", describe(c));
            Tally {
                passed: 0,
                failed: 1,
            }
        }
        Err(e) => {
            eprintln!("cannot run `{}`: {e}", describe(c));
            Tally {
                passed: 0,
                failed: 1,
            }
        }
    }
}

/// A test suite: its output is echoed and its counts are read from it. A suite that
/// exits non-zero with no failure counted (it did not build, say) counts one failure.
fn suite(c: &mut Command) -> Tally {
    eprintln!("$ {}", describe(c));
    let mut child = match c.stdout(Stdio::piped()).spawn() {
        Ok(child) => child,
        Err(e) => {
            eprintln!("cannot run `{}`: {e}", describe(c));
            return Tally {
                passed: 0,
                failed: 1,
            };
        }
    };
    let mut tally = Tally::default();
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            println!("{line}");
            let t = parse_line(&line);
            tally.passed += t.passed;
            tally.failed += t.failed;
        }
    }
    let ok = child.wait().map(|s| s.success()).unwrap_or(false);
    if !ok && tally.failed == 0 {
        eprintln!("`{}` failed without a failing test counted", describe(c));
        tally.failed = 1;
    }
    tally
}

/// Counts from one output line of `cargo test` / wasm-bindgen-test-runner
/// (`test result: ok. 3 passed; 0 failed; …`) or of node's TAP reporter (`# pass 3`).
fn parse_line(line: &str) -> Tally {
    let line = line.trim();
    if let Some(rest) = line.strip_prefix("test result:") {
        let count = |label: &str| {
            rest.split(';')
                .find_map(|part| {
                    let part = part
                        .trim()
                        .trim_start_matches("ok.")
                        .trim_start_matches("FAILED.");
                    part.trim().strip_suffix(label)?.trim().parse().ok()
                })
                .unwrap_or(0)
        };
        return Tally {
            passed: count("passed"),
            failed: count("failed"),
        };
    }
    let tap = |prefix: &str| line.strip_prefix(prefix)?.trim().parse().ok();
    if let Some(n) = tap("# pass ") {
        return Tally {
            passed: n,
            failed: 0,
        };
    }
    if let Some(n) = tap("# fail ") {
        return Tally {
            passed: 0,
            failed: n,
        };
    }
    Tally::default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cargo_test_summaries() {
        let ok = "test result: ok. 12 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s";
        assert_eq!(
            parse_line(ok),
            Tally {
                passed: 12,
                failed: 0
            }
        );
        let failed =
            "test result: FAILED. 3 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out";
        assert_eq!(
            parse_line(failed),
            Tally {
                passed: 3,
                failed: 2
            }
        );
    }

    #[test]
    fn reads_node_tap_summaries() {
        assert_eq!(
            parse_line("# pass 4"),
            Tally {
                passed: 4,
                failed: 0
            }
        );
        assert_eq!(
            parse_line("# fail 1"),
            Tally {
                passed: 0,
                failed: 1
            }
        );
        assert_eq!(parse_line("# tests 5"), Tally::default());
    }

    #[test]
    fn ignores_other_lines() {
        assert_eq!(parse_line("running 3 tests"), Tally::default());
        assert_eq!(parse_line("test foo ... ok"), Tally::default());
    }
}
