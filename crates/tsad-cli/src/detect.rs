//! `tsad detect`: CSV in, events out (table, JSON or per-point CSV).

use crate::args::{
    DetectArgs, FitArgs, Format, SpecArgs, ThresholdArgs, ThresholdMethod, TrainArgs,
};
use crate::{Outcome, progress};
use anyhow::{Context, Result, bail};
use serde_json::{Map, Value, json};
use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;
use tsad_core::{DEFAULT_EVERY, Event, EventOptions, Sensitivity, Series, Threshold, TimeAxis};
use tsad_engine::{Detection, DetectorSpec, Training, for_each_ordered, parse_spec};
use tsad_io::{ColumnRef, IngestOptions, Ingested, format_timestamp};

pub(crate) fn run(a: DetectArgs) -> Result<Outcome> {
    if crate::fleet::is_fleet(&a) {
        if !a.covariate_columns.is_empty() {
            bail!(
                "--covariate-columns reads one series from one file; detect the files one at a \
                 time to give them covariates"
            );
        }
        return crate::fleet::run(a);
    }
    let file = &a.files[0];
    let mut options = ingest_options(file, &a.time_column, &a.value_column, a.no_time_column);
    options.decimal = a.decimal;
    options.covariate_columns = a.covariate_columns.iter().map(|c| column_ref(c)).collect();
    let ingested = tsad_io::read_path(file, &options)?;
    print_warnings(file, &ingested);
    let series = &ingested.series;
    let threshold = threshold_from(&a.cut, series)?;
    let events = event_options(&a.cut, series)?;
    let fitted = match &a.training.model {
        Some(path) => {
            if a.spec.detector.is_some() || a.spec.preset.is_some() || a.spec.config.is_some() {
                bail!(
                    "--model {} already holds its detector; drop --detector, --preset and \
                     --config (or fit a new model)",
                    path.display()
                );
            }
            let bytes = std::fs::read(path)
                .with_context(|| format!("cannot read model file {}", path.display()))?;
            Some(
                tsad_engine::FittedModel::from_bytes(&bytes)
                    .with_context(|| format!("cannot load model file {}", path.display()))?,
            )
        }
        None => None,
    };
    let (spec, preset) = match &fitted {
        Some(f) => (f.spec().clone(), None),
        None => resolve_spec(&a.spec)?,
    };
    let train_file = match &a.training.train {
        Some(path) => {
            let train_options = IngestOptions {
                source_name: Some(path.display().to_string()),
                // The same columns as the scored file, by name when it has names.
                time_column: ingested.time_column.clone().map(ColumnRef::Name),
                no_time_column: ingested.time_column.is_none(),
                value_column: Some(ColumnRef::Name(ingested.value_column.clone())),
                covariate_columns: ingested
                    .covariate_columns
                    .iter()
                    .map(|c| ColumnRef::Name(c.clone()))
                    .collect(),
                ..IngestOptions::default()
            };
            Some(tsad_io::read_path(path, &train_options).with_context(|| {
                format!(
                    "cannot use {} as the training file (it needs the same columns as {})",
                    path.display(),
                    file.display()
                )
            })?)
        }
        None => None,
    };
    let training = match (&a.training, &train_file) {
        (_, Some(t)) => Training::Separate(&t.series),
        (
            TrainArgs {
                train_rows: Some(n),
                ..
            },
            _,
        ) => Training::Prefix(*n),
        (
            TrainArgs {
                train_until: Some(t),
                ..
            },
            _,
        ) => Training::Prefix(rows_until(series, t)?),
        _ => Training::Same,
    };
    let bar = progress::Bar::new(spec.is_neural() && fitted.is_none() && !a.quiet);
    let ctx = bar.context().with_threads(a.threads);
    let detection = match &fitted {
        Some(f) => tsad_engine::detect_fitted(series, f, &threshold, &events),
        None => tsad_engine::detect_with(series, training, &spec, &threshold, &events, &ctx),
    }
    .with_context(|| {
        format!(
            "{} failed on {}{}",
            spec_name(&spec, preset.as_deref()),
            file.display(),
            rows_lost(&ingested)
        )
    });
    bar.finish();
    let detection = detection?;
    let evidence = if a.explain {
        Some(explain_events(&ingested, &spec, &detection)?)
    } else {
        None
    };
    let report = Report {
        file,
        ingested: &ingested,
        spec: &spec,
        preset: preset.as_deref(),
        threshold: &threshold,
        detection: &detection,
        evidence: evidence.as_deref(),
        top: a.top,
    };
    let mut out: Box<dyn Write> = match &a.output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create output file {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    match a.format {
        Format::Table => report.write_table(&mut out)?,
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &report.to_json(a.points))?;
            writeln!(out)?;
        }
        Format::Csv => report.write_csv(&mut out)?,
    }
    out.flush()?;
    Ok(if detection.events.is_empty() {
        Outcome::Clean
    } else {
        Outcome::Anomalies
    })
}

