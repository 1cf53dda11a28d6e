//! The resolved lab: every value a plan needs, after profile → platform → built-in resolution.

use std::path::PathBuf;

use super::ifmap::InterfaceMap;
use super::impair::{Direction, Impairment};
use super::name::LabName;

/// A whole lab as the spec describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Lab {
    /// Topology `name`, else the spec directory's name.
    pub name: LabName,
    /// The spec directory, absolute.
    pub spec_dir: PathBuf,
    /// Laid out as newtron lays out a network (`networks/<id>/` with `nodes/`, a platforms
    /// registry): its files are newtron's and are never written.
    pub newtron: bool,
    /// newtron's platforms registry the platforms were read from.
    pub registry: Option<PathBuf>,
    pub settings: LabSettings,
    /// In the order of `devices` in topology.json: a node's index is its position here.
    pub nodes: Vec<Node>,
    /// In the order of `links` in topology.json.
    pub links: Vec<Link>,
}

/// The `vmlab` (or `newtlab`) section of topology.json.
#[derive(Debug, Clone, PartialEq)]
pub struct LabSettings {
    pub link_port_base: u32,
    pub console_port_base: u32,
    pub ssh_port_base: u32,
    /// Host name → address, for multi-host labs (in the user's order): `hosts`, and the
    /// servers of newtron's pool.
    pub hosts: Vec<(String, String)>,
    /// newtron's server pool (`servers[{name, address, max_nodes}]`): nodes without
    /// `vm_host` are placed on these (name, `max_nodes`).
    pub servers: Vec<(String, Option<u32>)>,
    /// How same-host links are wired (`vmlab.links`).
    pub links: LinkMode,
    /// `vmlab.max_parallel_boots`: at most this many nodes boot at once (`None`: decided from
    /// the host's cores and memory at deploy).
    pub max_parallel_boots: Option<u32>,
    /// `vmlab.cross_host_check`: every datagram between hosts carries a keyed check (default),
    /// or not (`"none"`, for a network nothing else can reach).
    pub cross_host_keyed: bool,
    /// `vmlab.consoles`: `"unix"` (default) serves each serial console on a unix socket in
    /// the 0700 lab directory; `"tcp"` on `127.0.0.1:console_port_base + index`, which every
    /// local user can reach, for tools that need a port.
    pub tcp_consoles: bool,
    /// `vmlab.coalesce_hosts`: hosts (`device_type: host`) on one server share a VM, each in
    /// its namespace (`None`: on for newtron's layout, off for the design's).
    pub coalesce_hosts: Option<bool>,
    /// `vmlab.ports`: `"prefer"` (default) treats the port bases as a preference — a one-host
    /// lab whose block is taken deploys on the next free block of the same size; `"exact"`
    /// refuses instead.
    pub exact_ports: bool,
    /// `vmlab.guest_network`: `"isolated"` (default) — a guest's management NIC reaches
    /// nothing on the host or beyond (QEMU's `restrict=on`; SSH in still works); `"outbound"`
    /// lets guests open connections out, including to every service on the host's loopback.
    pub guest_outbound: bool,
    /// `vmlab.patches`: the folder of boot patch sets (`<dataplane>/always/*.json`), absolute.
    pub patches: Option<PathBuf>,
    /// Where patch sets are looked for when nothing names a folder, in order: `patches/`
    /// beside the platforms (platforms.json, or newtron's registry), then newtron's own
    /// `pkg/newtlab/patches` in the checkout that holds the registry.
    pub patches_default: Vec<PathBuf>,
}

impl LabSettings {
    /// Does a host already have address `ip`?
    pub fn host_addr_taken(&self, ip: std::net::IpAddr) -> bool {
        self.hosts
            .iter()
            .any(|(_, a)| a.parse::<std::net::IpAddr>().ok() == Some(ip))
    }

    /// The address of host `name`.
    pub fn host_addr(&self, name: &str) -> Option<std::net::IpAddr> {
        self.hosts
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, a)| a.parse().ok())
    }
}

/// How a lab's links are wired on one host.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkMode {
    /// Each VM talks to the lab's link relay, which carries counters, down/up, impairments and
    /// capture.
    #[default]
    Relay,
    /// The two VMs of a link talk to each other directly: nothing in between, none of the
    /// above.
    Direct,
}

impl Default for LabSettings {
    fn default() -> Self {
        LabSettings {
            link_port_base: 20000,
            console_port_base: 30000,
            ssh_port_base: 40000,
            hosts: Vec::new(),
            servers: Vec::new(),
            links: LinkMode::Relay,
            max_parallel_boots: None,
            cross_host_keyed: true,
            tcp_consoles: false,
            exact_ports: false,
            coalesce_hosts: None,
            guest_outbound: false,
            patches: None,
            patches_default: Vec::new(),
        }
    }
}

/// SSH login for a node.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub user: String,
    pub pass: String,
    /// The key of the secret the password came from (`${secret:<key>}` in newtron's
    /// layout): such a password is never recorded, only looked up again when needed.
    pub secret: Option<String>,
}

impl std::fmt::Debug for Credentials {
    // A password never reaches a log or a debug print.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("pass", &"<hidden>")
            .field("secret", &self.secret)
            .finish()
    }
}

