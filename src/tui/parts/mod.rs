//! The dashboard by what is on screen, gitui-style: each part holds its keys, what its
//! actions' results do to the state, and its drawing. The state itself stays in
//! [`super::app::App`] (one struct the run loop, the tests and every part read), and
//! [`super::view`] lays the parts out.

pub mod checks;
pub mod links;
pub mod nodes;
pub mod overlays;
pub mod tabs;
pub mod topology;
