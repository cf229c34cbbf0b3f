//! Bank read models: balances, per-account history, per-day totals.
//!
//! Run them with a [`ProjectionRunner`](chronik_core::ProjectionRunner) over
//! [`bank_upcasters`](super::bank_upcasters), so that `MoneyDeposited` events stored with
//! schema version 1 are read as version 2.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use super::account::{AccountStatus, BankAccount, BankEvent};
use super::transfer::{Transfer, TransferEvent};
use crate::codec;
use crate::money::Money;
use chronik_core::aggregate::{Aggregate, DomainEvent};
use chronik_core::event::RecordedEvent;
use chronik_core::projection::Projection;
use chronik_core::stats::utc_date;

fn decode(event: &RecordedEvent) -> Result<(String, BankEvent), String> {
    let account = codec::id_in(&event.stream_id, BankAccount::CATEGORY);
    BankEvent::from_data_ref(&event.event_type, &event.data)
        .map(|e| (account, e))
        .map_err(|e| {
            format!(
                "cannot decode {} (schema version {}) at position {}: {e}; read bank events through bank_upcasters()",
                event.event_type, event.schema_version, event.position
            )
        })
}

fn bank_event_types() -> Option<Vec<String>> {
    Some(BankEvent::TYPES.iter().map(|t| t.to_string()).collect())
}

/// One account in [`AccountBalances`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountBalance {
    /// The owner's name.
    pub owner: String,
    /// Balance in cents, within ±[`Money::MAX`] (`decide` keeps a balance within
    /// [0, `MAX`]; a log written by other means saturates there).
    pub balance: Money,
    /// Open or closed.
    pub status: AccountStatus,
    /// The account's stream version.
    pub version: u64,
    /// When the last event was recorded (ms since the Unix epoch).
    pub last_updated: i64,
}

/// The state of [`AccountBalances`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountBalancesState {
    /// Every account by id.
    pub accounts: BTreeMap<String, AccountBalance>,
    /// The sum of all balances, saturating at [`Money::MAX`] (each balance is within
    /// it, but many accounts together can pass it); exact whenever the sum is within
    /// ±`MAX`.
    pub total: Money,
}

impl AccountBalancesState {
    /// Moves `total` by `delta` cents. While the total is strictly within ±`MAX` it is
    /// exact and a step suffices; once it sits at a bound (saturated) it is summed
    /// again from the balances, so that it becomes exact again as soon as it can.
    fn update_total(&mut self, delta: i128) {
        let max = i128::from(Money::MAX.cents());
        let current = i128::from(self.total.cents());
        let exact = if current.abs() < max {
            current + delta
        } else {
            // Each balance is within ±MAX, so no realistic number of accounts overflows.
            self.accounts
                .values()
                .map(|a| i128::from(a.balance.cents()))
                .fold(0_i128, i128::saturating_add)
        };
        self.total = clamp_cents(exact);
    }
}

/// `event` with its amount brought within ±[`Money::MAX`]: only events written by
/// other means than `decide` can hold a larger one.
fn clamp_amounts(event: BankEvent) -> BankEvent {
    match event {
        BankEvent::MoneyDeposited {
            amount,
            transfer_id,
        } => BankEvent::MoneyDeposited {
            amount: amount.clamped(),
            transfer_id,
        },
        BankEvent::AccountOpened {
            owner,
            initial_balance,
        } => BankEvent::AccountOpened {
            owner,
            initial_balance: initial_balance.map(Money::clamped),
        },
        BankEvent::MoneyWithdrawn {
            amount,
            transfer_id,
        } => BankEvent::MoneyWithdrawn {
            amount: amount.clamped(),
            transfer_id,
        },
        other => other,
    }
}

/// `cents` as an amount, saturating at ±[`Money::MAX`].
fn clamp_cents(cents: i128) -> Money {
    let max = i128::from(Money::MAX.cents());
    Money::from_cents(i64::try_from(cents.clamp(-max, max)).unwrap_or(0))
}

/// Read model: the balance and status of every account.
#[derive(Debug, Clone, Copy, Default)]
pub struct AccountBalances;

impl Projection for AccountBalances {
    type State = AccountBalancesState;
    type Error = String;

    fn name(&self) -> &str {
        "AccountBalances"
    }

    fn event_types(&self) -> Option<Vec<String>> {
        bank_event_types()
    }

