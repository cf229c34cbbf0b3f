//! All data access of the app: the one IndexedDB store, opened once, and the operations
//! the pages call. Views never touch storage directly.

use std::cell::OnceCell;
use std::rc::Rc;

use chronik::{IdbStore, JsClock, RandomUuids};
use chronik_core::{
    AppendResult, EventStore, ExpectedVersion, NewEvent, ReadStreamOptions, RecordedEvent,
};

/// The IndexedDB database the app keeps its events in.
pub const DATABASE: &str = "chronik-app";

thread_local! {
    static STORE: OnceCell<Rc<IdbStore>> = const { OnceCell::new() };
}

/// The app's store, opened on first use.
async fn store() -> Result<Rc<IdbStore>, String> {
    if let Some(store) = STORE.with(|s| s.get().cloned()) {
        return Ok(store);
    }
    let opened = Rc::new(
        IdbStore::open(DATABASE, JsClock, RandomUuids)
            .await
            .map_err(|e| e.to_string())?,
    );
    // Two callers may race to open; keep whichever finished first.
    Ok(STORE.with(|s| s.get_or_init(|| opened).clone()))
}

/// Parses `payload` as JSON and appends one event of `event_type` to `stream`.
/// Bad input is rejected before anything is written.
pub async fn append_json(
    stream: &str,
    event_type: &str,
    payload: &str,
) -> Result<AppendResult, String> {
    let stream = stream.trim();
    let event_type = event_type.trim();
    if stream.is_empty() {
        return Err("enter a stream id".into());
    }
    if event_type.is_empty() {
        return Err("enter an event type".into());
    }
    let data: serde_json::Value =
        serde_json::from_str(payload).map_err(|e| format!("payload is not valid JSON: {e}"))?;
    store()
        .await?
        .append(
            stream,
            ExpectedVersion::Any,
            vec![NewEvent::new(event_type, data)],
        )
        .await
        .map_err(|e| e.to_string())
}

/// Every event of `stream`, oldest first.
pub async fn read_stream(stream: &str) -> Result<Vec<RecordedEvent>, String> {
    store()
        .await?
        .read_stream(stream.trim(), ReadStreamOptions::default())
        .await
        .map_err(|e| e.to_string())
}
