//! The plan layer: what vmlab will do, as a pure value (no I/O, no tokio, no clock).
//!
//! [`build`] turns a resolved [`Lab`] into a [`LabPlan`]: the ports of every node and link
//! (HLD §5.2), every NIC with its PCI slot and MAC, which end of each link listens, the files of
//! the lab directory, and each node's complete QEMU command line. The engine executes a plan; it
//! never decides any of this itself, so a snapshot of the plan is a snapshot of what would run.

pub mod nics;
pub mod ports;
pub mod qemu;

use std::path::{Path, PathBuf};

use std::collections::HashMap;

use crate::spec::{Credentials, Endpoint, Lab, LabName, Link, SpecError};

pub use nics::{Mac, NicPlan, NicRole};
pub use ports::{PortRole, PortUse};

/// How QEMU executes guest code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Accel {
    Kvm,
    Tcg,
}

impl std::fmt::Display for Accel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Accel::Kvm => "KVM",
            Accel::Tcg => "TCG",
        })
    }
}

/// What the plan needs besides the lab: where the lab lives and how QEMU runs.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    /// `$VMLAB_HOME/labs/<name>`, absolute.
    pub lab_dir: PathBuf,
    pub accel: Accel,
    /// The QEMU system emulator to run.
    pub qemu: String,
}

/// Files of one node inside the lab directory (HLD §8.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodePaths {
    /// `disks/<node>.qcow2`: copy-on-write overlay on the platform image.
    pub overlay: PathBuf,
    /// `qemu/<node>.pid`: written by QEMU; its path on QEMU's command line is how vmlab
    /// recognises its own processes.
    pub pidfile: PathBuf,
    /// `qemu/<node>.mon`: QMP socket.
    pub qmp: PathBuf,
    /// `logs/<node>.log`: everything the guest printed on its serial console.
    pub console_log: PathBuf,
    /// `logs/<node>.qemu.log`: QEMU's own messages at launch.
    pub qemu_log: PathBuf,
}

impl NodePaths {
    pub fn new(lab_dir: &Path, node: &str) -> Self {
        NodePaths {
            overlay: lab_dir.join("disks").join(format!("{node}.qcow2")),
            pidfile: lab_dir.join("qemu").join(format!("{node}.pid")),
            qmp: lab_dir.join("qemu").join(format!("{node}.mon")),
            console_log: lab_dir.join("logs").join(format!("{node}.log")),
            qemu_log: lab_dir.join("logs").join(format!("{node}.qemu.log")),
        }
    }
}

/// A listening socket the engine binds and hands to a node's QEMU as an inherited fd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InheritedListener {
    pub link: usize,
    pub port: u16,
    /// The fd number QEMU's command line names.
    pub fd: i32,
}

/// Everything about one VM.
#[derive(Debug, Clone, PartialEq)]
pub struct NodePlan {
    pub name: String,
    pub index: usize,
    pub platform: String,
    pub image: PathBuf,
    pub memory_mb: u64,
    pub cpus: u32,
    pub ssh_port: u16,
    pub console_port: u16,
    pub host: Option<String>,
    pub credentials: Option<Credentials>,
    pub boot_timeout_secs: u64,
    pub profile: PathBuf,
    pub nics: Vec<NicPlan>,
    pub listeners: Vec<InheritedListener>,
    pub paths: NodePaths,
    /// The complete QEMU command line, program first.
    pub argv: Vec<String>,
}

/// How a link's two QEMUs meet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LinkTransport {
    /// TCP: the `a` end's QEMU inherits a socket vmlab bound and listens on it; the `z` end
    /// connects. Start order does not matter because the socket exists before either QEMU.
    TcpInherited,
}

/// One link: its port, its ends and how they meet.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkPlan {
    pub index: usize,
    pub a: Endpoint,
    pub z: Endpoint,
    pub port: u16,
    pub transport: LinkTransport,
}

/// The whole lab, ready to execute.
#[derive(Debug, Clone, PartialEq)]
pub struct LabPlan {
    pub name: LabName,
    pub spec_dir: PathBuf,
    pub lab_dir: PathBuf,
    pub accel: Accel,
    pub nodes: Vec<NodePlan>,
    pub links: Vec<LinkPlan>,
    /// Every port the lab binds, with its role (sorted by port).
    pub ports: Vec<PortUse>,
}

impl LabPlan {
    pub fn node(&self, name: &str) -> Option<&NodePlan> {
        self.nodes.iter().find(|n| n.name == name)
    }
}

/// Builds the plan. Port problems (past 65535, two roles on one port) come back as spec errors
/// naming topology.json's port settings.
pub fn build(lab: &Lab, opts: &PlanOptions) -> Result<LabPlan, Vec<SpecError>> {
    let ports = ports::allocate(lab)?;
    // Links by the nodes they touch, so planning stays linear in the lab's size.
    let index: HashMap<&str, usize> = lab
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.name.as_str(), i))
        .collect();
    let mut touching: Vec<Vec<&Link>> = vec![Vec::new(); lab.nodes.len()];
    for l in &lab.links {
        for end in [&l.a, &l.z] {
            if let Some(i) = index.get(end.node.as_str())
                && touching[*i].last().is_none_or(|last| last.index != l.index)
            {
                touching[*i].push(l);
            }
        }
    }
    let mut nodes = Vec::with_capacity(lab.nodes.len());
    for (node, links) in lab.nodes.iter().zip(&touching) {
        let nics = nics::plan_nics(lab.name.as_str(), node, links);
        let listeners = links
            .iter()
            .filter(|l| l.a.node == node.name)
            .enumerate()
            .map(|(k, l)| InheritedListener {
                link: l.index,
                port: ports.link[l.index],
                // fds 0-2 are stdio; inherited listeners follow.
                fd: 3 + k as i32,
            })
            .collect::<Vec<_>>();
        let paths = NodePaths::new(&opts.lab_dir, &node.name);
        let ssh_port = ports.ssh[node.index];
        let console_port = ports.console[node.index];
        let argv = qemu::argv(&qemu::QemuInput {
            qemu: &opts.qemu,
            lab: lab.name.as_str(),
            node,
            accel: opts.accel,
            ssh_port,
            console_port,
            nics: &nics,
            listeners: &listeners,
            link_ports: &ports.link,
            paths: &paths,
        });
        nodes.push(NodePlan {
            name: node.name.clone(),
            index: node.index,
            platform: node.platform.clone(),
            image: node.image.clone(),
            memory_mb: node.memory_mb,
            cpus: node.cpus,
            ssh_port,
            console_port,
            host: node.host.clone(),
            credentials: node.credentials.clone(),
            boot_timeout_secs: node.boot_timeout_secs,
            profile: node.profile.clone(),
            nics,
            listeners,
            paths,
            argv,
        });
    }
    let links = lab
        .links
        .iter()
        .map(|l| LinkPlan {
            index: l.index,
            a: l.a.clone(),
            z: l.z.clone(),
            port: ports.link[l.index],
            transport: LinkTransport::TcpInherited,
        })
        .collect();
    Ok(LabPlan {
        name: lab.name.clone(),
        spec_dir: lab.spec_dir.clone(),
        lab_dir: opts.lab_dir.clone(),
        accel: opts.accel,
        nodes,
        links,
        ports: ports.table,
    })
}
