//! Many-series runs. A fleet run is a parent run that holds the layout asked and the fleet's
//! counts; each series is a run of its own (`parent_id`, `series`) holding that series'
//! result, so every per-run endpoint (points, events, explain, chat, threshold, download)
//! works on one series unchanged. The series run on a thread pool and are stored in batches
//! as they finish, in file order.

use crate::api::{SeriesEntry, SeriesList, SeriesQuery};
use crate::error::{ApiError, ErrorDetail};
use crate::jobs::{self, Failure, Job, Live};
use crate::state::AppState;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tsad_core::{FitContext, Progress};
use tsad_engine::{FleetSummary, SeriesSummary, WorstEvent};
use tsad_io::{ColumnRef, FleetSeries, SeriesLayout};
use tsad_store::{RunRecord, RunResult, RunStatus, Storage, StorageError};

/// Series runs stored per transaction.
const BATCH: usize = 64;

/// Values in a series' sparkline (min and max of half as many slices).
const SPARKLINE_POINTS: usize = 64;

/// The layout a run request asked for, as stored on the parent run.
pub(crate) fn layout_json(layout: &SeriesLayout) -> Option<Value> {
    match layout {
        SeriesLayout::Single => None,
        SeriesLayout::Wide(cols) => Some(json!({ "value_columns": cols })),
        SeriesLayout::Long(col) => Some(json!({ "series_column": col })),
    }
}

/// 409 for the endpoints that need one series' result, on a fleet run.
pub(crate) fn refuse_fleet(run: &RunRecord) -> Result<(), ApiError> {
    match &run.fleet {
        Some(fleet) => Err(ApiError::conflict(format!(
            "run `{}` covers {} series; points, events, explanations and thresholds are per \
             series: list them with GET /api/v1/runs/{}/series and use each series' run_id",
            run.id,
            fleet
                .get("series")
                .and_then(Value::as_u64)
                .map_or_else(|| "several".to_owned(), |n| n.to_string()),
            run.id
        ))),
        None => Ok(()),
    }
}

/// The chat's note on which series a run is, prepended to the user's own context.
pub(crate) fn series_context(run: &RunRecord, context: Option<&str>) -> Option<String> {
    let note = run.series.as_ref().map(|name| {
        format!(
            "This is the series `{name}` of a many-series run; the other series are not in view."
        )
    });
    match (note, context) {
        (Some(n), Some(c)) => Some(format!("{n}\n{c}")),
        (Some(n), None) => Some(n),
        (None, c) => c.map(str::to_owned),
    }
}

