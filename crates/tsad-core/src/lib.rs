#![doc = include_str!("../README.md")]

mod detector;
mod error;
mod event;
mod scores;
mod series;
pub mod stats;
mod threshold;

pub use detector::{
    CancelFlag, Detector, FitContext, Model, ModelState, OnlineModel, Progress, ProgressFn,
};
pub use error::Error;
pub use event::{Direction, Event, EventOptions, MemberShare, events};
pub use scores::{MemberScores, Scores};
pub use series::{Series, TimeAxis};
pub use threshold::{Cut, Sensitivity, Threshold};
