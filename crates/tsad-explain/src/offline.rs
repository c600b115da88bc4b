//! Offline answers: with no LLM configured, the chat still answers from the evidence, routed
//! by simple keywords ("why", "when", "similar", "what should I check", ...).

use crate::chat::{ChatInput, Focus, Role};
use crate::evidence::{Evidence, LevelKind};
use crate::explain::{self, SIMILAR_CORRELATION};
use crate::format::{count, num, percent, short, time};
use crate::summary::SeriesSummary;

/// The one line that says how to connect an LLM.
pub const CONNECT_HINT: &str = "(Answered offline from the evidence. To let an LLM answer, set \
TSAD_LLM_BASE_URL and TSAD_LLM_MODEL, or just GEMINI_API_KEY, and restart tsad.)";

/// What a question is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Topic {
    Why,
    Events,
    When,
    HowUnusual,
    Detectors,
    Seasons,
    Level,
    Similar,
    Quality,
    /// The world outside the series: news, holidays, weather, deployments.
    Outside,
    Check,
}

const KEYWORDS: &[(Topic, &[&str])] = &[
    (
        Topic::Outside,
        &[
            "news",
            "holiday",
            "weather",
            "storm",
            "election",
            "strike",
            "festival",
            "deploy",
            "release",
            "outage",
            "incident",
            "what caused",
            "in the world",
            "real world",
            "real-world",
        ],
    ),
    (
        Topic::Check,
        &[
            "check",
            "should i",
            "next",
            "investigat",
            "look at",
            "what to do",
            "what can i do",
            "action",
            "fix",
            "verify",
            "confirm",
        ],
    ),
    (
        Topic::Similar,
        &[
            "similar",
            "happened before",
            "before?",
            "again",
            "previous",
            "history",
            "like this",
            "earlier episode",
            "recur",
            "repeat",
            "other time",
        ],
    ),
    (
        Topic::Events,
        &[
            "how many",
            "list",
            "all event",
            "other event",
            "which event",
            "biggest event",
            "events",
        ],
    ),
    (
        Topic::When,
        &[
            "when",
            "since",
            "how long",
            "duration",
            "start",
            "begin",
            "what time",
            "what day",
        ],
    ),
    (
        Topic::HowUnusual,
        &[
            "how unusual",
            "how rare",
            "how big",
            "how bad",
            "how severe",
            "severity",
            "significant",
            "score",
            "rank",
            "sigma",
            "extreme",
            "how much",
            "how far",
            "deviat",
            "outlier",
        ],
    ),
    (
        Topic::Detectors,
        &[
            "detector",
            "which model",
            "flagged by",
            "member",
            "benford",
            "lstm",
            "ensemble",
            "zscore",
            "z-score",
            "mad ",
            "method",
            "algorithm",
            "who flagged",
        ],
    ),
    (
        Topic::Seasons,
        &[
            "season",
            "period",
            "week",
            "yesterday",
            "day ago",
            "daily",
            "same time",
            "usual",
            "normal for",
            "pattern",
            "cycle",
        ],
    ),
    (
        Topic::Level,
        &[
            "level",
            "shift",
            "trend",
            "recover",
            "back to normal",
            "after",
            "permanent",
            "stay",
            "persist",
            "transient",
            "temporary",
            "one-off",
            "noise",
            "noisier",
            "volatil",
            "spread",
        ],
    ),
    (
        Topic::Quality,
        &[
            "data quality",
            "quality",
            "missing",
            "gap",
            "duplicate",
            "glitch",
            "error in the data",
            "bad data",
            "corrupt",
            "nan",
        ],
    ),
    (
        Topic::Why,
        &[
            "why",
            "explain",
            "cause",
            "reason",
            "what happened",
            "anomal",
            "wrong",
            "what is this",
        ],
    ),
];

fn topics(question: &str) -> Vec<Topic> {
    let q = format!("{} ", question.to_lowercase());
    let mut out: Vec<Topic> = KEYWORDS
        .iter()
        .filter(|(_, words)| words.iter().any(|w| q.contains(w)))
        .map(|(t, _)| *t)
        .collect();
    if out.is_empty() {
        out.push(Topic::Why);
    }
    // A "why" answer also says what to check next: the data shows what, not why.
    if (out.contains(&Topic::Why) || out.contains(&Topic::Outside)) && !out.contains(&Topic::Check)
    {
        out.push(Topic::Check);
    }
    out
}

