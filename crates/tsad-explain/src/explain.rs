//! The deterministic plain-language explanation of an [`Evidence`]: no LLM, the same evidence
//! always gives the same text.

use crate::evidence::{Evidence, LevelKind};
use crate::format::{count, duration, num, short, signed, time};
use tsad_core::{Direction, TimeAxis};

/// Why an event short of the threshold is an event (`tsad_core::standout`).
pub(crate) const STANDOUT_WHY: &str = "short of it, but kept because it stands at least ten \
                                        times rarer than anything else in the series";

/// Factor by which the noise after an event must differ from the noise before it to be said.
pub(crate) const NOISE_CHANGE: f64 = 1.5;

/// Correlation from which an earlier stretch is called "similar" in words.
pub(crate) const SIMILAR_CORRELATION: f64 = 0.7;

/// Explains `evidence` in short paragraphs with its numbers: when, how far from expected and
/// how rare, which detectors, earlier seasons, level and noise before versus after, similar earlier
/// episodes and data quality.
pub fn explain(evidence: &Evidence) -> String {
    [
        when(evidence),
        peak(evidence),
        rank_and_detectors(evidence),
        seasons(evidence),
        level(evidence),
        noise(evidence),
        similar(evidence),
        quality(evidence),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join("\n\n")
}

pub(crate) fn high_low(d: Direction) -> &'static str {
    match d {
        Direction::Up => "unusually high",
        Direction::Down => "unusually low",
        Direction::Unknown => "unusual",
    }
}

pub(crate) fn above_below(d: f64) -> &'static str {
    if d >= 0.0 { "above" } else { "below" }
}

pub(crate) fn when(e: &Evidence) -> Option<String> {
    let axis = e.time_axis;
    let how = high_low(e.direction);
    let span = match e.duration_ms {
        Some(ms) => format!("{}, {}", count(e.points, "point", "points"), duration(ms)),
        None => count(e.points, "point", "points"),
    };
    Some(if e.points == 1 {
        format!(
            "At {} (a single point), the series was {how}.",
            time(e.start_time, axis)
        )
    } else {
        format!(
            "From {} to {} ({span}, {} flagged), the series was {how}.",
            time(e.start_time, axis),
            time(e.end_time, axis),
            e.flagged
        )
    })
}

pub(crate) fn peak(e: &Evidence) -> Option<String> {
    let p = &e.peak;
    let at = if e.points == 1 {
        "At that point".to_owned()
    } else {
        format!("At the peak ({})", time(e.peak_time, e.time_axis))
    };
    let Some(actual) = p.actual else {
        return Some(format!(
            "{at} the value is missing; the detector flagged the point itself (a missing \
             value can break a pattern)."
        ));
    };
    let mut s = match (p.expected, p.baseline) {
        // A detector of changes around a point (of spread, say) expects the value itself.
        (Some(expected), _) if expected == actual => {
            return Some(format!(
                "{at} the value was {}, as the model expected: the detector scored a change \
                 around this point, not the value itself.",
                num(actual)
            ));
        }
        (Some(expected), _) => {
            let band = match (p.lower, p.upper) {
                (Some(lo), Some(hi)) => format!(", normal band {} to {}", num(lo), num(hi)),
                _ => String::new(),
            };
            format!(
                "{at} the value was {} where the model expected {}{band}",
                num(actual),
                num(expected)
            )
        }
        (None, Some(b)) => format!(
            "{at} the value was {}, against a baseline of {} ({})",
            num(actual),
            num(b),
            p.basis
        ),
        (None, None) => format!("{at} the value was {}", num(actual)),
    };
    if let Some(d) = p.deviation {
        s.push_str(&format!(": {}", signed(d)));
        match p.deviation_sigma {
            Some(z) => s.push_str(&format!(
                ", {} {} {}.",
                short(z.abs()),
                p.sigma_unit,
                above_below(z)
            )),
            None => s.push_str(
                " (the baseline does not vary, so it cannot be put in standard deviations).",
            ),
        }
    } else {
        s.push('.');
    }
    Some(s)
}

