//! The plan layer: what vmlab will do, as a pure value (no I/O, no tokio, no clock).
//!
//! [`build`] turns a resolved [`Lab`] into a [`LabPlan`]: the ports of every node and link
//! (HLD §5.2), every NIC with its PCI slot and MAC, the unix datagram sockets of every link, the
//! files of the lab directory, and each node's complete QEMU command line. The engine executes a plan; it
//! never decides any of this itself, so a snapshot of the plan is a snapshot of what would run.

pub mod nics;
pub mod ports;
pub mod qemu;

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::spec::{Credentials, Endpoint, Lab, LabName, Link, LinkImpair, LinkMode, SpecError};

pub use nics::{Mac, NicPlan, NicRole};
pub use ports::{PortRole, PortUse};

/// How QEMU executes guest code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Accel {
    Kvm,
    Tcg,
}

impl Accel {
    /// QEMU's name for the accelerator and the CPU model vmlab runs under it: `host` under
    /// KVM, `max` under TCG (see `qemu.rs` for why). Labs and the KVM probe both use it.
    pub fn qemu_names(self) -> (&'static str, &'static str) {
        match self {
            Accel::Kvm => ("kvm", "host"),
            Accel::Tcg => ("tcg", "max"),
        }
    }
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
    /// In a multi-host lab: the host this plan is for (`--host`). Its nodes are launched
    /// here; the others are remote.
    pub local_host: Option<String>,
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
    /// `qemu/<node>.con`: the serial console's unix socket (unless consoles are on TCP).
    pub console: PathBuf,
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
            console: lab_dir.join("qemu").join(format!("{node}.con")),
            console_log: lab_dir.join("logs").join(format!("{node}.log")),
            qemu_log: lab_dir.join("logs").join(format!("{node}.qemu.log")),
        }
    }
}

/// The unix datagram sockets of one link, all inside the lab's `links/` directory (0700, so
/// no other local user can send into a link or read from it). Names are short: a unix socket
/// path holds at most 107 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkSockets {
    /// What the `a` end's QEMU binds.
    pub a_vm: PathBuf,
    /// What the relay binds to talk to the `a` end.
    pub a_relay: PathBuf,
    pub z_vm: PathBuf,
    pub z_relay: PathBuf,
}

impl LinkSockets {
    pub fn new(lab_dir: &Path, index: usize) -> Self {
        let dir = lab_dir.join("links");
        LinkSockets {
            a_vm: dir.join(format!("{index}a.vm")),
            a_relay: dir.join(format!("{index}a.rl")),
            z_vm: dir.join(format!("{index}z.vm")),
            z_relay: dir.join(format!("{index}z.rl")),
        }
    }

    /// (bound by this end's QEMU, where it sends) for the end `end` under `mode`.
    pub fn of(&self, end: End, mode: LinkTransport) -> (&Path, &Path) {
        match (end, mode) {
            (End::A, LinkTransport::Direct) => (&self.a_vm, &self.z_vm),
            (End::Z, LinkTransport::Direct) => (&self.z_vm, &self.a_vm),
            (End::A, _) => (&self.a_vm, &self.a_relay),
            (End::Z, _) => (&self.z_vm, &self.z_relay),
        }
    }
}

/// One end of a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum End {
    A,
    Z,
}

/// Everything about one VM.
#[derive(Debug, Clone, PartialEq)]
pub struct NodePlan {
    pub name: String,
    pub index: usize,
    pub platform: String,
    /// Does this host run it (always, in a one-host lab)?
    pub local: bool,
    /// The address its SSH forward binds and others reach it on: 127.0.0.1 in a one-host
    /// lab, its host's address in a multi-host one (consoles always stay on 127.0.0.1).
    pub mgmt_addr: IpAddr,
    pub image: PathBuf,
    pub memory_mb: u64,
    pub cpus: u32,
    pub ssh_port: u16,
    /// The console's TCP port with `vmlab.consoles: "tcp"`; else the console is the unix
    /// socket `paths.console`.
    pub console_port: Option<u16>,
    pub host: Option<String>,
    pub credentials: Option<Credentials>,
    pub boot_timeout_secs: u64,
    /// Install the lab's SSH key in the guest once it is ready (`vm_ssh_key`).
    pub ssh_key: bool,
    /// Staged boot: wait this long once the node may start.
    pub boot_delay_secs: u64,
    /// Staged boot: these nodes must be ready before this one starts.
    pub wait_for: Vec<String>,
    pub profile: PathBuf,
    pub nics: Vec<NicPlan>,
    pub paths: NodePaths,
    /// The complete QEMU command line, program first.
    pub argv: Vec<String>,
}

