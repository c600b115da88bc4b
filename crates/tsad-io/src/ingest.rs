//! Streaming a CSV into a [`Series`]: the sample decides the layout, then every record is
//! parsed from a `csv::Reader` holding only a small buffer.

use crate::cell::{Value, dressed, parse_label, parse_value_in, trim};
use crate::diagnostics::{Diagnostics, DuplicateRow, Gap, Gaps, RejectedRow};
use crate::encoding::{Utf16, Utf16Reader, detect_utf16, open_quote, reject_binary};
use crate::error::{IngestError, shorten};
use crate::lines::{Lines, count_breaks, read_record};
use crate::options::IngestOptions;
use crate::sniff::{Choice, Layout, SAMPLE_LINES, Sample, Targets, analyze, choose, read_sample};
use crate::time::{Parsed, TimeFormat, TimeParser, format_timestamp, swap_day_month};
use chunks::Chunking;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use tsad_core::{Covariate, Series, TimeAxis};

mod chunks;

/// How many rejected rows and duplicates the diagnostics keep as examples.
const KEEP_REJECTED: usize = 10;
const KEEP_DUPLICATES: usize = 5;
const KEEP_GAPS: usize = 10;
/// The most series one long file may hold (distinct ids).
const MAX_SERIES: usize = 1_000_000;

/// A series read from a CSV, with what was learnt on the way.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ingested {
    /// The series: sorted, one point per timestamp, NaN for missing values.
    pub series: Series,
    /// Rows read, rejected, missing, duplicates, gaps and the decisions taken.
    pub diagnostics: Diagnostics,
    /// Every column of the file, in order (`column_<i>` when the file has no header).
    pub columns: Vec<String>,
    /// The time column used; `None` when the time axis is the row index.
    pub time_column: Option<String>,
    /// The value column used.
    pub value_column: String,
    /// The covariate columns read ([`crate::IngestOptions::covariate_columns`]), in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub covariate_columns: Vec<String>,
}

/// Every series of a CSV: one per value column (wide), one per id (long), or the one value
/// column ([`crate::SeriesLayout`]). A series that cannot be read (all missing, mostly text,
/// too many repeated timestamps) has its own error; the others are read all the same.
#[derive(Debug)]
pub struct Fleet {
    /// The path or upload name.
    pub source: String,
    /// Every column of the file, in order.
    pub columns: Vec<String>,
    /// The time column used; `None` when the time axis is the row index.
    pub time_column: Option<String>,
    /// The series id column of a long file.
    pub series_column: Option<String>,
    /// Data rows read.
    pub rows_read: usize,
    /// Rows that fed no series (a long file's rows without an id), with up to ten examples.
    pub rejected: usize,
    /// The first rejected rows.
    pub rejected_rows: Vec<RejectedRow>,
    /// What applies to the whole file (columns passed over, ambiguous dates, decoding).
    pub warnings: Vec<String>,
    /// The series, in the order of their columns (wide) or of their first row (long).
    pub series: Vec<FleetSeries>,
}

/// One series of a [`Fleet`].
#[derive(Debug)]
pub struct FleetSeries {
    /// The value column's name (wide, single) or the id (long).
    pub name: String,
    /// The series with its diagnostics, or why it could not be read.
    pub result: Result<Ingested, IngestError>,
}

impl Fleet {
    /// The one series of a single-series read, with the file's warnings first.
    fn into_single(mut self) -> Result<Ingested, IngestError> {
        let one = self.series.pop().map(|s| s.result).unwrap_or_else(|| {
            Err(IngestError::Empty {
                source_name: self.source.clone(),
            })
        });
        let mut ingested = one?;
        self.warnings
            .extend(std::mem::take(&mut ingested.diagnostics.warnings));
        ingested.diagnostics.warnings = self.warnings;
        Ok(ingested)
    }
}

/// Reads a CSV file.
///
/// The source name in errors and diagnostics is `opts.source_name`, or else the path.
///
/// # Errors
///
/// [`IngestError::Open`] when the file cannot be opened, and every other [`IngestError`] as
/// [`read_reader`] does.
pub fn read_path(path: &Path, opts: &IngestOptions) -> Result<Ingested, IngestError> {
    single(opts)?;
    read_fleet_path(path, opts)?.into_single()
}

/// Reads a CSV held in memory (an upload, a test fixture).
///
/// # Errors
///
/// As [`read_reader`].
pub fn read_bytes(bytes: &[u8], opts: &IngestOptions) -> Result<Ingested, IngestError> {
    single(opts)?;
    read_buffered(bytes, opts, &Chunking::default())?.into_single()
}

/// Reads a CSV from any reader, streaming: memory grows with the series (16 bytes a point),
/// not with the file.
///
/// # Errors
///
/// Every [`IngestError`] but `Open`: an empty input, a header without rows, columns that
/// cannot be found, bytes that are not UTF-8, an infinite value, rows of the wrong length,
/// more than half the rows rejected, or no value at all; and
/// [`IngestError::InvalidOptions`] when `opts` asks for many series ([`read_fleet_reader`]
/// reads those).
pub fn read_reader<R: Read>(reader: R, opts: &IngestOptions) -> Result<Ingested, IngestError> {
    single(opts)?;
    read_fleet_reader(reader, opts)?.into_single()
}

/// Reads every series of a CSV file ([`IngestOptions::series`] says how the file holds them).
///
/// # Errors
///
/// As [`read_fleet_reader`], and [`IngestError::Open`] when the file cannot be opened.
pub fn read_fleet_path(path: &Path, opts: &IngestOptions) -> Result<Fleet, IngestError> {
    let mut opts = opts.clone();
    let source = opts
        .source_name
        .get_or_insert_with(|| path.display().to_string())
        .clone();
    let file = std::fs::File::open(path).map_err(|error| IngestError::Open {
        source_name: source,
        error,
    })?;
    read_fleet_reader(file, &opts)
}

/// Reads every series of a CSV held in memory.
///
/// # Errors
///
/// As [`read_fleet_reader`].
pub fn read_fleet_bytes(bytes: &[u8], opts: &IngestOptions) -> Result<Fleet, IngestError> {
    read_buffered(bytes, opts, &Chunking::default())
}

