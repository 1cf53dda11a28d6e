//! The command line: argument parsing, the commands' output, exit codes. Thin by design —
//! every decision about labs is the engine's or the plan's.

mod deploy;
mod output;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::engine::labs::{self, LabSelector};
use crate::engine::state::LabState;
use crate::engine::{EngineError, destroy, ssh, status};
use crate::plan::Accel;

/// vmlab - VM orchestration for network topologies
#[derive(Debug, Parser)]
#[command(name = "vmlab", version, about, long_about = None)]
#[command(after_help = "Labs live in $VMLAB_HOME/labs/<name> (VMLAB_HOME defaults to ~/.vmlab).")]
pub struct Cli {
    /// Verbose output (repeat for more)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
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
    #[arg(long, value_name = "NAME")]
    pub lab: Option<String>,
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
    /// Print the plan (QEMU command lines, ports) and start nothing
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
            eprintln!("error: cannot start the async runtime: {e}");
            return 1;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
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
        .with_writer(std::io::stderr)
        .try_init();
}

async fn run(cli: Cli) -> Result<i32, EngineError> {
    match cli.command {
        Command::Deploy(args) => deploy::run(args).await,
        Command::Destroy { lab, force } => {
            let (name, dir) = labs::find(&lab.selector(), force)?;
            let report = destroy::destroy(&dir, force).await?;
            for note in &report.left_alone {
                eprintln!("warning: {note}; not signalled");
            }
            println!(
                "destroyed lab {name} ({} VM{} stopped)",
                report.stopped.len(),
                if report.stopped.len() == 1 { "" } else { "s" }
            );
            Ok(0)
        }
        Command::Status { lab, json } => {
            let (_, dir) = labs::find(&lab.selector(), false)?;
            let st = status::snapshot(&dir)?;
            if json {
                let text = serde_json::to_string_pretty(&st).map_err(|e| {
                    EngineError::io("cannot encode status", std::io::Error::other(e))
                })?;
                println!("{text}");
            } else {
                print!("{}", output::status_text(&st));
            }
            Ok(0)
        }
        Command::Ssh { lab, node, command } => {
            let (_, dir) = labs::find(&lab.selector(), false)?;
            let state = LabState::load(&dir)?;
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
            let (_, dir) = labs::find(&lab.selector(), false)?;
            let state = LabState::load(&dir)?;
            let n = state.node(&node)?;
            crate::term::console::attach(n.console_port, &node)
                .await
                .map_err(|e| EngineError::io("console", e))?;
            Ok(0)
        }
        Command::Stop { lab, node } => node_action(&lab, &node, "stop").await,
        Command::Start { lab, node } => node_action(&lab, &node, "start").await,
        Command::Restart { lab, node } => node_action(&lab, &node, "restart").await,
        Command::Tui { lab, accel } => {
            crate::tui::run(crate::tui::TuiOptions {
                selector: lab.selector(),
                accel: accel.wanted(),
            })
            .await
        }
        Command::Labs => {
            let names = labs::list();
            if names.is_empty() {
                println!("no labs deployed");
            }
            for name in names {
                let dir = crate::engine::paths::lab_dir(&name);
                match status::snapshot(&dir) {
                    Ok(st) => {
                        let up = st
                            .nodes
                            .iter()
                            .filter(|n| n.status == crate::engine::state::NodeStatus::Running)
                            .count();
                        println!(
                            "{name}\t{up}/{} running\t{}",
                            st.nodes.len(),
                            st.spec_dir.display()
                        );
                    }
                    Err(e) => println!("{name}\t{e}"),
                }
            }
            Ok(0)
        }
    }
}

/// `stop`, `start` and `restart` of one node, with boot progress on stderr.
async fn node_action(lab: &LabArgs, node: &str, what: &str) -> Result<i32, EngineError> {
    let (_, dir) = labs::find(&lab.selector(), false)?;
    let (sink, mut rx) = crate::engine::EventSink::channel();
    let printer = tokio::spawn(async move {
        while let Some(e) = rx.recv().await {
            eprintln!("{}", e.describe());
        }
    });
    use crate::engine::lifecycle;
    let r = match what {
        "stop" => lifecycle::stop_node(&dir, node, &sink).await,
        "start" => lifecycle::start_node(&dir, node, &sink).await,
        _ => lifecycle::restart_node(&dir, node, &sink).await,
    };
    drop(sink);
    let _ = printer.await;
    r.map(|_| 0)
}
