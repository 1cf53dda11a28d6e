//! Deploying a lab: the one path the CLI and the TUI share, from a resolved spec to a lab whose
//! every node is ready — or to nothing left behind.
//!
//! [`prepare`] takes the lab's lock and does everything before the first side effect on the
//! lab: it leaves a running lab alone (unless forced), refuses or removes leftovers, finds
//! QEMU, chooses the accelerator (probing KVM for real), builds the plan and runs the preflight
//! checks. [`Deployment::run`] then creates the lab directory, the overlays, `links.json` and
//! the link relay, launches every QEMU at once (each pid is recorded the moment its launch returns),
//! watches every boot to ready, and patches the profiles. It owns the rollback: a failure or a
//! cancellation (Ctrl-C, SIGTERM, SIGHUP, the TUI quitting) stops everything it started,
//! unless the caller asked to keep a failed lab for debugging. The lock is held from prepare to
//! the end of run, so no other command changes the lab meanwhile.
//!
//! Links are unix datagram sockets in the lab directory, each QEMU binding its own, so the
//! whole lab launches concurrently with no ordering; the link relay starts first so that a
//! VM's first frames find it.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tokio_util::sync::CancellationToken;

use super::LabDir;
use super::boot;
use super::destroy::destroy_locked;
use super::lock::{self, LabLock};
use super::preflight;
use super::profiles;
use super::stages::{self, StageNode, Stages, Wait};
use super::state::LabState;
use crate::error::{EngineError, NodeFailure};
use crate::events::{Event, EventSink, count};
use crate::home;
use crate::link::config::LinksFile;
use crate::link::supervise;
use crate::node::process;
use crate::node::qemu;
use crate::plan::{self, Accel, LabPlan, LinkTransport, NodePlan, PlanOptions};
use crate::spec::{Lab, SpecErrors};

/// How to deploy.
#[derive(Debug, Clone, Default)]
pub struct DeployOptions {
    /// `None`: probe KVM and fall back to TCG with a warning.
    pub accel: Option<Accel>,
    /// Redeploy a lab that runs, or remove a leftover directory first.
    pub force: bool,
    /// Leave the VMs running when a node fails to boot (debugging).
    pub keep_on_failure: bool,
    /// In a multi-host lab: the host to deploy (`--host`).
    pub host: Option<String>,
}

/// What [`prepare`] found.
#[derive(Debug)]
pub enum Prepared {
    /// The lab runs already (and no redeploy was asked for): nothing to do.
    AlreadyRunning(Box<LabState>),
    /// Everything checked; this deployment is ready to run.
    Ready(Box<Deployment>),
}

/// A checked plan, with the lab's lock held until the deployment ends.
#[derive(Debug)]
pub struct Deployment {
    plan: LabPlan,
    lab: LabDir,
    lock: LabLock,
    keep_on_failure: bool,
    /// The lab's operation journal, which `run` goes on writing to and ends.
    journal: Option<std::sync::Arc<crate::journal::Journal>>,
}

/// Is a lab deployed in `lab` with at least one of its QEMUs alive?
pub fn running_state(lab: &LabDir) -> Option<LabState> {
    let state = LabState::load(lab).ok()?;
    let any_alive = state.nodes.iter().any(|(name, n)| {
        let paths = lab.node_paths(name);
        n.pid
            .is_some_and(|pid| process::is_running_qemu(pid, n.qemu_identity(&paths.pidfile)))
    });
    any_alive.then_some(state)
}

/// Ports the lab's own live processes hold (its running QEMUs' SSH and TCP console ports, its
/// relay's ports of links between hosts): in use, but not by a stranger. A port checked busy
/// that is not among them is someone else's.
fn own_ports(lab: &LabDir) -> std::collections::BTreeSet<u16> {
    let mut own = std::collections::BTreeSet::new();
    let Ok(state) = LabState::load(lab) else {
        return own;
    };
    for (name, n) in &state.nodes {
        let paths = lab.node_paths(name);
        if n.pid
            .is_some_and(|pid| process::is_running_qemu(pid, n.qemu_identity(&paths.pidfile)))
        {
            own.insert(n.ssh_port);
            own.extend(n.console_port);
        }
    }
    if state.relay_alive(lab) {
        own.extend(
            state
                .links
                .iter()
                .filter(|l| l.transport == LinkTransport::CrossHost)
                .map(|l| l.port),
        );
    }
    own
}

