//! Bank domain: every rule and error as given/when/then, the facade, transfers, read
//! models and the MoneyDeposited v1 → v2 schema evolution.

use chronik_core::testing::AggregateTest;
use chronik_core::{
    CommandContext, EventStore, ExpectedVersion, HandlerError, ManualClock, MemoryStore, NewEvent,
    ProjectionRunner, ReadStreamOptions, SequentialIds,
};
use chronik_examples::bank::{
    AccountBalances, DailySummary, PendingTransfer, PendingTransfers, TransactionHistory,
    TransactionKind, TransferEvent,
};
use chronik_examples::{
    AccountStatus, Bank, BankAccount, BankCommand, BankError, BankEvent, Money, MoneyError,
    TransferStatus,
};
use futures::executor::block_on;
use serde_json::json;
use std::rc::Rc;

const DAY: i64 = 86_400_000;

fn cents(c: i64) -> Money {
    Money::from_cents(c)
}

fn opened() -> Vec<BankEvent> {
    vec![BankEvent::AccountOpened {
        owner: "Alice".into(),
        initial_balance: None,
    }]
}

fn with_balance(c: i64) -> Vec<BankEvent> {
    let mut events = opened();
    events.push(BankEvent::MoneyDeposited {
        amount: cents(c),
        transfer_id: None,
    });
    events
}

fn store() -> (Rc<ManualClock>, Rc<MemoryStore>) {
    let clock = Rc::new(ManualClock::new(1_700_000_000_000));
    let store = Rc::new(MemoryStore::new(Rc::clone(&clock), SequentialIds::new("e")));
    (clock, store)
}

// ------------------------------------------------------------ given/when/then

#[test]
fn opening_records_the_owner_and_an_optional_first_deposit() {
    AggregateTest::<BankAccount>::given_no_events()
        .when(BankCommand::open("Alice"))
        .then_expect(opened())
        .then_state(|a| {
            assert_eq!(a.status, AccountStatus::Open);
            assert_eq!((a.balance, a.version), (Money::ZERO, 1));
        });
    AggregateTest::<BankAccount>::given_no_events()
        .when(BankCommand::OpenAccount {
            owner: " Alice ".into(),
            initial_deposit: Some("100.5".into()),
            initial_balance: None,
        })
        .then_expect(with_balance(10_050))
        .then_state(|a| assert_eq!((a.owner.as_str(), a.balance), ("Alice", cents(10_050))));
}

/// An opening balance is one `AccountOpened` event (the seed APIs count versions so);
/// the read models count it as the account's first deposit, and `AccountOpened` events
/// stored before the field existed still read, as a zero balance.
#[test]
fn an_opening_balance_is_recorded_in_the_opening_event() {
    AggregateTest::<BankAccount>::given_no_events()
        .when(BankCommand::OpenAccount {
            owner: "Alice".into(),
            initial_deposit: None,
            initial_balance: Some("1000.00".into()),
        })
        .then_expect(vec![BankEvent::AccountOpened {
            owner: "Alice".into(),
            initial_balance: Some(cents(100_000)),
        }])
        .then_state(|a| assert_eq!((a.balance, a.version), (cents(100_000), 1)));
    AggregateTest::<BankAccount>::given_no_events()
        .when(BankCommand::OpenAccount {
            owner: "Alice".into(),
            initial_deposit: None,
            initial_balance: Some("1.005".into()),
        })
        .then_expect_error(BankError::InvalidAmount(MoneyError::TooManyDecimals(
            "1.005".into(),
        )));

    let clock = Rc::new(ManualClock::new(1_700_000_000_000));
    let store = Rc::new(MemoryStore::new(Rc::clone(&clock), SequentialIds::new("e")));
    block_on(async {
        store
            .append(
                "account-old",
                ExpectedVersion::NoStream,
                vec![NewEvent::new("AccountOpened", json!({ "owner": "Old" }))],
            )
            .await
            .unwrap();
        let bank = Bank::new(Rc::clone(&store));
        let open = serde_json::from_value(
            json!({ "type": "OpenAccount", "owner": "Ada", "initialBalance": "12.34" }),
        )
        .unwrap();
        let ada = bank
            .execute("ada", &open, &CommandContext::default())
            .await
            .unwrap();
        assert_eq!((ada.balance, ada.version), (cents(1_234), 1));
        let old = bank.account("old").await.unwrap().unwrap();
        assert_eq!((old.owner.as_str(), old.balance), ("Old", Money::ZERO));

        let mut balances = bank.projection(AccountBalances, Rc::clone(&clock));
        balances.catch_up().await.unwrap();
        assert_eq!(balances.state().accounts["ada"].balance, cents(1_234));
        assert_eq!(balances.state().total, cents(1_234));
        let mut history = bank.projection(TransactionHistory, Rc::clone(&clock));
        history.catch_up().await.unwrap();
        let lines: Vec<_> = history.state().for_account("ada").collect();
        assert_eq!(lines.len(), 1);
        assert_eq!(
            (lines[0].kind, lines[0].amount),
            (TransactionKind::Deposit, cents(1_234))
        );
        assert!(history.state().for_account("old").next().is_none());
        let mut daily = bank.projection(DailySummary, Rc::clone(&clock));
        daily.catch_up().await.unwrap();
        let day = daily.state().days.values().next().unwrap();
        assert_eq!((day.deposits, day.deposit_count), (cents(1_234), 1));
    });
}

