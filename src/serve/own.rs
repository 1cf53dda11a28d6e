//! vmlab's own API (`/v1`): what the CLI does to a running lab, over HTTP — the lab's status
//! (vmlab's shape), links with live counters and rates, down/up, impairments set and reset,
//! snapshots taken, listed, restored and deleted, node start/stop/restart, exec with each
//! node's result, the lab's checks (`validate`), and every operation's events. The same facade calls as the CLI and the TUI.

use axum::body::Bytes;
use std::collections::HashMap;

use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::guard::Caller;
use super::http::{
    ApiError, ApiResult, DeployBody, Destroyed, NoBody, Route, Server, blocking, data,
    destroy_route, parse,
};
use super::stream::Flavor;
use crate::engine::api::{self, CheckReport, EventSink, LinkChange, NodeOp, Targets};
use crate::spec::impair::{self, Directions};
use crate::spec::source::SpecText;

/// vmlab's routes, each with the body it takes and what it answers (its OpenAPI entry).
pub(super) fn routes() -> Vec<Route> {
    let r = |method, path, summary, handler| Route::new(method, path, summary, false, handler);
    let link_route = |action: &'static str, summary| {
        r(
            "post",
            match action {
                "down" => "/v1/labs/{name}/links/{end}/down",
                "up" => "/v1/labs/{name}/links/{end}/up",
                "reset" => "/v1/labs/{name}/links/{end}/reset",
                _ => "/v1/labs/{name}/links/{end}/set",
            },
            summary,
            post(move |s, p, raw| link(s, p, raw, action)),
        )
        .answers::<Option<api::LinkRow>>(200)
    };
    let node_route = |op: NodeOp, path, summary| {
        r(
            "post",
            path,
            summary,
            post(move |s, p, raw| node(s, p, raw, op)),
        )
        .answers::<Option<api::NodeRow>>(200)
    };
    vec![
        r(
            "get",
            "/v1/labs",
            "Deployed labs, as vmlab labs --json",
            get(labs),
        )
        .answers::<Vec<api::LabRow>>(200),
        r(
            "post",
            "/v1/labs/{name}/deploy",
            "Deploy network {name} (202 with the operation's id and event_id; follow /events)",
            post(deploy),
        )
        .takes::<DeployBody>(json!({"force": true}))
        .answers::<DeployAccepted>(202),
        r(
            "post",
            "/v1/labs/{name}/destroy",
            "Destroy the lab",
            post(destroy_route),
        )
        .answers::<Destroyed>(200),
        r(
            "get",
            "/v1/labs/{name}/status",
            "The lab's status (vmlab status --json)",
            get(status),
        )
        .answers::<api::LabStatus>(200),
        r(
            "get",
            "/v1/labs/{name}/links",
            "Links with counters and rates (vmlab links --json)",
            get(links),
        )
        .answers::<LinksReply>(200),
        link_route("down", "Set the link down: it carries nothing either way"),
        link_route("up", "Set the link up"),
        link_route("reset", "Take every impairment off the link"),
        link_route(
            "set",
            "Impair the link: delay, jitter, loss, rate, one way or both",
        )
        .takes::<ImpairBody>(json!({"delay": "20ms", "loss": "1%", "direction": "from-here"})),
        node_route(
            NodeOp::Start,
            "/v1/labs/{name}/nodes/{node}/start",
            "Start a node; its row when it is ready",
        ),
        node_route(
            NodeOp::Stop,
            "/v1/labs/{name}/nodes/{node}/stop",
            "Stop a node",
        ),
        node_route(
            NodeOp::Restart,
            "/v1/labs/{name}/nodes/{node}/restart",
            "Restart a node; its row when it is ready",
        ),
        r(
            "get",
            "/v1/labs/{name}/snapshots",
            "The lab's snapshots",
            get(snapshots),
        )
        .answers::<Vec<api::Snapshot>>(200),
        r(
            "post",
            "/v1/labs/{name}/snapshots",
            "Take a live snapshot {name}",
            post(take),
        )
        .takes::<SnapshotBody>(json!({"name": "converged"}))
        .answers::<api::Snapshot>(201),
        r(
            "post",
            "/v1/labs/{name}/snapshots/{snap}/restore",
            "Restore the whole lab to a snapshot",
            post(restore),
        )
        .answers::<Restored>(200),
        r(
            "delete",
            "/v1/labs/{name}/snapshots/{snap}",
            "Delete a snapshot",
            axum::routing::delete(delete_snapshot),
        )
        .answers::<SnapshotDeleted>(200),
        r(
            "post",
            "/v1/labs/{name}/exec",
            "Run {command} on {nodes | platform | all}; each node's result",
            post(exec),
        )
        .takes::<ExecBody>(json!({"command": "uname -r", "nodes": ["leaf1", "leaf2"]}))
        .answers::<Vec<api::ExecOutcome>>(200),
        r(
            "post",
            "/v1/labs/{name}/validate",
            "Run the lab's checks (validate.json), or {checks: [...]} given; {only: [names]}",
            post(validate),
        )
        .takes::<ValidateBody>(json!({"only": ["bgp up"]}))
        .answers::<CheckReport>(200),
        r(
            "get",
            "/v1/labs/{name}/events",
            "Server-Sent Events of every journal line (begin, event, end, audit)",
            get(events),
        )
        .streams(),
    ]
}