/// Reads every series of a CSV from any reader, streaming: memory grows with the points
/// (16 bytes each), not with the file.
///
/// # Errors
///
/// What concerns the whole file: an empty input, a header without rows, columns that cannot
/// be found, rows of the wrong length, timestamps that are not UTF-8, more than half the
/// rows without a series id ([`IngestError::MissingSeriesId`]) or more than a million ids
/// ([`IngestError::TooManySeries`]). What concerns one series (too many values that are not
/// numbers, all missing, an infinite value, mostly repeated timestamps) is that series'
/// [`FleetSeries::result`].
pub fn read_fleet_reader<R: Read>(reader: R, opts: &IngestOptions) -> Result<Fleet, IngestError> {
    read_buffered(
        BufReader::with_capacity(64 << 10, reader),
        opts,
        &Chunking::default(),
    )
}

/// The single-series readers refuse options that ask for many series.
fn single(opts: &IngestOptions) -> Result<(), IngestError> {
    if opts.series.is_many() {
        return Err(IngestError::InvalidOptions {
            source_name: opts.source().to_owned(),
            reason: "these options ask for several series; read them with read_fleet_path, \
                     read_fleet_bytes or read_fleet_reader"
                .to_owned(),
        });
    }
    Ok(())
}

fn read_buffered<R: BufRead>(
    mut reader: R,
    opts: &IngestOptions,
    chunking: &Chunking,
) -> Result<Fleet, IngestError> {
    let source = opts.source();
    if let Some(d) = opts.delimiter
        && (!d.is_ascii() || matches!(d, b'"' | b'\n' | b'\r'))
    {
        return Err(IngestError::InvalidOptions {
            source_name: source.to_owned(),
            reason: format!(
                "{:?} cannot be the delimiter; use an ASCII character other than a quote or a \
                 line break, such as ',', ';', tab or '|'",
                char::from(d)
            ),
        });
    }
    let head = reader.fill_buf().map_err(|error| IngestError::Read {
        source_name: source.to_owned(),
        line: 1,
        error,
    })?;
    match detect_utf16(head) {
        Some(order) => read_text(
            BufReader::with_capacity(64 << 10, Utf16Reader::new(reader, order)),
            opts,
            Some(order),
            chunking,
        ),
        None => read_text(reader, opts, None, chunking),
    }
}

/// Reads UTF-8 text (or what claims to be).
fn read_text<R: BufRead>(
    mut reader: R,
    opts: &IngestOptions,
    utf16: Option<Utf16>,
    chunking: &Chunking,
) -> Result<Fleet, IngestError> {
    let source = opts.source();
    let sample = read_sample(&mut reader, SAMPLE_LINES, source)?;
    reject_binary(&sample.bytes, source)?;
    let mut layout =
        analyze(&sample, opts.delimiter, opts.decimal).ok_or_else(|| IngestError::Empty {
            source_name: source.to_owned(),
        })?;
    layout.labels = opts.labels;
    check_quotes(&sample, &layout, source)?;
    if let Some(line) = layout.header_not_utf8 {
        return Err(IngestError::NotUtf8 {
            source_name: source.to_owned(),
            line,
            column: None,
        });
    }
    if layout.rows.is_empty() && !sample.complete {
        // The sample was cut inside the first data line.
        return Err(IngestError::Csv {
            source_name: source.to_owned(),
            line: count_breaks(&sample.bytes) + 1,
            message: "this line is longer than 4 MiB, too long for a row of a time series; \
                      check the delimiter and the line endings"
                .to_owned(),
        });
    }
    if layout.rows.is_empty() {
        return Err(IngestError::HeaderOnly {
            source_name: source.to_owned(),
            columns: layout.columns,
        });
    }
    let mut choice = choose(&layout, opts)?;
    if let Some(order) = utf16 {
        choice
            .warnings
            .push(format!("the file is {} text; it was decoded", order.name()));
    }
    stream(sample.bytes, reader, &layout, choice, source, chunking)
}

/// Quoted cells that run on for many lines: the sample ends inside a quote that opened more
/// than 50 lines before its end, or a complete sample (the whole file) ends
/// inside one. Caught here, before they make the columns look wrong; the streaming pass
/// catches the rest.
fn check_quotes(sample: &Sample, layout: &Layout, source: &str) -> Result<(), IngestError> {
    const QUOTE_SPAN_LINES: u64 = 50;
    match open_quote(&sample.bytes, layout.delimiter) {
        Some((line, field, last)) if sample.complete || last > line + QUOTE_SPAN_LINES => {
            Err(IngestError::UnclosedQuote {
                source_name: source.to_owned(),
                line,
                column: layout.columns.get(field).cloned(),
                until: (!sample.complete).then_some(last),
            })
        }
        _ => Ok(()),
    }
}

/// Which check turned a row away (picks the error when too many are).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rejection {
    Time,
    Value,
}

/// Rows collected so far, with what is needed to report on them.
#[derive(Default)]
struct Collector {
    timestamps: Vec<i64>,
    values: Vec<f64>,
    /// One column per covariate, aligned with `values`.
    covariates: Vec<Vec<f64>>,
    /// `(point, line)` wherever a point's file line is not one past the previous point's,
    /// so any point's line can be recovered without storing one per point.
    anchors: Vec<(usize, u64)>,
    rows_read: usize,
    rejected: usize,
    rejected_rows: Vec<RejectedRow>,
    first_rejection: Option<Rejection>,
    duplicates: usize,
    duplicate_rows: Vec<DuplicateRow>,
    /// The file line of the last point.
    last_line: u64,
    /// The file line of the first row that made a point (the first point's line before a
    /// later row with its timestamp replaced it).
    first_line: u64,
}

impl Collector {
    fn line_of(&self, point: usize) -> u64 {
        let k = self.anchors.partition_point(|a| a.0 <= point);
        match k.checked_sub(1).map(|k| self.anchors[k]) {
            Some((p, line)) => line + (point - p) as u64,
            None => 0,
        }
    }

    fn reject(&mut self, kind: Rejection, line: u64, column: &str, value: &[u8], reason: &str) {
        self.rejected += 1;
        self.first_rejection.get_or_insert(kind);
        if self.rejected_rows.len() < KEEP_REJECTED {
            self.rejected_rows.push(RejectedRow {
                line,
                column: column.to_owned(),
                value: shorten(&String::from_utf8_lossy(value)),
                reason: reason.to_owned(),
            });
        }
    }

