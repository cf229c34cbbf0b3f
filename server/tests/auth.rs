//! Bearer tokens over real HTTP on PostgreSQL: 401 without a known token, 403 outside
//! a token's stores or scope, the seed APIs in the default store, the open paths, and
//! the listen-address rule.

mod common;

use std::net::SocketAddr;

use chronik_server::auth::Token;
use chronik_server::{Config, Options, StartError};
use clap::Parser;
use common::{TestDb, TestServer};
use reqwest::StatusCode;
use serde_json::{json, Value};

const ALPHA_WRITE: &str = "alpha-writer-0123456789";
const ALPHA_READ: &str = "alpha-reader-0123456789";
const DEFAULT_WRITE: &str = "default-writer-0123456789";
const DEFAULT_READ: &str = "default-reader-0123456789";
const EVERYTHING: &str = "admin-0123456789abcdef";

fn tokens() -> Vec<Token> {
    [
        format!("{ALPHA_WRITE}:alpha:write"),
        format!("{ALPHA_READ}:alpha,gamma:read"),
        format!("{DEFAULT_WRITE}:default:write"),
        format!("{DEFAULT_READ}:default:read"),
        format!("{EVERYTHING}:*:write"),
    ]
    .iter()
    .map(|s| s.parse().unwrap())
    .collect()
}

async fn guarded() -> TestServer {
    TestServer::with_options(Options {
        tokens: tokens(),
        ..Options::local()
    })
    .await
}

/// `method path` with `token` (None: no header) and a JSON body for POST: the status
/// and the body as JSON (or `null` when it is not JSON).
async fn call(
    t: &TestServer,
    method: &str,
    path: &str,
    token: Option<&str>,
) -> (StatusCode, Value) {
    let url = format!("{}{path}", t.url);
    let mut request = match method {
        "GET" => t.http.get(url),
        "POST" => t
            .http
            .post(url)
            .header("content-type", "application/json")
            .body(
                json!({"expectedVersion": "any", "events": [{"type": "T", "data": 1}]}).to_string(),
            ),
        other => panic!("{other}"),
    };
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    if path.ends_with("/live") && status == StatusCode::OK {
        return (status, Value::Null); // an endless event stream
    }
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[track_caller]
fn assert_status(got: &(StatusCode, Value), status: StatusCode) {
    assert_eq!(got.0, status, "{}", got.1);
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        assert!(got.1["error"].is_string(), "a JSON error: {}", got.1);
    }
}

