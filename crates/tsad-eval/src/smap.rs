//! The NASA SMAP / MSL layout (telemanom's): `train/<channel>.csv` and `test/<channel>.csv` with
//! a `value` column and no time column, and `labels.csv` listing each channel's anomalous
//! sequences as inclusive index ranges of the test part; scored with the publisher's
//! event-level rule (see [`event_counts`]).

use crate::EvalError;
use rayon::prelude::*;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tsad_core::{Covariate, Series};

/// One channel: its files and labelled sequences.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Channel {
    /// The channel's name (`P-1`).
    pub name: String,
    /// `train/<name>.csv`.
    pub train: PathBuf,
    /// `test/<name>.csv`.
    pub test: PathBuf,
    /// Labelled anomalous sequences: inclusive `[start, end]` rows of the test part.
    pub anomalies: Vec<(usize, usize)>,
}

/// A data set in the telemanom layout.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SmapSet {
    /// Its directory.
    pub dir: PathBuf,
    /// Channels in `labels.csv` order.
    pub channels: Vec<Channel>,
}

impl SmapSet {
    /// Reads `labels.csv` under `dir` and checks that every channel's files exist.
    ///
    /// # Errors
    ///
    /// [`EvalError::Parse`] naming the file, line and field that is missing or malformed.
    pub fn load(dir: impl AsRef<Path>) -> Result<SmapSet, EvalError> {
        let dir = dir.as_ref().to_path_buf();
        let labels = dir.join("labels.csv");
        let bad = |reason: String| parse_error(&labels, reason);
        let mut reader = csv::Reader::from_path(&labels).map_err(|e| {
            bad(format!(
                "{e} (a telemanom-layout directory has labels.csv, train/ and test/)"
            ))
        })?;
        let headers = reader.headers().map_err(|e| bad(e.to_string()))?.clone();
        let col = |name: &str| {
            headers.iter().position(|h| h == name).ok_or_else(|| {
                bad(format!(
                    "no `{name}` column (found: {})",
                    headers.iter().collect::<Vec<_>>().join(", ")
                ))
            })
        };
        let (name_col, seq_col) = (col("channel")?, col("anomaly_sequences")?);
        let mut channels = Vec::new();
        for (i, record) in reader.records().enumerate() {
            let line = i + 2;
            let record = record.map_err(|e| bad(format!("line {line}: {e}")))?;
            let name = record.get(name_col).unwrap_or_default().trim().to_owned();
            let text = record.get(seq_col).unwrap_or_default();
            let pairs: Vec<(usize, usize)> = serde_json::from_str(text).map_err(|e| {
                bad(format!(
                    "line {line}: field `anomaly_sequences` is not a JSON list of [start, end] \
                     pairs: {e}"
                ))
            })?;
            if let Some(&(s, e)) = pairs.iter().find(|(s, e)| s > e) {
                return Err(bad(format!(
                    "line {line}: sequence [{s}, {e}] ends before it starts"
                )));
            }
            let train = dir.join("train").join(format!("{name}.csv"));
            let test = dir.join("test").join(format!("{name}.csv"));
            for f in [&train, &test] {
                if !f.is_file() {
                    return Err(bad(format!(
                        "line {line}: channel `{name}` has no file {}",
                        f.display()
                    )));
                }
            }
            channels.push(Channel {
                name,
                train,
                test,
                anomalies: pairs,
            });
        }
        Ok(SmapSet { dir, channels })
    }
}

/// The event-level counts of one channel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct EventCounts {
    /// Labelled sequences overlapped by at least one predicted event.
    pub true_pos: usize,
    /// Predicted events overlapping no labelled sequence.
    pub false_pos: usize,
    /// Labelled sequences overlapped by no predicted event.
    pub false_neg: usize,
}

impl EventCounts {
    /// Precision, recall and F1 (`None` where undefined; F1 0 when both are 0).
    pub fn prf(&self) -> (Option<f64>, Option<f64>, Option<f64>) {
        let ratio = |a: usize, b: usize| (a + b > 0).then(|| a as f64 / (a + b) as f64);
        let p = ratio(self.true_pos, self.false_pos);
        let r = ratio(self.true_pos, self.false_neg);
        let f = match (p, r) {
            (Some(p), Some(r)) if p + r > 0.0 => Some(2.0 * p * r / (p + r)),
            (Some(_), Some(_)) => Some(0.0),
            _ => None,
        };
        (p, r, f)
    }
}

impl std::ops::AddAssign for EventCounts {
    fn add_assign(&mut self, o: EventCounts) {
        self.true_pos += o.true_pos;
        self.false_pos += o.false_pos;
        self.false_neg += o.false_neg;
    }
}

