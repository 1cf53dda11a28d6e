//! The engine's one entry for front ends. The CLI, the TUI and the terminal layer reach the
//! engine only through this module (`tests/architecture.rs` holds them to it), so a front end is
//! "parse input → call the facade → render events and results", and a new front end (the HTTP
//! API) needs nothing else.
//!
//! Two kinds of entry: free functions for what is not one deployed lab (reading a spec,
//! deploying it, the labs there are, images, doctor, the hosts of a multi-host lab), and a
//! [`LabHandle`] for everything done to one deployed lab (status, nodes, links, snapshots,
//! consoles and ssh, exec, exports, repair, destroy, the monitor). Every operation reports
//! through an [`EventSink`] and takes a cancellation token where it can be cut short; the types
//! results come in are re-exported here, so a front end names nothing deeper.
//!
//! The facade decides nothing itself beyond what combines two parts of the engine (how a node
//! is reached: [`access`]); each operation is the engine module that owns it.

pub mod access;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub use super::doctor::{Check, Verdict};
pub use super::error::{EngineError, NodeFailure};
pub use super::events::CheckReport;
pub use super::events::{Event, EventSink, count};
pub use super::host::HostTarget;
pub use super::host::all::{AllOptions, HostView};
pub use super::host::k8s::{K8sExport, K8sOptions};
pub use super::image::ImageRow;
pub use super::journal::{
    Entry as JournalEntry, Follower as JournalFollower, Watch as JournalWatch,
};
pub use super::lab::LabDir;
pub use super::lab::deploy::{DeployOptions, Deployment, Prepared};
pub use super::lab::destroy::DestroyReport;
pub use super::lab::exec::{Line as ExecLine, Outcome as ExecOutcome, Targets};
/// What other tools read (ssh_config, inventories, graphs, the terminal drawing), rendered
/// from a lab's state by pure functions.
pub use super::lab::export;
pub use super::lab::export::k8s::ImagesFrom;
pub use super::lab::export::{Drawing, Inventory, Owner};
pub use super::lab::find::LabSelector;
pub use super::lab::lifecycle::NodeOp;
pub use super::lab::links::LinkChange;
pub use super::lab::links::find as find_link_end;
pub use super::lab::lock::Holder as BusyHolder;
pub use super::lab::monitor::Observation;
pub use super::lab::monitor::Usage;
pub use super::lab::repair::RepairReport;
pub use super::lab::snapshot::{Restored, Snapshot};
pub use super::lab::state::LabState;
pub use super::lab::status::LinkCounters;
pub use super::lab::status::{LabStatus, LinkRow, NodeRow, RelayRow};
pub use super::lab::validate::{CheckResult, CheckVerdict, Tally};
pub use super::link::LinkState;
pub use super::link::control::{DirReport, Dropped};
/// The wire format of links between hosts (benchmarks and the two-host test speak it).
pub use super::link::wire;
pub use super::node::{BootStage, NodeStatus};
pub use access::{ConsoleAccess, ConsoleClaim, LocalConsole, SshCommand};

use super::journal::Journal;
use super::lab::{destroy, exec, find, lifecycle, links, lock, monitor, repair, snapshot};
use super::{doctor, home, host, image, lab, link};
pub use crate::plan::Accel;
use crate::plan::LabPlan;
use crate::spec::{Lab, LabName, SpecErrors};

/// Reads and resolves the spec directory `dir` (`~` in its paths is the user's home).
pub fn load_spec(dir: &Path) -> Result<Lab, EngineError> {
    image::load_spec(dir)
}

/// Port bases given on the command line instead of the spec's (`[link, console, ssh]`; `None`
/// keeps the spec's): a newtron network's files are never written, so this is how its lab
/// moves. The plan checks them as it checks the spec's.
pub fn set_port_bases(spec: &mut Lab, [link, console, ssh]: [Option<u16>; 3]) {
    let s = &mut spec.settings;
    for (given, slot) in [
        (link, &mut s.link_port_base),
        (console, &mut s.console_port_base),
        (ssh, &mut s.ssh_port_base),
    ] {
        if let Some(p) = given {
            *slot = u32::from(p);
        }
    }
}

