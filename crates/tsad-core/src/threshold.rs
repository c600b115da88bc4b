//! Turning scores into flags. A threshold is applied to stored scores, so changing it never
//! re-runs a model.
//!
//! Two families: `auto` and `sensitivity` cut the calibrated **rarity** (see
//! [`crate::Calibration`]), so they mean the same on every detector and every length of
//! series; `sigma`, `robust` and `quantile` cut a detector's **raw** scores by their own
//! spread, as the seeds did ([`Threshold::scale`] says which).

use crate::{Error, stats};
use serde::{Deserialize, Serialize};

/// A sensitivity knob in the open interval (0, 1): higher flags more.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct Sensitivity(f64);

impl Sensitivity {
    /// Validates `s`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] unless `0 < s < 1`.
    pub fn new(s: f64) -> Result<Self, Error> {
        if s > 0.0 && s < 1.0 {
            Ok(Sensitivity(s))
        } else {
            Err(Error::invalid_parameter(
                "sensitivity",
                format!("must be strictly between 0 and 1, got {s}"),
            ))
        }
    }
    /// The value in (0, 1).
    pub fn get(self) -> f64 {
        self.0
    }
}

impl TryFrom<f64> for Sensitivity {
    type Error = Error;
    fn try_from(s: f64) -> Result<Self, Error> {
        Sensitivity::new(s)
    }
}

impl From<Sensitivity> for f64 {
    fn from(s: Sensitivity) -> f64 {
        s.0
    }
}

/// The default of [`Threshold::Auto`]: about one false alarm per this many points of normal data.
pub const DEFAULT_EVERY: f64 = 100_000.0;

/// Which scores a threshold cuts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scale {
    /// The detector's own scores.
    Raw,
    /// Calibrated rarity, `-log10` of the tail probability under normal data.
    Rarity,
}

/// How the cut-off is computed from the finite scores of one run.
///
/// A point is flagged when its score (on the threshold's [`Scale`]) is finite and strictly
/// above the cut-off.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case", deny_unknown_fields)]
pub enum Threshold {
    /// The default: flag points rarer than one in `every` points of normal data (a rarity cut
    /// at `log10(every)`), so a series of `n` normal points raises about `n / every` false
    /// alarms whatever the detector and the length (fewer events, as flags cluster). Default
    /// `every` = 100,000.
    Auto {
        /// Points of normal data per false alarm, > 1.
        every: f64,
    },
    /// `mean + k·std` of the scores: the seeds' rule. Default `k = 3`.
    Sigma {
        /// Standard deviations above the mean.
        k: f64,
    },
    /// `median + k·1.4826·MAD` of the scores; robust to the anomalies themselves. When the
    /// MAD is 0 the mean absolute deviation times 1.2533 stands in. Default `k = 5`: scores are
    /// often already robust z values, whose own spread is small, so the usual 3.5 of the modified
    /// z-score flags too much noise (measured on the demo series: 12-19 false events per 2000
    /// points at 3.5, 0-3 at 5).
    Robust {
        /// Robust standard deviations above the median.
        k: f64,
    },
    /// The `q`-quantile of the scores: flags about `1 - q` of the points. Default `q = 0.99`.
    Quantile {
        /// Quantile in (0, 1).
        q: f64,
    },
    /// One knob in (0, 1), higher flags more: the `auto` rule with `every = 10^(1 + 8·(1 - s))`,
    /// so `s = 0.5` is `auto`'s default (one false alarm per 100,000 points), 0.75 one per
    /// 1,000 and 0.25 one per 10,000,000; each 0.125 step is a factor of ten.
    Sensitivity {
        /// Sensitivity in (0, 1).
        s: Sensitivity,
    },
}

impl Default for Threshold {
    fn default() -> Self {
        Threshold::Auto {
            every: DEFAULT_EVERY,
        }
    }
}

/// The result of applying a threshold: the cut-off value and one flag per point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cut {
    /// The cut-off score (on `scale`); `+inf` when no score was finite.
    pub value: f64,
    /// Which scores the cut-off applies to.
    pub scale: Scale,
    /// `flags[i]` is true when `score[i]` is finite and above `value`.
    pub flags: Vec<bool>,
    /// Events set aside as the series' routine once the flags became events (their points
    /// unflagged); see [`crate::routine`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routine: Vec<crate::routine::Routine>,
}

impl Cut {
    /// Number of flagged points.
    pub fn count(&self) -> usize {
        self.flags.iter().filter(|f| **f).count()
    }
}

