//! Checks on the machine before anything starts: images exist, ports are free, socket paths
//! fit. Problems come back together, in the same form as spec errors (file, field, fix).

use std::collections::BTreeSet;

use crate::plan::{LabPlan, PortRole};
use crate::spec::{Lab, SpecError, SpecErrors};

/// Unix socket paths longer than this do not fit `sockaddr_un`.
const MAX_SOCKET_PATH: usize = 107;

/// Everything about the machine that would stop `plan` from deploying.
pub fn check(plan: &LabPlan, lab: &Lab) -> SpecErrors {
    let mut errs = SpecErrors::default();
    let mut seen = BTreeSet::new();
    for n in &lab.nodes {
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
                }
            }
            Ok(_) => errs.push(SpecError::new(
                file,
                field,
                format!("image {} (node {node}) is not a file", image.display()),
                "point vm_image at a qcow2 or raw disk image",
            )),
            Err(_) => errs.push(SpecError::new(
                file,
                field,
                format!("image {} (node {node}) does not exist", image.display()),
                "build or download the image to that path, or change vm_image",
            )),
        }
    }
    let topo = plan.spec_dir.join("topology.json");
    for p in &plan.ports {
        if !crate::engine::netstat::port_free(p.port) {
            let base = match p.role {
                PortRole::Link { .. } => "link_port_base",
                PortRole::Console { .. } => "console_port_base",
                PortRole::Ssh { .. } => "ssh_port_base",
            };
            errs.push(SpecError::new(
                &topo,
                format!("vmlab.{base}"),
                format!(
                    "port {} ({}) is already in use on 127.0.0.1",
                    p.port, p.role
                ),
                format!("stop whatever holds it, or move {base} to a free range"),
            ));
        }
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
