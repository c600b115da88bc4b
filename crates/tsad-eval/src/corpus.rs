//! A labelled benchmark corpus in NAB's layout: the series of `data/` and the anomaly windows of
//! `labels/combined_windows.json`, with window edges resolved to row indices.

use crate::EvalError;
use chrono::{DateTime, NaiveDate};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The windows file NAB scores against, relative to the corpus root.
pub const WINDOWS_FILE: &str = "labels/combined_windows.json";

/// One labelled anomaly window: rows `start..=end` (both inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Window {
    /// First row inside the window.
    pub start: usize,
    /// Last row inside the window (inclusive).
    pub end: usize,
}

impl Window {
    /// Number of rows covered, `end - start + 1`.
    pub fn width(&self) -> usize {
        self.end - self.start + 1
    }

    /// True when `row` lies inside the window.
    pub fn contains(&self, row: usize) -> bool {
        self.start <= row && row <= self.end
    }
}

/// NAB's probationary period for a file of `n` rows: `min(floor(0.15 n), 750)`.
///
/// Rows before it are free learning time: they are neither detections nor misses.
pub fn probationary_period(n: usize) -> usize {
    // floor(0.15 n) computed in integers so that no rounding can move it.
    (n * 15 / 100).min(750)
}

/// One series of the corpus with its windows.
#[derive(Debug, Clone, PartialEq)]
pub struct CorpusFile {
    name: String,
    timestamps: Vec<i64>,
    values: Vec<f64>,
    windows: Vec<Window>,
}

impl CorpusFile {
    /// Builds a file from its parts.
    ///
    /// `name` is the path relative to `data/` (`realKnownCause/nyc_taxi.csv`); the part before
    /// the first `/` is its category. Timestamps are Unix milliseconds; unlike
    /// [`tsad_core::Series`] they may repeat or step back (NAB has both quirks): scoring works
    /// on row positions only.
    ///
    /// # Errors
    ///
    /// [`EvalError::InvalidArgument`] when the lengths differ, or a window is empty, out of
    /// bounds, out of order or overlaps the previous one.
    pub fn new(
        name: impl Into<String>,
        timestamps: Vec<i64>,
        values: Vec<f64>,
        windows: Vec<Window>,
    ) -> Result<Self, EvalError> {
        let name = name.into();
        let invalid = |reason: String| EvalError::InvalidArgument {
            name: "windows",
            reason: format!("{name}: {reason}"),
        };
        if timestamps.len() != values.len() {
            return Err(EvalError::InvalidArgument {
                name: "values",
                reason: format!(
                    "{name}: {} timestamps but {} values",
                    timestamps.len(),
                    values.len()
                ),
            });
        }
        let n = values.len();
        for (j, w) in windows.iter().enumerate() {
            if w.start > w.end || w.end >= n {
                return Err(invalid(format!(
                    "window {j} (rows {}..={}) is empty or beyond the {n} rows",
                    w.start, w.end
                )));
            }
            if j > 0 && windows[j - 1].end >= w.start {
                return Err(invalid(format!(
                    "window {j} (rows {}..={}) overlaps or precedes window {}",
                    w.start,
                    w.end,
                    j - 1
                )));
            }
        }
        Ok(CorpusFile {
            name,
            timestamps,
            values,
            windows,
        })
    }

    /// The path relative to `data/`, e.g. `realKnownCause/nyc_taxi.csv`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The category: the directory part of [`CorpusFile::name`] (empty when there is none).
    pub fn category(&self) -> &str {
        self.name.rsplit_once('/').map_or("", |(dir, _)| dir)
    }

    /// The file name without directory and `.csv` extension, e.g. `nyc_taxi`.
    pub fn stem(&self) -> &str {
        let base = self.name.rsplit_once('/').map_or(&*self.name, |(_, b)| b);
        base.strip_suffix(".csv").unwrap_or(base)
    }

    /// Timestamps in Unix milliseconds (NAB's naive times read as UTC).
    pub fn timestamps(&self) -> &[i64] {
        &self.timestamps
    }

    /// The values (NaN where a cell was empty).
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// The anomaly windows, in row order.
    pub fn windows(&self) -> &[Window] {
        &self.windows
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when the file has no row.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// This file's probationary period (see [`probationary_period`]).
    pub fn probation(&self) -> usize {
        probationary_period(self.len())
    }

    /// One flag per row: true inside a window (NAB's `label` column).
    pub fn labels(&self) -> Vec<bool> {
        let mut labels = vec![false; self.len()];
        for w in &self.windows {
            labels[w.start..=w.end].fill(true);
        }
        labels
    }
}

/// A set of labelled series, NAB style.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Corpus {
    root: Option<PathBuf>,
    files: Vec<CorpusFile>,
}

