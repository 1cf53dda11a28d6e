//! The command line's grammar: every command, argument and value parser, as clap types. Names
//! typed by the user are checked here, at the edge (lab names, host names, link settings),
//! before anything else sees them. Nothing here runs a command.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use super::say;
use crate::engine::api::LabSelector;
use crate::plan::Accel;
use crate::spec::LabName;
use crate::spec::impair::Directions;

/// vmlab - VM orchestration for network topologies
#[derive(Debug, Parser)]
#[command(name = "vmlab", version, about, long_about = None)]
#[command(after_help = "Labs live in $VMLAB_HOME/labs/<name> (VMLAB_HOME defaults to ~/.vmlab).")]
pub struct Cli {
    /// Say what vmlab does: -v each QEMU launched (with its command line), each signal sent
    /// and why, each state change; -vv more
    #[arg(short, long, global = true, action = clap::ArgAction::Count, display_order = 902)]
    pub verbose: u8,
    /// Say only warnings and errors: no progress (data on stdout is still printed)
    #[arg(
        short,
        long,
        global = true,
        conflicts_with = "verbose",
        display_order = 903
    )]
    pub quiet: bool,
    /// newtron's platforms registry (a folder of <platform>.json) for a newtron network
    /// directory; default: the platforms/ folder beside its networks folder
    #[arg(
        long,
        value_name = "DIR",
        global = true,
        env = "VMLAB_PLATFORMS",
        display_order = 904
    )]
    pub platforms: Option<PathBuf>,
    /// The folder of boot patch sets (<dataplane>/always/*.json, as newtron's
    /// pkg/newtlab/patches); default: the platform's vm_patches, the topology's
    /// vmlab.patches, then patches/ beside the platforms
    #[arg(
        long,
        value_name = "DIR",
        global = true,
        env = "VMLAB_PATCHES",
        display_order = 905
    )]
    pub patches: Option<PathBuf>,
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
        global = true,
        display_order = 900
    )]
    pub specs: Option<PathBuf>,
    /// Name of a deployed lab
    #[arg(long, value_name = "NAME", value_parser = lab_name, global = true, display_order = 901)]
    pub lab: Option<LabName>,
}

impl LabArgs {
    /// These arguments, or the lab a command's own LAB argument names (`vmlab destroy demo`).
    pub fn or_named(self, name: Option<LabName>) -> LabArgs {
        match name {
            Some(n) => LabArgs {
                specs: None,
                lab: Some(n),
            },
            None => self,
        }
    }

