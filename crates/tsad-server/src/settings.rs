//! What sets runs apart: a run's settings as a flat list (detector and its parameters,
//! threshold, training part, event options, value column), the settings two runs differ in, and
//! the labels that tell a dataset's runs apart in the UI ("mad · window 96 · σ k = 3").

use serde::Serialize;
use serde_json::{Map, Value};
use tsad_explain::format::num;
use tsad_store::RunRecord;
use utoipa::ToSchema;

/// One setting of a run.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Setting {
    /// A dotted path: `detector`, `detector.window`, `detector.mad.window` (an ensemble
    /// member's), `threshold`, `training`, `events.merge_gap`, `value_column`.
    pub(crate) key: String,
    /// Its value as stored.
    pub(crate) value: Value,
    /// How a label shows it: `window 96`, `σ k = 3`, `trained on the first 200 rows`.
    pub(crate) text: String,
}

/// A setting two runs differ in.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Difference {
    /// The setting: `detector`, `detector.window`, `threshold`, `training`, `events.min_points`,
    /// `value_column`, ...
    pub(crate) field: String,
    /// The run's value (null: the run has no such setting).
    #[schema(value_type = Object)]
    pub(crate) run: Value,
    /// The other run's value.
    #[schema(value_type = Object)]
    pub(crate) other: Value,
    /// The two in words: `window 96 → window 48`.
    pub(crate) text: String,
}

/// The detector's name: the preset, the kind, or `ensemble any: seasonal + mad`.
pub(crate) fn detector_name(spec: &Value, preset: Option<&str>) -> String {
    if let Some(p) = preset {
        return p.to_owned();
    }
    let kind = spec
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("detector");
    match spec.get("members").and_then(Value::as_array) {
        Some(members) if kind == "ensemble" => {
            let names: Vec<&str> = members
                .iter()
                .map(|m| m.get("kind").and_then(Value::as_str).unwrap_or("?"))
                .collect();
            let policy = spec.get("policy").and_then(Value::as_str).unwrap_or("");
            format!("ensemble {policy}: {}", names.join(" + "))
        }
        _ => kind.to_owned(),
    }
}

/// Every setting of a run, in a stable order.
pub(crate) fn settings(run: &RunRecord) -> Vec<Setting> {
    let name = detector_name(&run.spec, run.preset.as_deref());
    let mut out = vec![Setting {
        key: "detector".into(),
        value: Value::String(name.clone()),
        text: name,
    }];
    detector_params(&run.spec, "detector", &mut out);
    out.push(Setting {
        key: "threshold".into(),
        value: run.threshold.clone(),
        text: threshold_text(&run.threshold),
    });
    let training = training_asked(run.training.as_ref());
    out.push(Setting {
        key: "training".into(),
        text: training_text(&training),
        value: training,
    });
    if let Some(options) = run.events_options.as_object() {
        for (key, value) in options {
            out.push(Setting {
                key: format!("events.{key}"),
                text: format!("{} {}", key.replace('_', " "), value_text(value)),
                value: value.clone(),
            });
        }
    }
    // Until a run has read its data the column may be unresolved (null: detected); it then
    // compares with nothing rather than differing from every resolved one.
    if !run.value_column.is_null() {
        out.push(Setting {
            key: "value_column".into(),
            text: format!("column {}", value_text(&run.value_column)),
            value: run.value_column.clone(),
        });
    }
    out
}

/// The detector's parameters, an ensemble member's under its kind (`detector.mad.window`; the
/// second member of one kind `detector.mad#2.window`).
fn detector_params(spec: &Value, path: &str, out: &mut Vec<Setting>) {
    let Some(obj) = spec.as_object() else {
        return;
    };
    for (key, value) in obj {
        match key.as_str() {
            "kind" => {}
            "members" => {
                let mut seen: Map<String, Value> = Map::new();
                for member in value.as_array().into_iter().flatten() {
                    let kind = member
                        .get("kind")
                        .and_then(Value::as_str)
                        .unwrap_or("member");
                    let n = seen.get(kind).and_then(Value::as_u64).unwrap_or(0) + 1;
                    seen.insert(kind.to_owned(), n.into());
                    let name = if n == 1 {
                        kind.to_owned()
                    } else {
                        format!("{kind}#{n}")
                    };
                    detector_params(member, &format!("{path}.{name}"), out);
                }
            }
            _ => {
                let member = path.strip_prefix("detector.").map(|m| format!("{m} "));
                out.push(Setting {
                    key: format!("{path}.{key}"),
                    text: format!(
                        "{}{} {}",
                        member.unwrap_or_default(),
                        key.replace('_', " "),
                        value_text(value)
                    ),
                    value: value.clone(),
                });
            }
        }
    }
}

