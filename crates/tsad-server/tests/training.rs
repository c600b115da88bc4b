//! The training part, calibrated thresholds, event options and stored models through the
//! router: each option end to end, each bad input with its status and message.

mod common;

use axum::http::{Method, StatusCode, header};
use common::{TestApp, cycle_csv, error_body, fast_spec, request};
use serde_json::{Value, json};

/// 2024-01-01T00:00:00Z.
const T0: i64 = 1_704_067_200_000;
const HOUR: i64 = 3_600_000;

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

fn message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or("")
}

async fn upload(app: &TestApp, name: &str, csv: &[u8]) -> String {
    let (status, ds) = app.upload(name, csv).await;
    assert_eq!(status, StatusCode::CREATED, "{ds}");
    ds["id"].as_str().unwrap().to_owned()
}

/// 600 hourly points with a spike at 500 (scored), and 600 normal points just before them.
async fn scored_and_normal(app: &TestApp) -> (String, String) {
    let scored = upload(app, "scored.csv", &cycle_csv(600, T0, &[500])).await;
    let normal = upload(app, "normal.csv", &cycle_csv(600, T0 - 600 * HOUR, &[])).await;
    (scored, normal)
}

fn peaks(run: &Value) -> Vec<u64> {
    run["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["peak"].as_u64().unwrap())
        .collect()
}

fn assert_error(body: &Value, want_code: &str, want: &[&str]) {
    assert_eq!(code(body), want_code, "{body}");
    for w in want {
        assert!(message(body).contains(w), "message lacks {w:?}: {body}");
    }
}

#[tokio::test]
async fn the_default_threshold_is_auto_and_every_answer_says_so() {
    let app = TestApp::new();
    let (scored, _) = scored_and_normal(&app).await;
    let run = app
        .finished_run_from(&json!({"dataset_id": scored, "detector": fast_spec()}))
        .await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(
        run["threshold"],
        json!({"method": "auto", "every": 100000.0})
    );
    let rule = "about 1 false alarm per 100,000 points of normal data";
    assert_eq!(run["threshold_rule"], rule);
    assert_eq!(run["scale"], "rarity");
    assert_eq!(run["summary"]["threshold_rule"], rule);
    assert_eq!(run["summary"]["scale"], "rarity");
    assert_eq!(
        run["summary"]["threshold_value"], 5.0,
        "a rarity cut at log10(every)"
    );
    // 600 normal points at one false alarm per 100,000: only the spike.
    assert_eq!(peaks(&run), [500], "{run}");
    let e = &run["events"][0];
    assert_eq!(
        (e["rank"].clone(), e["index"].clone()),
        (json!(1), json!(0))
    );
    assert!(e["rarity"].as_f64().unwrap() > 5.0, "{e}");
    assert_eq!(run["training"]["source"], "self");
    assert_eq!(run["training"]["rows"], 600);
    assert!(run["training"]["calibration_points"].as_u64().unwrap() > 500);

    // The points carry the rarity the cut applies to.
    let id = run["id"].as_str().unwrap();
    let (_, pts) = app
        .get(&format!("/api/v1/runs/{id}/points?max_points=1000"))
        .await;
    assert_eq!(pts["scale"], "rarity");
    assert_eq!(pts["threshold_value"], 5.0);
    let rarity = pts["rarity"].as_array().unwrap();
    let flagged: Vec<usize> = (0..600).filter(|&i| pts["flag"][i] == true).collect();
    assert_eq!(flagged, [500]);
    assert!(rarity[500].as_f64().unwrap() > 5.0);
    assert!(rarity[499].as_f64().unwrap() <= 5.0);
    assert!(
        rarity[0].is_null(),
        "warm-up points have no score, so no rarity"
    );

    // The synchronous endpoint uses the same default.
    let values: Vec<f64> = (0..600)
        .map(|i| {
            if i == 500 {
                60.0
            } else {
                10.0 + ((i * 7919) % 13) as f64 / 13.0
            }
        })
        .collect();
    let (status, body) = app
        .post_json(
            "/api/v1/detect",
            &json!({"values": values, "detector": fast_spec()}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["threshold"]["method"], "auto");
    assert_eq!(body["threshold_rule"], rule);
    assert_eq!(body["scale"], "rarity");
    assert_eq!(body["event_count"], 1);
    assert_eq!(body["events"][0]["peak"], 500);
    assert_eq!(body["events"][0]["rank"], 1);
    assert_eq!(body["training"]["source"], "self");
    assert!(body["points"]["rarity"].is_array());
}

#[tokio::test]
async fn rethreshold_with_auto_sensitivity_and_event_options() {
    let app = TestApp::new();
    // Two spikes 3 hours apart, and one alone.
    let ds = upload(&app, "three.csv", &cycle_csv(600, T0, &[200, 203, 450])).await;
    let run = app
        .finished_run_from(
            &json!({"dataset_id": ds, "detector": fast_spec(), "events": {"merge_gap": 0}}),
        )
        .await;
    assert_eq!(peaks(&run), [200, 203, 450], "{run}");
    let id = run["id"].as_str().unwrap();
    let uri = format!("/api/v1/runs/{id}/threshold");

    // auto with another `every`: the cut moves to log10(every).
    let (status, re) = app
        .post_json(
            &uri,
            &json!({"threshold": {"method": "auto", "every": 1000}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{re}");
    assert_eq!(re["threshold_value"], 3.0);
    assert_eq!(re["scale"], "rarity");
    assert_eq!(
        re["threshold_rule"],
        "about 1 false alarm per 1,000 points of normal data"
    );
    assert!(re["event_count"].as_u64().unwrap() >= 3, "{re}");
    // sensitivity 0.5 is auto's default; 0.75 is one per 1,000
    let (_, s75) = app
        .post_json(
            &uri,
            &json!({"threshold": {"method": "sensitivity", "s": 0.75}}),
        )
        .await;
    assert_eq!(s75["threshold_value"], 3.0);
    assert_eq!(s75["event_count"], re["event_count"]);
    let (_, s50) = app
        .post_json(
            &uri,
            &json!({"threshold": {"method": "sensitivity", "s": 0.5}}),
        )
        .await;
    assert_eq!(s50["threshold_value"], 5.0);
    assert_eq!(s50["event_count"], 3, "{s50}");
    assert_eq!(
        s50["threshold_rule"],
        "about 1 false alarm per 100,000 points of normal data"
    );

    // Merging by time: 3 hours apart is one event with a 3 h gap, two with 2 h.
    let (_, merged) = app
        .post_json(
            &uri,
            &json!({"events": {"merge_gap": 0, "merge_gap_time": 3 * HOUR}}),
        )
        .await;
    assert_eq!(
        merged["threshold"]["method"], "sensitivity",
        "the threshold is kept"
    );
    assert_eq!(merged["event_count"], 2, "{merged}");
    assert_eq!(merged["events_options"]["merge_gap_time"], 3 * HOUR);
    let (_, apart) = app
        .post_json(
            &uri,
            &json!({"events": {"merge_gap": 0, "merge_gap_time": 2 * HOUR}}),
        )
        .await;
    assert_eq!(apart["event_count"], 3, "{apart}");
    // At least 2 flagged points: only the merged pair is left.
    let (_, two) = app
        .post_json(
            &uri,
            &json!({"events": {"merge_gap": 0, "merge_gap_time": 3 * HOUR, "min_points": 2}}),
        )
        .await;
    assert_eq!(two["event_count"], 1, "{two}");
    assert_eq!(two["events"][0]["start"], 200);
    assert_eq!(two["events"][0]["end"], 203);
    assert_eq!(
        two["anomaly_count"], 2,
        "points outside surviving events are unflagged"
    );
    let (_, pts) = app
        .get(&format!("/api/v1/runs/{id}/points?max_points=1000"))
        .await;
    assert_eq!(pts["flag"][450], false);
    // Pruning: a loose quantile flags many weak events; pruning keeps the clear ones.
    let (_, loose) = app
        .post_json(
            &uri,
            &json!({"threshold": {"method": "quantile", "q": 0.9}, "events": {"merge_gap": 0}}),
        )
        .await;
    let (_, pruned) = app
        .post_json(
            &uri,
            &json!({"threshold": {"method": "quantile", "q": 0.9}, "events": {"merge_gap": 0, "prune": 0.5}}),
        )
        .await;
    let (n_loose, n_pruned) = (
        loose["event_count"].as_u64().unwrap(),
        pruned["event_count"].as_u64().unwrap(),
    );
    assert!(
        n_loose > 10 && n_pruned < n_loose,
        "{n_loose} vs {n_pruned}"
    );
    let kept: Vec<u64> = pruned["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["peak"].as_u64().unwrap())
        .collect();
    for spike in [200, 203, 450] {
        assert!(kept.contains(&spike), "{spike} pruned: {kept:?}");
    }
    // The options stick with the run.
    let (_, after) = app.get(&format!("/api/v1/runs/{id}")).await;
    assert_eq!(after["events_options"]["prune"], 0.5);
    assert_eq!(after["summary"]["event_count"], n_pruned);
    assert_eq!(after["threshold_rule"], "the top 10% of scores");
    assert_eq!(after["scale"], "raw");

    // Bad options and thresholds: 422 naming them.
    let cases = [
        (
            json!({"events": {"prune": 1.5}}),
            "events: invalid parameter `prune`",
        ),
        (
            json!({"events": {"min_points": 0}}),
            "events: invalid parameter `min_points`",
        ),
        (
            json!({"events": {"merge_gap_time": -5}}),
            "events: invalid parameter `merge_gap_time`",
        ),
        (
            json!({"events": {"merge_gaps": 1}}),
            "events: unknown field `merge_gaps`",
        ),
        (
            json!({"events": {"standout": "yes"}}),
            "events: field `standout`: invalid type: string \"yes\", expected a boolean",
        ),
        (
            json!({"events": {"routine": 1}}),
            "events: field `routine`: invalid type: integer `1`, expected a boolean",
        ),
        (
            json!({"threshold": {"method": "auto", "every": 0.5}}),
            "threshold: invalid parameter `every`",
        ),
        (
            json!({"threshold": {"method": "auto"}}),
            "threshold: missing field `every`",
        ),
    ];
    for (body, want) in cases {
        let (status, err) = app.post_json(&uri, &body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {err}");
        assert_eq!(code(&err), "invalid_parameter", "{err}");
        assert!(message(&err).starts_with(want), "{body}: {err}");
    }
}

#[tokio::test]
async fn event_listings_are_ranked_and_capped() {
    let app = TestApp::new();
    let (_, ds) = app
        .post_json("/api/v1/datasets/demo", &json!({"points": 2000}))
        .await;
    let ds = ds["id"].as_str().unwrap();
    // A loose threshold on the demo: well over a hundred events.
    let run = app
        .finished_run_from(&json!({
            "dataset_id": ds, "detector": fast_spec(),
            "threshold": {"method": "quantile", "q": 0.5}, "events": {"merge_gap": 0}
        }))
        .await;
    let id = run["id"].as_str().unwrap();
    let all = run["events"].as_array().unwrap();
    assert!(all.len() > 100, "{} events", all.len());
    let (status, ev) = app.get(&format!("/api/v1/runs/{id}/events")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ev["event_count"], all.len());
    let listed = ev["events"].as_array().unwrap();
    assert_eq!(listed.len(), 100, "the default cap");
    for (r, e) in listed.iter().enumerate() {
        assert_eq!(e["rank"], r + 1);
        assert_eq!(e, &all[e["index"].as_u64().unwrap() as usize]);
    }
    // The most severe really is first: no event has a higher peak score than rank 1's.
    let top = listed[0]["peak_score"].as_f64().unwrap();
    assert!(all.iter().all(|e| e["peak_score"].as_f64().unwrap() <= top));

    let (_, five) = app
        .get(&format!("/api/v1/runs/{id}/events?limit=5&order=time"))
        .await;
    let idx: Vec<u64> = five["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["index"].as_u64().unwrap())
        .collect();
    assert_eq!(idx, [0, 1, 2, 3, 4]);
    let (_, every) = app.get(&format!("/api/v1/runs/{id}/events?limit=0")).await;
    assert_eq!(every["events"].as_array().unwrap().len(), all.len());
    let (status, bad) = app
        .get(&format!("/api/v1/runs/{id}/events?order=size"))
        .await;
    assert_eq!(
        (status, code(&bad)),
        (StatusCode::BAD_REQUEST, "bad_request")
    );

    // A re-threshold answers the same way: capped by `limit`, in the asked order.
    let (_, re) = app
        .post_json(
            &format!("/api/v1/runs/{id}/threshold"),
            &json!({"threshold": {"method": "quantile", "q": 0.5}, "limit": 3}),
        )
        .await;
    assert_eq!(re["events"].as_array().unwrap().len(), 3);
    assert!(re["event_count"].as_u64().unwrap() > 3);
    assert_eq!(re["events"][0]["rank"], 1);
}

#[tokio::test]
async fn training_parts_for_runs() {
    let app = TestApp::new();
    let (scored, normal) = scored_and_normal(&app).await;
    let base = json!({"dataset_id": scored, "detector": fast_spec()});
    let with = |train: Value| {
        let mut b = base.clone();
        b["train"] = train;
        b
    };
    // The first 300 rows.
    let run = app.finished_run_from(&with(json!({"rows": 300}))).await;
    assert_eq!(peaks(&run), [500], "{run}");
    let t = &run["training"];
    assert_eq!(t["source"], "prefix");
    assert_eq!(
        (t["rows"].clone(), t["prefix_rows"].clone()),
        (json!(300), json!(300))
    );
    assert_eq!(
        (t["start"].clone(), t["end"].clone()),
        (json!(T0), json!(T0 + 299 * HOUR))
    );
    // mad takes the daily cycle out, its scale over 96 points: that warm-up leaves 204 scores
    // of the training part to calibrate on.
    assert_eq!(run["report"]["period"], 24, "{run}");
    assert_eq!(t["calibration_points"], 204);
    // Up to a time: the same 300 rows.
    let until = "2024-01-13T11:00:00Z";
    let run = app.finished_run_from(&with(json!({"until": until}))).await;
    assert_eq!(run["training"]["prefix_rows"], 300, "{run}");
    assert_eq!(run["training"]["until"], until);
    assert_eq!(peaks(&run), [500]);
    // Another dataset with the same columns, just before the scored one.
    let run = app
        .finished_run_from(&with(json!({"dataset_id": normal})))
        .await;
    assert_eq!(peaks(&run), [500], "{run}");
    let t = &run["training"];
    assert_eq!(t["source"], "dataset");
    assert_eq!(t["dataset_id"], normal);
    assert_eq!(t["rows"], 600);
    // It ends where the scored data starts, so the scored data is scored warm: no warm-up.
    let id = run["id"].as_str().unwrap();
    let (_, pts) = app
        .get(&format!("/api/v1/runs/{id}/points?max_points=1000"))
        .await;
    assert!(pts["score"][0].is_number(), "{}", pts["score"][0]);
    assert!(run["training"].get("junction_rows").is_none(), "{run}");
    // The same two files without their time column: nothing says the scored one follows the
    // training one, so its first rows (mad's warm-up) are also scored on their own.
    let rows_only = |csv: Vec<u8>| -> Vec<u8> {
        let text = String::from_utf8(csv).unwrap();
        let lines = text.lines().map(|l| l.split_once(',').unwrap().1);
        lines
            .map(|v| format!("{v}\n"))
            .collect::<String>()
            .into_bytes()
    };
    let scored_rows = rows_only(cycle_csv(600, T0, &[500]));
    let scored_rows = upload(&app, "scored-rows.csv", &scored_rows).await;
    let normal_rows = rows_only(cycle_csv(600, T0 - 600 * HOUR, &[]));
    let normal_rows = upload(&app, "normal-rows.csv", &normal_rows).await;
    let run = app
        .finished_run_from(&json!({"dataset_id": scored_rows, "detector": fast_spec(),
            "train": {"dataset_id": normal_rows}}))
        .await;
    assert_eq!(peaks(&run), [500], "{run}");
    assert_eq!(run["training"]["junction_rows"], 49, "{run}");
}

#[tokio::test]
async fn bad_training_parts_are_refused_before_anything_is_queued() {
    let app = TestApp::new();
    let (scored, normal) = scored_and_normal(&app).await;
    let other_cols = upload(
        &app,
        "levels.csv",
        b"timestamp,level\n2023-01-01T00:00:00Z,1\n2023-01-01T01:00:00Z,2\n",
    )
    .await;
    let numbered = upload(&app, "numbered.csv", b"value\n1\n2\n3\n4\n").await;
    let base = json!({"dataset_id": scored, "detector": fast_spec()});
    let with = |extra: Value| {
        let mut b = base.clone();
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    type Case = (Value, StatusCode, &'static str, &'static [&'static str]);
    let cases: Vec<Case> = vec![
        (
            with(json!({"train": {"rows": 10}})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_parameter",
            &[
                "train.rows: detector `mad` needs at least",
                "training part has 10",
            ],
        ),
        (
            with(json!({"train": {"rows": 601}})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_parameter",
            &["train.rows: 601 is more than the 600 rows of the data; give at most 600"],
        ),
        (
            with(json!({"train": {"until": "2023-06-01"}})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_parameter",
            &[
                "train.until: 2023-06-01T00:00:00Z is outside the data, which runs from \
                 2024-01-01T00:00:00Z to 2024-01-25T23:00:00Z",
                "some rows are left to score",
            ],
        ),
        (
            with(json!({"train": {"until": "next tuesday"}})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_parameter",
            &["train.until: \"next tuesday\": not a time; write it like 2014-02-07"],
        ),
        (
            with(json!({"train": {"until": "2024-01-01T05:00:00Z"}})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_parameter",
            &[
                "train.until: detector `mad` needs at least",
                "training part has 6",
            ],
        ),
        (
            with(json!({"train": {"dataset_id": "ds_nope"}})),
            StatusCode::NOT_FOUND,
            "not_found",
            &["train.dataset_id: dataset `ds_nope` not found"],
        ),
        (
            with(json!({"train": {"dataset_id": other_cols}})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_parameter",
            &[
                "train.dataset_id: dataset `levels.csv` cannot be the training part",
                "value column `value`",
                "`value`",
            ],
        ),
        (
            with(json!({"train": {"dataset_id": normal, "value_column": "nope"}})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_parameter",
            &[
                "train.value_column: dataset `normal.csv` cannot be the training part",
                "nope",
            ],
        ),
        (
            with(json!({"train": {"dataset_id": numbered}})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_parameter",
            &[
                "train.dataset_id: dataset `numbered.csv` cannot be the training part",
                "there is no column named \"timestamp\"",
            ],
        ),
        (
            with(json!({"train": {"values": [1.0, 2.0]}})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_parameter",
            &["train.values: points given inline are for /api/v1/detect"],
        ),
        (
            with(json!({"train": {"rows": 100, "until": "2024-01-02"}})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_parameter",
            &["train: gives rows and until; give exactly one of"],
        ),
        (
            with(json!({"train": {"rows": 100}, "model_id": "model_x"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_parameter",
            &["train and model_id: a stored model is already fitted"],
        ),
        (
            with(json!({"model_id": "model_x"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_parameter",
            &["detector and model_id: the stored model holds its own detector"],
        ),
        (
            json!({"dataset_id": scored, "model_id": "model_x"}),
            StatusCode::NOT_FOUND,
            "not_found",
            &["model_id: model `model_x` not found; GET /api/v1/models lists the saved ones"],
        ),
        (
            json!({"dataset_id": scored, "model_id": "model_x", "save_model": true}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_parameter",
            &["save_model: the run scores with a stored model"],
        ),
    ];
    for (body, status, want_code, want) in cases {
        let (got, err) = app.post_json("/api/v1/runs", &body).await;
        assert_eq!(got, status, "{body}: {err}");
        assert_error(&err, want_code, want);
    }
    assert!(
        app.state.store().list_runs(None).unwrap().is_empty(),
        "nothing was queued"
    );
    // On data without a time column, `until` is a row number.
    let numbered_long = upload(
        &app,
        "rows.csv",
        &(0..200)
            .map(|i| format!("{}\n", 10.0 + (i % 5) as f64))
            .fold(String::from("value\n"), |a, b| a + &b)
            .into_bytes(),
    )
    .await;
    let run = app
        .finished_run_from(&json!({
            "dataset_id": numbered_long, "detector": fast_spec(), "train": {"until": 99}
        }))
        .await;
    assert_eq!(run["training"]["prefix_rows"], 100, "{run}");
    let (_, err) = app
        .post_json(
            "/api/v1/runs",
            &json!({"dataset_id": numbered_long, "detector": fast_spec(), "train": {"until": "2024-01-01"}}),
        )
        .await;
    assert!(message(&err).contains("give a row number"), "{err}");
}

#[tokio::test]
async fn training_parts_for_synchronous_detection() {
    let app = TestApp::new();
    let (_, normal) = scored_and_normal(&app).await;
    let n = 400;
    let ts: Vec<i64> = (0..n).map(|i| T0 + i * HOUR).collect();
    let values: Vec<f64> = (0..n)
        .map(|i| {
            if i == 350 {
                60.0
            } else {
                10.0 + 2.0 * ((i % 24) as f64 / 24.0 * std::f64::consts::TAU).sin()
            }
        })
        .collect();
    let normal_values: Vec<f64> = (0..200)
        .map(|i| {
            10.0 + 2.0 * ((i % 24) as f64 / 24.0 * std::f64::consts::TAU).sin()
                + (i % 3) as f64 * 0.1
        })
        .collect();
    let normal_ts: Vec<i64> = (0..200).map(|i| T0 - (200 - i) * HOUR).collect();
    let base = json!({"timestamps": ts, "values": values, "detector": fast_spec()});
    let with = |train: Value| {
        let mut b = base.clone();
        b["train"] = train;
        b
    };
    let cases = [
        (json!({"rows": 200}), "prefix", 200),
        (json!({"until": "2024-01-09T07:00:00Z"}), "prefix", 200),
        (
            json!({"values": normal_values, "timestamps": normal_ts}),
            "values",
            200,
        ),
        (json!({"dataset_id": normal}), "dataset", 600),
    ];
    for (train, source, rows) in cases {
        let (status, body) = app.post_json("/api/v1/detect", &with(train.clone())).await;
        assert_eq!(status, StatusCode::OK, "{train}: {body}");
        assert_eq!(body["training"]["source"], source, "{train}");
        assert_eq!(body["training"]["rows"], rows, "{train}");
        let found: Vec<&Value> = body["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| &e["peak"])
            .collect();
        assert!(found.contains(&&json!(350)), "{train}: {}", body["events"]);
    }
    let bad = [
        (
            json!({"values": [1.0, 2.0, 3.0], "timestamps": [1, 2, 3]}),
            "invalid parameter `train`: detector `mad` needs at least 49 training points, the \
             training part has 3",
        ),
        (
            json!({"values": [1.0, 2.0], "timestamps": [5]}),
            "train.values: invalid series",
        ),
        (
            json!({"values": [1.0, 2.0], "timestamps": [5, 4]}),
            "train.values: invalid series",
        ),
        (
            json!({"rows": 500}),
            "train.rows: 500 is more than the 400 rows",
        ),
    ];
    for (train, want) in bad {
        let (status, body) = app.post_json("/api/v1/detect", &with(train.clone())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{train}: {body}");
        assert!(message(&body).contains(want), "{train}: {body}");
    }
    // Inline training points without timestamps do not fit a series with timestamps.
    let (status, body) = app
        .post_json("/api/v1/detect", &with(json!({"values": vec![1.0; 100]})))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        message(&body).starts_with("train.values: the training part has row numbers as time"),
        "{body}"
    );
}

#[tokio::test]
async fn models_are_saved_listed_reused_downloaded_and_deleted() {
    let app = TestApp::new();
    let (scored, normal) = scored_and_normal(&app).await;
    // Fit on the normal dataset and keep the model.
    let run = app
        .finished_run_from(&json!({
            "dataset_id": scored, "detector": fast_spec(),
            "train": {"dataset_id": normal}, "save_model": true
        }))
        .await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let model_id = run["training"]["saved_model_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(run["training"]["save_model"], true);
    let run_id = run["id"].as_str().unwrap().to_owned();

    let (status, list) = app.get("/api/v1/models").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["models"].as_array().unwrap().len(), 1);
    let (status, model) = app.get(&format!("/api/v1/models/{model_id}")).await;
    assert_eq!(status, StatusCode::OK, "{model}");
    assert_eq!(model, list["models"][0]);
    assert_eq!(model["kind"], "mad");
    assert_eq!(model["detector"]["kind"], "mad");
    assert_eq!(
        model["dataset_id"], normal,
        "fitted on the training dataset"
    );
    assert_eq!(model["run_id"], run_id);
    assert_eq!(model["training"]["rows"], 600);
    assert_eq!(model["training"]["source"], "dataset");
    assert_eq!(model["name"], "mad on normal.csv");

    // The file is the engine's model file: `tsad detect FILE --model` loads it.
    let (status, headers, bytes) = app
        .send(request(
            Method::GET,
            &format!("/api/v1/models/{model_id}/download"),
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .contains(&format!("{model_id}.json"))
    );
    assert_eq!(model["size_bytes"], bytes.len());
    let file: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(file["format"], tsad_engine::MODEL_FORMAT);
    let fitted = tsad_engine::FittedModel::from_bytes(&bytes).unwrap();
    assert_eq!(fitted.spec().kind(), "mad");
    assert_eq!(fitted.train_rows(), 600);

    // Score new data with it: no fitting.
    let again = upload(&app, "later.csv", &cycle_csv(300, T0 + 600 * HOUR, &[100])).await;
    let reuse = app
        .finished_run_from(&json!({"dataset_id": again, "model_id": model_id}))
        .await;
    assert_eq!(reuse["status"], "succeeded", "{reuse}");
    assert_eq!(reuse["detector"]["kind"], "mad");
    assert_eq!(reuse["training"]["source"], "model");
    assert_eq!(reuse["training"]["model_id"], model_id);
    assert_eq!(reuse["training"]["rows"], 600);
    assert_eq!(reuse["summary"]["fit_seconds"], 0.0);
    assert_eq!(peaks(&reuse), [100], "{reuse}");
    // ... and synchronously.
    let values: Vec<f64> = (0..300)
        .map(|i| {
            if i == 200 {
                60.0
            } else {
                10.0 + 2.0 * ((i % 24) as f64 / 24.0 * std::f64::consts::TAU).sin()
            }
        })
        .collect();
    let (status, body) = app
        .post_json(
            "/api/v1/detect",
            &json!({"values": values, "model_id": model_id}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["training"]["source"], "model");
    assert!(
        body["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["peak"] == 200),
        "{body}"
    );
    // A run on a stored model has nothing new to save.
    let reuse_id = reuse["id"].as_str().unwrap();
    let (status, err) = app
        .post_json(&format!("/api/v1/runs/{reuse_id}/model"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    assert!(message(&err).contains(&model_id), "{err}");

    // Saving after the fact: a run fitted on its first 300 rows.
    let plain = app
        .finished_run_from(
            &json!({"dataset_id": scored, "detector": fast_spec(), "train": {"rows": 300}}),
        )
        .await;
    let plain_id = plain["id"].as_str().unwrap();
    assert!(plain["training"].get("saved_model_id").is_none());
    let (status, saved) = app
        .post_json(
            &format!("/api/v1/runs/{plain_id}/model"),
            &json!({"name": "quiet fortnight"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{saved}");
    assert_eq!(saved["name"], "quiet fortnight");
    assert_eq!(saved["training"]["rows"], 300);
    assert_eq!(saved["training"]["source"], "prefix");
    assert_eq!(saved["training"]["end"], T0 + 299 * HOUR);
    let (status, _, same) = app
        .send(request(
            Method::POST,
            &format!("/api/v1/runs/{plain_id}/model"),
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "asking again gives the saved model");
    assert_eq!(common::parse(&same)["id"], saved["id"]);
    let (_, plain) = app.get(&format!("/api/v1/runs/{plain_id}")).await;
    assert_eq!(plain["training"]["saved_model_id"], saved["id"]);
    let (_, list) = app.get("/api/v1/models").await;
    assert_eq!(list["models"][0]["id"], saved["id"], "newest first");

    // Deleting a model: gone, and runs that used it keep their results.
    let (status, _) = app.delete(&format!("/api/v1/models/{model_id}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for uri in [
        format!("/api/v1/models/{model_id}"),
        format!("/api/v1/models/{model_id}/download"),
    ] {
        let (status, body) = app.get(&uri).await;
        assert_eq!(
            (status, body),
            (
                StatusCode::NOT_FOUND,
                error_body("not_found", &format!("model `{model_id}` not found"))
            ),
            "{uri}"
        );
    }
    let (status, _) = app.delete(&format!("/api/v1/models/{model_id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.get(&format!("/api/v1/runs/{reuse_id}/points")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, err) = app
        .post_json(
            "/api/v1/runs",
            &json!({"dataset_id": again, "model_id": model_id}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{err}");
}

#[tokio::test]
async fn a_model_file_of_another_kind_or_version_is_a_conflict() {
    let app = TestApp::new();
    let (scored, _) = scored_and_normal(&app).await;
    let run = app
        .finished_run_from(
            &json!({"dataset_id": scored, "detector": fast_spec(), "save_model": true}),
        )
        .await;
    let good = run["training"]["saved_model_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let store = app.state.store().clone();
    let bytes = store.model_bytes(&good).unwrap();
    let mut newer: Value = serde_json::from_slice(&bytes).unwrap();
    newer["version"] = json!(99);
    let files: [(&str, Vec<u8>, &str); 2] = [
        (
            "model_newer",
            serde_json::to_vec(&newer).unwrap(),
            "model file version 99 is not supported",
        ),
        ("model_text", b"hello".to_vec(), "not a tsad model file"),
    ];
    for (id, file, want) in files {
        let record = tsad_store::ModelRecord {
            id: id.into(),
            ..store.model(&good).unwrap()
        };
        store.create_model(&record, &file).unwrap();
        for (uri, body) in [
            (
                "/api/v1/runs",
                json!({"dataset_id": scored, "model_id": id}),
            ),
            (
                "/api/v1/detect",
                json!({"values": vec![1.0; 100], "model_id": id}),
            ),
        ] {
            let (status, err) = app.post_json(uri, &body).await;
            assert_eq!(status, StatusCode::CONFLICT, "{uri} {id}: {err}");
            assert_eq!(code(&err), "conflict");
            assert!(
                message(&err).starts_with(&format!("model_id: model `{id}` cannot be used:")),
                "{err}"
            );
            assert!(message(&err).contains(want), "{err}");
        }
    }
}

#[tokio::test]
async fn explanations_of_auto_runs_compare_raw_scores_with_a_raw_cut() {
    let app = TestApp::new();
    let (scored, _) = scored_and_normal(&app).await;
    let run = app
        .finished_run_from(&json!({"dataset_id": scored, "detector": fast_spec()}))
        .await;
    let id = run["id"].as_str().unwrap();
    let (status, body) = app
        .post_json(&format!("/api/v1/runs/{id}/events/0/explain"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let peak = &body["evidence"]["peak"];
    let score = peak["score"].as_f64().unwrap();
    let cut = peak["threshold"].as_f64().unwrap();
    // The only flagged point is the spike: the raw cut is its own score, not the rarity 5.
    assert_eq!(score, run["events"][0]["peak_score"].as_f64().unwrap());
    assert_eq!(cut, score, "{peak}");
}
