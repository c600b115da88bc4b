//! `tsad serve`: the web UI and REST API.

use crate::Outcome;
use crate::args::ServeArgs;
use anyhow::{Context, Result};
use tsad_server::ServerConfig;

pub(crate) fn run(a: ServeArgs) -> Result<Outcome> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,tower_http=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let config = ServerConfig {
        bind: a.bind,
        data_dir: a.data_dir,
        max_upload_bytes: a.max_upload_mb.saturating_mul(1024 * 1024),
        max_jobs: a.max_jobs,
        max_queue: a.max_queue,
        web_dir: a.web_dir,
        ..ServerConfig::default()
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let served = runtime.block_on(tsad_server::serve(config));
    // `serve` has already marked runs still computing as interrupted; don't wait for their
    // blocking tasks (a long fit may not check its cancel flag for minutes).
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    served.context("the server stopped with an error")?;
    Ok(Outcome::Clean)
}