/// `tsad fit`: fit on normal data and save the model with its calibration.
pub(crate) fn fit(a: FitArgs) -> Result<Outcome> {
    let (spec, preset) = resolve_spec(&a.spec)?;
    let mut options = ingest_options(&a.file, &a.time_column, &a.value_column, a.no_time_column);
    options.decimal = a.decimal;
    options.covariate_columns = a.covariate_columns.iter().map(|c| column_ref(c)).collect();
    let ingested = tsad_io::read_path(&a.file, &options)?;
    print_warnings(&a.file, &ingested);
    let bar = progress::Bar::new(spec.is_neural() && !a.quiet);
    let ctx = bar.context().with_threads(a.threads);
    let fitted = tsad_engine::fit(&ingested.series, &spec, &ctx).with_context(|| {
        format!(
            "{} failed on {}{}",
            spec_name(&spec, preset.as_deref()),
            a.file.display(),
            rows_lost(&ingested)
        )
    });
    bar.finish();
    let mut fitted = fitted?;
    let ts = ingested.series.timestamps();
    fitted.meta = json!({
        "file": a.file.display().to_string(),
        "time_column": ingested.time_column,
        "value_column": ingested.value_column,
        "covariate_columns": ingested.covariate_columns,
        "start": ts.first().map(|t| time_json(&ingested.series, *t)),
        "end": ts.last().map(|t| time_json(&ingested.series, *t)),
    });
    std::fs::write(&a.save, fitted.to_bytes()?)
        .with_context(|| format!("cannot write model file {}", a.save.display()))?;
    eprintln!(
        "fitted `{}` on {} points of {}; model saved to {} (use: tsad detect FILE --model {})",
        spec.kind(),
        ingested.series.len(),
        a.file.display(),
        a.save.display(),
        a.save.display()
    );
    Ok(Outcome::Clean)
}

/// The number of rows of `series` at or before `time` (a timestamp, or a row number when the
/// series has no time column).
pub(crate) fn rows_until(series: &Series, time: &str) -> Result<usize> {
    let t = match series.axis() {
        TimeAxis::Index => time.trim().parse::<i64>().with_context(|| {
            format!("--train-until {time}: the file has no time column, so give a row number")
        })?,
        TimeAxis::EpochMillis => tsad_io::parse_time(time).with_context(|| {
            format!(
                "--train-until {time}: not a time; write it like 2014-02-07 or \
                 2014-02-07T14:30:00Z"
            )
        })?,
    };
    tsad_engine::rows_until(series, t, "--train-until").map_err(|e| match e {
        tsad_core::Error::InvalidParameter { reason, .. } => {
            anyhow::anyhow!("--train-until {time}: {reason}")
        }
        other => other.into(),
    })
}

