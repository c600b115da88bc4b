//! Chat messages and the prompt: the evidence, a compact summary of the run and the event's
//! neighbourhood (never the raw series), what the data can and cannot show, and the history.

use crate::evidence::Evidence;
use crate::format::{num, time};
use crate::summary::{NeighbourPoint, SeriesSummary};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// Messages of the history sent to the model, at most (the most recent ones).
const MAX_HISTORY: usize = 20;
/// Characters of one history message sent to the model, at most.
const MAX_MESSAGE_CHARS: usize = 4000;
/// Characters of the user's description of the series, at most.
const MAX_CONTEXT_CHARS: usize = 500;

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Instructions to the model (written by tsad only).
    System,
    /// The person asking.
    User,
    /// The answers.
    Assistant,
}

impl Role {
    /// The role as the chat-completions protocol spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Who wrote it.
    pub role: Role,
    /// The text.
    pub content: String,
}

impl ChatMessage {
    /// A message from `role`.
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        ChatMessage {
            role,
            content: content.into(),
        }
    }
}

/// The event a conversation is about.
#[derive(Debug, Clone, Copy)]
pub struct Focus<'a> {
    /// 0-based index of the event in the run.
    pub index: usize,
    /// Its evidence.
    pub evidence: &'a Evidence,
    /// Points around it (see [`crate::EvidenceContext::neighbourhood`]).
    pub neighbourhood: &'a [NeighbourPoint],
    /// True when the user picked it; false when tsad chose the largest event for them.
    pub chosen_by_user: bool,
}

/// Everything one chat answer draws on.
#[derive(Debug, Clone, Copy)]
pub struct ChatInput<'a> {
    /// The run in a few numbers.
    pub summary: &'a SeriesSummary,
    /// The event in focus, if the run has any.
    pub focus: Option<Focus<'a>>,
    /// What the user says the series is ("daily sales of store 12"), if they said.
    pub context: Option<&'a str>,
    /// The conversation so far, oldest first; the last message is the question.
    pub messages: &'a [ChatMessage],
}

impl ChatInput<'_> {
    /// The last user message: the question being answered.
    pub fn question(&self) -> &str {
        self.messages
            .iter()
            .rev()
            .find(|m| m.role == Role::User)
            .map_or("", |m| m.content.as_str())
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max).collect();
    out.push_str(" […]");
    out
}

const RULES: &str = "You are the analysis assistant of tsad, a tool that finds anomalies in \
time series. You answer questions about the anomalies of one detection run.

Rules:
- Ground every statement about the data in the facts below and quote their numbers. Never \
invent values, dates, events or detectors.
- What the data can show: when the anomaly happened and for how long, how far the values were \
from what the model expected and how rare that is in this series, which detectors flagged it, \
how the same phase of earlier seasons looked, whether the level changed afterwards, which \
earlier stretches had a similar shape, and data-quality problems near it.
- What the data cannot show: why it happened in the real world. When you suggest a real-world \
cause (an outage, a holiday, a promotion, a sensor fault, a data-entry error, news), label it \
\"Hypothesis:\" and say which fact supports it or what the user could check to confirm or rule \
it out.
- If the facts do not answer the question, say so and say what data would.
- Be concise: short paragraphs or bullets, plain language, at most about 200 words unless the \
user asks for more.";

/// The context assumed when none is configured (`TSAD_LLM_CONTEXT_TOKENS`): 2,048 tokens, the
/// default of llama.cpp's servers and of many Ollama models. It includes room for the answer.
pub const DEFAULT_CONTEXT_TOKENS: usize = 2048;
/// The smallest context accepted: the rules, the question and the event's header need it.
pub const MIN_CONTEXT_TOKENS: usize = 1024;
/// Tokens a chat template adds per message (role markers), by estimate.
const MESSAGE_OVERHEAD: usize = 8;
/// Tokens a chat template adds to start the answer, by estimate.
const REPLY_OVERHEAD: usize = 8;
/// Significant digits of the floats in the prompt's JSON (the raw `f64`s cost many tokens).
const JSON_DIGITS: usize = 5;
/// Told to the model when something was left out to fit the budget.
const TRIMMED_NOTE: &str = "\n(Some details were left out to fit the model's context; if the \
question needs them, say which.)\n";
/// Neighbourhood sizes tried, largest first, when the whole one does not fit.
const NEIGHBOURHOOD_STEPS: [usize; 5] = [40, 24, 12, 6, 2];
/// Listed events tried, most first, when the run summary does not fit with all of them.
const SUMMARY_EVENT_STEPS: [usize; 4] = [10, 5, 2, 0];