/// Missing or unknown tokens are 401 everywhere but the open paths; a token reaches
/// only its stores, and a read token cannot append.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_scoped_to_stores_and_to_read_or_write() {
    let t = guarded().await;
    for path in ["/health", "/ready", "/v1/openapi.json"] {
        assert_status(&call(&t, "GET", path, None).await, StatusCode::OK);
    }
    let alpha = "/v1/stores/alpha/streams/s-1";
    for token in [None, Some("not-a-configured-token-at-all")] {
        for (method, path) in [
            ("GET", alpha),
            ("POST", alpha),
            ("GET", "/v1/stores/alpha/events"),
            ("GET", "/v1/stores/alpha/live"),
            ("GET", "/metrics"),
            ("GET", "/queries/account/a"),
            ("POST", "/commands/deposit"),
            ("GET", "/no/such/route"),
        ] {
            let got = call(&t, method, path, token).await;
            assert_status(&got, StatusCode::UNAUTHORIZED);
        }
    }
    let response = t
        .http
        .get(format!("{}/v1/stores/alpha/events", t.url))
        .header("authorization", format!("Basic {ALPHA_WRITE}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");

    // A write token of alpha: reads and writes alpha, nothing of beta.
    assert_status(
        &call(&t, "POST", alpha, Some(ALPHA_WRITE)).await,
        StatusCode::OK,
    );
    let (status, page) = call(&t, "GET", "/v1/stores/alpha/events", Some(ALPHA_WRITE)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["head"], json!(1));
    for (method, path) in [
        ("POST", "/v1/stores/beta/streams/s-1"),
        ("GET", "/v1/stores/beta/streams/s-1"),
        ("GET", "/v1/stores/beta/events"),
        ("GET", "/v1/stores/beta/live"),
        ("GET", "/v1/stores/beta/streams"),
        ("GET", "/v1/stores/beta/stats"),
    ] {
        assert_status(
            &call(&t, method, path, Some(ALPHA_WRITE)).await,
            StatusCode::FORBIDDEN,
        );
    }
    // A read token: reads alpha (and live), cannot append.
    for path in [
        alpha,
        "/v1/stores/alpha/events",
        "/v1/stores/alpha/streams",
        "/v1/stores/alpha/stats",
        "/v1/stores/alpha/live",
        "/v1/stores/gamma/events",
    ] {
        assert_status(
            &call(&t, "GET", path, Some(ALPHA_READ)).await,
            StatusCode::OK,
        );
    }
    let refused = call(&t, "POST", alpha, Some(ALPHA_READ)).await;
    assert_status(&refused, StatusCode::FORBIDDEN);
    assert!(refused.1["error"].as_str().unwrap().contains("alpha"));
    assert_status(
        &call(&t, "GET", "/v1/stores/beta/events", Some(ALPHA_READ)).await,
        StatusCode::FORBIDDEN,
    );
    // A store name is matched after percent-decoding, so no spelling gets around it.
    assert_status(
        &call(&t, "GET", "/v1/stores/%61lpha/events", Some(ALPHA_READ)).await,
        StatusCode::OK,
    );
    assert_status(
        &call(
            &t,
            "POST",
            "/v1/stores/%61lpha/streams/s-1",
            Some(ALPHA_READ),
        )
        .await,
        StatusCode::FORBIDDEN,
    );
    // `*`: every store.
    assert_status(
        &call(&t, "POST", "/v1/stores/beta/streams/s-1", Some(EVERYTHING)).await,
        StatusCode::OK,
    );
    // Nothing the refused requests tried was written.
    let (_, alpha_log) = call(&t, "GET", "/v1/stores/alpha/events", Some(EVERYTHING)).await;
    assert_eq!(alpha_log["head"], json!(1));
    let (_, beta_log) = call(&t, "GET", "/v1/stores/beta/events", Some(EVERYTHING)).await;
    assert_eq!(beta_log["head"], json!(1));

    // Any valid token reads the metrics; an unknown route is a 404 once authenticated.
    assert_status(
        &call(&t, "GET", "/metrics", Some(ALPHA_READ)).await,
        StatusCode::OK,
    );
    // (Outside /v1 every path counts as the default store's, a missing one too.)
    assert_status(
        &call(&t, "GET", "/no/such/route", Some(DEFAULT_READ)).await,
        StatusCode::NOT_FOUND,
    );
    assert_status(
        &call(&t, "GET", "/no/such/route", Some(ALPHA_READ)).await,
        StatusCode::FORBIDDEN,
    );
    assert_status(
        &call(&t, "GET", "/v1/stores/alpha/nothing", Some(ALPHA_READ)).await,
        StatusCode::NOT_FOUND,
    );
    t.shutdown().await;
}

