//! newtron's lab-server API (`/newtlab/v1`), in the shapes its clients read: health, the labs,
//! a lab's state (newtron's `LabState`: nodes by name with their pid, status, phase, ports,
//! host and namespace; links with their ports), an asynchronous deploy, a synchronous destroy,
//! node start and stop, the relay's counters as newtron's bridge stats, and the phase events.
//! `{name}` is a network id: a directory under `--networks-base`.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use super::http::{
    ApiError, ApiResult, DeployBody, Destroyed, NoBody, Route, Server, blocking, data,
    destroy_route, now, parse,
};
use super::stream::Flavor;
use crate::engine::api::{self, EventSink, NodeOp};

/// newtron's routes, each with the body it takes and what it answers (its OpenAPI entry).
pub(super) fn routes() -> Vec<Route> {
    let r = |method, path, summary, handler| Route::new(method, path, summary, true, handler);
    vec![
        r(
            "get",
            "/newtlab/v1/health",
            "Server status and version",
            get(health),
        )
        .answers::<Health>(200),
        r(
            "get",
            "/newtlab/v1/labs",
            "Every deployed lab, by network id",
            get(labs),
        )
        .answers::<Vec<NetworkRow>>(200),
        r(
            "get",
            "/newtlab/v1/labs/{name}/status",
            "The lab's state in newtron's LabState shape",
            get(status),
        )
        .answers::<LabState>(200),
        r(
            "post",
            "/newtlab/v1/labs/{name}/deploy",
            "Deploy network {name} (202; follow /events); force, host in the body or query",
            post(deploy),
        )
        .takes::<DeployBody>(json!({"force": false}))
        .answers::<Accepted>(202),
        r(
            "post",
            "/newtlab/v1/labs/{name}/destroy",
            "Destroy the lab (synchronous)",
            post(destroy_route),
        )
        .answers::<Destroyed>(200),
        r(
            "post",
            "/newtlab/v1/labs/{name}/provision",
            "501: vmlab does not configure devices",
            post(provision),
        ),
        r(
            "post",
            "/newtlab/v1/labs/{name}/nodes/{node}/start",
            "Start a node (synchronous)",
            post(|s, p, raw| node(s, p, raw, NodeOp::Start)),
        )
        .answers::<NodeDone>(200),
        r(
            "post",
            "/newtlab/v1/labs/{name}/nodes/{node}/stop",
            "Stop a node (synchronous)",
            post(|s, p, raw| node(s, p, raw, NodeOp::Stop)),
        )
        .answers::<NodeDone>(200),
        r(
            "get",
            "/newtlab/v1/labs/{name}/events",
            "Server-Sent Events: phase, complete, error",
            get(events),
        )
        .streams(),
        r(
            "get",
            "/newtlab/v1/labs/{name}/bridges/stats",
            "The relay's counters as newtron's bridge stats",
            get(bridge_stats),
        )
        .answers::<Vec<BridgeStats>>(200),
    ]
}

/// `GET health`.
#[derive(serde::Serialize, schemars::JsonSchema)]
struct Health {
    status: &'static str,
    version: &'static str,
}

/// A deployed lab, by network id.
#[derive(serde::Serialize, schemars::JsonSchema)]
struct NetworkRow {
    network_id: String,
}

/// newtron's `LabState`.
#[derive(serde::Serialize, schemars::JsonSchema)]
struct LabState {
    network_id: String,
    /// RFC 3339.
    created: String,
    /// The spec directory.
    dir: String,
    ssh_key_path: String,
    nodes: std::collections::BTreeMap<String, LabNode>,
    links: Vec<LabLink>,
}

/// A node of newtron's `LabState`.
#[derive(serde::Serialize, schemars::JsonSchema)]
struct LabNode {
    pid: Option<i32>,
    status: String,
    phase: String,
    device_type: String,
    image: Option<String>,
    ssh_port: u16,
    console_port: Option<u16>,
    original_mgmt_ip: Option<String>,
    /// Empty on this host.
    host: String,
    host_ip: Option<String>,
    ssh_user: Option<String>,
    vm_name: String,
    namespace: Option<String>,
}

/// A link of newtron's `LabState`.
#[derive(serde::Serialize, schemars::JsonSchema)]
struct LabLink {
    a: String,
    z: String,
    a_port: u16,
    z_port: u16,
    worker_host: String,
}

/// A deploy begun (202): follow the lab's events from `event_id` to see it whole.
#[derive(serde::Serialize, schemars::JsonSchema)]
pub(super) struct Accepted {
    op: &'static str,
    network_id: String,
    /// When it began (RFC 3339).
    started: String,
    /// The operation's id, on each of its journal lines.
    id: String,
    /// The `Last-Event-ID` after which the lab's stream shows the whole operation.
    event_id: u64,
}

/// A node started or stopped.
#[derive(serde::Serialize, schemars::JsonSchema)]
struct NodeDone {
    lab: String,
    node: String,
    status: &'static str,
}

