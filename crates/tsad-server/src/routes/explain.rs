//! Explanations and chat: evidence per event (`/runs/{id}/events/{n}/explain`), the chat about
//! a run (`/runs/{id}/chat`, plain or server-sent events, history stored with the run) and the
//! provider status (`/llm`). Answers come from an LLM when one is configured, else offline from
//! the evidence.

use crate::ServerError;
use crate::error::{ApiError, ApiJson, ErrorBody};
use crate::state::AppState;
use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::convert::Infallible;
use std::sync::Arc;
use tsad_core::{Event, MemberScores, Scores, Series, TimeAxis};
use tsad_explain::{
    ChatInput, ChatMessage, EvidenceContext, ExplainError, Focus, LlmClient, LlmConfig, Role,
};
use tsad_store::{RunRecord, RunResult, RunStatus};
use utoipa::ToSchema;

/// Messages of one chat request that are read, at most (the most recent ones).
const MAX_MESSAGES: usize = 200;
/// Characters of one message, at most.
const MAX_MESSAGE_CHARS: usize = 20_000;
/// Characters of the user's description of the series, at most.
const MAX_CONTEXT_CHARS: usize = 1_000;
/// Points around an event sent to the model, at most.
const NEIGHBOURHOOD_POINTS: usize = 60;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/runs/{id}/events/{n}/explain", post(runs_explain))
        .route(
            "/api/v1/runs/{id}/chat",
            get(runs_chat_history).post(runs_chat),
        )
        .route("/api/v1/llm", get(llm_get))
}

/// The LLM client configured by the environment (`TSAD_LLM_*`, `GEMINI_API_KEY`), or `None`
/// for offline answers.
///
/// # Errors
///
/// [`ServerError::Config`] when the variables do not make a usable configuration.
pub(crate) fn llm_from_env() -> Result<Option<LlmClient>, ServerError> {
    let config = LlmConfig::from_env().map_err(|e| ServerError::Config {
        reason: e.to_string(),
    })?;
    let client = config
        .map(LlmClient::new)
        .transpose()
        .map_err(|e| ServerError::Config {
            reason: e.to_string(),
        })?;
    match &client {
        Some(c) => tracing::info!(provider = c.label(), "Chat answers come from an LLM"),
        None => tracing::info!(
            "Chat answers offline from the evidence; set TSAD_LLM_BASE_URL or GEMINI_API_KEY \
             to use an LLM"
        ),
    }
    Ok(client)
}

/// `POST /api/v1/runs/{id}/events/{n}/explain`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ExplainResponse {
    /// The facts about the event (tsad-explain's `Evidence`): time range and duration, peak
    /// (actual, expected, deviation in robust σ, score), rank, detectors and shares, earlier
    /// seasons, level before/after, similar earlier episodes, data-quality notes.
    #[schema(value_type = Object)]
    pub(crate) evidence: tsad_explain::Evidence,
    /// A plain-language explanation written from the evidence (deterministic, no LLM); for one
    /// series of a many-series run it starts by naming the series.
    pub(crate) explanation: String,
    /// The series' name, for one series of a many-series run.
    pub(crate) series: Option<String>,
}

/// One message of a chat request.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChatTurn {
    /// `user` or `assistant`.
    pub(crate) role: String,
    /// The text.
    pub(crate) content: String,
}

/// `POST /api/v1/runs/{id}/chat`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChatRequest {
    /// The conversation so far, oldest first; the last one is the user's question.
    pub(crate) messages: Vec<ChatTurn>,
    /// The 0-based index of the event the question is about (null: the whole run; answers then
    /// focus on the event with the highest score).
    #[serde(default)]
    pub(crate) event: Option<usize>,
    /// What the series is ("daily sales of store 12", a ticker), if the user said.
    #[serde(default)]
    pub(crate) context: Option<String>,
    /// Answer as server-sent events (`delta` chunks, then `done`).
    #[serde(default)]
    pub(crate) stream: bool,
    /// Answer offline from the evidence even when an LLM is configured (the UI offers it when
    /// the LLM failed).
    #[serde(default)]
    pub(crate) offline: bool,
}

/// The answer to a chat request.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ChatResponse {
    /// The answer.
    pub(crate) answer: String,
    /// Who answered: `offline` or `<model> at <host>`.
    pub(crate) provider: String,
}

