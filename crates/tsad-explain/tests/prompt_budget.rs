//! The chat prompt fits its token budget (issue 17): every prompt built for synthetic runs and
//! for the NAB corpus stays within `prompt_limit`, and trimming follows the priorities (the
//! event's evidence, then the run summary, then the neighbourhood, history and similar episodes).

use serde_json::json;
use tsad_core::stats::{MAD_TO_SIGMA, median_mad};
use tsad_core::{Event, EventOptions, Scores, Series, Threshold, events};
use tsad_explain::{
    ChatInput, ChatMessage, DEFAULT_CONTEXT_TOKENS, EvidenceContext, Focus, MIN_CONTEXT_TOKENS,
    Role, answer_reserve, build_prompt_within, estimate_prompt_tokens, estimate_tokens,
    prompt_limit,
};
use tsad_testing::{Rng, nab_dir};

const HOUR: i64 = 3_600_000;
const T0: i64 = 1_700_006_400_000;

/// Robust z of the residuals from the median, thresholded at 5 and merged into events.
fn detect(series: &Series) -> (Scores, Vec<bool>, Vec<Event>) {
    let finite: Vec<f64> = series
        .values()
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    let (m, mad) = median_mad(&finite).unwrap();
    let sigma = (mad * MAD_TO_SIGMA).max(1e-9);
    let score = series
        .values()
        .iter()
        .map(|v| ((v - m) / sigma).abs())
        .collect();
    let scores = Scores::new(score).with_expected(vec![m; series.len()]);
    let cut = Threshold::Robust { k: 5.0 }.apply(&scores.score).unwrap();
    let found = events(series, &scores, &cut, &EventOptions::default());
    (scores, cut.flags, found)
}

/// A conversation of `n` long turns ending with a long question.
fn long_history(n: usize) -> Vec<ChatMessage> {
    let mut out: Vec<ChatMessage> = (0..n)
        .map(|i| {
            let role = if i % 2 == 0 {
                Role::User
            } else {
                Role::Assistant
            };
            ChatMessage::new(role, format!("turn {i}: {}", "12.5 at 03:00, ".repeat(300)))
        })
        .collect();
    out.push(ChatMessage::new(
        Role::User,
        format!("Why is this anomalous? {}", "Really, why? ".repeat(2000)),
    ));
    out
}

/// Every prompt for `series`'s largest events (at most `max_events`), with and without
/// history, at each budget: within the limit, with the question last.
fn check_series(name: &str, series: &Series, max_events: usize) -> usize {
    let (scores, flags, found) = detect(series);
    let ctx = EvidenceContext::new(series, &scores)
        .unwrap()
        .with_flags(&flags)
        .with_detector("zscore");
    let summary = ctx.summary(&found);
    let mut order: Vec<usize> = (0..found.len()).collect();
    order.sort_by(|&a, &b| found[b].peak_score.total_cmp(&found[a].peak_score));
    order.truncate(max_events);
    let histories = [
        vec![ChatMessage::new(Role::User, "Why is this anomalous?")],
        long_history(30),
    ];
    let mut built = 0;
    let evidences: Vec<_> = order
        .iter()
        .map(|&i| {
            (
                i,
                ctx.evidence(&found[i]).unwrap(),
                ctx.neighbourhood(&found[i], 60),
            )
        })
        .collect();
    for budget in [MIN_CONTEXT_TOKENS, DEFAULT_CONTEXT_TOKENS, 8192] {
        for history in &histories {
            let mut focuses: Vec<Option<Focus<'_>>> = evidences
                .iter()
                .map(|(i, e, near)| {
                    Some(Focus {
                        index: *i,
                        evidence: e,
                        neighbourhood: near,
                        chosen_by_user: true,
                    })
                })
                .collect();
            focuses.push(None);
            for focus in focuses {
                let input = ChatInput {
                    summary: &summary,
                    focus,
                    context: Some(&"a long description ".repeat(40)),
                    messages: history,
                };
                let prompt = build_prompt_within(&input, budget);
                let tokens = estimate_prompt_tokens(&prompt);
                assert!(
                    tokens <= prompt_limit(budget),
                    "{name}: {tokens} tokens for a budget of {budget} (limit {})",
                    prompt_limit(budget)
                );
                assert!(tokens + answer_reserve(budget) <= budget, "{name}");
                assert_eq!(prompt.last().unwrap().role, Role::User, "{name}");
                if focus.is_some() {
                    assert!(
                        prompt[0].content.contains("The evidence in words:"),
                        "{name}: the event's evidence was dropped at {budget}"
                    );
                }
                built += 1;
            }
        }
    }
    built
}

#[test]
fn estimates_err_on_the_safe_side() {
    // Digits and punctuation count one each; other text one per 3 bytes, rounded up.
    let cases = [
        ("", 0),
        ("a", 1),
        ("abcd", 2),
        ("1234", 4),
        ("{\"a\":1}", 7),
        ("robust σ", 3),
    ];
    for (text, want) in cases {
        assert_eq!(estimate_tokens(text), want, "{text:?}");
    }
    // English prose: well above the usual 4 characters per token.
    let prose = "The value rose far above what the model expected for this hour of the day.";
    assert!(estimate_tokens(prose) * 3 >= prose.len());
}

