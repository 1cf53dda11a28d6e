//! The resolved lab: every value a plan needs, after profile → platform → built-in resolution.

use std::path::PathBuf;

use super::ifmap::InterfaceMap;
use super::name::LabName;

/// A whole lab as the spec describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Lab {
    /// Topology `name`, else the spec directory's name.
    pub name: LabName,
    /// The spec directory, absolute.
    pub spec_dir: PathBuf,
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
    /// Host name → address, for multi-host labs (in the user's order).
    pub hosts: Vec<(String, String)>,
}

impl Default for LabSettings {
    fn default() -> Self {
        LabSettings {
            link_port_base: 20000,
            console_port_base: 30000,
            ssh_port_base: 40000,
            hosts: Vec::new(),
        }
    }
}

/// SSH login for a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub user: String,
    pub pass: String,
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Position in `links`.
    pub index: usize,
    pub a: Endpoint,
    pub z: Endpoint,
}
