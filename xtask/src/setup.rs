//! `cargo xtask setup`: install whatever is missing (Rust tools, Chromium, Node, npm
//! packages, PostgreSQL), skip what is present at the right version, and say what was
//! installed. A second run takes seconds.

use std::path::Path;
use std::time::Instant;

use crate::util::{cmd, exec, output, root};

/// The trunk release that builds with this toolchain (0.22 needs a newer rustc).
pub const TRUNK_VERSION: &str = "0.21.14";
/// The Chromium binary and its driver, from Debian's packages.
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// ChromeDriver, from Debian's `chromium-driver`.
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Installs everything the build and the tests need.
pub fn run() -> Result<(), String> {
    let started = Instant::now();
    let mut installed = Vec::new();

    let targets =
        output(&mut cmd("rustup", &["target", "list", "--installed"])).unwrap_or_default();
    if !targets
        .lines()
        .any(|l| l.trim() == "wasm32-unknown-unknown")
    {
        install(&mut installed, "the wasm32-unknown-unknown target", || {
            exec(&mut cmd(
                "rustup",
                &["target", "add", "wasm32-unknown-unknown"],
            ))
        })?;
    }

    if !has_version("trunk", TRUNK_VERSION) {
        install(&mut installed, &format!("trunk {TRUNK_VERSION}"), || {
            exec(&mut cmd(
                "cargo",
                &["install", "trunk", "--version", TRUNK_VERSION, "--locked"],
            ))
        })?;
    }

    let bindgen = wasm_bindgen_version()?;
    if !has_version("wasm-bindgen", &bindgen) {
        // Without --locked: the CLI's own lockfile may pin crates this rustc cannot build.
        install(
            &mut installed,
            &format!("wasm-bindgen-cli {bindgen}"),
            || {
                exec(&mut cmd(
                    "cargo",
                    &[
                        "install",
                        "wasm-bindgen-cli",
                        "--version",
                        &bindgen,
                        "--force",
                    ],
                ))
            },
        )?;
    }

    if version_of("wasm-pack", &["--version"]).is_empty() {
        install(&mut installed, "wasm-pack", || {
            exec(&mut cmd("cargo", &["install", "wasm-pack", "--locked"]))
        })?;
    }

    if !Path::new(CHROMIUM).exists() || !Path::new(CHROMEDRIVER).exists() {
        install(&mut installed, "chromium and chromium-driver (apt)", || {
            exec(&mut cmd("apt-get", &["update"]))?;
            exec(
                cmd("apt-get", &["install", "-y", "chromium", "chromium-driver"])
                    .env("DEBIAN_FRONTEND", "noninteractive"),
            )
        })?;
    }

    if crate::pg::bin_dir().is_none() {
        install(&mut installed, "postgresql (apt)", || {
            crate::pg::install_if_missing().map(|_| ())
        })?;
    }

    if version_of("node", &["--version"]).is_empty() {
        install(&mut installed, "nodejs and npm (apt)", || {
            exec(&mut cmd("apt-get", &["update"]))?;
            exec(
                cmd("apt-get", &["install", "-y", "nodejs", "npm"])
                    .env("DEBIAN_FRONTEND", "noninteractive"),
            )
        })?;
    }

    if npm_packages_stale() {
        install(&mut installed, "npm packages in tests/ (npm ci)", || {
            exec(cmd("npm", &["ci", "--no-audit", "--no-fund"]).current_dir(root().join("tests")))
        })?;
    }

    if installed.is_empty() {
        eprintln!(
            "setup: everything present ({:.1}s)",
            started.elapsed().as_secs_f64()
        );
    } else {
        eprintln!(
            "setup: installed {} in {:.0}s",
            installed.join(", "),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

fn install(
    installed: &mut Vec<String>,
    what: &str,
    action: impl FnOnce() -> Result<(), String>,
) -> Result<(), String> {
    eprintln!("setup: installing {what}");
    let started = Instant::now();
    action().map_err(|e| format!("installing {what}: {e}"))?;
    eprintln!(
        "setup: installed {what} ({:.0}s)",
        started.elapsed().as_secs_f64()
    );
    installed.push(what.to_string());
    Ok(())
}

/// Whether `program --version` prints exactly `version` as one of its words.
fn has_version(program: &str, version: &str) -> bool {
    version_of(program, &["--version"])
        .split_whitespace()
        .any(|word| word.trim_start_matches('v') == version)
}

fn version_of(program: &str, args: &[&str]) -> String {
    output(&mut cmd(program, args)).unwrap_or_default()
}

/// The `wasm-bindgen` version in Cargo.lock: the CLI must match it exactly.
pub fn wasm_bindgen_version() -> Result<String, String> {
    let lock = std::fs::read_to_string(root().join("Cargo.lock"))
        .map_err(|e| format!("cannot read Cargo.lock: {e}"))?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "name = \"wasm-bindgen\"" {
            if let Some(v) = lines
                .next()
                .and_then(|l| l.trim().strip_prefix("version = "))
            {
                return Ok(v.trim_matches('"').to_string());
            }
        }
    }
    Err("Cargo.lock has no wasm-bindgen package".into())
}

/// Whether `npm ci` must run: no node_modules, or a lockfile newer than the install.
fn npm_packages_stale() -> bool {
    let tests = root().join("tests");
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    match (
        modified(&tests.join("package-lock.json")),
        modified(&tests.join("node_modules/.package-lock.json")),
    ) {
        (Some(lock), Some(installed)) => lock > installed,
        _ => true,
    }
}
