//! What every route of `vmlab serve` shares: the server's state (options, the long
//! operations it runs), the reply envelope and its errors, the checks of names from URLs,
//! request bodies, and [`blocking`], which runs the engine's blocking calls (a lab's status
//! asks the relay and every QEMU) off the async workers, so one slow lab stalls no other
//! request.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
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
    /// The body it takes (the type its handler parses) and an example of one; `None`: none.
    pub(crate) body: Option<(SchemaOf, serde_json::Value)>,
    /// Its answer when it works.
    pub(crate) answer: Answer,
}

/// What a route answers when it works.
#[derive(Clone, Copy)]
pub(crate) enum Answer {
    /// This status with this type in the envelope's `data`.
    Data(u16, SchemaOf),
    /// Server-Sent Events.
    Stream,
    /// Only an error of this status (a route kept for newtron's clients).
    Refused(u16),
}

/// The JSON Schema of a type, made by the document's generator.
pub(crate) type SchemaOf = fn(&mut schemars::SchemaGenerator) -> schemars::Schema;

fn schema_of<T: schemars::JsonSchema>(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
    g.subschema_for::<T>()
}

impl Route {
    pub(crate) fn new(
        method: &'static str,
        path: &'static str,
        summary: &'static str,
        newtron: bool,
        handler: axum::routing::MethodRouter<Server>,
    ) -> Route {
        Route {
            method,
            path,
            summary,
            newtron,
            handler,
            body: None,
            answer: Answer::Refused(501),
        }
    }

    /// It takes a body of type `T` (what its handler parses), like `example`.
    pub(crate) fn takes<T: schemars::JsonSchema>(mut self, example: serde_json::Value) -> Route {
        self.body = Some((schema_of::<T>, example));
        self
    }

    /// It answers `status` with a `T` in the envelope.
    pub(crate) fn answers<T: schemars::JsonSchema>(mut self, status: u16) -> Route {
        self.answer = Answer::Data(status, schema_of::<T>);
        self
    }

    /// It answers with Server-Sent Events.
    pub(crate) fn streams(mut self) -> Route {
        self.answer = Answer::Stream;
        self
    }
}

