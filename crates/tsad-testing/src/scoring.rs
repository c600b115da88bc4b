//! Fitting a detector on a series and reading its highest scores, as detector tests do.

use tsad_core::{Detector, FitContext, Scores, Series};

/// `detector` fitted on `values` (a row-numbered series) and scored on them.
///
/// # Panics
///
/// When the values do not make a series or the detector fails: a test's failure.
pub fn fit_and_score(detector: &dyn Detector, values: &[f64]) -> Scores {
    let series = Series::from_values(values.to_vec()).expect("a series");
    detector
        .fit(&series, &FitContext::new())
        .expect("the fit")
        .score(&series)
        .expect("the scores")
}

/// The place and value of the highest finite score, and the next highest value.
///
/// # Panics
///
/// With fewer than two finite scores.
pub fn highest_two(score: &[f64]) -> (usize, f64, f64) {
    let mut order: Vec<usize> = (0..score.len()).filter(|&i| score[i].is_finite()).collect();
    order.sort_by(|&a, &b| score[b].total_cmp(&score[a]));
    (order[0], score[order[0]], score[order[1]])
}
