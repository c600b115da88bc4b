//! The LLM side: configuration (environment or a JSON file) and a client for the
//! OpenAI-compatible chat-completions protocol (Gemini, OpenAI, Ollama, llama.cpp, vLLM),
//! plain and streaming (server-sent events), with every failure mapped to an [`ExplainError`].

use crate::ExplainError;
use crate::chat::{
    ChatMessage, DEFAULT_CONTEXT_TOKENS, MIN_CONTEXT_TOKENS, estimate_prompt_tokens,
};
use futures::StreamExt;
use futures::stream::BoxStream;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::path::Path;
use std::time::Duration;
use tokio::time::Instant;

/// Gemini's OpenAI-compatible endpoint, used when only `GEMINI_API_KEY` is set.
pub const GEMINI_BASE_URL: &str = "https://generativelanguage.googleapis.com/v1beta/openai/";
/// The model used with Gemini when `TSAD_LLM_MODEL` is not set.
pub const GEMINI_DEFAULT_MODEL: &str = "gemini-2.5-flash";
/// How long a provider may take when `TSAD_LLM_TIMEOUT_SECS` is not set.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// A streamed answer may take this many timeouts in all (each chunk must still come within
/// one timeout of the previous one).
const STREAM_TIMEOUTS: u32 = 5;
/// The largest context budget accepted (`TSAD_LLM_CONTEXT_TOKENS`).
const MAX_CONTEXT_TOKENS: usize = 10_000_000;
/// Characters of a provider's error message kept in our errors.
const MAX_DETAIL_CHARS: usize = 300;

/// An API key. Its `Debug` is redacted, it has no `Display` and no `Serialize`: it is read from
/// the environment or a file and only ever leaves the process in the `Authorization` header.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key.
    pub fn new(key: impl Into<String>) -> Self {
        ApiKey(key.into())
    }

    /// The key itself, for the `Authorization` header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// Where and how to ask an LLM. `Debug` never shows the key.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmConfig {
    /// The provider's OpenAI-compatible base URL (`https://api.openai.com/v1/`,
    /// `http://localhost:11434/v1/`), or the full `.../chat/completions` URL.
    pub base_url: String,
    /// The model name (`gemini-2.5-flash`, `gpt-4o-mini`, `llama3.2`).
    pub model: String,
    /// Sent as `Authorization: Bearer <key>` when set (local servers need none).
    pub api_key: Option<ApiKey>,
    /// How long a plain answer may take, and how long a stream may wait for its next chunk
    /// (default 60 s).
    pub timeout: Duration,
    /// The model's context in tokens, prompt and answer together: the prompt is trimmed to fit
    /// it (default [`DEFAULT_CONTEXT_TOKENS`], at least [`MIN_CONTEXT_TOKENS`]).
    pub context_tokens: usize,
}

/// The JSON config file's shape (see [`LlmConfig::from_file`]).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    base_url: String,
    model: String,
    #[serde(default)]
    api_key: Option<ApiKey>,
    #[serde(default)]
    api_key_env: Option<String>,
    #[serde(default)]
    timeout_secs: Option<f64>,
    #[serde(default)]
    context_tokens: Option<usize>,
}

fn config_error(reason: impl Into<String>) -> ExplainError {
    ExplainError::Config {
        reason: reason.into(),
    }
}

fn check_context_tokens(n: usize, name: &str) -> Result<usize, ExplainError> {
    if (MIN_CONTEXT_TOKENS..=MAX_CONTEXT_TOKENS).contains(&n) {
        Ok(n)
    } else {
        Err(config_error(format!(
            "{name} must be a number of tokens between {MIN_CONTEXT_TOKENS} and \
             {MAX_CONTEXT_TOKENS} (the model's context, e.g. 2048 or 8192), got {n}"
        )))
    }
}

fn parse_context_tokens(raw: &str, name: &str) -> Result<usize, ExplainError> {
    let n = raw.trim().replace('_', "").parse::<usize>().map_err(|_| {
        config_error(format!(
            "{name} must be a number of tokens (the model's context, e.g. 2048 or 8192), got \
             `{raw}`"
        ))
    })?;
    check_context_tokens(n, name)
}

fn parse_timeout(raw: &str, name: &str) -> Result<Duration, ExplainError> {
    match raw.trim().parse::<f64>() {
        Ok(s) if s > 0.0 && s <= 3600.0 => Ok(Duration::from_secs_f64(s)),
        _ => Err(config_error(format!(
            "{name} must be a number of seconds between 0 and 3600, got `{raw}`"
        ))),
    }
}

impl LlmConfig {
    /// A provider at `base_url` serving `model`, with no key and the default timeout.
    pub fn new(base_url: impl Into<String>, model: impl Into<String>) -> Self {
        LlmConfig {
            base_url: base_url.into(),
            model: model.into(),
            api_key: None,
            timeout: DEFAULT_TIMEOUT,
            context_tokens: DEFAULT_CONTEXT_TOKENS,
        }
    }

    /// Gemini's OpenAI-compatible endpoint with `key` and the default model.
    pub fn gemini(key: ApiKey) -> Self {
        LlmConfig::new(GEMINI_BASE_URL, GEMINI_DEFAULT_MODEL).with_api_key(key)
    }