/// What the user asked to train on, without what the run found (rows, times, ids of saved
/// models), so two runs asked alike compare equal.
fn training_asked(training: Option<&Value>) -> Value {
    let mut asked = Map::new();
    if let Some(obj) = training.and_then(Value::as_object) {
        for key in [
            "source",
            "prefix_rows",
            "until",
            "dataset_id",
            "value_column",
            "model_id",
        ] {
            if let Some(v) = obj.get(key).filter(|v| !v.is_null()) {
                asked.insert(key.to_owned(), v.clone());
            }
        }
    }
    if asked.is_empty() {
        asked.insert("source".into(), "self".into());
    }
    Value::Object(asked)
}

fn training_text(asked: &Value) -> String {
    let get = |k: &str| asked.get(k).filter(|v| !v.is_null());
    match get("source").and_then(Value::as_str) {
        Some("prefix") => match (get("prefix_rows"), get("until")) {
            (Some(rows), _) => format!("trained on the first {} rows", value_text(rows)),
            (None, Some(until)) => format!("trained until {}", value_text(until)),
            _ => "trained on a prefix".into(),
        },
        Some("dataset") => format!(
            "trained on dataset {}",
            get("dataset_id").map(value_text).unwrap_or_default()
        ),
        Some("model") => format!(
            "stored model {}",
            get("model_id").map(value_text).unwrap_or_default()
        ),
        _ => "trained on itself".into(),
    }
}

/// A threshold as the UI's controls name it: `auto`, `auto, 1 in 1000`, `sensitivity 0.7`,
/// `σ k = 3`, `robust k = 5`, `quantile q = 0.99`.
pub(crate) fn threshold_text(threshold: &Value) -> String {
    let param = |k: &str| threshold.get(k).and_then(Value::as_f64);
    match threshold.get("method").and_then(Value::as_str) {
        Some("auto") => match param("every") {
            Some(every) if every != tsad_core::DEFAULT_EVERY => {
                format!("auto, 1 in {}", num(every))
            }
            _ => "auto".into(),
        },
        Some("sensitivity") => format!("sensitivity {}", param("s").map(num).unwrap_or_default()),
        Some("sigma") => format!("σ k = {}", param("k").map(num).unwrap_or_default()),
        Some("robust") => format!("robust k = {}", param("k").map(num).unwrap_or_default()),
        Some("quantile") => format!("quantile q = {}", param("q").map(num).unwrap_or_default()),
        Some(other) => other.to_owned(),
        None => value_text(threshold),
    }
}

fn value_text(value: &Value) -> String {
    match value {
        Value::Null => "none".into(),
        Value::String(s) => s.clone(),
        Value::Number(n) => n.as_f64().map(num).unwrap_or_else(|| n.to_string()),
        other => other.to_string(),
    }
}

/// The settings in which `run` and `other` differ, in `run`'s order, then those only `other`
/// has (an unresolved value column differs from nothing).
pub(crate) fn differences(run: &RunRecord, other: &RunRecord) -> Vec<Difference> {
    let (a, b) = (settings(run), settings(other));
    let find = |list: &[Setting], key: &str| list.iter().position(|s| s.key == key);
    let unresolved = |r: &RunRecord, key: &str| key == "value_column" && r.value_column.is_null();
    let mut out = Vec::new();
    for s in &a {
        match find(&b, &s.key).map(|i| &b[i]) {
            Some(t) if t.value == s.value => {}
            None if unresolved(other, &s.key) => {}
            Some(t) => out.push(Difference {
                field: s.key.clone(),
                run: s.value.clone(),
                other: t.value.clone(),
                text: format!("{} → {}", s.text, t.text),
            }),
            None => out.push(Difference {
                field: s.key.clone(),
                run: s.value.clone(),
                other: Value::Null,
                text: format!("{} → none", s.text),
            }),
        }
    }
    for t in b
        .iter()
        .filter(|t| find(&a, &t.key).is_none() && !unresolved(run, &t.key))
    {
        out.push(Difference {
            field: t.key.clone(),
            run: Value::Null,
            other: t.value.clone(),
            text: format!("none → {}", t.text),
        });
    }
    out
}

