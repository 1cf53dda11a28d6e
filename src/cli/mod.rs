//! The command line: argument parsing, the commands' output, exit codes. Thin by design —
//! every decision about labs is the engine's or the plan's. Names typed by the user are checked
//! here, at the edge, before anything else sees them.

mod deploy;
mod output;
mod say;
mod signals;
mod tools;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::engine::lab::find::{self, LabSelector};
use crate::engine::lab::lifecycle::{self, NodeOp};
use crate::engine::lab::links::{self, LinkChange};
use crate::engine::lab::repair;
use crate::engine::lab::snapshot;
use crate::engine::lab::state::LabState;
use crate::engine::lab::{LabDir, destroy, status};
use crate::engine::{EngineError, NodeStatus};
use crate::plan::Accel;
use crate::spec::LabName;
use crate::spec::impair::Directions;
use say::{say, say_json, tell};

/// vmlab - VM orchestration for network topologies
#[derive(Debug, Parser)]
#[command(name = "vmlab", version, about, long_about = None)]
#[command(after_help = "Labs live in $VMLAB_HOME/labs/<name> (VMLAB_HOME defaults to ~/.vmlab).")]
pub struct Cli {
    /// Say what vmlab does: -v each QEMU launched (with its command line), each signal sent
    /// and why, each state change; -vv more
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Say only warnings and errors: no progress (data on stdout is still printed)
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// A lab name typed by the user, checked before it is used.
fn lab_name(s: &str) -> Result<LabName, String> {
    LabName::parse(s).map_err(|why| format!("the lab name {s:?} {why}"))
}

/// Which lab a command works on. Global, so that a command with subcommands (`link`) takes
/// it after the subcommand's own arguments as every other command does
/// (`vmlab link down r1:Ethernet0 -S specs/`), as `-v` and `-q` are.
#[derive(Debug, Clone, Args)]
pub struct LabArgs {
    /// Spec directory of the lab
    #[arg(
        short = 'S',
        long = "specs",
        value_name = "DIR",
        conflicts_with = "lab",
        global = true
    )]
    pub specs: Option<PathBuf>,
    /// Name of a deployed lab
    #[arg(long, value_name = "NAME", value_parser = lab_name, global = true)]
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

/// How a listing prints: a table for people, JSON for programs (schemas in README).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

/// `--format table|json` (and `--json`, the same as `--format json`).
#[derive(Debug, Clone, Args)]
pub struct FormatArgs {
    /// Output format: a table, or JSON (schema in README)
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Same as --format json
    #[arg(long)]
    pub json: bool,
}

impl FormatArgs {
    pub fn json(&self) -> bool {
        self.json || self.format == Format::Json
    }
}

