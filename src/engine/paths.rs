//! Where vmlab keeps things: `$VMLAB_HOME` (default `~/.vmlab`) and its `labs/<name>/` dirs.

use std::path::{Path, PathBuf};

/// `$VMLAB_HOME`, else `$HOME/.vmlab`.
pub fn vmlab_home() -> PathBuf {
    if let Some(h) = std::env::var_os("VMLAB_HOME").filter(|v| !v.is_empty()) {
        let p = PathBuf::from(h);
        return std::path::absolute(&p).unwrap_or(p);
    }
    user_home()
        .unwrap_or_else(|| PathBuf::from("."))
        .join(".vmlab")
}

/// The user's home directory, for `~` in spec paths.
pub fn user_home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// `$VMLAB_HOME/labs`.
pub fn labs_dir() -> PathBuf {
    vmlab_home().join("labs")
}

/// `$VMLAB_HOME/labs/<name>`.
pub fn lab_dir(name: &str) -> PathBuf {
    labs_dir().join(name)
}

/// `state.json` of a lab directory.
pub fn state_file(lab_dir: &Path) -> PathBuf {
    lab_dir.join("state.json")
}
