//! `tsad detect` on many series: a wide file (`--all-columns`, `--value-columns`), a long one
//! (`--series-column`), several files or a directory. Every series goes through the same spec
//! on a pool of threads; each is written out as soon as it (and those before it) are done, and
//! a fleet summary ranks the series by their worst event.

use crate::Outcome;
use crate::args::{DetectArgs, Format, TrainArgs};
use crate::detect::{
    Report, event_options, ingest_options, num, resolve_spec, rows_lost, rows_until, threshold_from,
};
use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use tsad_core::{FitContext, Series, TimeAxis};
use tsad_engine::{
    Detection, DetectorSpec, FleetSummary, Joint, JointEvent, JointInput, SeriesSummary, Training,
    for_each_ordered,
};
use tsad_io::{IngestError, IngestOptions, Ingested, SeriesLayout};

/// Per-series warnings printed on stderr before the rest are only counted (JSON output has
/// every series' diagnostics).
const SHOWN_WARNINGS: usize = 20;

/// Whether the arguments ask for more than one series.
pub(crate) fn is_fleet(a: &DetectArgs) -> bool {
    a.series_column.is_some()
        || !a.value_columns.is_empty()
        || a.all_columns
        || a.joint
        || a.files.len() > 1
        || a.files.iter().any(|f| f.is_dir())
}

/// What a worker is given: a series already read from the one input file, or a file to
/// read (when there are several).
enum Job {
    Series {
        file: PathBuf,
        name: String,
        result: Box<Result<Ingested, IngestError>>,
    },
    File(PathBuf),
}

/// One series, done: its row of the ranking and what the chosen format prints for it.
struct Done {
    summary: SeriesSummary,
    /// The series and its detection, kept for `--joint`.
    part: Option<Box<(Series, Detection)>>,
    /// A JSON line, or CSV rows; empty for the table.
    text: String,
    warnings: Vec<String>,
}

/// Everything the workers share.
struct Plan<'a> {
    a: &'a DetectArgs,
    spec: &'a DetectorSpec,
    preset: Option<&'a str>,
    options: IngestOptions,
    /// Threads each detection may use (neural training).
    inner_threads: usize,
}