/// Names newtron's platforms registry for this process (`--platforms`).
pub fn set_platforms_registry(dir: Option<PathBuf>) {
    home::set_platforms_registry(dir);
}

/// Answers a call of another host of a multi-host lab, stdin to stdout (`vmlab host-call`);
/// the exit status.
pub async fn answer_host_call() -> i32 {
    super::host::call::answer().await
}

/// The subcommand another host's vmlab runs to call this one.
pub const HOST_CALL: &str = super::host::call::SUBCOMMAND;

/// Names the folder of boot patch sets for this process (`--patches`).
pub fn set_patches_dir(dir: Option<PathBuf>) {
    home::set_patches_dir(dir);
}

/// The current directory, when it holds a spec (a `topology.json`): where a command without
/// `-S` looks first.
pub fn spec_dir_here() -> Option<PathBuf> {
    find::spec_dir_here()
}

/// The spec directory of network `id` under a folder of networks (`vmlab serve
/// --networks-base`): `<base>/<id>`, or its `specs/`, whichever holds a topology.json.
pub fn network_spec_dir(base: &Path, id: &LabName) -> Option<PathBuf> {
    let dir = base.join(id.as_str());
    [dir.clone(), dir.join("specs")]
        .into_iter()
        .find(|d| d.join("topology.json").is_file())
}

/// Every deployed lab's name, in order.
pub fn lab_names() -> Vec<LabName> {
    find::list()
}

/// One deployed lab as `vmlab labs --json` and `GET /v1/labs` show it.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct LabRow {
    pub name: LabName,
    /// Nodes of this host that run, of `nodes`.
    pub running: usize,
    pub nodes: usize,
    pub spec_dir: PathBuf,
    pub lab_dir: PathBuf,
}

/// Every deployed lab's row, and the labs whose state cannot be read (with why).
pub fn lab_rows() -> (Vec<LabRow>, Vec<(LabName, EngineError)>) {
    let mut rows = Vec::new();
    let mut damaged = Vec::new();
    for name in lab_names() {
        match LabHandle::named(name.clone()).status() {
            Ok(st) => rows.push(LabRow {
                running: st
                    .nodes
                    .iter()
                    .filter(|n| n.status == NodeStatus::Running)
                    .count(),
                nodes: st
                    .nodes
                    .iter()
                    .filter(|n| n.status != NodeStatus::Remote)
                    .count(),
                name,
                spec_dir: st.spec_dir,
                lab_dir: st.lab_dir,
            }),
            Err(e) => damaged.push((name, e)),
        }
    }
    (rows, damaged)
}

/// Everything before a deploy's first side effect (lock, running check, plan, preflight): a
/// front end that shows the plan's nodes before they boot runs the [`Deployment`] itself.
pub async fn prepare_deploy(
    spec: &Lab,
    opts: DeployOptions,
    events: &EventSink,
) -> Result<Prepared, EngineError> {
    prepare_journaled(
        Arc::new(Journal::begin(&spec.name, "deploy")),
        spec,
        opts,
        None,
        events,
    )
    .await
}

/// [`prepare_deploy`] in the journal `j` begun already. The journal goes on with the
/// deployment, which ends it; a lab that ran already as asked ends it unchanged.
async fn prepare_journaled(
    j: Arc<Journal>,
    spec: &Lab,
    opts: DeployOptions,
    lock: Option<lock::LabLock>,
    events: &EventSink,
) -> Result<Prepared, EngineError> {
    let events = events.tapped(j.tap());
    let prepared = match lock {
        Some(lock) => lab::deploy::prepare_locked(spec, opts, lock, &events).await,
        None => lab::deploy::prepare(spec, opts, &events).await,
    };
    match prepared {
        Ok(Prepared::Ready(d)) => Ok(Prepared::Ready(Box::new(d.journaled(j)))),
        Ok(Prepared::AlreadyRunning(state)) => {
            j.end_changed(false);
            Ok(Prepared::AlreadyRunning(state))
        }
        Err(e) => j.ended(Err(e)),
    }
}

