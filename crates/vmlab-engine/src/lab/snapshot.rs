//! Live whole-lab snapshots: every VM's disk and memory at one moment, kept in its own qcow2
//! overlay (QEMU's internal snapshots), with the links' admin state and impairments beside them
//! in `snapshots/<name>.json`.
//!
//! Taking one pauses every VM, saves each, then resumes them all, so the nodes' clocks and
//! protocol timers agree. Restoring pauses the running VMs and loads each; a node that is
//! stopped (or whose QEMU died, or after a host reboot) is started paused straight from the
//! snapshot (`-S -loadvm`); then the links' settings come back and every VM resumes together.
//! No guest reboots. A snapshot whose nodes no longer match the lab (another node set, another
//! command line) is refused. Snapshots live as long as the lab directory: destroy removes them.
//!
//! A pause never outlives the command: [`Paused`] resumes every VM it paused on every path (an
//! error, a cancellation by signal or by the TUI, a dropped future), and records the pause in
//! state first so that status shows `paused` and `vmlab repair` resumes them if vmlab itself
//! is killed in between. Snapshot names are never all digits: QEMU reads those as snapshot ids.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::LabDir;
use super::boot;
use super::lock;
use super::state::{LabState, now_rfc3339, now_rfc3339_millis};
use crate::error::EngineError;
use crate::events::{Event, EventSink, count};
use crate::link::config::LinksFile;
use crate::link::control;
use crate::node::NodeStatus;
use crate::node::process;
use crate::node::qemu;
use crate::node::qmp;
use crate::spec::name::check_name;

/// How long one VM may take to save or load its state.
const SAVE_LIMIT: Duration = Duration::from_secs(600);

/// One node as a snapshot saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SnapNode {
    pub name: String,
    /// A hash of the node's QEMU command line: a snapshot loads only into the same machine.
    pub fingerprint: String,
    /// Bytes of memory state saved (from the overlay), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm_state_bytes: Option<u64>,
}

/// `snapshots/<name>.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Snapshot {
    pub name: String,
    /// When it was taken (RFC 3339).
    pub taken: String,
    /// How long the lab was paused to take it, in seconds.
    pub paused_secs: f64,
    pub nodes: Vec<SnapNode>,
    /// The links' settings at that moment.
    pub links: Option<LinksFile>,
}

fn dir(lab: &LabDir) -> PathBuf {
    lab.path().join("snapshots")
}

fn meta_path(lab: &LabDir, name: &str) -> PathBuf {
    dir(lab).join(format!("{name}.json"))
}

