//! Where tests find the labelled data sets in `../shared/datasets`.

use std::path::{Path, PathBuf};

/// The NAB corpus: `TSAD_NAB_DIR`, else `../shared/datasets/nab` beside the workspace.
/// `None`, with a "skipped" line on stderr, when it is absent (a user's clone has no
/// `../shared`), so a test that needs it returns early.
///
/// # Panics
///
/// When the corpus is absent and `CI=true`: CI always has it, so a missing corpus there is a
/// broken setup, not a reason to skip.
pub fn nab_dir() -> Option<PathBuf> {
    dataset("NAB corpus", "TSAD_NAB_DIR", "nab", |d| {
        d.join("data").is_dir() && d.join("labels/combined_windows.json").is_file()
    })
}

/// NASA SMAP in the telemanom layout (`labels.csv`, `train/`, `test/`): `TSAD_SMAP_DIR`, else
/// `../shared/datasets/smap` beside the workspace; `None` when absent, as [`nab_dir`].
///
/// # Panics
///
/// When the data set is absent and `CI=true`, as [`nab_dir`].
pub fn smap_dir() -> Option<PathBuf> {
    dataset("SMAP data set", "TSAD_SMAP_DIR", "smap", |d| {
        d.join("labels.csv").is_file() && d.join("train").is_dir() && d.join("test").is_dir()
    })
}

fn dataset(what: &str, var: &str, name: &str, present: impl Fn(&Path) -> bool) -> Option<PathBuf> {
    let dir = std::env::var_os(var).map_or_else(
        || {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../../shared/datasets")
                .join(name)
        },
        PathBuf::from,
    );
    if present(&dir) {
        return Some(dir);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{what} not found at {} (CI=true)", dir.display());
    }
    eprintln!("skipped: {what} not found at {}", dir.display());
    None
}
