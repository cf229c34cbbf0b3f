//! The bank: account commands and transfers through `chronik_examples`' [`Bank`] facade,
//! and its read models (balances, per-account history, per-day totals, pending
//! transfers).
//!
//! The read models are the app's one [`ProjectionHub`](chronik_core::ProjectionHub)'s
//! runners (see [`super::projections`]): every read first catches the read model it reads
//! up on the events appended since (here or in another tab) and saves its checkpoint,
//! so opening the app with a large log never replays it from the start, and the
//! balances never wait for the other read models.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use chronik_core::{utc_date, CommandContext, IdSource};
use chronik_examples::bank::TransferSteps;
use chronik_examples::bank::{
    AccountBalancesState, BankAccount, BankCommand, BankError, DailySummaryState, DaySummary,
    PendingTransfersState, Transaction, TransactionHistoryState, TransactionKind, Transfer,
};
use chronik_examples::commands::{bank_command, ReplicaTransfers};
use chronik_examples::{Bank, Money};
use chronik_idb::RandomUuids;

use super::AppStore;

use super::projections::state;
use super::AppError;
use super::{changed, store};

type Store = Rc<AppStore>;

/// The bank over the current store, made once per page session (and again when the
/// store is reopened, after the database was cleared).
struct Session {
    store: Store,
    bank: Bank<Store>,
    /// Whether this session looked for interrupted transfers already.
    resumed: Cell<bool>,
}

thread_local! {
    static SESSION: RefCell<Option<Rc<Session>>> = const { RefCell::new(None) };
    static COUNTER: Cell<u64> = const { Cell::new(0) };
}

async fn session() -> Result<Rc<Session>, AppError> {
    let store = store().await?;
    if let Some(session) = SESSION.with(|s| s.borrow().clone()) {
        if Rc::ptr_eq(&session.store, &store) {
            return Ok(session);
        }
    }
    let session = Rc::new(Session {
        bank: Bank::new(store.clone()),
        store,
        resumed: Cell::new(false),
    });
    // Two callers may race to make it; keep whichever finished first for this store.
    Ok(SESSION.with(|s| {
        let mut slot = s.borrow_mut();
        match &*slot {
            Some(kept) if Rc::ptr_eq(&kept.store, &session.store) => kept.clone(),
            _ => slot.insert(session).clone(),
        }
    }))
}

/// A fresh id, unique across tabs: the time, this tab's counter and a random part.
fn fresh_id(prefix: &str) -> String {
    let n = COUNTER.with(|c| {
        c.set(c.get() + 1);
        c.get()
    });
    let random = RandomUuids.next_id();
    format!(
        "{prefix}-{}-{n}-{}",
        js_sys::Date::now() as i64,
        &random[..8]
    )
}

/// A new transfer id, for a new intent to move money.
pub fn new_transfer_id() -> String {
    fresh_id("t")
}

/// Handles `command` for `account` and returns the account after it. A rejected command
/// records nothing and comes back as its reason.
pub async fn execute(account: &str, command: BankCommand) -> Result<BankAccount, AppError> {
    let account = account.trim();
    if account.is_empty() {
        return Err(AppError::invalid("enter an account id"));
    }
    let session = session().await?;
    let context = CommandContext::new(fresh_id("cmd"));
    if let Some(mode) = super::sync::mode().await? {
        // Syncing: kept by name in the outbox, to be decided again on the server's
        // state if another device wrote to the account first.
        mode.execute(bank_command(account, &command, &context))
            .await
            .map_err(AppError::from)?;
        changed();
        return session
            .bank
            .account(account)
            .await
            .map_err(AppError::from)?
            .ok_or_else(|| AppError::store(format!("{account}: {}", BankError::AccountNotFound)));
    }
    let state = session
        .bank
        .execute(account, &command, &context)
        .await
        .map_err(AppError::from)?;
    changed();
    Ok(state)
}