/// A stable hash of a command line (FNV-1a, 64 bits).
fn fingerprint(argv: &[String]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for a in argv {
        for b in a.bytes().chain([0u8]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

/// Checks a snapshot name (it reaches a monitor command line). QEMU's `loadvm`, `delvm` and
/// `qemu-img snapshot -d` take an id or a name, and ids are numbers: `1` would be the first
/// snapshot, whatever its name. So a name is never all digits.
fn checked(name: &str) -> Result<(), EngineError> {
    let why = match check_name(name) {
        Err(why) => why,
        Ok(()) if name.bytes().all(|b| b.is_ascii_digit()) => crate::spec::name::BadName(
            "is all digits, which QEMU reads as a snapshot id; add a letter (s1, v2)".into(),
        ),
        Ok(()) => return Ok(()),
    };
    Err(EngineError::Invalid(
        crate::spec::name::refused("snapshot name", name, why).into(),
    ))
}

/// VMs this command paused. Every way out resumes them: [`Paused::resume`] on the way through,
/// `Drop` (over a blocking QMP connection) when an error, a cancellation or a dropped future
/// leaves early. The pause is in state.json from before the first `stop` until the `cont`.
struct Paused<'a> {
    lab: &'a LabDir,
    vms: Vec<(String, PathBuf)>,
    resumed: bool,
}

impl<'a> Paused<'a> {
    /// Records the pause, then stops every VM at once.
    async fn pause(
        lab: &'a LabDir,
        targets: &[(String, PathBuf)],
    ) -> Result<Paused<'a>, EngineError> {
        let mut guard = Paused {
            lab,
            vms: Vec::new(),
            resumed: false,
        };
        guard.add(targets)?;
        on_all(targets, |n, q| qmp_simple(n, q, "stop")).await?;
        Ok(guard)
    }

    /// More paused VMs (or about to be), recorded in one write of state.json.
    fn add(&mut self, vms: &[(String, PathBuf)]) -> Result<(), EngineError> {
        let at = now_rfc3339_millis();
        LabState::update(self.lab, |s| {
            for (node, _) in vms {
                if let Some(n) = s.nodes.get_mut(node) {
                    n.pausing(at.clone());
                }
            }
        })?;
        self.vms.extend(vms.iter().cloned());
        Ok(())
    }

    /// Resumes every VM at once; the record of the pause goes once QEMU ran them again.
    async fn resume(mut self) -> Result<(), EngineError> {
        self.resumed = true;
        let r = on_all(&self.vms, |n, q| qmp_simple(n, q, "cont")).await;
        if r.is_ok() {
            self.forget()?;
        }
        r
    }

    fn forget(&self) -> Result<(), EngineError> {
        LabState::update(self.lab, |s| {
            for (node, _) in &self.vms {
                if let Some(n) = s.nodes.get_mut(node) {
                    n.resumed();
                }
            }
        })
    }
}

impl Drop for Paused<'_> {
    fn drop(&mut self) {
        if self.resumed {
            return;
        }
        let mut all = true;
        for (node, qmp) in &self.vms {
            if let Err(e) = qmp::execute_blocking(qmp, "cont", Duration::from_secs(5)) {
                all = false;
                tracing::warn!("{node} stays paused: {e} (`vmlab repair` resumes it)");
            }
        }
        if all && let Err(e) = self.forget() {
            tracing::warn!("the pause stays recorded: {e}");
        }
    }
}

/// Every snapshot of the lab, oldest first.
pub fn list(lab: &LabDir) -> Result<Vec<Snapshot>, EngineError> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir(lab)) else {
        return Ok(out);
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "json") {
            let text = std::fs::read_to_string(&p)
                .map_err(|e| EngineError::io(format!("cannot read {}", p.display()), e))?;
            match serde_json::from_str::<Snapshot>(&text) {
                Ok(s) => out.push(s),
                Err(e) => tracing::warn!("{} is damaged: {e}", p.display()),
            }
        }
    }
    out.sort_by(|a, b| a.taken.cmp(&b.taken).then(a.name.cmp(&b.name)));
    Ok(out)
}

fn load(lab: &LabDir, name: &str) -> Result<Snapshot, EngineError> {
    checked(name)?;
    let p = meta_path(lab, name);
    let text = match std::fs::read_to_string(&p) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let names: Vec<String> = list(lab)?.into_iter().map(|s| s.name).collect();
            return Err(EngineError::LabNotFound(format!(
                "lab {} has no snapshot {name:?}{}",
                lab.name(),
                if names.is_empty() {
                    " (it has none; take one with `vmlab snapshot --name <name>`)".to_string()
                } else {
                    format!(" (snapshots: {})", names.join(", "))
                }
            )));
        }
        Err(e) => return Err(EngineError::io(format!("cannot read {}", p.display()), e)),
    };
    serde_json::from_str(&text)
        .map_err(|e| EngineError::LabState(format!("{} is damaged ({e})", p.display())))
}

/// The node's QMP socket if its QEMU runs.
fn running_qmp(lab: &LabDir, state: &LabState, node: &str) -> Option<PathBuf> {
    let n = state.nodes.get(node)?;
    let paths = lab.node_paths(node);
    n.pid
        .filter(|pid| process::is_running_qemu(*pid, n.qemu_identity(&paths.pidfile)))
        .map(|_| paths.qmp)
}

/// Runs `f` on every listed QMP socket at once; the first error, if any.
async fn on_all<'a, F, Fut>(targets: &'a [(String, PathBuf)], f: F) -> Result<(), EngineError>
where
    F: Fn(&'a str, &'a Path) -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let results =
        futures::future::join_all(targets.iter().map(|(n, q)| f(n.as_str(), q.as_path()))).await;
    let errors: Vec<String> = results.into_iter().filter_map(Result::err).collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(EngineError::LabState(errors.join("; ")))
    }
}

