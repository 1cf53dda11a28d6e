//! The terminal layer: attaching the user's terminal to a VM's serial console.
//!
//! (The TUI's embedded terminals — vt100 emulation and ptys — will live here too.)

pub mod console;