/// `--host` on a command about a deployed lab.
#[derive(Debug, Clone, Args)]
pub struct HostArgs {
    /// Multi-host lab: the host this machine is (checked against the lab deployed here)
    #[arg(long, value_name = "NAME", value_parser = host_name)]
    pub host: Option<String>,
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
    #[command(
        after_help = "Examples:\n  vmlab deploy -S specs/\n  vmlab deploy -S specs/ --dry-run\n  vmlab deploy -S specs/ --progress json 2> progress.jsonl\n  vmlab deploy -S specs/ --all-hosts"
    )]
    Deploy(DeployArgs),
    /// Stop and remove all VMs of a lab
    #[command(
        after_help = "Examples:\n  vmlab destroy -S specs/\n  vmlab destroy --lab demo --force"
    )]
    Destroy {
        #[command(flatten)]
        lab: LabArgs,
        #[command(flatten)]
        host: HostArgs,
        /// Clean up a lab whose state is missing or inconsistent
        #[arg(long)]
        force: bool,
        /// Multi-host lab: destroy it on every host (this one directly, the others over SSH)
        #[arg(long)]
        all_hosts: bool,
        /// A lab that is not deployed is not an error (used by --all-hosts)
        #[arg(long, hide = true)]
        missing_ok: bool,
    },
    /// Show VM and link status
    #[command(
        after_help = "Examples:\n  vmlab status\n  vmlab status --lab demo --format json | jq '.nodes[].status'"
    )]
    Status {
        #[command(flatten)]
        lab: LabArgs,
        #[command(flatten)]
        host: HostArgs,
        #[command(flatten)]
        out: FormatArgs,
        /// Multi-host lab: ask every host (over SSH) and show the whole lab
        #[arg(long)]
        all_hosts: bool,
    },
    /// SSH to a VM (with a command: run it and exit with its status)
    #[command(
        after_help = "Examples:\n  vmlab ssh spine1\n  vmlab ssh --lab demo spine1 -- show version"
    )]
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
    #[command(after_help = "Example:\n  vmlab console spine1")]
    Console {
        #[command(flatten)]
        lab: LabArgs,
        /// Node name
        node: String,
    },
    /// Stop a VM (its disk is kept)
    #[command(after_help = "Example:\n  vmlab stop leaf2")]
    Stop {
        #[command(flatten)]
        lab: LabArgs,
        #[command(flatten)]
        host: HostArgs,
        /// Node name
        node: String,
    },
    /// Start a stopped VM and wait until it is ready
    #[command(after_help = "Example:\n  vmlab start leaf2")]
    Start {
        #[command(flatten)]
        lab: LabArgs,
        #[command(flatten)]
        host: HostArgs,
        /// Node name
        node: String,
    },
    /// Stop then start a VM
    #[command(after_help = "Example:\n  vmlab restart leaf2")]
    Restart {
        #[command(flatten)]
        lab: LabArgs,
        #[command(flatten)]
        host: HostArgs,
        /// Node name
        node: String,
    },
    /// Interactive dashboard with console and SSH tabs (deploys the lab first with -S)
    #[command(
        after_help = "Examples:\n  vmlab tui -S specs/     deploy, then watch it boot\n  vmlab tui --lab demo    attach to a running lab\n\nIn the TUI, ? lists every key."
    )]
    Tui {
        #[command(flatten)]
        lab: LabArgs,
        /// Accelerator, when the TUI deploys the lab
        #[arg(long, value_enum, default_value = "auto", env = "VMLAB_ACCEL")]
        accel: AccelArg,
        /// Multi-host lab: the host this machine is, when the TUI deploys the lab
        #[arg(long, value_name = "NAME", value_parser = host_name)]
        host: Option<String>,
    },
    /// List deployed labs
    #[command(after_help = "Example:\n  vmlab labs --format json")]
    Labs {
        #[command(flatten)]
        out: FormatArgs,
    },
    /// Print the lab's OpenSSH config: `ssh -F <file> spine1` (or an `Include` line in
    /// ~/.ssh/config) logs in with the lab's key, no password
    #[command(after_help = "Example:\n  vmlab ssh-config > lab.ssh && ssh -F lab.ssh spine1")]
    SshConfig {
        #[command(flatten)]
        lab: LabArgs,
    },
    /// Print an inventory of the lab: Ansible YAML (grouped by platform and host) or JSON
    /// (nodes, addresses, ports, interfaces, links)
    #[command(
        after_help = "Example:\n  vmlab inventory > hosts.yml && ansible -i hosts.yml all -m ping"
    )]
    Inventory {
        #[command(flatten)]
        lab: LabArgs,
        /// ansible (YAML) or json
        #[arg(long, value_enum, default_value = "ansible")]
        format: tools::InventoryFormat,
    },
    /// Draw the topology: nodes and links with both ends' interfaces (spec and guest names),
    /// grouped by host; works on a spec before it is deployed
    #[command(
        after_help = "Examples:\n  vmlab graph -S specs/\n  vmlab graph --format dot | dot -Tsvg > lab.svg"
    )]
    Graph {
        #[command(flatten)]
        lab: LabArgs,
        /// ascii (a drawing for the terminal), dot (Graphviz) or mermaid
        #[arg(long, value_enum, default_value = "ascii")]
        format: tools::GraphFormat,
    },
    /// Run a command on many nodes at once over SSH; each line of output is prefixed with its
    /// node; exits 7 naming the nodes where it failed
    #[command(
        after_help = "Examples:\n  vmlab exec --all -- hostname\n  vmlab exec --platform sonic-vs --format json -- show version"
    )]
    Exec {
        #[command(flatten)]
        lab: LabArgs,
        /// These nodes (comma-separated)
        #[arg(long, value_delimiter = ',', conflicts_with_all = ["platform", "all"], required_unless_present_any = ["platform", "all"])]
        nodes: Vec<String>,
        /// Every node of this platform
        #[arg(long, conflicts_with = "all")]
        platform: Option<String>,
        /// Every node
        #[arg(long)]
        all: bool,
        /// text (lines prefixed with the node) or json (one object per node, at the end)
        #[arg(long, value_enum, default_value = "text")]
        format: tools::ExecFormat,
        /// Give up on a node after this many seconds
        #[arg(long, default_value = "120")]
        timeout: u64,
        /// The command, after --
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Check this machine (QEMU, KVM, ssh, memory, disk) and, with -S, a lab's images and
    /// ports; exits 8 when something blocks a deploy
    #[command(after_help = "Example:\n  vmlab doctor -S specs/")]
    Doctor {
        /// A spec directory to check too
        #[arg(short = 'S', long = "specs", value_name = "DIR")]
        specs: Option<PathBuf>,
        #[command(flatten)]
        out: FormatArgs,
    },
    /// Print shell completions (bash, zsh, fish, elvish, powershell)
    #[command(
        after_help = "Example:\n  vmlab completions bash > ~/.local/share/bash-completion/completions/vmlab"
    )]
    Completions {
        /// The shell
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff)
    #[command(after_help = "Example:\n  vmlab man > vmlab.1 && man -l vmlab.1")]
    Man,
    /// Show every link: state, guest interfaces, counters and rates each way, drops,
    /// impairments
    #[command(after_help = "Examples:\n  vmlab links\n  vmlab links --format json")]
    Links {
        #[command(flatten)]
        lab: LabArgs,
        #[command(flatten)]
        out: FormatArgs,
    },
    /// Set a link down or up, impair it, or clear its impairments
    #[command(
        after_help = "Examples:\n  vmlab link down spine1:Ethernet0\n  vmlab link set spine1:Ethernet0 --delay 20ms --jitter 5ms --loss 1%\n  vmlab link reset spine1:Ethernet0"
    )]
    Link {
        #[command(flatten)]
        lab: LabArgs,
        #[command(subcommand)]
        action: LinkAction,
    },
    /// Capture a link's frames (both ways) as pcap until Ctrl-C
    #[command(
        after_help = "Examples:\n  vmlab capture spine1:Ethernet0\n  vmlab capture spine1:Ethernet0 -w - | wireshark -k -i -"
    )]
    Capture {
        #[command(flatten)]
        lab: LabArgs,
        /// Either end of the link, as node:interface (spine1:Ethernet0)
        end: String,
        /// Where to write: a file, or - for stdout (`| wireshark -k -i -`); default: a file
        /// in the lab's captures/ directory
        #[arg(short = 'w', long = "write", value_name = "FILE")]
        write: Option<PathBuf>,
    },
    /// Bring back what should run and does not: the link relay, nodes whose QEMU died
    #[command(after_help = "Example:\n  vmlab repair --lab demo")]
    Repair {
        #[command(flatten)]
        lab: LabArgs,
        #[command(flatten)]
        host: HostArgs,
    },
    /// Take a live snapshot of the whole lab (every VM's disk and memory at one moment), list
    /// the snapshots, or delete one
    #[command(
        after_help = "Examples:\n  vmlab snapshot --name baseline\n  vmlab snapshot --list --format json\n  vmlab snapshot --delete baseline"
    )]
    Snapshot {
        #[command(flatten)]
        lab: LabArgs,
        /// Take a snapshot with this name
        #[arg(long, value_name = "NAME", conflicts_with_all = ["list", "delete"])]
        name: Option<String>,
        /// List the lab's snapshots (name, time, size, nodes)
        #[arg(long)]
        list: bool,
        /// Delete the snapshot with this name
        #[arg(long, value_name = "NAME")]
        delete: Option<String>,
        #[command(flatten)]
        out: FormatArgs,
    },
    /// Disk images: list them, import one (converted to qcow2), remove one no lab uses
    #[command(
        after_help = "Examples:\n  vmlab image list\n  vmlab image import sonic-vs.img --name sonic-vs\n  vmlab image rm sonic-vs"
    )]
    Image {
        #[command(subcommand)]
        action: ImageAction,
    },
    /// Bring the whole lab back to a snapshot, without a guest reboot
    #[command(after_help = "Example:\n  vmlab restore --name baseline")]
    Restore {
        #[command(flatten)]
        lab: LabArgs,
        /// The snapshot's name
        #[arg(long, value_name = "NAME")]
        name: String,
    },
    /// Multi-host lab: receive a lab's spec from `--all-hosts` on another host (a tar stream on
    /// stdin, unpacked into $VMLAB_HOME/specs/<lab>); prints where it is
    #[command(hide = true)]
    SpecReceive {
        #[arg(long, value_name = "NAME", value_parser = lab_name)]
        lab: LabName,
    },
    /// The link relay of one lab (started by deploy and repair; not for direct use)
    #[command(hide = true)]
    Relay {
        /// The lab directory
        #[arg(long, value_name = "DIR")]
        lab_dir: PathBuf,
        /// Stay in the foreground (debugging)
        #[arg(long)]
        foreground: bool,
    },
}