impl Corpus {
    /// Loads a NAB directory: every file listed in `labels/combined_windows.json`, read from
    /// `data/`, with its windows resolved to rows.
    ///
    /// # Errors
    ///
    /// [`EvalError::Io`] when a file cannot be read, [`EvalError::Parse`] when a CSV or the
    /// windows JSON is malformed or a window edge matches no row.
    pub fn load(dir: impl AsRef<Path>) -> Result<Self, EvalError> {
        let dir = dir.as_ref();
        Self::load_with_windows(dir, dir.join(WINDOWS_FILE))
    }

    /// Loads the files listed in another windows file (for example
    /// `labels/combined_windows_tiny.json`) from `dir/data/`.
    ///
    /// # Errors
    ///
    /// As [`Corpus::load`].
    pub fn load_with_windows(
        dir: impl AsRef<Path>,
        windows_json: impl AsRef<Path>,
    ) -> Result<Self, EvalError> {
        let dir = dir.as_ref();
        let windows_json = windows_json.as_ref();
        let text =
            std::fs::read_to_string(windows_json).map_err(|e| EvalError::io(windows_json, e))?;
        // A BTreeMap sorts the files by name, so every run sees the same order.
        let listed: BTreeMap<String, Vec<[String; 2]>> = serde_json::from_str(&text)
            .map_err(|e| EvalError::parse(windows_json, e.to_string()))?;
        let files = listed
            .into_par_iter()
            .map(|(name, windows)| load_file(dir, windows_json, name, &windows))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Corpus {
            root: Some(dir.to_path_buf()),
            files,
        })
    }

    /// A corpus of files built in memory (tests, labelled user data).
    pub fn from_files(files: Vec<CorpusFile>) -> Self {
        Corpus { root: None, files }
    }

    /// Keeps only the files for which `keep` is true (quick runs on a few files).
    pub fn filter(mut self, mut keep: impl FnMut(&CorpusFile) -> bool) -> Self {
        self.files.retain(|f| keep(f));
        self
    }

    /// The directory it was loaded from, if any.
    pub fn root(&self) -> Option<&Path> {
        self.root.as_deref()
    }

    /// The files, sorted by name when loaded from disk.
    pub fn files(&self) -> &[CorpusFile] {
        &self.files
    }

    /// The file called `name` (relative to `data/`).
    pub fn file(&self, name: &str) -> Option<&CorpusFile> {
        self.files.iter().find(|f| f.name == name)
    }

    /// Number of files.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// True when the corpus has no file.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Total number of windows (116 for NAB v1.1): the perfect detector's raw score per unit
    /// of `A_TP`.
    pub fn window_count(&self) -> usize {
        self.files.iter().map(|f| f.windows.len()).sum()
    }

    /// Total number of rows.
    pub fn row_count(&self) -> usize {
        self.files.iter().map(CorpusFile::len).sum()
    }

    /// The distinct categories, in order of first appearance.
    pub fn categories(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for f in &self.files {
            if !out.contains(&f.category()) {
                out.push(f.category());
            }
        }
        out
    }
}

fn load_file(
    dir: &Path,
    windows_json: &Path,
    name: String,
    windows: &[[String; 2]],
) -> Result<CorpusFile, EvalError> {
    let path = dir.join("data").join(&name);
    let (timestamps, values) = read_data_csv(&path)?;
    let row_of = |s: &str| -> Result<usize, EvalError> {
        let t = parse_timestamp(s).ok_or_else(|| {
            EvalError::parse(windows_json, format!("{name}: bad window timestamp `{s}`"))
        })?;
        // NAB resolves a window edge to the FIRST row with that timestamp; FORMAT.md notes no
        // edge falls on a duplicated timestamp, so this is unambiguous.
        timestamps.iter().position(|&x| x == t).ok_or_else(|| {
            EvalError::parse(
                windows_json,
                format!("{name}: window edge `{s}` matches no row of the data file"),
            )
        })
    };
    let windows = windows
        .iter()
        .map(|[a, b]| {
            Ok(Window {
                start: row_of(a)?,
                end: row_of(b)?,
            })
        })
        .collect::<Result<Vec<_>, EvalError>>()?;
    CorpusFile::new(name, timestamps, values, windows)
}

/// Reads a `timestamp,value` CSV (NAB data layout). Empty values become NaN.
pub(crate) fn read_data_csv(path: &Path) -> Result<(Vec<i64>, Vec<f64>), EvalError> {
    let mut reader = csv::ReaderBuilder::new()
        .from_path(path)
        .map_err(|e| csv_error(path, e))?;
    let headers = reader
        .byte_headers()
        .map_err(|e| csv_error(path, e))?
        .clone();
    let ts_col = column(&headers, "timestamp").unwrap_or(0);
    let value_col = column(&headers, "value").unwrap_or(1);
    let mut timestamps = Vec::new();
    let mut values = Vec::new();
    let mut record = csv::ByteRecord::new();
    while reader
        .read_byte_record(&mut record)
        .map_err(|e| csv_error(path, e))?
    {
        let line = record.position().map_or(0, |p| p.line());
        let ts = record
            .get(ts_col)
            .and_then(|b| std::str::from_utf8(b).ok())
            .and_then(parse_timestamp)
            .ok_or_else(|| EvalError::parse(path, format!("line {line}: bad timestamp")))?;
        let value = parse_value(record.get(value_col))
            .ok_or_else(|| EvalError::parse(path, format!("line {line}: bad value")))?;
        timestamps.push(ts);
        values.push(value);
    }
    Ok((timestamps, values))
}

