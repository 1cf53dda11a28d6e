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
use serde_json::{Map, Value, json};

use super::http::{
    ApiError, ApiResult, DeployBody, NoBody, Route, Server, blocking, data, now, parse,
};
use super::stream::Flavor;
use crate::engine::api::{self, EventSink, NodeOp};

pub(super) fn routes() -> Vec<Route> {
    let r = |method, path, summary, handler| Route {
        method,
        path,
        summary,
        newtron: true,
        handler,
    };
    vec![
        r(
            "get",
            "/newtlab/v1/health",
            "Server status and version",
            get(health),
        ),
        r(
            "get",
            "/newtlab/v1/labs",
            "Every deployed lab, by network id",
            get(labs),
        ),
        r(
            "get",
            "/newtlab/v1/labs/{name}/status",
            "The lab's state in newtron's LabState shape",
            get(status),
        ),
        r(
            "post",
            "/newtlab/v1/labs/{name}/deploy",
            "Deploy network {name} (202; follow /events); force, host in the body or query",
            post(deploy),
        ),
        r(
            "post",
            "/newtlab/v1/labs/{name}/destroy",
            "Destroy the lab (synchronous)",
            post(destroy),
        ),
        r(
            "post",
            "/newtlab/v1/labs/{name}/provision",
            "501: vmlab does not configure devices",
            post(provision),
        ),
        r(
            "post",
            "/newtlab/v1/labs/{name}/nodes/{node}/{action}",
            "start or stop a node (synchronous)",
            post(node),
        ),
        r(
            "get",
            "/newtlab/v1/labs/{name}/events",
            "Server-Sent Events: phase, complete, error",
            get(events),
        ),
        r(
            "get",
            "/newtlab/v1/labs/{name}/bridges/stats",
            "The relay's counters as newtron's bridge stats",
            get(bridge_stats),
        ),
    ]
}

async fn health() -> Response {
    data(
        StatusCode::OK,
        json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}),
    )
}

async fn labs() -> ApiResult {
    let labs: Vec<Value> = blocking(|| Ok(api::lab_names()))
        .await?
        .iter()
        .map(|n| json!({"network_id": n.as_str()}))
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
    let mut nodes = Map::new();
    for n in &st.nodes {
        let vm = n.vm.clone().unwrap_or_else(|| n.name.clone());
        let rec = state.nodes.get(&vm);
        nodes.insert(
            n.name.clone(),
            json!({
                "pid": n.pid,
                "status": n.status.label(),
                "phase": n.stage.map(|s| s.label()).unwrap_or(n.status.label()),
                "device_type": n.device_type.clone().unwrap_or_else(|| "switch".into()),
                "image": rec.and_then(|r| r.image.as_ref()).map(|p| p.display().to_string()),
                "ssh_port": n.ssh_port,
                "console_port": n.console_port,
                "original_mgmt_ip": rec.map(|r| r.mgmt_addr.to_string()),
                "host": if n.host == "localhost" { String::new() } else { n.host.clone() },
                "host_ip": n.host_ip,
                "ssh_user": n.ssh_user,
                "vm_name": vm,
                "namespace": n.namespace,
            }),
        );
    }
    let links: Vec<Value> = state
        .links
        .iter()
        .zip(&st.links)
        .map(|(rec, row)| {
            json!({
                "a": row.a, "z": row.z, "a_port": rec.port, "z_port": rec.port,
                "worker_host": row.peer.as_ref().map(|p| p.host.clone()).unwrap_or_default(),
            })
        })
        .collect();
    Ok(data(
        StatusCode::OK,
        json!({
            "network_id": st.name.as_str(),
            "created": st.created,
            "dir": st.spec_dir.display().to_string(),
            "ssh_key_path": lab.path().join("id_ed25519").display().to_string(),
            "nodes": nodes,
            "links": links,
        }),
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
    Ok(data(
        StatusCode::ACCEPTED,
        json!({"op": "deploy", "network_id": id.as_str(), "started": begun.0,
               "id": begun.1.id, "event_id": begun.1.event_id}),
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

async fn destroy(State(s): State<Server>, Path(name): Path<String>, raw: Bytes) -> ApiResult {
    parse::<NoBody>(&raw)?;
    s.destroy(&name).await?;
    Ok(data(
        StatusCode::OK,
        json!({"lab": name, "status": "destroyed"}),
    ))
}

async fn node(
    State(s): State<Server>,
    Path((name, node, action)): Path<(String, String, String)>,
    raw: Bytes,
) -> ApiResult {
    parse::<NoBody>(&raw)?;
    let (op, done) = match action.as_str() {
        "start" => (NodeOp::Start, "started"),
        "stop" => (NodeOp::Stop, "stopped"),
        _ => {
            return Err(ApiError(
                StatusCode::NOT_FOUND,
                format!("no node action {action:?} (start, stop)"),
            ));
        }
    };
    let lab = s.deployed(&name).await?;
    let _claim = s.claim(lab.name(), &format!("{} {node}", op.verb()))?;
    lab.node(&node, op, &EventSink::none(), &s.cancel()).await?;
    Ok(data(
        StatusCode::OK,
        json!({"lab": name, "node": node, "status": done}),
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
    let links: Vec<Value> = state
        .links
        .iter()
        .zip(&st.links)
        .map(|(rec, row)| {
            let bytes = |f: fn(&api::LinkRow) -> Option<u64>| f(row).unwrap_or(0);
            json!({
                "a": row.a, "z": row.z, "a_port": rec.port, "z_port": rec.port,
                "a_to_z_bytes": bytes(|r| r.counters.as_ref().map(|c| c.a_to_z.bytes)),
                "z_to_a_bytes": bytes(|r| r.counters.as_ref().map(|c| c.z_to_a.bytes)),
                "sessions": 2usize.saturating_sub(row.waiting_for.len()),
                "connected": row.state == api::LinkState::Up,
            })
        })
        .collect();
    Ok(data(
        StatusCode::OK,
        json!([{
            "host": state.host.clone().unwrap_or_default(),
            "updated_at": now(),
            "age_seconds": 0.0,
            "stats": {"links": links},
        }]),
    ))
}
