//! The browser-test harness: starts `tsad serve` and chromedriver on free loopback ports, drives
//! headless Chromium through fantoccini, collects the browser console, and on failure saves a
//! screenshot, the console, the page HTML and the server log under `target/browser-artifacts/`.

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use std::future::Future;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub(crate) type Result<T = ()> = anyhow::Result<T>;

const NOT_FOUND: &str =
    "chromium/chromedriver not found (install: apt-get install chromium chromium-driver)";

/// How long one test may take before it is failed (with its artifacts saved).
const TEST_TIMEOUT: Duration = Duration::from_secs(120);
/// Every test's server requires this access token (`tsad serve --token`), so the UI is tested
/// as it runs when bound beyond loopback, CSP included.
const TOKEN: &str = "browser-test-token";
/// Default wait for something to appear on the page.
pub(crate) const WAIT: Duration = Duration::from_secs(20);
/// A JavaScript expression: the error banner's text, trimmed, or "" while it is hidden.
const BANNER_TEXT: &str = "(() => { const b = document.querySelector('[data-testid=error-banner]'); \
     return b && !b.classList.contains('hidden') ? b.textContent.trim() : ''; })()";

/// Chromium shares two cores with the build and the server; one browser at a time keeps the
/// suite stable (and a test's timings honest).
static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Variables that would point the explain/chat endpoints at a real LLM: the tests use offline mode.
const LLM_VARS: [&str; 5] = [
    "TSAD_LLM_BASE_URL",
    "TSAD_LLM_MODEL",
    "TSAD_LLM_API_KEY",
    "TSAD_LLM_TIMEOUT_SECS",
    "GEMINI_API_KEY",
];

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// Chromium and chromedriver, or None (after saying why) when they are missing outside CI.
///
/// # Panics
/// When they are missing and `CI=true`: CI must never skip the browser tests silently.
fn browser_tools() -> Option<(PathBuf, PathBuf)> {
    let chromium = ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|n| on_path(n));
    let driver = on_path("chromedriver");
    match (chromium, driver) {
        (Some(c), Some(d)) => Some((c, d)),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("{NOT_FOUND}; with CI=true a missing browser is a failure, not a skip")
        }
        _ => {
            eprintln!("skipped: {NOT_FOUND}");
            None
        }
    }
}

fn free_port() -> u16 {
    // Port 0 asks the OS for a free one; the listener closes before the server binds it, so a
    // collision is possible (start_server retries).
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("the loopback interface can bind a port")
}

/// A child process, killed when dropped. Children stay in the test's process group, so an
/// interrupted `cargo test` (Ctrl-C, `timeout`) stops them too; Chromium itself is ended by
/// closing the WebDriver session before chromedriver is killed.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(cmd: &mut Command) -> std::io::Result<Proc> {
    cmd.stdin(Stdio::null()).spawn().map(Proc)
}

/// A minimal HTTP/1.1 client (loopback only) for the health check and the chromedriver log
/// endpoint, so the tests need no TLS-capable HTTP crate. chromedriver answers `Connection:
/// close` but keeps the socket open, so the body is read by its length, never to EOF.
pub(crate) async fn http(
    port: u16,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> std::io::Result<(u16, String)> {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        let body = body.unwrap_or("");
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(req.as_bytes()).await?;
        let mut raw = Vec::new();
        let mut buf = [0u8; 16 * 1024];
        loop {
            if let Some(reply) = parse_reply(&raw)? {
                return Ok(reply);
            }
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                // EOF: whatever arrived is the whole reply.
                return parse_reply_at_eof(&raw);
            }
            raw.extend_from_slice(&buf[..n]);
        }
    };
    tokio::time::timeout(Duration::from_secs(15), exchange)
        .await
        .unwrap_or_else(|_| {
            Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("{method} {path} on port {port}: no complete reply in 15 s"),
            ))
        })
}

fn malformed() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, "malformed HTTP reply")
}

