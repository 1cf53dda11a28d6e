//! Who may call `vmlab serve`, and what a browser may not make it do. Every request passes
//! here before any route:
//!
//! 1. **Host**: only the listen address, a loopback address or `localhost` (and names given
//!    with `--allow-host`) — a page that rebinds its own name to 127.0.0.1 is answered 421.
//! 2. **Origin**: a request a browser sends for a page of another origin carries `Origin`
//!    (or `Sec-Fetch-Site: cross-site`); it is refused (403) unless `--allow-origin` names
//!    that origin, which then also gets CORS answers (preflight included).
//! 3. **Token**: every request carries `Authorization: Bearer <token>`, a token of the
//!    server's token file (made 0600 under `$VMLAB_HOME` on first start), compared in
//!    constant time; 401 otherwise. The kernel's word on the peer's uid does not stand in for
//!    it: QEMU's user network connects a guest that has outbound access as the lab's owner, and
//!    a browser runs as the owner too.
//! 4. **Content-Type**: a request with a body says `application/json` (415 otherwise), so an
//!    HTML form or a CORS "simple request" (`text/plain`) never reaches a route.
//!
//! The caller (the token's name, the peer's address and uid) travels with the request, for
//! the journal's audit lines.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::reply::ApiError;

/// The largest request body accepted.
pub const MAX_BODY: usize = 64 * 1024;

/// How much of a body past [`MAX_BODY`] is read (and dropped) before the 413, so that the
/// client has sent it and hears the answer rather than a reset connection.
const DRAIN: usize = 1024 * 1024;

/// A named bearer token.
#[derive(Clone)]
pub struct Token {
    pub name: String,
    pub secret: String,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Token({:?}, <secret>)", self.name)
    }
}

/// Reads a token file's text: a token a line, alone (named `default_name`) or after a name
/// (`ci 9f2c...`); blank lines and `#` comments aside. Tokens shorter than 16 characters are
/// refused (a guessable token is no lock).
pub fn parse_tokens(text: &str, default_name: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let (name, secret) = match words.as_slice() {
            [secret] => (default_name, *secret),
            [name, secret] => (*name, *secret),
            _ => {
                return Err(format!(
                    "line {} is neither a token nor a name and a token",
                    i + 1
                ));
            }
        };
        if secret.len() < 16 {
            return Err(format!(
                "the token on line {} is shorter than 16 characters",
                i + 1
            ));
        }
        tokens.push(Token {
            name: name.to_string(),
            secret: secret.to_string(),
        });
    }
    if tokens.is_empty() {
        return Err("it holds no token".into());
    }
    Ok(tokens)
}

/// Who called: where from, the peer's uid when the kernel knows it, and the token's name.
#[derive(Debug, Clone)]
pub struct Caller {
    pub peer: std::net::SocketAddr,
    pub uid: Option<u32>,
    pub token: Option<String>,
}

impl std::fmt::Display for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.token {
            Some(t) => write!(f, "token {t}")?,
            None => write!(f, "no token")?,
        }
        match self.uid {
            Some(uid) => write!(f, ", uid {uid} at {}", self.peer),
            None => write!(f, " from {}", self.peer),
        }
    }
}

/// The checks above, in that order.
pub(crate) async fn check(
    State(conf): State<std::sync::Arc<GuardConf>>,
    mut req: Request,
    next: Next,
) -> Response {
    let headers = req.headers();
    if let Some(host) = headers.get(header::HOST) {
        let ok = host
            .to_str()
            .is_ok_and(|h| host_allowed(h, conf.listen, &conf.allow_hosts));
        if !ok {
            return ApiError(
                StatusCode::MISDIRECTED_REQUEST,
                format!(
                    "this server answers to {} and loopback names, not Host {:?} (name more with \
                     --allow-host)",
                    conf.listen,
                    String::from_utf8_lossy(host.as_bytes())
                ),
            )
            .into_response();
        }
    }
    let origin = headers.get(header::ORIGIN).cloned();
    let allowed_origin = match &origin {
        Some(o)
            if conf
                .allow_origins
                .iter()
                .any(|a| a.as_bytes() == o.as_bytes()) =>
        {
            Some(o.clone())
        }
        Some(o) => {
            return ApiError(
                StatusCode::FORBIDDEN,
                format!(
                    "requests from web pages are refused (Origin {:?}); start vmlab serve with \
                     --allow-origin <origin> for a front end you trust",
                    String::from_utf8_lossy(o.as_bytes())
                ),
            )
            .into_response();
        }
        None if headers
            .get("sec-fetch-site")
            .is_some_and(|v| v == "cross-site" || v == "same-site") =>
        {
            return ApiError(
                StatusCode::FORBIDDEN,
                "requests from web pages are refused (Sec-Fetch-Site)".into(),
            )
            .into_response();
        }
        None => None,
    };
    if req.method() == Method::OPTIONS
        && let Some(o) = &allowed_origin
    {
        return cors(StatusCode::NO_CONTENT.into_response(), o, true);
    }
    let token = match bearer(headers, &conf.tokens) {
        Some(name) => name,
        None => {
            return ApiError(
                StatusCode::UNAUTHORIZED,
                format!(
                    "a bearer token is required (Authorization: Bearer <token>); the token is in \
                     {}",
                    conf.token_file
                ),
            )
            .into_response();
        }
    };
    if has_body(headers) && !is_json(headers) {
        return ApiError(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "a request with a body must say Content-Type: application/json".into(),
        )
        .into_response();
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY) {
        let _ = axum::body::to_bytes(req.into_body(), DRAIN).await;
        return ApiError(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than {} KiB", MAX_BODY / 1024),
        )
        .into_response();
    }
    if let Some(c) = req.extensions_mut().get_mut::<Caller>() {
        c.token = Some(token);
    }
    let caller = req.extensions().get::<Caller>().cloned();
    let mut resp = next.run(req).await;
    // Who it was, for the request's log line.
    if let Some(c) = caller {
        resp.extensions_mut().insert(c);
    }
    match &allowed_origin {
        Some(o) => cors(resp, o, false),
        None => resp,
    }
}

