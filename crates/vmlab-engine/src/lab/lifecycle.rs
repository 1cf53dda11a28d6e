//! Operations on one node of a deployed lab: start, stop, restart ([`NodeOp`]).
//!
//! A node starts again from the command line recorded in state.json, so the lab's spec is not
//! needed; its links' sockets are its own and the relay's, so they carry traffic again at once. The lab's lock is held while the
//! node's process changes (stopping it, launching it and recording its pid) but not while the
//! guest boots, so another node of the same lab can be started or stopped meanwhile; the boot
//! watch records its outcome through the state's own lock, and only if the node is still the
//! QEMU it launched. A cancelled start stops what it started.

use tokio_util::sync::CancellationToken;

use super::LabDir;
use super::boot::{self, Boot};
use super::lock::{self, LabLock};
use super::state::LabState;
use crate::error::EngineError;
use crate::events::{Event, EventSink};
use crate::node::process;
use crate::node::qemu::stop_qemu;
use crate::node::state::NodeState;

/// What can be done to one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodeOp {
    Start,
    Stop,
    Restart,
}

impl NodeOp {
    /// The command's name: `start`, `stop`, `restart`.
    pub fn verb(self) -> &'static str {
        match self {
            NodeOp::Start => "start",
            NodeOp::Stop => "stop",
            NodeOp::Restart => "restart",
        }
    }

    /// What a node under this operation is doing: `starting`, ...
    pub fn doing(self) -> &'static str {
        match self {
            NodeOp::Start => "starting",
            NodeOp::Stop => "stopping",
            NodeOp::Restart => "restarting",
        }
    }
}

/// A node of another host is that host's to start and stop.
pub fn refuse_remote(node: &str, rec: &NodeState) -> Result<(), EngineError> {
    if rec.status != crate::node::NodeStatus::Remote {
        return Ok(());
    }
    Err(EngineError::LabState(format!(
        "{node} runs on host {} ({}), not here; run the command there (ssh {} vmlab ...)",
        rec.host.as_deref().unwrap_or("?"),
        rec.mgmt_addr,
        rec.mgmt_addr
    )))
}

/// Runs `op` on `node`, reporting through `events`; a start or restart returns once the node
/// is ready.
pub async fn run(
    lab: &LabDir,
    node: &str,
    op: NodeOp,
    events: &EventSink,
    cancel: &CancellationToken,
) -> Result<(), EngineError> {
    run_many(lab, &[node.to_string()], op, events, cancel).await
}

/// The nodes `--all` means for `op`: this host's nodes whose QEMU runs (stop), does not run
/// (start), or all of them (restart), in the lab's order.
pub fn every_node(lab: &LabDir, state: &LabState, op: NodeOp) -> Vec<String> {
    state
        .ordered_nodes()
        .filter(|(_, n)| n.status != crate::node::NodeStatus::Remote)
        .filter(|(name, n)| {
            let runs = running_pid(lab, name, n).is_some();
            match op {
                NodeOp::Start => !runs,
                NodeOp::Stop => runs,
                NodeOp::Restart => true,
            }
        })
        .map(|(name, _)| name.clone())
        .collect()
}

/// Runs `op` on each of `nodes` under one hold of the lab's lock (every node checked before
/// any is touched; stops one after the other, then every launch), then watches the boots at
/// once without the lock. Returns once every started node is ready; the nodes that did not
/// come up are named together.
pub async fn run_many(
    lab: &LabDir,
    nodes: &[String],
    op: NodeOp,
    events: &EventSink,
    cancel: &CancellationToken,
) -> Result<(), EngineError> {
    let doing = format!("vmlab {} {}", op.verb(), nodes.join(" "));
    let lock = lock::acquire(lab.name(), &doing, events).await?;
    let state = LabState::load(lab)?;
    let accel = state.accel;
    let mut recs = Vec::new();
    for node in nodes {
        let rec = state.node(node)?.clone();
        refuse_remote(node, &rec)?;
        if op == NodeOp::Start && running_pid(lab, node, &rec).is_some() {
            return Err(EngineError::LabState(format!("{node} is already running")));
        }
        recs.push((node.as_str(), rec));
    }
    let mut boots = Vec::new();
    let mut failures = Vec::new();
    for (node, rec) in &recs {
        if cancel.is_cancelled() {
            break;
        }
        if matches!(op, NodeOp::Stop | NodeOp::Restart) && stop(lab, node, rec, &lock).await? {
            events.send(Event::Step(format!("{node} stopped")));
        }
        if op != NodeOp::Stop {
            match launch_locked(lab, node, rec, &lock, events).await {
                Ok(b) => boots.push(b),
                Err(EngineError::BootFailed(f)) => failures.extend(f),
                Err(e) => return Err(e),
            }
        }
    }
    // Every node's process is settled and recorded: the boots can be watched without the lock.
    drop(lock);
    let results = futures::future::join_all(
        boots
            .into_iter()
            .map(|b| finish(lab, b, accel, events, cancel)),
    )
    .await;
    let mut interrupted = cancel.is_cancelled();
    for r in results {
        match r {
            Ok(()) => {}
            Err(EngineError::BootFailed(f)) => failures.extend(f),
            Err(EngineError::Interrupted) => interrupted = true,
            Err(e) => return Err(e),
        }
    }
    if interrupted {
        return Err(EngineError::Interrupted);
    }
    if !failures.is_empty() {
        return Err(EngineError::BootFailed(failures));
    }
    Ok(())
}