/// Everything before a deploy's first side effect on the lab (see the module doc). `events`
/// hears warnings and what waits.
pub async fn prepare(
    spec: &Lab,
    opts: DeployOptions,
    events: &EventSink,
) -> Result<Prepared, EngineError> {
    let lock = lock::acquire(&spec.name, "vmlab deploy", events).await?;
    prepare_locked(spec, opts, lock, events).await
}

/// [`prepare`] with the lab's lock taken already (by a caller that must know at once whether
/// the lab is busy).
pub async fn prepare_locked(
    spec: &Lab,
    opts: DeployOptions,
    lock: LabLock,
    events: &EventSink,
) -> Result<Prepared, EngineError> {
    let lab = LabDir::of(spec.name.clone());
    if let Some(state) = running_state(&lab).filter(|_| !opts.force) {
        if opts.host.is_some() {
            // A host's part of a multi-host lab: "already running" only if it is this lab.
            same_lab(spec, &lab, &state, opts.host.clone()).map_err(|why| {
                EngineError::LabState(format!(
                    "lab {name} already runs here, but not as this spec would run it ({why}); \
                     destroy it first (`vmlab destroy --lab {name}`) or deploy with --force",
                    name = lab.name()
                ))
            })?;
        }
        return Ok(Prepared::AlreadyRunning(Box::new(state)));
    }
    if lab.path().symlink_metadata().is_ok() {
        if !lab.is_vmlab_lab() {
            return Err(EngineError::NotALab {
                path: lab.path().to_path_buf(),
            });
        }
        if !opts.force {
            return Err(EngineError::LabState(format!(
                "lab {name} has a leftover directory {} but is not running; run `vmlab destroy \
                 --lab {name}` first, or deploy with --force",
                lab.path().display(),
                name = lab.name()
            )));
        }
        events.send(Event::Step(format!(
            "removing the existing lab {} (--force)",
            lab.name()
        )));
        destroy_locked(&lab, &lock, true).await?;
    }
    let (plan, problems) =
        checked_plan(spec, &lab, opts.accel, opts.host.clone(), true, events).await?;
    if !problems.is_empty() {
        return Err(EngineError::Invalid(problems));
    }
    Ok(Prepared::Ready(Box::new(Deployment {
        plan,
        lab,
        lock,
        keep_on_failure: opts.keep_on_failure,
        journal: None,
    })))
}

/// Is the lab running in `lab` the one `spec` deploys on `host`: the same nodes here, each with
/// the same QEMU command line, and the same key on its links between hosts? `Err` says what
/// differs.
fn same_lab(
    spec: &Lab,
    lab: &LabDir,
    state: &LabState,
    host: Option<String>,
) -> Result<(), String> {
    if state.host != host {
        return Err(format!(
            "it is {}",
            match &state.host {
                Some(h) => format!("host {h}'s part"),
                None => "a one-host lab".into(),
            }
        ));
    }
    let plan = plan::build(
        spec,
        &PlanOptions {
            lab_dir: lab.path().to_path_buf(),
            accel: state.accel,
            qemu: qemu::qemu_binary(),
            local_host: host,
        },
    )
    .map_err(|e| SpecErrors(e).to_string())?;
    let mut here: Vec<&str> = plan.local_nodes().map(|n| n.name.as_str()).collect();
    let mut ran: Vec<&str> = state
        .nodes
        .iter()
        .filter(|(_, n)| n.status != crate::node::NodeStatus::Remote)
        .map(|(name, _)| name.as_str())
        .collect();
    here.sort_unstable();
    ran.sort_unstable();
    if here != ran {
        return Err(format!(
            "it runs nodes {} here, the spec places {}",
            ran.join(", "),
            here.join(", ")
        ));
    }
    for n in plan.local_nodes() {
        if state.nodes.get(&n.name).map(|r| &r.argv) != Some(&n.argv) {
            return Err(format!(
                "{}'s machine is not the one the spec describes",
                n.name
            ));
        }
    }
    let crossing = plan
        .links
        .iter()
        .any(|l| l.transport == LinkTransport::CrossHost);
    if crossing && plan.cross_host_keyed {
        let running = LinksFile::load(lab.path())
            .ok()
            .and_then(|f| f.key().ok().flatten());
        let now = super::key::load(&spec.spec_dir).ok().flatten();
        if running.is_none() || running != now {
            return Err("its links between hosts use another lab key".into());
        }
    }
    Ok(())
}