/// An operation begun in its lab's journal: its id, and the `Last-Event-ID` from which a
/// stream shows it whole.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct Begun {
    pub id: String,
    pub event_id: u64,
}

/// A deploy begun now: the lab's lock taken (a busy lab is refused here, before anything
/// runs) and the deploy's beginning in the lab's journal (so that a client told [`Begun`]
/// misses nothing of it), and the deploy itself to run.
pub async fn start_deploy(
    spec: Lab,
    opts: DeployOptions,
    events: EventSink,
    cancel: CancellationToken,
) -> Result<
    (
        Begun,
        impl std::future::Future<Output = Result<Deployed, EngineError>> + Send + 'static,
    ),
    EngineError,
> {
    let lock = lock::acquire(&spec.name, "vmlab deploy", &events).await?;
    let j = Arc::new(Journal::begin(&spec.name, "deploy"));
    let begun = Begun {
        id: j.id().to_string(),
        event_id: j.begun_at(),
    };
    let run = async move {
        match prepare_journaled(j, &spec, opts, Some(lock), &events).await? {
            Prepared::AlreadyRunning(state) => Ok(Deployed::AlreadyRunning(state)),
            Prepared::Ready(d) => Ok(Deployed::Now(Box::new(d.run(&events, &cancel).await?))),
        }
    };
    Ok((begun, run))
}

/// Runs `op` on lab `name` with its journal: begun, every event of `events` recorded, ended
/// with the outcome (what the HTTP server's streams follow).
async fn journaled<T, F, Fut>(
    name: &LabName,
    op: &str,
    events: &EventSink,
    f: F,
) -> Result<T, EngineError>
where
    F: FnOnce(EventSink) -> Fut,
    Fut: std::future::Future<Output = Result<T, EngineError>>,
{
    let j = Arc::new(Journal::begin(name, op));
    j.ended(f(events.tapped(j.tap())).await)
}

/// Follows lab `name`'s operation journal from byte `from` (`None`: from now): every
/// operation on the lab, whoever runs it, line by line.
pub fn follow_journal(name: &LabName, from: Option<u64>) -> JournalFollower {
    JournalFollower::new(name, from)
}

/// Records in lab `name`'s journal that `by` ran `what` through `op` (`exec`, `validate`):
/// who, the command and the nodes, never the output.
pub fn audit(name: &LabName, op: &str, by: &str, what: serde_json::Value) {
    crate::journal::audit(name, op, by, what)
}

/// Who changes lab `name` now, if anyone does: the record its lock's holder keeps (the one
/// answer to "this lab is busy"; the CLI's wait reads the same).
pub fn lab_busy(name: &LabName) -> Option<BusyHolder> {
    lock::holder(name)
}

/// The token file `vmlab serve` uses when given none: `$VMLAB_HOME/serve.token` (0600 in the
/// private home), made with a fresh random token on first start; its path and text.
pub fn serve_token() -> Result<(PathBuf, String), EngineError> {
    let path = home::vmlab_home().join("serve.token");
    home::private_dir(&home::vmlab_home())
        .map_err(|e| EngineError::io(format!("cannot create {}", path.display()), e))?;
    let text = crate::fsutil::private_secret(&path)?;
    Ok((path, text))
}

/// This process's user.
pub fn my_uid() -> u32 {
    nix::unistd::Uid::effective().as_raw()
}

/// The uid owning the far end of a loopback TCP connection accepted on `local` from `peer`
/// (the kernel's word), when it says.
pub fn peer_uid(local: std::net::SocketAddr, peer: std::net::SocketAddr) -> Option<u32> {
    crate::netstat::peer_uid(local, peer)
}

/// Raises this process's soft limit of open files to its hard limit (a server holding many
/// connections and event streams); the limit now.
pub fn raise_open_files_limit() -> u64 {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => {
            if setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
                hard
            } else {
                soft
            }
        }
        Ok((soft, _)) => soft,
        Err(_) => 0,
    }
}

