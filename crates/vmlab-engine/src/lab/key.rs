//! The lab key: 32 random bytes that tag every datagram of a link between hosts (see
//! `engine::link::wire`). It lives beside the spec, in `<spec dir>/vmlab.key` (64 hex digits,
//! mode 0600), so it travels with the spec to every host — `--all-hosts` copies it, and a spec
//! directory copied by hand carries it too. The first deploy that needs it creates it; two
//! deploys racing to create it end up with the same key (the file appears whole, once).

use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::error::EngineError;
use crate::link::wire::{self, KEY_LEN};

/// The key file's name in a spec directory.
pub const FILE: &str = "vmlab.key";

pub fn path(spec_dir: &Path) -> PathBuf {
    spec_dir.join(FILE)
}

/// Reads the lab key; `None` when there is none yet. A key readable by others, or damaged, is
/// an error naming the fix.
pub fn load(spec_dir: &Path) -> Result<Option<[u8; KEY_LEN]>, EngineError> {
    let p = path(spec_dir);
    let meta = match std::fs::symlink_metadata(&p) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(EngineError::io(format!("cannot read {}", p.display()), e)),
    };
    if !meta.file_type().is_file() {
        return Err(EngineError::LabState(format!(
            "{} is not a plain file; remove it (a new key is made at the next deploy, and must \
             then be copied to every host)",
            p.display()
        )));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(EngineError::LabState(format!(
            "{} (the lab key) can be read by other users; run `chmod 600 {}`",
            p.display(),
            p.display()
        )));
    }
    let text = std::fs::read_to_string(&p)
        .map_err(|e| EngineError::io(format!("cannot read {}", p.display()), e))?;
    wire::key_from_hex(&text).map(Some).ok_or_else(|| {
        EngineError::LabState(format!(
            "{} is not a lab key (64 hex digits); copy it again from the host that made it",
            p.display()
        ))
    })
}

/// The lab key, created if there is none yet — except in a spec another host sent
/// (`received`): a key made there would be this host's alone, and every datagram between the
/// hosts would be refused as forged.
pub fn ensure(spec_dir: &Path, received: bool) -> Result<[u8; KEY_LEN], EngineError> {
    if let Some(k) = load(spec_dir)? {
        return Ok(k);
    }
    if received {
        return Err(EngineError::LabState(format!(
            "{} has no lab key: this spec was sent by another host's `--all-hosts`, which must \
             send the key with it; deploy again with --all-hosts from the spec's own directory",
            spec_dir.display()
        )));
    }
    let key = random_key()?;
    let target = path(spec_dir);
    let tmp = spec_dir.join(format!(".{FILE}.{}", std::process::id()));
    let written = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(format!("{}\n", wire::key_to_hex(&key)).as_bytes())?;
        f.sync_all()?;
        // A hard link never replaces: if another deploy made the key meanwhile, its key wins.
        std::fs::hard_link(&tmp, &target)
    })();
    let _ = std::fs::remove_file(&tmp);
    match written {
        Ok(()) => Ok(key),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => load(spec_dir)?
            .ok_or_else(|| EngineError::LabState(format!("{} vanished", target.display()))),
        Err(e) => Err(EngineError::io(
            format!(
                "cannot create the lab key {} (links between hosts need it; make the spec \
                 directory writable, or set vmlab.cross_host_check to \"none\")",
                target.display()
            ),
            e,
        )),
    }
}

fn random_key() -> Result<[u8; KEY_LEN], EngineError> {
    use std::io::Read;
    let mut key = [0u8; KEY_LEN];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut key))
        .map_err(|e| EngineError::io("cannot read random bytes for the lab key", e))?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_key_is_made_once_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load(dir.path()).unwrap(), None);
        assert!(
            ensure(dir.path(), true).is_err(),
            "never made in a received spec"
        );
        assert_eq!(load(dir.path()).unwrap(), None);
        let k = ensure(dir.path(), false).unwrap();
        assert_eq!(ensure(dir.path(), false).unwrap(), k, "made once");
        assert_eq!(
            ensure(dir.path(), true).unwrap(),
            k,
            "read in a received spec"
        );
        let mode = std::fs::metadata(path(dir.path())).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_ne!(k, [0u8; KEY_LEN]);
        std::fs::set_permissions(path(dir.path()), std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("chmod 600"), "{err}");
        std::fs::write(path(dir.path()), "nonsense").unwrap();
        std::fs::set_permissions(path(dir.path()), std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(load(dir.path()).is_err());
    }
}