/// A duration such as `30m`, `12h`, `7d` or `1w`, in the series' time unit (ms).
fn duration_ms(flag: &str, text: &str, series: &Series) -> Result<i64> {
    if series.axis() == TimeAxis::Index {
        bail!(
            "{flag} {text}: the file has no time column, so durations mean nothing; give a \
             number of points instead"
        );
    }
    let d = humantime::parse_duration(text.trim()).with_context(|| {
        format!("{flag} {text}: not a duration; write it like 90s, 30m, 12h, 7d or 1w")
    })?;
    Ok(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

pub(crate) fn event_options(a: &ThresholdArgs, series: &Series) -> Result<EventOptions> {
    let options = EventOptions {
        merge_gap: a.merge_gap,
        merge_gap_time: a
            .merge_gap_time
            .as_deref()
            .map(|t| duration_ms("--merge-gap-time", t, series))
            .transpose()?,
        min_points: a.min_points,
        prune: a.prune,
        standout: !a.no_standout,
        routine: !a.keep_routine,
    };
    options.validate()?;
    Ok(options)
}

/// Ingest's warnings (a time-like column not read as time, rejected rows, gaps, ...) on
/// stderr, so that output piped elsewhere stays clean.
pub(crate) fn print_warnings(file: &Path, ingested: &Ingested) {
    for w in &ingested.diagnostics.warnings {
        eprintln!("warning: {}: {w}", file.display());
    }
}

/// What happened to the file's rows on the way to the series, for the table's header: rows
/// rejected, timestamps repeated, rows re-sorted, gaps. `None` when every row became a point
/// in order.
fn rows_line(d: &tsad_io::Diagnostics) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(r) = d.rejected_rows.first() {
        parts.push(format!(
            "{} rejected (the first: line {}, column \"{}\": \"{}\", {})",
            d.rejected, r.line, r.column, r.value, r.reason
        ));
    }
    if d.duplicates > 0 {
        parts.push(format!(
            "{} repeated an earlier timestamp (the last row of each was kept)",
            d.duplicates
        ));
    }
    if d.sorted {
        parts.push("not in time order (sorted)".to_owned());
    }
    if d.gaps.count > 0 {
        parts.push(format!(
            "{} gaps in time ({} missing steps)",
            d.gaps.count, d.gaps.missing_steps
        ));
    }
    (!parts.is_empty()).then(|| format!("{} read; {}", d.rows_read, parts.join("; ")))
}

/// Why a file gave fewer points than rows, for a detector's "not enough data": rows that
/// repeated a timestamp and rows that could not be read.
pub(crate) fn rows_lost(ingested: &Ingested) -> String {
    let d = &ingested.diagnostics;
    if d.duplicates == 0 && d.rejected == 0 {
        return String::new();
    }
    let mut why = Vec::new();
    if d.duplicates > 0 {
        why.push(format!(
            "{} repeated an earlier timestamp and were merged",
            d.duplicates
        ));
    }
    if d.rejected > 0 {
        why.push(format!("{} could not be read", d.rejected));
    }
    format!(
        " ({} rows read, {}: {} points left)",
        d.rows_read,
        why.join(", "),
        d.points
    )
}

/// How `detect` and `fit` read FILE: the columns the user named, or detected ones.
pub(crate) fn ingest_options(
    file: &Path,
    time_column: &Option<String>,
    value_column: &Option<String>,
    no_time_column: bool,
) -> IngestOptions {
    IngestOptions {
        time_column: time_column.as_deref().map(column_ref),
        value_column: value_column.as_deref().map(column_ref),
        no_time_column,
        source_name: Some(file.display().to_string()),
        ..IngestOptions::default()
    }
}

fn column_ref(s: &str) -> ColumnRef {
    // ColumnRef's FromStr never fails: digits are an index, anything else a name.
    s.parse().unwrap_or_else(|_| ColumnRef::Name(s.to_owned()))
}

/// How messages name what ran: "preset `robust-stats`" for a preset (whose spec is an
/// ensemble the user never wrote), else "detector `mad`".
fn spec_name(spec: &DetectorSpec, preset: Option<&str>) -> String {
    match preset {
        Some(p) => format!("preset `{p}`"),
        None => format!("detector `{}`", spec.kind()),
    }
}

/// The spec named by --detector, --preset or --config (default: the default spec), with the
/// --set overrides applied.
pub(crate) fn resolve_spec(a: &SpecArgs) -> Result<(DetectorSpec, Option<String>)> {
    let mut sets = Map::new();
    for s in &a.set {
        let Some((key, raw)) = s.split_once('=') else {
            bail!("--set {s}: expected KEY=VALUE, e.g. --set window=96");
        };
        // Numbers, booleans and JSON values parse as such; anything else is a string.
        let value = serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_owned()));
        sets.insert(key.trim().to_owned(), value);
    }
    let value = if let Some(kind) = &a.detector {
        let mut spec = sets;
        spec.insert("kind".into(), json!(kind));
        Value::Object(spec)
    } else if let Some(name) = &a.preset {
        json!({"preset": name, "overrides": sets})
    } else if let Some(path) = &a.config {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read detector config {}", path.display()))?;
        let mut value: Value = serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is not valid JSON; a spec looks like {{\"kind\": \"mad\", \"window\": 48}}",
                path.display()
            )
        })?;
        if !sets.is_empty() {
            merge_sets(&mut value, sets);
        }
        value
    } else {
        json!({"preset": tsad_engine::DEFAULT_PRESET, "overrides": sets})
    };
    Ok(parse_spec(&value)?)
}

