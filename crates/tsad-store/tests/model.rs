//! Model-based test: a random sequence of operations gives the same answers from SqliteStorage
//! as from a plain in-memory model (vector's disk-buffer model test, STYLE §5).

use proptest::prelude::*;
use serde_json::json;
use std::collections::HashMap;
use tsad_store::{
    ChatMessage, DatasetRecord, DatasetSummary, ModelRecord, RunRecord, RunResult, RunStatus,
    SqliteStorage, Storage, StorageError, ThresholdUpdate,
};

#[derive(Debug, Clone)]
enum Op {
    CreateDataset {
        ds: u8,
        at: i64,
    },
    DeleteDataset {
        ds: u8,
    },
    CreateRun {
        run: u8,
        ds: u8,
        at: i64,
    },
    UpdateRun {
        run: u8,
        status: RunStatus,
    },
    Transition {
        run: u8,
        from: Vec<RunStatus>,
        to: RunStatus,
        points: Option<usize>,
    },
    SetProgress {
        run: u8,
        fraction: u8,
    },
    DeleteRun {
        run: u8,
    },
    PutResult {
        run: u8,
        points: usize,
    },
    Rethreshold {
        run: u8,
        every: usize,
    },
    Chat {
        run: u8,
        text: String,
    },
    CreateModel {
        model: u8,
        ds: u8,
        run: u8,
        at: i64,
    },
    DeleteModel {
        model: u8,
    },
    Reopen,
}

fn status() -> impl Strategy<Value = RunStatus> {
    prop::sample::select(RunStatus::ALL.to_vec())
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..4, 0i64..5).prop_map(|(ds, at)| Op::CreateDataset { ds, at }),
        (0u8..4).prop_map(|ds| Op::DeleteDataset { ds }),
        (0u8..6, 0u8..4, 0i64..5).prop_map(|(run, ds, at)| Op::CreateRun { run, ds, at }),
        (0u8..6, status()).prop_map(|(run, status)| Op::UpdateRun { run, status }),
        (
            0u8..6,
            prop::collection::vec(status(), 0..3),
            status(),
            prop::option::of(1usize..6)
        )
            .prop_map(|(run, from, to, points)| Op::Transition {
                run,
                from,
                to,
                points
            }),
        (0u8..6, 0u8..100).prop_map(|(run, fraction)| Op::SetProgress { run, fraction }),
        (0u8..6).prop_map(|run| Op::DeleteRun { run }),
        (0u8..6, 1usize..6).prop_map(|(run, points)| Op::PutResult { run, points }),
        (0u8..6, 1usize..4).prop_map(|(run, every)| Op::Rethreshold { run, every }),
        (0u8..6, "[a-z]{0,5}").prop_map(|(run, text)| Op::Chat { run, text }),
        (0u8..3, 0u8..4, 0u8..6, 0i64..5).prop_map(|(model, ds, run, at)| Op::CreateModel {
            model,
            ds,
            run,
            at
        }),
        (0u8..3).prop_map(|model| Op::DeleteModel { model }),
        Just(Op::Reopen),
    ]
}

fn ds_id(i: u8) -> String {
    format!("ds_{i}")
}
fn run_id(i: u8) -> String {
    format!("run_{i}")
}
fn model_id(i: u8) -> String {
    format!("model_{i}")
}

/// A model record and its bytes; the store keeps `dataset_id` and `run_id` only when they exist.
fn model_record(model: u8, ds: u8, run: u8, at: i64) -> (ModelRecord, Vec<u8>) {
    let bytes = format!("model {model} of {ds}/{run}").into_bytes();
    let record = ModelRecord {
        id: model_id(model),
        name: format!("m{model}"),
        dataset_id: Some(ds_id(ds)),
        run_id: Some(run_id(run)),
        spec: json!({"kind": "mad"}),
        meta: json!({"at": at}),
        size_bytes: bytes.len() as u64,
        created_at: at,
    };
    (record, bytes)
}

fn result(points: usize) -> RunResult {
    RunResult {
        time_axis: "index".into(),
        timestamps: (0..points as i64).collect(),
        values: (0..points).map(|i| i as f64).collect(),
        score: (0..points).map(|i| (i * 7 % 5) as f64).collect(),
        rarity: Some((0..points).map(|i| (i * 3 % 4) as f64).collect()),
        expected: None,
        lower: None,
        upper: None,
        flags: vec![false; points],
        labels: None,
        members: vec![],
        threshold_value: 3.0,
        events: json!([]),
        report: json!({"points": points}),
    }
}

