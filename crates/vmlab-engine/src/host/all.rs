//! One command for every host of a multi-host lab: `deploy`, `destroy` and `status` with
//! `--all-hosts`.
//!
//! Deploy goes in three rounds, each across all hosts at once: copy the spec (and the lab key)
//! to every other host; check every host (a `check` call there: images, ports, addresses) and
//! stop before anything starts if one has a problem, naming the host; then deploy every host
//! (a `deploy` call), with each host's progress streamed as events tagged by host. Other
//! hosts are called in typed messages ([`super::call`]), never through the CLI's words. This machine's host takes part in this process, without SSH. If a
//! host fails (or the command is cancelled), the hosts that did deploy are destroyed again
//! unless the caller keeps them: nothing half-deployed stays behind. Only what this run started
//! is rolled back: a host whose part ran already (checked there to be the same lab: the same
//! machines, the same key) keeps it. A cancelled remote deploy notices its ssh going away
//! (its stdin ends) and rolls itself back. Destroy touches only this multi-host lab's
//! parts (`--host` on each host): a lab of the same name that is not, is left alone and named.

use std::process::Stdio;
use std::time::Duration;

use serde::Serialize;
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

use super::call::{self, Call, Reply};
use super::{HostTarget, remote, transfer};
use crate::error::{EngineError, HostFailure};
use crate::events::{Event, EventSink, count};
use crate::lab::deploy::{self, DeployOptions, Prepared};
use crate::lab::profiles;
use crate::lab::status::{self, LabStatus};
use crate::lab::{LabDir, destroy, key};
use crate::lines;
use crate::plan::{self, Accel};
use crate::spec::{Lab, LabName};

/// How `deploy --all-hosts` deploys.
#[derive(Debug, Clone, Default)]
pub struct AllOptions {
    pub accel: Option<Accel>,
    pub force: bool,
    pub keep_on_failure: bool,
}

/// What a remote vmlab run gave back.
#[derive(Debug, Clone, Default)]
struct Output {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Output {
    fn ok(&self) -> bool {
        self.code == Some(0)
    }

