//! Writes the bench's demo CSV to a path, or times `read_path` on a path (wall time, and the
//! mean CPU time of all threads), so tsad and `bench/polars_ingest.py` read the very same file
//! side by side.
//!
//! ```text
//! cargo run --release -p tsad-io --example ingest_file -- write ROWS PATH
//! cargo run --release -p tsad-io --example ingest_file -- time PATH [REPEATS]
//! ```

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;
use tsad_io::demo::{DemoParams, generate, write_csv};
use tsad_io::{IngestOptions, read_path};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["write", rows, path] => {
            let Ok(points) = rows.parse() else {
                eprintln!("ROWS must be a number, not {rows}");
                return ExitCode::from(2);
            };
            let demo = match generate(&DemoParams {
                points,
                ..DemoParams::default()
            }) {
                Ok(d) => d,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(2);
                }
            };
            let written = std::fs::File::create(path).and_then(|f| write_csv(&demo, f));
            if let Err(e) = written {
                eprintln!("{path}: {e}");
                return ExitCode::from(2);
            }
            ExitCode::SUCCESS
        }
        ["time", path, rest @ ..] => {
            let repeats: usize = rest.first().and_then(|r| r.parse().ok()).unwrap_or(5);
            let mut secs = Vec::with_capacity(repeats);
            let mut rows = 0;
            let cpu_before = cpu_seconds();
            for _ in 0..repeats.max(1) {
                let start = Instant::now();
                match read_path(Path::new(path), &IngestOptions::default()) {
                    Ok(got) => rows = got.diagnostics.rows_read,
                    Err(e) => {
                        eprintln!("{e}");
                        return ExitCode::from(2);
                    }
                }
                secs.push(start.elapsed().as_secs_f64());
            }
            let cpu = match (cpu_before, cpu_seconds()) {
                (Some(a), Some(b)) => format!("  cpu {:.3} s", (b - a) / secs.len() as f64),
                _ => String::new(),
            };
            secs.sort_by(f64::total_cmp);
            let median = secs[secs.len() / 2];
            println!(
                "tsad read_path  rows={rows}  median {median:.3} s  min {:.3} s  ({:.2} M rows/s){cpu}",
                secs[0],
                rows as f64 / median / 1e6
            );
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("usage: ingest_file write ROWS PATH | ingest_file time PATH [REPEATS]");
            ExitCode::from(2)
        }
    }
}

/// CPU seconds this process used so far, all threads (Linux: `/proc/self/stat`, in clock ticks
/// of 1/100 s), for the mean CPU time a read takes; `None` elsewhere.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}
