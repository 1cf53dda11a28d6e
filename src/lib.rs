//! vmlab: network topologies as labs of QEMU virtual machines, without root.
//!
//! Layers, each only calling the ones above it in this list (see ARCHITECTURE.md):
//! - [`spec`]: the user's spec files → a resolved, typed [`spec::Lab`] (reads text, else pure);
//! - [`plan`]: lab → [`plan::LabPlan`] — ports, NICs, MACs, QEMU command lines (pure);
//! - [`engine`]: every side effect — disks, processes, sockets, state, health, profiles;
//! - [`term`]: terminal plumbing — raw-mode console attachment;
//! - [`tui`]: the interactive dashboard — draws state, sends commands to the engine;
//! - [`serve`]: the HTTP API (newtron's lab-server routes and vmlab's own), with event streams;
//! - [`cli`]: argument parsing and output; the binary is a thin shell over it.

pub mod cli;
pub mod engine;
pub mod plan;
pub mod serve;
pub mod spec;
pub mod term;
pub mod tui;
