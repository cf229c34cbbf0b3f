//! Hostile input never kills, hangs or corrupts: the append and import planners never
//! panic whatever the batch and the store's context, and what they decide to write is
//! contiguous from the context; an NDJSON import of garbage or mutated lines never
//! panics and leaves the store unchanged whenever it reports an error; and an export
//! imported into a fresh store exports again identically.

use std::collections::BTreeMap;
use std::rc::Rc;

use chronik_core::append::{
    plan_append, plan_import, AppendContext, AppendPlan, ImportContext, StoredId,
};
use chronik_core::{
    export_ndjson, import_ndjson, EventStore, ExpectedVersion, ImportOptions, ManualClock,
    MemoryStore, Metadata, NewEvent, RecordedEvent, SequentialIds, MAX_DEPTH, MAX_NAME_BYTES,
};
use futures::executor::block_on;
use proptest::prelude::*;
use serde_json::{json, Map, Value};

const T0: i64 = 1_700_000_000_000;

/// Small JSON values: scalars (integers and floats), arrays and objects a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        // Any finite float: chronik parses floats back exactly (`float_roundtrip`).
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        "[a-z\\u{e9}\"\\\\\n ]{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{0,4}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// `depth` levels of arrays around `value`.
fn nested(depth: usize, value: Value) -> Value {
    (0..depth).fold(value, |v, _| Value::Array(vec![v]))
}

/// Any JSON value, sometimes nested around the depth limit.
fn any_data() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => json_value(),
        1 => (MAX_DEPTH - 2..MAX_DEPTH + 3, json_value()).prop_map(|(d, v)| nested(d, v)),
    ]
}

/// Names and ids: usually short, sometimes empty, blank or over the length limit.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => "[a-c]{1,3}(-[0-9])?",
        1 => Just(String::new()),
        1 => Just(" \t".to_string()),
        1 => (MAX_NAME_BYTES - 1..MAX_NAME_BYTES + 2).prop_map(|n| "n".repeat(n)),
    ]
}

fn metadata() -> impl Strategy<Value = Metadata> {
    (
        proptest::option::of(name()),
        proptest::option::of(name()),
        prop::collection::btree_map("[a-z]{0,3}", any_data(), 0..3),
    )
        .prop_map(|(correlation_id, causation_id, extra)| Metadata {
            correlation_id,
            causation_id,
            extra,
        })
}

fn new_event() -> impl Strategy<Value = NewEvent> {
    (
        proptest::option::of(name()),
        name(),
        prop_oneof![Just(0u32), Just(1u32), any::<u32>()],
        any_data(),
        metadata(),
    )
        .prop_map(
            |(event_id, event_type, schema_version, data, metadata)| NewEvent {
                event_id,
                event_type,
                schema_version,
                data,
                metadata,
            },
        )
}

/// Counters that are small, or right at the end of the numbers.
fn counter() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => 0u64..20,
        1 => (u64::MAX - 3)..=u64::MAX,
        1 => any::<u64>(),
    ]
}

fn expected() -> impl Strategy<Value = ExpectedVersion> {
    prop_oneof![
        Just(ExpectedVersion::Any),
        Just(ExpectedVersion::NoStream),
        Just(ExpectedVersion::StreamExists),
        counter().prop_map(ExpectedVersion::Exact),
    ]
}

fn stored_id() -> impl Strategy<Value = Option<StoredId>> {
    proptest::option::weighted(
        0.3,
        (name(), counter(), counter()).prop_map(|(stream_id, version, position)| StoredId {
            stream_id,
            version,
            position,
        }),
    )
}

