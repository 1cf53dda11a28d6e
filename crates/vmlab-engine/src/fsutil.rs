//! Files the engine treats with care: atomic replacement (write a sibling temp file, fsync,
//! rename over the target) and reading a secret only its owner may read.
//!
//! In atomic replacement a symlinked target is followed, so the link survives and the file it points to is replaced.
//! The temp file is created with the target's permission bits (never wider than the original,
//! not even for the moment before a chmod) and is given the target's owner and group where the
//! user may keep them.

use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Replaces `path`'s content with `bytes` atomically. A new file gets `new_mode` (default
/// 0644 less the umask); an existing one keeps its mode, owner and group.
pub fn atomic_write(path: &Path, bytes: &[u8], new_mode: Option<u32>) -> std::io::Result<()> {
    let target = resolve_symlinks(path)?;
    let dir = target
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    let existing = std::fs::metadata(&target).ok();
    let mode = existing
        .as_ref()
        .map(|m| m.permissions().mode() & 0o7777)
        .or(new_mode)
        .unwrap_or(0o644);
    let (tmp_path, mut tmp) = tempfile_in(&dir, &name, mode)?;
    let result = (|| {
        tmp.write_all(bytes)?;
        if let Some(m) = &existing {
            // The umask may have narrowed the mode at creation: restore exactly the original
            // (which is never wider than what the file had), then its owner where allowed.
            tmp.set_permissions(std::fs::Permissions::from_mode(mode))?;
            if m.uid() != nix::unistd::getuid().as_raw()
                || m.gid() != nix::unistd::getgid().as_raw()
            {
                let _ = std::os::unix::fs::fchown(&tmp, Some(m.uid()), Some(m.gid()))
                    .or_else(|_| std::os::unix::fs::fchown(&tmp, None, Some(m.gid())));
            }
        }
        tmp.sync_all()?;
        std::fs::rename(&tmp_path, &target)?;
        // Make the rename itself durable.
        if let Ok(d) = std::fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp_path);
    }
    result
}

/// The file a path finally names, following symlinks (a missing final file is fine).
fn resolve_symlinks(path: &Path) -> std::io::Result<PathBuf> {
    match std::fs::canonicalize(path) {
        Ok(p) => Ok(p),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(path.to_path_buf()),
        Err(e) => Err(e),
    }
}

fn tempfile_in(dir: &Path, name: &str, mode: u32) -> std::io::Result<(PathBuf, std::fs::File)> {
    for attempt in 0..100u32 {
        let p = dir.join(format!(
            ".{name}.vmlab-{}-{attempt}.tmp",
            std::process::id()
        ));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&p)
        {
            Ok(f) => return Ok((p, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("cannot create a temporary file"))
}

/// The text of a file only its owner may read: a secret (the API token). Refused, naming the
/// fix, if its group or others may read or write it, or if it is empty.
pub fn read_private(path: &Path) -> Result<String, crate::error::EngineError> {
    use crate::error::EngineError;
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path)
        .map_err(|e| EngineError::io(format!("cannot read {}", path.display()), e))?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(EngineError::Usage {
            what: format!("{} may be read by others", path.display()),
            fix: format!("chmod 600 {}", path.display()),
        });
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| EngineError::io(format!("cannot read {}", path.display()), e))?;
    let text = text.trim().to_string();
    if text.is_empty() {
        return Err(EngineError::Usage {
            what: format!("{} is empty", path.display()),
            fix: "write the token in it (for example `openssl rand -hex 32`)".into(),
        });
    }
    Ok(text)
}

/// The secret in `path`, made on first use: 32 bytes from the kernel's random source as hex,
/// written 0600 to a temporary file and linked into place, so two processes starting at once
/// agree on one secret and neither reads a half-written file.
pub fn private_secret(path: &Path) -> Result<String, crate::error::EngineError> {
    use crate::error::EngineError;
    use std::io::{Read, Write};
    if !path.exists() {
        let io = |what: &str, e| EngineError::io(format!("{what} {}", path.display()), e);
        let mut bytes = [0u8; 32];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut bytes))
            .map_err(|e| io("cannot make a secret for", e))?;
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let dir = path.parent().unwrap_or(Path::new("."));
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (tmp, mut f) = tempfile_in(dir, &name, 0o600).map_err(|e| io("cannot write", e))?;
        let written = f
            .write_all(format!("{hex}\n").as_bytes())
            .and_then(|()| f.sync_all())
            .and_then(|()| match std::fs::hard_link(&tmp, path) {
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
                other => other,
            });
        let _ = std::fs::remove_file(&tmp);
        written.map_err(|e| io("cannot write", e))?;
    }
    read_private(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_through_a_symlink_and_keeps_it() {
        let d = tempfile::tempdir().unwrap();
        let real = d.path().join("real.json");
        std::fs::write(&real, "old").unwrap();
        let link = d.path().join("link.json");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        atomic_write(&link, b"new", None).unwrap();
        assert!(link.symlink_metadata().unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read_to_string(&real).unwrap(), "new");
        let leftovers: Vec<_> = std::fs::read_dir(d.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 2);
    }

    #[test]
    fn keeps_the_mode_from_the_first_byte() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("p.json");
        std::fs::write(&f, "old").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        // A reader that polls the directory while the file is written sees no wider mode: the
        // temp file is created 0600 (checked by creating it the same way).
        let (tmp, _) = tempfile_in(d.path(), "probe", 0o600).unwrap();
        assert_eq!(
            std::fs::metadata(&tmp).unwrap().permissions().mode() & 0o777,
            0o600
        );
        std::fs::remove_file(tmp).unwrap();
        atomic_write(&f, b"new", None).unwrap();
        assert_eq!(
            std::fs::metadata(&f).unwrap().permissions().mode() & 0o7777,
            0o600
        );
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o640)).unwrap();
        atomic_write(&f, b"newer", None).unwrap();
        assert_eq!(
            std::fs::metadata(&f).unwrap().permissions().mode() & 0o7777,
            0o640
        );
        let fresh = d.path().join("fresh.json");
        atomic_write(&fresh, b"x", Some(0o600)).unwrap();
        assert_eq!(
            std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}