fn merge_sets(spec: &mut Value, sets: Map<String, Value>) {
    let Some(obj) = spec.as_object_mut() else {
        return;
    };
    if obj.contains_key("preset") {
        let overrides = obj.entry("overrides").or_insert_with(|| json!({}));
        if let Some(o) = overrides.as_object_mut() {
            o.extend(sets);
        }
    } else {
        obj.extend(sets);
    }
}

pub(crate) fn threshold_from(a: &ThresholdArgs, series: &Series) -> Result<Threshold> {
    if let Some(k) = a.sigma
        && !(k.is_finite() && k >= 0.0)
    {
        bail!(
            "--sigma {k}: must be a number 0 or more (how many standard deviations above the \
             centre a score must be), e.g. --sigma 3"
        );
    }
    let method = a.threshold.unwrap_or(if a.sensitivity.is_some() {
        ThresholdMethod::Sensitivity
    } else if a.quantile.is_some() {
        ThresholdMethod::Quantile
    } else if a.sigma.is_some() {
        ThresholdMethod::Sigma
    } else {
        ThresholdMethod::Auto
    });
    let t = match method {
        ThresholdMethod::Auto => Threshold::Auto {
            every: match a.every.as_deref() {
                None => DEFAULT_EVERY,
                Some(text) => match text.trim().parse::<f64>() {
                    Ok(points) => points,
                    Err(_) => {
                        let ms = duration_ms("--every", text, series)?;
                        let step = series.median_step().filter(|s| *s > 0).with_context(|| {
                            format!("--every {text}: the file is too short to know its time step")
                        })?;
                        ms as f64 / step as f64
                    }
                },
            },
        },
        ThresholdMethod::Sigma => Threshold::Sigma {
            k: a.sigma.unwrap_or(3.0),
        },
        ThresholdMethod::Robust => Threshold::Robust {
            k: a.sigma.unwrap_or(5.0),
        },
        ThresholdMethod::Quantile => Threshold::Quantile {
            q: a.quantile.unwrap_or(0.99),
        },
        ThresholdMethod::Sensitivity => Threshold::Sensitivity {
            s: Sensitivity::new(a.sensitivity.unwrap_or(0.5))?,
        },
    };
    t.validate()?;
    Ok(t)
}

/// One series' detection, as the table, JSON and CSV outputs show it.
pub(crate) struct Report<'a> {
    pub(crate) file: &'a Path,
    pub(crate) ingested: &'a Ingested,
    pub(crate) spec: &'a DetectorSpec,
    pub(crate) preset: Option<&'a str>,
    pub(crate) threshold: &'a Threshold,
    pub(crate) detection: &'a Detection,
    /// Per event, with --explain.
    pub(crate) evidence: Option<&'a [tsad_explain::Evidence]>,
    /// Events listed in the table (0 = all).
    pub(crate) top: usize,
}

/// The evidence about every event (`--explain`).
fn explain_events(
    ingested: &Ingested,
    spec: &DetectorSpec,
    d: &Detection,
) -> Result<Vec<tsad_explain::Evidence>> {
    let ctx = tsad_explain::EvidenceContext::new(&ingested.series, &d.scores)?
        .with_flags(&d.cut.flags)
        .with_threshold(d.cut.value)
        .with_detector(spec.kind())
        .with_diagnostics(&ingested.diagnostics);
    Ok(d.events
        .iter()
        .map(|e| ctx.evidence(e))
        .collect::<Result<_, _>>()?)
}

/// A timestamp as users read it: RFC 3339 for real times, the row number for index axes.
pub(crate) fn time_text(series: &Series, t: i64) -> String {
    match series.axis() {
        TimeAxis::EpochMillis => format_timestamp(t),
        _ => t.to_string(),
    }
}

