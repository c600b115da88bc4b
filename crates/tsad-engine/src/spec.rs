//! `DetectorSpec`: the JSON that names a detector and its parameters, and builds it.
//!
//! Parsing checks every field on its own, so one pass reports all the problems of a spec, each
//! with its path (`members[1].window: ...`), instead of stopping at the first.

use crate::{EngineError, presets};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value, json};
use tsad_core::Detector;
use tsad_detectors::{
    BenfordDetector, BenfordParams, EnsembleDetector, EnsembleMember, EnsembleParams,
    LevelDetector, LevelParams, MadDetector, MadParams, NoveltyDetector, NoveltyParams, Policy,
    SeasonalDetector, SeasonalParams, SpreadDetector, SpreadParams, ZscoreDetector, ZscoreParams,
};
use tsad_nn::{
    LstmAutoencoderDetector, LstmAutoencoderParams, LstmForecastDetector, LstmForecastParams,
};

/// A detector and its parameters, as written in JSON specs (tagged by `kind`).
///
/// Every field besides `kind` is optional and defaults as the kind documents.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum DetectorSpec {
    /// Rolling z-score.
    Zscore(ZscoreParams),
    /// Rolling median / MAD.
    Mad(MadParams),
    /// STL residual with automatic period detection.
    Seasonal(SeasonalParams),
    /// Change of level: the median after each point against the median before it.
    Level(LevelParams),
    /// Change of spread: the noise after each point against the noise before it.
    Spread(SpreadParams),
    /// Benford's first-digit test per sliding window.
    Benford(BenfordParams),
    /// New extremes and unseen shapes, reported once per episode (streaming; `nab-best`).
    Novelty(NoveltyParams),
    /// LSTM one-step forecaster (the Flask seed's model).
    LstmForecast(LstmForecastParams),
    /// LSTM autoencoder (the Streamlit seed's model).
    LstmAutoencoder(LstmAutoencoderParams),
    /// A combination of other specs.
    Ensemble(EnsembleSpec),
}

/// An ensemble: members (any specs, including ensembles) and how their votes combine.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnsembleSpec {
    /// How members combine: `all` (flag where every member flags), `any`, `k_of_n`, `weighted`.
    #[serde(default)]
    pub policy: Policy,
    /// For `k_of_n`: how many members must agree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k: Option<usize>,
    /// For `weighted`: one weight per member (default: equal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<Vec<f64>>,
    /// The members.
    pub members: Vec<DetectorSpec>,
}

/// The kinds a spec can name, in catalog order.
pub(crate) const KINDS: [&str; 10] = [
    "zscore",
    "mad",
    "seasonal",
    "level",
    "spread",
    "benford",
    "novelty",
    "lstm_forecast",
    "lstm_autoencoder",
    "ensemble",
];

impl<'de> Deserialize<'de> for DetectorSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        let mut problems = Vec::new();
        parse_value(&value, "", &mut problems)
            .filter(|_| problems.is_empty())
            .ok_or_else(|| serde::de::Error::custom(problems.join("; ")))
    }
}

