//! `cargo xtask package`: the npm package `chronik`, built by wasm-pack for each target
//! and shrunk with wasm-opt from npm's binaryen (wasm-pack's own download is disabled in
//! web/Cargo.toml, since this machine reaches no download site but the registries).

use crate::util::{cmd, exec, root};

/// The wasm-pack targets and the folder (under `web/`) each is built into.
pub const TARGETS: [(&str, &str); 3] = [
    ("web", "pkg"),
    ("bundler", "pkg-bundler"),
    ("nodejs", "pkg-node"),
];

/// Builds every target.
pub fn build_all() -> Result<(), String> {
    for (target, out_dir) in TARGETS {
        build(target, out_dir)?;
    }
    Ok(())
}

/// Builds the web target without the example domains (`--no-default-features`) into
/// `web/pkg-engine`: the package a user who wants only the engine gets.
pub fn build_engine_only() -> Result<(), String> {
    build_with("web", "pkg-engine", &["--", "--no-default-features"])
}

/// Builds the package for `target` into `web/<out_dir>` and optimises its wasm.
pub fn build(target: &str, out_dir: &str) -> Result<(), String> {
    build_with(target, out_dir, &[])
}

/// Builds for `target` into `web/<out_dir>`, passing `extra` to wasm-pack (after `--`:
/// to cargo), and optimises the wasm.
fn build_with(target: &str, out_dir: &str, extra: &[&str]) -> Result<(), String> {
    let mut args = vec![
        "build",
        "web",
        "--mode",
        "no-install",
        "--release",
        "--target",
        target,
        "--out-dir",
        out_dir,
        "--out-name",
        "chronik",
    ];
    args.extend_from_slice(extra);
    exec(&mut cmd("wasm-pack", &args))?;
    let wasm = root().join("web").join(out_dir).join("chronik_bg.wasm");
    let wasm = wasm.to_string_lossy();
    // -O3 rather than -Oz: the package is an engine, so speed matters more than bytes.
    exec(&mut cmd(
        "wasm-opt",
        &[
            "-O3",
            "--enable-bulk-memory",
            "--enable-nontrapping-float-to-int",
            "--enable-sign-ext",
            "--enable-mutable-globals",
            "--enable-reference-types",
            "--enable-multivalue",
            &wasm,
            "-o",
            &wasm,
        ],
    ))
}