    /// Sets the API key.
    pub fn with_api_key(mut self, key: ApiKey) -> Self {
        self.api_key = Some(key);
        self
    }

    /// Sets the timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the model's context in tokens (prompt and answer).
    pub fn with_context_tokens(mut self, tokens: usize) -> Self {
        self.context_tokens = tokens;
        self
    }

    /// The configuration from the environment, or `None` for offline mode:
    ///
    /// - `TSAD_LLM_BASE_URL` with `TSAD_LLM_MODEL` and optionally `TSAD_LLM_API_KEY`: any
    ///   OpenAI-compatible provider (a Gemini URL defaults the model and takes
    ///   `GEMINI_API_KEY` too);
    /// - `GEMINI_API_KEY` alone: Gemini's OpenAI-compatible endpoint with
    ///   [`GEMINI_DEFAULT_MODEL`] (or `TSAD_LLM_MODEL`);
    /// - `TSAD_LLM_TIMEOUT_SECS`: the timeout in seconds (default 60);
    /// - `TSAD_LLM_CONTEXT_TOKENS`: the model's context in tokens, prompt and answer together
    ///   (default 2048); the prompt is trimmed to fit it.
    ///
    /// Empty variables count as unset.
    ///
    /// # Errors
    ///
    /// [`ExplainError::Config`] when the variables do not make a usable configuration (a base
    /// URL without a model, a model or key without a base URL, a bad URL or timeout).
    pub fn from_env() -> Result<Option<Self>, ExplainError> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// As [`LlmConfig::from_env`], reading variables through `var` (for tests and embedding).
    ///
    /// # Errors
    ///
    /// As [`LlmConfig::from_env`].
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, ExplainError> {
        let get = |name: &str| {
            var(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let base = get("TSAD_LLM_BASE_URL");
        let model = get("TSAD_LLM_MODEL");
        let key = get("TSAD_LLM_API_KEY").map(ApiKey);
        let gemini_key = get("GEMINI_API_KEY").map(ApiKey);
        let timeout = match get("TSAD_LLM_TIMEOUT_SECS") {
            Some(raw) => parse_timeout(&raw, "TSAD_LLM_TIMEOUT_SECS")?,
            None => DEFAULT_TIMEOUT,
        };
        let context_tokens = match get("TSAD_LLM_CONTEXT_TOKENS") {
            Some(raw) => parse_context_tokens(&raw, "TSAD_LLM_CONTEXT_TOKENS")?,
            None => DEFAULT_CONTEXT_TOKENS,
        };
        let config = match (base, gemini_key) {
            (Some(url), gemini_key) => {
                let is_gemini = url.contains("generativelanguage.googleapis.com");
                let model = model
                    .or_else(|| is_gemini.then(|| GEMINI_DEFAULT_MODEL.to_owned()))
                    .ok_or_else(|| {
                        config_error(
                            "TSAD_LLM_BASE_URL is set but TSAD_LLM_MODEL is not; name the \
                             model, e.g. llama3.2 (Ollama) or gpt-4o-mini (OpenAI)",
                        )
                    })?;
                LlmConfig {
                    base_url: url,
                    model,
                    api_key: key.or(if is_gemini { gemini_key } else { None }),
                    timeout,
                    context_tokens,
                }
            }
            (None, Some(gemini_key)) => LlmConfig {
                base_url: GEMINI_BASE_URL.to_owned(),
                model: model.unwrap_or_else(|| GEMINI_DEFAULT_MODEL.to_owned()),
                api_key: Some(gemini_key),
                timeout,
                context_tokens,
            },
            (None, None) => {
                if model.is_some() || key.is_some() {
                    return Err(config_error(
                        "TSAD_LLM_MODEL or TSAD_LLM_API_KEY is set but TSAD_LLM_BASE_URL is \
                         not; set it to the provider's OpenAI-compatible URL, e.g. \
                         https://api.openai.com/v1/ or http://localhost:11434/v1/",
                    ));
                }
                return Ok(None);
            }
        };
        config.validate()?;
        Ok(Some(config))
    }

    /// The configuration in a JSON file:
    /// `{"base_url": "...", "model": "...", "api_key": "..." | "api_key_env": "VAR",
    ///   "timeout_secs": 60, "context_tokens": 2048}` (all but `base_url` and `model` optional).
    ///
    /// # Errors
    ///
    /// [`ExplainError::Config`] when the file cannot be read or parsed, names an unset key
    /// variable, or holds an unusable URL, model or timeout.
    pub fn from_file(path: &Path) -> Result<Self, ExplainError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| config_error(format!("cannot read {}: {e}", path.display())))?;
        let file: FileConfig = serde_json::from_str(&text).map_err(|e| {
            config_error(format!(
                "{} is not a valid LLM config ({e}); expected {{\"base_url\", \"model\", \
                 \"api_key\" or \"api_key_env\", \"timeout_secs\", \"context_tokens\"}}",
                path.display()
            ))
        })?;
        let api_key = match (file.api_key, file.api_key_env) {
            (Some(k), _) => Some(k),
            (None, Some(var)) => Some(ApiKey(std::env::var(&var).map_err(|_| {
                config_error(format!(
                    "{} names the key variable {var}, which is not set",
                    path.display()
                ))
            })?)),
            (None, None) => None,
        };
        let timeout = match file.timeout_secs {
            Some(s) => parse_timeout(&s.to_string(), "timeout_secs")?,
            None => DEFAULT_TIMEOUT,
        };
        let context_tokens = match file.context_tokens {
            Some(n) => check_context_tokens(n, "context_tokens")?,
            None => DEFAULT_CONTEXT_TOKENS,
        };
        let config = LlmConfig {
            base_url: file.base_url,
            model: file.model,
            api_key,
            timeout,
            context_tokens,
        };
        config.validate()?;
        Ok(config)
    }

