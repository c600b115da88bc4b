//! Loads one CSV and prints its size and diagnostics; used to measure peak memory, e.g.
//! `/usr/bin/time -v cargo run --release -p tsad-io --example load -- big.csv`.
//! With `--demo N OUT` it first writes an N-point demo CSV to OUT.

use std::path::Path;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, n, out] = args.as_slice()
        && flag == "--demo"
    {
        let demo = tsad_io::demo::generate(&tsad_io::demo::DemoParams {
            points: n.parse()?,
            ..Default::default()
        })?;
        tsad_io::demo::write_csv(&demo, std::fs::File::create(out)?)?;
        return Ok(());
    }
    let Some(path) = args.first() else {
        return Err("usage: load FILE.csv | load --demo POINTS OUT.csv".into());
    };
    let start = std::time::Instant::now();
    let got = tsad_io::read_path(Path::new(path), &Default::default())?;
    let secs = start.elapsed().as_secs_f64();
    let d = &got.diagnostics;
    println!(
        "{} points in {secs:.2} s ({:.2} M rows/s); rows read {}, missing {}, rejected {}, \
         duplicates {}, sorted {}, gaps {}, time format {}",
        got.series.len(),
        d.rows_read as f64 / secs / 1e6,
        d.rows_read,
        d.missing_values,
        d.rejected,
        d.duplicates,
        d.sorted,
        d.gaps.count,
        d.time_format
    );
    Ok(())
}
