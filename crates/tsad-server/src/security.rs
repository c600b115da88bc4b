//! Security middleware: the access token, Host and Origin checks, the JSON content-type rule,
//! the URI length limit, and the response headers every answer carries (CSP and friends).
//!
//! One function, [`guard`], runs before every route, so handlers never check any of this.

use crate::error::ApiError;
use crate::state::AppState;
use axum::body::{Body, HttpBody};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::{IpAddr, SocketAddr};

/// Longest request target (path and query) we answer; longer ones get 414 in the JSON shape.
/// (Hyper itself answers 414 with an empty body above 64 KiB, before any route runs.)
pub(crate) const MAX_URI_BYTES: usize = 8 * 1024;

/// Paths open without the token: liveness and metrics carry no data.
const OPEN_PATHS: [&str; 2] = ["/healthz", "/metrics"];

// The UI loads only its own scripts; Plotly sets inline styles on the elements it draws, so
// styles may be inline. Images are its own, `data:` (the favicon) and `blob:` (PNG export).
/// The `Content-Security-Policy` of every response.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; \
     connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

/// The access token: compared in constant time, never printed by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken(String);

impl AccessToken {
    /// A token with this text.
    ///
    /// # Errors
    ///
    /// When the text is shorter than 8 characters or holds characters other than ASCII
    /// letters, digits, `-`, `_` and `.` (it travels in URLs, cookies and headers).
    pub fn new(text: impl Into<String>) -> Result<Self, String> {
        let text = text.into();
        if text.len() < 8 {
            return Err("the access token must have at least 8 characters".into());
        }
        if !text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            return Err(
                "the access token may hold only ASCII letters, digits, '-', '_' and '.'".into(),
            );
        }
        Ok(AccessToken(text))
    }

    /// A fresh random token: 128 bits from the operating system's generator, as 32 hex digits.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 16];
        rand::fill(&mut bytes[..]);
        AccessToken(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// The token's text (to print the URL that carries it).
    pub fn expose(&self) -> &str {
        &self.0
    }

    fn matches(&self, given: &str) -> bool {
        // Constant time in the token's content, so timing does not reveal a prefix.
        let (a, b) = (self.0.as_bytes(), given.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessToken(<redacted>)")
    }
}

/// True for addresses only this machine can reach.
pub fn is_loopback(addr: &SocketAddr) -> bool {
    addr.ip().is_loopback()
}

/// The cookie that carries the token for the web UI (per port: cookies ignore ports).
fn cookie_name(state: &AppState) -> String {
    format!("tsad_token_{}", state.config().bind.port())
}

/// Checks every request: URI length, Host, token, Origin and content type, in that order.
pub(crate) async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if req.uri().to_string().len() > MAX_URI_BYTES {
        return ApiError::new(
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            format!(
                "the request URI is longer than {MAX_URI_BYTES} bytes; send long data in the body"
            ),
        )
        .into_response();
    }
    if let Some(host) = host_of(&req)
        && !host_allowed(&state, &host)
    {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "host_not_allowed",
            format!(
                "the Host `{}` is not an address of this server; if you reach tsad under this \
                 name, start it with --allowed-host {}",
                shorten(&host),
                shorten(host_name(&host))
            ),
        )
        .into_response();
    }
    if let Some(token) = &state.config().token
        && !OPEN_PATHS.contains(&req.uri().path())
    {
        match authenticate(&state, token, &req) {
            Auth::Ok => {}
            Auth::FromQuery if is_page_load(&req) => return set_cookie_and_redirect(&state, &req),
            Auth::FromQuery => {}
            Auth::Missing => return unauthorized(&req),
        }
    }
    let method = req.method().clone();
    let state_changing = !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS);
    if state_changing && let Err(e) = check_origin(req.headers()) {
        return e.into_response();
    }
    if state_changing
        && req.uri().path().starts_with("/api/")
        && let Err(e) = check_content_type(&req)
    {
        return e.into_response();
    }
    next.run(req).await
}

/// The Host header (or the URI's authority under HTTP/2), if any.
fn host_of(req: &Request) -> Option<String> {
    req.headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| req.uri().authority().map(|a| a.as_str().to_owned()))
}

/// `example.com:5001` -> `example.com`, `[::1]:5001` -> `::1`.
fn host_name(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

fn shorten(s: &str) -> String {
    if s.chars().count() > 80 {
        format!("{}...", s.chars().take(80).collect::<String>())
    } else {
        s.to_owned()
    }
}

/// Loopback names, the bound address, any IP literal when bound to every interface (DNS
/// rebinding needs a name), and the configured `--allowed-host` names (`*` allows any).
fn host_allowed(state: &AppState, host: &str) -> bool {
    let config = state.config();
    let name = host_name(host).trim_end_matches('.').to_ascii_lowercase();
    if config
        .allowed_hosts
        .iter()
        .any(|h| h == "*" || h.eq_ignore_ascii_case(&name))
    {
        return true;
    }
    if name == "localhost" || name.ends_with(".localhost") {
        return true;
    }
    match name.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback() || ip == config.bind.ip() || config.bind.ip().is_unspecified(),
        Err(_) => false,
    }
}

enum Auth {
    Ok,
    /// The token came in the `token` query parameter.
    FromQuery,
    Missing,
}

fn authenticate(state: &AppState, token: &crate::AccessToken, req: &Request) -> Auth {
    let headers = req.headers();
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    if bearer.is_some_and(|b| token.matches(b)) {
        return Auth::Ok;
    }
    let name = cookie_name(state);
    let from_cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .any(|(k, v)| k == name && token.matches(v));
    if from_cookie {
        return Auth::Ok;
    }
    if query_token(req.uri()).is_some_and(|q| token.matches(&q)) {
        return Auth::FromQuery;
    }
    Auth::Missing
}

