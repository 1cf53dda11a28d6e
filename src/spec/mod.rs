//! The spec layer: what the user wrote, read and resolved into one typed [`Lab`].
//!
//! A spec directory holds `topology.json`, `platforms.json` and `profiles/<device>.json`, files
//! shared with newtron. [`source`] reads their text (the only I/O here); [`resolve`] turns the
//! text into a [`Lab`] purely, collecting *every* problem as a [`SpecError`] that names the file,
//! the field and the fix, so a user sees all mistakes at once. Unknown fields are tolerated: the
//! files belong to newtron too.

pub mod error;
pub mod ifmap;
pub mod model;
pub mod resolve;
pub mod source;

pub use error::{SpecError, SpecErrors};
pub use ifmap::InterfaceMap;
pub use model::{Credentials, Endpoint, Lab, LabSettings, Link, Node};
pub use resolve::resolve;
pub use source::{SpecSources, SpecText, read_spec_dir};

/// Reads and resolves a spec directory in one step.
pub fn load(dir: &std::path::Path, home: Option<&std::path::Path>) -> Result<Lab, SpecErrors> {
    let sources = read_spec_dir(dir)?;
    resolve(&sources, home)
}
