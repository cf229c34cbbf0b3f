//! A throwaway database per test on the server named by `DATABASE_URL`.
//!
//! `cargo xtask test` starts a PostgreSQL cluster and sets `DATABASE_URL`; without it
//! these tests fail (they never pass or skip silently).

#![allow(dead_code)] // each test file uses part of it

use std::hash::{BuildHasher, Hasher};
use std::rc::Rc;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

use chronik_core::{ManualClock, SequentialIds};
use chronik_postgres::deadpool_postgres::Pool;
use chronik_postgres::tokio_postgres::{self, Client, NoTls};
use chronik_postgres::{pool_from_config, PgStore};

/// The base server URL from `DATABASE_URL`, or a panic saying how to run the tests.
pub fn base_url() -> String {
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => url,
        _ => panic!(
            "DATABASE_URL is not set: the chronik-postgres tests need a PostgreSQL server. \
             Run them with `cargo xtask test` (which starts a throwaway PostgreSQL and sets \
             DATABASE_URL), or set DATABASE_URL=postgres://user@host:port/postgres yourself"
        ),
    }
}

/// A unique, lowercase suffix for database and store names.
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(NEXT.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    format!("{prefix}_{:016x}", h.finish())
}

/// A connection to the server's base database (to create and drop test databases).
pub async fn admin() -> Client {
    connect(tokio_postgres::Config::from_str(&base_url()).expect("DATABASE_URL parses")).await
}

/// A client on `config`, its connection driven by a spawned task.
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

/// A fresh database `chronik_test_<random>`, dropped (even when the test panics) when
/// this is dropped.
pub struct TestDb {
    pub name: String,
    pub config: tokio_postgres::Config,
}

impl TestDb {
    pub async fn new() -> TestDb {
        TestDb::with_options("").await
    }

    /// A fresh database created with `options` after `CREATE DATABASE name`.
    pub async fn with_options(options: &str) -> TestDb {
        let name = unique("chronik_test");
        admin()
            .await
            .batch_execute(&format!("CREATE DATABASE {name} {options}"))
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        let mut config = tokio_postgres::Config::from_str(&base_url()).unwrap();
        config.dbname(&name);
        TestDb { name, config }
    }

    /// A new pool of at most `size` connections to this database.
    pub fn pool(&self, size: usize) -> Pool {
        pool_from_config(self.config.clone(), size).expect("pool")
    }

    /// A plain client on this database (for SQL the store does not offer).
    pub async fn client(&self) -> Client {
        connect(self.config.clone()).await
    }

    /// A store named `store` on `pool` with a manual clock and ids `{prefix}-n`.
    pub async fn store(&self, pool: &Pool, store: &str, ids: &str) -> (PgStore, Rc<ManualClock>) {
        let clock = Rc::new(ManualClock::new(chronik_core::conformance::START_MS));
        let s = PgStore::connect(
            pool.clone(),
            store,
            Rc::clone(&clock),
            SequentialIds::new(ids),
        )
        .await
        .unwrap_or_else(|e| panic!("connect store {store}: {e}"));
        (s, clock)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs outside any runtime we may use (or while one unwinds): a thread of its
        // own with its own runtime.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let client = admin().await;
                if let Err(e) = client
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
