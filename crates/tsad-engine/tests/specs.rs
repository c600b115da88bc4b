//! Spec parsing: every documented example parses, and invalid specs list every problem.

use serde_json::{Value, json};
use tsad_engine::{DetectorSpec, EngineError, parse_spec};

fn problems(spec: Value) -> Vec<String> {
    match parse_spec(&spec) {
        Err(EngineError::InvalidConfig(p)) => p,
        other => panic!("expected InvalidConfig for {spec}, got {other:?}"),
    }
}

#[test]
fn every_documented_example_parses_and_round_trips() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/specs");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).expect("docs/specs exists") {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let value: Value = serde_json::from_str(&text).unwrap();
        let (spec, _) = parse_spec(&value).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        // The spec as run (defaults filled in) parses back to itself.
        let again: DetectorSpec = serde_json::from_value(spec.to_json()).unwrap();
        assert_eq!(again.to_json(), spec.to_json(), "{}", path.display());
        seen += 1;
    }
    assert!(
        seen >= 8,
        "expected an example per kind plus presets, found {seen}"
    );
}

#[test]
fn a_bare_name_is_a_kind_with_its_defaults_or_a_preset() {
    let (spec, preset) = parse_spec(&json!("mad")).unwrap();
    assert_eq!(
        spec.to_json(),
        parse_spec(&json!({"kind": "mad"})).unwrap().0.to_json()
    );
    assert_eq!(preset, None);
    let (spec, preset) = parse_spec(&json!("nab-best")).unwrap();
    assert_eq!(preset.as_deref(), Some("nab-best"));
    assert_eq!(
        spec.to_json(),
        parse_spec(&json!({"preset": "nab-best"}))
            .unwrap()
            .0
            .to_json()
    );
}

#[test]
fn invalid_specs_list_every_problem_with_its_path() {
    type Case = (&'static str, Value, &'static [&'static str]);
    let cases: Vec<Case> = vec![
        (
            "not an object",
            json!(3),
            &["must be a detector name or a JSON object"],
        ),
        (
            "unknown name",
            json!("madd"),
            &["unknown detector `madd`", "mad", "nab-best"],
        ),
        ("no kind", json!({"window": 3}), &["kind: missing"]),
        (
            "unknown kind",
            json!({"kind": "lstm"}),
            &["unknown detector kind `lstm`", "known kinds: zscore"],
        ),
        (
            "preset used as kind",
            json!({"kind": "robust-stats"}),
            &["is a preset"],
        ),
        (
            "two bad fields at once",
            json!({"kind": "mad", "window": "wide", "colour": 1}),
            &["window: invalid type", "colour: unknown field"],
        ),
        (
            "value out of range",
            json!({"kind": "zscore", "window": 0}),
            &["window"],
        ),
        (
            "problems inside members carry their path",
            json!({"kind": "ensemble", "members": [{"kind": "mad"}, {"kind": "nope"}, {"kind": "zscore", "window": -1}]}),
            &[
                "members[1].kind: unknown detector kind `nope`",
                "members[2].window: invalid value",
            ],
        ),
        (
            "ensemble without members",
            json!({"kind": "ensemble"}),
            &["members: missing"],
        ),
        (
            "weights of the wrong length",
            json!({"kind": "ensemble", "policy": "weighted", "weights": [1.0], "members": [{"kind": "mad"}, {"kind": "zscore"}]}),
            &["weights: 1 weights for 2 members"],
        ),
        (
            "bad policy",
            json!({"kind": "ensemble", "policy": "most", "members": [{"kind": "mad"}]}),
            &["policy: unknown variant `most`"],
        ),
        (
            "unknown preset",
            json!({"preset": "best"}),
            &["unknown preset `best`", "known presets: "],
        ),
        (
            "override nobody has",
            json!({"preset": "robust-stats", "overrides": {"colour": 1}}),
            &["overrides.colour: no detector in preset"],
        ),
    ];
    for (name, spec, wants) in cases {
        let got = problems(spec);
        for want in wants {
            assert!(
                got.iter().any(|p| p.contains(want)),
                "{name}: wanted {want:?} in {got:#?}"
            );
        }
        if name.starts_with("two") || name.starts_with("problems inside") {
            assert!(got.len() >= 2, "{name}: all problems listed: {got:#?}");
        }
    }
}

#[test]
fn preset_overrides_reach_every_member_that_has_the_parameter() {
    let (spec, preset) =
        parse_spec(&json!({"preset": "robust-stats", "overrides": {"window": 24}})).unwrap();
    assert_eq!(preset.as_deref(), Some("robust-stats"));
    let v = spec.to_json();
    assert_eq!(v["policy"], "any");
    let with_window: Vec<&Value> = v["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m.get("window").is_some())
        .collect();
    assert!(!with_window.is_empty());
    assert!(with_window.iter().all(|m| m["window"] == 24), "{v}");
}

#[test]
fn error_codes_follow_the_api_contract() {
    let e = parse_spec(&json!({"kind": "x"})).unwrap_err();
    assert_eq!(e.code(), "invalid_config");
    let e = EngineError::from(tsad_core::Error::NotEnoughData {
        needed: 30,
        got: 12,
    });
    assert_eq!(
        (e.code(), e.to_string().as_str()),
        ("not_enough_data", "not enough data: need 30 points, got 12")
    );
}

#[test]
fn seed_presets_accept_training_overrides() {
    let (spec, _) =
        parse_spec(&json!({"preset": "hybrid-benford", "overrides": {"epochs": 3, "lstm_autoencoder.window": 24}}))
            .unwrap();
    let v = spec.to_json();
    assert_eq!(v["policy"], "all");
    assert_eq!(v["members"][0]["kind"], "lstm_autoencoder");
    assert_eq!(v["members"][0]["epochs"], 3);
    assert_eq!(v["members"][0]["window"], 24);
    assert_eq!(v["members"][1]["kind"], "benford");
    assert_eq!(
        v["members"][1]["window"], 200,
        "a targeted override leaves other members alone"
    );
    let e = parse_spec(&json!({"preset": "hybrid-benford", "overrides": {"mad.window": 3}}))
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("overrides.mad.window: no `mad` member"),
        "{e}"
    );
    assert!(spec.is_neural());
    let (spec, _) = parse_spec(&json!({"preset": "lstm-residual"})).unwrap();
    assert_eq!(spec.kind(), "lstm_forecast");
}
