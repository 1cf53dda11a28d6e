//! The one node-boot path: launch a node's QEMU and record it, watch it to ready and record
//! each stage, then record the outcome. Deploy, start and restart, repair and snapshot restore
//! all boot a node through here, so a node's record changes the same way whoever started it,
//! and only through `NodeState`'s named transitions (`launched`, `reached`, `ready`,
//! `failed`).
//!
//! Who decides *when* a node boots (staging, the lab's lock, a cancellation) stays with the
//! caller; this module owns what happens to one node once it is told to go.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::LabDir;
use super::state::{LabState, now_rfc3339_millis};
use crate::error::{EngineError, NodeFailure};
use crate::events::{Event, EventSink};
use crate::node::boottimes;
use crate::node::health::{self, BootOutcome, Watch};
use crate::node::process::QemuIdentity;
use crate::node::qemu;
use crate::node::state::{BootStage, NodeState};
use crate::plan::patches::Rendered;
use crate::plan::{Accel, NodePaths, NodePlan};

/// What booting one node needs: its command line and how to tell it is ready. Made from the
/// plan (deploy) or from the node's record in state.json (start, restart, repair, restore).
#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    pub argv: Vec<String>,
    pub platform: String,
    pub paths: NodePaths,
    pub ssh: SocketAddr,
    pub boot_timeout: Duration,
    /// Its boot patches, rendered: applied once SSH answers, before it is ready.
    pub patches: Vec<Rendered>,
}

impl Target {
    /// A node as deploy planned it, with the boot patches the deploy rendered for it.
    pub fn planned(node: &NodePlan, patches: &[Rendered]) -> Self {
        Target {
            patches: patches.to_vec(),
            name: node.name.clone(),
            argv: node.argv.clone(),
            platform: node.platform.clone(),
            paths: node.paths.clone(),
            ssh: SocketAddr::new(node.mgmt_addr, node.ssh_port),
            boot_timeout: Duration::from_secs(node.boot_timeout_secs.max(1)),
        }
    }

    /// A node as state.json recorded it (its command line as deploy ran it).
    pub fn recorded(lab: &LabDir, name: &str, rec: &NodeState) -> Result<Self, EngineError> {
        if rec.argv.is_empty() {
            return Err(EngineError::LabState(format!(
                "{name} was deployed by an older vmlab that did not record its command line; \
                 redeploy the lab"
            )));
        }
        Ok(Target {
            patches: super::patches::recorded(lab, name).map_err(EngineError::LabState)?,
            name: name.to_string(),
            argv: rec.argv.clone(),
            platform: rec.platform.clone(),
            paths: lab.node_paths(name),
            ssh: SocketAddr::new(rec.mgmt_addr, rec.ssh_port),
            boot_timeout: Duration::from_secs(rec.boot_timeout_secs.max(1)),
        })
    }
}

/// A node whose QEMU was launched and recorded, not yet watched to ready.
#[derive(Debug)]
pub struct Boot {
    pub target: Target,
    pub launched: qemu::Launched,
    started: Instant,
    /// Console log bytes before this boot (logs are appended across restarts).
    log_offset: u64,
}

/// Launches `target`'s QEMU with `extra` arguments after its own (a restore's `-S -loadvm`),
/// and records the outcome: `launched` with its pid the moment the launch returns, or `failed`
/// with QEMU's own words. The error is the node's failure, for the caller to gather.
pub async fn launch(
    lab: &LabDir,
    target: Target,
    extra: &[String],
    events: &EventSink,
) -> Result<Result<Boot, NodeFailure>, EngineError> {
    let started = Instant::now();
    let log_offset = std::fs::metadata(&target.paths.console_log)
        .map(|m| m.len())
        .unwrap_or(0);
    let argv: Vec<String> = target.argv.iter().chain(extra).cloned().collect();
    let launched = qemu::launch(&qemu::Launch {
        argv: &argv,
        pidfile: &target.paths.pidfile,
        qemu_log: &target.paths.qemu_log,
    })
    .await;
    let node = target.name.as_str();
    match launched {
        Ok(l) => {
            LabState::update_node(lab, node, |n| {
                n.launched(l.pid, l.exe.clone(), now_rfc3339_millis())
            })?;
            events.send(Event::NodeStage {
                node: node.into(),
                stage: BootStage::Launched,
                elapsed: started.elapsed(),
            });
            Ok(Ok(Boot {
                target,
                launched: l,
                started,
                log_offset,
            }))
        }
        Err(reason) => {
            LabState::update_node(lab, node, |n| n.failed(None, &reason))?;
            events.send(Event::NodeFailed {
                node: node.into(),
                reason: reason.clone(),
                elapsed: started.elapsed(),
            });
            Ok(Err(NodeFailure {
                node: node.into(),
                reason,
                console_tail: health::console_tail(&target.paths.qemu_log, 12),
                console_log: target.paths.qemu_log.clone(),
            }))
        }
    }
}

