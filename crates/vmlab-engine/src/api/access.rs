//! Reaching a node, decided once for every front end: its serial console, or an ssh session
//! (or command) on it. A console of a node on another host goes through that host's vmlab
//! over ssh; a node here only while its QEMU runs (proven ours), on
//! the lab's unix socket (`qemu/<node>.con`, inside the 0700 lab directory: no other local
//! user can attach) or, with `vmlab.consoles: "tcp"`, on its loopback port. Checking that the
//! node runs first means nothing typed into `vmlab console` can reach whoever bound a stopped
//! node's port.

use tokio::io::{AsyncRead, AsyncWrite};

use crate::error::EngineError;
use crate::lab::LabDir;
use crate::lab::lifecycle;
use crate::lab::state::LabState;
use crate::node::NodeStatus;

/// Reading and writing halves of a console connection.
pub type Halves = (
    Box<dyn AsyncRead + Send + Unpin>,
    Box<dyn AsyncWrite + Send + Unpin>,
);

/// An open console here.
pub struct LocalConsole {
    pub halves: Halves,
    /// Where it is, for messages (`port 30001`, `its unix socket`).
    pub place: String,
    /// Who held the console when this one came (QEMU serves one client at a time): this one
    /// then follows the console's output read-only, from its log, and input goes nowhere.
    pub held_by: Option<String>,
    /// What the console showed last (about a screen of its log), for the viewer to show
    /// before what comes; a read-only view streams it itself.
    pub recent: Vec<u8>,
    /// This viewer's claim on the console: whoever keeps it holds the console (a second
    /// viewer is told who), until it is dropped.
    pub claim: ConsoleClaim,
}

/// A viewer's hold on a console (an exclusive lock on `<console>.who`, which names the
/// holder), released when dropped. Opaque: a front end keeps it as long as its view is open.
pub struct ConsoleClaim(#[allow(dead_code)] Option<nix::fcntl::Flock<std::fs::File>>);

/// How to reach a node's console.
pub enum ConsoleAccess {
    Local(LocalConsole),
    /// A node of another host: this command (`ssh -t <host> vmlab console <node>`) in a
    /// terminal.
    Remote(SshCommand),
}

/// An ssh command line the engine built (a node's login, or another host's console). A front
/// end cannot change it; it runs it in place of itself ([`SshCommand::exec`]) or hands its
/// program, arguments and environment to a terminal it opens (the TUI's tabs).
pub struct SshCommand(std::process::Command);

impl SshCommand {
    /// Replaces this process with ssh, so the terminal, signals and exit status pass straight
    /// through; returns only if that fails.
    pub fn exec(mut self) -> std::io::Error {
        use std::os::unix::process::CommandExt;
        self.0.exec()
    }

    pub fn program(&self) -> &std::ffi::OsStr {
        self.0.get_program()
    }

    pub fn args(&self) -> impl Iterator<Item = &std::ffi::OsStr> {
        self.0.get_args()
    }

    /// The environment it sets (`None`: a variable it removes).
    pub fn envs(&self) -> impl Iterator<Item = (&std::ffi::OsStr, Option<&std::ffi::OsStr>)> {
        self.0.get_envs()
    }
}

/// Opens `node`'s console, or says why it cannot be reached. A console another viewer holds
/// is not fought over: this one follows its output and says who holds it.
pub async fn open(lab: &LabDir, node: &str) -> Result<ConsoleAccess, EngineError> {
    let state = LabState::load(lab)?;
    // A coalesced host has no console of its own: its VM's is where it lives.
    let node = state.machine_of(node);
    let rec = state.node(node)?;
    if rec.status == NodeStatus::Remote {
        return crate::host::remote::console_command(&state, node)
            .map(|c| ConsoleAccess::Remote(SshCommand(c)));
    }
    if lifecycle::running_pid(lab, node, rec).is_none() {
        return Err(EngineError::LabState(lifecycle::not_running(
            node, rec.status,
        )));
    }
    let paths = lab.node_paths(node);
    let place = match rec.console_port {
        Some(port) => format!("port {port}"),
        None => "its unix socket".into(),
    };
    let claim = match claim(&paths.console) {
        Ok(c) => c,
        Err(holder) => {
            return Ok(ConsoleAccess::Local(follow(
                &paths.console_log,
                place,
                holder,
            )));
        }
    };
    // A client that is not vmlab (socat, telnet) shows as a connection to the console.
    let stranger = match rec.console_port {
        Some(port) => crate::netstat::established_local_ports().contains(&port),
        None => crate::netstat::unix_connected(&paths.console),
    };
    if stranger {
        return Ok(ConsoleAccess::Local(follow(
            &paths.console_log,
            place,
            "another program connected to it".into(),
        )));
    }
    let cannot = |e: std::io::Error| EngineError::io(format!("cannot reach {node}'s console"), e);
    let halves: Halves = match rec.console_port {
        Some(port) => {
            let s = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .map_err(cannot)?;
            let (r, w) = s.into_split();
            (Box::new(r), Box::new(w))
        }
        None => {
            let s = tokio::net::UnixStream::connect(&paths.console)
                .await
                .map_err(cannot)?;
            let (r, w) = s.into_split();
            (Box::new(r), Box::new(w))
        }
    };
    Ok(ConsoleAccess::Local(LocalConsole {
        halves,
        place,
        held_by: None,
        recent: recent(&paths.console_log),
        claim: ConsoleClaim(Some(claim)),
    }))
}

/// About a screen of what the console printed last, from its log: the last 4 KiB, from the
/// first line that starts in them.
fn recent(log: &std::path::Path) -> Vec<u8> {
    use std::io::{Read, Seek};
    let Ok(mut f) = std::fs::File::open(log) else {
        return Vec::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let from = len.saturating_sub(4096);
    let mut buf = Vec::new();
    if f.seek(std::io::SeekFrom::Start(from)).is_err() || f.read_to_end(&mut buf).is_err() {
        return Vec::new();
    }
    if from > 0
        && let Some(nl) = buf.iter().position(|b| *b == b'\n')
    {
        buf.drain(..=nl);
    }
    buf
}

/// Claims the console at `console` for this process: an exclusive lock on `<console>.who`,
/// which says who holds it. `Err` names the holder.
fn claim(console: &std::path::Path) -> Result<nix::fcntl::Flock<std::fs::File>, String> {
    use nix::fcntl::{Flock, FlockArg};
    use std::io::{Read, Seek, Write};
    let who = console.with_extension("con.who");
    let unknown = || "another vmlab".to_string();
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&who)
        .map_err(|_| unknown())?;
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(mut f) => {
            let me = format!(
                "vmlab {} (pid {})",
                std::env::args().nth(1).unwrap_or_default(),
                std::process::id()
            );
            let _ = f.set_len(0);
            let _ = f.rewind();
            let _ = f.write_all(me.as_bytes());
            Ok(f)
        }
        Err((mut f, _)) => {
            let mut text = String::new();
            let _ = f.read_to_string(&mut text);
            let text: String = text.chars().filter(|c| !c.is_control()).take(80).collect();
            Err(if text.is_empty() { unknown() } else { text })
        }
    }
}

