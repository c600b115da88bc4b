#![doc = include_str!("../README.md")]

mod autoencoder;
pub mod bench;
mod common;
mod forecast;
mod kernels;
mod model;
mod stream;
mod train;

pub use autoencoder::{LstmAutoencoderDetector, LstmAutoencoderParams};
pub use forecast::{LstmForecastDetector, LstmForecastParams};

use serde::{Deserialize, Serialize};

/// Kind names and saved-model format versions of the two detectors.
pub mod kinds {
    pub use crate::autoencoder::{KIND as AUTOENCODER, VERSION as AUTOENCODER_VERSION};
    pub use crate::forecast::{KIND as FORECAST, VERSION as FORECAST_VERSION};
}

/// The training loss.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Loss {
    /// Mean squared error (the seeds' loss).
    #[default]
    Mse,
    /// Mean absolute error: less pulled by anomalies left in the training data.
    L1,
}
