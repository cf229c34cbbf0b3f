//! Load against chronik-server on a real PostgreSQL, side by side in one run, written
//! to `bench/server.json` for `bench/report.mjs` (run by `cargo xtask bench`, which
//! starts a throwaway PostgreSQL and sets `DATABASE_URL`):
//!
//! - appends at 1, 16 and 64 concurrent clients (one event per append, each client its
//!   own stream, every append checking the expected version), through three paths:
//!   HTTP (`POST /v1/stores/{store}/streams/{stream}`), `PgStore` called directly, and a
//!   raw SQL baseline inserting the same rows through the same pool with one `INSERT`
//!   each (no head row, no stream row, no checks: the physical limit here);
//! - catch-up of 100,000 events: `PgStore::read_all` pages, `GET …/events` pages, and
//!   `GET …/live` (Server-Sent Events);
//! - a projection rebuild (AccountBalances) over 100,000 demo events on PostgreSQL.

use std::rc::Rc;
use std::str::FromStr;
use std::time::{Duration, Instant};

use chronik_core::{
    EventStore, ExpectedVersion, ManualClock, NewEvent, ReadAllOptions, RecordedEvent,
    SequentialIds,
};
use chronik_examples::bank::AccountBalances;
use chronik_examples::{write_demo, Bank, DemoConfig, Timeline};
use chronik_postgres::deadpool_postgres::Pool;
use chronik_postgres::tokio_postgres::{self, NoTls};
use chronik_postgres::{pool_from_config, PgStore};
use chronik_server::Options;
use serde_json::{json, Value};

const POOL: usize = 32;
const CATCH_UP_EVENTS: u64 = 100_000;

fn database_url() -> String {
    std::env::var("DATABASE_URL").expect(
        "DATABASE_URL is not set: run this with `cargo xtask bench` (it starts a PostgreSQL)",
    )
}

/// A fresh database on the server; its pool.
async fn fresh_db(name: &str) -> Pool {
    let base = tokio_postgres::Config::from_str(&database_url()).expect("DATABASE_URL parses");
    let (admin, conn) = base.connect(NoTls).await.expect("connect");
    tokio::spawn(conn);
    for sql in [
        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        format!("CREATE DATABASE {name}"),
    ] {
        admin
            .batch_execute(&sql)
            .await
            .expect("create the bench database");
    }
    let mut config = base.clone();
    config.dbname(name);
    pool_from_config(config, POOL).expect("pool")
}

async fn pg_store(pool: &Pool, store: &str) -> Rc<PgStore> {
    Rc::new(
        PgStore::connect(
            pool.clone(),
            store,
            ManualClock::new(1),
            SequentialIds::new(store),
        )
        .await
        .expect("PgStore connects"),
    )
}

fn event(client: usize, i: usize) -> NewEvent {
    NewEvent::new("Deposited", json!({"amount": 100 + i, "client": client}))
        .with_id(format!("c{client}-{i}"))
}

/// Per-append latencies (µs), sorted, and the wall time of the run.
struct Run {
    latencies: Vec<f64>,
    wall: Duration,
}

impl Run {
    fn row(&self, path: &str, clients: usize) -> Value {
        let n = self.latencies.len();
        let pct = |p: f64| self.latencies[((n as f64 * p) as usize).min(n - 1)];
        json!({
            "path": path,
            "clients": clients,
            "events": n,
            "eventsPerSecond": n as f64 / self.wall.as_secs_f64(),
            "p50Us": pct(0.50),
            "p99Us": pct(0.99),
        })
    }
}

fn finish(mut latencies: Vec<f64>, started: Instant) -> Run {
    latencies.sort_by(f64::total_cmp);
    Run {
        latencies,
        wall: started.elapsed(),
    }
}

fn per_client(clients: usize) -> usize {
    (3_000 / clients).max(40)
}

