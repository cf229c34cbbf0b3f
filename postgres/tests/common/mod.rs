//! A throwaway database per test on the server named by `DATABASE_URL`.
//!
//! `cargo xtask test` starts a PostgreSQL cluster and sets `DATABASE_URL`; without it
//! these tests fail (they never pass or skip silently).

#![allow(dead_code)] // each test file uses part of it

use std::rc::Rc;

use chronik_core::{ManualClock, SequentialIds};
use chronik_postgres::deadpool_postgres::Pool;
use chronik_postgres::PgStore;

/// A fresh database `chronik_test_<random>`, dropped (even when the test panics) when
/// this is dropped.
pub struct TestDb(pub chronik_postgres::testing::TestDb);

impl std::ops::Deref for TestDb {
    type Target = chronik_postgres::testing::TestDb;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl TestDb {
    pub async fn new() -> TestDb {
        TestDb::with_options("").await
    }

    /// A fresh database created with `options` after `CREATE DATABASE name`.
    pub async fn with_options(options: &str) -> TestDb {
        TestDb(chronik_postgres::testing::TestDb::with_options("chronik_test", options).await)
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
