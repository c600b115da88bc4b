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
         numbers such as 12.5, 1,234.5, $1,234.50, 12.5% or (300) (for a decimal comma as in \
         12,5 set the decimal mark to ',')",
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
        "{source_name}: there is no column named \"{}\" for the {role} column; available \
         columns: {} (names match case-insensitively; a 0-based index also works)",
        shorten(name),
        quote_list(available)
    )]
    UnknownColumn {
        /// The path or upload name.
        source_name: String,
        /// `time`, `value`, `series id` or `covariate`.
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
        /// `time`, `value`, `series id` or `covariate`.
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
        "{source_name}: every value in column \"{}\" is missing ({rows} rows are empty or \
         NaN/null/NA); choose another value column or fill in the values",
        shorten(column)
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
        column.as_ref().map(|c| format!(", column \"{}\",", shorten(c))).unwrap_or_default()
    )]
    NotUtf8 {
        /// The path or upload name.
        source_name: String,
        /// 1-based line number in the file.
        line: u64,
        /// The column holding the bytes, when it is a data cell.
        column: Option<String>,
    },
    /// An infinite number (`inf`, `1e999`) in the value column or a covariate column.
    #[error(
        "{source_name}: line {line}, column \"{}\": \"{}\" is infinite, which a \
         series cannot hold; replace it with an empty cell to mark the value as missing",
        shorten(column),
        shorten(value)
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
    /// A covariate column holds a cell that is not a number.
    #[error(
        "{source_name}: line {line}, covariate column \"{}\": \"{}\" is not a number; \
         covariates need numbers (such as 0/1 flags), an empty cell marking a missing value",
        shorten(column),
        shorten(value)
    )]
    CovariateNotANumber {
        /// The path or upload name.
        source_name: String,
        /// 1-based line number in the file.
        line: u64,
        /// The covariate column.
        column: String,
        /// The cell's text.
        value: String,
    },
    /// Too many timestamps could not be parsed (more than half the rows, or the column
    /// named as the time column holds no timestamp at all).
    #[error(
        "{source_name}: line {line}, column \"{}\": \"{}\" is not a timestamp \
         ({rejected} of {rows} rows rejected); accepted formats: {ACCEPTED_TIME_FORMATS}; \
         choose another time column, or none to use the row number",
        shorten(column),
        shorten(value)
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
        "{source_name}: line {line}, column \"{}\": \"{}\" is not a number \
         ({rejected} of {rows} rows rejected); values need to be numbers such as 12.5, \
         1,234.5, $1,234.50, 12.5% or (300) (set the decimal mark to ',' for numbers like \
         12,5), an empty cell, NaN, null, NA, N/A or - marks a missing value; or choose \
         another value column",
        shorten(column),
        shorten(value)
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
    #[error("{source_name}: line {line}: {}", shorten(message))]
    Csv {
        /// The path or upload name.
        source_name: String,
        /// 1-based line number, 0 when unknown.
        line: u64,
        /// The parser's description.
        message: String,
    },
    /// The series id column of a long file is empty on more than half the rows.
    #[error(
        "{source_name}: line {line}, column \"{}\": no series id ({missing} of {rows} rows \
         have an empty id); every row of a long file needs the id of its series; choose the \
         column that holds the ids",
        shorten(column)
    )]
    MissingSeriesId {
        /// The path or upload name.
        source_name: String,
        /// 1-based line of the first row without an id.
        line: u64,
        /// The id column.
        column: String,
        /// Rows without an id.
        missing: usize,
        /// Data rows read.
        rows: usize,
    },
    /// A long file's id column holds more distinct values than tsad reads as series.
    #[error(
        "{source_name}: line {line}, column \"{}\": more than {limit} distinct series ids; \
         is this the column that names the series? Split the file, or choose another id column",
        shorten(column)
    )]
    TooManySeries {
        /// The path or upload name.
        source_name: String,
        /// 1-based line of the first id past the limit.
        line: u64,
        /// The id column.
        column: String,
        /// The most series one file may hold.
        limit: usize,
    },
    /// A quote opens a cell that runs over line breaks: never closed (to the end of the file),
    /// or closed only lines later, swallowing the rows between.
    #[error(
        "{source_name}: line {line}{}: {}; close the quote on that line, remove it, or write a \
         quote inside a quoted cell as two (\"\")",
        column.as_ref().map(|c| format!(", column \"{}\"", shorten(c))).unwrap_or_default(),
        match until {
            None => "a quote opens a cell here and is never closed, so the rest of the file \
                     would be read as one cell"
                .to_owned(),
            Some(end) => format!(
                "a quote opens a cell here that runs on to line {end}, so the rows between \
                 would be read as one cell"
            ),
        }
    )]
    UnclosedQuote {
        /// The path or upload name.
        source_name: String,
        /// 1-based line where the quote opens.
        line: u64,
        /// The column of the quoted cell, when known.
        column: Option<String>,
        /// The line where the cell ends; `None` when it runs to the end of the file.
        until: Option<u64>,
    },
    /// The input is not text: NUL or other control bytes, or a known binary signature.
    #[error(
        "{source_name}: this looks like a binary file{}, not CSV text (line {line} holds byte \
         {byte:#04x}); export the data as CSV text, one row per point such as \
         `2014-07-01 00:00:00,12.5`",
        kind.map(|k| format!(" ({k})")).unwrap_or_default()
    )]
    Binary {
        /// The path or upload name.
        source_name: String,
        /// What it looks like, when its signature is known (`a gzip archive: decompress it
        /// first`).
        kind: Option<&'static str>,
        /// 1-based line of the first byte that text does not hold.
        line: u64,
        /// That byte.
        byte: u8,
    },
    /// More than half the rows repeat an earlier timestamp: the time column is probably not
    /// the time of each row.
    #[error(
        "{source_name}: {duplicates} of {rows} rows repeat an earlier timestamp of column \
         \"{}\" ({timestamp} is on lines {first_line} and {second_line}), which would leave \
         {points} point{}; this column does not give each row its own time: choose another \
         time column, or none to use the row number, or remove the repeated rows",
        shorten(column),
        if *points == 1 { "" } else { "s" }
    )]
    MostlyDuplicates {
        /// The path or upload name.
        source_name: String,
        /// The time column.
        column: String,
        /// Rows that repeated an earlier timestamp.
        duplicates: usize,
        /// Data rows read.
        rows: usize,
        /// Points left after merging the repeats.
        points: usize,
        /// One repeated timestamp (RFC 3339).
        timestamp: String,
        /// The first line holding it.
        first_line: u64,
        /// Another line holding it.
        second_line: u64,
    },
    /// The only numeric column is named like a time column, so nothing is left to analyse.
    #[error(
        "{source_name}: the only numeric column, \"{}\", is named like a time column, so no \
         column is left for the values; name it as the value column if it really holds the \
         values, or add a column of values",
        shorten(column)
    )]
    NoValueColumn {
        /// The path or upload name.
        source_name: String,
        /// The time-like column.
        column: String,
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

/// Characters of a cell or name echoed in a message: a binary file or a 1 MB line must not come
/// back whole.
const ECHO_CHARS: usize = 80;

/// `text` for a message: at most [`ECHO_CHARS`] characters, control characters escaped, and
/// the length said when it was cut.
pub(crate) fn shorten(text: &str) -> String {
    let mut out = String::new();
    for (n, ch) in text.chars().enumerate() {
        if n == ECHO_CHARS {
            let _ = write!(out, "... ({} characters)", text.chars().count());
            return out;
        }
        if ch.is_control() {
            out.extend(ch.escape_default());
        } else {
            out.push(ch);
        }
    }
    out
}

impl IngestError {
    /// The 1-based line of the file the error is about, when it is about one.
    pub fn line(&self) -> Option<u64> {
        match self {
            IngestError::Read { line, .. }
            | IngestError::NotUtf8 { line, .. }
            | IngestError::InfiniteValue { line, .. }
            | IngestError::CovariateNotANumber { line, .. }
            | IngestError::UnparsableTimestamp { line, .. }
            | IngestError::NotANumber { line, .. }
            | IngestError::RowLength { line, .. }
            | IngestError::Csv { line, .. }
            | IngestError::UnclosedQuote { line, .. }
            | IngestError::Binary { line, .. }
            | IngestError::MissingSeriesId { line, .. }
            | IngestError::TooManySeries { line, .. }
            | IngestError::MostlyDuplicates {
                first_line: line, ..
            } => Some(*line),
            _ => None,
        }
    }
}

/// `"a", "b", "c"`; shortened past 20 names.
fn quote_list(names: &[String]) -> String {
    let mut out = String::new();
    for (i, n) in names.iter().take(20).enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        // Writing to a String cannot fail.
        let _ = write!(out, "\"{}\"", shorten(n));
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
    fn echoes_are_short_and_escaped() {
        let long = "x".repeat(1 << 20);
        let s = shorten(&long);
        assert!(s.len() < 120, "{s}");
        assert!(s.ends_with("... (1048576 characters)"), "{s}");
        assert_eq!(shorten("a\0b"), "a\\u{0}b");
        assert_eq!(shorten("12.5"), "12.5");
        let e = IngestError::NotANumber {
            source_name: "f.csv".into(),
            line: 2,
            column: "v".into(),
            value: "\0".repeat(5000),
            rejected: 1,
            rows: 1,
        };
        assert!(e.to_string().len() < 1000, "{e}");
        assert_eq!(e.line(), Some(2));
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