impl DetectorSpec {
    /// The kind as written in specs.
    pub fn kind(&self) -> &'static str {
        match self {
            DetectorSpec::Zscore(_) => "zscore",
            DetectorSpec::Mad(_) => "mad",
            DetectorSpec::Seasonal(_) => "seasonal",
            DetectorSpec::Level(_) => "level",
            DetectorSpec::Spread(_) => "spread",
            DetectorSpec::Benford(_) => "benford",
            DetectorSpec::Novelty(_) => "novelty",
            DetectorSpec::LstmForecast(_) => "lstm_forecast",
            DetectorSpec::LstmAutoencoder(_) => "lstm_autoencoder",
            DetectorSpec::Ensemble(_) => "ensemble",
        }
    }

    /// True when the spec trains a neural network (slow; the server queues such runs).
    pub fn is_neural(&self) -> bool {
        match self {
            DetectorSpec::LstmForecast(_) | DetectorSpec::LstmAutoencoder(_) => true,
            DetectorSpec::Ensemble(e) => e.members.iter().any(DetectorSpec::is_neural),
            _ => false,
        }
    }

    /// The spec as JSON (with every default written out).
    pub fn to_json(&self) -> Value {
        // Serialising plain data structs into a Value cannot fail.
        serde_json::to_value(self).expect("specs serialise to JSON")
    }

    /// Builds the detector, validating every parameter.
    ///
    /// # Errors
    ///
    /// [`EngineError::InvalidConfig`] listing every invalid parameter, with its path.
    pub fn build(&self) -> Result<Box<dyn Detector>, EngineError> {
        let mut problems = Vec::new();
        let built = self.build_into("", &mut problems);
        match built {
            Some(d) if problems.is_empty() => Ok(d),
            _ => Err(EngineError::InvalidConfig(problems)),
        }
    }

    fn build_into(&self, path: &str, problems: &mut Vec<String>) -> Option<Box<dyn Detector>> {
        let result: Result<Box<dyn Detector>, tsad_core::Error> = match self {
            DetectorSpec::Zscore(p) => ZscoreDetector::new(p.clone()).map(boxed),
            DetectorSpec::Mad(p) => MadDetector::new(p.clone()).map(boxed),
            DetectorSpec::Seasonal(p) => SeasonalDetector::new(p.clone()).map(boxed),
            DetectorSpec::Level(p) => LevelDetector::new(p.clone()).map(boxed),
            DetectorSpec::Spread(p) => SpreadDetector::new(p.clone()).map(boxed),
            DetectorSpec::Benford(p) => BenfordDetector::new(p.clone()).map(boxed),
            DetectorSpec::Novelty(p) => NoveltyDetector::new(p.clone()).map(boxed),
            DetectorSpec::LstmForecast(p) => LstmForecastDetector::new(p.clone()).map(boxed),
            DetectorSpec::LstmAutoencoder(p) => LstmAutoencoderDetector::new(p.clone()).map(boxed),
            DetectorSpec::Ensemble(e) => return e.build_into(path, problems),
        };
        result
            .map_err(|e| problems.push(format!("{}{e}", prefix(path))))
            .ok()
    }
}

impl EnsembleSpec {
    /// Member names: the kind, with `#2`, `#3`, ... for repeated kinds.
    pub fn member_names(&self) -> Vec<String> {
        let mut names = Vec::with_capacity(self.members.len());
        for (i, m) in self.members.iter().enumerate() {
            let kind = m.kind();
            let seen = self.members[..i]
                .iter()
                .filter(|p| p.kind() == kind)
                .count();
            names.push(if seen == 0 {
                kind.to_owned()
            } else {
                format!("{kind}#{}", seen + 1)
            });
        }
        names
    }

    fn build_into(&self, path: &str, problems: &mut Vec<String>) -> Option<Box<dyn Detector>> {
        let before = problems.len();
        if self.members.is_empty() {
            problems.push(format!(
                "{}members: an ensemble needs at least one member",
                prefix(path)
            ));
        }
        if let Some(w) = &self.weights
            && w.len() != self.members.len()
        {
            problems.push(format!(
                "{}weights: {} weights for {} members; give one weight per member",
                prefix(path),
                w.len(),
                self.members.len()
            ));
        }
        let names = self.member_names();
        let mut members = Vec::new();
        for (i, (spec, name)) in self.members.iter().zip(names).enumerate() {
            let weight = self
                .weights
                .as_ref()
                .and_then(|w| w.get(i).copied())
                .unwrap_or(1.0);
            if let Some(detector) =
                spec.build_into(&format!("{}members[{i}]", prefix(path)), problems)
            {
                members.push(EnsembleMember {
                    name,
                    detector,
                    weight,
                });
            }
        }
        if problems.len() > before {
            return None;
        }
        let params = EnsembleParams {
            policy: self.policy,
            k: self.k,
        };
        EnsembleDetector::new(members, params)
            .map(boxed)
            .map_err(|e| problems.push(format!("{}{e}", prefix(path))))
            .ok()
    }
}

fn boxed<D: Detector + 'static>(d: D) -> Box<dyn Detector> {
    Box::new(d)
}

fn prefix(path: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!("{path}.")
    }
}

/// The spec the UI and `tsad detect` run when the user names none.
pub fn default_spec() -> DetectorSpec {
    presets::preset(DEFAULT_PRESET)
        .map(|p| p.spec())
        .unwrap_or_else(|| DetectorSpec::Seasonal(SeasonalParams::default()))
}

/// The preset run when the user names no detector: `robust-stats` (seasonal OR rolling MAD).
/// Measured at the default threshold: on the demo it finds 8-9 of 11 anomalies with 0-2 false
/// events (`seasonal` alone 9 of 11), and on NAB's machine-temperature file it ranks the
/// catastrophic failure first (`seasonal` alone misses it).
pub const DEFAULT_PRESET: &str = "robust-stats";