/// A deploy begun (202): follow the lab's events from `event_id` to see it whole.
#[derive(serde::Serialize, schemars::JsonSchema)]
struct DeployAccepted {
    op: &'static str,
    lab: String,
    /// When it began (RFC 3339).
    started: String,
    /// The operation's id, on each of its journal lines.
    id: String,
    /// The `Last-Event-ID` after which the lab's stream shows the whole operation.
    event_id: u64,
}

/// `vmlab links --json`.
#[derive(serde::Serialize, schemars::JsonSchema)]
struct LinksReply {
    name: crate::spec::LabName,
    relay: Option<api::RelayRow>,
    links: Vec<api::LinkRow>,
}

/// A restore done: how long until the lab ran again and SSH answered.
#[derive(serde::Serialize, schemars::JsonSchema)]
struct Restored {
    snapshot: String,
    resumed_after_secs: f64,
    ssh_after_secs: f64,
    /// Nodes started for it (they were stopped).
    started: Vec<String>,
}

/// A snapshot deleted.
#[derive(serde::Serialize, schemars::JsonSchema)]
struct SnapshotDeleted {
    snapshot: String,
    status: &'static str,
}

fn bad(what: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, what.into())
}

/// The rows `vmlab labs --json` gives (a lab whose state cannot be read is left out, as there).
async fn labs() -> ApiResult {
    let (rows, _) = blocking(|| Ok(api::lab_rows())).await?;
    Ok(data(StatusCode::OK, rows))
}

/// Deploys network `{name}`, as newtron's route does: 202 with the operation's id and the
/// `Last-Event-ID` its events follow.
async fn deploy(
    State(s): State<Server>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    raw: Bytes,
) -> ApiResult {
    let body = parse::<DeployBody>(&raw)?.with_query(&q)?;
    if body.provision.is_some() {
        return Err(bad(
            "unknown field \"provision\"; the fields are: force, host (vmlab configures no device)",
        ));
    }
    let id = s.lab(&name)?;
    let (started, begun) = s.start_deploy(id.clone(), body).await?;
    Ok(data(
        StatusCode::ACCEPTED,
        DeployAccepted {
            op: "deploy",
            lab: id.to_string(),
            started,
            id: begun.id,
            event_id: begun.event_id,
        },
    ))
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
        LinksReply {
            name: st.name,
            relay: st.relay,
            links: st.links,
        },
    ))
}

/// `set`'s body: each value as the CLI takes it (`"20ms"`, `"1%"`, `"10mbit"`).
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ImpairBody {
    delay: Option<String>,
    jitter: Option<String>,
    loss: Option<String>,
    rate: Option<String>,
    /// `both` (default), `from-here`, `to-here`, `a-to-z`, `z-to-a`.
    direction: Option<String>,
}

/// One value of an impairment body, parsed as the CLI parses it.
fn field<T>(
    v: &Option<String>,
    key: &str,
    parse: fn(&str) -> Result<T, String>,
) -> Result<Option<T>, ApiError> {
    v.as_deref()
        .map(parse)
        .transpose()
        .map_err(|e| bad(format!("{key}: {e}")))
}