async fn qmp_simple(node: &str, qmp_path: &Path, command: &str) -> Result<(), String> {
    qmp::execute(qmp_path, command, Duration::from_secs(10))
        .await
        .map(|_| ())
        .map_err(|e| format!("{node}: {command}: {e}"))
}

/// Takes snapshot `name` of the whole lab. Every node must run. A cancellation while the lab
/// is paused lets the VMs' saves finish, resumes them and deletes what was saved.
pub async fn take(
    lab: &LabDir,
    name: &str,
    events: &EventSink,
    cancel: &CancellationToken,
) -> Result<Snapshot, EngineError> {
    checked(name)?;
    let _lock = lock::acquire(lab.name(), &format!("vmlab snapshot {name}"), events).await?;
    if meta_path(lab, name).exists() {
        return Err(EngineError::LabState(format!(
            "lab {} already has a snapshot {name:?}; delete it first (`vmlab snapshot --delete {name}`)",
            lab.name()
        )));
    }
    let state = LabState::load(lab)?;
    let mut targets = Vec::new();
    if state.host.is_some() {
        events.send(Event::Warning(format!(
            "a multi-host lab: this snapshot holds only host {}'s nodes (take one on each host)",
            state.host.as_deref().unwrap_or("?")
        )));
    }
    for (node, rec) in state
        .ordered_nodes()
        .filter(|(_, n)| n.status != NodeStatus::Remote)
    {
        match running_qmp(lab, &state, node) {
            Some(q) => targets.push((node.clone(), q)),
            None => {
                return Err(EngineError::LabState(format!(
                    "a lab snapshot holds every node, and {}",
                    super::lifecycle::not_running(node, rec.status)
                )));
            }
        }
    }
    let links = LinksFile::load(lab.path()).ok();
    events.send(Event::Step(format!(
        "pausing {} to snapshot them as {name}",
        count(targets.len(), "VM")
    )));
    if cancel.is_cancelled() {
        return Err(EngineError::Interrupted);
    }
    let t0 = Instant::now();
    let paused = Paused::pause(lab, &targets).await?;
    events.send(Event::Step(format!(
        "paused {}; saving them as {name}",
        count(targets.len(), "VM")
    )));
    let save = on_all(&targets, |n, q| async move {
        let t = Instant::now();
        qmp::hmp(q, &format!("savevm {name}"), SAVE_LIMIT)
            .await
            .map_err(|e| format!("{n}: savevm: {e}"))?;
        tracing::info!("{n}: saved in {:.2} s", t.elapsed().as_secs_f64());
        Ok(())
    })
    .await;
    // Whatever happened, the lab runs again.
    let resumed = paused.resume().await;
    let paused = t0.elapsed();
    let save = match save {
        Ok(()) if cancel.is_cancelled() => Err(EngineError::Interrupted),
        r => r,
    };
    if let Err(e) = save {
        // No half snapshot stays behind.
        let _ = on_all(&targets, |_, q| async move {
            let _ = qmp::hmp(q, &format!("delvm {name}"), SAVE_LIMIT).await;
            Ok(())
        })
        .await;
        return Err(e);
    }
    resumed?;
    let mut nodes = Vec::new();
    for (node, n) in state
        .ordered_nodes()
        .filter(|(_, n)| n.status != NodeStatus::Remote)
    {
        let overlay = lab.node_paths(node).overlay;
        nodes.push(SnapNode {
            name: node.clone(),
            fingerprint: fingerprint(&n.argv),
            vm_state_bytes: snapshot_size(&overlay, name).await,
        });
    }
    let snap = Snapshot {
        name: name.to_string(),
        taken: now_rfc3339(),
        paused_secs: (paused.as_secs_f64() * 1000.0).round() / 1000.0,
        nodes,
        links,
    };
    std::fs::create_dir_all(dir(lab))
        .map_err(|e| EngineError::io("cannot create the snapshots directory", e))?;
    let text = serde_json::to_string_pretty(&snap)
        .map_err(|e| EngineError::io("cannot encode the snapshot", std::io::Error::other(e)))?;
    crate::fsutil::atomic_write(&meta_path(lab, name), text.as_bytes(), Some(0o600))
        .map_err(|e| EngineError::io("cannot write the snapshot", e))?;
    events.send(Event::Step(format!(
        "snapshot {name} taken: the lab was paused {:.2} s",
        paused.as_secs_f64()
    )));
    Ok(snap)
}

