//! NDJSON export and import: the whole log as one [`RecordedEvent`] a line.
//!
//! ## Export
//!
//! Each line is an event as stored (not upcast), in global position order, in its serde
//! camelCase form: `{"eventId":…,"streamId":…,"version":…,"position":…,"eventType":…,
//! "schemaVersion":…,"data":…,"metadata":{…},"recordedAt":…}`. [`NdjsonExport`] reads the
//! log in pages and hands out one chunk of whole lines per page, so a million events never
//! need one string; [`export_ndjson`] drives it into a sink. An export covers the log up to
//! the head position when it started.
//!
//! ## Import
//!
//! [`Importer`] takes lines one at a time (or [`import_ndjson`] a whole text) and:
//! - validates every line: valid JSON, an object with every required field (`eventId`,
//!   `streamId`, `eventType` non-empty strings; `version`, `position`, `schemaVersion`
//!   positive integers; `data`; an integer `recordedAt`; `metadata` optional), positions
//!   strictly increasing through the file, and versions contiguous per stream through the
//!   file and after what the store already holds. Errors name their 1-based line
//!   ([`ImportError`]); blank lines are ignored;
//! - keeps every event's id, version, type, schema version, payload, metadata and
//!   `recordedAt` (through [`EventStore::import_events`]);
//! - keeps positions (the default): every imported event gets exactly the position it
//!   has in the file. That works when the store's head is just before the first event
//!   the import writes: into an empty store a whole export lands with identical
//!   positions (and versions), and a re-run or a resumed import continues where the
//!   store stops. Anything else (a store holding other events, a file with gaps in its
//!   positions) fails with a line error saying so; set
//!   [`ImportOptions::keep_positions`] to `false` to append after the store's head with
//!   new positions instead (versions and ids are still kept);
//! - skips events already present (same id in the same stream at the same version), so
//!   importing a file twice duplicates nothing, and an interrupted import is resumed by
//!   importing the same file again;
//! - writes each run of consecutive events of one stream (up to
//!   [`ImportOptions::batch_size`]) in one atomic write with an exact expected version.
//!
//! The first error stops all writing: every event before the failing line is imported,
//! nothing from that line on, and the remaining lines are still validated line-wise (not
//! against the store) so that every malformed line is listed. [`import_ndjson`] validates the whole text first and writes nothing
//! at all if any line is malformed. Do not write to the store during an import: the
//! importer tracks the stream versions and head it has seen, and another writer makes
//! its next write fail (with a line error; import again to resume).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::StoreError;
use crate::event::{ExpectedVersion, Metadata, RecordedEvent};
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
        self.next_position = last.position + 1;
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
    /// At most this many events per atomic write (default 500, at least 1).
    pub batch_size: usize,
    /// Keep every event's position (the default); `false` appends after the store's
    /// head with new positions, keeping ids and versions.
    pub keep_positions: bool,
    /// Keep at most this many errors in the report (default 100); the rest are counted.
    pub max_errors: usize,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self {
            batch_size: 500,
            keep_positions: true,
            max_errors: 100,
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
    /// Lines handled (imported, skipped, blank or failed).
    pub lines_done: u64,
    /// Lines in the input.
    pub lines_total: u64,
}

