//! What other tools read about a deployed lab, rendered from its state: an OpenSSH config
//! ([`config`]), an Ansible and a JSON inventory ([`inventory`]), and the topology as Graphviz
//! or Mermaid ([`graph`]) or as a terminal drawing ([`drawing`], with its layout engine).
//!
//! The renderers are pure — state in, text out: no file, process, socket or clock, which
//! `tests/architecture.rs` holds them to. This file is the only writer: [`write_all`] puts
//! `ssh_config`, `inventory.yml` and `inventory.json` in the lab directory at deploy, and
//! [`planned_state`] is the state an undeployed spec would have, for its graph.
//!
//! Nothing here holds a password: logins go through the lab's SSH key ([`super::sshkey`]).

pub mod config;
pub mod drawing;
pub mod graph;
pub mod inventory;
pub mod k8s;
mod text;

use serde::Serialize;

pub use config::ssh_config;
pub use drawing::{Drawing, MAX_DRAWN_WIDTH, Owner, ascii, interface_map};
pub use graph::{dot, mermaid};
pub use inventory::{InvInterface, InvLink, InvNode, Inventory, ansible, inventory};

use super::LabDir;
use super::state::LabState;
use crate::error::EngineError;
use crate::fsutil::atomic_write;

/// The state a spec would deploy to, for drawing a lab before it exists (every node as
/// planned, none running).
pub fn planned_state(spec: &crate::spec::Lab) -> Result<LabState, EngineError> {
    let lab = LabDir::of(spec.name.clone());
    let plan = crate::plan::placement(spec, lab.path().to_path_buf())
        .map_err(|e| EngineError::Invalid(crate::spec::SpecErrors(e)))?;
    Ok(LabState::from_plan(&plan))
}

/// Writes `ssh_config`, `inventory.yml` and `inventory.json` into the lab directory.
pub fn write_all(lab: &LabDir, state: &LabState) -> Result<(), EngineError> {
    for (name, text) in [
        ("ssh_config", ssh_config(state, lab.path())),
        ("inventory.yml", ansible(state, lab.path())),
        ("inventory.json", json_text(&inventory(state, lab.path()))?),
    ] {
        let p = lab.path().join(name);
        atomic_write(&p, text.as_bytes(), Some(0o600))
            .map_err(|e| EngineError::io(format!("cannot write {}", p.display()), e))?;
    }
    Ok(())
}

fn json_text<T: Serialize>(v: &T) -> Result<String, EngineError> {
    serde_json::to_string_pretty(v)
        .map(|s| s + "\n")
        .map_err(|e| EngineError::io("cannot encode JSON", std::io::Error::other(e)))
}