#[test]
fn opening_needs_an_owner_a_valid_deposit_and_a_free_id() {
    AggregateTest::<BankAccount>::given_no_events()
        .when(BankCommand::open("  "))
        .then_expect_error(BankError::EmptyOwner);
    AggregateTest::<BankAccount>::given_no_events()
        .when(BankCommand::OpenAccount {
            owner: "Alice".into(),
            initial_deposit: Some("0".into()),
            initial_balance: None,
        })
        .then_expect_error(BankError::InvalidAmount(MoneyError::NotPositive(
            "0".into(),
        )));
    AggregateTest::<BankAccount>::given(opened())
        .when(BankCommand::open("Bob"))
        .then_expect_error(BankError::AccountAlreadyExists);
}

#[test]
fn deposits_add_to_the_balance() {
    AggregateTest::<BankAccount>::given(with_balance(100))
        .when(BankCommand::deposit("10.5"))
        .then_expect(vec![BankEvent::MoneyDeposited {
            amount: cents(1050),
            transfer_id: None,
        }])
        .then_state(|a| assert_eq!((a.balance, a.version), (cents(1150), 3)));
}

#[test]
fn amounts_are_validated_with_the_reason() {
    let cases = [
        ("0", MoneyError::NotPositive("0".into())),
        ("-1", MoneyError::NotPositive("-1".into())),
        ("ten", MoneyError::Malformed("ten".into())),
        ("1.001", MoneyError::TooManyDecimals("1.001".into())),
        ("", MoneyError::Empty),
        (
            "99999999999999999999",
            MoneyError::Overflow("99999999999999999999".into()),
        ),
    ];
    for (amount, error) in cases {
        AggregateTest::<BankAccount>::given(with_balance(100))
            .when(BankCommand::deposit(amount))
            .then_expect_error(BankError::InvalidAmount(error.clone()));
        AggregateTest::<BankAccount>::given(with_balance(100))
            .when(BankCommand::withdraw(amount))
            .then_expect_error(BankError::InvalidAmount(error));
    }
}

#[test]
fn a_deposit_that_would_overflow_the_balance_is_rejected() {
    let max = Money::MAX.cents();
    AggregateTest::<BankAccount>::given(with_balance(max - 5))
        .when(BankCommand::deposit("0.06"))
        .then_expect_error(BankError::BalanceOverflow {
            balance: cents(max - 5),
            amount: cents(6),
        });
    // Up to the maximum exactly is fine.
    AggregateTest::<BankAccount>::given(with_balance(max - 5))
        .when(BankCommand::deposit("0.05"))
        .then_expect(vec![BankEvent::MoneyDeposited {
            amount: cents(5),
            transfer_id: None,
        }])
        .then_state(|a| assert_eq!(a.balance, Money::MAX));
    // 2^53 cents was accepted before and then unreadable in JS: now it never is.
    AggregateTest::<BankAccount>::given(with_balance(max))
        .when(BankCommand::deposit("0.01"))
        .then_expect_error_message(
            "deposit of 0.01 would take the balance 90071992547409.91 past the maximum 90071992547409.91",
        );
}

