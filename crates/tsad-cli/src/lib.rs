//! The `tsad` command line: argument parsing and one module per subcommand.
//!
//! `main_with` runs a command and maps its outcome to the exit code: 0 when no anomaly was
//! found (or the command is not a detection), 1 when anomalies were found, 2 on error, with the
//! whole cause chain printed. A closed stdout (`tsad detect f.csv | head`) is not an error.

mod args;
mod bench;
mod demo;
mod detect;
mod detectors;
mod eval;
mod fleet;
mod progress;
mod serve;

use args::{Cli, Command};
use clap::Parser;
use std::ffi::OsString;
use std::process::ExitCode;

/// What a command found, for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Nothing anomalous (or nothing to report).
    Clean,
    /// Anomalies were found.
    Anomalies,
}

/// Runs the command line `args` (including the program name) and returns the exit code.
pub fn main_with<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version go to stdout with 0; usage errors to stderr with 2.
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let result = match cli.command {
        Command::Detect(a) => detect::run(*a),
        Command::Fit(a) => detect::fit(a),
        Command::Demo(a) => demo::run(a),
        Command::Detectors(a) => detectors::run(a),
        Command::Serve(a) => serve::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Eval(a) => eval::run(a),
    };
    match result {
        Ok(Outcome::Clean) => ExitCode::SUCCESS,
        Ok(Outcome::Anomalies) => ExitCode::from(1),
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
