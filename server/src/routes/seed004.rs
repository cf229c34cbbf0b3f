//! Seed 004, the CQRS bank API: commands (`POST /commands/open-account`, `deposit`,
//! `withdraw`, `close-account`), the account query (`GET /queries/account/{id}`), the
//! event streams (`GET /events/stream`, `GET /events/account/{id}`), the projections
//! (`GET /projections`, `GET /projections/{name}`, `POST /projections/rebuild`) and
//! `GET /stats`. Amounts are JSON numbers of currency units, written back without a
//! decimal point when whole (`1300`); timestamps are ms since the Unix epoch. Accounts
//! snapshot every 10 events (the command handler's default policy).

use std::collections::BTreeMap;
use std::rc::Rc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use chronik_core::{stream_category, EventStore, ReadAllOptions, RecordedEvent};
use chronik_examples::bank::{
    AccountBalancesState, DailySummaryState, TransactionHistoryState, TransactionKind,
};
use chronik_examples::registry::read_model;
use chronik_examples::{BankAccount, BankCommand, BankEvent, Money};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::amount::{Amount, Style, Units};
use crate::engine::Worker;
use crate::routes::bank::{account_events, decode_all, execute};
use crate::{ApiError, AppState, JsonBody};

/// The seed 004 routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/commands/open-account", post(open_account))
        .route("/commands/deposit", post(deposit))
        .route("/commands/withdraw", post(withdraw))
        .route("/commands/close-account", post(close_account))
        .route("/queries/account/{id}", get(query_account))
        .route("/events/stream", get(stream))
        .route("/events/account/{id}", get(account_stream))
        .route("/projections", get(projections))
        .route("/projections/rebuild", post(rebuild))
        .route("/projections/{name}", get(projection))
        .route("/stats", get(stats))
}

