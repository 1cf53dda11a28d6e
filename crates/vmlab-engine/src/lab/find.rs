//! Finding a deployed lab: by spec directory, by name, or as the only one deployed. Every
//! route ends in a checked [`LabName`]; a spec directory names its lab by the same rule deploy
//! uses ([`crate::spec::lab_name`]).

use std::path::PathBuf;

use super::LabDir;
use crate::error::EngineError;
use crate::home::{labs_dir, state_file};
use crate::spec::LabName;

/// How a command names its lab.
#[derive(Debug, Clone)]
pub enum LabSelector {
    SpecDir(PathBuf),
    Name(LabName),
    /// The only lab deployed.
    Only,
}

/// Every lab directory under `$VMLAB_HOME/labs` with a valid name and a state file.
pub fn list() -> Vec<LabName> {
    let mut out: Vec<LabName> = std::fs::read_dir(labs_dir())
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .filter(|e| state_file(&e.path()).is_file())
                .filter_map(|e| e.file_name().to_str().and_then(|n| LabName::parse(n).ok()))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// The current directory, when it holds a spec (a `topology.json`).
pub fn spec_dir_here() -> Option<std::path::PathBuf> {
    let dir = std::env::current_dir().ok()?;
    dir.join("topology.json").is_file().then_some(dir)
}

/// The lab of the spec in the current directory, if there is one.
fn here_lab() -> Option<LabName> {
    crate::spec::lab_name(&spec_dir_here()?).ok()
}

/// The lab a selector names. Unless `allow_missing_state`, it must hold a state file; with
/// it, a directory vmlab created (its marker) is enough (`destroy --force` of a broken lab).
pub fn find(sel: &LabSelector, allow_missing_state: bool) -> Result<LabDir, EngineError> {
    let name = match sel {
        LabSelector::SpecDir(d) => crate::spec::lab_name(d)?,
        LabSelector::Name(n) => n.clone(),
        LabSelector::Only => {
            let labs = list();
            match labs.as_slice() {
                [one] => one.clone(),
                [] => {
                    return Err(EngineError::LabNotFound(
                        "no lab is deployed (deploy one with `vmlab deploy -S <spec dir>`)".into(),
                    ));
                }
                many if let Some(h) = here_lab().filter(|h| many.contains(h)) => {
                    // Several run: the one whose spec is where the user stands.
                    h
                }
                many => {
                    return Err(EngineError::LabNotFound(format!(
                        "{} labs are deployed: {}; name one with --lab <name> or -S <spec dir>",
                        many.len(),
                        join(many)
                    )));
                }
            }
        }
    };
    let lab = LabDir::of(name);
    let found = if allow_missing_state {
        lab.is_vmlab_lab()
    } else {
        lab.exists() && lab.state_file().is_file()
    };
    if !found && lab.path().symlink_metadata().is_ok() && !lab.is_vmlab_lab() {
        return Err(EngineError::NotALab {
            path: lab.path().to_path_buf(),
        });
    }
    if !found {
        let labs = list();
        return Err(EngineError::LabNotFound(format!(
            "lab {:?} is not deployed{}",
            lab.name().as_str(),
            if labs.is_empty() {
                String::new()
            } else {
                format!(" (deployed: {})", join(&labs))
            }
        )));
    }
    Ok(lab)
}

/// `--host NAME` on a command: the lab deployed here must be host NAME's part of it.
pub fn check_host(lab: &LabDir, host: Option<&str>) -> Result<(), EngineError> {
    let Some(host) = host else {
        return Ok(());
    };
    let state = super::state::LabState::load(lab)?;
    match state.host.as_deref() {
        Some(h) if h == host => Ok(()),
        Some(h) => Err(EngineError::LabState(format!(
            "lab {} here is host {h}'s part, not {host}'s (it was deployed with --host {h})",
            lab.name()
        ))),
        None => Err(EngineError::LabState(format!(
            "lab {} here is not a multi-host lab's part; leave out --host",
            lab.name()
        ))),
    }
}

fn join(names: &[LabName]) -> String {
    names
        .iter()
        .map(LabName::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}
