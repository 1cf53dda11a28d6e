//! Links as objects of their own: what `state.json` records of each link, how a link's state
//! is judged, its settings file ([`config`]), the shaping of its frames ([`shaper`]), the
//! per-lab relay process that carries it ([`relay`], started and stopped by [`supervise`]) and
//! that relay's control protocol ([`control`]).
//!
//! Same-host links are unix datagram sockets inside the 0700 lab directory (`links/`): no
//! start order, either VM restarts freely, no port, and no other local user can read or inject
//! frames. By default each VM talks to the relay, which gives counters, down/up, impairments
//! and capture; `vmlab.links: "direct"` wires the two VMs to each other instead.

pub mod config;
pub mod control;
pub mod cross;
pub mod forward;
pub mod mmsg;
pub mod relay;
pub mod shaper;
pub mod supervise;
pub mod wire;

use serde::{Deserialize, Serialize};

use crate::plan::LinkTransport;

/// One link's record in `state.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkRecord {
    #[serde(default)]
    pub index: usize,
    pub a: String,
    pub z: String,
    /// The guest NIC index of each end (`eth<n>`).
    #[serde(default)]
    pub a_nic: u32,
    #[serde(default)]
    pub z_nic: u32,
    /// A link between hosts: the UDP port its hosts' relays exchange its frames on.
    pub port: u16,
    pub transport: LinkTransport,
}

/// A link end `node:interface` split in two (an end without `:` is all node).
pub fn split_end(end: &str) -> (&str, &str) {
    end.split_once(':').unwrap_or((end, ""))
}

impl LinkRecord {
    /// How the guest names each end's NIC: `eth<n>`, a end first.
    pub fn guest_names(&self) -> (String, String) {
        (format!("eth{}", self.a_nic), format!("eth{}", self.z_nic))
    }

    /// Both ends as (node, interface, guest NIC index, the other end), a end first.
    pub fn ends(&self) -> [(&str, &str, u32, &str); 2] {
        let (an, ai) = split_end(&self.a);
        let (zn, zi) = split_end(&self.z);
        [(an, ai, self.a_nic, &self.z), (zn, zi, self.z_nic, &self.a)]
    }
}

/// A link's observed state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LinkState {
    /// Both ends attached and the link admin-up: frames pass.
    Up,
    /// Something the link needs is missing (an end's VM, or the relay): see `waiting_for`.
    Waiting,
    /// Set down by the user.
    Down,
    /// Neither end runs on this host (a multi-host lab seen from a third host).
    Remote,
}

impl LinkState {
    pub fn label(self) -> &'static str {
        match self {
            LinkState::Up => "up",
            LinkState::Waiting => "waiting",
            LinkState::Down => "down",
            LinkState::Remote => "remote",
        }
    }
}
