//! NDJSON export and import: the whole log as one [`RecordedEvent`] a line.
//!
//! ## Export
//!
//! Each line is an event as stored (not upcast), in global position order, in the one JSON
//! shape of an event (the JavaScript API's, and IndexedDB's rows):
//! `{"id":…,"streamId":…,"version":…,"position":…,"type":…,"schemaVersion":…,"data":…,
//! "metadata":{"correlationId"?:…,"causationId"?:…,…free keys},"recordedAt":…}`.
//! [`NdjsonExport`] reads the log in pages and hands out one chunk of whole lines per page,
//! so a million events never need one string; [`export_ndjson`] drives it into a sink. An
//! export covers the log up to the head position when it started.
//!
//! ## Import
//!
//! An import is all or nothing per file. [`import_ndjson`] takes a whole text
//! ([`Importer`] the same, a line at a time) and:
//! - reads each line in the current shape or in the previous one of older exports
//!   (`eventId` and `eventType` instead of `id` and `type`, the free metadata keys nested
//!   in `metadata.extra`; see [`crate::previous`]), decided per line by which of those
//!   keys it has; a line with keys of both shapes is an error. Either way the event is the
//!   same, so an old export imports, compares and re-exports (in the current shape) with
//!   identical content;
//! - validates every line: valid JSON, an object with every required field (`id`,
//!   `streamId`, `type` non-empty strings; `version`, `position`, `schemaVersion`
//!   positive integers; `data`; an integer `recordedAt` within ±(2^53 - 1); `metadata`
//!   optional, without a free key named like a field of its own: `correlationId` and
//!   `causationId` are reserved), the [limits](crate::limits) (names at most
//!   [`MAX_NAME_BYTES`](crate::MAX_NAME_BYTES), `data` and every metadata value at most
//!   [`MAX_DEPTH`](crate::MAX_DEPTH) deep), ids unique, positions strictly increasing
//!   through the file and versions contiguous per stream. Errors name their 1-based line
//!   ([`ImportError`]) and the fields as the line's shape calls them; blank lines are
//!   ignored;
//! - compares every event whose version the store already holds with the stored one:
//!   identical in stream, version, type, schema version, data, metadata and
//!   `recordedAt` (and position when positions are kept) → skipped, so importing the
//!   same file twice is a no-op and an interrupted import is resumed by importing the
//!   file again; any difference is a line error ("line 7: event 'e-3' is already stored
//!   with other content (data differs)");
//! - checks that the other events continue the store: each stream's next version, and,
//!   keeping positions (the default), the log's next position. Into an empty store a
//!   whole export lands with identical positions and versions; a store holding other
//!   events, or a file with gaps, is refused naming the line. Set
//!   [`ImportOptions::keep_positions`] to `false` to append after the store's head with
//!   new positions instead (versions and ids are still kept);
//! - then, only when no line has an error, writes every new event of the file, of every
//!   stream, in ONE atomic [`EventStore::import_events`], which keeps ids, versions,
//!   type, payload, metadata and `recordedAt` and re-checks versions, positions and ids
//!   inside its write transaction (an id stored in another stream is a line error
//!   then). When anything is wrong nothing is written and the report has `imported == 0`.
//!
//! [`ImportOptions::chunk_events`] trades atomicity for size: each chunk of that many new
//! events is one atomic write, a failure keeps the chunks before it, and a re-run skips
//! them and resumes. Do not write to the store during an import: what another writer
//! adds between the comparison and the write makes the write fail (with a line error,
//! nothing written; import again).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::append::check_envelope;
use crate::error::StoreError;
use crate::event::{Metadata, RecordedEvent};
use crate::limits::check_name;
use crate::previous::{event_shape, EventShape, PreviousMetadata, PreviousRecordedEvent};
use crate::store::{EventStore, ReadAllOptions, ReadStreamOptions};

/// How many events an export reads per page (and hands out per chunk) by default.
pub const DEFAULT_EXPORT_PAGE: usize = 1_000;

/// Exports the log as NDJSON, page by page: each [`next_chunk`](Self::next_chunk) is the
/// lines of up to `page_size` events, each line ending in `\n`.
#[derive(Debug)]
pub struct NdjsonExport<S> {
    store: S,
    page_size: usize,
    next_position: u64,
    /// The head when the export started; `None` until the first chunk.
    end: Option<u64>,
    exported: u64,
}