    /// Why it failed, for a person: what ssh's status means, else what the command said last.
    fn reason(&self, host: &HostTarget) -> String {
        if let Some(r) = remote::explain_exit(&host.name, host.addr, self.code) {
            return r;
        }
        let said: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        let tail = &said[said.len().saturating_sub(20)..];
        if tail.is_empty() {
            format!("vmlab exited with {:?}", self.code)
        } else {
            tail.join("\n")
        }
    }
}

/// Starts `vmlab <args>` on `host` over SSH, its three streams piped (ssh killed when the
/// child is dropped), and writes `input` to it; its stdin comes back still open only with
/// `hold_stdin` (a host that refuses the input early is reported by its exit status).
async fn start_remote(
    host: &HostTarget,
    args: &[String],
    input: &[u8],
    hold_stdin: bool,
) -> std::io::Result<(tokio::process::Child, Option<tokio::process::ChildStdin>)> {
    let mut cmd = tokio::process::Command::from(remote::vmlab_on(host.addr, args, false));
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn()?;
    let mut stdin = child.stdin.take();
    if let Some(w) = stdin.as_mut().filter(|_| !input.is_empty()) {
        let _ = w.write_all(input).await;
    }
    Ok((child, stdin.filter(|_| hold_stdin)))
}

/// What passes each of `host`'s output lines to `events` (when given) as that host's.
fn teller<'a>(host: &'a str, events: Option<&'a EventSink>) -> impl Fn(&str) + Copy + 'a {
    move |line: &str| {
        if let Some(ev) = events {
            ev.send(Event::Host {
                host: host.to_string(),
                line: line.to_string(),
            });
        }
    }
}

/// Runs `vmlab <args>` on `host` over SSH, feeding it `input` then (with `hold_stdin`)
/// keeping its stdin open until it ends; each output line goes to `events` when given.
/// Cancelling kills ssh (the remote command sees its stdin end).
async fn run_remote(
    host: &HostTarget,
    args: &[String],
    input: Option<&[u8]>,
    hold_stdin: bool,
    events: Option<&EventSink>,
    cancel: &CancellationToken,
) -> Result<Output, EngineError> {
    let (mut child, stdin) = start_remote(host, args, input.unwrap_or_default(), hold_stdin)
        .await
        .map_err(|e| EngineError::io("cannot run ssh (install openssh-client)", e))?;
    let tell = teller(&host.name, events);
    let out_task = lines::collect(child.stdout.take(), lines::Limits::HOST, tell);
    let err_task = lines::collect(child.stderr.take(), lines::Limits::HOST, tell);
    let waited = async {
        let (stdout, stderr, status) = tokio::join!(out_task, err_task, child.wait());
        (stdout, stderr, status)
    };
    tokio::select! {
        biased;
        _ = cancel.cancelled() => {
            drop(stdin);
            Err(EngineError::Interrupted)
        }
        (stdout, stderr, status) = waited => {
            drop(stdin);
            let status = status.map_err(|e| EngineError::io("ssh", e))?;
            Ok(Output { code: status.code(), stdout: stdout.text, stderr: stderr.text })
        }
    }
}

/// Makes `call` of `host`'s vmlab (`vmlab host-call` over SSH), keeping its stdin open until
/// it answers when `hold_stdin` (a deploy there rolls back if this side goes away). Each
/// progress line goes to `events` as the host's; the reply that ends the answer, or why there
/// is none (SSH, another vmlab version, an answer cut short).
async fn call_remote(
    host: &HostTarget,
    call: &Call,
    hold_stdin: bool,
    events: Option<&EventSink>,
    cancel: &CancellationToken,
) -> Result<Reply, String> {
    let args = [call::SUBCOMMAND.to_string()];
    let request = call::request_line(call);
    let (mut child, stdin) = start_remote(host, &args, request.as_bytes(), hold_stdin)
        .await
        .map_err(|e| format!("cannot run ssh (install openssh-client): {e}"))?;
    let tell = teller(&host.name, events);
    let mut end: Option<Reply> = None;
    let mut unreadable: Option<String> = None;
    let out_task =
        lines::collect(
            child.stdout.take(),
            lines::Limits::HOST,
            |l| match serde_json::from_str::<Reply>(l) {
                Ok(Reply::Line { text }) => tell(&text),
                Ok(r) => end = Some(r),
                Err(_) if l.trim().is_empty() => {}
                Err(e) => unreadable = Some(format!("{e}: {l}")),
            },
        );
    let err_task = lines::collect(child.stderr.take(), lines::Limits::HOST, tell);
    let waited = async { tokio::join!(out_task, err_task, child.wait()) };
    let (_, stderr, status) = tokio::select! {
        biased;
        _ = cancel.cancelled() => {
            drop(stdin);
            return Err(EngineError::Interrupted.to_string());
        }
        r = waited => r,
    };
    drop(stdin);
    let code = status.map_err(|e| format!("ssh: {e}"))?.code();
    if let Some(r) = end {
        return Ok(r);
    }
    if let Some(why) = remote::explain_exit(&host.name, host.addr, code) {
        return Err(why);
    }
    if stderr.text.contains(call::SUBCOMMAND) {
        return Err(format!(
            "host {} ({}) runs a vmlab that does not answer host calls v{} (another version): \
             install the same vmlab on every host",
            host.name,
            host.addr,
            call::VERSION
        ));
    }
    let said: Vec<&str> = stderr
        .text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    Err(match unreadable {
        Some(u) => format!("an answer this vmlab cannot read ({u})"),
        None if said.is_empty() => format!("vmlab ended ({code:?}) without an answer"),
        None => said[said.len().saturating_sub(20)..].join("\n"),
    })
}

/// Forwards a local host's engine events as host lines.
fn host_sink(host: &str, events: &EventSink) -> (EventSink, tokio::task::JoinHandle<()>) {
    let (sink, mut rx) = EventSink::channel();
    let (events, host) = (events.clone(), host.to_string());
    let task = tokio::spawn(async move {
        while let Some(e) = rx.recv().await {
            events.send(Event::Host {
                host: host.clone(),
                line: e.describe(),
            });
        }
    });
    (sink, task)
}

/// `vmlab deploy --all-hosts`: the module doc's three rounds. Returns each host's node count.
pub async fn deploy_all(
    lab: &Lab,
    hosts: &[HostTarget],
    opts: &AllOptions,
    events: &EventSink,
    cancel: &CancellationToken,
) -> Result<Vec<(String, usize)>, EngineError> {
    // The key first, so that every host gets the same one with the spec: decided from every
    // link of the lab, not from one host's view (the first host may have none between hosts).
    let plan = plan::placement(lab, LabDir::of(lab.name.clone()).path().to_path_buf())
        .map_err(|e| EngineError::Invalid(crate::spec::SpecErrors(e)))?;
    if plan.cross_host_keyed && links_between_hosts(lab) {
        key::ensure(&lab.spec_dir, false)?;
    }
    let remote_hosts: Vec<&HostTarget> = hosts.iter().filter(|h| !h.local).collect();
    let spec_at = copy_spec(lab, &remote_hosts, events, cancel).await?;
    check_every_host(lab, hosts, &spec_at, opts, events, cancel).await?;
    deploy_every_host(lab, hosts, &spec_at, opts, events, cancel).await?;
    // The origin's profiles learn where every node is (each host patched its own copy).
    for n in plan.nodes.iter() {
        let here = hosts
            .iter()
            .any(|h| h.local && n.host.as_deref() == Some(h.name.as_str()));
        if here || !plan.patch_profiles {
            continue;
        }
        profiles::patch_node(&plan.spec_dir, n, events);
    }
    Ok(hosts
        .iter()
        .map(|h| {
            let count = plan
                .nodes
                .iter()
                .filter(|n| n.host.as_deref() == Some(h.name.as_str()))
                .count();
            (h.name.clone(), count)
        })
        .collect())
}

/// Step 1: the spec to every other host; where each keeps it.
async fn copy_spec(
    lab: &Lab,
    remote_hosts: &[&HostTarget],
    events: &EventSink,
    cancel: &CancellationToken,
) -> Result<std::collections::HashMap<String, String>, EngineError> {
    if !remote_hosts.is_empty() {
        events.send(Event::Step(format!(
            "copying the spec to {}",
            names(remote_hosts)
        )));
    }
    let platforms: Vec<(String, std::path::PathBuf)> = match &lab.registry {
        Some(r) => {
            let mut used: Vec<&str> = lab.nodes.iter().map(|n| n.platform.as_str()).collect();
            used.sort_unstable();
            used.dedup();
            used.iter()
                .map(|p| (p.to_string(), r.join(format!("{p}.json"))))
                .collect()
        }
        None => Vec::new(),
    };
    let bundle = transfer::pack(&lab.spec_dir, &platforms)?;
    let receive = [
        "spec-receive".to_string(),
        "--lab".into(),
        lab.name.to_string(),
    ];
    let copies = futures::future::join_all(remote_hosts.iter().map(|h| {
        let (receive, bundle) = (&receive, &bundle);
        async move {
            let out = run_remote(h, receive, Some(bundle), false, None, cancel).await?;
            if !out.ok() {
                return Ok(Err(HostFailure {
                    host: h.name.clone(),
                    reason: format!("cannot copy the spec: {}", out.reason(h)),
                }));
            }
            let path = out
                .stdout
                .lines()
                .last()
                .unwrap_or_default()
                .trim()
                .to_string();
            Ok::<_, EngineError>(Ok((h.name.clone(), path)))
        }
    }))
    .await;
    let mut spec_at = std::collections::HashMap::new();
    let mut failures = Vec::new();
    for c in copies {
        match c? {
            Ok((h, p)) => {
                spec_at.insert(h, p);
            }
            Err(f) => failures.push(f),
        }
    }
    if !failures.is_empty() {
        return Err(EngineError::Hosts(failures));
    }
    Ok(spec_at)
}

/// Step 2: every host checked before any starts (images, ports, addresses).
async fn check_every_host(
    lab: &Lab,
    hosts: &[HostTarget],
    spec_at: &std::collections::HashMap<String, String>,
    opts: &AllOptions,
    events: &EventSink,
    cancel: &CancellationToken,
) -> Result<(), EngineError> {
    events.send(Event::Step(format!(
        "checking {} (images, ports, addresses)",
        count(hosts.len(), "host")
    )));
    let checks = futures::future::join_all(hosts.iter().map(|h| {
        let spec = spec_at.get(&h.name).cloned().unwrap_or_default();
        async move {
            if h.local {
                return match deploy::dry_run(lab, opts.accel, Some(h.name.clone())).await {
                    Ok((_, p)) if p.is_empty() => Ok(None),
                    Ok((_, p)) => Ok(Some(HostFailure {
                        host: h.name.clone(),
                        reason: p.to_string(),
                    })),
                    Err(e) => Ok(Some(HostFailure {
                        host: h.name.clone(),
                        reason: e.to_string(),
                    })),
                };
            }
            let check = Call::Check {
                spec: spec.into(),
                host: h.name.clone(),
                accel: opts.accel,
            };
            let reason = match call_remote(h, &check, false, None, cancel).await {
                Ok(Reply::Checked { problems: None }) => None,
                Ok(Reply::Checked { problems: Some(p) }) => Some(p),
                Ok(Reply::Failed { reason }) => Some(reason),
                Ok(other) => Some(format!("an answer to another call: {other:?}")),
                Err(_) if cancel.is_cancelled() => return Err(EngineError::Interrupted),
                Err(e) => Some(e),
            };
            Ok::<_, EngineError>(reason.map(|reason| HostFailure {
                host: h.name.clone(),
                reason,
            }))
        }
    }))
    .await;
    let mut failures = Vec::new();
    for c in checks {
        if let Some(f) = c? {
            failures.push(f);
        }
    }
    if !failures.is_empty() {
        return Err(EngineError::Hosts(failures));
    }
    Ok(())
}

/// Step 3: every host deploys; when one fails (or the run is interrupted), the parts this
/// run started are destroyed again.
async fn deploy_every_host(
    lab: &Lab,
    hosts: &[HostTarget],
    spec_at: &std::collections::HashMap<String, String>,
    opts: &AllOptions,
    events: &EventSink,
    cancel: &CancellationToken,
) -> Result<(), EngineError> {
    events.send(Event::Step(format!(
        "deploying {}",
        count(hosts.len(), "host")
    )));
    let runs = futures::future::join_all(hosts.iter().map(|h| {
        let spec = spec_at.get(&h.name).cloned().unwrap_or_default();
        async move {
            let r = if h.local {
                deploy_here(lab, h, opts, events, cancel).await
            } else {
                let call = Call::Deploy {
                    spec: spec.into(),
                    host: h.name.clone(),
                    accel: opts.accel,
                    force: opts.force,
                    keep_on_failure: opts.keep_on_failure,
                };
                match call_remote(h, &call, true, Some(events), cancel).await {
                    Ok(Reply::Deployed { already_running }) => Ok(if already_running {
                        HostPart::AlreadyRunning
                    } else {
                        HostPart::Started
                    }),
                    Ok(Reply::Failed { reason }) => Err(reason),
                    Ok(other) => Err(format!("an answer to another call: {other:?}")),
                    Err(e) => Err(e),
                }
            };
            (h, r)
        }
    }))
    .await;
    // Only the parts this run started are its to take down again; a host whose part ran
    // already keeps it, whatever happens elsewhere.
    let (mut done, mut failures) = (Vec::new(), Vec::new());
    for (h, r) in runs {
        match r {
            Ok(HostPart::Started) => done.push(h),
            Ok(HostPart::AlreadyRunning) => {}
            Err(reason) => failures.push(HostFailure {
                host: h.name.clone(),
                reason,
            }),
        }
    }
    if !failures.is_empty() || cancel.is_cancelled() {
        if opts.keep_on_failure {
            events.send(Event::Warning(format!(
                "leaving {} deployed (--keep-on-failure)",
                if done.is_empty() {
                    "nothing".to_string()
                } else {
                    names(&done)
                }
            )));
        } else if !done.is_empty() {
            events.send(Event::Step(format!(
                "destroying the lab again on {}",
                names(&done)
            )));
            let never = CancellationToken::new();
            for f in destroy_on(&lab.name, &done, events, &never).await {
                events.send(Event::Warning(format!(
                    "{}: cleanup failed: {}",
                    f.host, f.reason
                )));
            }
        }
        if cancel.is_cancelled() {
            return Err(EngineError::Interrupted);
        }
        return Err(EngineError::Hosts(failures));
    }
    Ok(())
}

/// This machine's part of a deploy, in this process.
async fn deploy_here(
    lab: &Lab,
    h: &HostTarget,
    opts: &AllOptions,
    events: &EventSink,
    cancel: &CancellationToken,
) -> Result<HostPart, String> {
    let (sink, forward) = host_sink(&h.name, events);
    let r = async {
        let d = deploy::prepare(
            lab,
            DeployOptions {
                accel: opts.accel,
                force: opts.force,
                keep_on_failure: opts.keep_on_failure,
                host: Some(h.name.clone()),
            },
            &sink,
        )
        .await?;
        match d {
            Prepared::AlreadyRunning(_) => {
                sink.send(Event::Step(
                    "already running; nothing changed (use --force to redeploy)".into(),
                ));
                Ok(HostPart::AlreadyRunning)
            }
            Prepared::Ready(d) => d.run(&sink, cancel).await.map(|_| HostPart::Started),
        }
    }
    .await;
    drop(sink);
    let _ = forward.await;
    r.map_err(|e: EngineError| e.to_string())
}

/// What a host's deploy did: only a part this run started is this run's to roll back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HostPart {
    Started,
    /// The host's part ran already (and is the same lab: the host checked).
    AlreadyRunning,
}