    fn note_duplicate(&mut self, ts: i64, kept_line: u64, dropped_line: u64) {
        self.duplicates += 1;
        if self.duplicate_rows.len() < KEEP_DUPLICATES {
            self.duplicate_rows.push(DuplicateRow {
                timestamp: format_timestamp(ts),
                kept_line,
                dropped_line,
            });
        }
    }

    /// Appends a point read from `line` with its covariates (as many as the collector
    /// has); a timestamp equal to the previous one replaces it (the later row wins).
    fn push(&mut self, ts: i64, value: f64, covariates: &[f64], line: u64) {
        let n = self.timestamps.len();
        if n > 0 && self.timestamps[n - 1] == ts {
            let dropped = self.last_line;
            self.last_line = line;
            self.values[n - 1] = value;
            for (column, &x) in self.covariates.iter_mut().zip(covariates) {
                column[n - 1] = x;
            }
            self.note_duplicate(ts, line, dropped);
            match self.anchors.last_mut() {
                Some(a) if a.0 == n - 1 => a.1 = line,
                _ => self.anchors.push((n - 1, line)),
            }
            return;
        }
        if n == 0 {
            self.first_line = line;
        }
        if n == 0 || self.last_line + 1 != line {
            self.anchors.push((n, line));
        }
        self.last_line = line;
        self.timestamps.push(ts);
        self.values.push(value);
        for (column, &x) in self.covariates.iter_mut().zip(covariates) {
            column.push(x);
        }
    }

    /// Appends what a later stretch of the file collected, its lines counted from 1 after
    /// the `lines` lines before it: the result is what pushing its rows one by one would
    /// have given (a first timestamp equal to this one's last replaces it, and duplicates
    /// and rejected rows keep their file order).
    fn append(&mut self, mut o: Collector, lines: u64) {
        self.rows_read += o.rows_read;
        self.rejected += o.rejected;
        if self.first_rejection.is_none() {
            self.first_rejection = o.first_rejection;
        }
        let room = KEEP_REJECTED.saturating_sub(self.rejected_rows.len());
        self.rejected_rows
            .extend(o.rejected_rows.drain(..).take(room).map(|mut r| {
                r.line += lines;
                r
            }));
        let mut start = 0;
        let n = self.timestamps.len();
        if let (Some(&first), Some(&last)) = (o.timestamps.first(), self.timestamps.last())
            && first == last
        {
            // As `push` does for the stretch's first row; its later rows with the same
            // timestamp were folded into its first point already, and noted after this.
            self.values[n - 1] = o.values[0];
            for (column, other) in self.covariates.iter_mut().zip(&o.covariates) {
                column[n - 1] = other[0];
            }
            self.note_duplicate(first, o.first_line + lines, self.last_line);
            let line = o.line_of(0) + lines;
            match self.anchors.last_mut() {
                Some(a) if a.0 == n - 1 => a.1 = line,
                _ => self.anchors.push((n - 1, line)),
            }
            self.last_line = line;
            start = 1;
        }
        self.duplicates += o.duplicates;
        let room = KEEP_DUPLICATES.saturating_sub(self.duplicate_rows.len());
        self.duplicate_rows
            .extend(o.duplicate_rows.drain(..).take(room).map(|mut d| {
                d.kept_line += lines;
                d.dropped_line += lines;
                d
            }));
        if start == o.timestamps.len() {
            return;
        }
        let n = self.timestamps.len();
        let line = o.line_of(start) + lines;
        if n == 0 {
            self.first_line = o.first_line + lines;
        }
        if n == 0 || self.last_line + 1 != line {
            self.anchors.push((n, line));
        }
        self.anchors.extend(
            o.anchors
                .iter()
                .filter(|a| a.0 > start)
                .map(|&(p, l)| (p - start + n, l + lines)),
        );
        self.last_line = o.last_line + lines;
        self.timestamps.extend_from_slice(&o.timestamps[start..]);
        self.values.extend_from_slice(&o.values[start..]);
        for (column, other) in self.covariates.iter_mut().zip(&o.covariates) {
            column.extend_from_slice(&other[start..]);
        }
    }
}

/// Maps a csv error met on `line`.
fn csv_error(e: csv::Error, source: &str, line: u64) -> IngestError {
    let source_name = source.to_owned();
    let message = e.to_string();
    match e.into_kind() {
        csv::ErrorKind::Io(error) => IngestError::Read {
            source_name,
            line,
            error,
        },
        _ => IngestError::Csv {
            source_name,
            line,
            message,
        },
    }
}

/// A record with `found` fields where the file's first has `expected`, starting on `line`
/// (the reader has just read it). One that spans several lines is a quote left open: the error
/// says so, from the line where the row (and the quote) starts.
fn wrong_length<R: Read>(
    rdr: &mut csv::Reader<Lines<R>>,
    line: u64,
    (expected, found): (usize, usize),
    (offset, delimiter): (u64, u8),
    source: &str,
) -> IngestError {
    let at = rdr.position().byte();
    let next = rdr.get_mut().line_at(at) + offset;
    if next <= line + 1 {
        return IngestError::RowLength {
            source_name: source.to_owned(),
            line,
            expected: expected as u64,
            found: found as u64,
            delimiter: delimiter as char,
        };
    }
    let mut rest = csv::ByteRecord::new();
    let until = match rdr.read_byte_record(&mut rest) {
        Ok(false) => None,
        _ => Some(next - 1),
    };
    IngestError::UnclosedQuote {
        source_name: source.to_owned(),
        line,
        column: None,
        until,
    }
}

/// One series being read: where its values are, what was collected, and the error that
/// stopped it, if any.
struct Target {
    name: String,
    /// The value column.
    column: usize,
    /// The covariate columns.
    covariates: Vec<usize>,
    /// A row's covariates, parsed before the row is kept.
    row: Vec<f64>,
    /// The name errors and diagnostics start with.
    source: String,
    c: Collector,
    failed: Option<IngestError>,
}

impl Target {
    fn new(name: String, column: usize, source: String) -> Self {
        Target {
            name,
            column,
            covariates: Vec::new(),
            row: Vec::new(),
            source,
            c: Collector::default(),
            failed: None,
        }
    }

