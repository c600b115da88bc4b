//! Runs the server with its defaults until Ctrl-C: `cargo run -p tsad-server --example serve
//! [BIND] [DATA_DIR] [WEB_DIR]` (the `tsad serve` command does the same with flags).

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,tower_http=info".into()),
        )
        .init();
    let mut args = std::env::args().skip(1);
    let mut config = tsad_server::ServerConfig::default();
    if let Some(bind) = args.next() {
        match bind.parse() {
            Ok(addr) => config.bind = addr,
            Err(e) => {
                eprintln!("error: bad bind address `{bind}`: {e}");
                return std::process::ExitCode::from(2);
            }
        }
    }
    if let Some(dir) = args.next() {
        config.data_dir = dir.into();
    }
    config.web_dir = args.next().map(Into::into);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let outcome = runtime.block_on(tsad_server::serve(config));
    // Do not wait for a detector that ignores its cancel flag (see `serve`'s docs).
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::from(2)
        }
    }
}
