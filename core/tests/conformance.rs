//! The conformance suite against [`MemoryStore`].

use chronik_core::{conformance, MemoryStore, SequentialIds};

#[test]
fn memory_store_passes_the_conformance_suite() {
    futures::executor::block_on(conformance::run_all(|clock| async move {
        MemoryStore::new(clock, SequentialIds::new("evt"))
    }));
}