/// The text of a file only its owner may read (a token): refused if group or others can.
pub fn read_private(path: &Path) -> Result<String, EngineError> {
    crate::fsutil::read_private(path)
}

/// A snapshot as front ends show it: its links' settings without the lab key (a secret that
/// stays in the lab's files).
fn without_key(mut s: Snapshot) -> Snapshot {
    if let Some(l) = &mut s.links {
        l.key = None;
    }
    s
}

/// What a one-step deploy did.
pub enum Deployed {
    /// The lab ran already, as this spec would run it: nothing changed.
    AlreadyRunning(Box<LabState>),
    /// Deployed now; every node of this host is ready.
    Now(Box<LabState>),
}

/// Deploys `spec` in one step (prepare, then run): the API's deploy.
pub async fn deploy(
    spec: &Lab,
    opts: DeployOptions,
    events: &EventSink,
    cancel: &CancellationToken,
) -> Result<Deployed, EngineError> {
    match prepare_deploy(spec, opts, events).await? {
        Prepared::AlreadyRunning(state) => Ok(Deployed::AlreadyRunning(state)),
        Prepared::Ready(d) => Ok(Deployed::Now(Box::new(d.run(events, cancel).await?))),
    }
}

/// The plan and the problems a deploy would meet, without touching anything.
pub async fn dry_run(
    spec: &Lab,
    accel: Option<Accel>,
    host: Option<String>,
) -> Result<(LabPlan, SpecErrors), EngineError> {
    lab::deploy::dry_run(spec, accel, host).await
}

/// The hosts of a multi-host lab, this machine's marked (`me`: `--host`).
pub fn hosts(spec: &Lab, me: Option<&str>) -> Result<Vec<HostTarget>, EngineError> {
    host::targets(spec, me)
}

/// `--all-hosts` deploy: every host's part at once, rolled back on the hosts this run started
/// if one fails.
pub async fn deploy_all_hosts(
    spec: &Lab,
    hosts: &[HostTarget],
    opts: &AllOptions,
    events: &EventSink,
    cancel: &CancellationToken,
) -> Result<Vec<(String, usize)>, EngineError> {
    host::all::deploy_all(spec, hosts, opts, events, cancel).await
}

/// `--all-hosts` destroy: each host's part only.
pub async fn destroy_all_hosts(
    lab: &LabName,
    hosts: &[HostTarget],
    events: &EventSink,
) -> Result<(), EngineError> {
    host::all::destroy_all(lab, hosts, events).await
}

/// `--all-hosts` status: each host's view of its part.
pub async fn status_all_hosts(lab: &LabName, hosts: &[HostTarget]) -> Vec<HostView> {
    host::all::status_all(lab, hosts).await
}

/// Receives a spec (and the lab key) sent by `--all-hosts` as a tar stream; its directory.
pub fn receive_spec(input: impl std::io::Read, lab: &LabName) -> Result<PathBuf, EngineError> {
    host::transfer::unpack(input, lab)
}

/// The host checks of `vmlab doctor`, with a lab's own checks when one is given.
pub async fn doctor(spec: Option<&Lab>) -> Vec<Check> {
    doctor::run(spec).await
}

/// The images kept and used.
pub async fn images() -> Result<Vec<ImageRow>, EngineError> {
    image::list().await
}

/// Imports `file` as an image (progress to `events`).
pub async fn import_image(
    file: &Path,
    name: Option<&str>,
    events: &EventSink,
) -> Result<ImageRow, EngineError> {
    image::import(file, name, events).await
}

/// Removes an image no lab uses; its path.
pub fn remove_image(name: &str) -> Result<PathBuf, EngineError> {
    image::remove(name)
}

/// The link relay's process (`vmlab relay`, started by the engine itself): runs until its lab
/// directory goes; the process's exit code.
pub fn relay_main(lab_dir: &Path, foreground: bool) -> i32 {
    link::relay::main(lab_dir, foreground)
}

/// If this process was started by ssh as vmlab's askpass helper, the password to print.
pub fn askpass_secret() -> Option<String> {
    super::ssh::askpass_secret()
}

