//! A lab's status as it really is: recorded state checked against live processes, and links as
//! the relay sees them (which ends are attached, counters, rates, admin state, impairments).
//!
//! The JSON form (`vmlab status --json`, `vmlab links --json`) is a documented interface; see
//! README.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::LabDir;
use super::state::LabState;
use crate::error::EngineError;
use crate::link::LinkState;
use crate::link::config::LinksFile;
use crate::link::control::{self, DirReport, PeerReport, RelayReport};
use crate::node::process;
use crate::node::qmp;
use crate::node::{BootStage, NodeStatus};
use crate::plan::{Accel, LinkTransport};
use crate::spec::{LabName, LinkImpair};

/// One node's row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct NodeRow {
    pub name: String,
    pub platform: String,
    pub status: NodeStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage: Option<BootStage>,
    /// While its boot patches are applied: `[which, of how many]` (1-based).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch: Option<[usize; 2]>,
    pub pid: Option<i32>,
    pub ssh_port: u16,
    /// `null`: the console is on the lab's unix socket (`vmlab console`).
    pub console_port: Option<u16>,
    pub host: String,
    pub uptime_secs: Option<u64>,
    /// When the running QEMU started (RFC 3339).
    pub started: Option<String>,
    /// When the node became ready (RFC 3339).
    pub ready_at: Option<String>,
    /// A pending node: what it waits for (staged boot).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting: Option<String>,
    /// Seconds its last boot took from launch to ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_secs: Option<f64>,
    /// The SSH login (never its password).
    #[serde(default)]
    pub ssh_user: Option<String>,
    /// newtron's `device_type`: `switch` or `host`.
    #[serde(default)]
    pub device_type: Option<String>,
    /// newtron's `host_ip` of the node.
    #[serde(default)]
    pub host_ip: Option<String>,
    /// A coalesced host: the VM it lives in (its pid, ports and status are the VM's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm: Option<String>,
    /// A coalesced host: its network namespace in the VM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// Both directions' counters of a link.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LinkCounters {
    pub a_to_z: DirReport,
    pub z_to_a: DirReport,
}

/// One link's row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LinkRow {
    pub index: usize,
    pub a: String,
    pub z: String,
    /// The guest interface each end is (`eth2`).
    pub a_guest: String,
    pub z_guest: String,
    pub transport: LinkTransport,
    pub state: LinkState,
    /// With `waiting`: what is missing (an end's node, or `relay`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waiting_for: Vec<String>,
    /// The admin state (`vmlab link down|up`).
    pub admin_up: bool,
    pub impair: LinkImpair,
    /// From the relay (none with direct links or while the relay is not running).
    pub counters: Option<LinkCounters>,
    /// A link between hosts: the other host as this host's relay hears it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<PeerReport>,
}

/// The link relay's row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RelayRow {
    pub pid: Option<i32>,
    /// `running` or `dead`.
    pub status: String,
    /// When it started (RFC 3339): counters count from here.
    pub started: Option<String>,
}

/// The whole status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LabStatus {
    pub name: LabName,
    pub lab_dir: PathBuf,
    pub spec_dir: PathBuf,
    pub accel: Accel,
    pub created: String,
    pub nodes: Vec<NodeRow>,
    pub links: Vec<LinkRow>,
    /// The link relay (none with direct links or no links).
    pub relay: Option<RelayRow>,
    /// What `vmlab repair` would bring back (empty: nothing).
    pub repair: Vec<String>,
    /// Why the lab's ports are not its spec's (another lab or program held them at deploy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports_moved: Option<String>,
}

/// Everything read from outside state.json for one look at a lab.
#[derive(Debug, Clone, Default)]
pub struct LinkView {
    pub settings: Option<LinksFile>,
    pub relay_alive: bool,
    pub report: Option<RelayReport>,
}

impl LinkView {
    /// Reads `links.json` and asks the relay (if it runs) for its report.
    pub fn read(lab: &LabDir, state: &LabState) -> Self {
        let settings = LinksFile::load(lab.path()).ok();
        let relay_alive = state.relay_alive(lab);
        let report = relay_alive
            .then(|| control::status(lab.path(), Duration::from_millis(500)).ok())
            .flatten();
        LinkView {
            settings,
            relay_alive,
            report,
        }
    }
}

/// Reads the lab's state and checks it against reality.
pub fn snapshot(lab: &LabDir) -> Result<LabStatus, EngineError> {
    let state = LabState::load(lab)?;
    let view = LinkView::read(lab, &state);
    Ok(observe(lab, &state, &view))
}

