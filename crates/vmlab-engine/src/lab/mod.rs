//! Labs: a whole deployed topology. Its place on disk ([`LabDir`]), the lock that serialises
//! every command that changes it ([`lock`]), its `state.json` ([`state`]), deploy and destroy,
//! start, stop and restart of one of its nodes ([`lifecycle`]), its links' admin state,
//! impairments and capture ([`links`]), bringing back what died ([`repair`]), finding labs
//! ([`find`]), its live status and monitor, the preflight checks, the profile patch and the boot patches
//! ([`patches`]).

pub mod boot;
pub mod deploy;
pub mod destroy;
pub mod exec;
pub mod export;
pub mod find;
pub mod hostns;
pub mod key;
pub mod lifecycle;
pub mod links;
pub mod lock;
pub mod monitor;
pub mod patches;
pub mod ports;
pub mod preflight;
pub mod profiles;
pub mod repair;
pub mod snapshot;
pub mod sshkey;
pub mod stages;
pub mod state;
pub mod status;
pub mod validate;

use std::path::{Path, PathBuf};

use super::home;
use crate::plan::NodePaths;
use crate::spec::LabName;

/// A lab's place on disk: its checked name and `$VMLAB_HOME/labs/<name>`. Made only from a
/// [`LabName`], so every path below it stays inside the labs directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabDir {
    name: LabName,
    path: PathBuf,
}

impl LabDir {
    pub fn of(name: LabName) -> Self {
        let path = home::lab_dir(&name);
        LabDir { name, path }
    }

    pub fn name(&self) -> &LabName {
        &self.name
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn state_file(&self) -> PathBuf {
        home::state_file(&self.path)
    }

    pub fn marker_file(&self) -> PathBuf {
        home::marker_file(&self.path)
    }

    /// Is there a real directory (not a symlink) at the lab's path?
    pub fn exists(&self) -> bool {
        self.path
            .symlink_metadata()
            .is_ok_and(|m| m.file_type().is_dir())
    }

    /// Did vmlab create this directory (it holds vmlab's marker or a state file)?
    pub fn is_vmlab_lab(&self) -> bool {
        self.exists() && (self.marker_file().is_file() || self.state_file().is_file())
    }

    /// The files of one node.
    pub fn node_paths(&self, node: &str) -> NodePaths {
        NodePaths::new(&self.path, node)
    }
}
