//! `state.json` (HLD §8.2): what a lab directory holds and what runs in it.
//!
//! Written atomically after every change of a node's status, so another vmlab process (`status`,
//! `destroy`, a TUI) always reads a whole file. Node status is an explicit lifecycle; links are
//! records of their own.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::EngineError;
use super::events::BootStage;
use super::fsutil::atomic_write;
use super::paths::state_file;
use crate::plan::{Accel, LabPlan, LinkTransport};

/// A node's lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeStatus {
    /// Planned, QEMU not started yet.
    Pending,
    /// QEMU runs; the guest is not ready yet (see `stage`).
    Booting,
    /// Ready: SSH answers.
    Running,
    /// Launch or boot failed.
    Failed,
    /// Stopped on purpose.
    Stopped,
    /// The process is gone though the lab expects it (derived when reading, never written).
    Dead,
}

impl NodeStatus {
    pub fn label(self) -> &'static str {
        match self {
            NodeStatus::Pending => "pending",
            NodeStatus::Booting => "booting",
            NodeStatus::Running => "running",
            NodeStatus::Failed => "failed",
            NodeStatus::Stopped => "stopped",
            NodeStatus::Dead => "dead",
        }
    }
}

/// One node's record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeState {
    pub pid: Option<i32>,
    pub status: NodeStatus,
    pub ssh_port: u16,
    pub console_port: u16,
    pub platform: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<BootStage>,
    /// When QEMU started (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<String>,
    /// Seconds from launch to ready, once ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_seconds: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_user: Option<String>,
    /// Kept so `vmlab ssh` needs no prompt; state.json is private to the user (mode 0600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_pass: Option<String>,
    pub pidfile: PathBuf,
    pub qmp: PathBuf,
    pub console_log: PathBuf,
    /// QEMU's launch messages.
    #[serde(default)]
    pub qemu_log: PathBuf,
    /// Seconds the node may take to become ready.
    #[serde(default)]
    pub boot_timeout_secs: u64,
    /// The QEMU command line, so the node can be started again without the spec.
    #[serde(default)]
    pub argv: Vec<String>,
    /// Link sockets vmlab binds and hands to this QEMU at each start.
    #[serde(default)]
    pub listeners: Vec<ListenerRecord>,
}

/// A listening link socket a node's QEMU inherits at a fixed fd number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListenerRecord {
    pub link: usize,
    pub port: u16,
    pub fd: i32,
}

/// One link's record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkRecord {
    pub a: String,
    pub z: String,
    pub port: u16,
    pub transport: LinkTransport,
}

/// A link's observed state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkState {
    /// The two QEMUs hold an established TCP connection.
    Up,
    /// Both ends run but are not connected (yet).
    Waiting,
    /// An end is not running.
    Down,
}

impl LinkState {
    pub fn label(self) -> &'static str {
        match self {
            LinkState::Up => "up",
            LinkState::Waiting => "waiting",
            LinkState::Down => "down",
        }
    }
}

/// The whole file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabState {
    pub name: String,
    pub created: String,
    pub spec_dir: PathBuf,
    pub lab_dir: PathBuf,
    pub accel: Accel,
    /// Nodes by name (sorted: the file is for humans too).
    pub nodes: BTreeMap<String, NodeState>,
    /// Node names in topology order.
    pub node_order: Vec<String>,
    pub links: Vec<LinkRecord>,
}

impl LabState {
    /// A fresh state for a plan about to be deployed.
    pub fn from_plan(plan: &LabPlan) -> Self {
        let mut nodes = BTreeMap::new();
        for n in &plan.nodes {
            nodes.insert(
                n.name.clone(),
                NodeState {
                    pid: None,
                    status: NodeStatus::Pending,
                    ssh_port: n.ssh_port,
                    console_port: n.console_port,
                    platform: n.platform.clone(),
                    host: n.host.clone(),
                    stage: None,
                    started: None,
                    boot_seconds: None,
                    ssh_user: n.credentials.as_ref().map(|c| c.user.clone()),
                    ssh_pass: n.credentials.as_ref().map(|c| c.pass.clone()),
                    pidfile: n.paths.pidfile.clone(),
                    qmp: n.paths.qmp.clone(),
                    console_log: n.paths.console_log.clone(),
                    qemu_log: n.paths.qemu_log.clone(),
                    boot_timeout_secs: n.boot_timeout_secs,
                    argv: n.argv.clone(),
                    listeners: n
                        .listeners
                        .iter()
                        .map(|l| ListenerRecord {
                            link: l.link,
                            port: l.port,
                            fd: l.fd,
                        })
                        .collect(),
                },
            );
        }
        LabState {
            name: plan.name.clone(),
            created: now_rfc3339(),
            spec_dir: plan.spec_dir.clone(),
            lab_dir: plan.lab_dir.clone(),
            accel: plan.accel,
            nodes,
            node_order: plan.nodes.iter().map(|n| n.name.clone()).collect(),
            links: plan
                .links
                .iter()
                .map(|l| LinkRecord {
                    a: l.a.to_string(),
                    z: l.z.to_string(),
                    port: l.port,
                    transport: l.transport,
                })
                .collect(),
        }
    }

    /// One node's record, or an error naming the lab's nodes.
    pub fn node(&self, name: &str) -> Result<&NodeState, EngineError> {
        self.nodes.get(name).ok_or_else(|| EngineError::NoSuchNode {
            lab: self.name.clone(),
            node: name.to_string(),
            known: self.node_order.join(", "),
        })
    }

    /// Nodes in topology order.
    pub fn ordered_nodes(&self) -> impl Iterator<Item = (&String, &NodeState)> {
        self.node_order
            .iter()
            .filter_map(|n| self.nodes.get_key_value(n))
    }

    /// Reads `state.json` of a lab directory.
    pub fn load(lab_dir: &Path) -> Result<Self, EngineError> {
        let path = state_file(lab_dir);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| EngineError::io(format!("cannot read {}", path.display()), e))?;
        serde_json::from_str(&text).map_err(|e| {
            EngineError::LabState(format!(
                "{} is damaged ({e}); run `vmlab destroy --force --lab {}` to clean up",
                path.display(),
                lab_dir
                    .file_name()
                    .map(|n| n.to_string_lossy())
                    .unwrap_or_default()
            ))
        })
    }

    /// Reads, changes and writes the state under an exclusive lock, so concurrent updates
    /// (two nodes started at once from a TUI) do not lose each other's changes.
    pub fn update(
        lab_dir: &Path,
        change: impl FnOnce(&mut LabState),
    ) -> Result<LabState, EngineError> {
        let lock_path = lab_dir.join(".state.lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| EngineError::io(format!("cannot open {}", lock_path.display()), e))?;
        let _lock = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, e)| EngineError::io("cannot lock the lab state", e.into()))?;
        let mut state = LabState::load(lab_dir)?;
        change(&mut state);
        state.save()?;
        Ok(state)
    }

    /// Writes `state.json` atomically, readable by the user only.
    pub fn save(&self) -> Result<(), EngineError> {
        let path = state_file(&self.lab_dir);
        let mut text = serde_json::to_string_pretty(self)
            .map_err(|e| EngineError::io("cannot encode state", std::io::Error::other(e)))?;
        text.push('\n');
        if !path.exists() {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&path)
                .map_err(|e| EngineError::io(format!("cannot create {}", path.display()), e))?;
        }
        atomic_write(&path, text.as_bytes())
            .map_err(|e| EngineError::io(format!("cannot write {}", path.display()), e))
    }
}

/// Now as RFC 3339 (UTC, seconds).
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}
