//! `tsad eval`: accuracy on the NAB corpus (streaming, NAB's scoring) or on any labelled CSV.

use crate::Outcome;
use crate::args::{EvalArgs, EvalLabeledArgs, EvalNabArgs, EvalSmapArgs, EvalWhat};
use crate::detect::{event_options, resolve_spec, threshold_from};
use anyhow::{Context, Result};
use std::time::Instant;
use tsad_core::{EventOptions, FitContext, Series, Threshold};
use tsad_engine::{DetectorSpec, Training};
use tsad_eval::{
    Corpus, EventCounts, Profiles, SmapSet, ThresholdMode, evaluate, event_counts, labeled_metrics,
    report_table, run_smap_with,
};
use tsad_io::{ColumnRef, IngestOptions};

pub(crate) fn run(a: EvalArgs) -> Result<Outcome> {
    match a.what {
        EvalWhat::Nab(a) => nab(a),
        EvalWhat::Labeled(a) => labeled(a),
        EvalWhat::Smap(a) => smap(a),
    }
}

/// Every detector kind and preset at its defaults, as `--all` runs them.
fn every_spec() -> Vec<(String, DetectorSpec)> {
    let mut out: Vec<(String, DetectorSpec)> = tsad_engine::catalog()
        .detectors
        .iter()
        .filter(|k| k.kind != "ensemble")
        .filter_map(|k| {
            let (spec, _) = tsad_engine::parse_spec(&serde_json::json!({"kind": k.kind})).ok()?;
            Some((k.kind.to_owned(), spec))
        })
        .collect();
    out.extend(
        tsad_engine::presets()
            .into_iter()
            .map(|p| (format!("preset {}", p.name), p.spec())),
    );
    out
}

fn smap(a: EvalSmapArgs) -> Result<Outcome> {
    let set = SmapSet::load(&a.smap_dir)
        .with_context(|| format!("cannot load the SMAP set from {}", a.smap_dir.display()))?;
    let specs = if a.all {
        every_spec()
    } else {
        let (spec, preset) = resolve_spec(&a.spec)?;
        vec![(
            preset.map_or_else(|| spec.kind().to_owned(), |p| format!("preset {p}")),
            spec,
        )]
    };
    // Durations need a time axis, which this layout does not have: any series will do.
    let rows = Series::from_values(vec![0.0])?;
    let threshold = threshold_from(&a.cut, &rows)?;
    let options = event_options(&a.cut, &rows)?;
    println!(
        "{}: {} channels, {} labelled sequences; {}; threshold: {}",
        a.smap_dir.display(),
        set.channels.len(),
        set.channels
            .iter()
            .map(|c| c.anomalies.len())
            .sum::<usize>(),
        match (a.no_split, a.covariates) {
            (true, _) => "train and test scored as one series",
            (false, false) => "fit on train/, score test/",
            (false, true) => "fit on train/, score test/, command columns as covariates",
        },
        threshold.describe()
    );
    // `length`: points per predicted event, on average. Event-level scores reward wide
    // events, so a gain that comes with longer events is worth a second look.
    println!(
        "{:<28} {:>9} {:>7} {:>6} {:>5} {:>5} {:>5} {:>7} {:>8}",
        "detector", "precision", "recall", "F1", "TP", "FP", "FN", "length", "seconds"
    );
    for (name, spec) in specs {
        let detect = |train: &Series, test: &Series| -> Result<Vec<(usize, usize)>, String> {
            let ctx = FitContext::new().with_threads(Some(1));
            let found = if a.no_split {
                let joined: Vec<f64> = train
                    .values()
                    .iter()
                    .chain(test.values())
                    .copied()
                    .collect();
                let joined = Series::from_values(joined).map_err(|e| e.to_string())?;
                let m = train.len();
                tsad_engine::detect(&joined, &spec, &threshold, &options, &ctx)
                    .map_err(|e| e.to_string())?
                    .events
                    .iter()
                    .filter(|e| e.end >= m)
                    .map(|e| (e.start.saturating_sub(m), e.end - m))
                    .collect()
            } else {
                tsad_engine::detect_with(
                    test,
                    Training::Separate(train),
                    &spec,
                    &threshold,
                    &options,
                    &ctx,
                )
                .map_err(|e| e.to_string())?
                .events
                .iter()
                .map(|e| (e.start, e.end))
                .collect()
            };
            Ok(found)
        };
        let report = run_smap_with(&set, detect, a.jobs, a.covariates)?;
        let (p, r, f) = report.total.prf();
        let fmt = |x: Option<f64>| x.map_or_else(|| "-".to_owned(), |v| format!("{v:.3}"));
        let length = mean_length(report.channels.iter().flat_map(|c| &c.predicted));
        println!(
            "{name:<28} {:>9} {:>7} {:>6} {:>5} {:>5} {:>5} {:>7} {:>8.1}",
            fmt(p),
            fmt(r),
            fmt(f),
            report.total.true_pos,
            report.total.false_pos,
            report.total.false_neg,
            length.map_or_else(|| "-".to_owned(), |l| format!("{l:.1}")),
            report.seconds
        );
        for c in report.channels.iter().filter(|c| c.error.is_some()) {
            println!("    {}: {}", c.name, c.error.as_deref().unwrap_or_default());
        }
        if a.per_channel {
            for c in &report.channels {
                println!(
                    "    {:<6} TP {:>2} FP {:>3} FN {:>2}  events {:?}",
                    c.name, c.counts.true_pos, c.counts.false_pos, c.counts.false_neg, c.predicted
                );
            }
        }
    }
    Ok(Outcome::Clean)
}

