//! [`IdbStore`]: the [`EventStore`] contract on IndexedDB, through `rexie`.
//!
//! Object stores (database version [`SCHEMA_VERSION`]):
//! - `events`, keyed by global `position`, with a unique `[streamId, version]` index
//!   (`streamVersion`), a unique `eventId` index, and `eventType` and `recordedAt` indexes;
//! - `streams`, keyed by `streamId`: each stream's head version and type;
//! - `snapshots`, keyed by `[streamId, version]`;
//! - `projections`, keyed by `name`: a projection's checkpoint and state together.
//!
//! An append is one readwrite transaction over `events` and `streams`: it reads the stream
//! head, the log head and the batch's ids, decides with [`plan_append`], and issues every
//! put without awaiting each. IndexedDB runs overlapping readwrite transactions on the same
//! stores one after another, so two tabs can never both write the same version.

use chronik_core::append::{plan_append, AppendContext, AppendPlan, StoredId};
use chronik_core::{
    stream_category, AppendResult, Checkpoint, Clock, Direction, EventStore, ExpectedVersion,
    IdSource, NewEvent, ReadAllOptions, ReadStreamOptions, RecordedEvent, Snapshot, StoreError,
    StreamInfo,
};
use rexie::{Index, KeyRange, ObjectStore, Rexie, Store, TransactionMode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use wasm_bindgen::JsValue;

/// The IndexedDB schema version this code creates and expects.
pub const SCHEMA_VERSION: u32 = 1;

const EVENTS: &str = "events";
const STREAMS: &str = "streams";
const SNAPSHOTS: &str = "snapshots";
const PROJECTIONS: &str = "projections";

/// Largest integer a JS number holds exactly: the open upper bound of version ranges.
const MAX_SAFE: f64 = 9_007_199_254_740_991.0;

/// An event store persisted in one IndexedDB database.
pub struct IdbStore {
    db: Rexie,
    name: String,
    clock: Box<dyn Clock>,
    ids: Box<dyn IdSource>,
}

impl IdbStore {
    /// Opens (creating or upgrading when needed) the IndexedDB database `name`.
    pub async fn open(
        name: &str,
        clock: impl Clock + 'static,
        ids: impl IdSource + 'static,
    ) -> Result<Self, StoreError> {
        let db = Rexie::builder(name)
            .version(SCHEMA_VERSION)
            .add_object_store(
                ObjectStore::new(EVENTS)
                    .key_path("position")
                    .add_index(
                        Index::new_array("streamVersion", ["streamId", "version"]).unique(true),
                    )
                    .add_index(Index::new("eventId", "eventId").unique(true))
                    .add_index(Index::new("eventType", "eventType"))
                    .add_index(Index::new("recordedAt", "recordedAt")),
            )
            .add_object_store(ObjectStore::new(STREAMS).key_path("streamId"))
            .add_object_store(ObjectStore::new(SNAPSHOTS).key_path_array(["streamId", "version"]))
            .add_object_store(ObjectStore::new(PROJECTIONS).key_path("name"))
            .build()
            .await
            .map_err(storage)?;
        Ok(Self {
            db,
            name: name.to_string(),
            clock: Box::new(clock),
            ids: Box::new(ids),
        })
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Closes the connection. Other operations fail afterwards.
    pub fn close(self) {
        self.db.close();
    }

    /// Deletes the IndexedDB database `name` (waits until every connection is closed).
    pub async fn delete_database(name: &str) -> Result<(), StoreError> {
        Rexie::delete(name).await.map_err(storage)
    }

    fn tx(&self, stores: &[&str], mode: TransactionMode) -> Result<rexie::Transaction, StoreError> {
        self.db.transaction(stores, mode).map_err(storage)
    }

    async fn head(events: &Store) -> Result<u64, StoreError> {
        let newest = events
            .scan(None, Some(1), None, Some(rexie::Direction::Prev))
            .await
            .map_err(storage)?;
        Ok(newest
            .first()
            .and_then(|(k, _)| k.as_f64())
            .map_or(0, |p| p as u64))
    }
}

fn storage(err: rexie::Error) -> StoreError {
    // rexie's own message is only "idb error": the detail is in its source.
    let text = match std::error::Error::source(&err) {
        Some(source) => source.to_string(),
        None => err.to_string(),
    };
    if text.contains("QuotaExceeded") {
        StoreError::QuotaExceeded(text)
    } else {
        StoreError::Storage(text)
    }
}

fn to_js<T: Serialize>(value: &T) -> Result<JsValue, StoreError> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| StoreError::InvalidInput(format!("cannot store value: {e}")))
}