/// Does any link of the lab join nodes on two hosts?
fn links_between_hosts(lab: &Lab) -> bool {
    let host = |node: &str| {
        lab.nodes
            .iter()
            .find(|n| n.name == node)
            .and_then(|n| n.host.as_deref())
    };
    lab.links.iter().any(|l| host(&l.a.node) != host(&l.z.node))
}

fn names(hosts: &[&HostTarget]) -> String {
    hosts
        .iter()
        .map(|h| h.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `vmlab destroy --all-hosts`: destroys the lab on every host (where it is deployed).
pub async fn destroy_all(
    lab: &LabName,
    hosts: &[HostTarget],
    events: &EventSink,
) -> Result<(), EngineError> {
    let all: Vec<&HostTarget> = hosts.iter().collect();
    let never = CancellationToken::new();
    let failures = destroy_on(lab, &all, events, &never).await;
    if failures.is_empty() {
        Ok(())
    } else {
        Err(EngineError::Hosts(failures))
    }
}

async fn destroy_on(
    lab: &LabName,
    hosts: &[&HostTarget],
    events: &EventSink,
    cancel: &CancellationToken,
) -> Vec<HostFailure> {
    let runs = futures::future::join_all(hosts.iter().map(|h| async move {
        let done = if h.local {
            let (sink, forward) = host_sink(&h.name, events);
            let r = destroy::destroy_part(lab, &h.name, &sink).await;
            drop(sink);
            let _ = forward.await;
            r
        } else {
            let call = Call::Destroy {
                lab: lab.clone(),
                host: h.name.clone(),
            };
            match call_remote(h, &call, false, Some(events), cancel).await {
                Ok(Reply::Destroyed { said }) => Ok(said),
                Ok(Reply::Failed { reason }) => Err(reason),
                Ok(other) => Err(format!("an answer to another call: {other:?}")),
                Err(e) => Err(e),
            }
        };
        match done {
            Ok(said) => {
                events.send(Event::Host {
                    host: h.name.clone(),
                    line: said,
                });
                None
            }
            Err(reason) => Some(HostFailure {
                host: h.name.clone(),
                reason,
            }),
        }
    }))
    .await;
    runs.into_iter().flatten().collect()
}

/// One host's view in `vmlab status --all-hosts`.
#[derive(Debug, Clone, Serialize)]
pub struct HostView {
    pub host: String,
    pub address: String,
    /// The lab as that host sees it (its own nodes live, the others remote).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<LabStatus>,
    /// Why it could not be asked, or that the lab is not deployed there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `vmlab status --all-hosts`: every host's status of the lab, asked at once.
pub async fn status_all(lab: &LabName, hosts: &[HostTarget]) -> Vec<HostView> {
    let never = CancellationToken::new();
    futures::future::join_all(hosts.iter().map(|h| {
        let never = &never;
        async move {
            let (status, error) = if h.local {
                match status::snapshot(&LabDir::of(lab.clone())) {
                    Ok(s) => (Some(s), None),
                    Err(e) => (None, Some(e.to_string())),
                }
            } else {
                let call = Call::Status { lab: lab.clone() };
                let asked = tokio::time::timeout(
                    Duration::from_secs(30),
                    call_remote(h, &call, false, None, never),
                )
                .await;
                match asked {
                    Ok(Ok(Reply::Status { status })) => (Some(*status), None),
                    Ok(Ok(Reply::Failed { reason })) => (None, Some(reason)),
                    Ok(Ok(other)) => (None, Some(format!("an answer to another call: {other:?}"))),
                    Ok(Err(e)) => (None, Some(e)),
                    Err(_) => (None, Some("no answer within 30 s".into())),
                }
            };
            HostView {
                host: h.name.clone(),
                address: h.addr.to_string(),
                status,
                error,
            }
        }
    }))
    .await
}