/// The state of a lab that is not deployed, as a deploy of `spec` would record it (for its
/// graph and inventories).
pub fn planned_state(spec: &Lab) -> Result<LabState, EngineError> {
    export::planned_state(spec)
}

/// One deployed lab, and everything a front end does to it.
#[derive(Debug, Clone)]
pub struct LabHandle {
    dir: LabDir,
}

impl LabHandle {
    /// The lab a selector names. With `allow_missing_state`, a directory vmlab created is
    /// enough (a forced destroy of a broken lab).
    pub fn find(sel: &LabSelector, allow_missing_state: bool) -> Result<Self, EngineError> {
        Ok(LabHandle {
            dir: find::find(sel, allow_missing_state)?,
        })
    }

    /// The lab named `name` (deployed or not).
    pub fn named(name: LabName) -> Self {
        LabHandle {
            dir: LabDir::of(name),
        }
    }

    pub fn name(&self) -> &LabName {
        self.dir.name()
    }

    /// Its directory under `$VMLAB_HOME/labs`.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// With `--host`: refuses unless this machine runs that host's part of the lab.
    pub fn check_host(&self, host: Option<&str>) -> Result<(), EngineError> {
        find::check_host(&self.dir, host)
    }

    /// state.json as recorded.
    pub fn state(&self) -> Result<LabState, EngineError> {
        LabState::load(&self.dir)
    }

    /// The recorded state checked against the processes and the relay, now.
    pub fn status(&self) -> Result<LabStatus, EngineError> {
        lab::status::snapshot(&self.dir)
    }

    /// Observations every `every` (and every node and link change sent to `events`) until
    /// the receiver is dropped.
    pub fn monitor(
        &self,
        every: Duration,
        events: EventSink,
    ) -> mpsc::Receiver<Result<Observation, String>> {
        monitor::spawn(self.dir.clone(), every, events)
    }

    /// Starts, stops or restarts one node; a start returns once the node is ready.
    pub async fn node(
        &self,
        node: &str,
        op: NodeOp,
        events: &EventSink,
        cancel: &CancellationToken,
    ) -> Result<(), EngineError> {
        let what = format!("{} {node}", op.verb());
        journaled(self.name(), &what, events, |events| async move {
            lifecycle::run(&self.dir, node, op, &events, cancel).await
        })
        .await
    }

    /// Starts, stops or restarts several nodes at once (`None`: every node `--all` means for
    /// `op`); the nodes it acted on. Starts return once every node is ready.
    pub async fn nodes(
        &self,
        nodes: Option<&[String]>,
        op: NodeOp,
        events: &EventSink,
        cancel: &CancellationToken,
    ) -> Result<Vec<String>, EngineError> {
        let nodes = match nodes {
            Some(n) => n.to_vec(),
            None => lifecycle::every_node(&self.dir, &self.state()?, op),
        };
        if !nodes.is_empty() {
            let what = format!("{} {}", op.verb(), nodes.join(" "));
            let these = &nodes;
            journaled(self.name(), &what, events, |events| async move {
                lifecycle::run_many(&self.dir, these, op, &events, cancel).await
            })
            .await?;
        }
        Ok(nodes)
    }

    /// Changes the link at `end` (`node:interface`); the link's index.
    pub async fn link(
        &self,
        end: &str,
        change: &LinkChange,
        events: &EventSink,
    ) -> Result<usize, EngineError> {
        journaled(
            self.name(),
            &format!("link {end}"),
            events,
            |events| async move { links::change(&self.dir, end, change, &events).await },
        )
        .await
    }

    /// Captures the link at `end` as pcap into `out` until `stop` is set; the frames written.
    /// Blocking.
    pub fn capture(
        &self,
        end: &str,
        out: &mut dyn std::io::Write,
        stop: &AtomicBool,
    ) -> Result<u64, EngineError> {
        links::capture(&self.dir, end, out, stop)
    }

    /// Captures the link at `end` into a private file (`to`, or one in the lab directory);
    /// `started` hears where. Blocking.
    pub fn capture_to_file(
        &self,
        end: &str,
        to: Option<&Path>,
        stop: &AtomicBool,
        started: &dyn Fn(&Path),
    ) -> Result<(u64, PathBuf), EngineError> {
        links::capture_to_file(&self.dir, end, to, stop, started)
    }

