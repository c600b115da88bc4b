//! The LLM side: configuration (environment or a JSON file) and a client for the
//! OpenAI-compatible chat-completions protocol (Gemini, OpenAI, Ollama, llama.cpp, vLLM),
//! plain and streaming (server-sent events), with every failure mapped to an [`ExplainError`].

use crate::ExplainError;
use crate::chat::ChatMessage;
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
}

fn config_error(reason: impl Into<String>) -> ExplainError {
    ExplainError::Config {
        reason: reason.into(),
    }
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

    /// The configuration from the environment, or `None` for offline mode:
    ///
    /// - `TSAD_LLM_BASE_URL` with `TSAD_LLM_MODEL` and optionally `TSAD_LLM_API_KEY`: any
    ///   OpenAI-compatible provider (a Gemini URL defaults the model and takes
    ///   `GEMINI_API_KEY` too);
    /// - `GEMINI_API_KEY` alone: Gemini's OpenAI-compatible endpoint with
    ///   [`GEMINI_DEFAULT_MODEL`] (or `TSAD_LLM_MODEL`);
    /// - `TSAD_LLM_TIMEOUT_SECS`: the timeout in seconds (default 60).
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
                }
            }
            (None, Some(gemini_key)) => LlmConfig {
                base_url: GEMINI_BASE_URL.to_owned(),
                model: model.unwrap_or_else(|| GEMINI_DEFAULT_MODEL.to_owned()),
                api_key: Some(gemini_key),
                timeout,
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
    ///   "timeout_secs": 60}` (`api_key`, `api_key_env` and `timeout_secs` optional).
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
                 \"api_key\" or \"api_key_env\", \"timeout_secs\"}}",
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
        let config = LlmConfig {
            base_url: file.base_url,
            model: file.model,
            api_key,
            timeout,
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
fn chunk_text(data: &str) -> Result<Option<String>, String> {
    let v: Value = serde_json::from_str(data)
        .map_err(|e| format!("a stream chunk is not JSON ({e}): {}", truncate(data, 80)))?;
    if let Some(err) = v.get("error") {
        return Err(format!(
            "the stream reported an error: {}",
            provider_detail(&err.to_string())
        ));
    }
    let choice = v
        .get("choices")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("a stream chunk has no `choices`: {}", truncate(data, 80)))?;
    Ok(choice
        .first()
        .and_then(|c| c.get("delta"))
        .and_then(|d| d.get("content"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned))
}

/// The answer of a plain (non-streamed) completion.
fn completion_text(body: &[u8]) -> Result<String, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        format!(
            "the reply is not JSON ({e}): {}",
            truncate(&String::from_utf8_lossy(body), 80)
        )
    })?;
    if let Some(err) = v.get("error") {
        return Err(format!(
            "the reply is an error: {}",
            provider_detail(&err.to_string())
        ));
    }
    v.pointer("/choices/0/message/content")
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .map(str::to_owned)
        .ok_or_else(|| {
            format!(
                "the reply has no `choices[0].message.content`: {}",
                truncate(&String::from_utf8_lossy(body), 120)
            )
        })
}

/// Parses the server-sent events of a streamed completion into text deltas.
struct SseParser {
    buf: Vec<u8>,
    done: bool,
}

impl SseParser {
    /// Feeds bytes; returns the deltas of every complete line (an error ends the stream).
    fn feed(&mut self, bytes: &[u8], out: &mut VecDeque<Result<String, String>>) {
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
    fn finish(&mut self, out: &mut VecDeque<Result<String, String>>) {
        let rest = std::mem::take(&mut self.buf);
        if !rest.is_empty() {
            self.line(&rest, out);
        }
    }

    fn line(&mut self, raw: &[u8], out: &mut VecDeque<Result<String, String>>) {
        let line = String::from_utf8_lossy(raw);
        let line = line.trim_end_matches(['\r', '\n']);
        let Some(data) = line.strip_prefix("data:") else {
            return; // `event:`, `id:`, comments and blank separators
        };
        let data = data.trim();
        if data == "[DONE]" {
            self.done = true;
            return;
        }
        if data.is_empty() {
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
        let http = reqwest::Client::builder()
            .connect_timeout(config.timeout)
            .user_agent(concat!("tsad/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| config_error(format!("cannot build the HTTP client: {}", chain(&e))))?;
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
        let detail = self.redact(provider_detail(&body));
        let provider = self.label.clone();
        let code = status.as_u16();
        let lower = detail.to_lowercase();
        Err(match code {
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
        })
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
            completion_text(&body).map_err(|r| self.malformed(r))
        };
        tokio::time::timeout(self.config.timeout, work)
            .await
            .unwrap_or_else(|_| Err(self.timeout_error()))
    }

    /// Asks for a streamed answer: resolves once the provider accepted the request (so status
    /// errors come here), then yields text deltas. Each chunk must come within the timeout of
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
            let text = completion_text(&body).map_err(|r| self.malformed(r))?;
            return Ok(futures::stream::once(async move { Ok(text) }).boxed());
        }
        Ok(Deltas {
            client: self.clone(),
            // One copy per chunk keeps the `bytes` crate out of our API; chunks are small.
            bytes: response
                .bytes_stream()
                .map(|r| r.map(|b| b.to_vec()))
                .boxed(),
            parser: SseParser {
                buf: Vec::new(),
                done: false,
            },
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
    bytes: BoxStream<'static, reqwest::Result<Vec<u8>>>,
    parser: SseParser,
    pending: VecDeque<Result<String, String>>,
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
                        Err(reason) => {
                            st.finished = true;
                            st.pending.clear();
                            let e = st.client.malformed(reason);
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
                        let e = st.client.malformed("the answer has no text".to_owned());
                        return Some((Err(e), st));
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
        for (name, pairs, want) in cases {
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
        let mut p = SseParser {
            buf: Vec::new(),
            done: false,
        };
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
