//! Tearing a lab down: each QEMU asked to quit over QMP, then SIGTERM, then SIGKILL — every pid
//! proven to be this lab's QEMU before any signal — then the lab directory removed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::Signal;

use super::error::EngineError;
use super::process;
use super::qmp;
use super::state::LabState;

/// What destroy did.
#[derive(Debug, Clone, Default)]
pub struct DestroyReport {
    /// QEMUs stopped (node name or pidfile).
    pub stopped: Vec<String>,
    /// Pids recorded in the state that now belong to some other program: not touched.
    pub left_alone: Vec<String>,
}

/// One QEMU to stop.
#[derive(Debug, Clone)]
struct Target {
    label: String,
    pid: i32,
    pidfile: PathBuf,
    qmp: PathBuf,
}

/// Destroys the lab in `lab_dir`. Without `force` a damaged or missing state file is an error;
/// with it, vmlab finds the lab's QEMUs by their command lines and removes whatever is left.
pub async fn destroy(lab_dir: &Path, force: bool) -> Result<DestroyReport, EngineError> {
    let mut report = DestroyReport::default();
    let mut targets: Vec<Target> = Vec::new();
    match LabState::load(lab_dir) {
        Ok(state) => {
            for (name, n) in state.ordered_nodes() {
                let pid = n.pid.or_else(|| process::read_pidfile(&n.pidfile));
                let Some(pid) = pid else { continue };
                if process::is_our_qemu(pid, &n.pidfile) {
                    targets.push(Target {
                        label: name.clone(),
                        pid,
                        pidfile: n.pidfile.clone(),
                        qmp: n.qmp.clone(),
                    });
                } else if process::alive(pid) {
                    report
                        .left_alone
                        .push(format!("{name}: pid {pid} is no longer this lab's QEMU"));
                }
            }
        }
        Err(e) if !force => return Err(e),
        Err(_) => {}
    }
    // Any QEMU whose pidfile lies in this lab's directory is ours, recorded or not (a deploy
    // interrupted before it wrote the state, or a damaged state file).
    for (pid, pidfile) in process::scan_lab_qemus(lab_dir) {
        if targets.iter().all(|t| t.pid != pid) {
            let label = pidfile
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| pid.to_string());
            let qmp = pidfile.with_extension("mon");
            targets.push(Target {
                label,
                pid,
                pidfile,
                qmp,
            });
        }
    }
    let stops = targets.iter().map(|t| stop_qemu(t.pid, &t.pidfile, &t.qmp));
    let results = futures::future::join_all(stops).await;
    let mut survivors = Vec::new();
    for (t, ok) in targets.iter().zip(results) {
        if ok {
            report.stopped.push(t.label.clone());
        } else {
            survivors.push(format!("{} (pid {})", t.label, t.pid));
        }
    }
    if !survivors.is_empty() {
        return Err(EngineError::LabState(format!(
            "could not stop {}; the lab directory {} is kept",
            survivors.join(", "),
            lab_dir.display()
        )));
    }
    if lab_dir.exists() {
        std::fs::remove_dir_all(lab_dir)
            .map_err(|e| EngineError::io(format!("cannot remove {}", lab_dir.display()), e))?;
    }
    Ok(report)
}

/// QMP quit → SIGTERM → SIGKILL, each given time to work, and only while `pid` is still the
/// QEMU writing `pidfile`. True once the process is gone.
pub async fn stop_qemu(pid: i32, pidfile: &Path, qmp_socket: &Path) -> bool {
    if !process::is_our_qemu(pid, pidfile) {
        return !process::alive(pid);
    }
    if qmp::execute(qmp_socket, "quit", Duration::from_secs(2))
        .await
        .is_ok()
        && process::wait_gone(pid, Duration::from_secs(5)).await
    {
        return true;
    }
    for (sig, grace) in [
        (Signal::SIGTERM, Duration::from_secs(3)),
        (Signal::SIGKILL, Duration::from_secs(3)),
    ] {
        if !process::alive(pid) {
            return true;
        }
        process::signal_if_ours(pid, pidfile, sig);
        if process::wait_gone(pid, grace).await {
            return true;
        }
    }
    !process::alive(pid)
}
