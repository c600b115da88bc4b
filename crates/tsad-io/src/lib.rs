#![doc = include_str!("../README.md")]

mod cell;
pub mod demo;
mod diagnostics;
mod encoding;
mod error;
mod ingest;
mod lines;
mod options;
mod preview;
mod sniff;
mod time;

pub use diagnostics::{Diagnostics, DuplicateRow, Gap, Gaps, RejectedRow};
pub use error::{ACCEPTED_TIME_FORMATS, IngestError};
pub use ingest::{
    Fleet, FleetSeries, Ingested, read_bytes, read_fleet_bytes, read_fleet_path, read_fleet_reader,
    read_path, read_reader,
};
pub use options::{ColumnRef, DecimalMark, IngestOptions, SeriesLayout};
pub use preview::{ColumnInfo, Preview, preview_bytes};
pub use sniff::ColumnKind;
pub use time::{format_timestamp, parse_time};
