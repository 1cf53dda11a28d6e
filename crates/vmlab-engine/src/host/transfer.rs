//! Copying a lab's spec to another host: the spec files (`*.json` at the top of the spec
//! directory, `profiles/*.json`, newtron's `nodes/` and `zones/`, the files guests are handed
//! (`files/*`, for `vm_files`), and the registry platforms
//! a newtron network uses, under `platforms/`) and the lab key, as a tar stream over ssh into `vmlab
//! spec-receive` there, which unpacks it into `$VMLAB_HOME/specs/<lab>/` on that host.
//!
//! Symlinks are followed when packing (the host gets the files' content) only where the spec
//! itself reads through them: `topology.json`, `platforms.json` and `profiles/*.json` may lead
//! anywhere (they are the spec), any other file only to a file inside the spec directory, so a
//! link planted beside the spec cannot send a file of this host to another. They are refused
//! when unpacking; an entry that is not a plain file at one of those places, or a stream larger
//! than [`MAX_BYTES`], is refused. The received directory replaces the previous copy whole.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::EngineError;
use crate::home;
use crate::lab::key;
use crate::spec::LabName;

/// A spec larger than this is not a spec.
pub const MAX_BYTES: u64 = 64 * 1024 * 1024;

/// Where a host keeps the spec of lab `lab` it received.
pub fn received_dir(lab: &LabName) -> PathBuf {
    home::received_spec_dir(lab)
}

