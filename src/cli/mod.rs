//! The command line: argument parsing, the commands' output, exit codes. Thin by design —
//! every decision about labs is the engine's or the plan's. Names typed by the user are checked
//! here, at the edge, before anything else sees them.

mod deploy;
mod output;
mod say;
mod signals;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::engine::lab::find::{self, LabSelector};
use crate::engine::lab::lifecycle::{self, NodeOp};
use crate::engine::lab::state::LabState;
use crate::engine::lab::{LabDir, destroy, status};
use crate::engine::{EngineError, NodeStatus, ssh};
use crate::plan::Accel;
use crate::spec::LabName;
use say::{say, tell};

/// vmlab - VM orchestration for network topologies
#[derive(Debug, Parser)]
#[command(name = "vmlab", version, about, long_about = None)]
#[command(after_help = "Labs live in $VMLAB_HOME/labs/<name> (VMLAB_HOME defaults to ~/.vmlab).")]
pub struct Cli {
    /// Say what vmlab does: -v each QEMU launched (with its command line), each signal sent
    /// and why, each state change; -vv more
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

/// A lab name typed by the user, checked before it is used.
fn lab_name(s: &str) -> Result<LabName, String> {
    LabName::parse(s).map_err(|why| format!("the lab name {s:?} {why}"))
}

/// Which lab a command works on.
#[derive(Debug, Clone, Args)]
pub struct LabArgs {
    /// Spec directory of the lab
    #[arg(
        short = 'S',
        long = "specs",
        value_name = "DIR",
        conflicts_with = "lab"
    )]
    pub specs: Option<PathBuf>,
    /// Name of a deployed lab
    #[arg(long, value_name = "NAME", value_parser = lab_name)]
    pub lab: Option<LabName>,
}

impl LabArgs {
    fn selector(&self) -> LabSelector {
        match (&self.specs, &self.lab) {
            (Some(d), _) => LabSelector::SpecDir(d.clone()),
            (None, Some(n)) => LabSelector::Name(n.clone()),
            (None, None) => LabSelector::Only,
        }
    }
}

/// `--accel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AccelArg {
    /// KVM when a real probe shows it works, else TCG with a warning
    Auto,
    Kvm,
    Tcg,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Deploy VMs from topology.json
    Deploy(DeployArgs),
    /// Stop and remove all VMs of a lab
    Destroy {
        #[command(flatten)]
        lab: LabArgs,
        /// Clean up a lab whose state is missing or inconsistent
        #[arg(long)]
        force: bool,
    },
    /// Show VM and link status
    Status {
        #[command(flatten)]
        lab: LabArgs,
        /// Print JSON (schema in README)
        #[arg(long)]
        json: bool,
    },
    /// SSH to a VM (with a command: run it and exit with its status)
    Ssh {
        #[command(flatten)]
        lab: LabArgs,
        /// Node name
        node: String,
        /// Command to run instead of a shell
        #[arg(last = true)]
        command: Vec<String>,
    },
    /// Attach to a VM's serial console (Ctrl-] detaches)
    Console {
        #[command(flatten)]
        lab: LabArgs,
        /// Node name
        node: String,
    },
    /// Stop a VM (its disk is kept)
    Stop {
        #[command(flatten)]
        lab: LabArgs,
        node: String,
    },
    /// Start a stopped VM and wait until it is ready
    Start {
        #[command(flatten)]
        lab: LabArgs,
        node: String,
    },
    /// Stop then start a VM
    Restart {
        #[command(flatten)]
        lab: LabArgs,
        node: String,
    },
    /// Interactive dashboard with console and SSH tabs (deploys the lab first with -S)
    Tui {
        #[command(flatten)]
        lab: LabArgs,
        /// Accelerator, when the TUI deploys the lab
        #[arg(long, value_enum, default_value = "auto", env = "VMLAB_ACCEL")]
        accel: AccelArg,
    },
    /// List deployed labs
    Labs,
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// Spec directory (topology.json, platforms.json, profiles/)
    #[arg(short = 'S', long = "specs", value_name = "DIR")]
    pub specs: PathBuf,
    /// Redeploy a lab that is already deployed
    #[arg(long)]
    pub force: bool,
    /// Print the plan (QEMU command lines, ports), run the preflight checks, start nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Accelerator
    #[arg(long, value_enum, default_value = "auto", env = "VMLAB_ACCEL")]
    pub accel: AccelArg,
    /// Leave the VMs running when a node fails to boot (for debugging)
    #[arg(long)]
    pub keep_on_failure: bool,
}

impl AccelArg {
    fn wanted(self) -> Option<Accel> {
        match self {
            AccelArg::Auto => None,
            AccelArg::Kvm => Some(Accel::Kvm),
            AccelArg::Tcg => Some(Accel::Tcg),
        }
    }
}