/// Launches a node's QEMU from its recorded command line (the caller holds the lab's lock).
pub(super) async fn launch_locked(
    lab: &LabDir,
    node: &str,
    rec: &NodeState,
    _lock: &LabLock,
    events: &EventSink,
) -> Result<Boot, EngineError> {
    let target = boot::Target::recorded(lab, node, rec)?;
    boot::launch(lab, target, &[], events)
        .await?
        .map_err(|f| EngineError::BootFailed(vec![f]))
}

/// Watches a launched node to ready and records the outcome; a cancellation stops it.
pub(super) async fn finish(
    lab: &LabDir,
    boot: Boot,
    accel: crate::plan::Accel,
    events: &EventSink,
    cancel: &CancellationToken,
) -> Result<(), EngineError> {
    let node = boot.name();
    let outcome = tokio::select! {
        biased;
        _ = cancel.cancelled() => None,
        o = boot.watch(lab, events) => Some(o),
    };
    match outcome {
        Some(o) => {
            boot.settle(lab, o, accel, events)?
                .map_err(|f| EngineError::BootFailed(vec![f]))?;
            // A guest that keeps its home in RAM forgot the lab's key, and a host VM its
            // hosts' namespaces.
            let me = [node.to_string()];
            super::sshkey::install_on(lab, &me, events).await;
            let failures = super::hostns::setup(lab, &me, events).await;
            if !failures.is_empty() {
                return Err(EngineError::BootFailed(failures));
            }
            Ok(())
        }
        None => {
            // Cancelled mid-boot: stop what this command started.
            events.send(Event::Step(format!("stopping {node} (interrupted)")));
            let lock = lock::acquire(lab.name(), &format!("vmlab stop {node}"), events).await?;
            let now = LabState::load(lab)?;
            if now.node(node)?.pid == Some(boot.pid()) {
                stop(lab, node, now.node(node)?, &lock).await?;
            }
            Err(EngineError::Interrupted)
        }
    }
}

/// Why a node here does not run, and what brings it back: `vmlab start` for a node stopped
/// (or never started), `vmlab repair` for one whose QEMU died. Said the same way by every
/// command that needs the node running (console, ssh, snapshot).
pub fn not_running(node: &str, status: crate::node::NodeStatus) -> String {
    use crate::node::NodeStatus;
    match status {
        NodeStatus::Running | NodeStatus::Booting | NodeStatus::Paused => {
            format!("{node} is not running (its QEMU is gone); `vmlab repair` starts it again")
        }
        s => format!(
            "{node} is not running ({}); start it with `vmlab start {node}`",
            s.label()
        ),
    }
}

/// The pid of the node's QEMU, if it runs.
pub fn running_pid(lab: &LabDir, node: &str, rec: &NodeState) -> Option<i32> {
    let paths = lab.node_paths(node);
    rec.pid
        .filter(|pid| process::is_running_qemu(*pid, rec.qemu_identity(&paths.pidfile)))
}

/// Stops the node's QEMU (QMP quit, then signals) and records it stopped; the disk stays.
/// Whether it was running.
async fn stop(
    lab: &LabDir,
    node: &str,
    rec: &NodeState,
    _lock: &LabLock,
) -> Result<bool, EngineError> {
    let paths = lab.node_paths(node);
    let pid = running_pid(lab, node, rec);
    if let Some(pid) = pid {
        let id = rec.qemu_identity(&paths.pidfile);
        if !stop_qemu(pid, id, &paths.qmp, &format!("vmlab stops {node}")).await {
            return Err(EngineError::LabState(format!(
                "could not stop {node} (pid {pid})"
            )));
        }
    }
    LabState::update_node(lab, node, NodeState::stopped)?;
    Ok(pid.is_some())
}
