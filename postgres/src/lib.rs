//! # chronik-postgres
//!
//! [`PgStore`]: the [`EventStore`] contract of `chronik-core` on a PostgreSQL server,
//! through `tokio-postgres` and a `deadpool-postgres` pool.
//!
//! Several named stores live in one database (every table is keyed by `store`). The
//! schema is created and upgraded by embedded migrations when a store connects
//! ([`schema`]); a database migrated by a newer chronik is refused.
//!
//! ## Gapless positions
//!
//! An append runs at READ COMMITTED in one transaction: it takes a transaction-scoped
//! advisory lock on a hash of (store, stream), reads the stream's version and any stored
//! events with the batch's ids, decides with the shared planner
//! ([`chronik_core::append::plan_append`]: expected version, exact idempotency, limits),
//! and then, in ONE statement, bumps the store's head row
//! (`UPDATE chronik_heads SET position = position + n … RETURNING`) and inserts the rows
//! at the positions it returned. The head row stays locked until commit, and PostgreSQL
//! makes a commit visible before it releases the transaction's locks, so the next writer
//! of the store cannot take position `p + 1` before `p` is visible; a rollback undoes the
//! increment. Readers that resume "after position p" therefore never miss an event.
//! The head row is held from the write statement to the `COMMIT` that follows its reply:
//! one round trip to this process, the span that serializes the appends of one store.
//! The `COMMIT` is not pipelined behind the write, so a caller that gives up while the
//! write waits (a request timeout) rolls it back instead of committing it unseen.
//! An import keeps its positions: its one write statement moves the head row only from
//! the head it planned at, and plans again when another writer got there first.
//!
//! Store futures are not `Send` (the contract has no `Send` bound and the clock and id
//! source are `Rc`s in tests): run them on a current-thread runtime or a `LocalSet`.
#![deny(missing_docs)]

mod error;
pub mod schema;
#[cfg(feature = "testing")]
pub mod testing;

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;

use chronik_core::append::{
    import_streams, plan_append, plan_import, AppendContext, AppendPlan, ImportContext, StoredId,
};
use chronik_core::{
    utc_date, AppendResult, Checkpoint, Clock, Direction, EventStore, ExpectedVersion, IdSource,
    Metadata, NewEvent, ReadAllOptions, ReadStreamOptions, RecordedEvent, Snapshot, StoreError,
    StoreStats, StreamInfo, MAX_NAME_BYTES,
};
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use serde_json::Value;
use tokio_postgres::error::{DbError, SqlState};
use tokio_postgres::types::ToSql;
use tokio_postgres::{IsolationLevel, NoTls, Row};

pub use deadpool_postgres;
pub use error::PgError;
pub use schema::SCHEMA_VERSION;
pub use tokio_postgres;

/// How many times an append or import is retried after a unique violation (an id
/// committed by another stream between our lookup and our insert); the retry sees the
/// stored id and answers as the contract says.
const UNIQUE_RETRIES: usize = 3;

/// The columns of an event row, in the order [`decode_event`] reads them.
const EVENT_COLUMNS: &str =
    "event_id, stream_id, version, position, event_type, schema_version, data, metadata, recorded_at";

/// A pool of connections to the server at `url` (`postgres://user@host:port/db`), at most
/// `max_size` connections, without TLS (a loopback or private network server).
pub fn pool_from_url(url: &str, max_size: usize) -> Result<Pool, PgError> {
    let config =
        tokio_postgres::Config::from_str(url).map_err(|e| PgError::Config(e.to_string()))?;
    pool_from_config(config, max_size)
}

/// A pool of at most `max_size` connections configured by `config`, without TLS.
pub fn pool_from_config(config: tokio_postgres::Config, max_size: usize) -> Result<Pool, PgError> {
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(max_size)
        .build()
        .map_err(|e| PgError::Config(e.to_string()))
}

/// An [`EventStore`] in a PostgreSQL database: the store named `store` among any others
/// in the same database, reached through a connection pool, taking time from an injected
/// [`Clock`] and fresh event ids from an injected [`IdSource`].
pub struct PgStore {
    pool: Pool,
    store: String,
    clock: Box<dyn Clock>,
    ids: Box<dyn IdSource>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

/// Why one attempt at a write did not finish.
enum Attempt {
    /// A unique constraint was violated: retry, or explain it.
    Unique { db: Box<DbError>, ids: Vec<String> },
    /// An import's plan was made at a head that another writer has since moved.
    HeadMoved,
    /// Any other failure, final.
    Failed(StoreError),
}

impl From<PgError> for Attempt {
    fn from(e: PgError) -> Self {
        if let PgError::Postgres(pg) = &e {
            if let Some(db) = pg.as_db_error() {
                if *db.code() == SqlState::UNIQUE_VIOLATION {
                    return Attempt::Unique {
                        db: Box::new(db.clone()),
                        ids: Vec::new(),
                    };
                }
            }
        }
        Attempt::Failed(e.into())
    }
}

impl From<tokio_postgres::Error> for Attempt {
    fn from(e: tokio_postgres::Error) -> Self {
        PgError::from(e).into()
    }
}

impl From<deadpool_postgres::PoolError> for Attempt {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        PgError::from(e).into()
    }
}

