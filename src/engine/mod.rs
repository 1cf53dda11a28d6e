//! The engine: every side effect vmlab has — lab directories, disks, QEMU processes, sockets,
//! state files, health checks and profile patching.
//!
//! It is grouped by the objects a lab is made of: [`lab`] (a whole lab: its directory, lock,
//! state, deploy, destroy, status), [`node`] (one VM: its state and transitions, QEMU process,
//! boot health, start/stop/restart), [`link`] (a link's record and state, its relay) and
//! [`host`] (the hosts of a multi-host lab, and driving them all over SSH). It executes a
//! [`crate::plan::LabPlan`] and reports only through typed [`events::Event`]s, which the
//! headless CLI prints and the TUI draws; it knows nothing of terminals or argument parsing.

pub mod api;
pub mod doctor;
pub mod error;
pub mod events;
pub mod fsutil;
pub mod home;
pub mod host;
pub mod image;
pub mod journal;
pub mod lab;
pub mod lines;
pub mod link;
pub mod netstat;
pub mod node;
pub mod ssh;

pub use error::EngineError;
pub use events::{Event, EventSink};
pub use lab::LabDir;
pub use node::{BootStage, NodeStatus};
