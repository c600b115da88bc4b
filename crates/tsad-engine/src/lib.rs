#![doc = include_str!("../README.md")]

mod catalog;
mod error;
mod pipeline;
mod presets;
mod spec;

pub use catalog::{Catalog, KindInfo, ThresholdInfo, catalog};
pub use error::EngineError;
pub use pipeline::{Detection, detect, rethreshold};
pub use presets::{Preset, preset, presets};
pub use spec::{DetectorSpec, EnsembleSpec, default_spec, parse_spec};