impl From<StoreError> for Attempt {
    fn from(e: StoreError) -> Self {
        Attempt::Failed(e)
    }
}

/// `n` as a bigint, or an error naming `what`.
fn big(n: u64, what: &str) -> Result<i64, PgError> {
    i64::try_from(n).map_err(|_| PgError::OutOfRange(format!("{what} {n}")))
}

/// `n` as a bigint bound, saturating (a bound past `i64::MAX` matches every stored row).
fn bound(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A `LIMIT` parameter: `None` is `LIMIT NULL`, which PostgreSQL reads as no limit.
fn limit(n: Option<usize>) -> Option<i64> {
    n.map(|n| i64::try_from(n).unwrap_or(i64::MAX))
}

/// A stored bigint as a `u64`.
fn unsigned(n: i64, what: &str) -> Result<u64, PgError> {
    u64::try_from(n).map_err(|_| PgError::Corrupt(format!("negative {what} {n}")))
}

/// A stored JSON text as a value.
fn parse_json(text: &str, what: &str) -> Result<Value, PgError> {
    serde_json::from_str(text).map_err(|e| PgError::Corrupt(format!("{what}: {e}")))
}

/// A value as the exact JSON text that is stored.
fn to_json<T: serde::Serialize + ?Sized>(value: &T, what: &str) -> Result<String, PgError> {
    serde_json::to_string(value).map_err(|e| PgError::Corrupt(format!("{what}: {e}")))
}

/// An event row selected with [`EVENT_COLUMNS`].
fn decode_event(row: &Row) -> Result<RecordedEvent, PgError> {
    let metadata: String = row.try_get(7)?;
    Ok(RecordedEvent {
        event_id: row.try_get(0)?,
        stream_id: row.try_get(1)?,
        version: unsigned(row.try_get(2)?, "version")?,
        position: unsigned(row.try_get(3)?, "position")?,
        event_type: row.try_get(4)?,
        schema_version: u32::try_from(row.try_get::<_, i64>(5)?)
            .map_err(|_| PgError::Corrupt("schema version out of range".into()))?,
        data: parse_json(row.try_get(6)?, "event data")?,
        metadata: serde_json::from_str::<Metadata>(&metadata)
            .map_err(|e| PgError::Corrupt(format!("event metadata: {e}")))?,
        recorded_at: row.try_get(8)?,
    })
}

fn decode_events(rows: &[Row]) -> Result<Vec<RecordedEvent>, StoreError> {
    rows.iter()
        .map(|r| decode_event(r).map_err(StoreError::from))
        .collect()
}

fn decode_snapshot(row: &Row) -> Result<Snapshot, PgError> {
    Ok(Snapshot {
        stream_id: row.try_get(0)?,
        version: unsigned(row.try_get(1)?, "snapshot version")?,
        schema_version: u32::try_from(row.try_get::<_, i64>(2)?)
            .map_err(|_| PgError::Corrupt("snapshot schema version out of range".into()))?,
        state: parse_json(row.try_get(3)?, "snapshot state")?,
        taken_at: row.try_get(4)?,
    })
}

/// `Err` when `name` holds a NUL character, which PostgreSQL `text` cannot store (JSON
/// values are unaffected: serde_json writes NUL as `\u0000`).
fn check_no_nul(what: &str, name: &str) -> Result<(), StoreError> {
    if name.contains('\0') {
        return Err(StoreError::InvalidInput(format!(
            "{what} contains a NUL character, which the postgresql store cannot hold"
        )));
    }
    Ok(())
}

/// The advisory lock key of `stream` in `store`: 64-bit FNV-1a over both names (a
/// collision only makes two streams wait for each other, never wrong).
fn stream_lock_key(store: &str, stream: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in store.bytes().chain([0xff]).chain(stream.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash as i64
}

/// Where each of `ids` is stored in `store` (`None`: not stored, or no id).
async fn stored_ids(
    client: &tokio_postgres::Transaction<'_>,
    store: &str,
    ids: &[Option<&str>],
) -> Result<Vec<Option<StoredId>>, PgError> {
    let wanted: Vec<&str> = ids.iter().flatten().copied().collect();
    if wanted.is_empty() {
        return Ok(vec![None; ids.len()]);
    }
    let rows = client.query(STORED_IDS, &[&store, &wanted]).await?;
    stored_at(&rows, ids)
}

/// Each of `ids` looked up in the rows of [`STORED_IDS`].
fn stored_at(rows: &[Row], ids: &[Option<&str>]) -> Result<Vec<Option<StoredId>>, PgError> {
    let mut found: HashMap<String, StoredId> = HashMap::with_capacity(rows.len());
    for row in rows {
        found.insert(
            row.try_get(0)?,
            StoredId {
                stream_id: row.try_get(1)?,
                version: unsigned(row.try_get(2)?, "version")?,
                position: unsigned(row.try_get(3)?, "position")?,
            },
        );
    }
    Ok(ids
        .iter()
        .map(|id| id.and_then(|id| found.get(id).cloned()))
        .collect())
}

/// An append's statements (see `PgStore::try_append`).
const STREAM_LOCK: &str = "SELECT pg_advisory_xact_lock($1)";
const STREAM_VERSION: &str =
    "SELECT version FROM chronik_streams WHERE store = $1 AND stream_id = $2";
const STORED_IDS: &str = "SELECT event_id, stream_id, version, position FROM chronik_events
     WHERE store = $1 AND event_id = ANY($2::text[])";
/// Last, in one statement: take n positions from the head row (locked from here to
/// commit), write the rows at them and move the stream's head.
const APPEND_WRITE: &str = "WITH head AS (
        UPDATE chronik_heads SET position = position + $2
        WHERE store = $1
        RETURNING position - $2 AS base
     ), written AS (
        INSERT INTO chronik_events (store, position, stream_id, version, event_id,
            event_type, schema_version, data, metadata, recorded_at)
        SELECT $1, head.base + e.ord, $3, $4 + e.ord, e.id, e.ty, e.sv, e.data,
            e.meta, $6
        FROM head, unnest($7::text[], $8::text[], $9::bigint[], $10::text[],
            $11::text[]) WITH ORDINALITY AS e(id, ty, sv, data, meta, ord)
     ), stream AS (
        INSERT INTO chronik_streams (store, stream_id, version, last_position,
            updated_at)
        SELECT $1, $3, $5, head.base + $2, $6 FROM head
        ON CONFLICT (store, stream_id) DO UPDATE SET version = EXCLUDED.version,
            last_position = EXCLUDED.last_position, updated_at = EXCLUDED.updated_at
     )
     SELECT base FROM head";

impl PgStore {
    /// Connects the store named `store` in the database behind `pool`: applies the
    /// embedded migrations (refusing a database with a newer schema, see
    /// [`PgError::SchemaTooNew`]) and creates the store's head row when it is new. Events
    /// are recorded at `clock`'s time; events without an id get one from `ids`.
    ///
    /// Those ids must be unique across every instance of the store and every restart
    /// (random ids such as UUIDs): a generated id that is already stored is not a repeat
    /// of anything, and after a few fresh tries the append fails with
    /// [`StoreError::DuplicateEventId`]. [`SequentialIds`](chronik_core::SequentialIds)
    /// fits only tests with one instance per store.
    pub async fn connect(
        pool: Pool,
        store: &str,
        clock: impl Clock + 'static,
        ids: impl IdSource + 'static,
    ) -> Result<Self, PgError> {
        if store.trim().is_empty() || store.len() > MAX_NAME_BYTES {
            return Err(PgError::InvalidStoreName(format!(
                "a store name must be 1 to {MAX_NAME_BYTES} bytes and not blank, got {} bytes",
                store.len()
            )));
        }
        let mut client = pool.get().await?;
        schema::migrate(&mut client).await?;
        client
            .execute(
                "INSERT INTO chronik_heads (store, position) VALUES ($1, 0)
                 ON CONFLICT (store) DO NOTHING",
                &[&store],
            )
            .await?;
        drop(client);
        Ok(Self {
            pool,
            store: store.to_string(),
            clock: Box::new(clock),
            ids: Box::new(ids),
        })
    }

    /// Runs `op` on a pooled connection; when it fails with anything but a contract
    /// refusal the connection is dropped rather than returned (see [`still_good`]).
    async fn with_client<T>(
        &self,
        op: impl AsyncFnOnce(&mut Object) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut client = self.pool.get().await.map_err(PgError::from)?;
        let result = op(&mut client).await;
        if let Err(e) = &result {
            if !still_good(e) {
                drop(Object::take(client));
            }
        }
        result
    }

    /// The store's name: the key of its rows in every table.
    pub fn name(&self) -> &str {
        &self.store
    }

    /// The connection pool the store uses.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// One attempt at an append; a unique violation is returned for a retry.
    ///
    /// Four round trips: `BEGIN`; the stream's advisory lock, its version and the batch's
    /// stored ids, pipelined (sent together, run in that order); the write statement; and
    /// `COMMIT`. The statements are prepared once per connection (deadpool's statement
    /// cache), which pipelining needs: a statement sent as text would first wait for its
    /// parse. `COMMIT` waits for the write's reply so that dropping this future while the
    /// write waits on a lock rolls the transaction back (the write and `COMMIT` sent
    /// together committed an append its caller had already been told timed out).
    async fn try_append(
        &self,
        client: &mut Object,
        stream_id: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, Attempt> {
        let lock = client.prepare_cached(STREAM_LOCK).await?;
        let version = client.prepare_cached(STREAM_VERSION).await?;
        let ids_stmt = client.prepare_cached(STORED_IDS).await?;
        let write = client.prepare_cached(APPEND_WRITE).await?;
        let pg: &mut tokio_postgres::Client = client;
        let tx = pg
            .build_transaction()
            .isolation_level(IsolationLevel::ReadCommitted)
            .start()
            .await?;
        let key = stream_lock_key(&self.store, stream_id);
        let ids: Vec<Option<&str>> = events.iter().map(|e| e.event_id.as_deref()).collect();
        let wanted: Vec<&str> = ids.iter().flatten().copied().collect();
        // `join3` polls in order, and each future sends its request on its first poll,
        // so PostgreSQL takes the lock before it reads the version and the ids.
        let (locked, current, stored) = futures::future::join3(
            tx.execute(&lock, &[&key]),
            tx.query_opt(&version, &[&self.store, &stream_id]),
            async {
                match wanted.is_empty() {
                    true => Ok(Vec::new()),
                    false => tx.query(&ids_stmt, &[&self.store, &wanted]).await,
                }
            },
        )
        .await;
        locked?;
        let current = current?
            .map(|row| unsigned(row.get(0), "stream version"))
            .transpose()?;
        let stored = stored_at(&stored?, &ids)?;
        // Positions are planned from 0 and shifted by the head the final statement takes.
        let plan = plan_append(
            stream_id,
            expected,
            events,
            AppendContext {
                current_version: current,
                head_position: 0,
                stored_ids: &stored,
            },
            self.clock.as_ref(),
            self.ids.as_ref(),
        )?;
        let recorded = match plan {
            AppendPlan::AlreadyAppended(result) => return Ok(result),
            AppendPlan::Write(recorded) => recorded,
        };
        let (Some(first), Some(last)) = (recorded.first(), recorded.last()) else {
            return Err(StoreError::InvalidInput(format!(
                "append to stream '{stream_id}' needs at least one event"
            ))
            .into());
        };
        let n = big(recorded.len() as u64, "batch size")?;
        let first_version = first.version;
        let last_version = big(last.version, "version")?;
        let base_version = big(first_version - 1, "version")?;
        let now = last.recorded_at;
        let mut event_ids = Vec::with_capacity(recorded.len());
        let mut types = Vec::with_capacity(recorded.len());
        let mut schemas = Vec::with_capacity(recorded.len());
        let mut data = Vec::with_capacity(recorded.len());
        let mut metadata = Vec::with_capacity(recorded.len());
        for e in &recorded {
            event_ids.push(e.event_id.as_str());
            types.push(e.event_type.as_str());
            schemas.push(i64::from(e.schema_version));
            data.push(to_json(&e.data, "event data")?);
            metadata.push(to_json(&e.metadata, "event metadata")?);
        }
        let params: [&(dyn ToSql + Sync); 11] = [
            &self.store,
            &n,
            &stream_id,
            &base_version,
            &last_version,
            &now,
            &event_ids,
            &types,
            &schemas,
            &data,
            &metadata,
        ];
        // The write is awaited before `COMMIT` is sent: a caller that gives up while the
        // write waits (a request timeout) drops `tx`, whose ROLLBACK then follows the
        // write, so nothing it was told failed is ever committed.
        let row = tx
            .query_one(&write, &params)
            .await
            .map_err(|e| with_ids(e.into(), &event_ids))?;
        tx.commit()
            .await
            .map_err(|e| with_ids(e.into(), &event_ids))?;
        let base: i64 = row.try_get(0).map_err(PgError::from)?;
        let base = unsigned(base, "head position")?;
        Ok(AppendResult {
            first_version,
            last_version: last.version,
            first_position: base + first.position,
            last_position: base + last.position,
        })
    }

    /// One attempt at an import; a unique violation is returned for a retry.
    ///
    /// An import keeps its positions, so it plans from the head it reads; its one write
    /// statement moves the head row only if it is still there (and writes nothing
    /// otherwise: [`Attempt::HeadMoved`]), so the head row is held just for that statement
    /// and the commit. With `lock_head` (after repeated misses under a stream of appends)
    /// it locks the head row before planning instead, and cannot miss.
    async fn try_import(
        &self,
        client: &mut Object,
        events: Vec<RecordedEvent>,
        lock_head: bool,
    ) -> Result<u64, Attempt> {
        let tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::ReadCommitted)
            .start()
            .await?;
        let streams: Vec<String> = import_streams(&events)
            .into_iter()
            .map(str::to_string)
            .collect();
        // Every stream's lock, in key order so two imports cannot deadlock.
        let mut keys: Vec<i64> = streams
            .iter()
            .map(|s| stream_lock_key(&self.store, s))
            .collect();
        keys.sort_unstable();
        keys.dedup();
        tx.execute(
            "SELECT pg_advisory_xact_lock(k) FROM unnest($1::bigint[]) AS k ORDER BY k",
            &[&keys],
        )
        .await?;
        let rows = tx
            .query(
                "SELECT stream_id, version FROM chronik_streams
                 WHERE store = $1 AND stream_id = ANY($2::text[])",
                &[&self.store, &streams],
            )
            .await?;
        let mut stream_versions = BTreeMap::new();
        for row in &rows {
            stream_versions.insert(
                row.try_get::<_, String>(0)?,
                unsigned(row.try_get(1)?, "stream version")?,
            );
        }
        let ids: Vec<Option<&str>> = events.iter().map(|e| Some(e.event_id.as_str())).collect();
        let stored = stored_ids(&tx, &self.store, &ids).await?;
        let head = tx
            .query_one(
                if lock_head {
                    "SELECT position FROM chronik_heads WHERE store = $1 FOR UPDATE"
                } else {
                    "SELECT position FROM chronik_heads WHERE store = $1"
                },
                &[&self.store],
            )
            .await?;
        let old_head: i64 = head.try_get(0)?;
        let head = unsigned(old_head, "head position")?;
        let plan = plan_import(
            events,
            ImportContext {
                head_position: head,
                stream_versions: &stream_versions,
                stored_ids: &stored,
            },
        )?;
        let written = plan.events.len() as u64;
        let Some(last) = plan.events.last() else {
            return Ok(0);
        };
        let new_head = big(last.position, "position")?;
        let len = plan.events.len();
        let (mut positions, mut stream_ids, mut versions, mut event_ids) = (
            Vec::with_capacity(len),
            Vec::with_capacity(len),
            Vec::with_capacity(len),
            Vec::with_capacity(len),
        );
        let (mut types, mut schemas, mut data, mut metadata, mut times) = (
            Vec::with_capacity(len),
            Vec::with_capacity(len),
            Vec::with_capacity(len),
            Vec::with_capacity(len),
            Vec::with_capacity(len),
        );
        for e in &plan.events {
            positions.push(big(e.position, "position")?);
            stream_ids.push(e.stream_id.as_str());
            versions.push(big(e.version, "version")?);
            event_ids.push(e.event_id.as_str());
            types.push(e.event_type.as_str());
            schemas.push(i64::from(e.schema_version));
            data.push(to_json(&e.data, "event data")?);
            metadata.push(to_json(&e.metadata, "event metadata")?);
            times.push(e.recorded_at);
        }
        let (mut s_ids, mut s_versions, mut s_positions, mut s_times) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for s in &plan.streams {
            s_ids.push(s.stream_id.as_str());
            s_versions.push(big(s.version, "version")?);
            s_positions.push(big(s.last_position, "position")?);
            s_times.push(s.updated_at);
        }
        // Last, in one statement: move the head row if it is where the plan found it,
        // and only then write the rows and the streams' heads.
        let moved: i64 = tx
            .query_one(
                "WITH head AS (
                    UPDATE chronik_heads SET position = $11
                    WHERE store = $1 AND position = $12
                    RETURNING position
                 ), written AS (
                    INSERT INTO chronik_events (store, position, stream_id, version, event_id,
                        event_type, schema_version, data, metadata, recorded_at)
                    SELECT $1, e.* FROM head, unnest($2::bigint[], $3::text[], $4::bigint[],
                        $5::text[], $6::text[], $7::bigint[], $8::text[], $9::text[],
                        $10::bigint[]) AS e
                 ), stream AS (
                    INSERT INTO chronik_streams (store, stream_id, version, last_position,
                        updated_at)
                    SELECT $1, s.* FROM head, unnest($13::text[], $14::bigint[],
                        $15::bigint[], $16::bigint[]) AS s
                    ON CONFLICT (store, stream_id) DO UPDATE SET version = EXCLUDED.version,
                        last_position = EXCLUDED.last_position, updated_at = EXCLUDED.updated_at
                 )
                 SELECT count(*) FROM head",
                &[
                    &self.store,
                    &positions,
                    &stream_ids,
                    &versions,
                    &event_ids,
                    &types,
                    &schemas,
                    &data,
                    &metadata,
                    &times,
                    &new_head,
                    &old_head,
                    &s_ids,
                    &s_versions,
                    &s_positions,
                    &s_times,
                ],
            )
            .await
            .map_err(|e| with_ids(e.into(), &event_ids))?
            .try_get(0)
            .map_err(PgError::from)?;
        if moved == 0 {
            return Err(Attempt::HeadMoved);
        }
        tx.commit()
            .await
            .map_err(|e| with_ids(e.into(), &event_ids))?;
        Ok(written)
    }

    /// The contract's error for a unique violation that retries did not resolve.
    async fn explain_unique(
        &self,
        db: &DbError,
        ids: &[String],
        stream_id: Option<(&str, ExpectedVersion)>,
    ) -> StoreError {
        let fallback = || {
            StoreError::Storage(format!(
                "unique violation on {}: {}",
                db.constraint().unwrap_or("an index"),
                db.detail().unwrap_or(db.message())
            ))
        };
        let Ok(client) = self.pool.get().await else {
            return fallback();
        };
        match db.constraint() {
            Some("chronik_events_event_id") => {
                let Ok(rows) = client
                    .query(
                        "SELECT event_id, stream_id FROM chronik_events
                         WHERE store = $1 AND event_id = ANY($2::text[])",
                        &[&self.store, &ids],
                    )
                    .await
                else {
                    return fallback();
                };
                let taken: HashMap<String, String> =
                    rows.iter().map(|r| (r.get(0), r.get(1))).collect();
                ids.iter()
                    .find_map(|id| {
                        Some(StoreError::DuplicateEventId {
                            event_id: id.clone(),
                            existing_stream: taken.get(id)?.clone(),
                        })
                    })
                    .unwrap_or_else(fallback)
            }
            Some("chronik_events_stream_version") => match stream_id {
                Some((stream, expected)) => {
                    let actual = client
                        .query_opt(
                            "SELECT version FROM chronik_streams WHERE store = $1 AND stream_id = $2",
                            &[&self.store, &stream],
                        )
                        .await
                        .ok()
                        .flatten()
                        .and_then(|r| u64::try_from(r.get::<_, i64>(0)).ok());
                    StoreError::WrongExpectedVersion {
                        stream: stream.to_string(),
                        expected,
                        actual,
                    }
                }
                None => fallback(),
            },
            _ => fallback(),
        }
    }
}

