//! NDJSON export and import against MemoryStores: identical round trips, re-imports that
//! duplicate nothing, resumed imports, per-line errors, progress and paged exports.

use std::rc::Rc;

use chronik_core::{
    export_ndjson, import_ndjson, validate_ndjson, EventStore, ExpectedVersion, ImportOptions,
    ImportProgress, Importer, ManualClock, MemoryStore, Metadata, NdjsonExport, NewEvent,
    ReadAllOptions, RecordedEvent, SequentialIds,
};
use futures::executor::block_on;
use serde_json::{json, Value};

const T0: i64 = 1_700_000_000_000;

fn empty_store(at: i64, prefix: &str) -> MemoryStore {
    MemoryStore::new(Rc::new(ManualClock::new(at)), SequentialIds::new(prefix))
}

/// 60 events over four interleaved streams, recorded at different times, with ids,
/// metadata, several schema versions and nested payloads.
fn source() -> MemoryStore {
    let clock = Rc::new(ManualClock::new(T0));
    let store = MemoryStore::new(Rc::clone(&clock), SequentialIds::new("src"));
    block_on(async {
        for round in 0..10i64 {
            for (k, stream) in ["account-1", "account-2", "order-7", "cart-x"]
                .iter()
                .enumerate()
            {
                if (round + k as i64) % 3 == 0 {
                    continue;
                }
                let batch = (0..=(round % 3))
                    .map(|i| {
                        NewEvent::new(
                            if i % 2 == 0 { "Deposited" } else { "Noted" },
                            json!({ "round": round, "i": i, "nested": { "list": [1, 2.5, null, "é"] } }),
                        )
                        .with_schema_version(1 + (round % 2) as u32)
                        .with_metadata(Metadata {
                            correlation_id: Some(format!("corr-{round}")),
                            causation_id: (i == 0).then(|| format!("cmd-{round}-{k}")),
                            extra: [("user".to_string(), json!(k))].into_iter().collect(),
                        })
                    })
                    .collect();
                store
                    .append(stream, ExpectedVersion::Any, batch)
                    .await
                    .unwrap();
                clock.advance(37_000);
            }
        }
    });
    store
}

fn all(store: &impl EventStore) -> Vec<RecordedEvent> {
    block_on(store.read_all(ReadAllOptions::default())).unwrap()
}

fn export(store: &impl EventStore, page: usize) -> (String, usize) {
    let mut text = String::new();
    let mut chunks = 0;
    block_on(export_ndjson(store, page, |chunk| {
        chunks += 1;
        text.push_str(chunk);
    }))
    .unwrap();
    (text, chunks)
}

fn import(store: &impl EventStore, text: &str) -> chronik_core::ImportReport {
    block_on(import_ndjson(store, text, ImportOptions::default(), |_| {})).unwrap()
}

#[test]
fn export_then_import_into_a_fresh_store_gives_identical_events() {
    let src = source();
    let events = all(&src);
    assert!(events.len() > 40, "a meaningful sample: {}", events.len());
    let (text, chunks) = export(&src, 7);
    assert_eq!(chunks, events.len().div_ceil(7));
    assert_eq!(text.lines().count(), events.len());
    // Each line is the stored event's camelCase JSON, as stored.
    let first: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["eventId"], json!(events[0].event_id));
    assert_eq!(first["recordedAt"], json!(T0));
    assert_eq!(first["schemaVersion"], json!(1));
    assert_eq!(first["metadata"]["correlationId"], json!("corr-0"));

    // The destination's clock and id source differ: nothing of theirs may show.
    let dst = empty_store(T0 + 999_999_999, "dst");
    let report = import(&dst, &text);
    assert!(report.is_ok(), "{:?}", report.errors);
    assert_eq!(
        (report.lines, report.imported, report.skipped),
        (events.len() as u64, events.len() as u64, 0)
    );
    assert_eq!(
        all(&dst),
        events,
        "ids, versions, positions, types, data, metadata, times"
    );
    assert_eq!(
        block_on(dst.list_streams()).unwrap(),
        block_on(src.list_streams()).unwrap()
    );
    let (again, _) = export(&dst, 1_000);
    assert_eq!(again, text, "a re-export is byte-identical");
}

#[test]
fn importing_again_duplicates_nothing() {
    let src = source();
    let (text, _) = export(&src, 100);
    let dst = empty_store(T0, "dst");
    import(&dst, &text);
    let report = import(&dst, &text);
    assert!(report.is_ok(), "{:?}", report.errors);
    assert_eq!((report.imported, report.skipped), (0, src.len() as u64));
    assert_eq!(all(&dst), all(&src));
}

