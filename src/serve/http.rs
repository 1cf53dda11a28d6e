//! What every route of `vmlab serve` shares: the server's state (options, the long
//! operations it runs), the reply envelope and its errors, the checks of names from URLs, and
//! request bodies.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::engine::api::{self, EngineError};
use crate::spec::LabName;

/// One route: its method and path, what it does, whose shape it is (newtron's or vmlab's),
/// and its handler. The router and `/v1/openapi.json` are both made from the routes, so the
/// document lists exactly what is served.
pub(crate) struct Route {
    pub(crate) method: &'static str,
    pub(crate) path: &'static str,
    pub(crate) summary: &'static str,
    pub(crate) newtron: bool,
    pub(crate) handler: axum::routing::MethodRouter<Server>,
}

/// What every handler shares.
#[derive(Clone)]
pub(crate) struct Server {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) networks_base: Option<PathBuf>,
    pub(super) token: Option<String>,
    pub(super) accel: Option<api::Accel>,
    /// Long operations this server started, by lab: (operation, when it began).
    pub(super) running: Mutex<HashMap<String, (String, String)>>,
    /// Cancels every operation this server started when it stops.
    pub(super) cancel: CancellationToken,
    /// The journal followers the event streams share.
    pub(super) hub: Arc<super::stream::Hub>,
}

/// An HTTP error in the envelope: `{"error": "..."}` with its status.
#[derive(Debug)]
pub(crate) struct ApiError(pub StatusCode, pub String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, axum::Json(json!({ "error": self.1 }))).into_response()
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        let code = match &e {
            EngineError::Invalid(_) | EngineError::Usage { .. } => StatusCode::BAD_REQUEST,
            EngineError::LabNotFound(_) | EngineError::NoSuchNode { .. } => StatusCode::NOT_FOUND,
            EngineError::LabBusy { .. } => StatusCode::CONFLICT,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError(code, e.to_string())
    }
}

/// A success in the envelope: `{"data": ...}`.
pub(crate) fn data(status: StatusCode, v: impl Serialize) -> Response {
    (status, axum::Json(json!({ "data": v }))).into_response()
}

pub(crate) type ApiResult = Result<Response, ApiError>;

impl Server {
    /// A lab name from a path, checked like every lab name (it becomes a directory).
    pub(crate) fn lab(&self, name: &str) -> Result<LabName, ApiError> {
        LabName::parse(name).map_err(|why| {
            ApiError(
                StatusCode::BAD_REQUEST,
                format!("the lab name {name:?} {why}"),
            )
        })
    }

    /// A deployed lab, or 404.
    pub(crate) fn deployed(&self, name: &str) -> Result<api::LabHandle, ApiError> {
        let name = self.lab(name)?;
        if !api::lab_names().contains(&name) {
            return Err(ApiError(
                StatusCode::NOT_FOUND,
                format!("lab {name} is not deployed"),
            ));
        }
        Ok(api::LabHandle::named(name))
    }

    /// The spec directory of network `id`: `<networks-base>/<id>` (or its `specs/`), else
    /// where the deployed lab's spec was.
    pub(crate) fn spec_dir(&self, id: &LabName) -> Result<PathBuf, ApiError> {
        if let Some(base) = &self.inner.networks_base {
            let dir = base.join(id.as_str());
            for d in [dir.clone(), dir.join("specs")] {
                if d.join("topology.json").is_file() {
                    return Ok(d);
                }
            }
            return Err(ApiError(
                StatusCode::NOT_FOUND,
                format!("no network {id}: no topology.json under {}", dir.display()),
            ));
        }
        api::LabHandle::named(id.clone())
            .state()
            .map(|s| s.spec_dir)
            .map_err(|_| {
                ApiError(
                    StatusCode::NOT_FOUND,
                    format!(
                        "no network {id}: start vmlab serve with --networks-base to deploy \
                         networks by id"
                    ),
                )
            })
    }

    /// Claims lab `name` for long operation `op`, or says (409) which operation runs there,
    /// whoever started it. The claim ends when the returned guard is dropped.
    pub(crate) fn claim(&self, name: &LabName, op: &str) -> Result<Claim, ApiError> {
        let mut running = self
            .inner
            .running
            .lock()
            .map_err(|_| ApiError(StatusCode::INTERNAL_SERVER_ERROR, "poisoned".into()))?;
        let busy = |what: &str, at: &str| {
            ApiError(
                StatusCode::CONFLICT,
                format!("lab {name} is busy: {what} began at {at} and is still running"),
            )
        };
        if let Some((what, at)) = running.get(name.as_str()) {
            return Err(busy(what, at));
        }
        if let Some((what, at, pid)) = api::operation_in_flight(name) {
            return Err(busy(&format!("{what} (pid {pid})"), &at));
        }
        running.insert(name.to_string(), (op.to_string(), now()));
        Ok(Claim {
            server: self.clone(),
            lab: name.to_string(),
        })
    }

    pub(crate) fn cancel(&self) -> CancellationToken {
        self.inner.cancel.clone()
    }

    pub(crate) fn hub(&self) -> &Arc<super::stream::Hub> {
        &self.inner.hub
    }

    /// The event stream of the lab named `name` in a route's path, in `flavor`, resumed after
    /// the request's `Last-Event-ID`.
    pub(crate) fn events(
        &self,
        name: &str,
        headers: &axum::http::HeaderMap,
        flavor: super::stream::Flavor,
    ) -> Result<Response, ApiError> {
        let lab = self.lab(name)?;
        let from = super::stream::resume_from(headers);
        Ok(super::stream::events(self.hub().clone(), lab, from, flavor).into_response())
    }
}

/// A lab claimed for one long operation of this server.
pub(crate) struct Claim {
    server: Server,
    lab: String,
}

impl Drop for Claim {
    fn drop(&mut self) {
        if let Ok(mut r) = self.server.inner.running.lock() {
            r.remove(&self.lab);
        }
    }
}

/// Now, RFC 3339.
pub(crate) fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// A JSON body, or none (an empty body is `{}`); 400 naming what is wrong.
pub(crate) fn body(bytes: &[u8]) -> Result<Value, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice::<Value>(bytes)
        .ok()
        .filter(Value::is_object)
        .ok_or_else(|| {
            ApiError(
                StatusCode::BAD_REQUEST,
                "the body must be a JSON object".into(),
            )
        })
}
