//! Command-line arguments (clap derive).

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use tsad_io::DecimalMark;

/// A count of points or rows. Negative numbers reach this parser (the flags allow them, so
/// clap does not mistake `-1` for a flag) and are refused with the range.
pub(crate) fn count(s: &str) -> Result<usize, String> {
    let t = s.trim();
    if let Ok(n) = t.parse::<usize>() {
        return Ok(n);
    }
    match t.parse::<i128>() {
        Ok(n) if n < 0 => Err(format!("must be 0 or more, got {n}")),
        _ => Err(format!("\"{t}\" is not a whole number; give 0 or more")),
    }
}

/// tsad finds anomalies in time series: detect from the command line, or serve the web UI.
#[derive(Debug, Parser)]
#[command(name = "tsad", version, about, long_about = None, max_term_width = 100)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Find anomalies in a CSV file (exit 0 = none, 1 = found, 2 = error).
    Detect(Box<DetectArgs>),
    /// Fit a detector on normal data and save it (with its calibration) for `detect --model`.
    Fit(FitArgs),
    /// Write the synthetic demo series (timestamp,value,is_anomaly) as CSV.
    Demo(DemoArgs),
    /// List detectors, their parameters and defaults, presets and thresholds.
    Detectors(DetectorsArgs),
    /// Serve the web UI and the REST API.
    Serve(ServeArgs),
    /// Measure speed (LSTM training epochs).
    Bench(BenchArgs),
    /// Measure accuracy on labelled data (the NAB corpus, or any CSV with a 0/1 label column).
    Eval(EvalArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum Format {
    /// Human-readable summary and events table.
    Table,
    /// Everything as JSON (per-point rows with --points).
    Json,
    /// One row per point: timestamp,value,expected,lower,upper,score,anomaly,event.
    Csv,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum ThresholdMethod {
    /// The default: about one false alarm per N points of normal data, on calibrated scores
    /// (N from --every, default 100000).
    Auto,
    /// mean + k x std of the scores (k from --sigma, default 3).
    Sigma,
    /// median + k x 1.4826 x MAD of the scores (k from --sigma, default 5).
    Robust,
    /// The q-quantile of the scores (q from --quantile, default 0.99).
    Quantile,
    /// One knob in (0, 1), higher flags more: 0.5 = auto's one false alarm per 100000
    /// points, each 0.125 more ten times as many (from --sensitivity).
    Sensitivity,
}

/// Where the detector learns what normal looks like (default: the file itself).
#[derive(Debug, Args)]
#[group(multiple = false)]
pub(crate) struct TrainArgs {
    /// Fit on this CSV (same columns as FILE, meant to be normal data) and score FILE.
    #[arg(long, value_name = "TRAIN.csv")]
    pub(crate) train: Option<PathBuf>,
    /// Fit on the first N rows of FILE (its normal part) and score the whole file.
    #[arg(long, value_name = "N", value_parser = count, allow_negative_numbers = true)]
    pub(crate) train_rows: Option<usize>,
    /// Fit on the rows of FILE up to and including this time (same formats as the file's
    /// timestamps) and score the whole file.
    #[arg(long, value_name = "TIME")]
    pub(crate) train_until: Option<String>,
    /// Score FILE with a model saved by `tsad fit --save` (no fitting).
    #[arg(long, value_name = "MODEL")]
    pub(crate) model: Option<PathBuf>,
}

/// How scores become flags and flags become events.
#[derive(Debug, Args)]
pub(crate) struct ThresholdArgs {
    /// How the score cut-off is chosen (default auto).
    #[arg(long, value_enum, value_name = "METHOD")]
    pub(crate) threshold: Option<ThresholdMethod>,
    /// For auto: about one false alarm per this many points of normal data, or per this much
    /// time (30d, 12h, 1w; needs a time column). Implies auto.
    #[arg(long, value_name = "N|DURATION", allow_negative_numbers = true)]
    pub(crate) every: Option<String>,
    /// k for the sigma and robust thresholds.
    #[arg(long, value_name = "K", allow_negative_numbers = true)]
    pub(crate) sigma: Option<f64>,
    /// Sensitivity in (0, 1) (implies the sensitivity threshold).
    #[arg(long, value_name = "S", allow_negative_numbers = true)]
    pub(crate) sensitivity: Option<f64>,
    /// q in (0, 1) for the quantile threshold (implies it).
    #[arg(long, value_name = "Q", allow_negative_numbers = true)]
    pub(crate) quantile: Option<f64>,
    /// Flagged points with at most N unflagged points between them form one event (and on the
    /// rarity thresholds, `auto` and `sensitivity`, so do the flags inside a level held for at
    /// least 1% of the series, however far apart).
    #[arg(
        long,
        value_name = "N",
        default_value_t = tsad_core::EventOptions::default().merge_gap,
        value_parser = count,
        allow_negative_numbers = true
    )]
    pub(crate) merge_gap: usize,
    /// Flagged points at most this far apart in time (30m, 2h, 1d; needs a time column) also
    /// form one event.
    #[arg(long, value_name = "DURATION")]
    pub(crate) merge_gap_time: Option<String>,
    /// Drop events with fewer flagged points than this.
    #[arg(
        long,
        value_name = "N",
        default_value_t = tsad_core::EventOptions::default().min_points,
        value_parser = count,
        allow_negative_numbers = true
    )]
    pub(crate) min_points: usize,
    /// Prune weak events: keep only those down to the last drop of at least this fraction
    /// between consecutive event peaks (telemanom's rule; 0 = off).
    #[arg(
        long,
        value_name = "P",
        default_value_t = tsad_core::EventOptions::default().prune,
        allow_negative_numbers = true
    )]
    pub(crate) prune: f64,
    /// Flag only what passes the cut-off: without this, `auto` and `sensitivity` also keep up
    /// to 3 events just below it (within 100 times more frequent) that stand a decade above
    /// everything else in the series (more in a series shorter than `every / 20` points).
    #[arg(long)]
    pub(crate) no_standout: bool,
    /// Keep events that recur at one time of the hour, day or week (in at least 7 cycles and
    /// half of those they span, counting for the hour and the day the cycles where they came
    /// within two decades of the cut-off; a nightly job's spike, say) as alarms: without this,
    /// `auto` and `sensitivity` set them aside as the series' routine and list them under the
    /// events.
    #[arg(long)]
    pub(crate) keep_routine: bool,
}

