//! What ingest learnt about a file: counts, examples with line numbers, and its decisions.

use serde::{Deserialize, Serialize};

/// Diagnostics returned with every ingested series.
///
/// Line numbers are 1-based lines of the file (the header is line 1 when there is one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diagnostics {
    /// The file path or upload name.
    pub source: String,
    /// Data rows read (the header not counted), including rejected ones.
    pub rows_read: usize,
    /// Points in the series (rows read less rejected rows and dropped duplicates).
    pub points: usize,
    /// Points whose value is missing (empty, `NaN`, `null`, `NA`, `N/A`, `-`, a spreadsheet
    /// error such as `#N/A`): kept as NaN.
    pub missing_values: usize,
    /// Rows left out because their timestamp or value could not be read.
    pub rejected: usize,
    /// The first 10 rejected rows.
    pub rejected_rows: Vec<RejectedRow>,
    /// Rows whose timestamp an earlier row already had. The rule: the last row for a
    /// timestamp wins (later rows are corrections, as in a database upsert).
    pub duplicates: usize,
    /// The first 5 duplicates.
    pub duplicate_rows: Vec<DuplicateRow>,
    /// Whether the rows were out of time order and had to be sorted.
    pub sorted: bool,
    /// The median step between consecutive timestamps: milliseconds, or rows for an index
    /// axis. `None` for a single point.
    pub median_step: Option<i64>,
    /// Steps longer than 1.5 median steps.
    pub gaps: Gaps,
    /// The field delimiter used.
    pub delimiter: char,
    /// The values' decimal mark: `.`, or `,` (given, or detected in a file whose delimiter is
    /// not `,`). Diagnostics stored before it was reported read as `.`.
    #[serde(default = "point")]
    pub decimal: char,
    /// Whether the first line was taken as a header.
    pub has_header: bool,
    /// How timestamps were read, e.g. `YYYY-MM-DD HH:MM:SS (ISO 8601, no zone: read as UTC)`,
    /// or `none (row index)`.
    pub time_format: String,
    /// The time column used, if any.
    pub time_column: Option<String>,
    /// The value column used.
    pub value_column: String,
    /// One sentence per thing a user should check (ambiguous dates, sorting, duplicates,
    /// rejected rows, gaps).
    pub warnings: Vec<String>,
}

fn point() -> char {
    '.'
}

/// A row left out of the series.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedRow {
    /// 1-based line in the file.
    pub line: u64,
    /// The column whose cell could not be read.
    pub column: String,
    /// The cell's text.
    pub value: String,
    /// Why it could not be read.
    pub reason: String,
}

/// Two rows with the same timestamp; the later one was kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DuplicateRow {
    /// The timestamp (RFC 3339, UTC).
    pub timestamp: String,
    /// The line whose value was kept.
    pub kept_line: u64,
    /// The line whose value was dropped.
    pub dropped_line: u64,
}

/// Where the series skips time.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gaps {
    /// How many steps are longer than 1.5 median steps.
    pub count: usize,
    /// Median steps missing in all gaps together.
    pub missing_steps: u64,
    /// The first 10 gaps.
    pub first: Vec<Gap>,
}

/// One gap: the points on either side of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gap {
    /// The last timestamp before the gap (Unix ms).
    pub start_ms: i64,
    /// The first timestamp after the gap (Unix ms).
    pub end_ms: i64,
    /// `start_ms` as RFC 3339.
    pub start: String,
    /// `end_ms` as RFC 3339.
    pub end: String,
    /// Median steps missing in between (the gap in median steps, less one).
    pub missing_steps: u64,
}