#[test]
fn amounts_past_the_maximum_are_refused_before_anything_is_written() {
    AggregateTest::<BankAccount>::given_no_events()
        .when(BankCommand::OpenAccount {
            owner: "Alice".into(),
            initial_deposit: Some("90071992547409.92".into()),
            initial_balance: None,
        })
        .then_expect_error(BankError::InvalidAmount(MoneyError::Overflow(
            "90071992547409.92".into(),
        )));
    AggregateTest::<BankAccount>::given(opened())
        .when(BankCommand::withdraw("99999999999999999999"))
        .then_expect_error_message(
            "invalid amount: amount '99999999999999999999' is too large; the maximum is 90071992547409.91",
        );
    // A fold of events written by other means saturates at the maximum, never wraps.
    AggregateTest::<BankAccount>::given(with_balance(i64::MAX))
        .when(BankCommand::deposit("1"))
        .then_expect_error(BankError::BalanceOverflow {
            balance: Money::MAX,
            amount: cents(100),
        });
    let (_, store) = store();
    let bank = Bank::new(Rc::clone(&store));
    block_on(async {
        open(&bank, "a", "90071992547409.91").await;
        let before = store.head_position().await.unwrap();
        let err = bank
            .execute(
                "a",
                &BankCommand::deposit("0.01"),
                &CommandContext::new("c1"),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                HandlerError::Rejected(BankError::BalanceOverflow { .. })
            ),
            "{err:?}"
        );
        assert_eq!(store.head_position().await.unwrap(), before);
        assert_eq!(balance(&bank, "a").await, Money::MAX.cents());
    });
}

#[test]
fn a_transfer_that_would_take_the_target_past_the_maximum_is_refunded() {
    let (_, store) = store();
    let bank = Bank::new(Rc::clone(&store));
    block_on(async {
        open(&bank, "rich", "90071992547409.00").await;
        open(&bank, "b", "100").await;
        let t = bank.transfer("t1", "b", "rich", "1").await.unwrap();
        assert_eq!(t.status, TransferStatus::Refunded);
        assert!(
            t.reason
                .as_deref()
                .is_some_and(|r| r.contains("past the maximum")),
            "{t:?}"
        );
        assert_eq!(balance(&bank, "b").await, 10_000);
        assert_eq!(balance(&bank, "rich").await, 9_007_199_254_740_900);
        // Up to the maximum exactly still arrives.
        let t = bank.transfer("t2", "b", "rich", "0.91").await.unwrap();
        assert_eq!(t.status, TransferStatus::Completed);
        assert_eq!(balance(&bank, "rich").await, Money::MAX.cents());
        let err = bank
            .transfer("t3", "b", "rich", "90071992547409.92")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("too large"), "{err}");
    });
}

#[test]
fn withdrawals_beyond_the_balance_fail_saying_balance_and_amount() {
    AggregateTest::<BankAccount>::given(with_balance(1000))
        .when(BankCommand::withdraw("10"))
        .then_expect(vec![BankEvent::MoneyWithdrawn {
            amount: cents(1000),
            transfer_id: None,
        }])
        .then_state(|a| assert_eq!(a.balance, Money::ZERO));
    AggregateTest::<BankAccount>::given(with_balance(1000))
        .when(BankCommand::withdraw("10.01"))
        .then_expect_error_message("insufficient funds: balance 10.00, amount 10.01");
}

#[test]
fn a_missing_account_rejects_money_commands() {
    for command in [
        BankCommand::deposit("1"),
        BankCommand::withdraw("1"),
        BankCommand::CloseAccount,
    ] {
        AggregateTest::<BankAccount>::given_no_events()
            .when(command)
            .then_expect_error(BankError::AccountNotFound);
    }
}

#[test]
fn closing_needs_a_zero_balance_and_a_closed_account_rejects_everything() {
    AggregateTest::<BankAccount>::given(with_balance(5))
        .when(BankCommand::CloseAccount)
        .then_expect_error_message("cannot close an account with balance 0.05; withdraw it first");
    AggregateTest::<BankAccount>::given(opened())
        .when(BankCommand::CloseAccount)
        .then_expect(vec![BankEvent::AccountClosed])
        .then_state(|a| assert_eq!(a.status, AccountStatus::Closed));
    let closed = || {
        let mut events = opened();
        events.push(BankEvent::AccountClosed);
        events
    };
    for command in [
        BankCommand::deposit("1"),
        BankCommand::withdraw("1"),
        BankCommand::CloseAccount,
    ] {
        AggregateTest::<BankAccount>::given(closed())
            .when(command)
            .then_expect_error(BankError::AccountClosed);
    }
    AggregateTest::<BankAccount>::given(closed())
        .when(BankCommand::open("Alice"))
        .then_expect_error(BankError::AccountAlreadyExists);
}

#[test]
fn a_transfer_leg_already_applied_records_nothing() {
    let mut history = with_balance(500);
    history.push(BankEvent::MoneyWithdrawn {
        amount: cents(500),
        transfer_id: Some("t1".into()),
    });
    AggregateTest::<BankAccount>::given(history.clone())
        .when(BankCommand::Withdraw {
            amount: "5".into(),
            transfer_id: Some("t1".into()),
        })
        .then_expect(vec![]);
    // Even once the account is closed, the repeated leg is a no-op, not an error.
    history.push(BankEvent::AccountClosed);
    AggregateTest::<BankAccount>::given(history)
        .when(BankCommand::Withdraw {
            amount: "5".into(),
            transfer_id: Some("t1".into()),
        })
        .then_expect(vec![]);
}