    /// Checks the URL (http or https), the model (not empty) and the timeout (not zero).
    ///
    /// # Errors
    ///
    /// [`ExplainError::Config`] listing every problem.
    pub fn validate(&self) -> Result<(), ExplainError> {
        let mut problems = Vec::new();
        if let Err(e) = self.endpoint() {
            problems.push(e);
        }
        if self.model.trim().is_empty() {
            problems.push("the model name is empty".to_owned());
        }
        if self.timeout.is_zero() {
            problems.push("the timeout is zero".to_owned());
        }
        if let Err(ExplainError::Config { reason }) =
            check_context_tokens(self.context_tokens, "the context")
        {
            problems.push(reason);
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(config_error(problems.join("; ")))
        }
    }

    /// The chat-completions URL: the base URL with `chat/completions` appended (unless it
    /// already ends so).
    fn endpoint(&self) -> Result<reqwest::Url, String> {
        let base = self.base_url.trim();
        let full = if base.trim_end_matches('/').ends_with("/chat/completions") {
            base.trim_end_matches('/').to_owned()
        } else if base.ends_with('/') {
            format!("{base}chat/completions")
        } else {
            format!("{base}/chat/completions")
        };
        let url = reqwest::Url::parse(&full)
            .map_err(|e| format!("the base URL `{base}` is not a URL ({e})"))?;
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err(format!(
                "the base URL `{base}` must start with http:// or https://"
            ));
        }
        if url.host_str().is_none() {
            return Err(format!("the base URL `{base}` has no host"));
        }
        Ok(url)
    }

    /// `<model> at <host>`: who answers, for status lines and logs (never the key).
    pub fn label(&self) -> String {
        match self.endpoint() {
            Ok(url) => {
                let host = url.host_str().unwrap_or("?");
                match url.port() {
                    Some(p) => format!("{} at {host}:{p}", self.model),
                    None => format!("{} at {host}", self.model),
                }
            }
            Err(_) => self.model.clone(),
        }
    }
}

/// A chat-completions client. Cheap to clone (the connection pool is shared).
#[derive(Debug, Clone)]
pub struct LlmClient {
    config: LlmConfig,
    endpoint: reqwest::Url,
    label: String,
    http: reqwest::Client,
}

/// The text of an error and its sources, for logs.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

fn truncate(s: &str, max: usize) -> String {
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.chars().count() <= max {
        s
    } else {
        let mut t: String = s.chars().take(max).collect();
        t.push('…');
        t
    }
}

/// The message in a provider's error body: `{"error": {"message"}}` (OpenAI, Gemini, vLLM),
/// `[{"error": ...}]`, `{"error": "..."}` (Ollama), or the text itself.
fn provider_detail(body: &str) -> String {
    let detail = serde_json::from_str::<Value>(body).ok().and_then(|v| {
        let v = v.as_array().and_then(|a| a.first().cloned()).unwrap_or(v);
        let err = v.get("error").unwrap_or(&v);
        err.get("message")
            .and_then(Value::as_str)
            .or_else(|| err.as_str())
            .map(str::to_owned)
    });
    let text = detail.unwrap_or_else(|| body.to_owned());
    if text.trim().is_empty() {
        "no message".to_owned()
    } else {
        truncate(&text, MAX_DETAIL_CHARS)
    }
}

/// What a provider's error body says, read leniently: llama.cpp's
/// `{"error": {"code": 400, "message", "type": "exceed_context_size_error", "n_prompt_tokens",
/// "n_ctx"}}`, OpenAI's `{"error": {"message", "type", "param", "code": "model_not_found"}}`,
/// Gemini's `[{"error": ...}]`, Ollama's `{"error": "..."}`, or text.
#[derive(Debug, Default)]
struct ErrorInfo {
    /// The message (see [`provider_detail`]).
    message: String,
    /// `type` and a textual `code`, lowercased and joined, for matching.
    kinds: String,
    /// A numeric `code` (llama.cpp's HTTP status in a stream's error event).
    status: Option<u16>,
    prompt_tokens: Option<u64>,
    context_tokens: Option<u64>,
}

/// The first number after any of `phrases` in `text` (already lowercased).
fn number_after(text: &str, phrases: &[&str]) -> Option<u64> {
    phrases.iter().find_map(|p| {
        let rest = &text[text.find(p)? + p.len()..];
        let digits: String = rest
            .trim_start()
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    })
}