pub(crate) fn run(a: DetectArgs) -> Result<Outcome> {
    if let Some(model) = &a.training.model {
        bail!(
            "--model {} holds the model of one series, so it cannot score several; pick the \
             series with --value-column (and no --series-column, --value-columns or \
             --all-columns), or drop --model to fit each series on itself",
            model.display()
        );
    }
    if let Some(train) = &a.training.train {
        bail!(
            "--train {} gives one training series, so it cannot train several; use \
             --train-rows or --train-until, which take each series' own first rows",
            train.display()
        );
    }
    if a.explain {
        bail!(
            "--explain explains the events of one series; run tsad detect on that series \
             (--value-column, or a file of its own) to explain them"
        );
    }
    let (spec, preset) = resolve_spec(&a.spec)?;
    let files = expand(&a.files)?;
    let mut options = ingest_options(&files[0], &a.time_column, &a.value_column, a.no_time_column);
    options.decimal = a.decimal;
    options.series = layout(&a);
    let threads = a
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let prefix = files.len() > 1;
    let jobs: Vec<Job> = if prefix {
        files.iter().cloned().map(Job::File).collect()
    } else {
        let file = &files[0];
        let fleet = tsad_io::read_fleet_path(file, &options)?;
        for w in &fleet.warnings {
            eprintln!("warning: {}: {w}", file.display());
        }
        fleet
            .series
            .into_iter()
            .map(|s| Job::Series {
                file: file.clone(),
                name: s.name,
                result: Box::new(s.result),
            })
            .collect()
    };
    let plan = Plan {
        a: &a,
        spec: &spec,
        preset: preset.as_deref(),
        options,
        inner_threads: if jobs.len() > 1 { 1 } else { threads },
    };
    let bar = progress_bar(jobs.len(), !a.quiet);
    let mut out: Box<dyn Write> = match &a.output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create output file {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let mut summary = FleetSummary::default();
    let mut warned = 0usize;
    let mut header = matches!(a.format, Format::Csv);
    let mut parts: Vec<(String, (Series, Detection))> = Vec::new();
    for_each_ordered(
        jobs,
        threads,
        |job| plan.work(job),
        |done: Vec<Done>| -> Result<()> {
            for d in done {
                for w in &d.warnings {
                    warned += 1;
                    if warned <= SHOWN_WARNINGS {
                        bar.suspend(|| eprintln!("warning: {w}"));
                    }
                }
                match a.format {
                    Format::Table => {}
                    Format::Json => writeln!(out, "{}", d.text)?,
                    Format::Csv => {
                        // CSV has no place for a failure: stderr says which series is missing.
                        if let Some(e) = &d.summary.error {
                            bar.suspend(|| eprintln!("error: series \"{}\": {e}", d.summary.name));
                        }
                        // Every series' text starts with the header they all share.
                        let (first, rows) = d.text.split_once('\n').unwrap_or_default();
                        if header && !first.is_empty() {
                            writeln!(out, "{first}")?;
                            header = false;
                        }
                        out.write_all(rows.as_bytes())?;
                    }
                }
                if let Some(part) = d.part {
                    parts.push((d.summary.name.clone(), *part));
                }
                summary.add(d.summary);
                bar.inc(1);
            }
            Ok(())
        },
    )?;
    bar.finish_and_clear();
    if warned > SHOWN_WARNINGS {
        eprintln!(
            "warning: {} more series warnings not shown (--format json lists every series' \
             diagnostics)",
            warned - SHOWN_WARNINGS
        );
    }
    summary.rank();
    let joint = if a.joint {
        Some(joint(&a, &parts)?)
    } else {
        None
    };
    match a.format {
        Format::Table => {
            write_table(&mut out, &plan, &files, &summary)?;
            if let Some(j) = &joint {
                write_joint(&mut out, j, a.top)?;
            }
        }
        Format::Json => {
            if let Some(j) = &joint {
                writeln!(out, "{}", json!({ "joint": joint_json(j) }))?;
            }
            let mut top = summary.clone();
            if a.top > 0 {
                top.ranking.truncate(a.top);
            }
            let mut line = json!({ "fleet": top });
            // Times as in the per-series lines: timestamps, or row numbers.
            for (r, v) in top.ranking.iter().zip(
                line["fleet"]["ranking"]
                    .as_array_mut()
                    .into_iter()
                    .flatten(),
            ) {
                if let (Some(w), Some(worst)) = (&r.worst, v.get_mut("worst")) {
                    for (key, t) in [
                        ("start_time", w.start_time),
                        ("peak_time", w.peak_time),
                        ("end_time", w.end_time),
                    ] {
                        worst[key] = json!(time_of(r.time_axis, t));
                    }
                }
            }
            writeln!(out, "{line}")?;
        }
        Format::Csv => {}
    }
    out.flush()?;
    if summary.series > 0 && summary.failed == summary.series {
        let first = summary
            .ranking
            .iter()
            .find_map(|s| s.error.clone())
            .unwrap_or_default();
        bail!(
            "every one of the {} series failed; the first: {first}",
            summary.series
        );
    }
    Ok(if summary.events > 0 {
        Outcome::Anomalies
    } else {
        Outcome::Clean
    })
}

impl Plan<'_> {
    /// Reads (when given a file) and detects one job's series.
    fn work(&self, job: Job) -> Vec<Done> {
        match job {
            Job::Series { file, name, result } => vec![self.one(&file, name, *result)],
            Job::File(file) => {
                let mut options = self.options.clone();
                options.source_name = Some(file.display().to_string());
                let stem = file.file_stem().map_or_else(
                    || file.display().to_string(),
                    |s| s.to_string_lossy().into(),
                );
                match tsad_io::read_fleet_path(&file, &options) {
                    Err(e) => vec![self.failed(&file, stem, e.to_string())],
                    Ok(fleet) => {
                        let single = !options.series.is_many();
                        let mut done: Vec<Done> = fleet
                            .series
                            .into_iter()
                            .map(|s| {
                                let name = if single {
                                    stem.clone()
                                } else {
                                    format!("{stem}/{}", s.name)
                                };
                                self.one(&file, name, s.result)
                            })
                            .collect();
                        if let Some(first) = done.first_mut() {
                            let file_warnings = fleet
                                .warnings
                                .iter()
                                .map(|w| format!("{}: {w}", file.display()));
                            first.warnings.splice(0..0, file_warnings);
                        }
                        done
                    }
                }
            }
        }
    }

    /// Detects one series.
    fn one(&self, file: &Path, name: String, result: Result<Ingested, IngestError>) -> Done {
        let ingested = match result {
            Ok(i) => i,
            Err(e) => return self.failed(file, name, e.to_string()),
        };
        // A file of one series is named by the file alone.
        let source = if self.options.series.is_many() {
            format!("{}, series \"{name}\"", file.display())
        } else {
            file.display().to_string()
        };
        let warnings = ingested
            .diagnostics
            .warnings
            .iter()
            .map(|w| format!("{source}: {w}"))
            .collect();
        match self.detect(file, &name, &ingested) {
            Ok(mut done) => {
                done.warnings = warnings;
                done
            }
            Err(e) => {
                let mut done = self.failed(file, name, format!("{e:#}"));
                done.warnings = warnings;
                done
            }
        }
    }

    fn detect(&self, file: &Path, name: &str, ingested: &Ingested) -> Result<Done> {
        let a = self.a;
        let series = &ingested.series;
        let threshold = threshold_from(&a.cut, series)?;
        let events = event_options(&a.cut, series)?;
        let training = match &a.training {
            TrainArgs {
                train_rows: Some(n),
                ..
            } => Training::Prefix(*n),
            TrainArgs {
                train_until: Some(t),
                ..
            } => Training::Prefix(rows_until(series, t)?),
            _ => Training::Same,
        };
        let ctx = FitContext::new().with_threads(Some(self.inner_threads));
        let detection =
            tsad_engine::detect_with(series, training, self.spec, &threshold, &events, &ctx)
                .with_context(|| {
                    format!(
                        "detector `{}` failed on series \"{name}\"{}",
                        self.spec.kind(),
                        rows_lost(ingested)
                    )
                })?;
        let report = Report {
            file,
            ingested,
            spec: self.spec,
            preset: self.preset,
            threshold: &threshold,
            detection: &detection,
            evidence: None,
            top: a.top,
        };
        let text = match a.format {
            Format::Table => String::new(),
            Format::Json => {
                let mut line = report.to_json(a.points);
                line["name"] = json!(name);
                line.to_string()
            }
            Format::Csv => {
                let mut buf = Vec::new();
                report.write_csv(&mut buf)?;
                let text = String::from_utf8_lossy(&buf);
                let mut lines = text.lines();
                let header = lines.next().unwrap_or_default();
                let field = csv_field(name);
                let mut rows = String::with_capacity(buf.len() + series.len() * field.len());
                rows.push_str(&format!("series,{header}\n"));
                for l in lines {
                    rows.push_str(&field);
                    rows.push(',');
                    rows.push_str(l);
                    rows.push('\n');
                }
                rows
            }
        };
        Ok(Done {
            summary: SeriesSummary::of(name, series, &detection),
            part: a.joint.then(|| Box::new((series.clone(), detection))),
            text,
            warnings: Vec::new(),
        })
    }

    fn failed(&self, file: &Path, name: String, error: String) -> Done {
        let text = match self.a.format {
            Format::Json => {
                json!({"name": name, "file": file.display().to_string(), "error": error})
                    .to_string()
            }
            _ => String::new(),
        };
        Done {
            summary: SeriesSummary::failed(&name, error),
            part: None,
            text,
            warnings: Vec::new(),
        }
    }
}

