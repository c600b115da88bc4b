//! `tsad detect`: CSV in, events out (table, JSON or per-point CSV).

use crate::args::{DetectArgs, Format, SpecArgs, ThresholdMethod};
use crate::{Outcome, progress};
use anyhow::{Context, Result, bail};
use serde_json::{Map, Value, json};
use std::io::Write;
use std::path::Path;
use tsad_core::{Event, EventOptions, Sensitivity, Series, Threshold, TimeAxis};
use tsad_engine::{Detection, DetectorSpec, default_spec, parse_spec};
use tsad_io::{ColumnRef, IngestOptions, Ingested, format_timestamp};

pub(crate) fn run(a: DetectArgs) -> Result<Outcome> {
    let (spec, preset) = resolve_spec(&a.spec)?;
    let threshold = threshold_from(&a)?;
    let options = IngestOptions {
        time_column: a.time_column.as_deref().map(column_ref),
        value_column: a.value_column.as_deref().map(column_ref),
        no_time_column: a.no_time_column,
        source_name: Some(a.file.display().to_string()),
        ..IngestOptions::default()
    };
    let ingested = tsad_io::read_path(&a.file, &options)?;
    let bar = progress::Bar::new(spec.is_neural() && !a.quiet);
    let ctx = bar.context().with_threads(a.threads);
    let events = EventOptions {
        merge_gap: a.merge_gap,
    };
    let detection = tsad_engine::detect(&ingested.series, &spec, &threshold, &events, &ctx)
        .with_context(|| format!("detector `{}` failed on {}", spec.kind(), a.file.display()));
    bar.finish();
    let detection = detection?;
    let evidence = if a.explain {
        Some(explain_events(&ingested, &spec, &detection)?)
    } else {
        None
    };
    let report = Report {
        file: &a.file,
        ingested: &ingested,
        spec: &spec,
        preset: preset.as_deref(),
        threshold: &threshold,
        detection: &detection,
        evidence: evidence.as_deref(),
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
    Ok(if detection.cut.count() > 0 {
        Outcome::Anomalies
    } else {
        Outcome::Clean
    })
}

fn column_ref(s: &str) -> ColumnRef {
    // ColumnRef's FromStr never fails: digits are an index, anything else a name.
    s.parse().unwrap_or_else(|_| ColumnRef::Name(s.to_owned()))
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
        let mut value = default_spec().to_json();
        merge_sets(&mut value, sets);
        value
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

fn threshold_from(a: &DetectArgs) -> Result<Threshold> {
    let method = a.threshold.unwrap_or(if a.sensitivity.is_some() {
        ThresholdMethod::Sensitivity
    } else if a.quantile.is_some() {
        ThresholdMethod::Quantile
    } else {
        ThresholdMethod::Sigma
    });
    let t = match method {
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

struct Report<'a> {
    file: &'a Path,
    ingested: &'a Ingested,
    spec: &'a DetectorSpec,
    preset: Option<&'a str>,
    threshold: &'a Threshold,
    detection: &'a Detection,
    /// Per event, with --explain.
    evidence: Option<&'a [tsad_explain::Evidence]>,
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
fn time_text(series: &Series, t: i64) -> String {
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

    fn to_json(&self, points: bool) -> Value {
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
            "threshold": {"spec": self.threshold, "value": d.cut.value},
            "anomaly_count": d.cut.count(),
            "event_count": d.events.len(),
            "events": d.events.iter().map(|e| self.event_json(e)).collect::<Vec<_>>(),
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
        let name = self
            .preset
            .map_or_else(|| self.spec.kind().to_owned(), |p| format!("preset {p}"));
        writeln!(
            out,
            "detector: {name}; threshold: {} -> {:.4}",
            serde_json::to_string(self.threshold)?,
            d.cut.value
        )?;
        writeln!(
            out,
            "{} anomalous points in {} events (fit {:.2}s, score {:.2}s)",
            d.cut.count(),
            d.events.len(),
            d.fit_seconds,
            d.score_seconds
        )?;
        if d.events.is_empty() {
            return Ok(());
        }
        writeln!(out)?;
        let header = format!(
            "{:>4}  {:<21} {:<21} {:>6}  {:>9}  {:>8}  {:<4}  {:>12}  {:>12}  {}",
            "#",
            "start",
            "end",
            "points",
            "score",
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
        for (i, e) in d.events.iter().enumerate() {
            let members: Vec<String> = e
                .members
                .iter()
                .map(|m| format!("{} {:.0}%", m.name, m.share * 100.0))
                .collect();
            let line = format!(
                "{:>4}  {:<21} {:<21} {:>6}  {:>9.3}  {:>8.2}  {:<4}  {:>12}  {:>12}  {}",
                i + 1,
                time_text(s, e.start_time),
                time_text(s, e.end_time),
                e.end - e.start + 1,
                e.peak_score,
                e.severity,
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
        for (i, ev) in self.evidence.unwrap_or_default().iter().enumerate() {
            writeln!(out, "\nEvent {}\n{}", i + 1, tsad_explain::explain(ev))?;
        }
        Ok(())
    }

    fn write_csv(&self, out: &mut dyn Write) -> Result<()> {
        let s = self.series();
        let d = self.detection;
        let mut event_of = vec![0usize; s.len()];
        for (i, e) in d.events.iter().enumerate() {
            event_of[e.start..=e.end].fill(i + 1);
        }
        write!(
            out,
            "timestamp,value,expected,lower,upper,score,anomaly,event"
        )?;
        for m in &d.scores.members {
            write!(out, ",score_{}", m.name)?;
        }
        writeln!(out)?;
        let opt = |v: Option<f64>| {
            v.filter(|x| x.is_finite())
                .map_or_else(String::new, |x| x.to_string())
        };
        for i in 0..s.len() {
            let (lo, hi) = match &d.scores.band {
                Some((lo, hi)) => (Some(lo[i]), Some(hi[i])),
                None => (None, None),
            };
            write!(
                out,
                "{},{},{},{},{},{},{},{}",
                time_text(s, s.timestamps()[i]),
                opt(Some(s.values()[i])),
                opt(d.scores.expected.as_ref().map(|e| e[i])),
                opt(lo),
                opt(hi),
                opt(Some(d.scores.score[i])),
                u8::from(d.cut.flags[i]),
                if event_of[i] > 0 {
                    event_of[i].to_string()
                } else {
                    String::new()
                }
            )?;
            for m in &d.scores.members {
                write!(out, ",{}", opt(Some(m.normalized[i])))?;
            }
            writeln!(out)?;
        }
        Ok(())
    }
}

/// A value with about five significant digits: 21674, 6148.6, 0.09770.
fn num(x: f64) -> String {
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
