//! NAB's application profiles (cost weights, `config/profiles.json`) and the per-detector
//! thresholds behind the official numbers (`config/thresholds.json`).

use crate::EvalError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// The profiles file, relative to the corpus root.
pub const PROFILES_FILE: &str = "config/profiles.json";
/// The thresholds file, relative to the corpus root.
pub const THRESHOLDS_FILE: &str = "config/thresholds.json";

/// The names of NAB's three profiles, in the order reports print them.
pub const PROFILE_NAMES: [&str; 3] = ["standard", "reward_low_FP_rate", "reward_low_FN_rate"];

/// One application profile: how much a detection, a false alarm and a miss weigh.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// Its name in `profiles.json` (`standard`, `reward_low_FP_rate`, `reward_low_FN_rate`).
    pub name: String,
    /// `A_TP`: reward of a detection at a window's first row.
    pub tp_weight: f64,
    /// `A_FP`: penalty of a false positive far from any window.
    pub fp_weight: f64,
    /// `A_FN`: penalty of a window with no detection.
    pub fn_weight: f64,
    /// `A_TN`: listed by NAB but never used (true negatives score nothing).
    pub tn_weight: f64,
}

impl Profile {
    fn new(name: &str, tp: f64, fp: f64, fn_: f64) -> Self {
        Profile {
            name: name.to_owned(),
            tp_weight: tp,
            fp_weight: fp,
            fn_weight: fn_,
            tn_weight: 1.0,
        }
    }

    /// NAB's `standard` profile: A_TP 1, A_FP 0.11, A_FN 1.
    pub fn standard() -> Self {
        Profile::new("standard", 1.0, 0.11, 1.0)
    }

    /// NAB's `reward_low_FP_rate` profile: A_TP 1, A_FP 0.22, A_FN 1.
    pub fn reward_low_fp_rate() -> Self {
        Profile::new("reward_low_FP_rate", 1.0, 0.22, 1.0)
    }

    /// NAB's `reward_low_FN_rate` profile: A_TP 1, A_FP 0.11, A_FN 2.
    pub fn reward_low_fn_rate() -> Self {
        Profile::new("reward_low_FN_rate", 1.0, 0.11, 2.0)
    }

    /// A short label for tables: `standard`, `low FP`, `low FN`, or the name itself.
    pub fn short_name(&self) -> &str {
        match self.name.as_str() {
            "reward_low_FP_rate" => "low FP",
            "reward_low_FN_rate" => "low FN",
            other => other,
        }
    }
}

/// The profiles of a corpus, in report order (NAB's three first).
#[derive(Debug, Clone, PartialEq)]
pub struct Profiles(Vec<Profile>);