/// `vmlab image ...`.
#[derive(Debug, Subcommand)]
pub enum ImageAction {
    /// Images in $VMLAB_HOME/images and those deployed labs use: size, format, users
    #[command(after_help = "Example:\n  vmlab image list --format json")]
    List {
        #[command(flatten)]
        out: FormatArgs,
    },
    /// Copy a disk image into $VMLAB_HOME/images as qcow2 (converting raw, vmdk, vdi, vhdx)
    #[command(
        after_help = "Example:\n  vmlab image import ~/Downloads/sonic-vs.img --name sonic-vs"
    )]
    Import {
        /// The image file
        file: PathBuf,
        /// Its name there (default: the file's name without its extension)
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
    },
    /// Remove an image from $VMLAB_HOME/images (refused while a lab uses it)
    #[command(after_help = "Example:\n  vmlab image rm sonic-vs")]
    Rm {
        /// The image's name
        name: String,
    },
}

/// `vmlab link ...`.
#[derive(Debug, Subcommand)]
pub enum LinkAction {
    /// Stop every frame on the link (both ways)
    #[command(after_help = "Example:\n  vmlab link down spine1:Ethernet0")]
    Down {
        /// Either end of the link, as node:interface
        end: String,
    },
    /// Let frames pass again
    #[command(after_help = "Example:\n  vmlab link up spine1:Ethernet0")]
    Up {
        /// Either end of the link, as node:interface
        end: String,
    },
    /// Impair the link: the options given change, the others stay
    #[command(
        after_help = "Examples:\n  vmlab link set spine1:Ethernet0 --delay 20ms --jitter 5ms\n  vmlab link set spine1:Ethernet0 --loss 1% --direction a-to-z\n  vmlab link set spine1:Ethernet0 --rate 10mbit"
    )]
    Set {
        /// Either end of the link, as node:interface
        end: String,
        /// Added one-way delay (20ms, 1.5s, 500us)
        #[arg(long, value_parser = parse_delay, allow_hyphen_values = true)]
        delay: Option<u64>,
        /// Delay variation either way (5ms); frames keep their order
        #[arg(long, value_parser = parse_delay, allow_hyphen_values = true)]
        jitter: Option<u64>,
        /// Frames dropped at random (1%, 0.5%)
        #[arg(long, value_parser = parse_loss, allow_hyphen_values = true)]
        loss: Option<u32>,
        /// Rate limit (10mbit, 512kbit, 1gbit)
        #[arg(long, value_parser = parse_rate, allow_hyphen_values = true)]
        rate: Option<u64>,
        /// Which way: a-to-z, z-to-a or both
        #[arg(long, default_value = "both", value_parser = parse_directions)]
        direction: Directions,
    },
    /// Clear every impairment of the link, both ways
    #[command(after_help = "Example:\n  vmlab link reset spine1:Ethernet0")]
    Reset {
        /// Either end of the link, as node:interface
        end: String,
    },
}

