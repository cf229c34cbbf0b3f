//! `chronik-server`: serves until SIGTERM or Ctrl-C, then finishes the requests in
//! flight and closes the database pool.

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let config = chronik_server::Config::parse();
    let db = match chronik_postgres::pool_from_url(&config.database_url, config.db_pool_size) {
        Ok(db) => db,
        Err(e) => {
            eprintln!("chronik-server: invalid DATABASE_URL: {e}");
            return ExitCode::FAILURE;
        }
    };
    let server = match chronik_server::start(config.options(), db).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("chronik-server: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("chronik-server listening on {}", server.url());
    match server.run_until(shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chronik-server: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