fn query_token(uri: &Uri) -> Option<String> {
    uri.query()?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "token")
        .map(|(_, v)| v.to_owned())
}

/// A browser opening a page (not an API call): the token moves into a cookie.
fn is_page_load(req: &Request) -> bool {
    req.method() == Method::GET && !req.uri().path().starts_with("/api/")
}

/// 303 to the same URL without `token`, setting the cookie, so the token leaves the address bar
/// and the UI's own requests carry it.
fn set_cookie_and_redirect(state: &AppState, req: &Request) -> Response {
    let rest: Vec<&str> = req
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|kv| !kv.is_empty() && !kv.starts_with("token="))
        .collect();
    let mut location = req.uri().path().to_owned();
    if !rest.is_empty() {
        location.push('?');
        location.push_str(&rest.join("&"));
    }
    let token = query_token(req.uri()).unwrap_or_default();
    // The token was checked to be [A-Za-z0-9._-], so the cookie value needs no quoting.
    let cookie = format!(
        "{}={token}; Path=/; HttpOnly; SameSite=Lax",
        cookie_name(state)
    );
    let mut resp = StatusCode::SEE_OTHER.into_response();
    if let (Ok(loc), Ok(c)) = (
        HeaderValue::from_str(&location),
        HeaderValue::from_str(&cookie),
    ) {
        resp.headers_mut().insert(header::LOCATION, loc);
        resp.headers_mut().insert(header::SET_COOKIE, c);
    }
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

const UNAUTHORIZED: &str = "this server needs its access token: open the URL tsad printed at \
     startup (it ends in ?token=...), or send the header `Authorization: Bearer <token>`";

fn unauthorized(req: &Request) -> Response {
    let mut resp = if is_page_load(req) {
        (
            StatusCode::UNAUTHORIZED,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            format!(
                "<!doctype html><title>tsad: access token needed</title>\
                 <h1>Access token needed</h1><p>{UNAUTHORIZED}.</p>"
            ),
        )
            .into_response()
    } else {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", UNAUTHORIZED).into_response()
    };
    resp.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"tsad\""),
    );
    resp
}

/// A state-changing request from a page of another site is refused: its `Origin` (which
/// browsers always send on cross-origin POST, PUT, PATCH and DELETE) must name this server as
/// the request's Host does.
fn check_origin(headers: &HeaderMap) -> Result<(), ApiError> {
    let forbidden = |what: &str| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "cross_origin",
            format!(
                "{what}: pages of other web sites may not change data on this server; use the \
                 tsad web UI or a client that sends no Origin header"
            ),
        )
    };
    let Some(origin) = headers.get(header::ORIGIN) else {
        // No Origin: not a browser's cross-origin request, unless Fetch metadata says so.
        let site = headers
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        return if site.eq_ignore_ascii_case("cross-site") {
            Err(forbidden("the request comes from another site"))
        } else {
            Ok(())
        };
    };
    let origin = origin.to_str().unwrap_or("");
    let authority = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    match (authority, host) {
        (Some(a), Some(h)) if a.eq_ignore_ascii_case(h) => Ok(()),
        _ => Err(forbidden(&format!("Origin `{}`", shorten(origin)))),
    }
}

/// JSON endpoints take `application/json`; `POST /api/v1/datasets` also multipart. A body of
/// another type (a form or `text/plain`, which browsers send cross-site without asking) is 415.
fn check_content_type(req: &Request) -> Result<(), ApiError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase());
    let multipart_ok = req.uri().path() == "/api/v1/datasets";
    match content_type {
        Some(ct) if is_json(&ct) => Ok(()),
        Some(ct) if multipart_ok && ct.starts_with("multipart/form-data") => Ok(()),
        None if !has_body(req) => Ok(()),
        other => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!(
                "the body is {}; this endpoint takes `Content-Type: application/json`{}",
                other.map_or_else(|| "untyped".to_owned(), |c| format!("`{}`", shorten(&c))),
                if multipart_ok {
                    " (or multipart/form-data with the CSV in field `file`)"
                } else {
                    ""
                }
            ),
        )),
    }
}

fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

fn has_body(req: &Request) -> bool {
    let headers = req.headers();
    if headers.contains_key(header::TRANSFER_ENCODING) {
        return true;
    }
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        return len > 0;
    }
    let body: &Body = req.body();
    body.size_hint().exact() != Some(0)
}

/// Adds the security headers to every response (a handler's own value wins).
pub(crate) async fn headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    for (name, value) in response_headers() {
        resp.headers_mut().entry(name).or_insert(value);
    }
    resp
}

fn response_headers() -> [(header::HeaderName, HeaderValue); 5] {
    [
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        (
            header::HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_lose_their_port() {
        let cases = [
            ("localhost:5001", "localhost"),
            ("127.0.0.1", "127.0.0.1"),
            ("[::1]:5001", "::1"),
            ("example.com", "example.com"),
        ];
        for (host, name) in cases {
            assert_eq!(host_name(host), name, "{host}");
        }
    }

    #[test]
    fn tokens_are_checked_and_redacted() {
        assert!(AccessToken::new("short").is_err());
        assert!(AccessToken::new("has space in it").is_err());
        let t = AccessToken::new("secret-token-1").unwrap();
        assert!(t.matches("secret-token-1"));
        assert!(!t.matches("secret-token-2"));
        assert!(!t.matches("secret-token-1x"));
        assert!(!format!("{t:?}").contains("secret"));
        let g = AccessToken::generate();
        assert_eq!(g.expose().len(), 32);
        assert_ne!(g, AccessToken::generate());
    }
}
