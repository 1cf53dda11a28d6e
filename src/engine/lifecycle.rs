//! Stopping and starting single nodes of a deployed lab.
//!
//! A node starts again from the command line recorded in state.json, with its link listeners
//! bound anew and inherited, so the lab's spec is not needed. Known limit of QEMU 7.2: a link
//! whose listening (`a`) end restarts stays down until its `z` end restarts too, because
//! QEMU 7.2's stream client does not reconnect; a restarted `z` end reconnects at once.

use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

use super::error::EngineError;
use super::events::{BootStage, Event, EventSink};
use super::health::{self, BootOutcome, Watch};
use super::process;
use super::qemu;
use super::state::{LabState, NodeStatus, now_rfc3339};
use super::{boottimes, destroy};

/// Stops a node's QEMU (QMP quit, then signals); its disk overlay stays.
pub async fn stop_node(lab_dir: &Path, node: &str, events: &EventSink) -> Result<(), EngineError> {
    let state = LabState::load(lab_dir)?;
    let rec = state.node(node)?;
    if let Some(pid) = rec.pid
        && process::alive(pid)
        && process::is_our_qemu(pid, &rec.pidfile)
        && !destroy::stop_qemu(pid, &rec.pidfile, &rec.qmp).await
    {
        return Err(EngineError::LabState(format!(
            "could not stop {node} (pid {pid})"
        )));
    }
    LabState::update(lab_dir, |s| {
        if let Some(r) = s.nodes.get_mut(node) {
            r.pid = None;
            r.status = NodeStatus::Stopped;
            r.stage = None;
        }
    })?;
    events.send(Event::Step(format!("{node} stopped")));
    Ok(())
}

/// Starts a stopped (or dead) node and watches it boot to ready.
pub async fn start_node(lab_dir: &Path, node: &str, events: &EventSink) -> Result<(), EngineError> {
    let state = LabState::load(lab_dir)?;
    let rec = state.node(node)?.clone();
    if rec
        .pid
        .is_some_and(|pid| process::alive(pid) && process::is_our_qemu(pid, &rec.pidfile))
    {
        return Err(EngineError::LabState(format!("{node} is already running")));
    }
    if rec.argv.is_empty() {
        return Err(EngineError::LabState(format!(
            "{node} was deployed by an older vmlab that did not record its command line; redeploy the lab"
        )));
    }
    let mut sockets = Vec::new();
    for l in &rec.listeners {
        let s = qemu::bind_link_listener(l.port).map_err(|e| {
            EngineError::io(
                format!(
                    "cannot listen on port {} for link {} of {node}",
                    l.port, l.link
                ),
                e,
            )
        })?;
        sockets.push((l.fd, s));
    }
    let fds: Vec<(i32, i32)> = sockets.iter().map(|(fd, s)| (*fd, s.as_raw_fd())).collect();
    let log_offset = std::fs::metadata(&rec.console_log)
        .map(|m| m.len())
        .unwrap_or(0);
    let started = Instant::now();
    let launched = qemu::launch(&qemu::Launch {
        argv: &rec.argv,
        pidfile: &rec.pidfile,
        qemu_log: &rec.qemu_log,
        fds: &fds,
    })
    .await;
    drop(sockets);
    let pid = match launched {
        Ok(pid) => pid,
        Err(reason) => {
            failed(lab_dir, node, &reason, started.elapsed(), events)?;
            return Err(EngineError::LabState(format!(
                "{node} did not start: {reason}"
            )));
        }
    };
    LabState::update(lab_dir, |s| {
        if let Some(r) = s.nodes.get_mut(node) {
            r.pid = Some(pid);
            r.status = NodeStatus::Booting;
            r.stage = Some(BootStage::Launched);
            r.started = Some(now_rfc3339());
            r.boot_seconds = None;
        }
    })?;
    events.send(Event::NodeStage {
        node: node.into(),
        stage: BootStage::Launched,
        elapsed: started.elapsed(),
    });
    let outcome = health::watch_boot(
        Watch {
            node,
            pid,
            pidfile: &rec.pidfile,
            console_log: &rec.console_log,
            ssh_port: rec.ssh_port,
            timeout: Duration::from_secs(rec.boot_timeout_secs.max(1)),
            started,
            log_offset,
        },
        events,
    )
    .await;
    match outcome {
        BootOutcome::Ready { elapsed } => {
            boottimes::record(&rec.platform, state.accel, elapsed);
            LabState::update(lab_dir, |s| {
                if let Some(r) = s.nodes.get_mut(node) {
                    r.status = NodeStatus::Running;
                    r.stage = Some(BootStage::Ready);
                    r.boot_seconds = Some((elapsed.as_secs_f64() * 10.0).round() / 10.0);
                }
            })?;
            Ok(())
        }
        BootOutcome::Failed { reason, elapsed } => {
            failed(lab_dir, node, &reason, elapsed, events)?;
            Err(EngineError::LabState(format!("{node}: {reason}")))
        }
    }
}

/// Stops then starts a node.
pub async fn restart_node(
    lab_dir: &Path,
    node: &str,
    events: &EventSink,
) -> Result<(), EngineError> {
    stop_node(lab_dir, node, events).await?;
    start_node(lab_dir, node, events).await
}

/// Marks a node failed and says so.
fn failed(
    lab_dir: &Path,
    node: &str,
    reason: &str,
    elapsed: Duration,
    events: &EventSink,
) -> Result<(), EngineError> {
    LabState::update(lab_dir, |s| {
        if let Some(r) = s.nodes.get_mut(node) {
            r.status = NodeStatus::Failed;
        }
    })?;
    events.send(Event::NodeFailed {
        node: node.into(),
        reason: reason.to_string(),
        elapsed,
    });
    Ok(())
}
