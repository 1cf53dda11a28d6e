//! Deploying a planned lab: lab directory, overlays, link sockets, every QEMU launched at
//! once, boot watched to ready, state kept current, profiles patched.
//!
//! Link sockets are bound here, before any QEMU starts, and handed to each link's listening
//! QEMU as inherited descriptors: a connecting QEMU that starts first finds the socket already
//! listening, so the whole lab launches concurrently with no ordering.

use std::collections::HashMap;
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::FuturesUnordered;

use super::error::{EngineError, NodeFailure};
use super::events::{BootStage, Event, EventSink};
use super::health::{self, BootOutcome, Watch};
use super::process;
use super::profiles::{ProfilePatch, patch_file};
use super::qemu;
use super::state::{LabState, NodeStatus, now_rfc3339};
use super::{paths, preflight};
use crate::plan::{self, Accel, LabPlan, PlanOptions};
use crate::spec::{Lab, SpecErrors};

/// Is a lab deployed in `lab_dir` with at least one of its QEMUs alive?
pub fn running_state(lab_dir: &Path) -> Option<LabState> {
    let state = LabState::load(lab_dir).ok()?;
    let any_alive = state.nodes.values().any(|n| {
        n.pid
            .is_some_and(|pid| process::alive(pid) && process::is_our_qemu(pid, &n.pidfile))
    });
    any_alive.then_some(state)
}

/// What [`prepare`] found.
#[derive(Debug)]
pub enum Prepared {
    /// The lab runs already (and no redeploy was asked for): nothing to do.
    AlreadyRunning(LabState),
    /// Everything checked; this plan is ready to deploy.
    Ready(Box<LabPlan>),
}

/// Everything before a deploy: a running lab is left alone unless `force`; leftovers are
/// refused, or removed with `force`; QEMU is found, the accelerator chosen (probing KVM when
/// `accel` is `None`), the plan built and the machine checked. `notice` hears warnings.
pub async fn prepare(
    lab: &Lab,
    accel: Option<Accel>,
    force: bool,
    notice: &(dyn Fn(&str) + Sync),
) -> Result<Prepared, EngineError> {
    let lab_dir = paths::lab_dir(&lab.name);
    if let Some(state) = running_state(&lab_dir).filter(|_| !force) {
        return Ok(Prepared::AlreadyRunning(state));
    }
    if lab_dir.exists() {
        if !force {
            return Err(EngineError::LabState(format!(
                "lab {} has a leftover directory {} but is not running; run `vmlab destroy --lab {}` \
                 first, or deploy with --force",
                lab.name,
                lab_dir.display(),
                lab.name
            )));
        }
        notice(&format!("removing the existing lab {} (--force)", lab.name));
        super::destroy::destroy(&lab_dir, true).await?;
    }
    let qemu_bin = qemu::qemu_binary();
    qemu::require_programs(&qemu_bin)?;
    let scratch = paths::vmlab_home().join("tmp");
    let (accel, warning) = qemu::choose_accel(&qemu_bin, accel, &scratch).await;
    if let Some(w) = warning {
        notice(&format!("warning: {w}"));
    }
    let plan = plan::build(
        lab,
        &PlanOptions {
            lab_dir,
            accel,
            qemu: qemu_bin,
        },
    )
    .map_err(|e| EngineError::Invalid(SpecErrors(e)))?;
    let problems = preflight::check(&plan, lab);
    if !problems.is_empty() {
        return Err(EngineError::Invalid(problems));
    }
    Ok(Prepared::Ready(Box::new(plan)))
}