/// Whether a connection that failed with `e` is still good: the contract's refusals are
/// decided by the planner on a healthy connection. After anything else (a broken or
/// terminated connection, a server error) it is dropped from the pool instead of being
/// handed out again, since the pool's cheap check cannot yet see a connection the server
/// just closed.
fn still_good(e: &StoreError) -> bool {
    matches!(
        e,
        StoreError::WrongExpectedVersion { .. }
            | StoreError::PartialDuplicate { .. }
            | StoreError::DuplicateEventId { .. }
            | StoreError::InvalidInput(_)
    )
}

/// Returns `client` to the pool after `attempted`, or drops it when it may be broken.
fn settle<T>(client: Object, attempted: &Result<T, Attempt>) {
    if let Err(Attempt::Failed(e)) = attempted {
        if !still_good(e) {
            drop(Object::take(client));
        }
    }
}

/// A unique violation carrying the ids the failed write tried to store.
fn with_ids(attempt: Attempt, event_ids: &[&str]) -> Attempt {
    match attempt {
        Attempt::Unique { db, .. } => Attempt::Unique {
            db,
            ids: event_ids.iter().map(|s| s.to_string()).collect(),
        },
        other => other,
    }
}

impl EventStore for PgStore {
    async fn append(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        check_no_nul("stream id", stream_id)?;
        for e in &events {
            check_no_nul("event type", &e.event_type)?;
            if let Some(id) = &e.event_id {
                check_no_nul("event id", id)?;
            }
        }
        let mut attempt = 0;
        loop {
            let mut client = self.pool.get().await.map_err(PgError::from)?;
            let attempted = self
                .try_append(&mut client, stream_id, expected, events.clone())
                .await;
            settle(client, &attempted);
            match attempted {
                Ok(result) => return Ok(result),
                Err(Attempt::Failed(e)) => return Err(e),
                // Only imports compare the head; nothing was written, so trying again is safe.
                Err(Attempt::HeadMoved) => attempt += 1,
                Err(Attempt::Unique { .. }) if attempt < UNIQUE_RETRIES => attempt += 1,
                Err(Attempt::Unique { db, ids }) => {
                    return Err(self
                        .explain_unique(&db, &ids, Some((stream_id, expected)))
                        .await)
                }
            }
        }
    }