async fn link(
    State(s): State<Server>,
    Path((name, end)): Path<(String, String)>,
    raw: Bytes,
    action: &'static str,
) -> ApiResult {
    if action != "set" {
        parse::<NoBody>(&raw)?;
    }
    let change = match action {
        "down" => LinkChange::Admin { up: false },
        "up" => LinkChange::Admin { up: true },
        "reset" => LinkChange::Reset,
        "set" => {
            let b: ImpairBody = parse(&raw)?;
            let dirs = match b.direction.as_deref() {
                None => Directions::Both,
                Some(d) => Directions::parse_typed(d).map_err(bad)?,
            };
            let change = LinkChange::Impair {
                dirs,
                delay_us: field(&b.delay, "delay", impair::parse_duration)?,
                jitter_us: field(&b.jitter, "jitter", impair::parse_duration)?,
                loss_ppm: field(&b.loss, "loss", impair::parse_loss)?,
                rate_bps: field(&b.rate, "rate", impair::parse_rate)?,
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
    let lab = s.deployed(&name).await?;
    let index = lab.link(&end, &change, &EventSink::none()).await?;
    let st = blocking(move || Ok(lab.status()?)).await?;
    Ok(data(StatusCode::OK, st.links.get(index)))
}

async fn node(
    State(s): State<Server>,
    Path((name, node)): Path<(String, String)>,
    raw: Bytes,
    op: NodeOp,
) -> ApiResult {
    parse::<NoBody>(&raw)?;
    let lab = s.deployed(&name).await?;
    s.not_busy(lab.name())?;
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

/// A snapshot to take: its name.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct SnapshotBody {
    name: Option<String>,
}

async fn take(State(s): State<Server>, Path(name): Path<String>, raw: Bytes) -> ApiResult {
    let snap = parse::<SnapshotBody>(&raw)?
        .name
        .ok_or_else(|| bad("give the snapshot's name: {\"name\": \"converged\"}"))?;
    let lab = s.deployed(&name).await?;
    s.not_busy(lab.name())?;
    let taken = lab.snapshot(&snap, &EventSink::none(), &s.cancel()).await?;
    Ok(data(StatusCode::CREATED, taken))
}

async fn restore(
    State(s): State<Server>,
    Path((name, snap)): Path<(String, String)>,
    raw: Bytes,
) -> ApiResult {
    parse::<NoBody>(&raw)?;
    let lab = s.deployed(&name).await?;
    s.not_busy(lab.name())?;
    let r = lab.restore(&snap, &EventSink::none(), &s.cancel()).await?;
    Ok(data(
        StatusCode::OK,
        Restored {
            snapshot: snap,
            resumed_after_secs: r.resumed_after.as_secs_f64(),
            ssh_after_secs: r.ssh_after.as_secs_f64(),
            started: r.started,
        },
    ))
}

async fn delete_snapshot(
    State(s): State<Server>,
    Path((name, snap)): Path<(String, String)>,
    raw: Bytes,
) -> ApiResult {
    parse::<NoBody>(&raw)?;
    let lab = s.deployed(&name).await?;
    lab.delete_snapshot(&snap, &EventSink::none()).await?;
    Ok(data(
        StatusCode::OK,
        SnapshotDeleted {
            snapshot: snap,
            status: "deleted",
        },
    ))
}

/// What exec runs and where.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ExecBody {
    command: Option<String>,
    nodes: Option<Vec<String>>,
    platform: Option<String>,
    all: Option<bool>,
    timeout_secs: Option<u64>,
}

/// `{"command": "...", "nodes": [...] | "platform": "..." | "all": true, "timeout_secs": 120}`:
/// each node's outcome.
async fn exec(
    State(s): State<Server>,
    Path(name): Path<String>,
    caller: Option<Extension<Caller>>,
    raw: Bytes,
) -> ApiResult {
    let b: ExecBody = parse(&raw)?;
    let command = b
        .command
        .filter(|c| !c.trim().is_empty())
        .ok_or_else(|| bad("give the command: {\"command\": \"uname -r\", \"all\": true}"))?;
    let targets = match (b.nodes, b.platform, b.all) {
        (Some(n), None, None) => Targets::Nodes(n),
        (None, Some(p), None) => Targets::Platform(p),
        (None, None, Some(true)) => Targets::All,
        _ => return Err(bad("name the nodes: one of nodes, platform or all: true")),
    };
    let timeout = b.timeout_secs.unwrap_or(120);
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

/// What validate runs: the lab's own checks, or those given; all, or those named.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ValidateBody {
    checks: Option<Value>,
    only: Option<Vec<String>>,
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
    let b: ValidateBody = parse(&raw)?;
    let only = b.only;
    if let Some(checks) = &b.checks {
        bounded_checks(checks)?;
    }
    let lab = s.deployed(&name).await?;
    audit(
        &lab,
        "validate",
        &caller,
        json!({"checks": b.checks.as_ref().map(checks_run).unwrap_or(json!("validate.json")), "only": only}),
    );
    let sink = EventSink::none();
    let results = match &b.checks {
        None => lab.validate(None, only.as_deref(), &sink).await?,
        Some(checks) => {
            let text = SpecText {
                path: "request body".into(),
                text: json!({ "checks": checks }).to_string(),
            };
            lab.validate_text(&text, only.as_deref(), &sink).await?
        }
    };
    Ok(data(
        StatusCode::OK,
        CheckReport::of(lab.name().to_string(), results),
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