/// What the guard was told at start.
#[derive(Debug, Clone)]
pub struct GuardConf {
    pub listen: std::net::SocketAddr,
    pub allow_hosts: Vec<String>,
    pub allow_origins: Vec<String>,
    pub tokens: Vec<Token>,
    /// Where the tokens are, for the 401's fix.
    pub token_file: String,
}

/// The name of the token the request carries, if it carries one of `tokens`.
fn bearer(headers: &HeaderMap, tokens: &[Token]) -> Option<String> {
    use subtle::ConstantTimeEq;
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))?
        .trim();
    // Every token is compared, found or not, each in constant time.
    let mut found = None;
    for t in tokens {
        if bool::from(given.as_bytes().ct_eq(t.secret.as_bytes())) {
            found = Some(t.name.clone());
        }
    }
    found
}

fn has_body(headers: &HeaderMap) -> bool {
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0")
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}

/// Is `host` (a Host header: a name or address, perhaps with a port) one this server answers
/// to? A loopback address or `localhost`, the address it listens on (any address, when it
/// listens on all of them: an address cannot be rebound), or a name given with
/// `--allow-host`.
pub fn host_allowed(host: &str, listen: std::net::SocketAddr, allowed: &[String]) -> bool {
    let host = host.trim();
    let name = if let Some(rest) = host.strip_prefix('[') {
        match rest.split_once(']') {
            Some((addr, _)) => addr,
            None => return false,
        }
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => host,
        }
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    if let Ok(ip) = name.parse::<std::net::IpAddr>() {
        return ip.is_loopback() || ip == listen.ip() || listen.ip().is_unspecified();
    }
    name == "localhost" || allowed.iter().any(|a| a.eq_ignore_ascii_case(&name))
}

/// CORS answers for an origin `--allow-origin` names.
fn cors(mut resp: Response, origin: &HeaderValue, preflight: bool) -> Response {
    let h = resp.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    if preflight {
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, DELETE"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("Authorization, Content-Type, Last-Event-ID"),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_a_rebound_name_cannot_pass() {
        let lo: std::net::SocketAddr = "127.0.0.1:18080".parse().unwrap();
        let any: std::net::SocketAddr = "0.0.0.0:18080".parse().unwrap();
        let none: &[String] = &[];
        for ok in [
            "127.0.0.1:18080",
            "127.0.0.1",
            "localhost:18080",
            "LOCALHOST.",
            "[::1]:18080",
            "127.1.2.3:9",
        ] {
            assert!(host_allowed(ok, lo, none), "{ok}");
        }
        for bad in [
            "rebind.attacker.example",
            "rebind.attacker.example:18080",
            "localhost.attacker.example",
            "10.0.0.5:18080",
            "[::1",
            "",
        ] {
            assert!(!host_allowed(bad, lo, none), "{bad}");
        }
        assert!(host_allowed("192.168.1.9:18080", any, none));
        assert!(!host_allowed("lab.example:18080", any, none));
        assert!(host_allowed(
            "lab.example:18080",
            any,
            &["lab.example".into()]
        ));
    }

    #[test]
    fn token_files_name_their_tokens_and_refuse_short_ones() {
        let t = parse_tokens(
            "# mine\n0123456789abcdef0123\nci fedcba9876543210ff\n",
            "serve.token",
        )
        .unwrap();
        assert_eq!(
            t.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
            ["serve.token", "ci"]
        );
        assert!(parse_tokens("short\n", "x").unwrap_err().contains("16"));
        assert!(
            parse_tokens("\n# nothing\n", "x")
                .unwrap_err()
                .contains("no token")
        );
        assert!(parse_tokens("a b c\n", "x").unwrap_err().contains("line 1"));
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
            m
        };
        assert_eq!(
            bearer(&h("Bearer fedcba9876543210ff"), &t).as_deref(),
            Some("ci")
        );
        assert_eq!(bearer(&h("Bearer fedcba9876543210f"), &t), None);
        assert_eq!(bearer(&h("fedcba9876543210ff"), &t), None);
        assert_eq!(bearer(&HeaderMap::new(), &t), None);
    }
}
