//! The bank, the app's home page: open, fund, drain, close and transfer between
//! accounts; every account's balance (the AccountBalances projection); and, at
//! `/bank/:id`, one account's history with running balance (TransactionHistory) and its
//! totals per day.

use std::collections::HashSet;
use std::sync::Arc;

use chronik_examples::bank::{
    AccountBalance, AccountBalancesState, AccountStatus, BankAccount, BankCommand, DaySummary,
    Transaction, TransactionKind, Transfer, TransferStatus,
};
use chronik_examples::Money;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::A;
use leptos_router::hooks::{use_location, use_params_map};

use crate::api::AppError;
use crate::{api, format};

/// The "Bank" link of the main navigation: current on `/` and on every account page.
#[component]
pub fn BankNavLink() -> impl IntoView {
    let location = use_location();
    let current = move || {
        let path = location.pathname.get();
        (path == "/" || path.starts_with("/bank")).then_some("page")
    };
    view! { <a href="/" aria-current=current>"Bank"</a> }
}

/// A command the form can send, with the form's values at the click.
#[derive(Debug, Clone)]
enum Action {
    Open {
        account: String,
        owner: String,
    },
    Deposit {
        account: String,
        amount: String,
    },
    Withdraw {
        account: String,
        amount: String,
    },
    Close {
        account: String,
    },
    Transfer {
        from: String,
        to: String,
        amount: String,
    },
}

/// What the feedback line says after a command.
#[derive(Debug, Clone, PartialEq)]
enum Feedback {
    /// Done.
    Done(String),
    /// Refused or failed; nothing was recorded unless the text says otherwise.
    Refused(String),
}

