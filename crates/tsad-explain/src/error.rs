//! [`ExplainError`]: bad input to the evidence, a bad LLM configuration, or a provider failure,
//! each with a message for users and a cause for the log.

use std::time::Duration;

/// What went wrong while computing evidence, configuring an LLM provider or asking it.
///
/// `Display` is the cause for logs (never the API key); [`ExplainError::user_message`] is the
/// sentence to show in the chat.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExplainError {
    /// The series, scores or event do not fit together.
    #[error("invalid input: {reason}")]
    InvalidInput {
        /// What does not fit.
        reason: String,
    },
    /// The LLM configuration (environment or file) is unusable.
    #[error("invalid LLM configuration: {reason}")]
    Config {
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// The provider did not answer (or stopped sending) within the timeout.
    #[error("{provider} did not answer within {} s", after.as_secs_f64())]
    Timeout {
        /// Who was asked.
        provider: String,
        /// The configured timeout.
        after: Duration,
    },
    /// The provider could not be reached (refused, DNS, TLS).
    #[error("cannot reach {provider}: {reason}")]
    Connect {
        /// Who was asked.
        provider: String,
        /// The transport's reason.
        reason: String,
    },
    /// The provider rejected the API key (401, 403, or a 400 that says so).
    #[error("{provider} rejected the API key (HTTP {status}): {detail}")]
    Unauthorized {
        /// Who was asked.
        provider: String,
        /// The HTTP status.
        status: u16,
        /// The provider's message.
        detail: String,
    },
    /// The provider is rate-limiting us (429).
    #[error("{provider} is rate-limiting requests (HTTP 429): {detail}")]
    RateLimited {
        /// Who was asked.
        provider: String,
        /// The provider's message.
        detail: String,
        /// Seconds to wait, when the provider said (`Retry-After`).
        retry_after: Option<u64>,
    },
    /// The provider failed (5xx).
    #[error("{provider} failed (HTTP {status}): {detail}")]
    Provider {
        /// Who was asked.
        provider: String,
        /// The HTTP status.
        status: u16,
        /// The provider's message.
        detail: String,
    },
    /// The provider refused the request (another 4xx: unknown model, bad parameter).
    #[error("{provider} refused the request (HTTP {status}): {detail}")]
    Rejected {
        /// Who was asked.
        provider: String,
        /// The HTTP status.
        status: u16,
        /// The provider's message.
        detail: String,
    },
    /// The prompt is larger than the model's context (llama.cpp's `exceed_context_size_error`,
    /// OpenAI's `context_length_exceeded`, or a message that says so).
    #[error(
        "{provider} refused a prompt larger than its context (HTTP {}): {detail}",
        status.map_or_else(|| "error event".to_owned(), |s| s.to_string())
    )]
    ContextOverflow {
        /// Who was asked.
        provider: String,
        /// The HTTP status, or `None` for an error event in a stream.
        status: Option<u16>,
        /// The prompt's tokens, when the provider said.
        prompt_tokens: Option<u64>,
        /// The model's context in tokens, when the provider said.
        context_tokens: Option<u64>,
        /// tsad's estimate of the prompt's tokens.
        estimated_tokens: usize,
        /// The budget the prompt was built for (`TSAD_LLM_CONTEXT_TOKENS`).
        budget: usize,
        /// The provider's message.
        detail: String,
    },
    /// The provider does not serve the configured model (OpenAI's `model_not_found`, a 404 or
    /// 400 that says the model does not exist).
    #[error(
        "{provider} does not know the model `{model}` (HTTP {}): {detail}",
        status.map_or_else(|| "error event".to_owned(), |s| s.to_string())
    )]
    UnknownModel {
        /// Who was asked.
        provider: String,
        /// The model asked for.
        model: String,
        /// The HTTP status, or `None` for an error event in a stream.
        status: Option<u16>,
        /// The provider's message.
        detail: String,
    },
    /// The provider reported an error outside an HTTP error status (an error event in a
    /// streamed answer, or an error body sent with 200).
    #[error("{provider} reported an error: {detail}")]
    StreamFailed {
        /// Who was asked.
        provider: String,
        /// The provider's reason.
        detail: String,
    },
    /// The provider's reply is not the chat-completions shape.
    #[error("{provider} sent a reply that is not a chat completion: {reason}")]
    Malformed {
        /// Who was asked.
        provider: String,
        /// What was wrong with it.
        reason: String,
    },
}

