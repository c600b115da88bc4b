#![doc = include_str!("../README.md")]

mod catalog;
mod error;
mod fleet;
mod model;
mod pipeline;
mod presets;
mod quiet;
mod spec;

pub use catalog::{Catalog, KindInfo, ThresholdInfo, catalog};
pub use error::EngineError;
pub use fleet::{
    FleetSummary, Joint, JointEvent, JointInput, Mover, SeriesSummary, WorstEvent,
    for_each_ordered, joint,
};
pub use model::{FittedModel, MODEL_FORMAT, MODEL_VERSION};
pub use pipeline::{
    Detection, Training, TrainingInfo, detect, detect_fitted, detect_with, fit, rethreshold,
    rows_until,
};
pub use presets::{Preset, preset, presets};
pub use quiet::{Quiet, quiet};
pub use spec::{DEFAULT_PRESET, DetectorSpec, EnsembleSpec, default_spec, parse_spec};
