//! The `tsad` binary: parses arguments and hands over to `tsad_cli`. Exit codes: 0 = no
//! anomaly found, 1 = anomalies found, 2 = error.

use std::process::ExitCode;

fn main() -> ExitCode {
    tsad_cli::main_with(std::env::args_os())
}
