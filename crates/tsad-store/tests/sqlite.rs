//! SqliteStorage: CRUD, cascades, persistence across reopen, and the in-flight rule.

use serde_json::json;
use tsad_store::{
    ChatMessage, DatasetRecord, INTERRUPTED_MESSAGE, MemberColumn, ModelRecord, RunError,
    RunRecord, RunResult, RunStatus, SqliteStorage, Storage, StorageError, ThresholdUpdate,
};

fn dataset(id: &str, created_at: i64) -> DatasetRecord {
    DatasetRecord {
        id: id.into(),
        name: format!("{id}.csv"),
        created_at,
        size_bytes: 9,
        rows: 2,
        meta: json!({"delimiter": ",", "columns": [{"index": 0, "name": "t"}]}),
    }
}

fn result(n: usize) -> RunResult {
    RunResult {
        time_axis: "epoch_millis".into(),
        timestamps: (0..n as i64)
            .map(|i| 1_700_000_000_000 + i * 60_000)
            .collect(),
        values: (0..n)
            .map(|i| if i == 3 { f64::NAN } else { i as f64 })
            .collect(),
        score: (0..n).map(|i| i as f64 / 10.0).collect(),
        rarity: Some(
            (0..n)
                .map(|i| if i == 0 { f64::NAN } else { i as f64 * 0.7 })
                .collect(),
        ),
        expected: Some(vec![1.0; n]),
        lower: Some(vec![0.0; n]),
        upper: Some(vec![2.0; n]),
        flags: (0..n).map(|i| i == n - 1).collect(),
        labels: Some(
            (0..n)
                .map(|i| if i == 0 { f64::NAN } else { 0.0 })
                .collect(),
        ),
        members: vec![
            MemberColumn {
                name: "a".into(),
                kind: "mad".into(),
                normalized: vec![0.5; n],
            },
            MemberColumn {
                name: "b".into(),
                kind: "benford".into(),
                normalized: (0..n).map(|i| i as f64).collect(),
            },
        ],
        threshold_value: 0.75,
        events: json!([{"start": n - 1, "end": n - 1, "severity": null}]),
        report: json!({"period": 24}),
    }
}