fn nab(a: EvalNabArgs) -> Result<Outcome> {
    let (spec, preset) = resolve_spec(&a.spec)?;
    let name = preset.clone().unwrap_or_else(|| spec.kind().to_owned());
    let corpus = Corpus::load(&a.nab_dir)
        .with_context(|| format!("cannot load the NAB corpus from {}", a.nab_dir.display()))?;
    if a.batch {
        return nab_batch(&corpus, &name, &spec);
    }
    let profiles = Profiles::load(&a.nab_dir).unwrap_or_else(|_| Profiles::nab());
    // Build once up front so an invalid spec is reported before 58 workers start.
    spec.build()?;
    let make = || {
        // The same spec built successfully just above, and building is deterministic.
        spec.build().expect("spec built once already")
    };
    let start = Instant::now();
    // One line per file on stderr, so a long run shows where it is (stdout keeps the table).
    let progress: tsad_eval::RunProgressFn =
        std::sync::Arc::new(move |p: &tsad_eval::RunProgress| {
            eprintln!(
                "[{:>2}/{}] {} ({:.0} s)",
                p.done,
                p.total,
                p.file,
                start.elapsed().as_secs_f64()
            );
        });
    let options = tsad_eval::RunOptions {
        jobs: a.jobs.unwrap_or(0),
        progress: (!a.quiet).then_some(progress),
        ..tsad_eval::RunOptions::default()
    };
    let results = tsad_eval::run_nab_with(&corpus, &make, &options)?;
    let reports = evaluate(&corpus, &results, &profiles, &ThresholdMode::Optimize)?;
    let elapsed = start.elapsed();
    if let Some(dir) = &a.output {
        tsad_eval::write_results(dir, &name, &corpus, &results)
            .with_context(|| format!("cannot write results under {}", dir.display()))?;
        eprintln!("results written under {}/{name}/", dir.display());
    }
    print!("{}", report_table(&name, &reports, elapsed));
    Ok(Outcome::Clean)
}

/// `tsad eval nab --batch`: what `tsad detect` shows on each NAB file at the defaults, scored
/// at the event level with NAB's windows as the labelled sequences.
fn nab_batch(corpus: &Corpus, name: &str, spec: &DetectorSpec) -> Result<Outcome> {
    let start = Instant::now();
    let (threshold, options) = (Threshold::default(), EventOptions::default());
    let mut total = EventCounts::default();
    let mut all_events = Vec::new();
    println!(
        "{:<58} {:>7} {:>6} {:>4} {:>4} {:>4}",
        "file", "windows", "events", "TP", "FP", "FN"
    );
    for file in corpus.files() {
        // The file's timestamps, as `tsad detect` reads them; row numbers for the few corpus
        // files that repeat a timestamp.
        let series = Series::new(file.timestamps().to_vec(), file.values().to_vec())
            .or_else(|_| Series::from_values(file.values().to_vec()))?;
        let found = tsad_engine::detect(&series, spec, &threshold, &options, &FitContext::new())
            .with_context(|| format!("detector `{name}` failed on {}", file.name()))?;
        let windows: Vec<(usize, usize)> =
            file.windows().iter().map(|w| (w.start, w.end)).collect();
        let events: Vec<(usize, usize)> = found.events.iter().map(|e| (e.start, e.end)).collect();
        let c = event_counts(&windows, &events);
        println!(
            "{:<58} {:>7} {:>6} {:>4} {:>4} {:>4}",
            file.name(),
            windows.len(),
            events.len(),
            c.true_pos,
            c.false_pos,
            c.false_neg
        );
        total += c;
        all_events.extend(events);
    }
    let (p, r, f) = total.prf();
    let fmt = |x: Option<f64>| x.map_or_else(|| "-".to_owned(), |v| format!("{v:.3}"));
    println!(
        "{name}: batch, {}; windows found {} of {}, false events {}: precision {}, recall {}, \
         F1 {}; {} points an event on average ({:.1} s)",
        threshold.describe(),
        total.true_pos,
        total.true_pos + total.false_neg,
        total.false_pos,
        fmt(p),
        fmt(r),
        fmt(f),
        mean_length(&all_events).map_or_else(|| "-".to_owned(), |l| format!("{l:.1}")),
        start.elapsed().as_secs_f64()
    );
    Ok(Outcome::Clean)
}