    /// Reads covariates from `columns` too.
    fn with_covariates(mut self, columns: Vec<usize>) -> Self {
        self.c.covariates = vec![Vec::new(); columns.len()];
        self.covariates = columns;
        self
    }

    /// Parses the row's covariate cells into `self.row`, or fails the series at the first
    /// that is not a number (a covariate is an input: no row is quietly dropped for it).
    fn read_covariates(
        &mut self,
        rec: &impl Fields,
        line: u64,
        layout: &Layout,
        columns: &[String],
    ) -> bool {
        self.row.clear();
        for &j in &self.covariates {
            let cell = trim(rec.field(j).unwrap_or_default());
            let column = || columns[j].clone();
            let text = || String::from_utf8_lossy(cell).into_owned();
            let x = match parse_value_in(cell, layout.decimal) {
                Value::Missing => f64::NAN,
                Value::Number(v) if v.is_infinite() => {
                    self.failed = Some(IngestError::InfiniteValue {
                        source_name: self.source.clone(),
                        line,
                        column: column(),
                        value: text(),
                    });
                    return false;
                }
                Value::Number(v) => v,
                Value::NotUtf8 => {
                    self.failed = Some(IngestError::NotUtf8 {
                        source_name: self.source.clone(),
                        line,
                        column: Some(column()),
                    });
                    return false;
                }
                Value::Invalid => {
                    self.failed = Some(IngestError::CovariateNotANumber {
                        source_name: self.source.clone(),
                        line,
                        column: column(),
                        value: text(),
                    });
                    return false;
                }
            };
            self.row.push(x);
        }
        true
    }

    /// Reads this series' value from `rec` (whose time is `ts`).
    fn read(&mut self, rec: &impl Fields, ts: i64, line: u64, layout: &Layout, columns: &[String]) {
        self.c.rows_read += 1;
        let column = &columns[self.column];
        let vcell = trim(rec.field(self.column).unwrap_or_default());
        let value = match value_in(vcell, layout) {
            Value::Missing => f64::NAN,
            Value::Number(v) if v.is_infinite() => {
                self.failed = Some(IngestError::InfiniteValue {
                    source_name: self.source.clone(),
                    line,
                    column: column.clone(),
                    value: String::from_utf8_lossy(vcell).into_owned(),
                });
                return;
            }
            Value::Number(v) => v,
            Value::NotUtf8 => {
                self.failed = Some(IngestError::NotUtf8 {
                    source_name: self.source.clone(),
                    line,
                    column: Some(column.clone()),
                });
                return;
            }
            Value::Invalid => {
                self.c
                    .reject(Rejection::Value, line, column, vcell, "not a number");
                return;
            }
        };
        if !self.read_covariates(rec, line, layout, columns) {
            return;
        }
        self.c.push(ts, value, &self.row, line);
    }
}

/// A series id as a map key: ids up to 23 bytes are held inline, so looking one up compares
/// bytes in the map itself rather than behind a pointer (a cache miss per row with thousands
/// of series).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum IdKey {
    Inline(u8, [u8; 23]),
    Heap(Box<[u8]>),
}

impl IdKey {
    fn new(cell: &[u8]) -> Self {
        match u8::try_from(cell.len()) {
            Ok(n) if cell.len() <= 23 => {
                let mut bytes = [0; 23];
                bytes[..cell.len()].copy_from_slice(cell);
                IdKey::Inline(n, bytes)
            }
            _ => IdKey::Heap(cell.into()),
        }
    }
}

/// A long file's points, gathered a batch at a time and handed to their series in one pass
/// sorted by series, so each series' vectors are touched once per batch rather than once per
/// row: with thousands of interleaved series, the per-row hand-over was a cache miss each.
#[derive(Default)]
struct Batch {
    /// `(series, timestamp, value, line)`, in file order.
    rows: Vec<(u32, i64, f64, u64)>,
}

impl Batch {
    /// Rows held before they are handed over (32,768 rows, 1 MiB).
    const ROWS: usize = 1 << 15;

    fn push(&mut self, targets: &mut [Target], k: usize, ts: i64, value: f64, line: u64) {
        // Series indices stay below MAX_SERIES, far inside u32.
        self.rows.push((k as u32, ts, value, line));
        if self.rows.len() >= Self::ROWS {
            self.flush(targets);
        }
    }

    /// Hands every held row to its series, in file order within each series.
    fn flush(&mut self, targets: &mut [Target]) {
        self.rows.sort_by_key(|r| r.0);
        for &(k, ts, value, line) in &self.rows {
            let t = &mut targets[k as usize];
            t.c.rows_read += 1;
            t.c.push(ts, value, &[], line);
        }
        self.rows.clear();
    }
}

/// Rows that fed no series (a long file's rows without an id).
#[derive(Default)]
struct Unrouted {
    count: usize,
    rows: Vec<RejectedRow>,
}

/// A record's cells by position: a csv record, or a row of a block without quotes.
trait Fields {
    fn field(&self, j: usize) -> Option<&[u8]>;
}

impl Fields for csv::ByteRecord {
    fn field(&self, j: usize) -> Option<&[u8]> {
        self.get(j)
    }
}

/// What every record of one read shares: the layout, the choice and what follows from them.
struct Plan<'a> {
    layout: &'a Layout,
    choice: &'a Choice,
    source: &'a str,
    time_name: Option<String>,
    many: bool,
    /// The columns whose cells feed a series (the time column aside).
    read_columns: Vec<usize>,
}

impl<'a> Plan<'a> {
    fn new(layout: &'a Layout, choice: &'a Choice, source: &'a str) -> Self {
        let read_columns = match &choice.targets {
            Targets::One => std::iter::once(choice.value)
                .chain(choice.covariates.iter().copied())
                .collect(),
            Targets::Columns(list) => list.clone(),
            Targets::ById(id) => vec![*id, choice.value],
        };
        Plan {
            layout,
            choice,
            source,
            time_name: choice.time.map(|(j, _)| layout.columns[j].clone()),
            many: choice.targets != Targets::One,
            read_columns,
        }
    }

    /// The name a series' errors and diagnostics start with.
    fn source_of(&self, name: &str) -> String {
        if self.many {
            format!("{}, series \"{}\"", self.source, shorten(name))
        } else {
            self.source.to_owned()
        }
    }