    async fn import_events(&self, events: Vec<RecordedEvent>) -> Result<u64, StoreError> {
        for e in &events {
            check_no_nul("stream id", &e.stream_id)?;
            check_no_nul("event type", &e.event_type)?;
            check_no_nul("event id", &e.event_id)?;
        }
        let mut attempt = 0;
        loop {
            let mut client = self.pool.get().await.map_err(PgError::from)?;
            let lock_head = attempt >= UNIQUE_RETRIES;
            let attempted = self
                .try_import(&mut client, events.clone(), lock_head)
                .await;
            settle(client, &attempted);
            match attempted {
                Ok(written) => return Ok(written),
                Err(Attempt::Failed(e)) => return Err(e),
                Err(Attempt::HeadMoved) => attempt += 1,
                Err(Attempt::Unique { .. }) if attempt < UNIQUE_RETRIES => attempt += 1,
                Err(Attempt::Unique { db, ids }) => {
                    return Err(self.explain_unique(&db, &ids, None).await)
                }
            }
        }
    }

    async fn read_stream(
        &self,
        stream_id: &str,
        options: ReadStreamOptions,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.with_client(async |client| {
            let limit = limit(options.limit);
            let rows = match options.direction {
                Direction::Forward => {
                    let from = bound(options.from_version.unwrap_or(1));
                    client
                        .query(
                            &format!(
                                "SELECT {EVENT_COLUMNS} FROM chronik_events
                                 WHERE store = $1 AND stream_id = $2 AND version >= $3
                                 ORDER BY version LIMIT $4"
                            ),
                            &[&self.store, &stream_id, &from, &limit],
                        )
                        .await
                }
                Direction::Backward => {
                    let upto = options.from_version.map_or(i64::MAX, bound);
                    client
                        .query(
                            &format!(
                                "SELECT {EVENT_COLUMNS} FROM chronik_events
                                 WHERE store = $1 AND stream_id = $2 AND version <= $3
                                 ORDER BY version DESC LIMIT $4"
                            ),
                            &[&self.store, &stream_id, &upto, &limit],
                        )
                        .await
                }
            }
            .map_err(PgError::from)?;
            decode_events(&rows)
        })
        .await
    }