/// The anomalous stretches (`confirmed` and `missed` marks) of a marks file: a run's JSON
/// download, a `GET /runs/{id}/marks` answer, or a bare list of marks.
fn read_marks(path: &std::path::Path) -> Result<Vec<(i64, i64)>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the marks file {}", path.display()))?;
    let doc: serde_json::Value = serde_json::from_str(&text).with_context(|| {
        format!(
            "{}: not JSON; give a run's JSON download or the answer of GET /api/v1/runs/ID/marks",
            path.display()
        )
    })?;
    let list = match &doc {
        serde_json::Value::Array(list) => list,
        other => other
            .get("marks")
            .and_then(serde_json::Value::as_array)
            .with_context(|| {
                format!(
                    "{}: no `marks` list; give a run's JSON download (made after marks existed) \
                     or the answer of GET /api/v1/runs/ID/marks",
                    path.display()
                )
            })?,
    };
    let mut spans = Vec::new();
    for (i, m) in list.iter().enumerate() {
        let field = |k: &str| {
            m.get(k)
                .and_then(serde_json::Value::as_i64)
                .with_context(|| {
                    format!(
                        "{}: mark {} has no whole-number `{k}`",
                        path.display(),
                        i + 1
                    )
                })
        };
        let verdict = m
            .get("verdict")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("");
        if matches!(verdict, "confirmed" | "missed") {
            spans.push((field("start_time")?, field("end_time")?));
        }
    }
    anyhow::ensure!(
        !spans.is_empty(),
        "{}: none of its {} marks is `confirmed` or `missed`, so there is no anomaly to measure \
         against; confirm events or mark missed stretches in the UI first",
        path.display(),
        list.len()
    );
    Ok(spans)
}

fn labeled(a: EvalLabeledArgs) -> Result<Outcome> {
    let (spec, preset) = resolve_spec(&a.spec)?;
    let column = |c: &Option<String>| {
        c.as_deref()
            .map(|s| s.parse().unwrap_or_else(|_| ColumnRef::Name(s.to_owned())))
    };
    let source = Some(a.file.display().to_string());
    let values = tsad_io::read_path(
        &a.file,
        &IngestOptions {
            time_column: column(&a.time_column),
            value_column: column(&a.value_column),
            source_name: source.clone(),
            ..IngestOptions::default()
        },
    )?;
    let labels: Vec<bool> = match (&a.label_column, &a.marks) {
        (_, Some(marks)) => {
            let spans = read_marks(marks)?;
            values
                .series
                .timestamps()
                .iter()
                .map(|t| spans.iter().any(|&(a, b)| a <= *t && *t <= b))
                .collect()
        }
        (Some(label_column), None) => {
            // The labels go through the same ingest (same sorting and duplicate rule), so they
            // line up.
            let labels = tsad_io::read_path(
                &a.file,
                &IngestOptions {
                    time_column: column(&a.time_column),
                    value_column: column(&Some(label_column.clone())),
                    source_name: source,
                    labels: true,
                    ..IngestOptions::default()
                },
            )
            .with_context(|| format!("cannot read the label column `{label_column}`"))?;
            labels.series.values().iter().map(|v| *v >= 0.5).collect()
        }
        (None, None) => anyhow::bail!("give --label-column or --marks"),
    };
    let found = tsad_engine::detect(
        &values.series,
        &spec,
        &Threshold::default(),
        &EventOptions::default(),
        &FitContext::new(),
    )?;
    let m = labeled_metrics(&found.cut.flags, &labels, values.series.timestamps())?;
    let pct = |x: Option<f64>| x.map_or_else(|| "-".to_owned(), |v| format!("{:.1}%", v * 100.0));
    println!(
        "{}: {} points, {} labelled anomalous; detector {}",
        a.file.display(),
        m.points,
        labels.iter().filter(|l| **l).count(),
        preset.unwrap_or_else(|| spec.kind().to_owned())
    );
    println!(
        "{:<8} {:>10} {:>10} {:>10}",
        "", "precision", "recall", "F1"
    );
    for (name, prf) in [("points", &m.point), ("events", &m.event)] {
        println!(
            "{name:<8} {:>10} {:>10} {:>10}",
            pct(prf.precision),
            pct(prf.recall),
            pct(prf.f1)
        );
    }
    if let Some(n) = m.nab.normalized {
        println!("NAB-style score (standard profile): {n:.1}");
    }
    Ok(Outcome::Clean)
}

/// Points per event, on average, of inclusive `(start, end)` events; `None` for no event.
fn mean_length<'a>(events: impl IntoIterator<Item = &'a (usize, usize)>) -> Option<f64> {
    let (count, points) = events
        .into_iter()
        .fold((0usize, 0usize), |(n, p), (s, e)| (n + 1, p + e - s + 1));
    (count > 0).then(|| points as f64 / count as f64)
}

#[cfg(test)]
mod tests {
    use super::mean_length;

    #[test]
    fn events_are_measured_in_points_both_ends_included() {
        assert_eq!(mean_length(&[(3, 3), (10, 14)]), Some(3.0));
        assert_eq!(mean_length(&[]), None);
    }
}
