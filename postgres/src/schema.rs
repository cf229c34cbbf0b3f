//! The embedded migrations and the `chronik_schema` table that versions them.
//!
//! Migration `n` (1-based) is `MIGRATIONS[n - 1]`; the database's schema version is the
//! highest `version` in `chronik_schema`. [`migrate`] applies the missing steps in one
//! transaction under a database-wide advisory lock (so two servers starting at once do
//! not both migrate), and refuses a database whose version is newer than this build's.
//! Shipped migrations are never edited; a change is a new step.
//!
//! 1. `migrations/0001_initial.sql`: the tables.
//! 2. The one event shape (Rust, `flatten_metadata`): `metadata` held core's previous
//!    JSON shape, `{"correlationId"?, "causationId"?, "extra": {…}}`; every event's is
//!    rewritten to the flat one, the free keys beside the named ones, by
//!    [`chronik_core::previous::migrate_metadata_json`], the conversion the IndexedDB
//!    migration and the NDJSON import use too. An event whose free keys hold a reserved
//!    key (`correlationId`, `causationId`) cannot be converted: the migration fails with
//!    [`PgError::Migration`] naming it, and its transaction is rolled back, so the
//!    database stays at version 1 with nothing changed. The other columns are unchanged
//!    (they hold ids and types, not JSON).

use chronik_core::previous::migrate_metadata_json;
use tokio_postgres::{Client, Transaction};

use crate::error::PgError;

/// One migration step.
enum Step {
    /// SQL run as one batch.
    Sql(&'static str),
    /// Schema version 2: every event's metadata in the flat shape.
    FlattenMetadata,
}

/// The migrations, oldest first.
const MIGRATIONS: &[Step] = &[
    Step::Sql(include_str!("../migrations/0001_initial.sql")),
    Step::FlattenMetadata,
];

/// How many events [`flatten_metadata`] reads and rewrites per statement.
const MIGRATE_PAGE: i64 = 1_000;

/// The schema version this build migrates databases to.
pub const SCHEMA_VERSION: i32 = MIGRATIONS.len() as i32;

/// The advisory lock (two-key form, so it never meets a stream lock) held while migrating.
const MIGRATION_LOCK: (i32, i32) = (0x6368_726e, 1); // "chrn", 1

/// Brings the database to [`SCHEMA_VERSION`]; returns the version it was at. Fails
/// with [`PgError::SchemaTooNew`], changing nothing, when it is newer.
pub async fn migrate(client: &mut Client) -> Result<i32, PgError> {
    migrate_to(client, SCHEMA_VERSION).await
}

/// Test support: brings the database to `target` (at most [`SCHEMA_VERSION`]) only, to
/// build a database of an older schema. Applications use [`migrate`].
#[doc(hidden)]
pub async fn migrate_to(client: &mut Client, target: i32) -> Result<i32, PgError> {
    let target = target.clamp(0, SCHEMA_VERSION);
    let tx = client.transaction().await?;
    tx.execute(
        "SELECT pg_advisory_xact_lock($1, $2)",
        &[&MIGRATION_LOCK.0, &MIGRATION_LOCK.1],
    )
    .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS chronik_schema (
            version    integer     NOT NULL PRIMARY KEY,
            applied_at timestamptz NOT NULL DEFAULT now()
        )",
    )
    .await?;
    let found: i32 = tx
        .query_one("SELECT coalesce(max(version), 0) FROM chronik_schema", &[])
        .await?
        .get(0);
    if found > SCHEMA_VERSION {
        return Err(PgError::SchemaTooNew {
            found,
            known: SCHEMA_VERSION,
        });
    }
    for (i, step) in MIGRATIONS
        .iter()
        .enumerate()
        .take(target as usize)
        .skip(found as usize)
    {
        match step {
            Step::Sql(sql) => tx.batch_execute(sql).await?,
            Step::FlattenMetadata => flatten_metadata(&tx).await?,
        }
        tx.execute(
            "INSERT INTO chronik_schema (version) VALUES ($1)",
            &[&(i as i32 + 1)],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(found)
}

/// Schema version 2: rewrites every event's `metadata` from the previous shape to the flat
/// one, a page of events at a time in position order, inside the migration's transaction.
/// Only rows whose text has an `"extra":` key can change (or hold a reserved free key);
/// the conversion decides from the parsed text.
async fn flatten_metadata(tx: &Transaction<'_>) -> Result<(), PgError> {
    let mut after: (String, i64) = (String::new(), 0);
    loop {
        let rows = tx
            .query(
                "SELECT store, position, event_id, metadata FROM chronik_events
                 WHERE (store, position) > ($1, $2) AND metadata LIKE '%\"extra\":%'
                 ORDER BY store, position
                 LIMIT $3",
                &[&after.0, &after.1, &MIGRATE_PAGE],
            )
            .await?;
        let Some(last) = rows.last() else {
            return Ok(());
        };
        after = (last.try_get(0)?, last.try_get(1)?);
        let (mut stores, mut positions, mut texts) = (Vec::new(), Vec::new(), Vec::new());
        for row in &rows {
            let event_id: String = row.try_get(2)?;
            let text: String = row.try_get(3)?;
            let store: String = row.try_get(0)?;
            let converted =
                migrate_metadata_json(&event_id, &text).map_err(|source| PgError::Migration {
                    version: 2,
                    store: store.clone(),
                    source,
                })?;
            if let Some(flat) = converted {
                stores.push(store);
                positions.push(row.try_get::<_, i64>(1)?);
                texts.push(flat);
            }
        }
        if !texts.is_empty() {
            tx.execute(
                "UPDATE chronik_events AS e SET metadata = u.metadata
                 FROM unnest($1::text[], $2::bigint[], $3::text[]) AS u(store, position, metadata)
                 WHERE e.store = u.store AND e.position = u.position",
                &[&stores, &positions, &texts],
            )
            .await?;
        }
    }
}
