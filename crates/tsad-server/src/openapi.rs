//! The OpenAPI document generated from the handlers (utoipa), and a small readable HTML page
//! rendered from it (no CDN, no Swagger UI).

use crate::routes::{compare, datasets, detect, explain, marks, models, ops, runs};
use serde_json::Value;
use std::fmt::Write as _;
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "tsad REST API",
        description = "Anomaly detection in time series: datasets, detectors, background runs \
            with progress (fitted on a training part or scored with a stored model), \
            downsampled points, re-thresholding on calibrated rarity or raw scores, saved \
            models. Errors are always \
            `{\"error\": {\"code\", \"message\"}}`; see docs/API.md for the status mapping. \
            When the server has an access token, every path but /healthz and /metrics needs \
            `Authorization: Bearer <token>` (401 `unauthorized` otherwise); any path may \
            answer 403 `host_not_allowed` or `cross_origin`, 405 `method_not_allowed`, 414 \
            `uri_too_long`, 415 `unsupported_media_type` and 507 `storage_full`. Every \
            answer carries Content-Security-Policy, X-Content-Type-Options, X-Frame-Options \
            and Referrer-Policy headers."
    ),
    paths(
        datasets::datasets_create,
        datasets::datasets_demo,
        datasets::datasets_list,
        datasets::datasets_get,
        datasets::datasets_delete,
        datasets::datasets_series,
        datasets::datasets_rename,
        detect::detectors_list,
        detect::detect_create,
        runs::runs_create,
        runs::runs_list,
        runs::runs_get,
        runs::runs_cancel,
        runs::runs_delete,
        runs::runs_progress,
        runs::runs_points,
        runs::runs_events,
        runs::runs_threshold,
        runs::runs_download,
        runs::runs_series,
        runs::runs_rename,
        compare::runs_compare,
        marks::run_marks_get,
        marks::run_marks_create,
        marks::marks_update,
        marks::marks_delete,
        models::runs_model_create,
        models::models_list,
        models::models_get,
        models::models_delete,
        models::models_download,
        explain::runs_explain,
        explain::runs_chat,
        explain::runs_chat_history,
        explain::llm_get,
        ops::health_get,
        ops::metrics_get,
        ops::openapi_get,
    ),
    components(schemas(
        crate::error::ErrorBody,
        crate::api::ColumnSelector,
        crate::api::EventOrder,
        crate::downsample::Method
    )),
    tags(
        (name = "datasets", description = "Upload CSVs or points, the demo, previews and diagnostics"),
        (name = "detectors", description = "The catalog and synchronous detection"),
        (name = "runs", description = "Background detection runs and their results"),
        (name = "models", description = "Fitted models (detector state and calibration) saved from runs, to score new data without fitting"),
        (name = "explanations", description = "Evidence per event, plain-language explanations and the chat (an LLM, or offline answers from the evidence)"),
        (name = "operations", description = "Health, metrics and this document"),
    )
)]
struct ApiDoc;

/// The OpenAPI document.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Markdown-ish inline code (`x`) to <code>, after escaping.
fn text(s: &str) -> String {
    let mut out = String::new();
    for (i, part) in esc(s).split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<code>{part}</code>");
        } else {
            out.push_str(part);
        }
    }
    out
}

/// A schema's type in a few words: `Dataset`, `array of string`, `integer | null`.
fn type_of(schema: &Value) -> String {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().unwrap_or(r);
        return format!("<a href=\"#schema-{0}\">{0}</a>", esc(name));
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(list) = schema.get(key).and_then(Value::as_array) {
            return list.iter().map(type_of).collect::<Vec<_>>().join(" | ");
        }
    }
    let ty = match schema.get("type") {
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" | "),
        _ => "any".into(),
    };
    if ty.starts_with("array")
        && let Some(items) = schema.get("items")
    {
        return format!("{} of {}", esc(&ty), type_of(items));
    }
    esc(&ty)
}