/// One VM.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub name: String,
    /// Position in `devices`.
    pub index: usize,
    pub platform: String,
    /// Absolute path of the base disk image.
    pub image: PathBuf,
    /// Where `image` was set: the file and field, for errors about the image itself.
    pub image_from: (PathBuf, String),
    pub memory_mb: u64,
    pub cpus: u32,
    pub nic_driver: String,
    pub interface_map: InterfaceMap,
    pub cpu_features: Option<String>,
    pub credentials: Option<Credentials>,
    pub boot_timeout_secs: u64,
    /// `vm_host` from the profile (multi-host labs).
    pub host: Option<String>,
    /// The profile file vmlab patches after deploy (the path as found in the spec dir).
    pub profile: PathBuf,
    /// `vm_boot_delay`: seconds to wait, once the node may start, before starting it.
    pub boot_delay_secs: u64,
    /// `vm_wait_for`: nodes that must be ready before this one starts.
    pub wait_for: Vec<String>,
    /// Where `vm_wait_for` was set (file, field), for errors about it.
    pub wait_for_from: Option<(PathBuf, String)>,
    /// `vm_qemu_args`: checked options appended to the QEMU command line.
    pub qemu_args: Vec<String>,
    /// `vm_ssh_key`: install the lab's SSH key in the guest once it is ready.
    pub ssh_key: bool,
    /// The platform's `device_type` (newtron): `switch` (the default) or `host`.
    pub device_type: String,
    /// `host_ip` of the node's profile (newtron: a host's data address), for status.
    pub host_ip: Option<String>,
    /// `vm_files`: files vmlab hands the guest through QEMU's fw_cfg, by name.
    pub files: Vec<GuestFile>,
    /// `vm_guest_network` of its profile or platform: `Some(true)` for `"outbound"`,
    /// `Some(false)` for `"isolated"`, `None` for the lab's `vmlab.guest_network`.
    pub guest_outbound: Option<bool>,
    /// The platform's `dataplane` (newtron's), which picks the boot patches applied to the
    /// node after every boot; `None` for a platform without one.
    pub dataplane: Option<Dataplane>,
}

/// What a platform says about its dataplane: which patch set its nodes get after every boot
/// (`<patches>/<name>/always/`, then `<patches>/<name>/<release>/`) and the values those
/// patches' templates read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dataplane {
    /// `dataplane`: `sonic-vs`, `vpp`, `ciscovs`, ... (a safe name: it names a folder).
    pub name: String,
    /// `vm_image_release`: a second patch folder after `always` (a safe name too).
    pub release: Option<String>,
    /// `hwsku` ("" when the platform has none).
    pub hwsku: String,
    /// `default_speed` in Mb/s (`"100G"` is 100000; newtlab's default, 25000, when unset).
    pub speed_mbps: u64,
    /// The platform's `ports[]` inventory as written (empty for a platform without one).
    pub ports: Vec<PlatformPort>,
    /// `vm_patches` of the platform (the design's layout): its own patch folder, absolute.
    pub patches: Option<PathBuf>,
    /// Where `dataplane` was set (file, field), for messages about its patches.
    pub from: (PathBuf, String),
}

/// One entry of a platform's `ports[]`, with every field newtron's `PortSpec` has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformPort {
    pub name: String,
    pub nic_index: u32,
    pub speed: String,
    pub lanes: Vec<i64>,
}

/// A file of the spec directory that the guest reads as `opt/vmlab/<name>` in fw_cfg
/// (`/sys/firmware/qemu_fw_cfg/by_name/opt/vmlab/<name>/raw` on Linux).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestFile {
    pub name: String,
    /// Absolute: the spec directory joined with the relative path the spec gave.
    pub source: PathBuf,
    /// Where it was set (file, field), for errors about the file itself.
    pub from: (PathBuf, String),
}

/// One end of a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub node: String,
    pub iface: String,
    /// The data NIC index the node's interface map gives `iface` (1 and up).
    pub nic: u32,
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.node, self.iface)
    }
}

/// One point-to-point link.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    /// Position in `links`.
    pub index: usize,
    pub a: Endpoint,
    pub z: Endpoint,
    /// Impairments declared in topology.json (`links[].impair`), applied at deploy.
    pub impair: LinkImpair,
    /// How this link is wired: `links[].transport`, else the lab's `vmlab.links`.
    pub mode: LinkMode,
}

/// A link's impairments, each way.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
pub struct LinkImpair {
    #[serde(default, skip_serializing_if = "Impairment::is_clean")]
    pub a_to_z: Impairment,
    #[serde(default, skip_serializing_if = "Impairment::is_clean")]
    pub z_to_a: Impairment,
}

impl LinkImpair {
    pub fn get(&self, d: Direction) -> &Impairment {
        match d {
            Direction::AToZ => &self.a_to_z,
            Direction::ZToA => &self.z_to_a,
        }
    }

    pub fn get_mut(&mut self, d: Direction) -> &mut Impairment {
        match d {
            Direction::AToZ => &mut self.a_to_z,
            Direction::ZToA => &mut self.z_to_a,
        }
    }

    pub fn is_clean(&self) -> bool {
        self.a_to_z.is_clean() && self.z_to_a.is_clean()
    }
}
