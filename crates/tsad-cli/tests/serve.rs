//! `tsad serve` flags from issue 12: the access token (`--token`, `TSAD_TOKEN`, generated
//! beyond loopback), the warning for a non-loopback bind, and a damaged database reported once.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A child killed when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("the loopback interface can bind a port")
}

fn tsad_serve(args: &[&str], env: &[(&str, &str)]) -> (Server, mpsc::Receiver<String>) {
    let data = tempfile::tempdir().unwrap().keep();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tsad"));
    cmd.arg("serve")
        .args(args)
        .arg("--data-dir")
        .arg(&data)
        .env_remove("TSAD_TOKEN")
        .env_remove("TSAD_BIND")
        .env_remove("TSAD_ALLOWED_HOSTS")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (Server(child), rx)
}

/// Stderr lines until one contains `needle` (20 s at most).
fn lines_until(rx: &mpsc::Receiver<String>, needle: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut lines = Vec::new();
    while Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            let done = line.contains(needle);
            lines.push(line);
            if done {
                return lines;
            }
        }
    }
    panic!(
        "no line with {needle:?} within 20 s; got:\n{}",
        lines.join("\n")
    );
}

/// GET `path` on loopback; the status code, retried while the server starts.
fn status_of(port: u16, path: &str, auth: Option<&str>) -> u16 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            let auth = auth.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
            let req = format!(
                "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{auth}Connection: close\r\n\r\n"
            );
            s.write_all(req.as_bytes()).unwrap();
            let mut reply = String::new();
            let _ = s.read_to_string(&mut reply);
            if let Some(code) = reply.split_whitespace().nth(1) {
                return code.parse().unwrap();
            }
        }
        assert!(Instant::now() < deadline, "no answer on port {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn serve_logs_plain_text_when_stderr_is_not_a_terminal() {
    let port = free_port();
    let bind = format!("127.0.0.1:{port}");
    let (_server, rx) = tsad_serve(&["--bind", &bind], &[]);
    let text = lines_until(&rx, "Listening on").join("\n");
    assert!(text.contains("Opened the store"), "{text}");
    assert!(
        !text.contains('\u{1b}'),
        "no colour codes in a pipe: {text:?}"
    );
}

#[test]
fn serve_beyond_loopback_warns_generates_a_token_and_prints_its_url() {
    let port = free_port();
    let bind = format!("0.0.0.0:{port}");
    let (_server, rx) = tsad_serve(&["--bind", &bind], &[]);
    let lines = lines_until(&rx, "?token=");
    let text = lines.join("\n");
    assert!(
        text.contains(&format!(
            "warning: tsad listens on {bind}, beyond this machine"
        )),
        "{text}"
    );
    let url = lines.last().unwrap().trim();
    let token = url
        .strip_prefix(&format!("http://127.0.0.1:{port}/?token="))
        .unwrap_or_else(|| panic!("{url}"));
    assert_eq!(token.len(), 32, "{url}");
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()), "{url}");

    assert_eq!(status_of(port, "/healthz", None), 200);
    assert_eq!(status_of(port, "/api/v1/datasets", None), 401);
    assert_eq!(status_of(port, "/api/v1/datasets", Some(token)), 200);
    assert_eq!(status_of(port, &format!("/?token={token}"), None), 303);
}

#[test]
fn serve_takes_the_token_from_the_environment_and_does_not_echo_it() {
    let port = free_port();
    let bind = format!("127.0.0.1:{port}");
    let secret = "my-chosen-secret-42";
    let (_server, rx) = tsad_serve(&["--bind", &bind], &[("TSAD_TOKEN", secret)]);
    let text = lines_until(&rx, "?token=").join("\n");
    assert!(text.contains("?token=<your TSAD_TOKEN>"), "{text}");
    assert!(!text.contains(secret), "{text}");
    assert!(
        !text.contains("warning:"),
        "loopback needs no warning: {text}"
    );
    assert_eq!(status_of(port, "/api/v1/datasets", None), 401);
    assert_eq!(status_of(port, "/api/v1/datasets", Some(secret)), 200);
}

#[test]
fn serve_rejects_a_short_token() {
    let out = Command::new(env!("CARGO_BIN_EXE_tsad"))
        .args(["serve", "--token", "abc", "--data-dir"])
        .arg(tempfile::tempdir().unwrap().path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("at least 8 characters"), "{err}");
}

/// Issue 12, item 16: the cause once, the file's path, and what to do.
#[test]
fn serve_with_a_damaged_database_says_so_once_with_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("tsad.db");
    std::fs::write(&db, vec![b'x'; 8192]).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tsad"))
        .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("not a database").count(), 1, "{err}");
    assert!(err.contains(&format!("`{}`", db.display())), "{err}");
    assert!(err.contains("Restore it from a backup"), "{err}");
    assert!(err.contains(".damaged"), "{err}");
}