impl<S: EventStore> NdjsonExport<S> {
    /// An export of `store` in pages of [`DEFAULT_EXPORT_PAGE`] events.
    pub fn new(store: S) -> Self {
        Self {
            store,
            page_size: DEFAULT_EXPORT_PAGE,
            next_position: 1,
            end: None,
            exported: 0,
        }
    }

    /// Reads `page_size` events per page (at least 1).
    pub fn with_page_size(mut self, page_size: usize) -> Self {
        self.page_size = page_size.max(1);
        self
    }

    /// How many events have been handed out so far.
    pub fn exported(&self) -> u64 {
        self.exported
    }

    /// The log's head when the export started (how many events it will hand out), once
    /// the first chunk has been asked for.
    pub fn total(&self) -> Option<u64> {
        self.end
    }

    /// The next page of lines, `None` once every event up to the head at the start has
    /// been handed out.
    pub async fn next_chunk(&mut self) -> Result<Option<String>, StoreError> {
        let end = match self.end {
            Some(end) => end,
            None => *self.end.insert(self.store.head_position().await?),
        };
        if self.next_position > end {
            return Ok(None);
        }
        let want = (end - self.next_position + 1).min(self.page_size as u64) as usize;
        let page = self
            .store
            .read_all(ReadAllOptions {
                from_position: self.next_position,
                limit: Some(want),
                ..ReadAllOptions::default()
            })
            .await?;
        let Some(last) = page.last() else {
            return Ok(None);
        };
        self.next_position = last.position.saturating_add(1);
        let mut chunk = String::with_capacity(page.len() * 256);
        for event in &page {
            let line = serde_json::to_string(event)
                .map_err(|e| StoreError::Corrupt(format!("cannot encode an event: {e}")))?;
            chunk.push_str(&line);
            chunk.push('\n');
        }
        self.exported += page.len() as u64;
        Ok(Some(chunk))
    }
}

/// Exports every event of `store` as NDJSON into `sink`, one call per page of up to
/// `page_size` events (each call gets whole lines, each ending in `\n`). Returns how many
/// events were exported.
pub async fn export_ndjson<S: EventStore>(
    store: S,
    page_size: usize,
    mut sink: impl FnMut(&str),
) -> Result<u64, StoreError> {
    let mut export = NdjsonExport::new(store).with_page_size(page_size);
    while let Some(chunk) = export.next_chunk().await? {
        sink(&chunk);
    }
    Ok(export.exported())
}

/// A problem with one line of an import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "camelCase")]
#[error("line {line}: {message}")]
pub struct ImportError {
    /// The line's number, from 1, counting blank lines.
    pub line: u64,
    /// What is wrong with it and what to do.
    pub message: String,
}

/// How an import behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ImportOptions {
    /// Keep every event's position (the default); `false` appends after the store's
    /// head with new positions, keeping ids and versions.
    pub keep_positions: bool,
    /// Keep at most this many errors in the report (default 100); the rest are counted.
    pub max_errors: usize,
    /// `None` (the default): every new event of the file is written in one atomic write,
    /// or nothing is. `Some(n)`: the new events are written in atomic chunks of `n` (at
    /// least 1), one after another, for a file too large for one write; a failure then
    /// keeps the chunks already written, and importing the same file again skips them
    /// and resumes.
    pub chunk_events: Option<usize>,
    /// Report progress after about this many lines (default 500, at least 1).
    pub progress_every: usize,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self {
            keep_positions: true,
            max_errors: 100,
            chunk_events: None,
            progress_every: 500,
        }
    }
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportReport {
    /// Lines read, blank ones included.
    pub lines: u64,
    /// Events written.
    pub imported: u64,
    /// Events already in the store, left alone.
    pub skipped: u64,
    /// The first [`ImportOptions::max_errors`] errors, in line order.
    pub errors: Vec<ImportError>,
    /// How many errors there were in all.
    pub error_count: u64,
}

impl ImportReport {
    /// Whether every line was imported or skipped without error.
    pub fn is_ok(&self) -> bool {
        self.error_count == 0
    }
}