/// Runs every series of the job's dataset and stores each as a series run of `run`. Updates
/// `run` with the resolved columns, the fleet's counts and a summary.
pub(crate) fn detect_fleet(
    state: &AppState,
    job: &Job,
    live: &Live,
    run: &mut RunRecord,
) -> Result<(), Failure> {
    let store = state.store().as_ref();
    let dataset = store.dataset(&job.dataset_id)?;
    let bytes = store.dataset_bytes(&job.dataset_id)?;
    let opts = jobs::run_ingest_options(
        &dataset,
        &job.time_column,
        job.value_column.as_ref(),
        job.series.clone(),
    );
    let fleet = tsad_io::read_fleet_bytes(&bytes, &opts)?;
    drop(bytes);
    let max = state.config().limits.max_series;
    if fleet.series.len() > max {
        return Err(crate::limits::exceeded(format!(
            "the dataset holds {} series, more than the server's limit of {max} per run; \
             split the file or run the CLI (`tsad detect`), which has no such limit",
            fleet.series.len()
        ))
        .into());
    }
    run.time_column = fleet.time_column.clone().map_or(Value::Null, Value::from);
    let total = fleet.series.len();
    let warnings = fleet.warnings.clone();
    let ctx = FitContext::new().with_cancel(live.cancel.clone());
    let progress = jobs::progress_callback(
        state.store().clone(),
        &job.run_id,
        live,
        Duration::from_millis(250),
    );
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let started = Instant::now();
    let mut counts = FleetSummary::default();
    let mut time_axis: Option<&'static str> = None;
    let mut batch: Vec<(RunRecord, Option<RunResult>)> = Vec::with_capacity(BATCH);
    let (mut fit_seconds, mut score_seconds) = (0.0, 0.0);
    let work = |s: FleetSeries| -> (String, Result<_, Failure>) {
        let outcome = (|| {
            ctx.check_cancelled()?;
            let ingested = s.result?;
            crate::training::check_series_length(&job.spec, &ingested.series)?;
            let detection = tsad_engine::detect(
                &ingested.series,
                &job.spec,
                &job.threshold,
                &job.events,
                &ctx,
            )?;
            Ok((ingested, detection))
        })();
        (s.name, outcome)
    };
    let sink = |(name, outcome): (
        String,
        Result<(tsad_io::Ingested, tsad_engine::Detection), Failure>,
    )|
     -> Result<(), Failure> {
        ctx.check_cancelled()?;
        let mut child = RunRecord::new(
            tsad_store::new_id("run"),
            &job.dataset_id,
            run.spec.clone(),
            chrono::Utc::now().timestamp_millis(),
        );
        child.parent_id = Some(run.id.clone());
        child.series = Some(name.clone());
        child.preset = run.preset.clone();
        child.threshold = run.threshold.clone();
        child.events_options = run.events_options.clone();
        child.time_column = run.time_column.clone();
        child.started_at = run.started_at;
        child.finished_at = Some(chrono::Utc::now().timestamp_millis());
        let result = match outcome {
            Ok((ingested, detection)) => {
                let series = &ingested.series;
                let result = jobs::build_result(series, &detection, None);
                let mut summary = jobs::summary(series, &result, &detection, &job.threshold);
                if let Some(obj) = summary.as_object_mut() {
                    obj.insert("sparkline".into(), json!(sparkline(series.values())));
                    obj.insert("worst".into(), json!(WorstEvent::of(&detection.events)));
                }
                child.value_column = Value::from(ingested.value_column.clone());
                child.status = RunStatus::Succeeded;
                child.fit_seconds = Some(detection.fit_seconds);
                child.score_seconds = Some(detection.score_seconds);
                child.summary = Some(summary);
                child.training = Some(json!({"source": "self", "rows": series.len()}));
                time_axis.get_or_insert(jobs::axis_name(series.axis()));
                fit_seconds += detection.fit_seconds;
                score_seconds += detection.score_seconds;
                counts.add(SeriesSummary::of(&name, series, &detection));
                Some(result)
            }
            Err(failure) if failure.is_cancelled() => return Err(failure),
            Err(failure) => {
                counts.add(SeriesSummary::failed(&name, failure.message().to_owned()));
                child.status = RunStatus::Failed;
                child.error = Some(failure.into_run_error());
                None
            }
        };
        // The ranking lives in the series runs; the parent keeps the counts only.
        counts.ranking.clear();
        batch.push((child, result));
        if batch.len() >= BATCH {
            store.add_series_runs(&run.id, &batch)?;
            batch.clear();
        }
        let done = counts.series;
        let elapsed = started.elapsed().as_secs_f64();
        progress(&Progress {
            stage: "series".into(),
            batch: done,
            batches: total,
            fraction: done as f64 / total.max(1) as f64,
            eta_seconds: (done > 0).then(|| elapsed / done as f64 * (total - done) as f64),
            ..Progress::default()
        });
        Ok(())
    };
    tsad_engine::for_each_ordered(fleet.series, threads, work, sink)?;
    if !batch.is_empty() {
        store.add_series_runs(&run.id, &batch)?;
    }
    let mut fleet_info = run.fleet.clone().unwrap_or_else(|| json!({}));
    if let Some(obj) = fleet_info.as_object_mut() {
        obj.insert("series".into(), json!(counts.series));
        obj.insert("with_events".into(), json!(counts.with_events));
        obj.insert("failed".into(), json!(counts.failed));
        obj.insert("events".into(), json!(counts.events));
        obj.insert("points".into(), json!(counts.points));
        obj.insert("series_column".into(), json!(fleet.series_column));
        obj.insert("warnings".into(), json!(warnings));
    }
    run.fleet = Some(fleet_info);
    run.fit_seconds = Some(fit_seconds);
    run.score_seconds = Some(score_seconds);
    run.summary = Some(json!({
        "series": counts.series,
        "with_events": counts.with_events,
        "failed": counts.failed,
        "event_count": counts.events,
        "points": counts.points,
        "fit_seconds": fit_seconds,
        "score_seconds": score_seconds,
        "threshold_rule": job.threshold.describe(),
        "time_axis": time_axis,
    }));
    run.training = Some(json!({"source": "self"}));
    Ok(())
}

/// Counts a many-series run's events again from its series runs (after one of them was
/// re-thresholded), so its `fleet` and `summary` agree with the series list.
///
/// # Errors
///
/// What the store returns.
pub(crate) fn recount(store: &dyn Storage, parent_id: &str) -> Result<(), StorageError> {
    let mut parent = store.run(parent_id)?;
    let children = store.series_runs(parent_id)?;
    let counts: Vec<u64> = children
        .iter()
        .filter(|c| c.status == RunStatus::Succeeded)
        .map(|c| {
            c.summary
                .as_ref()
                .and_then(|s| s.get("event_count"))
                .and_then(Value::as_u64)
                .unwrap_or(0)
        })
        .collect();
    let events: u64 = counts.iter().sum();
    let with_events = counts.iter().filter(|&&n| n > 0).count();
    for part in [parent.fleet.as_mut(), parent.summary.as_mut()] {
        if let Some(obj) = part.and_then(Value::as_object_mut) {
            obj.insert("with_events".into(), json!(with_events));
            let key = if obj.contains_key("event_count") {
                "event_count"
            } else {
                "events"
            };
            obj.insert(key.into(), json!(events));
        }
    }
    store.update_run(&parent)
}