    fn apply(&self, state: &mut Self::State, event: &RecordedEvent) -> Result<(), String> {
        let (id, e) = decode(event)?;
        let e = clamp_amounts(e);
        let account = state.accounts.entry(id).or_default();
        account.version = event.version;
        account.last_updated = event.recorded_at;
        match e {
            BankEvent::AccountOpened {
                owner,
                initial_balance,
            } => {
                account.owner = owner;
                account.status = AccountStatus::Open;
                if let Some(amount) = initial_balance {
                    account.balance = account.balance.saturating_add(amount);
                    state.update_total(i128::from(amount.cents()));
                }
            }
            BankEvent::MoneyDeposited { amount, .. } => {
                account.balance = account.balance.saturating_add(amount);
                state.update_total(i128::from(amount.cents()));
            }
            BankEvent::MoneyWithdrawn { amount, .. } => {
                account.balance = account.balance.saturating_sub(amount);
                state.update_total(-i128::from(amount.cents()));
            }
            BankEvent::AccountClosed => account.status = AccountStatus::Closed,
        }
        Ok(())
    }
}

/// Deposit or withdrawal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TransactionKind {
    /// Money came in.
    Deposit,
    /// Money went out.
    Withdrawal,
}

/// One line of an account's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Transaction {
    /// Global position of the event.
    pub position: u64,
    /// The account's stream version of the event.
    pub version: u64,
    /// Deposit or withdrawal.
    pub kind: TransactionKind,
    /// Amount in cents (positive; brought within [`Money::MAX`]).
    pub amount: Money,
    /// The balance right after this transaction, saturating at ±[`Money::MAX`] (only a
    /// log written by other means than `decide` reaches it).
    pub balance_after: Money,
    /// When it was recorded (ms since the Unix epoch).
    pub at: i64,
    /// The transfer it belongs to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer_id: Option<String>,
}

/// The state of [`TransactionHistory`]: per account, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransactionHistoryState {
    /// Per account id, its transactions, newest first.
    pub accounts: BTreeMap<String, VecDeque<Transaction>>,
}

impl TransactionHistoryState {
    /// The transactions of `account`, newest first (empty for an unknown account).
    pub fn for_account(&self, account: &str) -> impl Iterator<Item = &Transaction> {
        self.accounts.get(account).into_iter().flatten()
    }
}

/// Read model: every deposit and withdrawal per account, newest first, with the running
/// balance after each.
#[derive(Debug, Clone, Copy, Default)]
pub struct TransactionHistory;

impl Projection for TransactionHistory {
    type State = TransactionHistoryState;
    type Error = String;

    fn name(&self) -> &str {
        "TransactionHistory"
    }

    fn event_types(&self) -> Option<Vec<String>> {
        Some(vec![
            "AccountOpened".into(),
            "MoneyDeposited".into(),
            "MoneyWithdrawn".into(),
        ])
    }

    fn apply(&self, state: &mut Self::State, event: &RecordedEvent) -> Result<(), String> {
        let (id, e) = decode(event)?;
        let (kind, amount, transfer_id) = match e {
            // An opening balance is the account's first deposit.
            BankEvent::AccountOpened {
                initial_balance: Some(amount),
                ..
            } => (TransactionKind::Deposit, amount, None),
            BankEvent::MoneyDeposited {
                amount,
                transfer_id,
            } => (TransactionKind::Deposit, amount, transfer_id),
            BankEvent::MoneyWithdrawn {
                amount,
                transfer_id,
            } => (TransactionKind::Withdrawal, amount, transfer_id),
            _ => return Ok(()),
        };
        let amount = amount.clamped();
        let lines = state.accounts.entry(id).or_default();
        let before = lines.front().map_or(Money::ZERO, |t| t.balance_after);
        let balance_after = match kind {
            TransactionKind::Deposit => before.saturating_add(amount),
            TransactionKind::Withdrawal => before.saturating_sub(amount),
        };
        lines.push_front(Transaction {
            position: event.position,
            version: event.version,
            kind,
            amount,
            balance_after,
            at: event.recorded_at,
            transfer_id,
        });
        Ok(())
    }
}

/// Totals of one UTC day in [`DailySummary`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DaySummary {
    /// Sum of deposits, in cents, saturating at [`Money::MAX`].
    pub deposits: Money,
    /// Sum of withdrawals, in cents, saturating at [`Money::MAX`].
    pub withdrawals: Money,
    /// Number of deposits.
    pub deposit_count: u64,
    /// Number of withdrawals.
    pub withdrawal_count: u64,
    /// Deposits minus withdrawals, exact while `deposits` and `withdrawals` are (and
    /// within ±[`Money::MAX`]).
    pub net: Money,
}