fn parse_delay(s: &str) -> Result<u64, String> {
    crate::spec::impair::parse_duration(s)
}

fn parse_loss(s: &str) -> Result<u32, String> {
    crate::spec::impair::parse_loss(s)
}

fn parse_rate(s: &str) -> Result<u64, String> {
    crate::spec::impair::parse_rate(s)
}

fn parse_directions(s: &str) -> Result<Directions, String> {
    Directions::parse(s)
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
    /// Multi-host lab: deploy the nodes placed on this host (its name in vmlab.hosts)
    #[arg(long, value_name = "NAME", value_parser = host_name)]
    pub host: Option<String>,
    /// Multi-host lab: deploy every host, this one directly and the others over SSH (with
    /// --host: this machine is that host)
    #[arg(long, conflicts_with = "dry_run")]
    pub all_hosts: bool,
    /// Cancel (and roll back) when stdin ends: how `--all-hosts` stops a remote deploy
    #[arg(long, hide = true)]
    pub cancel_on_eof: bool,
    /// How progress goes to stderr: auto (animated on a terminal, plain lines otherwise),
    /// plain, or json (one object per event, for CI and scripts)
    #[arg(long, value_enum, default_value = "auto", value_name = "HOW")]
    pub progress: say::Progress,
}

/// A host name typed by the user, checked before it is used.
fn host_name(s: &str) -> Result<String, String> {
    crate::spec::name::check_name(s)
        .map(|()| s.to_string())
        .map_err(|why| format!("the host name {s:?} {why}"))
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
    if let Command::Relay {
        lab_dir,
        foreground,
    } = &cli.command
    {
        // Before any thread exists: the relay forks itself away from its parent.
        init_tracing(cli.verbose.max(1) as i8);
        return crate::engine::link::relay::main(lab_dir, *foreground);
    }
    say::set_progress(match &cli.command {
        _ if cli.quiet => say::Progress::Quiet,
        Command::Deploy(a) => a.progress,
        _ => say::Progress::Auto,
    });
    init_tracing(if cli.quiet { -1 } else { cli.verbose as i8 });
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
    let code = rt.block_on(async {
        // For commands that start VMs, Ctrl-C, SIGTERM and SIGHUP cancel what runs; it stops
        // what it started, and vmlab exits 128 + the signal's number. (The TUI handles its own.)
        let interrupts = match cli.command {
            Command::Deploy(_)
            | Command::Start { .. }
            | Command::Restart { .. }
            | Command::Repair { .. }
            | Command::Capture { .. }
            | Command::Snapshot { .. }
            | Command::Restore { .. } => signals::Interrupts::install(),
            _ => signals::Interrupts::none(),
        };
        let result = run(cli, &interrupts).await;
        match result {
            Ok(code) => code,
            Err(e) => {
                let code = match (&e, interrupts.signal()) {
                    (EngineError::Interrupted, Some(sig)) => 128 + sig,
                    _ => e.exit_code(),
                };
                if say::progress() == say::Progress::Json {
                    // The last line of a JSON progress stream: a program reads why, too.
                    tell(
                        &serde_json::json!({"event": "error", "message": e.to_string(),
                                            "exit_code": code})
                        .to_string(),
                    );
                } else {
                    tell(&format!("error: {e}"));
                }
                code
            }
        }
    });
    // Whatever still runs in the background (a blocked read of stdin, a lingering task) must
    // not hold up the exit.
    rt.shutdown_background();
    code
}

