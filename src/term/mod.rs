//! The terminal layer: attaching the user's terminal to a VM's serial console ([`console`]),
//!
//! and the TUI's embedded terminals: key encoding ([`keys`]), vt100 emulation ([`screen`])
//! and the byte streams behind tabs ([`session`]).

pub mod console;
pub mod keys;
pub mod screen;
pub mod session;