fn same_bits(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

fn assert_same_result(a: &RunResult, b: &RunResult) {
    assert_eq!(a.timestamps, b.timestamps);
    assert!(same_bits(&a.values, &b.values));
    assert!(same_bits(&a.score, &b.score));
    assert_eq!(a.rarity.is_some(), b.rarity.is_some());
    if let (Some(x), Some(y)) = (&a.rarity, &b.rarity) {
        assert!(same_bits(x, y));
    }
    assert!(same_bits(
        a.labels.as_ref().unwrap(),
        b.labels.as_ref().unwrap()
    ));
    assert_eq!(a.flags, b.flags);
    assert_eq!(a.expected, b.expected);
    assert_eq!((&a.lower, &a.upper), (&b.lower, &b.upper));
    assert_eq!(a.members, b.members);
    assert_eq!(a.threshold_value, b.threshold_value);
    assert_eq!((&a.events, &a.report), (&b.events, &b.report));
}

#[test]
fn datasets_crud_and_newest_first() {
    let s = SqliteStorage::open_in_memory().unwrap();
    s.create_dataset(&dataset("ds_a", 10), b"t,v\n1,2\n")
        .unwrap();
    s.create_dataset(&dataset("ds_b", 20), b"t,v\n3,4\n")
        .unwrap();
    s.create_dataset(&dataset("ds_c", 20), b"x").unwrap();
    assert_eq!(s.dataset("ds_a").unwrap(), dataset("ds_a", 10));
    assert_eq!(s.dataset_bytes("ds_b").unwrap(), b"t,v\n3,4\n");
    let ids: Vec<String> = s
        .list_datasets()
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(ids, ["ds_c", "ds_b", "ds_a"]);

    let dup = s.create_dataset(&dataset("ds_a", 30), b"").unwrap_err();
    assert!(matches!(dup, StorageError::Conflict { .. }), "{dup}");

    s.delete_dataset("ds_b").unwrap();
    let cases: [(&str, StorageError); 3] = [
        ("get", s.dataset("ds_b").unwrap_err()),
        ("bytes", s.dataset_bytes("ds_b").unwrap_err()),
        ("delete", s.delete_dataset("ds_b").unwrap_err()),
    ];
    for (name, err) in cases {
        assert_eq!(err.to_string(), "dataset `ds_b` not found", "{name}");
    }
}

#[test]
fn runs_results_and_chat_crud() {
    let s = SqliteStorage::open_in_memory().unwrap();
    s.create_dataset(&dataset("ds_a", 10), b"").unwrap();
    let mut run = RunRecord::new("run_1".into(), "ds_a", json!({"kind": "mad"}), 11);
    run.preset = Some("p".into());
    s.create_run(&run).unwrap();
    assert_eq!(s.run("run_1").unwrap(), run);
    assert_eq!(s.list_datasets().unwrap()[0].run_count, 1);

    let orphan = RunRecord::new("run_2".into(), "ds_zz", json!({}), 12);
    assert_eq!(
        s.create_run(&orphan).unwrap_err().to_string(),
        "dataset `ds_zz` not found"
    );
    assert!(matches!(
        s.create_run(&run).unwrap_err(),
        StorageError::Conflict { .. }
    ));

    // progress only sticks while running
    s.set_run_progress("run_1", &json!({"fraction": 0.1}))
        .unwrap();
    assert_eq!(s.run("run_1").unwrap().progress, None);
    run.status = RunStatus::Running;
    run.started_at = Some(13);
    s.update_run(&run).unwrap();
    s.set_run_progress("run_1", &json!({"fraction": 0.5}))
        .unwrap();
    assert_eq!(
        s.run("run_1").unwrap().progress,
        Some(json!({"fraction": 0.5}))
    );

    // finish with a result, atomically
    let r = result(6);
    let mut done = run.clone();
    done.status = RunStatus::Succeeded;
    done.progress = None;
    done.summary = Some(json!({"points": 6}));
    done.finished_at = Some(20);
    done.fit_seconds = Some(0.25);
    assert!(
        s.transition_run(&done, &[RunStatus::Running], Some(&r))
            .unwrap()
    );
    assert_eq!(s.run("run_1").unwrap(), done);
    assert_same_result(&s.result("run_1").unwrap(), &r);
    // a second transition from running no longer applies
    let mut late = done.clone();
    late.status = RunStatus::Cancelled;
    assert!(
        !s.transition_run(&late, &[RunStatus::Running], None)
            .unwrap()
    );
    assert_eq!(s.run("run_1").unwrap().status, RunStatus::Succeeded);

    // re-threshold
    let update = ThresholdUpdate {
        threshold: json!({"method": "quantile", "q": 0.5}),
        events_options: json!({"merge_gap": 0}),
        threshold_value: f64::INFINITY,
        flags: vec![true, false, false, false, false, true],
        events: json!([]),
        summary: Some(json!({"points": 6, "anomaly_count": 2})),
    };
    s.update_threshold("run_1", &update).unwrap();
    let after = s.result("run_1").unwrap();
    assert_eq!(after.flags, update.flags);
    assert_eq!(after.threshold_value, f64::INFINITY);
    assert_eq!(after.events, json!([]));
    let stored = s.run("run_1").unwrap();
    assert_eq!(stored.threshold, update.threshold);
    assert_eq!(stored.summary, update.summary);
    let short = ThresholdUpdate {
        flags: vec![true],
        ..update.clone()
    };
    assert!(matches!(
        s.update_threshold("run_1", &short).unwrap_err(),
        StorageError::InvalidRecord { .. }
    ));

    // invalid results are refused before anything is written
    let mut bad = result(4);
    bad.score.pop();
    assert!(matches!(
        s.put_result("run_1", &bad).unwrap_err(),
        StorageError::InvalidRecord { .. }
    ));

    // chat
    for (i, role) in ["user", "assistant"].into_iter().enumerate() {
        s.add_chat_message(&ChatMessage {
            run_id: "run_1".into(),
            role: role.into(),
            content: format!("m{i}"),
            created_at: 30 + i as i64,
        })
        .unwrap();
    }
    let msgs = s.chat_messages("run_1").unwrap();
    assert_eq!(
        msgs.iter().map(|m| m.content.as_str()).collect::<Vec<_>>(),
        ["m0", "m1"]
    );
    let missing = ChatMessage {
        run_id: "run_x".into(),
        role: "user".into(),
        content: String::new(),
        created_at: 0,
    };
    assert!(matches!(
        s.add_chat_message(&missing).unwrap_err(),
        StorageError::NotFound { kind: "run", .. }
    ));

    // deleting the dataset takes runs, results and chat with it
    s.delete_dataset("ds_a").unwrap();
    assert!(matches!(
        s.run("run_1").unwrap_err(),
        StorageError::NotFound { kind: "run", .. }
    ));
    assert!(matches!(
        s.result("run_1").unwrap_err(),
        StorageError::NotFound { kind: "result", .. }
    ));
    assert!(s.chat_messages("run_1").unwrap().is_empty());
}

#[test]
fn list_runs_filters_by_dataset() {
    let s = SqliteStorage::open_in_memory().unwrap();
    s.create_dataset(&dataset("ds_a", 1), b"").unwrap();
    s.create_dataset(&dataset("ds_b", 2), b"").unwrap();
    for (id, ds, t) in [("r1", "ds_a", 5), ("r2", "ds_b", 6), ("r3", "ds_a", 7)] {
        s.create_run(&RunRecord::new(id.into(), ds, json!({}), t))
            .unwrap();
    }
    let ids = |v: Vec<RunRecord>| v.into_iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(ids(s.list_runs(None).unwrap()), ["r3", "r2", "r1"]);
    assert_eq!(ids(s.list_runs(Some("ds_a")).unwrap()), ["r3", "r1"]);
    assert!(s.list_runs(Some("nope")).unwrap().is_empty());
    s.delete_run("r3").unwrap();
    assert_eq!(ids(s.list_runs(Some("ds_a")).unwrap()), ["r1"]);
    assert!(matches!(
        s.delete_run("r3").unwrap_err(),
        StorageError::NotFound { .. }
    ));
}

#[test]
fn series_runs_belong_to_their_parent_and_go_with_it() {
    let s = SqliteStorage::open_in_memory().unwrap();
    s.create_dataset(&dataset("ds", 1), b"").unwrap();
    let mut parent = RunRecord::new("fleet".into(), "ds", json!({}), 5);
    parent.fleet = Some(json!({"series_column": "host"}));
    s.create_run(&parent).unwrap();
    let child = |id: &str, name: &str| {
        let mut r = RunRecord::new(id.into(), "ds", json!({}), 6);
        r.parent_id = Some("fleet".into());
        r.series = Some(name.into());
        r.status = RunStatus::Succeeded;
        r
    };
    let mut failed = child("c2", "b");
    failed.status = RunStatus::Failed;
    failed.error = Some(RunError {
        code: "invalid_csv".into(),
        message: "all missing".into(),
    });
    s.add_series_runs(
        "fleet",
        &[(child("c1", "a"), Some(result(10))), (failed, None)],
    )
    .unwrap();

    // The sidebar's list and the dataset's run count show the fleet run only.
    let ids = |v: Vec<RunRecord>| v.into_iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(ids(s.list_runs(None).unwrap()), ["fleet"]);
    assert_eq!(s.list_datasets().unwrap()[0].run_count, 1);
    let series = s.series_runs("fleet").unwrap();
    assert_eq!(ids(series.clone()), ["c1", "c2"]);
    assert_eq!(series[0].series.as_deref(), Some("a"));
    assert_eq!(series[1].error.as_ref().unwrap().message, "all missing");
    assert_same_result(&s.result("c1").unwrap(), &result(10));
    assert_eq!(
        s.run("fleet").unwrap().fleet,
        Some(json!({"series_column": "host"}))
    );

    // A run that names another parent is refused, and nothing of the batch is stored.
    let mut stray = child("c3", "c");
    stray.parent_id = Some("other".into());
    let err = s
        .add_series_runs("fleet", &[(child("c4", "d"), None), (stray, None)])
        .unwrap_err();
    assert!(matches!(err, StorageError::InvalidRecord { .. }), "{err}");
    assert_eq!(s.series_runs("fleet").unwrap().len(), 2);
    // A deleted parent takes its series (and their results) with it.
    s.delete_run("fleet").unwrap();
    assert!(s.series_runs("fleet").unwrap().is_empty());
    assert!(matches!(
        s.result("c1").unwrap_err(),
        StorageError::NotFound { .. }
    ));
    assert!(matches!(
        s.add_series_runs("fleet", &[(child("c5", "e"), None)])
            .unwrap_err(),
        StorageError::NotFound { .. }
    ));
}

#[test]
fn everything_survives_a_reopen_and_in_flight_runs_fail() {
    let dir = tempfile::tempdir().unwrap();
    let r = result(5);
    {
        let s = SqliteStorage::open(dir.path()).unwrap();
        assert_eq!(s.path().unwrap(), dir.path().join("tsad.db"));
        s.create_dataset(&dataset("ds_a", 1), b"raw bytes").unwrap();
        let mut done = RunRecord::new("r_done".into(), "ds_a", json!({"kind": "mad"}), 2);
        s.create_run(&done).unwrap();
        done.status = RunStatus::Succeeded;
        s.transition_run(&done, &[RunStatus::Queued], Some(&r))
            .unwrap();
        s.create_run(&RunRecord::new("r_queued".into(), "ds_a", json!({}), 3))
            .unwrap();
        let mut running = RunRecord::new("r_running".into(), "ds_a", json!({}), 4);
        s.create_run(&running).unwrap();
        running.status = RunStatus::Running;
        running.progress = Some(json!({"fraction": 0.3}));
        s.update_run(&running).unwrap();
        s.add_chat_message(&ChatMessage {
            run_id: "r_done".into(),
            role: "user".into(),
            content: "why?".into(),
            created_at: 5,
        })
        .unwrap();
    }
    let s = SqliteStorage::open(dir.path()).unwrap();
    assert_eq!(s.dataset("ds_a").unwrap(), dataset("ds_a", 1));
    assert_eq!(s.dataset_bytes("ds_a").unwrap(), b"raw bytes");
    assert_eq!(s.run("r_done").unwrap().status, RunStatus::Succeeded);
    assert_same_result(&s.result("r_done").unwrap(), &r);
    assert_eq!(s.chat_messages("r_done").unwrap().len(), 1);
    for id in ["r_queued", "r_running"] {
        let run = s.run(id).unwrap();
        assert_eq!(run.status, RunStatus::Failed, "{id}");
        assert_eq!(
            run.error,
            Some(RunError {
                code: "interrupted".into(),
                message: INTERRUPTED_MESSAGE.into()
            })
        );
        assert!(run.finished_at.is_some());
        assert_eq!(run.progress, None);
    }
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(SqliteStorage::open(dir.path()).unwrap());
    let conn = rusqlite::Connection::open(dir.path().join("tsad.db")).unwrap();
    conn.pragma_update(None, "user_version", 999).unwrap();
    drop(conn);
    let err = SqliteStorage::open(dir.path()).unwrap_err();
    assert!(err.to_string().contains("schema version 999"), "{err}");
}

#[test]
fn a_version_1_store_migrates_with_its_results() {
    // Build a store at schema 1 by hand (as the first release wrote it), then open it.
    let dir = tempfile::tempdir().unwrap();
    let conn = rusqlite::Connection::open(dir.path().join("tsad.db")).unwrap();
    let v1 = include_str!("fixtures/schema_v1.sql");
    conn.execute_batch(v1).unwrap();
    drop(conn);
    let s = SqliteStorage::open(dir.path()).unwrap();
    let r = s.result("run_1").unwrap();
    assert_eq!(
        r.rarity, None,
        "results older than calibration have no rarity"
    );
    assert_eq!(s.run("run_1").unwrap().training, None);
    assert!(s.list_models().unwrap().is_empty());
    assert_eq!(r.flags, vec![false, true]);
    assert_eq!(r.threshold_value, 1.5);
    assert_eq!(r.events, json!([{"start": 1}]));
    assert_eq!(r.values, vec![1.0, 2.0]);
    let update = ThresholdUpdate {
        threshold: json!({"method": "sigma", "k": 1.0}),
        events_options: json!({"merge_gap": 2}),
        threshold_value: 0.5,
        flags: vec![true, true],
        events: json!([]),
        summary: None,
    };
    s.update_threshold("run_1", &update).unwrap();
    assert_eq!(s.result("run_1").unwrap().flags, vec![true, true]);
}

fn model(id: &str, dataset_id: Option<&str>, run_id: Option<&str>, at: i64) -> ModelRecord {
    ModelRecord {
        id: id.into(),
        name: format!("{id} name"),
        dataset_id: dataset_id.map(Into::into),
        run_id: run_id.map(Into::into),
        spec: json!({"kind": "mad", "window": 48}),
        meta: json!({"train_rows": 100}),
        size_bytes: 0,
        created_at: at,
    }
}

#[test]
fn models_crud_and_what_deleting_their_sources_does() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = SqliteStorage::open(dir.path()).unwrap();
        s.create_dataset(&dataset("ds_a", 1), b"").unwrap();
        s.create_run(&RunRecord::new("run_1".into(), "ds_a", json!({}), 2))
            .unwrap();
        s.create_model(
            &model("m_1", Some("ds_a"), Some("run_1"), 5),
            b"{\"format\": 1}",
        )
        .unwrap();
        s.create_model(&model("m_2", None, None, 6), b"two")
            .unwrap();
        // Sources that do not exist are not an error: the model stands on its own.
        s.create_model(&model("m_3", Some("ds_gone"), Some("run_gone"), 6), b"3")
            .unwrap();
        let dup = s
            .create_model(&model("m_1", None, None, 7), b"")
            .unwrap_err();
        assert!(matches!(dup, StorageError::Conflict { .. }), "{dup}");
    }
    // Everything survives a reopen.
    let s = SqliteStorage::open(dir.path()).unwrap();
    let m1 = s.model("m_1").unwrap();
    assert_eq!(
        m1,
        ModelRecord {
            size_bytes: 13,
            ..model("m_1", Some("ds_a"), Some("run_1"), 5)
        }
    );
    assert_eq!(s.model_bytes("m_1").unwrap(), b"{\"format\": 1}");
    assert_eq!(s.model("m_3").unwrap().dataset_id, None);
    assert_eq!(s.model("m_3").unwrap().run_id, None);
    let ids: Vec<String> = s.list_models().unwrap().into_iter().map(|m| m.id).collect();
    assert_eq!(
        ids,
        ["m_3", "m_2", "m_1"],
        "newest first, then by insertion"
    );

    // Deleting the run, then the dataset, keeps the model and forgets where it came from.
    s.delete_run("run_1").unwrap();
    assert_eq!(s.model("m_1").unwrap().run_id, None);
    assert_eq!(s.model("m_1").unwrap().dataset_id.as_deref(), Some("ds_a"));
    s.delete_dataset("ds_a").unwrap();
    assert_eq!(s.model("m_1").unwrap().dataset_id, None);
    assert_eq!(s.model_bytes("m_1").unwrap().len(), 13);

    s.delete_model("m_1").unwrap();
    let cases: [(&str, StorageError); 3] = [
        ("get", s.model("m_1").unwrap_err()),
        ("bytes", s.model_bytes("m_1").unwrap_err()),
        ("delete", s.delete_model("m_1").unwrap_err()),
    ];
    for (name, err) in cases {
        assert_eq!(err.to_string(), "model `m_1` not found", "{name}");
    }
    assert_eq!(s.list_models().unwrap().len(), 2);
}

#[test]
fn a_run_keeps_its_training_part_and_a_result_without_rarity_stays_without() {
    let s = SqliteStorage::open_in_memory().unwrap();
    s.create_dataset(&dataset("ds_a", 1), b"").unwrap();
    let mut run = RunRecord::new("run_1".into(), "ds_a", json!({"kind": "mad"}), 2);
    assert_eq!(run.threshold, json!({"method": "auto", "every": 100000.0}));
    run.training = Some(json!({"source": "prefix", "prefix_rows": 50}));
    s.create_run(&run).unwrap();
    assert_eq!(s.run("run_1").unwrap(), run);
    run.training = Some(json!({"source": "prefix", "prefix_rows": 50, "calibration_points": 47}));
    s.update_run(&run).unwrap();
    assert_eq!(s.run("run_1").unwrap().training, run.training);

    let mut r = result(4);
    r.rarity = None;
    s.put_result("run_1", &r).unwrap();
    assert_eq!(s.result("run_1").unwrap().rarity, None);
    r.rarity = Some(vec![1.0; 3]);
    let err = s.put_result("run_1", &r).unwrap_err().to_string();
    assert!(err.contains("`rarity` has 3 entries for 4 points"), "{err}");
}