fn rank_and_detectors(e: &Evidence) -> Option<String> {
    let p = &e.peak;
    let mut parts = Vec::new();
    if let Some(score) = p.score {
        let mut s = format!("Its anomaly score, {}", short(score));
        if let Some(r) = &e.rank {
            s.push_str(&format!(", is {}", r.label));
        } else {
            s.push_str(" is defined");
        }
        match (p.severity, p.threshold) {
            (Some(sev), Some(t)) if p.standout => s.push_str(&format!(
                ", {} of the threshold ({}): {STANDOUT_WHY}.",
                short(sev),
                short(t)
            )),
            (Some(sev), Some(t)) => s.push_str(&format!(
                ", {} times the threshold ({}).",
                short(sev),
                short(t)
            )),
            (Some(sev), None) => s.push_str(&format!(", {} times the threshold.", short(sev))),
            _ => s.push('.'),
        }
        parts.push(s);
    }
    parts.push(detectors_sentence(e));
    Some(parts.join(" "))
}

pub(crate) fn detectors_sentence(e: &Evidence) -> String {
    match e.detectors.as_slice() {
        [] => String::new(),
        [one] if (one.share - 1.0).abs() < 1e-9 && e.detectors.len() == 1 => {
            format!("The {} detector flagged it.", one.name)
        }
        many => {
            let parts: Vec<String> = many
                .iter()
                .map(|d| {
                    let z = d.score_at_peak.map_or(String::new(), |z| {
                        format!(", score {} at the peak", short(z))
                    });
                    format!("{} {}{z}", d.name, crate::format::percent(d.share))
                })
                .collect();
            format!(
                "The ensemble's members shared the evidence: {}.",
                parts.join("; ")
            )
        }
    }
}

pub(crate) fn seasons(e: &Evidence) -> Option<String> {
    let s = &e.seasons;
    if s.comparisons.is_empty() && s.same_phase_median.is_none() {
        return None;
    }
    let mut parts: Vec<String> = s
        .comparisons
        .iter()
        .map(|c| match (c.value, c.difference) {
            (Some(v), Some(d)) => format!(
                "{}: {} at {} (now {})",
                c.label,
                num(v),
                time(c.time, e.time_axis),
                signed(d)
            ),
            (Some(v), None) => format!("{}: {} at {}", c.label, num(v), time(c.time, e.time_axis)),
            _ => format!("{}: missing", c.label),
        })
        .collect();
    if let Some(m) = s.same_phase_median {
        parts.push(format!(
            "the median at this phase over {} was {}",
            count(s.same_phase_count, "earlier period", "earlier periods"),
            num(m)
        ));
    }
    let mut text = format!("Earlier seasons: {}.", parts.join("; "));
    // A look-back that matches the peak suggests a recurring pattern the model does not know.
    let tolerance = match (e.peak.sigma, e.peak.deviation) {
        (Some(sig), Some(dev)) => Some((2.0 * sig).max(0.25 * dev.abs())),
        _ => None,
    };
    if let Some(tol) = tolerance
        && let Some(c) = s
            .comparisons
            .iter()
            .find(|c| c.difference.is_some_and(|d| d.abs() <= tol))
    {
        text.push_str(&format!(
            " The value {} was close to this one, so this may be a recurring pattern rather \
             than a one-off.",
            c.label.split(" (").next().unwrap_or(&c.label)
        ));
    }
    Some(text)
}

