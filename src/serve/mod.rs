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
//! Safety: it listens on loopback unless told otherwise, and anywhere else only with a bearer
//! token (a 0600 file, compared in constant time); bodies are capped; one long operation per
//! lab at a time (409 names the one running, whoever started it).

mod http;
mod newtlab;
mod own;
mod stream;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio_util::sync::CancellationToken;

use crate::engine::api::{self, EngineError};
use http::{ApiError, Inner, Server};

/// An address to listen on, as `--listen` takes it.
pub type Listen = SocketAddr;

/// Parses `--listen` (`127.0.0.1:18080`, `[::1]:18080`).
pub fn parse_listen(s: &str) -> Result<Listen, String> {
    s.parse()
        .map_err(|_| format!("{s:?} is not an address and port, for example 127.0.0.1:18080"))
}

/// The largest request body accepted.
const MAX_BODY: usize = 64 * 1024;

/// How `vmlab serve` runs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub listen: SocketAddr,
    /// Where network ids are spec directories (`<base>/<id>/`): newtron's `--networks-base`.
    pub networks_base: Option<PathBuf>,
    /// The bearer token every request must carry (required off loopback).
    pub token: Option<String>,
    /// The accelerator of the labs it deploys (`None`: probed).
    pub accel: Option<api::Accel>,
}

/// The routes, with the token check and the body cap.
pub(crate) fn router(server: Server) -> Router {
    let routes: Vec<http::Route> = newtlab::routes().into_iter().chain(own::routes()).collect();
    let doc = openapi(&routes);
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
    app.fallback(|| async { ApiError(StatusCode::NOT_FOUND, "no such route".into()) })
        .layer(axum::middleware::from_fn_with_state(
            server.clone(),
            authorize,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(server)
}

/// The OpenAPI document of `routes`: every path and method, its summary, its path parameters
/// and the envelope every reply comes in.
fn openapi(routes: &[http::Route]) -> serde_json::Value {
    use serde_json::{Map, Value, json};
    let mut paths = Map::new();
    for r in routes {
        let params: Vec<Value> = r
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        let entry = paths.entry(r.path.to_string()).or_insert_with(|| json!({}));
        entry[r.method] = json!({
            "summary": r.summary,
            "tags": [if r.newtron { "newtron" } else { "vmlab" }],
            "parameters": params,
            "responses": {
                "2XX": {"description": "{\"data\": ...}", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Data"}}}},
                "default": {"description": "{\"error\": \"...\"}: 400, 401, 404, 409, 413, 500", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
            }
        });
    }
    paths.insert(
        "/v1/openapi.json".into(),
        json!({"get": {"summary": "This document", "tags": ["vmlab"], "parameters": [],
                       "responses": {"200": {"description": "the OpenAPI document"}}}}),
    );
    json!({
        "openapi": "3.0.3",
        "info": {"title": "vmlab serve", "version": env!("CARGO_PKG_VERSION")},
        "paths": paths,
        "components": {"schemas": {
            "Data": {"type": "object", "properties": {"data": {}}, "required": ["data"]},
            "Error": {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}
        }}
    })
}

/// With a token, every request carries it (`Authorization: Bearer <token>`), compared in
/// constant time; 401 otherwise.
async fn authorize(State(s): State<Server>, req: Request, next: Next) -> Response {
    if let Some(token) = &s.inner.token {
        use subtle::ConstantTimeEq;
        let given = req
            .headers()
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !bool::from(given.as_bytes().ct_eq(token.as_bytes())) {
            return ApiError(
                StatusCode::UNAUTHORIZED,
                "a bearer token is required (Authorization: Bearer <token>)".into(),
            )
            .into_response();
        }
    }
    next.run(req).await
}

/// Serves until `cancel` (Ctrl-C, SIGTERM); says where it listens through `listening`.
pub async fn run(
    opts: ServeOptions,
    cancel: CancellationToken,
    listening: impl FnOnce(SocketAddr),
) -> Result<(), EngineError> {
    if !opts.listen.ip().is_loopback() && opts.token.is_none() {
        return Err(EngineError::Usage {
            what: format!(
                "--listen {} is reachable from other machines and no token was given",
                opts.listen
            ),
            fix: "pass --token-file <file> (mode 0600), or listen on 127.0.0.1".into(),
        });
    }
    let server = Server {
        inner: Arc::new(Inner {
            networks_base: opts.networks_base,
            token: opts.token,
            accel: opts.accel,
            running: Mutex::new(HashMap::new()),
            cancel: cancel.clone(),
            hub: Arc::default(),
        }),
    };
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .map_err(|e| EngineError::io(format!("cannot listen on {}", opts.listen), e))?;
    let at = listener
        .local_addr()
        .map_err(|e| EngineError::io("cannot read the listening address", e))?;
    listening(at);
    axum::serve(listener, router(server))
        .with_graceful_shutdown(cancel.cancelled_owned())
        .await
        .map_err(|e| EngineError::io("the HTTP server stopped", e))
}
