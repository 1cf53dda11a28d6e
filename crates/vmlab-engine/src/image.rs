//! Disk images: those kept in `$VMLAB_HOME/images` and those deployed labs use, with their
//! size, format and users; importing one (converted to qcow2, with progress); and removing one
//! no lab uses.
//!
//! An image never brings host files into a guest: its backing chain, a qcow2 external data
//! file and vmdk extents must stay in the image's own directory and name plain files, never a
//! protocol (`json:`, `nbd:`, `http:`). [`confined`](super::node::backing::confined) walks the chain one image at a time
//! (`qemu-img info` opens no backing file), so a bad reference is refused before anything
//! reads it; import, deploy's preflight and `doctor` all ask it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde::Serialize;
use tokio::io::AsyncReadExt;

use super::error::EngineError;
use super::events::{Event, EventSink};
use super::home;
use super::lab::LabDir;
use super::lab::find;
use super::lab::state::LabState;
use super::node::qemu;
use crate::spec::name::check_name;

/// `$VMLAB_HOME/images`.
pub fn images_dir() -> PathBuf {
    home::images_dir()
}

/// Reads and resolves the spec directory `dir` as this machine sees it: `~` is the user's
/// home, an image named without a path is one of [`images_dir`], newtron's registry is the one
/// named (`--platforms`) or beside the network.
pub fn load_spec(dir: &std::path::Path) -> Result<crate::spec::Lab, EngineError> {
    Ok(crate::spec::load_in(
        dir,
        crate::home::user_home().as_deref(),
        &images_dir(),
        crate::home::platforms_registry().as_deref(),
    )?)
}

/// One image.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImageRow {
    /// The name a spec gives it: a kept image's name (its file without `.qcow2`), another's
    /// file name.
    pub name: String,
    pub path: PathBuf,
    /// `qcow2`, `raw`, ... (`None`: qemu-img could not read it).
    pub format: Option<String>,
    /// Bytes on disk.
    pub size: u64,
    /// The disk size the guest sees.
    pub virtual_size: Option<u64>,
    /// Is it in `$VMLAB_HOME/images`?
    pub managed: bool,
    /// Labs whose nodes use it (`lab:node`).
    pub used_by: Vec<String>,
}

/// Images every deployed lab uses: canonical image path → `lab:node` users.
fn used_images() -> BTreeMap<PathBuf, Vec<String>> {
    let mut out: BTreeMap<PathBuf, Vec<String>> = BTreeMap::new();
    for name in find::list() {
        let lab = LabDir::of(name.clone());
        let Ok(state) = LabState::load(&lab) else {
            continue;
        };
        for (node, n) in state.ordered_nodes() {
            if let Some(img) = &n.image {
                let key = std::fs::canonicalize(img).unwrap_or_else(|_| img.clone());
                out.entry(key).or_default().push(format!("{name}:{node}"));
            }
        }
    }
    out
}

/// Every image under `$VMLAB_HOME/images` and every image a deployed lab uses.
pub async fn list() -> Result<Vec<ImageRow>, EngineError> {
    let used = used_images();
    let mut paths: BTreeMap<PathBuf, bool> = BTreeMap::new();
    if let Ok(entries) = std::fs::read_dir(images_dir()) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_file() && !e.file_name().to_string_lossy().starts_with('.') {
                let key = std::fs::canonicalize(&p).unwrap_or(p);
                paths.insert(key, true);
            }
        }
    }
    for p in used.keys() {
        paths.entry(p.clone()).or_insert(false);
    }
    let mut rows = Vec::new();
    for (path, managed) in paths {
        let info = qemu::image_info(&path).await.ok();
        let file = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        rows.push(ImageRow {
            // A kept image by the name a spec gives it (`vm_image: "tiny"`); another by its file.
            name: match file.strip_suffix(".qcow2") {
                Some(stem) if managed => stem.to_string(),
                _ => file,
            },
            format: info
                .as_ref()
                .and_then(|i| i.get("format"))
                .and_then(|f| f.as_str())
                .map(str::to_string),
            size: std::fs::metadata(&path)
                .map(|m| {
                    use std::os::unix::fs::MetadataExt;
                    m.blocks() * 512
                })
                .unwrap_or(0),
            virtual_size: info
                .as_ref()
                .and_then(|i| i.get("virtual-size"))
                .and_then(|v| v.as_u64()),
            managed,
            used_by: used.get(&path).cloned().unwrap_or_default(),
            path,
        });
    }
    Ok(rows)
}

/// The image file an image name means: `<name>` or `<name>.qcow2` in the images directory.
fn named(name: &str) -> Result<PathBuf, EngineError> {
    let stem = name.strip_suffix(".qcow2").unwrap_or(name);
    check_name(stem).map_err(|why| {
        EngineError::Invalid(crate::spec::name::refused("image name", name, why).into())
    })?;
    Ok(images_dir().join(format!("{stem}.qcow2")))
}

