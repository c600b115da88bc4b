//! The LLM client against a loopback server that speaks the OpenAI chat-completions protocol:
//! the request tsad sends (evidence in the body, the key only in the header), plain and
//! streamed answers, and each failure (timeout, refused connection, 401, 429, 500, malformed),
//! including the real error bodies of llama.cpp's server and OpenAI (issue 17).

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use futures::StreamExt;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tsad_explain::{ApiKey, ChatMessage, ExplainError, LlmClient, LlmConfig, Role};

const KEY: &str = "sk-test-0123456789abcdef";

/// What the mock provider received.
#[derive(Debug, Clone)]
struct Seen {
    authorization: Option<String>,
    body: String,
}

type Log = Arc<Mutex<Vec<Seen>>>;

fn record(log: &Log, headers: &HeaderMap, body: &Bytes) {
    log.lock().unwrap().push(Seen {
        authorization: headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body: String::from_utf8_lossy(body).into_owned(),
    });
}

fn completion(text: &str) -> Value {
    json!({"id": "c1", "object": "chat.completion", "model": "mock",
           "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop"}]})
}

fn sse_chunk(text: &str) -> String {
    let chunk = json!({"id": "c1", "object": "chat.completion.chunk",
                       "choices": [{"index": 0, "delta": {"content": text}}]});
    format!("data: {chunk}\n\n")
}

fn sse(body: impl futures::Stream<Item = String> + Send + 'static) -> Response {
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .body(Body::from_stream(body.map(Ok::<_, std::io::Error>)))
        .unwrap()
}