/// `--dry-run`: the plan a deploy would run, and every problem the preflight checks find
/// (missing image, busy port, socket paths too long). Starts nothing, takes no lock. Without
/// an accelerator the plan is shown for TCG (the probe would start a QEMU).
pub async fn dry_run(
    spec: &Lab,
    accel: Option<Accel>,
    host: Option<String>,
) -> Result<(LabPlan, SpecErrors), EngineError> {
    let lab = LabDir::of(spec.name.clone());
    let (plan, problems) = checked_plan(
        spec,
        &lab,
        Some(accel.unwrap_or(Accel::Tcg)),
        host,
        false,
        &EventSink::none(),
    )
    .await?;
    Ok((plan, problems))
}

/// QEMU found, the accelerator chosen, the plan built and the machine checked.
async fn checked_plan(
    spec: &Lab,
    lab: &LabDir,
    accel: Option<Accel>,
    host: Option<String>,
    require_qemu: bool,
    events: &EventSink,
) -> Result<(LabPlan, SpecErrors), EngineError> {
    let qemu_bin = qemu::qemu_binary();
    if require_qemu {
        qemu::require_programs(&qemu_bin)?;
    }
    let (accel, warning) = qemu::choose_accel(&qemu_bin, accel, &home::scratch_dir()).await;
    if let Some(w) = warning {
        events.send(Event::Warning(w));
    }
    let own = own_ports(lab);
    let claimed = super::ports::claimed_by_others(lab.name());
    let plan = super::ports::place(
        spec,
        lab,
        &PlanOptions {
            lab_dir: lab.path().to_path_buf(),
            accel,
            qemu: qemu_bin,
            local_host: host,
        },
        &own,
        &claimed,
    )
    .map_err(|e| EngineError::Invalid(SpecErrors(e)))?;
    if let Some(why) = &plan.ports_moved {
        events.send(Event::Warning(why.clone()));
    }
    let mut plan = plan;
    let mut problems = preflight::check(&plan, spec, &own, &claimed);
    for e in super::patches::render_into(&mut plan, events).0 {
        problems.push(e);
    }
    Ok((plan, problems))
}

impl Deployment {
    pub fn plan(&self) -> &LabPlan {
        &self.plan
    }

    pub fn lab(&self) -> &LabDir {
        &self.lab
    }

    /// Goes on writing to `journal` (begun by whoever prepared this deployment).
    pub fn journaled(mut self, journal: std::sync::Arc<crate::journal::Journal>) -> Self {
        self.journal = Some(journal);
        self
    }

    /// Runs the deployment to a ready lab. On failure or cancellation it stops everything it
    /// started (keeping the VMs only for a boot failure with `keep_on_failure`) before it
    /// returns the error. The lock is released when this returns.
    pub async fn run(
        self,
        events: &EventSink,
        cancel: &CancellationToken,
    ) -> Result<LabState, EngineError> {
        let events = &match &self.journal {
            Some(j) => events.tapped(j.tap()),
            None => events.clone(),
        };
        let result = self.run_inner(events, cancel).await;
        match (&self.journal, result) {
            (Some(j), Ok(state)) => {
                j.end_changed(true);
                Ok(state)
            }
            (Some(j), Err(e)) => j.ended(Err(e)),
            (None, result) => result,
        }
    }

