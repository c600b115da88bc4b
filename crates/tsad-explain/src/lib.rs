#![doc = include_str!("../README.md")]

mod chat;
mod error;
mod evidence;
mod explain;
pub mod format;
mod llm;
mod offline;
mod summary;

pub use chat::{
    ChatInput, ChatMessage, DEFAULT_CONTEXT_TOKENS, Focus, MIN_CONTEXT_TOKENS, Role,
    answer_reserve, build_prompt, build_prompt_within, estimate_prompt_tokens, estimate_tokens,
    prompt_limit,
};
pub use error::ExplainError;
pub use evidence::{
    DataQuality, DetectorShare, Evidence, EvidenceContext, GapNote, Level, LevelKind, NOISE_WINDOW,
    Noise, Peak, Rank, SeasonComparison, Seasons, SimilarEpisode,
};
pub use explain::explain;
pub use llm::{
    ApiKey, DEFAULT_TIMEOUT, GEMINI_BASE_URL, GEMINI_DEFAULT_MODEL, LlmClient, LlmConfig,
};
pub use offline::{CONNECT_HINT, offline_answer};
pub use summary::{EventBrief, NeighbourPoint, SeriesSummary, largest_event};

/// Reads a stored event back from JSON, where undefined floats were written as `null`
/// (`actual`, `peak_score`, `severity` become NaN).
///
/// # Errors
///
/// [`ExplainError::InvalidInput`] when the value is not an event.
pub fn event_from_json(value: &serde_json::Value) -> Result<tsad_core::Event, ExplainError> {
    let mut v = value.clone();
    let mut undefined = Vec::new();
    if let Some(obj) = v.as_object_mut() {
        for key in ["actual", "peak_score", "severity"] {
            if obj.get(key).is_some_and(serde_json::Value::is_null) {
                obj.insert(key.to_owned(), serde_json::json!(0.0));
                undefined.push(key);
            }
        }
    }
    let mut event: tsad_core::Event =
        serde_json::from_value(v).map_err(|e| ExplainError::InvalidInput {
            reason: format!("a stored event cannot be read: {e}"),
        })?;
    for key in undefined {
        match key {
            "actual" => event.actual = f64::NAN,
            "peak_score" => event.peak_score = f64::NAN,
            _ => event.severity = f64::NAN,
        }
    }
    Ok(event)
}