/// Parses a spec, or `{"preset": NAME, "overrides": {...}}`, or a bare name (`"mad"`, a kind
/// with its defaults, or `"nab-best"`, a preset), and validates it by building it.
///
/// Returns the spec and the preset's name when one was used.
///
/// # Errors
///
/// [`EngineError::InvalidConfig`] listing every problem found, each with its path.
pub fn parse_spec(value: &Value) -> Result<(DetectorSpec, Option<String>), EngineError> {
    if let Value::String(name) = value {
        let object = if presets::preset(name).is_some() {
            serde_json::json!({ "preset": name })
        } else if KINDS.contains(&name.as_str()) {
            serde_json::json!({ "kind": name })
        } else {
            let presets: Vec<&str> = presets::presets().iter().map(|p| p.name).collect();
            return Err(EngineError::InvalidConfig(vec![format!(
                "unknown detector `{name}`; name a kind ({}) or a preset ({})",
                KINDS.join(", "),
                presets.join(", ")
            )]));
        };
        return parse_spec(&object);
    }
    let mut problems = Vec::new();
    let (spec, preset) = match value.get("preset") {
        Some(_) => match resolve_preset(value, &mut problems) {
            Some((spec, name)) => (Some(spec), Some(name)),
            None => (None, None),
        },
        None => (parse_value(value, "", &mut problems), None),
    };
    match spec {
        Some(spec) if problems.is_empty() => {
            spec.build()?;
            Ok((spec, preset))
        }
        _ => Err(EngineError::InvalidConfig(problems)),
    }
}

fn resolve_preset(value: &Value, problems: &mut Vec<String>) -> Option<(DetectorSpec, String)> {
    let obj = value.as_object()?;
    for key in obj.keys().filter(|k| *k != "preset" && *k != "overrides") {
        problems.push(format!(
            "{key}: unknown field next to `preset`; put parameters in `overrides`"
        ));
    }
    let Some(name) = obj.get("preset").and_then(Value::as_str) else {
        problems.push("preset: must be a preset name (a string)".into());
        return None;
    };
    let Some(preset) = presets::preset(name) else {
        let known: Vec<&str> = presets::presets().iter().map(|p| p.name).collect();
        problems.push(format!(
            "preset: unknown preset `{name}`; known presets: {}",
            known.join(", ")
        ));
        return None;
    };
    // Overrides apply to the spec with every default written out, so they find each parameter.
    let mut spec = preset.spec().to_json();
    match obj.get("overrides") {
        None | Some(Value::Null) => {}
        Some(Value::Object(overrides)) => {
            for (key, v) in overrides {
                // `kind.param` targets the members of one kind; a plain `param` every member
                // that has it.
                let (only, param) = match key.split_once('.') {
                    Some((kind, param)) => (Some(kind), param),
                    None => (None, key.as_str()),
                };
                if !apply_override(&mut spec, only, param, v) {
                    let whom = only
                        .map_or_else(|| "no detector".to_owned(), |k| format!("no `{k}` member"));
                    problems.push(format!(
                        "overrides.{key}: {whom} in preset `{name}` has a parameter `{param}`"
                    ));
                }
            }
        }
        Some(_) => problems.push("overrides: must be an object like {\"epochs\": 5}".into()),
    }
    let spec = parse_value(&spec, "", problems)?;
    Some((spec, name.to_owned()))
}

/// Sets `key` on the spec, or on every ensemble member that has that parameter (only members
/// of kind `only`, when given).
fn apply_override(spec: &mut Value, only: Option<&str>, key: &str, v: &Value) -> bool {
    let Some(obj) = spec.as_object_mut() else {
        return false;
    };
    let kind = obj
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if kind == "ensemble"
        && let Some(Value::Array(members)) = obj.get_mut("members")
    {
        let mut applied = false;
        for m in members {
            applied |= apply_override(m, only, key, v);
        }
        return applied;
    }
    if only.is_some_and(|k| k != kind) || !obj.contains_key(key) {
        return false;
    }
    obj.insert(key.to_owned(), v.clone());
    true
}

