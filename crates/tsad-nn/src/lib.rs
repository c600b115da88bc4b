#![doc = include_str!("../README.md")]

mod kernels;
mod model;
mod train;

use serde::{Deserialize, Serialize};

/// The training loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Loss {
    /// Mean squared error (the seeds' loss).
    #[default]
    Mse,
    /// Mean absolute error: less pulled by anomalies left in the training data.
    L1,
}
