//! `cargo xtask serve`: build the app in release with Trunk and serve `dist/` on localhost.
//!
//! The server is a small static file server (GET/HEAD only, loopback only) so that the
//! same code serves the app to a person and to the end-to-end tests.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::thread;

use crate::util::{cmd, exec, root};

/// Builds the app in release (wasm-opt from npm's binaryen) into `dist/`.
pub fn build_app() -> Result<(), String> {
    exec(&mut cmd("trunk", &["build", "--release"]))
}

/// The `--port N` of `command`'s `args` (default 8080); any other option is an error.
pub fn port_option(args: &[String], command: &str) -> Result<u16, String> {
    let mut port = 8080u16;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--port" => {
                port = it
                    .next()
                    .and_then(|p| p.parse().ok())
                    .ok_or("--port needs a number")?;
            }
            other => return Err(format!("unknown option '{other}' for {command}")),
        }
    }
    Ok(port)
}

/// `serve [--port N]`.
pub fn run(args: &[String]) -> Result<(), String> {
    let port = crate::serve::port_option(args, "serve")?;
    crate::setup::run()?;
    build_app()?;
    let listener = TcpListener::bind(("127.0.0.1", port))
        .map_err(|e| format!("cannot listen on 127.0.0.1:{port}: {e}"))?;
    println!("chronik is being served at http://127.0.0.1:{port}/ (Ctrl+C stops)");
    serve_forever(listener, root().join("dist"));
    Ok(())
}

/// Serves `dir` on `listener`, one thread per connection, until the process ends.
pub fn serve_forever(listener: TcpListener, dir: PathBuf) {
    for stream in listener.incoming().flatten() {
        let dir = dir.clone();
        thread::spawn(move || {
            let _ = handle(stream, &dir);
        });
    }
}

/// Binds a free loopback port and serves `dir` on it in the background.
pub fn serve_in_background(dir: PathBuf) -> Result<u16, String> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).map_err(|e| e.to_string())?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    thread::spawn(move || serve_forever(listener, dir));
    Ok(port)
}

fn handle(stream: TcpStream, dir: &Path) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line)? == 0 {
            return Ok(());
        }
        // Skip the headers; nothing in them changes the answer.
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header)? == 0 || header == "\r\n" || header == "\n" {
                break;
            }
        }
        let mut parts = request_line.split_whitespace();
        let method = parts.next().unwrap_or_default();
        let target = parts.next().unwrap_or("/");
        respond(&stream, dir, method, target)?;
    }
}

fn respond(mut stream: &TcpStream, dir: &Path, method: &str, target: &str) -> std::io::Result<()> {
    if method != "GET" && method != "HEAD" {
        return write_response(stream, "405 Method Not Allowed", "text/plain", b"", method);
    }
    let path = target.split(['?', '#']).next().unwrap_or("/");
    let relative = path.trim_start_matches('/');
    let file = if relative.is_empty() || relative.split('/').any(|p| p == "..") {
        dir.join("index.html")
    } else {
        dir.join(relative)
    };
    // Unknown paths without an extension are app routes: answer with the app shell.
    let file = if !file.is_file() && Path::new(relative).extension().is_none() {
        dir.join("index.html")
    } else {
        file
    };
    match std::fs::read(&file) {
        Ok(body) => write_response(stream, "200 OK", content_type(&file), &body, method),
        Err(_) => {
            write_response(stream, "404 Not Found", "text/plain", b"not found", method)?;
            stream.flush()
        }
    }
}

fn write_response(
    mut stream: &TcpStream,
    status: &str,
    content_type: &str,
    body: &[u8],
    method: &str,
) -> std::io::Result<()> {
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nCache-Control: no-cache\r\n\r\n",
        body.len()
    )?;
    if method != "HEAD" {
        stream.write_all(body)?;
    }
    stream.flush()
}

fn content_type(file: &Path) -> &'static str {
    match file.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("css") => "text/css; charset=utf-8",
        Some("json" | "webmanifest") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        _ => "application/octet-stream",
    }
}