/// Parses one spec value, pushing every problem found; `None` when any was found here.
pub(crate) fn parse_value(
    value: &Value,
    path: &str,
    problems: &mut Vec<String>,
) -> Option<DetectorSpec> {
    let p = prefix(path);
    let Some(obj) = value.as_object() else {
        problems.push(format!(
            "{}a JSON object like {{\"kind\": \"mad\"}} or {{\"preset\": \"hybrid-benford\"}}, got {value}",
            if path.is_empty() {
                "must be a detector name or ".to_owned()
            } else {
                format!("{path}: must be ")
            }
        ));
        return None;
    };
    let kind = match obj.get("kind") {
        Some(Value::String(k)) => k.as_str(),
        Some(other) => {
            problems.push(format!("{p}kind: must be a string, got {other}"));
            return None;
        }
        None => {
            problems.push(format!(
                "{p}kind: missing; name a detector kind ({}) or use {{\"preset\": ...}}",
                KINDS.join(", ")
            ));
            return None;
        }
    };
    let mut params = obj.clone();
    params.remove("kind");
    match kind {
        "zscore" => parse_params(&params, &p, problems).map(DetectorSpec::Zscore),
        "mad" => parse_params(&params, &p, problems).map(DetectorSpec::Mad),
        "seasonal" => parse_params(&params, &p, problems).map(DetectorSpec::Seasonal),
        "level" => parse_params(&params, &p, problems).map(DetectorSpec::Level),
        "spread" => parse_params(&params, &p, problems).map(DetectorSpec::Spread),
        "benford" => parse_params(&params, &p, problems).map(DetectorSpec::Benford),
        "novelty" => parse_params(&params, &p, problems).map(DetectorSpec::Novelty),
        "lstm_forecast" => parse_params(&params, &p, problems).map(DetectorSpec::LstmForecast),
        "lstm_autoencoder" => {
            parse_params(&params, &p, problems).map(DetectorSpec::LstmAutoencoder)
        }
        "ensemble" => parse_ensemble(params, &p, problems).map(DetectorSpec::Ensemble),
        other => {
            let hint = if presets::preset(other).is_some() {
                format!(" (`{other}` is a preset: write {{\"preset\": \"{other}\"}})")
            } else {
                String::new()
            };
            problems.push(format!(
                "{p}kind: unknown detector kind `{other}`{hint}; known kinds: {}",
                KINDS.join(", ")
            ));
            None
        }
    }
}

/// Checks each field on its own, so every bad field is reported, then parses the whole.
fn parse_params<P: DeserializeOwned>(
    params: &Map<String, Value>,
    p: &str,
    problems: &mut Vec<String>,
) -> Option<P> {
    let before = problems.len();
    for (key, v) in params {
        let single = Value::Object(Map::from_iter([(key.clone(), v.clone())]));
        if let Err(e) = serde_json::from_value::<P>(single) {
            problems.push(format!("{p}{key}: {e}"));
        }
    }
    if problems.len() > before {
        return None;
    }
    serde_json::from_value(Value::Object(params.clone()))
        .map_err(|e| problems.push(format!("{p}{e}")))
        .ok()
}

fn parse_ensemble(
    mut params: Map<String, Value>,
    p: &str,
    problems: &mut Vec<String>,
) -> Option<EnsembleSpec> {
    let members = match params.remove("members") {
        Some(Value::Array(ms)) => {
            let before = problems.len();
            let parsed: Vec<Option<DetectorSpec>> = ms
                .iter()
                .enumerate()
                .map(|(i, m)| parse_value(m, &format!("{p}members[{i}]"), problems))
                .collect();
            (problems.len() == before).then(|| parsed.into_iter().flatten().collect::<Vec<_>>())
        }
        Some(other) => {
            problems.push(format!(
                "{p}members: must be an array of detector specs, got {other}"
            ));
            None
        }
        None => {
            problems.push(format!(
                "{p}members: missing; list the member specs, e.g. [{{\"kind\": \"mad\"}}, {{\"kind\": \"benford\"}}]"
            ));
            None
        }
    };
    // The other fields parse against the spec with an empty member list.
    params.insert("members".into(), json!([]));
    let rest: Option<EnsembleSpec> = {
        let before = problems.len();
        for (key, v) in params.iter().filter(|(k, _)| *k != "members") {
            let single = json!({ key.clone(): v.clone(), "members": [] });
            if let Err(e) = serde_json::from_value::<EnsembleSpec>(single) {
                problems.push(format!("{p}{key}: {e}"));
            }
        }
        if problems.len() > before {
            None
        } else {
            serde_json::from_value(Value::Object(params))
                .map_err(|e| problems.push(format!("{p}{e}")))
                .ok()
        }
    };
    let mut spec = rest?;
    spec.members = members?;
    Some(spec)
}