fn error_info(body: &str) -> ErrorInfo {
    let mut info = ErrorInfo {
        message: provider_detail(body),
        ..ErrorInfo::default()
    };
    if let Ok(v) = serde_json::from_str::<Value>(body) {
        let v = v.as_array().and_then(|a| a.first().cloned()).unwrap_or(v);
        let err = v.get("error").filter(|e| e.is_object()).unwrap_or(&v);
        let text = |key: &str| err.get(key).and_then(Value::as_str).map(str::to_lowercase);
        info.kinds = [text("type"), text("code"), text("status")]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        info.status = err
            .get("code")
            .and_then(Value::as_u64)
            .and_then(|c| u16::try_from(c).ok());
        info.prompt_tokens = err.get("n_prompt_tokens").and_then(Value::as_u64);
        info.context_tokens = err.get("n_ctx").and_then(Value::as_u64);
    }
    let lower = info.message.to_lowercase();
    // The sizes in the message when the body has no fields for them: OpenAI ("maximum context
    // length is 8192 tokens. However, your messages resulted in 9000 tokens"), llama-cpp-python
    // ("Requested tokens (4680) exceed context window of 2048"), older llama.cpp ("request
    // (4476 tokens) exceeds the available context size (4096 tokens)").
    info.prompt_tokens = info.prompt_tokens.or_else(|| {
        number_after(
            &lower,
            &[
                "resulted in",
                "you requested",
                "requested tokens (",
                "request (",
            ],
        )
    });
    info.context_tokens = info.context_tokens.or_else(|| {
        number_after(
            &lower,
            &[
                "maximum context length is",
                "context window of",
                "context size (",
            ],
        )
    });
    info
}

impl ErrorInfo {
    fn is_context_overflow(&self) -> bool {
        let lower = self.message.to_lowercase();
        self.kinds.contains("exceed_context_size")
            || self.kinds.contains("context_length_exceeded")
            || (lower.contains("context")
                && ["exceed", "maximum", "too long", "too large"]
                    .iter()
                    .any(|w| lower.contains(w)))
    }

    fn is_unknown_model(&self) -> bool {
        let lower = self.message.to_lowercase();
        self.kinds.contains("model_not_found")
            || (lower.contains("model")
                && [
                    "not found",
                    "does not exist",
                    "not exist",
                    "unknown model",
                    "no such model",
                ]
                .iter()
                .any(|w| lower.contains(w)))
    }
}

/// Why a reply yielded no text: it cannot be read, or the provider reported an error in it.
#[derive(Debug)]
enum ReplyIssue {
    /// Not the protocol: the reason.
    Unreadable(String),
    /// An error the provider reported (its body).
    Reported(String),
}

fn chat_body(model: &str, messages: &[ChatMessage], stream: bool) -> Value {
    json!({
        "model": model,
        "messages": messages
            .iter()
            .map(|m| json!({"role": m.role.as_str(), "content": m.content}))
            .collect::<Vec<_>>(),
        "stream": stream,
    })
}

/// One streamed chunk's text, or why it is not a chunk.
fn chunk_text(data: &str) -> Result<Option<String>, ReplyIssue> {
    let v: Value = serde_json::from_str(data).map_err(|e| {
        ReplyIssue::Unreadable(format!(
            "a stream chunk is not JSON ({e}): {}",
            truncate(data, 80)
        ))
    })?;
    if v.get("error").is_some_and(|e| !e.is_null()) {
        return Err(ReplyIssue::Reported(data.to_owned()));
    }
    let choice = v.get("choices").and_then(Value::as_array).ok_or_else(|| {
        ReplyIssue::Unreadable(format!(
            "a stream chunk has no `choices`: {}",
            truncate(data, 80)
        ))
    })?;
    Ok(choice
        .first()
        .and_then(|c| c.get("delta"))
        .and_then(|d| d.get("content"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned))
}

/// The answer of a plain (non-streamed) completion.
fn completion_text(body: &[u8]) -> Result<String, ReplyIssue> {
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        ReplyIssue::Unreadable(format!(
            "the reply is not JSON ({e}): {}",
            truncate(&String::from_utf8_lossy(body), 80)
        ))
    })?;
    if v.get("error").is_some_and(|e| !e.is_null()) {
        return Err(ReplyIssue::Reported(
            String::from_utf8_lossy(body).into_owned(),
        ));
    }
    v.pointer("/choices/0/message/content")
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .map(str::to_owned)
        .ok_or_else(|| {
            ReplyIssue::Unreadable(format!(
                "the reply has no `choices[0].message.content`: {}",
                truncate(&String::from_utf8_lossy(body), 120)
            ))
        })
}

/// Parses the server-sent events of a streamed completion into text deltas.
#[derive(Default)]
struct SseParser {
    buf: Vec<u8>,
    done: bool,
    /// `data: [DONE]` arrived (rather than the body just ending).
    saw_done: bool,
    /// The current event's name (`event: error` makes its data an error).
    event: Option<String>,
}