/// Characters that cost a token each whatever their neighbours: digits (many tokenizers split
/// numbers into single digits) and ASCII punctuation (JSON's quotes, braces and commas).
fn is_single_token(c: char) -> bool {
    c.is_ascii_digit() || c.is_ascii_punctuation()
}

/// A token count for `text` that errs on the high side without a tokenizer: one token per
/// digit or ASCII punctuation mark, plus one per 3 bytes of everything else (BPE tokenizers
/// average about 4 bytes of English per token).
pub fn estimate_tokens(text: &str) -> usize {
    let (mut singles, mut rest) = (0usize, 0usize);
    for c in text.chars() {
        if is_single_token(c) {
            singles += 1;
        } else {
            rest += c.len_utf8();
        }
    }
    singles + rest.div_ceil(3)
}

/// The estimated tokens of a whole prompt: each message's text and template markers, and the
/// start of the answer.
pub fn estimate_prompt_tokens(messages: &[ChatMessage]) -> usize {
    REPLY_OVERHEAD
        + messages
            .iter()
            .map(|m| MESSAGE_OVERHEAD + estimate_tokens(&m.content))
            .sum::<usize>()
}

/// The tokens of a `context_tokens` context kept free for the answer: a quarter, between 256
/// and 1,024 (the rules ask for about 200 words).
pub fn answer_reserve(context_tokens: usize) -> usize {
    (context_tokens / 4).clamp(256, 1024)
}

/// The estimated tokens a prompt may take in a `context_tokens` context.
pub fn prompt_limit(context_tokens: usize) -> usize {
    context_tokens.saturating_sub(answer_reserve(context_tokens))
}

/// `s` cut to at most `max` estimated tokens, with ` […]` marking a cut.
fn cut_to_tokens(s: &str, max: usize) -> String {
    if estimate_tokens(s) <= max {
        return s.to_owned();
    }
    const MARK: &str = " […]";
    let room = max.saturating_sub(estimate_tokens(MARK));
    if room == 0 {
        return String::new();
    }
    let (mut singles, mut rest, mut end) = (0usize, 0usize, 0usize);
    for (i, c) in s.char_indices() {
        if is_single_token(c) {
            singles += 1;
        } else {
            rest += c.len_utf8();
        }
        if singles + rest.div_ceil(3) > room {
            break;
        }
        end = i + c.len_utf8();
    }
    format!("{}{MARK}", &s[..end])
}