/// How a link's two QEMUs meet. Either way each QEMU binds a unix datagram socket of its own
/// (`-netdev dgram`), so there is no start order and either end restarts freely.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LinkTransport {
    /// Each QEMU sends to the lab's relay, which forwards to the other end: counters, down/up,
    /// impairments and capture live there.
    Relay,
    /// Each QEMU sends straight to the other's socket.
    Direct,
    /// The ends are on two hosts: this host's VM talks to this host's relay, and the two
    /// hosts' relays exchange the link's frames over UDP.
    CrossHost,
    /// Neither end is on this host.
    Remote,
}

impl LinkTransport {
    /// Does this host's relay carry (its end of) the link?
    pub fn uses_relay(self) -> bool {
        matches!(self, LinkTransport::Relay | LinkTransport::CrossHost)
    }
}

/// The UDP side of a link between hosts, as this host sees it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CrossHost {
    /// Which end is here.
    pub local_end: End,
    /// This host's address and the link's port (`link_port_base + index`): the relay binds it.
    pub local: std::net::SocketAddr,
    /// The other host, and the same port there.
    pub peer_host: String,
    pub peer: std::net::SocketAddr,
}

/// One link: its ends, its sockets and how they meet.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkPlan {
    pub index: usize,
    pub a: Endpoint,
    pub z: Endpoint,
    /// `link_port_base + index`: reserved for a link between hosts; same-host links bind no
    /// port.
    pub port: u16,
    pub transport: LinkTransport,
    pub sockets: LinkSockets,
    /// Impairments from topology.json, applied by the relay at deploy.
    pub impair: LinkImpair,
    /// For a link between hosts.
    pub cross: Option<CrossHost>,
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
    /// At most this many nodes boot at once (`None`: the engine decides from the host).
    pub max_parallel_boots: Option<u32>,
    /// In a multi-host lab, the host this plan is for.
    pub local_host: Option<String>,
    /// Links between hosts carry a keyed check.
    pub cross_host_keyed: bool,
}

impl LabPlan {
    /// The nodes this host runs.
    pub fn local_nodes(&self) -> impl Iterator<Item = &NodePlan> {
        self.nodes.iter().filter(|n| n.local)
    }
}

impl LabPlan {
    pub fn node(&self, name: &str) -> Option<&NodePlan> {
        self.nodes.iter().find(|n| n.name == name)
    }
}

/// Builds the plan. Port problems (past 65535, two roles on one port) come back as spec errors
/// naming topology.json's port settings.
/// The plan as any host of the lab computes it, for what every host agrees on — placement,
/// management addresses, ports, indices, links between hosts — and not for launching: TCG,
/// the default QEMU program, seen from the first host of `hosts` (none in a one-host lab).
/// `--all-hosts` and the exports of a lab not deployed read this one plan.
pub fn placement(lab: &Lab, lab_dir: PathBuf) -> Result<LabPlan, Vec<SpecError>> {
    build(
        lab,
        &PlanOptions {
            lab_dir,
            accel: Accel::Tcg,
            qemu: "qemu-system-x86_64".into(),
            local_host: lab.settings.hosts.first().map(|(h, _)| h.clone()),
        },
    )
}