#[test]
fn commands_and_events_have_the_json_shapes_a_js_app_sends() {
    let command: BankCommand =
        serde_json::from_value(json!({"type": "Deposit", "amount": "10.50"})).unwrap();
    assert_eq!(command, BankCommand::deposit("10.50"));
    let command: BankCommand = serde_json::from_value(
        json!({"type": "OpenAccount", "owner": "Alice", "initialDeposit": "5"}),
    )
    .unwrap();
    assert_eq!(
        command,
        BankCommand::OpenAccount {
            owner: "Alice".into(),
            initial_deposit: Some("5".into()),
            initial_balance: None,
        }
    );
    let command: BankCommand = serde_json::from_value(json!({"type": "CloseAccount"})).unwrap();
    assert_eq!(command, BankCommand::CloseAccount);
    let unknown = serde_json::from_value::<BankCommand>(json!({"type": "Deposit", "amt": "1"}));
    assert!(unknown
        .unwrap_err()
        .to_string()
        .contains("unknown field `amt`"));
    let float = serde_json::from_value::<BankCommand>(json!({"type": "Deposit", "amount": 1.5}));
    assert!(float.is_err(), "amounts must be strings, never floats");

    use chronik_core::DomainEvent;
    let event = BankEvent::MoneyWithdrawn {
        amount: cents(250),
        transfer_id: Some("t-9".into()),
    };
    assert_eq!(event.event_type(), "MoneyWithdrawn");
    assert_eq!(
        event.to_data().unwrap(),
        json!({"amount": 250, "transferId": "t-9"})
    );
    assert_eq!(
        BankEvent::AccountClosed.to_data().unwrap(),
        json!({}),
        "no type tag in the payload"
    );
}

// ------------------------------------------------------------ facade and transfers

#[test]
fn the_bank_fills_in_the_id_and_reports_rejections() {
    let (_, store) = store();
    let bank = Bank::new(Rc::clone(&store));
    block_on(async {
        assert_eq!(bank.account("acc-1").await.unwrap(), None);
        let ctx = CommandContext::new("c1");
        let account = bank
            .execute(
                "acc-1",
                &BankCommand::OpenAccount {
                    owner: "Alice".into(),
                    initial_deposit: Some("20".into()),
                    initial_balance: None,
                },
                &ctx,
            )
            .await
            .unwrap();
        assert_eq!(account.id, "acc-1");
        assert_eq!((account.balance, account.version), (cents(2000), 2));
        // A retried deposit (same command id, say after a lost answer) writes once.
        let retry = CommandContext::new("c2");
        for _ in 0..2 {
            let a = bank
                .execute("acc-1", &BankCommand::deposit("1"), &retry)
                .await
                .unwrap();
            assert_eq!(a.balance, cents(2100));
        }
        assert_eq!(store.len(), 3);
        // Opening again is refused, whatever the command id.
        let again = bank
            .execute("acc-1", &BankCommand::open("Alice"), &ctx)
            .await;
        assert!(matches!(
            again,
            Err(HandlerError::Rejected(BankError::AccountAlreadyExists))
        ));
        let err = bank
            .execute(
                "acc-1",
                &BankCommand::withdraw("25"),
                &CommandContext::default(),
            )
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            HandlerError::Rejected(BankError::InsufficientFunds { .. })
        ));
        let loaded = bank.account("acc-1").await.unwrap().unwrap();
        assert_eq!((loaded.id.as_str(), loaded.balance), ("acc-1", cents(2100)));
    });
}

async fn open(bank: &Bank<Rc<MemoryStore>>, id: &str, amount: &str) {
    bank.execute(
        id,
        &BankCommand::OpenAccount {
            owner: format!("owner of {id}"),
            initial_deposit: Some(amount.into()),
            initial_balance: None,
        },
        &CommandContext::default(),
    )
    .await
    .unwrap();
}

async fn balance(bank: &Bank<Rc<MemoryStore>>, id: &str) -> i64 {
    bank.account(id).await.unwrap().unwrap().balance.cents()
}

