//! A node's recorded state and its lifecycle: the one set of transitions that deploy, start,
//! stop, restart and the boot watch all go through, so a node's record changes the same way
//! whichever command moves it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::process::QemuIdentity;

/// A node's lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
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
    /// Placed on another host of a multi-host lab: that host runs it.
    Remote,
    /// QEMU runs but its CPUs are stopped: a snapshot or restore paused it and has not
    /// resumed it (derived when reading: the record says a pause began and QEMU says so).
    Paused,
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
            NodeStatus::Remote => "remote",
            NodeStatus::Paused => "paused",
        }
    }
}

/// How far a node's boot has got, in order.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum BootStage {
    /// QEMU is running (its pidfile is written).
    Launched,
    /// The guest has printed something on its serial console.
    Booting,
    /// The console shows a login or shell prompt.
    ConsolePrompt,
    /// The forwarded SSH port answered with an `SSH-2.0-` banner.
    SshBanner,
    /// Its platform's boot patches are being applied (`patch` says which).
    Patching,
    /// The node is usable.
    Ready,
}

impl BootStage {
    pub fn label(self) -> &'static str {
        match self {
            BootStage::Launched => "launched",
            BootStage::Booting => "booting",
            BootStage::ConsolePrompt => "console prompt",
            BootStage::SshBanner => "ssh banner",
            BootStage::Patching => "patching",
            BootStage::Ready => "ready",
        }
    }
}

/// One node's record in `state.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeState {
    pub pid: Option<i32>,
    pub status: NodeStatus,
    pub ssh_port: u16,
    /// The console's TCP port (`vmlab.consoles: "tcp"`); `None`: its unix socket in the lab.
    #[serde(default)]
    pub console_port: Option<u16>,
    pub platform: String,
    /// The address its SSH answers on (its host's, in a multi-host lab).
    #[serde(default = "loopback")]
    pub mgmt_addr: std::net::IpAddr,
    /// The base disk image its overlay sits on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<BootStage>,
    /// While its boot patches are applied: `[which, of how many]` (1-based).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch: Option<[usize; 2]>,
    /// When QEMU started (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<String>,
    /// When the node became ready (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_at: Option<String>,
    /// Seconds from launch to ready, once ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_seconds: Option<f64>,
    /// The executable of the running QEMU, read from `/proc/<pid>/exe` as its launch returned:
    /// with the pidfile argument, what proves a pid is this node's QEMU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exe: Option<PathBuf>,
    /// Why the last launch or boot failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// What a pending node waits for before it starts (staged boot).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_user: Option<String>,
    /// Kept so `vmlab ssh` needs no prompt; state.json is private to the user (mode 0600).
    /// Never a secret's value: see `ssh_pass_secret`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_pass: Option<String>,
    /// The password is newtron's secret of this key: looked up in the spec's secrets.json
    /// each time it is needed, never recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_pass_secret: Option<String>,
    /// newtron's `device_type` (`switch` or `host`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_type: Option<String>,
    /// newtron's `host_ip` of the node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<String>,
    /// Seconds the node may take to become ready.
    #[serde(default)]
    pub boot_timeout_secs: u64,
    /// Install the lab's SSH key in the guest whenever it becomes ready (`vm_ssh_key`).
    #[serde(default = "yes")]
    pub ssh_key: bool,
    /// Did the lab's SSH key reach the guest at its last boot?
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub key_installed: bool,
    /// The QEMU command line, so the node can be started again without the spec.
    #[serde(default)]
    pub argv: Vec<String>,
    /// When vmlab paused this QEMU (a snapshot or restore), until it resumed it. Written
    /// before the pause, so a vmlab that dies in between leaves the trace status reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<String>,
}

fn yes() -> bool {
    true
}

fn loopback() -> std::net::IpAddr {
    std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)
}

/// The transitions. Each leaves the record consistent on its own.
impl NodeState {
    /// What proves a pid is this node's QEMU: the executable recorded at launch, else the
    /// command line planned for it.
    pub fn qemu_identity<'a>(&'a self, pidfile: &'a Path) -> QemuIdentity<'a> {
        QemuIdentity {
            pidfile,
            exe: self.exe.as_deref(),
            argv: Some(&self.argv),
        }
    }

    /// A node not started yet waits (for other nodes, its boot delay, a boot slot).
    pub fn waiting(&mut self, why: &str) {
        self.status = NodeStatus::Pending;
        self.waiting = Some(why.to_string());
    }

    /// QEMU was launched and wrote its pidfile.
    pub fn launched(&mut self, pid: i32, exe: Option<PathBuf>, at: String) {
        self.waiting = None;
        self.pid = Some(pid);
        self.exe = exe;
        self.status = NodeStatus::Booting;
        self.stage = Some(BootStage::Launched);
        self.patch = None;
        self.started = Some(at);
        self.ready_at = None;
        self.boot_seconds = None;
        self.failure = None;
        self.key_installed = false;
        self.paused = None;
    }

    /// vmlab is about to pause this node's QEMU.
    pub fn pausing(&mut self, at: String) {
        self.paused = Some(at);
    }

    /// vmlab resumed this node's QEMU.
    pub fn resumed(&mut self) {
        self.paused = None;
    }