    /// Whether stretches of the file can be read apart and joined: not for long files (their
    /// series appear as the rows go) nor for `AA/BB/YYYY` dates (whose day/month order is
    /// settled by the rows before).
    fn is_splittable(&self) -> bool {
        !matches!(self.choice.targets, Targets::ById(_))
            && !matches!(self.choice.time, Some((_, TimeFormat::Dmy { .. })))
    }

    fn csv_reader<R: Read>(&self, input: R) -> csv::Reader<R> {
        // Flexible: the row length is checked against the file's first record by `State`,
        // so that a reader can start in the middle of the file.
        csv::ReaderBuilder::new()
            .delimiter(self.layout.delimiter)
            .has_headers(false)
            .flexible(true)
            .buffer_capacity(64 << 10)
            .from_reader(input)
    }
}

/// What the records read so far left: the series, the counts, and what the next record
/// needs (the header still to skip, the row length, a multi-line cell still open).
struct State {
    parser: Option<TimeParser>,
    targets: Vec<Target>,
    ids: HashMap<IdKey, usize>,
    batch: Batch,
    unrouted: Unrouted,
    rows_read: usize,
    /// The fields of the file's first record, which every record must have.
    fields: Option<usize>,
    skip_header: bool,
    quotes: MultiLine,
}

impl State {
    /// Nothing read yet.
    fn new(plan: &Plan<'_>) -> Self {
        let (choice, columns) = (plan.choice, &plan.layout.columns);
        let targets = match &choice.targets {
            Targets::One => vec![
                Target::new(
                    columns[choice.value].clone(),
                    choice.value,
                    plan.source.to_owned(),
                )
                .with_covariates(choice.covariates.clone()),
            ],
            Targets::Columns(list) => list
                .iter()
                .map(|&j| Target::new(columns[j].clone(), j, plan.source_of(&columns[j])))
                .collect(),
            Targets::ById(_) => Vec::new(),
        };
        State {
            parser: choice.time.map(|(_, f)| TimeParser::new(f)),
            targets,
            ids: HashMap::new(),
            batch: Batch::default(),
            unrouted: Unrouted::default(),
            rows_read: 0,
            fields: None,
            skip_header: plan.layout.has_header,
            quotes: MultiLine::default(),
        }
    }

    /// Reads every record of `input`, whose first line is line `offset + 1` of the file
    /// (`input` starts the file or follows a whole line break). `quoted` is false when `input`
    /// holds no quote: no record then spans lines, and the check for those is skipped.
    fn read_csv<R: Read>(
        &mut self,
        plan: &Plan<'_>,
        input: R,
        offset: u64,
        quoted: bool,
    ) -> Result<(), IngestError> {
        let mut rdr = plan.csv_reader(Lines::new(input));
        let mut rec = csv::ByteRecord::new();
        loop {
            match read_record(&mut rdr, &mut rec) {
                Ok(true) => {}
                Ok(false) => return self.quotes.at_end(plan.source, plan.layout),
                Err(e) => {
                    let at = rdr.position().byte();
                    let near = rdr.get_mut().line_at(at) + offset;
                    return Err(csv_error(e, plan.source, near));
                }
            }
            let line = rec.position().map_or(0, csv::Position::line) + offset;
            let fields = *self.fields.get_or_insert(rec.len());
            if rec.len() != fields {
                return Err(wrong_length(
                    &mut rdr,
                    line,
                    (fields, rec.len()),
                    (offset, plan.layout.delimiter),
                    plan.source,
                ));
            }
            if quoted {
                self.quotes.next_record(plan.source, plan.layout)?;
                if rec.as_slice().iter().any(|&b| b == b'\n' || b == b'\r') {
                    let (choice, read) = (plan.choice, &plan.read_columns);
                    let chosen =
                        |j: usize| read.contains(&j) || choice.time.is_some_and(|t| t.0 == j);
                    // The record's last byte: its terminator, or the input's last byte.
                    let last = rdr.position().byte().saturating_sub(1);
                    let end = rdr.get_mut().line_at(last) + offset;
                    self.quotes.note(&rec, (line, end.max(line)), chosen);
                }
            }
            self.record(plan, &rec, line)?;
        }
    }

    /// Reads one record, which starts on `line`.
    fn record(&mut self, plan: &Plan<'_>, rec: &impl Fields, line: u64) -> Result<(), IngestError> {
        let (layout, choice, source) = (plan.layout, plan.choice, plan.source);
        let columns = &layout.columns;
        if self.skip_header {
            self.skip_header = false;
            return Ok(());
        }
        self.rows_read += 1;
        let targets = &mut self.targets;
        let fed = match &choice.targets {
            Targets::ById(id) => {
                let cell = trim(rec.field(*id).unwrap_or_default());
                if cell.is_empty() {
                    let unrouted = &mut self.unrouted;
                    unrouted.count += 1;
                    if unrouted.rows.len() < KEEP_REJECTED {
                        unrouted.rows.push(RejectedRow {
                            line,
                            column: columns[*id].clone(),
                            value: String::new(),
                            reason: "no series id".to_owned(),
                        });
                    }
                    return Ok(());
                }
                let key = IdKey::new(cell);
                let k = match self.ids.get(&key) {
                    Some(&k) => k,
                    None if self.ids.len() >= MAX_SERIES => {
                        return Err(IngestError::TooManySeries {
                            source_name: source.to_owned(),
                            line,
                            column: columns[*id].clone(),
                            limit: MAX_SERIES,
                        });
                    }
                    None => {
                        let name = String::from_utf8_lossy(cell).into_owned();
                        let source = plan.source_of(&name);
                        targets.push(Target::new(name, choice.value, source));
                        self.ids.insert(key, targets.len() - 1);
                        targets.len() - 1
                    }
                };
                k..k + 1
            }
            _ => 0..targets.len(),
        };
        let ts = match (&mut self.parser, choice.time) {
            (Some(p), Some((tj, _))) => {
                let tcell = trim(rec.field(tj).unwrap_or_default());
                match p.parse(tcell) {
                    Parsed::Ok(ts) => ts,
                    Parsed::OkSwapEarlier(ts) => {
                        self.batch.flush(targets);
                        for t in targets.iter_mut() {
                            t.c.timestamps
                                .iter_mut()
                                .for_each(|t| *t = swap_day_month(*t));
                        }
                        ts
                    }
                    Parsed::Err(reason) => {
                        if std::str::from_utf8(tcell).is_err() {
                            return Err(IngestError::NotUtf8 {
                                source_name: source.to_owned(),
                                line,
                                column: plan.time_name.clone(),
                            });
                        }
                        let name = plan.time_name.as_deref().unwrap_or_default();
                        for t in &mut targets[fed] {
                            t.c.rows_read += 1;
                            t.c.reject(Rejection::Time, line, name, tcell, reason);
                        }
                        return Ok(());
                    }
                }
            }
            _ => self.rows_read as i64 - 1,
        };
        if let Targets::ById(_) = choice.targets {
            // Numbers and missing values wait in the batch; anything else is reported now.
            let vcell = trim(rec.field(choice.value).unwrap_or_default());
            let value = match value_in(vcell, layout) {
                Value::Missing => Some(f64::NAN),
                Value::Number(v) if v.is_finite() => Some(v),
                _ => None,
            };
            match value {
                Some(v) => self.batch.push(targets, fed.start, ts, v, line),
                // The first failure of a series is the one it reports.
                None if targets[fed.start].failed.is_none() => {
                    targets[fed.start].read(rec, ts, line, layout, columns);
                }
                None => {}
            }
            return Ok(());
        }
        for t in &mut targets[fed] {
            if t.failed.is_none() {
                t.read(rec, ts, line, layout, columns);
            }
        }
        if !plan.many
            && let Some(e) = targets[0].failed.take()
        {
            return Err(e);
        }
        Ok(())
    }
}

