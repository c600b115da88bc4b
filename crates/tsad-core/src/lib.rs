#![doc = include_str!("../README.md")]

pub mod calibration;
mod detector;
mod error;
mod event;
pub mod routine;
mod scores;
mod series;
pub mod stats;
mod threshold;

pub use calibration::{Calibration, MAX_RARITY, Tail};
pub use detector::{
    CancelFlag, Detector, FitContext, Model, ModelState, OnlineModel, Progress, ProgressFn,
};
pub use error::Error;
pub use event::{
    Direction, Event, EventOptions, MemberShare, STANDOUT_BUDGET, STANDOUT_DEPTH, STANDOUT_MARGIN,
    STANDOUT_TOP, cut_values, events, events_and_routine, standout, standout_margin,
};
pub use scores::{MemberScores, Scores};
pub use series::{Covariate, Series, TimeAxis};
pub use threshold::{Cut, DEFAULT_EVERY, Scale, Sensitivity, Threshold, group_thousands};

/// Reads `T` (a [`Threshold`], [`EventOptions`], ...) from JSON, naming the field a type error
/// is in: ``field `standout`: invalid type: string "yes", expected a boolean``.
///
/// # Errors
///
/// serde's message, prefixed with the field's path when there is one.
pub fn from_json<T: serde::de::DeserializeOwned>(value: &serde_json::Value) -> Result<T, String> {
    serde_path_to_error::deserialize(value.clone()).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        // serde names the field itself in some messages ("unknown field `x`").
        if path == "." || message.contains(&format!("`{path}`")) {
            message
        } else {
            format!("field `{path}`: {message}")
        }
    })
}