/// About [`SPARKLINE_POINTS`] values: the min and the max of equal slices, in the order they
/// occur, so a spike shows however long the series.
pub(crate) fn sparkline(values: &[f64]) -> Vec<Option<f64>> {
    let slices = (SPARKLINE_POINTS / 2).min(values.len());
    let mut out = Vec::with_capacity(slices * 2);
    for k in 0..slices {
        let part = &values[k * values.len() / slices..(k + 1) * values.len() / slices];
        let mut lo: Option<(usize, f64)> = None;
        let mut hi: Option<(usize, f64)> = None;
        for (i, &v) in part.iter().enumerate().filter(|(_, v)| v.is_finite()) {
            if lo.is_none_or(|(_, x)| v < x) {
                lo = Some((i, v));
            }
            if hi.is_none_or(|(_, x)| v > x) {
                hi = Some((i, v));
            }
        }
        match (lo, hi) {
            (Some(a), Some(b)) if a.0 == b.0 => out.push(Some(a.1)),
            (Some(a), Some(b)) if a.0 < b.0 => out.extend([Some(a.1), Some(b.1)]),
            (Some(a), Some(b)) => out.extend([Some(b.1), Some(a.1)]),
            _ => out.push(None),
        }
    }
    out
}

/// The order of the series list.
#[derive(Debug, Clone, Copy, PartialEq)]
enum SortKey {
    Severity,
    Events,
    Name,
    Input,
}

/// A stored series run as its list entry.
fn entry(r: &RunRecord) -> SeriesEntry {
    let s = r.summary.as_ref();
    let num = |k: &str| s.and_then(|s| s.get(k)).and_then(Value::as_f64);
    let worst = s.and_then(|s| s.get("worst")).filter(|w| !w.is_null());
    let wnum = |k: &str| worst.and_then(|w| w.get(k)).and_then(Value::as_f64);
    SeriesEntry {
        name: r.series.clone().unwrap_or_default(),
        run_id: r.id.clone(),
        status: r.status.as_str().into(),
        points: num("points").unwrap_or(0.0) as u64,
        events: num("event_count").unwrap_or(0.0) as u64,
        worst_rarity: wnum("rarity"),
        worst_severity: wnum("severity"),
        worst_time: worst
            .and_then(|w| w.get("peak_time"))
            .and_then(Value::as_i64),
        sparkline: s
            .and_then(|s| s.get("sparkline"))
            .and_then(Value::as_array)
            .map(|a| a.iter().map(Value::as_f64).collect())
            .unwrap_or_default(),
        error: r.error.as_ref().map(|e| ErrorDetail {
            code: e.code.clone(),
            message: e.message.clone(),
        }),
    }
}

/// Sorts, filters and pages a fleet run's series (checked query; 422 lists every problem).
pub(crate) fn list(runs: &[RunRecord], q: &SeriesQuery) -> Result<SeriesList, ApiError> {
    let mut problems = Vec::new();
    let key = match q.sort.as_deref().unwrap_or("severity") {
        "severity" => SortKey::Severity,
        "events" => SortKey::Events,
        "name" => SortKey::Name,
        "input" => SortKey::Input,
        other => {
            problems.push(format!(
                "sort: `{other}` is not one of severity, events, name, input"
            ));
            SortKey::Severity
        }
    };
    let descending = match q.order.as_deref() {
        None => matches!(key, SortKey::Severity | SortKey::Events),
        Some("desc") => true,
        Some("asc") => false,
        Some(other) => {
            problems.push(format!("order: `{other}` is not asc or desc"));
            true
        }
    };
    let only = q.only.as_deref();
    if let Some(o) = only
        && !matches!(o, "with_events" | "without_events" | "failed")
    {
        problems.push(format!(
            "only: `{o}` is not one of with_events, without_events, failed"
        ));
    }
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        problems.push(format!("limit: {limit} is outside 1..=1000"));
    }
    if !problems.is_empty() {
        return Err(ApiError::unprocessable(
            "invalid_parameter",
            problems.join("; "),
        ));
    }
    let needle = q.q.as_deref().map(str::to_lowercase);
    let mut entries: Vec<SeriesEntry> = runs
        .iter()
        .map(entry)
        .filter(|e| {
            needle
                .as_deref()
                .is_none_or(|n| e.name.to_lowercase().contains(n))
        })
        .filter(|e| match only {
            Some("with_events") => e.events > 0,
            Some("without_events") => e.events == 0 && e.error.is_none(),
            Some("failed") => e.error.is_some(),
            _ => true,
        })
        .collect();
    let matched = entries.len();
    let severity = |e: &SeriesEntry| {
        // Failed series sort below quiet ones, quiet ones below any event.
        let group = match (&e.error, e.events) {
            (Some(_), _) => 0.0,
            (None, 0) => 1.0,
            _ => 2.0,
        };
        (
            group,
            e.worst_rarity.unwrap_or(f64::NEG_INFINITY),
            e.worst_severity.unwrap_or(f64::NEG_INFINITY),
        )
    };
    let order = |a: &SeriesEntry, b: &SeriesEntry| match key {
        SortKey::Input => std::cmp::Ordering::Equal,
        SortKey::Name => a.name.cmp(&b.name),
        SortKey::Events => a.events.cmp(&b.events).then_with(|| {
            severity(a)
                .partial_cmp(&severity(b))
                .unwrap_or(std::cmp::Ordering::Equal)
        }),
        SortKey::Severity => severity(a)
            .partial_cmp(&severity(b))
            .unwrap_or(std::cmp::Ordering::Equal),
    };
    // A stable sort: ties keep the file's order either way.
    if descending {
        entries.sort_by(|a, b| order(b, a));
    } else {
        entries.sort_by(order);
    }
    if descending && key == SortKey::Input {
        entries.reverse();
    }
    let series = entries
        .into_iter()
        .skip(q.offset.unwrap_or(0))
        .take(limit)
        .collect();
    Ok(SeriesList {
        total: runs.len(),
        matched,
        series,
    })
}

