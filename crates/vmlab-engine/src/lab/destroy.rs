//! Tearing a lab down: each QEMU asked to quit over QMP, then SIGTERM, then SIGKILL — every pid
//! proven to be this lab's QEMU before any signal — then the lab directory removed.
//!
//! Only a directory vmlab created is ever removed: a real directory (not a symlink) directly
//! under `$VMLAB_HOME/labs/`, reached through a checked lab name, holding vmlab's marker or a
//! state file. Anything else is refused and left as it is.

use std::path::PathBuf;
use std::time::Duration;

use super::LabDir;
use super::lock::{self, LabLock};
use super::state::LabState;
use crate::error::EngineError;
use crate::events::EventSink;
use crate::link::supervise::{self, RelayRecord};
use crate::node::process::{self, QemuIdentity};
use crate::node::qemu::stop_qemu;

/// What destroy did.
#[derive(Debug, Clone, Default)]
pub struct DestroyReport {
    /// QEMUs stopped (node name or pidfile).
    pub stopped: Vec<String>,
    /// Pids recorded in the state that now belong to some other program: not touched.
    pub left_alone: Vec<String>,
    /// The link relay was stopped.
    pub stopped_relay: bool,
}

/// One QEMU to stop.
#[derive(Debug, Clone)]
struct Target {
    label: String,
    pid: i32,
    pidfile: PathBuf,
    exe: Option<PathBuf>,
    /// The planned command line (from the state), when no executable was recorded.
    argv: Vec<String>,
    qmp: PathBuf,
}

impl Target {
    fn identity(&self) -> QemuIdentity<'_> {
        QemuIdentity {
            pidfile: &self.pidfile,
            exe: self.exe.as_deref(),
            argv: Some(&self.argv),
        }
    }
}

/// Destroys a lab, holding its lock. Without `force` a damaged or missing state file is an
/// error; with it, vmlab finds the lab's QEMUs by their command lines and removes whatever is
/// left.
pub async fn destroy(
    lab: &LabDir,
    force: bool,
    events: &EventSink,
) -> Result<DestroyReport, EngineError> {
    let lock = lock::acquire(lab.name(), "vmlab destroy", events).await?;
    destroy_locked(lab, &lock, force).await
}

