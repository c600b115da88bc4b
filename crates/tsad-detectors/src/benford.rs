//! `benford`: windows whose first significant digits leave Benford's law.
//!
//! **Catches** stretches of data whose leading digits are distributed unlike naturally grown
//! quantities (amounts, counts, populations): fabricated, rounded, capped or copied values.
//! It is a distribution test, not a spike detector: a single outlier barely moves it.
//!
//! **How.** The first significant digit is read from the mantissa of `|x|` (never from the
//! text form): `d = floor(|x| / 10^floor(log10 |x|))`, computed with exact powers of ten and
//! with a mantissa within 1e-9 of the next integer rounded up, so 0.3 (stored as
//! 0.29999999999999998) counts as a 3 and 1000 as a 1. Zeros and missing values have no
//! first digit and are skipped. Each trailing window of `window` points is compared with
//! Benford's proportions `p(d) = log10(1 + 1/d)` by Nigrini's mean absolute deviation (MAD) and
//! Pearson's chi-square.
//!
//! **Score rule (trailing windows).** Windows end every `step` points, the first at point
//! `window - 1`. Each point gets the score of the latest window that ends at or before it, so a
//! point's score uses only the past and the streaming form equals the batch form where the law
//! applies. Points before the first full window, and windows with fewer than `min_count`
//! digits, score NaN. Abstention differs in what it can see: the batch form judges the whole
//! series, the streaming form the points seen so far (when their count reaches `window`, then
//! each time it doubles), and scores NaN while they do not qualify.
//!
//! **Score scale**: Nigrini's MAD, `mean over d of |observed(d) - p(d)|`, from 0 (perfect) to
//! about 0.2. His first-digit conformity bands: below 0.006 close, to 0.012 acceptable, to
//! 0.015 marginal, above that nonconformity. The chi-square p-value is in the report (whole
//! series and the most deviant window), not in the per-point score, because with thousands of
//! digits it flags every tiny departure.
//!
//! **Report**: the whole-series digit distribution (observed counts and proportions, expected
//! proportions), chi-square with its p-value, MAD with its conformity label, the most deviant
//! window, and an applicability verdict: the law needs at least 100 non-zero values, of one
//! sign (at most 5% on the other side of zero), spanning at least `min_orders_of_magnitude`
//! (default 2) orders of magnitude, measured as `log10(p99 / p1)` of the non-zero `|x|`. A
//! series that takes both signs sits on a scale whose zero is a convention (a temperature in
//! °C, telemetry normalised to -1..1): its values near zero come from crossing it, not from a
//! spread over orders of magnitude, and their leading digits follow no law (Nigrini analyses
//! positive and negative amounts apart for this reason). When the law does not apply the
//! report says so in plain words.
//!
//! **Parameters** ([`BenfordParams`]): `window` (default 200), `step` (default 1), `min_count`
//! (default 50), `min_orders_of_magnitude` (default 2).
//!
//! **Minimum length**: `window`.
//!
//! **Cost**: O(n) time (digit counts are updated incrementally as the window slides; each
//! evaluated window costs nine operations), O(window) memory.
//!
//! **Reference**: Nigrini, M. (2012), *Benford's Law: Applications for Forensic Accounting,
//! Auditing, and Fraud Detection*, Wiley, chapter 5 (MAD conformity ranges);
//! <https://en.wikipedia.org/wiki/Benford%27s_law>.

use crate::common::{Problems, begin_fit, check_len, params_state, parse_state, report_done};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use statrs::distribution::{ChiSquared, ContinuousCDF};
use std::collections::VecDeque;
use tsad_core::{
    Detector, Error, FitContext, Model, ModelState, OnlineModel, Scores, Series, stats,
};

const KIND: &str = "benford";

/// Non-zero values a series needs before Benford's law says anything about it.
pub const MIN_VALUES_FOR_LAW: usize = 100;