/// The in-memory model: what the store must behave like.
#[derive(Debug, Default)]
struct Model {
    seq: u64,
    datasets: Vec<(u64, DatasetRecord)>,
    runs: Vec<(u64, RunRecord)>,
    results: HashMap<String, RunResult>,
    chat: Vec<ChatMessage>,
    models: Vec<(u64, ModelRecord, Vec<u8>)>,
}

/// What an operation answered, reduced to something comparable.
#[derive(Debug, PartialEq)]
enum Outcome {
    Ok,
    Bool(bool),
    NotFound(&'static str),
    Conflict,
    Invalid,
}

fn outcome<T>(r: Result<T, StorageError>, f: impl FnOnce(T) -> Outcome) -> Outcome {
    match r {
        Ok(v) => f(v),
        Err(StorageError::NotFound { kind, .. }) => Outcome::NotFound(kind),
        Err(StorageError::Conflict { .. }) => Outcome::Conflict,
        Err(StorageError::InvalidRecord { .. }) => Outcome::Invalid,
        Err(e) => panic!("unexpected store error: {e}"),
    }
}

impl Model {
    fn run_pos(&self, id: &str) -> Option<usize> {
        self.runs.iter().position(|(_, r)| r.id == id)
    }

    fn apply(&mut self, op: &Op) -> Outcome {
        match op {
            Op::CreateDataset { ds, at } => {
                let id = ds_id(*ds);
                if self.datasets.iter().any(|(_, d)| d.id == id) {
                    return Outcome::Conflict;
                }
                self.seq += 1;
                self.datasets.push((self.seq, dataset(&id, *at)));
                Outcome::Ok
            }
            Op::DeleteDataset { ds } => {
                let id = ds_id(*ds);
                let Some(p) = self.datasets.iter().position(|(_, d)| d.id == id) else {
                    return Outcome::NotFound("dataset");
                };
                self.datasets.remove(p);
                let gone: Vec<String> = self
                    .runs
                    .iter()
                    .filter(|(_, r)| r.dataset_id == id)
                    .map(|(_, r)| r.id.clone())
                    .collect();
                for r in gone {
                    self.remove_run(&r);
                }
                for (_, m, _) in &mut self.models {
                    if m.dataset_id.as_deref() == Some(id.as_str()) {
                        m.dataset_id = None;
                    }
                }
                Outcome::Ok
            }
            Op::CreateRun { run, ds, at } => {
                let rec = RunRecord::new(run_id(*run), &ds_id(*ds), json!({"kind": "mad"}), *at);
                if !self.datasets.iter().any(|(_, d)| d.id == rec.dataset_id) {
                    return Outcome::NotFound("dataset");
                }
                if self.run_pos(&rec.id).is_some() {
                    return Outcome::Conflict;
                }
                self.seq += 1;
                self.runs.push((self.seq, rec));
                Outcome::Ok
            }
            Op::UpdateRun { run, status } => {
                let Some(p) = self.run_pos(&run_id(*run)) else {
                    return Outcome::NotFound("run");
                };
                let r = &mut self.runs[p].1;
                *r = updated(r, *status);
                Outcome::Ok
            }
            Op::Transition {
                run,
                from,
                to,
                points,
            } => {
                let Some(p) = self.run_pos(&run_id(*run)) else {
                    return Outcome::NotFound("run");
                };
                let r = &mut self.runs[p].1;
                if !from.contains(&r.status) {
                    return Outcome::Bool(false);
                }
                *r = updated(r, *to);
                if let Some(n) = points {
                    self.results.insert(r.id.clone(), result(*n));
                }
                Outcome::Bool(true)
            }
            Op::SetProgress { run, fraction } => {
                if let Some(p) = self.run_pos(&run_id(*run)) {
                    let r = &mut self.runs[p].1;
                    if r.status == RunStatus::Running {
                        r.progress = Some(json!({"fraction": fraction}));
                    }
                }
                Outcome::Ok
            }
            Op::DeleteRun { run } => {
                let id = run_id(*run);
                if self.run_pos(&id).is_none() {
                    return Outcome::NotFound("run");
                }
                self.remove_run(&id);
                Outcome::Ok
            }
            Op::PutResult { run, points } => {
                let id = run_id(*run);
                if self.run_pos(&id).is_none() {
                    return Outcome::NotFound("run");
                }
                self.results.insert(id, result(*points));
                Outcome::Ok
            }
            Op::Rethreshold { run, every } => {
                let id = run_id(*run);
                let Some(res) = self.results.get_mut(&id) else {
                    return Outcome::NotFound("result");
                };
                let u = threshold_update(res.len(), *every);
                res.flags = u.flags.clone();
                res.events = u.events.clone();
                res.threshold_value = u.threshold_value;
                let p = self.run_pos(&id).expect("a result implies its run");
                let r = &mut self.runs[p].1;
                r.threshold = u.threshold;
                r.events_options = u.events_options;
                r.summary = u.summary;
                Outcome::Ok
            }
            Op::Chat { run, text } => {
                let id = run_id(*run);
                if self.run_pos(&id).is_none() {
                    return Outcome::NotFound("run");
                }
                self.chat.push(chat(&id, text));
                Outcome::Ok
            }
            Op::CreateModel { model, ds, run, at } => {
                let (mut rec, bytes) = model_record(*model, *ds, *run, *at);
                if self.models.iter().any(|(_, m, _)| m.id == rec.id) {
                    return Outcome::Conflict;
                }
                if !self
                    .datasets
                    .iter()
                    .any(|(_, d)| Some(&d.id) == rec.dataset_id.as_ref())
                {
                    rec.dataset_id = None;
                }
                if rec
                    .run_id
                    .as_deref()
                    .and_then(|r| self.run_pos(r))
                    .is_none()
                {
                    rec.run_id = None;
                }
                self.seq += 1;
                self.models.push((self.seq, rec, bytes));
                Outcome::Ok
            }
            Op::DeleteModel { model } => {
                let id = model_id(*model);
                let Some(p) = self.models.iter().position(|(_, m, _)| m.id == id) else {
                    return Outcome::NotFound("model");
                };
                self.models.remove(p);
                Outcome::Ok
            }
            Op::Reopen => {
                for (_, r) in &mut self.runs {
                    if matches!(r.status, RunStatus::Queued | RunStatus::Running) {
                        r.status = RunStatus::Failed;
                        r.progress = None;
                        r.error = Some(tsad_store::RunError {
                            code: tsad_store::INTERRUPTED_CODE.into(),
                            message: tsad_store::INTERRUPTED_MESSAGE.into(),
                        });
                        // finished_at is the reopen's clock: compared loosely below.
                        r.finished_at = Some(-1);
                    }
                }
                Outcome::Ok
            }
        }
    }