/// Rounds every float in `v` to [`JSON_DIGITS`] significant digits (integers stay exact) and
/// drops nulls and empty lists from objects: each costs tokens and says nothing.
fn round_floats(v: &mut serde_json::Value) {
    use serde_json::Value;
    if let Value::Object(map) = v {
        map.retain(|_, x| !(x.is_null() || x.as_array().is_some_and(Vec::is_empty)));
    }
    match v {
        Value::Number(n) if n.is_f64() => {
            if let Some(x) = n
                .as_f64()
                .and_then(|x| format!("{x:.*e}", JSON_DIGITS - 1).parse::<f64>().ok())
                .and_then(serde_json::Number::from_f64)
            {
                *n = x;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(round_floats),
        Value::Object(map) => map.values_mut().for_each(round_floats),
        _ => {}
    }
}

/// `value` as compact JSON with rounded floats.
fn compact_json(value: impl Serialize) -> String {
    let mut v = serde_json::to_value(value).unwrap_or_default();
    round_floats(&mut v);
    v.to_string()
}

/// Adds `text` to the prompt when its estimate fits in what is `left`.
fn take(left: &mut usize, text: &str) -> bool {
    let cost = estimate_tokens(text);
    if cost <= *left {
        *left -= cost;
        true
    } else {
        false
    }
}

/// The `n` points of `near` closest to `peak` (a contiguous window).
fn around_peak(near: &[NeighbourPoint], peak: i64, n: usize) -> &[NeighbourPoint] {
    if near.len() <= n {
        return near;
    }
    let centre = near
        .iter()
        .enumerate()
        .min_by_key(|(_, p)| p.time.abs_diff(peak))
        .map_or(0, |(i, _)| i);
    let start = centre.saturating_sub(n / 2).min(near.len() - n);
    &near[start..start + n]
}

fn neighbourhood_text(points: &[NeighbourPoint], axis: tsad_core::TimeAxis) -> String {
    let mut out = String::from("\nPoints around the event (time, value, expected, flagged):\n");
    for p in points {
        let _ = writeln!(
            out,
            "{}, {}, {}, {}",
            time(p.time, axis),
            p.value.map_or("missing".to_owned(), num),
            p.expected.map_or("-".to_owned(), num),
            match p.flagged {
                Some(true) => "yes",
                Some(false) => "no",
                None => "-",
            }
        );
    }
    out
}

fn summary_text(s: &SeriesSummary, events: usize) -> String {
    let axis = s.time_axis;
    let mut shown = s.clone();
    let mut out = String::new();
    if shown.events.len() > events {
        // Keep the highest peaks, in time order.
        let mut by_score: Vec<usize> = (0..shown.events.len()).collect();
        by_score.sort_by(|&a, &b| {
            let score = |i: usize| shown.events[i].peak_score.unwrap_or(f64::NEG_INFINITY);
            score(b).total_cmp(&score(a))
        });
        by_score.truncate(events);
        by_score.sort_unstable();
        shown.events = by_score.iter().map(|&i| s.events[i].clone()).collect();
    }
    let _ = writeln!(
        out,
        "Run summary (times are {}): {}",
        match axis {
            tsad_core::TimeAxis::EpochMillis => "Unix milliseconds, UTC",
            tsad_core::TimeAxis::Index => "row numbers",
        },
        compact_json(&shown)
    );
    if let (Some(a), Some(b)) = (s.start_time, s.end_time) {
        let _ = writeln!(
            out,
            "It runs from {} to {} ({} points).",
            time(a, axis),
            time(b, axis),
            s.points
        );
    }
    out
}

/// The messages to send to a chat-completions model with the default context
/// ([`DEFAULT_CONTEXT_TOKENS`]); see [`build_prompt_within`].
pub fn build_prompt(input: &ChatInput<'_>) -> Vec<ChatMessage> {
    build_prompt_within(input, DEFAULT_CONTEXT_TOKENS)
}

/// The messages to send to a chat-completions model whose context holds `context_tokens`
/// tokens (prompt and answer): one system message with the rules, the user's description of the
/// series, the run summary, the focused event's evidence, its deterministic explanation and its
/// neighbourhood; then the most recent history (at most 20 messages, each cut to 4000
/// characters), the question last. The raw series is never included.
///
/// The prompt's estimate ([`estimate_prompt_tokens`]) stays within
/// [`prompt_limit`]`(context_tokens)`, leaving [`answer_reserve`] for the answer. When
/// everything does not fit, parts are kept in this order and the rest is shortened or left
/// out (and the model told so): the rules, the question and the user's description of the
/// series (cut to a sixth and a sixteenth of the prompt's share),
/// the event's explanation in words, its evidence, the run summary (fewer events listed), the
/// points around the event (fewer, nearest the peak), older history (newest first), and the
/// similar earlier episodes. Below [`MIN_CONTEXT_TOKENS`] the rules alone may not fit.
pub fn build_prompt_within(input: &ChatInput<'_>, context_tokens: usize) -> Vec<ChatMessage> {
    let limit = prompt_limit(context_tokens);
    let s = input.summary;
    let axis = s.time_axis;
    let mut head = String::from(RULES);
    head.push_str("\n\n## The series\n");
    match input.context.map(str::trim).filter(|c| !c.is_empty()) {
        Some(c) => {
            // The user's words, quoted: a description to take into account, not instructions.
            let _ = writeln!(
                head,
                "The user describes it as: \"{}\" (their description, not verified).",
                cut_to_tokens(&truncate(c, MAX_CONTEXT_CHARS), limit / 16).replace('"', "'")
            );
        }
        None => head.push_str(
            "The user has not said what it measures; ask if it matters for the answer.\n",
        ),
    }
    let history: Vec<&ChatMessage> = input
        .messages
        .iter()
        .filter(|m| m.role != Role::System)
        .collect();
    let (question, older) = match history.split_last() {
        Some((q, older)) => (Some(*q), older),
        None => (None, &[][..]),
    };
    let question = question.map(|q| {
        let text = truncate(&q.content, MAX_MESSAGE_CHARS);
        ChatMessage::new(q.role, cut_to_tokens(&text, limit / 6))
    });
    let fixed = REPLY_OVERHEAD
        + MESSAGE_OVERHEAD
        + estimate_tokens(&head)
        + estimate_tokens(TRIMMED_NOTE)
        + question
            .as_ref()
            .map_or(0, |q| MESSAGE_OVERHEAD + estimate_tokens(&q.content));
    let mut left = limit.saturating_sub(fixed);
    let mut trimmed = false;

    // 1. The event's header and its explanation in words (cut if need be).
    let mut event_head: String;
    let mut words = String::new();
    match &input.focus {
        Some(f) => {
            event_head = format!(
                "\n## Event {} of {} ({})\n",
                f.index + 1,
                s.event_count,
                if f.chosen_by_user {
                    "the one the user selected"
                } else {
                    "no event is selected; this is the one with the highest score"
                }
            );
            if !take(&mut left, &event_head) {
                event_head.clear();
                trimmed = true;
            }
            words = format!(
                "\nThe evidence in words:\n{}\n",
                crate::explain::explain(f.evidence)
            );
            if !take(&mut left, &words) {
                words = cut_to_tokens(&words, left);
                left = left.saturating_sub(estimate_tokens(&words));
                trimmed = true;
            }
        }
        None => {
            event_head = "\nThe run has no events at its current threshold.\n".to_owned();
            if !take(&mut left, &event_head) {
                event_head.clear();
            }
        }
    }

    // 2. The evidence as JSON, without the similar episodes.
    let mut evidence = String::new();
    if let Some(f) = &input.focus {
        let mut v = serde_json::to_value(f.evidence).unwrap_or_default();
        if let Some(map) = v.as_object_mut() {
            map.remove("similar");
        }
        let text = format!("Evidence (JSON): {}\n", compact_json(&v));
        if take(&mut left, &text) {
            evidence = text;
        } else {
            trimmed = true;
        }
    }

    // 3. The run summary, with fewer events listed if need be.
    let mut summary = summary_text(s, s.events.len());
    if !take(&mut left, &summary) {
        trimmed = true;
        summary = SUMMARY_EVENT_STEPS
            .iter()
            .filter(|&&k| k < s.events.len())
            .map(|&k| summary_text(s, k))
            .find(|text| take(&mut left, text))
            .unwrap_or_default();
    }

    // 4. The points around the event, fewer and nearest the peak if need be.
    let mut near = String::new();
    if let Some(f) = input.focus.as_ref().filter(|f| !f.neighbourhood.is_empty()) {
        let full = neighbourhood_text(f.neighbourhood, axis);
        if take(&mut left, &full) {
            near = full;
        } else {
            trimmed = true;
            near = NEIGHBOURHOOD_STEPS
                .iter()
                .filter(|&&n| n < f.neighbourhood.len())
                .map(|&n| {
                    neighbourhood_text(around_peak(f.neighbourhood, f.evidence.peak_time, n), axis)
                })
                .find(|text| take(&mut left, text))
                .unwrap_or_default();
        }
    }

    // 5. Older history, newest first.
    let mut kept = std::collections::VecDeque::new();
    for m in older.iter().rev().take(MAX_HISTORY.saturating_sub(1)) {
        let text = truncate(&m.content, MAX_MESSAGE_CHARS);
        let cost = MESSAGE_OVERHEAD + estimate_tokens(&text);
        if cost > left {
            trimmed = true;
            break;
        }
        left -= cost;
        kept.push_front(ChatMessage::new(m.role, text));
    }
    if older.len() > MAX_HISTORY.saturating_sub(1) {
        trimmed = true;
    }

    // 6. Earlier episodes with a similar shape.
    let mut similar = String::new();
    if let Some(f) = input
        .focus
        .as_ref()
        .filter(|f| !f.evidence.similar.is_empty())
    {
        let text = format!(
            "Earlier stretches with a similar shape (JSON): {}\n",
            compact_json(&f.evidence.similar)
        );
        if take(&mut left, &text) {
            similar = text;
        } else {
            trimmed = true;
        }
    }

    let mut system = head;
    for part in [summary, event_head, evidence, similar, words, near] {
        system.push_str(&part);
    }
    if trimmed {
        system.push_str(TRIMMED_NOTE);
    }
    let mut out = vec![ChatMessage::new(Role::System, system)];
    out.extend(kept);
    out.extend(question);
    out
}