/// The largest share of its non-zero values a series may have on the other side of zero from
/// most of them for Benford's law to apply (see [`applicability`]).
pub const MAX_OTHER_SIGN_SHARE: f64 = 0.05;

/// Nigrini's first-digit MAD bounds: close, acceptable, marginal (above: nonconformity).
pub const NIGRINI_FIRST_DIGIT: [f64; 3] = [0.006, 0.012, 0.015];

/// Parameters of the [`BenfordDetector`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct BenfordParams {
    /// Points per trailing window (default 200, at least 10). Each window's digit distribution
    /// is compared with Benford's; a few hundred digits are needed for a stable MAD.
    pub window: usize,
    /// Points between the ends of consecutive evaluated windows (default 1: every point gets
    /// its own window). Larger steps score faster; points in between keep the latest score.
    pub step: usize,
    /// Fewest first digits (non-zero, non-missing values) a window needs to be scored
    /// (default 50, between 1 and `window`); sparser windows score NaN.
    pub min_count: usize,
    /// Orders of magnitude the non-zero `|x|` must span (log10 of the 99th over the 1st
    /// percentile) for the law to apply (default 2).
    pub min_orders_of_magnitude: f64,
    /// When the law does not apply to the whole series (it spans fewer orders of magnitude
    /// than that, has fewer than 100 non-zero values, or takes both signs), score every point
    /// NaN (the test abstains: in an ensemble it then leaves the vote instead of vetoing it) and
    /// say so in the report (default true). False scores the windows anyway.
    pub abstain_when_not_applicable: bool,
}

impl Default for BenfordParams {
    fn default() -> Self {
        BenfordParams {
            window: 200,
            step: 1,
            min_count: 50,
            min_orders_of_magnitude: 2.0,
            abstain_when_not_applicable: true,
        }
    }
}

impl BenfordParams {
    fn validate(&self) -> Result<(), Error> {
        let mut p = Problems::new();
        p.check(self.window >= 10, "window", || {
            format!("must be at least 10, got {}", self.window)
        });
        p.check(self.step >= 1 && self.step <= self.window, "step", || {
            format!(
                "must be between 1 and window ({}), got {}",
                self.window, self.step
            )
        });
        p.check(
            self.min_count >= 1 && self.min_count <= self.window,
            "min_count",
            || {
                format!(
                    "must be between 1 and window ({}), got {}",
                    self.window, self.min_count
                )
            },
        );
        p.check(
            self.min_orders_of_magnitude.is_finite() && self.min_orders_of_magnitude >= 0.0,
            "min_orders_of_magnitude",
            || {
                format!(
                    "must be a finite number >= 0, got {}",
                    self.min_orders_of_magnitude
                )
            },
        );
        p.finish()
    }
}

/// `log10(1 + 1/d)` for d = 1..=9 (index 0 unused), as Python's `math.log10` computes them.
const PROPORTIONS: [f64; 10] = [
    0.0,
    std::f64::consts::LOG10_2,
    0.176_091_259_055_681_24,
    0.124_938_736_608_299_92,
    0.096_910_013_008_056_42,
    0.079_181_246_047_624_82,
    0.066_946_789_630_613_22,
    0.057_991_946_977_686_73,
    0.051_152_522_447_381_29,
    0.045_757_490_560_675_14,
];

/// Benford's expected proportion of first digit `d` (1..=9): `log10(1 + 1/d)`; 0 for other
/// values of `d`.
pub fn benford_proportion(d: u8) -> f64 {
    PROPORTIONS.get(usize::from(d)).copied().unwrap_or(0.0)
}

