//! A detector's output over a corpus (one anomaly score per row per file), read from and
//! written to NAB's results layout `<dir>/<detector>/<category>/<detector>_<file>.csv`.

use crate::corpus::{column, csv_error, format_timestamp, parse_timestamp, parse_value};
use crate::{Corpus, CorpusFile, EvalError};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// One file's output: row-aligned with the corpus file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FileResult {
    /// The row timestamps (Unix milliseconds), copied from the data file.
    pub timestamps: Vec<i64>,
    /// NAB's `anomaly_score`, in [0, 1]; the only column the scorer reads. NaN never detects.
    pub anomaly_score: Vec<f64>,
    /// The detector's own score before it was mapped into [0, 1], when known (written as an
    /// extra `raw_score` column, as NAB's numenta results do).
    pub raw_score: Option<Vec<f64>>,
}

impl FileResult {
    /// A result with anomaly scores only.
    pub fn new(timestamps: Vec<i64>, anomaly_score: Vec<f64>) -> Self {
        FileResult {
            timestamps,
            anomaly_score,
            raw_score: None,
        }
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.anomaly_score.len()
    }

    /// True when there is no row.
    pub fn is_empty(&self) -> bool {
        self.anomaly_score.is_empty()
    }
}

/// A detector's results for a corpus, keyed by the file name relative to `data/`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ResultsSet {
    files: BTreeMap<String, FileResult>,
}

impl ResultsSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the result of file `name` (relative to `data/`).
    pub fn insert(&mut self, name: impl Into<String>, result: FileResult) {
        self.files.insert(name.into(), result);
    }

    /// The result of file `name`.
    pub fn get(&self, name: &str) -> Option<&FileResult> {
        self.files.get(name)
    }

    /// Number of files.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// True when no file has a result.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The results in file-name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &FileResult)> {
        self.files.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The scores of every corpus file, in corpus order.
    ///
    /// # Errors
    ///
    /// [`EvalError::Mismatch`] when a corpus file has no result or a different row count.
    pub fn aligned<'a>(&'a self, corpus: &Corpus) -> Result<Vec<&'a [f64]>, EvalError> {
        corpus
            .files()
            .iter()
            .map(|f| {
                let r = self
                    .get(f.name())
                    .ok_or_else(|| EvalError::mismatch(format!("no result for {}", f.name())))?;
                if r.len() != f.len() {
                    return Err(EvalError::mismatch(format!(
                        "{} has {} rows but its result has {}",
                        f.name(),
                        f.len(),
                        r.len()
                    )));
                }
                Ok(r.anomaly_score.as_slice())
            })
            .collect()
    }

    /// Reads the results of `detector` for every corpus file from NAB's layout under `dir`
    /// (for example `nab/results`, detector `numenta`).
    ///
    /// # Errors
    ///
    /// [`EvalError::Io`] when a file is missing, [`EvalError::Parse`] when it has no
    /// `anomaly_score` column or a bad number, [`EvalError::Mismatch`] when its row count
    /// differs from the data file.
    pub fn read(dir: impl AsRef<Path>, detector: &str, corpus: &Corpus) -> Result<Self, EvalError> {
        let dir = dir.as_ref();
        let files = corpus
            .files()
            .par_iter()
            .map(|f| {
                let path = result_path(dir, detector, f);
                let result = read_result_csv(&path)?;
                if result.len() != f.len() {
                    return Err(EvalError::mismatch(format!(
                        "{} has {} rows but the data file {} has {}",
                        path.display(),
                        result.len(),
                        f.name(),
                        f.len()
                    )));
                }
                Ok((f.name().to_owned(), result))
            })
            .collect::<Result<BTreeMap<_, _>, EvalError>>()?;
        Ok(ResultsSet { files })
    }
}

impl FromIterator<(String, FileResult)> for ResultsSet {
    fn from_iter<I: IntoIterator<Item = (String, FileResult)>>(iter: I) -> Self {
        ResultsSet {
            files: iter.into_iter().collect(),
        }
    }
}

/// Where NAB keeps `detector`'s result for `file`: `<dir>/<detector>/<category>/<detector>_<stem>.csv`.
pub fn result_path(dir: &Path, detector: &str, file: &CorpusFile) -> PathBuf {
    dir.join(detector)
        .join(file.category())
        .join(format!("{detector}_{}.csv", file.stem()))
}