#[test]
fn a_transfer_moves_money_once_however_often_it_runs() {
    let (_, store) = store();
    let bank = Bank::new(Rc::clone(&store));
    block_on(async {
        open(&bank, "a", "100").await;
        open(&bank, "b", "5").await;
        let t = bank.transfer("t1", "a", "b", "30.25").await.unwrap();
        assert_eq!((t.id.as_str(), t.status), ("t1", TransferStatus::Completed));
        let events = store.len();
        for _ in 0..3 {
            let again = bank.transfer("t1", "a", "b", "30.25").await.unwrap();
            assert_eq!(again.status, TransferStatus::Completed);
        }
        assert_eq!(store.len(), events, "re-running wrote nothing");
        assert_eq!(balance(&bank, "a").await, 10_000 - 3025);
        assert_eq!(balance(&bank, "b").await, 500 + 3025);
        // The id is bound to its request.
        let reused = bank.transfer("t1", "a", "b", "1").await.unwrap_err();
        assert_eq!(
            reused.to_string(),
            "command rejected: transfer id already used for a -> b of 30.25; use a fresh transfer id"
        );
    });
}

#[test]
fn a_transfer_without_funds_fails_and_moves_nothing() {
    let (_, store) = store();
    let bank = Bank::new(Rc::clone(&store));
    block_on(async {
        open(&bank, "a", "10").await;
        open(&bank, "b", "10").await;
        let t = bank.transfer("t1", "a", "b", "10.01").await.unwrap();
        assert_eq!(t.status, TransferStatus::Failed);
        assert_eq!(
            t.reason.as_deref(),
            Some("insufficient funds: balance 10.00, amount 10.01")
        );
        assert_eq!(
            (balance(&bank, "a").await, balance(&bank, "b").await),
            (1000, 1000)
        );
        let err = bank.transfer("t2", "a", "a", "1").await.unwrap_err();
        assert!(err.to_string().contains("itself"), "{err}");
        let err = bank.transfer("t3", "a", "b", "1.001").await.unwrap_err();
        assert!(
            err.to_string().contains("more than two decimal places"),
            "{err}"
        );
    });
}

#[test]
fn a_transfer_to_a_closed_or_missing_account_is_refunded() {
    let (_, store) = store();
    let bank = Bank::new(Rc::clone(&store));
    block_on(async {
        open(&bank, "a", "50").await;
        bank.execute("c", &BankCommand::open("Carol"), &CommandContext::default())
            .await
            .unwrap();
        bank.execute("c", &BankCommand::CloseAccount, &CommandContext::default())
            .await
            .unwrap();
        for (id, target, reason) in [
            (
                "t1",
                "c",
                "target c: account is closed; it accepts no more commands",
            ),
            (
                "t2",
                "nobody",
                "target nobody: account does not exist; open it first",
            ),
        ] {
            let t = bank.transfer(id, "a", target, "20").await.unwrap();
            assert_eq!(t.status, TransferStatus::Refunded);
            assert_eq!(t.reason.as_deref(), Some(reason));
        }
        assert_eq!(balance(&bank, "a").await, 5000);
        let a = bank.account("a").await.unwrap().unwrap();
        // open + deposit, then a withdrawal and a refund per transfer.
        assert_eq!(a.version, 6);
        let types: Vec<String> = store
            .read_stream("transfer-t2", ReadStreamOptions::default())
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.event_type)
            .collect();
        assert_eq!(
            types,
            [
                "TransferRequested",
                "TransferDebited",
                "TransferCreditFailed",
                "TransferRefunded"
            ]
        );
    });
}

#[test]
fn a_transfer_interrupted_after_its_debit_resumes_without_debiting_again() {
    let (_, store) = store();
    let bank = Bank::new(Rc::clone(&store));
    block_on(async {
        open(&bank, "a", "100").await;
        open(&bank, "b", "0.01").await;
        // A crashed run: the transfer was requested and the source debited (with the
        // transfer id), but the process died before recording TransferDebited.
        store
            .append(
                "transfer-t1",
                ExpectedVersion::NoStream,
                vec![NewEvent::new(
                    "TransferRequested",
                    json!({"from": "a", "to": "b", "amount": 4000}),
                )],
            )
            .await
            .unwrap();
        bank.execute(
            "a",
            &BankCommand::Withdraw {
                amount: "40".into(),
                transfer_id: Some("t1".into()),
            },
            &CommandContext::new("transfer:t1:debit"),
        )
        .await
        .unwrap();
        // Meanwhile the source spent the rest, so a second debit would be refused.
        bank.execute(
            "a",
            &BankCommand::withdraw("60"),
            &CommandContext::default(),
        )
        .await
        .unwrap();
        let resumed = bank.resume_transfers().await.unwrap();
        assert_eq!(resumed.len(), 1);
        assert_eq!(resumed[0].status, TransferStatus::Completed);
        assert_eq!(
            (balance(&bank, "a").await, balance(&bank, "b").await),
            (0, 4001)
        );
        let debits = store
            .read_stream("account-a", ReadStreamOptions::default())
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.data["transferId"] == json!("t1"))
            .count();
        assert_eq!(debits, 1);
        assert!(bank.resume_transfers().await.unwrap().is_empty());
    });
}

