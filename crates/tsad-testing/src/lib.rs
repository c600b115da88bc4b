#![doc = include_str!("../README.md")]

mod approx;
mod conformance;
mod datasets;
mod params;
mod rng;
mod scoring;
mod synthetic;

pub use approx::{Close, assert_bits_eq, assert_close};
pub use conformance::{
    ConformanceOptions, assert_scoring_stops_when_cancelled, conformance, conformance_with,
};
pub use datasets::{nab_dir, smap_dir};
pub use params::check_params;
pub use rng::Rng;
pub use scoring::{fit_and_score, highest_two};
pub use synthetic::{
    SPIKE_HEIGHT, constant, minute_timestamps, random_walk, seasonal_with_anomalies,
    sine_with_spike, with_nan_gaps,
};
