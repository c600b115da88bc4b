//! A bounded load test (issue 12): starts the app in-process on a loopback port with an
//! in-memory store, then for a fixed time has N keep-alive clients call `POST /api/v1/detect`
//! (1,000 points, `mad`) and `GET /api/v1/runs/{id}/points` (a 100,000-point demo run, 2,000
//! points per answer), and reports requests/s and latency percentiles per endpoint.
//!
//! `cargo run --release -p tsad-server --example http_load -- [SECONDS] [CLIENTS]` (defaults 10, 4),
//! or `bench/load.sh`. Loopback only: it never connects anywhere else.

use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// One keep-alive HTTP/1.1 connection: sends a request, reads the reply by Content-Length.
struct Conn {
    stream: TcpStream,
    port: u16,
    buf: Vec<u8>,
}

impl Conn {
    async fn open(port: u16) -> Result<Self> {
        let stream = TcpStream::connect(("127.0.0.1", port)).await?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            port,
            buf: Vec::with_capacity(1 << 20),
        })
    }

    async fn call(&mut self, method: &str, path: &str, body: &str) -> Result<(u16, Vec<u8>)> {
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            self.port,
            body.len()
        );
        self.stream.write_all(req.as_bytes()).await?;
        self.buf.clear();
        let mut chunk = [0u8; 64 * 1024];
        loop {
            if let Some(split) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buf[..split]).to_ascii_lowercase();
                let status: u16 = head
                    .split_whitespace()
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .ok_or("malformed reply")?;
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .ok_or("reply without content-length")?;
                if self.buf.len() >= split + 4 + len {
                    return Ok((status, self.buf[split + 4..split + 4 + len].to_vec()));
                }
            }
            let n = self.stream.read(&mut chunk).await?;
            if n == 0 {
                return Err("connection closed".into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

/// Drives one endpoint with `clients` connections for `seconds`; prints one line.
async fn drive(
    name: &str,
    port: u16,
    clients: usize,
    seconds: f64,
    method: &'static str,
    path: Arc<str>,
    body: Arc<str>,
) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (path, body) = (path.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(port).await?;
            let mut latencies = Vec::new();
            let mut errors = 0usize;
            while Instant::now() < deadline {
                let start = Instant::now();
                let (status, _) = conn.call(method, &path, &body).await?;
                latencies.push(start.elapsed().as_secs_f64() * 1000.0);
                if status != 200 {
                    errors += 1;
                }
            }
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>((latencies, errors))
        }));
    }
    let started = Instant::now();
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await??;
        all.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_by(f64::total_cmp);
    println!(
        "{name:<28} {:>8.1} req/s  p50 {:>7.2} ms  p90 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms  \
         ({} requests, {errors} not 200)",
        all.len() as f64 / elapsed,
        percentile(&all, 0.5),
        percentile(&all, 0.9),
        percentile(&all, 0.99),
        all.last().copied().unwrap_or(f64::NAN),
        all.len()
    );
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let seconds: f64 = args.next().map_or(Ok(10.0), |s| s.parse())?;
    let clients: usize = args.next().map_or(Ok(4), |s| s.parse())?;
    if !(0.5..=600.0).contains(&seconds) || !(1..=64).contains(&clients) {
        return Err("SECONDS must be in 0.5..=600 and CLIENTS in 1..=64".into());
    }
    let store = Arc::new(tsad_store::SqliteStorage::open_in_memory()?);
    let config = tsad_server::ServerConfig {
        // Enough detect slots that the bound under test is the CPU, not a 429.
        max_queue: 64,
        ..tsad_server::ServerConfig::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let app = tsad_server::app(tsad_server::AppState::new(store, config));
    tokio::spawn(async move { axum::serve(listener, app).await });

    // A 100,000-point demo run for the points endpoint.
    let mut setup = Conn::open(port).await?;
    let (status, ds) = setup
        .call("POST", "/api/v1/datasets/demo", r#"{"points": 100000}"#)
        .await?;
    if status != 201 {
        return Err(format!("demo: {status} {}", String::from_utf8_lossy(&ds)).into());
    }
    let ds: serde_json::Value = serde_json::from_slice(&ds)?;
    let run_req = serde_json::json!({"dataset_id": ds["id"], "detector": {"kind": "mad"}});
    let (status, run) = setup
        .call("POST", "/api/v1/runs", &run_req.to_string())
        .await?;
    if status != 202 {
        return Err(format!("run: {status} {}", String::from_utf8_lossy(&run)).into());
    }
    let run: serde_json::Value = serde_json::from_slice(&run)?;
    let run_id = run["id"].as_str().ok_or("run without id")?.to_owned();
    loop {
        let (_, body) = setup
            .call("GET", &format!("/api/v1/runs/{run_id}"), "")
            .await?;
        let v: serde_json::Value = serde_json::from_slice(&body)?;
        match v["status"].as_str() {
            Some("succeeded") => break,
            Some("failed" | "cancelled") => return Err(format!("run: {v}").into()),
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }

    let values: Vec<f64> = (0..1000)
        .map(|i| (i as f64 * std::f64::consts::TAU / 24.0).sin() + if i == 700 { 5.0 } else { 0.0 })
        .collect();
    let detect = serde_json::json!({"values": values, "detector": {"kind": "mad"}}).to_string();
    println!(
        "tsad load: {clients} keep-alive clients per endpoint, {seconds} s each, loopback port {port}"
    );
    drive(
        "POST /api/v1/detect (1k pts)",
        port,
        clients,
        seconds,
        "POST",
        Arc::from("/api/v1/detect"),
        Arc::from(detect.as_str()),
    )
    .await?;
    drive(
        "GET points (100k run, 2k)",
        port,
        clients,
        seconds,
        "GET",
        Arc::from(format!("/api/v1/runs/{run_id}/points?max_points=2000").as_str()),
        Arc::from(""),
    )
    .await?;
    Ok(())
}
