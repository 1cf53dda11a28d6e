//! `links.json`: each link's wiring, admin state and impairments, in the lab directory. Deploy
//! writes it from the plan; `vmlab link down|up|set|reset` change it (under the lab's lock) and
//! tell the relay to read it again; a relay that starts — after a crash, or `vmlab repair` —
//! reads it first, so what was set survives any restart.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::engine::error::EngineError;
use crate::engine::fsutil::atomic_write;
use crate::plan::{LabPlan, LinkTransport};
use crate::spec::LinkImpair;

/// The file's name in a lab directory.
pub const FILE: &str = "links.json";

/// The sockets of one link (see `plan::LinkSockets`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sockets {
    pub a_vm: PathBuf,
    pub a_relay: PathBuf,
    pub z_vm: PathBuf,
    pub z_relay: PathBuf,
}

/// One link as the relay carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
}

fn relayed() -> LinkTransport {
    LinkTransport::Relay
}

/// The whole file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinksFile {
    pub links: Vec<LinkConfig>,
}

impl LinksFile {
    /// The file for a plan about to be deployed: every link up, with its declared impairments.
    pub fn from_plan(plan: &LabPlan) -> Self {
        LinksFile {
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

    pub fn link(&self, index: usize) -> Option<&LinkConfig> {
        self.links.iter().find(|l| l.index == index)
    }

    pub fn link_mut(&mut self, index: usize) -> Option<&mut LinkConfig> {
        self.links.iter_mut().find(|l| l.index == index)
    }
}