/// The seed APIs live in the default store: reading them needs read on it, commands
/// need write on it; a token of another store gets 403.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_apis_need_the_default_store() {
    let t = guarded().await;
    let open = |token: &str| {
        let (http, url) = (t.http.clone(), t.url.clone());
        let token = token.to_string();
        async move {
            http.post(format!("{url}/commands/open-account"))
                .bearer_auth(token)
                .header("content-type", "application/json")
                .body(r#"{"accountId":"acc-1","initialBalance":5}"#)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(open(ALPHA_WRITE).await, StatusCode::FORBIDDEN);
    assert_eq!(open(DEFAULT_READ).await, StatusCode::FORBIDDEN);
    assert_eq!(open(DEFAULT_WRITE).await, StatusCode::CREATED);
    assert_status(
        &call(&t, "GET", "/queries/account/acc-1", Some(DEFAULT_READ)).await,
        StatusCode::OK,
    );
    assert_status(
        &call(&t, "GET", "/queries/account/acc-1", Some(ALPHA_WRITE)).await,
        StatusCode::FORBIDDEN,
    );
    assert_status(
        &call(&t, "GET", "/v1/stores/default/events", Some(DEFAULT_READ)).await,
        StatusCode::OK,
    );
    assert_status(
        &call(
            &t,
            "POST",
            "/v1/stores/default/streams/x",
            Some(DEFAULT_READ),
        )
        .await,
        StatusCode::FORBIDDEN,
    );
    t.shutdown().await;
}

/// Without tokens only loopback is allowed; with tokens another address is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_loopback_without_tokens() {
    let db = TestDb::new("chronik_server_test").await;
    let anywhere = SocketAddr::from(([0, 0, 0, 0], 0));
    let refused = chronik_server::start(
        Options {
            listen: anywhere,
            ..Options::local()
        },
        db.pool(2),
    )
    .await;
    assert!(matches!(refused, Err(StartError::Unprotected(_))));
    let server = chronik_server::start(
        Options {
            listen: anywhere,
            tokens: tokens(),
            ..Options::local()
        },
        db.pool(2),
    )
    .await
    .expect("with tokens any address is allowed");
    let port = server.addr().port();
    let response = reqwest::get(format!("http://127.0.0.1:{port}/v1/stores/alpha/events"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    server.shutdown().await.unwrap();

    // The same secret twice is refused at start.
    let twice = chronik_server::start(
        Options {
            tokens: vec![tokens()[0].clone(), tokens()[0].clone()],
            ..Options::local()
        },
        db.pool(2),
    )
    .await;
    assert!(matches!(twice, Err(StartError::Tokens(_))));
}

/// `--token` (repeatable), `--tokens-file` and their refusals.
#[test]
fn tokens_from_the_command_line_and_a_file() {
    let file = std::env::temp_dir().join(format!("chronik-tokens-{}.txt", std::process::id()));
    std::fs::write(
        &file,
        "# readers\n\nfile-token-0123456789:alpha:read\n  file-token-abcdefghij:*:write \n",
    )
    .unwrap();
    let config = Config::try_parse_from([
        "chronik-server",
        "--database-url",
        "postgres://x@127.0.0.1/db",
        "--token",
        "flag-token-0123456789:a,b:write",
        "--token",
        "flag-token-abcdefghij:c:read",
        "--tokens-file",
        file.to_str().unwrap(),
    ])
    .expect("parses");
    let options = config.options();
    assert_eq!(options.tokens.len(), 4);
    assert!(options.tokens[0].allows("b", chronik_server::auth::Scope::Write));
    assert!(!options.tokens[1].allows("c", chronik_server::auth::Scope::Write));
    assert!(options.tokens[3].allows("zeta", chronik_server::auth::Scope::Write));

    std::fs::write(&file, "ok-token-0123456789:a:read\nshort:a:read\n").unwrap();
    let bad = Config::try_parse_from([
        "chronik-server",
        "--database-url",
        "postgres://x@127.0.0.1/db",
        "--tokens-file",
        file.to_str().unwrap(),
    ])
    .unwrap_err()
    .to_string();
    assert!(bad.contains("line 2"), "{bad}");
    let bad = Config::try_parse_from([
        "chronik-server",
        "--database-url",
        "postgres://x@127.0.0.1/db",
        "--token",
        "flag-token-0123456789:a:admin",
    ])
    .unwrap_err()
    .to_string();
    assert!(bad.contains("scope"), "{bad}");
    let _ = std::fs::remove_file(&file);
}
