//! vmlab's own API (`/v1`): what the CLI does to a running lab, over HTTP — the lab's status
//! (vmlab's shape), links with live counters and rates, down/up, impairments set and reset,
//! snapshots taken, listed, restored and deleted, node start/stop/restart, exec with each
//! node's result, the lab's checks (`validate`), and every operation's events. The same facade calls as the CLI and the TUI.

use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::guard::Caller;
use super::http::{ApiError, ApiResult, Route, Server, blocking, body, data};
use super::stream::Flavor;
use crate::engine::api::{self, EventSink, LinkChange, NodeOp, Tally, Targets};
use crate::spec::impair::{self, Directions};
use crate::spec::source::SpecText;

pub(super) fn routes() -> Vec<Route> {
    let r = |method, path, summary, handler| Route {
        method,
        path,
        summary,
        newtron: false,
        handler,
    };
    vec![
        r("get", "/v1/labs", "Deployed labs", get(labs)),
        r(
            "get",
            "/v1/labs/{name}/status",
            "The lab's status (vmlab status --json)",
            get(status),
        ),
        r(
            "get",
            "/v1/labs/{name}/links",
            "Links with counters and rates",
            get(links),
        ),
        r(
            "post",
            "/v1/labs/{name}/links/{end}/{action}",
            "down, up, reset, or set {delay, jitter, loss, rate, direction}",
            post(link),
        ),
        r(
            "post",
            "/v1/labs/{name}/nodes/{node}/{action}",
            "start, stop or restart a node",
            post(node),
        ),
        r(
            "get",
            "/v1/labs/{name}/snapshots",
            "The lab's snapshots",
            get(snapshots),
        ),
        r(
            "post",
            "/v1/labs/{name}/snapshots",
            "Take a live snapshot {name}",
            post(take),
        ),
        r(
            "post",
            "/v1/labs/{name}/snapshots/{snap}/restore",
            "Restore the whole lab to a snapshot",
            post(restore),
        ),
        r(
            "delete",
            "/v1/labs/{name}/snapshots/{snap}",
            "Delete a snapshot",
            axum::routing::delete(delete_snapshot),
        ),
        r(
            "post",
            "/v1/labs/{name}/exec",
            "Run {command} on {nodes | platform | all}; each node's result",
            post(exec),
        ),
        r(
            "post",
            "/v1/labs/{name}/validate",
            "Run the lab's checks (validate.json), or {checks: [...]} given; {only: [names]}",
            post(validate),
        ),
        r(
            "get",
            "/v1/labs/{name}/events",
            "Server-Sent Events of every journal line (begin, event, end)",
            get(events),
        ),
    ]
}

fn bad(what: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, what.into())
}

async fn labs() -> ApiResult {
    let names: Vec<String> = blocking(|| Ok(api::lab_names()))
        .await?
        .iter()
        .map(|n| n.to_string())
        .collect();
    Ok(data(StatusCode::OK, names))
}

async fn status(State(s): State<Server>, Path(name): Path<String>) -> ApiResult {
    let lab = s.deployed(&name).await?;
    Ok(data(
        StatusCode::OK,
        blocking(move || Ok(lab.status()?)).await?,
    ))
}

async fn links(State(s): State<Server>, Path(name): Path<String>) -> ApiResult {
    let lab = s.deployed(&name).await?;
    let st = blocking(move || Ok(lab.status()?)).await?;
    Ok(data(
        StatusCode::OK,
        json!({"relay": st.relay, "links": st.links}),
    ))
}

/// A duration, loss or rate field of an impairment body, as the CLI takes it (`"20ms"`).
fn field<T>(
    b: &Value,
    key: &str,
    parse: fn(&str) -> Result<T, String>,
) -> Result<Option<T>, ApiError> {
    match b.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(v)) => parse(v).map(Some).map_err(|e| bad(format!("{key}: {e}"))),
        Some(_) => Err(bad(format!("{key} must be a string, for example \"20ms\""))),
    }
}

