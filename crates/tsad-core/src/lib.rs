#![doc = include_str!("../README.md")]

pub mod calibration;
mod detector;
mod error;
mod event;
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
    Direction, Event, EventOptions, MemberShare, STANDOUT_DEPTH, STANDOUT_MARGIN, STANDOUT_TOP,
    cut_values, events, standout,
};
pub use scores::{MemberScores, Scores};
pub use series::{Covariate, Series, TimeAxis};
pub use threshold::{Cut, DEFAULT_EVERY, Scale, Sensitivity, Threshold, group_thousands};
