//! `vmlab repair`: brings back whatever of a lab should be running and is not — the link relay
//! (its settings come back from `links.json`), and nodes whose QEMU died rather than was
//! stopped (started again from their recorded command lines and watched to ready). Nodes that
//! were stopped on purpose stay stopped. VMs a snapshot or restore paused and never resumed
//! (its vmlab killed) run again.

use tokio_util::sync::CancellationToken;

use super::LabDir;
use super::boot::Boot;
use super::lifecycle;
use super::lock;
use super::state::LabState;
use crate::error::EngineError;
use crate::events::{Event, EventSink};
use crate::link::supervise;
use crate::node::NodeStatus;

/// What repair did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepairReport {
    /// The relay's new pid, if it had to be started.
    pub relay: Option<i32>,
    /// Nodes started again (and now ready).
    pub nodes: Vec<String>,
    /// Nodes left paused that run again.
    pub resumed: Vec<String>,
}

impl RepairReport {
    pub fn nothing(&self) -> bool {
        self.relay.is_none() && self.nodes.is_empty() && self.resumed.is_empty()
    }
}

/// Repairs the lab; returns once every restarted node is ready.
pub async fn repair(
    lab: &LabDir,
    events: &EventSink,
    cancel: &CancellationToken,
) -> Result<RepairReport, EngineError> {
    let lock = lock::acquire(lab.name(), "vmlab repair", events).await?;
    let state = LabState::load(lab)?;
    let mut report = RepairReport::default();

    let relayed = state.links.iter().any(|l| l.transport.uses_relay());
    let relay_alive = state.relay_alive(lab);
    if relayed && !relay_alive {
        // A relay nobody recorded (a deploy killed while starting it) still holds the lab.
        for pid in supervise::scan(lab.path()) {
            let rec = supervise::RelayRecord { pid, exe: None };
            supervise::stop(lab.path(), &rec, "an unrecorded relay is replaced").await;
        }
        events.send(Event::Step("starting the link relay".into()));
        let me = std::env::current_exe()
            .map_err(|e| EngineError::io("cannot locate the vmlab binary", e))?;
        let rec = supervise::start(lab.path(), &me)
            .await
            .map_err(EngineError::LabState)?;
        report.relay = Some(rec.pid);
        LabState::update(lab, |s| s.relay = Some(rec))?;
    }

    // VMs vmlab paused and did not resume.
    for (name, n) in state.ordered_nodes() {
        if n.paused.is_none() || lifecycle::running_pid(lab, name, n).is_none() {
            continue;
        }
        let qmp_path = lab.node_paths(name).qmp;
        crate::node::qmp::execute(&qmp_path, "cont", std::time::Duration::from_secs(10))
            .await
            .map_err(|e| {
                EngineError::LabState(format!("{name} is paused and did not resume: {e}"))
            })?;
        LabState::update_node(lab, name, |r| r.resumed())?;
        events.send(Event::Step(format!("{name} was paused; it runs again")));
        report.resumed.push(name.clone());
    }

    // Nodes the lab expects running whose QEMU is gone.
    let mut boots: Vec<Boot> = Vec::new();
    for (name, n) in state.ordered_nodes() {
        let expected = matches!(n.status, NodeStatus::Booting | NodeStatus::Running);
        if !expected || lifecycle::running_pid(lab, name, n).is_some() {
            continue;
        }
        events.send(Event::Step(format!("{name} died; starting it again")));
        boots.push(lifecycle::launch_locked(lab, name, n, &lock, events).await?);
        report.nodes.push(name.clone());
    }
    drop(lock);
    let results = futures::future::join_all(
        boots
            .into_iter()
            .map(|b| lifecycle::finish(lab, b, state.accel, events, cancel)),
    )
    .await;
    let mut failures = Vec::new();
    for r in results {
        match r {
            Ok(()) => {}
            Err(EngineError::BootFailed(f)) => failures.extend(f),
            Err(e) => return Err(e),
        }
    }
    if !failures.is_empty() {
        return Err(EngineError::BootFailed(failures));
    }
    Ok(report)
}