/// One recorded node as it is now: its QEMU checked live, a pause vmlab left behind asked of
/// QEMU; what `vmlab repair` would bring back is added to `repair`.
fn node_row(
    lab: &LabDir,
    name: &str,
    n: &crate::node::state::NodeState,
    repair: &mut Vec<String>,
) -> NodeRow {
    let paths = lab.node_paths(name);
    let live = n
        .pid
        .filter(|pid| process::is_running_qemu(*pid, n.qemu_identity(&paths.pidfile)));
    let status = match (live, n.status) {
        (Some(_), s) => s,
        (
            None,
            NodeStatus::Stopped | NodeStatus::Failed | NodeStatus::Pending | NodeStatus::Remote,
        ) => n.status,
        (None, _) => NodeStatus::Dead,
    };
    // A pause vmlab began and did not end (a snapshot interrupted past its guard, a vmlab
    // killed): QEMU says whether the CPUs run. No answer in time means a snapshot holds
    // the monitor, which it does only while the VM is paused.
    let status = if live.is_some() && n.paused.is_some() {
        match qmp::is_paused_blocking(&paths.qmp, Duration::from_millis(300)) {
            Some(false) => status,
            _ => NodeStatus::Paused,
        }
    } else {
        status
    };
    if status == NodeStatus::Paused {
        repair.push(format!("node {name} is paused"));
    }
    if status == NodeStatus::Dead {
        repair.push(format!("node {name} died"));
    }
    NodeRow {
        name: name.to_string(),
        platform: n.platform.clone(),
        status,
        stage: if live.is_some() { n.stage } else { None },
        patch: live.and(n.patch),
        pid: live,
        ssh_port: n.ssh_port,
        console_port: n.console_port,
        host: n.host.clone().unwrap_or_else(|| "localhost".into()),
        uptime_secs: live.and_then(process::uptime).map(|d| d.as_secs()),
        started: live.and(n.started.clone()),
        ready_at: live.and(n.ready_at.clone()),
        waiting: (status == NodeStatus::Pending)
            .then(|| n.waiting.clone())
            .flatten(),
        boot_secs: live.and(n.boot_seconds).map(|s| (s * 10.0).round() / 10.0),
        ssh_user: n.ssh_user.clone(),
        device_type: n.device_type.clone(),
        host_ip: n.host_ip.clone(),
        vm: None,
        namespace: None,
    }
}

/// Derives live status from a state and what the links look like.
pub fn observe(lab: &LabDir, state: &LabState, view: &LinkView) -> LabStatus {
    let mut nodes = Vec::new();
    let mut repair = Vec::new();
    for (name, n) in state.ordered_nodes() {
        nodes.push(node_row(lab, name, n, &mut repair));
    }
    // Each coalesced host is a node too, living in its VM.
    for h in &state.virtual_hosts {
        let Some(vm) = nodes.iter().find(|r| r.name == h.vm).cloned() else {
            continue;
        };
        nodes.push(NodeRow {
            name: h.name.clone(),
            platform: h.platform.clone(),
            stage: None,
            patch: None,
            device_type: Some("host".into()),
            host_ip: h.host_ip.clone(),
            vm: Some(h.vm.clone()),
            namespace: Some(h.name.clone()),
            ..vm
        });
    }
    let relayed = state.links.iter().any(|l| l.transport.uses_relay());
    let relay = relayed.then(|| RelayRow {
        pid: state
            .relay
            .as_ref()
            .map(|r| r.pid)
            .filter(|_| view.relay_alive),
        status: if view.relay_alive { "running" } else { "dead" }.into(),
        started: view.report.as_ref().map(|r| r.started.clone()),
    });
    if relayed && !view.relay_alive {
        repair.push("the link relay is not running".into());
    }
    let vhosts = &state.virtual_hosts;
    let row_of = |end: &str| {
        let node = crate::link::split_end(end).0;
        nodes.iter().find(|r| r.name == node)
    };
    let links = state
        .links
        .iter()
        .map(|l| {
            let cfg = view.settings.as_ref().and_then(|s| s.link(l.index));
            let rep = view
                .report
                .as_ref()
                .and_then(|r| r.links.iter().find(|x| x.index == l.index));
            let admin_up = rep.map(|r| r.up).or(cfg.map(|c| c.up)).unwrap_or(true);
            let impair = rep
                .map(|r| r.impair)
                .or(cfg.map(|c| c.impair))
                .unwrap_or_default();
            // An end here is there when its VM runs and (through the relay) its socket
            // answers; an end on another host, when that host's relay says its VM is attached.
            let peer = rep.and_then(|r| r.peer.as_ref());
            let mut waiting_for = Vec::new();
            if l.transport.uses_relay() && !view.relay_alive {
                waiting_for.push("relay".to_string());
            }
            for (end, attached) in [
                (&l.a, rep.map(|r| r.a_attached)),
                (&l.z, rep.map(|r| r.z_attached)),
            ] {
                let there = match row_of(end) {
                    Some(r) if r.status == NodeStatus::Remote => attached.unwrap_or(false),
                    Some(r) => r.pid.is_some() && attached.unwrap_or(true),
                    None => false,
                };
                if there {
                    continue;
                }
                match (row_of(end), peer) {
                    (Some(r), Some(p)) if r.status == NodeStatus::Remote && !p.alive => {
                        waiting_for.push(format!("host {}", p.host))
                    }
                    _ => waiting_for.push(crate::link::split_end(end).0.to_string()),
                }
            }
            let state = if l.transport == LinkTransport::Remote {
                LinkState::Remote
            } else if !admin_up {
                LinkState::Down
            } else if waiting_for.is_empty() {
                LinkState::Up
            } else {
                LinkState::Waiting
            };
            let (a_guest, z_guest) = l.guest_names();
            // A coalesced host's end is named as the spec names it: its node and interface.
            let shown = |end: &str, guest: String| -> (String, String) {
                match crate::link::split_end(end).1.split_once('/') {
                    Some((host, iface)) if vhosts.iter().any(|h| h.name == host) => {
                        (format!("{host}:{iface}"), iface.to_string())
                    }
                    _ => (end.to_string(), guest),
                }
            };
            let ((a, a_guest), (z, z_guest)) = (shown(&l.a, a_guest), shown(&l.z, z_guest));
            LinkRow {
                index: l.index,
                a,
                z,
                a_guest,
                z_guest,
                transport: l.transport,
                state,
                waiting_for: if state == LinkState::Waiting {
                    waiting_for
                } else {
                    Vec::new()
                },
                admin_up,
                impair,
                counters: rep.map(|r| LinkCounters {
                    a_to_z: r.a_to_z.clone(),
                    z_to_a: r.z_to_a.clone(),
                }),
                peer: peer.cloned(),
            }
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
        relay,
        repair,
        ports_moved: state.ports_moved.clone(),
    }
}