    /// QEMU `pid` runs again from a snapshot's saved state: the guest is as ready as it was
    /// when the snapshot was taken (every node was then). False if another QEMU runs the node.
    pub fn restored(&mut self, pid: i32, at: String) -> bool {
        if self.pid != Some(pid) {
            return false;
        }
        self.status = NodeStatus::Running;
        self.stage = Some(BootStage::Ready);
        self.patch = None;
        self.ready_at = Some(at);
        self.failure = None;
        self.waiting = None;
        self.paused = None;
        true
    }

    /// The boot of QEMU `pid` reached `stage` (ignored if another QEMU runs the node now, or
    /// the stage would step back).
    pub fn reached(&mut self, pid: i32, stage: BootStage) {
        if self.pid == Some(pid) && self.status == NodeStatus::Booting {
            self.stage = Some(self.stage.map_or(stage, |s| s.max(stage)));
        }
    }

    /// The boot of QEMU `pid` is applying boot patch `which` of `total`.
    pub fn patching(&mut self, pid: i32, which: usize, total: usize) {
        if self.pid == Some(pid) && self.status == NodeStatus::Booting {
            self.stage = Some(BootStage::Patching);
            self.patch = Some([which, total]);
        }
    }

    /// The boot of QEMU `pid` finished: the node is ready. False if the node has moved on
    /// (stopped, or started again) since that boot began.
    pub fn ready(&mut self, pid: i32, boot_secs: f64, at: String) -> bool {
        if self.pid != Some(pid) || self.status != NodeStatus::Booting {
            return false;
        }
        self.status = NodeStatus::Running;
        self.stage = Some(BootStage::Ready);
        self.patch = None;
        self.ready_at = Some(at);
        self.boot_seconds = Some((boot_secs * 10.0).round() / 10.0);
        true
    }

    /// A launch failed (`pid` is `None`) or the boot of QEMU `pid` failed. The pid stays
    /// recorded while that QEMU may still run, so destroy and stop find it.
    pub fn failed(&mut self, pid: Option<i32>, reason: &str) -> bool {
        if pid.is_some() && self.pid != pid {
            return false;
        }
        self.status = NodeStatus::Failed;
        self.failure = Some(reason.to_string());
        self.waiting = None;
        true
    }

    /// The node's QEMU was stopped on purpose (or is gone).
    pub fn stopped(&mut self) {
        self.pid = None;
        self.exe = None;
        self.status = NodeStatus::Stopped;
        self.stage = None;
        self.patch = None;
        self.ready_at = None;
        self.paused = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node() -> NodeState {
        NodeState {
            pid: None,
            status: NodeStatus::Pending,
            ssh_port: 1,
            console_port: Some(2),
            platform: "p".into(),
            mgmt_addr: loopback(),
            image: None,
            host: None,
            stage: None,
            patch: None,
            started: None,
            ready_at: None,
            boot_seconds: None,
            exe: None,
            failure: None,
            waiting: None,
            ssh_user: None,
            ssh_pass: None,
            ssh_pass_secret: None,
            device_type: None,
            host_ip: None,
            boot_timeout_secs: 60,
            ssh_key: true,
            key_installed: false,
            argv: Vec::new(),
            paused: None,
        }
    }

    #[test]
    fn a_boot_goes_launched_to_ready() {
        let mut n = node();
        n.launched(7, None, "t0".into());
        n.reached(7, BootStage::ConsolePrompt);
        n.reached(7, BootStage::Booting);
        assert_eq!(
            n.stage,
            Some(BootStage::ConsolePrompt),
            "stages never step back"
        );
        assert!(n.ready(7, 4.26, "t1".into()));
        assert_eq!(
            (n.status, n.stage, n.boot_seconds),
            (NodeStatus::Running, Some(BootStage::Ready), Some(4.3))
        );
    }

    #[test]
    fn a_stale_boot_cannot_overwrite_a_newer_start() {
        let mut n = node();
        n.launched(7, None, "t0".into());
        n.stopped();
        n.launched(8, None, "t1".into());
        assert!(!n.ready(7, 1.0, "t2".into()), "old watch finished late");
        assert!(!n.failed(Some(7), "old"));
        assert_eq!((n.pid, n.status), (Some(8), NodeStatus::Booting));
        n.stopped();
        assert!(!n.ready(8, 1.0, "t3".into()), "stopped while booting");
        assert_eq!(n.status, NodeStatus::Stopped);
    }

    #[test]
    fn a_pause_is_recorded_until_resumed_or_restored() {
        let mut n = node();
        n.launched(7, None, "t0".into());
        assert!(n.ready(7, 1.0, "t1".into()));
        n.pausing("t2".into());
        assert_eq!(n.paused.as_deref(), Some("t2"));
        n.resumed();
        assert_eq!(n.paused, None);
        n.pausing("t3".into());
        assert!(!n.restored(8, "t4".into()), "another QEMU");
        assert!(n.restored(7, "t4".into()));
        assert_eq!(
            (n.status, n.paused, n.ready_at.as_deref()),
            (NodeStatus::Running, None, Some("t4"))
        );
    }
}
