//! The whole database at once: demo data, NDJSON export and import, clearing it, and
//! how much storage it takes.

use std::cell::RefCell;

use chronik_core::{import_ndjson, Clock, EventStore, ImportOptions, ImportReport, NdjsonExport};
use chronik_examples::{write_demo, DemoConfig, DemoError, Timeline};
use chronik_idb::{IdbStore, JsClock};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use super::AppError;
use super::{changed, forget_store, projections, store, DATABASE};

/// The name an export downloads as.
pub const EXPORT_FILE: &str = "chronik-export.ndjson";

/// The seed of the demo data: the same size always gives the same events.
const DEMO_SEED: u64 = 1;

/// How much the origin stores and may store, in bytes (the browser's estimate).
pub async fn storage_estimate() -> Option<(u64, u64)> {
    IdbStore::storage_estimate().await
}

/// What a demo-data run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generated {
    /// Events the store gained.
    pub written: u64,
    /// Events the generator produced (already stored ones included).
    pub produced: u64,
    /// Whether the run stopped early because it was cancelled.
    pub cancelled: bool,
}

/// Writes `events` demo events (bank accounts, transfers, orders and their sagas) with
/// the examples' one demo writer: about a thousand events per atomic write, calling
/// `on_progress(done, total)` after each; `cancelled` is asked between writes, and a
/// cancelled run keeps what it wrote (the next run resumes it). The events are spread
/// over the time before now, after the store's newest event. The data is deterministic,
/// so a finished run writes nothing new; the streams it writes (`account-acc-…`,
/// `order-ord-…`, …) must not hold other events.
pub async fn generate_demo(
    events: u64,
    cancelled: impl Fn() -> bool,
    on_progress: impl Fn(u64, u64),
) -> Result<Generated, AppError> {
    let app = store().await?;
    on_progress(0, events);
    let outcome = write_demo(
        &*app,
        DemoConfig::new(DEMO_SEED, events),
        Timeline::EndingAt(JsClock.now_ms()),
        cancelled,
        on_progress,
    )
    .await;
    // Whatever was written before a failure stays, and the pages should show it.
    changed();
    let outcome = outcome.map_err(|e| match e {
        DemoError::Occupied(_) => AppError::refused(e.to_string()),
        DemoError::Store(e) => AppError::from(e),
    })?;
    Ok(Generated {
        written: outcome.written,
        produced: outcome.produced,
        cancelled: outcome.cancelled,
    })
}

/// A finished export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    /// An object URL of the NDJSON file (valid until the next export).
    pub url: String,
    /// Events in it.
    pub events: u64,
    /// Its size in bytes.
    pub bytes: u64,
}

thread_local! {
    static EXPORT_URL: RefCell<Option<String>> = const { RefCell::new(None) };
}

fn js_err(e: JsValue) -> AppError {
    let message = e
        .as_string()
        .or_else(|| {
            e.dyn_ref::<js_sys::Error>()
                .map(|e| String::from(e.message()))
        })
        .unwrap_or_else(|| format!("{e:?}"));
    AppError::store(message)
}

/// Exports every event as NDJSON, one page of lines at a time into a `Blob` (never one
/// giant string), calling `on_progress(done, total)` after every page, and starts the
/// download of [`EXPORT_FILE`].
pub async fn export(on_progress: impl Fn(u64, u64)) -> Result<Export, AppError> {
    let store = store().await?;
    let mut export = NdjsonExport::new(store);
    let parts = js_sys::Array::new();
    let mut bytes = 0u64;
    while let Some(chunk) = export.next_chunk().await.map_err(AppError::from)? {
        bytes += chunk.len() as u64;
        parts.push(&JsValue::from_str(&chunk));
        on_progress(export.exported(), export.total().unwrap_or(0));
    }
    on_progress(export.exported(), export.exported());
    let options = web_sys::BlobPropertyBag::new();
    options.set_type("application/x-ndjson");
    let blob =
        web_sys::Blob::new_with_str_sequence_and_options(&parts, &options).map_err(js_err)?;
    let url = web_sys::Url::create_object_url_with_blob(&blob).map_err(js_err)?;
    if let Some(old) = EXPORT_URL.with(|u| u.borrow_mut().replace(url.clone())) {
        let _ = web_sys::Url::revoke_object_url(&old);
    }
    download(&url)?;
    Ok(Export {
        url,
        events: export.exported(),
        bytes,
    })
}

/// Starts the download of `url` as [`EXPORT_FILE`] through an `<a download>`.
fn download(url: &str) -> Result<(), AppError> {
    let document = web_sys::window()
        .and_then(|w| w.document())
        .ok_or_else(|| AppError::store("no document"))?;
    let anchor: web_sys::HtmlAnchorElement = document
        .create_element("a")
        .map_err(js_err)?
        .dyn_into()
        .map_err(|_| AppError::store("cannot create a link"))?;
    anchor.set_href(url);
    anchor.set_download(EXPORT_FILE);
    anchor.click();
    Ok(())
}

/// A file the person picked in an `<input type="file">`.
#[derive(Debug, Clone)]
pub struct PickedFile(web_sys::File);

impl PickedFile {
    /// The first file picked in the input that `ev` (its `change` event) came from.
    pub fn from_change(ev: &leptos::ev::Event) -> Option<Self> {
        let input: web_sys::HtmlInputElement = ev.target()?.dyn_into().ok()?;
        input.files()?.get(0).map(Self)
    }

    /// Its name.
    pub fn name(&self) -> String {
        self.0.name()
    }

    /// Its size in bytes.
    pub fn size(&self) -> u64 {
        self.0.size() as u64
    }
}

/// Imports an NDJSON export, all or nothing. Every line is checked and compared with
/// the store first: if any is malformed, over a limit, does not continue the store, or
/// holds an event stored with other content, nothing is written and the report lists
/// them (line number and message). Otherwise every new event is written in one atomic
/// write, keeping ids, versions, positions and times; events already stored
/// identically are skipped. `on_progress(lines done, lines)` is called as lines are
/// checked. A store failure writes nothing (import the same file again).
pub async fn import(
    file: &PickedFile,
    on_progress: impl Fn(u64, u64),
) -> Result<ImportReport, AppError> {
    let text = JsFuture::from(file.0.text())
        .await
        .map_err(js_err)?
        .as_string()
        .ok_or_else(|| AppError::invalid("the file is not text"))?;
    let store = store().await?;
    let head_before = store.head_position().await.map_err(AppError::from)?;
    let result = import_ndjson(store.clone(), &text, ImportOptions::default(), |p| {
        on_progress(p.lines_done, p.lines_total)
    })
    .await;
    if store.head_position().await.map_err(AppError::from)? != head_before {
        changed();
    }
    result
        .map_err(|e| AppError::from(e).context("nothing was imported: import the same file again"))
}

/// Deletes the whole database (events, snapshots, checkpoints) and starts afresh: the
/// app's connection is closed first (a deletion is blocked while one is open), and the
/// next use opens a new, empty store.
pub async fn clear_database() -> Result<(), AppError> {
    projections::forget_runners();
    if let Some(store) = forget_store() {
        // The last handle closes the connection; any other still open closes itself
        // when the deletion asks it to (`versionchange`).
        drop(store);
    }
    let result = IdbStore::delete_database(DATABASE)
        .await
        .map_err(AppError::from);
    changed();
    result
}