pub(crate) fn column(headers: &csv::ByteRecord, name: &str) -> Option<usize> {
    headers
        .iter()
        .position(|h| h.trim_ascii().eq_ignore_ascii_case(name.as_bytes()))
}

/// A float cell; empty means NaN (a missing value), anything unparsable is `None`.
pub(crate) fn parse_value(cell: Option<&[u8]>) -> Option<f64> {
    let s = std::str::from_utf8(cell?).ok()?.trim();
    if s.is_empty() {
        return Some(f64::NAN);
    }
    s.parse().ok()
}

pub(crate) fn csv_error(path: &Path, e: csv::Error) -> EvalError {
    if e.is_io_error() {
        match e.into_kind() {
            csv::ErrorKind::Io(io) => EvalError::io(path, io),
            other => EvalError::parse(path, format!("{other:?}")),
        }
    } else {
        EvalError::parse(path, e.to_string())
    }
}

/// Parses NAB's `YYYY-MM-DD HH:MM:SS[.ffffff]` (naive, read as UTC) into Unix milliseconds.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let b = s.trim().as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b' ' | b'T') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let date = NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)?;
    let time = date.and_hms_opt(num(11..13)?, num(14..16)?, num(17..19)?)?;
    let mut millis = time.and_utc().timestamp_millis();
    if b.len() > 19 {
        let frac = &b[19..];
        if frac[0] != b'.' || frac.len() < 2 || !frac[1..].iter().all(u8::is_ascii_digit) {
            return None;
        }
        // Milliseconds from the first three fraction digits; finer digits are dropped.
        let mut ms = 0i64;
        for k in 0..3 {
            ms = ms * 10 + frac.get(1 + k).map_or(0, |&c| i64::from(c - b'0'));
        }
        millis += ms;
    }
    Some(millis)
}

/// Formats Unix milliseconds as NAB's `YYYY-MM-DD HH:MM:SS` (milliseconds dropped).
pub fn format_timestamp(millis: i64) -> String {
    DateTime::from_timestamp_millis(millis).map_or_else(
        || millis.to_string(),
        |t| t.format("%Y-%m-%d %H:%M:%S").to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probationary_period_matches_nab() {
        for (n, want) in [
            (100, 15),
            (4032, 604),
            (1127, 169),
            (22695, 750),
            (5000, 750),
        ] {
            assert_eq!(probationary_period(n), want, "n = {n}");
        }
    }

    #[test]
    fn timestamps_parse_and_format() {
        let cases = [
            ("plain", "2014-07-01 00:30:00", Some(1_404_174_600_000)),
            (
                "fraction",
                "2014-07-01 00:30:00.000000",
                Some(1_404_174_600_000),
            ),
            ("millis", "2014-07-01 00:30:00.250", Some(1_404_174_600_250)),
            ("iso T", "2014-07-01T00:30:00", Some(1_404_174_600_000)),
            ("bad month", "2014-13-01 00:30:00", None),
            ("short", "2014-07-01", None),
            ("letters", "2014-07-0x 00:30:00", None),
            ("bad fraction", "2014-07-01 00:30:00x", None),
        ];
        for (name, s, want) in cases {
            assert_eq!(parse_timestamp(s), want, "{name}");
        }
        assert_eq!(format_timestamp(1_404_174_600_000), "2014-07-01 00:30:00");
    }

    #[test]
    fn file_rejects_bad_windows() {
        let w = |start, end| Window { start, end };
        let cases = [
            ("reversed", vec![w(5, 4)], "empty or beyond"),
            ("beyond", vec![w(5, 10)], "empty or beyond"),
            ("overlap", vec![w(1, 3), w(3, 4)], "overlaps"),
        ];
        for (name, windows, want) in cases {
            let err = CorpusFile::new("c/f.csv", (0..10).collect(), vec![0.0; 10], windows)
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "{name}: {err}");
        }
        let f =
            CorpusFile::new("c/f.csv", (0..10).collect(), vec![0.0; 10], vec![w(2, 3)]).unwrap();
        assert_eq!((f.category(), f.stem()), ("c", "f"));
        assert_eq!(f.labels().iter().filter(|&&l| l).count(), 2);
    }
}
