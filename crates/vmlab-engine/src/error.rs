//! Engine errors, typed all the way to the edge: each kind maps to the exit code the CLI
//! returns (README, "Exit codes").

use std::path::PathBuf;

use crate::spec::SpecErrors;

/// Why an engine operation failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The spec (or the machine it would run on) has problems; nothing was started.
    #[error("{0}")]
    Invalid(SpecErrors),
    /// A command was asked for something that cannot be (its arguments, not the spec): what
    /// was wrong and how to ask instead.
    #[error("{what} ({fix})")]
    Usage { what: String, fix: String },
    /// No lab matches, or several do and none was named.
    #[error("{0}")]
    LabNotFound(String),
    /// The lab is in a state the command cannot work with.
    #[error("{0}")]
    LabState(String),
    /// Another command is changing the lab.
    #[error("lab {lab} is busy: {holder} is changing it; try again when it has finished")]
    LabBusy { lab: String, holder: String },
    /// A directory that vmlab did not create: it is never removed.
    #[error("{path} is not a lab directory vmlab created (no state file, no marker); not removed")]
    NotALab { path: PathBuf },
    /// A node does not exist in the lab.
    #[error("lab {lab} has no node {node:?} (nodes: {known})")]
    NoSuchNode {
        lab: String,
        node: String,
        known: String,
    },
    /// One or more nodes failed to launch or boot.
    #[error("{}", boot_failures(.0))]
    BootFailed(Vec<NodeFailure>),
    /// A required program is missing.
    #[error("{program} not found: {fix}")]
    MissingProgram { program: String, fix: String },
    /// A multi-host command failed on one or more hosts (each with what it said).
    #[error("{}", host_failures(.0))]
    Hosts(Vec<HostFailure>),
    /// `vmlab exec`: the command failed (or could not run) on these nodes.
    #[error("the command failed on {}", .0.join(", "))]
    ExecFailed(Vec<String>),
    /// `vmlab validate`: checks failed or could not run.
    #[error("{0}")]
    ChecksFailed(String),
    /// No checks file where one was looked for.
    #[error(
        "there is no checks file at {}; write validate.json beside the spec ({{\"checks\": [...]}}, see README), or pass --file <path>",
        path.display()
    )]
    NoChecks { path: PathBuf },
    /// `vmlab doctor` found something that blocks a deploy.
    #[error("{0}")]
    Blocked(String),
    /// The operation was cancelled (Ctrl-C, SIGTERM, SIGHUP, or the TUI quitting); what it
    /// had started was stopped.
    #[error("interrupted; what was started has been stopped")]
    Interrupted,
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

/// A node that did not come up, with what its console said last.
#[derive(Debug, Clone)]
pub struct NodeFailure {
    pub node: String,
    pub reason: String,
    pub console_log: PathBuf,
    pub console_tail: Vec<String>,
}

/// What went wrong on one host of a multi-host command.
#[derive(Debug, Clone)]
pub struct HostFailure {
    pub host: String,
    pub reason: String,
}

fn host_failures(f: &[HostFailure]) -> String {
    let mut s = format!(
        "{} host{} failed:",
        f.len(),
        if f.len() == 1 { "" } else { "s" }
    );
    for h in f {
        for (i, line) in h.reason.lines().enumerate() {
            if i == 0 {
                s.push_str(&format!("\n  {}: {line}", h.host));
            } else {
                s.push_str(&format!("\n  {}  {line}", " ".repeat(h.host.len())));
            }
        }
    }
    s
}

fn boot_failures(f: &[NodeFailure]) -> String {
    let mut s = format!(
        "{} node{} did not come up:",
        f.len(),
        if f.len() == 1 { "" } else { "s" }
    );
    for n in f {
        s.push_str(&format!("\n  {}: {}", n.node, n.reason));
        if !n.console_tail.is_empty() {
            s.push_str(&format!(
                "\n    last console lines ({}):",
                n.console_log.display()
            ));
            for l in &n.console_tail {
                s.push_str(&format!("\n    | {l}"));
            }
        }
    }
    s
}

impl EngineError {
    /// Wraps an I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        EngineError::Io {
            context: context.into(),
            source,
        }
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            EngineError::Invalid(_) | EngineError::Usage { .. } => 2,
            EngineError::LabNotFound(_)
            | EngineError::NoSuchNode { .. }
            | EngineError::LabState(_)
            | EngineError::LabBusy { .. }
            | EngineError::NotALab { .. }
            | EngineError::NoChecks { .. } => 3,
            EngineError::BootFailed(_) => 4,
            EngineError::MissingProgram { .. } => 5,
            EngineError::Hosts(_) => 6,
            EngineError::ExecFailed(_) => 7,
            EngineError::Blocked(_) => 8,
            EngineError::ChecksFailed(_) => 9,
            EngineError::Interrupted => 130,
            EngineError::Io { .. } => 1,
        }
    }
}

impl From<SpecErrors> for EngineError {
    fn from(e: SpecErrors) -> Self {
        EngineError::Invalid(e)
    }
}

impl From<crate::spec::SpecError> for EngineError {
    fn from(e: crate::spec::SpecError) -> Self {
        EngineError::Invalid(e.into())
    }
}