    fn remove_run(&mut self, id: &str) {
        self.runs.retain(|(_, r)| r.id != id);
        self.results.remove(id);
        self.chat.retain(|m| m.run_id != id);
        for (_, m, _) in &mut self.models {
            if m.run_id.as_deref() == Some(id) {
                m.run_id = None;
            }
        }
    }

    fn list_models(&self) -> Vec<ModelRecord> {
        let mut v: Vec<&(u64, ModelRecord, Vec<u8>)> = self.models.iter().collect();
        v.sort_by_key(|e| std::cmp::Reverse((e.1.created_at, e.0)));
        v.into_iter().map(|(_, m, _)| m.clone()).collect()
    }

    fn list_datasets(&self) -> Vec<DatasetSummary> {
        let mut v: Vec<&(u64, DatasetRecord)> = self.datasets.iter().collect();
        v.sort_by_key(|e| std::cmp::Reverse((e.1.created_at, e.0)));
        v.into_iter()
            .map(|(_, d)| DatasetSummary {
                id: d.id.clone(),
                name: d.name.clone(),
                created_at: d.created_at,
                rows: d.rows,
                size_bytes: d.size_bytes,
                run_count: self
                    .runs
                    .iter()
                    .filter(|(_, r)| r.dataset_id == d.id)
                    .count() as u64,
            })
            .collect()
    }