    async fn run_inner(
        &self,
        events: &EventSink,
        cancel: &CancellationToken,
    ) -> Result<LabState, EngineError> {
        let result = self.execute(events, cancel).await;
        let Err(e) = result else {
            return result;
        };
        if self.keep_on_failure && matches!(e, EngineError::BootFailed(_)) {
            events.send(Event::Warning(format!(
                "leaving the lab running (--keep-on-failure); `vmlab destroy --lab {}` removes it",
                self.lab.name()
            )));
        } else {
            events.send(Event::Step("stopping what was started".into()));
            if let Err(d) = destroy_locked(&self.lab, &self.lock, true).await {
                events.send(Event::Warning(format!("cleanup failed: {d}")));
            }
        }
        Err(e)
    }

    async fn execute(
        &self,
        events: &EventSink,
        cancel: &CancellationToken,
    ) -> Result<LabState, EngineError> {
        let (plan, lab) = (&self.plan, &self.lab);
        let t0 = Instant::now();
        create_lab_dir(lab)?;
        // Every node's command line is on disk before any QEMU starts: a deploy killed
        // mid-launch leaves destroy what it needs to recognise each QEMU.
        LabState::from_plan(plan).create(lab)?;
        super::patches::save(lab, plan)?;

        let local = plan.local_nodes().count();
        if let Some(h) = &plan.local_host {
            events.send(Event::Step(format!(
                "host {h}: deploying {local} of the lab's {} here",
                count(plan.nodes.len(), "node")
            )));
        }
        events.send(Event::Step(format!(
            "creating {}",
            count(local, "disk overlay")
        )));
        tokio::select! {
            biased;
            _ = cancel.cancelled() => return Err(EngineError::Interrupted),
            r = create_overlays(plan) => r?,
        }

        // The links' settings, then the relay, before any QEMU: a VM's first frames find it.
        let crossing = plan
            .links
            .iter()
            .filter(|l| l.transport == LinkTransport::CrossHost)
            .count();
        let key = if crossing > 0 && plan.cross_host_keyed {
            let canonical = |p: &std::path::Path| std::fs::canonicalize(p).ok();
            let received = canonical(&plan.spec_dir)
                .is_some_and(|d| Some(d) == canonical(&home::received_spec_dir(&plan.name)));
            Some(super::key::ensure(&plan.spec_dir, received)?)
        } else {
            None
        };
        LinksFile::from_plan(plan, key.as_ref()).save(lab.path())?;
        let relayed = plan
            .links
            .iter()
            .filter(|l| l.transport.uses_relay())
            .count();
        if relayed > 0 {
            events.send(Event::Step(format!(
                "starting the link relay for {}{}",
                count(relayed, "link"),
                if crossing > 0 {
                    format!(
                        " ({crossing} to other hosts, {})",
                        if key.is_some() {
                            "keyed"
                        } else {
                            "NOT keyed: vmlab.cross_host_check is none"
                        }
                    )
                } else {
                    String::new()
                }
            )));
            let me = std::env::current_exe()
                .map_err(|e| EngineError::io("cannot locate the vmlab binary", e))?;
            let rec = supervise::start(lab.path(), &me)
                .await
                .map_err(EngineError::LabState)?;
            LabState::update(lab, |s| s.relay = Some(rec))?;
        }

        let failures = self.boot_all(events, cancel).await?;
        if !failures.is_empty() {
            if plan.accel == Accel::Kvm
                && failures
                    .iter()
                    .all(|f| crate::node::health::timed_out(&f.reason))
            {
                // Seen on hosts whose KVM runs a boot loader but hangs a guest's kernel (some
                // nested virtualisation): the probe cannot tell, the user can.
                events.send(Event::Warning(
                    "no node came up in time under KVM; if the consoles stop after the boot \
                     loader, this host's KVM cannot run these guests: deploy with --accel tcg \
                     or set VMLAB_ACCEL=tcg"
                        .into(),
                ));
            }
            return Err(EngineError::BootFailed(failures));
        }

        let local: Vec<String> = plan.local_nodes().map(|n| n.name.clone()).collect();
        super::sshkey::install_on(lab, &local, events).await;
        let failures = super::hostns::setup(lab, &local, events).await;
        if !failures.is_empty() {
            return Err(EngineError::BootFailed(failures));
        }
        if let Err(e) = super::export::write_all(lab, &LabState::load(lab)?) {
            events.send(Event::Warning(format!(
                "could not write the lab's ssh_config and inventories: {e}"
            )));
        }

        // newtron's files are newtron's: its tools read the runtime ports from status.
        if plan.patch_profiles {
            events.send(Event::Step("patching profiles".into()));
            for node in plan.local_nodes() {
                profiles::patch_node(&plan.spec_dir, node, events);
            }
        }
        events.send(Event::Step(format!(
            "lab {} ready in {:.1} s",
            plan.name,
            t0.elapsed().as_secs_f64()
        )));
        LabState::load(lab)
    }
}

