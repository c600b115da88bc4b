//! The catalog: every detector kind with its parameters, defaults and help, the presets and
//! the thresholds. `tsad detectors` prints it; `GET /api/v1/detectors` returns it.

use crate::{default_spec, presets};
use schemars::{JsonSchema, schema_for};
use serde::Serialize;
use serde_json::{Value, json};
use tsad_core::{Sensitivity, Threshold};
use tsad_detectors::{
    BenfordParams, LevelParams, MadParams, NoveltyParams, SeasonalParams, SpreadParams,
    ZscoreParams,
};
use tsad_nn::{LstmAutoencoderParams, LstmForecastParams};

/// One detector kind, described for users.
#[derive(Debug, Clone, Serialize)]
pub struct KindInfo {
    /// The kind as written in specs.
    pub kind: &'static str,
    /// A short title.
    pub title: &'static str,
    /// What it catches and how.
    pub summary: &'static str,
    /// What its scores mean.
    pub score_scale: &'static str,
    /// True when it trains a neural network.
    pub neural: bool,
    /// Every parameter at its default.
    pub defaults: Value,
    /// JSON Schema of the parameters, with each one's description.
    pub params_schema: Value,
}

/// A threshold method, described for users.
#[derive(Debug, Clone, Serialize)]
pub struct ThresholdInfo {
    /// The method's name.
    pub method: &'static str,
    /// The method with its default parameter.
    pub default: Threshold,
    /// What it does.
    pub description: &'static str,
}

/// A preset, described for users.
#[derive(Debug, Clone, Serialize)]
pub struct PresetInfo {
    /// Its name.
    pub name: &'static str,
    /// A short title.
    pub title: &'static str,
    /// What it does.
    pub description: &'static str,
    /// The spec it stands for.
    pub spec: Value,
}

/// Everything a UI or CLI needs to offer the detectors.
#[derive(Debug, Clone, Serialize)]
pub struct Catalog {
    /// The detector kinds.
    pub detectors: Vec<KindInfo>,
    /// The presets.
    pub presets: Vec<PresetInfo>,
    /// The threshold methods.
    pub thresholds: Vec<ThresholdInfo>,
    /// The spec run when the user picks none.
    pub default_spec: Value,
    /// The preset that spec is (offered first by a UI).
    pub default_preset: &'static str,
    /// The threshold used when the user picks none.
    pub default_threshold: Threshold,
}

fn info<P: JsonSchema + Serialize + Default>(
    kind: &'static str,
    title: &'static str,
    summary: &'static str,
    score_scale: &'static str,
    neural: bool,
) -> KindInfo {
    KindInfo {
        kind,
        title,
        summary,
        score_scale,
        neural,
        // Parameter structs are plain data; serialising them cannot fail.
        defaults: serde_json::to_value(P::default()).expect("params serialise"),
        params_schema: serde_json::to_value(schema_for!(P)).expect("schemas serialise"),
    }
}