/// The reply once `raw` holds all of it (by Content-Length or the chunked terminator).
fn parse_reply(raw: &[u8]) -> std::io::Result<Option<(u16, String)>> {
    let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let rest = &raw[split + 4..];
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(malformed)?;
    let header = |name: &str| {
        head.lines()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()))
    };
    if let Some(len) = header("content-length:") {
        let len: usize = len.parse().map_err(|_| malformed())?;
        return Ok((rest.len() >= len)
            .then(|| (status, String::from_utf8_lossy(&rest[..len]).into_owned())));
    }
    if header("transfer-encoding:").is_some_and(|v| v.contains("chunked")) {
        return Ok(dechunk(rest).map(|body| (status, body)));
    }
    Ok(None)
}

fn parse_reply_at_eof(raw: &[u8]) -> std::io::Result<(u16, String)> {
    if let Some(reply) = parse_reply(raw)? {
        return Ok(reply);
    }
    let text = String::from_utf8_lossy(raw);
    let (head, rest) = text.split_once("\r\n\r\n").ok_or_else(malformed)?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(malformed)?;
    Ok((status, rest.to_owned()))
}

/// A chunked body, or None while its last (empty) chunk has not arrived.
fn dechunk(mut rest: &[u8]) -> Option<String> {
    let mut out = Vec::new();
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n")?;
        let size = std::str::from_utf8(&rest[..line_end]).ok()?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Some(String::from_utf8_lossy(&out).into_owned());
        }
        if rest.len() < size + 2 {
            return None;
        }
        out.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

