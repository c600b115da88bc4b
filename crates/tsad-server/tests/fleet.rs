//! Many-series runs over HTTP: a long and a wide dataset, the series list (sorted, filtered,
//! paged), each series' own run, the dataset's series, and the requests that cannot apply.

mod common;

use axum::http::StatusCode;
use common::{TestApp, fast_spec};
use serde_json::{Value, json};

/// A long file: `hosts` series of 300 hourly points, rows interleaved; host `h1` jumps to 90 at
/// row 200, `h2` to 40 at row 150; `bad` has text values only.
fn long_csv(hosts: usize) -> Vec<u8> {
    let mut csv = String::from("timestamp,host,cpu\n");
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in 0..300 {
        let t = tsad_io::format_timestamp(1_700_000_000_000 + i as i64 * 3_600_000);
        for h in 0..hosts {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let noise = (state % 1000) as f64 / 1000.0;
            let v = match (h, i) {
                (1, 200) => 90.0,
                (2, 150) => 40.0,
                _ => 20.0 + (i % 24) as f64 * 0.2 + noise,
            };
            csv.push_str(&format!("{t},h{h},{v:.3}\n"));
        }
        csv.push_str(&format!("{t},bad,n/a\n"));
    }
    csv.into_bytes()
}

async fn series(app: &TestApp, run_id: &str, query: &str) -> Value {
    let (status, body) = app
        .get(&format!("/api/v1/runs/{run_id}/series{query}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn names(list: &Value) -> Vec<&str> {
    list["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn a_long_dataset_runs_every_series_and_ranks_them() {
    let app = TestApp::new();
    let (status, ds) = app.upload("hosts.csv", &long_csv(6)).await;
    assert_eq!(status, StatusCode::CREATED, "{ds}");
    let ds_id = ds["id"].as_str().unwrap();

    // What a run would see, before running.
    let (status, listed) = app
        .get(&format!(
            "/api/v1/datasets/{ds_id}/series?series_column=host&value_column=cpu"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(listed["series_column"], "host");
    assert_eq!(listed["series"].as_array().unwrap().len(), 7);
    assert_eq!(listed["series"][0]["diagnostics"]["points"], 300);
    let bad = &listed["series"][6];
    assert_eq!(bad["name"], "bad");
    assert!(
        bad["error"].as_str().unwrap().contains("series \"bad\""),
        "{bad}"
    );

    let run = app
        .finished_run_from(&json!({
            "dataset_id": ds_id, "series_column": "host", "value_column": "cpu",
            "detector": fast_spec(),
        }))
        .await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let fleet = &run["fleet"];
    assert_eq!(fleet["series_column"], "host");
    assert_eq!(fleet["series"], 7);
    assert_eq!(fleet["failed"], 1);
    assert_eq!(run["summary"]["series"], 7);
    let run_id = run["id"].as_str().unwrap();

    // Ranked by the worst event: the two hosts that jumped come first, the failed one last.
    let ranked = series(&app, run_id, "").await;
    assert_eq!(
        (ranked["total"].as_u64(), ranked["matched"].as_u64()),
        (Some(7), Some(7))
    );
    let order = names(&ranked);
    assert_eq!(&order[..2], ["h1", "h2"], "{ranked}");
    assert_eq!(order[6], "bad");
    let top = &ranked["series"][0];
    assert!(top["events"].as_u64().unwrap() >= 1);
    // Equally rare events keep the file's order.
    assert!(
        top["worst_rarity"].as_f64().unwrap()
            >= ranked["series"][1]["worst_rarity"].as_f64().unwrap()
    );
    assert!(!top["sparkline"].as_array().unwrap().is_empty());
    assert_eq!(ranked["series"][6]["status"], "failed");
    assert!(
        ranked["series"][6]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("bad")
    );

    // Sorting, filtering and paging.
    assert_eq!(
        names(&series(&app, run_id, "?sort=name&limit=2").await),
        ["bad", "h0"]
    );
    let failed = series(&app, run_id, "?only=failed").await;
    assert_eq!(names(&failed), ["bad"]);
    let h1 = series(&app, run_id, "?q=H1").await;
    assert_eq!(names(&h1), ["h1"]);
    let (status, body) = app
        .get(&format!("/api/v1/runs/{run_id}/series?sort=size"))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("sort: `size`")
    );

    // Each series is a run of its own: points, events and explanations work on it.
    let child = h1["series"][0]["run_id"].as_str().unwrap();
    let (status, one) = app.get(&format!("/api/v1/runs/{child}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (one["parent_id"].as_str(), one["series"].as_str()),
        (Some(run_id), Some("h1"))
    );
    assert_eq!(one["value_column"], "cpu");
    let peak = one["events"][0]["peak_time"].as_i64().unwrap();
    assert_eq!(peak, 1_700_000_000_000 + 200 * 3_600_000);
    let (status, points) = app.get(&format!("/api/v1/runs/{child}/points")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(points["total"], 300, "{points}");
    let (status, why) = app
        .post_json(
            &format!("/api/v1/runs/{child}/events/0/explain"),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{why}");
    assert_eq!(why["series"], "h1");
    assert!(
        why["explanation"]
            .as_str()
            .unwrap()
            .starts_with("In series `h1`"),
        "{why}"
    );

    // The parent has no points of its own, and says where they are.
    let (status, body) = app.get(&format!("/api/v1/runs/{run_id}/points")).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("/series"),
        "{body}"
    );
    // The sidebar lists the fleet run once, not its series.
    let (_, runs) = app.get("/api/v1/runs").await;
    assert_eq!(runs["runs"].as_array().unwrap().len(), 1);

    // Deleting the fleet run deletes its series.
    let (status, _) = app.delete(&format!("/api/v1/runs/{run_id}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app.get(&format!("/api/v1/runs/{child}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_wide_dataset_runs_one_series_per_column() {
    let app = TestApp::new();
    let mut csv = String::from("timestamp,cpu,mem,disk,is_anomaly\n");
    for i in 0..200 {
        let t = tsad_io::format_timestamp(1_700_000_000_000 + i as i64 * 60_000);
        let cpu = if i == 120 {
            99.0
        } else {
            10.0 + (i % 5) as f64
        };
        // `mem` wanders (a deterministic pattern), so its scores have a spread to cut.
        let mem = 50.0 + ((i * 7919) % 13) as f64 * 0.3;
        csv.push_str(&format!("{t},{cpu},{mem},{},0\n", 70 + i % 4));
    }
    let (_, ds) = app.upload("wide.csv", csv.as_bytes()).await;
    let ds_id = ds["id"].as_str().unwrap();
    let run = app
        .finished_run_from(
            &json!({"dataset_id": ds_id, "value_columns": [], "detector": fast_spec()}),
        )
        .await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["fleet"]["series"], 3, "{run}");
    assert!(
        run["fleet"]["warnings"].to_string().contains("is_anomaly"),
        "the label column is passed over with a warning: {run}"
    );
    let ranked = series(&app, run["id"].as_str().unwrap(), "").await;
    assert_eq!(names(&ranked)[0], "cpu");

    // Re-thresholding one series updates the many-series run's counts.
    let before = run["fleet"]["events"].as_u64().unwrap();
    let mem = ranked["series"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "mem")
        .unwrap();
    let (status, changed) = app
        .post_json(
            &format!("/api/v1/runs/{}/threshold", mem["run_id"].as_str().unwrap()),
            &json!({"threshold": {"method": "quantile", "q": 0.9}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    let added = changed["event_count"].as_u64().unwrap() - mem["events"].as_u64().unwrap();
    assert!(added > 0, "{changed}");
    let (_, parent) = app
        .get(&format!("/api/v1/runs/{}", run["id"].as_str().unwrap()))
        .await;
    assert_eq!(parent["fleet"]["events"], before + added, "{parent}");
    assert_eq!(parent["summary"]["event_count"], before + added, "{parent}");
    assert_eq!(
        parent["fleet"]["with_events"],
        run["fleet"]["with_events"].as_u64().unwrap() + u64::from(mem["events"] == 0),
        "{parent}"
    );

    let picked = app
        .finished_run_from(&json!({"dataset_id": ds_id, "value_columns": ["mem", "disk"], "detector": fast_spec()}))
        .await;
    let listed = series(&app, picked["id"].as_str().unwrap(), "?sort=input").await;
    assert_eq!(names(&listed), ["mem", "disk"]);
}

#[tokio::test]
async fn many_series_requests_that_cannot_apply_are_refused_before_queueing() {
    let app = TestApp::new();
    let (_, ds) = app.upload("hosts.csv", &long_csv(2)).await;
    let ds_id = ds["id"].as_str().unwrap();
    let cases = [
        (
            json!({"dataset_id": ds_id, "series_column": "host", "value_columns": ["cpu"]}),
            "give one of them",
        ),
        (
            json!({"dataset_id": ds_id, "series_column": "host", "train": {"rows": 50}}),
            "train: a many-series run fits each series on itself",
        ),
        (
            json!({"dataset_id": ds_id, "value_columns": ["cpu"], "value_column": "cpu"}),
            "value_column and value_columns",
        ),
        (
            json!({"dataset_id": ds_id, "series_column": "region"}),
            "the dataset has no column `region`",
        ),
    ];
    for (request, want) in cases {
        let (status, body) = app.post_json("/api/v1/runs", &request).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{request}: {body}"
        );
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(want), "{request}: {message}");
    }
    assert!(app.state.store().list_runs(None).unwrap().is_empty());

    // A run on one series has no series list.
    let one = app.finished_run(ds_id, fast_spec()).await;
    let (status, body) = app
        .get(&format!(
            "/api/v1/runs/{}/series",
            one["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
}
