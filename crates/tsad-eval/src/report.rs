//! Text reports of NAB runs: the three profile scores, a per-category table, the time taken,
//! and the published scoreboard to compare with.

use crate::ScoreReport;
use std::fmt::Write;
use std::time::Duration;

/// Published NAB v1.1 scores, `(detector, standard, reward_low_FP_rate, reward_low_FN_rate)`,
/// best first, from NAB's `results/final_results.json` (the numenta and twitterADVec rows are
/// reproduced by this crate's tests from their raw results).
const SCOREBOARD: [(&str, f64, f64, f64); 5] = [
    (
        "ARTime",
        74.853_772_232_157_92,
        65.154_000_179_748_11,
        80.362_284_936_381_14,
    ),
    (
        "Numenta HTM",
        70.101_056_119_439_65,
        63.116_841_602_198_28,
        74.320_244_309_511_5,
    ),
    (
        "CAD OSE",
        69.899_568_968_448_28,
        66.977_139_190_474_13,
        73.181_672_504_166_67,
    ),
    (
        "Random Cut Forest",
        51.717_054_557_073_276,
        38.360_772_142_413_786,
        59.748_764_763_103_45,
    ),
    (
        "Twitter ADVec",
        47.061_957_254_081_89,
        33.610_051_641_206_894,
        53.501_074_951_005_74,
    ),
];

/// The published NAB v1.1 scoreboard rows to compare with:
/// `(detector, standard, reward_low_FP_rate, reward_low_FN_rate)`, best standard score first.
pub fn scoreboard() -> &'static [(&'static str, f64, f64, f64)] {
    &SCOREBOARD
}

fn score_of(reports: &[ScoreReport], profile: &str) -> Option<f64> {
    reports
        .iter()
        .find(|r| r.profile.name == profile)
        .and_then(|r| r.normalized)
}

fn cell(x: Option<f64>) -> String {
    x.map_or_else(|| "-".to_owned(), |v| format!("{v:.1}"))
}

/// A plain-text report of one detector's NAB run.
///
/// `reports` holds one [`ScoreReport`] per profile (as [`crate::evaluate`] returns them);
/// `name` labels the detector in the scoreboard; `elapsed` is the time the run took. The
/// report has four parts: each profile's threshold, raw and normalised score; a table per
/// category (files, windows, windows detected and false positives at the standard profile's
/// threshold, and each profile's normalised score, `-` for a category without windows); the
/// scoreboard with this detector ranked among the published ones; and the time.
pub fn report_table(name: &str, reports: &[ScoreReport], elapsed: Duration) -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    let Some(first) = reports.first() else {
        line(format!("{name}: no profile was scored"));
        return out;
    };
    let files = first.per_file.len();
    let windows: usize = first.per_file.iter().map(|f| f.windows).sum();
    line(format!(
        "NAB scores of `{name}` ({files} files, {windows} windows)"
    ));
    line(String::new());
    line(format!(
        "{:<10} {:>12} {:>12} {:>8}",
        "profile", "threshold", "raw", "score"
    ));
    for r in reports {
        line(format!(
            "{:<10} {:>12.6} {:>12.4} {:>8}",
            r.profile.short_name(),
            r.threshold,
            r.raw,
            r.normalized
                .map_or_else(|| "-".to_owned(), |v| format!("{v:.2}"))
        ));
    }

    line(String::new());
    let mut header = format!(
        "{:<22} {:>5} {:>7} {:>8} {:>9}",
        "category", "files", "windows", "detected", "false pos"
    );
    for r in reports {
        let _ = write!(header, " {:>8}", r.profile.short_name());
    }
    line(header);
    // Counts at the standard profile's threshold when present, else the first profile's.
    let base = reports
        .iter()
        .find(|r| r.profile.name == "standard")
        .unwrap_or(first);
    for cat in &base.per_category {
        let mut row = format!(
            "{:<22} {:>5} {:>7} {:>8} {:>9}",
            cat.category, cat.files, cat.windows, cat.detected_windows, cat.false_positives
        );
        for r in reports {
            let score = r
                .per_category
                .iter()
                .find(|c| c.category == cat.category)
                .and_then(|c| c.normalized);
            let _ = write!(row, " {:>8}", cell(score));
        }
        line(row);
    }
    line(format!(
        "(detected and false pos at the {} threshold)",
        base.profile.short_name()
    ));

    line(String::new());
    line(format!(
        "{:<22} {:>8} {:>8} {:>8}",
        "scoreboard", "standard", "low FP", "low FN"
    ));
    let ours = (
        score_of(reports, "standard"),
        score_of(reports, "reward_low_FP_rate"),
        score_of(reports, "reward_low_FN_rate"),
    );
    let mut placed = false;
    let ours_line = |line: &mut dyn FnMut(String)| {
        line(format!(
            "{:<22} {:>8} {:>8} {:>8}",
            format!("> {name}"),
            cell(ours.0),
            cell(ours.1),
            cell(ours.2)
        ));
    };
    for &(det, standard, low_fp, low_fn) in scoreboard() {
        if !placed && ours.0.unwrap_or(f64::NEG_INFINITY) >= standard {
            ours_line(&mut line);
            placed = true;
        }
        line(format!(
            "{det:<22} {standard:>8.1} {low_fp:>8.1} {low_fn:>8.1}"
        ));
    }
    if !placed {
        ours_line(&mut line);
    }
    line(String::new());
    line(format!("time: {:.1} s", elapsed.as_secs_f64()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Corpus, CorpusFile, FileResult, Profiles, ResultsSet, ThresholdMode, Window};

    #[test]
    fn scoreboard_is_sorted_and_complete() {
        let rows = scoreboard();
        assert_eq!(rows.len(), 5);
        assert!(rows.windows(2).all(|w| w[0].1 >= w[1].1));
        assert_eq!(rows[1].0, "Numenta HTM");
    }

    #[test]
    fn report_lists_profiles_categories_and_ranks() {
        let file = |name: &str, windows| {
            CorpusFile::new(name, (0..100).collect(), vec![0.0; 100], windows).unwrap()
        };
        let corpus = Corpus::from_files(vec![
            file("a/one.csv", vec![Window { start: 40, end: 49 }]),
            file("b/two.csv", vec![]),
        ]);
        let mut perfect = vec![0.0; 100];
        perfect[40] = 1.0;
        let results: ResultsSet = [
            (
                "a/one.csv".to_owned(),
                FileResult::new((0..100).collect(), perfect),
            ),
            (
                "b/two.csv".to_owned(),
                FileResult::new((0..100).collect(), vec![0.0; 100]),
            ),
        ]
        .into_iter()
        .collect();
        let reports = crate::evaluate(
            &corpus,
            &results,
            &Profiles::nab(),
            &ThresholdMode::Fixed(0.5),
        )
        .unwrap();
        let text = report_table("perfect", &reports, Duration::from_millis(1500));
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].contains("`perfect` (2 files, 1 windows)"),
            "{text}"
        );
        assert!(text.contains("low FN"), "{text}");
        let cat_b = lines.iter().find(|l| l.starts_with("b ")).unwrap();
        assert!(cat_b.ends_with("-        -        -"), "{cat_b}");
        // A perfect detector ranks first on the scoreboard.
        let board = lines
            .iter()
            .position(|l| l.starts_with("scoreboard"))
            .unwrap();
        assert!(lines[board + 1].starts_with("> perfect"), "{text}");
        assert!(lines[board + 1].contains("100.0"), "{text}");
        assert!(text.ends_with("time: 1.5 s\n"), "{text}");
    }
}