fn stream<R: Read>(
    sample: Vec<u8>,
    rest: R,
    layout: &Layout,
    choice: Choice,
    source: &str,
    chunking: &Chunking,
) -> Result<Fleet, IngestError> {
    let plan = Plan::new(layout, &choice, source);
    let mut state = State::new(&plan);
    if plan.is_splittable() {
        chunks::read(&plan, &mut state, sample, rest, chunking)?;
    } else {
        state.read_csv(&plan, std::io::Cursor::new(sample).chain(rest), 0, true)?;
    }
    let State {
        parser,
        mut targets,
        mut batch,
        unrouted,
        rows_read,
        quotes,
        ..
    } = state;
    let Plan { time_name, .. } = plan;
    let columns = &layout.columns;
    batch.flush(&mut targets);
    if let Targets::ById(id) = choice.targets
        && unrouted.count * 2 > rows_read
    {
        return Err(IngestError::MissingSeriesId {
            source_name: source.to_owned(),
            line: unrouted.rows.first().map_or(0, |r| r.line),
            column: columns[id].clone(),
            missing: unrouted.count,
            rows: rows_read,
        });
    }
    let mut warnings = choice.warnings;
    warnings.extend(quotes.warning(layout));
    if parser.as_ref().is_some_and(TimeParser::is_ambiguous) {
        warnings.push(
            "dates read day-first (DD/MM/YYYY): no day or month above 12 anywhere, so the \
             order is ambiguous; check a few timestamps"
                .to_owned(),
        );
    }
    if unrouted.count > 0 {
        warnings.push(format!(
            "{} of {rows_read} rows have no series id and were skipped; the first on line {}",
            unrouted.count,
            unrouted.rows.first().map_or(0, |r| r.line)
        ));
    }
    let read = FileFacts {
        layout,
        parser: parser.as_ref(),
        time_name: time_name.as_deref(),
    };
    let series = targets
        .into_iter()
        .map(|t| FleetSeries {
            name: t.name.clone(),
            result: match t.failed {
                Some(e) => Err(e),
                None => {
                    let names: Vec<&str> =
                        t.covariates.iter().map(|&j| columns[j].as_str()).collect();
                    read.finish(t.c, &columns[t.column], &names, &t.source)
                }
            },
        })
        .collect();
    Ok(Fleet {
        source: source.to_owned(),
        columns: columns.clone(),
        time_column: time_name,
        series_column: match choice.targets {
            Targets::ById(id) => Some(columns[id].clone()),
            _ => None,
        },
        rows_read,
        rejected: unrouted.count,
        rejected_rows: unrouted.rows,
        warnings,
        series,
    })
}

/// Records holding a quoted cell that runs over line breaks. Legitimate in a notes column, but
/// in the time or value column, or running to the end of the file, a quote was left open.
#[derive(Debug, Default)]
struct MultiLine {
    /// The last such record: its first and last lines, the column of the cell, whether that
    /// column is read.
    pending: Option<(u64, u64, usize, bool)>,
    /// The first one that closed, with the line it closed on, and how many there were.
    first: Option<(u64, usize, u64)>,
    count: usize,
}

impl MultiLine {
    fn note(
        &mut self,
        rec: &csv::ByteRecord,
        (line, end): (u64, u64),
        chosen: impl Fn(usize) -> bool,
    ) {
        let field = rec
            .iter()
            .position(|f| f.iter().any(|&b| b == b'\n' || b == b'\r'))
            .unwrap_or(0);
        self.pending = Some((line, end, field, chosen(field)));
    }

    fn error(
        line: u64,
        field: usize,
        until: Option<u64>,
        source: &str,
        layout: &Layout,
    ) -> IngestError {
        IngestError::UnclosedQuote {
            source_name: source.to_owned(),
            line,
            column: layout.columns.get(field).cloned(),
            until,
        }
    }

    /// Another record follows: the pending cell, if any, closed.
    fn next_record(&mut self, source: &str, layout: &Layout) -> Result<(), IngestError> {
        if let Some((start, end, field, chosen)) = self.pending.take() {
            if chosen {
                return Err(Self::error(start, field, Some(end), source, layout));
            }
            self.count += 1;
            self.first.get_or_insert((start, field, end));
        }
        Ok(())
    }

    /// The file ended: a pending cell ran to its end.
    fn at_end(&mut self, source: &str, layout: &Layout) -> Result<(), IngestError> {
        match self.pending.take() {
            Some((start, _, field, _)) => Err(Self::error(start, field, None, source, layout)),
            None => Ok(()),
        }
    }