    /// Takes a live snapshot of the whole lab; what was taken.
    pub async fn snapshot(
        &self,
        name: &str,
        events: &EventSink,
        cancel: &CancellationToken,
    ) -> Result<Snapshot, EngineError> {
        journaled(
            self.name(),
            &format!("snapshot {name}"),
            events,
            |events| async move { snapshot::take(&self.dir, name, &events, cancel).await },
        )
        .await
        .map(without_key)
    }

    /// Brings the whole lab back to snapshot `name`.
    pub async fn restore(
        &self,
        name: &str,
        events: &EventSink,
        cancel: &CancellationToken,
    ) -> Result<Restored, EngineError> {
        journaled(
            self.name(),
            &format!("restore {name}"),
            events,
            |events| async move { snapshot::restore(&self.dir, name, &events, cancel).await },
        )
        .await
    }

    pub fn snapshots(&self) -> Result<Vec<Snapshot>, EngineError> {
        Ok(snapshot::list(&self.dir)?
            .into_iter()
            .map(without_key)
            .collect())
    }

    pub async fn delete_snapshot(&self, name: &str, events: &EventSink) -> Result<(), EngineError> {
        snapshot::delete(&self.dir, name, events).await
    }

    /// A node's serial console, opened here or reached through its host.
    pub async fn console(&self, node: &str) -> Result<ConsoleAccess, EngineError> {
        access::open(&self.dir, node).await
    }

    /// The ssh command for a node (`command` empty: an interactive shell).
    pub fn ssh(&self, node: &str, command: &[String]) -> Result<SshCommand, EngineError> {
        access::ssh(&self.dir, node, command)
    }

    /// The nodes `targets` names (checked: unknown nodes and platforms refused).
    pub fn exec_targets(&self, targets: &Targets) -> Result<Vec<String>, EngineError> {
        exec::resolve(&self.state()?, targets)
    }

    /// Runs `command` over SSH on every node of `nodes` at once; each line goes to `lines` as
    /// it comes; each node's outcome in the order of `nodes`.
    pub async fn exec(
        &self,
        nodes: &[String],
        command: &[String],
        timeout: Duration,
        lines: &mpsc::UnboundedSender<ExecLine>,
    ) -> Result<Vec<ExecOutcome>, EngineError> {
        exec::run(&self.dir, nodes, command, timeout, lines).await
    }

    /// Runs the lab's checks (`file`, else `validate.json` in its spec directory; only those
    /// named in `only`, if given): every check × node with its verdict.
    pub async fn validate(
        &self,
        file: Option<&Path>,
        only: Option<&[String]>,
        events: &EventSink,
    ) -> Result<Vec<CheckResult>, EngineError> {
        let path = match file {
            Some(f) => f.to_path_buf(),
            None => self.state()?.spec_dir.join("validate.json"),
        };
        let text =
            crate::spec::source::read_checks(&path)?.ok_or(EngineError::NoChecks { path })?;
        self.validate_text(&text, only, events).await
    }

    /// Runs checks given as text (`origin` names them in every error: a file, or a client's
    /// request), as [`LabHandle::validate`] does.
    pub async fn validate_text(
        &self,
        text: &crate::spec::source::SpecText,
        only: Option<&[String]>,
        events: &EventSink,
    ) -> Result<Vec<CheckResult>, EngineError> {
        let checks = crate::spec::validate::parse(text)?;
        journaled(self.name(), "validate", events, |events| async move {
            lab::validate::run(&self.dir, &checks, only, &events).await
        })
        .await
    }

    /// Brings back the relay and nodes that died, and resumes paused ones.
    pub async fn repair(
        &self,
        events: &EventSink,
        cancel: &CancellationToken,
    ) -> Result<RepairReport, EngineError> {
        journaled(self.name(), "repair", events, |events| async move {
            repair::repair(&self.dir, &events, cancel).await
        })
        .await
    }