#[derive(Debug, Args)]
pub(crate) struct DetectArgs {
    /// The CSV file to read. Several files, or a directory (its *.csv files), are read as a
    /// fleet: every series detected in parallel and ranked by its worst event.
    #[arg(required = true, num_args = 1..)]
    pub(crate) files: Vec<PathBuf>,
    /// Long format: one series per distinct value of this column (a name or a 0-based
    /// index), rows in any order; the value column is read for each.
    #[arg(long, value_name = "C", allow_negative_numbers = true)]
    pub(crate) series_column: Option<String>,
    /// Wide format: one series per listed column (comma-separated names or indices).
    #[arg(
        long,
        value_name = "C,C,...",
        value_delimiter = ',',
        conflicts_with_all = ["series_column", "value_column", "all_columns"]
    )]
    pub(crate) value_columns: Vec<String>,
    /// Wide format: one series per numeric column (0/1 label columns and row counters are
    /// passed over, with a warning naming them).
    #[arg(long, conflicts_with_all = ["series_column", "value_column"])]
    pub(crate) all_columns: bool,
    /// With several series: also score them as one (at each time the rarest series'
    /// calibrated rarity, corrected for how many series there are) and list the joint events
    /// with the series that moved and by how much. Keeps every series' scores in memory.
    #[arg(long)]
    pub(crate) joint: bool,
    /// Time column: a name or a 0-based index (default: the first column of timestamps).
    #[arg(long, value_name = "C", allow_negative_numbers = true)]
    pub(crate) time_column: Option<String>,
    /// Value column: a name or a 0-based index (default: the first numeric column).
    #[arg(long, value_name = "C", allow_negative_numbers = true)]
    pub(crate) value_column: Option<String>,
    /// Ignore any time column and use the row number as time.
    #[arg(long, conflicts_with = "time_column")]
    pub(crate) no_time_column: bool,
    /// Covariate columns (comma-separated names or 0-based indices): numbers read beside the
    /// value as inputs of the detectors that use them (`lstm_forecast`), e.g. command flags.
    /// One series per file; a --train file needs the same columns.
    #[arg(
        long,
        value_name = "C,C,...",
        value_delimiter = ',',
        conflicts_with_all = ["series_column", "value_columns", "all_columns"]
    )]
    pub(crate) covariate_columns: Vec<String>,
    /// The values' decimal mark, '.' or ',' (default: detected; a comma when fields are
    /// separated by ';' and numbers look like 12,5). The other mark may group thousands
    /// ($1,234.50 with '.', 1.234,50 € with ',').
    #[arg(long, value_name = "MARK")]
    pub(crate) decimal: Option<DecimalMark>,
    #[command(flatten)]
    pub(crate) spec: SpecArgs,
    #[command(flatten)]
    pub(crate) training: TrainArgs,
    #[command(flatten)]
    pub(crate) cut: ThresholdArgs,
    /// Events listed in the table, most severe first (0 = all; JSON and CSV list all). For a
    /// fleet: the series listed in the ranking.
    #[arg(long, value_name = "N", default_value_t = 20, value_parser = count, allow_negative_numbers = true)]
    pub(crate) top: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub(crate) format: Format,
    /// Include one row per point in JSON output.
    #[arg(long)]
    pub(crate) points: bool,
    /// Explain each event from the data (deviation, rank, detectors, earlier seasons, level
    /// before/after, similar episodes, data quality): a paragraph per event in the table, an
    /// `evidence` and an `explanation` per event in JSON.
    #[arg(long)]
    pub(crate) explain: bool,
    /// Write the output to this file instead of stdout.
    #[arg(long, short, value_name = "F")]
    pub(crate) output: Option<PathBuf>,
    /// Threads for neural training, and for a fleet the series detected at once (default:
    /// all cores).
    #[arg(long, value_name = "N")]
    pub(crate) threads: Option<usize>,
    /// No progress bar.
    #[arg(long, short)]
    pub(crate) quiet: bool,
}

