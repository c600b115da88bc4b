//! [`IngestError`]: everything that stops a CSV from becoming a series, each message saying
//! where (file, line, column) and how to fix it.

use std::fmt::Write as _;

/// The timestamp layouts ingest accepts, quoted in error messages.
pub const ACCEPTED_TIME_FORMATS: &str = "RFC 3339 / ISO 8601 with or without zone and \
fraction (2014-07-01T00:00:00Z, 2014-07-01T00:00:00.123+02:00, 2014-07-01T00:00:00), \
2014-07-01 00:00:00[.fff], 2014-07-01 00:00, a date alone (2014-07-01), DD/MM/YYYY or \
MM/DD/YYYY with an optional HH:MM[:SS] time, epoch seconds or epoch milliseconds (integers)";

/// Why a CSV could not be read into a series.
///
/// Causes (OS errors, the series' complaint) are written into the message rather than exposed
/// as `source()`, so an API response carries the whole story and a CLI printing the chain does
/// not repeat it.
///
/// Every message starts with the source name (the file path, an upload's file name, or
/// `input`), names the line and column when there is one, and says what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// The file could not be opened or read.
    #[error("{source_name}: cannot read the file: {error}; check the path and its permissions")]
    Open {
        /// The path as given.
        source_name: String,
        /// The operating system's reason.
        error: std::io::Error,
    },
    /// Reading failed part way through.
    #[error("{source_name}: read failed near line {line}: {error}")]
    Read {
        /// The path or upload name.
        source_name: String,
        /// The line being read when it failed.
        line: u64,
        /// The operating system's reason.
        error: std::io::Error,
    },
    /// The input holds no bytes, or only blank lines.
    #[error(
        "{source_name}: the file is empty; expected a header line such as `timestamp,value` \
         followed by one row per point"
    )]
    Empty {
        /// The path or upload name.
        source_name: String,
    },
    /// A header line but no data rows.
    #[error(
        "{source_name}: the file has a header ({}) but no data rows; add rows below the header",
        quote_list(columns)
    )]
    HeaderOnly {
        /// The path or upload name.
        source_name: String,
        /// The header's column names.
        columns: Vec<String>,
    },
    /// No column holds numbers.
    #[error(
        "{source_name}: no numeric column found among the columns {}; the value column needs \
         numbers such as 12.5 (with a '.' decimal point, no thousands separator)",
        quote_list(columns)
    )]
    NoNumericColumn {
        /// The columns that were found.
        columns: Vec<String>,
        /// The path or upload name.
        source_name: String,
    },
    /// A column named in the options does not exist.
    #[error(
        "{source_name}: there is no column named \"{name}\" for the {role} column; available \
         columns: {} (names match case-insensitively; a 0-based index also works)",
        quote_list(available)
    )]
    UnknownColumn {
        /// The path or upload name.
        source_name: String,
        /// `time` or `value`.
        role: &'static str,
        /// The name asked for.
        name: String,
        /// The columns the file has.
        available: Vec<String>,
    },
    /// A column index in the options is past the last column.
    #[error(
        "{source_name}: {role} column index {index} is out of range: the file has {count} \
         column{} (indices 0 to {})",
        if *count == 1 { "" } else { "s" },
        count.saturating_sub(1)
    )]
    ColumnOutOfRange {
        /// The path or upload name.
        source_name: String,
        /// `time` or `value`.
        role: &'static str,
        /// The index asked for.
        index: usize,
        /// How many columns the file has.
        count: usize,
    },
    /// The options contradict each other or the file (e.g. the same column for time and value).
    #[error("{source_name}: {reason}")]
    InvalidOptions {
        /// The path or upload name.
        source_name: String,
        /// What is wrong and what to do.
        reason: String,
    },
    /// The value column has no value at all.
    #[error(
        "{source_name}: every value in column \"{column}\" is missing ({rows} rows are empty or \
         NaN/null/NA); choose another value column or fill in the values"
    )]
    AllMissing {
        /// The path or upload name.
        source_name: String,
        /// The value column.
        column: String,
        /// Data rows read.
        rows: usize,
    },
    /// Bytes that are not UTF-8 text.
    #[error(
        "{source_name}: line {line}{} is not valid UTF-8 text; re-save the file as UTF-8 \
         (\"CSV UTF-8\" in a spreadsheet program, or `iconv -f latin1 -t utf-8`)",
        column.as_ref().map(|c| format!(", column \"{c}\",")).unwrap_or_default()
    )]
    NotUtf8 {
        /// The path or upload name.
        source_name: String,
        /// 1-based line number in the file.
        line: u64,
        /// The column holding the bytes, when it is a data cell.
        column: Option<String>,
    },
    /// An infinite number (`inf`, `1e999`) in the value column.
    #[error(
        "{source_name}: line {line}, column \"{column}\": \"{value}\" is infinite, which a \
         series cannot hold; replace it with an empty cell to mark the value as missing"
    )]
    InfiniteValue {
        /// The path or upload name.
        source_name: String,
        /// 1-based line number in the file.
        line: u64,
        /// The value column.
        column: String,
        /// The cell's text.
        value: String,
    },
    /// Too many timestamps could not be parsed (more than half the rows, or the column
    /// named as the time column holds no timestamp at all).
    #[error(
        "{source_name}: line {line}, column \"{column}\": \"{value}\" is not a timestamp \
         ({rejected} of {rows} rows rejected); accepted formats: {ACCEPTED_TIME_FORMATS}; \
         choose another time column, or none to use the row number"
    )]
    UnparsableTimestamp {
        /// The path or upload name.
        source_name: String,
        /// 1-based line number of the first bad cell.
        line: u64,
        /// The time column.
        column: String,
        /// The first bad cell's text.
        value: String,
        /// Rows rejected in all.
        rejected: usize,
        /// Data rows read.
        rows: usize,
    },
    /// Too many values are not numbers (more than half the rows).
    #[error(
        "{source_name}: line {line}, column \"{column}\": \"{value}\" is not a number \
         ({rejected} of {rows} rows rejected); values need a '.' decimal point and no \
         thousands separator, an empty cell, NaN, null, NA, N/A or - marks a missing value; \
         or choose another value column"
    )]
    NotANumber {
        /// The path or upload name.
        source_name: String,
        /// 1-based line number of the first bad cell.
        line: u64,
        /// The value column.
        column: String,
        /// The first bad cell's text.
        value: String,
        /// Rows rejected in all.
        rejected: usize,
        /// Data rows read.
        rows: usize,
    },
    /// A row has a different number of fields than the first row.
    #[error(
        "{source_name}: line {line} has {found} field{} but the first row has {expected}; \
         every row needs the same number of '{delimiter}'-separated fields (quote a cell that \
         contains the delimiter)",
        if *found == 1 { "" } else { "s" }
    )]
    RowLength {
        /// The path or upload name.
        source_name: String,
        /// 1-based line number of the row.
        line: u64,
        /// Fields in the first row.
        expected: u64,
        /// Fields in this row.
        found: u64,
        /// The delimiter in use.
        delimiter: char,
    },
    /// Any other CSV syntax problem reported by the parser.
    #[error("{source_name}: line {line}: {message}")]
    Csv {
        /// The path or upload name.
        source_name: String,
        /// 1-based line number, 0 when unknown.
        line: u64,
        /// The parser's description.
        message: String,
    },
    /// The rows could not form a series (should not happen after sorting and de-duplication).
    #[error("{source_name}: {error}")]
    Series {
        /// The path or upload name.
        source_name: String,
        /// The series' complaint.
        error: tsad_core::Error,
    },
}

/// `"a", "b", "c"`; shortened past 20 names.
fn quote_list(names: &[String]) -> String {
    let mut out = String::new();
    for (i, n) in names.iter().take(20).enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        // Writing to a String cannot fail.
        let _ = write!(out, "\"{n}\"");
    }
    if names.len() > 20 {
        let _ = write!(out, " and {} more", names.len() - 20);
    }
    if names.is_empty() {
        out.push_str("(none)");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_send_sync_static() {
        fn check<T: Send + Sync + 'static>() {}
        check::<IngestError>();
    }

    #[test]
    fn quote_list_shortens() {
        let names: Vec<String> = (0..22).map(|i| format!("c{i}")).collect();
        let s = quote_list(&names);
        assert!(s.starts_with("\"c0\", \"c1\""), "{s}");
        assert!(s.ends_with("\"c19\" and 2 more"), "{s}");
        assert_eq!(quote_list(&[]), "(none)");
    }
}
