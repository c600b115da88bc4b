//! Fitted models and their saved form: the detector's state plus the calibration fitted on
//! the training part, in one versioned JSON file (`tsad fit --save`, `tsad detect --model`,
//! the server's stored models).

use crate::{DetectorSpec, EngineError};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tsad_core::{Calibration, Model, ModelState};

/// The `format` field of every saved model file.
pub const MODEL_FORMAT: &str = "tsad-model";
/// The saved model file's layout version; loading rejects later versions.
pub const MODEL_VERSION: u32 = 1;

/// A detector fitted on a training part, with the calibration of its scores.
#[derive(Debug)]
pub struct FittedModel {
    spec: DetectorSpec,
    model: Box<dyn Model>,
    calibration: Calibration,
    train_rows: usize,
    /// Free-form facts about the training data (file, columns, time range), saved as they are.
    pub meta: Value,
}

/// The saved file's layout.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SavedModel {
    format: String,
    version: u32,
    tsad_version: String,
    spec: Value,
    train_rows: usize,
    #[serde(default)]
    meta: Value,
    calibration: Calibration,
    state: SavedState,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SavedState {
    kind: String,
    version: u32,
    config: Value,
    /// Base64 of the detector's binary state (weights), empty for stateless detectors.
    #[serde(default)]
    bytes: String,
}

impl FittedModel {
    pub(crate) fn new(
        spec: DetectorSpec,
        model: Box<dyn Model>,
        calibration: Calibration,
        train_rows: usize,
    ) -> Self {
        FittedModel {
            spec,
            model,
            calibration,
            train_rows,
            meta: Value::Null,
        }
    }

    /// The spec the model was built from.
    pub fn spec(&self) -> &DetectorSpec {
        &self.spec
    }
    /// The fitted detector.
    pub fn model(&self) -> &dyn Model {
        self.model.as_ref()
    }
    /// The calibration fitted on the training part's scores.
    pub fn calibration(&self) -> &Calibration {
        &self.calibration
    }
    /// Points the model was fitted on.
    pub fn train_rows(&self) -> usize {
        self.train_rows
    }

    /// The model as a versioned JSON document.
    ///
    /// # Errors
    ///
    /// [`EngineError::Detector`] when the detector cannot serialise its state.
    pub fn to_bytes(&self) -> Result<Vec<u8>, EngineError> {
        let state = self.model.save()?;
        let saved = SavedModel {
            format: MODEL_FORMAT.into(),
            version: MODEL_VERSION,
            tsad_version: env!("CARGO_PKG_VERSION").into(),
            spec: self.spec.to_json(),
            train_rows: self.train_rows,
            meta: self.meta.clone(),
            calibration: self.calibration.clone(),
            state: SavedState {
                kind: state.kind,
                version: state.version,
                config: state.config,
                bytes: BASE64.encode(&state.bytes),
            },
        };
        serde_json::to_vec_pretty(&saved).map_err(|e| tsad_core::Error::backend(e).into())
    }

    /// Loads a model written by [`FittedModel::to_bytes`], by this or an earlier version.
    ///
    /// # Errors
    ///
    /// [`EngineError::Detector`] with [`tsad_core::Error::Load`] when the bytes are not a tsad
    /// model, come from a later format version, or hold a state the detector rejects (another
    /// kind, version or shape); [`EngineError::InvalidConfig`] when the saved spec is invalid.
    pub fn from_bytes(bytes: &[u8]) -> Result<FittedModel, EngineError> {
        let load = |reason: String| EngineError::from(tsad_core::Error::Load { reason });
        let value: Value = serde_json::from_slice(bytes).map_err(|e| {
            load(format!(
                "not a tsad model file (not JSON: {e}); create one with `tsad fit TRAIN.csv \
                 --save MODEL`"
            ))
        })?;
        match value.get("format").and_then(Value::as_str) {
            Some(MODEL_FORMAT) => {}
            _ => {
                return Err(load(format!(
                    "not a tsad model file (no \"format\": \"{MODEL_FORMAT}\" field); create \
                     one with `tsad fit TRAIN.csv --save MODEL`"
                )));
            }
        }
        let version = value.get("version").and_then(Value::as_u64).unwrap_or(0);
        if version == 0 || version > u64::from(MODEL_VERSION) {
            return Err(load(format!(
                "model file version {version} is not supported by this tsad (it reads versions \
                 1 to {MODEL_VERSION}); fit the model again with this version"
            )));
        }
        let saved: SavedModel = serde_json::from_value(value)
            .map_err(|e| load(format!("the model file is damaged: {e}")))?;
        let (spec, _) = crate::parse_spec(&saved.spec)?;
        if saved.state.kind != spec.kind() {
            return Err(load(format!(
                "the model's state is of kind `{}` but its spec is `{}`",
                saved.state.kind,
                spec.kind()
            )));
        }
        let bytes = BASE64
            .decode(saved.state.bytes.as_bytes())
            .map_err(|e| load(format!("the model's weights are damaged: {e}")))?;
        let state = ModelState {
            kind: saved.state.kind,
            version: saved.state.version,
            config: saved.state.config,
            bytes,
        };
        let model = spec.build()?.load(&state)?;
        Ok(FittedModel {
            spec,
            model,
            calibration: saved.calibration,
            train_rows: saved.train_rows,
            meta: saved.meta,
        })
    }
}
