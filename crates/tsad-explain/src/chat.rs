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

/// The messages to send to a chat-completions model: one system message with the rules, the
/// user's description of the series, the run summary, the focused event's evidence, its
/// deterministic explanation and its neighbourhood; then the most recent history (at most 20
/// messages, each cut to 4000 characters). The raw series is never included.
pub fn build_prompt(input: &ChatInput<'_>) -> Vec<ChatMessage> {
    let mut system = String::from(RULES);
    let s = input.summary;
    let axis = s.time_axis;
    system.push_str("\n\n## The series\n");
    match input.context.map(str::trim).filter(|c| !c.is_empty()) {
        Some(c) => {
            // The user's words, quoted: a description to take into account, not instructions.
            let _ = writeln!(
                system,
                "The user describes it as: \"{}\" (their description, not verified).",
                truncate(c, MAX_CONTEXT_CHARS).replace('"', "'")
            );
        }
        None => system.push_str(
            "The user has not said what it measures; ask if it matters for the answer.\n",
        ),
    }
    let _ = writeln!(
        system,
        "Run summary (times are {}): {}",
        match axis {
            tsad_core::TimeAxis::EpochMillis => "Unix milliseconds, UTC",
            tsad_core::TimeAxis::Index => "row numbers",
        },
        serde_json::to_string(s).unwrap_or_default()
    );
    if let (Some(a), Some(b)) = (s.start_time, s.end_time) {
        let _ = writeln!(
            system,
            "It runs from {} to {} ({} points).",
            time(a, axis),
            time(b, axis),
            s.points
        );
    }
    match &input.focus {
        Some(f) => {
            let e = f.evidence;
            let _ = writeln!(
                system,
                "\n## Event {} of {} ({})",
                f.index + 1,
                s.event_count,
                if f.chosen_by_user {
                    "the one the user selected"
                } else {
                    "no event is selected; this is the one with the highest score"
                }
            );
            let _ = writeln!(
                system,
                "Evidence (JSON): {}",
                serde_json::to_string(e).unwrap_or_default()
            );
            let _ = writeln!(
                system,
                "\nThe same evidence in words:\n{}",
                crate::explain::explain(e)
            );
            if !f.neighbourhood.is_empty() {
                system.push_str("\nPoints around the event (time, value, expected, flagged):\n");
                for p in f.neighbourhood {
                    let _ = writeln!(
                        system,
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
            }
        }
        None => system.push_str("\nThe run has no events at its current threshold.\n"),
    }
    let mut out = vec![ChatMessage::new(Role::System, system)];
    let history: Vec<&ChatMessage> = input
        .messages
        .iter()
        .filter(|m| m.role != Role::System)
        .collect();
    let skip = history.len().saturating_sub(MAX_HISTORY);
    out.extend(
        history
            .into_iter()
            .skip(skip)
            .map(|m| ChatMessage::new(m.role, truncate(&m.content, MAX_MESSAGE_CHARS))),
    );
    out
}
