//! The spec layer: what the user wrote, read and resolved into one typed [`Lab`].
//!
//! A spec directory holds `topology.json`, `platforms.json` and `profiles/<device>.json` (the
//! design's layout), or is one of newtron's network directories (`nodes/<device>.json`,
//! `secrets.json`, `zones/`, and a registry of `platforms/<name>.json`). [`source`] reads their text (the only I/O here); [`resolve`] turns the
//! text into a [`Lab`] purely, collecting *every* problem as a [`SpecError`] that names the file,
//! the field and the fix, so a user sees all mistakes at once. Unknown fields are tolerated: the
//! files belong to newtron too.

pub mod error;
pub mod ifmap;
pub mod impair;
pub mod model;
pub mod name;
pub mod resolve;
pub mod source;
pub mod validate;
pub mod values;

pub use error::{SpecError, SpecErrors};
pub use ifmap::InterfaceMap;
pub use model::{
    Credentials, Dataplane, Endpoint, GuestFile, Lab, LabSettings, Link, LinkImpair, LinkMode,
    Node, PlatformPort,
};
pub use name::{BadName, LabName};
pub use resolve::{resolve, resolve_in};
pub use source::{SpecSources, SpecText, read_spec_dir};

/// Reads and resolves a spec directory in one step.
pub fn load(dir: &std::path::Path, home: Option<&std::path::Path>) -> Result<Lab, SpecErrors> {
    let sources = read_spec_dir(dir)?;
    resolve(&sources, home)
}

/// Reads and resolves a spec directory, images named without a path being in `images`;
/// `registry` names newtron's platforms registry (else the one beside its networks folder).
pub fn load_in(
    dir: &std::path::Path,
    home: Option<&std::path::Path>,
    images: &std::path::Path,
    registry: Option<&std::path::Path>,
) -> Result<Lab, SpecErrors> {
    let sources = source::read_spec_dir_in(dir, registry)?;
    resolve_in(&sources, home, Some(images))
}

/// The name a spec directory's lab deploys as, by the same rule `deploy` uses (reads only
/// topology.json): its `name`, else the directory's; newtron's network directory always
/// names its lab.
pub fn lab_name(dir: &std::path::Path) -> Result<LabName, SpecErrors> {
    let (dir, dir_name) = source::spec_dir(dir)?;
    let topo = source::read_topology(&dir)?;
    let doc = resolve::parse_file(&topo)?;
    let named = doc.get("name").filter(|_| !source::is_newtron(&dir));
    name::derive_lab_name(named, dir_name.as_deref(), &topo.path).map_err(Into::into)
}