/// Runs transfer `id` of `amount` from `from` to `to` and returns its outcome
/// (completed, or refunded when the target refused the credit).
///
/// What the source account would refuse (no such account, closed, not enough money) and
/// bad input are refused here, before anything is recorded. Past these checks the
/// transfer records its steps in `transfer-{id}`; running it again with the same id
/// skips the checks (the source may already be debited), continues from its last step
/// and never moves money twice.
pub async fn transfer(id: &str, from: &str, to: &str, amount: &str) -> Result<Transfer, AppError> {
    let (from, to) = (from.trim(), to.trim());
    if from.is_empty() {
        return Err(AppError::invalid("enter the account to transfer from"));
    }
    if to.is_empty() {
        return Err(AppError::invalid("enter the account to transfer to"));
    }
    if from == to {
        return Err(AppError::invalid(
            "cannot transfer from an account to itself",
        ));
    }
    let cents = Money::parse(amount)
        .map_err(|e| AppError::invalid(BankError::InvalidAmount(e).to_string()))?;
    let session = session().await?;
    // A transfer already under way only continues: its source may be debited already.
    let under_way = session
        .bank
        .transfer_status(id)
        .await
        .map_err(AppError::from)?
        .is_some();
    if !under_way {
        check_source(&session.bank, from, cents).await?;
    }
    let result = match super::sync::mode().await? {
        // Syncing: every step kept by name and decided again on the server's state.
        Some(mode) => {
            let done = ReplicaTransfers::new(mode.replica())
                .transfer(id, from, to, amount)
                .await;
            mode.wake();
            done
        }
        None => session.bank.transfer(id, from, to, amount).await,
    };
    // Even a failed run may have recorded steps.
    changed();
    result.map_err(AppError::from)
}

/// Refuses a transfer of `amount` from `from` that the account would refuse to pay.
async fn check_source(bank: &Bank<Store>, from: &str, amount: Money) -> Result<(), AppError> {
    match bank.account(from).await.map_err(AppError::from)? {
        None => Err(AppError::refused(format!(
            "{from}: {}",
            BankError::AccountNotFound
        ))),
        Some(account) if !account.is_open() => Err(AppError::refused(format!(
            "{from}: {}",
            BankError::AccountClosed
        ))),
        Some(account) if account.balance < amount => Err(AppError::refused(
            BankError::InsufficientFunds {
                balance: account.balance,
                amount,
            }
            .to_string(),
        )),
        Some(_) => Ok(()),
    }
}

/// Finishes the transfers a closed page (this app in another tab, or before a reload) left
/// mid-way, once per page session; returns how many it finished. Each continues from its
/// last recorded step, so a debited source is not debited again; another tab resuming the
/// same transfer at the same time is harmless for the same reason.
pub async fn resume_interrupted() -> Result<usize, AppError> {
    let session = session().await?;
    if session.resumed.replace(true) {
        return Ok(0);
    }
    let pending: PendingTransfersState = state("PendingTransfers").await?;
    if pending.transfers.is_empty() {
        return Ok(0);
    }
    let result = match super::sync::mode().await? {
        Some(mode) => {
            let done = ReplicaTransfers::new(mode.replica())
                .resume_pending(&pending)
                .await;
            mode.wake();
            done
        }
        None => session.bank.resume_pending(&pending).await,
    };
    changed();
    Ok(result.map_err(AppError::from)?.len())
}

/// Every account's owner, status and balance, and the total of all balances.
pub async fn balances() -> Result<AccountBalancesState, AppError> {
    state("AccountBalances").await
}

/// The deposits and withdrawals of `account`, newest first, with the balance after each.
pub async fn history(account: &str) -> Result<Vec<Transaction>, AppError> {
    let history: TransactionHistoryState = state("TransactionHistory").await?;
    Ok(history.for_account(account).cloned().collect())
}

/// Per UTC day (newest first), the deposits and withdrawals of all accounts.
pub async fn daily_summary() -> Result<Vec<(String, DaySummary)>, AppError> {
    let daily: DailySummaryState = state("DailySummary").await?;
    Ok(daily.days.into_iter().rev().collect())
}

/// Per UTC day (newest first), the totals of one account's `transactions` (newest first,
/// as [`history`] returns them): the [`DailySummary`] figures for that account alone.
pub fn days_of(transactions: &[Transaction]) -> Vec<(String, DaySummary)> {
    let mut days: Vec<(String, DaySummary)> = Vec::new();
    for t in transactions {
        let day = utc_date(t.at);
        if days.last().map(|(d, _)| d) != Some(&day) {
            days.push((day, DaySummary::default()));
        }
        let Some((_, summary)) = days.last_mut() else {
            continue;
        };
        match t.kind {
            TransactionKind::Deposit => {
                summary.deposits = summary.deposits.saturating_add(t.amount);
                summary.deposit_count += 1;
                summary.net = summary.net.saturating_add(t.amount);
            }
            TransactionKind::Withdrawal => {
                summary.withdrawals = summary.withdrawals.saturating_add(t.amount);
                summary.withdrawal_count += 1;
                summary.net = summary.net.saturating_sub(t.amount);
            }
        }
    }
    days
}
