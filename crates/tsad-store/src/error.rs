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

    /// True when the disk (or the database's size limit) is full: SQLite's `SQLITE_FULL`, or
    /// an i/o error of kind `StorageFull`.
    pub fn is_storage_full(&self) -> bool {
        match self {
            StorageError::Io(e) => e.kind() == std::io::ErrorKind::StorageFull,
            StorageError::Sqlite(e) => e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull),
            _ => false,
        }
    }

    /// True when the database file is damaged or not a database at all (SQLite's
    /// `SQLITE_CORRUPT` and `SQLITE_NOTADB`, or records that cannot be decoded).
    pub fn is_damaged(&self) -> bool {
        match self {
            StorageError::Corrupt { .. } => true,
            StorageError::Sqlite(e) => matches!(
                e.sqlite_error_code(),
                Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase)
            ),
            _ => false,
        }
    }

    /// The innermost cause's text, once (the variants' `Display` repeats their source's).
    pub fn root_cause(&self) -> String {
        match self {
            StorageError::Io(e) => e.to_string(),
            StorageError::Sqlite(e) => e.to_string(),
            other => other.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_and_damaged_are_recognised() {
        let sqlite = |code: i32| {
            StorageError::Sqlite(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(code),
                None,
            ))
        };
        let cases: Vec<(&str, StorageError, bool, bool)> = vec![
            (
                "SQLITE_FULL",
                sqlite(rusqlite::ffi::SQLITE_FULL),
                true,
                false,
            ),
            (
                "SQLITE_CORRUPT",
                sqlite(rusqlite::ffi::SQLITE_CORRUPT),
                false,
                true,
            ),
            (
                "SQLITE_NOTADB",
                sqlite(rusqlite::ffi::SQLITE_NOTADB),
                false,
                true,
            ),
            (
                "SQLITE_BUSY",
                sqlite(rusqlite::ffi::SQLITE_BUSY),
                false,
                false,
            ),
            (
                "ENOSPC",
                std::io::Error::from(std::io::ErrorKind::StorageFull).into(),
                true,
                false,
            ),
            (
                "corrupt record",
                StorageError::corrupt("bad blob"),
                false,
                true,
            ),
        ];
        for (name, e, full, damaged) in cases {
            assert_eq!(
                (e.is_storage_full(), e.is_damaged()),
                (full, damaged),
                "{name}"
            );
        }
    }
}
