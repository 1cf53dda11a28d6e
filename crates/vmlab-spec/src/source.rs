//! Reads the text of a spec directory's files: the only I/O of the spec layer.
//!
//! Two layouts are read. The design's: `topology.json`, `platforms.json` and
//! `profiles/<node>.json` in one directory. newtron's: a network directory
//! (`networks/<id>/`) with `topology.json`, `nodes/<node>.json`, `secrets.json`, `zones/` and
//! `network.json`, and a platforms registry of one file per platform (`platforms/<name>.json`,
//! beside the networks folder unless named). A directory with `nodes/` and no
//! `platforms.json` is newtron's.

use std::path::{Path, PathBuf};

use super::error::{SpecError, SpecErrors};

/// One file's path and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecText {
    /// The path as found in the spec dir (symlinks are not resolved: errors name what the
    /// user sees).
    pub path: PathBuf,
    pub text: String,
}

/// The raw text of a spec directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecSources {
    /// The spec directory, absolute.
    pub dir: PathBuf,
    /// The last component of the directory's canonical path (what `-S .` or `-S ..` really
    /// name), which names the lab when the topology does not.
    pub dir_name: Option<String>,
    pub topology: SpecText,
    /// `platforms.json`, if the directory has one.
    pub platforms: Option<SpecText>,
    /// `profiles/<name>.json` files (newtron: `nodes/<name>.json`), sorted by name.
    pub profiles: Vec<(String, SpecText)>,
    /// newtron's layout: what it has around the network directory (`None`: the design's).
    pub newtron: Option<NewtronSources>,
}

/// The files of newtron's layout beyond the topology and the nodes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewtronSources {
    /// The platforms registry directory.
    pub registry: PathBuf,
    /// `<registry>/<name>.json`, sorted by name.
    pub platforms: Vec<(String, SpecText)>,
    /// `secrets.json`: a flat object of secret values.
    pub secrets: Option<SpecText>,
    /// `zones/<zone>.json`, sorted by name.
    pub zones: Vec<(String, SpecText)>,
    /// `network.json` (newtron's; vmlab reads only its SSH credentials).
    pub network: Option<SpecText>,
}

/// Is `dir` laid out as newtron lays out a network (a `nodes/` folder and no
/// `platforms.json`)?
pub fn is_newtron(dir: &Path) -> bool {
    dir.join("nodes").is_dir() && !dir.join("platforms.json").exists()
}

/// Where newtron's platforms registry is for network `dir` when none is named: the
/// `platforms/` folder beside the networks folder (`<dir>/../../platforms`), or one inside
/// the directory itself (a copy another host sent, with the platforms it uses).
pub fn default_registry(dir: &Path) -> Option<PathBuf> {
    let inside = dir.join("platforms");
    if inside.is_dir() {
        return Some(inside);
    }
    Some(dir.parent()?.parent()?.join("platforms"))
}

/// Reads `topology.json`, `platforms.json` and `profiles/*.json` from `dir` (or newtron's
/// layout, its registry beside the networks folder).
pub fn read_spec_dir(dir: &Path) -> Result<SpecSources, SpecErrors> {
    read_spec_dir_in(dir, None)
}

/// Reads a spec directory of either layout; `registry` names newtron's platforms registry
/// (else the one beside the networks folder).
pub fn read_spec_dir_in(dir: &Path, registry: Option<&Path>) -> Result<SpecSources, SpecErrors> {
    let (dir, dir_name) = spec_dir(dir)?;
    if is_newtron(&dir) {
        return read_newtron(dir, dir_name, registry);
    }
    // newtron's files without its nodes/ folder: say what newtron's layout expects, not what
    // the design's does.
    let marks: Vec<&str> = ["network.json", "secrets.json", "zones"]
        .into_iter()
        .filter(|m| dir.join(m).exists())
        .collect();
    if !marks.is_empty() && !dir.join("platforms.json").exists() && !dir.join("profiles").is_dir() {
        return Err(SpecError::new(
            dir.join("nodes"),
            "",
            format!(
                "the network directory has newtron's {} but no nodes/ folder",
                marks.join(", ")
            ),
            "newtron's layout keeps each node in nodes/<node>.json ({\"platform\": ...}); add \
             them, or point -S at a spec of vmlab's layout (platforms.json and profiles/)",
        )
        .into());
    }
    let mut errors = SpecErrors::default();
    let topology = match read_topology(&dir) {
        Ok(t) => Some(t),
        Err(e) => {
            errors.push(e);
            None
        }
    };
    let platforms = read_text(&dir.join("platforms.json")).unwrap_or_else(|e| {
        errors.push(e);
        None
    });
    let profiles = read_folder(&dir.join("profiles"), &mut errors);
    match (topology, errors.is_empty()) {
        (Some(topology), true) => Ok(SpecSources {
            dir,
            dir_name,
            topology,
            platforms,
            profiles,
            newtron: None,
        }),
        _ => Err(errors),
    }
}