#[test]
fn pending_transfers_lists_the_unfinished_ones_and_resume_pending_finishes_them() {
    let (clock, store) = store();
    let bank = Bank::new(Rc::clone(&store));
    block_on(async {
        open(&bank, "a", "100").await;
        open(&bank, "b", "1").await;
        // A finished transfer, and one a closed page left after its debit was recorded.
        bank.transfer("done", "a", "b", "10").await.unwrap();
        store
            .append(
                "transfer-t2",
                ExpectedVersion::NoStream,
                vec![NewEvent::new(
                    "TransferRequested",
                    json!({"from": "a", "to": "b", "amount": 2500}),
                )],
            )
            .await
            .unwrap();
        bank.execute(
            "a",
            &BankCommand::Withdraw {
                amount: "25".into(),
                transfer_id: Some("t2".into()),
            },
            &CommandContext::new("transfer:t2:debit"),
        )
        .await
        .unwrap();
        store
            .append(
                "transfer-t2",
                ExpectedVersion::Exact(1),
                vec![NewEvent::new("TransferDebited", json!({}))],
            )
            .await
            .unwrap();
        assert_eq!(
            (balance(&bank, "a").await, balance(&bank, "b").await),
            (6500, 1100),
            "the 25.00 is between the two accounts"
        );

        let mut pending = bank.projection(PendingTransfers, Rc::clone(&clock));
        pending.catch_up().await.unwrap();
        let listed: Vec<_> = pending.state().transfers.iter().collect();
        assert_eq!(
            listed,
            vec![(
                &"t2".to_string(),
                &PendingTransfer {
                    from: "a".into(),
                    to: "b".into(),
                    amount: cents(2500),
                    debited: true,
                }
            )]
        );

        let resumed = bank.resume_pending(pending.state()).await.unwrap();
        assert_eq!(resumed.len(), 1);
        assert_eq!(
            (resumed[0].id.as_str(), resumed[0].status),
            ("t2", TransferStatus::Completed)
        );
        assert_eq!(
            (balance(&bank, "a").await, balance(&bank, "b").await),
            (6500, 3600),
            "credited once, not debited again"
        );
        pending.catch_up().await.unwrap();
        assert!(pending.state().transfers.is_empty());
        assert!(bank
            .resume_pending(pending.state())
            .await
            .unwrap()
            .is_empty());
    });
}

// ------------------------------------------------------------ read models

#[test]
fn read_model_totals_past_the_maximum_saturate_and_become_exact_again() {
    let (clock, store) = store();
    let bank = Bank::new(Rc::clone(&store));
    block_on(async {
        open(&bank, "a", "90071992547409.91").await;
        open(&bank, "b", "90071992547409.91").await;
        let mut balances = bank.projection(AccountBalances, Rc::clone(&clock));
        let mut daily = bank.projection(DailySummary, Rc::clone(&clock));
        balances.catch_up().await.unwrap();
        daily.catch_up().await.unwrap();
        assert_eq!(balances.state().total, Money::MAX, "2 × MAX saturates");
        let day = daily.state().days.values().next().copied().unwrap();
        assert_eq!(
            (day.deposits, day.net, day.deposit_count),
            (Money::MAX, Money::MAX, 2)
        );
        bank.execute(
            "a",
            &BankCommand::withdraw("90071992547409.91"),
            &CommandContext::default(),
        )
        .await
        .unwrap();
        balances.catch_up().await.unwrap();
        assert_eq!(
            balances.state().total,
            Money::MAX,
            "exact again: only b is left"
        );
        bank.execute("b", &BankCommand::withdraw("1"), &CommandContext::default())
            .await
            .unwrap();
        balances.catch_up().await.unwrap();
        assert_eq!(balances.state().total.cents(), Money::MAX.cents() - 100);
        // The saved checkpoint agrees with a rebuild.
        let mut fresh = bank.projection(AccountBalances, Rc::clone(&clock));
        fresh.rebuild(|_| {}).await.unwrap();
        assert_eq!(fresh.state(), balances.state());
    });
}

