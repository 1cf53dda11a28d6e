//! A lab's status as it really is: recorded state checked against live processes and sockets.
//!
//! The JSON form (`vmlab status --json`) is a documented interface; see README.

use std::path::PathBuf;

use serde::Serialize;

use super::LabDir;
use super::state::LabState;
use crate::engine::error::EngineError;
use crate::engine::link::LinkState;
use crate::engine::netstat;
use crate::engine::node::process;
use crate::engine::node::{BootStage, NodeStatus};
use crate::plan::Accel;
use crate::spec::LabName;

/// One node's row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeRow {
    pub name: String,
    pub platform: String,
    pub status: NodeStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage: Option<BootStage>,
    pub pid: Option<i32>,
    pub ssh_port: u16,
    pub console_port: u16,
    pub host: String,
    pub uptime_secs: Option<u64>,
    /// When the running QEMU started (RFC 3339).
    pub started: Option<String>,
    /// When the node became ready (RFC 3339).
    pub ready_at: Option<String>,
}

/// One link's row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LinkRow {
    pub a: String,
    pub z: String,
    pub port: u16,
    pub state: LinkState,
}

/// The whole status.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabStatus {
    pub name: LabName,
    pub lab_dir: PathBuf,
    pub spec_dir: PathBuf,
    pub accel: Accel,
    pub created: String,
    pub nodes: Vec<NodeRow>,
    pub links: Vec<LinkRow>,
}

/// Reads the lab's state and checks it against reality.
pub fn snapshot(lab: &LabDir) -> Result<LabStatus, EngineError> {
    let state = LabState::load(lab)?;
    Ok(observe(lab, &state, &netstat::established_local_ports()))
}

/// Derives live status from a state and the set of established local ports.
pub fn observe(
    lab: &LabDir,
    state: &LabState,
    established: &std::collections::HashSet<u16>,
) -> LabStatus {
    let mut nodes = Vec::new();
    for (name, n) in state.ordered_nodes() {
        let paths = lab.node_paths(name);
        let live = n
            .pid
            .filter(|pid| process::is_running_qemu(*pid, n.qemu_identity(&paths.pidfile)));
        let status = match (live, n.status) {
            (Some(_), s) => s,
            (None, NodeStatus::Stopped | NodeStatus::Failed | NodeStatus::Pending) => n.status,
            (None, _) => NodeStatus::Dead,
        };
        nodes.push(NodeRow {
            name: name.clone(),
            platform: n.platform.clone(),
            status,
            stage: if live.is_some() { n.stage } else { None },
            pid: live,
            ssh_port: n.ssh_port,
            console_port: n.console_port,
            host: n.host.clone().unwrap_or_else(|| "localhost".into()),
            uptime_secs: live.and_then(process::uptime).map(|d| d.as_secs()),
            started: live.and(n.started.clone()),
            ready_at: live.and(n.ready_at.clone()),
        });
    }
    let alive = |end: &str| {
        let node = end.split_once(':').map(|(n, _)| n).unwrap_or(end);
        nodes.iter().any(|r| r.name == node && r.pid.is_some())
    };
    let links = state
        .links
        .iter()
        .map(|l| LinkRow {
            a: l.a.clone(),
            z: l.z.clone(),
            port: l.port,
            state: if !(alive(&l.a) && alive(&l.z)) {
                LinkState::Down
            } else if established.contains(&l.port) {
                LinkState::Up
            } else {
                LinkState::Waiting
            },
        })
        .collect();
    LabStatus {
        name: state.name.clone(),
        lab_dir: state.lab_dir.clone(),
        spec_dir: state.spec_dir.clone(),
        accel: state.accel,
        created: state.created.clone(),
        nodes,
        links,
    }
}