/// newtron's layout: the network directory `dir` and its platforms registry.
fn read_newtron(
    dir: PathBuf,
    dir_name: Option<String>,
    registry: Option<&Path>,
) -> Result<SpecSources, SpecErrors> {
    let mut errors = SpecErrors::default();
    let topology = read_topology(&dir).map_err(|e| errors.push(e)).ok();
    let profiles = read_folder(&dir.join("nodes"), &mut errors);
    let zones = read_folder(&dir.join("zones"), &mut errors);
    let mut one = |name: &str| {
        read_text(&dir.join(name)).unwrap_or_else(|e| {
            errors.push(e);
            None
        })
    };
    let secrets = one("secrets.json");
    let network = one("network.json");
    let registry = registry
        .map(Path::to_path_buf)
        .or_else(|| default_registry(&dir))
        .unwrap_or_else(|| dir.join("platforms"));
    let platforms = if registry.is_dir() {
        read_folder(&registry, &mut errors)
    } else {
        errors.push(SpecError::new(
            &registry,
            "",
            "newtron's platforms registry is not there (a network directory with nodes/ \
             reads its platforms from one file each)",
            "pass --platforms <dir> (or set VMLAB_PLATFORMS) naming the folder of \
             <platform>.json files; newtron keeps it beside networks/",
        ));
        Vec::new()
    };
    match (topology, errors.is_empty()) {
        (Some(topology), true) => Ok(SpecSources {
            dir,
            dir_name,
            topology,
            platforms: None,
            profiles,
            newtron: Some(NewtronSources {
                registry,
                platforms,
                secrets,
                zones,
                network,
            }),
        }),
        _ => Err(errors),
    }
}

/// The `*.json` files of `folder` (none when it does not exist), by base name, sorted.
fn read_folder(folder: &Path, errors: &mut SpecErrors) -> Vec<(String, SpecText)> {
    let mut out = Vec::new();
    if !folder.is_dir() {
        return out;
    }
    let entries = match std::fs::read_dir(folder) {
        Ok(e) => e,
        Err(e) => {
            errors.push(SpecError::new(
                folder,
                "",
                format!("cannot list the folder: {e}"),
                "make it readable",
            ));
            return out;
        }
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    for p in paths {
        let Some(stem) = p.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        let stem = stem.to_string();
        match read_text(&p) {
            Ok(Some(t)) => out.push((stem, t)),
            Ok(None) => {}
            Err(e) => errors.push(e),
        }
    }
    out
}

/// The spec directory made absolute, and its canonical name; an error unless it is a directory.
pub fn spec_dir(dir: &Path) -> Result<(PathBuf, Option<String>), SpecError> {
    let abs = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let fix = "pass -S <dir> naming a directory that holds topology.json";
    match std::fs::metadata(&abs) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(SpecError::new(
                &abs,
                "",
                "is a file, not a spec directory",
                format!(
                    "{fix}{}",
                    if abs.file_name().is_some_and(|n| n == "topology.json") {
                        " (the directory that holds it, not the file itself)"
                    } else {
                        ""
                    }
                ),
            ));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(SpecError::new(
                &abs,
                "",
                "the spec directory does not exist",
                fix,
            ));
        }
        Err(e) => {
            return Err(SpecError::new(
                &abs,
                "",
                format!("cannot read the spec directory: {e}"),
                fix,
            ));
        }
    }
    let name = std::fs::canonicalize(&abs)
        .ok()
        .and_then(|c| c.file_name().and_then(|n| n.to_str()).map(str::to_string));
    Ok((abs, name))
}

/// A checks file (`validate.json`) for `vmlab validate`.
pub fn read_checks(path: &Path) -> Result<Option<SpecText>, SpecError> {
    read_text(path)
}

/// `topology.json` of an existing spec directory.
pub fn read_topology(dir: &Path) -> Result<SpecText, SpecError> {
    match read_text(&dir.join("topology.json"))? {
        Some(t) => Ok(t),
        None => Err(SpecError::new(
            dir.join("topology.json"),
            "",
            "the spec directory has no topology.json",
            "point -S at a spec directory: topology.json with platforms.json and profiles/ \
             (vmlab's layout), or newtron's network directory (networks/<id>/ with \
             topology.json and nodes/)",
        )),
    }
}

/// The file's text, `None` if it does not exist.
fn read_text(path: &Path) -> Result<Option<SpecText>, SpecError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(SpecText {
            path: path.to_path_buf(),
            text,
        })),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // A dangling symlink is "not found" too, but it is a mistake worth naming.
            if path.symlink_metadata().is_ok() {
                Err(SpecError::new(
                    path,
                    "",
                    "the file is a symlink to nothing",
                    "point the symlink at an existing file",
                ))
            } else {
                Ok(None)
            }
        }
        Err(e) => Err(SpecError::new(
            path,
            "",
            format!("cannot read the file: {e}"),
            "make it a readable UTF-8 JSON file",
        )),
    }
}