#[test]
fn an_interrupted_import_resumes_when_the_whole_file_is_imported_again() {
    let src = source();
    let events = all(&src);
    let (text, _) = export(&src, 100);
    let lines: Vec<&str> = text.lines().collect();
    // Cut in the middle of a stream's batch: the first part of that batch lands, the
    // rest comes with the second run.
    let cut = (events.len() / 3..events.len())
        .find(|&i| events[i - 1].stream_id == events[i].stream_id)
        .expect("a batch of several events to cut through");
    let dst = empty_store(T0, "dst");
    let first = import(&dst, &(lines[..cut].join("\n") + "\n"));
    assert_eq!((first.imported, first.skipped), (cut as u64, 0));
    assert_eq!(dst.len(), cut);
    let rest = import(&dst, &text);
    assert!(rest.is_ok(), "{:?}", rest.errors);
    assert_eq!(
        (rest.imported, rest.skipped),
        ((events.len() - cut) as u64, cut as u64)
    );
    assert_eq!(all(&dst), events);
}

#[test]
fn an_importer_fed_line_by_line_in_small_batches_round_trips() {
    let src = source();
    let (text, _) = export(&src, 5);
    let dst = empty_store(T0, "dst");
    let mut importer = Importer::new(
        &dst,
        ImportOptions {
            batch_size: 2,
            ..ImportOptions::default()
        },
    );
    let mut done = vec![];
    for line in text.lines() {
        block_on(importer.push_line(line)).unwrap();
        done.push(importer.lines_done());
    }
    assert!(done.windows(2).all(|w| w[0] <= w[1]), "monotonic: {done:?}");
    let report = block_on(importer.finish()).unwrap();
    assert!(report.is_ok());
    assert_eq!(all(&dst), all(&src));
}

fn line(id: &str, stream: &str, version: u64, position: u64) -> String {
    serde_json::to_string(&json!({
        "eventId": id, "streamId": stream, "version": version, "position": position,
        "eventType": "Happened", "schemaVersion": 1, "data": { "n": position },
        "metadata": {}, "recordedAt": T0 + position as i64,
    }))
    .unwrap()
}

#[test]
fn malformed_lines_are_all_reported_with_line_numbers_and_nothing_is_written() {
    let mut missing = serde_json::from_str::<Value>(&line("e-4", "s-1", 3, 4)).unwrap();
    missing.as_object_mut().unwrap().remove("eventType");
    missing.as_object_mut().unwrap().remove("recordedAt");
    let text = [
        line("e-1", "s-1", 1, 1),                     // 1
        line("e-2", "s-1", 2, 2),                     // 2
        "{ not json".to_string(),                     // 3
        String::new(),                                // 4: blank, ignored
        missing.to_string(),                          // 5
        line("e-5", "s-1", 0, 5),                     // 6: version 0
        "[1, 2]".to_string(),                         // 7
        line("e-7", "s-2", 1, 7),                     // 8
        line("e-8", "s-2", 3, 8),                     // 9: skips version 2
        line("e-9", "s-3", 1, 8),                     // 10: position not increasing
        r#"{"eventId":"","streamId":"s","version":1,"position":99,"eventType":"A","schemaVersion":1,"data":1,"recordedAt":1.5}"#.to_string(), // 11
        line("e-10", "s-4", 1, 100),                  // 12: fine
    ]
    .join("\n");
    let dst = empty_store(T0, "dst");
    let mut progress = vec![];
    let report = block_on(import_ndjson(&dst, &text, ImportOptions::default(), |p| {
        progress.push(p)
    }))
    .unwrap();
    let lines: Vec<u64> = report.errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, vec![3, 5, 6, 7, 9, 10, 11], "{:#?}", report.errors);
    assert_eq!(report.error_count, 7);
    let message = |line: u64| {
        report
            .errors
            .iter()
            .find(|e| e.line == line)
            .unwrap()
            .to_string()
    };
    assert!(
        message(3).starts_with("line 3: not valid JSON"),
        "{}",
        message(3)
    );
    assert_eq!(message(5), "line 5: missing eventType; missing recordedAt");
    assert_eq!(message(6), "line 6: version must be a positive integer");
    assert_eq!(
        message(7),
        "line 7: expected a JSON object (one event per line)"
    );
    assert_eq!(
        message(9),
        "line 9: version 3 of stream 's-2' does not follow version 1 (line 8); versions must be contiguous"
    );
    assert_eq!(
        message(10),
        "line 10: position 8 is not after position 8 (line 9); positions must strictly increase"
    );
    assert_eq!(
        message(11),
        "line 11: eventId must be a non-empty string; recordedAt must be an integer (ms since the Unix epoch)"
    );
    assert!(dst.is_empty(), "nothing written");
    assert!(progress.is_empty(), "no import happened");
    assert_eq!(report.imported, 0);
    assert_eq!(validate_ndjson(&text, 2).0.len(), 2, "errors are capped");
    assert_eq!(validate_ndjson(&text, 2).1, 7, "but all are counted");
}

