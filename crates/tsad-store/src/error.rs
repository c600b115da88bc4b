//! The storage layer's error.

/// What went wrong while reading or writing the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// No record of this kind has this id.
    #[error("{kind} `{id}` not found")]
    NotFound {
        /// `dataset`, `run`, `result` or `model`.
        kind: &'static str,
        /// The id asked for.
        id: String,
    },
    /// The write clashes with what is stored (an id already taken).
    #[error("conflict: {reason}")]
    Conflict {
        /// What clashed.
        reason: String,
    },
    /// A record handed to the store breaks its own invariants (a caller bug).
    #[error("invalid record: {reason}")]
    InvalidRecord {
        /// What is wrong with it.
        reason: String,
    },
    /// The data directory could not be created or read.
    #[error("storage i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// SQLite failed.
    #[error("sqlite error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// Stored data cannot be decoded (a damaged file, or one from a newer tsad).
    #[error("corrupt store: {reason}")]
    Corrupt {
        /// What could not be decoded.
        reason: String,
    },
}

impl StorageError {
    pub(crate) fn not_found(kind: &'static str, id: &str) -> Self {
        StorageError::NotFound {
            kind,
            id: id.to_owned(),
        }
    }

    pub(crate) fn corrupt(reason: impl Into<String>) -> Self {
        StorageError::Corrupt {
            reason: reason.into(),
        }
    }
}