/// A read-only view of a held console: its log from about a screen back, then what comes.
fn follow(log: &std::path::Path, place: String, holder: String) -> LocalConsole {
    use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
    let (reader, mut writer) = tokio::io::duplex(64 * 1024);
    let log = log.to_path_buf();
    tokio::spawn(async move {
        let Ok(mut f) = tokio::fs::File::open(&log).await else {
            return;
        };
        if let Ok(m) = f.metadata().await {
            let _ = f
                .seek(std::io::SeekFrom::Start(m.len().saturating_sub(2048)))
                .await;
        }
        let mut buf = vec![0u8; 8192];
        loop {
            match f.read(&mut buf).await {
                Ok(0) => tokio::time::sleep(std::time::Duration::from_millis(150)).await,
                Ok(n) => {
                    if writer.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
                Err(_) => return,
            }
        }
    });
    LocalConsole {
        halves: (Box::new(reader), Box::new(tokio::io::sink())),
        place,
        held_by: Some(holder),
        recent: Vec::new(),
        claim: ConsoleClaim(None),
    }
}

/// The ssh command for `node` (`command` empty: an interactive shell), the password handed to
/// ssh by the vmlab binary as its askpass helper. A node here whose QEMU does not run is
/// named as such, instead of ssh's "Connection refused".
pub fn ssh(lab: &LabDir, node: &str, command: &[String]) -> Result<SshCommand, EngineError> {
    let state = LabState::load(lab)?;
    let vm = state.machine_of(node);
    let rec = state.node(vm)?;
    if rec.status != NodeStatus::Remote && lifecycle::running_pid(lab, vm, rec).is_none() {
        return Err(EngineError::LabState(lifecycle::not_running(
            vm, rec.status,
        )));
    }
    let me = std::env::current_exe()
        .map_err(|e| EngineError::io("cannot locate the vmlab binary", e))?;
    state.ssh_command(node, command, &me).map(SshCommand)
}