/// The joint score of every series that was scored.
fn joint(a: &DetectArgs, parts: &[(String, (Series, Detection))]) -> Result<Joint> {
    let Some((_, (first, _))) = parts.first() else {
        bail!("--joint: no series could be scored, so there is nothing to combine");
    };
    let threshold = threshold_from(&a.cut, first)?;
    let events = event_options(&a.cut, first)?;
    let inputs: Vec<JointInput<'_>> = parts
        .iter()
        .map(|(name, (s, d))| (name.as_str(), s, d))
        .collect();
    tsad_engine::joint(&inputs, &threshold, &events).context(
        "--joint combines the scores of several series; give a file with several series \
         (--all-columns, --value-columns, --series-column) or several files",
    )
}

/// The joint events, most severe first, each with the series that moved.
fn write_joint(out: &mut dyn Write, j: &Joint, top: usize) -> Result<()> {
    writeln!(
        out,
        "\njoint score over {} series: {} events (rarity > {:.2}, corrected for {} series)",
        j.series,
        j.events.len(),
        j.cut,
        j.series
    )?;
    let mut ranked: Vec<&JointEvent> = j.events.iter().collect();
    ranked.sort_by_key(|e| e.event.rank);
    let axis = j.axis;
    for e in ranked.iter().take(if top == 0 { usize::MAX } else { top }) {
        let ev = &e.event;
        let when = if ev.start_time == ev.end_time {
            time_of(axis, ev.start_time)
        } else {
            format!(
                "{} .. {}",
                time_of(axis, ev.start_time),
                time_of(axis, ev.end_time)
            )
        };
        let moved: Vec<String> = e
            .movers
            .iter()
            .map(|m| match m.expected {
                Some(x) => format!(
                    "{} {} (expected {}, {:+}; rarity {:.2})",
                    m.name,
                    num(m.actual),
                    num(x),
                    Signed(m.actual - x),
                    m.rarity
                ),
                None => format!("{} {} (rarity {:.2})", m.name, num(m.actual), m.rarity),
            })
            .collect();
        writeln!(
            out,
            "{:>4}  {when}  joint rarity {:.2}: {}",
            ev.rank,
            ev.rarity.unwrap_or(ev.peak_score),
            moved.join("; ")
        )?;
    }
    if top > 0 && j.events.len() > top {
        writeln!(
            out,
            "... {} more joint events (--top 0 lists all)",
            j.events.len() - top
        )?;
    }
    Ok(())
}