impl SseParser {
    /// Feeds bytes; returns the deltas of every complete line (an error ends the stream).
    fn feed(&mut self, bytes: &[u8], out: &mut VecDeque<Result<String, ReplyIssue>>) {
        self.buf.extend_from_slice(bytes);
        while let Some(pos) = self.buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=pos).collect();
            self.line(&line, out);
            if self.done {
                return;
            }
        }
    }

    /// The last line when the stream ends without a newline.
    fn finish(&mut self, out: &mut VecDeque<Result<String, ReplyIssue>>) {
        let rest = std::mem::take(&mut self.buf);
        if !rest.is_empty() {
            self.line(&rest, out);
        }
    }

    fn line(&mut self, raw: &[u8], out: &mut VecDeque<Result<String, ReplyIssue>>) {
        let line = String::from_utf8_lossy(raw);
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            self.event = None; // the end of an event
            return;
        }
        if let Some(name) = line.strip_prefix("event:") {
            self.event = Some(name.trim().to_owned());
            return;
        }
        // llama.cpp's server reports a failure as an `error: {json}` line.
        if let Some(body) = line.strip_prefix("error:") {
            out.push_back(Err(ReplyIssue::Reported(body.trim().to_owned())));
            self.done = true;
            return;
        }
        let Some(data) = line.strip_prefix("data:") else {
            return; // `id:`, `retry:` and comments
        };
        let data = data.trim();
        if data == "[DONE]" {
            self.done = true;
            self.saw_done = true;
            return;
        }
        if data.is_empty() {
            return;
        }
        if self.event.as_deref() == Some("error") {
            out.push_back(Err(ReplyIssue::Reported(data.to_owned())));
            self.done = true;
            return;
        }
        match chunk_text(data) {
            Ok(Some(text)) => out.push_back(Ok(text)),
            Ok(None) => {}
            Err(e) => {
                out.push_back(Err(e));
                self.done = true;
            }
        }
    }
}

/// The HTTP client; `pooled: false` opens a new connection for every request.
fn http_client(config: &LlmConfig, pooled: bool) -> Result<reqwest::Client, ExplainError> {
    let mut builder = reqwest::Client::builder()
        .connect_timeout(config.timeout)
        .user_agent(concat!("tsad/", env!("CARGO_PKG_VERSION")));
    if !pooled {
        builder = builder.pool_max_idle_per_host(0);
    }
    builder
        .build()
        .map_err(|e| config_error(format!("cannot build the HTTP client: {}", chain(&e))))
}