/// How far an import is, reported by [`import_ndjson`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportProgress {
    /// Lines checked: read, validated and compared with the store. The write comes
    /// after every line is checked; the last report, once it is done, has every line.
    pub lines_done: u64,
    /// Lines in the input.
    pub lines_total: u64,
}

/// Checks NDJSON lines without a store: JSON, required fields, the
/// [limits](crate::limits), ids unique, positions strictly increasing and versions
/// contiguous per stream through the input.
#[derive(Debug)]
pub struct NdjsonValidator {
    line: u64,
    max_errors: usize,
    last_position: Option<(u64, u64)>,
    /// Per stream, the last version seen and its line.
    versions: HashMap<String, (u64, u64)>,
    /// Every event id seen, with its line.
    ids: HashMap<String, u64>,
    errors: Vec<ImportError>,
    error_count: u64,
}

impl Default for NdjsonValidator {
    fn default() -> Self {
        Self::new(ImportOptions::default().max_errors)
    }
}

impl NdjsonValidator {
    /// A validator that keeps at most `max_errors` errors (and counts the rest).
    pub fn new(max_errors: usize) -> Self {
        Self {
            line: 0,
            max_errors,
            last_position: None,
            versions: HashMap::new(),
            ids: HashMap::new(),
            errors: Vec::new(),
            error_count: 0,
        }
    }

    /// Checks the next line (numbered from 1). Returns its event when the line holds a
    /// valid one; `None` for a blank or invalid line (the error is recorded).
    pub fn push_line(&mut self, line: &str) -> Option<RecordedEvent> {
        self.line += 1;
        if line.trim().is_empty() {
            return None;
        }
        match self.check(line) {
            Ok(event) => Some(event),
            Err(message) => {
                self.error(self.line, message);
                None
            }
        }
    }

    fn error(&mut self, line: u64, message: String) {
        self.error_count += 1;
        if self.errors.len() < self.max_errors {
            self.errors.push(ImportError { line, message });
        }
    }

    fn check(&mut self, line: &str) -> Result<RecordedEvent, String> {
        let value: Value =
            serde_json::from_str(line).map_err(|e| format!("not valid JSON: {e}"))?;
        let Value::Object(object) = value else {
            return Err("expected a JSON object (one event per line)".into());
        };
        let shape = event_shape(&object)?;
        let problems = field_problems(&object, shape);
        if !problems.is_empty() {
            return Err(problems.join("; "));
        }
        let event: RecordedEvent = match shape {
            EventShape::Current => serde_json::from_value(Value::Object(object)),
            EventShape::Previous => {
                serde_json::from_value::<PreviousRecordedEvent>(Value::Object(object))
                    .map(RecordedEvent::from)
            }
        }
        .map_err(|e| format!("not an event: {e}"))?;
        let mut problems = Vec::new();
        for (what, name) in [
            ("event id", &event.event_id),
            ("stream id", &event.stream_id),
        ] {
            if let Err(e) = check_name(what, name) {
                problems.push(e.to_string());
            }
        }
        if let Err(e) = check_envelope(&event.event_type, &event.data, &event.metadata) {
            problems.push(e.to_string());
        }
        if !problems.is_empty() {
            // A name too long to quote, or a value too deep to compare: stop here.
            return Err(problems.join("; "));
        }
        if event.recorded_at.unsigned_abs() > MAX_SAFE_INTEGER {
            problems.push(format!(
                "recordedAt {} is out of range; at most {MAX_SAFE_INTEGER} ms either side of the Unix epoch (what a JavaScript number holds exactly)",
                event.recorded_at
            ));
        }
        match self.ids.get(&event.event_id) {
            Some(at) => problems.push(format!(
                "event id '{}' is already used on line {at}; ids must be unique",
                event.event_id
            )),
            None => {
                self.ids.insert(event.event_id.clone(), self.line);
            }
        }
        if let Some((position, at)) = self.last_position {
            if event.position <= position {
                problems.push(format!(
                    "position {} is not after position {position} (line {at}); positions must strictly increase",
                    event.position
                ));
            }
        }
        self.last_position = Some((event.position, self.line));
        if let Some((version, at)) = self.versions.get(&event.stream_id) {
            if Some(event.version) != version.checked_add(1) {
                problems.push(format!(
                    "version {} of stream '{}' does not follow version {version} (line {at}); versions must be contiguous",
                    event.version, event.stream_id
                ));
            }
        }
        self.versions
            .insert(event.stream_id.clone(), (event.version, self.line));
        if problems.is_empty() {
            Ok(event)
        } else {
            Err(problems.join("; "))
        }
    }

