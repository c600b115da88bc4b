//! `tsad eval`: accuracy on the NAB corpus (streaming, NAB's scoring) or on any labelled CSV.

use crate::Outcome;
use crate::args::{EvalArgs, EvalLabeledArgs, EvalNabArgs, EvalWhat};
use crate::detect::resolve_spec;
use anyhow::{Context, Result};
use std::time::Instant;
use tsad_core::{EventOptions, FitContext, Threshold};
use tsad_eval::{Corpus, Profiles, ThresholdMode, evaluate, labeled_metrics, report_table};
use tsad_io::{ColumnRef, IngestOptions};

pub(crate) fn run(a: EvalArgs) -> Result<Outcome> {
    match a.what {
        EvalWhat::Nab(a) => nab(a),
        EvalWhat::Labeled(a) => labeled(a),
    }
}

fn nab(a: EvalNabArgs) -> Result<Outcome> {
    let (spec, preset) = resolve_spec(&a.spec)?;
    let name = preset.clone().unwrap_or_else(|| spec.kind().to_owned());
    let corpus = Corpus::load(&a.nab_dir)
        .with_context(|| format!("cannot load the NAB corpus from {}", a.nab_dir.display()))?;
    let profiles = Profiles::load(&a.nab_dir).unwrap_or_else(|_| Profiles::nab());
    // Build once up front so an invalid spec is reported before 58 workers start.
    spec.build()?;
    let make = || {
        // The same spec built successfully just above, and building is deterministic.
        spec.build().expect("spec built once already")
    };
    let jobs = a.jobs.unwrap_or(0);
    let start = Instant::now();
    let results = tsad_eval::run_nab(&corpus, &make, jobs)?;
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
    // The labels go through the same ingest (same sorting and duplicate rule), so they line up.
    let labels = tsad_io::read_path(
        &a.file,
        &IngestOptions {
            time_column: column(&a.time_column),
            value_column: column(&Some(a.label_column.clone())),
            source_name: source,
            ..IngestOptions::default()
        },
    )
    .with_context(|| format!("cannot read the label column `{}`", a.label_column))?;
    let labels: Vec<bool> = labels.series.values().iter().map(|v| *v >= 0.5).collect();
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