/// Renders the document as one self-contained HTML page.
pub fn docs_page(doc: &utoipa::openapi::OpenApi) -> String {
    let json = serde_json::to_value(doc).unwrap_or(Value::Null);
    let title = json["info"]["title"].as_str().unwrap_or("API");
    let version = json["info"]["version"].as_str().unwrap_or("");
    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t}</title><style>\
         body{{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222;line-height:1.45}}\
         code{{background:#f3f3f3;padding:0 .2em;border-radius:3px}}\
         .op{{border:1px solid #ddd;border-radius:6px;margin:1rem 0;padding:.6rem 1rem}}\
         .m{{display:inline-block;min-width:4.5rem;font-weight:700;text-transform:uppercase}}\
         .get{{color:#1a7f37}}.post{{color:#0969da}}.delete{{color:#cf222e}}.put,.patch{{color:#9a6700}}\
         table{{border-collapse:collapse;margin:.4rem 0}}td,th{{border-bottom:1px solid #eee;padding:.2rem .6rem;text-align:left;vertical-align:top}}\
         h2{{margin-top:2.5rem;border-bottom:1px solid #ddd}}nav a{{margin-right:1rem}}\
         </style></head><body><h1>{t} <small>{v}</small></h1>\
         <p>{d}</p><nav><a href=\"/api/v1/openapi.json\">openapi.json</a><a href=\"#schemas\">Schemas</a><a href=\"/\">Web UI</a></nav>",
        t = esc(title),
        v = esc(version),
        d = text(json["info"]["description"].as_str().unwrap_or("")),
    );
    out.push_str("<h2>Endpoints</h2>");
    if let Some(paths) = json["paths"].as_object() {
        for (path, item) in paths {
            let Some(ops) = item.as_object() else {
                continue;
            };
            for (method, op) in ops {
                write_operation(&mut out, path, method, op);
            }
        }
    }
    out.push_str("<h2 id=\"schemas\">Schemas</h2>");
    if let Some(schemas) = json["components"]["schemas"].as_object() {
        for (name, schema) in schemas {
            let _ = write!(
                out,
                "<div class=\"op\" id=\"schema-{n}\"><h3>{n}</h3><p>{d}</p>",
                n = esc(name),
                d = text(schema["description"].as_str().unwrap_or(""))
            );
            if let Some(props) = schema["properties"].as_object() {
                let required: Vec<&str> = schema["required"]
                    .as_array()
                    .map(|r| r.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                out.push_str("<table><tr><th>field</th><th>type</th><th>description</th></tr>");
                for (field, p) in props {
                    let _ = write!(
                        out,
                        "<tr><td><code>{}</code>{}</td><td>{}</td><td>{}</td></tr>",
                        esc(field),
                        if required.contains(&field.as_str()) {
                            " *"
                        } else {
                            ""
                        },
                        type_of(p),
                        text(p["description"].as_str().unwrap_or(""))
                    );
                }
                out.push_str("</table>");
            } else {
                let _ = write!(out, "<p>{}</p>", type_of(schema));
            }
            out.push_str("</div>");
        }
    }
    out.push_str("</body></html>");
    out
}

fn write_operation(out: &mut String, path: &str, method: &str, op: &Value) {
    let summary = op["summary"]
        .as_str()
        .or(op["description"].as_str())
        .unwrap_or("");
    let _ = write!(
        out,
        "<div class=\"op\"><div><span class=\"m {m}\">{m}</span> <code>{p}</code></div><p>{s}</p>",
        m = esc(method),
        p = esc(path),
        s = text(summary)
    );
    if let Some(params) = op["parameters"].as_array().filter(|p| !p.is_empty()) {
        out.push_str(
            "<table><tr><th>parameter</th><th>in</th><th>type</th><th>description</th></tr>",
        );
        for p in params {
            let _ = write!(
                out,
                "<tr><td><code>{}</code>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(p["name"].as_str().unwrap_or("")),
                if p["required"].as_bool() == Some(true) {
                    " *"
                } else {
                    ""
                },
                esc(p["in"].as_str().unwrap_or("")),
                type_of(&p["schema"]),
                text(p["description"].as_str().unwrap_or(""))
            );
        }
        out.push_str("</table>");
    }
    if let Some(content) = op["requestBody"]["content"].as_object() {
        out.push_str("<p>Body: ");
        let parts: Vec<String> = content
            .iter()
            .map(|(ct, c)| format!("<code>{}</code> {}", esc(ct), type_of(&c["schema"])))
            .collect();
        out.push_str(&parts.join(", or "));
        out.push_str("</p>");
    }
    if let Some(responses) = op["responses"].as_object() {
        out.push_str("<table><tr><th>status</th><th>body</th><th>when</th></tr>");
        for (status, r) in responses {
            let body = r["content"]
                .as_object()
                .and_then(|c| c.values().next())
                .map(|c| type_of(&c["schema"]))
                .unwrap_or_default();
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(status),
                body,
                text(r["description"].as_str().unwrap_or(""))
            );
        }
        out.push_str("</table>");
    }
    out.push_str("</div>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_documented_and_rendered() {
        let doc = document();
        let json = serde_json::to_value(&doc).unwrap();
        assert!(json["openapi"].as_str().unwrap().starts_with("3."));
        let paths = json["paths"].as_object().unwrap();
        for p in [
            "/api/v1/datasets",
            "/api/v1/datasets/demo",
            "/api/v1/datasets/{id}",
            "/api/v1/detectors",
            "/api/v1/detect",
            "/api/v1/runs",
            "/api/v1/runs/{id}",
            "/api/v1/runs/{id}/cancel",
            "/api/v1/runs/{id}/progress",
            "/api/v1/runs/{id}/points",
            "/api/v1/runs/{id}/events",
            "/api/v1/runs/{id}/threshold",
            "/api/v1/runs/{id}/download",
            "/api/v1/runs/{id}/model",
            "/api/v1/models",
            "/api/v1/models/{id}",
            "/api/v1/models/{id}/download",
            "/healthz",
            "/metrics",
            "/api/v1/openapi.json",
        ] {
            assert!(
                paths.contains_key(p),
                "{p} missing from the OpenAPI document"
            );
        }
        let page = docs_page(&doc);
        assert!(page.contains("<code>/api/v1/runs/{id}/points</code>"));
        assert!(page.contains("id=\"schema-Dataset\""));
        assert!(!page.contains("<script"));
    }

    #[test]
    fn every_schema_reference_resolves() {
        fn refs(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::Object(m) => {
                    if let Some(Value::String(r)) = m.get("$ref") {
                        out.push(r.clone());
                    }
                    m.values().for_each(|x| refs(x, out));
                }
                Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
                _ => {}
            }
        }
        let json = serde_json::to_value(document()).unwrap();
        let mut found = Vec::new();
        refs(&json, &mut found);
        assert!(!found.is_empty());
        for r in found {
            let name = r.trim_start_matches("#/components/schemas/");
            assert!(
                json["components"]["schemas"].get(name).is_some(),
                "dangling reference {r}"
            );
        }
    }

    #[test]
    fn text_escapes_and_marks_code() {
        assert_eq!(text("a `<b>` c"), "a <code>&lt;b&gt;</code> c");
    }
}