/// `GET /api/v1/llm`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LlmStatus {
    /// `offline` (answers from the evidence) or `<model> at <host>`. Never the key.
    pub(crate) provider: String,
}

/// A stored chat message.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StoredMessage {
    /// `user` or `assistant`.
    pub(crate) role: String,
    /// The text.
    pub(crate) content: String,
    /// When it was written (RFC 3339).
    pub(crate) created_at: String,
}

/// `GET /api/v1/runs/{id}/chat`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ChatHistory {
    /// The run's chat, oldest first.
    pub(crate) messages: Vec<StoredMessage>,
}

/// The evidence context's inputs, rebuilt from a stored result.
struct RunData {
    series: Series,
    scores: Scores,
    events: Vec<Event>,
    result: Arc<RunResult>,
    /// The threshold's cut-off on the raw score scale (evidence compares raw scores with it).
    raw_cutoff: f64,
    detector: Option<String>,
    diagnostics: Option<tsad_io::Diagnostics>,
}

impl RunData {
    fn context(&self) -> Result<EvidenceContext<'_>, ApiError> {
        let mut ctx = EvidenceContext::new(&self.series, &self.scores)
            .map_err(|e| ApiError::internal(format!("stored result is inconsistent: {e}")))?
            .with_flags(&self.result.flags)
            .with_threshold(self.raw_cutoff);
        if let Some(kind) = &self.detector {
            ctx = ctx.with_detector(kind.clone());
        }
        if let Some(d) = &self.diagnostics {
            ctx = ctx.with_diagnostics(d);
        }
        Ok(ctx)
    }
}

fn explain_error(e: ExplainError) -> ApiError {
    match e {
        ExplainError::InvalidInput { .. } => ApiError::internal(e),
        other => ApiError::new(
            StatusCode::from_u16(other.http_status()).unwrap_or(StatusCode::BAD_GATEWAY),
            other.code(),
            other.user_message(),
        ),
    }
}

/// Loads a succeeded run's result and rebuilds its series, scores and events.
async fn run_data(state: &AppState, id: &str) -> Result<(RunRecord, RunData), ApiError> {
    let run_id = id.to_owned();
    let (run, dataset_meta) = state
        .blocking(move |s| {
            let run = s.run(&run_id)?;
            let meta = s.dataset(&run.dataset_id).ok().map(|d| d.meta);
            Ok((run, meta))
        })
        .await?;
    if run.status != RunStatus::Succeeded {
        return Err(ApiError::conflict(format!(
            "run `{id}` is {}; its events can be explained once it succeeded",
            run.status
        )));
    }
    crate::fleet::refuse_fleet(&run)?;
    let result = state.result(id).await?;
    let detector = run
        .spec
        .get("kind")
        .and_then(Value::as_str)
        .map(str::to_owned);
    // The dataset's diagnostics describe its default columns: use them only when the run read
    // the same ones.
    let diagnostics = dataset_meta
        .and_then(|m| m.get("diagnostics").cloned())
        .and_then(|d| serde_json::from_value::<tsad_io::Diagnostics>(d).ok())
        .filter(|d| {
            json!(d.value_column) == run.value_column && json!(d.time_column) == run.time_column
        });
    let threshold = run.threshold.clone();
    let data = tokio::task::spawn_blocking(move || -> Result<RunData, ApiError> {
        let r = &result;
        let raw_cutoff = crate::events::raw_cutoff(r, &threshold);
        let axis = if r.time_axis == "index" {
            TimeAxis::Index
        } else {
            TimeAxis::EpochMillis
        };
        let series = Series::with_axis(r.timestamps.clone(), r.values.clone(), axis)
            .map_err(|e| ApiError::internal(format!("stored series is invalid: {e}")))?;
        let mut scores = Scores::new(r.score.clone()).with_report(r.report.clone());
        scores.expected = r.expected.clone();
        if let (Some(l), Some(u)) = (&r.lower, &r.upper) {
            scores.band = Some((l.clone(), u.clone()));
        }
        scores.members = r
            .members
            .iter()
            .map(|m| MemberScores {
                name: m.name.clone(),
                kind: m.kind.clone(),
                normalized: m.normalized.clone(),
                // Raw member scores are not stored; evidence uses the normalised ones.
                raw: Vec::new(),
            })
            .collect();
        let events = r
            .events
            .as_array()
            .map(|list| {
                list.iter()
                    .map(tsad_explain::event_from_json)
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()
            .map_err(|e| ApiError::internal(format!("stored events: {e}")))?
            .unwrap_or_default();
        Ok(RunData {
            series,
            scores,
            events,
            result: result.clone(),
            raw_cutoff,
            detector,
            diagnostics,
        })
    })
    .await??;
    Ok((run, data))
}

fn no_such_event(id: &str, n: usize, count: usize) -> ApiError {
    ApiError::not_found(format!(
        "run `{id}` has {count} events; there is no event {n} (events are numbered from 0)"
    ))
}

/// Evidence about one event and a plain-language explanation written from it (no LLM).
#[utoipa::path(
    post, path = "/api/v1/runs/{id}/events/{n}/explain", tag = "explanations",
    params(
        ("id" = String, Path, description = "run id"),
        ("n" = usize, Path, description = "0-based event index"),
    ),
    responses(
        (status = 200, description = "the evidence and the explanation", body = ExplainResponse),
        (status = 400, description = "the event index is not a number", body = ErrorBody),
        (status = 404, description = "unknown run or event", body = ErrorBody),
        (status = 409, description = "the run has not succeeded", body = ErrorBody),
    )
)]
pub(crate) async fn runs_explain(
    State(state): State<AppState>,
    Path((id, n)): Path<(String, String)>,
) -> Result<Json<ExplainResponse>, ApiError> {
    let n: usize = n.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "the event index must be a number from 0, got `{n}`"
        ))
    })?;
    let (run, data) = run_data(&state, &id).await?;
    if n >= data.events.len() {
        return Err(no_such_event(&id, n, data.events.len()));
    }
    let series = run.series;
    let response = tokio::task::spawn_blocking(move || -> Result<ExplainResponse, ApiError> {
        let evidence = data
            .context()?
            .evidence(&data.events[n])
            .map_err(explain_error)?;
        let explanation = tsad_explain::explain(&evidence);
        Ok(ExplainResponse {
            explanation: match &series {
                Some(name) => format!("In series `{name}`: {explanation}"),
                None => explanation,
            },
            evidence,
            series,
        })
    })
    .await??;
    Ok(Json(response))
}