impl Deployment {
    /// Launches every node when staging lets it (its waits met, its boot delay over, a boot
    /// slot free) and watches each to ready; returns the nodes that failed.
    ///
    /// Launches are not cut short by a cancellation (each takes a fraction of a second, and a
    /// QEMU half-way through daemonizing is hard to find); every pid is recorded as its launch
    /// returns, and the cancellation is honoured right after.
    async fn boot_all(
        &self,
        events: &EventSink,
        cancel: &CancellationToken,
    ) -> Result<Vec<NodeFailure>, EngineError> {
        let (plan, lab) = (&self.plan, &self.lab);
        // Only this host's nodes boot here; a wait for a node on another host cannot be
        // watched from here and is dropped, said once.
        let nodes: Vec<&NodePlan> = plan.local_nodes().collect();
        let here: std::collections::HashSet<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
        for n in &nodes {
            for w in n.wait_for.iter().filter(|w| !here.contains(w.as_str())) {
                events.send(Event::Warning(format!(
                    "{} waits for {w}, which runs on another host: this host does not wait for it",
                    n.name
                )));
            }
        }
        let max = parallel_limit(plan, &nodes, events);
        events.send(Event::Step(format!(
            "launching {} under {}",
            count(nodes.len(), "VM"),
            plan.accel
        )));
        let mut stages = Stages::new(
            nodes
                .iter()
                .map(|n| StageNode {
                    name: n.name.clone(),
                    wait_for: n
                        .wait_for
                        .iter()
                        .filter(|w| here.contains(w.as_str()))
                        .cloned()
                        .collect(),
                    delay: Duration::from_secs(n.boot_delay_secs),
                })
                .collect(),
            max,
        );
        let t0 = Instant::now();
        let mut watches = FuturesUnordered::new();
        let mut failures = Vec::new();
        let mut told: HashMap<usize, String> = HashMap::new();
        loop {
            let d = stages.decide(t0.elapsed(), watches.len());
            for (i, wait) in &d.waiting {
                let node = nodes[*i];
                // Say each kind of wait once (a delay's remaining time changes all along).
                let key = match wait {
                    Wait::Delay(_) => "delay".to_string(),
                    other => other.describe(),
                };
                if told.get(i) != Some(&key) {
                    told.insert(*i, key);
                    let why = wait.describe();
                    LabState::update_node(lab, &node.name, |n| n.waiting(&why))?;
                    events.send(Event::NodeWaiting {
                        node: node.name.clone(),
                        reason: why,
                    });
                }
            }
            for (i, dep) in &d.doomed {
                let node = nodes[*i];
                let reason = format!("never started: it waits for {dep}, which did not come up");
                LabState::update_node(lab, &node.name, |n| n.failed(None, &reason))?;
                events.send(Event::NodeFailed {
                    node: node.name.clone(),
                    reason: reason.clone(),
                    elapsed: t0.elapsed(),
                });
                failures.push(NodeFailure {
                    node: node.name.clone(),
                    reason,
                    console_log: node.paths.console_log.clone(),
                    console_tail: Vec::new(),
                });
            }
            if !d.start.is_empty() {
                let launches = d.start.iter().map(|i| {
                    let patches = plan.boot_patches.get(&nodes[*i].name);
                    let target =
                        boot::Target::planned(nodes[*i], patches.map_or(&[][..], |p| &p[..]));
                    boot::launch(lab, target, &[], events)
                });
                for launched in futures::future::join_all(launches).await {
                    match launched? {
                        Ok(b) => watches.push(async move {
                            let outcome = b.watch(lab, events).await;
                            (b, outcome)
                        }),
                        Err(failure) => {
                            stages.failed(&failure.node);
                            failures.push(failure);
                        }
                    }
                }
                if cancel.is_cancelled() {
                    return Err(EngineError::Interrupted);
                }
                continue;
            }
            if watches.is_empty() && stages.all_started() {
                return Ok(failures);
            }
            if watches.is_empty() && d.wake_at.is_none() {
                // Nothing boots, nothing will wake us: staging cannot go on (it checks its
                // waits when the spec is read, so this is a bug, said plainly).
                return Err(EngineError::LabState(
                    "staged boot is stuck: nodes wait, nothing boots".into(),
                ));
            }
            let wake = d.wake_at.map(|w| t0 + w);
            tokio::select! {
                biased;
                _ = cancel.cancelled() => return Err(EngineError::Interrupted),
                Some((b, outcome)) = watches.next(), if !watches.is_empty() => {
                    match b.settle(lab, outcome, plan.accel, events)? {
                        Ok(()) => stages.ready(b.name()),
                        Err(failure) => {
                            stages.failed(b.name());
                            failures.push(failure);
                        }
                    }
                }
                _ = tokio::time::sleep_until(wake.unwrap_or(t0).into()), if wake.is_some() => {}
            }
        }
    }
}