/// Logs on stderr: warnings by default, errors only with `-q` (-1), more with each `-v`.
fn init_tracing(verbose: i8) {
    let level = match verbose {
        ..0 => "error",
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("VMLAB_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("vmlab={level}")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()) && !say::no_color())
        .with_writer(std::io::stderr)
        .try_init();
}

async fn run(cli: Cli, interrupts: &signals::Interrupts) -> Result<i32, EngineError> {
    match cli.command {
        Command::Deploy(args) => deploy::run(args, interrupts).await,
        Command::Destroy {
            lab,
            host,
            force: _,
            all_hosts: true,
            ..
        } => {
            let spec = spec_of(&lab)?;
            let hosts = crate::engine::host::targets(&spec, host.host.as_deref())?;
            let (notes, printer) = say::printing_sink();
            let r = crate::engine::host::all::destroy_all(&spec.name, &hosts, &notes).await;
            drop(notes);
            let _ = printer.await;
            r?;
            say(&format!(
                "destroyed lab {} on {} hosts",
                spec.name,
                hosts.len()
            ));
            Ok(0)
        }
        Command::Destroy {
            lab,
            host,
            force,
            missing_ok,
            ..
        } => {
            let lab = match find::find(&lab.selector(), force) {
                Err(EngineError::LabNotFound(why)) if missing_ok => {
                    say(&why);
                    return Ok(0);
                }
                r => r?,
            };
            if !force {
                find::check_host(&lab, host.host.as_deref())?;
            }
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
        Command::Status {
            lab,
            host,
            out,
            all_hosts: true,
        } => {
            let spec = spec_of(&lab)?;
            let hosts = crate::engine::host::targets(&spec, host.host.as_deref())?;
            let views = crate::engine::host::all::status_all(&spec.name, &hosts).await;
            if out.json() {
                say_json(
                    &serde_json::json!({ "name": spec.name, "hosts": views }),
                    "status",
                )?;
            } else {
                say(output::all_hosts_text(&spec.name, &views).trim_end());
            }
            Ok(if views.iter().any(|v| v.error.is_some()) {
                6
            } else {
                0
            })
        }
        Command::Status { lab, host, out, .. } => {
            let lab = find::find(&lab.selector(), false)?;
            find::check_host(&lab, host.host.as_deref())?;
            let st = status::snapshot(&lab)?;
            if out.json() {
                say_json(&st, "status")?;
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
            let mut cmd = state.ssh_command(&node, &command, &me)?;
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
            match crate::engine::lab::console::open(&lab, &node).await? {
                crate::engine::lab::console::ConsoleAccess::Remote(mut cmd) => {
                    // Its console stays on its host: reach it through that host.
                    use std::os::unix::process::CommandExt;
                    let err = cmd.exec();
                    Err(EngineError::io(
                        "cannot run ssh (install openssh-client)",
                        err,
                    ))
                }
                crate::engine::lab::console::ConsoleAccess::Local(c) => {
                    crate::term::console::attach(c, &node)
                        .await
                        .map_err(|e| EngineError::io("console", e))?;
                    Ok(0)
                }
            }
        }
        Command::Stop { lab, host, node } => {
            node_action(&lab, &host, &node, NodeOp::Stop, interrupts).await
        }
        Command::Start { lab, host, node } => {
            node_action(&lab, &host, &node, NodeOp::Start, interrupts).await
        }
        Command::Restart { lab, host, node } => {
            node_action(&lab, &host, &node, NodeOp::Restart, interrupts).await
        }
        Command::Tui { lab, accel, host } => {
            crate::tui::run(crate::tui::TuiOptions {
                selector: lab.selector(),
                accel: accel.wanted(),
                host,
                no_color: say::no_color(),
            })
            .await
        }
        Command::Labs { out } => labs(out.json()),
        Command::SshConfig { lab } => tools::ssh_config(&lab),
        Command::Inventory { lab, format } => tools::inventory(&lab, format),
        Command::Graph { lab, format } => tools::graph(&lab, format).await,
        Command::Exec {
            lab,
            nodes,
            platform,
            all,
            format,
            timeout,
            command,
        } => {
            let targets = match (all, platform) {
                (true, _) => crate::engine::lab::exec::Targets::All,
                (false, Some(p)) => crate::engine::lab::exec::Targets::Platform(p),
                (false, None) => crate::engine::lab::exec::Targets::Nodes(nodes),
            };
            tools::exec(&lab, targets, format, timeout, &command).await
        }
        Command::Doctor { specs, out } => tools::doctor(specs.as_deref(), out.json()).await,
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "vmlab", &mut std::io::stdout());
            Ok(0)
        }
        Command::Man => {
            let cmd = <Cli as clap::CommandFactory>::command();
            let mut buf = Vec::new();
            clap_mangen::Man::new(cmd)
                .render(&mut buf)
                .map_err(|e| EngineError::io("cannot render the man page", e))?;
            say(String::from_utf8_lossy(&buf).trim_end());
            Ok(0)
        }
        Command::Relay { .. } => Ok(0),
        Command::SpecReceive { lab } => {
            let dir = tokio::task::spawn_blocking(move || {
                crate::engine::host::transfer::unpack(std::io::stdin().lock(), &lab)
            })
            .await
            .map_err(|e| EngineError::io("spec-receive", std::io::Error::other(e)))??;
            say(&dir.display().to_string());
            Ok(0)
        }
        Command::Links { lab, out } => {
            let lab = find::find(&lab.selector(), false)?;
            let st = status::snapshot(&lab)?;
            if out.json() {
                say_json(
                    &serde_json::json!({ "name": st.name, "relay": st.relay, "links": st.links }),
                    "links",
                )?;
            } else {
                say(&output::links_text(&st));
            }
            Ok(0)
        }
        Command::Link { lab, action } => {
            let lab = find::find(&lab.selector(), false)?;
            let (end, change) = match action {
                LinkAction::Down { end } => (end, LinkChange::Admin { up: false }),
                LinkAction::Up { end } => (end, LinkChange::Admin { up: true }),
                LinkAction::Reset { end } => (end, LinkChange::Reset),
                LinkAction::Set {
                    end,
                    delay,
                    jitter,
                    loss,
                    rate,
                    direction,
                } => {
                    if delay.is_none() && jitter.is_none() && loss.is_none() && rate.is_none() {
                        return Err(EngineError::Invalid(crate::spec::SpecErrors::from(
                            crate::spec::SpecError::new(
                                "vmlab link set",
                                "",
                                "nothing to set",
                                "give --delay, --jitter, --loss or --rate",
                            ),
                        )));
                    }
                    (
                        end,
                        LinkChange::Impair {
                            dirs: direction,
                            delay_us: delay,
                            jitter_us: jitter,
                            loss_ppm: loss,
                            rate_bps: rate,
                        },
                    )
                }
            };
            let (notes, printer) = say::printing_sink();
            let r = links::change(&lab, &end, &change, &notes).await;
            drop(notes);
            let _ = printer.await;
            r.map(|_| 0)
        }
        Command::Capture { lab, end, write } => capture(&lab, end, write, interrupts).await,
        Command::Snapshot {
            lab,
            name,
            // `--list` is what no name and no `--delete` do anyway.
            list: _,
            delete,
            out,
        } => {
            let lab = find::find(&lab.selector(), false)?;
            let (notes, printer) = say::printing_sink();
            let r = match (name, delete) {
                (Some(name), _) => snapshot::take(&lab, &name, &notes, interrupts.token())
                    .await
                    .map(|_| None),
                (None, Some(name)) => snapshot::delete(&lab, &name, &notes).await.map(|_| None),
                (None, None) => snapshot::list(&lab).map(Some),
            };
            drop(notes);
            let _ = printer.await;
            if let Some(snaps) = r? {
                if out.json() {
                    say_json(&snaps, "snapshots")?;
                } else {
                    say(&output::snapshots_text(&snaps));
                }
            }
            Ok(0)
        }
        Command::Image { action } => image_cmd(action).await,
        Command::Restore { lab, name } => {
            let lab = find::find(&lab.selector(), false)?;
            let (notes, printer) = say::printing_sink();
            let r = snapshot::restore(&lab, &name, &notes, interrupts.token()).await;
            drop(notes);
            let _ = printer.await;
            let r = r?;
            say(&format!(
                "lab {} is back at {name}: running after {:.2} s, every node answering SSH after {:.2} s",
                lab.name(),
                r.resumed_after.as_secs_f64(),
                r.ssh_after.as_secs_f64()
            ));
            Ok(0)
        }
        Command::Repair { lab, host } => {
            let lab = find::find(&lab.selector(), false)?;
            find::check_host(&lab, host.host.as_deref())?;
            let (sink, printer) = say::printing_sink();
            let r = repair::repair(&lab, &sink, interrupts.token()).await;
            drop(sink);
            let _ = printer.await;
            let report = r?;
            if report.nothing() {
                say(&format!("lab {}: nothing to repair", lab.name()));
            } else {
                let mut done = Vec::new();
                if let Some(pid) = report.relay {
                    done.push(format!("link relay started (pid {pid})"));
                }
                if !report.resumed.is_empty() {
                    done.push(format!("resumed: {}", report.resumed.join(", ")));
                }
                if !report.nodes.is_empty() {
                    done.push(format!("started again: {}", report.nodes.join(", ")));
                }
                say(&format!("lab {}: {}", lab.name(), done.join("; ")));
            }
            Ok(0)
        }
    }
}

/// The spec of a multi-host lab, for `--all-hosts`: from `-S`, or from where the lab deployed
/// here was deployed from.
fn spec_of(lab: &LabArgs) -> Result<crate::spec::Lab, EngineError> {
    let dir = match &lab.specs {
        Some(d) => d.clone(),
        None => {
            let found = find::find(&lab.selector(), false).map_err(|e| {
                EngineError::LabNotFound(format!(
                    "{e}; with --all-hosts, name the lab's spec directory with -S"
                ))
            })?;
            LabState::load(&found)?.spec_dir
        }
    };
    Ok(crate::spec::load(
        &dir,
        crate::engine::home::user_home().as_deref(),
    )?)
}

/// `vmlab labs`: one line per lab on stdout; a lab whose state cannot be read is reported on
/// stderr, and then the exit code is 3.
fn labs(json: bool) -> Result<i32, EngineError> {
    let names = find::list();
    if names.is_empty() && !json {
        tell("no labs deployed");
    }
    let mut damaged = 0;
    let mut rows = Vec::new();
    for name in names {
        match status::snapshot(&LabDir::of(name.clone())) {
            Ok(st) => {
                let up = st
                    .nodes
                    .iter()
                    .filter(|n| n.status == NodeStatus::Running)
                    .count();
                let local = st
                    .nodes
                    .iter()
                    .filter(|n| n.status != NodeStatus::Remote)
                    .count();
                rows.push(serde_json::json!({
                    "name": name, "running": up, "nodes": local, "spec_dir": st.spec_dir,
                    "lab_dir": st.lab_dir,
                }));
            }
            Err(e) => {
                damaged += 1;
                tell(&format!("error: lab {name}: {e}"));
            }
        }
    }
    if json {
        say_json(&rows, "labs")?;
    } else if !rows.is_empty() {
        say(output::labs_text(&rows).trim_end());
    }
    Ok(if damaged > 0 { 3 } else { 0 })
}

/// `stop`, `start` and `restart` of one node, with boot progress on stderr.
async fn node_action(
    lab: &LabArgs,
    host: &HostArgs,
    node: &str,
    op: NodeOp,
    interrupts: &signals::Interrupts,
) -> Result<i32, EngineError> {
    let lab = find::find(&lab.selector(), false)?;
    find::check_host(&lab, host.host.as_deref())?;
    let (sink, printer) = say::printing_sink();
    let r = lifecycle::run(&lab, node, op, &sink, interrupts.token()).await;
    drop(sink);
    let _ = printer.await;
    r.map(|_| 0)
}

/// `vmlab capture`: pcap of one link until Ctrl-C (or the reader of stdout goes away).
async fn capture(
    lab: &LabArgs,
    end: String,
    write: Option<PathBuf>,
    interrupts: &signals::Interrupts,
) -> Result<i32, EngineError> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let lab = find::find(&lab.selector(), false)?;
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (stop, token) = (stop.clone(), interrupts.token().clone());
        tokio::spawn(async move {
            token.cancelled().await;
            stop.store(true, Ordering::Relaxed);
        })
    };
    let to_stdout = write.as_ref().is_some_and(|p| p.as_os_str() == "-");
    let (lab2, stop2, end2) = (lab.clone(), stop.clone(), end.clone());
    let result = tokio::task::spawn_blocking(move || -> Result<(u64, String), EngineError> {
        if to_stdout {
            say::tell_step(&format!("capturing {end2} to stdout; Ctrl-C stops"));
            let mut out = std::io::stdout().lock();
            return links::capture(&lab2, &end2, &mut out, &stop2).map(|n| (n, "stdout".into()));
        }
        let started = |p: &std::path::Path| {
            say::tell_step(&format!(
                "capturing {end2} to {}; Ctrl-C stops",
                p.display()
            ));
        };
        links::capture_to_file(&lab2, &end2, write.as_deref(), &stop2, &started)
            .map(|(n, p)| (n, p.display().to_string()))
    })
    .await
    .map_err(|e| EngineError::io("capture", std::io::Error::other(e)))?;
    watcher.abort();
    match result {
        Ok((n, label)) => {
            say::tell_step(&format!("captured {n} frames of {end} to {label}"));
            Ok(0)
        }
        // The reader of stdout went away (wireshark closed): a normal end.
        Err(EngineError::Io { source, .. }) if source.kind() == std::io::ErrorKind::BrokenPipe => {
            Ok(0)
        }
        Err(e) => Err(e),
    }
}