/// The first significant digit of `x` (1..=9), from its mantissa; `None` for zero, NaN and
/// infinities. See the [module docs](self) for the rounding guard.
pub fn first_digit(x: f64) -> Option<u8> {
    let mut a = x.abs();
    if !(a.is_finite() && a > 0.0) {
        return None;
    }
    if a < 1e-290 {
        // Subnormal range: 10^e would underflow; scaling by a power of ten keeps the digit.
        a *= 1e300;
    }
    let e = a.log10().floor() as i32;
    // Exact powers of ten (|e| <= 22) give one rounding only.
    let m = if e >= 0 {
        a / 10f64.powi(e)
    } else if e >= -22 {
        a * 10f64.powi(-e)
    } else {
        a / 10f64.powi(e)
    };
    let d = if m.ceil() - m <= 1e-9 * m {
        m.ceil()
    } else {
        m.floor()
    };
    Some(match d {
        d if d >= 10.0 => 1,
        d if d < 1.0 => 9, // m in (0.999999999, 1): log10 rounded up past the digit boundary
        d => d as u8,
    })
}

/// One window's statistics.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Fit {
    n: u64,
    mad: f64,
    chi_square: f64,
}

fn fit_counts(counts: &[u64; 10]) -> Fit {
    let n: u64 = counts[1..].iter().sum();
    if n == 0 {
        return Fit {
            n,
            mad: f64::NAN,
            chi_square: f64::NAN,
        };
    }
    let nf = n as f64;
    let (mut mad, mut chi) = (0.0, 0.0);
    for d in 1..=9 {
        let p = PROPORTIONS[d];
        let o = counts[d] as f64;
        mad += (o / nf - p).abs();
        chi += (o - nf * p).powi(2) / (nf * p);
    }
    Fit {
        n,
        mad: mad / 9.0,
        chi_square: chi,
    }
}

/// Upper-tail probability of the chi-square statistic with 8 degrees of freedom.
fn p_value(chi_square: f64) -> f64 {
    match ChiSquared::new(8.0) {
        Ok(dist) if chi_square.is_finite() => dist.sf(chi_square),
        _ => f64::NAN,
    }
}

/// Nigrini's first-digit conformity label for a MAD.
pub fn conformity(mad: f64) -> &'static str {
    let [close, acceptable, marginal] = NIGRINI_FIRST_DIGIT;
    match mad {
        m if m.is_nan() => "undefined",
        m if m <= close => "close",
        m if m <= acceptable => "acceptable",
        m if m <= marginal => "marginal",
        _ => "nonconformity",
    }
}

/// The sliding-window state machine shared by the batch and streaming forms.
#[derive(Debug, Clone)]
struct Sliding {
    window: usize,
    step: usize,
    min_count: u64,
    digits: VecDeque<u8>, // 0 = no digit
    counts: [u64; 10],
    seen: usize,
    current: f64,
    /// (end index, statistics) of the window with the highest MAD so far.
    worst: Option<(usize, Fit)>,
}

impl Sliding {
    fn new(p: &BenfordParams) -> Self {
        Sliding {
            window: p.window,
            step: p.step,
            min_count: p.min_count as u64,
            digits: VecDeque::with_capacity(p.window + 1),
            counts: [0; 10],
            seen: 0,
            current: f64::NAN,
            worst: None,
        }
    }

    fn update(&mut self, x: f64) -> f64 {
        let d = first_digit(x).unwrap_or(0);
        if self.digits.len() == self.window
            && let Some(old) = self.digits.pop_front()
        {
            self.counts[old as usize] -= 1;
        }
        self.digits.push_back(d);
        self.counts[d as usize] += 1;
        let end = self.seen;
        self.seen += 1;
        if end + 1 >= self.window && (end + 1 - self.window).is_multiple_of(self.step) {
            let fit = fit_counts(&self.counts);
            self.current = if fit.n >= self.min_count {
                if self.worst.is_none_or(|(_, w)| fit.mad > w.mad) {
                    self.worst = Some((end, fit));
                }
                fit.mad
            } else {
                f64::NAN
            };
        }
        self.current
    }
}

/// The Benford first-digit detector (unfitted). See the [module docs](self).
#[derive(Debug, Clone)]
pub struct BenfordDetector {
    params: BenfordParams,
}

