//! vmlab: network topologies as labs of QEMU virtual machines, without root.
//!
//! Layers, each only calling the ones above it in this list (see ARCHITECTURE.md):
//! - [`spec`] (crate `vmlab-spec`): the user's spec files → a resolved, typed [`spec::Lab`]
//!   (reads text, else pure);
//! - [`plan`] (crate `vmlab-plan`): lab → [`plan::LabPlan`] — ports, NICs, MACs, QEMU command
//!   lines, boot patches (pure);
//! - [`engine`]: every side effect — disks, processes, sockets, state, health, profiles;
//! - [`term`]: terminal plumbing — raw-mode console attachment;
//! - [`tui`]: the interactive dashboard — draws state, sends commands to the engine;
//! - [`serve`]: the HTTP API (newtron's lab-server routes and vmlab's own), with event streams;
//! - [`present`]: the words every front end shares for the same thing (a lab's links);
//! - [`cli`]: argument parsing and output; the binary is a thin shell over it.

pub use vmlab_engine as engine;
pub use vmlab_plan as plan;
pub use vmlab_spec as spec;

pub mod cli;
pub mod present;
pub mod serve;
pub mod term;
pub mod tui;
