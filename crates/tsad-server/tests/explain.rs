//! Explanations and chat through the router (`oneshot`): offline answers, SSE, history, the
//! error rows, and an LLM on a loopback server speaking the chat-completions protocol.

mod common;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use common::{TestApp, error_body, fast_spec, json_request, parse, request};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tsad_explain::{ApiKey, LlmClient, LlmConfig};
use tsad_server::{AppState, ServerConfig, app};
use tsad_store::{SqliteStorage, Storage};

const KEY: &str = "sk-router-test-key-42";

/// A demo dataset and a finished `mad` run on it with at least one event. The threshold is
/// `sigma` k=3: on the 400-point demo the default (`auto`, one false alarm per 100,000
/// points) finds nothing with `mad`, and these tests are about explaining events.
async fn run_with_events(app: &TestApp) -> (String, usize) {
    let ds = app.demo().await;
    let run = app
        .finished_run_from(&json!({
            "dataset_id": ds, "detector": fast_spec(),
            "threshold": {"method": "sigma", "k": 3}
        }))
        .await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let events = run["events"].as_array().unwrap().len();
    assert!(events > 0, "the demo run found no events: {run}");
    (run["id"].as_str().unwrap().to_owned(), events)
}

fn question(q: &str) -> Value {
    json!({"messages": [{"role": "user", "content": q}]})
}

/// `event: name` blocks of an SSE body, with their JSON data.
fn sse_events(body: &[u8]) -> Vec<(String, Value)> {
    String::from_utf8_lossy(body)
        .split("\n\n")
        .filter_map(|block| {
            let mut name = None;
            let mut data = String::new();
            for line in block.lines() {
                if let Some(n) = line.strip_prefix("event:") {
                    name = Some(n.trim().to_owned());
                } else if let Some(d) = line.strip_prefix("data:") {
                    data.push_str(d.trim_start());
                }
            }
            Some((name?, serde_json::from_str(&data).unwrap_or(Value::Null)))
        })
        .collect()
}