async fn appends_pg_store(pool: &Pool, clients: usize) -> Run {
    let store = pg_store(pool, &format!("direct{clients}")).await;
    let local = tokio::task::LocalSet::new();
    local
        .run_until(async {
            let started = Instant::now();
            let tasks: Vec<_> = (0..clients)
                .map(|c| {
                    let store = Rc::clone(&store);
                    tokio::task::spawn_local(async move {
                        let mut lat = Vec::new();
                        for i in 0..per_client(clients) {
                            let t = Instant::now();
                            let expected = if i == 0 {
                                ExpectedVersion::NoStream
                            } else {
                                ExpectedVersion::Exact(i as u64)
                            };
                            store
                                .append(&format!("acc-{c}"), expected, vec![event(c, i)])
                                .await
                                .expect("append");
                            lat.push(t.elapsed().as_secs_f64() * 1e6);
                        }
                        lat
                    })
                })
                .collect();
            let mut all = Vec::new();
            for t in tasks {
                all.extend(t.await.expect("client"));
            }
            finish(all, started)
        })
        .await
}

async fn appends_raw_sql(pool: &Pool, clients: usize) -> Run {
    let store = format!("raw{clients}");
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let (pool, store) = (pool.clone(), store.clone());
            tokio::spawn(async move {
                let client = pool.get().await.expect("a connection");
                let insert = client
                    .prepare(
                        "INSERT INTO chronik_events (store, position, stream_id, version, event_id, event_type, schema_version, data, metadata, recorded_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, 1, $7, '{}', 1)",
                    )
                    .await
                    .expect("prepare");
                let mut lat = Vec::new();
                for i in 0..per_client(clients) {
                    let e = event(c, i);
                    let t = Instant::now();
                    client
                        .execute(
                            &insert,
                            &[
                                &store,
                                &((c * 1_000_000 + i + 1) as i64),
                                &format!("acc-{c}"),
                                &(i as i64 + 1),
                                &e.event_id.unwrap(),
                                &e.event_type,
                                &e.data.to_string(),
                            ],
                        )
                        .await
                        .expect("insert");
                    lat.push(t.elapsed().as_secs_f64() * 1e6);
                }
                lat
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("client"));
    }
    finish(all, started)
}

async fn appends_http(url: &str, clients: usize) -> Run {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(128)
        .build()
        .unwrap();
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let (http, url) = (http.clone(), url.to_string());
            tokio::spawn(async move {
                let mut lat = Vec::new();
                for i in 0..per_client(clients) {
                    let expected = if i == 0 { json!("noStream") } else { json!(i) };
                    let body = json!({
                        "expectedVersion": expected,
                        "events": [{"id": format!("c{c}-{i}"), "type": "Deposited", "data": {"amount": 100 + i, "client": c}}],
                    });
                    let t = Instant::now();
                    let r = http
                        .post(format!("{url}/v1/stores/http{clients}/streams/acc-{c}"))
                        .json(&body)
                        .send()
                        .await
                        .expect("append over HTTP");
                    assert!(r.status().is_success(), "{}", r.text().await.unwrap_or_default());
                    r.bytes().await.expect("body");
                    lat.push(t.elapsed().as_secs_f64() * 1e6);
                }
                lat
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("client"));
    }
    finish(all, started)
}

/// Writes `CATCH_UP_EVENTS` events of 1,000 streams into `store` (imports of 5,000).
async fn seed_log(store: &PgStore) {
    let mut position = 0;
    while position < CATCH_UP_EVENTS {
        let chunk: Vec<RecordedEvent> = (0..5_000)
            .map(|_| {
                position += 1;
                let stream = position % 1_000;
                RecordedEvent {
                    event_id: format!("e{position}"),
                    stream_id: format!("acc-{stream}"),
                    version: (position - 1) / 1_000 + 1,
                    position,
                    event_type: "Deposited".into(),
                    schema_version: 1,
                    data: json!({"amount": position}),
                    metadata: Default::default(),
                    recorded_at: position as i64,
                }
            })
            .collect();
        store.import_events(chunk).await.expect("import");
    }
}

fn rate(events: u64, took: Duration) -> Value {
    json!({"events": events, "seconds": took.as_secs_f64(), "eventsPerSecond": events as f64 / took.as_secs_f64()})
}