/// The memory state size of snapshot `name` in `overlay` (`qemu-img info -U`).
async fn snapshot_size(overlay: &Path, name: &str) -> Option<u64> {
    let info = qemu::image_info(overlay).await.ok()?;
    info.get("snapshots")?
        .as_array()?
        .iter()
        .find(|s| s.get("name").and_then(|n| n.as_str()) == Some(name))?
        .get("vm-state-size")?
        .as_u64()
}

/// What a restore did.
#[derive(Debug, Clone, PartialEq)]
pub struct Restored {
    /// From the start until every VM ran again.
    pub resumed_after: Duration,
    /// From the start until every node answered SSH.
    pub ssh_after: Duration,
    /// Nodes that were not running and were started from the snapshot.
    pub started: Vec<String>,
}

/// Can snapshot `name` (`snap`) be loaded into the lab as `state` records it: the same nodes,
/// the same machines (in a multi-host lab: this host's)? Why not, if not.
fn same_machines(state: &LabState, snap: &Snapshot, name: &str) -> Result<(), EngineError> {
    let now: Vec<&String> = state
        .node_order
        .iter()
        .filter(|n| {
            state
                .nodes
                .get(*n)
                .is_some_and(|r| r.status != NodeStatus::Remote)
        })
        .collect();
    let then: Vec<&String> = snap.nodes.iter().map(|n| &n.name).collect();
    if now != then {
        return Err(EngineError::LabState(format!(
            "snapshot {name} holds nodes {} but the lab has {}: it cannot be restored",
            then.iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            now.iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    for sn in &snap.nodes {
        let argv = &state.node(&sn.name)?.argv;
        if fingerprint(argv) != sn.fingerprint {
            return Err(EngineError::LabState(format!(
                "{}'s machine changed since snapshot {name} was taken (its QEMU command line \
                 differs): the snapshot cannot be loaded into it",
                sn.name
            )));
        }
    }
    Ok(())
}

/// Brings the whole lab back to snapshot `name`. A cancellation resumes every VM as it is
/// (some may already hold the snapshot's state) and stops there.
pub async fn restore(
    lab: &LabDir,
    name: &str,
    events: &EventSink,
    cancel: &CancellationToken,
) -> Result<Restored, EngineError> {
    let snap = load(lab, name)?;
    let _lock = lock::acquire(lab.name(), &format!("vmlab restore {name}"), events).await?;
    let state = LabState::load(lab)?;
    same_machines(&state, &snap, name)?;
    let t0 = Instant::now();
    let mut running = Vec::new();
    let mut stopped = Vec::new();
    for (node, _) in state
        .ordered_nodes()
        .filter(|(_, n)| n.status != NodeStatus::Remote)
    {
        match running_qmp(lab, &state, node) {
            Some(q) => running.push((node.clone(), q)),
            None => stopped.push(node.clone()),
        }
    }
    events.send(Event::Step(format!(
        "restoring {name}: pausing {}{}",
        count(running.len(), "running VM"),
        if stopped.is_empty() {
            String::new()
        } else {
            format!(", starting {} from the snapshot", stopped.join(", "))
        }
    )));
    if cancel.is_cancelled() {
        return Err(EngineError::Interrupted);
    }
    // A shared SSH connection would outlive the guest's memory of it: close them first.
    crate::ssh::close_shared(lab.path(), None).await;
    let mut paused = Paused::pause(lab, &running).await?;
    let interrupted = || -> Result<(), EngineError> {
        match cancel.is_cancelled() {
            true => Err(EngineError::Interrupted),
            false => Ok(()),
        }
    };
    // Stopped nodes start paused, straight from the snapshot.
    let mut started = Vec::new();
    for node in &stopped {
        interrupted()?;
        let target = boot::Target::recorded(lab, node, state.node(node)?)?;
        let qmp_path = target.paths.qmp.clone();
        let extra = ["-S".to_string(), "-loadvm".to_string(), name.to_string()];
        let l = boot::launch(lab, target, &extra, events)
            .await?
            .map_err(|f| {
                EngineError::LabState(format!("{node}: cannot start from {name}: {}", f.reason))
            })?
            .launched;
        paused.add(&[(node.clone(), qmp_path)])?;
        started.push((node.clone(), l.pid));
    }
    interrupted()?;
    on_all(&running, |n, q| async move {
        qmp::hmp(q, &format!("loadvm {name}"), SAVE_LIMIT)
            .await
            .map(|_| ())
            .map_err(|e| format!("{n}: loadvm: {e}"))
    })
    .await?;
    // The links as they were at that moment.
    if let Some(links) = &snap.links {
        links.save(lab.path())?;
        let relay_alive = state.relay_alive(lab);
        if relay_alive {
            control::reload(lab.path(), Duration::from_secs(5)).map_err(|e| {
                EngineError::LabState(format!("the relay did not take the links' settings: {e}"))
            })?;
        } else if links.links.iter().any(|l| l.transport.uses_relay()) {
            events.send(Event::Warning(format!(
                "the link relay is not running; `vmlab repair --lab {}` starts it with the \
                 snapshot's link settings",
                lab.name()
            )));
        }
    }
    interrupted()?;
    paused.resume().await?;
    let resumed_after = t0.elapsed();
    let at = now_rfc3339_millis();
    let pids: Vec<(String, i32)> = running
        .iter()
        .filter_map(|(node, _)| Some((node.clone(), state.nodes.get(node)?.pid?)))
        .chain(started)
        .collect();
    LabState::update(lab, |s| {
        for (node, pid) in &pids {
            if let Some(n) = s.nodes.get_mut(node) {
                n.restored(*pid, at.clone());
            }
        }
    })?;
    events.send(Event::Step(format!(
        "every VM runs again from {name} after {:.2} s; waiting for SSH",
        resumed_after.as_secs_f64()
    )));
    let ssh_ports: Vec<std::net::SocketAddr> = state
        .nodes
        .values()
        .filter(|n| n.status != crate::node::NodeStatus::Remote)
        .map(|n| std::net::SocketAddr::new(n.mgmt_addr, n.ssh_port))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    let waits = ssh_ports.iter().map(|port| async move {
        while !crate::node::health::ssh_banner(*port, Duration::from_millis(1000)).await {
            if Instant::now() > deadline {
                return Err(EngineError::LabState(format!(
                    "restored from {name}, but port {port} gave no SSH banner within 120 s"
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    });
    for r in futures::future::join_all(waits).await {
        r?;
    }
    let ssh_after = t0.elapsed();
    // The result is the caller's to say (the CLI on stdout, the TUI in its log), once.
    Ok(Restored {
        resumed_after,
        ssh_after,
        started: stopped,
    })
}

/// Deletes snapshot `name` from every overlay and its record.
pub async fn delete(lab: &LabDir, name: &str, events: &EventSink) -> Result<(), EngineError> {
    let snap = load(lab, name)?;
    let _lock = lock::acquire(
        lab.name(),
        &format!("vmlab snapshot --delete {name}"),
        events,
    )
    .await?;
    let state = LabState::load(lab)?;
    for sn in &snap.nodes {
        let overlay = lab.node_paths(&sn.name).overlay;
        let r = match running_qmp(lab, &state, &sn.name) {
            Some(q) => qmp::hmp(&q, &format!("delvm {name}"), SAVE_LIMIT)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            None => qemu::delete_snapshot(&overlay, name).await,
        };
        if let Err(e) = r {
            // A snapshot already gone from one overlay is no reason to keep the record.
            tracing::warn!("{}: deleting snapshot {name}: {e}", sn.name);
        }
    }
    std::fs::remove_file(meta_path(lab, name))
        .map_err(|e| EngineError::io("cannot remove the snapshot's record", e))?;
    events.send(Event::Step(format!("snapshot {name} deleted")));
    Ok(())
}
