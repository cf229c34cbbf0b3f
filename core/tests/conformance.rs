//! The conformance suite against [`MemoryStore`].

use chronik_core::{conformance, ManualClock, MemoryStore, SequentialIds};

#[test]
fn memory_store_passes_the_conformance_suite() {
    futures::executor::block_on(conformance::run_all(|| async {
        MemoryStore::new(
            ManualClock::new(1_700_000_000_000),
            SequentialIds::new("evt"),
        )
    }));
}