/// `vmlab image ...`.
async fn image_cmd(action: ImageAction) -> Result<i32, EngineError> {
    use crate::engine::image;
    match action {
        ImageAction::List { out } => {
            let rows = image::list().await?;
            if out.json() {
                say_json(&rows, "images")?;
            } else {
                say(&output::images_text(&rows));
            }
            Ok(0)
        }
        ImageAction::Import { file, name } => {
            let (sink, rx) = crate::engine::EventSink::channel();
            let printer = tokio::spawn(deploy::print_progress(rx, Vec::new()));
            let r = image::import(&file, name.as_deref(), &sink).await;
            drop(sink);
            let _ = printer.await;
            let row = r?;
            say(&format!(
                "imported {} ({}, {} on disk)",
                row.path.display(),
                row.format.unwrap_or_default(),
                output::human_bytes(row.size)
            ));
            Ok(0)
        }
        ImageAction::Rm { name } => {
            let path = image::remove(&name)?;
            say(&format!("removed {}", path.display()));
            Ok(0)
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every command a user sees shows an example, and every argument says what it is.
    #[test]
    fn every_command_has_an_example_and_every_argument_a_help() {
        fn walk(cmd: &clap::Command, path: &str, problems: &mut Vec<String>) {
            for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
                let path = format!("{path} {}", sub.get_name());
                if sub.get_name() == "help" {
                    continue;
                }
                let leaf = !sub.has_subcommands();
                let example = sub
                    .get_after_help()
                    .is_some_and(|h| h.to_string().contains("vmlab "));
                if leaf && !example {
                    problems.push(format!("{path}: no example"));
                }
                for a in sub.get_arguments().filter(|a| !a.is_hide_set()) {
                    if a.get_help().is_none() && !["help", "version"].contains(&a.get_id().as_str())
                    {
                        problems.push(format!("{path}: argument {} has no help", a.get_id()));
                    }
                }
                walk(sub, &path, problems);
            }
        }
        let cli = super::Cli::command();
        cli.clone().debug_assert();
        let mut problems = Vec::new();
        walk(&cli, "vmlab", &mut problems);
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
}