    fn list_runs(&self) -> Vec<RunRecord> {
        let mut v: Vec<&(u64, RunRecord)> = self.runs.iter().collect();
        v.sort_by_key(|e| std::cmp::Reverse((e.1.created_at, e.0)));
        v.into_iter().map(|(_, r)| r.clone()).collect()
    }
}

fn dataset(id: &str, at: i64) -> DatasetRecord {
    DatasetRecord {
        id: id.into(),
        name: id.into(),
        created_at: at,
        size_bytes: id.len() as u64,
        rows: 3,
        meta: json!({"id": id}),
    }
}

fn updated(r: &RunRecord, status: RunStatus) -> RunRecord {
    let mut r = r.clone();
    r.status = status;
    r.progress = None;
    r.summary = status
        .is_finished()
        .then(|| json!({"status": status.as_str()}));
    r.started_at = Some(100);
    r.fit_seconds = Some(0.5);
    r
}

fn threshold_update(points: usize, every: usize) -> ThresholdUpdate {
    ThresholdUpdate {
        threshold: json!({"method": "quantile", "q": 0.9}),
        events_options: json!({"merge_gap": every}),
        threshold_value: every as f64,
        flags: (0..points).map(|i| i % every == 0).collect(),
        events: json!([{"start": 0}]),
        summary: Some(json!({"every": every})),
    }
}

fn chat(run: &str, text: &str) -> ChatMessage {
    ChatMessage {
        run_id: run.into(),
        role: "user".into(),
        content: text.into(),
        created_at: 7,
    }
}

fn apply_store(store: &mut SqliteStorage, dir: &std::path::Path, op: &Op) -> Outcome {
    let ok = |_| Outcome::Ok;
    match op {
        Op::CreateDataset { ds, at } => {
            outcome(store.create_dataset(&dataset(&ds_id(*ds), *at), b"raw"), ok)
        }
        Op::DeleteDataset { ds } => outcome(store.delete_dataset(&ds_id(*ds)), ok),
        Op::CreateRun { run, ds, at } => outcome(
            store.create_run(&RunRecord::new(
                run_id(*run),
                &ds_id(*ds),
                json!({"kind": "mad"}),
                *at,
            )),
            ok,
        ),
        Op::UpdateRun { run, status } => match store.run(&run_id(*run)) {
            Ok(r) => outcome(store.update_run(&updated(&r, *status)), ok),
            Err(e) => outcome(Err::<(), _>(e), ok),
        },
        Op::Transition {
            run,
            from,
            to,
            points,
        } => match store.run(&run_id(*run)) {
            Ok(r) => {
                let res = points.map(result);
                outcome(
                    store.transition_run(&updated(&r, *to), from, res.as_ref()),
                    Outcome::Bool,
                )
            }
            Err(e) => outcome(Err::<(), _>(e), ok),
        },
        Op::SetProgress { run, fraction } => outcome(
            store.set_run_progress(&run_id(*run), &json!({"fraction": fraction})),
            ok,
        ),
        Op::DeleteRun { run } => outcome(store.delete_run(&run_id(*run)), ok),
        Op::PutResult { run, points } => {
            outcome(store.put_result(&run_id(*run), &result(*points)), ok)
        }
        Op::Rethreshold { run, every } => {
            let id = run_id(*run);
            let points = store.result(&id).map(|r| r.len()).unwrap_or(0);
            outcome(
                store.update_threshold(&id, &threshold_update(points, *every)),
                ok,
            )
        }
        Op::Chat { run, text } => outcome(store.add_chat_message(&chat(&run_id(*run), text)), ok),
        Op::CreateModel { model, ds, run, at } => {
            let (rec, bytes) = model_record(*model, *ds, *run, *at);
            outcome(store.create_model(&rec, &bytes), ok)
        }
        Op::DeleteModel { model } => outcome(store.delete_model(&model_id(*model)), ok),
        Op::Reopen => {
            *store = SqliteStorage::open(dir).expect("reopen");
            Outcome::Ok
        }
    }
}

fn check_same(model: &Model, store: &SqliteStorage) -> Result<(), TestCaseError> {
    prop_assert_eq!(model.list_datasets(), store.list_datasets().unwrap());
    for (_, d) in &model.datasets {
        prop_assert_eq!(d, &store.dataset(&d.id).unwrap());
    }
    let mut stored = store.list_runs(None).unwrap();
    let mut want = model.list_runs();
    // finished_at after a reopen is the store's clock: compare only that it is set.
    for r in want.iter_mut().chain(stored.iter_mut()) {
        if r.finished_at.is_some() {
            r.finished_at = Some(0);
        }
    }
    prop_assert_eq!(&want, &stored);
    for r in &want {
        let mut one = store.run(&r.id).unwrap();
        one.finished_at = one.finished_at.map(|_| 0);
        prop_assert_eq!(r, &one);
        match model.results.get(&r.id) {
            Some(res) => prop_assert_eq!(res, &store.result(&r.id).unwrap()),
            None => {
                let missing = matches!(
                    store.result(&r.id),
                    Err(StorageError::NotFound { kind: "result", .. })
                );
                prop_assert!(missing, "run {} should have no result", r.id);
            }
        }
        let chat: Vec<&ChatMessage> = model.chat.iter().filter(|m| m.run_id == r.id).collect();
        let got = store.chat_messages(&r.id).unwrap();
        prop_assert_eq!(chat, got.iter().collect::<Vec<_>>());
    }
    prop_assert_eq!(model.list_models(), store.list_models().unwrap());
    for (_, m, bytes) in &model.models {
        prop_assert_eq!(m, &store.model(&m.id).unwrap());
        prop_assert_eq!(bytes, &store.model_bytes(&m.id).unwrap());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn sqlite_behaves_like_the_model(ops in prop::collection::vec(op(), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStorage::open(dir.path()).unwrap();
        let mut model = Model::default();
        for op in &ops {
            let want = model.apply(op);
            let got = apply_store(&mut store, dir.path(), op);
            prop_assert_eq!(want, got, "op {:?}", op);
            check_same(&model, &store)?;
        }
    }
}