/// Runs the plan. On error the caller decides whether to tear down what was started (the lab
/// directory and state describe it either way).
pub async fn deploy(plan: &LabPlan, events: &EventSink) -> Result<LabState, EngineError> {
    let t0 = Instant::now();
    create_lab_dir(&plan.lab_dir)?;
    let mut state = LabState::from_plan(plan);
    state.save()?;

    events.send(Event::Step(format!(
        "creating {} disk overlays",
        plan.nodes.len()
    )));
    create_overlays(plan).await?;

    // Bind every link's listening end now, before any QEMU exists.
    let mut listeners: HashMap<usize, TcpListener> = HashMap::new();
    for l in &plan.links {
        let sock = qemu::bind_link_listener(l.port).map_err(|e| {
            EngineError::io(
                format!(
                    "cannot listen on port {} for link {} -- {}",
                    l.port, l.a, l.z
                ),
                e,
            )
        })?;
        listeners.insert(l.index, sock);
    }

    events.send(Event::Step(format!(
        "launching {} VMs under {}",
        plan.nodes.len(),
        plan.accel
    )));
    let launch_start = Instant::now();
    let launches = plan.nodes.iter().map(|node| {
        let fds: Vec<(i32, i32)> = node
            .listeners
            .iter()
            .filter_map(|l| listeners.get(&l.link).map(|s| (l.fd, s.as_raw_fd())))
            .collect();
        async move { (node, qemu::launch(&qemu::Launch::of(node, &fds)).await) }
    });
    let results = futures::future::join_all(launches).await;
    // Each listening QEMU holds its own copy now.
    drop(listeners);

    let mut failures = Vec::new();
    let mut watches = FuturesUnordered::new();
    for (node, result) in results {
        let rec = state.nodes.get_mut(&node.name);
        match result {
            Ok(pid) => {
                if let Some(rec) = rec {
                    rec.pid = Some(pid);
                    rec.status = NodeStatus::Booting;
                    rec.stage = Some(BootStage::Launched);
                    rec.started = Some(now_rfc3339());
                }
                events.send(Event::NodeStage {
                    node: node.name.clone(),
                    stage: BootStage::Launched,
                    elapsed: launch_start.elapsed(),
                });
                let w = Watch {
                    node: &node.name,
                    pid,
                    pidfile: &node.paths.pidfile,
                    console_log: &node.paths.console_log,
                    ssh_port: node.ssh_port,
                    timeout: Duration::from_secs(node.boot_timeout_secs),
                    started: launch_start,
                    log_offset: 0,
                };
                watches.push(async move { (node, health::watch_boot(w, events).await) });
            }
            Err(reason) => {
                if let Some(rec) = rec {
                    rec.status = NodeStatus::Failed;
                }
                events.send(Event::NodeFailed {
                    node: node.name.clone(),
                    reason: reason.clone(),
                    elapsed: launch_start.elapsed(),
                });
                failures.push(NodeFailure {
                    node: node.name.clone(),
                    reason,
                    console_log: node.paths.qemu_log.clone(),
                    console_tail: Vec::new(),
                });
            }
        }
    }
    state.save()?;

    while let Some((node, outcome)) = watches.next().await {
        let rec = state.nodes.get_mut(&node.name);
        match outcome {
            BootOutcome::Ready { elapsed } => {
                super::boottimes::record(&node.platform, plan.accel, elapsed);
                if let Some(rec) = rec {
                    rec.status = NodeStatus::Running;
                    rec.stage = Some(BootStage::Ready);
                    rec.boot_seconds = Some((elapsed.as_secs_f64() * 10.0).round() / 10.0);
                }
            }
            BootOutcome::Failed { reason, elapsed } => {
                if let Some(rec) = rec {
                    rec.status = NodeStatus::Failed;
                }
                events.send(Event::NodeFailed {
                    node: node.name.clone(),
                    reason: reason.clone(),
                    elapsed,
                });
                failures.push(NodeFailure {
                    node: node.name.clone(),
                    reason,
                    console_log: node.paths.console_log.clone(),
                    console_tail: health::console_tail(&node.paths.console_log, 12),
                });
            }
        }
        state.save()?;
    }
    if !failures.is_empty() {
        return Err(EngineError::BootFailed(failures));
    }

    events.send(Event::Step("patching profiles".into()));
    for node in &plan.nodes {
        let patch = ProfilePatch {
            mgmt_ip: "127.0.0.1".into(),
            ssh_port: node.ssh_port,
            console_port: node.console_port,
        };
        if let Err(e) = patch_file(&node.profile, &patch) {
            events.send(Event::Warning(format!(
                "could not patch {}: {e}",
                node.profile.display()
            )));
        }
    }
    events.send(Event::Step(format!(
        "lab {} ready in {:.1} s",
        plan.name,
        t0.elapsed().as_secs_f64()
    )));
    Ok(state)
}

fn create_lab_dir(dir: &Path) -> Result<(), EngineError> {
    use std::os::unix::fs::DirBuilderExt;
    for sub in ["", "disks", "qemu", "logs"] {
        let p = dir.join(sub);
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&p)
            .map_err(|e| EngineError::io(format!("cannot create {}", p.display()), e))?;
    }
    Ok(())
}

async fn create_overlays(plan: &LabPlan) -> Result<(), EngineError> {
    let mut images: Vec<&Path> = plan.nodes.iter().map(|n| n.image.as_path()).collect();
    images.sort();
    images.dedup();
    let formats = futures::future::join_all(images.iter().map(|i| qemu::image_format(i))).await;
    let mut format_of = HashMap::new();
    for (image, f) in images.iter().zip(formats) {
        let f = f.map_err(|e| {
            EngineError::LabState(format!("cannot read image {}: {e}", image.display()))
        })?;
        format_of.insert(*image, f);
    }
    let jobs = plan.nodes.iter().map(|n| {
        let format = format_of
            .get(n.image.as_path())
            .cloned()
            .unwrap_or_else(|| "qcow2".into());
        async move {
            qemu::create_overlay(&n.image, &format, &n.paths.overlay)
                .await
                .map_err(|e| (n, e))
        }
    });
    for r in futures::future::join_all(jobs).await {
        if let Err((n, e)) = r {
            return Err(EngineError::LabState(format!(
                "cannot create the disk overlay of {}: {e}",
                n.name
            )));
        }
    }
    Ok(())
}
