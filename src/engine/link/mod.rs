//! Links as objects of their own: what `state.json` records of each link and the states a link
//! is observed in.

use serde::{Deserialize, Serialize};

use crate::plan::LinkTransport;

/// One link's record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkRecord {
    pub a: String,
    pub z: String,
    pub port: u16,
    pub transport: LinkTransport,
}

/// A link's observed state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkState {
    /// The two QEMUs hold an established TCP connection.
    Up,
    /// Both ends run but are not connected (yet).
    Waiting,
    /// An end is not running.
    Down,
}

impl LinkState {
    pub fn label(self) -> &'static str {
        match self {
            LinkState::Up => "up",
            LinkState::Waiting => "waiting",
            LinkState::Down => "down",
        }
    }
}
