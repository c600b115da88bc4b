//! [`Limits`]: how much work one request may ask for. Specs are checked before anything is
//! fitted or queued, so a request that would exhaust memory or hold a job slot for hours is a
//! 422 `limit_exceeded` naming the limit, not an out-of-memory kill.

use crate::error::ApiError;
use tsad_engine::DetectorSpec;

/// Per-request bounds. `Default` gives the documented defaults (README, "Limits").
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Detectors in one spec, counting every ensemble member at every level (default 32).
    pub max_members: usize,
    /// Ensembles nested inside ensembles: 1 = an ensemble of plain detectors (default 3).
    pub max_depth: usize,
    /// Points times detectors of one request (default 50,000,000: a 1M-point series with 50
    /// detectors, or 10M points with 5). Memory grows with this product.
    pub max_point_detectors: u64,
    /// Estimated arithmetic of the LSTM members of one request (training plus scoring), in
    /// GFLOP (default 50,000: about half an hour on two cores).
    pub max_lstm_gflop: f64,
    /// Points of `POST /api/v1/datasets/demo` (default 1,000,000).
    pub max_demo_points: usize,
    /// Series in one many-series run (default 10,000); the CLI has no such limit.
    pub max_series: usize,
    /// Characters of a dataset's name and of each column name (default 256).
    pub max_name_chars: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_members: 32,
            max_depth: 3,
            max_point_detectors: 50_000_000,
            max_lstm_gflop: 50_000.0,
            max_demo_points: 1_000_000,
            max_series: 10_000,
            max_name_chars: 256,
        }
    }
}

/// What a spec asks for: detectors (leaves), ensemble depth and LSTM arithmetic per point.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Shape {
    detectors: u64,
    depth: usize,
}

fn shape(spec: &DetectorSpec) -> Shape {
    match spec {
        DetectorSpec::Ensemble(e) => {
            let mut s = Shape::default();
            for m in &e.members {
                let inner = shape(m);
                s.detectors += inner.detectors;
                s.depth = s.depth.max(inner.depth);
            }
            s.depth += 1;
            s
        }
        _ => Shape {
            detectors: 1,
            depth: 0,
        },
    }
}

/// Multiply-adds of one LSTM step of `layers` layers of width `hidden` (input width 1 for the
/// first layer), times 2 for FLOP.
fn lstm_step_flop(hidden: usize, layers: usize) -> f64 {
    let h = hidden as f64;
    let first = 4.0 * h * (h + 1.0);
    let rest = 4.0 * h * (2.0 * h) * layers.saturating_sub(1) as f64;
    2.0 * (first + rest)
}

/// Training (forward and backward: about 3x a forward pass) on at most `max_train_windows`
/// windows per epoch, plus scoring every window of the series.
fn lstm_flop(
    points: usize,
    window: usize,
    step: f64,
    epochs: usize,
    max_train_windows: usize,
) -> f64 {
    let windows = points.saturating_sub(window).max(1);
    let train = epochs as f64 * windows.min(max_train_windows) as f64 * window as f64 * step * 3.0;
    let score = windows as f64 * window as f64 * step;
    train + score
}

fn gflop(spec: &DetectorSpec, points: usize) -> f64 {
    match spec {
        DetectorSpec::Ensemble(e) => e.members.iter().map(|m| gflop(m, points)).sum(),
        DetectorSpec::LstmForecast(p) => {
            let step = lstm_step_flop(p.hidden, p.layers);
            lstm_flop(points, p.window, step, p.epochs, p.max_train_windows) / 1e9
        }
        DetectorSpec::LstmAutoencoder(p) => {
            // Encoder and decoder each run every step of the window.
            let step = 2.0 * lstm_step_flop(p.hidden, p.layers);
            lstm_flop(points, p.window, step, p.epochs, p.max_train_windows) / 1e9
        }
        _ => 0.0,
    }
}

impl Limits {
    /// Checks the shape of a spec alone (members, nesting), before the data is known.
    ///
    /// # Errors
    ///
    /// 422 `limit_exceeded` naming the limit.
    pub(crate) fn check_spec(&self, spec: &DetectorSpec) -> Result<(), ApiError> {
        let s = shape(spec);
        if s.depth > self.max_depth {
            return Err(exceeded(format!(
                "detector: ensembles nest {} levels deep, more than the server's limit of {}; \
                 flatten the ensemble",
                s.depth, self.max_depth
            )));
        }
        if s.detectors > self.max_members as u64 {
            return Err(exceeded(format!(
                "detector: {} detectors in one spec, more than the server's limit of {}; use \
                 fewer ensemble members",
                s.detectors, self.max_members
            )));
        }
        Ok(())
    }

