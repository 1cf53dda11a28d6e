//! `state.json` (HLD §8.2): what a lab directory holds and what runs in it.
//!
//! Every change goes through [`LabState::update`]: a read-modify-write under the lab's state
//! lock, written atomically, so concurrent commands never lose each other's changes and a
//! reader (`status`, the TUI's monitor) always sees a whole file. The file is the user's alone
//! (mode 0600 in a 0700 directory): it holds the SSH credentials.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::LabDir;
use super::lock::with_state_lock;
use crate::error::EngineError;
use crate::fsutil::atomic_write;
use crate::link::LinkRecord;
use crate::link::supervise::RelayRecord;
use crate::node::{NodeState, NodeStatus};
use crate::plan::{Accel, LabPlan};
use crate::spec::LabName;

/// The whole file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabState {
    /// Checked when read: a state file cannot name a lab outside the labs directory.
    pub name: LabName,
    pub created: String,
    pub spec_dir: PathBuf,
    pub lab_dir: PathBuf,
    pub accel: Accel,
    /// In a multi-host lab: the host this lab directory is (its nodes run here; the others
    /// are recorded as remote).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Nodes by name (sorted: the file is for humans too).
    pub nodes: BTreeMap<String, NodeState>,
    /// Node names in topology order.
    pub node_order: Vec<String>,
    pub links: Vec<LinkRecord>,
    /// The lab's link relay, while one should run (`None` with direct links, or before it
    /// started).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relay: Option<RelayRecord>,
    /// The port bases the lab was deployed with (the spec's, or the free block it moved to).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<crate::plan::ports::PortBases>,
    /// Why its ports are not the spec's, when they were moved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports_moved: Option<String>,
    /// Hosts coalesced into host VMs: each a namespace of one of `nodes`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub virtual_hosts: Vec<crate::plan::coalesce::VirtualHost>,
}

impl LabState {
    /// Does the relay this state records still run, as the relay of `lab` (its command line
    /// and executable checked, not only its pid)?
    pub fn relay_alive(&self, lab: &LabDir) -> bool {
        self.relay.as_ref().is_some_and(|r| {
            crate::link::supervise::is_our_relay(r.pid, lab.path(), r.exe.as_deref())
        })
    }

    /// A fresh state for a plan about to be deployed.
    pub fn from_plan(plan: &LabPlan) -> Self {
        let mut nodes = BTreeMap::new();
        for n in &plan.nodes {
            nodes.insert(
                n.name.clone(),
                NodeState {
                    pid: None,
                    status: if n.local {
                        NodeStatus::Pending
                    } else {
                        NodeStatus::Remote
                    },
                    ssh_port: n.ssh_port,
                    console_port: n.console_port,
                    platform: n.platform.clone(),
                    mgmt_addr: n.mgmt_addr,
                    image: Some(n.image.clone()),
                    host: n.host.clone(),
                    stage: None,
                    patch: None,
                    started: None,
                    ready_at: None,
                    boot_seconds: None,
                    exe: None,
                    failure: None,
                    waiting: None,
                    ssh_user: n.credentials.as_ref().map(|c| c.user.clone()),
                    // A secret's value is never written down: its key is, and the value is
                    // looked up in the spec's secrets.json when ssh needs it.
                    ssh_pass: n
                        .credentials
                        .as_ref()
                        .filter(|c| c.secret.is_none())
                        .map(|c| c.pass.clone()),
                    ssh_pass_secret: n.credentials.as_ref().and_then(|c| c.secret.clone()),
                    device_type: Some(n.device_type.clone()),
                    host_ip: n.host_ip.clone(),
                    boot_timeout_secs: n.boot_timeout_secs,
                    ssh_key: n.ssh_key,
                    key_installed: false,
                    argv: n.argv.clone(),
                    paused: None,
                },
            );
        }
        LabState {
            name: plan.name.clone(),
            created: now_rfc3339(),
            spec_dir: plan.spec_dir.clone(),
            lab_dir: plan.lab_dir.clone(),
            accel: plan.accel,
            host: plan.local_host.clone(),
            ports: Some(plan.port_bases),
            ports_moved: plan.ports_moved.clone(),
            virtual_hosts: plan.virtual_hosts.clone(),
            nodes,
            node_order: plan.nodes.iter().map(|n| n.name.clone()).collect(),
            links: plan
                .links
                .iter()
                .map(|l| LinkRecord {
                    index: l.index,
                    a: l.a.to_string(),
                    z: l.z.to_string(),
                    a_nic: l.a.nic,
                    z_nic: l.z.nic,
                    port: l.port,
                    transport: l.transport,
                })
                .collect(),
            relay: None,
        }
    }