/// A difference with its sign, in the table's number format.
struct Signed(f64);

impl std::fmt::Display for Signed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sign = if self.0 >= 0.0 { "+" } else { "-" };
        write!(f, "{sign}{}", num(self.0.abs()))
    }
}

/// The joint score as JSON, with times as in the per-series lines.
fn joint_json(j: &Joint) -> serde_json::Value {
    let mut v = json!(j);
    for (e, ev) in j
        .events
        .iter()
        .zip(v["events"].as_array_mut().into_iter().flatten())
    {
        for key in ["start_time", "end_time", "peak_time"] {
            if let Some(t) = ev["event"][key].as_i64() {
                ev["event"][key] = json!(time_of(j.axis, t));
            }
        }
        for (m, mv) in e
            .movers
            .iter()
            .zip(ev["movers"].as_array_mut().into_iter().flatten())
        {
            mv["time"] = json!(time_of(j.axis, m.time));
        }
    }
    v
}

/// How the arguments say the files hold their series.
fn layout(a: &DetectArgs) -> SeriesLayout {
    let column = |s: &str| {
        s.parse()
            .unwrap_or_else(|_| tsad_io::ColumnRef::Name(s.to_owned()))
    };
    match (&a.series_column, a.value_columns.is_empty(), a.all_columns) {
        (Some(id), _, _) => SeriesLayout::Long(column(id)),
        (None, false, _) => SeriesLayout::Wide(a.value_columns.iter().map(|c| column(c)).collect()),
        (None, true, true) => SeriesLayout::Wide(Vec::new()),
        (None, true, false) => SeriesLayout::Single,
    }
}

/// The files to read: each path, or a directory's `.csv` files in name order.
fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for p in paths {
        if !p.is_dir() {
            files.push(p.clone());
            continue;
        }
        let mut found: Vec<PathBuf> = std::fs::read_dir(p)
            .with_context(|| format!("cannot list the directory {}", p.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|f| f.is_file() && f.extension().is_some_and(|x| x.eq_ignore_ascii_case("csv")))
            .collect();
        if found.is_empty() {
            bail!(
                "the directory {} holds no .csv file; give CSV files or a directory of them",
                p.display()
            );
        }
        found.sort();
        files.append(&mut found);
    }
    Ok(files)
}

/// A CSV field: quoted when it holds a delimiter, a quote or a line break.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

