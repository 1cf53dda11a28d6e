//! The engine: every side effect vmlab has — lab directories, disks, QEMU processes, sockets,
//! state files, health checks and profile patching.
//!
//! It is grouped by the objects a lab is made of: [`lab`] (a whole lab: its directory, lock,
//! state, deploy, destroy, status), [`node`] (one VM: its state and transitions, QEMU process,
//! boot health, start/stop/restart), [`link`] (a link's record and state, its relay) and
//! [`host`] (the hosts of a multi-host lab, and driving them all over SSH). It executes a
//! [`crate::plan::LabPlan`] and reports only through typed [`events::Event`]s, which the
//! headless CLI prints and the TUI draws; it knows nothing of terminals or argument parsing.

// The spec and plan layers, under the names the engine's modules use for them.
use vmlab_plan as plan;
use vmlab_spec as spec;

pub mod api;
mod doctor;
mod error;
mod events;
mod fsutil;
mod home;
mod host;
mod image;
mod journal;
mod lab;
mod lines;
mod link;
mod netstat;
mod node;
mod ssh;

pub use error::EngineError;
pub use events::{Event, EventSink};
pub use node::{BootStage, NodeStatus};