async fn catch_up(pool: &Pool, url: &str) -> Value {
    let local = tokio::task::LocalSet::new();
    let direct = local
        .run_until(async {
            let store = pg_store(pool, "catchup").await;
            seed_log(&store).await;
            // Once unmeasured, so that every path below reads a warm cache.
            store
                .read_all(ReadAllOptions::default())
                .await
                .expect("warm-up read");
            let started = Instant::now();
            let mut from = 1;
            let mut n = 0;
            loop {
                let page = store
                    .read_all(ReadAllOptions {
                        from_position: from,
                        limit: Some(1_000),
                        ..ReadAllOptions::default()
                    })
                    .await
                    .expect("read");
                if page.is_empty() {
                    break;
                }
                n += page.len() as u64;
                from = page.last().unwrap().position + 1;
            }
            assert_eq!(n, CATCH_UP_EVENTS);
            rate(n, started.elapsed())
        })
        .await;

    let http = reqwest::Client::new();
    let started = Instant::now();
    let (mut after, mut n) = (0_u64, 0_u64);
    loop {
        let page: Value = http
            .get(format!(
                "{url}/v1/stores/catchup/events?after={after}&limit=1000"
            ))
            .send()
            .await
            .expect("page")
            .json()
            .await
            .expect("JSON page");
        let events = page["events"].as_array().expect("events").len() as u64;
        n += events;
        after = page["next"].as_u64().expect("next");
        if events == 0 || after >= page["head"].as_u64().unwrap_or(0) && events < 1_000 {
            break;
        }
    }
    assert_eq!(n, CATCH_UP_EVENTS, "every event through the pages");
    let pages = rate(n, started.elapsed());

    let started = Instant::now();
    let mut response = http
        .get(format!("{url}/v1/stores/catchup/live?after=0"))
        .send()
        .await
        .expect("live");
    let (mut n, mut rest) = (0_u64, String::new());
    while n < CATCH_UP_EVENTS {
        let chunk = response
            .chunk()
            .await
            .expect("a live chunk")
            .expect("the stream goes on");
        rest.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = rest.find("\n\n") {
            if rest[..end].lines().any(|l| l.starts_with("data:")) {
                n += 1;
            }
            rest.drain(..end + 2);
        }
    }
    let live = rate(n, started.elapsed());
    json!({"pgStorePages": direct, "httpPages": pages, "live": live})
}

async fn rebuild(pool: &Pool) -> Value {
    let local = tokio::task::LocalSet::new();
    local
        .run_until(async {
            let store = pg_store(pool, "demo").await;
            write_demo(
                &*store,
                DemoConfig::new(1, CATCH_UP_EVENTS),
                Timeline::Configured,
                || false,
                |_, _| {},
            )
            .await
            .expect("demo data");
            let clock = Rc::new(ManualClock::new(1));
            let bank = Bank::new(Rc::clone(&store));
            let mut runner = bank.projection(AccountBalances, clock);
            let started = Instant::now();
            runner.catch_up().await.expect("rebuild");
            rate(CATCH_UP_EVENTS, started.elapsed())
        })
        .await
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let pool = fresh_db("chronik_bench_server").await;
        let server = chronik_server::start(Options::local(), pool.clone())
            .await
            .expect("server");
        let url = server.url();
        let mut appends = Vec::new();
        for clients in [1, 16, 64] {
            eprintln!("bench: appends at {clients} clients");
            appends.push(
                appends_raw_sql(&pool, clients)
                    .await
                    .row("raw SQL", clients),
            );
            appends.push(
                appends_pg_store(&pool, clients)
                    .await
                    .row("PgStore", clients),
            );
            appends.push(appends_http(&url, clients).await.row("HTTP", clients));
        }
        eprintln!("bench: catch-up of {CATCH_UP_EVENTS} events");
        let catch_up = catch_up(&pool, &url).await;
        eprintln!("bench: projection rebuild over {CATCH_UP_EVENTS} demo events");
        let rebuild = rebuild(&pool).await;
        server.shutdown().await.expect("shutdown");
        let out = json!({
            "date": unix_seconds(),
            "pool": POOL,
            "appends": appends,
            "catchUp": catch_up,
            "rebuild": rebuild,
        });
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../bench/server.json");
        std::fs::write(path, serde_json::to_string_pretty(&out).unwrap())
            .expect("write bench/server.json");
        eprintln!("bench: wrote bench/server.json");
    });
}

/// Seconds since the Unix epoch (the report turns it into a date).
fn unix_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