/// Checks NDJSON lines without a store: JSON, required fields, positions strictly
/// increasing and versions contiguous per stream through the input.
#[derive(Debug)]
pub struct NdjsonValidator {
    line: u64,
    max_errors: usize,
    last_position: Option<(u64, u64)>,
    /// Per stream, the last version seen and its line.
    versions: HashMap<String, (u64, u64)>,
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
        let problems = field_problems(&object);
        if !problems.is_empty() {
            return Err(problems.join("; "));
        }
        let event: RecordedEvent = serde_json::from_value(Value::Object(object))
            .map_err(|e| format!("not an event: {e}"))?;
        let mut problems = Vec::new();
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
            if event.version != version + 1 {
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

/// What is missing or mistyped in an event object, in field order.
fn field_problems(object: &Map<String, Value>) -> Vec<String> {
    let mut problems = Vec::new();
    for name in ["eventId", "streamId", "eventType"] {
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
        if let Err(e) = Metadata::deserialize(metadata) {
            problems.push(format!("metadata is invalid: {e}"));
        }
    }
    problems
}

/// Imports NDJSON lines one at a time into a store: validates, skips events already
/// present, and writes runs of one stream atomically. See the [module](self) docs.
#[derive(Debug)]
pub struct Importer<S> {
    store: S,
    options: ImportOptions,
    validator: NdjsonValidator,
    /// Consecutive valid events of one stream, not yet written, with their lines.
    run: Vec<(u64, RecordedEvent)>,
    /// The store's version of each stream the import has touched.
    store_versions: HashMap<String, u64>,
    /// The store's head, once read.
    head: Option<u64>,
    imported: u64,
    skipped: u64,
    /// Set by the first error: nothing is written after it.
    failed: bool,
}

impl<S: EventStore> Importer<S> {
    /// An importer into `store`.
    pub fn new(store: S, options: ImportOptions) -> Self {
        Self {
            store,
            options: ImportOptions {
                batch_size: options.batch_size.max(1),
                ..options
            },
            validator: NdjsonValidator::new(options.max_errors),
            run: Vec::new(),
            store_versions: HashMap::new(),
            head: None,
            imported: 0,
            skipped: 0,
            failed: false,
        }
    }

    /// Takes the next line (numbered from 1). May write the events buffered before it.
    /// Problems with lines are recorded, not returned; an `Err` is a store failure
    /// (storage, quota): what was written stays, and importing again resumes.
    pub async fn push_line(&mut self, line: &str) -> Result<(), StoreError> {
        let errors_before = self.validator.error_count();
        let event = self.validator.push_line(line);
        if self.validator.error_count() > errors_before {
            // Everything before the bad line is imported, nothing after.
            self.flush().await?;
            self.failed = true;
            return Ok(());
        }
        let Some(event) = event else {
            return Ok(());
        };
        if self.failed {
            return Ok(());
        }
        let other_stream = self
            .run
            .first()
            .is_some_and(|(_, e)| e.stream_id != event.stream_id);
        if other_stream || self.run.len() >= self.options.batch_size {
            self.flush().await?;
            if self.failed {
                return Ok(());
            }
        }
        self.run.push((self.validator.lines(), event));
        Ok(())
    }

    /// Lines handled so far: read, and written, skipped or failed (not still buffered).
    pub fn lines_done(&self) -> u64 {
        self.run
            .first()
            .map_or(self.validator.lines(), |(line, _)| line - 1)
    }

    /// Writes what is buffered and reports what the import did.
    pub async fn finish(mut self) -> Result<ImportReport, StoreError> {
        self.flush().await?;
        let lines = self.validator.lines();
        let (errors, error_count) = self.validator.finish();
        Ok(ImportReport {
            lines,
            imported: self.imported,
            skipped: self.skipped,
            errors,
            error_count,
        })
    }

    fn fail(&mut self, line: u64, message: String) {
        self.validator.error(line, message);
        self.failed = true;
    }

    /// Writes the buffered run: skips what the store holds, imports the rest.
    async fn flush(&mut self) -> Result<(), StoreError> {
        let run = std::mem::take(&mut self.run);
        if self.failed || run.is_empty() {
            return Ok(());
        }
        let stream = run[0].1.stream_id.clone();
        let current = match self.store_versions.get(&stream) {
            Some(v) => *v,
            None => self.store.stream_version(&stream).await?.unwrap_or(0),
        };
        self.store_versions.insert(stream.clone(), current);

        let (first_line, first) = (&run[0].0, &run[0].1);
        if first.version > current + 1 {
            let message = format!(
                "stream '{stream}' is at version {current} in the store, so version {} would leave a gap; import the events before it first",
                first.version
            );
            self.fail(*first_line, message);
            return Ok(());
        }
        // Events at versions the store already has must be the same events.
        let present = run.iter().take_while(|(_, e)| e.version <= current).count();
        if present > 0 {
            let stored = self
                .store
                .read_stream(
                    &stream,
                    ReadStreamOptions {
                        from_version: Some(first.version),
                        limit: Some(present),
                        ..ReadStreamOptions::default()
                    },
                )
                .await?;
            for ((line, event), stored) in run.iter().zip(&stored) {
                if stored.event_id != event.event_id {
                    let message = format!(
                        "stream '{stream}' already holds another event at version {} (id '{}', not '{}'); this file does not continue the store",
                        event.version, stored.event_id, event.event_id
                    );
                    self.fail(*line, message);
                    return Ok(());
                }
                self.skipped += 1;
            }
        }
        let mut new: Vec<(u64, RecordedEvent)> = run.into_iter().skip(present).collect();
        if new.is_empty() {
            return Ok(());
        }
        let head = match self.head {
            Some(head) => head,
            None => self.store.head_position().await?,
        };
        self.head = Some(head);
        let mut failure = None;
        if self.options.keep_positions {
            if let Some(i) = new
                .iter()
                .enumerate()
                .position(|(i, (_, e))| e.position != head + 1 + i as u64)
            {
                let (line, event) = &new[i];
                failure = Some((
                    *line,
                    format!(
                        "position {} cannot be kept: the store's next position is {}; keep positions only when importing into an empty store or one holding exactly the events before this one, or import without keeping positions",
                        event.position,
                        head + 1 + i as u64
                    ),
                ));
                new.truncate(i);
            }
        } else {
            for (i, (_, event)) in new.iter_mut().enumerate() {
                event.position = head + 1 + i as u64;
            }
        }
        if let Some((first_line, _)) = new.first() {
            let first_line = *first_line;
            let events: Vec<RecordedEvent> = new.into_iter().map(|(_, e)| e).collect();
            let n = events.len() as u64;
            match self
                .store
                .import_events(&stream, ExpectedVersion::Exact(current), events)
                .await
            {
                Ok(result) => {
                    self.store_versions.insert(stream, result.last_version);
                    self.head = Some(result.last_position.max(head));
                    self.imported += n;
                }
                Err(
                    e @ (StoreError::Storage(_)
                    | StoreError::QuotaExceeded(_)
                    | StoreError::Corrupt(_)),
                ) => return Err(e),
                Err(e) => {
                    self.fail(first_line, format!("cannot import: {e}"));
                    return Ok(());
                }
            }
        }
        if let Some((line, message)) = failure {
            self.fail(line, message);
        }
        Ok(())
    }
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

/// Imports a whole NDJSON text into `store`: validates every line first and, if any is
/// malformed, writes nothing and reports them all; otherwise imports as [`Importer`]
/// does, calling `on_progress` after every batch or so and once at the end. Returns what
/// was done; an `Err` is a store failure (what was written stays; import again to resume).
pub async fn import_ndjson<S: EventStore>(
    store: S,
    text: &str,
    options: ImportOptions,
    mut on_progress: impl FnMut(ImportProgress),
) -> Result<ImportReport, StoreError> {
    let (errors, error_count) = validate_ndjson(text, options.max_errors);
    let lines_total = text.lines().count() as u64;
    if error_count > 0 {
        return Ok(ImportReport {
            lines: lines_total,
            imported: 0,
            skipped: 0,
            errors,
            error_count,
        });
    }
    let mut importer = Importer::new(store, options);
    let step = options.batch_size.max(1) as u64;
    let mut reported = 0;
    for line in text.lines() {
        importer.push_line(line).await?;
        let done = importer.lines_done();
        if done >= reported + step {
            reported = done;
            on_progress(ImportProgress {
                lines_done: done,
                lines_total,
            });
        }
    }
    let report = importer.finish().await?;
    on_progress(ImportProgress {
        lines_done: lines_total,
        lines_total,
    });
    Ok(report)
}