#[derive(Debug, Args)]
pub(crate) struct FitArgs {
    /// The CSV of normal data to fit on.
    pub(crate) file: PathBuf,
    /// Where to write the model (JSON: spec, fitted state, calibration).
    #[arg(long, value_name = "MODEL")]
    pub(crate) save: PathBuf,
    /// Time column: a name or a 0-based index (default: the first column of timestamps).
    #[arg(long, value_name = "C", allow_negative_numbers = true)]
    pub(crate) time_column: Option<String>,
    /// Value column: a name or a 0-based index (default: the first numeric column).
    #[arg(long, value_name = "C", allow_negative_numbers = true)]
    pub(crate) value_column: Option<String>,
    /// Ignore any time column and use the row number as time.
    #[arg(long, conflicts_with = "time_column")]
    pub(crate) no_time_column: bool,
    /// Covariate columns (comma-separated names or 0-based indices) read beside the value as
    /// inputs of the detectors that use them (`lstm_forecast`); the files the model scores
    /// need them too (`tsad detect FILE --model M --covariate-columns ...`).
    #[arg(long, value_name = "C,C,...", value_delimiter = ',')]
    pub(crate) covariate_columns: Vec<String>,
    /// The values' decimal mark, '.' or ',' (default: detected; a comma when fields are
    /// separated by ';' and numbers look like 12,5). The other mark may group thousands
    /// ($1,234.50 with '.', 1.234,50 € with ',').
    #[arg(long, value_name = "MARK")]
    pub(crate) decimal: Option<DecimalMark>,
    #[command(flatten)]
    pub(crate) spec: SpecArgs,
    /// Threads for neural training (default: all cores).
    #[arg(long, value_name = "N")]
    pub(crate) threads: Option<usize>,
    /// No progress bar.
    #[arg(long, short)]
    pub(crate) quiet: bool,
}

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Number of points (hourly).
    #[arg(long, value_name = "N", default_value_t = tsad_io::demo::DemoParams::default().points)]
    pub(crate) points: usize,
    /// Random seed; the same seed gives the same series.
    #[arg(long, value_name = "S", default_value_t = tsad_io::demo::DemoParams::default().seed)]
    pub(crate) seed: u64,
    /// Write to this file instead of stdout.
    #[arg(long, short, value_name = "F")]
    pub(crate) output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct DetectorsArgs {
    /// Output format (table or json).
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub(crate) format: Format,
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on (use 0.0.0.0:5001 to accept other machines).
    #[arg(
        long,
        value_name = "ADDR",
        default_value = "127.0.0.1:5001",
        env = "TSAD_BIND"
    )]
    pub(crate) bind: std::net::SocketAddr,
    /// Where datasets, runs and results are stored (SQLite).
    #[arg(
        long,
        value_name = "DIR",
        default_value = "tsad-data",
        env = "TSAD_DATA_DIR"
    )]
    pub(crate) data_dir: PathBuf,
    /// Largest accepted upload, in megabytes.
    #[arg(long, value_name = "MB", default_value_t = 200)]
    pub(crate) max_upload_mb: usize,
    /// Runs executing at once; more are queued.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub(crate) max_jobs: usize,
    /// Runs allowed to wait in the queue; beyond it requests get 429.
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub(crate) max_queue: usize,
    /// Serve the web UI from this directory instead of the embedded copy (UI development).
    #[arg(long, value_name = "DIR")]
    pub(crate) web_dir: Option<PathBuf>,
    /// Access token every request must carry (the web UI takes it once from ?token=...).
    /// Bound beyond loopback without one, tsad makes one up and prints the URL carrying it.
    #[arg(long, value_name = "TOKEN", env = "TSAD_TOKEN", hide_env_values = true)]
    pub(crate) token: Option<String>,
    /// Also accept requests whose Host header names this host (the server's DNS name behind a
    /// proxy, say); repeat for more, `*` for any. Loopback names and the bound address always
    /// work.
    #[arg(
        long = "allowed-host",
        value_name = "HOST",
        env = "TSAD_ALLOWED_HOSTS",
        value_delimiter = ','
    )]
    pub(crate) allowed_hosts: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    #[command(subcommand)]
    pub(crate) what: BenchWhat,
}