#[tokio::test]
async fn explain_gives_evidence_and_an_explanation() {
    let app = TestApp::new();
    let (id, events) = run_with_events(&app).await;
    let (status, body) = app
        .post_json(&format!("/api/v1/runs/{id}/events/0/explain"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let ev = &body["evidence"];
    for key in [
        "start_time",
        "end_time",
        "duration_ms",
        "direction",
        "peak",
        "rank",
        "detectors",
        "seasons",
        "level",
        "similar",
        "data_quality",
    ] {
        assert!(ev.get(key).is_some(), "evidence lacks {key}: {ev}");
    }
    assert_eq!(ev["detectors"][0]["name"], "mad");
    assert_eq!(ev["detectors"][0]["share"], 1.0);
    let text = body["explanation"].as_str().unwrap();
    assert!(text.contains("The mad detector flagged it."), "{text}");
    assert!(text.contains("robust standard deviations"), "{text}");

    // An empty body is fine too (the body is not used).
    let (status, _, _) = app
        .send(request(
            Method::POST,
            &format!("/api/v1/runs/{id}/events/0/explain"),
        ))
        .await;
    assert_eq!(status, StatusCode::OK);

    // The error rows.
    let cases = [
        (
            format!("/api/v1/runs/{id}/events/{events}/explain"),
            404,
            "not_found",
        ),
        (
            "/api/v1/runs/run_nope/events/0/explain".to_owned(),
            404,
            "not_found",
        ),
        (
            format!("/api/v1/runs/{id}/events/first/explain"),
            400,
            "bad_request",
        ),
    ];
    for (uri, status, code) in cases {
        let (got, body) = app.post_json(&uri, &json!({})).await;
        assert_eq!(
            (got.as_u16(), body["error"]["code"].as_str()),
            (status, Some(code)),
            "{uri}: {body}"
        );
    }
    let (_, body) = app
        .post_json(
            &format!("/api/v1/runs/{id}/events/{events}/explain"),
            &json!({}),
        )
        .await;
    assert_eq!(
        body,
        error_body(
            "not_found",
            &format!(
                "run `{id}` has {events} events; there is no event {events} (events are numbered from 0)"
            )
        )
    );
}

#[tokio::test]
async fn offline_chat_answers_streams_and_keeps_history() {
    let app = TestApp::new();
    let (id, _) = run_with_events(&app).await;
    let (status, body) = app.get("/api/v1/llm").await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"provider": "offline"}))
    );

    let uri = format!("/api/v1/runs/{id}/chat");
    let mut req = question("Why is this anomalous?");
    req["event"] = json!(0);
    req["context"] = json!("hourly demo metric");
    let (status, body) = app.post_json(&uri, &req).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["provider"], "offline");
    let answer = body["answer"].as_str().unwrap();
    for fact in [
        "robust standard deviations",
        "What to check next:",
        "TSAD_LLM_BASE_URL",
    ] {
        assert!(answer.contains(fact), "missing {fact:?}: {answer}");
    }

    // Streamed: delta chunks, then done with the whole answer.
    let mut req = question("When did it start?");
    req["stream"] = json!(true);
    let http = json_request(Method::POST, &uri, req.to_string());
    let (status, headers, body) = app.send(http).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let events = sse_events(&body);
    let (last, deltas) = events.split_last().unwrap();
    assert_eq!(last.0, "done");
    assert_eq!(last.1["provider"], "offline");
    let joined: String = deltas
        .iter()
        .map(|(name, data)| {
            assert_eq!(name, "delta");
            data["delta"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(joined, last.1["answer"].as_str().unwrap());
    assert!(joined.contains("No event is selected"), "{joined}");

    // Both questions and answers are stored with the run.
    let (status, history) = app.get(&uri).await;
    assert_eq!(status, StatusCode::OK);
    let roles: Vec<&str> = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user", "assistant", "user", "assistant"]);
    assert_eq!(history["messages"][2]["content"], "When did it start?");
}

#[tokio::test]
async fn chat_error_rows() {
    let app = TestApp::new();
    let (id, events) = run_with_events(&app).await;
    let uri = format!("/api/v1/runs/{id}/chat");
    let cases: Vec<(&str, String, u16, &str, &str)> = vec![
        ("no messages", json!({"messages": []}).to_string(), 422, "invalid_parameter", "at least one message"),
        (
            "last is the assistant",
            json!({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}).to_string(),
            422,
            "invalid_parameter",
            "the last message must be the user's question",
        ),
        (
            "bad role and empty question together",
            json!({"messages": [{"role": "system", "content": "x"}, {"role": "user", "content": " "}]}).to_string(),
            422,
            "invalid_parameter",
            "messages[0].role: must be `user` or `assistant`, got `system`; messages: the question is empty",
        ),
        ("malformed JSON", "{\"messages\": [".to_owned(), 400, "bad_request", ""),
        ("unknown field", json!({"messages": [], "temperature": 2}).to_string(), 400, "bad_request", "temperature"),
        (
            "no such event",
            json!({"messages": [{"role": "user", "content": "why?"}], "event": events}).to_string(),
            404,
            "not_found",
            "there is no event",
        ),
    ];
    for (name, body, status, code, says) in cases {
        let (got, body) = app.raw_json(Method::POST, &uri, body).await;
        assert_eq!(
            (got.as_u16(), body["error"]["code"].as_str()),
            (status, Some(code)),
            "{name}: {body}"
        );
        assert!(
            body["error"]["message"].as_str().unwrap().contains(says),
            "{name}: {body}"
        );
    }
    let (status, body) = app
        .post_json("/api/v1/runs/run_nope/chat", &question("why?"))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (status, _) = app.get("/api/v1/runs/run_nope/chat").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn runs_that_have_not_succeeded_cannot_be_explained() {
    // No job slots: the run stays queued.
    let app = TestApp::with_config(ServerConfig {
        max_jobs: 0,
        ..ServerConfig::default()
    });
    let ds = app.demo().await;
    let (status, run) = app
        .post_json(
            "/api/v1/runs",
            &json!({"dataset_id": ds, "detector": fast_spec()}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let id = run["id"].as_str().unwrap();
    let (status, body) = app
        .post_json(&format!("/api/v1/runs/{id}/events/0/explain"), &json!({}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("conflict"))
    );
    let (status, _) = app
        .post_json(&format!("/api/v1/runs/{id}/chat"), &question("why?"))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn the_new_routes_are_in_the_openapi_document() {
    let app = TestApp::new();
    let (_, doc) = app.get("/api/v1/openapi.json").await;
    assert!(doc["paths"]["/api/v1/runs/{id}/events/{n}/explain"]["post"].is_object());
    assert!(doc["paths"]["/api/v1/runs/{id}/chat"]["post"].is_object());
    assert!(doc["paths"]["/api/v1/runs/{id}/chat"]["get"].is_object());
    assert!(doc["paths"]["/api/v1/llm"]["get"].is_object());
    assert!(doc["components"]["schemas"]["ChatRequest"].is_object());
}

// ---- an LLM on a loopback server --------------------------------------------------------

type Log = Arc<Mutex<Vec<(Option<String>, String)>>>;

fn completion(text: &str) -> Value {
    json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": text}}]})
}

/// llama.cpp's server refusing a prompt longer than its context.
const LLAMA_CPP_OVERFLOW: &str = r#"{"error":{"code":400,"message":"the request exceeds the available context size, try increasing it","type":"exceed_context_size_error","n_prompt_tokens":4680,"n_ctx":2048}}"#;
/// OpenAI refusing a prompt longer than the model's context.
const OPENAI_OVERFLOW: &str = r#"{"error":{"message":"This model's maximum context length is 8192 tokens. However, your messages resulted in 9012 tokens. Please reduce the length of the messages.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#;
/// OpenAI asked for a model it does not have.
const OPENAI_NO_MODEL: &str = r#"{"error":{"message":"The model `mock` does not exist or you do not have access to it.","type":"invalid_request_error","param":null,"code":"model_not_found"}}"#;

fn json_error(code: u16, body: &'static str) -> Response {
    (
        StatusCode::from_u16(code).unwrap(),
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

async fn mock_provider() -> (std::net::SocketAddr, Log) {
    let log: Log = Arc::default();
    let seen = log.clone();
    let ok = move |headers: HeaderMap, body: Bytes| {
        let seen = seen.clone();
        async move {
            let auth = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let text = String::from_utf8_lossy(&body).into_owned();
            let stream = text.contains("\"stream\":true");
            seen.lock().unwrap().push((auth, text));
            if stream {
                let body = ["Hypothesis: ", "a sale."]
                    .iter()
                    .map(|t| {
                        format!(
                            "data: {}\n\n",
                            json!({"choices": [{"delta": {"content": t}}]})
                        )
                    })
                    .chain(["data: [DONE]\n\n".to_owned()])
                    .collect::<String>();
                ([(header::CONTENT_TYPE, "text/event-stream")], body).into_response()
            } else {
                axum::Json(completion("Hypothesis: a sale.")).into_response()
            }
        }
    };
    let router = axum::Router::new()
        .route("/ok/v1/chat/completions", post(ok))
        // llama.cpp's server and OpenAI refusing a prompt longer than the context.
        .route(
            "/llamacpp-overflow/v1/chat/completions",
            post(|| async { json_error(400, LLAMA_CPP_OVERFLOW) }),
        )
        .route(
            "/openai-overflow/v1/chat/completions",
            post(|| async { json_error(400, OPENAI_OVERFLOW) }),
        )
        .route(
            "/openai-nomodel/v1/chat/completions",
            post(|| async { json_error(404, OPENAI_NO_MODEL) }),
        )
        // llama.cpp streaming: the overflow as an `error:` line after a 200.
        .route(
            "/stream-error/v1/chat/completions",
            post(|| async {
                (
                    [(header::CONTENT_TYPE, "text/event-stream")],
                    format!("error: {LLAMA_CPP_OVERFLOW}\n\n"),
                )
                    .into_response()
            }),
        )
        .route(
            "/down/v1/chat/completions",
            post(|| async { (StatusCode::SERVICE_UNAVAILABLE, "overloaded").into_response() }),
        )
        .route(
            "/slow/v1/chat/completions",
            post(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                Response::new(Body::empty())
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    (addr, log)
}

/// An app whose chat asks the mock provider under `path`, with a run that has events.
async fn app_with_llm(addr: std::net::SocketAddr, path: &str) -> (TestApp, String) {
    app_with_context(addr, path, tsad_explain::DEFAULT_CONTEXT_TOKENS).await
}

/// As [`app_with_llm`], for a model whose context is `tokens` (`TSAD_LLM_CONTEXT_TOKENS`).
async fn app_with_context(
    addr: std::net::SocketAddr,
    path: &str,
    tokens: usize,
) -> (TestApp, String) {
    let store: Arc<dyn Storage> = Arc::new(SqliteStorage::open_in_memory().unwrap());
    let config = LlmConfig::new(format!("http://{addr}/{path}/v1/"), "mock")
        .with_api_key(ApiKey::new(KEY))
        .with_timeout(Duration::from_millis(500))
        .with_context_tokens(tokens);
    let state = AppState::new(store, ServerConfig::default())
        .with_llm(Some(LlmClient::new(config).unwrap()));
    let app = TestApp {
        router: app(state.clone()),
        state,
    };
    let (id, _) = run_with_events(&app).await;
    (app, id)
}

#[tokio::test]
async fn an_llm_answers_from_the_evidence_with_the_key_only_in_the_header() {
    let (addr, log) = mock_provider().await;
    let (app, id) = app_with_llm(addr, "ok").await;
    let (_, status) = app.get("/api/v1/llm").await;
    assert_eq!(status, json!({"provider": format!("mock at {addr}")}));

    let uri = format!("/api/v1/runs/{id}/chat");
    let mut req = question("Why is this anomalous?");
    req["event"] = json!(0);
    req["context"] = json!("visits of a web shop");
    let (status, body) = app.post_json(&uri, &req).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"answer": "Hypothesis: a sale.", "provider": format!("mock at {addr}")})
    );

    let (auth, sent) = log.lock().unwrap()[0].clone();
    assert_eq!(auth, Some(format!("Bearer {KEY}")));
    assert!(!sent.contains(KEY), "the key is in the body");
    let sent: Value = serde_json::from_str(&sent).unwrap();
    let system = sent["messages"][0]["content"].as_str().unwrap();
    // The default context (2,048 tokens) has room for the evidence in words.
    for fact in [
        "The evidence in words:",
        "Run summary",
        "Hypothesis:",
        "visits of a web shop",
        "Event 1 of",
    ] {
        assert!(system.contains(fact), "the prompt lacks {fact:?}");
    }
    assert_eq!(sent["messages"][1]["content"], "Why is this anomalous?");

    // Streamed through the server.
    req["stream"] = json!(true);
    let http = json_request(Method::POST, &uri, req.to_string());
    let (status, _, body) = app.send(http).await;
    assert_eq!(status, StatusCode::OK);
    let events = sse_events(&body);
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["delta", "delta", "done"]);
    assert_eq!(events[2].1["answer"], "Hypothesis: a sale.");
    // The key never reaches the browser.
    assert!(!String::from_utf8_lossy(&body).contains(KEY));
}

/// Issue 17: every prompt the chat sends for the demo's events, plain and streamed, fits the
/// configured context with room for the answer; a larger context carries more.
#[tokio::test]
async fn demo_prompts_fit_the_context_budget() {
    let (addr, log) = mock_provider().await;
    for tokens in [1024, 2048, 8192] {
        let (app, id) = app_with_context(addr, "ok", tokens).await;
        let (_, run) = app.get(&format!("/api/v1/runs/{id}")).await;
        let events = run["events"].as_array().map_or(0, Vec::len);
        assert!(events > 0, "{run}");
        log.lock().unwrap().clear();
        let long = "Explain it in detail, please. ".repeat(600);
        for event in (0..events).map(Some).chain([None]) {
            for stream in [false, true] {
                let req = json!({
                    "messages": [
                        {"role": "user", "content": "What happened here?"},
                        {"role": "assistant", "content": "A spike. ".repeat(1500)},
                        {"role": "user", "content": long},
                    ],
                    "event": event, "stream": stream,
                    "context": "visits of a web shop, counted per hour",
                });
                let http = json_request(
                    Method::POST,
                    &format!("/api/v1/runs/{id}/chat"),
                    req.to_string(),
                );
                let (status, _, _) = app.send(http).await;
                assert_eq!(status, StatusCode::OK);
            }
        }
        let sent = log.lock().unwrap().clone();
        assert_eq!(sent.len(), (events + 1) * 2);
        for (_, body) in &sent {
            let body: Value = serde_json::from_str(body).unwrap();
            let messages: Vec<tsad_explain::ChatMessage> = body["messages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| {
                    let role = match m["role"].as_str().unwrap() {
                        "system" => tsad_explain::Role::System,
                        "assistant" => tsad_explain::Role::Assistant,
                        _ => tsad_explain::Role::User,
                    };
                    tsad_explain::ChatMessage::new(role, m["content"].as_str().unwrap())
                })
                .collect();
            let estimate = tsad_explain::estimate_prompt_tokens(&messages);
            assert!(
                estimate + tsad_explain::answer_reserve(tokens) <= tokens,
                "{estimate} tokens in a {tokens}-token context"
            );
            let system = &messages[0].content;
            assert!(system.contains("The evidence in words:") || system.contains("no events"));
            if tokens == 8192 {
                assert!(system.contains("Evidence (JSON):") && system.contains("\"peak_index\":"));
            }
        }
    }
}

/// Issue 17: a context overflow (llama.cpp's and OpenAI's bodies) and an unknown model,
/// plain and streamed, told straight through the API; a streamed error event keeps its reason.
#[tokio::test]
async fn provider_errors_are_told_straight_through_the_api() {
    let (addr, _) = mock_provider().await;
    let cases = [
        (
            "llamacpp-overflow",
            "llm_context_overflow",
            "4680 tokens for a context of 2048 tokens",
        ),
        (
            "openai-overflow",
            "llm_context_overflow",
            "9012 tokens for a context of 8192 tokens",
        ),
        (
            "openai-nomodel",
            "llm_unknown_model",
            "does not know the model `mock` (HTTP 404)",
        ),
        (
            "stream-error",
            "llm_context_overflow",
            "4680 tokens for a context of 2048 tokens",
        ),
    ];
    for (path, code, says) in cases {
        let (app, id) = app_with_llm(addr, path).await;
        for stream in [false, true] {
            if path == "stream-error" && !stream {
                continue;
            }
            let mut req = question("Why is this anomalous?");
            req["stream"] = json!(stream);
            let http = json_request(
                Method::POST,
                &format!("/api/v1/runs/{id}/chat"),
                req.to_string(),
            );
            let (status, _, body) = app.send(http).await;
            // An error before the stream starts is a 502; one inside it is an `error` event.
            let error = if status == StatusCode::OK {
                let events = sse_events(&body);
                let (name, data) = events.last().unwrap();
                assert_eq!(name, "error", "{path}: {events:?}");
                data["error"].clone()
            } else {
                assert_eq!(status, StatusCode::BAD_GATEWAY, "{path}");
                parse(&body)["error"].clone()
            };
            assert_eq!(error["code"], code, "{path} stream={stream}: {error}");
            let message = error["message"].as_str().unwrap();
            assert!(message.contains(says), "{path} stream={stream}: {message}");
            if code == "llm_context_overflow" {
                assert!(message.contains("TSAD_LLM_CONTEXT_TOKENS"), "{message}");
            }
            assert!(!message.contains("cannot read"), "{message}");
        }
    }
}

#[tokio::test]
async fn provider_failures_become_502_and_504() {
    let (addr, _) = mock_provider().await;
    let cases = [
        ("down", 502, "llm_failed", "failed on its side (HTTP 503)"),
        ("slow", 504, "llm_timeout", "did not answer within"),
    ];
    for (path, status, code, says) in cases {
        let (app, id) = app_with_llm(addr, path).await;
        for stream in [false, true] {
            let mut req = question("why?");
            req["stream"] = json!(stream);
            let (got, body) = app
                .post_json(&format!("/api/v1/runs/{id}/chat"), &req)
                .await;
            assert_eq!(
                (got.as_u16(), body["error"]["code"].as_str()),
                (status, Some(code)),
                "{path}: {body}"
            );
            assert!(
                body["error"]["message"].as_str().unwrap().contains(says),
                "{path}: {body}"
            );
        }
        // Nothing was stored for failed answers; the server keeps serving.
        let (_, history) = app.get(&format!("/api/v1/runs/{id}/chat")).await;
        assert_eq!(history["messages"], json!([]));
        let (ok, _) = app.get("/healthz").await;
        assert_eq!(ok, StatusCode::OK);
        // What the UI offers after the failure: the offline answer, from the evidence.
        let mut req = question("why?");
        req["offline"] = json!(true);
        let (got, body) = app
            .post_json(&format!("/api/v1/runs/{id}/chat"), &req)
            .await;
        assert_eq!(got, StatusCode::OK, "{path}: {body}");
        assert_eq!(body["provider"], "offline", "{path}: {body}");
        assert!(!body["answer"].as_str().unwrap().is_empty());
    }
    let _ = parse(b"");
}