impl Threshold {
    /// Threshold method names, for CLIs and catalogs.
    pub const METHODS: [&'static str; 5] = ["auto", "sigma", "robust", "quantile", "sensitivity"];

    /// The method's name as in specs.
    pub fn method(&self) -> &'static str {
        match self {
            Threshold::Auto { .. } => "auto",
            Threshold::Sigma { .. } => "sigma",
            Threshold::Robust { .. } => "robust",
            Threshold::Quantile { .. } => "quantile",
            Threshold::Sensitivity { .. } => "sensitivity",
        }
    }

    /// Checks the parameter's range.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] naming the parameter and its allowed range.
    pub fn validate(&self) -> Result<(), Error> {
        match *self {
            Threshold::Sigma { k } | Threshold::Robust { k } if !(k.is_finite() && k >= 0.0) => {
                Err(Error::invalid_parameter(
                    "k",
                    format!("must be a finite number >= 0, got {k}"),
                ))
            }
            Threshold::Quantile { q } if !(q > 0.0 && q < 1.0) => Err(Error::invalid_parameter(
                "q",
                format!("must be strictly between 0 and 1, got {q}"),
            )),
            Threshold::Auto { every } if !(every.is_finite() && every > 1.0) => {
                Err(Error::invalid_parameter(
                    "every",
                    format!(
                        "must be a number of points > 1 (about one false alarm per that many \
                         points), got {every}"
                    ),
                ))
            }
            _ => Ok(()),
        }
    }

    /// Which scores this threshold cuts: rarity for `auto` and `sensitivity`, raw otherwise.
    pub fn scale(&self) -> Scale {
        match self {
            Threshold::Auto { .. } | Threshold::Sensitivity { .. } => Scale::Rarity,
            _ => Scale::Raw,
        }
    }

    /// For the rarity rules, the points of normal data per false alarm they allow.
    pub fn every(&self) -> Option<f64> {
        match *self {
            Threshold::Auto { every } => Some(every),
            Threshold::Sensitivity { s } => Some(10f64.powf(1.0 + 8.0 * (1.0 - s.get()))),
            _ => None,
        }
    }

    /// The rule in a user's words: `"about 1 false alarm per 100,000 points"`,
    /// `"mean + 3 std of the scores"`.
    pub fn describe(&self) -> String {
        match *self {
            Threshold::Auto { .. } | Threshold::Sensitivity { .. } => format!(
                "about 1 false alarm per {} points of normal data",
                group_thousands(self.every().unwrap_or(DEFAULT_EVERY))
            ),
            Threshold::Sigma { k } => format!("mean + {k} std of the scores"),
            Threshold::Robust { k } => format!("median + {k} robust std of the scores"),
            Threshold::Quantile { q } => format!("the top {} of scores", percent(1.0 - q)),
        }
    }

    /// The cut-off for `scores` (NaN and infinite scores ignored), which must be on the
    /// threshold's [`Threshold::scale`].
    ///
    /// # Errors
    ///
    /// As [`Threshold::validate`].
    pub fn cutoff(&self, scores: &[f64]) -> Result<f64, Error> {
        self.validate()?;
        let value = match *self {
            Threshold::Auto { .. } | Threshold::Sensitivity { .. } => self.every().map(f64::log10),
            Threshold::Sigma { k } => stats::mean_std(scores).map(|(m, s)| m + k * s),
            Threshold::Robust { k } => robust_cutoff(scores, k),
            Threshold::Quantile { q } => stats::quantile(scores, q),
        };
        Ok(value.unwrap_or(f64::INFINITY))
    }

    /// Applies the threshold to `scores`, which must be on the threshold's
    /// [`Threshold::scale`] (raw scores, or rarities).
    ///
    /// # Errors
    ///
    /// As [`Threshold::validate`].
    pub fn apply(&self, scores: &[f64]) -> Result<Cut, Error> {
        let value = self.cutoff(scores)?;
        Ok(Cut {
            value,
            scale: self.scale(),
            flags: scores.iter().map(|s| s.is_finite() && *s > value).collect(),
            routine: Vec::new(),
        })
    }
}