    pub fn selector(&self) -> LabSelector {
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

impl DeployArgs {
    /// The spec directory: DIR, -S, or the current directory when it holds a spec.
    pub fn spec_dir(&self) -> Result<PathBuf, crate::engine::api::EngineError> {
        if let Some(d) = self.dir.as_ref().or(self.specs.as_ref()) {
            return Ok(d.clone());
        }
        crate::engine::api::spec_dir_here().ok_or_else(|| crate::engine::api::EngineError::Usage {
            what: "no spec directory given, and the current directory holds no topology.json"
                .into(),
            fix: "name it (`vmlab deploy specs/`) or run vmlab where topology.json is".into(),
        })
    }
}

/// The nodes a start, stop or restart works on: named, or every node of the lab here.
#[derive(Debug, Clone, Args)]
#[group(id = "which_nodes", required = true, multiple = false)]
pub struct NodesArgs {
    /// Node names
    #[arg(value_name = "NODE")]
    pub nodes: Vec<String>,
    /// Every node of the lab on this host (a start: those not running; a stop: those running)
    #[arg(long)]
    pub all: bool,
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
        after_help = "Examples:\n  vmlab destroy demo\n  vmlab destroy -S specs/\n  vmlab destroy --lab demo --force"
    )]
    Destroy {
        /// The lab's name (as --lab)
        #[arg(value_name = "LAB", value_parser = lab_name, conflicts_with_all = ["lab", "specs"])]
        name: Option<LabName>,
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
        /// Not an option of destroy (which takes the whole lab): here so that `--all` is
        /// answered with what it means instead of clap's "did you mean --all-hosts"
        #[arg(long, hide = true)]
        all: bool,
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
        after_help = "Examples:\n  vmlab ssh spine1\n  vmlab ssh spine1 uname -r\n  vmlab ssh --lab demo spine1 -- show version"
    )]
    Ssh {
        #[command(flatten)]
        lab: LabArgs,
        /// Node name
        node: String,
        /// Command to run instead of a shell: every word after the node, as ssh takes it
        /// (`--` first is optional)
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
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
    /// Stop VMs (their disks are kept)
    #[command(
        after_help = "Examples:\n  vmlab stop leaf2\n  vmlab stop leaf1 leaf2\n  vmlab stop --all"
    )]
    Stop {
        #[command(flatten)]
        lab: LabArgs,
        #[command(flatten)]
        host: HostArgs,
        #[command(flatten)]
        nodes: NodesArgs,
    },
    /// Start stopped VMs and wait until they are ready
    #[command(after_help = "Examples:\n  vmlab start leaf2\n  vmlab start --all")]
    Start {
        #[command(flatten)]
        lab: LabArgs,
        #[command(flatten)]
        host: HostArgs,
        #[command(flatten)]
        nodes: NodesArgs,
    },
    /// Stop then start VMs
    #[command(after_help = "Examples:\n  vmlab restart leaf2\n  vmlab restart leaf1 leaf2")]
    Restart {
        #[command(flatten)]
        lab: LabArgs,
        #[command(flatten)]
        host: HostArgs,
        #[command(flatten)]
        nodes: NodesArgs,
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
    /// Serve the HTTP API: newtron's lab-server routes (/newtlab/v1) and vmlab's own (/v1),
    /// with live event streams, until Ctrl-C
    #[command(
        after_help = "Every request carries the token (Authorization: Bearer), made in $VMLAB_HOME/serve.token on first start.\n\nExamples:\n  vmlab serve --networks-base ~/newtron/networks\n  curl -s -H \"Authorization: Bearer $(cat ~/.vmlab/serve.token)\" 127.0.0.1:18080/newtlab/v1/labs\n  NEWTRON_BEARER=$(cat ~/.vmlab/serve.token) newtlab status 2node-vs"
    )]
    Serve(ServeArgs),
    /// Run the lab's checks (validate.json beside its spec, or --file): commands on nodes with
    /// what their output must show, links with their state; exits 9 when one fails
    #[command(
        after_help = "Examples:\n  vmlab validate\n  vmlab validate --only 'r1 reaches r2' --format junit > checks.xml"
    )]
    Validate {
        #[command(flatten)]
        lab: LabArgs,
        /// The checks file (default: validate.json in the lab's spec directory)
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
        /// Only these checks (names, comma-separated)
        #[arg(long, value_name = "NAMES", value_delimiter = ',')]
        only: Vec<String>,
        /// table, json (every check × node, with passed and counts) or junit (XML for CI)
        #[arg(long, value_enum, default_value = "table")]
        format: ValidateFormat,
        /// The same as --format json
        #[arg(long, conflicts_with = "format")]
        json: bool,
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
        format: InventoryFormat,
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
        format: GraphFormat,
    },
    /// Write the lab for another system to run: `k8s` (Kubernetes manifests, a shard of the
    /// lab per pod)
    Export {
        #[command(subcommand)]
        what: ExportWhat,
    },
    /// A shard of a lab exported for Kubernetes, as its pod sees it
    Shard {
        #[command(subcommand)]
        action: ShardAction,
    },
    /// Run a command on many nodes at once over SSH; each line of output is prefixed with its
    /// node; exits 7 naming the nodes where it failed
    #[command(
        after_help = "Examples:\n  vmlab exec --all hostname\n  vmlab exec --nodes leaf1,leaf2 ip -o link\n  vmlab exec --platform sonic-vs --format json -- show version"
    )]
    #[command(group(
        clap::ArgGroup::new("targets")
            .args(["nodes", "platform", "all"])
            .required(true)
            .multiple(false)
    ))]
    Exec {
        #[command(flatten)]
        lab: LabArgs,
        /// These nodes (comma-separated)
        #[arg(long, value_delimiter = ',')]
        nodes: Vec<String>,
        /// Every node of this platform
        #[arg(long)]
        platform: Option<String>,
        /// Every node
        #[arg(long)]
        all: bool,
        /// text (lines prefixed with the node) or json (one object per node, at the end)
        #[arg(long, value_enum, default_value = "text")]
        format: ExecFormat,
        /// Give up on a node after this many seconds
        #[arg(long, default_value = "120")]
        timeout: u64,
        /// The command: every word after the options (`--` first is optional)
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
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
    /// Print the man page (roff): vmlab's, or a command's (the pages SEE ALSO names)
    #[command(
        after_help = "Examples:\n  vmlab man > vmlab.1 && man -l vmlab.1\n  vmlab man deploy > vmlab-deploy.1\n  vmlab man link down > vmlab-link-down.1"
    )]
    Man {
        /// The command whose page to print (`deploy`, `link down`); none: vmlab's own
        command: Vec<String>,
    },
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
        /// The link: its number in `vmlab links`, or either end (spine1:Ethernet0, spine1:eth1)
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
        after_help = "Examples:\n  vmlab snapshot baseline\n  vmlab snapshot --list --format json\n  vmlab snapshot --delete baseline"
    )]
    Snapshot {
        #[command(flatten)]
        lab: LabArgs,
        /// Take a snapshot with this name
        #[arg(value_name = "NAME", conflicts_with_all = ["list", "delete", "name"])]
        snapshot: Option<String>,
        /// Take a snapshot with this name (as the NAME argument)
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
    #[command(after_help = "Examples:\n  vmlab restore baseline\n  vmlab restore --name baseline")]
    #[command(group(clap::ArgGroup::new("which").args(["snapshot", "name"]).required(true)))]
    Restore {
        #[command(flatten)]
        lab: LabArgs,
        /// The snapshot's name
        #[arg(value_name = "NAME")]
        snapshot: Option<String>,
        /// The snapshot's name (as the NAME argument)
        #[arg(long, value_name = "NAME", conflicts_with = "snapshot")]
        name: Option<String>,
    },
    /// Multi-host lab: receive a lab's spec from `--all-hosts` on another host (a tar stream on
    /// stdin, unpacked into $VMLAB_HOME/specs/<lab>); prints where it is
    #[command(hide = true)]
    SpecReceive {
        #[arg(long, value_name = "NAME", value_parser = lab_name)]
        lab: LabName,
    },
    /// Multi-host lab: answer another host's call (a typed request on stdin, typed replies on
    /// stdout; started by `--all-hosts` over ssh, not for direct use)
    #[command(hide = true, name = "host-call")]
    HostCall,
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

/// `vmlab serve`'s options.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address and port to listen on (other than loopback only with --token-file)
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:18080", value_parser = crate::serve::parse_listen)]
    pub listen: crate::serve::Listen,
    /// Where network ids are spec directories (<dir>/<id>/topology.json): newtron's
    /// networks folder
    #[arg(long, value_name = "DIR")]
    pub networks_base: Option<PathBuf>,
    /// newtron's platforms registry (as --platforms)
    #[arg(long, value_name = "DIR")]
    pub platforms_base: Option<PathBuf>,
    /// A file (mode 0600) of the bearer tokens a request may carry, one a line, each alone
    /// or after a name ("ci 3f9a..."); default: $VMLAB_HOME/serve.token, made on first
    /// start
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// A host name the server answers to beyond its address, loopback and localhost (the
    /// Host header; others get 421)
    #[arg(long, value_name = "NAME")]
    pub allow_host: Vec<String>,
    /// A web origin whose pages may call the server, for example http://localhost:3000
    /// (pages of any other origin get 403)
    #[arg(long, value_name = "ORIGIN")]
    pub allow_origin: Vec<String>,
    /// Accelerator of the labs it deploys
    #[arg(long, value_enum, default_value = "auto", env = "VMLAB_ACCEL")]
    pub accel: AccelArg,
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
        /// The link: its number in `vmlab links`, or either end (spine1:Ethernet0, spine1:eth1)
        end: String,
    },
    /// Let frames pass again
    #[command(after_help = "Example:\n  vmlab link up spine1:Ethernet0")]
    Up {
        /// The link: its number in `vmlab links`, or either end (spine1:Ethernet0, spine1:eth1)
        end: String,
    },
    /// Impair the link: the options given change, the others stay
    #[command(
        after_help = "Examples:\n  vmlab link set spine1:Ethernet0 --delay 20ms --jitter 5ms\n  vmlab link set spine1:Ethernet0 --loss 1% --direction from-here\n  vmlab link set spine1:Ethernet0 --rate 10mbit"
    )]
    Set {
        /// The link: its number in `vmlab links`, or either end (spine1:Ethernet0, spine1:eth1)
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
        /// Which way: from-here (leaving the end typed), to-here (arriving at it), both, or in
        /// the spec's a/z order (the A and Z columns of `vmlab links`): a-to-z, z-to-a
        #[arg(long, default_value = "both", value_parser = parse_directions)]
        direction: Directions,
    },
    /// Clear every impairment of the link, both ways
    #[command(after_help = "Example:\n  vmlab link reset spine1:Ethernet0")]
    Reset {
        /// The link: its number in `vmlab links`, or either end (spine1:Ethernet0, spine1:eth1)
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
    Directions::parse_typed(s)
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// Spec directory (topology.json, platforms.json, profiles/); default: the current
    /// directory, when it holds a topology.json
    #[arg(value_name = "DIR", conflicts_with = "specs")]
    pub dir: Option<PathBuf>,
    /// Spec directory (as DIR)
    #[arg(short = 'S', long = "specs", value_name = "DIR")]
    pub specs: Option<PathBuf>,
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
    /// Port bases other than the spec's (for a newtron network, whose files vmlab never
    /// writes): links
    #[arg(long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub link_port_base: Option<u16>,
    /// ... consoles (with vmlab.consoles: "tcp")
    #[arg(long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub console_port_base: Option<u16>,
    /// ... the nodes' SSH forwards
    #[arg(long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub ssh_port_base: Option<u16>,
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
    pub fn wanted(self) -> Option<Accel> {
        match self {
            AccelArg::Auto => None,
            AccelArg::Kvm => Some(Accel::Kvm),
            AccelArg::Tcg => Some(Accel::Tcg),
        }
    }
}

