#![doc = include_str!("../README.md")]

mod common;
mod rolling;

pub mod benford;
pub mod ensemble;
pub mod mad;
pub mod seasonal;
pub mod zscore;

pub use benford::{BenfordDetector, BenfordModel, BenfordParams};
pub use ensemble::{EnsembleDetector, EnsembleMember, EnsembleModel, EnsembleParams, Policy};
pub use mad::{MadDetector, MadModel, MadParams};
pub use seasonal::{SeasonalDetector, SeasonalModel, SeasonalParams};
pub use zscore::{ZscoreDetector, ZscoreModel, ZscoreParams};

/// The detector kinds this crate provides, as written in specs.
pub fn kinds() -> &'static [&'static str] {
    &["zscore", "mad", "seasonal", "benford", "ensemble"]
}