impl LlmClient {
    /// A client for `config`.
    ///
    /// # Errors
    ///
    /// [`ExplainError::Config`] when the configuration is invalid or the HTTP client cannot be
    /// built.
    pub fn new(config: LlmConfig) -> Result<Self, ExplainError> {
        config.validate()?;
        let endpoint = config.endpoint().map_err(config_error)?;
        // reqwest is built without a bundled TLS provider; install ring as the process
        // default. An error only means one is installed already, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = http_client(&config, true)?;
        Ok(LlmClient {
            label: config.label(),
            endpoint,
            config,
            http,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &LlmConfig {
        &self.config
    }

    /// `<model> at <host>`.
    pub fn label(&self) -> &str {
        &self.label
    }

    fn redact(&self, s: String) -> String {
        match &self.config.api_key {
            Some(k) if k.0.len() >= 4 => s.replace(&k.0, "<redacted>"),
            _ => s,
        }
    }

    fn transport_error(&self, e: &reqwest::Error) -> ExplainError {
        if e.is_timeout() {
            return self.timeout_error();
        }
        let reason = self.redact(chain(e));
        if e.is_decode() || e.is_body() {
            ExplainError::Malformed {
                provider: self.label.clone(),
                reason,
            }
        } else {
            ExplainError::Connect {
                provider: self.label.clone(),
                reason,
            }
        }
    }

    fn timeout_error(&self) -> ExplainError {
        ExplainError::Timeout {
            provider: self.label.clone(),
            after: self.config.timeout,
        }
    }

    fn malformed(&self, reason: String) -> ExplainError {
        ExplainError::Malformed {
            provider: self.label.clone(),
            reason: self.redact(reason),
        }
    }

    fn request(&self, messages: &[ChatMessage], stream: bool) -> reqwest::RequestBuilder {
        let mut req = self
            .http
            .post(self.endpoint.clone())
            .header(
                reqwest::header::ACCEPT,
                if stream {
                    "text/event-stream"
                } else {
                    "application/json"
                },
            )
            .json(&chat_body(&self.config.model, messages, stream));
        if let Some(key) = &self.config.api_key {
            // bearer_auth marks the header sensitive, so it is never printed either.
            req = req.bearer_auth(key.expose());
        }
        req
    }

    /// Sends the request and checks the status; the response's body is still unread.
    async fn send(
        &self,
        messages: &[ChatMessage],
        stream: bool,
    ) -> Result<reqwest::Response, ExplainError> {
        let response = self
            .request(messages, stream)
            .send()
            .await
            .map_err(|e| self.transport_error(&e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let body = response.text().await.unwrap_or_default();
        Err(self.classify(
            Some(status.as_u16()),
            &body,
            retry_after,
            estimate_prompt_tokens(messages),
        ))
    }

    /// The error for a provider's error `body`, sent with HTTP `status` (`None`: an error
    /// event in a stream, or an error body with status 200). A context overflow or an unknown
    /// model is recognised by its type, code or message whatever the status.
    fn classify(
        &self,
        status: Option<u16>,
        body: &str,
        retry_after: Option<u64>,
        estimated_tokens: usize,
    ) -> ExplainError {
        let info = error_info(body);
        let detail = self.redact(info.message.clone());
        let provider = self.label.clone();
        if info.is_context_overflow() {
            return ExplainError::ContextOverflow {
                provider,
                status,
                prompt_tokens: info.prompt_tokens,
                context_tokens: info.context_tokens,
                estimated_tokens,
                budget: self.config.context_tokens,
                detail,
            };
        }
        if info.is_unknown_model() {
            return ExplainError::UnknownModel {
                provider,
                model: self.config.model.clone(),
                status,
                detail,
            };
        }
        let Some(code) = status else {
            return ExplainError::StreamFailed { provider, detail };
        };
        let lower = detail.to_lowercase();
        match code {
            401 | 403 => ExplainError::Unauthorized {
                provider,
                status: code,
                detail,
            },
            // Gemini answers a bad key with 400 "API key not valid".
            400 if lower.contains("api key") || lower.contains("api_key") => {
                ExplainError::Unauthorized {
                    provider,
                    status: code,
                    detail,
                }
            }
            429 => ExplainError::RateLimited {
                provider,
                detail,
                retry_after,
            },
            500..=599 => ExplainError::Provider {
                provider,
                status: code,
                detail,
            },
            _ => ExplainError::Rejected {
                provider,
                status: code,
                detail,
            },
        }
    }

    /// The error for a reply that yielded no text.
    fn reply_error(&self, issue: ReplyIssue, estimated_tokens: usize) -> ExplainError {
        match issue {
            ReplyIssue::Unreadable(reason) => self.malformed(reason),
            ReplyIssue::Reported(body) => self.classify(None, &body, None, estimated_tokens),
        }
    }

    /// Asks for a whole answer.
    ///
    /// # Errors
    ///
    /// [`ExplainError::Timeout`] when the answer takes longer than the timeout,
    /// [`ExplainError::Connect`] when the provider cannot be reached,
    /// [`ExplainError::Unauthorized`] (401/403), [`ExplainError::RateLimited`] (429),
    /// [`ExplainError::Provider`] (5xx), [`ExplainError::Rejected`] (other 4xx) and
    /// [`ExplainError::Malformed`] when the reply is not a chat completion.
    pub async fn complete(&self, messages: &[ChatMessage]) -> Result<String, ExplainError> {
        let work = async {
            let response = self.send(messages, false).await?;
            let body = response
                .bytes()
                .await
                .map_err(|e| self.transport_error(&e))?;
            completion_text(&body)
                .map_err(|issue| self.reply_error(issue, estimate_prompt_tokens(messages)))
        };
        tokio::time::timeout(self.config.timeout, work)
            .await
            .unwrap_or_else(|_| Err(self.timeout_error()))
    }

    /// Asks for a streamed answer: resolves once the provider accepted the request (so status
    /// errors come here), then yields text deltas. An error event in the stream ends it with
    /// that error; a stream that closes with neither text nor reason is asked again without
    /// streaming, to get the reason (or the whole answer). Each chunk must come within the timeout of
    /// the previous one, and the whole answer within five timeouts; a failure mid-stream is
    /// the stream's last item. A provider that ignores `stream: true` and answers with one
    /// JSON completion is accepted too.
    ///
    /// # Errors
    ///
    /// As [`LlmClient::complete`], for the part before the first chunk.
    pub async fn stream(
        &self,
        messages: &[ChatMessage],
    ) -> Result<BoxStream<'static, Result<String, ExplainError>>, ExplainError> {
        let timeout = self.config.timeout;
        let deadline = Instant::now() + timeout * STREAM_TIMEOUTS;
        let estimated = estimate_prompt_tokens(messages);
        let response = tokio::time::timeout(timeout, self.send(messages, true))
            .await
            .unwrap_or_else(|_| Err(self.timeout_error()))?;
        let is_json = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if is_json {
            let body = tokio::time::timeout(timeout, response.bytes())
                .await
                .map_err(|_| self.timeout_error())?
                .map_err(|e| self.transport_error(&e))?;
            let text =
                completion_text(&body).map_err(|issue| self.reply_error(issue, estimated))?;
            return Ok(futures::stream::once(async move { Ok(text) }).boxed());
        }
        Ok(Deltas {
            client: self.clone(),
            // One copy per chunk keeps the `bytes` crate out of our API; chunks are small.
            bytes: response
                .bytes_stream()
                .map(|r| r.map(|b| b.to_vec()))
                .boxed(),
            parser: SseParser::default(),
            estimated,
            messages: messages.to_vec(),
            pending: VecDeque::new(),
            got_text: false,
            finished: false,
            deadline,
        }
        .into_stream())
    }
}

/// The state of a streamed answer.
struct Deltas {
    client: LlmClient,
    /// The prompt, asked again without streaming when a stream closes with neither text nor
    /// reason.
    messages: Vec<ChatMessage>,
    bytes: BoxStream<'static, reqwest::Result<Vec<u8>>>,
    parser: SseParser,
    pending: VecDeque<Result<String, ReplyIssue>>,
    /// tsad's estimate of the prompt's tokens, for a context overflow reported mid-stream.
    estimated: usize,
    got_text: bool,
    finished: bool,
    deadline: Instant,
}

impl Deltas {
    fn into_stream(self) -> BoxStream<'static, Result<String, ExplainError>> {
        futures::stream::unfold(self, |mut st| async move {
            loop {
                if let Some(item) = st.pending.pop_front() {
                    return match item {
                        Ok(text) => {
                            st.got_text = true;
                            Some((Ok(text), st))
                        }
                        Err(issue) => {
                            st.finished = true;
                            st.pending.clear();
                            let e = st.client.reply_error(issue, st.estimated);
                            Some((Err(e), st))
                        }
                    };
                }
                if st.finished {
                    return None;
                }
                if st.parser.done {
                    st.finished = true;
                    if !st.got_text {
                        if st.parser.saw_done {
                            let e = st.client.malformed("the answer has no text".to_owned());
                            return Some((Err(e), st));
                        }
                        // The stream closed with neither text nor reason: llama-cpp-python's
                        // server fails a streamed request after its 200 headers (a prompt over
                        // its context) and just closes. Asked without streaming, it answers
                        // with the reason (or the answer, which is then the only chunk).
                        // A new connection: the pooled one is the one the server broke.
                        let again = match http_client(&st.client.config, false) {
                            Ok(http) => {
                                let fresh = LlmClient {
                                    http,
                                    ..st.client.clone()
                                };
                                fresh.complete(&st.messages).await
                            }
                            Err(e) => Err(e),
                        };
                        return Some((again, st));
                    }
                    continue;
                }
                let wait = (Instant::now() + st.client.config.timeout).min(st.deadline);
                match tokio::time::timeout_at(wait, st.bytes.next()).await {
                    Err(_) => {
                        st.finished = true;
                        return Some((Err(st.client.timeout_error()), st));
                    }
                    Ok(Some(Err(e))) => {
                        st.finished = true;
                        let e = st.client.transport_error(&e);
                        return Some((Err(e), st));
                    }
                    Ok(Some(Ok(chunk))) => st.parser.feed(&chunk, &mut st.pending),
                    Ok(None) => {
                        // The end of the body: a last line without a newline, then done (the
                        // check above reports an answer without text).
                        st.parser.finish(&mut st.pending);
                        st.parser.done = true;
                    }
                }
            }
        })
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn environment_selects_the_provider() {
        type Case = (
            &'static str,
            &'static [(&'static str, &'static str)],
            Result<Option<(&'static str, &'static str, bool)>, &'static str>,
        );
        let cases: &[Case] = &[
            ("nothing: offline", &[], Ok(None)),
            ("empty is unset", &[("TSAD_LLM_BASE_URL", " ")], Ok(None)),
            (
                "gemini key alone",
                &[("GEMINI_API_KEY", "g-key")],
                Ok(Some((GEMINI_BASE_URL, GEMINI_DEFAULT_MODEL, true))),
            ),
            (
                "gemini key with a model",
                &[
                    ("GEMINI_API_KEY", "g-key"),
                    ("TSAD_LLM_MODEL", "gemini-2.5-pro"),
                ],
                Ok(Some((GEMINI_BASE_URL, "gemini-2.5-pro", true))),
            ),
            (
                "ollama",
                &[
                    ("TSAD_LLM_BASE_URL", "http://localhost:11434/v1"),
                    ("TSAD_LLM_MODEL", "llama3.2"),
                ],
                Ok(Some(("http://localhost:11434/v1", "llama3.2", false))),
            ),
            (
                "openai with a key; the gemini key is not sent elsewhere",
                &[
                    ("TSAD_LLM_BASE_URL", "https://api.openai.com/v1/"),
                    ("TSAD_LLM_MODEL", "gpt-4o-mini"),
                    ("TSAD_LLM_API_KEY", "sk-1"),
                    ("GEMINI_API_KEY", "g-key"),
                ],
                Ok(Some(("https://api.openai.com/v1/", "gpt-4o-mini", true))),
            ),
            (
                "base url without model",
                &[("TSAD_LLM_BASE_URL", "http://localhost:8080/v1/")],
                Err("TSAD_LLM_MODEL is not"),
            ),
            (
                "model without base url",
                &[("TSAD_LLM_MODEL", "x")],
                Err("TSAD_LLM_BASE_URL is"),
            ),
            (
                "bad timeout",
                &[("GEMINI_API_KEY", "k"), ("TSAD_LLM_TIMEOUT_SECS", "soon")],
                Err("TSAD_LLM_TIMEOUT_SECS must be"),
            ),
            (
                "bad url",
                &[
                    ("TSAD_LLM_BASE_URL", "localhost:11434"),
                    ("TSAD_LLM_MODEL", "m"),
                ],
                Err("must start with http"),
            ),
        ];
        let cases: Vec<Case> = cases
            .iter()
            .cloned()
            .chain([
                (
                    "context too small",
                    &[("GEMINI_API_KEY", "k"), ("TSAD_LLM_CONTEXT_TOKENS", "512")][..],
                    Err("TSAD_LLM_CONTEXT_TOKENS must be a number of tokens between 1024"),
                ),
                (
                    "context not a number",
                    &[("GEMINI_API_KEY", "k"), ("TSAD_LLM_CONTEXT_TOKENS", "2k")][..],
                    Err("TSAD_LLM_CONTEXT_TOKENS must be a number of tokens"),
                ),
            ])
            .collect();
        for (name, pairs, want) in &cases {
            let got = LlmConfig::from_vars(vars(pairs));
            match (got, want) {
                (Ok(None), Ok(None)) => {}
                (Ok(Some(c)), Ok(Some((url, model, keyed)))) => {
                    assert_eq!(
                        (c.base_url.as_str(), c.model.as_str(), c.api_key.is_some()),
                        (*url, *model, *keyed),
                        "{name}"
                    );
                }
                (Err(e), Err(part)) => assert!(e.to_string().contains(part), "{name}: {e}"),
                (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn the_context_budget_comes_from_the_environment() {
        let read = |pairs: &[(&str, &str)]| {
            LlmConfig::from_vars(vars(pairs))
                .unwrap()
                .unwrap()
                .context_tokens
        };
        assert_eq!(read(&[("GEMINI_API_KEY", "k")]), DEFAULT_CONTEXT_TOKENS);
        assert_eq!(
            read(&[
                ("TSAD_LLM_BASE_URL", "http://127.0.0.1:8080/v1"),
                ("TSAD_LLM_MODEL", "smollm2"),
                ("TSAD_LLM_CONTEXT_TOKENS", " 8_192 "),
            ]),
            8192
        );
        let err =
            LlmClient::new(LlmConfig::new("http://h/v1", "m").with_context_tokens(10)).unwrap_err();
        assert!(err.to_string().contains("between 1024"), "{err}");
    }

    #[test]
    fn error_bodies_give_their_sizes() {
        let cases = [
            (
                r#"{"error":{"code":400,"message":"the request exceeds the available context size, try increasing it","type":"exceed_context_size_error","n_prompt_tokens":4680,"n_ctx":2048}}"#,
                (true, false, Some(4680), Some(2048), Some(400)),
            ),
            (
                r#"{"error":{"message":"request (4476 tokens) exceeds the available context size (4096 tokens)"}}"#,
                (true, false, Some(4476), Some(4096), None),
            ),
            (
                r#"{"error":{"message":"Requested tokens (4680) exceed context window of 2048","type":"invalid_request_error"}}"#,
                (true, false, Some(4680), Some(2048), None),
            ),
            (
                r#"{"error":{"message":"The model `x` does not exist or you do not have access to it.","type":"invalid_request_error","param":null,"code":"model_not_found"}}"#,
                (false, true, None, None, None),
            ),
            (
                r#"{"error":{"message":"Invalid value for 'temperature'","type":"invalid_request_error","code":null}}"#,
                (false, false, None, None, None),
            ),
        ];
        for (body, want) in cases {
            let info = error_info(body);
            assert_eq!(
                (
                    info.is_context_overflow(),
                    info.is_unknown_model(),
                    info.prompt_tokens,
                    info.context_tokens,
                    info.status
                ),
                want,
                "{body}"
            );
        }
    }

    #[test]
    fn debug_never_shows_the_key() {
        let c = LlmConfig::gemini(ApiKey::new("super-secret-key"));
        let text = format!("{c:?}");
        assert!(!text.contains("super-secret-key"), "{text}");
        assert!(text.contains("redacted"), "{text}");
        let client = LlmClient::new(c).unwrap();
        assert!(!format!("{client:?}").contains("super-secret-key"));
        assert_eq!(
            client.label(),
            "gemini-2.5-flash at generativelanguage.googleapis.com"
        );
    }

    #[test]
    fn endpoints_and_labels() {
        let cases = [
            (
                "http://localhost:11434/v1",
                "http://localhost:11434/v1/chat/completions",
                "m at localhost:11434",
            ),
            (
                "http://h:8080/v1/",
                "http://h:8080/v1/chat/completions",
                "m at h:8080",
            ),
            (
                "https://x.io/v1/chat/completions",
                "https://x.io/v1/chat/completions",
                "m at x.io",
            ),
        ];
        for (base, endpoint, label) in cases {
            let c = LlmConfig::new(base, "m");
            assert_eq!(c.endpoint().unwrap().as_str(), endpoint);
            assert_eq!(c.label(), label);
        }
    }

    #[test]
    fn provider_details_are_found() {
        let cases = [
            (
                r#"{"error": {"message": "Invalid key", "type": "x"}}"#,
                "Invalid key",
            ),
            (
                r#"[{"error": {"code": 400, "message": "API key not valid."}}]"#,
                "API key not valid.",
            ),
            (r#"{"error": "model 'x' not found"}"#, "model 'x' not found"),
            ("upstream\n  down", "upstream down"),
            ("", "no message"),
        ];
        for (body, want) in cases {
            assert_eq!(provider_detail(body), want);
        }
    }

    #[test]
    fn sse_lines_become_deltas() {
        let mut p = SseParser::default();
        let mut out = VecDeque::new();
        let chunk = |t: &str| {
            format!(
                "data: {}\n\n",
                json!({"choices": [{"delta": {"content": t}}]})
            )
        };
        let stream = format!(
            ": keep-alive\n\n{}{}data: [DONE]\n\n",
            chunk("Hel"),
            chunk("lo")
        );
        // Split mid-line to check buffering.
        let (a, b) = stream.split_at(20);
        p.feed(a.as_bytes(), &mut out);
        p.feed(b.as_bytes(), &mut out);
        let texts: Vec<String> = out.into_iter().map(|r| r.unwrap()).collect();
        assert_eq!(texts, ["Hel", "lo"]);
        assert!(p.done);
    }
}
