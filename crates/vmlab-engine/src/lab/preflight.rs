//! Checks on the machine before anything starts: images exist and reach no file outside their
//! directory (backing chains, data files, extents), ports are free (a busy one names its holder), socket paths
//! fit, `vm_files` are plain readable files inside the spec directory, and in a multi-host lab this host's address is really this host's. Only what this
//! host runs is checked (its nodes' images and ports, its ends of links between hosts).
//! Problems come back together, in the same form as spec errors (file, field, fix).

use std::collections::BTreeSet;

use crate::netstat;
use crate::plan::LabPlan;
use crate::spec::{Lab, SpecError, SpecErrors};

/// Unix socket paths longer than this do not fit `sockaddr_un`.
const MAX_SOCKET_PATH: usize = 107;

/// Everything about the machine that would stop `plan` from deploying. Ports in `own` are held
/// by the lab's own running processes (a re-deploy's dry run) and are not a stranger's.
pub fn check(
    plan: &LabPlan,
    lab: &Lab,
    own: &BTreeSet<u16>,
    claimed: &std::collections::BTreeMap<u16, crate::spec::LabName>,
) -> SpecErrors {
    let mut errs = SpecErrors::default();
    let mut seen = BTreeSet::new();
    let mut local: BTreeSet<&str> = plan.local_nodes().map(|n| n.name.as_str()).collect();
    // A coalesced host's image is its VM's.
    local.extend(
        plan.virtual_hosts
            .iter()
            .filter(|h| local.contains(h.vm.as_str()))
            .map(|h| h.name.as_str())
            .collect::<Vec<_>>(),
    );
    for n in lab.nodes.iter().filter(|n| local.contains(n.name.as_str())) {
        let (node, image, (file, field)) = (&n.name, &n.image, &n.image_from);
        if !seen.insert(image.clone()) {
            continue;
        }
        match std::fs::metadata(image) {
            Ok(m) if m.is_file() => {
                if std::fs::File::open(image).is_err() {
                    errs.push(SpecError::new(
                        file,
                        field,
                        format!("image {} (node {node}) is not readable", image.display()),
                        "fix the file's permissions",
                    ));
                } else if let Err(why) = crate::node::backing::confined(image) {
                    errs.push(SpecError::new(
                        file,
                        field,
                        format!("image of node {node}: {why}"),
                        "use an image whose backing chain stays in its own directory",
                    ));
                }
            }
            Ok(_) => errs.push(SpecError::new(
                file,
                field,
                format!("image {} (node {node}) is not a file", image.display()),
                "point vm_image at a qcow2 or raw disk image",
            )),
            Err(_) if image.parent() == Some(crate::home::images_dir().as_path()) => {
                errs.push(SpecError::new(
                    file,
                    field,
                    format!(
                        "image {} (node {node}) is not among vmlab's images ({})",
                        image
                            .file_stem()
                            .map(|s| s.to_string_lossy().into_owned())
                            .unwrap_or_default(),
                        image.display()
                    ),
                    "`vmlab image list` shows them; `vmlab image import FILE --name NAME` adds \
                     one; a file beside the spec is written ./NAME",
                ))
            }
            Err(_) => errs.push(SpecError::new(
                file,
                field,
                format!("image {} (node {node}) does not exist", image.display()),
                "build or download the image to that path, or change vm_image",
            )),
        }
    }
    for n in lab.nodes.iter().filter(|n| local.contains(n.name.as_str())) {
        for f in &n.files {
            if let Err(why) = guest_file(&lab.spec_dir, &f.source) {
                errs.push(SpecError::new(
                    &f.from.0,
                    &f.from.1,
                    format!("{} (node {}): {why}", f.source.display(), n.name),
                    "give a plain file of the spec directory, at most 1 MiB",
                ));
            }
        }
    }
    let topo = plan.spec_dir.join("topology.json");
    if let Some(host) = &plan.local_host {
        let addr = plan.local_nodes().next().map(|n| n.mgmt_addr).or_else(|| {
            plan.links
                .iter()
                .find_map(|l| l.cross.as_ref().map(|c| c.local.ip()))
        });
        if let Some(addr) = addr.filter(|a| !netstat::address_is_local(*a)) {
            errs.push(SpecError::new(
                &topo,
                format!("vmlab.hosts.{host}"),
                format!("{addr} (host {host}) is not an address of this machine"),
                format!("deploy --host {host} on the machine that has {addr}, or fix the address"),
            ));
            return errs;
        }
    }
    for b in super::ports::busy(plan, own) {
        let who = super::ports::holder_of(b.port, claimed)
            .map(|h| format!(", held by {h}"))
            .unwrap_or_default();
        errs.push(SpecError::new(
            &topo,
            format!("vmlab.{}", b.base),
            format!(
                "port {} ({}) is already in use on {}{}{who}",
                b.port,
                b.role,
                b.addr,
                if b.udp { " (UDP)" } else { "" }
            ),
            if plan.local_host.is_none() {
                format!(
                    "stop whatever holds it, move {} to a free range, or leave out \
                     vmlab.ports: \"exact\" so the lab moves to a free block itself",
                    b.base
                )
            } else {
                format!("stop whatever holds it, or move {} to a free range", b.base)
            },
        ));
    }
    if let Some(n) = plan.nodes.first() {
        let len = n.paths.qmp.as_os_str().len() + 8;
        if len > MAX_SOCKET_PATH {
            errs.push(SpecError::new(
                &plan.lab_dir,
                "",
                format!(
                    "the lab directory is too deep for QEMU's unix sockets ({} bytes, at most {MAX_SOCKET_PATH})",
                    n.paths.qmp.as_os_str().len()
                ),
                "set VMLAB_HOME to a shorter path",
            ));
        }
    }
    errs
}

/// The largest `vm_files` file: a configuration, not a disk.
pub const MAX_GUEST_FILE: u64 = 1 << 20;

/// Is `source` a readable plain file of at most [`MAX_GUEST_FILE`] bytes that stays inside
/// `spec_dir` once symlinks are followed (so a link planted in the spec hands no file of this
/// host to a guest)?
fn guest_file(spec_dir: &std::path::Path, source: &std::path::Path) -> Result<(), String> {
    let dir = std::fs::canonicalize(spec_dir).map_err(|e| format!("spec directory: {e}"))?;
    let real = std::fs::canonicalize(source).map_err(|_| "does not exist".to_string())?;
    if !real.starts_with(&dir) {
        return Err(format!(
            "leads outside the spec directory (to {})",
            real.display()
        ));
    }
    let m = std::fs::metadata(&real).map_err(|e| e.to_string())?;
    if !m.is_file() {
        return Err("is not a plain file".into());
    }
    if m.len() > MAX_GUEST_FILE {
        return Err(format!(
            "is {} bytes, more than a guest file may be",
            m.len()
        ));
    }
    std::fs::File::open(&real).map_err(|e| format!("cannot be read: {e}"))?;
    Ok(())
}