    /// Lines checked so far.
    pub fn lines(&self) -> u64 {
        self.line
    }

    /// How many errors so far.
    pub fn error_count(&self) -> u64 {
        self.error_count
    }

    /// The errors kept so far, in line order.
    pub fn errors(&self) -> &[ImportError] {
        &self.errors
    }

    /// The errors kept and the total count.
    pub fn finish(self) -> (Vec<ImportError>, u64) {
        (self.errors, self.error_count)
    }
}

/// What is missing or mistyped in an event object of `shape`, in field order.
fn field_problems(object: &Map<String, Value>, shape: EventShape) -> Vec<String> {
    let mut problems = Vec::new();
    let (id, event_type) = shape.id_and_type();
    for name in [id, "streamId", event_type] {
        match object.get(name) {
            None => problems.push(format!("missing {name}")),
            Some(Value::String(s)) if !s.trim().is_empty() => {}
            Some(_) => problems.push(format!("{name} must be a non-empty string")),
        }
    }
    for (name, max) in [
        ("version", u64::MAX),
        ("position", u64::MAX),
        ("schemaVersion", u64::from(u32::MAX)),
    ] {
        match object.get(name) {
            None => problems.push(format!("missing {name}")),
            Some(v) if v.as_u64().is_some_and(|n| n >= 1 && n <= max) => {}
            Some(_) => problems.push(format!("{name} must be a positive integer")),
        }
    }
    if !object.contains_key("data") {
        problems.push("missing data".into());
    }
    match object.get("recordedAt") {
        None => problems.push("missing recordedAt".into()),
        Some(v) if v.as_i64().is_some() => {}
        Some(_) => problems.push("recordedAt must be an integer (ms since the Unix epoch)".into()),
    }
    if let Some(metadata) = object.get("metadata") {
        let valid = match shape {
            EventShape::Current => Metadata::deserialize(metadata).map(drop),
            EventShape::Previous => PreviousMetadata::deserialize(metadata).map(drop),
        };
        if let Err(e) = valid {
            problems.push(format!("metadata is invalid: {e}"));
        }
    }
    problems
}

/// The largest integer a JavaScript number (and so IndexedDB) holds exactly.
const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// How many stored events the importer reads at once when it compares a file with the
/// events a store already holds.
const COMPARE_PAGE: usize = 1_000;

/// Imports NDJSON into a store, all or nothing: lines are taken one at a time
/// ([`push_line`](Self::push_line) only checks them), and [`finish`](Self::finish)
/// compares them with the store and writes every new event in one atomic
/// [`EventStore::import_events`]. See the [module](self) docs.
#[derive(Debug)]
pub struct Importer<S> {
    store: S,
    options: ImportOptions,
    validator: NdjsonValidator,
    /// Every valid event so far, with its line; dropped at the first bad line, since
    /// nothing will be written then.
    events: Vec<(u64, RecordedEvent)>,
}

/// What the importer knows of one stream of the store.
struct StoredStream {
    /// The stream's version in the store (0: no stream).
    version: u64,
    /// The version the file's next new event of this stream must have.
    next: u64,
    /// Stored events read for the comparison, consecutive versions.
    page: Vec<RecordedEvent>,
}

impl<S: EventStore> Importer<S> {
    /// An importer into `store`.
    pub fn new(store: S, options: ImportOptions) -> Self {
        Self {
            store,
            options: ImportOptions {
                progress_every: options.progress_every.max(1),
                chunk_events: options.chunk_events.map(|n| n.max(1)),
                ..options
            },
            validator: NdjsonValidator::new(options.max_errors),
            events: Vec::new(),
        }
    }