/// The whole catalog.
pub fn catalog() -> Catalog {
    let detectors = vec![
        info::<ZscoreParams>(
            "zscore",
            "Rolling z-score",
            "Distance of each point from the mean of the points before it, in standard \
             deviations of that window. Fast; sensitive to outliers inside the window.",
            "z (standard deviations from the rolling mean)",
            false,
        ),
        info::<MadParams>(
            "mad",
            "Rolling median / MAD",
            "Distance from the rolling median in robust standard deviations (1.4826 x MAD). \
             Like the z-score, but earlier anomalies do not inflate the yardstick. When a cycle \
             (a daily swing) found in the training series clearly narrows the windows, each \
             point is first taken less its phase's median, so spikes inside the swing stand out.",
            "robust z (MAD units from the rolling median)",
            false,
        ),
        info::<SeasonalParams>(
            "seasonal",
            "Seasonal decomposition residual",
            "Splits the series into trend, season and residual (STL) with the period found \
             automatically, and scores the residual. Catches points that are normal in value \
             but wrong for their time of day or week.",
            "robust z of the STL residual",
            false,
        ),
        info::<LevelParams>(
            "level",
            "Change of level",
            "Takes the season out, then compares the median of a cycle from each point on with \
             the median of the cycle before it, so a level that moves and stays is found even \
             when no single point stands out. Only the peak near each shift keeps its score: \
             one point at the change. Spikes barely move a median and score low here. Batch \
             only (it needs the points after each one).",
            "standard errors of the change of median",
            false,
        ),
        info::<SpreadParams>(
            "spread",
            "Change of spread",
            "Takes the season out, then compares the noise of the steps from point to point \
             over a window from each point on with the noise over the window before it, so a \
             series that turns noisier or calmer (or goes flat) and stays so is found even \
             when no single point stands out. Only the peak near each change keeps its score: \
             one point at the change. Batch only (it needs the points after each one).",
            "squared standard errors of the log-ratio of the two spreads",
            false,
        ),
        info::<BenfordParams>(
            "benford",
            "Benford's law (first digit)",
            "Compares the first significant digits in each sliding window with Benford's law \
             (P(d) = log10(1 + 1/d)). Suits amounts that span several orders of magnitude \
             (transactions, populations); says so when a series spans too few.",
            "Nigrini MAD of the window's first-digit distribution",
            false,
        ),
        info::<NoveltyParams>(
            "novelty",
            "Streaming novelty (new extremes and shapes)",
            "Scores the moment a stream goes somewhere it has never been: a value beyond every \
             earlier one, a trailing mean outside its past range, a short run of block means \
             far from every earlier run. Each feature is measured in units of its own past \
             range, early points are discounted, and each episode is reported once, at its \
             onset. Past-only; the best NAB detector here (preset nab-best).",
            "0..1; 0 = nothing new, higher = further beyond the past range",
            false,
        ),
        info::<LstmForecastParams>(
            "lstm_forecast",
            "LSTM forecaster",
            "An LSTM learns to forecast each point from the window before it; the score is the \
             absolute forecast error (the Flask seed's method).",
            "absolute forecast residual, in the series' units",
            true,
        ),
        info::<LstmAutoencoderParams>(
            "lstm_autoencoder",
            "LSTM autoencoder",
            "An LSTM encoder compresses each window to a small latent vector and a decoder \
             rebuilds it; windows the model cannot rebuild score high (the Streamlit seed's \
             model).",
            "squared reconstruction error relative to training (1 = typical)",
            true,
        ),
        KindInfo {
            kind: "ensemble",
            title: "Ensemble",
            summary: "Combines any detectors. Each member's scores are put on a common robust \
                scale; `all` keeps a point only if every member scores it high, `any` if one \
                does, `k_of_n` if k do, `weighted` averages them.",
            score_scale: "robust z of the combined member scores",
            neural: false,
            defaults: json!({"policy": "all", "members": []}),
            params_schema: json!({
                "type": "object",
                "required": ["members"],
                "properties": {
                    "policy": {"enum": ["all", "any", "k_of_n", "weighted"], "default": "all",
                               "description": "How members' votes combine."},
                    "k": {"type": "integer", "minimum": 1,
                          "description": "For k_of_n: how many members must agree."},
                    "weights": {"type": "array", "items": {"type": "number"},
                                "description": "For weighted: one weight per member (default equal)."},
                    "members": {"type": "array", "items": {"type": "object"},
                                "description": "Member detector specs, e.g. {\"kind\": \"mad\"}."}
                }
            }),
        },
    ];
    let presets = presets()
        .into_iter()
        .map(|p| PresetInfo {
            name: p.name,
            title: p.title,
            description: p.description,
            spec: p.spec().to_json(),
        })
        .collect();
    let thresholds = vec![
        ThresholdInfo {
            method: "auto",
            default: Threshold::default(),
            description: "The default. Flag points rarer than about one in N points of \
                normal data (N is `every`, default 100,000), on calibrated scores: each score's \
                rarity is how unusual it is among the training part's scores, with a fitted tail \
                beyond them. \
                The number of false alarms then depends on the length of the data, not on the \
                detector or its scale.",
        },
        ThresholdInfo {
            method: "sigma",
            default: Threshold::Sigma { k: 3.0 },
            description: "Flag scores above mean + k x std of all scores (the seeds' rule).",
        },
        ThresholdInfo {
            method: "robust",
            default: Threshold::Robust { k: 5.0 },
            description: "Flag scores above median + k x 1.4826 x MAD: not inflated by the \
                anomalies themselves.",
        },
        ThresholdInfo {
            method: "quantile",
            default: Threshold::Quantile { q: 0.99 },
            description: "Flag the top (1 - q) share of scores.",
        },
        ThresholdInfo {
            method: "sensitivity",
            // 0.5 is inside (0, 1).
            default: Threshold::Sensitivity {
                s: Sensitivity::new(0.5).expect("0.5 is a valid sensitivity"),
            },
            description: "One knob from 0 to 1, higher flags more: the auto rule with one false \
                alarm per 10^(1 + 8 x (1 - s)) points (0.5 = auto's default; each step of 0.125 \
                allows ten times as many).",
        },
    ];
    Catalog {
        detectors,
        presets,
        thresholds,
        default_spec: default_spec().to_json(),
        default_preset: crate::DEFAULT_PRESET,
        default_threshold: Threshold::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_in_the_catalog_and_its_defaults_parse() {
        let c = catalog();
        let kinds: Vec<&str> = c.detectors.iter().map(|d| d.kind).collect();
        assert_eq!(kinds, crate::spec::KINDS);
        for d in c.detectors.iter().filter(|d| d.kind != "ensemble") {
            let mut spec = d.defaults.clone();
            spec["kind"] = json!(d.kind);
            crate::parse_spec(&spec).unwrap_or_else(|e| panic!("{}: {e}", d.kind));
            assert!(d.params_schema["properties"].is_object(), "{}", d.kind);
        }
    }
}
