//! `tsad serve`: the web UI and REST API.

use crate::Outcome;
use crate::args::ServeArgs;
use anyhow::{Context, Result};
use tsad_server::{AccessToken, ServerConfig};

pub(crate) fn run(a: ServeArgs) -> Result<Outcome> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,tower_http=info".into()),
        )
        .with_writer(std::io::stderr)
        // Colour codes only on a terminal: a log file or a pipe gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let beyond_loopback = !tsad_server::is_loopback(&a.bind);
    let (token, generated) = match a.token.filter(|t| !t.is_empty()) {
        Some(t) => (
            Some(AccessToken::new(t).map_err(anyhow::Error::msg)?),
            false,
        ),
        None if beyond_loopback => (Some(AccessToken::generate()), true),
        None => (None, false),
    };
    announce(&a.bind, token.as_ref(), generated);
    let config = ServerConfig {
        bind: a.bind,
        data_dir: a.data_dir,
        max_upload_bytes: a.max_upload_mb.saturating_mul(1024 * 1024),
        max_jobs: a.max_jobs,
        max_queue: a.max_queue,
        web_dir: a.web_dir,
        token,
        allowed_hosts: a.allowed_hosts,
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

/// Warns when other machines can connect, and prints the URL that opens the UI with the token
/// (as notebook servers do). A token the user chose is not echoed.
fn announce(bind: &std::net::SocketAddr, token: Option<&AccessToken>, generated: bool) {
    if !tsad_server::is_loopback(bind) {
        eprintln!(
            "warning: tsad listens on {bind}, beyond this machine: anyone who can reach it and \
             has the access token can read and change its data (HTTP, not encrypted; put a TLS \
             proxy in front on untrusted networks)"
        );
    }
    let Some(token) = token else { return };
    let host = if bind.ip().is_unspecified() {
        "127.0.0.1".to_owned()
    } else {
        match bind.ip() {
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
            ip => ip.to_string(),
        }
    };
    let shown = if generated {
        token.expose()
    } else {
        "<your TSAD_TOKEN>"
    };
    eprintln!(
        "Open the web UI with its access token:\n    http://{host}:{}/?token={shown}",
        bind.port()
    );
    if bind.ip().is_unspecified() {
        eprintln!(
            "    (from other machines, use this machine's address instead of {host}; a DNS \
             name needs --allowed-host NAME)"
        );
    }
}
