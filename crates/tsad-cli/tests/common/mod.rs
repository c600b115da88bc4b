//! What the CLI's test binaries share: running the compiled `tsad` as a user would.

use std::path::Path;
use std::process::Command;

/// A finished `tsad` run.
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// Runs `tsad ARGS` in `dir`.
pub(crate) fn tsad(dir: &Path, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_tsad"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the tsad binary runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