#[test]
fn events_past_the_maximum_written_by_other_means_never_make_a_read_fail() {
    let (clock, store) = store();
    let bank = Bank::new(Rc::clone(&store));
    block_on(async {
        // An import or a raw append can hold what decide never records.
        store
            .append(
                "account-x",
                ExpectedVersion::NoStream,
                vec![
                    NewEvent::new("AccountOpened", json!({ "owner": "X" })),
                    NewEvent::new("MoneyDeposited", json!({ "amount": i64::MAX }))
                        .with_schema_version(2),
                    NewEvent::new("MoneyDeposited", json!({ "amount": i64::MAX }))
                        .with_schema_version(2),
                    NewEvent::new("MoneyWithdrawn", json!({ "amount": i64::MAX })),
                ],
            )
            .await
            .unwrap();
        let account = bank.account("x").await.unwrap().unwrap();
        assert_eq!(
            account.balance,
            Money::ZERO,
            "saturated at MAX, then MAX out"
        );
        let mut balances = bank.projection(AccountBalances, Rc::clone(&clock));
        let mut history = bank.projection(TransactionHistory, Rc::clone(&clock));
        let mut daily = bank.projection(DailySummary, Rc::clone(&clock));
        balances.catch_up().await.unwrap();
        history.catch_up().await.unwrap();
        daily.catch_up().await.unwrap();
        for status in [balances.status(), history.status(), daily.status()] {
            assert_eq!(status, &chronik_core::ProjectionStatus::CaughtUp);
        }
        let bounded = |m: Money| m.is_within_bounds();
        assert!(bounded(balances.state().total));
        assert!(history
            .state()
            .for_account("x")
            .all(|t| bounded(t.amount) && bounded(t.balance_after)));
        assert!(daily
            .state()
            .days
            .values()
            .all(|d| bounded(d.deposits) && bounded(d.withdrawals) && bounded(d.net)));
    });
}

#[test]
fn read_models_show_balances_history_with_running_balance_and_daily_totals() {
    let (clock, store) = store();
    let bank = Bank::new(Rc::clone(&store));
    block_on(async {
        open(&bank, "a", "100").await; // day 1
        clock.advance(DAY);
        bank.execute(
            "a",
            &BankCommand::withdraw("30"),
            &CommandContext::default(),
        )
        .await
        .unwrap();
        open(&bank, "b", "1").await;
        bank.transfer("t1", "a", "b", "20").await.unwrap();

        let mut balances = bank.projection(AccountBalances, Rc::clone(&clock));
        balances.catch_up().await.unwrap();
        let state = balances.state();
        assert_eq!(state.accounts["a"].balance, cents(5000));
        assert_eq!(state.accounts["b"].balance, cents(2100));
        assert_eq!(state.accounts["b"].owner, "owner of b");
        assert_eq!(state.total, cents(7100));

        let mut history = bank.projection(TransactionHistory, Rc::clone(&clock));
        history.catch_up().await.unwrap();
        let lines: Vec<_> = history
            .state()
            .for_account("a")
            .map(|t| (t.kind, t.amount.cents(), t.balance_after.cents()))
            .collect();
        assert_eq!(
            lines,
            [
                (TransactionKind::Withdrawal, 2000, 5000),
                (TransactionKind::Withdrawal, 3000, 7000),
                (TransactionKind::Deposit, 10_000, 10_000),
            ],
            "newest first, with the balance after each"
        );
        assert_eq!(
            history
                .state()
                .for_account("a")
                .next()
                .unwrap()
                .transfer_id
                .as_deref(),
            Some("t1")
        );

        let mut daily = bank.projection(DailySummary, Rc::clone(&clock));
        daily.catch_up().await.unwrap();
        let days: Vec<_> = daily
            .state()
            .days
            .iter()
            .map(|(d, s)| {
                (
                    d.as_str(),
                    s.deposits.cents(),
                    s.deposit_count,
                    s.withdrawals.cents(),
                    s.withdrawal_count,
                    s.net.cents(),
                )
            })
            .collect();
        assert_eq!(
            days,
            [
                ("2023-11-14", 10_000, 1, 0, 0, 10_000),
                ("2023-11-15", 2100, 2, 5000, 2, -2900),
            ]
        );
        // The transfer stream is not a bank account: it never reaches the read models.
        assert!(!balances.state().accounts.contains_key("t1"));
    });
}

// ------------------------------------------------------------ schema evolution