fn time_json(series: &Series, t: i64) -> Value {
    match series.axis() {
        TimeAxis::EpochMillis => json!(format_timestamp(t)),
        _ => json!(t),
    }
}

impl Report<'_> {
    fn series(&self) -> &Series {
        &self.ingested.series
    }

    fn event_json(&self, e: &Event) -> Value {
        let s = self.series();
        let mut v = serde_json::to_value(e).unwrap_or_default();
        v["start_time"] = time_json(s, e.start_time);
        v["end_time"] = time_json(s, e.end_time);
        v["peak_time"] = time_json(s, e.peak_time);
        v
    }

    /// Why no event was kept, as the API's `quiet` (its time written as events write theirs);
    /// null when there are events.
    fn quiet_json(&self) -> Value {
        let (s, d) = (self.series(), self.detection);
        let mut v = serde_json::to_value(tsad_engine::quiet(s, &d.scores, &d.cut, &d.events))
            .unwrap_or_default();
        if let Some(t) = v.get("time").and_then(Value::as_i64) {
            v["time"] = time_json(s, t);
        }
        v
    }

    pub(crate) fn to_json(&self, points: bool) -> Value {
        let s = self.series();
        let d = self.detection;
        let ts = s.timestamps();
        let mut out = json!({
            "file": self.file.display().to_string(),
            "series": {
                "points": s.len(),
                "start": ts.first().map(|t| time_json(s, *t)),
                "end": ts.last().map(|t| time_json(s, *t)),
                "step_ms": s.median_step(),
                "time_axis": s.axis(),
                "time_column": self.ingested.time_column,
                "value_column": self.ingested.value_column,
            },
            "detector": self.spec.to_json(),
            "preset": self.preset,
            "threshold": {
                "spec": self.threshold,
                "rule": self.threshold.describe(),
                "scale": d.cut.scale,
                "value": d.cut.value,
            },
            "training": d.training,
            "anomaly_count": d.cut.count(),
            "event_count": d.events.len(),
            "events": d.events.iter().map(|e| self.event_json(e)).collect::<Vec<_>>(),
            "routine": d.cut.routine,
            "quiet": self.quiet_json(),
            "diagnostics": self.ingested.diagnostics,
            "report": d.scores.report,
            "timings": {"fit_seconds": d.fit_seconds, "score_seconds": d.score_seconds},
        });
        for (i, ev) in self.evidence.unwrap_or_default().iter().enumerate() {
            out["events"][i]["evidence"] = serde_json::to_value(ev).unwrap_or_default();
            out["events"][i]["explanation"] = json!(tsad_explain::explain(ev));
        }
        if points {
            out["points"] = Value::Array(
                (0..s.len())
                    .map(|i| {
                        let mut p = json!({
                            "timestamp": time_json(s, ts[i]),
                            "value": s.values()[i],
                            "score": d.scores.score[i],
                            "rarity": d.scores.rarity.as_ref().map(|r| r[i]),
                            "anomaly": d.cut.flags[i],
                        });
                        if let Some(e) = &d.scores.expected {
                            p["expected"] = json!(e[i]);
                        }
                        if let Some((lo, hi)) = &d.scores.band {
                            p["lower"] = json!(lo[i]);
                            p["upper"] = json!(hi[i]);
                        }
                        for m in &d.scores.members {
                            p[format!("score_{}", m.name)] = json!(m.normalized[i]);
                        }
                        p
                    })
                    .collect(),
            );
        }
        out
    }

    fn write_table(&self, out: &mut dyn Write) -> Result<()> {
        let s = self.series();
        let d = self.detection;
        let ts = s.timestamps();
        let span = match (ts.first(), ts.last()) {
            (Some(a), Some(b)) => format!("{} .. {}", time_text(s, *a), time_text(s, *b)),
            _ => String::new(),
        };
        writeln!(out, "{}: {} points, {span}", self.file.display(), s.len())?;
        let diag = &self.ingested.diagnostics;
        writeln!(
            out,
            "columns: time {}, value {}; missing values: {}",
            self.ingested
                .time_column
                .as_deref()
                .unwrap_or("(row index)"),
            self.ingested.value_column,
            diag.missing_values
        )?;
        if let Some(rows) = rows_line(diag) {
            writeln!(out, "rows: {rows}")?;
        }
        let name = self
            .preset
            .map_or_else(|| self.spec.kind().to_owned(), |p| format!("preset {p}"));
        let fitted_on = match d.training.source {
            "self" => "fitted and calibrated on this file".to_owned(),
            "prefix" => format!(
                "fitted and calibrated on its first {} rows",
                d.training.rows
            ),
            "series" => format!(
                "fitted and calibrated on the training file ({} rows)",
                d.training.rows
            ),
            _ => format!("saved model (fitted on {} rows)", d.training.rows),
        };
        writeln!(out, "detector: {name}, {fitted_on}")?;
        if let Some(rows) = d.training.junction_rows {
            writeln!(
                out,
                "note: both files count rows, so nothing says this one follows the training file: \
                 its first {rows} rows were also scored on their own and keep the lower score \
                 (an alarm there stands out either way; rows that cannot be scored alone, inside \
                 the detector's warm-up, have no score)"
            )?;
        }
        for note in detector_notes(self.spec.kind(), &d.scores.report, false) {
            writeln!(out, "note: {note}")?;
        }
        let cut = if !d.cut.value.is_finite() {
            "no finite score, so nothing can be flagged".to_owned()
        } else {
            match d.cut.scale {
                tsad_core::Scale::Rarity => format!("rarity > {:.2}", d.cut.value),
                tsad_core::Scale::Raw => format!("score > {}", num(d.cut.value)),
            }
        };
        let per_time = match (self.threshold.every(), s.axis(), s.median_step()) {
            (Some(every), TimeAxis::EpochMillis, Some(step)) if step > 0 => {
                format!(
                    ", one per {} at this file's step",
                    duration_text(every * step as f64)
                )
            }
            _ => String::new(),
        };
        writeln!(
            out,
            "threshold: {}{per_time} ({}: {cut})",
            self.threshold.describe(),
            self.threshold.method()
        )?;
        writeln!(
            out,
            "{} anomalous points in {} events (fit {:.2}s, score {:.2}s)",
            d.cut.count(),
            d.events.len(),
            d.fit_seconds,
            d.score_seconds
        )?;
        for r in &d.cut.routine {
            writeln!(
                out,
                "set aside as routine: {} (--keep-routine flags them)",
                r.summary
            )?;
        }
        if d.events.is_empty() {
            if let Some(hint) = nothing_flagged_hint(s, d) {
                writeln!(out, "{hint}")?;
            }
            return Ok(());
        }
        // Events by rank, each with its position in time order (where its evidence is).
        let mut listed: Vec<(usize, &Event)> = d.events.iter().enumerate().collect();
        listed.sort_by_key(|(_, e)| e.rank);
        if self.top > 0 && listed.len() > self.top {
            listed.truncate(self.top);
            writeln!(
                out,
                "the {} most severe of {} events, by rank (--top 0 lists all):",
                self.top,
                d.events.len()
            )?;
        }
        writeln!(out)?;
        let header = format!(
            "{:>4}  {:<21} {:<21} {:>6}  {:>9}  {:>7}  {:>8}  {:<4}  {:>12}  {:>12}  {}",
            "rank",
            "start",
            "end",
            "points",
            "score",
            "rarity",
            "severity",
            "dir",
            "actual",
            "expected",
            if d.scores.members.is_empty() {
                ""
            } else {
                "members"
            }
        );
        writeln!(out, "{}", header.trim_end())?;
        for &(_, e) in &listed {
            let members: Vec<String> = e
                .members
                .iter()
                .map(|m| format!("{} {:.0}%", m.name, m.share * 100.0))
                .collect();
            let line = format!(
                "{:>4}  {:<21} {:<21} {:>6}  {:>9}  {:>7}  {:>8}  {:<4}  {:>12}  {:>12}  {}",
                e.rank,
                time_text(s, e.start_time),
                time_text(s, e.end_time),
                e.end - e.start + 1,
                num(e.peak_score),
                e.rarity
                    .map_or_else(|| "-".to_owned(), |r| format!("{r:.2}")),
                format!("{:.2}{}", e.severity, if e.standout { "*" } else { "" }),
                match e.direction {
                    tsad_core::Direction::Up => "up",
                    tsad_core::Direction::Down => "down",
                    _ => "-",
                },
                num(e.actual),
                e.expected.map_or_else(|| "-".to_owned(), num),
                members.join(", ")
            );
            writeln!(out, "{}", line.trim_end())?;
        }
        if listed.iter().any(|(_, e)| e.standout) {
            writeln!(
                out,
                "* below the cut-off, kept because it stands ten times rarer than anything else \
                 in the series (--no-standout drops these)"
            )?;
        }
        // The explanations follow the table: by rank, the listed events only.
        if let Some(evidence) = self.evidence {
            for &(i, e) in &listed {
                writeln!(
                    out,
                    "\nEvent rank {}\n{}",
                    e.rank,
                    tsad_explain::explain(&evidence[i])
                )?;
            }
        }
        Ok(())
    }

    pub(crate) fn write_csv(&self, out: &mut dyn Write) -> Result<()> {
        let s = self.series();
        let d = self.detection;
        let mut event_of = vec![0usize; s.len()];
        for (i, e) in d.events.iter().enumerate() {
            event_of[e.start..=e.end].fill(i + 1);
        }
        write!(
            out,
            "timestamp,value,expected,lower,upper,score,rarity,anomaly,event"
        )?;
        for m in &d.scores.members {
            write!(out, ",score_{}", m.name)?;
        }
        writeln!(out)?;
        // Rows are formatted in blocks on the cores and written in order (`for_each_ordered`,
        // as for many series). Formatting numbers is most of the work: a fifth of a
        // 1,000,000-point default run on one core.
        let ts = s.timestamps();
        let expected = d.scores.expected.as_deref();
        let band = d.scores.band.as_ref();
        let rarity = d.scores.rarity.as_deref();
        let rows = |range: std::ops::Range<usize>| -> String {
            let mut block = String::with_capacity(range.len() * 128);
            for i in range {
                block.push_str(&time_text(s, ts[i]));
                for cell in [
                    Some(s.values()[i]),
                    expected.map(|e| e[i]),
                    band.map(|(lo, _)| lo[i]),
                    band.map(|(_, hi)| hi[i]),
                    Some(d.scores.score[i]),
                    rarity.map(|r| r[i]),
                ] {
                    push_number(&mut block, cell);
                }
                block.push(',');
                block.push(if d.cut.flags[i] { '1' } else { '0' });
                block.push(',');
                if event_of[i] > 0 {
                    let _ = write!(block, "{}", event_of[i]);
                }
                for m in &d.scores.members {
                    push_number(&mut block, Some(m.normalized[i]));
                }
                block.push('\n');
            }
            block
        };
        let blocks: Vec<_> = (0..s.len())
            .step_by(CSV_BLOCK)
            .map(|from| from..(from + CSV_BLOCK).min(s.len()))
            .collect();
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        for_each_ordered(blocks, workers, rows, |block| {
            out.write_all(block.as_bytes())
        })?;
        Ok(())
    }
}