pub(crate) fn level(e: &Evidence) -> Option<String> {
    let l = &e.level;
    let shape = match e.direction {
        Direction::Down => "dip",
        _ => "spike",
    };
    let medians = match (l.before_median, l.after_median, l.change) {
        (Some(b), Some(a), Some(c)) => {
            let z = l
                .change_sigma
                .map_or(String::new(), |z| format!(", {} σ", short(z)));
            format!(
                "the median was {} in the {} points before and {} in the {} points after ({}{z})",
                num(b),
                l.before_points,
                num(a),
                l.after_points,
                signed(c)
            )
        }
        _ => String::new(),
    };
    Some(match l.kind {
        LevelKind::LevelShift => format!(
            "Level: {medians}. The series moved to a new level and stayed there: a level \
             shift, not a one-off {shape}."
        ),
        LevelKind::Transient => format!(
            "Level: {medians}. The series returned to its earlier level: a transient {shape}."
        ),
        LevelKind::Partial => format!(
            "Level: {medians}. The level moved, but by less than half the peak's excursion: \
             the series only partly recovered."
        ),
        LevelKind::Undetermined => {
            let why = if l.after_points < 3 {
                format!(
                    "the series ends {} after the event",
                    count(l.after_points, "point", "points")
                )
            } else if l.before_points < 3 {
                "the event is at the start of the series".to_owned()
            } else {
                "too many values around the event are missing".to_owned()
            };
            format!("Level: cannot tell whether the level changed: {why}.")
        }
    })
}

/// How much noisier or calmer the series is after the event than before: said only when the
/// spread of its steps changed by at least [`NOISE_CHANGE`] either way and by at least three
/// standard errors of such a ratio (the log of a MAD from `n` normal values varies by about
/// `sqrt(1.36 / n)`), so the few points near a series' end do not make one up.
pub(crate) fn noise(e: &Evidence) -> Option<String> {
    let v = &e.noise;
    let (before, after) = (v.before?, v.after?);
    let se = (1.36 / v.before_steps.max(1) as f64 + 1.36 / v.after_steps.max(1) as f64).sqrt();
    let ratio = after / before;
    let least = NOISE_CHANGE.ln().max(3.0 * se);
    let how = if ratio.ln() >= least {
        format!("{} times larger", short(ratio))
    } else if -ratio.ln() >= least {
        format!("{} times smaller", short(1.0 / ratio))
    } else {
        return None;
    };
    Some(format!(
        "Noise: the steps from point to point were {how} after the event than before (typically \
         {} over the {} steps after, {} over the {} before): a change of spread.",
        num(after),
        v.after_steps,
        num(before),
        v.before_steps
    ))
}

pub(crate) fn similar(e: &Evidence) -> Option<String> {
    let axis = e.time_axis;
    let close: Vec<String> = e
        .similar
        .iter()
        .filter(|s| s.correlation >= SIMILAR_CORRELATION)
        .map(|s| {
            let flagged = if s.flagged == Some(true) {
                ", also flagged"
            } else {
                ""
            };
            let value = match (s.peak_sigma, s.value_at_peak) {
                (Some(z), _) => format!(", up to {} σ from expected", short(z)),
                (None, Some(v)) => format!(", value {} at the peak's position", num(v)),
                _ => String::new(),
            };
            format!(
                "{} (correlation {}{value}{flagged})",
                time(s.start_time, axis),
                short(s.correlation)
            )
        })
        .collect();
    Some(match (close.is_empty(), e.similar.first()) {
        (false, _) => format!(
            "Similar shapes earlier in the series: {}.",
            close.join("; ")
        ),
        (true, Some(best)) => format!(
            "No earlier stretch has a clearly similar shape (the closest, at {}, correlates \
             at {}).",
            time(best.start_time, axis),
            short(best.correlation)
        ),
        (true, None) => {
            "There is too little data before the event to look for similar episodes.".to_owned()
        }
    })
}

pub(crate) fn quality(e: &Evidence) -> Option<String> {
    let q = &e.data_quality;
    Some(if q.notes.is_empty() {
        if e.time_axis == TimeAxis::EpochMillis {
            "Data quality: no missing values, gaps or duplicate timestamps near the event."
                .to_owned()
        } else {
            "Data quality: no missing values near the event.".to_owned()
        }
    } else {
        format!("Data quality: {}", q.notes.join(" "))
    })
}
