//! Reaching a node, decided once for every front end: its serial console, or an ssh session
//! (or command) on it. A console of a node on another host goes through that host's vmlab
//! over ssh; a node here only while its QEMU runs (proven ours), on
//! the lab's unix socket (`qemu/<node>.con`, inside the 0700 lab directory: no other local
//! user can attach) or, with `vmlab.consoles: "tcp"`, on its loopback port. Checking that the
//! node runs first means nothing typed into `vmlab console` can reach whoever bound a stopped
//! node's port.

use tokio::io::{AsyncRead, AsyncWrite};

use crate::engine::error::EngineError;
use crate::engine::lab::LabDir;
use crate::engine::lab::lifecycle;
use crate::engine::lab::state::LabState;
use crate::engine::node::NodeStatus;

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
    /// Another client held the console when this one connected (QEMU serves one at a time:
    /// this one waits its turn). Known for TCP consoles only.
    pub held: bool,
}

/// How to reach a node's console.
pub enum ConsoleAccess {
    Local(LocalConsole),
    /// A node of another host: this command (`ssh -t <host> vmlab console <node>`) in a
    /// terminal.
    Remote(std::process::Command),
}

/// Opens `node`'s console, or says why it cannot be reached.
pub async fn open(lab: &LabDir, node: &str) -> Result<ConsoleAccess, EngineError> {
    let state = LabState::load(lab)?;
    let rec = state.node(node)?;
    if rec.status == NodeStatus::Remote {
        return crate::engine::host::remote::console_command(&state, node)
            .map(ConsoleAccess::Remote);
    }
    if lifecycle::running_pid(lab, node, rec).is_none() {
        return Err(EngineError::LabState(lifecycle::not_running(
            node, rec.status,
        )));
    }
    let cannot = |e: std::io::Error| EngineError::io(format!("cannot reach {node}'s console"), e);
    let console = match rec.console_port {
        Some(port) => {
            let held = crate::engine::netstat::established_local_ports().contains(&port);
            let s = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .map_err(cannot)?;
            let (r, w) = s.into_split();
            LocalConsole {
                halves: (Box::new(r), Box::new(w)),
                place: format!("port {port}"),
                held,
            }
        }
        None => {
            let s = tokio::net::UnixStream::connect(lab.node_paths(node).console)
                .await
                .map_err(cannot)?;
            let (r, w) = s.into_split();
            LocalConsole {
                halves: (Box::new(r), Box::new(w)),
                place: "its unix socket".into(),
                held: false,
            }
        }
    };
    Ok(ConsoleAccess::Local(console))
}

/// The ssh command for `node` (`command` empty: an interactive shell), the password handed to
/// ssh by the vmlab binary as its askpass helper. A node here whose QEMU does not run is
/// named as such, instead of ssh's "Connection refused".
pub fn ssh(
    lab: &LabDir,
    node: &str,
    command: &[String],
) -> Result<std::process::Command, EngineError> {
    let state = LabState::load(lab)?;
    let rec = state.node(node)?;
    if rec.status != NodeStatus::Remote && lifecycle::running_pid(lab, node, rec).is_none() {
        return Err(EngineError::LabState(lifecycle::not_running(
            node, rec.status,
        )));
    }
    let me = std::env::current_exe()
        .map_err(|e| EngineError::io("cannot locate the vmlab binary", e))?;
    state.ssh_command(node, command, &me)
}