/// The mock provider: one path prefix per behaviour.
async fn serve() -> (SocketAddr, Log) {
    let log: Log = Arc::default();
    async fn ok(State(log): State<Log>, headers: HeaderMap, body: Bytes) -> Response {
        record(&log, &headers, &body);
        let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if req["stream"] == json!(true) {
            let chunks = vec![
                ": keep-alive\n\n".to_owned(),
                "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\"}}]}\n\n"
                    .to_owned(),
                sse_chunk("The spike "),
                sse_chunk("is 9 σ above."),
                "data: [DONE]\n\n".to_owned(),
            ];
            sse(futures::stream::iter(chunks))
        } else {
            axum::Json(completion("The spike is 9 σ above.")).into_response()
        }
    }
    async fn slow(State(log): State<Log>, headers: HeaderMap, body: Bytes) -> Response {
        record(&log, &headers, &body);
        tokio::time::sleep(Duration::from_secs(30)).await;
        axum::Json(completion("too late")).into_response()
    }
    async fn stall(State(log): State<Log>, headers: HeaderMap, body: Bytes) -> Response {
        record(&log, &headers, &body);
        sse(futures::stream::iter(vec![sse_chunk("Half an ")]).chain(futures::stream::pending()))
    }
    async fn status(
        code: StatusCode,
        body: &'static str,
        extra: Option<(&'static str, &'static str)>,
    ) -> Response {
        let mut r = (code, [(header::CONTENT_TYPE, "application/json")], body).into_response();
        if let Some((k, v)) = extra {
            r.headers_mut().insert(k, v.parse().unwrap());
        }
        r
    }
    let app = Router::new()
        .route("/ok/v1/chat/completions", post(ok))
        .route("/slow/v1/chat/completions", post(slow))
        .route("/stall/v1/chat/completions", post(stall))
        .route(
            "/s401/v1/chat/completions",
            post(|| status(StatusCode::UNAUTHORIZED, r#"{"error":{"message":"Incorrect API key provided: sk-test-0123456789abcdef"}}"#, None)),
        )
        .route(
            "/gemini400/v1/chat/completions",
            post(|| status(StatusCode::BAD_REQUEST, r#"[{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT"}}]"#, None)),
        )
        .route(
            "/s429/v1/chat/completions",
            post(|| status(StatusCode::TOO_MANY_REQUESTS, r#"{"error":{"message":"Rate limit reached"}}"#, Some(("retry-after", "7")))),
        )
        .route(
            "/s500/v1/chat/completions",
            post(|| status(StatusCode::INTERNAL_SERVER_ERROR, "upstream exploded", None)),
        )
        .route(
            "/s404/v1/chat/completions",
            post(|| status(StatusCode::NOT_FOUND, r#"{"error":{"message":"model 'nope' not found"}}"#, None)),
        )
        .route(
            "/malformed/v1/chat/completions",
            post(|| async { (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], "{\"choices\": [") }),
        )
        .route(
            "/jsononly/v1/chat/completions",
            post(|| async { axum::Json(completion("Whole answer.")) }),
        )
        .route(
            "/noanswer/v1/chat/completions",
            post(|| async { axum::Json(json!({"choices": []})) }),
        )
        .route(
            "/badstream/v1/chat/completions",
            post(|| async {
                sse(futures::stream::iter(vec![sse_chunk("Part"), "data: {not json\n\n".to_owned()]))
            }),
        )
        .route(
            "/emptystream/v1/chat/completions",
            post(|| async { sse(futures::stream::iter(vec!["data: [DONE]\n\n".to_owned()])) }),
        )
        .with_state(log.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (addr, log)
}

fn client(addr: SocketAddr, path: &str, timeout_ms: u64) -> LlmClient {
    let config = LlmConfig::new(format!("http://{addr}/{path}/v1/"), "mock-model")
        .with_api_key(ApiKey::new(KEY))
        .with_timeout(Duration::from_millis(timeout_ms));
    LlmClient::new(config).unwrap()
}

fn messages() -> Vec<ChatMessage> {
    vec![
        ChatMessage::new(
            Role::System,
            "Evidence (JSON): {\"peak_index\":250,\"deviation_sigma\":9.1}",
        ),
        ChatMessage::new(Role::User, "Why is this anomalous?"),
    ]
}

#[tokio::test]
async fn plain_answers_carry_the_evidence_and_the_key_only_in_the_header() {
    let (addr, log) = serve().await;
    let c = client(addr, "ok", 5000);
    let answer = c.complete(&messages()).await.unwrap();
    assert_eq!(answer, "The spike is 9 σ above.");
    let seen = log.lock().unwrap()[0].clone();
    assert_eq!(
        seen.authorization.as_deref(),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert!(!seen.body.contains(KEY), "the key leaked into the body");
    let body: Value = serde_json::from_str(&seen.body).unwrap();
    assert_eq!(body["model"], "mock-model");
    assert_eq!(body["stream"], false);
    assert_eq!(body["messages"][0]["role"], "system");
    assert!(
        body["messages"][0]["content"]
            .as_str()
            .unwrap()
            .contains("\"peak_index\":250")
    );
    assert_eq!(body["messages"][1]["content"], "Why is this anomalous?");
}

#[tokio::test]
async fn streamed_answers_arrive_in_chunks() {
    let (addr, log) = serve().await;
    let c = client(addr, "ok", 5000);
    let chunks: Vec<String> = c
        .stream(&messages())
        .await
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
        .await;
    assert_eq!(chunks, ["The spike ", "is 9 σ above."]);
    let seen = log.lock().unwrap()[0].clone();
    assert_eq!(
        seen.authorization.as_deref(),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert!(!seen.body.contains(KEY));
    let body: Value = serde_json::from_str(&seen.body).unwrap();
    assert_eq!(body["stream"], true);
}

#[tokio::test]
async fn a_provider_without_streaming_still_answers_a_stream_request() {
    let (addr, _) = serve().await;
    let chunks: Vec<String> = client(addr, "jsononly", 5000)
        .stream(&messages())
        .await
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
        .await;
    assert_eq!(chunks, ["Whole answer."]);
}

#[tokio::test]
async fn no_key_no_authorization_header() {
    let (addr, log) = serve().await;
    let config = LlmConfig::new(format!("http://{addr}/ok/v1"), "llama3.2");
    let c = LlmClient::new(config).unwrap();
    c.complete(&messages()).await.unwrap();
    assert_eq!(log.lock().unwrap()[0].authorization, None);
}

/// Each failure: its code, HTTP status, and what the user is told.
#[tokio::test]
async fn failures_map_to_clear_errors() {
    let (addr, _) = serve().await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    }; // dropped: nothing listens there now
    type Case = (
        &'static str,
        SocketAddr,
        &'static str,
        &'static str,
        u16,
        &'static str,
    );
    let cases: &[Case] = &[
        (
            "timeout",
            addr,
            "slow",
            "llm_timeout",
            504,
            "did not answer within",
        ),
        (
            "refused",
            closed,
            "ok",
            "llm_unreachable",
            502,
            "Cannot reach the LLM",
        ),
        (
            "401",
            addr,
            "s401",
            "llm_unauthorized",
            502,
            "rejected the API key (HTTP 401)",
        ),
        (
            "gemini bad key",
            addr,
            "gemini400",
            "llm_unauthorized",
            502,
            "rejected the API key (HTTP 400)",
        ),
        (
            "429",
            addr,
            "s429",
            "llm_rate_limited",
            502,
            "Try again in 7 s",
        ),
        (
            "500",
            addr,
            "s500",
            "llm_failed",
            502,
            "failed on its side (HTTP 500)",
        ),
        (
            "404 model",
            addr,
            "s404",
            "llm_unknown_model",
            502,
            "model 'nope' not found",
        ),
        (
            "malformed JSON",
            addr,
            "malformed",
            "llm_bad_reply",
            502,
            "reply tsad cannot read",
        ),
        (
            "no choices",
            addr,
            "noanswer",
            "llm_bad_reply",
            502,
            "reply tsad cannot read",
        ),
    ];
    for (name, at, path, code, status, says) in cases {
        let c = client(*at, path, 300);
        let err = c.complete(&messages()).await.unwrap_err();
        assert_eq!(
            (err.code(), err.http_status()),
            (*code, *status),
            "{name}: {err}"
        );
        let msg = err.user_message();
        assert!(msg.contains(says), "{name}: {msg}");
        for text in [msg, err.to_string(), format!("{err:?}")] {
            assert!(!text.contains(KEY), "{name}: the key leaked: {text}");
        }
        assert!(
            err.to_string().contains("mock-model at 127.0.0.1"),
            "{name}: {err}"
        );
    }
}

#[tokio::test]
async fn stream_failures_end_the_stream_with_an_error() {
    let (addr, _) = serve().await;
    // Status errors come before the stream.
    let err = client(addr, "s429", 300)
        .stream(&messages())
        .await
        .err()
        .unwrap();
    assert_eq!(err.code(), "llm_rate_limited");
    let err = client(addr, "slow", 300)
        .stream(&messages())
        .await
        .err()
        .unwrap();
    assert!(matches!(err, ExplainError::Timeout { .. }), "{err}");

    // Mid-stream failures are the last item, after what arrived.
    type Case = (&'static str, &'static str, &'static str);
    let cases: &[Case] = &[
        ("stall", "Half an ", "llm_timeout"),
        ("badstream", "Part", "llm_bad_reply"),
        ("emptystream", "", "llm_bad_reply"),
    ];
    for (path, first, code) in cases {
        let items: Vec<Result<String, ExplainError>> = client(addr, path, 300)
            .stream(&messages())
            .await
            .unwrap()
            .collect()
            .await;
        let (last, before) = items.split_last().unwrap();
        let text: String = before
            .iter()
            .map(|r| r.as_ref().unwrap().as_str())
            .collect();
        assert_eq!(text, *first, "{path}");
        assert_eq!(last.as_ref().unwrap_err().code(), *code, "{path}");
    }
}

// ---- provider errors as llama.cpp and OpenAI send them (issue 17) ----------------------------

/// llama.cpp's server (`tools/server`) refusing a prompt longer than its context.
const LLAMA_CPP_OVERFLOW: &str = r#"{"error":{"code":400,"message":"the request exceeds the available context size, try increasing it","type":"exceed_context_size_error","n_prompt_tokens":4680,"n_ctx":2048}}"#;
/// OpenAI refusing a prompt longer than the model's context.
const OPENAI_OVERFLOW: &str = r#"{"error":{"message":"This model's maximum context length is 8192 tokens. However, your messages resulted in 9012 tokens. Please reduce the length of the messages.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#;
/// llama-cpp-python's server (the OpenAI shape, with the numbers only in the message).
const LLAMA_CPP_PYTHON_OVERFLOW: &str = r#"{"error":{"message":"This model's maximum context length is 2048 tokens. However, you requested 4680 tokens (4680 in the messages, 0 in the completion). Please reduce the length of the messages or completion.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#;
/// OpenAI asked for a model it does not have (HTTP 404).
const OPENAI_NO_MODEL: &str = r#"{"error":{"message":"The model `gpt-nope` does not exist or you do not have access to it.","type":"invalid_request_error","param":null,"code":"model_not_found"}}"#;
/// Ollama's OpenAI-compatible endpoint asked for a model it has not pulled (HTTP 404).
const OLLAMA_NO_MODEL: &str = r#"{"error":{"message":"model \"llama9\" not found, try pulling it first","type":"api_error","param":null,"code":null}}"#;
/// An OpenAI stream that fails after its first chunk.
const OPENAI_STREAM_ERROR: &str = r#"{"error":{"message":"The server had an error while processing your request. Sorry about that!","type":"server_error","param":null,"code":null}}"#;

async fn emulated_providers() -> SocketAddr {
    fn reply(code: u16, body: &'static str) -> Response {
        (
            StatusCode::from_u16(code).unwrap(),
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response()
    }
    let app = Router::new()
        .route(
            "/llamacpp-overflow/v1/chat/completions",
            post(|| async { reply(400, LLAMA_CPP_OVERFLOW) }),
        )
        .route(
            "/openai-overflow/v1/chat/completions",
            post(|| async { reply(400, OPENAI_OVERFLOW) }),
        )
        .route(
            "/llamacpppy-overflow/v1/chat/completions",
            post(|| async { reply(400, LLAMA_CPP_PYTHON_OVERFLOW) }),
        )
        .route(
            "/openai-nomodel/v1/chat/completions",
            post(|| async { reply(404, OPENAI_NO_MODEL) }),
        )
        .route(
            "/ollama-nomodel/v1/chat/completions",
            post(|| async { reply(404, OLLAMA_NO_MODEL) }),
        )
        // llama.cpp's server streaming: an `error:` line after the headers went out with 200.
        .route(
            "/llamacpp-stream-overflow/v1/chat/completions",
            post(|| async {
                sse(futures::stream::iter(vec![format!(
                    "error: {LLAMA_CPP_OVERFLOW}\n\n"
                )]))
            }),
        )
        // OpenAI streaming: a `data:` chunk holding an error, after some text.
        .route(
            "/openai-stream-error/v1/chat/completions",
            post(|| async {
                sse(futures::stream::iter(vec![
                    sse_chunk("The peak "),
                    format!("data: {OPENAI_STREAM_ERROR}\n\n"),
                ]))
            }),
        )
        // A named `event: error` whose data is the reason.
        .route(
            "/event-error/v1/chat/completions",
            post(|| async {
                sse(futures::stream::iter(vec![format!(
                    "event: error\ndata: {OPENAI_STREAM_ERROR}\n\n"
                )]))
            }),
        )
        // llama-cpp-python's server: a streamed request over the context fails after the 200
        // headers and the stream just closes; the same request unstreamed gets the 400.
        .route(
            "/cut-stream/v1/chat/completions",
            post(|body: Bytes| async move {
                let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                if req["stream"] == json!(true) {
                    sse(futures::stream::iter(vec![": ping\n\n".to_owned()]))
                } else {
                    reply(400, LLAMA_CPP_PYTHON_OVERFLOW)
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    addr
}

/// The error of a plain request, and of a streamed one (before or in the stream).
async fn both_errors(c: &LlmClient) -> [ExplainError; 2] {
    let plain = c.complete(&messages()).await.unwrap_err();
    let streamed = match c.stream(&messages()).await {
        Err(e) => e,
        Ok(s) => {
            let items: Vec<_> = s.collect().await;
            items
                .into_iter()
                .find_map(Result::err)
                .expect("the stream ended without an error")
        }
    };
    [plain, streamed]
}

#[tokio::test]
async fn a_context_overflow_says_both_sizes_and_how_to_fix_it() {
    let addr = emulated_providers().await;
    type Case = (&'static str, &'static [&'static str]);
    let cases: &[Case] = &[
        (
            "llamacpp-overflow",
            &[
                "4680 tokens for a context of 2048 tokens",
                "TSAD_LLM_CONTEXT_TOKENS=3000",
                "to at most 2048",
                "--ctx-size",
            ],
        ),
        (
            "openai-overflow",
            &[
                "9012 tokens for a context of 8192 tokens",
                "TSAD_LLM_CONTEXT_TOKENS",
            ],
        ),
        (
            "llamacpppy-overflow",
            &[
                "4680 tokens for a context of 2048 tokens",
                "to at most 2048",
            ],
        ),
    ];
    for (path, says) in cases {
        let config = LlmConfig::new(format!("http://{addr}/{path}/v1/"), "mock-model")
            .with_timeout(Duration::from_millis(2000))
            .with_context_tokens(3000);
        let c = LlmClient::new(config).unwrap();
        for err in both_errors(&c).await {
            assert_eq!(
                (err.code(), err.http_status()),
                ("llm_context_overflow", 502),
                "{path}: {err}"
            );
            let msg = err.user_message();
            for part in *says {
                assert!(msg.contains(part), "{path}: {part:?} not in {msg}");
            }
            assert!(!msg.contains("TSAD_LLM_BASE_URL"), "{path}: {msg}");
        }
    }
}

#[tokio::test]
async fn an_unknown_model_is_named() {
    let addr = emulated_providers().await;
    for path in ["openai-nomodel", "ollama-nomodel"] {
        let c = client(addr, path, 2000);
        for err in both_errors(&c).await {
            assert_eq!(
                (err.code(), err.http_status()),
                ("llm_unknown_model", 502),
                "{path}: {err}"
            );
            let msg = err.user_message();
            assert!(
                msg.contains("does not know the model `mock-model` (HTTP 404)"),
                "{path}: {msg}"
            );
            assert!(msg.contains("TSAD_LLM_MODEL"), "{path}: {msg}");
        }
    }
}

#[tokio::test]
async fn a_streamed_error_event_is_passed_through_with_its_reason() {
    let addr = emulated_providers().await;
    // llama.cpp's `error:` line: a context overflow, with its sizes.
    let [_, err] = both_errors(&client(addr, "llamacpp-stream-overflow", 2000)).await;
    assert_eq!(err.code(), "llm_context_overflow", "{err}");
    assert!(
        err.user_message()
            .contains("4680 tokens for a context of 2048 tokens"),
        "{}",
        err.user_message()
    );

    // OpenAI's `data: {"error"}` after some text: the text, then the reason.
    let items: Vec<_> = client(addr, "openai-stream-error", 2000)
        .stream(&messages())
        .await
        .unwrap()
        .collect()
        .await;
    assert_eq!(items[0].as_ref().unwrap(), "The peak ");
    let err = items[1].as_ref().unwrap_err();
    assert_eq!(err.code(), "llm_failed", "{err}");
    let msg = err.user_message();
    assert!(
        msg.contains("The server had an error while processing your request"),
        "{msg}"
    );
    assert!(!msg.contains("cannot read"), "{msg}");

    // `event: error` with the reason in its data.
    let [_, err] = both_errors(&client(addr, "event-error", 2000)).await;
    assert_eq!(err.code(), "llm_failed", "{err}");
    assert!(
        err.user_message().contains("The server had an error"),
        "{}",
        err.user_message()
    );

    // A stream closed with neither text nor reason (llama-cpp-python over its context) is
    // asked again unstreamed, which gives the reason.
    for err in both_errors(&client(addr, "cut-stream", 2000)).await {
        assert_eq!(err.code(), "llm_context_overflow", "{err}");
        assert!(
            err.user_message()
                .contains("4680 tokens for a context of 2048 tokens"),
            "{}",
            err.user_message()
        );
    }
}
