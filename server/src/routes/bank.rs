//! Seed 000/001, the bank account API: `POST /accounts/{id}` (OpenAccount, Deposit,
//! Withdraw), `GET /accounts/{id}`, `GET /accounts/{id}/events`.
//!
//! Amounts are JSON numbers of currency units (`1000.0`), converted to integer cents
//! exactly; they come back as numbers with a decimal point (`1300.0`).

use std::rc::Rc;

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use chronik_core::{CommandContext, DomainEvent, EventStore, ReadStreamOptions, RecordedEvent};
use chronik_examples::bank::bank_upcasters;
use chronik_examples::{BankAccount, BankCommand, BankEvent, Money};
use serde::{Deserialize, Serialize};

use crate::amount::{Amount, Style, Units};
use crate::engine::Worker;
use crate::{metrics_layer, ApiError, AppState, JsonBody};

/// The bank routes of seed 000/001.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/accounts/{id}", post(command).get(account))
        .route("/accounts/{id}/events", get(events))
}

/// A seed 000 command: `{"type": "OpenAccount", "owner", "initial_balance"}`,
/// `{"type": "Deposit", "amount"}`, `{"type": "Withdraw", "amount"}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CommandBody {
    #[serde(rename = "type")]
    kind: String,
    owner: Option<String>,
    initial_balance: Option<Amount>,
    amount: Option<Amount>,
}

impl CommandBody {
    fn into_command(self) -> Result<BankCommand, ApiError> {
        let missing =
            |field: &str| ApiError::BadRequest(format!("{} needs the field '{field}'", self.kind));
        let unexpected =
            |field: &str| ApiError::BadRequest(format!("{} takes no field '{field}'", self.kind));
        match self.kind.as_str() {
            "OpenAccount" => {
                if self.amount.is_some() {
                    return Err(unexpected("amount"));
                }
                Ok(BankCommand::OpenAccount {
                    owner: self.owner.clone().ok_or_else(|| missing("owner"))?,
                    initial_deposit: None,
                    initial_balance: self
                        .initial_balance
                        .filter(|a| !a.is_zero())
                        .map(Amount::decimal),
                })
            }
            "Deposit" | "Withdraw" => {
                if self.owner.is_some() {
                    return Err(unexpected("owner"));
                }
                if self.initial_balance.is_some() {
                    return Err(unexpected("initial_balance"));
                }
                let amount = self.amount.ok_or_else(|| missing("amount"))?.decimal();
                Ok(if self.kind == "Deposit" {
                    BankCommand::deposit(amount)
                } else {
                    BankCommand::withdraw(amount)
                })
            }
            other => Err(ApiError::BadRequest(format!(
                "unknown command type '{other}'; expected OpenAccount, Deposit or Withdraw"
            ))),
        }
    }
}

/// An account as seed 000 shows it.
#[derive(Debug, Serialize)]
struct AccountView {
    id: String,
    owner: String,
    balance: Units,
    version: u64,
}

impl AccountView {
    fn of(id: String, account: &BankAccount) -> Self {
        AccountView {
            id,
            owner: account.owner.clone(),
            balance: Units(account.balance, Style::Float),
            version: account.version,
        }
    }
}

/// Runs `command` on account `id` (conflicts are retried); the account after it.
pub(crate) async fn execute(
    state: &AppState,
    id: String,
    command: BankCommand,
) -> Result<(String, BankAccount), ApiError> {
    state
        .engine
        .run(move |w: Rc<Worker>| async move {
            let outcome = w
                .accounts
                .handle(&id, &command, &CommandContext::default())
                .await?;
            metrics_layer::command_done(outcome.events.len(), outcome.attempts);
            Ok((id, outcome.state))
        })
        .await
}

/// Account `id`, 404 when it was never opened.
pub(crate) async fn load(state: &AppState, id: String) -> Result<BankAccount, ApiError> {
    state
        .engine
        .run(move |w: Rc<Worker>| async move {
            let loaded = w.accounts.load(&id).await?;
            if loaded.version == 0 {
                return Err(ApiError::NotFound(format!("account {id} does not exist")));
            }
            Ok(loaded.state)
        })
        .await
}

/// The events of account `id`, upcast and decoded, oldest first; 404 when it has none.
pub(crate) async fn account_events(
    state: &AppState,
    id: String,
) -> Result<Vec<(RecordedEvent, BankEvent)>, ApiError> {
    state
        .engine
        .run(move |w: Rc<Worker>| async move {
            let stream = format!("account-{id}");
            let recorded = w
                .store
                .read_stream(&stream, ReadStreamOptions::default())
                .await?;
            if recorded.is_empty() {
                return Err(ApiError::NotFound(format!("account {id} does not exist")));
            }
            decode_all(recorded)
        })
        .await
}

/// Upcasts and decodes bank events.
pub(crate) fn decode_all(
    recorded: Vec<RecordedEvent>,
) -> Result<Vec<(RecordedEvent, BankEvent)>, ApiError> {
    let upcasters = bank_upcasters();
    recorded
        .into_iter()
        .map(|e| {
            let e = upcasters
                .upcast(e)
                .map_err(|err| ApiError::Internal(err.to_string()))?
                .event;
            let decoded = BankEvent::from_data(&e.event_type, e.data.clone()).map_err(|err| {
                ApiError::Internal(format!(
                    "cannot decode {} at {} version {}: {err}",
                    e.event_type, e.stream_id, e.version
                ))
            })?;
            Ok((e, decoded))
        })
        .collect()
}

async fn command(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<CommandBody>,
) -> Result<Json<AccountView>, ApiError> {
    let command = body.into_command()?;
    let (id, account) = execute(&state, id, command).await?;
    Ok(Json(AccountView::of(id, &account)))
}

async fn account(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<AccountView>, ApiError> {
    let account = load(&state, id.clone()).await?;
    Ok(Json(AccountView::of(id, &account)))
}

/// A seed 000 event: the bare tagged event.
#[derive(Debug, Serialize)]
#[serde(tag = "type")]
enum SeedEvent {
    AccountOpened {
        owner: String,
        initial_balance: Units,
    },
    MoneyDeposited {
        amount: Units,
        #[serde(skip_serializing_if = "Option::is_none")]
        transfer_id: Option<String>,
    },
    MoneyWithdrawn {
        amount: Units,
        #[serde(skip_serializing_if = "Option::is_none")]
        transfer_id: Option<String>,
    },
    AccountClosed,
}

impl From<BankEvent> for SeedEvent {
    fn from(e: BankEvent) -> Self {
        let units = |m: Money| Units(m, Style::Float);
        match e {
            BankEvent::AccountOpened {
                owner,
                initial_balance,
            } => SeedEvent::AccountOpened {
                owner,
                initial_balance: units(initial_balance.unwrap_or(Money::ZERO)),
            },
            BankEvent::MoneyDeposited {
                amount,
                transfer_id,
            } => SeedEvent::MoneyDeposited {
                amount: units(amount),
                transfer_id,
            },
            BankEvent::MoneyWithdrawn {
                amount,
                transfer_id,
            } => SeedEvent::MoneyWithdrawn {
                amount: units(amount),
                transfer_id,
            },
            BankEvent::AccountClosed => SeedEvent::AccountClosed,
        }
    }
}

async fn events(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Vec<SeedEvent>>, ApiError> {
    let events = account_events(&state, id).await?;
    Ok(Json(
        events
            .into_iter()
            .map(|(_, e)| SeedEvent::from(e))
            .collect(),
    ))
}