#[test]
fn a_streaming_import_writes_what_precedes_the_first_bad_line_and_lists_later_errors() {
    let good: Vec<String> = (1..=6)
        .map(|p| line(&format!("e-{p}"), "s-1", p, p))
        .collect();
    let mut lines = good.clone();
    lines[3] = "oops".into(); // line 4
                              // Line 7 is well formed; after the first error it is only checked line-wise, not
                              // against the store.
    lines.push(line("e-7", "s-2", 2, 7));
    lines.push("{}".into()); // line 8
    let dst = empty_store(T0, "dst");
    let mut importer = Importer::new(&dst, ImportOptions::default());
    for l in &lines {
        block_on(importer.push_line(l)).unwrap();
    }
    let report = block_on(importer.finish()).unwrap();
    assert_eq!(
        report.errors.iter().map(|e| e.line).collect::<Vec<_>>(),
        vec![4, 5, 8],
        "{:#?}",
        report.errors
    );
    assert!(report.errors[1]
        .message
        .contains("version 5 of stream 's-1' does not follow version 3 (line 3)"));
    assert_eq!(report.imported, 3);
    assert_eq!(dst.len(), 3, "lines 1-3 only");

    // Fixed file: the import resumes after the three events already there.
    let fixed = good.join("\n");
    let report = import(&dst, &fixed);
    assert!(report.is_ok(), "{:?}", report.errors);
    assert_eq!((report.imported, report.skipped), (3, 3));
    assert_eq!(dst.len(), 6);
}

#[test]
fn positions_that_cannot_be_kept_are_refused_or_renumbered_on_request() {
    let text = [
        line("e-1", "s-1", 1, 1),
        line("e-2", "s-1", 2, 2),
        line("e-3", "s-2", 1, 3),
    ]
    .join("\n");
    let dst = empty_store(T0, "dst");
    block_on(dst.append(
        "other-1",
        ExpectedVersion::Any,
        vec![NewEvent::new("X", json!({}))],
    ))
    .unwrap();
    let report = import(&dst, &text);
    assert_eq!(report.errors.len(), 1);
    assert_eq!(report.errors[0].line, 1);
    assert!(
        report.errors[0]
            .message
            .starts_with("position 1 cannot be kept: the store's next position is 2"),
        "{}",
        report.errors[0].message
    );
    assert_eq!(dst.len(), 1, "nothing written");

    let renumber = ImportOptions {
        keep_positions: false,
        ..ImportOptions::default()
    };
    let report = block_on(import_ndjson(&dst, &text, renumber, |_| {})).unwrap();
    assert!(report.is_ok(), "{:?}", report.errors);
    let events = all(&dst);
    assert_eq!(
        events[1..]
            .iter()
            .map(|e| (
                e.event_id.as_str(),
                e.stream_id.as_str(),
                e.version,
                e.position,
                e.recorded_at
            ))
            .collect::<Vec<_>>(),
        vec![
            ("e-1", "s-1", 1, 2, T0 + 1),
            ("e-2", "s-1", 2, 3, T0 + 2),
            ("e-3", "s-2", 1, 4, T0 + 3),
        ]
    );
    // Renumbered events are still recognised by id and version.
    let report = block_on(import_ndjson(&dst, &text, renumber, |_| {})).unwrap();
    assert_eq!((report.imported, report.skipped), (0, 3));

    // A file with a gap in its positions cannot keep them either.
    let gap = [line("g-1", "g-1", 1, 1), line("g-2", "g-1", 2, 5)].join("\n");
    let fresh = empty_store(T0, "f");
    let report = import(&fresh, &gap);
    assert_eq!(
        report.errors.iter().map(|e| e.line).collect::<Vec<_>>(),
        vec![2]
    );
    assert_eq!(fresh.len(), 1, "the event before the gap is imported");
}