/// Answers the last question of `input` from the evidence alone: what was flagged, how unusual,
/// since when, which detectors, similar episodes, what to check next; tailored to the question
/// by keywords. The first answer of a conversation ends with one line on how to connect an
/// LLM; later ones do not repeat it.
pub fn offline_answer(input: &ChatInput<'_>) -> String {
    let s = input.summary;
    let mut parts: Vec<String> = Vec::new();
    let topics = topics(input.question());
    let first_answer = !input.messages.iter().any(|m| m.role == Role::Assistant);
    let hint = first_answer.then(|| CONNECT_HINT.to_owned());
    let Some(focus) = input.focus else {
        parts.push(no_events(s));
        parts.extend(hint);
        return parts.join("\n\n");
    };
    let e = focus.evidence;
    if !focus.chosen_by_user {
        parts.push(format!(
            "No event is selected, so this is about the one with the highest score: event {} of \
             {}, at {}. Select another event in the table to ask about it.",
            focus.index + 1,
            s.event_count,
            time(e.peak_time, e.time_axis)
        ));
    }
    for topic in &topics {
        let text = match topic {
            Topic::Why => Some(explain::explain(e)),
            Topic::Events => Some(events_list(s, &focus)),
            Topic::When => Some(when(e)),
            Topic::HowUnusual => Some(how_unusual(e)),
            Topic::Detectors => Some(explain::detectors_sentence(e)),
            Topic::Seasons => Some(explain::seasons(e).unwrap_or_else(|| {
                "No period was found in this series and it has no timestamps a day or a week \
                 earlier, so there is no earlier season to compare with."
                    .to_owned()
            })),
            Topic::Level => explain::level(e).map(|level| match explain::noise(e) {
                Some(noise) => format!("{level}\n\n{noise}"),
                None => level,
            }),
            Topic::Similar => explain::similar(e),
            Topic::Quality => explain::quality(e),
            Topic::Outside => Some(
                "The series is all this answer can see: it cannot know about news, holidays, \
                 weather, deployments or incidents, so it cannot say whether one of them caused \
                 this. Check the records below against the event's time."
                    .to_owned(),
            ),
            Topic::Check => Some(checks(e, input.context)),
        };
        if let Some(t) = text.filter(|t| !t.is_empty())
            && !parts.iter().any(|p| p.contains(&t))
        {
            parts.push(t);
        }
    }
    parts.extend(hint);
    parts.join("\n\n")
}

fn no_events(s: &SeriesSummary) -> String {
    let axis = s.time_axis;
    let span = match (s.start_time, s.end_time) {
        (Some(a), Some(b)) => format!(" from {} to {}", time(a, axis), time(b, axis)),
        _ => String::new(),
    };
    let range = match (s.median, s.p05, s.p95) {
        (Some(m), Some(lo), Some(hi)) => format!(
            " Its median is {}, and 90% of the values lie between {} and {}.",
            num(m),
            num(lo),
            num(hi)
        ),
        _ => String::new(),
    };
    format!(
        "This run flagged no events at its current threshold, so there is nothing to explain \
         yet. The series has {}{span}.{range} To see smaller deviations, lower the threshold \
         (a smaller k, or a higher sensitivity) and ask again.",
        count(s.points, "point", "points")
    )
}

fn events_list(s: &SeriesSummary, focus: &Focus<'_>) -> String {
    let axis = s.time_axis;
    let mut lines = vec![format!(
        "The run has {} at its current threshold{}:",
        count(s.event_count, "event", "events"),
        if s.event_count > s.events.len() {
            format!(
                " (the {} with the highest scores are listed)",
                s.events.len()
            )
        } else {
            String::new()
        }
    )];
    for b in &s.events {
        let dir = match b.direction {
            tsad_core::Direction::Up => "up",
            tsad_core::Direction::Down => "down",
            tsad_core::Direction::Unknown => "unusual",
        };
        let value = match (b.actual, b.expected) {
            (Some(a), Some(x)) => format!(", value {} vs expected {}", num(a), num(x)),
            (Some(a), None) => format!(", value {}", num(a)),
            _ => String::new(),
        };
        let mark = if b.index == focus.index {
            " ← this one"
        } else {
            ""
        };
        lines.push(format!(
            "- event {}: {} ({}, {dir}{value}, score {}){mark}",
            b.index + 1,
            time(b.start_time, axis),
            count(b.points, "point", "points"),
            b.peak_score.map_or("n/a".to_owned(), short)
        ));
    }
    lines.join("\n")
}

fn when(e: &Evidence) -> String {
    let mut s = explain::when(e).unwrap_or_default();
    if e.points > 1 {
        s.push_str(&format!(
            " The peak was at {}.",
            time(e.peak_time, e.time_axis)
        ));
    }
    match e.level.kind {
        LevelKind::LevelShift => s.push_str(&format!(
            " The level has stayed changed since then ({} after versus {} before).",
            e.level.after_median.map_or("n/a".to_owned(), num),
            e.level.before_median.map_or("n/a".to_owned(), num)
        )),
        LevelKind::Transient => s.push_str(" The series was back at its earlier level afterwards."),
        _ => {}
    }
    s
}

fn how_unusual(e: &Evidence) -> String {
    let mut parts = Vec::new();
    if let Some(p) = explain::peak(e) {
        parts.push(p);
    }
    if let Some(r) = &e.rank {
        let rarity = if r.position == 1 {
            "Nothing else in the series scored as high.".to_owned()
        } else {
            format!(
                "Only {} of the series' {} points scored higher.",
                r.position - 1,
                r.of
            )
        };
        parts.push(format!("Its score is {}. {rarity}", r.label));
    }
    match e.peak.severity {
        Some(sev) if e.peak.standout => parts.push(format!(
            "It reached {} of the threshold: {}.",
            short(sev),
            explain::STANDOUT_WHY
        )),
        Some(sev) => parts.push(format!("It went {} times past the threshold.", short(sev))),
        None => {}
    }
    parts.join(" ")
}