async fn wait_http_ok(port: u16, path: &str, proc: &mut Proc, what: &str) -> Result<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok((200, body)) = http(port, "GET", path, None).await {
            return Ok(body);
        }
        if let Ok(Some(status)) = proc.0.try_wait() {
            anyhow::bail!("{what} exited early ({status})");
        }
        if Instant::now() > deadline {
            anyhow::bail!("{what} did not answer GET {path} on port {port} within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One browser-log entry, as chromedriver reports it.
#[derive(Debug, Clone)]
pub(crate) struct LogEntry {
    pub(crate) level: String,
    pub(crate) source: String,
    pub(crate) message: String,
}

/// The handle a test body drives: cheap to clone (the WebDriver client is shared).
#[derive(Clone)]
pub(crate) struct Page {
    pub(crate) client: Client,
    /// `http://127.0.0.1:<port>` of the tsad server.
    pub(crate) base: String,
    driver_port: u16,
    session_id: String,
    console: Arc<Mutex<Vec<LogEntry>>>,
    /// Scratch directory for files the test writes (CSV uploads).
    pub(crate) scratch: PathBuf,
}

struct Env {
    page: Page,
    _server: Proc,
    _driver: Proc,
    server_log: PathBuf,
    _tmp: TempDir,
}

/// How a test's server and checks are set up.
#[derive(Debug, Default)]
pub(crate) struct Options {
    /// Serve the UI from this directory (`tsad serve --web-dir`) instead of the embedded copy.
    pub(crate) web_dir: Option<PathBuf>,
    /// Do not fail on JavaScript errors (only the harness's own self-test sets this).
    pub(crate) allow_js_errors: bool,
    /// Environment variables for the server (set after the LLM variables are cleared).
    pub(crate) server_env: Vec<(&'static str, String)>,
}

/// Runs one browser test: skips without Chromium, otherwise starts everything, runs `body`, fails
/// on a JavaScript error logged at any point, and saves artifacts when anything fails.
pub(crate) async fn run<F, Fut>(name: &'static str, body: F)
where
    F: FnOnce(Page) -> Fut,
    Fut: Future<Output = Result> + Send + 'static,
{
    run_with(name, Options::default(), body).await;
}

/// [`run`] with [`Options`].
pub(crate) async fn run_with<F, Fut>(name: &'static str, options: Options, body: F)
where
    F: FnOnce(Page) -> Fut,
    Fut: Future<Output = Result> + Send + 'static,
{
    let Some((chromium, chromedriver)) = browser_tools() else {
        return;
    };
    let _one = ONE_BROWSER.lock().await;
    let started = Instant::now();
    let starting = start(
        &chromium,
        &chromedriver,
        options.web_dir.as_deref(),
        &options.server_env,
    );
    let env = match tokio::time::timeout(Duration::from_secs(90), starting).await {
        Ok(Ok(env)) => env,
        Ok(Err(e)) => panic!("{name}: could not start the server and the browser: {e:#}"),
        Err(_) => panic!("{name}: the server and the browser did not start within 90 s"),
    };
    let page = env.page.clone();
    // A spawned task turns a panic in the body into an error here, so artifacts are still saved.
    let task = tokio::spawn(body(page.clone()));
    let outcome = match tokio::time::timeout(TEST_TIMEOUT, task).await {
        Ok(Ok(Ok(()))) if options.allow_js_errors => Ok(()),
        Ok(Ok(Ok(()))) => page.expect_no_js_errors().await,
        Ok(Ok(Err(e))) => Err(e),
        Ok(Err(join)) => Err(anyhow::anyhow!("the test panicked: {join}")),
        Err(_) => Err(anyhow::anyhow!(
            "timed out after {} s",
            TEST_TIMEOUT.as_secs()
        )),
    };
    if let Err(e) = &outcome {
        let dir = save_artifacts(name, &env).await;
        // Close the session before panicking so Chromium does not outlive the test.
        let _ = env.page.client.clone().close().await;
        drop(env);
        panic!("{name} failed: {e:#}\nartifacts: {}", dir.display());
    }
    let _ = env.page.client.clone().close().await;
    drop(env);
    eprintln!("{name}: ok in {:.1} s", started.elapsed().as_secs_f64());
}

async fn start(
    chromium: &Path,
    chromedriver: &Path,
    web_dir: Option<&Path>,
    server_env: &[(&'static str, String)],
) -> Result<Env> {
    let tmp = tempfile::Builder::new().prefix("tsad-browser-").tempdir()?;
    let data_dir = tmp.path().join("data");
    let profile = tmp.path().join("profile");
    let scratch = tmp.path().join("files");
    std::fs::create_dir_all(&scratch)?;
    let server_log = tmp.path().join("server.log");

    // The server, on a free port (retried if another process grabbed it first).
    let mut server = None;
    let mut last_err = None;
    for _ in 0..3 {
        let port = free_port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tsad"));
        cmd.args([
            "serve",
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--token",
            TOKEN,
            "--data-dir",
        ])
        .arg(&data_dir)
        .env("RUST_LOG", "info,tower_http=warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&server_log)?);
        for var in LLM_VARS {
            cmd.env_remove(var);
        }
        for (var, value) in server_env {
            cmd.env(var, value);
        }
        if let Some(dir) = web_dir {
            cmd.arg("--web-dir").arg(dir);
        }
        let mut proc = spawn(&mut cmd)?;
        match wait_http_ok(port, "/healthz", &mut proc, "tsad serve").await {
            Ok(_) => {
                server = Some((proc, port));
                break;
            }
            Err(e) => last_err = Some(e),
        }
    }
    let Some((server, port)) = server else {
        let log = std::fs::read_to_string(&server_log).unwrap_or_default();
        anyhow::bail!(
            "{:#}\nserver log:\n{log}",
            last_err.unwrap_or_else(|| anyhow::anyhow!("no attempt"))
        );
    };

    // chromedriver, then a fresh headless Chromium session.
    let driver_port = free_port();
    let mut driver = spawn(
        Command::new(chromedriver)
            .arg(format!("--port={driver_port}"))
            .stdout(std::fs::File::create(tmp.path().join("chromedriver.log"))?)
            .stderr(Stdio::null()),
    )?;
    let status = wait_http_ok(driver_port, "/status", &mut driver, "chromedriver").await?;
    anyhow::ensure!(
        status.contains("\"ready\":true"),
        "chromedriver not ready: {status}"
    );

    let caps = json!({
        "browserName": "chrome",
        "goog:loggingPrefs": {"browser": "ALL"},
        "goog:chromeOptions": {
            "binary": chromium,
            "args": [
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--disable-extensions",
                "--disable-default-apps",
                "--no-default-browser-check",
                "--password-store=basic",
                "--window-size=1280,1000",
                format!("--user-data-dir={}", profile.display()),
            ],
        },
    });
    let Value::Object(caps) = caps else {
        unreachable!("json! of an object literal is an object")
    };
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{driver_port}"))
        .await?;
    let session_id = client
        .session_id()
        .await?
        .ok_or_else(|| anyhow::anyhow!("chromedriver gave no session id"))?;
    // As a person opens the URL `tsad serve` prints: the server moves the token into a cookie,
    // which every later page and API request of the UI carries.
    client
        .goto(&format!("http://127.0.0.1:{port}/?token={TOKEN}"))
        .await?;
    let landed = client.current_url().await?;
    anyhow::ensure!(
        landed.query().is_none(),
        "the token should leave the address bar, got {landed}"
    );
    let page = Page {
        client,
        base: format!("http://127.0.0.1:{port}"),
        driver_port,
        session_id,
        console: Arc::default(),
        scratch,
    };
    Ok(Env {
        page,
        _server: server,
        _driver: driver,
        server_log,
        _tmp: tmp,
    })
}

/// `target/browser-artifacts/<test>/`: screenshot.png, console.log, page.html, server.log.
async fn save_artifacts(name: &str, env: &Env) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap_or(Path::new("target"))
        .join("browser-artifacts")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::create_dir_all(&dir);
    let page = &env.page;
    if let Ok(png) = page.client.screenshot().await {
        let _ = std::fs::write(dir.join("screenshot.png"), png);
    }
    let _ = page.pull_console().await;
    let console: String = page
        .console_entries()
        .iter()
        .map(|e| format!("[{}] {} {}\n", e.level, e.source, e.message))
        .collect();
    let _ = std::fs::write(dir.join("console.log"), console);
    if let Ok(html) = page.client.source().await {
        let _ = std::fs::write(dir.join("page.html"), html);
    }
    let _ = std::fs::copy(&env.server_log, dir.join("server.log"));
    dir
}

/// A CSS selector for a `data-testid`.
pub(crate) fn tid(testid: &str) -> String {
    format!("[data-testid=\"{testid}\"]")
}

impl Page {
    /// Opens a path of the tsad server as a fresh page load (never a same-document hash change)
    /// and waits until the page has wired itself.
    pub(crate) async fn open(&self, path: &str) -> Result {
        self.client.goto("about:blank").await?;
        self.client.goto(&format!("{}{path}", self.base)).await?;
        self.wait_until(
            "the page to be ready (body[data-ready])",
            WAIT,
            "document.body.dataset.ready === 'true'",
        )
        .await
    }

    pub(crate) async fn find(&self, testid: &str) -> Result<Element> {
        Ok(self.client.find(Locator::Css(&tid(testid))).await?)
    }

    pub(crate) async fn find_all(&self, testid: &str) -> Result<Vec<Element>> {
        Ok(self.client.find_all(Locator::Css(&tid(testid))).await?)
    }

    /// Clicks an element as a user would (WebDriver click: it must be visible and enabled).
    ///
    /// First the element is brought to the middle of the view and the click waits (up to 5 s)
    /// until nothing covers it: a smooth scroll the page started (to a finished run's results)
    /// can still be moving when the test clicks, and WebDriver then hits the sticky top bar
    /// instead ("element click intercepted", seen once in CI). An element that stays covered
    /// or hidden is clicked anyway, so WebDriver's own error says why it failed.
    pub(crate) async fn click(&self, testid: &str) -> Result {
        let element = self.find(testid).await?;
        let uncovered = format!(
            "(() => {{ const e = document.querySelector({sel:?}); if (!e) return false; \
             e.scrollIntoView({{ block: 'center', inline: 'nearest', behavior: 'instant' }}); \
             const r = e.getBoundingClientRect(); \
             const at = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2); \
             return !!at && (at === e || e.contains(at)); }})()",
            sel = tid(testid)
        );
        let _ = self
            .wait_until(
                &format!("`{testid}` to be uncovered"),
                Duration::from_secs(5),
                &uncovered,
            )
            .await;
        element.click().await?;
        Ok(())
    }

    /// Runs `script` (a function body; `arguments` holds `args`) and returns its value; a returned
    /// promise is awaited.
    pub(crate) async fn js(&self, script: &str, args: Vec<Value>) -> Result<Value> {
        Ok(self.client.execute(script, args).await?)
    }

    /// Polls the JavaScript expression `condition` until it is truthy.
    pub(crate) async fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        condition: &str,
    ) -> Result {
        self.wait_for(what, timeout, condition).await.map(|_| ())
    }

    /// Polls the JavaScript expression `expr` until it is neither null, undefined nor false, and
    /// returns it. The error says what was awaited and what the page shows in its error banner.
    pub(crate) async fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        expr: &str,
    ) -> Result<Value> {
        let script = format!(
            "return (() => {{ try {{ return ({expr}); }} catch (e) {{ return null; }} }})() ?? null;"
        );
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.js(&script, vec![]).await?;
            if !(v.is_null() || v == Value::Bool(false)) {
                return Ok(v);
            }
            if Instant::now() > deadline {
                let banner = self.banner().await.unwrap_or_default();
                anyhow::bail!(
                    "waited {} s for {what} (`{expr}`); error banner: {banner:?}",
                    timeout.as_secs()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The error banner's text, or "" when it is hidden.
    pub(crate) async fn banner(&self) -> Result<String> {
        let v = self.js(&format!("return {BANNER_TEXT};"), vec![]).await?;
        Ok(v.as_str().unwrap_or("").to_owned())
    }

    /// Waits for the error banner to show (`what` names why) and returns its text.
    pub(crate) async fn wait_banner(&self, what: &str) -> Result<String> {
        let v = self
            .wait_for(what, WAIT, &format!("{BANNER_TEXT} || null"))
            .await?;
        Ok(v.as_str().unwrap_or("").to_owned())
    }

    /// Calls the REST API from the page (same origin) and returns (status, JSON body or null).
    pub(crate) async fn api(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value)> {
        let v = self
            .js(
                "const [method, path, body] = arguments;\
                 const init = {method, headers: {'Content-Type': 'application/json'}};\
                 if (body !== null) init.body = JSON.stringify(body);\
                 return fetch(path, init).then(async (r) => {\
                   const text = await r.text();\
                   let json = null; try { json = JSON.parse(text); } catch (e) {}\
                   return {status: r.status, json};\
                 });",
                vec![json!(method), json!(path), body.unwrap_or(Value::Null)],
            )
            .await?;
        let status = v["status"].as_u64().unwrap_or(0) as u16;
        Ok((status, v["json"].clone()))
    }

    /// Moves new browser-log entries from chromedriver into this page's console record.
    pub(crate) async fn pull_console(&self) -> Result {
        let path = format!("/session/{}/se/log", self.session_id);
        let (status, body) = http(
            self.driver_port,
            "POST",
            &path,
            Some(r#"{"type":"browser"}"#),
        )
        .await?;
        anyhow::ensure!(
            status == 200,
            "chromedriver log endpoint answered {status}: {body}"
        );
        let v: Value = serde_json::from_str(&body)?;
        let entries = v["value"].as_array().cloned().unwrap_or_default();
        let mut console = self.console.lock().unwrap_or_else(|p| p.into_inner());
        console.extend(entries.iter().map(|e| LogEntry {
            level: e["level"].as_str().unwrap_or("").to_owned(),
            source: e["source"].as_str().unwrap_or("").to_owned(),
            message: e["message"].as_str().unwrap_or("").to_owned(),
        }));
        Ok(())
    }

    pub(crate) fn console_entries(&self) -> Vec<LogEntry> {
        self.console
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Uncaught exceptions and unhandled rejections so far. Failed HTTP replies (an expected
    /// 422) are logged by Chromium with source "network" and are not JavaScript errors.
    pub(crate) async fn js_errors(&self) -> Result<Vec<String>> {
        self.pull_console().await?;
        Ok(self
            .console_entries()
            .into_iter()
            .filter(|e| e.level == "SEVERE" && e.source == "javascript")
            .map(|e| e.message)
            .collect())
    }

    pub(crate) async fn expect_no_js_errors(&self) -> Result {
        let errors = self.js_errors().await?;
        anyhow::ensure!(
            errors.is_empty(),
            "JavaScript errors in the page:\n  {}",
            errors.join("\n  ")
        );
        Ok(())
    }

    /// Writes a file into the scratch directory and returns its absolute path.
    pub(crate) fn write_file(&self, name: &str, contents: &str) -> Result<PathBuf> {
        let path = self.scratch.join(name);
        std::fs::write(&path, contents)?;
        Ok(path)
    }

    /// Uploads a file through the page's file input, as choosing it in the file picker does.
    pub(crate) async fn upload(&self, path: &Path) -> Result {
        let input = self.find("file-input").await?;
        input
            .send_keys(
                path.to_str()
                    .ok_or_else(|| anyhow::anyhow!("non-UTF-8 path"))?,
            )
            .await?;
        Ok(())
    }
}
