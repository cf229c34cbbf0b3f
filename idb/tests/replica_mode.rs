//! `replica_mode`: entering it adopts a never-synced log, `Routed` reads through the view
//! and appends pending batches, commands are kept by name, bad sync targets are refused.
#![cfg(target_arch = "wasm32")]

mod common;

use std::rc::Rc;

use chronik_core::sync::{BatchOrigin, CommandRunner, ExecuteError, PendingCommand, RunError};
use chronik_core::{EventStore, ExpectedVersion, NewEvent, ReadStreamOptions};
use chronik_idb::replica_mode::{ReplicaMode, ReplicaModeError, Routed, SyncTarget};
use chronik_idb::{IdbStore, JsClock, RandomUuids};
use serde_json::json;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// `note.add { stream }`: appends a `NoteAdded` while the stream has fewer than 4 events.
#[derive(Debug, Clone, Copy, Default)]
struct Notes;

impl CommandRunner for Notes {
    async fn run<S: EventStore>(
        &self,
        store: &S,
        command: &PendingCommand,
    ) -> Result<(), RunError> {
        let stream = command.input["stream"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let version = store
            .stream_version(&stream)
            .await
            .map_err(|e| RunError::Failed(e.to_string()))?;
        if version.unwrap_or(0) >= 4 {
            return Err(RunError::Refused("the stream is full".into()));
        }
        let expected = version.map_or(ExpectedVersion::NoStream, ExpectedVersion::Exact);
        store
            .append(
                &stream,
                expected,
                vec![NewEvent::new("NoteAdded", json!({}))],
            )
            .await
            .map(drop)
            .map_err(|e| RunError::Failed(e.to_string()))
    }
}

type Mode = ReplicaMode<Rc<IdbStore>, Notes>;

#[wasm_bindgen_test]
async fn entering_adopts_the_local_log_and_routed_reads_and_writes_through_the_view() {
    let name = common::fresh_name("test", "replica-mode");
    let idb = Rc::new(IdbStore::open(&name, JsClock, RandomUuids).await.unwrap());
    idb.append(
        "note-1",
        ExpectedVersion::NoStream,
        vec![
            NewEvent::new("NoteAdded", json!({ "n": 1 })),
            NewEvent::new("NoteAdded", json!({ "n": 2 })),
        ],
    )
    .await
    .unwrap();
    assert!(
        !Mode::is_replica(&idb).await.unwrap(),
        "never synced, nothing pending"
    );

    let routed: Routed<Rc<IdbStore>, Notes> = Routed::new(Rc::clone(&idb));
    let mode = Rc::new(Mode::enter(Rc::clone(&idb), Notes, JsClock).await.unwrap());
    routed.set_mode(Rc::clone(&mode));
    assert!(
        Mode::is_replica(&idb).await.unwrap(),
        "its events are pending now"
    );
    assert_eq!(
        idb.head_position().await.unwrap(),
        0,
        "the confirmed log is empty"
    );
    assert_eq!(mode.state().await.unwrap().pending.len(), 1);
    // The view shows the same events as before.
    let events = routed
        .read_stream("note-1", ReadStreamOptions::default())
        .await
        .unwrap();
    let ns: Vec<_> = events.iter().map(|e| e.data["n"].as_i64()).collect();
    assert_eq!(ns, vec![Some(1), Some(2)]);
    assert_eq!(routed.head_position().await.unwrap(), 2);

    // A raw append through `Routed` is a pending batch with provisional numbers.
    let result = routed
        .append(
            "note-1",
            ExpectedVersion::Exact(2),
            vec![NewEvent::new("NoteAdded", json!({ "n": 3 }))],
        )
        .await
        .unwrap();
    assert_eq!((result.last_version, result.last_position), (3, 3));
    assert_eq!(idb.head_position().await.unwrap(), 0);

    // A command is decided on the view and kept by name; a refusal writes nothing.
    let add = PendingCommand {
        name: "note.add".into(),
        input: json!({ "stream": "note-1" }),
    };
    let batch = mode.execute(add.clone()).await.unwrap().expect("a batch");
    assert_eq!(
        batch.origin,
        BatchOrigin::Command {
            command: add.clone()
        }
    );
    assert_eq!(routed.stream_version("note-1").await.unwrap(), Some(4));
    let refused = mode.execute(add).await.unwrap_err();
    assert_eq!(
        refused,
        ExecuteError::Run(RunError::Refused("the stream is full".into()))
    );
    assert_eq!(mode.state().await.unwrap().pending.len(), 3);

    // Leaving replica mode shows the store's own (confirmed) log again.
    routed.clear_mode();
    assert_eq!(routed.head_position().await.unwrap(), 0);
}

#[wasm_bindgen_test]
async fn a_bad_sync_target_is_refused_and_nothing_runs() {
    let name = common::fresh_name("test", "replica-target");
    let idb = Rc::new(IdbStore::open(&name, JsClock, RandomUuids).await.unwrap());
    let mode = Mode::enter(Rc::clone(&idb), Notes, JsClock).await.unwrap();
    assert!(
        !Mode::is_replica(&idb).await.unwrap(),
        "an empty store adopts nothing"
    );
    let bad_url = mode
        .connect(&SyncTarget::new("ftp://example.org", "s"))
        .err()
        .expect("refused");
    assert_eq!(
        bad_url,
        ReplicaModeError::BadUrl("ftp://example.org".into())
    );
    assert_eq!(
        bad_url.to_string(),
        "the server url must start with http:// or https://, not \"ftp://example.org\""
    );
    let no_store = mode
        .connect(&SyncTarget::new("http://127.0.0.1:9", " "))
        .err()
        .expect("refused");
    assert_eq!(no_store, ReplicaModeError::NoStore);
    assert!(mode.sync().is_none());
    mode.disconnect();
    assert!(mode.sync().is_none());
}
