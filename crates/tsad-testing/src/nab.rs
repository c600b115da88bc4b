//! Where tests find the NAB corpus.

use std::path::PathBuf;

/// The NAB corpus: `TSAD_NAB_DIR`, else `../shared/datasets/nab` beside the workspace.
/// `None`, with a "skipped" line on stderr, when it is absent (a user's clone has no
/// `../shared`), so a test that needs it returns early.
///
/// # Panics
///
/// When the corpus is absent and `CI=true`: CI always has it, so a missing corpus there is a
/// broken setup, not a reason to skip.
pub fn nab_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("TSAD_NAB_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets/nab"),
        PathBuf::from,
    );
    if dir.join("data").is_dir() && dir.join("labels/combined_windows.json").is_file() {
        return Some(dir);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("NAB corpus not found at {} (CI=true)", dir.display());
    }
    eprintln!("skipped: NAB corpus not found at {}", dir.display());
    None
}
