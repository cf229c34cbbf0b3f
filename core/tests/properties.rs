//! Properties over random command sequences: replay = snapshot + tail = state at every
//! version; versions contiguous; positions gapless.

mod support;

use chronik_core::{
    fold, Aggregate, CommandContext, CommandHandler, DomainEvent, EventStore, HandlerError,
    ReadAllOptions, ReadStreamOptions, SnapshotPolicy,
};
use futures::executor::block_on;
use proptest::prelude::*;
use support::{store, upcasters, Account, AccountCommand, AccountEvent};

fn command() -> impl Strategy<Value = AccountCommand> {
    prop_oneof![
        1 => "[a-z]{1,6}".prop_map(|owner| AccountCommand::Open { owner }),
        4 => (-5i64..60).prop_map(AccountCommand::Deposit),
        3 => (-5i64..80).prop_map(AccountCommand::Withdraw),
        1 => Just(AccountCommand::Noop),
    ]
}

fn policy() -> impl Strategy<Value = SnapshotPolicy> {
    prop_oneof![
        Just(SnapshotPolicy::Off),
        (1u64..8).prop_map(SnapshotPolicy::Every),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn replay_snapshots_and_temporal_queries_agree(
        commands in prop::collection::vec((0usize..3, command()), 1..60),
        policy in policy(),
    ) {
        let (store, clock) = store();
        let h = CommandHandler::<_, Account>::new(&store)
            .with_snapshot_policy(policy)
            .with_upcasters(upcasters());
        let ids = ["a", "b", "c"];
        // The model: each aggregate's state, kept by deciding and evolving in memory.
        let mut model = vec![Account::default(); 3];
        let opens = (0..3).map(|w| (w, AccountCommand::Open { owner: ids[w].into() }));
        let commands: Vec<_> = opens.chain(commands).collect();
        for (i, (which, cmd)) in commands.iter().enumerate() {
            clock.advance(i as i64 % 3);
            let expected = model[*which].decide(cmd);
            let got = block_on(h.handle(ids[*which], cmd, &CommandContext::new(format!("c{i}"))));
            match (expected, got) {
                (Ok(events), Ok(outcome)) => {
                    for e in &events {
                        model[*which].evolve(e);
                    }
                    prop_assert_eq!(outcome.events.len(), events.len());
                    prop_assert_eq!(&outcome.state, &model[*which]);
                }
                (Err(e), Err(HandlerError::Rejected(g))) => prop_assert_eq!(e, g),
                (e, g) => prop_assert!(false, "model {:?} but handler {:?}", e, g),
            }
        }

        // Positions are gapless over all streams.
        let all = block_on(store.read_all(ReadAllOptions::default())).unwrap();
        prop_assert!(all.iter().enumerate().all(|(i, e)| e.position == i as u64 + 1));
        prop_assert_eq!(block_on(store.head_position()).unwrap(), all.len() as u64);

        for (which, id) in ids.iter().enumerate() {
            let stream = Account::stream_id(id);
            let raw = block_on(store.read_stream(&stream, ReadStreamOptions::default())).unwrap();
            // Versions are contiguous from 1.
            prop_assert!(raw.iter().enumerate().all(|(i, e)| e.version == i as u64 + 1));
            let events: Vec<AccountEvent> = raw
                .iter()
                .map(|e| AccountEvent::from_data(&e.event_type, e.data.clone()).unwrap())
                .collect();
            // Full replay = the model = snapshot + tail.
            let replayed: Account = fold(&events);
            prop_assert_eq!(&replayed, &model[which]);
            let loaded = block_on(h.load(id)).unwrap();
            prop_assert_eq!(&loaded.state, &replayed);
            prop_assert_eq!(loaded.version, events.len() as u64);
            if policy == SnapshotPolicy::Off {
                prop_assert_eq!(loaded.snapshot_version, None);
            }
            // State at every version = replay of that prefix.
            for v in 0..=events.len() {
                let at = block_on(h.state_at_version(id, v as u64)).unwrap();
                prop_assert_eq!(at.version, v as u64);
                prop_assert_eq!(&at.state, &fold::<Account>(&events[..v]));
                prop_assert!(at.snapshot_version.is_none_or(|s| s <= v as u64));
                if v > 0 {
                    let by_time = block_on(h.state_at_time(id, raw[v - 1].recorded_at)).unwrap();
                    // Events recorded at the same millisecond all belong to that time.
                    let last_at_that_time = raw
                        .iter()
                        .rposition(|e| e.recorded_at <= raw[v - 1].recorded_at)
                        .unwrap() as u64 + 1;
                    prop_assert_eq!(by_time.version, last_at_that_time);
                }
            }
        }
    }
}
