//! The happy path of every endpoint, on in-memory storage, through `oneshot`.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::{TestApp, fast_spec, parse, request, spike_csv};
use serde_json::{Value, json};
use tsad_server::ServerConfig;
use tsad_store::RunStatus;

#[tokio::test]
async fn operations_endpoints() {
    let app = TestApp::new();
    let (status, body) = app.get("/healthz").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")})
    );

    let (status, headers, body) = app.send(request(Method::GET, "/metrics")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = String::from_utf8(body.to_vec()).unwrap();
    for want in [
        "tsad_http_requests_total{method=\"GET\",path=\"/healthz\",status=\"200\"} 1",
        "tsad_jobs_running 0",
        "tsad_jobs_queued 0",
    ] {
        assert!(text.contains(want), "missing {want}:\n{text}");
    }

    let (status, doc) = app.get("/api/v1/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    assert!(doc["paths"]["/api/v1/runs/{id}/points"]["get"].is_object());
    // Query parameters are optional query parameters; only `id` is in the path.
    let params = doc["paths"]["/api/v1/runs/{id}/points"]["get"]["parameters"]
        .as_array()
        .unwrap();
    for p in params {
        let (name, place) = (p["name"].as_str().unwrap(), p["in"].as_str().unwrap());
        if name == "id" {
            assert_eq!((place, &p["required"]), ("path", &serde_json::json!(true)));
        } else {
            assert_eq!(place, "query", "{p}");
            assert_ne!(p["required"], serde_json::json!(true), "{p}");
        }
    }
    assert!(
        params.iter().any(|p| p["name"] == "max_points"),
        "{params:?}"
    );
    assert!(doc["components"]["schemas"]["Run"].is_object());

    let (status, headers, body) = app.send(request(Method::GET, "/api/docs")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = String::from_utf8(body.to_vec()).unwrap();
    assert!(page.contains("/api/v1/datasets/demo") && page.contains("schema-Points"));

    let (status, catalog) = app.get("/api/v1/detectors").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        catalog["detectors"]
            .as_array()
            .is_some_and(|d| !d.is_empty()),
        "{catalog}"
    );
    assert!(catalog["default_spec"]["kind"].is_string(), "{catalog}");
}

/// A label column of words, as pandas writes a boolean column, is found and read as 0 and 1.
#[tokio::test]
async fn boolean_label_columns_are_labels() {
    let app = TestApp::new();
    let text = String::from_utf8(spike_csv()).unwrap();
    let words: String = text
        .lines()
        .map(|l| match l.rsplit_once(',') {
            Some((head, "1")) => format!("{head},True\n"),
            Some((head, "0")) => format!("{head},False\n"),
            _ => format!("{l}\n"),
        })
        .collect();
    let (status, ds) = app.upload("words.csv", words.as_bytes()).await;
    assert_eq!(status, StatusCode::CREATED, "{ds}");
    assert_eq!(ds["label_column"], "is_anomaly");
    let run = app
        .finished_run(ds["id"].as_str().unwrap(), fast_spec())
        .await;
    let id = run["id"].as_str().unwrap();
    let (status, points) = app.get(&format!("/api/v1/runs/{id}/points")).await;
    assert_eq!(status, StatusCode::OK, "{points}");
    assert_eq!(points["label"][90], 1.0);
    assert_eq!(points["label"][0], 0.0);
}

#[tokio::test]
async fn datasets_lifecycle() {
    let app = TestApp::new();
    // multipart upload with a label column
    let (status, ds) = app.upload("spikes.csv", &spike_csv()).await;
    assert_eq!(status, StatusCode::CREATED, "{ds}");
    assert_eq!(ds["name"], "spikes.csv");
    assert_eq!(ds["rows"], 120);
    assert_eq!(ds["size_bytes"], spike_csv().len());
    assert_eq!(ds["delimiter"], ",");
    assert_eq!(ds["has_header"], true);
    assert_eq!(ds["time_column"], "timestamp");
    assert_eq!(ds["value_column"], "value");
    assert_eq!(ds["label_column"], "is_anomaly");
    assert_eq!(
        ds["columns"][0],
        json!({"index": 0, "name": "timestamp", "kind": "time"})
    );
    assert_eq!(ds["preview"]["rows"].as_array().unwrap().len(), 20);
    assert_eq!(ds["preview"]["rows"][0][1], "10");
    assert_eq!(ds["diagnostics"]["points"], 120);
    assert!(ds["id"].as_str().unwrap().starts_with("ds_"));
    assert!(ds["created_at"].as_str().unwrap().ends_with('Z'));
    let id = ds["id"].as_str().unwrap().to_owned();

    // a multipart `name` field overrides the file name
    let (ct, body) = common::multipart(&[
        ("name", None, b"renamed"),
        ("file", Some("x.csv"), &spike_csv()),
    ]);
    let req = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/datasets")
        .header(header::CONTENT_TYPE, ct)
        .body(Body::from(body))
        .unwrap();
    let (status, _, body) = app.send(req).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(parse(&body)["name"], "renamed");

    // JSON points, with and without timestamps
    let (status, pts) = app
        .post_json(
            "/api/v1/datasets",
            &json!({"name": "inline", "timestamps": [0, 60000, 120000], "values": [1.5, null, 2.5]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{pts}");
    assert_eq!(
        (pts["name"].clone(), pts["rows"].clone()),
        (json!("inline"), json!(3))
    );
    assert_eq!(pts["diagnostics"]["missing_values"], 1);
    let (status, idx) = app
        .post_json("/api/v1/datasets", &json!({"values": [1.0, 2.0]}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{idx}");
    assert_eq!(idx["time_column"], Value::Null);
    assert_eq!(idx["name"], "points");

    // the demo, with its labels
    let (status, demo) = app.post_json("/api/v1/datasets/demo", &json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{demo}");
    assert_eq!(demo["rows"], 2000);
    assert_eq!(demo["label_column"], "is_anomaly");
    let req = request(Method::POST, "/api/v1/datasets/demo");
    let (status, _, body) = app.send(req).await;
    assert_eq!(status, StatusCode::CREATED, "empty body means defaults");
    assert_eq!(parse(&body)["name"], "demo.csv");

    // list (newest first), get, delete
    let (status, list) = app.get("/api/v1/datasets").await;
    assert_eq!(status, StatusCode::OK);
    let list = list["datasets"].as_array().unwrap().clone();
    assert_eq!(list.len(), 6);
    assert_eq!(list.last().unwrap()["id"], id);
    assert_eq!(
        list.last()
            .unwrap()
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        [
            "created_at",
            "id",
            "name",
            "rows",
            "run_count",
            "size_bytes"
        ]
    );
    let (status, one) = app.get(&format!("/api/v1/datasets/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one, ds);
    let (status, body) = app.delete(&format!("/api/v1/datasets/{id}")).await;
    assert_eq!((status, body.len()), (StatusCode::NO_CONTENT, 0));
    let (status, _) = app.get(&format!("/api/v1/datasets/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Issue 15, item 2: the points of a long run come from a cached min/max pyramid and flagged
/// index; a re-threshold must replace the flagged index (the pyramid stays), so the next
/// downsampled answer shows exactly the new flags, and a zoom keeps every spike.
#[tokio::test]
async fn downsampled_points_follow_a_rethreshold() {
    let app = TestApp::new();
    let spikes = [1_234, 4_321, 7_777];
    let (_, ds) = app
        .upload("long.csv", &common::cycle_csv(10_000, 0, &spikes))
        .await;
    let ds = ds["id"].as_str().unwrap();
    let run = app
        .finished_run_from(&json!({"dataset_id": ds, "detector": fast_spec(),
                                   "threshold": {"method": "quantile", "q": 0.999}}))
        .await;
    let id = run["id"].as_str().unwrap();
    let flags = |pts: &Value| -> Vec<u64> {
        let index = pts["index"].as_array().unwrap();
        let flag = pts["flag"].as_array().unwrap();
        (index.iter().zip(flag))
            .filter(|(_, f)| **f == true)
            .map(|(i, _)| i.as_u64().unwrap())
            .collect()
    };
    let uri = format!("/api/v1/runs/{id}/points?max_points=300");
    let (status, before) = app.get(&uri).await;
    assert_eq!(status, StatusCode::OK, "{before}");
    assert_eq!(before["downsampled"], true);
    assert_eq!(flags(&before).len() as u64, run["summary"]["anomaly_count"]);
    for spike in spikes {
        assert!(before["index"].as_array().unwrap().contains(&json!(spike)));
    }

    let (status, re) = app
        .post_json(
            &format!("/api/v1/runs/{id}/threshold"),
            &json!({"threshold": {"method": "quantile", "q": 0.98}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{re}");
    let count = re["anomaly_count"].as_u64().unwrap();
    assert!(count > flags(&before).len() as u64 && count <= 300, "{re}");
    let (_, after) = app.get(&uri).await;
    assert_eq!(
        flags(&after).len() as u64,
        count,
        "every new flag, no old one"
    );

    // A zoom around one spike: downsampled, and the spike is kept.
    let hour: i64 = 3_600_000;
    let (_, zoom) = app
        .get(&format!("{uri}&from={}&to={}", 4_000 * hour, 5_000 * hour))
        .await;
    assert_eq!(zoom["in_range"], 1001, "{zoom}");
    assert_eq!(zoom["downsampled"], true);
    assert!(zoom["index"].as_array().unwrap().contains(&json!(4_321)));
}

#[tokio::test]
async fn run_lifecycle_points_threshold_download() {
    let app = TestApp::new();
    let (_, ds) = app.upload("spikes.csv", &spike_csv()).await;
    let ds = ds["id"].as_str().unwrap().to_owned();

    let (status, queued) = app
        .post_json(
            "/api/v1/runs",
            &json!({"dataset_id": ds, "time_column": "timestamp", "value_column": 1,
                    "detector": fast_spec(), "threshold": {"method": "sigma", "k": 3},
                    "events": {"merge_gap": 1}}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    assert_eq!(queued["status"], "queued");
    assert_eq!(queued["dataset_name"], "spikes.csv");
    assert_eq!(queued["detector"]["kind"], "mad");
    assert_eq!(
        queued["events_options"],
        json!({"merge_gap": 1, "merge_gap_time": null, "min_points": 1, "prune": 0.0, "standout": true,
               "routine": true}),
        "options left out take their defaults"
    );
    assert_eq!(queued["threshold_rule"], "mean + 3 std of the scores");
    assert_eq!(queued["scale"], "raw");
    assert_eq!(queued["training"], json!({"source": "self"}));
    let id = queued["id"].as_str().unwrap().to_owned();
    assert_eq!(app.wait(&id).await, RunStatus::Succeeded);

    let (status, run) = app.get(&format!("/api/v1/runs/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["time_column"], "timestamp");
    assert_eq!(run["value_column"], "value");
    assert_eq!(run["error"], Value::Null);
    assert!(run["started_at"].is_string() && run["finished_at"].is_string());
    let summary = &run["summary"];
    assert_eq!(summary["points"], 120);
    assert_eq!(summary["step_ms"], 60_000);
    assert_eq!(summary["time_axis"], "epoch_millis");
    assert!(summary["anomaly_count"].as_u64().unwrap() >= 1, "{summary}");
    assert_eq!(summary["threshold_rule"], "mean + 3 std of the scores");
    assert_eq!(summary["scale"], "raw");
    assert_eq!(run["training"]["source"], "self");
    assert_eq!(run["training"]["rows"], 120);
    let events = run["events"].as_array().unwrap();
    assert!(events.iter().any(|e| e["peak"] == 90), "{run}");
    assert_eq!(summary["event_count"], events.len());
    // Time order, each with its index; ranks 1..=n, the spike first.
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e["index"], i);
    }
    let mut ranks: Vec<u64> = events.iter().map(|e| e["rank"].as_u64().unwrap()).collect();
    ranks.sort_unstable();
    assert_eq!(ranks, (1..=events.len() as u64).collect::<Vec<_>>());
    let top = events.iter().find(|e| e["rank"] == 1).unwrap();
    assert_eq!(top["peak"], 90, "the spike is the most severe event: {run}");
    assert!(top["rarity"].as_f64().unwrap() > 0.0, "{top}");
    assert!(run.get("report").is_some());

    // list, filtered by dataset, without events and report
    let (status, list) = app.get(&format!("/api/v1/runs?dataset_id={ds}")).await;
    assert_eq!(status, StatusCode::OK);
    let runs = list["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    assert!(runs[0].get("events").is_none() && runs[0].get("report").is_none());
    let (_, none) = app.get("/api/v1/runs?dataset_id=ds_other").await;
    assert_eq!(none, json!({"runs": []}));
    let (_, datasets) = app.get("/api/v1/datasets").await;
    assert_eq!(datasets["datasets"][0]["run_count"], 1);

    // points: everything, a range, downsampled both ways
    let (status, all) = app.get(&format!("/api/v1/runs/{id}/points")).await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert_eq!(
        (all["total"].clone(), all["returned"].clone()),
        (json!(120), json!(120))
    );
    assert_eq!(all["downsampled"], false);
    assert_eq!(all["t"][0], 1_704_067_200_000_i64);
    assert_eq!(all["value"][90], 50.0);
    assert_eq!(all["flag"][90], true);
    assert_eq!(all["label"][90], 1.0);
    assert_eq!(all["label"][0], 0.0);
    assert!(all["threshold_value"].is_number());
    assert_eq!(all["scale"], "raw");
    let rarity = all["rarity"].as_array().unwrap();
    assert_eq!(rarity.len(), 120);
    let r90 = rarity[90].as_f64().unwrap();
    assert!(
        rarity.iter().filter_map(Value::as_f64).all(|r| r <= r90),
        "the spike is the rarest point"
    );
    assert!(all["expected"].is_array() || all["expected"].is_null());
    let t0 = 1_704_067_200_000_i64;
    let (_, range) = app
        .get(&format!(
            "/api/v1/runs/{id}/points?from={}&to={}",
            t0 + 10 * 60_000,
            t0 + 19 * 60_000
        ))
        .await;
    assert_eq!(range["returned"], 10);
    assert_eq!(range["index"][0], 10);
    assert_eq!(range["from"], t0 + 10 * 60_000);
    for method in ["minmax", "lttb"] {
        let (status, ds_pts) = app
            .get(&format!(
                "/api/v1/runs/{id}/points?max_points=30&method={method}"
            ))
            .await;
        assert_eq!(status, StatusCode::OK, "{method}: {ds_pts}");
        assert_eq!(ds_pts["downsampled"], true, "{method}");
        let n = ds_pts["returned"].as_u64().unwrap();
        assert!(
            n <= 30
                + all["flag"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|f| **f == true)
                    .count() as u64
        );
        let idx: Vec<u64> = ds_pts["index"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        assert!(
            idx.contains(&90),
            "{method}: the flagged spike is kept: {idx:?}"
        );
        assert!(idx.windows(2).all(|w| w[0] < w[1]));
    }
    let (_, empty) = app
        .get(&format!("/api/v1/runs/{id}/points?from=0&to=10"))
        .await;
    assert_eq!(
        (empty["returned"].clone(), empty["from"].clone()),
        (json!(0), json!(0))
    );

    // events
    let (status, ev) = app.get(&format!("/api/v1/runs/{id}/events")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ev["threshold"], json!({"method": "sigma", "k": 3.0}));
    assert_eq!(ev["threshold_rule"], "mean + 3 std of the scores");
    assert_eq!(ev["event_count"], events.len());
    let listed = ev["events"].as_array().unwrap();
    assert_eq!(listed.len(), events.len());
    for (r, e) in listed.iter().enumerate() {
        assert_eq!(e["rank"], r + 1, "most severe first");
        assert_eq!(e, &events[e["index"].as_u64().unwrap() as usize]);
    }

    // a preview says what a threshold would give and changes nothing
    let (status, preview) = app
        .post_json(
            &format!("/api/v1/runs/{id}/threshold"),
            &json!({"threshold": {"method": "quantile", "q": 0.5}, "preview": true, "limit": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    assert!(
        preview["event_count"].as_u64().unwrap() > events.len() as u64,
        "{preview}"
    );
    assert_eq!(preview["events"].as_array().unwrap().len(), 1);
    let (_, unchanged) = app.get(&format!("/api/v1/runs/{id}")).await;
    assert_eq!(unchanged["threshold"], json!({"method": "sigma", "k": 3.0}));
    assert_eq!(unchanged["events"].as_array().unwrap().len(), events.len());
    let (_, pts) = app.get(&format!("/api/v1/runs/{id}/points")).await;
    let flagged = pts["flag"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| **f == true)
        .count();
    assert_eq!(flagged as u64, summary["anomaly_count"].as_u64().unwrap());

    // re-threshold: a quantile flags many more points, and it sticks
    let (status, re) = app
        .post_json(
            &format!("/api/v1/runs/{id}/threshold"),
            &json!({"threshold": {"method": "quantile", "q": 0.5}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{re}");
    let count = re["anomaly_count"].as_u64().unwrap();
    assert!(count > summary["anomaly_count"].as_u64().unwrap(), "{re}");
    assert_eq!(
        re["events_options"]["merge_gap"], 1,
        "the run's options are kept"
    );
    assert_eq!(re["threshold_rule"], "the top 50% of scores");
    let (_, after) = app.get(&format!("/api/v1/runs/{id}")).await;
    assert_eq!(after["threshold"], json!({"method": "quantile", "q": 0.5}));
    assert_eq!(after["threshold_rule"], "the top 50% of scores");
    assert_eq!(after["summary"]["anomaly_count"], count);
    assert_eq!(after["summary"]["event_count"], re["event_count"]);
    let after_events = after["events"].as_array().unwrap();
    assert_eq!(re["event_count"], after_events.len());
    assert!(after_events.len() > events.len(), "{re}");
    for e in re["events"].as_array().unwrap() {
        assert_eq!(e, &after_events[e["index"].as_u64().unwrap() as usize]);
    }
    let (_, pts) = app.get(&format!("/api/v1/runs/{id}/points")).await;
    let flagged = pts["flag"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| **f == true)
        .count();
    assert_eq!(flagged as u64, count);

    // downloads
    let (status, headers, body) = app
        .send(request(
            Method::GET,
            &format!("/api/v1/runs/{id}/download?format=csv"),
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        headers[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .contains(&format!("{id}.csv"))
    );
    let csv = String::from_utf8(body.to_vec()).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 121);
    assert_eq!(
        lines[0],
        "timestamp,value,expected,lower,upper,score,rarity,flag,label"
    );
    assert!(
        lines[1].starts_with("2024-01-01T00:00:00Z,10,"),
        "{}",
        lines[1]
    );
    let (status, headers, body) = app
        .send(request(
            Method::GET,
            &format!("/api/v1/runs/{id}/download?format=json"),
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    let doc = parse(&body);
    assert_eq!(doc["run"]["id"], id);
    assert_eq!(doc["points"]["returned"], 120);
    let (status, _) = app
        .get(&format!("/api/v1/runs/{id}/download?format=xml"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // progress of a finished run: one `done` at once
    let (status, headers, body) = app
        .send(request(Method::GET, &format!("/api/v1/runs/{id}/progress")))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "text/event-stream");
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert!(text.starts_with("event: done\ndata: {"), "{text}");
    assert!(text.contains("\"status\":\"succeeded\""), "{text}");

    // delete the run
    let (status, _) = app.delete(&format!("/api/v1/runs/{id}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app.get(&format!("/api/v1/runs/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.get(&format!("/api/v1/runs/{id}/points")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the result cache forgot it");
}

#[tokio::test]
async fn runs_use_defaults_and_row_index() {
    let app = TestApp::new();
    let ds = app.demo().await;
    // time_column null: the row index; no detector: the default spec
    let (status, run) = app
        .post_json(
            "/api/v1/runs",
            &json!({"dataset_id": ds, "time_column": null, "detector": fast_spec()}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{run}");
    let id = run["id"].as_str().unwrap();
    assert_eq!(app.wait(id).await, RunStatus::Succeeded);
    let (_, run) = app.get(&format!("/api/v1/runs/{id}")).await;
    assert_eq!(run["time_column"], Value::Null);
    assert_eq!(run["summary"]["time_axis"], "index");
    let (_, pts) = app
        .get(&format!("/api/v1/runs/{id}/points?max_points=10"))
        .await;
    assert_eq!(pts["time_axis"], "index");
    assert_eq!(
        pts["t"], pts["index"],
        "on an index axis the time is the row"
    );

    let (status, run) = app
        .post_json("/api/v1/runs", &json!({"dataset_id": ds}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (_, catalog) = app.get("/api/v1/detectors").await;
    assert_eq!(run["detector"]["kind"], catalog["default_spec"]["kind"]);
    assert_eq!(run["preset"], catalog["default_preset"], "{run}");
    assert_eq!(catalog["default_preset"], tsad_engine::DEFAULT_PRESET);
    app.wait(run["id"].as_str().unwrap()).await;
}

#[tokio::test]
async fn a_value_column_of_timestamps_is_refused_before_queueing() {
    let app = TestApp::new();
    let ds = app.demo().await;
    for body in [
        json!({"dataset_id": ds, "value_column": "timestamp", "detector": fast_spec()}),
        json!({"dataset_id": ds, "value_column": "timestamp", "time_column": null,
               "detector": fast_spec()}),
    ] {
        let (status, err) = app.post_json("/api/v1/runs", &body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
        let message = err["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("column `timestamp` holds timestamps")
                && message.contains("choose a numeric column: value"),
            "{message}"
        );
    }
    let (status, err) = app
        .post_json(
            "/api/v1/runs",
            &json!({"dataset_id": ds, "value_column": "Timestamp", "time_column": 0,
                    "detector": fast_spec()}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("column `timestamp` is also the time_column"),
        "{err}"
    );
    let (_, runs) = app.get("/api/v1/runs").await;
    assert_eq!(runs["runs"].as_array().unwrap().len(), 0, "{runs}");
}

#[tokio::test]
async fn a_failed_run_shows_its_reason() {
    let app = TestApp::new();
    // The column exists and its first rows are numbers (a missing column, or one of
    // timestamps, is a 422 before queueing), but most rows after them are text: only reading
    // the data finds that out.
    let mut csv = String::from("t,v,note\n");
    for i in 0..600 {
        csv.push_str(&format!(
            "{i},{},{}\n",
            i % 7,
            if i < 200 { "1" } else { "x" }
        ));
    }
    let (status, ds) = app.upload("bad.csv", csv.as_bytes()).await;
    assert_eq!(status, StatusCode::CREATED, "{ds}");
    let ds = ds["id"].as_str().unwrap();
    let (status, run) = app
        .post_json(
            "/api/v1/runs",
            &json!({"dataset_id": ds, "value_column": "note", "detector": fast_spec()}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{run}");
    let id = run["id"].as_str().unwrap();
    assert_eq!(app.wait(id).await, RunStatus::Failed);
    let (_, run) = app.get(&format!("/api/v1/runs/{id}")).await;
    assert_eq!(run["error"]["code"], "invalid_csv", "{run}");
    assert!(
        run["error"]["message"].as_str().unwrap().contains("note"),
        "{run}"
    );
}

#[tokio::test]
async fn cancel_a_queued_run_and_its_progress_stream_ends() {
    let app = TestApp::with_config(ServerConfig {
        max_jobs: 0,
        ..ServerConfig::default()
    });
    let ds = app.demo().await;
    let id = app.start_run(&ds, fast_spec()).await;
    assert_eq!(app.state.job_counts(), (0, 1));
    // Open the progress stream while queued, then cancel: the stream ends with `done`.
    let stream = tokio::spawn({
        let router = app.router.clone();
        let uri = format!("/api/v1/runs/{id}/progress");
        async move {
            use http_body_util::BodyExt;
            use tower::ServiceExt;
            let resp = router.oneshot(request(Method::GET, &uri)).await.unwrap();
            resp.into_body().collect().await.unwrap().to_bytes()
        }
    });
    tokio::task::yield_now().await;
    let (status, cancelled) = app
        .post_json(&format!("/api/v1/runs/{id}/cancel"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled");
    assert!(cancelled["finished_at"].is_string());
    let body = tokio::time::timeout(std::time::Duration::from_secs(10), stream)
        .await
        .expect("the progress stream ends after a cancel")
        .unwrap();
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert!(text.contains("event: done"), "{text}");
    assert!(text.contains("\"status\":\"cancelled\""), "{text}");
    // the queue slot is free again
    let start = std::time::Instant::now();
    while app.state.job_counts() != (0, 0) {
        assert!(start.elapsed().as_secs() < 10, "slot not released");
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn synchronous_detect() {
    let app = TestApp::new();
    let mut values: Vec<Value> = (0..200)
        .map(|i| json!(10.0 + (i % 5) as f64 * 0.1))
        .collect();
    values[150] = json!(99.0);
    values[3] = Value::Null;
    let ts: Vec<i64> = (0..200).map(|i| 1_700_000_000_000 + i * 1000).collect();
    let (status, body) = app
        .post_json(
            "/api/v1/detect",
            &json!({"timestamps": ts, "values": values, "detector": fast_spec(), "threshold": {"method": "robust", "k": 5}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["series"],
        json!({"points": 200, "start": ts[0], "end": ts[199], "step_ms": 1000})
    );
    assert_eq!(body["detector"]["kind"], "mad");
    assert_eq!(body["threshold"], json!({"method": "robust", "k": 5.0}));
    assert!(body["anomaly_count"].as_u64().unwrap() >= 1);
    assert!(
        body["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["peak"] == 150),
        "{body}"
    );
    assert_eq!(body["points"]["returned"], 200);
    assert_eq!(body["points"]["value"][3], Value::Null);
    assert_eq!(body["points"]["flag"][150], true);
    // without timestamps or detector: row index and the default spec
    let (status, body) = app
        .post_json("/api/v1/detect", &json!({"values": values}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["series"]["start"], 0);
}

/// A `timestamp,value` CSV of Unix-millisecond times (written as RFC 3339) and values.
fn timestamped_csv(ts: &[i64], values: &[f64]) -> String {
    std::iter::once("timestamp,value\n".to_owned())
        .chain(
            ts.iter()
                .zip(values)
                .map(|(t, v)| format!("{},{v}\n", tsad_io::format_timestamp(*t))),
        )
        .collect()
}

/// Ten days every 5 minutes with a job that lifts the value every night from the second at
/// 03:05 or 03:10 (the first night is inside `mad`'s warm-up), and one spike at noon on day 6: timestamps, values and the spike's time.
fn nightly_job() -> (Vec<i64>, Vec<f64>, i64) {
    let (start, step, day) = (1_700_006_400_000_i64, 300_000_i64, 86_400_000_i64);
    let n = 10 * day / step;
    let ts: Vec<i64> = (0..n).map(|i| start + i * step).collect();
    let mut rng = tsad_testing::Rng::new(11);
    let mut values: Vec<f64> = (0..n).map(|_| 5.0 + 0.05 * rng.normal()).collect();
    for d in 1..10 {
        values[((d * day + 3 * 3_600_000) / step + 1 + d % 2) as usize] += 4.0;
    }
    let noon = 6 * day + 12 * 3_600_000;
    values[(noon / step) as usize] += 6.0;
    (ts, values, start + noon)
}

#[tokio::test]
async fn a_nightly_job_is_set_aside_as_routine_and_can_be_flagged_again() {
    let app = TestApp::new();
    let (ts, values, noon) = nightly_job();
    let spec = json!({"kind": "mad", "window": 48});
    let (status, body) = app
        .post_json(
            "/api/v1/detect",
            &json!({"timestamps": ts, "values": values, "detector": spec}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{}", body["message"]);
    let (events, routine) = (&body["events"], &body["routine"]);
    assert_eq!(body["event_count"], 1, "{events} {routine}");
    assert_eq!(events[0]["peak_time"], noon);
    assert_eq!(routine[0]["period"], "day", "{routine}");
    assert_eq!(routine[0]["events"], 9);
    assert_eq!(
        routine[0]["summary"],
        "9 events, every day between 03:05 and 03:10 UTC"
    );

    // The same as a stored run: the summary says what was set aside, and a re-threshold with
    // `routine: false` lists the nightly events again.
    let csv = timestamped_csv(&ts, &values);
    let (_, ds) = app.upload("nightly.csv", csv.as_bytes()).await;
    let ds = ds["id"].as_str().unwrap().to_owned();
    let id = app.start_run(&ds, spec).await;
    assert_eq!(app.wait(&id).await, RunStatus::Succeeded);
    let (_, run) = app.get(&format!("/api/v1/runs/{id}")).await;
    assert_eq!(run["summary"]["event_count"], 1, "{}", run["summary"]);
    assert_eq!(run["summary"]["routine"][0]["events"], 9);
    let (status, out) = app
        .post_json(
            &format!("/api/v1/runs/{id}/threshold"),
            &json!({"events": {"routine": false}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{}", out["message"]);
    assert_eq!(out["event_count"], 10, "{}", out["events"]);
    assert_eq!(out["routine"], json!([]));
    assert_eq!(out["events_options"]["routine"], false);
    let (_, run) = app.get(&format!("/api/v1/runs/{id}")).await;
    assert_eq!(run["summary"]["event_count"], 10);
    assert_eq!(run["summary"]["routine"], json!([]));
}

#[tokio::test]
async fn deleting_a_dataset_cancels_and_removes_its_runs() {
    let app = TestApp::with_config(ServerConfig {
        max_jobs: 0,
        ..ServerConfig::default()
    });
    let ds = app.demo().await;
    let id = app.start_run(&ds, fast_spec()).await;
    let (status, _) = app.delete(&format!("/api/v1/datasets/{ds}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app.get(&format!("/api/v1/runs/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let start = std::time::Instant::now();
    while app.state.job_counts() != (0, 0) {
        assert!(start.elapsed().as_secs() < 10, "slot not released");
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn shutdown_interrupts_queued_runs_and_ends_progress_streams() {
    let app = TestApp::with_config(ServerConfig {
        max_jobs: 0,
        ..ServerConfig::default()
    });
    let ds = app.demo().await;
    let id = app.start_run(&ds, fast_spec()).await;
    let stream = tokio::spawn({
        let router = app.router.clone();
        let uri = format!("/api/v1/runs/{id}/progress");
        async move {
            use http_body_util::BodyExt;
            use tower::ServiceExt;
            let resp = router.oneshot(request(Method::GET, &uri)).await.unwrap();
            resp.into_body().collect().await.unwrap().to_bytes()
        }
    });
    tokio::task::yield_now().await;
    app.state.shutdown();
    let body = tokio::time::timeout(std::time::Duration::from_secs(10), stream)
        .await
        .expect("the progress stream ends at shutdown")
        .unwrap();
    let text = String::from_utf8(body.to_vec()).unwrap();
    // Either the stream ended bare, or its `done` already carries the interruption.
    assert!(!text.contains("\"status\":\"queued\""), "{text}");
    let start = std::time::Instant::now();
    loop {
        let run = app.state.store().run(&id).unwrap();
        if run.status == RunStatus::Failed {
            assert_eq!(run.error.unwrap().code, "interrupted");
            break;
        }
        assert!(start.elapsed().as_secs() < 10, "still {}", run.status);
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let (status, body) = app
        .post_json(
            "/api/v1/runs",
            &json!({"dataset_id": ds, "detector": fast_spec()}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "no new runs while stopping: {body}"
    );
}

#[tokio::test]
async fn datasets_and_runs_are_renamed() {
    let app = TestApp::new();
    let ds = app.demo().await;
    let run = app.finished_run(&ds, fast_spec()).await;
    let run_id = run["id"].as_str().unwrap();
    let patch = |uri: String, body: Value| {
        let app = &app;
        async move { app.raw_json(Method::PATCH, &uri, body.to_string()).await }
    };

    let (status, renamed) = patch(
        format!("/api/v1/datasets/{ds}"),
        json!({"name": "  sensor 12 "}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    assert_eq!(renamed["name"], "sensor 12");
    let (_, listed) = app.get("/api/v1/datasets").await;
    assert_eq!(listed["datasets"][0]["name"], "sensor 12");

    let (status, named) = patch(
        format!("/api/v1/runs/{run_id}"),
        json!({"name": "baseline"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{named}");
    assert_eq!(named["name"], "baseline");
    let (_, runs) = app.get("/api/v1/runs").await;
    assert_eq!(runs["runs"][0]["name"], "baseline");
    // An empty name removes a run's name.
    let (_, cleared) = patch(format!("/api/v1/runs/{run_id}"), json!({"name": ""})).await;
    assert!(cleared["name"].is_null(), "{cleared}");

    // Bad names and unknown ids.
    let cases = [
        (
            format!("/api/v1/datasets/{ds}"),
            json!({"name": " "}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "empty",
        ),
        (
            format!("/api/v1/datasets/{ds}"),
            json!({"name": "x".repeat(300)}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "256",
        ),
        (
            format!("/api/v1/runs/{run_id}"),
            json!({"name": "x".repeat(300)}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "256",
        ),
        (
            format!("/api/v1/datasets/{ds}"),
            json!({"title": "x"}),
            StatusCode::BAD_REQUEST,
            "title",
        ),
        (
            "/api/v1/datasets/ds_nope".to_owned(),
            json!({"name": "x"}),
            StatusCode::NOT_FOUND,
            "ds_nope",
        ),
        (
            "/api/v1/runs/run_nope".to_owned(),
            json!({"name": "x"}),
            StatusCode::NOT_FOUND,
            "run_nope",
        ),
    ];
    for (uri, body, want, says) in cases {
        let (status, err) = patch(uri.clone(), body).await;
        assert_eq!(status, want, "{uri}: {err}");
        let message = err["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{uri}: {message}");
    }
    let (_, ds_now) = app.get(&format!("/api/v1/datasets/{ds}")).await;
    assert_eq!(
        ds_now["name"], "sensor 12",
        "a refused rename changes nothing"
    );
}

#[tokio::test]
async fn an_empty_answer_names_the_rarest_point_and_the_rate_that_reaches_it() {
    let app = TestApp::new();
    // Seeded noise with a modest bump at row 1500: rarer than any other point, below the
    // default cut-off.
    let mut rng = tsad_testing::Rng::new(5);
    let mut values: Vec<f64> = (0..2000).map(|_| 10.0 + rng.normal()).collect();
    values[1500] += 4.0;
    let ts: Vec<i64> = (0..2000).map(|i| 1_700_000_000_000 + i * 60_000).collect();
    let spec = json!({"kind": "mad"});
    let detect = |threshold: Value, events: Value| {
        json!({"timestamps": ts, "values": values, "detector": spec, "threshold": threshold,
               "events": events})
    };
    let auto = json!({"method": "auto", "every": 100_000});
    let (status, body) = app
        .post_json("/api/v1/detect", &detect(auto.clone(), json!({})))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["event_count"], 0, "{}", body["events"]);
    let quiet = &body["quiet"];
    assert_eq!(quiet["reason"], "below_cut", "{quiet}");
    assert_eq!(quiet["index"], 1500, "{quiet}");
    assert_eq!(quiet["time"], ts[1500], "{quiet}");
    let rarity = quiet["rarity"].as_f64().unwrap();
    assert!((1.0..5.0).contains(&rarity), "{quiet}");
    let every = quiet["every"].as_f64().unwrap();
    assert_eq!(every, 10f64.powf(rarity.floor()), "{quiet}");

    // The rate it names flags the point, and then there is nothing to explain.
    let reach = json!({"method": "auto", "every": every});
    let (_, body) = app
        .post_json("/api/v1/detect", &detect(reach.clone(), json!({})))
        .await;
    assert!(
        body["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["peak"] == 1500),
        "{}",
        body["events"]
    );
    assert_eq!(body["quiet"], Value::Null);

    // Points past the cut that the event options drop are said to be dropped.
    let (_, body) = app
        .post_json(
            "/api/v1/detect",
            &detect(reach.clone(), json!({"min_points": 50})),
        )
        .await;
    assert_eq!(body["event_count"], 0, "{}", body["events"]);
    assert_eq!(
        body["quiet"],
        json!({"reason": "events_dropped", "routine": false})
    );

    // A stored run carries it in its summary, and a re-threshold answers with it.
    let csv = timestamped_csv(&ts, &values);
    let (_, ds) = app.upload("bump.csv", csv.as_bytes()).await;
    let id = app
        .start_run(ds["id"].as_str().unwrap(), spec.clone())
        .await;
    assert_eq!(app.wait(&id).await, RunStatus::Succeeded);
    let (_, run) = app.get(&format!("/api/v1/runs/{id}")).await;
    assert_eq!(run["summary"]["quiet"]["index"], 1500, "{}", run["summary"]);
    let (status, out) = app
        .post_json(
            &format!("/api/v1/runs/{id}/threshold"),
            &json!({"threshold": reach}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(out["quiet"], Value::Null, "{out}");
    let (_, run) = app.get(&format!("/api/v1/runs/{id}")).await;
    assert_eq!(run["summary"]["quiet"], Value::Null, "{}", run["summary"]);
    let (_, out) = app
        .post_json(
            &format!("/api/v1/runs/{id}/threshold"),
            &json!({"threshold": auto}),
        )
        .await;
    assert_eq!(out["quiet"]["index"], 1500, "{out}");
}