/// The publisher's event-level rule: a labelled sequence overlapped by at least one predicted
/// event is one true positive (however many overlap it), one overlapped by none is a false
/// negative, and a predicted event overlapping no labelled sequence is a false positive. All
/// ranges are inclusive.
pub fn event_counts(labels: &[(usize, usize)], predicted: &[(usize, usize)]) -> EventCounts {
    let overlaps = |a: &(usize, usize), b: &(usize, usize)| a.0 <= b.1 && b.0 <= a.1;
    let true_pos = labels
        .iter()
        .filter(|l| predicted.iter().any(|p| overlaps(l, p)))
        .count();
    EventCounts {
        true_pos,
        false_neg: labels.len() - true_pos,
        false_pos: predicted
            .iter()
            .filter(|p| !labels.iter().any(|l| overlaps(l, p)))
            .count(),
    }
}

/// One channel's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct ChannelResult {
    /// The channel.
    pub name: String,
    /// Its counts (all zero but `false_neg` when the detector failed).
    pub counts: EventCounts,
    /// The predicted events, inclusive test rows.
    pub predicted: Vec<(usize, usize)>,
    /// Why the detector failed on this channel, if it did.
    pub error: Option<String>,
}

/// Totals over every channel.
#[derive(Debug, Clone, Serialize)]
pub struct SmapReport {
    /// Per channel, in the set's order.
    pub channels: Vec<ChannelResult>,
    /// Summed counts.
    pub total: EventCounts,
    /// Wall-clock seconds for the whole set.
    pub seconds: f64,
}

/// Reads one channel's `value` column (row number as time).
///
/// # Errors
///
/// [`EvalError::Parse`] naming the file (and line) when it cannot be read.
pub fn read_channel_part(path: &Path) -> Result<Series, EvalError> {
    read_channel_part_with(path, false)
}

/// Reads one channel's `value` column (row number as time) and, with `covariates`, every
/// other column (SMAP's `command_1` .. `command_24` flags) as the series' covariates, named
/// after their columns.
///
/// # Errors
///
/// [`EvalError::Parse`] naming the file (and line and column) when it cannot be read.
pub fn read_channel_part_with(path: &Path, covariates: bool) -> Result<Series, EvalError> {
    let bad = |reason: String| parse_error(path, reason);
    let mut reader = csv::Reader::from_path(path).map_err(|e| bad(e.to_string()))?;
    let headers = reader.headers().map_err(|e| bad(e.to_string()))?.clone();
    let col = headers
        .iter()
        .position(|h| h == "value")
        .ok_or_else(|| bad("no `value` column".into()))?;
    let others: Vec<usize> = if covariates {
        (0..headers.len()).filter(|&j| j != col).collect()
    } else {
        Vec::new()
    };
    let number = |field: &str, line: usize, j: usize| -> Result<f64, EvalError> {
        let field = field.trim();
        if field.is_empty() {
            return Ok(f64::NAN);
        }
        field.parse::<f64>().map_err(|_| {
            bad(format!(
                "line {line}: field `{}` is `{field}`, not a number",
                headers.get(j).unwrap_or_default()
            ))
        })
    };
    let mut values = Vec::new();
    let mut columns: Vec<Vec<f64>> = vec![Vec::new(); others.len()];
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let record = record.map_err(|e| bad(format!("line {line}: {e}")))?;
        values.push(number(record.get(col).unwrap_or_default(), line, col)?);
        for (k, &j) in others.iter().enumerate() {
            columns[k].push(number(record.get(j).unwrap_or_default(), line, j)?);
        }
    }
    let covariates = others
        .iter()
        .zip(columns)
        .map(|(&j, v)| Covariate::new(headers.get(j).unwrap_or_default(), v))
        .collect();
    Series::from_values(values)
        .and_then(|s| s.with_covariates(covariates))
        .map_err(|e| bad(e.to_string()))
}

fn parse_error(path: &Path, reason: String) -> EvalError {
    EvalError::Parse {
        path: path.to_path_buf(),
        reason,
    }
}

/// Runs `detect(train, test) -> predicted events (inclusive test rows)` on every channel, `jobs`
/// channels at a time (0 = all cores), and scores the events with [`event_counts`]. A channel
/// whose detector fails counts its labelled sequences as missed and keeps the error.
///
/// # Errors
///
/// [`EvalError::Parse`] when a channel's files cannot be read.
pub fn run_smap<F>(set: &SmapSet, detect: F, jobs: usize) -> Result<SmapReport, EvalError>
where
    F: Fn(&Series, &Series) -> Result<Vec<(usize, usize)>, String> + Sync,
{
    run_smap_with(set, detect, jobs, false)
}