/// What a user could check next, derived from the evidence.
fn checks(e: &Evidence, context: Option<&str>) -> String {
    let axis = e.time_axis;
    let what = context
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map_or("the series".to_owned(), |c| format!("\"{c}\""));
    let mut items: Vec<String> = Vec::new();
    if !e.data_quality.notes.is_empty() {
        items.push(format!(
            "Verify the data first: {}",
            e.data_quality.notes.join(" ")
        ));
    }
    match e.level.kind {
        LevelKind::LevelShift => items.push(format!(
            "Look for a change that started around {}: a release or configuration change, a new \
             price or policy, a replaced sensor or a new data source. A level that stays changed \
             is rarely a one-off glitch.",
            time(e.start_time, axis)
        )),
        LevelKind::Transient => items.push(format!(
            "Look for a one-off around {}: an outage or incident, a batch job, a holiday or \
             promotion, or a data-entry error{}.",
            time(e.peak_time, axis),
            match (e.peak.actual, e.peak.baseline) {
                (Some(a), Some(b)) => format!(" (the value {} against {})", num(a), num(b)),
                _ => String::new(),
            }
        )),
        LevelKind::Partial => items.push(format!(
            "Watch the points after {}: the level has not fully returned, so it may still be \
             settling or the start of a slower change.",
            time(e.end_time, axis)
        )),
        LevelKind::Undetermined => items.push(
            "Wait for more data after the event (or load a longer series) to see whether the \
             level returns."
                .to_owned(),
        ),
    }
    let tolerance = match (e.peak.sigma, e.peak.deviation) {
        (Some(sig), Some(dev)) => Some((2.0 * sig).max(0.25 * dev.abs())),
        _ => None,
    };
    if let Some(tol) = tolerance
        && let Some(c) = e
            .seasons
            .comparisons
            .iter()
            .find(|c| c.difference.is_some_and(|d| d.abs() <= tol))
    {
        items.push(format!(
            "The value {} was similar: check whether this is a regular pattern (a weekly peak, \
             a month-end) that the detector does not model.",
            c.label.split(" (").next().unwrap_or(&c.label)
        ));
    }
    if let Some(s) = e
        .similar
        .iter()
        .find(|s| s.correlation >= SIMILAR_CORRELATION)
    {
        items.push(format!(
            "Compare with {} (a similar shape, correlation {}): if the same cause explains both, \
             this is a recurring kind of event.",
            time(s.start_time, axis),
            short(s.correlation)
        ));
    }
    if let Some(top) = e.detectors.first()
        && let Some(hint) = detector_hint(top.kind.as_deref().unwrap_or(&top.name))
    {
        if e.detectors.len() > 1 {
            items.push(format!(
                "{} carried {} of the evidence: {hint}",
                top.name,
                percent(top.share)
            ));
        } else {
            let mut chars = hint.chars();
            let first = chars.next().map(|c| c.to_uppercase().to_string());
            items.push(format!("{}{}", first.unwrap_or_default(), chars.as_str()));
        }
    }
    items.push(format!(
        "Compare {} with an outside record for {} (incident log, calendar, release history, \
         news): the data alone cannot tell the real-world cause.",
        what,
        time(e.start_time, axis)
    ));
    let mut out = String::from("What to check next:");
    for item in items {
        out.push_str("\n- ");
        out.push_str(&item);
    }
    out
}

fn detector_hint(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "benford" => {
            "the benford detector looks at the first digits of the values in a window, not at \
             their size: check for rounding, capped or invented values, or a change of units."
        }
        "lstm_forecast" => {
            "the LSTM forecaster could not predict this point from the ones before it: the \
             series did something its training data never showed."
        }
        "lstm_autoencoder" => {
            "the LSTM autoencoder could not reconstruct this window: its shape is one the model \
             did not see in training."
        }
        "seasonal" => {
            "the seasonal detector compares each value with trend + season: the value broke \
             the usual pattern for this time of the cycle."
        }
        "zscore" | "mad" => {
            "the rolling detector compares each value with the recent window: this was a \
             sudden move relative to the points just before it."
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn questions_route_to_topics() {
        let cases: &[(&str, &[Topic])] = &[
            ("Why is this anomalous?", &[Topic::Why, Topic::Check]),
            ("When did it start?", &[Topic::When]),
            ("Has anything similar happened before?", &[Topic::Similar]),
            ("What should I check?", &[Topic::Check]),
            ("Which detector flagged it?", &[Topic::Detectors]),
            ("Is this a level shift?", &[Topic::Level]),
            ("Is it more volatile now?", &[Topic::Level]),
            ("Did the noise grow?", &[Topic::Level]),
            ("hello", &[Topic::Why, Topic::Check]),
        ];
        for (q, want) in cases {
            let got = topics(q);
            for t in *want {
                assert!(got.contains(t), "{q}: {got:?} lacks {t:?}");
            }
        }
    }
}