/// The bank page; the account in the route (`/bank/:id`), if any, is shown in detail.
#[component]
pub fn BankPage() -> impl IntoView {
    let params = use_params_map();
    let selected = Memo::new(move |_| params.with(|p| p.get("id")));

    let account = RwSignal::new(String::new());
    let owner = RwSignal::new(String::new());
    let amount = RwSignal::new(String::new());
    let to = RwSignal::new(String::new());
    let feedback = RwSignal::new(None::<Feedback>);
    let busy = RwSignal::new(false);
    // The transfer id of the transfer the form last started and that has no outcome yet,
    // with the (from, to, amount) it was for.
    //
    // A transfer id names one intent to move money, so it is made on the click that
    // starts a transfer and kept until that transfer has an outcome: clicking again for
    // the same accounts and amount after a failure (the store refused a write, the page
    // lost its connection) re-runs the same transfer, which continues from its last
    // recorded step and cannot move the money twice. Once the transfer has an outcome the
    // id is dropped and the amount cleared, so a quick second click finds no amount
    // instead of silently sending the money again; a deliberate second transfer of the
    // same amount is a new intent with a new id. While any command runs, clicks are
    // ignored (see `run`), so a double click cannot start two runs at once either.
    let pending_transfer = StoredValue::new(None::<(String, String, String, String)>);

    // Selecting an account makes it the one the form acts on.
    Effect::new(move |_| {
        if let Some(id) = selected.get() {
            account.set(id);
        }
    });

    let balances = LocalResource::new(move || {
        api::changes().track();
        api::bank::balances()
    });

    // Once the balances are shown, finish any transfer a closed page left mid-way (the
    // money would otherwise sit between two accounts until someone pressed Transfer
    // again), and say so.
    let looked_for_interrupted = StoredValue::new(false);
    Effect::new(move |_| {
        if looked_for_interrupted.get_value() || !matches!(balances.get(), Some(Ok(_))) {
            return;
        }
        looked_for_interrupted.set_value(true);
        spawn_local(async move {
            match api::bank::resume_interrupted().await {
                Ok(0) => {}
                Ok(n) => feedback.set(Some(Feedback::Done(format!(
                    "Finished {n} interrupted transfer{}.",
                    if n == 1 { "" } else { "s" }
                )))),
                Err(e) => feedback.set(Some(Feedback::Refused(capitalise(&format!(
                    "could not finish interrupted transfers: {e}"
                ))))),
            }
        });
    });

    let run = move |action: Action| {
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        spawn_local(async move {
            let outcome = match action {
                Action::Open { account, owner } => {
                    api::bank::execute(&account, BankCommand::open(owner.trim()))
                        .await
                        .map(|a| format!("Opened {} for {}.", account.trim(), a.owner))
                }
                Action::Deposit { account, amount } => {
                    api::bank::execute(&account, BankCommand::deposit(amount.clone()))
                        .await
                        .map(|a| moved("Deposited", &amount, "to", &a))
                }
                Action::Withdraw { account, amount } => {
                    api::bank::execute(&account, BankCommand::withdraw(amount.clone()))
                        .await
                        .map(|a| moved("Withdrew", &amount, "from", &a))
                }
                Action::Close { account } => {
                    api::bank::execute(&account, BankCommand::CloseAccount)
                        .await
                        .map(|_| format!("Closed {}.", account.trim()))
                }
                Action::Transfer {
                    from,
                    to: target,
                    amount: value,
                } => {
                    let result = run_transfer(pending_transfer, from, target, value.clone()).await;
                    let completed =
                        matches!(&result, Ok(t) if t.status == TransferStatus::Completed);
                    if completed && amount.get_untracked() == value {
                        amount.set(String::new());
                    }
                    result.and_then(|t| transfer_message(&t).map_err(AppError::refused))
                }
            };
            feedback.set(Some(match outcome {
                Ok(text) => Feedback::Done(text),
                Err(e) => Feedback::Refused(capitalise(&e.to_string())),
            }));
            busy.set(false);
        });
    };

    view! {
        <section class="card bank-hero" aria-labelledby="bank-heading">
            <div class="bank-title">
                <h2 id="bank-heading">"Bank"</h2>
                <p class="muted">
                    "Every button issues a command to an account; what it decides is appended to the log, and the balances below are read models built from it."
                </p>
            </div>
            <Transition fallback=|| ()>
                {move || balances.get().and_then(Result::ok).map(|state| view! { <Totals state=state /> })}
            </Transition>
        </section>
        <section class="card" aria-labelledby="commands-heading">
            <h2 id="commands-heading">"Commands"</h2>
            <form class="bank-form" on:submit=|ev| ev.prevent_default() aria-busy=move || busy.get().to_string()>
                <label>
                    "Account"
                    <input type="text" autocomplete="off" placeholder="acc-1" data-testid="bank-account" bind:value=account />
                </label>
                <label>
                    "Owner"
                    <input type="text" autocomplete="off" placeholder="Ada Lovelace" data-testid="bank-owner" bind:value=owner />
                </label>
                <label>
                    "Amount"
                    <input type="text" inputmode="decimal" autocomplete="off" placeholder="10.50" class="num-input" data-testid="bank-amount" bind:value=amount />
                </label>
                <label>
                    "To account"
                    <input type="text" autocomplete="off" placeholder="acc-2" data-testid="bank-to" bind:value=to />
                </label>
                <div class="bank-actions">
                    <div class="action-group" role="group" aria-label="Open or close an account">
                        <span class="group-label">"Account + Owner"</span>
                        <div class="buttons">
                            <button type="button" on:click=move |_| run(Action::Open { account: account.get(), owner: owner.get() })>
                                "Open account"
                            </button>
                            <button type="button" class="secondary" on:click=move |_| run(Action::Close { account: account.get() })>
                                "Close account"
                            </button>
                        </div>
                    </div>
                    <div class="action-group" role="group" aria-label="Deposit or withdraw">
                        <span class="group-label">"Account + Amount"</span>
                        <div class="buttons">
                            <button type="button" on:click=move |_| run(Action::Deposit { account: account.get(), amount: amount.get() })>
                                "Deposit"
                            </button>
                            <button type="button" on:click=move |_| run(Action::Withdraw { account: account.get(), amount: amount.get() })>
                                "Withdraw"
                            </button>
                        </div>
                    </div>
                    <div class="action-group" role="group" aria-label="Transfer between accounts">
                        <span class="group-label">"Account + Amount + To account"</span>
                        <div class="buttons">
                            <button type="button" on:click=move |_| run(Action::Transfer { from: account.get(), to: to.get(), amount: amount.get() })>
                                "Transfer"
                            </button>
                        </div>
                    </div>
                    <p class="bank-feedback" role="status" aria-live="polite" data-testid="bank-error">
                        {move || match feedback.get() {
                            Some(Feedback::Done(text)) => view! { <span class="ok">{text}</span> }.into_any(),
                            Some(Feedback::Refused(text)) => view! { <span class="error">{text}</span> }.into_any(),
                            None => ().into_any(),
                        }}
                    </p>
                </div>
            </form>
        </section>
        <div class="bank-layout">
            <div class="bank-column">
                <section class="card" aria-labelledby="accounts-heading">
                    <h2 id="accounts-heading">"Accounts"</h2>
                    <Transition fallback=|| view! { <p class="muted">"Loading balances…"</p> }>
                        {move || balances.get().map(|result| match result {
                            Ok(state) if state.accounts.is_empty() => view! {
                                <p class="muted" data-testid="no-accounts">
                                    "No accounts yet. Enter an account id and an owner, then press Open account."
                                </p>
                            }.into_any(),
                            Ok(state) => view! { <AccountList state=state selected=selected /> }.into_any(),
                            Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                        })}
                    </Transition>
                </section>
                <BankDays />
            </div>
            {move || match selected.get() {
                Some(id) => view! { <AccountView id=id balances=balances /> }.into_any(),
                None => view! {
                    <section class="card account-view empty" aria-label="Account details">
                        <p class="muted">"Choose an account to see its transactions, running balance and daily totals."</p>
                    </section>
                }.into_any(),
            }}
        </div>
    }
}