/// Runs vmlab with the process's arguments; returns the exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    init_tracing(cli.verbose);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tell(&format!("error: cannot start the async runtime: {e}"));
            return 1;
        }
    };
    rt.block_on(async {
        // For commands that start VMs, Ctrl-C, SIGTERM and SIGHUP cancel what runs; it stops
        // what it started, and vmlab exits 128 + the signal's number. (The TUI handles its own.)
        let interrupts = match cli.command {
            Command::Deploy(_) | Command::Start { .. } | Command::Restart { .. } => {
                signals::Interrupts::install()
            }
            _ => signals::Interrupts::none(),
        };
        let result = run(cli, &interrupts).await;
        match result {
            Ok(code) => code,
            Err(e) => {
                tell(&format!("error: {e}"));
                match (&e, interrupts.signal()) {
                    (EngineError::Interrupted, Some(sig)) => 128 + sig,
                    _ => e.exit_code(),
                }
            }
        }
    })
}

fn init_tracing(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("VMLAB_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("vmlab={level}")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr)
        .try_init();
}

async fn run(cli: Cli, interrupts: &signals::Interrupts) -> Result<i32, EngineError> {
    match cli.command {
        Command::Deploy(args) => deploy::run(args, interrupts).await,
        Command::Destroy { lab, force } => {
            let lab = find::find(&lab.selector(), force)?;
            let (notes, printer) = say::printing_sink();
            let report = destroy::destroy(&lab, force, &notes).await;
            drop(notes);
            let _ = printer.await;
            let report = report?;
            for note in &report.left_alone {
                tell(&format!("warning: {note}; not signalled"));
            }
            say(&format!(
                "destroyed lab {} ({} VM{} stopped)",
                lab.name(),
                report.stopped.len(),
                if report.stopped.len() == 1 { "" } else { "s" }
            ));
            Ok(0)
        }
        Command::Status { lab, json } => {
            let lab = find::find(&lab.selector(), false)?;
            let st = status::snapshot(&lab)?;
            if json {
                let text = serde_json::to_string_pretty(&st).map_err(|e| {
                    EngineError::io("cannot encode status", std::io::Error::other(e))
                })?;
                say(&text);
            } else {
                say(output::status_text(&st).trim_end());
            }
            Ok(0)
        }
        Command::Ssh { lab, node, command } => {
            let lab = find::find(&lab.selector(), false)?;
            let state = LabState::load(&lab)?;
            let me = std::env::current_exe()
                .map_err(|e| EngineError::io("cannot locate the vmlab binary", e))?;
            let mut cmd = ssh::ssh_command(&state, &node, &command, &me)?;
            use std::os::unix::process::CommandExt;
            // exec: the terminal, signals and the exit status all pass straight through.
            let err = cmd.exec();
            Err(EngineError::io(
                "cannot run ssh (install openssh-client)",
                err,
            ))
        }
        Command::Console { lab, node } => {
            let lab = find::find(&lab.selector(), false)?;
            let state = LabState::load(&lab)?;
            let n = state.node(&node)?;
            crate::term::console::attach(n.console_port, &node)
                .await
                .map_err(|e| EngineError::io("console", e))?;
            Ok(0)
        }
        Command::Stop { lab, node } => node_action(&lab, &node, NodeOp::Stop, interrupts).await,
        Command::Start { lab, node } => node_action(&lab, &node, NodeOp::Start, interrupts).await,
        Command::Restart { lab, node } => {
            node_action(&lab, &node, NodeOp::Restart, interrupts).await
        }
        Command::Tui { lab, accel } => {
            crate::tui::run(crate::tui::TuiOptions {
                selector: lab.selector(),
                accel: accel.wanted(),
            })
            .await
        }
        Command::Labs => labs(),
    }
}

/// `vmlab labs`: one line per lab on stdout; a lab whose state cannot be read is reported on
/// stderr, and then the exit code is 3.
fn labs() -> Result<i32, EngineError> {
    let names = find::list();
    if names.is_empty() {
        say("no labs deployed");
    }
    let mut damaged = 0;
    for name in names {
        match status::snapshot(&LabDir::of(name.clone())) {
            Ok(st) => {
                let up = st
                    .nodes
                    .iter()
                    .filter(|n| n.status == NodeStatus::Running)
                    .count();
                say(&format!(
                    "{name}\t{up}/{} running\t{}",
                    st.nodes.len(),
                    st.spec_dir.display()
                ));
            }
            Err(e) => {
                damaged += 1;
                tell(&format!("error: lab {name}: {e}"));
            }
        }
    }
    Ok(if damaged > 0 { 3 } else { 0 })
}

/// `stop`, `start` and `restart` of one node, with boot progress on stderr.
async fn node_action(
    lab: &LabArgs,
    node: &str,
    op: NodeOp,
    interrupts: &signals::Interrupts,
) -> Result<i32, EngineError> {
    let lab = find::find(&lab.selector(), false)?;
    let (sink, printer) = say::printing_sink();
    let r = lifecycle::run(&lab, node, op, &sink, interrupts.token()).await;
    drop(sink);
    let _ = printer.await;
    r.map(|_| 0)
}