#[derive(Debug, Subcommand)]
pub(crate) enum BenchWhat {
    /// Time one training epoch of the reference LSTM autoencoder and forecaster
    /// (compare with bench/pytorch_lstm.py).
    Lstm {
        /// Thread counts to measure, e.g. --threads 1 --threads 2 (default: 1 and 2).
        #[arg(long, value_name = "N")]
        threads: Vec<usize>,
        /// Length of the sine series.
        #[arg(long, value_name = "N", default_value_t = 20_000)]
        points: usize,
        /// Epochs to time (the median is reported).
        #[arg(long, value_name = "N", default_value_t = 1)]
        repeats: usize,
    },
}

#[derive(Debug, Args)]
pub(crate) struct EvalArgs {
    #[command(subcommand)]
    pub(crate) what: EvalWhat,
}

#[derive(Debug, Subcommand)]
pub(crate) enum EvalWhat {
    /// Run a detector in streaming mode over the NAB corpus and score it with NAB's rules.
    Nab(EvalNabArgs),
    /// Score a detector on any CSV with a 0/1 label column.
    Labeled(EvalLabeledArgs),
    /// Fit on train/, score test/ of a telemanom-layout set (NASA SMAP, MSL) and report the
    /// event-level precision, recall and F1.
    Smap(EvalSmapArgs),
}