/// Runs the form's transfer, reusing the id of an unfinished transfer of the same
/// accounts and amount (see the comment on `pending_transfer` in [`BankPage`]).
async fn run_transfer(
    pending: StoredValue<Option<(String, String, String, String)>>,
    from: String,
    to: String,
    amount: String,
) -> Result<Transfer, AppError> {
    let key = (
        from.trim().to_string(),
        to.trim().to_string(),
        amount.trim().to_string(),
    );
    let id = pending
        .get_value()
        .filter(|(_, f, t, a)| (f, t, a) == (&key.0, &key.1, &key.2))
        .map(|(id, ..)| id)
        .unwrap_or_else(api::bank::new_transfer_id);
    pending.set_value(Some((id.clone(), key.0, key.1, key.2)));
    let result = api::bank::transfer(&id, &from, &to, &amount).await;
    // An outcome ends this intent; after an error the id is kept, so pressing Transfer
    // again with the same values finishes this transfer rather than starting another.
    if result.is_ok() {
        pending.set_value(None);
    }
    result
}

/// "Deposited 100.00 to acc-1; balance 100.00."
fn moved(verb: &str, amount: &str, preposition: &str, account: &BankAccount) -> String {
    let amount = Money::parse(amount).map_or_else(|_| amount.trim().to_string(), |m| m.to_string());
    format!(
        "{verb} {amount} {preposition} {}; balance {}.",
        account.id, account.balance
    )
}

/// What a finished transfer did: completed is done; a refund is reported as a refusal
/// with the target's reason.
fn transfer_message(t: &Transfer) -> Result<String, String> {
    let reason = t.reason.clone().unwrap_or_default();
    match t.status {
        TransferStatus::Completed => Ok(format!(
            "Transferred {} from {} to {}.",
            t.amount, t.from, t.to
        )),
        TransferStatus::Refunded => Err(format!(
            "Transfer refunded: {reason}; {} went back to {}.",
            t.amount, t.from
        )),
        TransferStatus::Failed => Err(format!("Transfer failed: {reason}")),
        other => Err(format!(
            "Transfer stopped at {other:?}; press Transfer again to finish it."
        )),
    }
}

/// The text with its first letter in upper case.
fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The total of all balances and the number of accounts.
#[component]
fn Totals(state: AccountBalancesState) -> impl IntoView {
    let open = state
        .accounts
        .values()
        .filter(|a| a.status == AccountStatus::Open)
        .count();
    let closed = state.accounts.len() - open;
    view! {
        <div class="bank-tiles">
            <div class="tile">
                <span class="tile-value money" data-testid="bank-total">{state.total.to_string()}</span>
                <span class="tile-label">"Total of all balances"</span>
            </div>
            <div class="tile">
                <span class="tile-value" data-testid="bank-open">{open}</span>
                <span class="tile-label">"Open accounts"</span>
            </div>
            <div class="tile">
                <span class="tile-value" data-testid="bank-closed">{closed}</span>
                <span class="tile-label">"Closed accounts"</span>
            </div>
        </div>
    }
}

/// "Open" or "Closed".
fn status_name(status: AccountStatus) -> &'static str {
    match status {
        AccountStatus::Open => "Open",
        AccountStatus::Closed => "Closed",
        AccountStatus::NotOpened => "Not opened",
    }
}

