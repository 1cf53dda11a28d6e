//! Finding a deployed lab: by spec directory, by name, or as the only one deployed.

use std::path::{Path, PathBuf};

use super::error::EngineError;
use super::paths::{lab_dir, labs_dir, state_file};

/// How a command names its lab.
#[derive(Debug, Clone)]
pub enum LabSelector {
    SpecDir(PathBuf),
    Name(String),
    /// The only lab deployed.
    Only,
}

/// The lab name a spec directory deploys as: topology `name`, else the directory's name.
pub fn lab_name_of_spec(dir: &Path) -> Result<String, EngineError> {
    let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let topo = dir.join("topology.json");
    let text = std::fs::read_to_string(&topo)
        .map_err(|e| EngineError::io(format!("cannot read {}", topo.display()), e))?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        EngineError::LabNotFound(format!("{}: malformed JSON: {e}", topo.display()))
    })?;
    Ok(match v.get("name").and_then(|n| n.as_str()) {
        Some(n) => n.to_string(),
        None => dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    })
}

/// Names of every lab directory under `$VMLAB_HOME/labs` that has a state file.
pub fn list() -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(labs_dir())
        .map(|rd| {
            rd.flatten()
                .filter(|e| state_file(&e.path()).exists())
                .filter_map(|e| e.file_name().to_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// The lab directory a selector names (it must exist unless `allow_missing_state`).
pub fn find(
    sel: &LabSelector,
    allow_missing_state: bool,
) -> Result<(String, PathBuf), EngineError> {
    let name = match sel {
        LabSelector::SpecDir(d) => lab_name_of_spec(d)?,
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
                many => {
                    return Err(EngineError::LabNotFound(format!(
                        "{} labs are deployed: {}; name one with --lab <name> or -S <spec dir>",
                        many.len(),
                        many.join(", ")
                    )));
                }
            }
        }
    };
    let dir = lab_dir(&name);
    let exists = if allow_missing_state {
        dir.exists()
    } else {
        state_file(&dir).exists()
    };
    if !exists {
        let labs = list();
        return Err(EngineError::LabNotFound(format!(
            "lab {name:?} is not deployed{}",
            if labs.is_empty() {
                String::new()
            } else {
                format!(" (deployed: {})", labs.join(", "))
            }
        )));
    }
    Ok((name, dir))
}
