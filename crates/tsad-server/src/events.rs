//! Events and thresholds as the API shows them: the rule in words, the scale it cuts, and
//! event lists with each event's `index` and `rank`, ordered and capped.

use crate::api::EventOrder;
use serde_json::{Value, json};
use tsad_core::{Scale, Threshold};
use tsad_store::RunResult;

/// Events a listing returns when the request names no `limit`.
pub(crate) const DEFAULT_EVENT_LIMIT: usize = 100;

/// A stored threshold, when it is one this version reads.
pub(crate) fn parse(threshold: &Value) -> Option<Threshold> {
    serde_json::from_value(threshold.clone()).ok()
}

/// The rule in a user's words (`Threshold::describe`), or `None` for a threshold this version
/// cannot read.
pub(crate) fn rule(threshold: &Value) -> Option<String> {
    parse(threshold).map(|t| t.describe())
}

/// `"rarity"` or `"raw"`.
pub(crate) fn scale_name(scale: Scale) -> &'static str {
    match scale {
        Scale::Rarity => "rarity",
        Scale::Raw => "raw",
    }
}

/// The scale a stored threshold cuts.
pub(crate) fn scale(threshold: &Value) -> Option<&'static str> {
    parse(threshold).map(|t| scale_name(t.scale()))
}

/// The first and last timestamps of a run's stored events, in time order.
pub(crate) fn spans(events: &Value) -> Vec<(i64, i64)> {
    events
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|e| Some((e["start_time"].as_i64()?, e["end_time"].as_i64()?)))
                .collect()
        })
        .unwrap_or_default()
}

/// The run's events with `index` (their position in time order) and `rank` (1 = most
/// severe), ordered and capped: `(events, total)`. `limit` 0 means all. Events stored before
/// ranks existed are ranked here by severity, then peak score.
pub(crate) fn listing(events: &Value, order: EventOrder, limit: usize) -> (Value, usize) {
    let mut list: Vec<Value> = events.as_array().cloned().unwrap_or_default();
    let total = list.len();
    for (i, e) in list.iter_mut().enumerate() {
        if let Some(obj) = e.as_object_mut() {
            obj.insert("index".into(), json!(i));
        }
    }
    let ranked = list
        .iter()
        .all(|e| e.get("rank").and_then(Value::as_u64).is_some_and(|r| r > 0));
    if !ranked {
        let num = |e: &Value, k: &str| e.get(k).and_then(Value::as_f64).unwrap_or(f64::NAN);
        let mut order: Vec<usize> = (0..list.len()).collect();
        order.sort_by(|&a, &b| {
            let key = |i: usize| {
                let sev = num(&list[i], "severity");
                let sev = if sev.is_nan() { f64::NEG_INFINITY } else { sev };
                let peak = num(&list[i], "peak_score");
                (
                    sev,
                    if peak.is_nan() {
                        f64::NEG_INFINITY
                    } else {
                        peak
                    },
                )
            };
            let (ka, kb) = (key(a), key(b));
            kb.0.total_cmp(&ka.0)
                .then(kb.1.total_cmp(&ka.1))
                .then(a.cmp(&b))
        });
        for (r, &i) in order.iter().enumerate() {
            if let Some(obj) = list[i].as_object_mut() {
                obj.insert("rank".into(), json!(r + 1));
            }
        }
    }
    if order == EventOrder::Rank {
        let rank = |e: &Value| e.get("rank").and_then(Value::as_u64).unwrap_or(u64::MAX);
        list.sort_by_key(rank);
    }
    if limit > 0 {
        list.truncate(limit);
    }
    (Value::Array(list), total)
}

/// The cut-off on the raw score scale: the stored value for raw thresholds; for rarity
/// thresholds, the lowest raw score whose rarity is above the cut (rarity rises with the
/// score), so explanations can compare raw scores with it. `NaN` when nothing is above it.
pub(crate) fn raw_cutoff(result: &RunResult, threshold: &Value) -> f64 {
    let rarity_cut = scale(threshold) == Some("rarity");
    match (&result.rarity, rarity_cut) {
        (Some(rarity), true) => result
            .score
            .iter()
            .zip(rarity)
            .filter(|(s, r)| s.is_finite() && r.is_finite() && **r > result.threshold_value)
            .map(|(s, _)| *s)
            .fold(f64::NAN, f64::min),
        _ => result.threshold_value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listings_add_index_rank_order_and_cap() {
        let stored = json!([
            {"start": 1, "severity": 1.5, "peak_score": 3.0, "rank": 2},
            {"start": 5, "severity": 4.0, "peak_score": 9.0, "rank": 1},
            {"start": 9, "severity": 1.1, "peak_score": 2.0, "rank": 3},
        ]);
        let (by_rank, total) = listing(&stored, EventOrder::Rank, 2);
        assert_eq!(total, 3);
        let got: Vec<(u64, u64)> = by_rank
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["index"].as_u64().unwrap(), e["rank"].as_u64().unwrap()))
            .collect();
        assert_eq!(got, [(1, 1), (0, 2)]);
        let (by_time, _) = listing(&stored, EventOrder::Time, 0);
        assert_eq!(by_time.as_array().unwrap().len(), 3);
        assert_eq!(by_time[2]["index"], 2);
        assert_eq!(by_time[2]["start"], 9);
    }

    #[test]
    fn events_stored_without_ranks_are_ranked_by_severity() {
        let old = json!([
            {"start": 1, "severity": 1.5, "peak_score": 3.0},
            {"start": 5, "severity": null, "peak_score": 9.0},
            {"start": 9, "severity": 2.0, "peak_score": 2.0},
        ]);
        let (list, _) = listing(&old, EventOrder::Time, 0);
        let ranks: Vec<u64> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["rank"].as_u64().unwrap())
            .collect();
        assert_eq!(ranks, [2, 3, 1]);
    }

    #[test]
    fn rules_and_scales_of_stored_thresholds() {
        let auto = json!({"method": "auto", "every": 1000.0});
        assert_eq!(
            rule(&auto).as_deref(),
            Some("about 1 false alarm per 1,000 points of normal data")
        );
        assert_eq!(scale(&auto), Some("rarity"));
        assert_eq!(scale(&json!({"method": "sigma", "k": 3.0})), Some("raw"));
        assert_eq!(rule(&json!({})), None);
    }
}