    /// One node's record, or an error naming the lab's nodes.
    pub fn node(&self, name: &str) -> Result<&NodeState, EngineError> {
        if let (None, Some(h)) = (self.nodes.get(name), self.virtual_host(name)) {
            return Err(EngineError::LabState(format!(
                "{name} is a host in namespace {name} of VM {vm}, not a VM of its own: `vmlab \
                 ssh {name}` and `exec` reach it; start, stop and snapshots are {vm}'s",
                vm = h.vm
            )));
        }
        self.nodes.get(name).ok_or_else(|| EngineError::NoSuchNode {
            lab: self.name.to_string(),
            node: name.to_string(),
            known: self.node_order.join(", "),
        })
    }

    /// The coalesced host `name`, if it is one.
    pub fn virtual_host(&self, name: &str) -> Option<&crate::plan::coalesce::VirtualHost> {
        self.virtual_hosts.iter().find(|h| h.name == name)
    }

    /// The VM a node name runs in: itself, or a coalesced host's VM.
    pub fn machine_of<'a>(&'a self, name: &'a str) -> &'a str {
        self.virtual_host(name).map_or(name, |h| h.vm.as_str())
    }

    /// The ssh command for `node` (see [`crate::ssh::ssh_command`]), with the lab's
    /// own known_hosts.
    pub fn ssh_command(
        &self,
        node: &str,
        remote: &[String],
        askpass: &std::path::Path,
    ) -> Result<std::process::Command, EngineError> {
        self.ssh_command_via(node, remote, askpass, false)
    }

    /// As [`Self::ssh_command`], for a command (not a login): over the connection shared by
    /// the node's machine (`exec`, `validate`), made on first use.
    pub fn command_ssh(
        &self,
        node: &str,
        remote: &[String],
        askpass: &std::path::Path,
    ) -> Result<std::process::Command, EngineError> {
        self.ssh_command_via(node, remote, askpass, true)
    }

    fn ssh_command_via(
        &self,
        node: &str,
        remote: &[String],
        askpass: &std::path::Path,
        share: bool,
    ) -> Result<std::process::Command, EngineError> {
        let known_hosts = self.lab_dir.join("known_hosts");
        // A coalesced host: its VM's login, the command run inside its namespace.
        let wrapped;
        let (node, remote, tty) = match self.virtual_host(node) {
            Some(h) => {
                wrapped = [crate::plan::coalesce::in_namespace(&h.name, remote)];
                (h.vm.as_str(), &wrapped[..], remote.is_empty())
            }
            None => (node, remote, false),
        };
        let n = self.node(node)?;
        let pass = match (&n.ssh_pass, &n.ssh_pass_secret) {
            (Some(p), _) => Some(p.clone()),
            (None, Some(key)) => Some(self.secret(node, key)?),
            (None, None) => None,
        };
        let shared = share
            .then(|| crate::ssh::shared_socket(&self.lab_dir, node))
            .flatten();
        crate::ssh::ssh_command(
            node,
            n,
            pass.as_deref(),
            &known_hosts,
            remote,
            askpass,
            tty,
            shared.as_deref(),
        )
    }

