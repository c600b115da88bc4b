//! The error every evaluation step returns: reading a corpus or results, scoring, running.

use std::path::PathBuf;

/// What went wrong while loading a benchmark, scoring results or running a detector over it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EvalError {
    /// A file or directory could not be read or written.
    #[error("cannot access {}: {source}", path.display())]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A file was read but its content is not what the format requires.
    #[error("cannot parse {}: {reason}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the line or key when known.
        reason: String,
    },
    /// Results do not match the corpus (a file is missing, or its row count differs).
    #[error("results do not match the corpus: {reason}")]
    Mismatch {
        /// What differs.
        reason: String,
    },
    /// A name that is not in the configuration (profile, detector threshold, ...).
    #[error("unknown {what} `{name}`")]
    Unknown {
        /// What kind of name (`profile`, `threshold`, ...).
        what: &'static str,
        /// The name asked for.
        name: String,
    },
    /// An argument outside its allowed range.
    #[error("invalid argument `{name}`: {reason}")]
    InvalidArgument {
        /// The argument's name.
        name: &'static str,
        /// What is wrong and what would be accepted.
        reason: String,
    },
    /// The detector failed on one corpus file.
    #[error("detector failed on {file}: {source}")]
    Detector {
        /// The corpus file (relative to `data/`).
        file: String,
        /// The detector's error.
        #[source]
        source: tsad_core::Error,
    },
}

impl EvalError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        EvalError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn parse(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        EvalError::Parse {
            path: path.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn mismatch(reason: impl Into<String>) -> Self {
        EvalError::Mismatch {
            reason: reason.into(),
        }
    }
}