impl Default for Profiles {
    fn default() -> Self {
        Profiles::nab()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CostMatrixJson {
    tp_weight: f64,
    fp_weight: f64,
    fn_weight: f64,
    #[serde(default = "one")]
    tn_weight: f64,
}

fn one() -> f64 {
    1.0
}

#[derive(Deserialize)]
struct ProfileJson {
    #[serde(rename = "CostMatrix")]
    cost_matrix: CostMatrixJson,
}

impl Profiles {
    /// NAB v1.1's three profiles, built in (the same values as its `config/profiles.json`).
    pub fn nab() -> Self {
        Profiles(vec![
            Profile::standard(),
            Profile::reward_low_fp_rate(),
            Profile::reward_low_fn_rate(),
        ])
    }

    /// Reads `config/profiles.json` under a corpus root.
    ///
    /// # Errors
    ///
    /// [`EvalError::Io`] or [`EvalError::Parse`] when the file is missing or malformed.
    pub fn load(dir: impl AsRef<Path>) -> Result<Self, EvalError> {
        let path = dir.as_ref().join(PROFILES_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| EvalError::io(&path, e))?;
        Self::from_json(&text).map_err(|reason| EvalError::parse(&path, reason))
    }

    fn from_json(text: &str) -> Result<Self, String> {
        let raw: BTreeMap<String, ProfileJson> =
            serde_json::from_str(text).map_err(|e| e.to_string())?;
        let mut profiles: Vec<Profile> = raw
            .into_iter()
            .map(|(name, p)| Profile {
                name,
                tp_weight: p.cost_matrix.tp_weight,
                fp_weight: p.cost_matrix.fp_weight,
                fn_weight: p.cost_matrix.fn_weight,
                tn_weight: p.cost_matrix.tn_weight,
            })
            .collect();
        let rank = |p: &Profile| {
            PROFILE_NAMES
                .iter()
                .position(|&n| n == p.name)
                .unwrap_or(PROFILE_NAMES.len())
        };
        profiles.sort_by(|a, b| rank(a).cmp(&rank(b)).then_with(|| a.name.cmp(&b.name)));
        Ok(Profiles(profiles))
    }

    /// The profile called `name`.
    ///
    /// # Errors
    ///
    /// [`EvalError::Unknown`] when there is none.
    pub fn get(&self, name: &str) -> Result<&Profile, EvalError> {
        self.0
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| EvalError::Unknown {
                what: "profile",
                name: name.to_owned(),
            })
    }

    /// All profiles, in report order.
    pub fn as_slice(&self) -> &[Profile] {
        &self.0
    }

    /// Iterates over the profiles in report order.
    pub fn iter(&self) -> std::slice::Iter<'_, Profile> {
        self.0.iter()
    }
}

/// The fixed thresholds of `config/thresholds.json`: one per detector and profile.
///
/// Only the `threshold` field is read; its `score` siblings are stale for several detectors
/// (FORMAT.md section 6).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Thresholds(BTreeMap<String, BTreeMap<String, f64>>);

#[derive(Deserialize)]
struct ThresholdJson {
    threshold: f64,
}

impl Thresholds {
    /// Reads `config/thresholds.json` under a corpus root.
    ///
    /// # Errors
    ///
    /// [`EvalError::Io`] or [`EvalError::Parse`] when the file is missing or malformed.
    pub fn load(dir: impl AsRef<Path>) -> Result<Self, EvalError> {
        let path = dir.as_ref().join(THRESHOLDS_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| EvalError::io(&path, e))?;
        let raw: BTreeMap<String, BTreeMap<String, ThresholdJson>> =
            serde_json::from_str(&text).map_err(|e| EvalError::parse(&path, e.to_string()))?;
        Ok(Thresholds(
            raw.into_iter()
                .map(|(det, per)| {
                    let per = per.into_iter().map(|(p, t)| (p, t.threshold)).collect();
                    (det, per)
                })
                .collect(),
        ))
    }

    /// The threshold of `detector` under `profile`.
    ///
    /// # Errors
    ///
    /// [`EvalError::Unknown`] when the pair is not in the file.
    pub fn get(&self, detector: &str, profile: &str) -> Result<f64, EvalError> {
        self.0
            .get(detector)
            .and_then(|per| per.get(profile))
            .copied()
            .ok_or_else(|| EvalError::Unknown {
                what: "threshold",
                name: format!("{detector}/{profile}"),
            })
    }

    /// The detectors listed.
    pub fn detectors(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_json_parses_in_report_order() {
        let text = r#"{
            "reward_low_FN_rate": {"CostMatrix": {"tpWeight": 1.0, "fnWeight": 2.0, "fpWeight": 0.11, "tnWeight": 1.0}},
            "standard": {"CostMatrix": {"tpWeight": 1.0, "fnWeight": 1.0, "fpWeight": 0.11, "tnWeight": 1.0}},
            "reward_low_FP_rate": {"CostMatrix": {"tpWeight": 1.0, "fnWeight": 1.0, "fpWeight": 0.22, "tnWeight": 1.0}}
        }"#;
        assert_eq!(Profiles::from_json(text).unwrap(), Profiles::nab());
        assert!(Profiles::nab().get("nope").is_err());
        assert!(Profiles::from_json("{}").unwrap().as_slice().is_empty());
        assert!(Profiles::from_json(r#"{"x": {}}"#).is_err());
    }
}