impl BenfordDetector {
    /// Validates `params`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] listing every invalid field.
    pub fn new(params: BenfordParams) -> Result<Self, Error> {
        params.validate()?;
        Ok(BenfordDetector { params })
    }

    /// The parameters.
    pub fn params(&self) -> &BenfordParams {
        &self.params
    }
}

/// A fitted [`BenfordDetector`]: the law is fixed, so the model holds only the parameters.
#[derive(Debug, Clone)]
pub struct BenfordModel {
    params: BenfordParams,
}

impl Detector for BenfordDetector {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn min_len(&self) -> usize {
        self.params.window
    }

    fn fit(&self, train: &Series, ctx: &FitContext) -> Result<Box<dyn Model>, Error> {
        begin_fit(train, self.min_len(), ctx)?;
        report_done(ctx);
        Ok(Box::new(BenfordModel {
            params: self.params.clone(),
        }))
    }

    fn online(&self) -> Option<Box<dyn OnlineModel>> {
        Some(Box::new(BenfordOnline {
            sliding: Sliding::new(&self.params),
            params: self.params.clone(),
            seen: Vec::new(),
            next_judgement: self.params.window,
            applies: false,
        }))
    }

    fn load(&self, state: &ModelState) -> Result<Box<dyn Model>, Error> {
        let params: BenfordParams = parse_state(KIND, state)?;
        params.validate().map_err(|e| Error::Load {
            reason: e.to_string(),
        })?;
        Ok(Box::new(BenfordModel { params }))
    }
}

/// The streaming form: the batch form's trailing windows, point by point. With
/// `abstain_when_not_applicable`, applicability is judged on the points seen so far when their
/// count reaches `window` and again each time it doubles (O(n log n) in all); the scores are NaN
/// until the first judgement and while the latest one says the law does not apply, as the
/// batch form abstains on a whole series that does not qualify. Keeps every value seen for
/// those judgements.
#[derive(Debug, Clone)]
struct BenfordOnline {
    sliding: Sliding,
    params: BenfordParams,
    seen: Vec<f64>,
    next_judgement: usize,
    applies: bool,
}

impl OnlineModel for BenfordOnline {
    fn update(&mut self, _timestamp: i64, value: f64) -> f64 {
        let score = self.sliding.update(value);
        if !self.params.abstain_when_not_applicable {
            return score;
        }
        self.seen.push(value);
        if self.seen.len() == self.next_judgement {
            self.applies =
                applicability(&self.seen, self.params.min_orders_of_magnitude).applicable;
            self.next_judgement = self.next_judgement.saturating_mul(2);
        }
        if self.applies { score } else { f64::NAN }
    }
}

impl Model for BenfordModel {
    fn score(&self, series: &Series) -> Result<Scores, Error> {
        check_len(series, self.params.window)?;
        let mut sliding = Sliding::new(&self.params);
        let mut score: Vec<f64> = series.values().iter().map(|&x| sliding.update(x)).collect();
        let mut report = report(series.values(), &self.params, sliding.worst);
        let applies = report["applicability"]["applicable"]
            .as_bool()
            .unwrap_or(true);
        let abstained = self.params.abstain_when_not_applicable && !applies;
        if abstained {
            score.fill(f64::NAN);
        }
        report["abstained"] = json!(abstained);
        Ok(Scores::new(score).with_report(report))
    }

    fn save(&self) -> Result<ModelState, Error> {
        params_state(KIND, &self.params)
    }
}

/// Whether the law can say anything about `values`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Applicability {
    /// `log10(p99 / p1)` of the non-zero `|x|` (0 when there are none).
    pub orders_of_magnitude: f64,
    /// Non-zero, non-missing values.
    pub nonzero_values: usize,
    /// True when the values are numerous enough, of one sign (see [`MAX_OTHER_SIGN_SHARE`]) and
    /// span enough orders of magnitude.
    pub applicable: bool,
    /// The verdict in plain words.
    pub message: String,
}