#[test]
fn files_that_do_not_continue_the_stores_streams_are_refused() {
    let dst = empty_store(T0, "dst");
    block_on(dst.append(
        "s-1",
        ExpectedVersion::NoStream,
        vec![NewEvent::new("Mine", json!({})).with_id("mine-1")],
    ))
    .unwrap();
    // Another event at version 1 of s-1.
    let report = import(
        &dst,
        &[line("e-1", "s-1", 1, 1), line("e-2", "s-1", 2, 2)].join("\n"),
    );
    assert_eq!(report.errors.len(), 1);
    assert_eq!(report.errors[0].line, 1);
    assert!(report.errors[0]
        .message
        .contains("already holds another event at version 1 (id 'mine-1', not 'e-1')"));
    // A stream that starts past the store's version.
    let report = import(&dst, &line("e-3", "s-1", 3, 2));
    assert!(report.errors[0]
        .message
        .starts_with("stream 's-1' is at version 1 in the store, so version 3 would leave a gap"));
    // An id that the store holds in another stream.
    let report = import(&dst, &line("mine-1", "s-9", 1, 2));
    assert_eq!(report.errors[0].line, 1);
    assert!(
        report.errors[0]
            .message
            .starts_with("cannot import: event id 'mine-1' already exists in stream 's-1'"),
        "{}",
        report.errors[0].message
    );
    assert_eq!(dst.len(), 1);
}

#[test]
fn progress_is_reported_per_batch_and_at_the_end() {
    // 100 events over three streams, in runs of 1 to 4 events.
    let mut next = std::collections::HashMap::new();
    let text: String = (1..=100u64)
        .map(|p| {
            let stream = format!("s-{}", (p / 4) % 3);
            let v = next.entry(stream.clone()).or_insert(0u64);
            *v += 1;
            line(&format!("e-{p}"), &stream, *v, p) + "\n"
        })
        .collect();
    let dst = empty_store(T0, "dst");
    let mut progress: Vec<ImportProgress> = vec![];
    let report = block_on(import_ndjson(
        &dst,
        &text,
        ImportOptions {
            batch_size: 10,
            ..ImportOptions::default()
        },
        |p| progress.push(p),
    ))
    .unwrap();
    assert!(report.is_ok(), "{:?}", report.errors);
    assert_eq!(report.imported, 100);
    // Reported once at least `batch_size` more lines are done (a run of one stream is
    // at most 4 lines, so each step is at most 10 + 3 lines).
    assert!(
        progress
            .windows(2)
            .all(|w| w[1].lines_done - w[0].lines_done <= 13),
        "{progress:?}"
    );
    assert!(progress.len() >= 8, "{progress:?}");
    assert!(progress.iter().all(|p| p.lines_total == 100));
    assert!(progress
        .windows(2)
        .all(|w| w[0].lines_done < w[1].lines_done));
    assert_eq!(
        progress.last(),
        Some(&ImportProgress {
            lines_done: 100,
            lines_total: 100
        })
    );
}

#[test]
fn an_export_of_ten_thousand_events_is_paged_and_stops_at_the_head_it_started_at() {
    let src = empty_store(T0, "e");
    block_on(async {
        for s in 0..21 {
            let batch = (0..500)
                .map(|n| NewEvent::new("Tick", json!({ "n": n })))
                .collect();
            src.append(&format!("big-{s}"), ExpectedVersion::NoStream, batch)
                .await
                .unwrap();
        }
    });
    assert_eq!(src.len(), 10_500);
    let mut export = NdjsonExport::new(&src).with_page_size(1_000);
    let mut sizes = vec![];
    let mut first = true;
    let mut last_position = 0;
    while let Some(chunk) = block_on(export.next_chunk()).unwrap() {
        assert!(chunk.ends_with('\n'));
        sizes.push(chunk.lines().count());
        let tail: RecordedEvent = serde_json::from_str(chunk.lines().last().unwrap()).unwrap();
        last_position = tail.position;
        if first {
            first = false;
            // Written after the export started: not part of it.
            block_on(src.append(
                "late-1",
                ExpectedVersion::Any,
                vec![NewEvent::new("Late", json!({}))],
            ))
            .unwrap();
        }
    }
    assert_eq!(sizes.len(), 11);
    assert!(sizes[..10].iter().all(|&n| n == 1_000));
    assert_eq!(sizes[10], 500);
    assert_eq!((export.exported(), export.total()), (10_500, Some(10_500)));
    assert_eq!(last_position, 10_500);

    let mut calls = 0;
    let mut bytes = 0;
    let n = block_on(export_ndjson(&src, 4_000, |chunk| {
        calls += 1;
        bytes += chunk.len();
    }))
    .unwrap();
    assert_eq!((n, calls), (10_501, 3));
    assert!(bytes > 10_501 * 100);
}

#[test]
fn an_empty_store_exports_nothing_and_an_empty_file_imports_nothing() {
    let src = empty_store(T0, "e");
    let (text, chunks) = export(&src, 10);
    assert_eq!((text.as_str(), chunks), ("", 0));
    let report = import(&src, "\n\n");
    assert!(report.is_ok());
    assert_eq!((report.lines, report.imported), (2, 0));
}