    fn warning(&self, layout: &Layout) -> Option<String> {
        let (line, field, end) = self.first?;
        Some(format!(
            "{} quoted cell{} run{} over several lines, the first on lines {line} to {end} in \
             column \"{}\"; check that its quotes close where they should",
            self.count,
            if self.count == 1 { "" } else { "s" },
            if self.count == 1 { "s" } else { "" },
            shorten(layout.columns.get(field).map_or("", String::as_str))
        ))
    }
}

/// What every series of one file shares, for [`FileFacts::finish`].
struct FileFacts<'a> {
    layout: &'a Layout,
    parser: Option<&'a TimeParser>,
    time_name: Option<&'a str>,
}

impl FileFacts<'_> {
    /// Checks, sorts and describes one series' rows.
    fn finish(
        &self,
        mut c: Collector,
        value_name: &str,
        covariate_names: &[&str],
        source: &str,
    ) -> Result<Ingested, IngestError> {
        let FileFacts {
            layout,
            parser,
            time_name,
        } = *self;
        if c.rows_read == 0 {
            return Err(IngestError::HeaderOnly {
                source_name: source.to_owned(),
                columns: layout.columns.clone(),
            });
        }
        if c.rejected * 2 > c.rows_read {
            // Kept rows are fewer than rejected ones: the column (or the format) is wrong.
            let first = c.rejected_rows.first().cloned().unwrap_or_default();
            let (rejected, rows) = (c.rejected, c.rows_read);
            return Err(match c.first_rejection {
                Some(Rejection::Time) => IngestError::UnparsableTimestamp {
                    source_name: source.to_owned(),
                    line: first.line,
                    column: first.column,
                    value: first.value,
                    rejected,
                    rows,
                },
                _ => IngestError::NotANumber {
                    source_name: source.to_owned(),
                    line: first.line,
                    column: first.column,
                    value: first.value,
                    rejected,
                    rows,
                },
            });
        }
        if c.values.iter().all(|v| v.is_nan()) {
            return Err(IngestError::AllMissing {
                source_name: source.to_owned(),
                column: value_name.to_owned(),
                rows: c.rows_read,
            });
        }

        let sorted = !c.timestamps.is_sorted();
        if sorted {
            sort_keep_last(&mut c);
        }
        if c.duplicates * 2 > c.rows_read
            && let (Some(column), Some(d)) = (time_name, c.duplicate_rows.first())
        {
            return Err(IngestError::MostlyDuplicates {
                source_name: source.to_owned(),
                column: column.to_owned(),
                duplicates: c.duplicates,
                rows: c.rows_read,
                points: c.timestamps.len(),
                timestamp: d.timestamp.clone(),
                first_line: d.kept_line.min(d.dropped_line),
                second_line: d.kept_line.max(d.dropped_line),
            });
        }
        let axis = if parser.is_some() {
            TimeAxis::EpochMillis
        } else {
            TimeAxis::Index
        };
        let timestamps = std::mem::take(&mut c.timestamps);
        let values = std::mem::take(&mut c.values);
        let covariates = covariate_names
            .iter()
            .zip(std::mem::take(&mut c.covariates))
            .map(|(name, values)| Covariate::new(*name, values))
            .collect();
        let series = Series::with_axis(timestamps, values, axis)
            .and_then(|s| s.with_covariates(covariates))
            .map_err(|error| IngestError::Series {
                source_name: source.to_owned(),
                error,
            })?;

        let median_step = median_step(series.timestamps());
        let gaps = match (axis, median_step) {
            (TimeAxis::EpochMillis, Some(step)) => find_gaps(series.timestamps(), step),
            _ => Gaps::default(),
        };
        let mut warnings = Vec::new();
        if sorted {
            warnings.push("rows were not in time order; they were sorted".to_owned());
        }
        if c.duplicates > 0 {
            warnings.push(format!(
                "{} rows repeated an earlier timestamp; the last row for each timestamp was kept",
                c.duplicates
            ));
        }
        if let Some(r) = c.rejected_rows.first() {
            warnings.push(format!(
                "{} of {} rows were rejected (see rejected_rows); the first: line {}, column \
             \"{}\": \"{}\" ({})",
                c.rejected,
                c.rows_read,
                r.line,
                shorten(&r.column),
                r.value,
                r.reason
            ));
        }
        if gaps.count > 0 {
            warnings.push(format!(
                "{} gaps in time ({} missing steps)",
                gaps.count, gaps.missing_steps
            ));
        }
        if let Some(w) = dressed_warning(layout, value_name) {
            warnings.push(w);
        }
        let diagnostics = Diagnostics {
            source: source.to_owned(),
            rows_read: c.rows_read,
            points: series.len(),
            missing_values: series.missing(),
            rejected: c.rejected,
            rejected_rows: c.rejected_rows,
            duplicates: c.duplicates,
            duplicate_rows: c.duplicate_rows,
            sorted,
            median_step,
            gaps,
            delimiter: layout.delimiter as char,
            decimal: layout.decimal.as_char(),
            has_header: layout.has_header,
            time_format: parser.map_or_else(|| "none (row index)".to_owned(), TimeParser::describe),
            time_column: time_name.map(str::to_owned),
            value_column: value_name.to_owned(),
            warnings,
        };
        Ok(Ingested {
            series,
            diagnostics,
            columns: layout.columns.clone(),
            time_column: time_name.map(str::to_owned),
            value_column: value_name.to_owned(),
            covariate_columns: covariate_names.iter().map(|n| (*n).to_owned()).collect(),
        })
    }
}

/// A value cell, read as `layout` says: a number, or for a label column also a word
/// ([`parse_label`]).
fn value_in(cell: &[u8], layout: &Layout) -> Value {
    match parse_value_in(cell, layout.decimal) {
        Value::Invalid if layout.labels => parse_label(cell),
        other => other,
    }
}