impl Boot {
    pub fn name(&self) -> &str {
        &self.target.name
    }

    pub fn pid(&self) -> i32 {
        self.launched.pid
    }

    /// Watches the node until it is ready, its QEMU dies or its boot timeout passes; each
    /// stage is recorded (only while the node is still this QEMU) and sent as an event. Once
    /// its SSH answers, its boot patches are applied (a failing one fails the boot); then it
    /// is ready.
    pub async fn watch(&self, lab: &LabDir, events: &EventSink) -> BootOutcome {
        let t = &self.target;
        let pid = self.launched.pid;
        let reached = |stage: BootStage, elapsed: Duration| {
            if let Err(e) = LabState::update_node(lab, &t.name, |n| n.reached(pid, stage)) {
                tracing::warn!("cannot record {}'s boot stage: {e}", t.name);
            }
            events.send(Event::NodeStage {
                node: t.name.clone(),
                stage,
                elapsed,
            });
        };
        let stalled = |why: String| {
            events.send(Event::Warning(format!("{}: {why}", t.name)));
        };
        let outcome = health::watch_boot(
            Watch {
                pid,
                qemu: QemuIdentity::launched(&t.paths.pidfile, self.launched.exe.as_deref()),
                console_log: &t.paths.console_log,
                ssh: t.ssh,
                timeout: t.boot_timeout,
                started: self.started,
                log_offset: self.log_offset,
            },
            &reached,
            &stalled,
        )
        .await;
        let BootOutcome::Ready { .. } = outcome else {
            return outcome;
        };
        if !t.patches.is_empty() {
            reached(BootStage::Patching, self.started.elapsed());
            if let Err(reason) =
                super::patches::apply(lab, (&t.name, pid, self.started), &t.patches, events).await
            {
                return BootOutcome::Failed {
                    reason,
                    elapsed: self.started.elapsed(),
                };
            }
        }
        let elapsed = self.started.elapsed();
        reached(BootStage::Ready, elapsed);
        BootOutcome::Ready { elapsed }
    }

    /// Records a watch's outcome: `ready` (and the boot time learnt for the platform), or
    /// `failed` with the console's last lines, which is returned for the caller to gather.
    pub fn settle(
        &self,
        lab: &LabDir,
        outcome: BootOutcome,
        accel: Accel,
        events: &EventSink,
    ) -> Result<Result<(), NodeFailure>, EngineError> {
        let (node, pid) = (self.name(), self.pid());
        match outcome {
            BootOutcome::Ready { elapsed } => {
                boottimes::record(&self.target.platform, accel, elapsed);
                LabState::update_node(lab, node, |n| {
                    n.ready(pid, elapsed.as_secs_f64(), now_rfc3339_millis())
                })?;
                Ok(Ok(()))
            }
            BootOutcome::Failed { reason, elapsed } => {
                LabState::update_node(lab, node, |n| n.failed(Some(pid), &reason))?;
                events.send(Event::NodeFailed {
                    node: node.into(),
                    reason: reason.clone(),
                    elapsed,
                });
                let log = &self.target.paths.console_log;
                Ok(Err(NodeFailure {
                    node: node.into(),
                    reason,
                    console_tail: health::console_tail(log, 12),
                    console_log: log.clone(),
                }))
            }
        }
    }
}