    async fn read_all(&self, options: ReadAllOptions) -> Result<Vec<RecordedEvent>, StoreError> {
        self.read_filtered(i64::MIN, i64::MAX, false, options).await
    }

    async fn read_time_range(
        &self,
        from_ms: i64,
        to_ms: i64,
        options: ReadAllOptions,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.read_filtered(from_ms, to_ms, true, options).await
    }

    async fn stream_version(&self, stream_id: &str) -> Result<Option<u64>, StoreError> {
        self.with_client(async |client| {
            let row = client
                .query_opt(
                    "SELECT version FROM chronik_streams WHERE store = $1 AND stream_id = $2",
                    &[&self.store, &stream_id],
                )
                .await
                .map_err(PgError::from)?;
            Ok(row
                .map(|r| unsigned(r.get(0), "stream version"))
                .transpose()?)
        })
        .await
    }

    async fn head_position(&self) -> Result<u64, StoreError> {
        self.with_client(async |client| {
            let row = client
                .query_opt(
                    "SELECT position FROM chronik_heads WHERE store = $1",
                    &[&self.store],
                )
                .await
                .map_err(PgError::from)?;
            Ok(row
                .map(|r| unsigned(r.get(0), "head position"))
                .transpose()?
                .unwrap_or(0))
        })
        .await
    }