#[derive(Debug, Args)]
pub(crate) struct EvalSmapArgs {
    /// The directory with labels.csv, train/ and test/.
    #[arg(long, value_name = "DIR", env = "TSAD_SMAP_DIR")]
    pub(crate) smap_dir: PathBuf,
    #[command(flatten)]
    pub(crate) spec: SpecArgs,
    /// Run every detector kind and preset at its defaults, one row each.
    #[arg(long, conflicts_with_all = ["detector", "preset", "config"])]
    pub(crate) all: bool,
    #[command(flatten)]
    pub(crate) cut: ThresholdArgs,
    /// Fit and score train and test as one series (the behaviour without a training part), for
    /// comparison.
    #[arg(long)]
    pub(crate) no_split: bool,
    /// Read every column but `value` (SMAP's `command_1` .. `command_24` flags) as covariates
    /// of both parts, for the detectors that use them (`lstm_forecast`).
    #[arg(long, conflicts_with = "no_split")]
    pub(crate) covariates: bool,
    /// Channels scored in parallel (0 = all cores).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub(crate) jobs: usize,
    /// Also print each channel's counts.
    #[arg(long)]
    pub(crate) per_channel: bool,
}

#[derive(Debug, Args)]
pub(crate) struct SpecArgs {
    /// Detector kind.
    #[arg(long, value_name = "KIND", group = "spec")]
    pub(crate) detector: Option<String>,
    /// A named preset.
    #[arg(long, value_name = "NAME", group = "spec")]
    pub(crate) preset: Option<String>,
    /// A JSON file holding a detector spec or {"preset": ...}.
    #[arg(long, value_name = "SPEC.json", group = "spec")]
    pub(crate) config: Option<PathBuf>,
    /// Set a detector parameter, e.g. --set window=96 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub(crate) set: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct EvalNabArgs {
    /// The NAB directory (with data/, labels/, config/).
    #[arg(long, value_name = "DIR", env = "TSAD_NAB_DIR")]
    pub(crate) nab_dir: PathBuf,
    #[command(flatten)]
    pub(crate) spec: SpecArgs,
    /// Files scored in parallel.
    #[arg(long, value_name = "N")]
    pub(crate) jobs: Option<usize>,
    /// No per-file progress lines on stderr.
    #[arg(long, short)]
    pub(crate) quiet: bool,
    /// Write NAB-layout results here.
    #[arg(long, value_name = "DIR")]
    pub(crate) output: Option<PathBuf>,
    /// Instead of NAB's streaming score: run the detector in batch (each file fitted and
    /// calibrated on itself) at the default threshold, as `tsad detect` does, and report
    /// event-level precision, recall and F1 with NAB's windows as the labels.
    #[arg(long, conflicts_with = "output")]
    pub(crate) batch: bool,
}

#[derive(Debug, Args)]
pub(crate) struct EvalLabeledArgs {
    /// The CSV file.
    pub(crate) file: PathBuf,
    /// The label column (name or index): 1 / 0, or words such as true / false and yes / no
    /// (as pandas writes a boolean column).
    #[arg(
        long,
        value_name = "C",
        required_unless_present = "marks",
        conflicts_with = "marks"
    )]
    pub(crate) label_column: Option<String>,
    /// Labels from your own marks instead of a column: a run's JSON download from the web UI or
    /// API (`.../download?format=json`) or `GET /api/v1/runs/{id}/marks`; points inside a
    /// `confirmed` or `missed` mark are the anomalies, every other point is normal.
    #[arg(long, value_name = "MARKS.json")]
    pub(crate) marks: Option<PathBuf>,
    /// Time column (name or index).
    #[arg(long, value_name = "C", allow_negative_numbers = true)]
    pub(crate) time_column: Option<String>,
    /// Value column (name or index).
    #[arg(long, value_name = "C", allow_negative_numbers = true)]
    pub(crate) value_column: Option<String>,
    #[command(flatten)]
    pub(crate) spec: SpecArgs,
}