/// A warning when the sampled cells of the value column hold numbers dressed as a report
/// dresses them (`$1,234.50`, `12.5%`, `(300)`), naming the first and what it was read as: a
/// comma that groups thousands looks like a decimal comma, so the reading is said, not hidden.
fn dressed_warning(layout: &Layout, value_name: &str) -> Option<String> {
    let j = layout.columns.iter().position(|c| c == value_name)?;
    let (cell, v) = layout
        .rows
        .iter()
        .filter_map(|r| r.get(j).map(trim))
        .find_map(|c| dressed(c, layout.decimal).map(|v| (c, v)))?;
    let text = String::from_utf8_lossy(cell);
    let hint = if layout.decimal == crate::options::DecimalMark::Point
        && text.contains(',')
        && !text.contains('.')
    {
        "; if ',' is their decimal mark (12,5), set the decimal mark to ','"
    } else {
        ""
    };
    Some(format!(
        "values in column \"{}\" carry currency signs, thousands separators, % signs or \
         accounting parentheses and were read as plain numbers: \"{}\" as {v}{hint}",
        shorten(value_name),
        shorten(&text)
    ))
}

/// Sorts the points by time (stable, so rows keep file order within a timestamp) and keeps
/// the last row of each timestamp.
fn sort_keep_last(c: &mut Collector) {
    let n = c.timestamps.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| c.timestamps[i]);
    let mut ts = Vec::with_capacity(n);
    let mut vals = Vec::with_capacity(n);
    let mut covs: Vec<Vec<f64>> = vec![Vec::with_capacity(n); c.covariates.len()];
    let mut kept: Vec<usize> = Vec::with_capacity(n);
    for &i in &order {
        let t = c.timestamps[i];
        if ts.last() == Some(&t) {
            // Stable order: row `i` comes later in the file than the one it replaces.
            let dropped = kept.last().copied().unwrap_or(i);
            let (kept_line, dropped_line) = (c.line_of(i), c.line_of(dropped));
            c.note_duplicate(t, kept_line, dropped_line);
            if let Some(v) = vals.last_mut() {
                *v = c.values[i];
            }
            for (dst, src) in covs.iter_mut().zip(&c.covariates) {
                if let Some(x) = dst.last_mut() {
                    *x = src[i];
                }
            }
            if let Some(k) = kept.last_mut() {
                *k = i;
            }
        } else {
            ts.push(t);
            vals.push(c.values[i]);
            for (dst, src) in covs.iter_mut().zip(&c.covariates) {
                dst.push(src[i]);
            }
            kept.push(i);
        }
    }
    c.timestamps = ts;
    c.values = vals;
    c.covariates = covs;
}

/// The median difference between consecutive timestamps (the upper median, as
/// [`Series::median_step`]), counted per distinct step: regular series have few, so this
/// needs no copy of the series. Falls back to a full copy past 65,536 distinct steps.
fn median_step(ts: &[i64]) -> Option<i64> {
    const MAX_DISTINCT: usize = 1 << 16;
    let steps = ts.len().checked_sub(1).filter(|n| *n > 0)?;
    let mut counts: std::collections::HashMap<i64, usize> = std::collections::HashMap::new();
    // Count runs of one step before touching the map: most steps repeat the previous one.
    let mut run = (ts[1] - ts[0], 0);
    for w in ts.windows(2) {
        let step = w[1] - w[0];
        if step == run.0 {
            run.1 += 1;
            continue;
        }
        *counts.entry(run.0).or_insert(0) += run.1;
        run = (step, 1);
        if counts.len() > MAX_DISTINCT {
            let mut all: Vec<i64> = ts.windows(2).map(|w| w[1] - w[0]).collect();
            let mid = all.len() / 2;
            return Some(*all.select_nth_unstable(mid).1);
        }
    }
    *counts.entry(run.0).or_insert(0) += run.1;
    let mut distinct: Vec<(i64, usize)> = counts.into_iter().collect();
    distinct.sort_unstable();
    let mid = steps / 2;
    let mut seen = 0;
    for (step, n) in distinct {
        seen += n;
        if seen > mid {
            return Some(step);
        }
    }
    None
}

/// Steps longer than 1.5 median steps.
fn find_gaps(ts: &[i64], median: i64) -> Gaps {
    let mut gaps = Gaps::default();
    if median <= 0 {
        return gaps;
    }
    // step > 1.5 * median, in integers: 2 * step > 3 * median, that is step > (3 * median) / 2
    // rounded down; worked out once, so the loop compares plain integers.
    let limit = i64::try_from(3 * i128::from(median) / 2).unwrap_or(i64::MAX);
    for w in ts.windows(2) {
        let step = w[1] - w[0];
        if step > limit {
            let missing = ((step as f64 / median as f64).round() as u64).saturating_sub(1);
            gaps.count += 1;
            gaps.missing_steps += missing.max(1);
            if gaps.first.len() < KEEP_GAPS {
                gaps.first.push(Gap {
                    start_ms: w[0],
                    end_ms: w[1],
                    start: format_timestamp(w[0]),
                    end: format_timestamp(w[1]),
                    missing_steps: missing.max(1),
                });
            }
        }
    }
    gaps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_step_matches_the_series() {
        let cases: &[(&str, Vec<i64>)] = &[
            ("one point", vec![5]),
            ("two points", vec![0, 7]),
            ("regular", (0..100).map(|i| i * 60).collect()),
            ("even count", vec![0, 1, 3, 6, 10]),
            ("irregular", (0..200).map(|i| i * i + i % 7).collect()),
        ];
        for (name, ts) in cases {
            let series = Series::new(ts.clone(), vec![0.0; ts.len()]).unwrap();
            assert_eq!(median_step(ts), series.median_step(), "{name}");
        }
    }

    #[test]
    fn gaps_count_missing_steps() {
        let h = 3_600_000;
        let ts = [0, h, 2 * h, 5 * h, 6 * h, 7 * h, 9 * h];
        let g = find_gaps(&ts, h);
        // Exactly 1.5 steps is no gap, one millisecond more is (odd and even medians).
        assert_eq!(find_gaps(&[0, 3, 5], 2).count, 0);
        assert_eq!(find_gaps(&[0, 4, 6], 2).count, 1);
        assert_eq!(find_gaps(&[0, 4, 7], 3).count, 0);
        assert_eq!(find_gaps(&[0, 5, 8], 3).count, 1);
        assert_eq!(g.count, 2);
        assert_eq!(g.missing_steps, 3);
        assert_eq!(g.first[0].start_ms, 2 * h);
        assert_eq!(g.first[0].end_ms, 5 * h);
        assert_eq!(g.first[0].missing_steps, 2);
        assert_eq!(g.first[1].start, "1970-01-01T07:00:00Z");
    }
}