/// `1234567.0` as `"1,234,567"` (rounded to an integer).
pub fn group_thousands(x: f64) -> String {
    let digits = format!("{:.0}", x.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if x < 0.0 { format!("-{out}") } else { out }
}

fn percent(x: f64) -> String {
    format!("{}%", (x * 1e4).round() / 1e2)
}

fn robust_cutoff(scores: &[f64], k: f64) -> Option<f64> {
    let (med, mad) = stats::median_mad(scores)?;
    let spread = if mad > 0.0 {
        mad * stats::MAD_TO_SIGMA
    } else {
        // Most scores equal: fall back to the mean absolute deviation (as the modified z-score
        // literature does), so a handful of outliers still stand out.
        let finite = stats::finite(scores);
        let mean_ad = finite.iter().map(|x| (x - med).abs()).sum::<f64>() / finite.len() as f64;
        mean_ad * 1.253_314
    };
    Some(med + k * spread)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn spike() -> Vec<f64> {
        let mut v: Vec<f64> = (0..200).map(|i| ((i * 37) % 11) as f64 / 10.0).collect();
        v[120] = 50.0;
        v[10] = f64::NAN;
        v
    }

    #[test]
    fn each_method_flags_the_spike_only() {
        let cases = [
            ("sigma", Threshold::Sigma { k: 3.0 }),
            ("robust", Threshold::Robust { k: 3.5 }),
            ("quantile", Threshold::Quantile { q: 0.995 }),
        ];
        for (name, t) in cases {
            let cut = t.apply(&spike()).unwrap();
            let flagged: Vec<usize> = (0..200).filter(|&i| cut.flags[i]).collect();
            assert_eq!(flagged, vec![120], "{name}");
        }
    }

    #[test]
    fn invalid_parameters_are_rejected() {
        let cases = [
            (Threshold::Sigma { k: -1.0 }, "invalid parameter `k`"),
            (Threshold::Robust { k: f64::NAN }, "invalid parameter `k`"),
            (Threshold::Quantile { q: 1.0 }, "invalid parameter `q`"),
            (Threshold::Auto { every: 0.5 }, "invalid parameter `every`"),
            (
                Threshold::Auto {
                    every: f64::INFINITY,
                },
                "invalid parameter `every`",
            ),
        ];
        for (t, want) in cases {
            assert!(t.apply(&[1.0]).unwrap_err().to_string().contains(want));
        }
        assert!(Sensitivity::new(0.0).is_err());
        let parsed: Result<Threshold, _> =
            serde_json::from_str(r#"{"method":"sensitivity","s":1.5}"#);
        assert!(parsed.is_err());
    }

    #[test]
    fn rarity_rules_cut_at_log10_of_every() {
        let rarity = [0.0, 4.9, 5.1, f64::NAN, 2.9, 3.1];
        let auto = Threshold::default();
        assert_eq!(auto.scale(), Scale::Rarity);
        let cut = auto.apply(&rarity).unwrap();
        assert_eq!(cut.value, 5.0);
        assert_eq!(cut.flags, [false, false, true, false, false, false]);
        // Sensitivity 0.5 is auto's default; 0.75 allows one false alarm per 1,000 points.
        let half = Threshold::Sensitivity {
            s: Sensitivity::new(0.5).unwrap(),
        };
        assert_eq!(half.cutoff(&rarity).unwrap(), 5.0);
        let s75 = Threshold::Sensitivity {
            s: Sensitivity::new(0.75).unwrap(),
        };
        assert!((s75.every().unwrap() - 1000.0).abs() < 1e-6);
        assert_eq!(s75.apply(&rarity).unwrap().count(), 3);
        assert_eq!(
            auto.describe(),
            "about 1 false alarm per 100,000 points of normal data"
        );
        assert_eq!(Threshold::Sigma { k: 3.0 }.scale(), Scale::Raw);
    }

    #[test]
    fn thousands_are_grouped() {
        for (x, want) in [
            (0.0, "0"),
            (999.0, "999"),
            (1000.0, "1,000"),
            (1234567.4, "1,234,567"),
        ] {
            assert_eq!(group_thousands(x), want);
        }
    }

    #[test]
    fn no_finite_score_flags_nothing() {
        let cut = Threshold::Sigma { k: 3.0 }
            .apply(&[f64::NAN, f64::NAN])
            .unwrap();
        assert_eq!(cut.value, f64::INFINITY);
        assert_eq!(cut.count(), 0);
    }

    proptest! {
        #[test]
        fn higher_sensitivity_never_flags_fewer(
            scores in prop::collection::vec(-100.0f64..100.0, 1..300),
            a in 0.01f64..0.99, b in 0.01f64..0.99,
        ) {
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            let n_lo = Threshold::Sensitivity { s: Sensitivity::new(lo).unwrap() }.apply(&scores).unwrap().count();
            let n_hi = Threshold::Sensitivity { s: Sensitivity::new(hi).unwrap() }.apply(&scores).unwrap().count();
            prop_assert!(n_hi >= n_lo);
        }
    }
}
