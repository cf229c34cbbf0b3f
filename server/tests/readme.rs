//! The README's server examples, run as written: every `curl` line of its "Server"
//! section against a real server on a real PostgreSQL, each answer compared with the
//! `# <status> <body>` line under it (`"…"` matches any value).

mod common;

use common::TestServer;
use reqwest::Method;
use serde_json::Value;

/// The `curl` calls of the README's "Server" section, each with the status and body it
/// shows.
fn examples() -> Vec<(Vec<String>, u16, Value)> {
    let readme = include_str!("../../README.md");
    let section = readme
        .split("\n## ")
        .find(|s| s.starts_with("Server\n"))
        .expect("the README has a Server section");
    let mut out = Vec::new();
    let mut lines = section.lines().peekable();
    while let Some(line) = lines.next() {
        if !line.starts_with("curl ") {
            continue;
        }
        let args = shlex::split(line).unwrap_or_else(|| panic!("cannot split: {line}"));
        let answer = lines
            .next()
            .and_then(|l| l.strip_prefix("# "))
            .unwrap_or_else(|| panic!("no '# <status> <body>' line under: {line}"));
        let (status, body) = answer.split_once(' ').expect("a status and a body");
        let body = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
        out.push((args, status.parse().expect("a status"), body));
    }
    out
}

/// Whether `got` is `want`, where a `"…"` in `want` matches anything.
fn matches(want: &Value, got: &Value) -> bool {
    match (want, got) {
        (Value::String(s), _) if s == "…" => true,
        (Value::Array(w), Value::Array(g)) => {
            w.len() == g.len() && w.iter().zip(g).all(|(w, g)| matches(w, g))
        }
        (Value::Object(w), Value::Object(g)) => {
            w.len() == g.len()
                && w.iter()
                    .all(|(k, w)| g.get(k).is_some_and(|g| matches(w, g)))
        }
        _ => want == got,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_server_examples_answer_as_written() {
    let examples = examples();
    assert!(examples.len() >= 8, "{} examples", examples.len());
    let t = TestServer::start().await;
    for (args, status, body) in examples {
        let mut method = Method::GET;
        let mut headers = Vec::new();
        let mut data = None;
        let mut url = None;
        let mut rest = args[1..].iter();
        while let Some(arg) = rest.next() {
            match arg.as_str() {
                "-X" => method = rest.next().expect("a method").parse().expect("a method"),
                "-H" => headers.push(rest.next().expect("a header").clone()),
                "-d" => data = Some(rest.next().expect("a body").clone()),
                "-s" => {}
                other if other.starts_with("http://") => url = Some(other.to_string()),
                other => panic!("the test does not know curl's {other}"),
            }
        }
        if data.is_some() && method == Method::GET {
            method = Method::POST; // as curl does with -d
        }
        let url = url.expect("a URL").replace("http://127.0.0.1:8080", &t.url);
        let mut request = t.http.request(method, &url);
        for header in &headers {
            let (name, value) = header.split_once(':').expect("name: value");
            request = request.header(name.trim(), value.trim());
        }
        if let Some(data) = data {
            request = request.body(data);
        }
        let response = request.send().await.expect("the request is answered");
        let got_status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let got: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        assert_eq!(got_status, status, "{}: {text}", args.join(" "));
        assert!(
            matches(&body, &got),
            "{}\nwant {body}\ngot  {got}",
            args.join(" ")
        );
    }
    t.shutdown().await;
}