    /// Stops everything the lab runs and removes its directory.
    pub async fn destroy(
        &self,
        force: bool,
        events: &EventSink,
    ) -> Result<DestroyReport, EngineError> {
        journaled(self.name(), "destroy", events, |events| async move {
            destroy::destroy(&self.dir, force, &events).await
        })
        .await
    }

    /// The lab's ssh_config (its key, its known_hosts).
    pub fn ssh_config(&self) -> Result<String, EngineError> {
        Ok(export::ssh_config(&self.state()?, self.path()))
    }

    /// The lab as an Ansible inventory (YAML).
    pub fn ansible_inventory(&self) -> Result<String, EngineError> {
        Ok(export::ansible(&self.state()?, self.path()))
    }

    /// The lab as a JSON inventory.
    pub fn inventory(&self) -> Result<Inventory, EngineError> {
        Ok(export::inventory(&self.state()?, self.path()))
    }
}

/// `vmlab export k8s`: the lab of `spec` as Kubernetes manifests, one shard per pod.
pub fn export_k8s(spec: &Lab, opts: &K8sOptions) -> Result<K8sExport, EngineError> {
    super::host::k8s::export(spec, opts)
}

/// The spec of shard `shard` of an exported lab mounted at `mounted` (a pod's ConfigMaps and
/// Secret), as a host of a multi-host lab has it: copied into this home, its hosts the shards
/// at the addresses their names have now (waited for up to `patience`), every node placed on
/// its shard. Its directory.
pub fn shard_spec(mounted: &Path, shard: &str, patience: Duration) -> Result<PathBuf, EngineError> {
    let file = super::host::k8s::read_shards(mounted)?;
    let addrs = super::host::k8s::resolve_shards(&file, patience)?;
    super::host::k8s::shard_spec(mounted, &file, shard, &addrs)
}

/// The lab an exported spec mounted at `mounted` is (from `k8s-shards.json`).
pub fn shard_lab(mounted: &Path) -> Result<LabName, EngineError> {
    Ok(super::host::k8s::read_shards(mounted)?.lab)
}

/// Marks this process as the home's shard process (`vmlab shard run`).
pub fn mark_shard_process() -> Result<(), EngineError> {
    super::host::k8s::mark_shard_process()
}

/// The shard's API token (from the Secret's volume) copied into this home, mode 0600.
pub fn shard_token(mounted: &Path) -> Result<PathBuf, EngineError> {
    super::host::k8s::private_token(mounted)
}

/// Is the home's shard process running?
pub fn shard_process_alive() -> bool {
    super::host::k8s::shard_process_alive()
}

/// Writes `export`'s manifests into `dir`, a file each; their paths.
pub fn write_k8s(dir: &Path, export: &K8sExport) -> Result<Vec<PathBuf>, EngineError> {
    super::host::k8s::write(dir, export)
}

/// A lab's topology as Graphviz dot.
pub fn dot(state: &LabState) -> String {
    export::dot(state)
}

/// A lab's topology as a mermaid graph.
pub fn mermaid(state: &LabState) -> String {
    export::mermaid(state)
}

/// A lab's topology drawn for a terminal, each node with the text `status` gives it.
pub fn drawing(state: &LabState, status: &dyn Fn(&str) -> Option<String>) -> Drawing {
    export::ascii(state, status)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A snapshot handed to a front end (the API, `snapshot list --json`) keeps its links'
    /// settings but never the lab key they carry for links between hosts.
    #[test]
    fn snapshots_shown_leave_the_lab_key_out() {
        let snap = Snapshot {
            name: "s1".into(),
            taken: "2026-12-07T10:00:00Z".into(),
            paused_secs: 0.3,
            nodes: Vec::new(),
            links: Some(crate::link::config::LinksFile {
                links: Vec::new(),
                key: Some("ab".repeat(32)),
            }),
        };
        let shown = serde_json::to_string(&without_key(snap)).expect("json");
        assert!(!shown.contains(&"ab".repeat(32)), "{shown}");
        assert!(shown.contains("\"links\""), "{shown}");
    }
}