fn progress_bar(len: usize, wanted: bool) -> ProgressBar {
    if !(wanted && len > 1 && std::io::stderr().is_terminal()) {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len as u64);
    // The template is a constant, checked by the first fleet run on a terminal.
    let style = ProgressStyle::with_template(
        "{spinner} series [{bar:30}] {pos}/{len} ({per_sec}, eta {eta})",
    )
    .expect("valid progress template")
    .progress_chars("=> ");
    bar.set_style(style);
    bar
}

/// The fleet summary: what was read, how many series have events, and the ranking.
fn write_table(
    out: &mut dyn Write,
    plan: &Plan<'_>,
    files: &[PathBuf],
    s: &FleetSummary,
) -> Result<()> {
    let a = plan.a;
    let source = match files {
        [one] => one.display().to_string(),
        many => format!("{} files", many.len()),
    };
    let shape = match &plan.options.series {
        SeriesLayout::Long(id) => format!(", long format (series id column {id})"),
        SeriesLayout::Wide(_) => ", wide format (a column per series)".to_owned(),
        SeriesLayout::Single => String::new(),
    };
    writeln!(
        out,
        "{source}: {} series{shape}, {} points",
        s.series,
        group(s.points)
    )?;
    let name = plan
        .preset
        .map_or_else(|| plan.spec.kind().to_owned(), |p| format!("preset {p}"));
    let fitted = match &a.training {
        TrainArgs {
            train_rows: Some(n),
            ..
        } => format!("each series fitted and calibrated on its first {n} rows"),
        TrainArgs {
            train_until: Some(t),
            ..
        } => format!("each series fitted and calibrated on its rows up to {t}"),
        _ => "each series fitted and calibrated on itself".to_owned(),
    };
    writeln!(out, "detector: {name}, {fitted}")?;
    writeln!(
        out,
        "{} series with events ({} events), {} quiet, {} failed",
        s.with_events,
        s.events,
        s.series - s.with_events - s.failed,
        s.failed
    )?;
    let with_events = s.ranking.iter().filter(|r| r.events > 0);
    let shown: Vec<&SeriesSummary> = with_events
        .take(if a.top == 0 { usize::MAX } else { a.top })
        .collect();
    if !shown.is_empty() {
        let width = shown
            .iter()
            .map(|r| r.name.chars().count())
            .max()
            .unwrap_or(6)
            .max(6);
        writeln!(
            out,
            "\n{:>4}  {:<width$}  {:>9}  {:>6}  {:>6}  {:>8}  worst event (peak)",
            "rank", "series", "points", "events", "rarity", "severity"
        )?;
        for (i, r) in shown.iter().enumerate() {
            let Some(w) = &r.worst else { continue };
            writeln!(
                out,
                "{:>4}  {:<width$}  {:>9}  {:>6}  {:>6}  {:>8}  {}",
                i + 1,
                r.name,
                group(r.points),
                r.events,
                w.rarity
                    .map_or_else(|| "-".to_owned(), |x| format!("{x:.2}")),
                num(w.severity),
                time_of(r.time_axis, w.peak_time)
            )?;
        }
        if s.with_events > shown.len() {
            writeln!(
                out,
                "... {} more series with events (--top 0 lists all; --format json gives every \
                 series' events)",
                s.with_events - shown.len()
            )?;
        }
    }
    let failed: Vec<&SeriesSummary> = s.ranking.iter().filter(|r| r.error.is_some()).collect();
    if !failed.is_empty() {
        writeln!(out, "\nfailed ({}):", failed.len())?;
        for r in failed.iter().take(SHOWN_WARNINGS) {
            writeln!(
                out,
                "  {}: {}",
                r.name,
                r.error.as_deref().unwrap_or_default()
            )?;
        }
        if failed.len() > SHOWN_WARNINGS {
            writeln!(out, "  ... and {} more", failed.len() - SHOWN_WARNINGS)?;
        }
    }
    Ok(())
}

/// A time of the summary as the outputs show it: a timestamp, or a row number.
fn time_of(axis: TimeAxis, t: i64) -> String {
    match axis {
        TimeAxis::EpochMillis => tsad_io::format_timestamp(t),
        TimeAxis::Index => t.to_string(),
    }
}

/// 1234567 -> "1,234,567".
fn group(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