#[test]
fn synthetic_runs_fit_every_budget() {
    let n = 24 * 60;
    let mut rng = Rng::new(17);
    let mut values: Vec<f64> = (0..n)
        .map(|i| 100.0 + 10.0 * (2.0 * std::f64::consts::PI * i as f64 / 24.0).sin() + rng.normal())
        .collect();
    for (k, i) in [200, 400, 655, 800, 1000, 1300].iter().enumerate() {
        values[*i] += 60.0 + 13.37 * k as f64;
    }
    let times = (0..n as i64).map(|i| T0 + i * HOUR).collect();
    let series = Series::new(times, values).unwrap();
    assert!(check_series("synthetic", &series, 6) > 0);
}

#[test]
fn trimming_keeps_the_evidence_first_and_drops_history_and_episodes_last() {
    let n = 24 * 30;
    let mut rng = Rng::new(3);
    let mut values: Vec<f64> = (0..n).map(|_| 50.0 + rng.normal()).collect();
    values[500] = 90.0;
    let times = (0..n as i64).map(|i| T0 + i * HOUR).collect();
    let series = Series::new(times, values).unwrap();
    let (scores, flags, found) = detect(&series);
    let ctx = EvidenceContext::new(&series, &scores)
        .unwrap()
        .with_flags(&flags);
    let i = found.iter().position(|e| e.peak == 500).unwrap();
    let evidence = ctx.evidence(&found[i]).unwrap();
    let near = ctx.neighbourhood(&found[i], 60);
    let summary = ctx.summary(&found);
    let history = long_history(6);
    let input = ChatInput {
        summary: &summary,
        focus: Some(Focus {
            index: i,
            evidence: &evidence,
            neighbourhood: &near,
            chosen_by_user: true,
        }),
        context: None,
        messages: &history,
    };
    // A large context keeps everything, untrimmed.
    let big = build_prompt_within(&input, 200_000);
    assert_eq!(big.len(), 1 + history.len());
    assert!(big[0].content.contains("Evidence (JSON):"));
    assert!(big[0].content.contains("Run summary"));
    assert!(big[0].content.contains("Points around the event"));
    assert!(!big[0].content.contains("left out"));
    let near_lines = |p: &[ChatMessage]| {
        p[0].content
            .split("Points around the event")
            .nth(1)
            .map_or(0, |rest| {
                rest.lines().filter(|l| l.contains(" UTC, ")).count()
            })
    };
    assert_eq!(near_lines(&big), near.len());

    // A middling context keeps the evidence and the summary, shortens the rest and says so.
    let small = build_prompt_within(&input, 4096);
    let system = &small[0].content;
    for part in [
        "the one the user selected",
        "The evidence in words:",
        "Evidence (JSON): {",
        "\"peak_index\":500",
        "Run summary",
        "left out to fit the model's context",
    ] {
        assert!(system.contains(part), "missing {part:?}");
    }
    assert!(small.len() < big.len(), "older history was kept");
    assert!(
        small
            .last()
            .unwrap()
            .content
            .starts_with("Why is this anomalous?")
    );
    assert!(small.last().unwrap().content.ends_with("[…]"));
    assert!(near_lines(&small) < near.len());

    // The default keeps the explanation in words whatever the question's length.
    let default = build_prompt_within(&input, DEFAULT_CONTEXT_TOKENS);
    assert!(default[0].content.contains("The evidence in words:"));
    assert!(default[0].content.contains("left out to fit"));
    assert!(estimate_prompt_tokens(&default) <= prompt_limit(DEFAULT_CONTEXT_TOKENS));

    // The smallest budget still keeps the explanation in words.
    let tiny = build_prompt_within(&input, MIN_CONTEXT_TOKENS);
    assert!(tiny[0].content.contains("The evidence in words:"));
    assert!(estimate_prompt_tokens(&tiny) <= prompt_limit(MIN_CONTEXT_TOKENS));
    // Floats are rounded in the JSON (no 15-digit noise).
    let json_part = big[0].content.split("Evidence (JSON): ").nth(1).unwrap();
    let json_line = json_part.lines().next().unwrap();
    let v: serde_json::Value = serde_json::from_str(json_line).unwrap();
    assert_eq!(v["peak_index"], json!(500));
    assert!(
        !json_line
            .split(|c: char| !c.is_ascii_digit() && c != '.')
            .any(|num| num.split('.').nth(1).is_some_and(|frac| frac.len() > 5)),
        "{json_line}"
    );
}

/// Every NAB series: its largest events' prompts fit (skipped without the corpus, except
/// with CI=true).
#[test]
fn nab_prompts_fit_the_budget() {
    let Some(dir) = nab_dir() else { return };
    let mut files = Vec::new();
    for group in std::fs::read_dir(dir.join("data")).unwrap() {
        let group = group.unwrap().path();
        if group.is_dir() {
            for f in std::fs::read_dir(&group).unwrap() {
                let f = f.unwrap().path();
                if f.extension().is_some_and(|e| e == "csv") {
                    files.push(f);
                }
            }
        }
    }
    files.sort();
    assert!(files.len() >= 50, "only {} NAB files", files.len());
    let mut built = 0;
    for f in &files {
        let ingested = tsad_io::read_path(f, &tsad_io::IngestOptions::default()).unwrap();
        built += check_series(&f.display().to_string(), &ingested.series, 2);
    }
    eprintln!("{built} prompts for {} NAB files fit", files.len());
}
