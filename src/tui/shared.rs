//! What the app and its parts say to each other: the actions the run loop carries out, where
//! focus is and which overlay is shown, which table has the selection, and what a console or SSH
//! tab is. The app (the router) and every part (`parts::*`) use these; neither owns them.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::engine::api::NodeOp;
use crate::term::screen::Emulator;
use crate::term::session::SessionId;

/// What a tab is attached to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TabKind {
    Console,
    Ssh,
}

impl TabKind {
    pub fn label(self) -> &'static str {
        match self {
            TabKind::Console => "console",
            TabKind::Ssh => "ssh",
        }
    }
}

/// A tab's connection state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TabState {
    Connecting,
    Connected,
    Closed(String),
}

/// One terminal tab.
#[derive(Debug)]
pub struct Tab {
    pub session: SessionId,
    pub node: String,
    pub kind: TabKind,
    pub state: TabState,
    /// A note about the connection (for example: the console is held by another client).
    pub notice: Option<String>,
    pub emu: Emulator,
}

/// Ctrl-]: the byte 0x1d, which crossterm may report as Ctrl-] or Ctrl-5.
pub fn is_detach(k: &KeyEvent) -> bool {
    k.modifiers.contains(KeyModifiers::CONTROL)
        && matches!(k.code, KeyCode::Char(']') | KeyCode::Char('5'))
}

/// What has keyboard focus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Dashboard,
    /// The topology drawing (the dashboard's keys work here too).
    Topology,
    Tab(usize),
}

/// The dashboard table the selection moves in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Nodes,
    Links,
}

/// A modal layer over everything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overlay {
    None,
    Help,
    ConfirmDestroy,
    /// Take a snapshot with this name?
    ConfirmSnapshot(String),
    /// The lab's snapshots, one selected.
    Snapshots(usize),
    /// Restore this snapshot?
    ConfirmRestore(String),
    /// The lab's checks, one row selected.
    Checks(usize),
}

/// Something for the run loop to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Open (or reopen, for `Some(session)`) a tab's session.
    Connect {
        session: SessionId,
        node: String,
        kind: TabKind,
        rows: u16,
        cols: u16,
    },
    /// Drop a session.
    Disconnect(SessionId),
    /// Bytes for a session.
    Send(SessionId, Vec<u8>),
    /// Tell a session its pane's size.
    Resize(SessionId, u16, u16),
    /// Start, stop or restart a node.
    Node(NodeOp, String),
    /// Take a snapshot of the lab.
    Snapshot(String),
    /// Restore the lab to a snapshot.
    Restore(String),
    /// Set link `index` (named by its end `end`) up or down.
    Link {
        index: usize,
        end: String,
        up: bool,
    },
    /// Capture link `index` into the lab directory.
    StartCapture {
        index: usize,
        end: String,
    },
    StopCapture(usize),
    /// Run the lab's checks.
    Validate,
    Destroy,
    Quit,
}
