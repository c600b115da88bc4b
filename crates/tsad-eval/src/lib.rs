#![doc = include_str!("../README.md")]

mod corpus;
mod error;
mod labeled;
mod profile;
mod report;
mod results;
mod runner;
mod score;
mod smap;

pub use corpus::{
    Corpus, CorpusFile, WINDOWS_FILE, Window, format_timestamp, parse_timestamp,
    probationary_period,
};
pub use error::EvalError;
pub use labeled::{
    DEFAULT_EVENT_TOLERANCE, LabeledEvent, LabeledMetrics, LabeledNab, Prf, labeled_metrics,
    labeled_metrics_with,
};
pub use profile::{PROFILE_NAMES, PROFILES_FILE, Profile, Profiles, THRESHOLDS_FILE, Thresholds};
pub use report::{report_table, scoreboard};
pub use results::{FileResult, ResultsSet, result_path, write_results};
pub use runner::{
    RunOptions, RunProgress, RunProgressFn, ScoreMapping, TailMapper, TailScale, UNIT_SCORE_KINDS,
    remap, run_file, run_nab, run_nab_with,
};
pub use score::{
    CategoryScore, FileScore, NO_DETECTION_THRESHOLD, RowCounts, ScoreReport, ThresholdChoice,
    ThresholdMode, evaluate, normalize, optimize_threshold, optimize_thresholds, scaled_sigmoid,
    score_file, score_results,
};
pub use smap::{
    Channel, ChannelResult, EventCounts, SmapReport, SmapSet, event_counts, read_channel_part,
    read_channel_part_with, run_smap, run_smap_with,
};