/// Rows of the detection CSV formatted per block (about 2.5 MB of text at 20 bytes a cell).
const CSV_BLOCK: usize = 1 << 14;

/// Appends `,` and the number when it is finite (nothing else: a missing or non-finite value
/// is an empty cell).
fn push_number(line: &mut String, v: Option<f64>) {
    line.push(',');
    if let Some(x) = v.filter(|x| x.is_finite()) {
        // Writing into a `String` cannot fail.
        let _ = write!(line, "{x}");
    }
}

/// Milliseconds in the largest unit that keeps the number at least 1: `3.2 days`, `11 years`.
fn duration_text(ms: f64) -> String {
    const UNITS: [(&str, f64); 6] = [
        ("years", 365.25 * 86_400_000.0),
        ("weeks", 7.0 * 86_400_000.0),
        ("days", 86_400_000.0),
        ("hours", 3_600_000.0),
        ("minutes", 60_000.0),
        ("seconds", 1000.0),
    ];
    let (unit, size) = UNITS
        .iter()
        .copied()
        .find(|(_, size)| ms >= *size)
        .unwrap_or(("seconds", 1000.0));
    let x = ms / size;
    if x >= 10.0 {
        format!("{x:.0} {unit}")
    } else {
        format!("{x:.1} {unit}")
    }
}

