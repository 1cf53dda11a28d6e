//! The engine: every side effect vmlab has — lab directories, disks, QEMU processes, sockets,
//! state files, health checks and profile patching.
//!
//! It executes a [`crate::plan::LabPlan`] and reports what happens as typed [`events::Event`]s,
//! which the headless CLI prints and the TUI draws. It knows nothing of terminals or of
//! argument parsing. Node lifecycle is explicit ([`state::NodeStatus`], [`events::BootStage`])
//! and links are objects of their own ([`state::LinkState`]), so stopping and starting single
//! nodes, snapshots and multi-host labs extend it rather than rewrite it.

pub mod boottimes;
pub mod deploy;
pub mod destroy;
pub mod error;
pub mod events;
pub mod fsutil;
pub mod health;
pub mod labs;
pub mod lifecycle;
pub mod monitor;
pub mod netstat;
pub mod paths;
pub mod preflight;
pub mod process;
pub mod profiles;
pub mod qemu;
pub mod qmp;
pub mod ssh;
pub mod state;
pub mod status;

pub use error::EngineError;
pub use events::{BootStage, Event, EventSink};
