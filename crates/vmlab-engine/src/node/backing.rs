//! An image's backing chain, qcow2 external data file and vmdk extents, checked to stay in the
//! image's own directory and to name plain files, never a protocol (`json:`, `nbd:`, `http:`).
//! The chain is walked one image at a time (`qemu-img info` opens no backing file), so a bad
//! reference is refused before anything reads it. Image import, deploy's preflight and
//! `doctor` all ask [`confined`].

use std::path::{Path, PathBuf};
use std::process::Stdio;

/// The deepest backing chain vmlab follows.
const MAX_CHAIN: usize = 16;

/// Does `image` reach only files in its own directory? `Err` names the reference that leaves
/// it. Each image of the chain is read with `qemu-img info` without its backing file.
pub fn confined(image: &Path) -> Result<(), String> {
    let canonical = |p: &Path| {
        std::fs::canonicalize(p).map_err(|e| format!("{} cannot be resolved: {e}", p.display()))
    };
    let top = canonical(image)?;
    let dir = top
        .parent()
        .ok_or_else(|| format!("{} has no directory", top.display()))?
        .to_path_buf();
    let mut current = top;
    for _ in 0..MAX_CHAIN {
        let out = std::process::Command::new("qemu-img")
            .args(["info", "-U", "--output=json", "--"])
            .arg(&current)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run qemu-img: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "qemu-img cannot read {}: {}",
                current.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let info: serde_json::Value =
            serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
        let here = current.parent().unwrap_or(&dir).to_path_buf();
        let check = |what: &str, name: &str| -> Result<PathBuf, String> {
            if has_protocol(name) {
                return Err(format!(
                    "{} has a {what} reached through a protocol ({name:?}); an image may only \
                     use plain files beside it",
                    current.display()
                ));
            }
            let p = canonical(&here.join(name))?;
            if !p.starts_with(&dir) {
                return Err(format!(
                    "{} has a {what} outside its directory ({}); an image may only use files \
                     in {}",
                    current.display(),
                    p.display(),
                    dir.display()
                ));
            }
            Ok(p)
        };
        let data = info.pointer("/format-specific/data");
        if let Some(f) = data
            .and_then(|d| d.get("data-file"))
            .and_then(|v| v.as_str())
        {
            check("data file", f)?;
        }
        for e in data
            .and_then(|d| d.get("extents"))
            .and_then(|v| v.as_array())
            .into_iter()
            .flatten()
        {
            if let Some(f) = e.get("filename").and_then(|v| v.as_str()) {
                check("extent", f)?;
            }
        }
        let backing = info
            .get("backing-filename")
            .or_else(|| info.get("full-backing-filename"))
            .and_then(|v| v.as_str());
        match backing {
            None => return Ok(()),
            Some(b) => current = check("backing file", b)?,
        }
    }
    Err(format!(
        "{}'s backing chain is deeper than {MAX_CHAIN}",
        image.display()
    ))
}

/// Does a file name as QEMU reads it start with a protocol (`json:`, `nbd:`, `file:`)?
fn has_protocol(name: &str) -> bool {
    match name.split_once(':') {
        Some((proto, _)) => {
            !proto.is_empty()
                && !proto.contains('/')
                && proto
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.' | '_'))
        }
        None => false,
    }
}
