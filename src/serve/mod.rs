//! `vmlab serve`: the HTTP front end. It speaks newtron's lab-server API (`/newtlab/v1`, the
//! shape newtron's browser front end, test runner and newtron itself use) and vmlab's own
//! (`/v1`: links, impairments, snapshots, exec, every operation's events), with Server-Sent
//! Events that follow each lab's operation journal, so an operation started from the CLI or
//! the TUI shows up on the stream too.
//!
//! Like the CLI and the TUI, it decides nothing about labs: each route parses its input, calls
//! the engine's facade and renders the result. It owns only HTTP: routing, the envelope and
//! status codes, the token, and which long operation it started runs where.
//!
//! Safety (ARCHITECTURE.md, "Who may call vmlab serve"): every request carries a bearer token
//! from a 0600 file (made under `$VMLAB_HOME` on first start), on every address; foreign
//! `Host`s, other origins' pages and bodies that are not JSON are refused (`guard.rs`); it
//! listens on loopback unless told otherwise; connections, streams, bodies and the journal
//! are bounded and slow clients time out (`listen.rs`, `stream.rs`); one long operation per
//! lab at a time (409 names the one running, whoever started it: the lab lock's record).

mod cap;
mod guard;
mod http;
mod listen;
mod newtlab;
mod openapi;
mod own;
mod reply;
mod stream;

pub use guard::{Token, parse_tokens};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use tokio_util::sync::CancellationToken;

use crate::engine::api::{self, EngineError};
use guard::MAX_BODY;
use http::{ApiError, Inner, Server};

/// An address to listen on, as `--listen` takes it.
pub type Listen = SocketAddr;

/// Parses `--listen` (`127.0.0.1:18080`, `[::1]:18080`).
pub fn parse_listen(s: &str) -> Result<Listen, String> {
    s.parse()
        .map_err(|_| format!("{s:?} is not an address and port, for example 127.0.0.1:18080"))
}

/// How `vmlab serve` runs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub listen: SocketAddr,
    /// Where network ids are spec directories (`<base>/<id>/`): newtron's `--networks-base`.
    pub networks_base: Option<PathBuf>,
    /// The bearer tokens a request may carry (at least one).
    pub tokens: Vec<Token>,
    /// The file they came from, for the answer to a request without one.
    pub token_file: PathBuf,
    /// Whether the tokens were given (`--token-file`) rather than made: listening off
    /// loopback asks for a token the user chose to hand out.
    pub token_given: bool,
    /// Host names it answers to beyond its address and loopback's (`--allow-host`).
    pub allow_hosts: Vec<String>,
    /// Web origins whose pages may call it (`--allow-origin`).
    pub allow_origins: Vec<String>,
    /// The accelerator of the labs it deploys (`None`: probed).
    pub accel: Option<api::Accel>,
}

/// The routes, behind the guard and the body cap.
pub(crate) fn router(server: Server, guard: guard::GuardConf) -> Router {
    let routes: Vec<http::Route> = newtlab::routes().into_iter().chain(own::routes()).collect();
    let doc = openapi::document(&routes);
    // Methods of one path share its entry.
    let mut by_path: Vec<(&'static str, axum::routing::MethodRouter<Server>)> = Vec::new();
    for r in routes {
        match by_path.iter_mut().find(|(p, _)| *p == r.path) {
            Some((_, m)) => *m = std::mem::take(m).merge(r.handler),
            None => by_path.push((r.path, r.handler)),
        }
    }
    let mut app = Router::new().route(
        "/v1/openapi.json",
        axum::routing::get(move || {
            let doc = doc.clone();
            async move { axum::Json(doc) }
        }),
    );
    for (path, handler) in by_path {
        app = app.route(path, handler);
    }
    app.route("/", axum::routing::get(root))
        .fallback(|| async { ApiError(StatusCode::NOT_FOUND, "no such route".into()) })
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(guard),
            guard::check,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn(answer))
        .with_state(server)
}

/// `GET /`: where things are.
async fn root() -> axum::response::Response {
    http::data(
        StatusCode::OK,
        serde_json::json!({
            "apis": {"newtron": "/newtlab/v1", "vmlab": "/v1"},
            "openapi": "/v1/openapi.json",
            "version": env!("CARGO_PKG_VERSION"),
        }),
    )
}

/// Every answer in the envelope — also those the router makes itself (a method a route does
/// not take, a body past the cap) — and one log line per request: method, path, status, time
/// and caller.
async fn answer(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    let peer = req.extensions().get::<guard::Caller>().cloned();
    let t0 = std::time::Instant::now();
    let mut resp = next.run(req).await;
    let status = resp.status();
    let json = resp
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if (status.is_client_error() || status.is_server_error()) && !json {
        let why = match status {
            StatusCode::METHOD_NOT_ALLOWED => "this route does not take that method".to_string(),
            StatusCode::PAYLOAD_TOO_LARGE => {
                format!("the body is larger than {} KiB", MAX_BODY / 1024)
            }
            s => s.canonical_reason().unwrap_or("error").to_lowercase(),
        };
        let allow = resp.headers().get(axum::http::header::ALLOW).cloned();
        let caller = resp.extensions().get::<guard::Caller>().cloned();
        resp = ApiError(status, why).into_response();
        if let Some(a) = allow {
            resp.headers_mut().insert(axum::http::header::ALLOW, a);
        }
        if let Some(c) = caller {
            resp.extensions_mut().insert(c);
        }
    }
    let who = resp
        .extensions()
        .get::<guard::Caller>()
        .or(peer.as_ref())
        .map(|c| c.to_string())
        .unwrap_or_default();
    tracing::info!(
        target: "vmlab::serve::access",
        "{method} {path} {} {:.1} ms ({who})",
        status.as_u16(),
        t0.elapsed().as_secs_f64() * 1e3
    );
    resp
}

/// Serves until `cancel` (Ctrl-C, SIGTERM); says where it listens through `listening`.
pub async fn run(
    opts: ServeOptions,
    cancel: CancellationToken,
    listening: impl FnOnce(SocketAddr),
) -> Result<(), EngineError> {
    if !opts.listen.ip().is_loopback() && !opts.token_given {
        return Err(EngineError::Usage {
            what: format!(
                "--listen {} is reachable from other machines and no token was given",
                opts.listen
            ),
            fix: "pass --token-file <file> (mode 0600), or listen on 127.0.0.1".into(),
        });
    }
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .map_err(|e| EngineError::io(format!("cannot listen on {}", opts.listen), e))?;
    let at = listener
        .local_addr()
        .map_err(|e| EngineError::io("cannot read the listening address", e))?;
    let guard = guard::GuardConf {
        listen: at,
        allow_hosts: opts.allow_hosts,
        allow_origins: opts.allow_origins,
        tokens: opts.tokens,
        token_file: opts.token_file.display().to_string(),
    };
    let server = Server {
        inner: Arc::new(Inner {
            networks_base: opts.networks_base,
            accel: opts.accel,
            cancel: cancel.clone(),
            hub: Arc::default(),
        }),
    };
    api::raise_open_files_limit();
    listening(at);
    listen::serve(listener, router(server, guard), cancel).await;
    Ok(())
}