/// Judges whether Benford's law applies to `values` (see the [module docs](self)).
pub fn applicability(values: &[f64], min_orders_of_magnitude: f64) -> Applicability {
    let abs: Vec<f64> = values
        .iter()
        .map(|v| v.abs())
        .filter(|a| a.is_finite() && *a > 0.0)
        .collect();
    let k = abs.len();
    let span = match (stats::quantile(&abs, 0.01), stats::quantile(&abs, 0.99)) {
        (Some(lo), Some(hi)) if lo > 0.0 => (hi / lo).log10(),
        _ => 0.0,
    };
    let negative = values.iter().filter(|v| v.is_finite() && **v < 0.0).count();
    let other_sign = negative.min(k - negative);
    let (applicable, message) = if k < MIN_VALUES_FOR_LAW {
        (
            false,
            format!(
                "only {k} non-zero values; Benford's law needs at least {MIN_VALUES_FOR_LAW}, so this test says little about this series"
            ),
        )
    } else if other_sign as f64 > MAX_OTHER_SIGN_SHARE * k as f64 {
        (
            false,
            format!(
                "values take both signs ({:.0}% {} zero), so their zero is a convention and their leading digits follow no law; Benford's law needs magnitudes of one sign, so this test says little about this series",
                100.0 * other_sign as f64 / k as f64,
                if negative == other_sign {
                    "below"
                } else {
                    "above"
                }
            ),
        )
    } else if span < min_orders_of_magnitude {
        (
            false,
            format!(
                "values span {span:.1} orders of magnitude; Benford's law needs at least {min_orders_of_magnitude}, so this test says little about this series"
            ),
        )
    } else {
        (
            true,
            format!(
                "values span {span:.1} orders of magnitude over {k} non-zero values, enough for Benford's law to apply"
            ),
        )
    };
    Applicability {
        orders_of_magnitude: span,
        nonzero_values: k,
        applicable,
        message,
    }
}

