//! The embedded migrations and the `chronik_schema` table that versions them.
//!
//! Migration `n` (1-based) is `MIGRATIONS[n - 1]`; the database's schema version is the
//! highest `version` in `chronik_schema`. [`migrate`] applies the missing steps in one
//! transaction under a database-wide advisory lock (so two servers starting at once do
//! not both migrate), and refuses a database whose version is newer than this build's.
//! Shipped migrations are never edited; a change is a new file.

use tokio_postgres::Client;

use crate::error::PgError;

/// The migrations, oldest first.
const MIGRATIONS: &[&str] = &[include_str!("../migrations/0001_initial.sql")];

/// The schema version this build migrates databases to.
pub const SCHEMA_VERSION: i32 = MIGRATIONS.len() as i32;

/// The advisory lock (two-key form, so it never meets a stream lock) held while migrating.
const MIGRATION_LOCK: (i32, i32) = (0x6368_726e, 1); // "chrn", 1

/// Brings the database to [`SCHEMA_VERSION`]; returns the version it was at. Fails
/// with [`PgError::SchemaTooNew`], changing nothing, when it is newer.
pub async fn migrate(client: &mut Client) -> Result<i32, PgError> {
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
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO chronik_schema (version) VALUES ($1)",
            &[&(i as i32 + 1)],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(found)
}