async fn link(
    State(s): State<Server>,
    Path((name, end, action)): Path<(String, String, String)>,
    raw: Bytes,
) -> ApiResult {
    let lab = s.deployed(&name).await?;
    let change = match action.as_str() {
        "down" => LinkChange::Admin { up: false },
        "up" => LinkChange::Admin { up: true },
        "reset" => LinkChange::Reset,
        "set" => {
            let b = body(&raw)?;
            let dirs = match b.get("direction").and_then(Value::as_str) {
                None => Directions::Both,
                Some(d) => Directions::parse_typed(d).map_err(bad)?,
            };
            let change = LinkChange::Impair {
                dirs,
                delay_us: field(&b, "delay", impair::parse_duration)?,
                jitter_us: field(&b, "jitter", impair::parse_duration)?,
                loss_ppm: field(&b, "loss", impair::parse_loss)?,
                rate_bps: field(&b, "rate", impair::parse_rate)?,
            };
            if let LinkChange::Impair {
                delay_us: None,
                jitter_us: None,
                loss_ppm: None,
                rate_bps: None,
                ..
            } = change
            {
                return Err(bad("nothing to set: give delay, jitter, loss or rate"));
            }
            change
        }
        _ => {
            return Err(ApiError(
                StatusCode::NOT_FOUND,
                format!("no link action {action:?} (down, up, set, reset)"),
            ));
        }
    };
    let index = lab.link(&end, &change, &EventSink::none()).await?;
    let st = blocking(move || Ok(lab.status()?)).await?;
    Ok(data(StatusCode::OK, st.links.get(index)))
}

async fn node(
    State(s): State<Server>,
    Path((name, node, action)): Path<(String, String, String)>,
) -> ApiResult {
    let op = match action.as_str() {
        "start" => NodeOp::Start,
        "stop" => NodeOp::Stop,
        "restart" => NodeOp::Restart,
        _ => {
            return Err(ApiError(
                StatusCode::NOT_FOUND,
                format!("no node action {action:?} (start, stop, restart)"),
            ));
        }
    };
    let lab = s.deployed(&name).await?;
    let _claim = s.claim(lab.name(), &format!("{} {node}", op.verb()))?;
    lab.node(&node, op, &EventSink::none(), &s.cancel()).await?;
    let st = blocking(move || Ok(lab.status()?)).await?;
    Ok(data(
        StatusCode::OK,
        st.nodes.into_iter().find(|n| n.name == node),
    ))
}

async fn snapshots(State(s): State<Server>, Path(name): Path<String>) -> ApiResult {
    let lab = s.deployed(&name).await?;
    Ok(data(
        StatusCode::OK,
        blocking(move || Ok(lab.snapshots()?)).await?,
    ))
}

async fn take(State(s): State<Server>, Path(name): Path<String>, raw: Bytes) -> ApiResult {
    let b = body(&raw)?;
    let snap = b
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("give the snapshot's name: {\"name\": \"converged\"}"))?
        .to_string();
    let lab = s.deployed(&name).await?;
    let _claim = s.claim(lab.name(), &format!("snapshot {snap}"))?;
    let taken = lab.snapshot(&snap, &EventSink::none(), &s.cancel()).await?;
    Ok(data(StatusCode::CREATED, taken))
}

async fn restore(State(s): State<Server>, Path((name, snap)): Path<(String, String)>) -> ApiResult {
    let lab = s.deployed(&name).await?;
    let _claim = s.claim(lab.name(), &format!("restore {snap}"))?;
    let r = lab.restore(&snap, &EventSink::none(), &s.cancel()).await?;
    Ok(data(
        StatusCode::OK,
        json!({
            "snapshot": snap,
            "resumed_after_secs": r.resumed_after.as_secs_f64(),
            "ssh_after_secs": r.ssh_after.as_secs_f64(),
            "started": r.started,
        }),
    ))
}

async fn delete_snapshot(
    State(s): State<Server>,
    Path((name, snap)): Path<(String, String)>,
) -> ApiResult {
    let lab = s.deployed(&name).await?;
    lab.delete_snapshot(&snap, &EventSink::none()).await?;
    Ok(data(
        StatusCode::OK,
        json!({"snapshot": snap, "status": "deleted"}),
    ))
}

/// `{"command": "...", "nodes": [...] | "platform": "..." | "all": true, "timeout_secs": 120}`:
/// each node's outcome.
async fn exec(
    State(s): State<Server>,
    Path(name): Path<String>,
    caller: Option<Extension<Caller>>,
    raw: Bytes,
) -> ApiResult {
    let b = body(&raw)?;
    let command = b
        .get("command")
        .and_then(Value::as_str)
        .filter(|c| !c.trim().is_empty())
        .ok_or_else(|| bad("give the command: {\"command\": \"uname -r\", \"all\": true}"))?
        .to_string();
    let targets = match (b.get("nodes"), b.get("platform"), b.get("all")) {
        (Some(Value::Array(n)), None, None) => Targets::Nodes(
            n.iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| bad("nodes must be a list of node names"))?,
        ),
        (None, Some(Value::String(p)), None) => Targets::Platform(p.clone()),
        (None, None, Some(Value::Bool(true))) => Targets::All,
        _ => return Err(bad("name the nodes: one of nodes, platform or all: true")),
    };
    let timeout = b.get("timeout_secs").and_then(Value::as_u64).unwrap_or(120);
    let lab = s.deployed(&name).await?;
    let nodes = lab.exec_targets(&targets)?;
    audit(
        &lab,
        "exec",
        &caller,
        json!({"command": command, "nodes": nodes}),
    );
    let (lines, _rx) = tokio::sync::mpsc::unbounded_channel();
    let outcomes = lab
        .exec(
            &nodes,
            &[command],
            std::time::Duration::from_secs(timeout.clamp(1, 3600)),
            &lines,
        )
        .await?;
    Ok(data(StatusCode::OK, outcomes))
}

