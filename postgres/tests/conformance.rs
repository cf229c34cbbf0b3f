//! The whole conformance suite of chronik-core, unchanged, against `PgStore`: every case
//! on a fresh store name in a fresh database.

mod common;

use std::cell::Cell;

use chronik_core::{conformance, SequentialIds};
use chronik_postgres::PgStore;

#[tokio::test(flavor = "current_thread")]
async fn pg_store_passes_the_conformance_suite() {
    let db = common::TestDb::new().await;
    let pool = db.pool(4);
    let case = Cell::new(0);
    conformance::run_all(|clock| {
        case.set(case.get() + 1);
        let (pool, name) = (pool.clone(), format!("conformance-{}", case.get()));
        async move {
            PgStore::connect(pool, &name, clock, SequentialIds::new("evt"))
                .await
                .unwrap_or_else(|e| panic!("connect {name}: {e}"))
        }
    })
    .await;
    assert!(case.get() >= 24, "every case ran on its own store");
}
