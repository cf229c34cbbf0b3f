//! Small helpers: the workspace root, running commands, PATH handling.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The workspace root (the parent of `xtask/`).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives inside the workspace")
        .to_path_buf()
}

/// `tests/node_modules/.bin` (npm's binaryen `wasm-opt`, `tsc`) and `~/.cargo/bin` first
/// on PATH, so that builds use the pinned tools rather than whatever the system has.
pub fn tool_path() -> OsString {
    let mut dirs = vec![root().join("tests/node_modules/.bin")];
    if let Some(home) = std::env::var_os("CARGO_HOME") {
        dirs.push(PathBuf::from(home).join("bin"));
    } else if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".cargo/bin"));
    }
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    std::env::join_paths(dirs).expect("PATH entries contain no separator")
}

/// A command run from the workspace root with the tool PATH.
pub fn cmd(program: &str, args: &[&str]) -> Command {
    let mut c = Command::new(program);
    c.args(args).current_dir(root()).env("PATH", tool_path());
    c
}

/// Runs `c`, echoing it, and fails unless it exits 0.
pub fn exec(c: &mut Command) -> Result<(), String> {
    eprintln!("$ {}", describe(c));
    let status = c
        .status()
        .map_err(|e| format!("cannot run {}: {e}", describe(c)))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{}` failed ({status})", describe(c)))
    }
}

/// Runs `c` and returns its stdout when it exits 0, `None` when it cannot run or fails.
pub fn output(c: &mut Command) -> Option<String> {
    let out = c.stderr(Stdio::null()).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `program args…` as a shell would show it.
pub fn describe(c: &Command) -> String {
    std::iter::once(c.get_program())
        .chain(c.get_args())
        .map(|s| s.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}