    /// Checks the next line (numbered from 1) and keeps its event for
    /// [`finish`](Self::finish). Problems are recorded, not returned; nothing is written.
    pub fn push_line(&mut self, line: &str) {
        let event = self.validator.push_line(line);
        if self.validator.error_count() > 0 {
            self.events = Vec::new();
            return;
        }
        if let Some(event) = event {
            self.events.push((self.validator.lines(), event));
        }
    }

    /// Lines taken so far.
    pub fn lines(&self) -> u64 {
        self.validator.lines()
    }

    /// Line errors so far.
    pub fn error_count(&self) -> u64 {
        self.validator.error_count()
    }

    /// Compares the lines with the store and writes every new event at once; see
    /// [`finish_with_progress`](Self::finish_with_progress).
    pub async fn finish(self) -> Result<ImportReport, StoreError> {
        self.finish_with_progress(|_| {}).await
    }

    /// Compares every event with the store, then writes.
    ///
    /// An event whose id or version the store already holds must be stored identically
    /// (stream, version, type, schema version, data, metadata, `recordedAt`, and position
    /// when positions are kept): then it is skipped; any difference is a line error. The
    /// other events must continue their streams and the log exactly. When any line is
    /// wrong, nothing is written and the report lists the lines; otherwise every new
    /// event is written in one atomic [`EventStore::import_events`] (or in chunks, see
    /// [`ImportOptions::chunk_events`]). `on_progress` is called every
    /// [`ImportOptions::progress_every`] lines compared and once at the end. An `Err` is a
    /// store failure (storage, quota, a closed database): nothing was written by the
    /// failed write.
    pub async fn finish_with_progress(
        mut self,
        mut on_progress: impl FnMut(ImportProgress),
    ) -> Result<ImportReport, StoreError> {
        let lines_total = self.validator.lines();
        let events = std::mem::take(&mut self.events);
        let mut report = ImportReport {
            lines: lines_total,
            ..ImportReport::default()
        };
        if self.validator.error_count() == 0 {
            let new = self
                .compare(events, &mut report, lines_total, &mut on_progress)
                .await?;
            if self.validator.error_count() == 0 {
                self.write(new, &mut report).await?;
            }
        }
        on_progress(ImportProgress {
            lines_done: lines_total,
            lines_total,
        });
        let (errors, error_count) = self.validator.finish();
        report.errors = errors;
        report.error_count = error_count;
        Ok(report)
    }

    /// Checks `events` against the store: counts the identical ones as skipped, records
    /// line errors, and returns the new ones (with the positions they will get).
    async fn compare(
        &mut self,
        events: Vec<(u64, RecordedEvent)>,
        report: &mut ImportReport,
        lines_total: u64,
        on_progress: &mut impl FnMut(ImportProgress),
    ) -> Result<Vec<(u64, RecordedEvent)>, StoreError> {
        let keep_positions = self.options.keep_positions;
        let head = self.store.head_position().await?;
        let mut next_position = head.saturating_add(1);
        let mut streams: HashMap<String, StoredStream> = HashMap::new();
        let mut new = Vec::new();
        let mut reported = 0;
        for (line, mut event) in events {
            if line >= reported + self.options.progress_every as u64 {
                reported = line;
                on_progress(ImportProgress {
                    lines_done: line.saturating_sub(1),
                    lines_total,
                });
            }
            let stream = match streams.entry(event.stream_id.clone()) {
                std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
                std::collections::hash_map::Entry::Vacant(entry) => {
                    let version = self
                        .store
                        .stream_version(&event.stream_id)
                        .await?
                        .unwrap_or(0);
                    entry.insert(StoredStream {
                        version,
                        next: version.saturating_add(1),
                        page: Vec::new(),
                    })
                }
            };
            if event.version <= stream.version {
                let stored =
                    stored_at(&self.store, &event.stream_id, stream, event.version).await?;
                let message = match stored {
                    None => Some(format!(
                        "version {} of stream '{}' cannot be read from the store",
                        event.version, event.stream_id
                    )),
                    Some(stored) if stored.event_id != event.event_id => Some(format!(
                        "stream '{}' already holds another event at version {} (id '{}', not '{}'); this file does not continue the store",
                        event.stream_id, event.version, stored.event_id, event.event_id
                    )),
                    Some(stored) => differences(stored, &event, keep_positions).map(|what| {
                        format!(
                            "event '{}' is already stored with other content ({what})",
                            event.event_id
                        )
                    }),
                };
                match message {
                    Some(message) => self.validator.error(line, message),
                    None => report.skipped += 1,
                }
                continue;
            }
            if event.version != stream.next {
                let message = format!(
                    "stream '{}' is at version {} in the store, so version {} would leave a gap; import the events before it first",
                    event.stream_id, stream.version, event.version
                );
                self.validator.error(line, message);
                // Go on from here, so that one gap is reported once.
                stream.next = event.version.saturating_add(1);
                continue;
            }
            stream.next = stream.next.saturating_add(1);
            if keep_positions {
                if event.position != next_position {
                    let message = format!(
                        "position {} cannot be kept: the store's next position is {next_position}; keep positions only when importing into an empty store or one holding exactly the events before this one, or import without keeping positions",
                        event.position
                    );
                    self.validator.error(line, message);
                    next_position = event.position;
                }
            } else {
                event.position = next_position;
            }
            next_position = next_position.saturating_add(1);
            if self.validator.error_count() == 0 {
                new.push((line, event));
            }
        }
        Ok(new)
    }