/// The state of [`DailySummary`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DailySummaryState {
    /// Per UTC day (`YYYY-MM-DD` of `recorded_at`), the totals.
    pub days: BTreeMap<String, DaySummary>,
}

/// Read model: per UTC day, deposits, withdrawals, their counts and the net change.
#[derive(Debug, Clone, Copy, Default)]
pub struct DailySummary;

impl Projection for DailySummary {
    type State = DailySummaryState;
    type Error = String;

    fn name(&self) -> &str {
        "DailySummary"
    }

    fn event_types(&self) -> Option<Vec<String>> {
        Some(vec![
            "AccountOpened".into(),
            "MoneyDeposited".into(),
            "MoneyWithdrawn".into(),
        ])
    }

    fn apply(&self, state: &mut Self::State, event: &RecordedEvent) -> Result<(), String> {
        let (_, e) = decode(event)?;
        let e = clamp_amounts(e);
        if matches!(
            e,
            BankEvent::AccountOpened {
                initial_balance: None,
                ..
            } | BankEvent::AccountClosed
        ) {
            return Ok(()); // moves no money: no day entry
        }
        let day = state.days.entry(utc_date(event.recorded_at)).or_default();
        match e {
            BankEvent::AccountOpened {
                initial_balance: Some(amount),
                ..
            }
            | BankEvent::MoneyDeposited { amount, .. } => {
                day.deposits = day.deposits.saturating_add(amount);
                day.deposit_count = day.deposit_count.saturating_add(1);
            }
            BankEvent::MoneyWithdrawn { amount, .. } => {
                day.withdrawals = day.withdrawals.saturating_add(amount);
                day.withdrawal_count = day.withdrawal_count.saturating_add(1);
            }
            _ => return Ok(()),
        }
        day.net =
            clamp_cents(i128::from(day.deposits.cents()) - i128::from(day.withdrawals.cents()));
        Ok(())
    }
}

/// A transfer in [`PendingTransfers`]: asked for and not finished.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingTransfer {
    /// The source account id.
    pub from: String,
    /// The target account id.
    pub to: String,
    /// Amount in cents.
    pub amount: Money,
    /// Whether the source was debited already (the money is between the two accounts).
    pub debited: bool,
}

/// The state of [`PendingTransfers`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingTransfersState {
    /// Every unfinished transfer by id.
    pub transfers: BTreeMap<String, PendingTransfer>,
}

/// Read model: the transfers that were asked for and have not completed, failed or been
/// refunded: the process manager's to-do list. A transfer stays here when the page running
/// it closed mid-way; [`Bank::resume_pending`](super::Bank::resume_pending) finishes them.
/// It reads only transfer events, so keeping it caught up is cheap.
#[derive(Debug, Clone, Copy, Default)]
pub struct PendingTransfers;

impl Projection for PendingTransfers {
    type State = PendingTransfersState;
    type Error = String;

    fn name(&self) -> &str {
        "PendingTransfers"
    }

    fn event_types(&self) -> Option<Vec<String>> {
        Some(TransferEvent::TYPES.iter().map(|t| t.to_string()).collect())
    }

    fn apply(&self, state: &mut Self::State, event: &RecordedEvent) -> Result<(), String> {
        let id = codec::id_in(&event.stream_id, Transfer::CATEGORY);
        let decoded =
            TransferEvent::from_data_ref(&event.event_type, &event.data).map_err(|e| {
                format!(
                    "cannot decode {} at position {}: {e}",
                    event.event_type, event.position
                )
            })?;
        match decoded {
            TransferEvent::TransferRequested { from, to, amount } => {
                state.transfers.insert(
                    id,
                    PendingTransfer {
                        from,
                        to,
                        amount: amount.clamped(),
                        debited: false,
                    },
                );
            }
            TransferEvent::TransferDebited => {
                if let Some(pending) = state.transfers.get_mut(&id) {
                    pending.debited = true;
                }
            }
            TransferEvent::TransferCreditFailed { .. } => {}
            TransferEvent::TransferCompleted
            | TransferEvent::TransferRefunded
            | TransferEvent::TransferFailed { .. } => {
                state.transfers.remove(&id);
            }
        }
        Ok(())
    }
}
