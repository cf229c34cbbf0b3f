//! Developer commands for chronik: `cargo xtask setup | serve | server | test | bench | postgres`.
//!
//! Standard library only, so that it builds in seconds on a fresh machine.

mod bench;
mod package;
mod pg;
mod serve;
mod server;
mod setup;
mod sync_server;
mod test;
mod util;

use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  setup              install whatever is missing (wasm32 target, trunk, wasm-bindgen-cli,
                     wasm-pack, Chromium + ChromeDriver, npm packages in tests/, PostgreSQL)
  serve [--port N]   build the app in release and serve it on http://127.0.0.1:N (default 8080)
  server [--port N]  build and run chronik-server (the HTTP API) on http://127.0.0.1:N
                     (default 8080), on DATABASE_URL or else the persistent PostgreSQL
                     in target/postgres, which it stops on exit if it started it
  build              build the app in release into dist/
  package            build the npm package (web, bundler, nodejs) into web/pkg*
  package --engine-only
                     build the web target without the example domains into web/pkg-engine
  test               setup, then every check; ends with `N passed, N failed` (starts a
                     throwaway PostgreSQL for the chronik-postgres tests, or uses DATABASE_URL)
  postgres [stop]    start (or reuse) a persistent PostgreSQL with its data in target/postgres
                     and print its DATABASE_URL; `stop` stops it
  bench [options]    native criterion benches and the browser workloads side by side with
                     raw IndexedDB, Dexie and Emmett; writes bench/results.md (--help)
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("setup") => setup::run(),
        Some("serve") => serve::run(&args[1..]),
        Some("server") => server::run(&args[1..]),
        Some("build") => setup::run().and_then(|()| serve::build_app()),
        Some("package") if args.get(1).map(String::as_str) == Some("--engine-only") => {
            setup::run().and_then(|()| package::build_engine_only())
        }
        Some("package") => setup::run().and_then(|()| package::build_all()),
        Some("test") => test::run(&args[1..]),
        Some("bench") => bench::run(&args[1..]),
        Some("postgres") => pg::run(&args[1..]),
        Some("-h" | "--help" | "help") | None => {
            print!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(format!("unknown command '{other}'\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
