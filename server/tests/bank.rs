//! Seed 000/001's bank API over real HTTP on PostgreSQL: the seed's curl walkthrough
//! verbatim, the error statuses, the two-decimal rule, the body limit, and money under
//! hundreds of concurrent transfers.

mod common;

use chronik_server::Options;
use common::{assert_refused, TestServer};
use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::json;

/// The seed's walkthrough: the same requests (bodies as the curl lines send them) and
/// the same answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_walkthrough_answers_as_the_seed_shows() {
    let t = TestServer::start().await;
    let open = t
        .post(
            "/accounts/acc-001",
            r#"{
    "type": "OpenAccount",
    "owner": "Alice",
    "initial_balance": 1000.0
  }"#,
        )
        .await;
    assert_eq!(open.0, StatusCode::OK, "{}", open.1);
    assert_eq!(
        open.1,
        json!({ "id": "acc-001", "owner": "Alice", "balance": 1000.0, "version": 1 })
    );
    let deposit = t
        .post(
            "/accounts/acc-001",
            r#"{
    "type": "Deposit",
    "amount": 500.0
  }"#,
        )
        .await;
    assert_eq!(deposit.0, StatusCode::OK, "{}", deposit.1);
    let withdraw = t
        .post(
            "/accounts/acc-001",
            r#"{
    "type": "Withdraw",
    "amount": 200.0
  }"#,
        )
        .await;
    assert_eq!(withdraw.0, StatusCode::OK, "{}", withdraw.1);

    assert_eq!(
        t.get("/accounts/acc-001").await,
        (
            StatusCode::OK,
            json!({ "id": "acc-001", "owner": "Alice", "balance": 1300.0, "version": 3 })
        )
    );
    assert_eq!(
        t.get("/accounts/acc-001/events").await,
        (
            StatusCode::OK,
            json!([
                {"type": "AccountOpened", "owner": "Alice", "initial_balance": 1000.0},
                {"type": "MoneyDeposited", "amount": 500.0},
                {"type": "MoneyWithdrawn", "amount": 200.0}
            ])
        )
    );
    // The numbers are written as the seed writes them, exactly.
    let text = t
        .http
        .get(format!("{}/accounts/acc-001", t.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains(r#""balance":1300.0"#), "{text}");
    t.shutdown().await;
}

/// Refusals carry a status and `{"error"}`, and append nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_have_their_status_and_append_nothing() {
    let t = TestServer::start().await;
    let path = "/accounts/a-1";
    t.post(
        path,
        r#"{"type":"OpenAccount","owner":"Ada","initial_balance":10.25}"#,
    )
    .await;

    let refusals = [
        // A rule: insufficient funds.
        (
            r#"{"type":"Withdraw","amount":10.26}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "insufficient funds",
        ),
        // Illegal transition: the account exists.
        (
            r#"{"type":"OpenAccount","owner":"Ada"}"#,
            StatusCode::CONFLICT,
            "already exists",
        ),
        // Bad input.
        (
            r#"{"type":"Deposit","amount":1.005}"#,
            StatusCode::BAD_REQUEST,
            "more than two decimals",
        ),
        (
            r#"{"type":"Deposit","amount":-5}"#,
            StatusCode::BAD_REQUEST,
            "negative",
        ),
        (
            r#"{"type":"Deposit","amount":0}"#,
            StatusCode::BAD_REQUEST,
            "invalid amount",
        ),
        (
            r#"{"type":"Deposit","amount":1e2}"#,
            StatusCode::BAD_REQUEST,
            "exponent",
        ),
        (
            r#"{"type":"Deposit","amount":"5"}"#,
            StatusCode::BAD_REQUEST,
            "JSON numbers",
        ),
        (
            r#"{"type":"Deposit","amount":NaN}"#,
            StatusCode::BAD_REQUEST,
            "invalid request body",
        ),
        (
            r#"{"type":"Deposit","amount":90071992547409.92}"#,
            StatusCode::BAD_REQUEST,
            "invalid amount",
        ),
        (
            r#"{"type":"Deposit"}"#,
            StatusCode::BAD_REQUEST,
            "needs the field 'amount'",
        ),
        (
            r#"{"type":"Deposit","amount":1,"extra":true}"#,
            StatusCode::BAD_REQUEST,
            "unknown field",
        ),
        (
            r#"{"type":"Steal","amount":1}"#,
            StatusCode::BAD_REQUEST,
            "unknown command type",
        ),
        (
            r#"{"type":"Deposit","amount":1"#,
            StatusCode::BAD_REQUEST,
            "invalid request body",
        ),
    ];
    for (body, status, part) in refusals {
        let got = t.post(path, body).await;
        assert_refused(&got, status, part);
    }
    assert_refused(
        &t.post("/accounts/nobody", r#"{"type":"Deposit","amount":1}"#)
            .await,
        StatusCode::NOT_FOUND,
        "does not exist",
    );
    assert_refused(
        &t.get("/accounts/nobody").await,
        StatusCode::NOT_FOUND,
        "does not exist",
    );
    assert_refused(
        &t.get("/accounts/nobody/events").await,
        StatusCode::NOT_FOUND,
        "does not exist",
    );
    assert_refused(
        &t.get("/no/such/route").await,
        StatusCode::NOT_FOUND,
        "no such route",
    );

    // Nothing of that was appended: still the one opening event, to the cent.
    assert_eq!(
        t.get(path).await.1,
        json!({ "id": "a-1", "owner": "Ada", "balance": 10.25, "version": 1 })
    );
    let ok = t.post(path, r#"{"type":"Withdraw","amount":10.25}"#).await;
    assert_eq!(ok.1["balance"], json!(0.0));
    t.shutdown().await;
}

/// A body over the limit is 413 with a JSON error, and nothing is appended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_limit_is_413() {
    let t = TestServer::with_options(Options {
        body_limit: 256,
        ..Options::local()
    })
    .await;
    let long_name = "x".repeat(300);
    let got = t
        .post(
            "/accounts/big",
            &format!(r#"{{"type":"OpenAccount","owner":"{long_name}"}}"#),
        )
        .await;
    assert_refused(&got, StatusCode::PAYLOAD_TOO_LARGE, "limit of 256 bytes");
    assert_eq!(t.get("/accounts/big").await.0, StatusCode::NOT_FOUND);
    // Under the limit it goes through.
    let ok = t
        .post("/accounts/big", r#"{"type":"OpenAccount","owner":"Bo"}"#)
        .await;
    assert_eq!(ok.0, StatusCode::OK, "{}", ok.1);
    t.shutdown().await;
}

/// Hundreds of concurrent transfers (a withdrawal, then a deposit of the same amount
/// when it succeeded) between four accounts: every request is answered 200 or 422
/// (conflicts are retried inside), no balance goes negative, and the money is conserved
/// to the cent, as the event streams say too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_transfers_conserve_money() {
    let t = TestServer::with_options(Options {
        workers: 4,
        ..Options::local()
    })
    .await;
    let accounts = ["c-0", "c-1", "c-2", "c-3"];
    for id in accounts {
        let open = t
            .post(
                &format!("/accounts/{id}"),
                r#"{"type":"OpenAccount","owner":"O","initial_balance":100.00}"#,
            )
            .await;
        assert_eq!(open.0, StatusCode::OK, "{}", open.1);
    }
    let transfers = (0..240).map(|n: usize| {
        let t = &t;
        async move {
            let from = accounts[n % 4];
            let to = accounts[(n / 4 + n + 1) % 4];
            let to = if to == from {
                accounts[(n + 2) % 4]
            } else {
                to
            };
            let amount = format!("{}.{:02}", 1 + n % 37, (n * 7) % 100);
            let out = t
                .post(
                    &format!("/accounts/{from}"),
                    &format!(r#"{{"type":"Withdraw","amount":{amount}}}"#),
                )
                .await;
            match out.0 {
                StatusCode::OK => {
                    let back = t
                        .post(
                            &format!("/accounts/{to}"),
                            &format!(r#"{{"type":"Deposit","amount":{amount}}}"#),
                        )
                        .await;
                    assert_eq!(back.0, StatusCode::OK, "{}", back.1);
                    2
                }
                StatusCode::UNPROCESSABLE_ENTITY => 0,
                other => panic!("unexpected {other}: {}", out.1),
            }
        }
    });
    let appended: u64 = join_all(transfers).await.into_iter().sum();
    let mut total_cents = 0i64;
    let mut versions = 0u64;
    for id in accounts {
        let (status, body) = t.get(&format!("/accounts/{id}")).await;
        assert_eq!(status, StatusCode::OK);
        let text = body["balance"].to_string();
        let cents = (body["balance"].as_f64().unwrap() * 100.0).round() as i64;
        assert!(cents >= 0, "{id} is negative: {text}");
        total_cents += cents;
        versions += body["version"].as_u64().unwrap();
        // The stream agrees with the state: one event a version.
        let (_, events) = t.get(&format!("/accounts/{id}/events")).await;
        assert_eq!(
            events.as_array().unwrap().len() as u64,
            body["version"].as_u64().unwrap()
        );
    }
    assert_eq!(total_cents, 4 * 10_000, "money is conserved");
    assert_eq!(versions, 4 + appended, "one event per accepted request");
    assert!(appended > 0);
    t.shutdown().await;
}