/// Destroys a lab whose lock the caller holds (a deploy rolling back).
pub async fn destroy_locked(
    lab: &LabDir,
    _lock: &LabLock,
    force: bool,
) -> Result<DestroyReport, EngineError> {
    if !lab.is_vmlab_lab() {
        if lab.path().symlink_metadata().is_err() {
            return Err(EngineError::LabNotFound(format!(
                "lab {:?} is not deployed",
                lab.name().as_str()
            )));
        }
        return Err(EngineError::NotALab {
            path: lab.path().to_path_buf(),
        });
    }
    // The connections exec and validate share end before their VMs do.
    crate::ssh::close_shared(lab.path(), None).await;
    let mut report = DestroyReport::default();
    let mut targets: Vec<Target> = Vec::new();
    // Each node's planned command line by its pidfile: what identifies a QEMU whose launch
    // was never recorded.
    let mut planned: Vec<(PathBuf, Vec<String>)> = Vec::new();
    let mut relay = None;
    match LabState::load(lab) {
        Ok(state) => {
            relay = state.relay.clone();
            for (name, n) in state.ordered_nodes() {
                let paths = lab.node_paths(name);
                planned.push((paths.pidfile.clone(), n.argv.clone()));
                let pid = n.pid.or_else(|| process::read_pidfile(&paths.pidfile));
                let Some(pid) = pid else { continue };
                if process::is_running_qemu(pid, n.qemu_identity(&paths.pidfile)) {
                    targets.push(Target {
                        label: name.clone(),
                        pid,
                        pidfile: paths.pidfile.clone(),
                        exe: n.exe.clone(),
                        argv: n.argv.clone(),
                        qmp: paths.qmp.clone(),
                    });
                } else if process::alive(pid) {
                    report
                        .left_alone
                        .push(format!("{name}: pid {pid} is no longer this lab's QEMU"));
                }
            }
        }
        Err(e) if !force && lab.state_file().exists() => return Err(e),
        Err(_) => {}
    }
    let survivors = stop_all(&targets, &mut report).await;
    if !survivors.is_empty() {
        return Err(survived(lab, &survivors));
    }
    // Any QEMU whose pidfile lies in this lab's directory is ours, recorded or not (a deploy
    // killed before it recorded a pid, or a damaged state file). A QEMU still daemonizing
    // during one scan shows up in a later one: stop only after two scans in a row, 200 ms
    // apart, find nothing.
    let mut handled: Vec<i32> = targets.iter().map(|t| t.pid).collect();
    let mut empty_scans = 0;
    while empty_scans < 2 {
        let plan_of = |pf: &std::path::Path| {
            planned
                .iter()
                .find(|(p, _)| p == pf)
                .map(|(_, a)| a.as_slice())
        };
        let fresh: Vec<Target> = process::scan_lab_qemus(lab.path(), plan_of)
            .into_iter()
            .filter(|(pid, _)| !handled.contains(pid))
            .map(|(pid, pidfile)| Target {
                label: pidfile
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| pid.to_string()),
                pid,
                qmp: pidfile.with_extension("mon"),
                argv: plan_of(&pidfile)
                    .map(<[String]>::to_vec)
                    .unwrap_or_default(),
                pidfile,
                exe: None,
            })
            .collect();
        if fresh.is_empty() {
            empty_scans += 1;
            if empty_scans < 2 {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            continue;
        }
        empty_scans = 0;
        handled.extend(fresh.iter().map(|t| t.pid));
        let survivors = stop_all(&fresh, &mut report).await;
        if !survivors.is_empty() {
            return Err(survived(lab, &survivors));
        }
    }
    // The link relay, recorded or not.
    let mut relays: Vec<RelayRecord> = relay.into_iter().collect();
    for pid in supervise::scan(lab.path()) {
        if relays.iter().all(|r| r.pid != pid) {
            relays.push(RelayRecord { pid, exe: None });
        }
    }
    for r in &relays {
        if !supervise::stop(lab.path(), r, "the lab is being destroyed").await {
            return Err(survived(lab, &[format!("the link relay (pid {})", r.pid)]));
        }
        report.stopped_relay = true;
    }
    tracing::info!("removing {}", lab.path().display());
    std::fs::remove_dir_all(lab.path())
        .map_err(|e| EngineError::io(format!("cannot remove {}", lab.path().display()), e))?;
    Ok(report)
}

async fn stop_all(targets: &[Target], report: &mut DestroyReport) -> Vec<String> {
    let stops = targets
        .iter()
        .map(|t| stop_qemu(t.pid, t.identity(), &t.qmp, "the lab is being destroyed"));
    let results = futures::future::join_all(stops).await;
    let mut survivors = Vec::new();
    for (t, ok) in targets.iter().zip(results) {
        if ok {
            report.stopped.push(t.label.clone());
        } else {
            survivors.push(format!("{} (pid {})", t.label, t.pid));
        }
    }
    survivors
}

fn survived(lab: &LabDir, survivors: &[String]) -> EngineError {
    EngineError::LabState(format!(
        "could not stop {}; the lab directory {} is kept",
        survivors.join(", "),
        lab.path().display()
    ))
}

/// Destroys this machine's part (as host `host`) of multi-host lab `lab`: what to say when it
/// went, or was not deployed here; refused when the lab of that name here is not that part
/// (a one-host lab deployed from another spec, another host's part).
pub async fn destroy_part(
    lab: &crate::spec::LabName,
    host: &str,
    events: &EventSink,
) -> Result<String, String> {
    let dir = LabDir::of(lab.clone());
    if !dir.is_vmlab_lab() {
        return Ok(format!("lab {lab} is not deployed here"));
    }
    super::find::check_host(&dir, Some(host)).map_err(|e| format!("left alone: {e}"))?;
    let rep = destroy(&dir, false, events)
        .await
        .map_err(|e| e.to_string())?;
    Ok(format!(
        "destroyed lab {lab} ({} VM{} stopped)",
        rep.stopped.len(),
        if rep.stopped.len() == 1 { "" } else { "s" }
    ))
}