/// Imports `file` as `$VMLAB_HOME/images/<name>.qcow2` (name: the file's own stem unless
/// given), converting it to qcow2 (raw, vmdk, vdi, vhdx, qcow2 with a backing chain: all come
/// out as one qcow2). Progress goes to `events`.
pub async fn import(
    file: &Path,
    name: Option<&str>,
    events: &EventSink,
) -> Result<ImageRow, EngineError> {
    let src = std::path::absolute(file)
        .map_err(|e| EngineError::io(format!("cannot resolve {}", file.display()), e))?;
    if !src.is_file() {
        return Err(EngineError::Invalid(
            crate::spec::SpecError::new(&src, "", "is not a file", "name the disk image to import")
                .into(),
        ));
    }
    let stem = match name {
        Some(n) => n.to_string(),
        None => src
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    let target = named(&stem)?;
    if target.exists() {
        return Err(EngineError::LabState(format!(
            "{} already exists; remove it first (`vmlab image rm {stem}`) or import with --name",
            target.display()
        )));
    }
    super::node::backing::confined(&src).map_err(|why| {
        EngineError::Invalid(
            crate::spec::SpecError::new(
                &src,
                "",
                why,
                "import the image from a file whose backing chain stays beside it (or flatten \
                 it first with qemu-img convert where you trust its backing files)",
            )
            .into(),
        )
    })?;
    let info = qemu::image_info(&src).await.map_err(|e| {
        EngineError::Invalid(
            crate::spec::SpecError::new(
                &src,
                "",
                format!("is not a disk image qemu-img reads: {e}"),
                "name a disk image (qcow2, raw, vmdk, vdi, vhdx)",
            )
            .into(),
        )
    })?;
    let format = info
        .get("format")
        .and_then(|f| f.as_str())
        .unwrap_or("raw")
        .to_string();
    let dir = images_dir();
    std::fs::create_dir_all(&dir)
        .map_err(|e| EngineError::io(format!("cannot create {}", dir.display()), e))?;
    let tmp = dir.join(format!(".{stem}.import-{}.tmp", std::process::id()));
    events.send(Event::Step(format!(
        "importing {} ({format}) as {}",
        src.display(),
        target.display()
    )));
    tracing::info!(
        "qemu-img convert -p -f {format} -O qcow2 {} {}",
        src.display(),
        tmp.display()
    );
    let mut child = tokio::process::Command::new("qemu-img")
        .args(["convert", "-p", "-f", &format, "-O", "qcow2", "--"])
        .arg(&src)
        .arg(&tmp)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| EngineError::io("cannot run qemu-img", e))?;
    // qemu-img -p prints "    (12.34/100%)\r" as it goes.
    if let Some(mut out) = child.stdout.take() {
        let mut buf = [0u8; 256];
        let mut text = String::new();
        let mut last = -1.0f64;
        while let Ok(n) = out.read(&mut buf).await {
            if n == 0 {
                break;
            }
            text.push_str(&String::from_utf8_lossy(&buf[..n]));
            if let Some(pct) = last_percent(&text) {
                if pct - last >= 1.0 || pct >= 100.0 {
                    last = pct;
                    events.send(Event::Progress {
                        what: format!("import {stem}"),
                        fraction: pct / 100.0,
                    });
                }
                if text.len() > 4096 {
                    text.drain(..text.len() - 64);
                }
            }
        }
    }
    let status = child
        .wait()
        .await
        .map_err(|e| EngineError::io("qemu-img convert", e))?;
    if !status.success() {
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = e.read_to_string(&mut err).await;
        }
        let _ = std::fs::remove_file(&tmp);
        return Err(EngineError::LabState(format!(
            "converting {} failed: {}",
            src.display(),
            err.trim()
        )));
    }
    std::fs::rename(&tmp, &target).map_err(|e| {
        EngineError::io(format!("cannot move the image to {}", target.display()), e)
    })?;
    let rows = list().await?;
    rows.into_iter()
        .find(|r| r.path == std::fs::canonicalize(&target).unwrap_or(target.clone()))
        .ok_or_else(|| EngineError::LabState("the imported image is not listed".into()))
}

fn last_percent(text: &str) -> Option<f64> {
    let end = text.rfind("/100%)")?;
    let start = text[..end].rfind('(')? + 1;
    text[start..end].trim().parse().ok()
}

/// Removes image `name` from `$VMLAB_HOME/images`, unless a deployed lab uses it.
pub fn remove(name: &str) -> Result<PathBuf, EngineError> {
    let path = named(name)?;
    let plain = images_dir().join(name);
    let path = if !path.exists() && plain.is_file() && check_name(name).is_ok() {
        plain
    } else {
        path
    };
    if !path.is_file() {
        return Err(EngineError::LabNotFound(format!(
            "no image {name:?} in {}",
            images_dir().display()
        )));
    }
    let key = std::fs::canonicalize(&path).unwrap_or(path.clone());
    if let Some(users) = used_images().get(&key) {
        return Err(EngineError::LabState(format!(
            "{} is in use by {}; destroy those labs first",
            path.display(),
            users.join(", ")
        )));
    }
    std::fs::remove_file(&path)
        .map_err(|e| EngineError::io(format!("cannot remove {}", path.display()), e))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_qemu_img_progress() {
        assert_eq!(
            last_percent("    (0.00/100%)\r    (12.50/100%)\r"),
            Some(12.5)
        );
        assert_eq!(last_percent("nothing yet"), None);
    }
}
