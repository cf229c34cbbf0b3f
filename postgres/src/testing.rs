//! Test support (feature `testing`): a throwaway database per test on the PostgreSQL
//! server named by `DATABASE_URL`, for this crate's tests and its users' (the server's).
//!
//! `cargo xtask test` starts a PostgreSQL cluster and sets `DATABASE_URL`; without it
//! these helpers panic saying so: tests that need a server fail, they never skip.

use std::hash::{BuildHasher, Hasher};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

use deadpool_postgres::Pool;
use tokio_postgres::{Client, NoTls};

use crate::pool_from_config;

/// The server URL from `DATABASE_URL`, or a panic saying how to run the tests.
pub fn base_url() -> String {
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => url,
        _ => panic!(
            "DATABASE_URL is not set: these tests need a PostgreSQL server. Run them with \
             `cargo xtask test` (which starts a throwaway PostgreSQL and sets DATABASE_URL), \
             or set DATABASE_URL=postgres://user@host:port/postgres yourself"
        ),
    }
}

/// A unique, lowercase name `{prefix}_<hex>` for databases and stores.
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(NEXT.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    format!("{prefix}_{:016x}", h.finish())
}

/// A client on `config`, its connection driven by a spawned task (call it inside a
/// tokio runtime).
pub async fn connect(config: tokio_postgres::Config) -> Client {
    let (client, connection) = config
        .connect(NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {}: {e}", base_url()));
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

/// A connection to the server's base database (to create and drop test databases).
pub async fn admin() -> Client {
    connect(tokio_postgres::Config::from_str(&base_url()).expect("DATABASE_URL parses")).await
}

/// A fresh database `{prefix}_<hex>`, dropped (even when the test panics) when this is
/// dropped.
pub struct TestDb {
    /// Its name.
    pub name: String,
    /// How to connect to it.
    pub config: tokio_postgres::Config,
}

impl TestDb {
    /// A fresh database named after `prefix`.
    pub async fn new(prefix: &str) -> TestDb {
        TestDb::with_options(prefix, "").await
    }

    /// A fresh database created with `options` after `CREATE DATABASE name`.
    pub async fn with_options(prefix: &str, options: &str) -> TestDb {
        let name = unique(prefix);
        admin()
            .await
            .batch_execute(&format!("CREATE DATABASE {name} {options}"))
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        let mut config =
            tokio_postgres::Config::from_str(&base_url()).expect("DATABASE_URL parses");
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

    /// A new pool of at most `size` connections to this database.
    pub fn pool(&self, size: usize) -> Pool {
        pool_from_config(self.config.clone(), size).expect("pool")
    }

    /// A plain client on this database (for SQL the store does not offer).
    pub async fn client(&self) -> Client {
        connect(self.config.clone()).await
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs outside any runtime a test may use (or while one unwinds): a thread
        // of its own with its own runtime.
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