/// `{}` runs the checks beside the lab's spec (`validate.json`); `{"checks": [...]}` runs
/// those instead (the file's format); `"only": ["name", ...]` runs the named ones. The answer
/// is every check × node with a verdict, `passed` and the counts; a check that fails is a
/// result, not an error (200). An invalid checks list is 400, naming each check and field.
async fn validate(
    State(s): State<Server>,
    Path(name): Path<String>,
    caller: Option<Extension<Caller>>,
    raw: Bytes,
) -> ApiResult {
    let b = if raw.is_empty() {
        json!({})
    } else {
        body(&raw)?
    };
    let only = match b.get("only") {
        None | Some(Value::Null) => None,
        Some(Value::Array(names)) => Some(
            names
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| bad("only must be a list of check names"))?,
        ),
        Some(_) => return Err(bad("only must be a list of check names")),
    };
    if let Some(k) = b
        .as_object()
        .and_then(|o| o.keys().find(|k| !["checks", "only"].contains(&k.as_str())))
    {
        return Err(bad(format!(
            "unknown field {k:?}: give checks (optional) and only (optional)"
        )));
    }
    if let Some(checks) = b.get("checks") {
        bounded_checks(checks)?;
    }
    let lab = s.deployed(&name).await?;
    audit(
        &lab,
        "validate",
        &caller,
        json!({"checks": b.get("checks").map(checks_run).unwrap_or(json!("validate.json")), "only": only}),
    );
    let sink = EventSink::none();
    let results = match b.get("checks") {
        None => lab.validate(None, only.as_deref(), &sink).await?,
        Some(checks) => {
            let text = SpecText {
                path: "request body".into(),
                text: json!({ "checks": checks }).to_string(),
            };
            lab.validate_text(&text, only.as_deref(), &sink).await?
        }
    };
    let tally = Tally::of(&results);
    Ok(data(
        StatusCode::OK,
        json!({
            "lab": lab.name().to_string(),
            "passed": tally.passed(),
            "counts": tally,
            "results": results,
        }),
    ))
}

/// Checks given in a request: at most [`MAX_CHECKS`], none waiting longer than
/// [`MAX_WAIT_SECS`] (a request must not keep the server busy for hours).
fn bounded_checks(checks: &Value) -> Result<(), ApiError> {
    let list = checks
        .as_array()
        .ok_or_else(|| bad("checks must be a list of checks"))?;
    if list.len() > MAX_CHECKS {
        return Err(bad(format!(
            "{} checks in one request: at most {MAX_CHECKS}; split them, or put them in the \
             lab's validate.json",
            list.len()
        )));
    }
    for (i, c) in list.iter().enumerate() {
        if let Some(w) = c.get("wait").and_then(Value::as_f64)
            && w > MAX_WAIT_SECS as f64
        {
            return Err(bad(format!(
                "checks[{i}].wait: {w} s is longer than a request may wait ({MAX_WAIT_SECS} s)"
            )));
        }
    }
    Ok(())
}

/// What the audit line says of checks given in a request: each one's name, command and
/// targets.
fn checks_run(checks: &Value) -> Value {
    let keep = ["name", "exec", "nodes", "platform", "all", "link"];
    Value::Array(
        checks
            .as_array()
            .map(|l| {
                l.iter()
                    .map(|c| {
                        let mut o = serde_json::Map::new();
                        for k in keep {
                            if let Some(v) = c.get(k) {
                                o.insert(k.into(), v.clone());
                            }
                        }
                        Value::Object(o)
                    })
                    .collect()
            })
            .unwrap_or_default(),
    )
}

/// One audit line in the lab's journal: who ran what through `op`.
fn audit(lab: &api::LabHandle, op: &str, caller: &Option<Extension<Caller>>, what: Value) {
    let by = caller
        .as_ref()
        .map(|Extension(c)| c.to_string())
        .unwrap_or_else(|| "unknown".into());
    api::audit(lab.name(), op, &by, what);
}

/// Checks in one request, and the longest one may wait.
const MAX_CHECKS: usize = 100;
const MAX_WAIT_SECS: u64 = 300;

async fn events(
    State(s): State<Server>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> ApiResult {
    s.events(&name, &headers, Flavor::Own).await
}
