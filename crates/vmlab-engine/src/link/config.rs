//! `links.json`: each link's wiring, admin state and impairments, in the lab directory. Deploy
//! writes it from the plan; `vmlab link down|up|set|reset` change it (under the lab's lock) and
//! tell the relay to read it again; a relay that starts — after a crash, or `vmlab repair` —
//! reads it first, so what was set survives any restart.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::EngineError;
use crate::fsutil::atomic_write;
use crate::plan::{CrossHost, LabPlan, LinkTransport};
use crate::spec::LinkImpair;

/// The file's name in a lab directory.
pub const FILE: &str = "links.json";

/// The sockets of one link (see `plan::LinkSockets`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Sockets {
    pub a_vm: PathBuf,
    pub a_relay: PathBuf,
    pub z_vm: PathBuf,
    pub z_relay: PathBuf,
}

/// One link as the relay carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LinkConfig {
    pub index: usize,
    /// `node:iface` of each end, for people reading the file and the relay's log.
    pub a: String,
    pub z: String,
    pub sockets: Sockets,
    /// Only relayed links are the relay's to carry.
    #[serde(default = "relayed")]
    pub transport: LinkTransport,
    /// Admin state: a link set down drops every frame.
    pub up: bool,
    #[serde(default, skip_serializing_if = "LinkImpair::is_clean")]
    pub impair: LinkImpair,
    /// A link between hosts: this host's end, its UDP address and the other host's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cross: Option<CrossHost>,
}

fn relayed() -> LinkTransport {
    LinkTransport::Relay
}

/// The whole file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LinksFile {
    pub links: Vec<LinkConfig>,
    /// The lab key (64 hex digits) that tags every datagram of a link between hosts; none when
    /// the lab has no such link or turned the check off (`vmlab.cross_host_check: "none"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

impl LinksFile {
    /// The file for a plan about to be deployed: every link up, with its declared impairments.
    pub fn from_plan(plan: &LabPlan, key: Option<&[u8; super::wire::KEY_LEN]>) -> Self {
        LinksFile {
            key: key.map(super::wire::key_to_hex),
            links: plan
                .links
                .iter()
                .map(|l| LinkConfig {
                    index: l.index,
                    a: l.a.to_string(),
                    z: l.z.to_string(),
                    sockets: Sockets {
                        a_vm: l.sockets.a_vm.clone(),
                        a_relay: l.sockets.a_relay.clone(),
                        z_vm: l.sockets.z_vm.clone(),
                        z_relay: l.sockets.z_relay.clone(),
                    },
                    transport: l.transport,
                    up: true,
                    impair: l.impair,
                    cross: l.cross.clone(),
                })
                .collect(),
        }
    }

    pub fn path(lab_dir: &Path) -> PathBuf {
        lab_dir.join(FILE)
    }

    pub fn load(lab_dir: &Path) -> Result<Self, EngineError> {
        let path = Self::path(lab_dir);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| EngineError::io(format!("cannot read {}", path.display()), e))?;
        serde_json::from_str(&text).map_err(|e| {
            EngineError::LabState(format!(
                "{} is damaged ({e}); redeploy the lab",
                path.display()
            ))
        })
    }

    /// Writes the file atomically, readable by the user only.
    pub fn save(&self, lab_dir: &Path) -> Result<(), EngineError> {
        let path = Self::path(lab_dir);
        let mut text = serde_json::to_string_pretty(self)
            .map_err(|e| EngineError::io("cannot encode links", std::io::Error::other(e)))?;
        text.push('\n');
        atomic_write(&path, text.as_bytes(), Some(0o600))
            .map_err(|e| EngineError::io(format!("cannot write {}", path.display()), e))
    }

    /// The lab key, if links between hosts are keyed.
    pub fn key(&self) -> Result<Option<[u8; super::wire::KEY_LEN]>, EngineError> {
        match &self.key {
            None => Ok(None),
            Some(k) => super::wire::key_from_hex(k).map(Some).ok_or_else(|| {
                EngineError::LabState("links.json holds a damaged key; redeploy the lab".into())
            }),
        }
    }

    pub fn link(&self, index: usize) -> Option<&LinkConfig> {
        self.links.iter().find(|l| l.index == index)
    }

    pub fn link_mut(&mut self, index: usize) -> Option<&mut LinkConfig> {
        self.links.iter_mut().find(|l| l.index == index)
    }
}
