//! Named set-ups, so users find the seeds' methods (and our best ones) by name.

use crate::spec::{DetectorSpec, parse_value};
use serde::Serialize;
use serde_json::{Value, json};

/// A named spec.
#[derive(Debug, Clone, Serialize)]
pub struct Preset {
    /// The name used in `{"preset": ...}` and `--preset`.
    pub name: &'static str,
    /// A short title for menus.
    pub title: &'static str,
    /// What it does and where it comes from.
    pub description: &'static str,
    spec: Value,
}

impl Preset {
    /// The preset's spec as JSON.
    pub fn to_json(&self) -> Value {
        self.spec.clone()
    }

    /// The preset's spec.
    pub fn spec(&self) -> DetectorSpec {
        let mut problems = Vec::new();
        // Presets are fixed specs covered by a test (`every_preset_builds`).
        parse_value(&self.spec, "", &mut problems).expect("presets are valid specs")
    }
}

/// Every preset, in menu order.
pub fn presets() -> Vec<Preset> {
    vec![
        Preset {
            name: "hybrid-benford",
            title: "LSTM autoencoder AND Benford (Streamlit seed)",
            description: "The Streamlit seed's hybrid: an LSTM autoencoder's reconstruction error \
                and Benford's first-digit test, flagging only where both agree (policy `all`). \
                Benford's law only says something when values span orders of magnitude; the \
                run's report says whether it applies.",
            spec: json!({
                "kind": "ensemble",
                "policy": "all",
                "members": [{"kind": "lstm_autoencoder"}, {"kind": "benford"}],
            }),
        },
        Preset {
            name: "lstm-residual",
            title: "LSTM forecast residual (Flask seed)",
            description: "The Flask seed's method: an LSTM forecasts each point from the window \
                before it, and its absolute residual, unsmoothed (`smooth` 0), is the score. At \
                tsad's default threshold the residuals are calibrated like every detector's; \
                the seed's exact rule, a residual above mean + 3 std of the residuals, is the \
                `sigma` threshold (`--threshold sigma`, or {\"method\": \"sigma\", \"k\": 3} \
                in the API). The `lstm_forecast` kind itself smooths its residuals over the \
                last few points (`smooth` 6), which finds more on SMAP.",
            spec: json!({"kind": "lstm_forecast", "smooth": 0}),
        },
        Preset {
            name: "nab-best",
            title: "Streaming novelty, tuned on NAB (best NAB score)",
            description: "The `novelty` detector with the parameters tuned on the Numenta \
                Anomaly Benchmark as a whole (one set for all 58 files, no labels at detection \
                time): scores each new value, level or shape that lies beyond everything the \
                past has shown, once per episode. Past-only, so it streams. Scores and the \
                command that reproduces them are in the README, \"Accuracy on NAB\".",
            spec: json!({"kind": "novelty"}),
        },
        Preset {
            name: "robust-stats",
            title: "Seasonal OR rolling MAD OR change of level (fast, no training)",
            description: "Three fast statistical detectors combined with policy `any`: the STL \
                residual catches deviations from trend and season, the rolling MAD of the raw \
                values (the season is the first member's) catches sudden spikes and dips, and \
                the change of level catches a level that moves and stays (the median of a cycle \
                after each point against the cycle before). A good first look at any series, \
                and the default when no detector is named. The change of level needs the points \
                after each one, so in a stream it abstains.",
            spec: json!({
                "kind": "ensemble",
                "policy": "any",
                "members": [
                    {"kind": "seasonal"},
                    {"kind": "mad", "season": false},
                    {"kind": "level"},
                ],
            }),
        },
    ]
}

/// The preset named `name`.
pub fn preset(name: &str) -> Option<Preset> {
    presets().into_iter().find(|p| p.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_builds() {
        for p in presets() {
            let (spec, name) = crate::parse_spec(&json!({"preset": p.name})).unwrap();
            assert_eq!(name.as_deref(), Some(p.name));
            assert_eq!(spec.to_json(), p.spec().to_json(), "{}", p.name);
        }
    }
}
