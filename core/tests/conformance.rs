//! The conformance suites (the store's and the replica's) against [`MemoryStore`].

use chronik_core::{conformance, MemoryStore, SequentialIds};

#[test]
fn memory_store_passes_the_conformance_suite() {
    futures::executor::block_on(conformance::run_all(|clock| async move {
        MemoryStore::new(clock, SequentialIds::new("evt"))
    }));
}

#[test]
fn memory_store_passes_the_replica_conformance_suite() {
    futures::executor::block_on(conformance::run_replica(
        |clock| async move { MemoryStore::new(clock, SequentialIds::new("evt")) },
        // Its data goes with it: nothing to reopen.
        |_store, _clock| async { None },
    ));
}