/// What every handler shares.
#[derive(Clone)]
pub(crate) struct Server {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) networks_base: Option<PathBuf>,
    pub(super) accel: Option<api::Accel>,
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
            return api::network_spec_dir(base, id).ok_or_else(|| {
                ApiError(
                    StatusCode::NOT_FOUND,
                    format!(
                        "no network {id}: no topology.json under {}",
                        base.join(id.as_str()).display()
                    ),
                )
            });
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

    /// Refuses (409) when another operation changes lab `name` now, whoever started it: the
    /// lab lock's record, which the engine's own wait reads too. The operation run next takes
    /// that lock itself.
    pub(crate) fn not_busy(&self, name: &LabName) -> Result<(), ApiError> {
        match api::lab_busy(name) {
            Some(holder) => Err(ApiError::from(api::EngineError::LabBusy {
                lab: name.to_string(),
                holder: holder.describe(),
            })),
            None => Ok(()),
        }
    }

    /// Starts deploying network `id` (its spec from [`Server::spec_dir`]) with what `body`
    /// asks, the lab's lock taken before it answers (a second deploy is refused with 409): when
    /// it began, and its place in the journal.
    pub(crate) async fn start_deploy(
        &self,
        id: LabName,
        body: DeployBody,
    ) -> Result<(String, api::Begun), ApiError> {
        if let Some(h) = &body.host {
            crate::spec::name::check_name(h).map_err(|why| {
                ApiError(
                    StatusCode::BAD_REQUEST,
                    format!("the host name {h:?} {why}"),
                )
            })?;
        }
        let dir = self.spec_dir(&id).await?;
        let (dir, spec) = blocking(move || Ok(api::load_spec(&dir).map(|s| (dir, s))?)).await?;
        if spec.name != id {
            return Err(ApiError(
                StatusCode::BAD_REQUEST,
                format!(
                    "the spec in {} names its lab {}, not {id}",
                    dir.display(),
                    spec.name
                ),
            ));
        }
        self.not_busy(&id)?;
        let started = now();
        let opts = api::DeployOptions {
            accel: self.inner.accel,
            force: body.force.unwrap_or(false),
            keep_on_failure: false,
            host: body.host.filter(|h| !h.is_empty()),
        };
        // The journal records the events and the outcome; the stream follows it.
        let (begun, run) =
            api::start_deploy(spec, opts, api::EventSink::none(), self.cancel()).await?;
        tokio::spawn(async move {
            let _ = run.await;
        });
        Ok((started, begun))
    }

    /// Destroys the deployed lab `name` (409 while another operation changes it).
    pub(crate) async fn destroy(&self, name: &str) -> Result<(), ApiError> {
        let lab = self.deployed(name).await?;
        self.not_busy(lab.name())?;
        lab.destroy(false, &api::EventSink::none()).await?;
        Ok(())
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

/// A lab destroyed: the answer of both APIs' destroy.
#[derive(serde::Serialize, schemars::JsonSchema)]
pub(crate) struct Destroyed {
    pub(crate) lab: String,
    pub(crate) status: &'static str,
}

/// `POST .../labs/{name}/destroy`, in either API: no body; the lab destroyed.
pub(crate) async fn destroy_route(
    axum::extract::State(s): axum::extract::State<Server>,
    axum::extract::Path(name): axum::extract::Path<String>,
    raw: axum::body::Bytes,
) -> ApiResult {
    parse::<NoBody>(&raw)?;
    s.destroy(&name).await?;
    Ok(data(
        StatusCode::OK,
        Destroyed {
            lab: name,
            status: "destroyed",
        },
    ))
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

/// What a deploy takes, in the body or the query string (`?force=true`).
#[derive(Debug, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeployBody {
    /// Deploy again even when the lab runs as the spec says.
    pub force: Option<bool>,
    /// The host this server is, in a multi-host lab.
    pub host: Option<String>,
    /// newtron's: provisioning is not vmlab's (501).
    pub provision: Option<bool>,
}

impl DeployBody {
    /// The body, with what the query string says where the body says nothing.
    pub(crate) fn with_query(mut self, q: &HashMap<String, String>) -> Result<Self, ApiError> {
        for k in q.keys() {
            if !["force", "host", "provision"].contains(&k.as_str()) {
                return Err(ApiError(
                    StatusCode::BAD_REQUEST,
                    format!("unknown query parameter {k:?}: give force, host or provision"),
                ));
            }
        }
        let flag = |key: &str| match q.get(key).map(String::as_str) {
            None => Ok(None),
            Some("true" | "1") => Ok(Some(true)),
            Some("false" | "0" | "") => Ok(Some(false)),
            Some(_) => Err(ApiError(
                StatusCode::BAD_REQUEST,
                format!("{key} must be true or false"),
            )),
        };
        self.force = self.force.or(flag("force")?);
        self.provision = self.provision.or(flag("provision")?);
        if self.host.is_none() {
            self.host = q.get("host").cloned();
        }
        Ok(self)
    }
}

/// Now, RFC 3339.
pub(crate) fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// A request body as `T` (an empty body is `{}`): a 400 names a key `T` does not have (and the
/// one meant, when one is close) or the field whose value is wrong.
pub(crate) fn parse<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let why = inner.to_string();
        let why = why.split(" at line ").next().unwrap_or(&why);
        let said = if inner.is_syntax() || inner.is_eof() {
            format!("the body is not JSON: {why}")
        } else if let Some(unknown) = unknown_field(why) {
            unknown
        } else if path == "." || path.is_empty() {
            format!("the body must be a JSON object: {why}")
        } else if let Some((found, expected)) = why
            .strip_prefix("invalid type: ")
            .and_then(|w| w.split_once(", expected "))
        {
            let expected = expected.replace("a sequence", "a list");
            format!("{path} must be {expected}, not {found}")
        } else {
            format!("{path}: {why}")
        };
        ApiError(StatusCode::BAD_REQUEST, said)
    })?;
    de.end().map_err(|e| {
        ApiError(
            StatusCode::BAD_REQUEST,
            format!("the body is not JSON: {e}"),
        )
    })?;
    Ok(parsed)
}

/// serde's "unknown field `forse`, expected one of `force`, `host`" said for a person: the key,
/// the one meant when one is close, and the keys there are.
fn unknown_field(why: &str) -> Option<String> {
    let rest = why.strip_prefix("unknown field `")?;
    let (key, rest) = rest.split_once('`')?;
    let known: Vec<&str> = rest
        .split('`')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, k)| k)
        .collect();
    if known.is_empty() {
        return Some(format!("unknown field {key:?}: this request takes no body"));
    }
    let meant = known
        .iter()
        .min_by_key(|k| strsim::damerau_levenshtein(key, k))
        .filter(|k| strsim::damerau_levenshtein(key, k) <= (k.len() / 3).max(2))
        .map(|k| format!(" (did you mean {k:?}?)"))
        .unwrap_or_default();
    Some(format!(
        "unknown field {key:?}{meant}; the fields are: {}",
        known.join(", ")
    ))
}

/// The body of a request that takes none: nothing, `{}`, or a 400 naming what came.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NoBody {}