/// How many of `nodes` boot at once: `vmlab.max_parallel_boots`, else what the machine's cores
/// and free memory allow (said when the lab is larger).
fn parallel_limit(plan: &LabPlan, nodes: &[&NodePlan], events: &EventSink) -> usize {
    match plan.max_parallel_boots {
        Some(m) => {
            events.send(Event::Step(format!(
                "booting at most {m} node{} at once (vmlab.max_parallel_boots)",
                if m == 1 { "" } else { "s" }
            )));
            m as usize
        }
        None => {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            let mem = mem_available_mb();
            let largest = nodes.iter().map(|n| n.memory_mb).max().unwrap_or(1);
            let m = stages::default_parallel(cores, mem, largest);
            // A limit the lab never reaches is not news.
            if nodes.len() > m {
                events.send(Event::Step(format!(
                    "booting at most {m} node{} at once: twice {cores} core{}{} (set \
                 vmlab.max_parallel_boots to change it)",
                    if m == 1 { "" } else { "s" },
                    if cores == 1 { "" } else { "s" },
                    mem.map(|m| format!(", {m} MB free for nodes of up to {largest} MB"))
                        .unwrap_or_default()
                )));
            }
            m
        }
    }
}

/// Free memory in MB (`MemAvailable` of `/proc/meminfo`).
fn mem_available_mb() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}

/// The lab directory (0700), its marker first, then its sub-directories.
fn create_lab_dir(lab: &LabDir) -> Result<(), EngineError> {
    use std::os::unix::fs::DirBuilderExt;
    let mk = |p: &Path| {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(p)
            .map_err(|e| EngineError::io(format!("cannot create {}", p.display()), e))
    };
    mk(lab.path())?;
    std::fs::write(lab.marker_file(), format!("{}\n", lab.name()))
        .map_err(|e| EngineError::io("cannot mark the lab directory", e))?;
    for sub in ["disks", "qemu", "logs", "links"] {
        mk(&lab.path().join(sub))?;
    }
    Ok(())
}

async fn create_overlays(plan: &LabPlan) -> Result<(), EngineError> {
    let mut images: Vec<&Path> = plan.local_nodes().map(|n| n.image.as_path()).collect();
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
    let jobs = plan.local_nodes().map(|n| {
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
