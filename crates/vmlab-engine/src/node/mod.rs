//! Nodes: one VM each. A node's recorded state and its transitions ([`state`]), its QEMU
//! process (launch and stop in [`qemu`], proof of identity and signals in [`process`], QMP in
//! [`qmp`]) its boot health ([`health`], learned [`boottimes`]) and whether its disk image stays in its
//! directory ([`backing`]). Nothing here knows of labs:
//! the operations on one node of a deployed lab, which need the lab's lock and state, are
//! `lab::lifecycle`.

pub mod backing;
pub mod boottimes;
pub mod health;
pub mod process;
pub mod qemu;
pub mod qmp;
pub mod state;

pub use state::{BootStage, NodeState, NodeStatus};