/// `vmlab validate --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ValidateFormat {
    Table,
    Json,
    Junit,
}

/// `vmlab inventory --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InventoryFormat {
    Ansible,
    Json,
}

/// `vmlab graph --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    Ascii,
    Dot,
    Mermaid,
}

/// `vmlab exec --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExecFormat {
    Text,
    Json,
}

/// `vmlab export <what>`.
#[derive(Debug, Subcommand)]
pub enum ExportWhat {
    /// Kubernetes manifests: the spec as ConfigMaps, the lab key, secrets.json and an API token
    /// as a Secret, a headless Service naming each shard, and a StatefulSet of one unprivileged
    /// pod per shard (the spec's hosts, or --shards N balanced by CPU and memory with few links
    /// between shards); links between shards are keyed UDP links, as between hosts
    #[command(
        after_help = "Examples:\n  vmlab export k8s -S specs/ --shards 3 --images-claim lab-images -o k8s/\n  vmlab export k8s -S specs/ --images-image registry.example/lab-images:1 | kubectl apply -f -"
    )]
    #[command(group(
        clap::ArgGroup::new("images")
            .args(["images_claim", "images_image"])
            .required(true)
    ))]
    K8s(K8sArgs),
}

/// `vmlab export k8s`.
#[derive(Debug, Args)]
pub struct K8sArgs {
    /// Spec directory of the lab (the current directory when it holds one)
    #[arg(short = 'S', long = "specs", value_name = "DIR")]
    pub specs: Option<PathBuf>,
    /// The namespace the manifests go in
    #[arg(long, value_name = "NS", default_value = "default")]
    pub namespace: String,
    /// The container image with QEMU and vmlab (built from assets/k8s/Containerfile)
    #[arg(long, value_name = "IMAGE", default_value = "vmlab:latest")]
    pub image: String,
    /// Split a spec that places no node on a host into N shards (one pod each)
    #[arg(long, value_name = "N")]
    pub shards: Option<usize>,
    /// The disk images come from this PersistentVolumeClaim (mounted read-only)
    #[arg(long, value_name = "CLAIM")]
    pub images_claim: Option<String>,
    /// The disk images come from this container image's /images (copied in by an init container)
    #[arg(long, value_name = "IMAGE")]
    pub images_image: Option<String>,
    /// kvm asks each pod for the KubeVirt device plugin's devices.kubevirt.io/kvm; tcg needs
    /// nothing from the node
    #[arg(long, value_enum, default_value = "tcg")]
    pub accel: K8sAccel,
    /// The port each shard's API listens on
    #[arg(long, value_name = "PORT", default_value_t = 8080)]
    pub api_port: u16,
    /// Write a file per manifest into DIR instead of one stream on stdout
    #[arg(short = 'o', long = "out", value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// `vmlab export k8s --accel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum K8sAccel {
    Kvm,
    Tcg,
}