    async fn list_streams(&self) -> Result<Vec<StreamInfo>, StoreError> {
        self.with_client(async |client| {
            let rows = client
                .query(
                    "SELECT stream_id, version, last_position, updated_at FROM chronik_streams
                     WHERE store = $1 ORDER BY stream_id COLLATE \"C\"",
                    &[&self.store],
                )
                .await
                .map_err(PgError::from)?;
            rows.iter()
                .map(|r| {
                    let stream_id: String = r.get(0);
                    Ok(StreamInfo {
                        stream_type: chronik_core::stream_category(&stream_id).to_string(),
                        stream_id,
                        version: unsigned(r.get(1), "stream version")?,
                        last_position: unsigned(r.get(2), "position")?,
                        updated_at: r.get(3),
                    })
                })
                .collect::<Result<_, PgError>>()
                .map_err(StoreError::from)
        })
        .await
    }

    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        check_no_nul("stream id", &snapshot.stream_id)?;
        let version = big(snapshot.version, "snapshot version")?;
        let state = to_json(&snapshot.state, "snapshot state")?;
        self.with_client(async |client| {
            client
                .execute(
                    "INSERT INTO chronik_snapshots (store, stream_id, version, schema_version, state,
                        taken_at)
                     VALUES ($1, $2, $3, $4, $5, $6)
                     ON CONFLICT (store, stream_id, version) DO UPDATE SET
                        schema_version = EXCLUDED.schema_version, state = EXCLUDED.state,
                        taken_at = EXCLUDED.taken_at",
                    &[
                        &self.store,
                        &snapshot.stream_id,
                        &version,
                        &i64::from(snapshot.schema_version),
                        &state,
                        &snapshot.taken_at,
                    ],
                )
                .await
                .map_err(PgError::from)?;
            Ok(())
        })
        .await
    }

    async fn load_snapshot(
        &self,
        stream_id: &str,
        schema_version: u32,
        at_or_below: Option<u64>,
    ) -> Result<Option<Snapshot>, StoreError> {
        self.with_client(async |client| {
            let row = client
                .query_opt(
                    "SELECT stream_id, version, schema_version, state, taken_at
                     FROM chronik_snapshots
                     WHERE store = $1 AND stream_id = $2 AND schema_version = $3 AND version <= $4
                     ORDER BY version DESC LIMIT 1",
                    &[
                        &self.store,
                        &stream_id,
                        &i64::from(schema_version),
                        &at_or_below.map_or(i64::MAX, bound),
                    ],
                )
                .await
                .map_err(PgError::from)?;
            Ok(row.map(|r| decode_snapshot(&r)).transpose()?)
        })
        .await
    }

    async fn list_snapshots(&self, stream_id: &str) -> Result<Vec<Snapshot>, StoreError> {
        self.with_client(async |client| {
            let rows = client
                .query(
                    "SELECT stream_id, version, schema_version, state, taken_at
                     FROM chronik_snapshots WHERE store = $1 AND stream_id = $2 ORDER BY version",
                    &[&self.store, &stream_id],
                )
                .await
                .map_err(PgError::from)?;
            rows.iter()
                .map(|r| decode_snapshot(r).map_err(StoreError::from))
                .collect()
        })
        .await
    }

    async fn snapshot_count(&self) -> Result<u64, StoreError> {
        self.with_client(async |client| {
            let row = client
                .query_one(
                    "SELECT count(*) FROM chronik_snapshots WHERE store = $1",
                    &[&self.store],
                )
                .await
                .map_err(PgError::from)?;
            Ok(unsigned(row.get(0), "count")?)
        })
        .await
    }

    async fn save_checkpoint(&self, checkpoint: Checkpoint) -> Result<(), StoreError> {
        check_no_nul("projection name", &checkpoint.name)?;
        let position = big(checkpoint.position, "checkpoint position")?;
        let state = to_json(&checkpoint.state, "checkpoint state")?;
        self.with_client(async |client| {
            client
                .execute(
                    "INSERT INTO chronik_checkpoints (store, name, position, state, updated_at)
                     VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (store, name) DO UPDATE SET position = EXCLUDED.position,
                        state = EXCLUDED.state, updated_at = EXCLUDED.updated_at",
                    &[
                        &self.store,
                        &checkpoint.name,
                        &position,
                        &state,
                        &checkpoint.updated_at,
                    ],
                )
                .await
                .map_err(PgError::from)?;
            Ok(())
        })
        .await
    }

    async fn load_checkpoint(&self, name: &str) -> Result<Option<Checkpoint>, StoreError> {
        self.with_client(async |client| {
            let row = client
                .query_opt(
                    "SELECT name, position, state, updated_at FROM chronik_checkpoints
                     WHERE store = $1 AND name = $2",
                    &[&self.store, &name],
                )
                .await
                .map_err(PgError::from)?;
            let Some(row) = row else {
                return Ok(None);
            };
            let state: String = row.get(2);
            Ok(Some(Checkpoint {
                name: row.get(0),
                position: unsigned(row.get(1), "checkpoint position")?,
                state: parse_json(&state, "checkpoint state")?,
                updated_at: row.get(3),
            }))
        })
        .await
    }

    /// Counted by the server, all in one snapshot (a read-only REPEATABLE READ
    /// transaction), so the counts agree with each other under concurrent appends.
    async fn stats(&self) -> Result<StoreStats, StoreError> {
        self.with_client(async |client| {
            let tx = client
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await
                .map_err(PgError::from)?;
            let query = |sql: &'static str| {
                let tx = &tx;
                async move {
                    tx.query(sql, &[&self.store])
                        .await
                        .map_err(|e| StoreError::from(PgError::from(e)))
                }
            };
            let count = |n: i64| unsigned(n, "count").map_err(StoreError::from);
            let mut stats = StoreStats::default();
            for row in query(
                "SELECT event_type, count(*) FROM chronik_events WHERE store = $1
                 GROUP BY event_type",
            )
            .await?
            {
                let n = count(row.get(1))?;
                stats.event_count += n;
                stats.events_by_type.insert(row.get(0), n);
            }
            // UTC days by floor division (times before 1970 are negative), each named from
            // a time inside it.
            for row in query(
                "SELECT min(recorded_at), count(*) FROM chronik_events WHERE store = $1
                 GROUP BY floor(recorded_at::numeric / 86400000)",
            )
            .await?
            {
                *stats.events_by_day.entry(utc_date(row.get(0))).or_default() += count(row.get(1))?;
            }
            // A stream's type is its id up to the first `-`, as `stream_category` has it.
            for row in query(
                "SELECT split_part(stream_id, '-', 1), count(*) FROM chronik_streams
                 WHERE store = $1 GROUP BY 1",
            )
            .await?
            {
                let n = count(row.get(1))?;
                stats.stream_count += n;
                *stats.streams_by_type.entry(row.get(0)).or_default() += n;
            }
            let snapshots =
                query("SELECT count(*) FROM chronik_snapshots WHERE store = $1").await?;
            stats.snapshot_count = snapshots.first().map_or(Ok(0), |r| count(r.get(0)))?;
            tx.commit().await.map_err(PgError::from)?;
            Ok(stats)
        })
        .await
    }
}