/// What a detector's report says the user should know, one line each: a detector that
/// abstained (and why), a seasonal decomposition that found no period and fell back. For an
/// ensemble (`member` for its members), its members' reports, named.
fn detector_notes(kind: &str, report: &Value, member: bool) -> Vec<String> {
    let mut notes = Vec::new();
    if let Some(members) = report["members"].as_array() {
        for m in members {
            let name = m["name"]
                .as_str()
                .or(m["kind"].as_str())
                .unwrap_or("a member");
            notes.extend(detector_notes(name, &m["report"], true));
        }
        return notes;
    }
    if report["abstained"] == true {
        let why = report["applicability"]["message"]
            .as_str()
            .unwrap_or("its test does not apply to this series");
        let effect = if member {
            "left the vote"
        } else {
            "flags nothing"
        };
        notes.push(format!("{kind} abstained ({effect}): {why}"));
    }
    if report["method"] == "rolling_median"
        && let Some(note) = report["note"].as_str()
    {
        notes.push(format!("{kind}: {note}"));
    }
    notes
}

/// What a user can try when nothing was flagged: where the strongest point is, how rare it
/// is, and the option that would reach it. `None` when no point has a finite score.
fn nothing_flagged_hint(s: &Series, d: &Detection) -> Option<String> {
    use tsad_engine::Quiet;
    let quiet = tsad_engine::quiet(s, &d.scores, &d.cut, &d.events)?;
    let at = |t: i64| time_text(s, t);
    let mut hint = match quiet {
        Quiet::EventsDropped { routine } => {
            let by = if routine {
                "the routine rule (above), --min-points or --prune"
            } else {
                "--min-points or --prune"
            };
            return Some(format!(
                "no event kept: points passed the cut-off, but {by} dropped every event they formed"
            ));
        }
        ref q @ Quiet::NothingStandsOut { time, rarity, .. } => {
            return Some(if q.all_alike() {
                "nothing passed the cut-off, and no point stands out: every point scores about \
                 alike"
                    .to_owned()
            } else {
                format!(
                    "nothing passed the cut-off, and no point stands out: the rarest, at {}, is \
                     as common as one point in {} of normal data",
                    at(time),
                    tsad_core::group_thousands(10f64.powf(rarity))
                )
            });
        }
        Quiet::BelowCut {
            time,
            rarity: Some(rarity),
            every: Some(every),
            ..
        } => format!(
            "nothing passed the cut-off: the rarest point, at {}, has rarity {rarity:.2}: about \
             one point in {} of normal data scores this high; --every {every} flags points about \
             that rare",
            at(time),
            tsad_core::group_thousands(10f64.powf(rarity)),
        ),
        Quiet::BelowCut { time, score, .. } => format!(
            "nothing passed the cut-off: the highest score, {}, is at {}; a lower --sigma or \
             --quantile flags more",
            num(score),
            at(time)
        ),
    };
    if d.training.source == "self" {
        hint.push_str(
            ". Fitted on itself, the file's own anomalies weigh in its calibration: if it starts \
             with normal data, fit on that part (--train-rows N or --train-until TIME)",
        );
    }
    Some(hint)
}

/// A value with about five significant digits: 21674, 6148.6, 0.09770.
pub(crate) fn num(x: f64) -> String {
    if x.is_nan() {
        return "-".to_owned();
    }
    let magnitude = if x == 0.0 {
        0
    } else {
        x.abs().log10().floor() as i32
    };
    if !(-3..6).contains(&magnitude) {
        format!("{x:.4e}")
    } else {
        let decimals = (4 - magnitude).clamp(0, 6) as usize;
        format!("{x:.decimals$}")
    }
}

#[cfg(test)]
mod tests {
    use super::duration_text;

    #[test]
    fn durations_read_in_the_largest_fitting_unit() {
        let hour = 3_600_000.0;
        for (ms, want) in [
            (100_000.0 * hour, "11 years"),
            (24.0 * 3.5 * hour, "3.5 days"),
            (90_000.0, "1.5 minutes"),
            (10.0, "0.0 seconds"),
        ] {
            assert_eq!(duration_text(ms), want);
        }
    }
}