/// The columns a wide layout names, for the checks before queueing.
pub(crate) fn named_columns(layout: &SeriesLayout) -> Vec<&ColumnRef> {
    match layout {
        SeriesLayout::Single => vec![],
        SeriesLayout::Wide(cols) => cols.iter().collect(),
        SeriesLayout::Long(col) => vec![col],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparkline_keeps_a_spike_and_the_time_order() {
        let mut v = vec![0.0; 10_000];
        v[5_000] = 9.0;
        v[100] = -3.0;
        let line = sparkline(&v);
        assert!(line.len() <= SPARKLINE_POINTS);
        let at = |x: f64| line.iter().position(|p| *p == Some(x)).unwrap();
        assert!(at(-3.0) < at(9.0));
        let short = sparkline(&[1.0, f64::NAN, 2.0]);
        assert_eq!(short, vec![Some(1.0), None, Some(2.0)]);
        assert!(sparkline(&[]).is_empty());
    }

    fn series_run(name: &str, events: u64, rarity: Option<f64>, failed: bool) -> RunRecord {
        let mut r = RunRecord::new(format!("run_{name}"), "ds", json!({}), 0);
        r.series = Some(name.into());
        r.summary = Some(json!({
            "points": 100,
            "event_count": events,
            "worst": rarity.map(|x| json!({"rarity": x, "severity": 1.0, "peak_time": 5})),
        }));
        if failed {
            r.error = Some(tsad_store::RunError {
                code: "not_enough_data".into(),
                message: "too short".into(),
            });
        }
        r
    }

    #[test]
    fn the_list_sorts_filters_and_pages() {
        let runs = [
            series_run("web-1", 1, Some(4.0), false),
            series_run("db-1", 0, None, false),
            series_run("web-2", 3, Some(9.0), false),
            series_run("broken", 0, None, true),
        ];
        let names = |l: SeriesList| l.series.into_iter().map(|e| e.name).collect::<Vec<_>>();
        let query = |sort: Option<&str>, q: Option<&str>, only: Option<&str>| SeriesQuery {
            sort: sort.map(Into::into),
            order: None,
            q: q.map(Into::into),
            only: only.map(Into::into),
            offset: None,
            limit: None,
        };
        assert_eq!(
            names(list(&runs, &query(None, None, None)).unwrap()),
            ["web-2", "web-1", "db-1", "broken"]
        );
        assert_eq!(
            names(list(&runs, &query(Some("name"), None, None)).unwrap()),
            ["broken", "db-1", "web-1", "web-2"]
        );
        let web = list(&runs, &query(None, Some("WEB"), None)).unwrap();
        assert_eq!((web.total, web.matched), (4, 2));
        assert_eq!(
            names(list(&runs, &query(None, None, Some("failed"))).unwrap()),
            ["broken"]
        );
        let mut paged = query(Some("input"), None, None);
        paged.offset = Some(1);
        paged.limit = Some(2);
        assert_eq!(names(list(&runs, &paged).unwrap()), ["db-1", "web-2"]);
        let bad = list(&runs, &query(Some("size"), None, Some("odd"))).unwrap_err();
        assert!(
            bad.message().contains("sort: `size`") && bad.message().contains("only: `odd`"),
            "{}",
            bad.message()
        );
    }
}