fn from_js<T: DeserializeOwned>(value: JsValue) -> Result<T, StoreError> {
    serde_wasm_bindgen::from_value(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn key(parts: &[JsValue]) -> JsValue {
    parts.iter().collect::<js_sys::Array>().into()
}

fn range(lower: JsValue, upper: JsValue) -> Result<KeyRange, StoreError> {
    KeyRange::bound(&lower, &upper, Some(false), Some(false)).map_err(|e| storage(e.into()))
}

impl EventStore for IdbStore {
    async fn append(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        let tx = self.tx(&[EVENTS, STREAMS], TransactionMode::ReadWrite)?;
        let event_store = tx.store(EVENTS).map_err(storage)?;
        let stream_store = tx.store(STREAMS).map_err(storage)?;

        let current: Option<StreamInfo> = match stream_store
            .get(JsValue::from_str(stream_id))
            .await
            .map_err(storage)?
        {
            Some(v) => Some(from_js(v)?),
            None => None,
        };
        let head_position = Self::head(&event_store).await?;
        let by_id = event_store.index("eventId").map_err(storage)?;
        let mut stored_ids = Vec::with_capacity(events.len());
        for event in &events {
            let found = match &event.event_id {
                Some(id) => by_id.get(JsValue::from_str(id)).await.map_err(storage)?,
                None => None,
            };
            stored_ids.push(match found {
                Some(v) => {
                    let e: RecordedEvent = from_js(v)?;
                    Some(StoredId {
                        stream_id: e.stream_id,
                        version: e.version,
                        position: e.position,
                    })
                }
                None => None,
            });
        }
        let ctx = AppendContext {
            current_version: current.as_ref().map(|s| s.version),
            head_position,
            stored_ids: &stored_ids,
        };
        let plan = plan_append(
            stream_id,
            expected,
            events,
            ctx,
            self.clock.as_ref(),
            self.ids.as_ref(),
        );
        let recorded = match plan {
            Ok(AppendPlan::Write(recorded)) => recorded,
            Ok(AppendPlan::AlreadyAppended(result)) => {
                tx.done().await.map_err(storage)?;
                return Ok(result);
            }
            Err(err) => {
                tx.abort().await.map_err(storage)?;
                return Err(err);
            }
        };
        let first = &recorded[0];
        let last = &recorded[recorded.len() - 1];
        let result = AppendResult {
            first_version: first.version,
            last_version: last.version,
            first_position: first.position,
            last_position: last.position,
        };
        let info = StreamInfo {
            stream_id: stream_id.to_string(),
            stream_type: stream_category(stream_id).to_string(),
            version: last.version,
            last_position: last.position,
            updated_at: last.recorded_at,
        };
        let values = recorded
            .iter()
            .map(|e| Ok((to_js(e)?, None)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        event_store
            .add_all(values.into_iter())
            .await
            .map_err(storage)?;
        stream_store
            .put(&to_js(&info)?, None)
            .await
            .map_err(storage)?;
        tx.done().await.map_err(storage)?;
        Ok(result)
    }

    async fn read_stream(
        &self,
        stream_id: &str,
        options: ReadStreamOptions,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        // IndexedDB reads `count = 0` as "no limit".
        if options.limit == Some(0) {
            return Ok(Vec::new());
        }
        let tx = self.tx(&[EVENTS], TransactionMode::ReadOnly)?;
        let index = tx
            .store(EVENTS)
            .map_err(storage)?
            .index("streamVersion")
            .map_err(storage)?;
        let stream = JsValue::from_str(stream_id);
        let limit = options.limit.map(|l| l.min(u32::MAX as usize) as u32);
        let rows = match options.direction {
            Direction::Forward => {
                let from = options.from_version.unwrap_or(1).max(1) as f64;
                let r = range(
                    key(&[stream.clone(), from.into()]),
                    key(&[stream, MAX_SAFE.into()]),
                )?;
                index.get_all(Some(r), limit).await.map_err(storage)?
            }
            Direction::Backward => {
                let to = options.from_version.map_or(MAX_SAFE, |v| v as f64);
                if to < 1.0 {
                    return Ok(Vec::new());
                }
                let r = range(
                    key(&[stream.clone(), 1.0.into()]),
                    key(&[stream, to.into()]),
                )?;
                index
                    .scan(Some(r), limit, None, Some(rexie::Direction::Prev))
                    .await
                    .map_err(storage)?
                    .into_iter()
                    .map(|(_, v)| v)
                    .collect()
            }
        };
        rows.into_iter().map(from_js).collect()
    }

    async fn read_all(&self, options: ReadAllOptions) -> Result<Vec<RecordedEvent>, StoreError> {
        if options.limit == Some(0) {
            return Ok(Vec::new());
        }
        let tx = self.tx(&[EVENTS], TransactionMode::ReadOnly)?;
        let store = tx.store(EVENTS).map_err(storage)?;
        let from = options.from_position.max(1) as f64;
        let r = KeyRange::lower_bound(&from.into(), Some(false)).map_err(|e| storage(e.into()))?;
        let unfiltered = options.event_types.is_none() && options.stream_prefix.is_none();
        let wanted = options.limit.unwrap_or(usize::MAX);
        if unfiltered {
            let limit = options.limit.map(|l| l.min(u32::MAX as usize) as u32);
            let rows = store.get_all(Some(r), limit).await.map_err(storage)?;
            return rows.into_iter().map(from_js).collect();
        }
        // Filtered: read in pages so a selective filter does not load the whole log at once.
        let mut out = Vec::new();
        let mut next = from;
        const PAGE: u32 = 1000;
        loop {
            let r =
                KeyRange::lower_bound(&next.into(), Some(false)).map_err(|e| storage(e.into()))?;
            let rows = store.get_all(Some(r), Some(PAGE)).await.map_err(storage)?;
            let done = rows.len() < PAGE as usize;
            for row in rows {
                let event: RecordedEvent = from_js(row)?;
                next = (event.position + 1) as f64;
                if options.matches(&event) {
                    out.push(event);
                    if out.len() >= wanted {
                        return Ok(out);
                    }
                }
            }
            if done {
                return Ok(out);
            }
        }
    }

    async fn read_time_range(
        &self,
        from_ms: i64,
        to_ms: i64,
        limit: Option<usize>,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        if to_ms <= from_ms || limit == Some(0) {
            return Ok(Vec::new());
        }
        let tx = self.tx(&[EVENTS], TransactionMode::ReadOnly)?;
        let index = tx
            .store(EVENTS)
            .map_err(storage)?
            .index("recordedAt")
            .map_err(storage)?;
        let r = KeyRange::bound(
            &(from_ms as f64).into(),
            &(to_ms as f64).into(),
            Some(false),
            Some(true),
        )
        .map_err(|e| storage(e.into()))?;
        let rows = index.get_all(Some(r), None).await.map_err(storage)?;
        let mut events = rows
            .into_iter()
            .map(from_js)
            .collect::<Result<Vec<RecordedEvent>, _>>()?;
        // The index orders by time; the contract orders by position.
        events.sort_by_key(|e| e.position);
        events.truncate(limit.unwrap_or(usize::MAX));
        Ok(events)
    }

    async fn stream_version(&self, stream_id: &str) -> Result<Option<u64>, StoreError> {
        let tx = self.tx(&[STREAMS], TransactionMode::ReadOnly)?;
        let row = tx
            .store(STREAMS)
            .map_err(storage)?
            .get(JsValue::from_str(stream_id))
            .await
            .map_err(storage)?;
        Ok(match row {
            Some(v) => Some(from_js::<StreamInfo>(v)?.version),
            None => None,
        })
    }

    async fn head_position(&self) -> Result<u64, StoreError> {
        let tx = self.tx(&[EVENTS], TransactionMode::ReadOnly)?;
        Self::head(&tx.store(EVENTS).map_err(storage)?).await
    }

    async fn list_streams(&self) -> Result<Vec<StreamInfo>, StoreError> {
        let tx = self.tx(&[STREAMS], TransactionMode::ReadOnly)?;
        let rows = tx
            .store(STREAMS)
            .map_err(storage)?
            .get_all(None, None)
            .await
            .map_err(storage)?;
        rows.into_iter().map(from_js).collect()
    }

    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        let tx = self.tx(&[SNAPSHOTS], TransactionMode::ReadWrite)?;
        tx.store(SNAPSHOTS)
            .map_err(storage)?
            .put(&to_js(&snapshot)?, None)
            .await
            .map_err(storage)?;
        tx.done().await.map_err(storage)?;
        Ok(())
    }

    async fn load_snapshot(
        &self,
        stream_id: &str,
        schema_version: u32,
        at_or_below: Option<u64>,
    ) -> Result<Option<Snapshot>, StoreError> {
        let tx = self.tx(&[SNAPSHOTS], TransactionMode::ReadOnly)?;
        let store = tx.store(SNAPSHOTS).map_err(storage)?;
        let stream = JsValue::from_str(stream_id);
        let upper = at_or_below.map_or(MAX_SAFE, |v| v as f64);
        let r = range(
            key(&[stream.clone(), 0.0.into()]),
            key(&[stream, upper.into()]),
        )?;
        let rows = store
            .scan(Some(r), None, None, Some(rexie::Direction::Prev))
            .await
            .map_err(storage)?;
        for (_, row) in rows {
            let snapshot: Snapshot = from_js(row)?;
            if snapshot.schema_version == schema_version {
                return Ok(Some(snapshot));
            }
        }
        Ok(None)
    }

    async fn list_snapshots(&self, stream_id: &str) -> Result<Vec<Snapshot>, StoreError> {
        let tx = self.tx(&[SNAPSHOTS], TransactionMode::ReadOnly)?;
        let stream = JsValue::from_str(stream_id);
        let r = range(
            key(&[stream.clone(), 0.0.into()]),
            key(&[stream, MAX_SAFE.into()]),
        )?;
        let rows = tx
            .store(SNAPSHOTS)
            .map_err(storage)?
            .get_all(Some(r), None)
            .await
            .map_err(storage)?;
        rows.into_iter().map(from_js).collect()
    }

    async fn snapshot_count(&self) -> Result<u64, StoreError> {
        let tx = self.tx(&[SNAPSHOTS], TransactionMode::ReadOnly)?;
        let n = tx
            .store(SNAPSHOTS)
            .map_err(storage)?
            .count(None)
            .await
            .map_err(storage)?;
        Ok(u64::from(n))
    }

    async fn save_checkpoint(&self, checkpoint: Checkpoint) -> Result<(), StoreError> {
        let tx = self.tx(&[PROJECTIONS], TransactionMode::ReadWrite)?;
        tx.store(PROJECTIONS)
            .map_err(storage)?
            .put(&to_js(&checkpoint)?, None)
            .await
            .map_err(storage)?;
        tx.done().await.map_err(storage)?;
        Ok(())
    }

    async fn load_checkpoint(&self, name: &str) -> Result<Option<Checkpoint>, StoreError> {
        let tx = self.tx(&[PROJECTIONS], TransactionMode::ReadOnly)?;
        let row = tx
            .store(PROJECTIONS)
            .map_err(storage)?
            .get(JsValue::from_str(name))
            .await
            .map_err(storage)?;
        row.map(from_js).transpose()
    }
}