fn report(
    values: &[f64],
    params: &BenfordParams,
    worst: Option<(usize, Fit)>,
) -> serde_json::Value {
    let mut counts = [0u64; 10];
    let (mut zeros, mut missing) = (0usize, 0usize);
    for &x in values {
        match first_digit(x) {
            Some(d) => counts[d as usize] += 1,
            None if x == 0.0 => zeros += 1,
            None => missing += 1,
        }
    }
    let whole = fit_counts(&counts);
    let n = whole.n.max(1) as f64;
    let most_deviant = worst.map(|(end, f)| {
        json!({
            "start": end + 1 - params.window,
            "end": end,
            "digits": f.n,
            "mad": f.mad,
            "conformity": conformity(f.mad),
            "chi_square": f.chi_square,
            "p_value": p_value(f.chi_square),
        })
    });
    json!({
        "score": "nigrini_mad",
        "window": params.window,
        "step": params.step,
        "digits": (1..=9).collect::<Vec<u8>>(),
        "observed_counts": &counts[1..],
        "observed_proportions": counts[1..].iter().map(|&c| c as f64 / n).collect::<Vec<_>>(),
        "expected_proportions": (1..=9).map(benford_proportion).collect::<Vec<_>>(),
        "total_digits": whole.n,
        "skipped_zeros": zeros,
        "skipped_missing": missing,
        "chi_square": whole.chi_square,
        "degrees_of_freedom": 8,
        "p_value": p_value(whole.chi_square),
        "mad": whole.mad,
        "conformity": conformity(whole.mad),
        "conformity_bounds": {"close": 0.006, "acceptable": 0.012, "marginal": 0.015},
        "most_deviant_window": most_deviant,
        "applicability": applicability(values, params.min_orders_of_magnitude),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tsad_testing::{ConformanceOptions, Rng, assert_bits_eq, assert_close, conformance_with};

    fn score(params: BenfordParams, values: Vec<f64>) -> Scores {
        let series = Series::from_values(values).unwrap();
        let d = BenfordDetector::new(params).unwrap();
        d.fit(&series, &FitContext::new())
            .unwrap()
            .score(&series)
            .unwrap()
    }

    #[test]
    fn first_digit_table() {
        let cases: &[(&str, f64, Option<u8>)] = &[
            ("one", 1.0, Some(1)),
            ("just below ten", 9.99, Some(9)),
            ("ten", 10.0, Some(1)),
            ("thousand", 1000.0, Some(1)),
            ("1e15", 1e15, Some(1)),
            ("0.3 is a three", 0.3, Some(3)),
            ("0.7 is a seven", 0.7, Some(7)),
            ("0.001", 0.001, Some(1)),
            ("negative", -345.6, Some(3)),
            ("tiny", 2.5e-200, Some(2)),
            ("subnormal", 2.5e-310, Some(2)),
            ("largest", f64::MAX, Some(1)),
            ("zero", 0.0, None),
            ("negative zero", -0.0, None),
            ("missing", f64::NAN, None),
            ("infinite", f64::INFINITY, None),
        ];
        for (name, x, want) in cases {
            assert_eq!(first_digit(*x), *want, "{name}");
        }
        // Every power of ten, and every d * 10^e, has the obvious digit.
        for e in -300..300 {
            for d in 1..=9u8 {
                let x: f64 = format!("{d}e{e}").parse().unwrap();
                assert_eq!(first_digit(x), Some(d), "{d}e{e}");
            }
        }
    }

    #[test]
    fn proportions_are_log10_of_one_plus_one_over_d() {
        let mut total = 0.0;
        for d in 1..=9u8 {
            let p = benford_proportion(d);
            assert_close(&p, &(1.0 + 1.0 / f64::from(d)).log10(), 1e-15);
            total += p;
        }
        assert_close(&total, &1.0, 1e-15);
        assert_eq!(benford_proportion(0), 0.0);
        assert_eq!(benford_proportion(10), 0.0);
    }

    #[test]
    fn params_table() {
        let cases: &[(&str, &str, Option<&str>)] = &[
            ("defaults", "{}", None),
            (
                "step equal to window",
                r#"{"window": 10, "step": 10, "min_count": 5}"#,
                None,
            ),
            (
                "window too small",
                r#"{"window": 5, "min_count": 5}"#,
                Some("`window`"),
            ),
            ("step zero", r#"{"step": 0}"#, Some("`step`")),
            (
                "min_count above window",
                r#"{"window": 20}"#,
                Some("`min_count`"),
            ),
            (
                "several",
                r#"{"step": 0, "min_orders_of_magnitude": -1}"#,
                Some("`step, min_orders_of_magnitude`"),
            ),
        ];
        tsad_testing::check_params(BenfordDetector::new, cases);
    }

    #[test]
    fn known_answer_powers_of_two_follow_the_law() {
        // python3: c = Counter(int(str(2**k)[0]) for k in range(1, 1001)) gives
        // [301, 176, 125, 97, 79, 69, 56, 52, 45]; MAD 0.000678208512366, chi-square
        // 0.158550576292, scipy.stats.chi2.sf(chi, 8) = 0.999998455338.
        let values: Vec<f64> = (1..=1000).map(|k| 2f64.powi(k)).collect();
        let s = score(
            BenfordParams {
                window: 1000,
                ..BenfordParams::default()
            },
            values,
        );
        let r = &s.report;
        assert_eq!(
            r["observed_counts"],
            json!([301, 176, 125, 97, 79, 69, 56, 52, 45])
        );
        assert_close(&r["mad"].as_f64().unwrap(), &0.000678208512366, 1e-12);
        assert_close(&r["chi_square"].as_f64().unwrap(), &0.158550576292, 1e-9);
        assert_close(&r["p_value"].as_f64().unwrap(), &0.999998455338, 1e-9);
        assert_eq!(r["conformity"], "close");
        assert_eq!(r["applicability"]["applicable"], true);
        assert_close(&s.score[999], &0.000678208512366, 1e-12);
        assert!(s.score[998].is_nan());
    }

    #[test]
    fn known_answer_fibonacci_follows_and_uniform_does_not() {
        let mut fib = vec![1.0, 1.0];
        while fib.len() < 1000 {
            let n = fib.len();
            fib.push(fib[n - 1] + fib[n - 2]);
        }
        let r = score(BenfordParams::default(), fib).report;
        assert!(r["mad"].as_f64().unwrap() < 0.006, "{}", r["mad"]);

        let mut rng = Rng::new(3);
        let uniform: Vec<f64> = (0..1000).map(|_| rng.range(100.0, 200.0)).collect();
        let s = score(BenfordParams::default(), uniform);
        let r = &s.report;
        assert!(r["mad"].as_f64().unwrap() > 0.015);
        assert_eq!(r["conformity"], "nonconformity");
        assert_eq!(r["applicability"]["applicable"], false);
        let msg = r["applicability"]["message"].as_str().unwrap();
        assert!(
            msg.starts_with("values span 0.3 orders of magnitude; Benford's law needs at least 2"),
            "{msg}"
        );
        assert!(r["p_value"].as_f64().unwrap() < 1e-10);
    }

    #[test]
    fn a_fabricated_stretch_scores_higher() {
        // Log-uniform values follow Benford; a stretch of values drawn from 500..999 does not.
        let mut rng = Rng::new(11);
        let mut v: Vec<f64> = (0..3000).map(|_| 10f64.powf(rng.range(0.0, 4.0))).collect();
        for x in &mut v[2000..2300] {
            *x = rng.range(500.0, 999.0);
        }
        let s = score(BenfordParams::default(), v);
        let natural = stats::median(&s.score[300..1900]).unwrap();
        let fabricated = s.score[2299];
        assert!(natural < 0.03 && fabricated > 0.1, "{natural} {fabricated}");
        // Every window inside the stretch (ends 2199..=2299) is fully fabricated.
        let end = s.report["most_deviant_window"]["end"].as_u64().unwrap();
        assert!((2199..=2299).contains(&end), "{end}");
    }

    #[test]
    fn abstains_where_the_law_does_not_apply() {
        // Uniform in 100..200 spans 0.3 orders of magnitude.
        let v: Vec<f64> = (0..400).map(|i| 100.0 + (i * 37 % 100) as f64).collect();
        let s = score(BenfordParams::default(), v.clone());
        assert!(s.score.iter().all(|x| x.is_nan()));
        assert_eq!(s.report["abstained"], true);
        let scored = BenfordParams {
            abstain_when_not_applicable: false,
            ..BenfordParams::default()
        };
        let s = score(scored, v);
        assert!(s.score[399].is_finite());
        assert_eq!(s.report["abstained"], false);
    }

    /// Values around zero (both signs) are on a scale with a conventional zero: the law does
    /// not apply however many orders of magnitude their magnitudes span; a few values of the
    /// other sign (refunds in a ledger) do not stop it.
    #[test]
    fn abstains_on_values_that_take_both_signs() {
        let mut rng = Rng::new(5);
        let magnitudes: Vec<f64> = (0..2000)
            .map(|_| 10f64.powf(rng.range(-2.0, 2.0)))
            .collect();
        let signed = |every: usize| -> Vec<f64> {
            magnitudes
                .iter()
                .enumerate()
                .map(|(i, &m)| if i % every == 0 { -m } else { m })
                .collect()
        };
        // Every third value negative: 33% of the other sign.
        let s = score(BenfordParams::default(), signed(3));
        assert!(s.score.iter().all(|x| x.is_nan()));
        let msg = s.report["applicability"]["message"].as_str().unwrap();
        assert!(
            msg.starts_with("values take both signs (33% below zero)"),
            "{msg}"
        );
        // Mostly negative: the minority is the positive third.
        let flipped: Vec<f64> = signed(3).iter().map(|v| -v).collect();
        let msg = applicability(&flipped, 2.0).message;
        assert!(
            msg.starts_with("values take both signs (33% above zero)"),
            "{msg}"
        );
        // Every fiftieth value negative: 2%, still one sign's magnitudes.
        let s = score(BenfordParams::default(), signed(50));
        assert_eq!(s.report["applicability"]["applicable"], true);
        assert!(s.score[1999].is_finite());
    }

    /// Streaming abstains like the batch form, judging the past: NaN while the values seen
    /// span too little, scores once they span enough (judged at 200, 400, 800, ... points).
    #[test]
    fn streaming_abstains_until_the_past_spans_enough() {
        let mut rng = Rng::new(9);
        // 500 values in 100..200 (0.3 orders of magnitude), then 1500 spanning four.
        let v: Vec<f64> = (0..2000)
            .map(|i| {
                if i < 500 {
                    rng.range(100.0, 200.0)
                } else {
                    10f64.powf(rng.range(-1.0, 3.0))
                }
            })
            .collect();
        let mut online = BenfordDetector::new(BenfordParams::default())
            .unwrap()
            .online()
            .unwrap();
        let streamed: Vec<f64> = v
            .iter()
            .enumerate()
            .map(|(i, &x)| online.update(i as i64, x))
            .collect();
        // Judged not applicable at 200 and 400 points; applicable at 800 (300 of the 800
        // values span four orders of magnitude) and at 1600.
        assert!(streamed[..799].iter().all(|s| s.is_nan()));
        assert!(streamed[799..].iter().all(|s| s.is_finite()));
    }

    #[test]
    fn step_and_sparse_windows() {
        // Window 10, step 5, min_count 6; zeros are skipped.
        let mut v = vec![1.0; 30];
        for x in &mut v[15..20] {
            *x = 0.0;
        }
        let p = BenfordParams {
            window: 10,
            step: 5,
            min_count: 6,
            // All ones span no order of magnitude; score the windows anyway.
            abstain_when_not_applicable: false,
            ..BenfordParams::default()
        };
        let s = score(p, v);
        // Windows end at 9, 14, 19, 24, 29; the one ending at 19 has 5 digits (NaN), and so
        // does the one ending at 24 (points 15..=24 hold 5 zeros).
        let nan_at = |i: usize| s.score[i].is_nan();
        assert!((0..9).all(nan_at));
        assert!((9..19).all(|i| !nan_at(i)));
        assert!((19..29).all(nan_at));
        assert!(!nan_at(29));
        assert_eq!(s.report["skipped_zeros"], 5);
    }

    #[test]
    fn streaming_equals_batch() {
        let mut rng = Rng::new(5);
        let v: Vec<f64> = (0..2000)
            .map(|i| {
                if i % 37 == 0 {
                    f64::NAN
                } else {
                    10f64.powf(rng.range(-1.0, 3.0))
                }
            })
            .collect();
        let p = BenfordParams {
            step: 3,
            ..BenfordParams::default()
        };
        let batch = score(p.clone(), v.clone());
        let mut online = BenfordDetector::new(p).unwrap().online().unwrap();
        let streamed: Vec<f64> = v
            .iter()
            .enumerate()
            .map(|(i, &x)| online.update(i as i64, x))
            .collect();
        assert_bits_eq(&streamed, &batch.score, "streaming vs batch");
    }

    #[test]
    fn conforms() {
        conformance_with(
            "benford",
            // The suite's sine spans less than an order of magnitude: score it anyway, to
            // check the mechanics (abstention has its own tests).
            &|| {
                Box::new(
                    BenfordDetector::new(BenfordParams {
                        abstain_when_not_applicable: false,
                        ..BenfordParams::default()
                    })
                    .unwrap(),
                )
            },
            &ConformanceOptions {
                skip_spike: Some("Benford's law tests digit distributions, not single points"),
                ..ConformanceOptions::default()
            },
        );
    }
}
