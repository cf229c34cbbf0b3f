//! The bank-account domain (seeds 000, 001, 004): accounts, transfers as a process
//! manager, read models, and the `MoneyDeposited` v1 → v2 schema evolution.
//!
//! Streams: `account-{accountId}` ([`BankAccount`]) and `transfer-{transferId}`
//! ([`Transfer`]).

mod account;
mod projections;
mod transfer;

pub use account::{AccountStatus, BankAccount, BankCommand, BankError, BankEvent};
pub use projections::{
    AccountBalance, AccountBalances, AccountBalancesState, DailySummary, DailySummaryState,
    DaySummary, PendingTransfer, PendingTransfers, PendingTransfersState, Transaction,
    TransactionHistory, TransactionHistoryState, TransactionKind,
};
pub use transfer::{Transfer, TransferCommand, TransferError, TransferEvent, TransferStatus};

use serde_json::{json, Value};

use crate::money::{Money, MoneyError};
use chronik_core::aggregate::Aggregate;
use chronik_core::clock::Clock;
use chronik_core::handler::{CommandContext, CommandHandler, HandlerError};
use chronik_core::projection::{Projection, ProjectionRunner};
use chronik_core::store::EventStore;
use chronik_core::upcast::Upcasters;

/// The upcasters of the bank domain: `MoneyDeposited` schema version 1 stored `amount`
/// as a decimal string (`{"amount": "10.50"}`); version 2 stores integer cents
/// (`{"amount": 1050}`). A version 1 amount past [`Money::MAX`] is read as `MAX`.
pub fn bank_upcasters() -> Upcasters {
    Upcasters::new().register("MoneyDeposited", 1, money_deposited_v1_to_v2)
}

/// The `MoneyDeposited` step from version 1 to 2.
fn money_deposited_v1_to_v2(mut data: Value) -> Result<Value, String> {
    let amount = data
        .get("amount")
        .and_then(Value::as_str)
        .ok_or("v1 MoneyDeposited needs a decimal string 'amount'")?;
    let cents = match Money::parse(amount) {
        Ok(money) => money.cents(),
        // Stored before amounts were bounded: read as the maximum rather than make the
        // account and every read model unreadable.
        Err(MoneyError::Overflow(_)) => Money::MAX.cents(),
        Err(e) => return Err(e.to_string()),
    };
    data["amount"] = json!(cents);
    Ok(data)
}