/// The files that travel: relative path and full path, sorted.
pub fn spec_files(spec_dir: &Path) -> Result<Vec<(String, PathBuf)>, EngineError> {
    let mut out = Vec::new();
    let read = |dir: &Path| {
        std::fs::read_dir(dir)
            .map_err(|e| EngineError::io(format!("cannot read {}", dir.display()), e))
    };
    let real_dir = std::fs::canonicalize(spec_dir)
        .map_err(|e| EngineError::io(format!("cannot resolve {}", spec_dir.display()), e))?;
    let inside = |p: &Path| std::fs::canonicalize(p).is_ok_and(|r| r.starts_with(&real_dir));
    for e in read(spec_dir)?.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let path = e.path();
        let spec_file = matches!(name.as_str(), "topology.json" | "platforms.json");
        // Hidden files are never spec files (and the receiving side refuses them).
        if (name.ends_with(".json") || name == key::FILE)
            && !name.starts_with('.')
            && path.is_file()
            && (spec_file || inside(&path))
        {
            out.push((name, path));
        }
    }
    // The design's profiles; newtron's nodes and zones.
    for folder in ["profiles", "nodes", "zones"] {
        let dir = spec_dir.join(folder);
        if !dir.is_dir() {
            continue;
        }
        for e in read(&dir)?.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let path = e.path();
            if name.ends_with(".json") && !name.starts_with('.') && path.is_file() {
                out.push((format!("{folder}/{name}"), path));
            }
        }
    }
    // Files handed to guests (`vm_files`): any plain file directly in `files/` that stays
    // inside the spec directory.
    let files = spec_dir.join("files");
    if files.is_dir() {
        for e in read(&files)?.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let path = e.path();
            if !name.starts_with('.') && path.is_file() && inside(&path) {
                out.push((format!("files/{name}"), path));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The spec as a tar stream, with `platforms` (newtron's registry files the lab uses, by
/// name) under `platforms/`: the other host reads them there.
pub fn pack(spec_dir: &Path, platforms: &[(String, PathBuf)]) -> Result<Vec<u8>, EngineError> {
    let mut tar = tar::Builder::new(Vec::new());
    let mut files = spec_files(spec_dir)?;
    files.extend(
        platforms
            .iter()
            .map(|(name, path)| (format!("platforms/{name}.json"), path.clone())),
    );
    for (rel, path) in files {
        let data = std::fs::read(&path)
            .map_err(|e| EngineError::io(format!("cannot read {}", path.display()), e))?;
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(if rel == key::FILE || rel == "secrets.json" {
            0o600
        } else {
            0o644
        });
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mtime(0);
        tar.append_data(&mut h, &rel, data.as_slice())
            .map_err(|e| EngineError::io("cannot pack the spec", e))?;
    }
    tar.into_inner()
        .map_err(|e| EngineError::io("cannot pack the spec", e))
}

/// Is `rel` a place a spec file may be unpacked to?
fn allowed(rel: &Path) -> bool {
    use std::path::Component;
    let parts: Vec<&str> = rel
        .components()
        .map(|c| match c {
            Component::Normal(s) => s.to_str().unwrap_or(""),
            _ => "",
        })
        .collect();
    let file_ok =
        |n: &str| !n.is_empty() && !n.starts_with('.') && (n.ends_with(".json") || n == key::FILE);
    match parts.as_slice() {
        [f] => file_ok(f),
        ["profiles" | "nodes" | "zones" | "platforms", f] => file_ok(f) && *f != key::FILE,
        ["files", f] => !f.is_empty() && !f.starts_with('.') && *f != key::FILE,
        _ => false,
    }
}

/// Unpacks a spec stream for lab `lab` into its received directory, replacing the previous
/// copy; returns the directory.
pub fn unpack(input: impl Read, lab: &LabName) -> Result<PathBuf, EngineError> {
    let dest = received_dir(lab);
    let parent = dest
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(home::vmlab_home);
    std::fs::create_dir_all(&parent)
        .map_err(|e| EngineError::io(format!("cannot create {}", parent.display()), e))?;
    let incoming = parent.join(format!(".{}.incoming.{}", lab.as_str(), std::process::id()));
    let _ = std::fs::remove_dir_all(&incoming);
    let result = unpack_into(input, &incoming);
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&incoming);
        return Err(e);
    }
    let old = parent.join(format!(".{}.old.{}", lab.as_str(), std::process::id()));
    if dest.symlink_metadata().is_ok() {
        std::fs::rename(&dest, &old)
            .map_err(|e| EngineError::io(format!("cannot replace {}", dest.display()), e))?;
    }
    std::fs::rename(&incoming, &dest)
        .map_err(|e| EngineError::io(format!("cannot create {}", dest.display()), e))?;
    let _ = std::fs::remove_dir_all(&old);
    Ok(dest)
}

fn unpack_into(input: impl Read, dir: &Path) -> Result<(), EngineError> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let bad = |why: String| EngineError::LabState(format!("refused the received spec: {why}"));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .recursive(true)
        .create(dir.join("profiles"))
        .map_err(|e| EngineError::io(format!("cannot create {}", dir.display()), e))?;
    let mut archive = tar::Archive::new(input.take(MAX_BYTES));
    let entries = archive
        .entries()
        .map_err(|e| EngineError::io("cannot read the spec stream", e))?;
    let mut count = 0;
    for entry in entries {
        let mut entry = entry.map_err(|e| EngineError::io("cannot read the spec stream", e))?;
        let rel = entry
            .path()
            .map_err(|e| EngineError::io("cannot read the spec stream", e))?
            .into_owned();
        if entry.header().entry_type() != tar::EntryType::Regular {
            return Err(bad(format!("{} is not a plain file", rel.display())));
        }
        if !allowed(&rel) {
            return Err(bad(format!("{} is not a spec file", rel.display())));
        }
        let target = dir.join(&rel);
        // newtron's layout has nodes/, zones/ and the platforms it uses in folders of their own.
        if let Some(parent) = target.parent() {
            std::fs::DirBuilder::new()
                .mode(0o700)
                .recursive(true)
                .create(parent)
                .map_err(|e| EngineError::io(format!("cannot create {}", parent.display()), e))?;
        }
        let mode = if rel == Path::new(key::FILE) || rel == Path::new("secrets.json") {
            0o600
        } else {
            0o644
        };
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&target)
            .map_err(|e| EngineError::io(format!("cannot write {}", target.display()), e))?;
        std::io::copy(&mut entry, &mut f)
            .map_err(|e| EngineError::io(format!("cannot write {}", target.display()), e))?;
        count += 1;
    }
    if !dir.join("topology.json").is_file() {
        return Err(bad(format!("no topology.json among its {count} files")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_spec_files_at_spec_places_are_allowed() {
        for ok in [
            "topology.json",
            "platforms.json",
            "vmlab.key",
            "profiles/r1.json",
        ] {
            assert!(allowed(Path::new(ok)), "{ok}");
        }
        for bad in [
            "../x.json",
            "/etc/x.json",
            "profiles/../../x.json",
            "a/b/c.json",
            "run.sh",
            ".hidden.json",
            "profiles/vmlab.key",
            "other/r1.json",
        ] {
            assert!(!allowed(Path::new(bad)), "{bad}");
        }
    }

    #[test]
    fn a_spec_round_trips_and_its_key_stays_private() {
        use std::os::unix::fs::PermissionsExt;
        let src = tempfile::tempdir().unwrap();
        std::fs::create_dir(src.path().join("profiles")).unwrap();
        std::fs::write(src.path().join("topology.json"), "{}").unwrap();
        std::fs::write(src.path().join("profiles/r1.json"), "{\"a\":1}").unwrap();
        std::fs::write(src.path().join("notes.txt"), "not sent").unwrap();
        // A link to a file of this host beside the spec stays here; one inside travels.
        let secret = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(secret.path(), "{\"token\": \"host secret\"}").unwrap();
        std::os::unix::fs::symlink(secret.path(), src.path().join("creds.json")).unwrap();
        std::fs::write(src.path().join(".real.json"), "{}").unwrap();
        std::os::unix::fs::symlink(src.path().join(".real.json"), src.path().join("net.json"))
            .unwrap();
        let sent: Vec<String> = spec_files(src.path())
            .unwrap()
            .into_iter()
            .map(|(rel, _)| rel)
            .collect();
        assert!(!sent.contains(&"creds.json".to_string()), "{sent:?}");
        assert!(sent.contains(&"net.json".to_string()), "{sent:?}");
        key::ensure(src.path(), false).unwrap();
        let bytes = pack(src.path(), &[]).unwrap();
        let dst = tempfile::tempdir().unwrap();
        let out = dst.path().join("copy");
        unpack_into(bytes.as_slice(), &out).unwrap();
        assert_eq!(
            std::fs::read_to_string(out.join("profiles/r1.json")).unwrap(),
            "{\"a\":1}"
        );
        assert!(!out.join("notes.txt").exists());
        let mode = std::fs::metadata(out.join(key::FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            key::load(&out).unwrap(),
            key::load(src.path()).unwrap(),
            "the same key on both sides"
        );
    }

    #[test]
    fn a_newtron_network_travels_with_its_platforms_and_reads_the_same_there() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let net = root.path().join("networks/n1");
        for d in ["nodes", "zones"] {
            std::fs::create_dir_all(net.join(d)).unwrap();
        }
        std::fs::create_dir_all(root.path().join("platforms")).unwrap();
        std::fs::write(
            net.join("topology.json"),
            r#"{"nodes": {"r1": {}}, "links": []}"#,
        )
        .unwrap();
        std::fs::write(
            net.join("nodes/r1.json"),
            r#"{"platform": "p", "zone": "z", "ssh_user": "a", "ssh_pass": "${secret:k}"}"#,
        )
        .unwrap();
        std::fs::write(net.join("zones/z.json"), "{}").unwrap();
        std::fs::write(net.join("secrets.json"), r#"{"k": "v"}"#).unwrap();
        let platform = root.path().join("platforms/p.json");
        std::fs::write(&platform, r#"{"name": "p", "vm_image": "/i.qcow2"}"#).unwrap();
        let here = crate::spec::load(&net, None).expect("the network reads here");
        let bytes = pack(&net, &[("p".into(), platform)]).unwrap();
        let dst = tempfile::tempdir().unwrap();
        let out = dst.path().join("n1");
        unpack_into(bytes.as_slice(), &out).unwrap();
        let mode = std::fs::metadata(out.join("secrets.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "secrets stay private");
        let there = crate::spec::load(&out, None).expect("the copy reads there");
        assert_eq!(
            there.nodes,
            here.nodes
                .iter()
                .map(|n| {
                    let mut n = n.clone();
                    n.profile = out.join("nodes/r1.json");
                    n.image_from.0 = out.join("platforms/p.json");
                    n
                })
                .collect::<Vec<_>>()
        );
        assert_eq!(there.name.as_str(), "n1");
    }

    #[test]
    fn a_stream_with_a_path_outside_is_refused() {
        let mut tar = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        let data = b"{}";
        h.set_size(2);
        h.set_entry_type(tar::EntryType::Regular);
        // set_path refuses "..", so write the name bytes directly, as a hostile sender would.
        h.as_gnu_mut().unwrap().name[..13].copy_from_slice(b"../evil.json\0");
        h.set_cksum();
        tar.append(&h, &data[..]).unwrap();
        let bytes = tar.into_inner().unwrap();
        let dst = tempfile::tempdir().unwrap();
        let err = unpack_into(bytes.as_slice(), &dst.path().join("copy")).unwrap_err();
        assert!(err.to_string().contains("not a spec file"), "{err}");
        assert!(!dst.path().join("evil.json").exists());
    }
}