pub fn build(lab: &Lab, opts: &PlanOptions) -> Result<LabPlan, Vec<SpecError>> {
    let ports = ports::allocate(lab)?;
    let topo = lab.spec_dir.join("topology.json");
    // Multi-host: which host this plan is for, and where each node lives.
    let placed: Vec<&str> = {
        let mut h: Vec<&str> = lab.nodes.iter().filter_map(|n| n.host.as_deref()).collect();
        h.sort();
        h.dedup();
        h
    };
    if !placed.is_empty() {
        match &opts.local_host {
            None => {
                return Err(vec![SpecError::new(
                    &topo,
                    "vmlab.hosts",
                    format!(
                        "this lab places its nodes on hosts ({}), and no host was named",
                        placed.join(", ")
                    ),
                    "deploy it with --host <name> on each host, or --all-hosts",
                )]);
            }
            Some(h) if lab.settings.host_addr(h).is_none() => {
                return Err(vec![SpecError::new(
                    &topo,
                    "vmlab.hosts",
                    format!("--host {h:?} is not a host of this lab"),
                    format!(
                        "use one of: {}",
                        lab.settings
                            .hosts
                            .iter()
                            .map(|(n, _)| n.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )]);
            }
            Some(_) => {}
        }
    }
    let here = |host: &Option<String>| match (&opts.local_host, host) {
        (Some(l), Some(h)) => l == h,
        _ => true,
    };
    let addr_of = |host: &Option<String>| -> IpAddr {
        host.as_deref()
            .and_then(|h| lab.settings.host_addr(h))
            .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST))
    };
    let node_host: HashMap<&str, &Option<String>> = lab
        .nodes
        .iter()
        .map(|n| (n.name.as_str(), &n.host))
        .collect();
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
    // Every link, by index: its sockets and how its ends meet.
    let links: Vec<LinkPlan> = lab
        .links
        .iter()
        .map(|l| {
            let (ha, hz) = (
                node_host.get(l.a.node.as_str()).copied().unwrap_or(&None),
                node_host.get(l.z.node.as_str()).copied().unwrap_or(&None),
            );
            let port = ports.link[l.index];
            let (transport, cross) = match (here(ha), here(hz)) {
                (true, true) => (
                    match l.mode {
                        LinkMode::Relay => LinkTransport::Relay,
                        LinkMode::Direct => LinkTransport::Direct,
                    },
                    None,
                ),
                (false, false) => (LinkTransport::Remote, None),
                (a_here, _) => {
                    let (local_end, mine, theirs) = if a_here {
                        (End::A, ha, hz)
                    } else {
                        (End::Z, hz, ha)
                    };
                    (
                        LinkTransport::CrossHost,
                        Some(CrossHost {
                            local_end,
                            local: std::net::SocketAddr::new(addr_of(mine), port),
                            peer_host: theirs.clone().unwrap_or_default(),
                            peer: std::net::SocketAddr::new(addr_of(theirs), port),
                        }),
                    )
                }
            };
            LinkPlan {
                index: l.index,
                a: l.a.clone(),
                z: l.z.clone(),
                port,
                transport,
                sockets: LinkSockets::new(&opts.lab_dir, l.index),
                impair: l.impair,
                cross,
            }
        })
        .collect();
    let mut nodes = Vec::with_capacity(lab.nodes.len());
    for (node, touches) in lab.nodes.iter().zip(&touching) {
        let nics = nics::plan_nics(lab.name.as_str(), node, touches);
        let paths = NodePaths::new(&opts.lab_dir, &node.name);
        let ssh_port = ports.ssh[node.index];
        let console_port = lab
            .settings
            .tcp_consoles
            .then_some(ports.console[node.index]);
        let argv = qemu::argv(&qemu::QemuInput {
            mgmt_addr: addr_of(&node.host),
            qemu: &opts.qemu,
            lab: lab.name.as_str(),
            node,
            accel: opts.accel,
            ssh_port,
            console_port,
            nics: &nics,
            links: &links,
            paths: &paths,
        });
        nodes.push(NodePlan {
            name: node.name.clone(),
            index: node.index,
            platform: node.platform.clone(),
            local: here(&node.host),
            mgmt_addr: addr_of(&node.host),
            image: node.image.clone(),
            memory_mb: node.memory_mb,
            cpus: node.cpus,
            ssh_port,
            console_port,
            host: node.host.clone(),
            credentials: node.credentials.clone(),
            boot_timeout_secs: node.boot_timeout_secs,
            ssh_key: node.ssh_key,
            boot_delay_secs: node.boot_delay_secs,
            wait_for: node.wait_for.clone(),
            profile: node.profile.clone(),
            nics,
            paths,
            argv,
        });
    }
    Ok(LabPlan {
        name: lab.name.clone(),
        spec_dir: lab.spec_dir.clone(),
        lab_dir: opts.lab_dir.clone(),
        accel: opts.accel,
        nodes,
        links,
        ports: ports.table,
        max_parallel_boots: lab.settings.max_parallel_boots,
        local_host: opts.local_host.clone(),
        cross_host_keyed: lab.settings.cross_host_keyed,
    })
}