    /// Writes the new events: in one atomic import, or in chunks. Line errors are
    /// recorded; store failures returned.
    async fn write(
        &mut self,
        new: Vec<(u64, RecordedEvent)>,
        report: &mut ImportReport,
    ) -> Result<(), StoreError> {
        let chunk = self.options.chunk_events.unwrap_or(usize::MAX);
        let mut new = new.into_iter().peekable();
        while new.peek().is_some() {
            let (lines, events): (Vec<u64>, Vec<RecordedEvent>) = new.by_ref().take(chunk).unzip();
            let ids: Vec<(u64, String, String, u64)> = lines
                .iter()
                .zip(&events)
                .map(|(line, e)| (*line, e.event_id.clone(), e.stream_id.clone(), e.version))
                .collect();
            match self.store.import_events(events).await {
                Ok(written) => report.imported += written,
                Err(
                    e @ (StoreError::Storage(_)
                    | StoreError::QuotaExceeded(_)
                    | StoreError::Corrupt(_)
                    | StoreError::Blocked(_)
                    | StoreError::Closed(_)),
                ) => return Err(e),
                Err(StoreError::DuplicateEventId {
                    event_id,
                    existing_stream,
                }) => {
                    let (line, stream, version) = ids
                        .iter()
                        .find(|(_, id, _, _)| *id == event_id)
                        .map_or((ids.first().map_or(0, |i| i.0), String::new(), 0), |i| {
                            (i.0, i.2.clone(), i.3)
                        });
                    self.validator.error(
                        line,
                        format!(
                            "event id '{event_id}' is already stored in stream '{existing_stream}', not as version {version} of stream '{stream}'; ids must be unique"
                        ),
                    );
                    return Ok(());
                }
                Err(e) => {
                    let line = ids.first().map_or(0, |i| i.0);
                    self.validator.error(
                        line,
                        format!("cannot import: {e} (was the store written to during the import? import again)"),
                    );
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}

/// The stored event of `stream` at `version` (which the stream has), read a page at a
/// time: the file's versions of one stream come in order.
async fn stored_at<'a, S: EventStore>(
    store: &S,
    stream_id: &str,
    stream: &'a mut StoredStream,
    version: u64,
) -> Result<Option<&'a RecordedEvent>, StoreError> {
    let index = |page: &[RecordedEvent]| {
        let first = page.first()?.version;
        let offset = usize::try_from(version.checked_sub(first)?).ok()?;
        page.get(offset)
            .filter(|e| e.version == version)
            .map(|_| offset)
    };
    if index(&stream.page).is_none() {
        stream.page = store
            .read_stream(
                stream_id,
                ReadStreamOptions {
                    from_version: Some(version),
                    limit: Some(COMPARE_PAGE),
                    ..ReadStreamOptions::default()
                },
            )
            .await?;
    }
    Ok(index(&stream.page).and_then(|i| stream.page.get(i)))
}

/// What differs between a stored event and the file's event with its id and version,
/// as the error names it ("data differs", "type, metadata differ"); `None` when they
/// are the same event.
fn differences(stored: &RecordedEvent, event: &RecordedEvent, positions: bool) -> Option<String> {
    let mut what = Vec::new();
    if stored.stream_id != event.stream_id {
        what.push("stream");
    }
    if stored.version != event.version {
        what.push("version");
    }
    if positions && stored.position != event.position {
        what.push("position");
    }
    if stored.event_type != event.event_type {
        what.push("type");
    }
    if stored.schema_version != event.schema_version {
        what.push("schema version");
    }
    if !same_value(&stored.data, &event.data) {
        what.push("data");
    }
    let (a, b) = (&stored.metadata, &event.metadata);
    if a.correlation_id != b.correlation_id
        || a.causation_id != b.causation_id
        || a.extra.len() != b.extra.len()
        || a.extra
            .iter()
            .zip(&b.extra)
            .any(|((ka, va), (kb, vb))| ka != kb || !same_value(va, vb))
    {
        what.push("metadata");
    }
    if stored.recorded_at != event.recorded_at {
        what.push("recordedAt");
    }
    match what.as_slice() {
        [] => None,
        [one] => Some(format!("{one} differs")),
        many => Some(format!("{} differ", many.join(", "))),
    }
}

/// Whether two JSON numbers are the same value as a store may give it back: equal as
/// `f64` (a browser store keeps JavaScript numbers, so `1.0` comes back as `1`). Floats
/// are parsed exactly (`serde_json`'s `float_roundtrip`), so an exported float comes
/// back bit for bit.
fn same_number(x: &serde_json::Number, y: &serde_json::Number) -> bool {
    matches!((x.as_f64(), y.as_f64()), (Some(a), Some(b)) if a == b)
}

/// JSON equality where numbers are equal when their values are (`1.0` and `1`): a
/// browser store keeps numbers as JavaScript numbers, so it gives `1.0` back as `1`.
/// Iterative, so no value can exhaust the stack.
fn same_value(a: &Value, b: &Value) -> bool {
    let mut stack = vec![(a, b)];
    while let Some(pair) = stack.pop() {
        match pair {
            (Value::Number(x), Value::Number(y)) => {
                if x != y && !same_number(x, y) {
                    return false;
                }
            }
            (Value::Array(x), Value::Array(y)) => {
                if x.len() != y.len() {
                    return false;
                }
                stack.extend(x.iter().zip(y));
            }
            (Value::Object(x), Value::Object(y)) => {
                if x.len() != y.len() {
                    return false;
                }
                for ((kx, vx), (ky, vy)) in x.iter().zip(y) {
                    if kx != ky {
                        return false;
                    }
                    stack.push((vx, vy));
                }
            }
            (x, y) => {
                if x != y {
                    return false;
                }
            }
        }
    }
    true
}

/// Validates every line of `text` without a store; returns the first `max_errors` errors
/// and the total count. Empty when the text can be imported line-wise (the store may
/// still reject it, for example when it already holds other events).
pub fn validate_ndjson(text: &str, max_errors: usize) -> (Vec<ImportError>, u64) {
    let mut validator = NdjsonValidator::new(max_errors);
    for line in text.lines() {
        validator.push_line(line);
    }
    validator.finish()
}

/// Imports a whole NDJSON text into `store`, all or nothing, as [`Importer`] does:
/// every line is validated and compared with the store first; if any line is wrong
/// (malformed, over a limit, does not continue the store, or clashes with a stored
/// event), nothing is written and the report lists the lines with `imported == 0`;
/// otherwise every new event is written in one atomic write and the events already
/// stored identically are counted as skipped. `on_progress` is called every
/// [`ImportOptions::progress_every`] lines and once at the end. An `Err` is a store
/// failure; nothing was written (with [`ImportOptions::chunk_events`], the chunks before
/// the failure stay, and importing again resumes).
pub async fn import_ndjson<S: EventStore>(
    store: S,
    text: &str,
    options: ImportOptions,
    on_progress: impl FnMut(ImportProgress),
) -> Result<ImportReport, StoreError> {
    let mut importer = Importer::new(store, options);
    for line in text.lines() {
        importer.push_line(line);
    }
    importer.finish_with_progress(on_progress).await
}