fn units(m: Money) -> Units {
    Units(m, Style::Plain)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct OpenBody {
    account_id: String,
    initial_balance: Option<Amount>,
    /// Not in the seed: the owner's name (default: the account id).
    owner: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AmountBody {
    account_id: String,
    amount: Amount,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AccountBody {
    account_id: String,
}

/// What a command answers: the account after it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct CommandAnswer {
    success: bool,
    account_id: String,
    version: u64,
    balance: Units,
    is_active: bool,
}

fn answer(id: String, account: &BankAccount) -> Json<CommandAnswer> {
    Json(CommandAnswer {
        success: true,
        account_id: id,
        version: account.version,
        balance: units(account.balance),
        is_active: account.is_open(),
    })
}

fn account_id(id: String) -> Result<String, ApiError> {
    super::non_empty(id, "accountId")
}

async fn open_account(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<OpenBody>,
) -> Result<(StatusCode, Json<CommandAnswer>), ApiError> {
    let id = account_id(body.account_id)?;
    let command = BankCommand::OpenAccount {
        owner: body.owner.unwrap_or_else(|| id.clone()),
        initial_deposit: None,
        initial_balance: body
            .initial_balance
            .filter(|a| !a.is_zero())
            .map(Amount::decimal),
    };
    let (id, account) = execute(&state, id, command).await?;
    Ok((StatusCode::CREATED, answer(id, &account)))
}

async fn deposit(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<AmountBody>,
) -> Result<Json<CommandAnswer>, ApiError> {
    let id = account_id(body.account_id)?;
    let (id, account) = execute(&state, id, BankCommand::deposit(body.amount.decimal())).await?;
    Ok(answer(id, &account))
}

async fn withdraw(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<AmountBody>,
) -> Result<Json<CommandAnswer>, ApiError> {
    let id = account_id(body.account_id)?;
    let (id, account) = execute(&state, id, BankCommand::withdraw(body.amount.decimal())).await?;
    Ok(answer(id, &account))
}

async fn close_account(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<AccountBody>,
) -> Result<Json<CommandAnswer>, ApiError> {
    let id = account_id(body.account_id)?;
    let (id, account) = execute(&state, id, BankCommand::CloseAccount).await?;
    Ok(answer(id, &account))
}

#[derive(Debug, Serialize)]
struct TransactionView {
    #[serde(rename = "type")]
    kind: &'static str,
    amount: Units,
    timestamp: i64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct AccountView {
    id: String,
    version: u64,
    balance: Units,
    is_active: bool,
    transaction_count: usize,
    transactions: Vec<TransactionView>,
}

/// The account folded from its events; transactions are its deposits and
/// withdrawals, oldest first (an opening balance is part of the opening, not one).
async fn query_account(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<AccountView>, ApiError> {
    let events = account_events(&state, id.clone()).await?;
    let mut account = BankAccount::default();
    let mut transactions = Vec::new();
    for (recorded, event) in &events {
        chronik_core::Aggregate::evolve(&mut account, event);
        let line = match event {
            BankEvent::MoneyDeposited { amount, .. } => Some(("deposit", *amount)),
            BankEvent::MoneyWithdrawn { amount, .. } => Some(("withdrawal", *amount)),
            _ => None,
        };
        if let Some((kind, amount)) = line {
            transactions.push(TransactionView {
                kind,
                amount: units(amount),
                timestamp: recorded.recorded_at,
            });
        }
    }
    Ok(Json(AccountView {
        id,
        version: account.version,
        balance: units(account.balance),
        is_active: account.is_open(),
        transaction_count: transactions.len(),
        transactions,
    }))
}

/// An event as seed 004 shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct EventView {
    id: String,
    aggregate_id: String,
    aggregate_type: String,
    event_type: String,
    data: Value,
    metadata: EventMeta,
}

#[derive(Debug, Serialize)]
struct EventMeta {
    timestamp: i64,
    version: u64,
    position: u64,
}

/// The aggregate type of a stream and its id: `account-acc-1` is `BankAccount`, `acc-1`.
pub(crate) fn aggregate_of(stream_id: &str) -> (String, String) {
    let category = stream_category(stream_id);
    let id = stream_id
        .strip_prefix(category)
        .and_then(|r| r.strip_prefix('-'))
        .unwrap_or(stream_id)
        .to_string();
    let kind = match category {
        "account" => "BankAccount",
        "transfer" => "Transfer",
        "order" => "Order",
        "saga" => "FulfilmentSaga",
        "inventory" => "Inventory",
        "payment" => "Payment",
        "shipment" => "Shipment",
        other => other,
    };
    (kind.to_string(), id)
}

/// A bank event's payload in seed 004's form (amounts in currency units).
fn bank_data(event: &BankEvent) -> Value {
    let n = |m: Money| serde_json::to_value(units(m)).unwrap_or(Value::Null);
    match event {
        BankEvent::AccountOpened {
            owner,
            initial_balance,
        } => json!({ "owner": owner, "initialBalance": n(initial_balance.unwrap_or(Money::ZERO)) }),
        BankEvent::MoneyDeposited {
            amount,
            transfer_id,
        }
        | BankEvent::MoneyWithdrawn {
            amount,
            transfer_id,
        } => match transfer_id {
            Some(t) => json!({ "amount": n(*amount), "transferId": t }),
            None => json!({ "amount": n(*amount) }),
        },
        BankEvent::AccountClosed => json!({}),
    }
}

fn view(recorded: RecordedEvent, bank: Option<&BankEvent>) -> EventView {
    let (aggregate_type, aggregate_id) = aggregate_of(&recorded.stream_id);
    EventView {
        id: recorded.event_id,
        aggregate_id,
        aggregate_type,
        event_type: recorded.event_type,
        data: bank.map_or(recorded.data, bank_data),
        metadata: EventMeta {
            timestamp: recorded.recorded_at,
            version: recorded.version,
            position: recorded.position,
        },
    }
}

/// `?from=P&limit=N` on the global log.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Page {
    from: Option<u64>,
    limit: Option<usize>,
}

/// Largest page of `GET /events/stream`.
const MAX_PAGE: usize = 10_000;

/// Every event in log order: from position `from` (default 1), at most `limit`
/// (default and maximum 10,000).
async fn stream(
    State(state): State<AppState>,
    Query(page): Query<Page>,
) -> Result<Json<Vec<EventView>>, ApiError> {
    let limit = page.limit.unwrap_or(MAX_PAGE).min(MAX_PAGE);
    let from = page.from.unwrap_or(1);
    let events = state
        .engine
        .run(move |w: Rc<Worker>| async move {
            let events = w
                .store
                .read_all(ReadAllOptions {
                    from_position: from,
                    limit: Some(limit),
                    ..ReadAllOptions::default()
                })
                .await?;
            let mut out = Vec::with_capacity(events.len());
            for event in events {
                if stream_category(&event.stream_id) == "account" {
                    let (recorded, bank) = decode_all(vec![event])?.remove(0);
                    out.push(view(recorded, Some(&bank)));
                } else {
                    out.push(view(event, None));
                }
            }
            Ok(out)
        })
        .await?;
    Ok(Json(events))
}

async fn account_stream(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Vec<EventView>>, ApiError> {
    let events = account_events(&state, id).await?;
    Ok(Json(
        events
            .into_iter()
            .map(|(recorded, bank)| view(recorded, Some(&bank)))
            .collect(),
    ))
}

/// A projection's place in the log: the last event it processed.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ProjectionInfo {
    name: String,
    description: &'static str,
    status: Value,
    last_processed_event: Option<String>,
    last_processed_version: u64,
    lag: u64,
}

/// The id of the event at `position` (None at 0).
async fn event_id_at(w: &Worker, position: u64) -> Result<Option<String>, ApiError> {
    if position == 0 {
        return Ok(None);
    }
    let events = w
        .store
        .read_all(ReadAllOptions {
            from_position: position,
            limit: Some(1),
            ..ReadAllOptions::default()
        })
        .await?;
    Ok(events.into_iter().next().map(|e| e.event_id))
}

async fn projections(State(state): State<AppState>) -> Result<Json<Vec<ProjectionInfo>>, ApiError> {
    let list = state
        .engine
        .with_hub(|w, hub| async move {
            let mut hub = hub.lock().await;
            hub.catch_up().await?;
            let mut out = Vec::new();
            for name in hub.names() {
                let info = hub.info(&name).await?;
                out.push(ProjectionInfo {
                    description: read_model(&name).map_or("", |m| m.description),
                    status: serde_json::to_value(&info.status).unwrap_or(Value::Null),
                    last_processed_event: event_id_at(&w, info.position).await?,
                    last_processed_version: info.position,
                    lag: info.lag,
                    name,
                });
            }
            Ok(out)
        })
        .await?;
    Ok(Json(list))
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ProjectionView {
    name: String,
    last_processed_event: Option<String>,
    last_processed_version: u64,
    data: Value,
}

/// The read model `name`, caught up; the bank ones in seed 004's shapes.
async fn projection(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<ProjectionView>, ApiError> {
    let view = state
        .engine
        .with_hub(move |w, hub| async move {
            let mut hub = hub.lock().await;
            let raw = hub.state(&name).await?;
            let info = hub.info(&name).await?;
            Ok(ProjectionView {
                data: seed_shape(&name, raw)?,
                last_processed_event: event_id_at(&w, info.position).await?,
                last_processed_version: info.position,
                name,
            })
        })
        .await?;
    Ok(Json(view))
}

fn decode_state<T: serde::de::DeserializeOwned>(name: &str, raw: Value) -> Result<T, ApiError> {
    serde_json::from_value(raw)
        .map_err(|e| ApiError::Internal(format!("the state of {name} does not decode: {e}")))
}

fn seed_shape(name: &str, raw: Value) -> Result<Value, ApiError> {
    let n = |m: Money| serde_json::to_value(units(m)).unwrap_or(Value::Null);
    Ok(match name {
        "AccountBalances" => {
            let s: AccountBalancesState = decode_state(name, raw)?;
            let balances: BTreeMap<_, _> = s
                .accounts
                .iter()
                .map(|(id, a)| {
                    (
                        id.clone(),
                        json!({
                            "balance": n(a.balance),
                            "lastUpdated": a.last_updated,
                            "owner": a.owner,
                            "isActive": a.status == chronik_examples::AccountStatus::Open,
                            "version": a.version,
                        }),
                    )
                })
                .collect();
            json!({ "balances": balances, "total": n(s.total) })
        }
        "TransactionHistory" => {
            let s: TransactionHistoryState = decode_state(name, raw)?;
            let mut all: Vec<_> = s
                .accounts
                .iter()
                .flat_map(|(id, lines)| lines.iter().map(move |t| (id, t)))
                .collect();
            all.sort_by_key(|(_, t)| t.position);
            let transactions: Vec<Value> = all
                .into_iter()
                .map(|(id, t)| {
                    json!({
                        "accountId": id,
                        "type": match t.kind { TransactionKind::Deposit => "deposit", TransactionKind::Withdrawal => "withdrawal" },
                        "amount": n(t.amount),
                        "balanceAfter": n(t.balance_after),
                        "timestamp": t.at,
                        "version": t.version,
                    })
                })
                .collect();
            json!({ "transactions": transactions })
        }
        "DailySummary" => {
            let s: DailySummaryState = decode_state(name, raw)?;
            let (mut deposits, mut withdrawals) = (0i128, 0i128);
            let days: BTreeMap<_, _> = s
                .days
                .iter()
                .map(|(day, d)| {
                    deposits += i128::from(d.deposits.cents());
                    withdrawals += i128::from(d.withdrawals.cents());
                    (
                        day.clone(),
                        json!({
                            "deposits": n(d.deposits),
                            "withdrawals": n(d.withdrawals),
                            "netChange": n(d.net),
                            "depositCount": d.deposit_count,
                            "withdrawalCount": d.withdrawal_count,
                        }),
                    )
                })
                .collect();
            let clamp = |c: i128| {
                let max = i128::from(Money::MAX.cents());
                Money::from_cents(i64::try_from(c.clamp(-max, max)).unwrap_or(0))
            };
            json!({
                "summary": {
                    "deposits": n(clamp(deposits)),
                    "withdrawals": n(clamp(withdrawals)),
                    "netChange": n(clamp(deposits - withdrawals)),
                },
                "days": days,
            })
        }
        _ => raw,
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RebuildBody {
    name: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Rebuilt {
    name: String,
    events_processed: usize,
    last_processed_version: u64,
}

/// Rebuilds the read model `name` from the start of the log.
async fn rebuild(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<RebuildBody>,
) -> Result<Json<Rebuilt>, ApiError> {
    let name = body.name;
    let rebuilt = state
        .engine
        .with_hub(move |_, hub| async move {
            let mut hub = hub.lock().await;
            let events_processed = hub.rebuild(&name, |_| {}).await?;
            let info = hub.info(&name).await?;
            Ok(Rebuilt {
                name,
                events_processed,
                last_processed_version: info.position,
            })
        })
        .await?;
    Ok(Json(rebuilt))
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct AggregateStat {
    aggregate: String,
    event_count: u64,
    latest_version: u64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Stats {
    total_events: u64,
    total_aggregates: u64,
    total_snapshots: u64,
    events_by_type: BTreeMap<String, u64>,
    aggregates: Vec<AggregateStat>,
}

async fn stats(State(state): State<AppState>) -> Result<Json<Stats>, ApiError> {
    let stats = state
        .engine
        .run(|w: Rc<Worker>| async move {
            let stats = w.store.stats().await?;
            let streams = w.store.list_streams().await?;
            Ok(Stats {
                total_events: stats.event_count,
                total_aggregates: stats.stream_count,
                total_snapshots: stats.snapshot_count,
                events_by_type: stats.events_by_type,
                aggregates: streams
                    .into_iter()
                    .map(|s| {
                        let (kind, id) = aggregate_of(&s.stream_id);
                        AggregateStat {
                            aggregate: format!("{kind}:{id}"),
                            event_count: s.version,
                            latest_version: s.version,
                        }
                    })
                    .collect(),
            })
        })
        .await?;
    Ok(Json(stats))
}
