//! `tsad demo`: the synthetic demo series with its labels, as CSV.

use crate::Outcome;
use crate::args::DemoArgs;
use anyhow::{Context, Result};
use std::io::Write;
use tsad_io::demo::{DemoParams, generate, write_csv};

pub(crate) fn run(a: DemoArgs) -> Result<Outcome> {
    let params = DemoParams {
        points: a.points,
        seed: a.seed,
        ..DemoParams::default()
    };
    let demo = generate(&params)?;
    match &a.output {
        Some(path) => {
            let file = std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            write_csv(&demo, std::io::BufWriter::new(file))
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!(
                "wrote {} points with {} injected anomalies to {}",
                demo.series.len(),
                demo.anomalies.len(),
                path.display()
            );
            // The first tenth holds no anomaly: the normal part to fit on.
            eprintln!(
                "its first {} rows are normal; fit on them with: tsad detect {} --train-rows {}",
                demo.series.len() / 10,
                path.display(),
                demo.series.len() / 10
            );
        }
        None => {
            let mut out = std::io::stdout().lock();
            write_csv(&demo, &mut out)?;
            out.flush()?;
        }
    }
    Ok(Outcome::Clean)
}