/// `vmlab shard ...`.
#[derive(Debug, Subcommand)]
pub enum ShardAction {
    /// Print what the shard would run — its nodes, ports, the links to the other shards at the
    /// addresses their names have now, every QEMU command line — from the spec as its pod
    /// mounts it (`vmlab export k8s`), without starting anything
    #[command(after_help = "Example:\n  vmlab shard plan --spec /etc/vmlab/spec --shard s0")]
    Plan(ShardArgs),
    /// The pod's process: deploy the shard's nodes from that spec, bring back any that die (as
    /// `repair` does) every 10 s, serve the shard's API with --listen, and on SIGTERM destroy
    /// the shard and exit 0
    #[command(
        after_help = "Example (the pod's command, as `vmlab export k8s` writes it):\n  vmlab shard run --spec /etc/vmlab/spec --shard s0 --listen 0.0.0.0:8080 --token-file /etc/vmlab/token/token"
    )]
    Run(ShardRunArgs),
    /// Exit 0 once every node of the shard is running (the readiness probe)
    #[command(after_help = "Example:\n  vmlab shard ready --spec /etc/vmlab/spec --shard s0")]
    Ready(ShardArgs),
    /// Exit 0 while the home's `vmlab shard run` lives (the liveness probe)
    #[command(after_help = "Example:\n  vmlab shard alive --spec /etc/vmlab/spec --shard s0")]
    Alive(ShardArgs),
}

/// `vmlab shard run`.
#[derive(Debug, Args)]
pub struct ShardRunArgs {
    #[command(flatten)]
    pub shard: ShardArgs,
    /// Serve the shard's API here (needs --token-file)
    #[arg(long, value_name = "ADDR:PORT", requires = "token_file")]
    pub listen: Option<String>,
    /// The API's bearer token (mode 0600)
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
}

/// Which shard, and where its spec is mounted.
#[derive(Debug, Args)]
pub struct ShardArgs {
    /// The spec as the pod mounts it (with k8s-shards.json beside it)
    #[arg(long, value_name = "DIR")]
    pub spec: PathBuf,
    /// This pod's shard
    #[arg(long, value_name = "NAME")]
    pub shard: String,
    /// How long to wait for the other shards' names to resolve, in seconds
    #[arg(long, value_name = "SECS", default_value_t = 120)]
    pub wait: u64,
}
