//! NDJSON export and import against MemoryStores: identical round trips, re-imports that
//! duplicate nothing, resumed imports, per-line errors, progress and paged exports.

use std::rc::Rc;

use chronik_core::{
    export_ndjson, import_ndjson, validate_ndjson, EventStore, ExpectedVersion, ImportOptions,
    ImportProgress, Importer, ManualClock, MemoryStore, Metadata, NdjsonExport, NewEvent,
    ReadAllOptions, RecordedEvent, SequentialIds, MAX_DEPTH, MAX_NAME_BYTES,
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
    // Each line is the stored event in the one JSON shape of an event.
    let first: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["id"], json!(events[0].event_id));
    assert_eq!(first["type"], json!(events[0].event_type));
    assert_eq!(
        first["metadata"]["user"], events[0].metadata.extra["user"],
        "free metadata keys are flat"
    );
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
fn an_importer_fed_line_by_line_writes_nothing_before_finish_and_round_trips_in_chunks() {
    let src = source();
    let (text, _) = export(&src, 5);
    let dst = empty_store(T0, "dst");
    let mut importer = Importer::new(
        &dst,
        ImportOptions {
            chunk_events: Some(2),
            ..ImportOptions::default()
        },
    );
    for line in text.lines() {
        importer.push_line(line);
    }
    assert_eq!(importer.lines(), src.len() as u64);
    assert_eq!(importer.error_count(), 0);
    assert!(dst.is_empty(), "lines are only checked until finish");
    let report = block_on(importer.finish()).unwrap();
    assert!(report.is_ok());
    assert_eq!(report.imported, src.len() as u64);
    assert_eq!(all(&dst), all(&src));
}

fn line(id: &str, stream: &str, version: u64, position: u64) -> String {
    serde_json::to_string(&json!({
        "id": id, "streamId": stream, "version": version, "position": position,
        "type": "Happened", "schemaVersion": 1, "data": { "n": position },
        "metadata": {}, "recordedAt": T0 + position as i64,
    }))
    .unwrap()
}

#[test]
fn malformed_lines_are_all_reported_with_line_numbers_and_nothing_is_written() {
    let mut missing = serde_json::from_str::<Value>(&line("e-4", "s-1", 3, 4)).unwrap();
    missing.as_object_mut().unwrap().remove("type");
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
        r#"{"id":"","streamId":"s","version":1,"position":99,"type":"A","schemaVersion":1,"data":1,"recordedAt":1.5}"#.to_string(), // 11
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
    assert_eq!(message(5), "line 5: missing type; missing recordedAt");
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
        "line 11: id must be a non-empty string; recordedAt must be an integer (ms since the Unix epoch)"
    );
    assert!(dst.is_empty(), "nothing written");
    assert_eq!(
        progress,
        vec![ImportProgress {
            lines_done: 12,
            lines_total: 12
        }],
        "only the final report: no line was compared with the store"
    );
    assert_eq!(report.imported, 0);
    assert_eq!(validate_ndjson(&text, 2).0.len(), 2, "errors are capped");
    assert_eq!(validate_ndjson(&text, 2).1, 7, "but all are counted");
}

#[test]
fn a_streaming_import_with_a_bad_line_writes_nothing_and_lists_every_error() {
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
        importer.push_line(l);
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
    assert_eq!(report.imported, 0);
    assert!(dst.is_empty(), "not even lines 1-3");

    // Fixed file: all of it lands.
    let fixed = good.join("\n");
    let report = import(&dst, &fixed);
    assert!(report.is_ok(), "{:?}", report.errors);
    assert_eq!((report.imported, report.skipped), (6, 0));
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
    assert!(report.errors[0]
        .message
        .starts_with("position 5 cannot be kept: the store's next position is 2"));
    assert_eq!(report.imported, 0);
    assert!(fresh.is_empty(), "not even the event before the gap");
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
    assert_eq!(
        report.errors[0].to_string(),
        "line 1: event id 'mine-1' is already stored in stream 's-1', not as version 1 of stream 's-9'; ids must be unique",
    );
    assert_eq!(dst.len(), 1);
}

