//! What every route of `vmlab serve` shares: the server's state (options, the long
//! operations it runs), the reply envelope and its errors, the checks of names from URLs,
//! request bodies, and [`blocking`], which runs the engine's blocking calls (a lab's status
//! asks the relay and every QEMU) off the async workers, so one slow lab stalls no other
//! request.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::engine::api;
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
    pub(super) accel: Option<api::Accel>,
    /// Long operations this server started, by lab: (operation, when it began).
    pub(super) running: Mutex<HashMap<String, (String, String)>>,
    /// Cancels every operation this server started when it stops.
    pub(super) cancel: CancellationToken,
    /// The journal followers the event streams share.
    pub(super) hub: Arc<super::stream::Hub>,
}

pub(crate) use super::reply::{ApiError, ApiResult, data};

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
    pub(crate) async fn deployed(&self, name: &str) -> Result<api::LabHandle, ApiError> {
        let name = self.lab(name)?;
        blocking(move || {
            if !api::lab_names().contains(&name) {
                return Err(ApiError(
                    StatusCode::NOT_FOUND,
                    format!("lab {name} is not deployed"),
                ));
            }
            Ok(api::LabHandle::named(name))
        })
        .await
    }

    /// The spec directory of network `id`: `<networks-base>/<id>` (or its `specs/`), else
    /// where the deployed lab's spec was.
    pub(crate) async fn spec_dir(&self, id: &LabName) -> Result<PathBuf, ApiError> {
        let (base, id) = (self.inner.networks_base.clone(), id.clone());
        blocking(move || Self::find_spec_dir(base.as_deref(), &id)).await
    }

    fn find_spec_dir(base: Option<&std::path::Path>, id: &LabName) -> Result<PathBuf, ApiError> {
        if let Some(base) = base {
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
    /// the request's `Last-Event-ID`: only for a lab deployed or under `--networks-base`
    /// (404), within the caps on streams (503).
    pub(crate) async fn events(
        &self,
        name: &str,
        headers: &axum::http::HeaderMap,
        flavor: super::stream::Flavor,
    ) -> Result<Response, ApiError> {
        let lab = self.lab(name)?;
        let (base, id) = (self.inner.networks_base.clone(), lab.clone());
        blocking(move || {
            if api::lab_names().contains(&id) || Self::find_spec_dir(base.as_deref(), &id).is_ok() {
                return Ok(());
            }
            Err(ApiError(
                StatusCode::NOT_FOUND,
                format!("lab {id} is not deployed (and no network {id} is under --networks-base)"),
            ))
        })
        .await?;
        let from = super::stream::resume_from(headers);
        Ok(super::stream::events(self.hub(), lab, from, flavor)?.into_response())
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

/// Runs `f`, which blocks (files, the relay's and QEMU's sockets), on tokio's blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        ApiError(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the request's work failed: {e}"),
        )
    })?
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