    /// Checks the spec against the number of points it will score (and fit on).
    ///
    /// # Errors
    ///
    /// 422 `limit_exceeded` naming the limit: the shape (see [`Limits::check_spec`]), points
    /// times detectors, or the estimated LSTM arithmetic.
    pub(crate) fn check_work(&self, spec: &DetectorSpec, points: usize) -> Result<(), ApiError> {
        self.check_spec(spec)?;
        let s = shape(spec);
        let work = s.detectors.saturating_mul(points as u64);
        if work > self.max_point_detectors {
            return Err(exceeded(format!(
                "{points} points x {} detectors = {work}, more than the server's limit of {} \
                 points x detectors; use fewer detectors or a shorter series",
                s.detectors, self.max_point_detectors
            )));
        }
        let g = gflop(spec, points);
        if g > self.max_lstm_gflop {
            return Err(exceeded(format!(
                "the LSTM members need about {g:.0} GFLOP on {points} points, more than the \
                 server's limit of {:.0} GFLOP; lower epochs, hidden, layers, window or \
                 max_train_windows",
                self.max_lstm_gflop
            )));
        }
        Ok(())
    }

    /// Checks a dataset or column name's length.
    ///
    /// # Errors
    ///
    /// 422 `limit_exceeded` naming the limit.
    pub(crate) fn check_name(&self, what: &str, name: &str) -> Result<(), ApiError> {
        let chars = name.chars().count();
        if chars > self.max_name_chars {
            let start: String = name.chars().take(40).collect();
            return Err(exceeded(format!(
                "{what} `{start}...` has {chars} characters, more than the server's limit of {}; \
                 use a shorter name",
                self.max_name_chars
            )));
        }
        Ok(())
    }
}

/// 422 `limit_exceeded`.
pub(crate) fn exceeded(message: String) -> ApiError {
    ApiError::unprocessable("limit_exceeded", message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(v: serde_json::Value) -> DetectorSpec {
        tsad_engine::parse_spec(&v).unwrap().0
    }

    fn ensemble(members: Vec<serde_json::Value>) -> serde_json::Value {
        json!({"kind": "ensemble", "policy": "any", "members": members})
    }

    #[test]
    fn work_limits_table() {
        let limits = Limits::default();
        let nested = (0..4).fold(json!({"kind": "mad"}), |inner, _| ensemble(vec![inner]));
        let wide = ensemble(vec![json!({"kind": "mad"}); 33]);
        let big_lstm = json!({"kind": "lstm_forecast", "hidden": 256, "epochs": 200});
        let cases: Vec<(&str, serde_json::Value, usize, Option<&str>)> = vec![
            (
                "the default preset",
                json!({"preset": "hybrid-benford"}),
                100_000,
                None,
            ),
            (
                "default lstm on 1M points",
                json!({"kind": "lstm_forecast"}),
                1_000_000,
                None,
            ),
            (
                "3 levels",
                (0..3).fold(json!({"kind": "mad"}), |i, _| ensemble(vec![i])),
                10,
                None,
            ),
            ("4 levels", nested, 10, Some("limit of 3")),
            ("33 members", wide, 10, Some("limit of 32")),
            (
                "32 members x 10M points",
                ensemble(vec![json!({"kind": "mad"}); 32]),
                10_000_000,
                Some("points x detectors"),
            ),
            ("a huge lstm", big_lstm, 100_000, Some("GFLOP")),
        ];
        for (name, v, points, want) in cases {
            let got = limits.check_work(&spec(v), points);
            match (want, got) {
                (None, Ok(())) => {}
                (Some(w), Err(e)) => {
                    assert_eq!(e.code(), "limit_exceeded", "{name}");
                    assert!(e.message().contains(w), "{name}: {}", e.message());
                }
                (want, got) => panic!("{name}: wanted {want:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn names_are_capped_by_characters_not_bytes() {
        let limits = Limits::default();
        assert!(limits.check_name("name", &"é".repeat(256)).is_ok());
        let e = limits.check_name("name", &"x".repeat(257)).unwrap_err();
        assert!(e.message().contains("257 characters"), "{}", e.message());
        assert!(e.message().len() < 200, "the name is not echoed whole");
    }
}