/// A label per run telling it apart from the other runs on its dataset: the detector's name,
/// then each setting whose value is not the same for every run on the dataset (detector
/// parameters compared among runs of the same detector only). One run alone is just its
/// detector's name.
pub(crate) fn labels(runs: &[RunRecord]) -> Vec<String> {
    let all: Vec<Vec<Setting>> = runs.iter().map(settings).collect();
    let varies = |i: usize, s: &Setting| {
        let detector = &all[i][0].value;
        runs.iter().enumerate().any(|(j, r)| {
            if j == i || r.dataset_id != runs[i].dataset_id {
                return false;
            }
            if s.key.starts_with("detector.") && all[j][0].value != *detector {
                return false;
            }
            if s.key == "value_column" && r.value_column.is_null() {
                return false;
            }
            all[j].iter().find(|t| t.key == s.key).map(|t| &t.value) != Some(&s.value)
        })
    };
    all.iter()
        .enumerate()
        .map(|(i, list)| {
            let mut parts = vec![list[0].text.clone()];
            parts.extend(
                list.iter()
                    .skip(1)
                    .filter(|s| varies(i, s))
                    .map(|s| s.text.clone()),
            );
            parts.join(" · ")
        })
        .collect()
}

/// The label of `run` among `others` (the runs on its dataset; `run` itself among them or not).
pub(crate) fn label_among(run: &RunRecord, others: Vec<RunRecord>) -> String {
    let mut runs = vec![run.clone()];
    runs.extend(others.into_iter().filter(|r| r.id != run.id));
    labels(&runs).swap_remove(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tsad_store::RunStatus;

    fn run(dataset: &str, spec: Value, threshold: Value) -> RunRecord {
        let mut run = RunRecord::new("run_x".into(), dataset, spec, 0);
        run.threshold = threshold;
        run.time_column = json!("timestamp");
        run.value_column = json!("value");
        run.status = RunStatus::Succeeded;
        run.training =
            Some(json!({"source": "prefix", "prefix_rows": 200, "rows": 200, "start": 1}));
        run
    }

    #[test]
    fn labels_name_only_what_varies_on_the_dataset() {
        let auto = json!({"method": "auto", "every": 100000.0});
        let runs = vec![
            run(
                "a",
                json!({"kind": "mad", "window": 96, "band_k": 3.0}),
                auto.clone(),
            ),
            run(
                "a",
                json!({"kind": "mad", "window": 48, "band_k": 3.0}),
                json!({"method": "sigma", "k": 3.0}),
            ),
            run("a", json!({"kind": "zscore", "window": 48}), auto.clone()),
            run(
                "b",
                json!({"kind": "mad", "window": 10, "band_k": 3.0}),
                auto.clone(),
            ),
        ];
        assert_eq!(
            labels(&runs),
            [
                "mad · window 96 · auto",
                "mad · window 48 · σ k = 3",
                "zscore · auto",
                "mad",
            ]
        );
    }

    #[test]
    fn differences_list_each_setting_with_both_values() {
        let a = run(
            "a",
            json!({"kind": "mad", "window": 96}),
            json!({"method": "auto", "every": 100000.0}),
        );
        let mut b = run(
            "a",
            json!({"kind": "mad", "window": 48}),
            json!({"method": "sensitivity", "s": 0.7}),
        );
        b.training = None;
        let diffs = differences(&a, &b);
        let fields: Vec<&str> = diffs.iter().map(|d| d.field.as_str()).collect();
        assert_eq!(fields, ["detector.window", "threshold", "training"]);
        assert_eq!(diffs[0].text, "window 96 → window 48");
        assert_eq!(diffs[1].text, "auto → sensitivity 0.7");
        assert_eq!(
            diffs[2].text,
            "trained on the first 200 rows → trained on itself"
        );
        assert!(differences(&a, &a).is_empty());
    }

    #[test]
    fn ensemble_members_are_named_by_kind() {
        let spec = json!({"kind": "ensemble", "policy": "any", "members": [
            {"kind": "mad", "window": 48}, {"kind": "mad", "window": 96}, {"kind": "seasonal", "period": null}]});
        let keys: Vec<String> = settings(&run("a", spec.clone(), json!({"method": "auto"})))
            .into_iter()
            .map(|s| s.key)
            .collect();
        assert!(keys.contains(&"detector.mad.window".to_owned()), "{keys:?}");
        assert!(
            keys.contains(&"detector.mad#2.window".to_owned()),
            "{keys:?}"
        );
        assert_eq!(
            detector_name(&spec, None),
            "ensemble any: mad + mad + seasonal"
        );
    }
}