#[test]
fn progress_is_reported_every_few_lines_and_at_the_end() {
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
            progress_every: 10,
            ..ImportOptions::default()
        },
        |p| progress.push(p),
    ))
    .unwrap();
    assert!(report.is_ok(), "{:?}", report.errors);
    assert_eq!(report.imported, 100);
    // Reported every `progress_every` lines compared, then once at the end.
    assert!(
        progress
            .windows(2)
            .all(|w| w[1].lines_done - w[0].lines_done <= 10),
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

/// A line as `line` makes it, changed by `edit`.
fn edited(
    id: &str,
    stream: &str,
    version: u64,
    position: u64,
    edit: impl Fn(&mut Value),
) -> String {
    let mut value: Value = serde_json::from_str(&line(id, stream, version, position)).unwrap();
    edit(&mut value);
    value.to_string()
}

/// `n` lines over streams `a` and `b`, alternating, positions 1..=n.
fn two_streams(n: u64) -> Vec<String> {
    (1..=n)
        .map(|p| {
            let stream = if p % 2 == 1 { "a" } else { "b" };
            line(&format!("e-{p}"), stream, p.div_ceil(2), p)
        })
        .collect()
}

#[test]
fn a_file_failing_on_its_last_line_writes_nothing_of_any_stream() {
    let dst = empty_store(T0, "dst");
    let mut lines = two_streams(8);
    // Line 9: stream 'a' jumps from version 4 to 6; the validator lets a new stream
    // start anywhere, so make it a store gap: stream 'c' starting at version 2.
    lines.push(line("e-9", "c", 2, 9));
    let report = import(&dst, &lines.join("\n"));
    assert_eq!(
        report.errors.iter().map(|e| e.to_string()).collect::<Vec<_>>(),
        vec!["line 9: stream 'c' is at version 0 in the store, so version 2 would leave a gap; import the events before it first"]
    );
    assert_eq!((report.imported, report.error_count), (0, 1));
    assert!(dst.is_empty(), "nothing of streams a and b either");
    // Without the bad line the file lands whole, in one write.
    let report = import(&dst, &lines[..8].join("\n"));
    assert_eq!(
        (report.imported, report.skipped, report.error_count),
        (8, 0, 0)
    );
}

#[test]
fn an_event_stored_with_other_content_is_an_error_naming_its_line() {
    let dst = empty_store(T0, "dst");
    let lines = two_streams(6);
    assert!(import(&dst, &lines.join("\n")).is_ok());
    let before = export(&dst, 100).0;

    let cases: Vec<(String, &str)> = vec![
        (
            edited("e-3", "a", 2, 3, |v| v["data"] = json!({ "n": 99 })),
            "line 3: event 'e-3' is already stored with other content (data differs)",
        ),
        (
            edited("e-3", "a", 2, 3, |v| {
                v["type"] = json!("Other");
                v["metadata"] = json!({ "causationId": "x" });
            }),
            "line 3: event 'e-3' is already stored with other content (type, metadata differ)",
        ),
        (
            edited("e-3", "a", 2, 3, |v| v["recordedAt"] = json!(T0)),
            "line 3: event 'e-3' is already stored with other content (recordedAt differs)",
        ),
        (
            edited("e-3", "a", 2, 3, |v| v["schemaVersion"] = json!(2)),
            "line 3: event 'e-3' is already stored with other content (schema version differs)",
        ),
        (
            line("x-3", "a", 2, 3),
            "line 3: stream 'a' already holds another event at version 2 (id 'e-3', not 'x-3'); this file does not continue the store",
        ),
    ];
    for (changed, message) in cases {
        let mut file = lines.clone();
        file[2] = changed;
        // And a new event after it, which must not be written either.
        file.push(line("e-7", "a", 4, 7));
        let report = import(&dst, &file.join("\n"));
        assert_eq!(
            report
                .errors
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>(),
            vec![message.to_string()]
        );
        assert_eq!(report.imported, 0);
        assert_eq!(export(&dst, 100).0, before, "the store is unchanged");
    }
    // Positions are part of the identity only when they are kept.
    let moved = [
        line("e-1", "a", 1, 1),
        edited("e-2", "b", 1, 2, |v| v["position"] = json!(9)),
    ]
    .join("\n");
    let report = import(&dst, &moved);
    assert_eq!(
        report
            .errors
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>(),
        vec!["line 2: event 'e-2' is already stored with other content (position differs)"]
    );
    let report = block_on(import_ndjson(
        &dst,
        &moved,
        ImportOptions {
            keep_positions: false,
            ..ImportOptions::default()
        },
        |_| {},
    ))
    .unwrap();
    assert_eq!(
        (report.imported, report.skipped, report.error_count),
        (0, 2, 0)
    );
}

#[test]
fn numbers_equal_in_value_are_the_same_content() {
    // A browser store gives 1.0 back as 1; a re-import must still recognise the event.
    let dst = empty_store(T0, "dst");
    let text = edited("e-1", "a", 1, 1, |v| v["data"] = json!({ "n": 1.0 }));
    assert!(import(&dst, &text).is_ok());
    let same = edited("e-1", "a", 1, 1, |v| v["data"] = json!({ "n": 1 }));
    let report = import(&dst, &same);
    assert_eq!(
        (report.skipped, report.error_count),
        (1, 0),
        "{:?}",
        report.errors
    );
}

fn nested(depth: usize) -> Value {
    let mut value = json!("leaf");
    for _ in 0..depth {
        value = json!({ "in": value });
    }
    value
}

#[test]
fn lines_over_the_limits_are_errors_naming_the_line() {
    let long = "x".repeat(MAX_NAME_BYTES + 1);
    let text = [
        line("e-1", "a", 1, 1),
        edited("e-2", "a", 2, 2, |v| v["data"] = nested(MAX_DEPTH + 1)),
        edited("e-3", "a", 3, 3, |v| {
            v["metadata"] = json!({ "flat": 1, "deep": nested(MAX_DEPTH + 1) })
        }),
        edited("e-4", "a", 4, 4, |v| v["streamId"] = json!(long)),
        edited("e-5", "a", 4, 5, |v| v["type"] = json!(long)),
        edited("e-6", "a", 5, 6, |v| {
            v["metadata"] = json!({ "correlationId": long })
        }),
        line("e-1", "b", 1, 7),
    ]
    .join("\n");
    let dst = empty_store(T0, "dst");
    let report = import(&dst, &text);
    assert_eq!(
        report
            .errors
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>(),
        vec![
            "line 2: data nests deeper than 64 levels".to_string(),
            "line 3: metadata 'deep' nests deeper than 64 levels".to_string(),
            "line 4: stream id is 1025 bytes long; at most 1024 are allowed".to_string(),
            "line 5: event type is 1025 bytes long; at most 1024 are allowed".to_string(),
            "line 6: correlation id is 1025 bytes long; at most 1024 are allowed".to_string(),
            "line 7: event id 'e-1' is already used on line 1; ids must be unique".to_string(),
        ]
    );
    assert!(dst.is_empty());
    // A line too deep for the JSON parser itself is an error too, not a crash.
    let deepest = "[".repeat(100_000) + &"]".repeat(100_000);
    let report = import(&dst, &deepest);
    assert_eq!(report.errors[0].line, 1);
    assert!(
        report.errors[0].message.starts_with("not valid JSON"),
        "{:?}",
        report.errors
    );
}

#[test]
fn an_event_at_the_depth_limit_with_custom_metadata_exports_and_imports_back_identically() {
    let src = empty_store(T0, "src");
    let metadata = Metadata {
        correlation_id: Some("corr".into()),
        causation_id: None,
        extra: [
            ("customKey".to_string(), nested(MAX_DEPTH)),
            ("flat".to_string(), json!("v")),
        ]
        .into_iter()
        .collect(),
    };
    block_on(src.append(
        "deep-1",
        ExpectedVersion::NoStream,
        vec![NewEvent::new("Deep", nested(MAX_DEPTH)).with_metadata(metadata)],
    ))
    .unwrap();
    let (text, _) = export(&src, 10);
    let dst = empty_store(T0 + 5, "dst");
    let report = import(&dst, &text);
    assert!(report.is_ok(), "{:?}", report.errors);
    assert_eq!(report.imported, 1);
    assert_eq!(all(&dst), all(&src));
    assert_eq!(export(&dst, 10).0, text);
}

#[test]
fn a_chunked_import_that_fails_midway_keeps_its_chunks_and_a_rerun_resumes() {
    let dst = empty_store(T0, "dst");
    let lines = two_streams(10);
    // Someone else takes id e-8 between the comparison and the write: a store holding
    // 'e-8' in another stream makes the chunk holding line 8 fail.
    block_on(dst.append(
        "z",
        ExpectedVersion::Any,
        vec![NewEvent::new("X", json!(1)).with_id("e-8")],
    ))
    .unwrap();
    let chunked = ImportOptions {
        chunk_events: Some(3),
        keep_positions: false,
        ..ImportOptions::default()
    };
    let report = block_on(import_ndjson(&dst, &lines.join("\n"), chunked, |_| {})).unwrap();
    assert_eq!(report.imported, 6, "chunks 1-3 and 4-6 landed");
    assert_eq!(report.errors[0].line, 8, "{:?}", report.errors);
    assert_eq!(dst.len(), 7);
    // Without the clash, a re-run skips what landed and writes the rest.
    let mut fixed = lines.clone();
    fixed[7] = line("f-8", "b", 4, 8);
    let report = block_on(import_ndjson(&dst, &fixed.join("\n"), chunked, |_| {})).unwrap();
    assert!(report.is_ok(), "{:?}", report.errors);
    assert_eq!((report.imported, report.skipped), (4, 6));
}

#[test]
fn floats_come_back_from_an_export_bit_for_bit() {
    // serde_json's default parser would read this exported float one unit in the last
    // place off; chronik parses floats exactly, so the import is the same event.
    let store = empty_store(T0, "src");
    let x = 31071572629.852962f64;
    block_on(store.append(
        "f-1",
        ExpectedVersion::NoStream,
        vec![NewEvent::new("F", json!({ "x": x }))],
    ))
    .unwrap();
    let (text, _) = export(&store, 10);
    let report = import(&store, &text);
    assert_eq!(
        (report.skipped, report.error_count),
        (1, 0),
        "{:?}",
        report.errors
    );
    let copy = empty_store(T0, "dst");
    assert_eq!(import(&copy, &text).imported, 1);
    let events = block_on(copy.read_all(ReadAllOptions::default())).unwrap();
    assert_eq!(events[0].data["x"].as_f64().unwrap().to_bits(), x.to_bits());
}

/// An export written by chronik before the one event shape: `eventId`, `eventType`, the
/// free metadata keys nested in `metadata.extra`.
const PREVIOUS_EXPORT: &str = r#"{"eventId":"e-1","streamId":"account-1","version":1,"position":1,"eventType":"Opened","schemaVersion":1,"data":{"owner":"ada"},"metadata":{"correlationId":"c-1","causationId":"cmd-1","extra":{"userId":7,"client":{"v":"1.2"}}},"recordedAt":1700000000000}
{"eventId":"e-2","streamId":"account-1","version":2,"position":2,"eventType":"Deposited","schemaVersion":2,"data":{"cents":150,"rate":0.1},"metadata":{"correlationId":"c-1"},"recordedAt":1700000001000}
{"eventId":"e-3","streamId":"order-9","version":1,"position":3,"eventType":"Placed","schemaVersion":1,"data":null,"metadata":{},"recordedAt":1700000002000}
{"eventId":"e-4","streamId":"order-9","version":2,"position":4,"eventType":"Noted","schemaVersion":1,"data":[1,"x"],"recordedAt":1700000003000}
"#;

/// The same events as the current export writes them.
const CURRENT_EXPORT: &str = r#"{"id":"e-1","streamId":"account-1","version":1,"position":1,"type":"Opened","schemaVersion":1,"data":{"owner":"ada"},"metadata":{"correlationId":"c-1","causationId":"cmd-1","client":{"v":"1.2"},"userId":7},"recordedAt":1700000000000}
{"id":"e-2","streamId":"account-1","version":2,"position":2,"type":"Deposited","schemaVersion":2,"data":{"cents":150,"rate":0.1},"metadata":{"correlationId":"c-1"},"recordedAt":1700000001000}
{"id":"e-3","streamId":"order-9","version":1,"position":3,"type":"Placed","schemaVersion":1,"data":null,"metadata":{},"recordedAt":1700000002000}
{"id":"e-4","streamId":"order-9","version":2,"position":4,"type":"Noted","schemaVersion":1,"data":[1,"x"],"metadata":{},"recordedAt":1700000003000}
"#;

#[test]
fn an_export_in_the_previous_shape_imports_and_re_exports_in_the_current_one() {
    let dst = empty_store(T0 + 9_999, "dst");
    let report = import(&dst, PREVIOUS_EXPORT);
    assert!(report.is_ok(), "{:?}", report.errors);
    assert_eq!((report.lines, report.imported, report.skipped), (4, 4, 0));
    let events = all(&dst);
    assert_eq!(events[0].event_id, "e-1");
    assert_eq!(events[0].event_type, "Opened");
    assert_eq!(
        events[0].metadata,
        Metadata {
            correlation_id: Some("c-1".into()),
            causation_id: Some("cmd-1".into()),
            extra: [
                ("userId".to_string(), json!(7)),
                ("client".to_string(), json!({ "v": "1.2" })),
            ]
            .into_iter()
            .collect(),
        }
    );
    assert_eq!(events[3].metadata, Metadata::default());
    assert_eq!(
        export(&dst, 2).0,
        CURRENT_EXPORT,
        "re-exported in the current shape"
    );

    // The old file and the new one are the same events: importing either again skips all.
    for text in [PREVIOUS_EXPORT, CURRENT_EXPORT] {
        let again = import(&dst, text);
        assert_eq!(
            (again.imported, again.skipped, again.error_count),
            (0, 4, 0),
            "{:?}",
            again.errors
        );
    }
    let copy = empty_store(T0, "copy");
    assert!(import(&copy, CURRENT_EXPORT).is_ok());
    assert_eq!(all(&copy), events, "both shapes give identical events");

    // One file may hold lines of both shapes (one shape per line).
    let lines: Vec<&str> = PREVIOUS_EXPORT.lines().collect();
    let current: Vec<&str> = CURRENT_EXPORT.lines().collect();
    let both = [lines[0], current[1], lines[2], current[3]].join("\n");
    let mixed_file = empty_store(T0, "both");
    assert_eq!(import(&mixed_file, &both).imported, 4);
    assert_eq!(all(&mixed_file), events);
}

#[test]
fn a_line_mixing_both_shapes_or_a_reserved_free_key_is_refused_naming_the_line() {
    let text = [
        line("e-1", "s-1", 1, 1),
        edited("e-2", "s-1", 2, 2, |v| v["eventType"] = json!("Happened")),
        r#"{"eventId":"e-3","id":"e-3","streamId":"s-1","version":3,"position":3,"eventType":"A","schemaVersion":1,"data":1,"recordedAt":1}"#.to_string(),
        r#"{"eventId":"e-4","streamId":"s-1","version":4,"position":4,"eventType":"A","schemaVersion":1,"data":1,"metadata":{"extra":{"causationId":"x"}},"recordedAt":1}"#.to_string(),
        r#"{"eventId":"e-5","streamId":"s-1","version":5,"position":5,"eventType":"A","schemaVersion":1,"data":1,"metadata":{"extra":7},"recordedAt":1}"#.to_string(),
    ]
    .join("\n");
    let dst = empty_store(T0, "dst");
    let report = import(&dst, &text);
    assert_eq!(
        report
            .errors
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>(),
        vec![
            "line 2: mixes the current event shape (id, type) with the previous one (eventType); an event has either id and type or eventId and eventType".to_string(),
            "line 3: mixes the current event shape (id) with the previous one (eventId, eventType); an event has either id and type or eventId and eventType".to_string(),
            "line 4: metadata key 'causationId' is reserved; set the causation id itself instead of a free metadata key of that name".to_string(),
            "line 5: metadata is invalid: invalid type: integer `7`, expected a map".to_string(),
        ]
    );
    assert!(dst.is_empty(), "nothing written");
}