fn read_result_csv(path: &Path) -> Result<FileResult, EvalError> {
    let mut reader = csv::ReaderBuilder::new()
        .from_path(path)
        .map_err(|e| csv_error(path, e))?;
    let headers = reader
        .byte_headers()
        .map_err(|e| csv_error(path, e))?
        .clone();
    let score_col = column(&headers, "anomaly_score")
        .ok_or_else(|| EvalError::parse(path, "no `anomaly_score` column"))?;
    let ts_col = column(&headers, "timestamp");
    let raw_col = column(&headers, "raw_score");
    let mut out = FileResult {
        raw_score: raw_col.map(|_| Vec::new()),
        ..FileResult::default()
    };
    let mut record = csv::ByteRecord::new();
    while reader
        .read_byte_record(&mut record)
        .map_err(|e| csv_error(path, e))?
    {
        let line = record.position().map_or(0, |p| p.line());
        let bad = |what: &str| EvalError::parse(path, format!("line {line}: bad {what}"));
        let score = parse_value(record.get(score_col)).ok_or_else(|| bad("anomaly_score"))?;
        out.anomaly_score.push(score);
        if let Some(c) = ts_col {
            let ts = record
                .get(c)
                .and_then(|b| std::str::from_utf8(b).ok())
                .and_then(parse_timestamp)
                .ok_or_else(|| bad("timestamp"))?;
            out.timestamps.push(ts);
        }
        if let (Some(c), Some(raw)) = (raw_col, out.raw_score.as_mut()) {
            raw.push(parse_value(record.get(c)).ok_or_else(|| bad("raw_score"))?);
        }
    }
    Ok(out)
}

/// Writes `results` in NAB's layout under `dir`, as detector `name`:
/// `<dir>/<name>/<category>/<name>_<file>.csv` with the columns
/// `timestamp,value,anomaly_score[,raw_score],label` (label 1 inside a window), one file per
/// corpus file. NaN scores are written as empty cells.
///
/// # Errors
///
/// [`EvalError::InvalidArgument`] when `name` is empty or holds a path separator,
/// [`EvalError::Mismatch`] when a corpus file has no result of the right length,
/// [`EvalError::Io`] when a file cannot be written.
pub fn write_results(
    dir: impl AsRef<Path>,
    name: &str,
    corpus: &Corpus,
    results: &ResultsSet,
) -> Result<(), EvalError> {
    if name.is_empty() || name.contains(['/', '\\']) || name == "." || name == ".." {
        return Err(EvalError::InvalidArgument {
            name: "name",
            reason: format!("a detector name must be a plain file name, got `{name}`"),
        });
    }
    results.aligned(corpus)?;
    let dir = dir.as_ref();
    corpus.files().par_iter().try_for_each(|f| {
        // `aligned` checked above that every file has a result of the right length.
        let Some(r) = results.get(f.name()) else {
            return Err(EvalError::mismatch(format!("no result for {}", f.name())));
        };
        let path = result_path(dir, name, f);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| EvalError::io(parent, e))?;
        }
        write_one(&path, f, r).map_err(|e| EvalError::io(&path, e))
    })
}

fn write_one(path: &Path, f: &CorpusFile, r: &FileResult) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    let raw = r.raw_score.as_ref().filter(|raw| raw.len() == f.len());
    if raw.is_some() {
        writeln!(out, "timestamp,value,anomaly_score,raw_score,label")?;
    } else {
        writeln!(out, "timestamp,value,anomaly_score,label")?;
    }
    let labels = f.labels();
    let cell = |x: f64| {
        if x.is_nan() {
            String::new()
        } else {
            x.to_string()
        }
    };
    for i in 0..f.len() {
        write!(
            out,
            "{},{},{}",
            format_timestamp(f.timestamps()[i]),
            cell(f.values()[i]),
            cell(r.anomaly_score[i])
        )?;
        if let Some(raw) = raw {
            write!(out, ",{}", cell(raw[i]))?;
        }
        writeln!(out, ",{}", u8::from(labels[i]))?;
    }
    out.flush()
}
