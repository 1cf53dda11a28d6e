//! `vmlab exec`: one command on many nodes at once, over SSH (the same login as `vmlab ssh`),
//! each line of output handed on as it comes, tagged by node, and each node's exit status
//! collected. Which nodes: named ones, a platform's, or all. Output is streamed as it comes
//! and kept only up to a bound per node (see `engine::lines`), whatever the guest prints.

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::mpsc::UnboundedSender;

use super::LabDir;
use super::state::LabState;
use crate::error::EngineError;
use crate::lines::{self, Collected, Limits};
use crate::node::NodeStatus;

/// Which nodes a command runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Targets {
    Nodes(Vec<String>),
    Platform(String),
    All,
}

/// A line one node printed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Line {
    pub node: String,
    /// `stdout` or `stderr`.
    pub stream: &'static str,
    pub line: String,
}

/// How the command ended on one node.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[schemars(rename = "ExecOutcome")]
pub struct Outcome {
    pub node: String,
    /// The command's exit status (`null` if it never ran: see `error`).
    pub exit_code: Option<i32>,
    /// What it printed, up to 1 MiB each (lines over 64 KiB cut, as each says).
    pub stdout: String,
    pub stderr: String,
    /// Output was left out of `stdout` or `stderr` past that size.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
    pub seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Outcome {
    pub fn ok(&self) -> bool {
        self.exit_code == Some(0)
    }
}

/// The nodes `targets` names, in topology order; an unknown node or platform is an error that
/// lists what there is.
pub fn resolve(state: &LabState, targets: &Targets) -> Result<Vec<String>, EngineError> {
    // The VMs, then the hosts coalesced into them (each reached in its namespace).
    let all: Vec<String> = state
        .node_order
        .iter()
        .cloned()
        .chain(state.virtual_hosts.iter().map(|h| h.name.clone()))
        .collect();
    let platform_of = |n: &str| {
        state
            .nodes
            .get(n)
            .map(|r| r.platform.as_str())
            .or_else(|| state.virtual_host(n).map(|h| h.platform.as_str()))
    };
    match targets {
        Targets::All => Ok(all),
        Targets::Nodes(names) => {
            for n in names {
                if state.virtual_host(n).is_none() {
                    state.node(n)?;
                }
            }
            Ok(all.into_iter().filter(|n| names.contains(n)).collect())
        }
        Targets::Platform(p) => {
            let picked: Vec<String> = all
                .into_iter()
                .filter(|n| platform_of(n) == Some(p.as_str()))
                .collect();
            if picked.is_empty() {
                let mut platforms: Vec<&str> =
                    state.nodes.values().map(|r| r.platform.as_str()).collect();
                platforms.sort();
                platforms.dedup();
                return Err(EngineError::LabState(format!(
                    "no node of lab {} runs platform {p:?} (platforms: {})",
                    state.name,
                    platforms.join(", ")
                )));
            }
            Ok(picked)
        }
    }
}

/// Runs `command` on every node of `nodes` at once; each output line goes to `lines` as it
/// comes. Returns each node's outcome in the order of `nodes`.
pub async fn run(
    lab: &LabDir,
    nodes: &[String],
    command: &[String],
    timeout: Duration,
    lines: &UnboundedSender<Line>,
) -> Result<Vec<Outcome>, EngineError> {
    let state = LabState::load(lab)?;
    let me = std::env::current_exe()
        .map_err(|e| EngineError::io("cannot locate the vmlab binary", e))?;
    let runs = nodes.iter().map(|node| {
        let (state, me) = (&state, &me);
        async move {
            let t0 = Instant::now();
            let r = one(state, node, command, me, timeout, lines).await;
            let seconds = t0.elapsed().as_secs_f64();
            match r {
                Ok((code, stdout, stderr)) => Outcome {
                    node: node.clone(),
                    exit_code: code,
                    truncated: stdout.cut || stderr.cut,
                    stdout: stdout.text,
                    stderr: stderr.text,
                    seconds,
                    error: code.is_none().then(|| "killed by a signal".to_string()),
                },
                Err(e) => Outcome {
                    node: node.clone(),
                    exit_code: None,
                    stdout: String::new(),
                    stderr: String::new(),
                    truncated: false,
                    seconds,
                    error: Some(e),
                },
            }
        }
    });
    Ok(futures::future::join_all(runs).await)
}

async fn one(
    state: &LabState,
    node: &str,
    command: &[String],
    me: &std::path::Path,
    timeout: Duration,
    lines: &UnboundedSender<Line>,
) -> Result<(Option<i32>, Collected, Collected), String> {
    let rec = state
        .node(state.machine_of(node))
        .map_err(|e| e.to_string())?;
    if !matches!(rec.status, NodeStatus::Running | NodeStatus::Remote) {
        return Err(format!("not running: {}", rec.status.label()));
    }
    let cmd = state
        .command_ssh(node, command, me)
        .map_err(|e| e.to_string())?;
    let mut cmd = tokio::process::Command::from(cmd);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|e| format!("cannot run ssh: {e}"))?;
    let pass = |stream: &'static str| {
        move |line: &str| {
            let _ = lines.send(Line {
                node: node.to_string(),
                stream,
                line: line.to_string(),
            });
        }
    };
    let out = lines::collect(child.stdout.take(), Limits::EXEC, pass("stdout"));
    let err = lines::collect(child.stderr.take(), Limits::EXEC, pass("stderr"));
    let done = async {
        let (o, e, status) = tokio::join!(out, err, child.wait());
        (o, e, status)
    };
    match tokio::time::timeout(timeout, done).await {
        Err(_) => Err(format!("no end within {} s", timeout.as_secs())),
        Ok((o, e, status)) => {
            let status = status.map_err(|e| format!("ssh: {e}"))?;
            // ssh's own failure (unreachable, refused login) is not the command's.
            if status.code() == Some(255) {
                return Err(format!(
                    "ssh failed: {}",
                    e.text.lines().last().unwrap_or("no answer").trim()
                ));
            }
            Ok((status.code(), o, e))
        }
    }
}