/// Checks a chat request; 422 lists every problem.
fn check_chat(req: &ChatRequest) -> Result<Vec<ChatMessage>, ApiError> {
    let mut problems = Vec::new();
    if req.messages.is_empty() {
        problems.push("messages: at least one message (the question) is needed".to_owned());
    }
    // A long conversation keeps its most recent messages (the prompt uses fewer still).
    let skip = req.messages.len().saturating_sub(MAX_MESSAGES);
    let mut out = Vec::with_capacity(req.messages.len() - skip);
    for (i, m) in req.messages.iter().enumerate().skip(skip) {
        let role = match m.role.as_str() {
            "user" => Some(Role::User),
            "assistant" => Some(Role::Assistant),
            other => {
                problems.push(format!(
                    "messages[{i}].role: must be `user` or `assistant`, got `{other}`"
                ));
                None
            }
        };
        if m.content.chars().count() > MAX_MESSAGE_CHARS {
            problems.push(format!(
                "messages[{i}].content: at most {MAX_MESSAGE_CHARS} characters"
            ));
        }
        if let Some(role) = role {
            out.push(ChatMessage::new(role, m.content.clone()));
        }
    }
    match req.messages.last() {
        Some(last) if last.role != "user" => {
            problems.push("messages: the last message must be the user's question".to_owned());
        }
        Some(last) if last.content.trim().is_empty() => {
            problems.push("messages: the question is empty".to_owned());
        }
        _ => {}
    }
    if req
        .context
        .as_ref()
        .is_some_and(|c| c.chars().count() > MAX_CONTEXT_CHARS)
    {
        problems.push(format!("context: at most {MAX_CONTEXT_CHARS} characters"));
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(ApiError::unprocessable(
            "invalid_parameter",
            problems.join("; "),
        ))
    }
}

/// What one answer needs, computed on the blocking pool.
struct Prepared {
    /// The prompt for an LLM, or the offline answer.
    prompt: Vec<ChatMessage>,
    offline: String,
}