/// [`run_smap`], reading each part's other columns (the command flags) as covariates when
/// `covariates` is true ([`read_channel_part_with`]).
///
/// # Errors
///
/// [`EvalError::Parse`] when a channel's files cannot be read.
pub fn run_smap_with<F>(
    set: &SmapSet,
    detect: F,
    jobs: usize,
    covariates: bool,
) -> Result<SmapReport, EvalError>
where
    F: Fn(&Series, &Series) -> Result<Vec<(usize, usize)>, String> + Sync,
{
    let start = Instant::now();
    let run_one = |c: &Channel| -> Result<ChannelResult, EvalError> {
        let train = read_channel_part_with(&c.train, covariates)?;
        let test = read_channel_part_with(&c.test, covariates)?;
        Ok(match detect(&train, &test) {
            Ok(predicted) => ChannelResult {
                name: c.name.clone(),
                counts: event_counts(&c.anomalies, &predicted),
                predicted,
                error: None,
            },
            Err(e) => ChannelResult {
                name: c.name.clone(),
                counts: event_counts(&c.anomalies, &[]),
                predicted: Vec::new(),
                error: Some(e),
            },
        })
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .build()
        .map_err(|e| EvalError::InvalidArgument {
            name: "jobs",
            reason: format!("cannot start {jobs} worker threads: {e}"),
        })?;
    let channels: Vec<ChannelResult> = pool.install(|| {
        set.channels
            .par_iter()
            .map(run_one)
            .collect::<Result<_, _>>()
    })?;
    let mut total = EventCounts::default();
    for c in &channels {
        total += c.counts;
    }
    Ok(SmapReport {
        channels,
        total,
        seconds: start.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_event_rule_counts_each_label_once() {
        type Case = (
            &'static str,
            Vec<(usize, usize)>,
            Vec<(usize, usize)>,
            (usize, usize, usize),
        );
        let cases: Vec<Case> = vec![
            ("nothing", vec![], vec![], (0, 0, 0)),
            ("miss", vec![(10, 20)], vec![], (0, 0, 1)),
            (
                "hit by two",
                vec![(10, 20)],
                vec![(5, 10), (20, 30)],
                (1, 0, 0),
            ),
            (
                "one event spans two labels",
                vec![(10, 20), (30, 40)],
                vec![(15, 35)],
                (2, 0, 0),
            ),
            (
                "false alarm",
                vec![(10, 20)],
                vec![(21, 22), (0, 9)],
                (0, 2, 1),
            ),
        ];
        for (name, labels, predicted, (tp, fp, fn_)) in cases {
            let c = event_counts(&labels, &predicted);
            assert_eq!(
                (c.true_pos, c.false_pos, c.false_neg),
                (tp, fp, fn_),
                "{name}"
            );
        }
        let c = EventCounts {
            true_pos: 3,
            false_pos: 1,
            false_neg: 1,
        };
        let (p, r, f) = c.prf();
        assert_eq!((p, r), (Some(0.75), Some(0.75)));
        assert!((f.unwrap() - 0.75).abs() < 1e-12);
    }

    #[test]
    fn bad_layouts_name_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let missing = SmapSet::load(dir.path()).unwrap_err().to_string();
        assert!(missing.contains("labels.csv"), "{missing}");
        std::fs::write(
            dir.path().join("labels.csv"),
            "channel,anomaly_sequences\nA-1,\"[[5, 2]]\"\n",
        )
        .unwrap();
        let reversed = SmapSet::load(dir.path()).unwrap_err().to_string();
        assert!(
            reversed.contains("labels.csv")
                && reversed.contains("line 2")
                && reversed.contains("ends before"),
            "{reversed}"
        );
        std::fs::write(
            dir.path().join("labels.csv"),
            "channel,anomaly_sequences\nA-1,\"[[1, 2]]\"\n",
        )
        .unwrap();
        let no_file = SmapSet::load(dir.path()).unwrap_err().to_string();
        assert!(
            no_file.contains("A-1") && no_file.contains("train"),
            "{no_file}"
        );
        std::fs::create_dir_all(dir.path().join("train")).unwrap();
        std::fs::create_dir_all(dir.path().join("test")).unwrap();
        std::fs::write(dir.path().join("train/A-1.csv"), "value\n1\n2\n").unwrap();
        std::fs::write(dir.path().join("test/A-1.csv"), "value\n1\nx\n").unwrap();
        let set = SmapSet::load(dir.path()).unwrap();
        assert_eq!(read_channel_part(&set.channels[0].train).unwrap().len(), 2);
        let bad = read_channel_part(&set.channels[0].test)
            .unwrap_err()
            .to_string();
        assert!(
            bad.contains("A-1.csv") && bad.contains("line 3") && bad.contains("`x`"),
            "{bad}"
        );
    }

    #[test]
    fn command_columns_are_read_as_covariates_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("A-1.csv");
        std::fs::write(&path, "value,command_1,command_2\n0.5,0,1\n0.7,1,\n").unwrap();
        let plain = read_channel_part(&path).unwrap();
        assert!(plain.covariates().is_empty());
        let with = read_channel_part_with(&path, true).unwrap();
        assert_eq!(with.values(), &[0.5, 0.7]);
        assert_eq!(with.covariate_names(), ["command_1", "command_2"]);
        assert_eq!(with.covariates()[0].values(), &[0.0, 1.0]);
        assert!(with.covariates()[1].values()[1].is_nan(), "empty = missing");
        std::fs::write(&path, "value,command_1\n0.5,0\n0.7,on\n").unwrap();
        let bad = read_channel_part_with(&path, true).unwrap_err().to_string();
        assert!(
            bad.contains("A-1.csv") && bad.contains("line 3") && bad.contains("`command_1`"),
            "{bad}"
        );
    }
}
