//! The plan's types: what vmlab will run, as values — each node with its NICs, ports, files
//! and QEMU command line, each link with its sockets, transport and wiring, the accelerator and
//! which host each part runs on. [`super::build`] makes them; the engine executes them.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use super::ports::PortUse;
use vmlab_spec::{Credentials, Endpoint, LabName, LinkImpair};

/// A MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Mac(pub [u8; 6]);

impl std::fmt::Display for Mac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

/// What a NIC is attached to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NicRole {
    /// NIC 0: QEMU user networking with the SSH port forwarded.
    Management,
    /// A data NIC on a link, at its `end`.
    Link {
        link: usize,
        iface: String,
        peer: String,
        end: End,
    },
    /// A data NIC no link uses: present so later NICs keep their guest position.
    Unconnected,
}

/// One NIC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NicPlan {
    pub index: u32,
    pub mac: Mac,
    pub pci_slot: u32,
    pub role: NicRole,
}

/// How QEMU executes guest code.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
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
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
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
    /// newtron's `device_type` of its platform: `switch` or `host`.
    pub device_type: String,
    /// newtron's `host_ip` of the node, when set.
    pub host_ip: Option<String>,
    /// Staged boot: wait this long once the node may start.
    pub boot_delay_secs: u64,
    /// Staged boot: these nodes must be ready before this one starts.
    pub wait_for: Vec<String>,
    pub profile: PathBuf,
    pub nics: Vec<NicPlan>,
    pub paths: NodePaths,
    /// The complete QEMU command line, program first.
    pub argv: Vec<String>,
    /// Its platform's dataplane and the variables its boot patches see (`None`: no
    /// dataplane, or a host, which newtlab never patches either).
    pub patches: Option<NodePatches>,
}

/// What a node's boot patches need from the plan.
#[derive(Debug, Clone, PartialEq)]
pub struct NodePatches {
    pub dataplane: vmlab_spec::Dataplane,
    pub vars: super::patches::PatchVars,
}

/// How a link's two QEMUs meet. Either way each QEMU binds a unix datagram socket of its own
/// (`-netdev dgram`), so there is no start order and either end restarts freely.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
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
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
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
    /// Hosts coalesced into host VMs (each in its namespace of a VM of `nodes`).
    pub virtual_hosts: Vec<super::coalesce::VirtualHost>,
    /// Write the runtime ports into the profiles (the design's layout); newtron's files are
    /// never written.
    pub patch_profiles: bool,
    /// The bases the ports were allocated from (recorded in state).
    pub port_bases: super::ports::PortBases,
    /// Why the ports are not the spec's: set by the engine when it moved a lab whose
    /// preferred block was taken (who held it, which block it used).
    pub ports_moved: Option<String>,
    /// `vmlab.patches` (absolute), when the spec names a folder of patch sets.
    pub patches_dir: Option<PathBuf>,
    /// Where patch sets are looked for when nothing names a folder, in order.
    pub patches_default: Vec<PathBuf>,
    /// Each node's boot patches, rendered (filled in by the engine, which reads the patch
    /// files; empty from [`super::build`]).
    pub boot_patches: std::collections::BTreeMap<String, Vec<super::patches::Rendered>>,
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