    /// The value of newtron's secret `key` (a node's password), read from the spec's
    /// secrets.json now. Errors name the key and the file, never a value.
    fn secret(&self, node: &str, key: &str) -> Result<String, EngineError> {
        let path = self.spec_dir.join("secrets.json");
        let doc: serde_json::Value = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .ok_or_else(|| {
                EngineError::LabState(format!(
                    "{node}'s password is secret {key:?} of {}, which cannot be read now",
                    path.display()
                ))
            })?;
        doc.get(key)
            .and_then(|v| v.as_str())
            .map(str::to_string)
            .ok_or_else(|| {
                EngineError::LabState(format!(
                    "{node}'s password is secret {key:?}, which {} no longer has; add it back \
                     or redeploy",
                    path.display()
                ))
            })
    }

    /// Nodes in topology order.
    pub fn ordered_nodes(&self) -> impl Iterator<Item = (&String, &NodeState)> {
        self.node_order
            .iter()
            .filter_map(|n| self.nodes.get_key_value(n))
    }

    /// Reads the lab's `state.json`.
    pub fn load(lab: &LabDir) -> Result<Self, EngineError> {
        let path = lab.state_file();
        let text = std::fs::read_to_string(&path)
            .map_err(|e| EngineError::io(format!("cannot read {}", path.display()), e))?;
        let state: LabState = serde_json::from_str(&text).map_err(|e| {
            EngineError::LabState(format!(
                "{} is damaged ({e}); run `vmlab destroy --force --lab {}` to clean up",
                path.display(),
                lab.name()
            ))
        })?;
        if &state.name != lab.name() {
            return Err(EngineError::LabState(format!(
                "{} describes lab {:?}, not {:?}; run `vmlab destroy --force --lab {}` to clean up",
                path.display(),
                state.name.as_str(),
                lab.name().as_str(),
                lab.name()
            )));
        }
        Ok(state)
    }

    /// Reads, changes and writes the state under the state lock, so concurrent updates (two
    /// nodes started at once) never lose each other's changes. Returns what `change` returned.
    pub fn update<T>(
        lab: &LabDir,
        change: impl FnOnce(&mut LabState) -> T,
    ) -> Result<T, EngineError> {
        with_state_lock(lab.name(), || {
            let mut state = LabState::load(lab)?;
            let out = change(&mut state);
            state.save(lab)?;
            Ok(out)
        })
    }

    /// Changes one node's record (see [`NodeState`]'s transitions).
    pub fn update_node<T>(
        lab: &LabDir,
        node: &str,
        change: impl FnOnce(&mut NodeState) -> T,
    ) -> Result<T, EngineError> {
        let out = Self::update(lab, |s| {
            let n = s.nodes.get_mut(node)?;
            let out = change(n);
            tracing::info!(
                "state.json of lab {}: {node} is {}{}{}",
                lab.name(),
                n.status.label(),
                n.stage
                    .map(|st| format!(" ({})", st.label()))
                    .unwrap_or_default(),
                n.pid.map(|p| format!(", pid {p}")).unwrap_or_default()
            );
            Some(out)
        })?;
        out.ok_or_else(|| EngineError::LabState(format!("{node} is not in the lab")))
    }

    /// Writes a new `state.json` (the first one of a deploy), under the state lock.
    pub fn create(&self, lab: &LabDir) -> Result<(), EngineError> {
        with_state_lock(lab.name(), || self.save(lab))
    }

    /// Writes `state.json` atomically, readable by the user only.
    fn save(&self, lab: &LabDir) -> Result<(), EngineError> {
        let path = lab.state_file();
        let mut text = serde_json::to_string_pretty(self)
            .map_err(|e| EngineError::io("cannot encode state", std::io::Error::other(e)))?;
        text.push('\n');
        atomic_write(&path, text.as_bytes(), Some(0o600))
            .map_err(|e| EngineError::io(format!("cannot write {}", path.display()), e))
    }
}

/// Now as RFC 3339 (UTC, seconds).
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// Now as RFC 3339 (UTC, milliseconds): node start and ready times, precise enough to order
/// boots.
pub fn now_rfc3339_millis() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}