/// Every account with owner, status and balance; each links to its account page.
#[component]
fn AccountList(state: AccountBalancesState, selected: Memo<Option<String>>) -> impl IntoView {
    let total = state.total;
    let rows: Vec<(String, AccountBalance)> = state.accounts.into_iter().collect();
    view! {
        <table class="bank-table" data-testid="accounts">
            <thead>
                <tr>
                    <th scope="col">"Account"</th>
                    <th scope="col">"Owner"</th>
                    <th scope="col">"Status"</th>
                    <th scope="col" class="num">"Balance"</th>
                </tr>
            </thead>
            <tbody>
                // Keyed by id and stream version: a row is redrawn when its account changes.
                <For each=move || rows.clone() key=|(id, a)| (id.clone(), a.version) let:row>
                    {
                        let (id, a) = row;
                        let is_selected = {
                            let id = id.clone();
                            move || selected.with(|s| s.as_deref() == Some(id.as_str()))
                        };
                        let (href, testid) = (format!("/bank/{id}"), format!("balance-{id}"));
                        let closed = a.status == AccountStatus::Closed;
                        view! {
                            <tr data-testid="account-row" class:selected=is_selected class:closed=closed>
                                <td><A href=href>{id}</A></td>
                                <td>{a.owner.clone()}</td>
                                <td><StatusBadge status=a.status /></td>
                                <td class="num money" data-testid=testid>{a.balance.to_string()}</td>
                            </tr>
                        }
                    }
                </For>
            </tbody>
            <tfoot>
                <tr>
                    <th scope="row" colspan="3">"Total"</th>
                    <td class="num money">{total.to_string()}</td>
                </tr>
            </tfoot>
        </table>
    }
}

/// An account's status as a small coloured badge.
#[component]
fn StatusBadge(status: AccountStatus) -> impl IntoView {
    view! {
        <span class="status-badge" class:open=status == AccountStatus::Open>{status_name(status)}</span>
    }
}

/// The DailySummary projection: per UTC day, the deposits and withdrawals of all accounts.
#[component]
fn BankDays() -> impl IntoView {
    let days = LocalResource::new(move || {
        api::changes().track();
        api::bank::daily_summary()
    });
    view! {
        <section class="card" aria-labelledby="bank-days-heading">
            <h2 id="bank-days-heading">"Per day, all accounts"</h2>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || days.get().map(|result| match result {
                    Ok(days) if days.is_empty() => view! { <p class="muted">"No deposits or withdrawals yet."</p> }.into_any(),
                    Ok(days) => view! { <DaysTable days=days testid="bank-days" /> }.into_any(),
                    Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                })}
            </Transition>
        </section>
    }
}

/// Per day: deposits (count), withdrawals (count) and the net change.
#[component]
fn DaysTable(days: Vec<(String, DaySummary)>, testid: &'static str) -> impl IntoView {
    view! {
        <table class="bank-table" data-testid=testid>
            <thead>
                <tr>
                    <th scope="col">"Day (UTC)"</th>
                    <th scope="col" class="num">"Deposits"</th>
                    <th scope="col" class="num">"Withdrawals"</th>
                    <th scope="col" class="num">"Net"</th>
                </tr>
            </thead>
            <tbody>
                <For
                    each=move || days.clone()
                    key=|(day, s)| (day.clone(), s.deposit_count, s.withdrawal_count)
                    let:day
                >
                    {
                        let (date, s) = day;
                        let (down, up) = (s.net < Money::ZERO, s.net > Money::ZERO);
                        view! {
                            <tr data-testid="day-row">
                                <td>{date}</td>
                                <td class="num money">
                                    {s.deposits.to_string()}
                                    <span class="count">{format!(" × {}", s.deposit_count)}</span>
                                </td>
                                <td class="num money">
                                    {s.withdrawals.to_string()}
                                    <span class="count">{format!(" × {}", s.withdrawal_count)}</span>
                                </td>
                                <td class="num money" class:neg=down class:pos=up>{signed(s.net)}</td>
                            </tr>
                        }
                    }
                </For>
            </tbody>
        </table>
    }
}

/// `+10.00`, `-3.50`, `0.00`.
fn signed(m: Money) -> String {
    if m > Money::ZERO {
        format!("+{m}")
    } else {
        m.to_string()
    }
}