impl ExplainError {
    /// A stable code for the API: `invalid_input`, `invalid_llm_config`, `llm_timeout`,
    /// `llm_unreachable`, `llm_unauthorized`, `llm_rate_limited`, `llm_failed`,
    /// `llm_rejected`, `llm_context_overflow`, `llm_unknown_model`, `llm_bad_reply`.
    pub fn code(&self) -> &'static str {
        match self {
            ExplainError::InvalidInput { .. } => "invalid_input",
            ExplainError::Config { .. } => "invalid_llm_config",
            ExplainError::Timeout { .. } => "llm_timeout",
            ExplainError::Connect { .. } => "llm_unreachable",
            ExplainError::Unauthorized { .. } => "llm_unauthorized",
            ExplainError::RateLimited { .. } => "llm_rate_limited",
            ExplainError::Provider { .. } => "llm_failed",
            ExplainError::Rejected { .. } => "llm_rejected",
            ExplainError::ContextOverflow { .. } => "llm_context_overflow",
            ExplainError::UnknownModel { .. } => "llm_unknown_model",
            ExplainError::StreamFailed { .. } => "llm_failed",
            ExplainError::Malformed { .. } => "llm_bad_reply",
        }
    }

    /// True for failures of the LLM provider (as opposed to our input or configuration).
    pub fn is_provider_failure(&self) -> bool {
        !matches!(
            self,
            ExplainError::InvalidInput { .. } | ExplainError::Config { .. }
        )
    }

    /// The HTTP status a server should answer with: 504 for a timeout, 502 for other
    /// provider failures, 500 otherwise.
    pub fn http_status(&self) -> u16 {
        match self {
            ExplainError::Timeout { .. } => 504,
            e if e.is_provider_failure() => 502,
            _ => 500,
        }
    }

    /// What to tell the user, in one or two sentences: what happened and what to do.
    pub fn user_message(&self) -> String {
        match self {
            ExplainError::InvalidInput { reason } => {
                format!("The evidence could not be computed: {reason}.")
            }
            ExplainError::Config { reason } => {
                format!("The LLM is not configured correctly: {reason}.")
            }
            ExplainError::Timeout { provider, after } => format!(
                "The LLM ({provider}) did not answer within {} s. Try again, or raise \
                 TSAD_LLM_TIMEOUT_SECS.",
                after.as_secs()
            ),
            ExplainError::Connect { provider, .. } => format!(
                "Cannot reach the LLM ({provider}). Is it running, and is TSAD_LLM_BASE_URL \
                 right?"
            ),
            ExplainError::Unauthorized {
                provider, status, ..
            } => format!(
                "The LLM ({provider}) rejected the API key (HTTP {status}). Check \
                 TSAD_LLM_API_KEY (or GEMINI_API_KEY)."
            ),
            ExplainError::RateLimited {
                provider,
                retry_after,
                ..
            } => match retry_after {
                Some(s) => format!(
                    "The LLM ({provider}) is rate-limiting requests (HTTP 429). Try again in \
                     {s} s."
                ),
                None => format!(
                    "The LLM ({provider}) is rate-limiting requests or the quota is used up \
                     (HTTP 429). Wait a minute and try again."
                ),
            },
            ExplainError::Provider {
                provider, status, ..
            } => {
                format!("The LLM ({provider}) failed on its side (HTTP {status}). Try again later.")
            }
            ExplainError::Rejected {
                provider,
                status,
                detail,
            } => format!(
                "The LLM ({provider}) refused the request (HTTP {status}): {detail}. Check \
                 TSAD_LLM_MODEL and TSAD_LLM_BASE_URL."
            ),
            ExplainError::ContextOverflow {
                provider,
                prompt_tokens,
                context_tokens,
                estimated_tokens,
                budget,
                ..
            } => {
                let prompt = match prompt_tokens {
                    Some(n) => format!("{n} tokens"),
                    None => format!("about {estimated_tokens} tokens by tsad's estimate"),
                };
                let (context, lower) = match context_tokens {
                    Some(n) => (
                        format!("a context of {n} tokens"),
                        format!("to at most {n}"),
                    ),
                    None => (
                        "its context".to_owned(),
                        "to the model's context".to_owned(),
                    ),
                };
                format!(
                    "The prompt is larger than the model's context: {prompt} for {context} \
                     ({provider}). tsad sized it for TSAD_LLM_CONTEXT_TOKENS={budget}: lower \
                     TSAD_LLM_CONTEXT_TOKENS {lower}, or give the model a larger context \
                     (llama.cpp: --ctx-size; Ollama: num_ctx)."
                )
            }
            ExplainError::UnknownModel {
                provider,
                model,
                status,
                detail,
            } => format!(
                "The LLM ({provider}) does not know the model `{model}`{}: {detail}. Set \
                 TSAD_LLM_MODEL to a model it serves (GET <TSAD_LLM_BASE_URL>/models lists \
                 them).",
                status.map_or_else(String::new, |s| format!(" (HTTP {s})"))
            ),
            ExplainError::StreamFailed { provider, detail } => {
                format!("The LLM ({provider}) stopped with an error: {detail}.")
            }
            ExplainError::Malformed { provider, .. } => format!(
                "The LLM ({provider}) sent a reply tsad cannot read. Is TSAD_LLM_BASE_URL an \
                 OpenAI-compatible endpoint (it usually ends in /v1/)?"
            ),
        }
    }
}
