//! Reads the text of a spec directory's files: the only I/O of the spec layer.

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
    /// `profiles/<name>.json` files, sorted by name.
    pub profiles: Vec<(String, SpecText)>,
}

/// Reads `topology.json`, `platforms.json` and `profiles/*.json` from `dir`.
pub fn read_spec_dir(dir: &Path) -> Result<SpecSources, SpecErrors> {
    let (dir, dir_name) = spec_dir(dir)?;
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
    let mut profiles = Vec::new();
    let pdir = dir.join("profiles");
    if pdir.is_dir() {
        match std::fs::read_dir(&pdir) {
            Ok(entries) => {
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
                        Ok(Some(t)) => profiles.push((stem, t)),
                        Ok(None) => {}
                        Err(e) => errors.push(e),
                    }
                }
            }
            Err(e) => errors.push(SpecError::new(
                &pdir,
                "",
                format!("cannot list the profiles directory: {e}"),
                "make it readable",
            )),
        }
    }
    match (topology, errors.is_empty()) {
        (Some(topology), true) => Ok(SpecSources {
            dir,
            dir_name,
            topology,
            platforms,
            profiles,
        }),
        _ => Err(errors),
    }
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

/// `topology.json` of an existing spec directory.
pub fn read_topology(dir: &Path) -> Result<SpecText, SpecError> {
    match read_text(&dir.join("topology.json"))? {
        Some(t) => Ok(t),
        None => Err(SpecError::new(
            dir.join("topology.json"),
            "",
            "the spec directory has no topology.json",
            "create topology.json with \"devices\" and \"links\"",
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