/// One account: balance, history newest first with running balance, totals per day.
#[component]
fn AccountView(
    id: String,
    balances: LocalResource<Result<AccountBalancesState, AppError>>,
) -> impl IntoView {
    let history = {
        let id = id.clone();
        LocalResource::new(move || {
            api::changes().track();
            let id = id.clone();
            async move { api::bank::history(&id).await }
        })
    };
    // `None` while loading, then whether the account exists.
    let summary = {
        let id = id.clone();
        Memo::new(move |_| {
            balances
                .get()
                .and_then(Result::ok)
                .map(|state| state.accounts.get(&id).cloned())
        })
    };
    let heading = format!("Account {id}");
    view! {
        <section class="card account-view" aria-labelledby="account-heading" data-testid="account-view">
            <div class="account-head">
                <div>
                    <h2 id="account-heading">{heading}</h2>
                    <Transition fallback=|| ()>
                        {move || summary.get().map(|found| match found {
                                Some(a) => view! {
                                    <p class="muted">
                                        {a.owner.clone()} " · " <StatusBadge status=a.status /> " · "
                                        <span data-testid="account-version">{format!("{} events", a.version)}</span>
                                    </p>
                                }.into_any(),
                                None => view! { <p class="error">"No such account."</p> }.into_any(),
                            })}
                    </Transition>
                </div>
                <Transition fallback=|| ()>
                    {move || summary.get().flatten().map(|a| view! {
                        <div class="account-balance">
                            <span class="tile-label">"Balance"</span>
                            <span class="big money" data-testid="account-balance">{a.balance.to_string()}</span>
                        </div>
                    })}
                </Transition>
            </div>
            <Transition fallback=|| view! { <p class="muted">"Loading history…"</p> }>
                {move || history.get().map(|result| match result {
                    Ok(lines) if lines.is_empty() => view! {
                        <p class="muted" data-testid="history-empty">"No deposits or withdrawals yet."</p>
                    }.into_any(),
                    Ok(lines) => {
                        let days = api::bank::days_of(&lines);
                        view! {
                            <h3>"Transactions"</h3>
                            <HistoryTable lines=lines />
                            <h3>"Per day"</h3>
                            <DaysTable days=days testid="account-days" />
                        }.into_any()
                    }
                    Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                })}
            </Transition>
        </section>
    }
}

/// An account's transactions, newest first, with the balance after each.
#[component]
fn HistoryTable(lines: Vec<Transaction>) -> impl IntoView {
    // A deposit for a transfer this account was also debited for is that transfer's
    // refund (the target refused the credit).
    let debited: HashSet<String> = lines
        .iter()
        .filter(|t| t.kind == TransactionKind::Withdrawal)
        .filter_map(|t| t.transfer_id.clone())
        .collect();
    let refunded = Arc::new(debited);
    view! {
        <table class="bank-table history" data-testid="history">
            <thead>
                <tr>
                    <th scope="col">"When (UTC)"</th>
                    <th scope="col">"What"</th>
                    <th scope="col" class="num">"Amount"</th>
                    <th scope="col" class="num">"Balance"</th>
                </tr>
            </thead>
            <tbody>
                <For each=move || lines.clone() key=|t| t.position let:t>
                    {
                        let refunded = Arc::clone(&refunded);
                        let deposit = t.kind == TransactionKind::Deposit;
                        let what = match (&t.transfer_id, deposit) {
                            (None, true) => "Deposit",
                            (None, false) => "Withdrawal",
                            (Some(id), true) if refunded.contains(id) => "Transfer refunded",
                            (Some(_), true) => "Transfer in",
                            (Some(_), false) => "Transfer out",
                        };
                        let amount = if deposit { format!("+{}", t.amount) } else { format!("-{}", t.amount) };
                        view! {
                            <tr data-testid="history-row">
                                <td class="when">{format::time(t.at).chars().take(19).collect::<String>()}</td>
                                <td>
                                    <span data-testid="history-what">{what}</span>
                                    {t.transfer_id.clone().map(|id| view! { <span class="transfer-id" title="transfer id">{id}</span> })}
                                </td>
                                <td class="num money" class:pos=deposit class:neg=!deposit data-testid="history-amount">{amount}</td>
                                <td class="num money" data-testid="history-balance">{t.balance_after.to_string()}</td>
                            </tr>
                        }
                    }
                </For>
            </tbody>
        </table>
    }
}
