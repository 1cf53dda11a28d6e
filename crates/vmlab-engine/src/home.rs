//! Where vmlab keeps things: `$VMLAB_HOME` (default `~/.vmlab`) with `labs/<name>/` (one
//! directory per lab, removed by destroy), `locks/` (kept outside the lab directories, so a
//! lock outlives the directory it guards), `images/` and `tmp/`.
//!
//! A lab directory is reached only through a checked [`LabName`], so no name can point
//! anywhere but a direct child of `labs/`.

use std::path::{Path, PathBuf};

use crate::spec::LabName;

/// newtron's platforms registry named by the user (`--platforms` or `VMLAB_PLATFORMS`);
/// `None`: the one beside a network's networks folder.
pub fn platforms_registry() -> Option<PathBuf> {
    REGISTRY
        .get()
        .cloned()
        .flatten()
        .or_else(|| std::env::var_os("VMLAB_PLATFORMS").map(PathBuf::from))
        .filter(|p| !p.as_os_str().is_empty())
}

static REGISTRY: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();

/// Names newtron's platforms registry for this process (`--platforms`); first call wins.
pub fn set_platforms_registry(dir: Option<PathBuf>) {
    let _ = REGISTRY.set(dir);
}

/// The folder of boot patch sets named by the user (`--patches` or `VMLAB_PATCHES`); `None`:
/// the spec's, or the default places.
pub fn patches_dir() -> Option<PathBuf> {
    PATCHES
        .get()
        .cloned()
        .flatten()
        .or_else(|| std::env::var_os("VMLAB_PATCHES").map(PathBuf::from))
        .filter(|p| !p.as_os_str().is_empty())
        .map(|p| std::path::absolute(&p).unwrap_or(p))
}

static PATCHES: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();

/// Names the folder of boot patch sets for this process (`--patches`); first call wins.
pub fn set_patches_dir(dir: Option<PathBuf>) {
    let _ = PATCHES.set(dir);
}

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

/// Makes `dir` (`$VMLAB_HOME` or a folder under it) and whatever is missing above it up to
/// `$VMLAB_HOME` private: created 0700, and `$VMLAB_HOME` and `dir` tightened to 0700 when
/// they exist looser and are ours (a home made by an older vmlab was 0755, and its journals
/// could be read by every local user).
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let uid = nix::unistd::Uid::effective().as_raw();
    for d in [vmlab_home().as_path(), dir] {
        if let Ok(m) = std::fs::symlink_metadata(d)
            && m.is_dir()
            && m.uid() == uid
            && m.mode() & 0o077 != 0
        {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(m.mode() & 0o700))?;
        }
    }
    Ok(())
}

/// `$VMLAB_HOME/events`: each lab's operation journal.
pub fn events_dir() -> PathBuf {
    vmlab_home().join("events")
}

/// `$VMLAB_HOME/images`: the images `vmlab image` keeps, and where a `vm_image` given only as
/// a name is looked for.
pub fn images_dir() -> PathBuf {
    vmlab_home().join("images")
}

/// `$VMLAB_HOME/labs`.
pub fn labs_dir() -> PathBuf {
    vmlab_home().join("labs")
}

/// `$VMLAB_HOME/locks`: per-lab lock files.
pub fn locks_dir() -> PathBuf {
    vmlab_home().join("locks")
}

/// `$VMLAB_HOME/tmp`: scratch space (the KVM probe).
pub fn scratch_dir() -> PathBuf {
    vmlab_home().join("tmp")
}

/// `$VMLAB_HOME/specs/<name>`: where this host keeps the spec of a multi-host lab that
/// `--all-hosts` sent it.
pub fn received_spec_dir(name: &LabName) -> PathBuf {
    vmlab_home().join("specs").join(name.as_str())
}

/// `$VMLAB_HOME/labs/<name>`: the only way to a lab directory.
pub fn lab_dir(name: &LabName) -> PathBuf {
    labs_dir().join(name.as_str())
}

/// `state.json` of a lab directory.
pub fn state_file(lab_dir: &Path) -> PathBuf {
    lab_dir.join("state.json")
}

/// The file that marks a directory as a vmlab lab: written first when a lab directory is
/// created, it is what lets destroy remove the directory even before a state file exists.
pub fn marker_file(lab_dir: &Path) -> PathBuf {
    lab_dir.join(".vmlab-lab")
}