#[test]
fn a_v1_amount_past_the_maximum_is_read_as_the_maximum() {
    let (clock, store) = store();
    block_on(async {
        store
            .append(
                "account-old",
                ExpectedVersion::NoStream,
                vec![
                    NewEvent::new("AccountOpened", json!({"owner": "Olga"})),
                    NewEvent::new("MoneyDeposited", json!({"amount": "92233720368547758.07"})),
                ],
            )
            .await
            .unwrap();
        let bank = Bank::new(Rc::clone(&store));
        assert_eq!(
            bank.account("old").await.unwrap().unwrap().balance,
            Money::MAX
        );
        let mut balances = bank.projection(AccountBalances, Rc::clone(&clock));
        balances.catch_up().await.unwrap();
        assert_eq!(balances.state().total, Money::MAX);
        // A malformed v1 amount is still a loud error.
        store
            .append(
                "account-bad",
                ExpectedVersion::NoStream,
                vec![NewEvent::new("MoneyDeposited", json!({"amount": "ten"}))],
            )
            .await
            .unwrap();
        assert!(bank.account("bad").await.is_err());
    });
}

#[test]
fn v1_deposits_written_directly_are_read_as_v2_by_the_handler_and_the_read_models() {
    let (clock, store) = store();
    block_on(async {
        // As an old release wrote them: MoneyDeposited v1 with a decimal-string amount.
        store
            .append(
                "account-old",
                ExpectedVersion::NoStream,
                vec![
                    NewEvent::new("AccountOpened", json!({"owner": "Olga"})),
                    NewEvent::new("MoneyDeposited", json!({"amount": "10.5"})),
                    NewEvent::new("MoneyDeposited", json!({"amount": "0.25"})),
                    NewEvent::new("MoneyWithdrawn", json!({"amount": 100})),
                ],
            )
            .await
            .unwrap();
        let bank = Bank::new(Rc::clone(&store));
        let account = bank.account("old").await.unwrap().unwrap();
        assert_eq!(account.balance, cents(975));
        // New deposits are written as v2 next to the old ones.
        let after = bank
            .execute(
                "old",
                &BankCommand::deposit("1"),
                &CommandContext::default(),
            )
            .await
            .unwrap();
        assert_eq!(after.balance, cents(1075));
        let stored = store
            .read_stream("account-old", ReadStreamOptions::default())
            .await
            .unwrap();
        assert_eq!(
            (stored[1].schema_version, &stored[1].data),
            (1, &json!({"amount": "10.5"})),
            "stored events are never rewritten"
        );
        assert_eq!(
            (stored[4].schema_version, &stored[4].data),
            (2, &json!({"amount": 100}))
        );

        let mut history = bank.projection(TransactionHistory, Rc::clone(&clock));
        history.catch_up().await.unwrap();
        let balances: Vec<i64> = history
            .state()
            .for_account("old")
            .map(|t| t.balance_after.cents())
            .collect();
        assert_eq!(balances, [1075, 975, 1075, 1050]);

        // Without the upcaster a read model stops at the old event, saying why.
        let mut raw = ProjectionRunner::new(Rc::clone(&store), AccountBalances, Rc::clone(&clock));
        raw.catch_up().await.unwrap();
        let status = serde_json::to_value(raw.status()).unwrap();
        assert_eq!(status["status"], json!("failed"));
        assert_eq!(status["position"], json!(2));
        assert!(status["error"]
            .as_str()
            .unwrap()
            .contains("read bank events through bank_upcasters()"));

        // A malformed v1 amount is an upcast error naming the event.
        store
            .append(
                "account-bad",
                ExpectedVersion::NoStream,
                vec![
                    NewEvent::new("AccountOpened", json!({"owner": "B"})),
                    NewEvent::new("MoneyDeposited", json!({"amount": "1.234"})),
                ],
            )
            .await
            .unwrap();
        let err = bank.account("bad").await.unwrap_err().to_string();
        assert!(err.contains("more than two decimal places"), "{err}");
    });
}

#[test]
fn transfer_events_are_plain_json() {
    use chronik_core::DomainEvent;
    let e = TransferEvent::TransferRequested {
        from: "a".into(),
        to: "b".into(),
        amount: cents(5),
    };
    assert_eq!(
        e.to_data().unwrap(),
        json!({"from": "a", "to": "b", "amount": 5})
    );
}

#[test]
fn transfer_event_types_name_every_transfer_event() {
    use chronik_core::DomainEvent;
    let all = [
        TransferEvent::TransferRequested {
            from: "a".into(),
            to: "b".into(),
            amount: cents(1),
        },
        TransferEvent::TransferDebited,
        TransferEvent::TransferCompleted,
        TransferEvent::TransferCreditFailed { reason: "x".into() },
        TransferEvent::TransferRefunded,
        TransferEvent::TransferFailed { reason: "x".into() },
    ];
    let names: Vec<_> = all.iter().map(|e| e.event_type()).collect();
    assert_eq!(names, TransferEvent::TYPES);
}