/// Why [`Bank::transfer`] could not run. Business outcomes (insufficient funds, a closed
/// target) are not errors: they end the transfer as
/// [`Failed`](TransferStatus::Failed) or [`Refunded`](TransferStatus::Refunded).
#[derive(Debug, thiserror::Error)]
pub enum TransferRunError {
    /// The amount is not acceptable. Fix it and retry with the same transfer id.
    #[error("invalid amount: {0}")]
    InvalidAmount(#[from] MoneyError),
    /// The transfer stream refused the step (same account, reused id); see
    /// [`TransferError`]. Store failures are here too: the transfer stopped where its
    /// stream says and re-running it with the same id continues from there.
    #[error(transparent)]
    Transfer(#[from] HandlerError<TransferError>),
    /// An account could not be loaded or written (store failure, undecodable event).
    /// Re-run the transfer with the same id once the store is healthy.
    #[error("account step failed: {0}")]
    Account(HandlerError<BankError>),
    /// The target refused the credit and then the source refused the refund (it was
    /// closed meanwhile). The money is held by the transfer; reopen nothing, but re-run
    /// the transfer once the source can take deposits, or settle it by hand.
    #[error("refund to the source failed: {0}")]
    RefundRejected(String),
    /// A replica could not record a step (see
    /// [`ReplicaTransfers`](crate::commands::ReplicaTransfers)): its store failed, or a
    /// recorded step was refused on the replica's view. Re-run the transfer with the same
    /// id: it continues from the step its stream shows.
    #[error("the replica could not record the step: {0}")]
    Replica(chronik_core::sync::ExecuteError),
}

/// How a transfer's steps are carried out: [`Bank`] runs them on its store through its
/// handlers; [`ReplicaTransfers`](crate::commands::ReplicaTransfers) records them as
/// named commands of a sync replica, so that each is decided again on the server's
/// state. [`run_transfer`] is the one process manager over either.
#[allow(async_fn_in_trait)] // deliberate: no `Send` bound, like `EventStore`
pub trait TransferSteps {
    /// Runs an account leg (a withdrawal or deposit carrying the transfer id):
    /// `Ok(Ok(()))` done (now or before), `Ok(Err(reason))` the account refused.
    async fn leg(
        &self,
        account_id: &str,
        command: &BankCommand,
        context: &CommandContext,
    ) -> Result<Result<(), String>, TransferRunError>;

    /// Records `command` in transfer `transfer_id`'s stream and returns the transfer
    /// after it.
    async fn record(
        &self,
        transfer_id: &str,
        command: &TransferCommand,
        context: &CommandContext,
    ) -> Result<Transfer, TransferRunError>;

    /// Moves `amount` (a decimal string) from `from` to `to` as transfer `transfer_id`:
    /// [`run_transfer`] over these steps (see [`Bank::transfer`]); safe to re-run with
    /// the same arguments.
    async fn transfer(
        &self,
        transfer_id: &str,
        from: &str,
        to: &str,
        amount: &str,
    ) -> Result<Transfer, TransferRunError>
    where
        Self: Sized,
    {
        run_transfer(self, transfer_id, from, to, amount).await
    }
}

/// The transfer process manager over `steps` (see [`Bank::transfer`]): it continues from
/// the last recorded step and returns the finished transfer.
pub async fn run_transfer<X: TransferSteps>(
    steps: &X,
    transfer_id: &str,
    from: &str,
    to: &str,
    amount: &str,
) -> Result<Transfer, TransferRunError> {
    let cents = Money::parse(amount)?;
    let amount = cents.to_string();
    let step = |name: &str| {
        CommandContext::new(format!("transfer:{transfer_id}:{name}"))
            .correlated_with(Transfer::stream_id(transfer_id))
    };
    let request = TransferCommand::Request {
        from: from.to_string(),
        to: to.to_string(),
        amount: cents,
    };
    let mut transfer = steps
        .record(transfer_id, &request, &step("requested"))
        .await?;
    loop {
        let leg = |deposit: bool| {
            let (amount, transfer_id) = (amount.clone(), Some(transfer_id.to_string()));
            if deposit {
                BankCommand::Deposit {
                    amount,
                    transfer_id,
                }
            } else {
                BankCommand::Withdraw {
                    amount,
                    transfer_id,
                }
            }
        };
        let next = match transfer.status {
            TransferStatus::NotStarted | TransferStatus::Requested => {
                match steps.leg(from, &leg(false), &step("debit")).await? {
                    Ok(()) => (TransferCommand::MarkDebited, "debited"),
                    Err(reason) => (TransferCommand::MarkFailed { reason }, "failed"),
                }
            }
            TransferStatus::Debited => match steps.leg(to, &leg(true), &step("credit")).await? {
                Ok(()) => (TransferCommand::MarkCompleted, "completed"),
                Err(reason) => (
                    TransferCommand::MarkCreditFailed {
                        reason: format!("target {to}: {reason}"),
                    },
                    "credit-failed",
                ),
            },
            TransferStatus::CreditFailed => {
                match steps.leg(from, &leg(true), &step("refund")).await? {
                    Ok(()) => (TransferCommand::MarkRefunded, "refunded"),
                    Err(reason) => return Err(TransferRunError::RefundRejected(reason)),
                }
            }
            TransferStatus::Completed | TransferStatus::Failed | TransferStatus::Refunded => {
                transfer.id = transfer_id.to_string();
                return Ok(transfer);
            }
        };
        transfer = steps.record(transfer_id, &next.0, &step(next.1)).await?;
    }
}

/// Runs [`run_transfer`] over `steps` for each `(id, from, to, amount)`, in order (the
/// resumption of unfinished transfers), and returns them finished.
pub async fn resume_each<'t, X: TransferSteps>(
    steps: &X,
    transfers: impl IntoIterator<Item = (&'t str, &'t str, &'t str, Money)>,
) -> Result<Vec<Transfer>, TransferRunError> {
    let mut resumed = Vec::new();
    for (id, from, to, amount) in transfers {
        let amount = amount.to_string();
        resumed.push(run_transfer(steps, id, from, to, &amount).await?);
    }
    Ok(resumed)
}

/// What [`resume_each`] takes of a [`Transfer`].
fn parts(t: &Transfer) -> (&str, &str, &str, Money) {
    (&t.id, &t.from, &t.to, t.amount)
}

impl PendingTransfersState {
    /// Every listed transfer as [`resume_each`] takes it.
    pub fn to_resume(&self) -> impl Iterator<Item = (&str, &str, &str, Money)> {
        self.transfers
            .iter()
            .map(|(id, t)| (id.as_str(), t.from.as_str(), t.to.as_str(), t.amount))
    }
}

impl<S: EventStore + Clone> TransferSteps for Bank<S> {
    async fn leg(
        &self,
        account_id: &str,
        command: &BankCommand,
        context: &CommandContext,
    ) -> Result<Result<(), String>, TransferRunError> {
        match self.accounts.handle(account_id, command, context).await {
            Ok(_) => Ok(Ok(())),
            Err(HandlerError::Rejected(reason)) => Ok(Err(reason.to_string())),
            Err(other) => Err(TransferRunError::Account(other)),
        }
    }

    async fn record(
        &self,
        transfer_id: &str,
        command: &TransferCommand,
        context: &CommandContext,
    ) -> Result<Transfer, TransferRunError> {
        Ok(self
            .transfers
            .handle(transfer_id, command, context)
            .await?
            .state)
    }
}

/// The bank, ready-made: accounts through a [`CommandHandler`] reading through
/// [`bank_upcasters`], and transfers as a process manager. The JS bindings wrap this.
pub struct Bank<S> {
    accounts: CommandHandler<S, BankAccount>,
    transfers: CommandHandler<S, Transfer>,
    store: S,
}

impl<S: EventStore + Clone> Bank<S> {
    /// A bank over `store` (snapshots every 10 events).
    pub fn new(store: S) -> Self {
        Self {
            accounts: CommandHandler::new(store.clone()).with_upcasters(bank_upcasters()),
            transfers: CommandHandler::new(store.clone()),
            store,
        }
    }

    /// The account handler, for temporal queries and snapshots.
    pub fn accounts(&self) -> &CommandHandler<S, BankAccount> {
        &self.accounts
    }

    /// Handles `command` for account `account_id` and returns the account after it.
    /// Pass a [`CommandContext`] with a command id to make retries idempotent.
    pub async fn execute(
        &self,
        account_id: &str,
        command: &BankCommand,
        context: &CommandContext,
    ) -> Result<BankAccount, HandlerError<BankError>> {
        let mut state = self
            .accounts
            .handle(account_id, command, context)
            .await?
            .state;
        state.id = account_id.to_string();
        Ok(state)
    }

    /// The account `account_id`, `None` when it was never opened.
    pub async fn account(
        &self,
        account_id: &str,
    ) -> Result<Option<BankAccount>, HandlerError<BankError>> {
        let loaded = self.accounts.load(account_id).await?;
        Ok((loaded.version > 0).then(|| BankAccount {
            id: account_id.to_string(),
            ..loaded.state
        }))
    }

    /// The transfer `transfer_id`, `None` when it was never requested.
    pub async fn transfer_status(
        &self,
        transfer_id: &str,
    ) -> Result<Option<Transfer>, HandlerError<TransferError>> {
        let loaded = self.transfers.load(transfer_id).await?;
        Ok((loaded.version > 0).then(|| Transfer {
            id: transfer_id.to_string(),
            ..loaded.state
        }))
    }

    /// Moves `amount` (a decimal string) from account `from` to account `to`, as
    /// transfer `transfer_id`:
    ///
    /// 1. records `TransferRequested` in `transfer-{transferId}`;
    /// 2. withdraws from `from` (rejected: `TransferFailed`, nothing moved);
    /// 3. deposits to `to` (`TransferCompleted`); when `to` is closed or missing,
    ///    records `TransferCreditFailed` and 4. refunds `from` (`TransferRefunded`).
    ///
    /// Safe to re-run with the same arguments, at any point and as often as wanted: it
    /// continues from the last recorded step, and each account leg carries the transfer
    /// id, so an account never takes the same leg twice (even if the process stopped
    /// between a leg and its record). A finished transfer just returns its outcome.
    pub async fn transfer(
        &self,
        transfer_id: &str,
        from: &str,
        to: &str,
        amount: &str,
    ) -> Result<Transfer, TransferRunError> {
        run_transfer(self, transfer_id, from, to, amount).await
    }

    /// Finishes every transfer whose stream stops mid-way (after a crash or a closed
    /// page). Returns the transfers it touched, finished.
    pub async fn resume_transfers(&self) -> Result<Vec<Transfer>, TransferRunError> {
        let unfinished = self.unfinished_transfers().await?;
        resume_each(self, unfinished.iter().map(parts)).await
    }

    /// Every transfer that was requested and is not finished, by loading every transfer
    /// stream.
    pub async fn unfinished_transfers(&self) -> Result<Vec<Transfer>, TransferRunError> {
        let streams = self
            .store
            .list_streams()
            .await
            .map_err(|e| TransferRunError::Transfer(e.into()))?;
        let mut unfinished = Vec::new();
        for stream in streams
            .iter()
            .filter(|s| s.stream_type == Transfer::CATEGORY)
        {
            let id = crate::codec::id_in(&stream.stream_id, Transfer::CATEGORY);
            let state = self.transfers.load(&id).await?.state;
            if !state.status.is_terminal() && state.status != TransferStatus::NotStarted {
                unfinished.push(Transfer { id, ..state });
            }
        }
        Ok(unfinished)
    }

    /// Finishes the transfers a [`PendingTransfers`] read model lists (those a closed page
    /// left mid-way), each from its last recorded step: a debited source is never debited
    /// again. Cheaper than [`resume_transfers`](Self::resume_transfers), which loads every
    /// transfer stream. Returns the transfers, finished.
    pub async fn resume_pending(
        &self,
        pending: &PendingTransfersState,
    ) -> Result<Vec<Transfer>, TransferRunError> {
        resume_each(self, pending.to_resume()).await
    }

    /// A runner for one of the bank read models over this bank's store, reading through
    /// [`bank_upcasters`]; checkpoints are stamped with `clock`.
    pub fn projection<P: Projection>(
        &self,
        projection: P,
        clock: impl Clock + 'static,
    ) -> ProjectionRunner<S, P> {
        ProjectionRunner::new(self.store.clone(), projection, clock)
            .with_upcasters(bank_upcasters())
    }
}