fn prepare(
    data: &RunData,
    event: Option<usize>,
    context: Option<&str>,
    messages: &[ChatMessage],
    context_tokens: usize,
) -> Result<Prepared, ApiError> {
    let ctx = data.context()?;
    let summary = ctx.summary(&data.events);
    let (index, chosen) = match event {
        Some(n) => (Some(n), true),
        None => (tsad_explain::largest_event(&data.events), false),
    };
    let focused = match index {
        Some(i) => {
            let e = &data.events[i];
            Some((
                i,
                ctx.evidence(e).map_err(explain_error)?,
                ctx.neighbourhood(e, NEIGHBOURHOOD_POINTS),
            ))
        }
        None => None,
    };
    let input = ChatInput {
        summary: &summary,
        focus: focused.as_ref().map(|(i, evidence, near)| Focus {
            index: *i,
            evidence,
            neighbourhood: near,
            chosen_by_user: chosen,
        }),
        context,
        messages,
    };
    Ok(Prepared {
        prompt: tsad_explain::build_prompt_within(&input, context_tokens),
        offline: tsad_explain::offline_answer(&input),
    })
}

/// Stores the question and its answer with the run.
async fn remember(
    state: &AppState,
    run_id: &str,
    question: String,
    answer: String,
) -> Result<(), ApiError> {
    let run_id = run_id.to_owned();
    state
        .blocking(move |s| {
            let now = chrono::Utc::now().timestamp_millis();
            for (role, content) in [("user", question), ("assistant", answer)] {
                s.add_chat_message(&tsad_store::ChatMessage {
                    run_id: run_id.clone(),
                    role: role.to_owned(),
                    content,
                    created_at: now,
                })?;
            }
            Ok(())
        })
        .await
}

fn sse_event(name: &str, data: &Value) -> SseEvent {
    SseEvent::default()
        .event(name)
        .json_data(data)
        .unwrap_or_else(|_| SseEvent::default().event(name))
}