impl PgStore {
    /// The log from `options.from_position`, filtered by type, stream prefix and (when
    /// `by_time`) `recorded_at` in `[from_ms, to_ms)`, in position order, limited.
    async fn read_filtered(
        &self,
        from_ms: i64,
        to_ms: i64,
        by_time: bool,
        options: ReadAllOptions,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.with_client(async |client| {
            let from = bound(options.from_position);
            let limit = limit(options.limit);
            let mut params: Vec<&(dyn ToSql + Sync)> = vec![
                &self.store,
                &from,
                &options.event_types,
                &options.stream_prefix,
                &limit,
            ];
            let time = if by_time {
                params.extend([&from_ms as &(dyn ToSql + Sync), &to_ms]);
                "AND recorded_at >= $6 AND recorded_at < $7"
            } else {
                ""
            };
            let rows = client
                .query(
                    &format!(
                        "SELECT {EVENT_COLUMNS} FROM chronik_events
                         WHERE store = $1 AND position >= $2
                           AND ($3::text[] IS NULL OR event_type = ANY($3::text[]))
                           AND ($4::text IS NULL OR starts_with(stream_id, $4::text))
                           {time}
                         ORDER BY position LIMIT $5"
                    ),
                    &params,
                )
                .await
                .map_err(PgError::from)?;
            decode_events(&rows)
        })
        .await
    }
}