/// newtron's bridge stats of one host.
#[derive(serde::Serialize, schemars::JsonSchema)]
struct BridgeStats {
    host: String,
    updated_at: String,
    age_seconds: f64,
    stats: BridgeLinks,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
struct BridgeLinks {
    links: Vec<BridgeLink>,
}

/// One link's counters as newtron reads them.
#[derive(serde::Serialize, schemars::JsonSchema)]
struct BridgeLink {
    a: String,
    z: String,
    a_port: u16,
    z_port: u16,
    a_to_z_bytes: u64,
    z_to_a_bytes: u64,
    sessions: usize,
    connected: bool,
}

async fn health() -> Response {
    data(
        StatusCode::OK,
        Health {
            status: "ok",
            version: env!("CARGO_PKG_VERSION"),
        },
    )
}

async fn labs() -> ApiResult {
    let labs: Vec<NetworkRow> = blocking(|| Ok(api::lab_names()))
        .await?
        .iter()
        .map(|n| NetworkRow {
            network_id: n.to_string(),
        })
        .collect();
    Ok(data(StatusCode::OK, labs))
}

/// newtron's `LabState` of a deployed lab.
async fn status(State(s): State<Server>, Path(name): Path<String>) -> ApiResult {
    let lab = s.deployed(&name).await?;
    let (lab, state, st) = blocking(move || {
        let (state, st) = (lab.state()?, lab.status()?);
        Ok((lab, state, st))
    })
    .await?;
    let mut nodes = std::collections::BTreeMap::new();
    for n in &st.nodes {
        let vm = n.vm.clone().unwrap_or_else(|| n.name.clone());
        let rec = state.nodes.get(&vm);
        nodes.insert(
            n.name.clone(),
            LabNode {
                pid: n.pid,
                status: n.status.label().to_string(),
                phase: n
                    .stage
                    .map(|s| s.label())
                    .unwrap_or(n.status.label())
                    .to_string(),
                device_type: n.device_type.clone().unwrap_or_else(|| "switch".into()),
                image: rec
                    .and_then(|r| r.image.as_ref())
                    .map(|p| p.display().to_string()),
                ssh_port: n.ssh_port,
                console_port: n.console_port,
                original_mgmt_ip: rec.map(|r| r.mgmt_addr.to_string()),
                host: if n.host == "localhost" {
                    String::new()
                } else {
                    n.host.clone()
                },
                host_ip: n.host_ip.clone(),
                ssh_user: n.ssh_user.clone(),
                vm_name: vm,
                namespace: n.namespace.clone(),
            },
        );
    }
    let links = state
        .links
        .iter()
        .zip(&st.links)
        .map(|(rec, row)| LabLink {
            a: row.a.clone(),
            z: row.z.clone(),
            a_port: rec.port,
            z_port: rec.port,
            worker_host: row
                .peer
                .as_ref()
                .map(|p| p.host.clone())
                .unwrap_or_default(),
        })
        .collect();
    Ok(data(
        StatusCode::OK,
        LabState {
            network_id: st.name.to_string(),
            created: st.created.clone(),
            dir: st.spec_dir.display().to_string(),
            ssh_key_path: lab.path().join("id_ed25519").display().to_string(),
            nodes,
            links,
        },
    ))
}

/// Starts a deploy and answers 202 at once; its events and its end are on the lab's stream.
async fn deploy(
    State(s): State<Server>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    raw: Bytes,
) -> ApiResult {
    let body = parse::<DeployBody>(&raw)?.with_query(&q)?;
    if body.provision == Some(true) {
        return Err(not_configuring());
    }
    let id = s.lab(&name)?;
    let begun = s.start_deploy(id.clone(), body).await?;
    let (started, begun) = begun;
    Ok(data(
        StatusCode::ACCEPTED,
        Accepted {
            op: "deploy",
            network_id: id.to_string(),
            started,
            id: begun.id,
            event_id: begun.event_id,
        },
    ))
}

fn not_configuring() -> ApiError {
    ApiError(
        StatusCode::NOT_IMPLEMENTED,
        "vmlab runs the lab's VMs and links; it does not configure devices (provisioning is \
         newtron's)"
            .into(),
    )
}

async fn provision() -> Response {
    not_configuring().into_response()
}

async fn node(
    State(s): State<Server>,
    Path((name, node)): Path<(String, String)>,
    raw: Bytes,
    op: NodeOp,
) -> ApiResult {
    parse::<NoBody>(&raw)?;
    let done = match op {
        NodeOp::Stop => "stopped",
        _ => "started",
    };
    let lab = s.deployed(&name).await?;
    s.not_busy(lab.name())?;
    lab.node(&node, op, &EventSink::none(), &s.cancel()).await?;
    Ok(data(
        StatusCode::OK,
        NodeDone {
            lab: name,
            node,
            status: done,
        },
    ))
}

async fn events(
    State(s): State<Server>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> ApiResult {
    s.events(&name, &headers, Flavor::Newtlab).await
}

/// The relay's counters as newtron's bridge stats: one entry for this host.
async fn bridge_stats(State(s): State<Server>, Path(name): Path<String>) -> ApiResult {
    let lab = s.deployed(&name).await?;
    let (_, state, st) = blocking(move || {
        let (state, st) = (lab.state()?, lab.status()?);
        Ok((lab, state, st))
    })
    .await?;
    let links = state
        .links
        .iter()
        .zip(&st.links)
        .map(|(rec, row)| {
            let bytes = |f: fn(&api::LinkRow) -> Option<u64>| f(row).unwrap_or(0);
            BridgeLink {
                a: row.a.clone(),
                z: row.z.clone(),
                a_port: rec.port,
                z_port: rec.port,
                a_to_z_bytes: bytes(|r| r.counters.as_ref().map(|c| c.a_to_z.bytes)),
                z_to_a_bytes: bytes(|r| r.counters.as_ref().map(|c| c.z_to_a.bytes)),
                sessions: crate::present::ends_present(row),
                connected: crate::present::connected(row),
            }
        })
        .collect();
    Ok(data(
        StatusCode::OK,
        vec![BridgeStats {
            host: state.host.clone().unwrap_or_default(),
            updated_at: now(),
            age_seconds: 0.0,
            stats: BridgeLinks { links },
        }],
    ))
}