/// Ask about a run's anomalies: an LLM answers when one is configured, else the evidence does.
#[utoipa::path(
    post, path = "/api/v1/runs/{id}/chat", tag = "explanations",
    params(("id" = String, Path, description = "run id")),
    request_body = ChatRequest,
    responses(
        (status = 200, description = "the answer; with `stream: true`, `text/event-stream`: `event: delta` (`{\"delta\": text}`) chunks, then `event: done` (`{\"answer\", \"provider\"}`), or `event: error` (`{\"error\": {\"code\", \"message\"}}`) when the provider fails mid-answer", body = ChatResponse),
        (status = 400, description = "malformed body", body = ErrorBody),
        (status = 404, description = "unknown run or event", body = ErrorBody),
        (status = 409, description = "the run has not succeeded", body = ErrorBody),
        (status = 422, description = "invalid messages or context (every problem listed)", body = ErrorBody),
        (status = 502, description = "the LLM provider failed (`llm_failed`), refused the key (`llm_unauthorized`), rate-limited (`llm_rate_limited`), found the prompt larger than its context (`llm_context_overflow`), does not know the model (`llm_unknown_model`), refused the request otherwise (`llm_rejected`) or sent an unreadable reply (`llm_bad_reply`)", body = ErrorBody),
        (status = 504, description = "the LLM provider did not answer in time", body = ErrorBody),
    )
)]
pub(crate) async fn runs_chat(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ChatRequest>,
) -> Result<Response, ApiError> {
    let messages = check_chat(&req)?;
    let (run, data) = run_data(&state, &id).await?;
    if let Some(n) = req.event
        && n >= data.events.len()
    {
        return Err(no_such_event(&id, n, data.events.len()));
    }
    let question = messages
        .last()
        .map(|m| m.content.clone())
        .unwrap_or_default();
    let context = crate::fleet::series_context(&run, req.context.as_deref());
    let event = req.event;
    let llm = if req.offline { None } else { state.llm() };
    // The prompt fits the model's context (TSAD_LLM_CONTEXT_TOKENS), leaving room for the answer.
    let context_tokens = llm
        .as_ref()
        .map_or(tsad_explain::DEFAULT_CONTEXT_TOKENS, |c| {
            c.config().context_tokens
        });
    let prepared = {
        let messages = messages.clone();
        tokio::task::spawn_blocking(move || {
            prepare(&data, event, context.as_deref(), &messages, context_tokens)
        })
        .await??
    };
    if llm.is_some() {
        tracing::debug!(
            run_id = %id,
            prompt_tokens = tsad_explain::estimate_prompt_tokens(&prepared.prompt),
            context_tokens,
            "Chat prompt built"
        );
    }
    let provider = llm
        .as_ref()
        .map_or_else(|| "offline".to_owned(), |c| c.label().to_owned());
    let failed = |e: ExplainError| {
        tracing::warn!(run_id = %id, provider = %provider, cause = %e, "Chat provider failed");
        explain_error(e)
    };

    if !req.stream {
        let answer = match &llm {
            Some(client) => client.complete(&prepared.prompt).await.map_err(failed)?,
            None => prepared.offline,
        };
        remember(&state, &id, question, answer.clone()).await?;
        return Ok(Json(ChatResponse { answer, provider }).into_response());
    }

    let deltas: futures::stream::BoxStream<'static, Result<String, ExplainError>> = match &llm {
        Some(client) => client.stream(&prepared.prompt).await.map_err(failed)?,
        None => {
            // Offline answers arrive a paragraph at a time, like a streamed one.
            let paragraphs: Vec<Result<String, ExplainError>> = prepared
                .offline
                .split_inclusive("\n\n")
                .map(|p| Ok(p.to_owned()))
                .collect();
            futures::stream::iter(paragraphs).boxed()
        }
    };
    struct Streaming {
        deltas: futures::stream::BoxStream<'static, Result<String, ExplainError>>,
        answer: String,
        state: AppState,
        id: String,
        question: Option<String>,
        provider: String,
        ended: bool,
    }
    let start = Streaming {
        deltas,
        answer: String::new(),
        state: state.clone(),
        id: id.clone(),
        question: Some(question),
        provider: provider.clone(),
        ended: false,
    };
    let stream = futures::stream::unfold(start, |mut st| async move {
        if st.ended {
            return None;
        }
        match st.deltas.next().await {
            Some(Ok(text)) => {
                st.answer.push_str(&text);
                let event = sse_event("delta", &json!({"delta": text}));
                Some((Ok::<_, Infallible>(event), st))
            }
            Some(Err(e)) => {
                tracing::warn!(run_id = %st.id, provider = %st.provider, cause = %e, "Chat provider failed mid-answer");
                st.ended = true;
                let body = explain_error(e).body();
                let data = serde_json::to_value(body).unwrap_or(Value::Null);
                Some((Ok(sse_event("error", &data)), st))
            }
            None => {
                st.ended = true;
                let question = st.question.take().unwrap_or_default();
                if let Err(e) = remember(&st.state, &st.id, question, st.answer.clone()).await {
                    tracing::warn!(run_id = %st.id, cause = %e, "Chat answer not stored");
                }
                let done = json!({"answer": st.answer, "provider": st.provider});
                Some((Ok(sse_event("done", &done)), st))
            }
        }
    });
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}

/// A run's stored chat, oldest first.
#[utoipa::path(
    get, path = "/api/v1/runs/{id}/chat", tag = "explanations",
    params(("id" = String, Path, description = "run id")),
    responses(
        (status = 200, description = "the chat history", body = ChatHistory),
        (status = 404, description = "unknown run", body = ErrorBody),
    )
)]
pub(crate) async fn runs_chat_history(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ChatHistory>, ApiError> {
    let messages = state
        .blocking(move |s| {
            s.run(&id)?;
            Ok(s.chat_messages(&id)?)
        })
        .await?;
    Ok(Json(ChatHistory {
        messages: messages
            .into_iter()
            .map(|m| StoredMessage {
                role: m.role,
                content: m.content,
                created_at: crate::api::rfc3339(m.created_at),
            })
            .collect(),
    }))
}

/// Who answers the chat: `offline` or `<model> at <host>` (never the key).
#[utoipa::path(
    get, path = "/api/v1/llm", tag = "explanations",
    responses((status = 200, description = "the chat's provider", body = LlmStatus))
)]
pub(crate) async fn llm_get(State(state): State<AppState>) -> Json<LlmStatus> {
    Json(LlmStatus {
        provider: state
            .llm()
            .map_or_else(|| "offline".to_owned(), |c| c.label().to_owned()),
    })
}
