//! Properties of the bank domain over random command sequences: balances never go
//! negative, transfers conserve money, and every read model kept up to date
//! incrementally equals the one rebuilt from scratch.

use chronik_core::{
    CommandContext, HandlerError, ManualClock, MemoryStore, Projection, ProjectionRunner,
    SequentialIds,
};
use chronik_examples::bank::{AccountBalances, DailySummary, TransactionHistory};
use chronik_examples::{Bank, BankCommand, Money, TransferStatus};
use futures::executor::block_on;
use proptest::prelude::*;
use std::rc::Rc;

const ACCOUNTS: usize = 4;

#[derive(Debug, Clone)]
enum Op {
    Open(usize, Option<i64>),
    Deposit(usize, i64),
    Withdraw(usize, i64),
    Transfer(usize, usize, i64),
    Close(usize),
    CatchUp,
    Tick(i64),
}

fn op() -> impl Strategy<Value = Op> {
    let account = 0..ACCOUNTS;
    let cents = 1i64..50_000;
    prop_oneof![
        2 => (account.clone(), proptest::option::of(cents.clone())).prop_map(|(a, c)| Op::Open(a, c)),
        4 => (account.clone(), cents.clone()).prop_map(|(a, c)| Op::Deposit(a, c)),
        4 => (account.clone(), cents.clone()).prop_map(|(a, c)| Op::Withdraw(a, c)),
        4 => (account.clone(), account.clone(), cents).prop_map(|(a, b, c)| Op::Transfer(a, b, c)),
        1 => account.prop_map(Op::Close),
        1 => Just(Op::CatchUp),
        1 => (1i64..200_000_000).prop_map(Op::Tick),
    ]
}

fn id(i: usize) -> String {
    format!("acc-{i}")
}

fn amount(cents: i64) -> String {
    Money::from_cents(cents).to_string()
}

type Store = Rc<MemoryStore>;

async fn equals_rebuild<P: Projection>(
    runner: &mut ProjectionRunner<Store, P>,
    fresh: ProjectionRunner<Store, P>,
) -> Result<(), TestCaseError> {
    runner.catch_up().await.unwrap();
    let mut fresh = fresh;
    fresh.rebuild(|_| {}).await.unwrap();
    prop_assert_eq!(
        serde_json::to_value(runner.state()).unwrap(),
        serde_json::to_value(fresh.state()).unwrap()
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn balances_stay_non_negative_money_is_conserved_and_read_models_equal_their_rebuild(
        ops in proptest::collection::vec(op(), 1..60)
    ) {
        let clock = Rc::new(ManualClock::new(1_700_000_000_000));
        let store: Store = Rc::new(MemoryStore::new(Rc::clone(&clock), SequentialIds::new("e")));
        let bank = Bank::new(Rc::clone(&store));
        block_on(async {
            let mut balances = bank.projection(AccountBalances, Rc::clone(&clock));
            let mut history = bank.projection(TransactionHistory, Rc::clone(&clock));
            let mut daily = bank.projection(DailySummary, Rc::clone(&clock));
            // Money that came from or went to outside the bank.
            let mut external: i64 = 0;
            let ctx = CommandContext::default;
            for (n, op) in ops.iter().enumerate() {
                match op {
                    Op::Open(a, deposit) => {
                        let command = BankCommand::OpenAccount {
                            owner: format!("owner {a}"),
                            initial_deposit: deposit.map(amount),
                            initial_balance: None,
                        };
                        if bank.execute(&id(*a), &command, &ctx()).await.is_ok() {
                            external += deposit.unwrap_or(0);
                        }
                    }
                    Op::Deposit(a, c) => {
                        if bank.execute(&id(*a), &BankCommand::deposit(amount(*c)), &ctx()).await.is_ok() {
                            external += c;
                        }
                    }
                    Op::Withdraw(a, c) => {
                        match bank.execute(&id(*a), &BankCommand::withdraw(amount(*c)), &ctx()).await {
                            Ok(_) => external -= c,
                            Err(HandlerError::Rejected(_)) => {}
                            Err(other) => panic!("store failure: {other}"),
                        }
                    }
                    Op::Transfer(a, b, c) => {
                        match bank.transfer(&format!("t{n}"), &id(*a), &id(*b), &amount(*c)).await {
                            Ok(t) => prop_assert!(matches!(
                                t.status,
                                TransferStatus::Completed | TransferStatus::Failed | TransferStatus::Refunded
                            )),
                            // Same account, or a source closed before its refund.
                            Err(e) => prop_assert!(a == b || e.to_string().contains("refund"), "{}", e),
                        }
                    }
                    Op::Close(a) => {
                        bank.execute(&id(*a), &BankCommand::CloseAccount, &ctx()).await.ok();
                    }
                    Op::CatchUp => {
                        balances.catch_up().await.unwrap();
                        history.catch_up().await.unwrap();
                    }
                    Op::Tick(ms) => clock.advance(*ms),
                }
                let mut sum = 0;
                for a in 0..ACCOUNTS {
                    if let Some(account) = bank.account(&id(a)).await.unwrap() {
                        prop_assert!(account.balance.cents() >= 0, "negative balance: {:?}", account);
                        sum += account.balance.cents();
                    }
                }
                prop_assert_eq!(sum, external, "money appeared or vanished after {:?}", op);
            }
            equals_rebuild(&mut balances, bank.projection(AccountBalances, Rc::clone(&clock))).await?;
            equals_rebuild(&mut history, bank.projection(TransactionHistory, Rc::clone(&clock))).await?;
            equals_rebuild(&mut daily, bank.projection(DailySummary, Rc::clone(&clock))).await?;
            prop_assert_eq!(balances.state().total.cents(), external);
            for a in 0..ACCOUNTS {
                if let Some(account) = bank.account(&id(a)).await.unwrap() {
                    prop_assert_eq!(balances.state().accounts[&id(a)].balance, account.balance);
                    let newest = history.state().for_account(&id(a)).next().map(|t| t.balance_after);
                    prop_assert_eq!(newest.unwrap_or(Money::ZERO), account.balance);
                }
            }
            Ok(())
        })?;
    }
}