fn recorded_event() -> impl Strategy<Value = RecordedEvent> {
    (
        new_event(),
        name(),
        name(),
        counter(),
        counter(),
        any::<i64>(),
    )
        .prop_map(
            |(e, event_id, stream_id, version, position, recorded_at)| RecordedEvent {
                event_id,
                stream_id,
                version,
                position,
                event_type: e.event_type,
                schema_version: e.schema_version,
                data: e.data,
                metadata: e.metadata,
                recorded_at,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// `plan_append` decides without panicking, and a write continues the context.
    #[test]
    fn plan_append_never_panics_and_writes_contiguously(
        stream in name(),
        expected in expected(),
        events in prop::collection::vec(new_event(), 0..6),
        current in proptest::option::of(counter()),
        head in counter(),
        stored in prop::collection::vec(stored_id(), 0..7),
        same_length in any::<bool>(),
    ) {
        let mut stored = stored;
        if same_length {
            stored.resize(events.len(), None);
        }
        let clock = ManualClock::new(T0);
        let ids = SequentialIds::new("gen");
        let ctx = AppendContext { current_version: current, head_position: head, stored_ids: &stored };
        let n = events.len();
        if let Ok(AppendPlan::Write(written)) = plan_append(&stream, expected, events, ctx, &clock, &ids) {
            prop_assert_eq!(written.len(), n);
            for (i, e) in written.iter().enumerate() {
                prop_assert_eq!(e.version, current.unwrap_or(0) + 1 + i as u64);
                prop_assert_eq!(e.position, head + 1 + i as u64);
                prop_assert_eq!(&e.stream_id, &stream);
                prop_assert_eq!(e.recorded_at, T0);
            }
        }
    }

    /// `plan_import` decides without panicking, and a write continues every stream and
    /// the log.
    #[test]
    fn plan_import_never_panics_and_writes_contiguously(
        events in prop::collection::vec(recorded_event(), 0..5),
        versions in prop::collection::btree_map(name(), counter(), 0..4),
        head in counter(),
        stored in prop::collection::vec(stored_id(), 0..6),
        same_length in any::<bool>(),
    ) {
        let mut stored = stored;
        if same_length {
            stored.resize(events.len(), None);
        }
        let ctx = ImportContext { head_position: head, stream_versions: &versions, stored_ids: &stored };
        if let Ok(plan) = plan_import(events.clone(), ctx) {
            prop_assert_eq!(&plan.events, &events);
            let mut next: BTreeMap<&str, u64> = BTreeMap::new();
            for (i, e) in plan.events.iter().enumerate() {
                prop_assert_eq!(e.position, head + 1 + i as u64);
                let v = next.entry(&e.stream_id).or_insert_with(|| versions.get(&e.stream_id).copied().unwrap_or(0));
                *v += 1;
                prop_assert_eq!(e.version, *v);
            }
        }
    }
}

/// A store holding `batches` (stream index, events), appended in order.
fn store_with(batches: &[(u8, Vec<NewEvent>)]) -> MemoryStore {
    let clock = Rc::new(ManualClock::new(T0));
    let store = MemoryStore::new(Rc::clone(&clock), SequentialIds::new("src"));
    for (stream, events) in batches {
        // Refusals (over a limit) are part of the input; they write nothing.
        let _ =
            block_on(store.append(&format!("s-{stream}"), ExpectedVersion::Any, events.clone()));
        clock.advance(1_001);
    }
    store
}

fn export_text(store: &impl EventStore) -> String {
    let mut text = String::new();
    block_on(export_ndjson(store, 7, |chunk| text.push_str(chunk))).unwrap();
    text
}

/// Valid events for a store: plain ids, or none.
fn good_event() -> impl Strategy<Value = NewEvent> {
    (
        proptest::option::weighted(0.3, "[a-z]{6}"),
        "[A-Z][a-z]{0,5}",
        1u32..4,
        any_data(),
        metadata(),
    )
        .prop_map(
            |(event_id, event_type, schema_version, data, metadata)| NewEvent {
                event_id,
                event_type,
                schema_version,
                data,
                metadata,
            },
        )
}

fn batches() -> impl Strategy<Value = Vec<(u8, Vec<NewEvent>)>> {
    prop::collection::vec((0u8..4, prop::collection::vec(good_event(), 1..4)), 0..8)
}

/// How one line of a file is made hostile.
#[derive(Debug, Clone)]
enum Mutation {
    Keep,
    Garbage(String),
    SetField(&'static str, Value),
    DropField(&'static str),
    Truncate(usize),
    Duplicate,
}

fn mutation() -> impl Strategy<Value = Mutation> {
    // `eventId` and `eventType` are the previous shape's fields: setting one mixes shapes.
    let field = prop::sample::select(vec![
        "id",
        "eventId",
        "streamId",
        "version",
        "position",
        "type",
        "eventType",
        "schemaVersion",
        "data",
        "metadata",
        "recordedAt",
    ]);
    prop_oneof![
        6 => Just(Mutation::Keep),
        1 => ".{0,40}".prop_map(Mutation::Garbage),
        2 => (field.clone(), prop_oneof![json_value(), counter().prop_map(|n| json!(n))])
            .prop_map(|(f, v)| Mutation::SetField(f, v)),
        1 => field.prop_map(Mutation::DropField),
        1 => (0usize..200).prop_map(Mutation::Truncate),
        1 => Just(Mutation::Duplicate),
    ]
}

fn mutate(lines: &[&str], mutations: &[Mutation]) -> String {
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        match mutations.get(i).unwrap_or(&Mutation::Keep) {
            Mutation::Keep => out.push(line.to_string()),
            Mutation::Garbage(text) => out.push(text.clone()),
            Mutation::SetField(field, value) => {
                let mut v: Value = serde_json::from_str(line).unwrap();
                v[*field] = value.clone();
                out.push(v.to_string());
            }
            Mutation::DropField(field) => {
                let mut v: Value = serde_json::from_str(line).unwrap();
                if let Some(o) = v.as_object_mut() {
                    o.remove(*field);
                }
                out.push(v.to_string());
            }
            Mutation::Truncate(n) => out.push(line.chars().take(*n).collect()),
            Mutation::Duplicate => {
                out.push(line.to_string());
                out.push(line.to_string());
            }
        }
    }
    out.join("\n")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Importing a mutated export (of the store itself, or of another store) never
    /// panics; whenever anything is wrong, nothing is written; otherwise every valid
    /// event is imported or skipped.
    #[test]
    fn a_hostile_import_never_panics_and_a_failed_one_changes_nothing(
        existing in batches(),
        other in batches(),
        from_other in any::<bool>(),
        keep_positions in any::<bool>(),
        mutations in prop::collection::vec(mutation(), 0..30),
    ) {
        let store = store_with(&existing);
        let file_source = if from_other { store_with(&other) } else { store_with(&existing) };
        let exported = export_text(&file_source);
        let lines: Vec<&str> = exported.lines().collect();
        let text = mutate(&lines, &mutations);
        let head = block_on(store.head_position()).unwrap();
        let before = export_text(&store);
        let options = ImportOptions { keep_positions, ..ImportOptions::default() };
        let result = block_on(import_ndjson(&store, &text, options, |_| {}));
        match result {
            Ok(report) if report.error_count == 0 => {
                prop_assert!(report.errors.is_empty());
                prop_assert_eq!(block_on(store.head_position()).unwrap(), head + report.imported);
            }
            Ok(report) => {
                prop_assert_eq!(report.imported, 0);
                prop_assert!(!report.errors.is_empty());
                prop_assert_eq!(block_on(store.head_position()).unwrap(), head);
                prop_assert_eq!(export_text(&store), before);
            }
            Err(e) => {
                prop_assert_eq!(block_on(store.head_position()).unwrap(), head, "{}", e);
                prop_assert_eq!(export_text(&store), before);
            }
        }
    }

    /// Lines of pure garbage never panic and write nothing.
    #[test]
    fn garbage_lines_never_panic(lines in prop::collection::vec(".{0,60}", 0..10)) {
        let store = store_with(&[]);
        let report = block_on(import_ndjson(&store, &lines.join("\n"), ImportOptions::default(), |_| {})).unwrap();
        prop_assert_eq!(report.imported, 0);
        prop_assert_eq!(block_on(store.head_position()).unwrap(), 0);
    }

    /// Export, import into a fresh store, export: the same text, and importing it once
    /// more skips every event.
    #[test]
    fn export_import_export_is_identical(existing in batches()) {
        let store = store_with(&existing);
        let text = export_text(&store);
        let fresh = MemoryStore::new(ManualClock::new(0), SequentialIds::new("other"));
        let report = block_on(import_ndjson(&fresh, &text, ImportOptions::default(), |_| {})).unwrap();
        prop_assert!(report.is_ok(), "{:?}", report.errors);
        prop_assert_eq!(report.imported as usize, store.len());
        prop_assert_eq!(export_text(&fresh), text.clone());
        let again = block_on(import_ndjson(&fresh, &text, ImportOptions::default(), |_| {})).unwrap();
        prop_assert_eq!((again.imported, again.skipped, again.error_count), (0, store.len() as u64, 0));
    }
}
