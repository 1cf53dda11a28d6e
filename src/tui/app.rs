//! The TUI's state and its reactions to input and engine news. No I/O happens here: input
//! becomes [`Action`]s that the run loop carries out, and news only changes state.
//!
//! This file holds the state (one [`App`]), the routing of keys and the mouse to the part
//! that has focus, and the folding of observations and engine events; each part of the screen
//! (`parts::{nodes, links, topology, tabs, overlays}`) holds its own keys and results.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use crossterm::event::{
    Event as TermEvent, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent,
    MouseEventKind,
};
use ratatui::layout::{Position, Rect};

use super::keymap::{self, Command};
use super::layout::Areas;
use crate::engine::api::{
    BootStage, CheckResult, Event as EngineEvent, NodeOp, NodeStatus, Observation, Tally,
};
use crate::term::keys::paste_bytes;
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

/// What the tabs (`parts::tabs`) keep: every console and SSH tab, the one `x` and `r` act on
/// from the dashboard, and the id the next session gets.
#[derive(Debug)]
pub struct TabsPart {
    pub list: Vec<Tab>,
    pub current: usize,
    pub(in crate::tui) next_session: SessionId,
}

impl Default for TabsPart {
    fn default() -> Self {
        TabsPart {
            list: Vec::new(),
            current: 0,
            next_session: 1,
        }
    }
}

/// What the nodes table (`parts::nodes`) keeps: its selection, the nodes with an action
/// (start/stop/restart) in flight, what the engine's events said of each node's boot ahead of
/// the next observation (its stage; which boot patch it is at, `[which, of]`), and the `/`
/// filter.
#[derive(Debug, Default)]
pub struct NodesPart {
    pub selected: usize,
    pub busy: HashMap<String, NodeOp>,
    pub stages: HashMap<String, BootStage>,
    pub patching: HashMap<String, [usize; 2]>,
    /// Nodes shown are those whose name, platform or host contains this (case-insensitive);
    /// the links table shows the links with an end on one of them.
    pub filter: String,
    /// The filter is being typed (`/`): keys go to it.
    pub filtering: bool,
}

/// What the links table (`parts::links`) keeps, and only it changes: its selection, the links
/// with a down/up in flight, and the captures running (by link index, with their file once
/// it is known).
#[derive(Debug, Default)]
pub struct LinksPart {
    pub selected: usize,
    pub busy: std::collections::HashSet<usize>,
    pub captures: HashMap<usize, Option<String>>,
}

/// The lab's checks as the last `V` ran them.
#[derive(Debug, Default)]
pub struct ChecksRun {
    /// A run is in flight.
    pub running: bool,
    /// Each check × node that has ended, in the order they ended.
    pub results: Vec<CheckResult>,
    /// Why the run could not start or did not finish (no `validate.json`, an invalid file).
    pub error: Option<String>,
    pub started: Option<Instant>,
    /// How long the finished run took.
    pub took: Option<Duration>,
}

impl ChecksRun {
    /// The panel's title: what ran and how it stands.
    pub fn summary(&self) -> String {
        let Tally { pass, fail, error } = Tally::of(&self.results);
        let mut s = format!("{pass} pass");
        if fail > 0 {
            s.push_str(&format!(" · {fail} FAIL"));
        }
        if error > 0 {
            s.push_str(&format!(" · {error} ERROR"));
        }
        if self.running {
            s.push_str(" · running…");
        } else if let Some(took) = self.took {
            s.push_str(&format!(" · {:.1} s", took.as_secs_f64()));
        }
        s
    }
}

/// One line of the event log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub at: Duration,
    pub text: String,
    pub error: bool,
}

/// The whole UI state.
#[derive(Debug)]
pub struct App {
    pub lab: String,
    pub obs: Option<Observation>,
    /// The last monitor error (state not readable yet, for example).
    pub obs_error: Option<String>,
    /// A deploy runs inside this TUI.
    pub deploying: bool,
    pub started: Instant,
    pub focus: Focus,
    /// The console and SSH tabs' own state (`parts::tabs`).
    pub tabs: TabsPart,
    pub log: VecDeque<LogLine>,
    pub overlay: Overlay,
    /// The nodes table's own state (`parts::nodes`).
    pub nodes: NodesPart,
    /// Which table the selection keys move in.
    pub table: Table,
    /// The links table's own state (`parts::links`).
    pub links: LinksPart,
    /// A snapshot or restore is in flight.
    pub snapshot_busy: bool,
    /// The lab's checks, as the last `V` ran them.
    pub checks: ChecksRun,
    pub quit: bool,
    /// The size of the whole terminal at the last draw.
    pub screen: Rect,
    /// Draw without colour (`NO_COLOR`).
    pub no_color: bool,
}

const LOG_LINES: usize = 500;

impl App {
    pub fn new(lab: &str, deploying: bool) -> Self {
        App {
            lab: lab.to_string(),
            obs: None,
            obs_error: None,
            deploying,
            started: Instant::now(),
            nodes: NodesPart::default(),
            focus: Focus::Dashboard,
            tabs: TabsPart::default(),
            log: VecDeque::new(),
            overlay: Overlay::None,
            table: Table::Nodes,
            links: LinksPart::default(),
            snapshot_busy: false,
            checks: ChecksRun::default(),
            quit: false,
            screen: Rect::new(0, 0, 80, 24),
            no_color: false,
        }
    }

    pub fn note(&mut self, text: impl Into<String>, error: bool) {
        if self.log.len() >= LOG_LINES {
            self.log.pop_front();
        }
        self.log.push_back(LogLine {
            at: self.started.elapsed(),
            text: text.into(),
            error,
        });
    }

    /// A fresh observation from the engine's monitor.
    pub fn observe(&mut self, obs: Result<Observation, String>) {
        match obs {
            Ok(o) => {
                for n in &o.status.nodes {
                    match (n.status, n.stage) {
                        // The engine's events may be ahead of what the state file says.
                        (NodeStatus::Booting, Some(stage)) => {
                            let known = self.nodes.stages.entry(n.name.clone()).or_insert(stage);
                            *known = (*known).max(stage);
                        }
                        (_, Some(stage)) => {
                            self.nodes.stages.insert(n.name.clone(), stage);
                        }
                        (_, None) => {
                            self.nodes.stages.remove(&n.name);
                        }
                    }
                }
                self.obs = Some(o);
                self.obs_error = None;
                self.clamp_selection();
            }
            Err(e) => self.obs_error = Some(e),
        }
    }

    /// Keeps the node selection on a row that is shown.
    pub(in crate::tui) fn clamp_selection(&mut self) {
        let count = self.node_names().len();
        self.nodes.selected = self.nodes.selected.min(count.saturating_sub(1));
        let links = self.link_count();
        self.links.selected = self.links.selected.min(links.saturating_sub(1));
    }

    /// News from the engine (a deploy or a node action).
    pub fn engine_event(&mut self, e: EngineEvent) {
        let error = e.is_problem();
        if let EngineEvent::NodeStage { node, stage, .. } = &e {
            self.nodes.stages.insert(node.clone(), *stage);
        }
        if let EngineEvent::NodePatch {
            node, index, total, ..
        } = &e
        {
            self.nodes.stages.insert(node.clone(), BootStage::Patching);
            self.nodes.patching.insert(node.clone(), [*index, *total]);
        }
        if let EngineEvent::Check(r) = &e {
            self.check_ended(r);
        }
        self.note(e.describe(), error);
    }

    /// The result of a node action.
    pub fn action_done(&mut self, node: &str, op: NodeOp, result: Result<(), String>) {
        self.nodes.busy.remove(node);
        let what = op.verb();
        match result {
            Ok(()) => self.note(format!("{node}: {what} done"), false),
            Err(e) => self.note(format!("{node}: {what} failed: {e}"), true),
        }
    }

    /// Handles one terminal event.
    pub fn input(&mut self, ev: TermEvent) -> Vec<Action> {
        match ev {
            TermEvent::Key(k) if k.kind != KeyEventKind::Release => self.key(k),
            TermEvent::Paste(text) => match self.focus {
                Focus::Tab(i) => self.tab_bytes(i, |m| Some(paste_bytes(&text, m))),
                Focus::Dashboard | Focus::Topology => Vec::new(),
            },
            TermEvent::Mouse(m) => self.mouse(m),
            TermEvent::Resize(w, h) => {
                self.screen = Rect::new(0, 0, w, h);
                self.fit_panes()
            }
            _ => Vec::new(),
        }
    }

    fn key(&mut self, k: KeyEvent) -> Vec<Action> {
        match self.overlay.clone() {
            Overlay::Help => {
                self.overlay = Overlay::None;
                return Vec::new();
            }
            Overlay::ConfirmDestroy => {
                return self.confirm(
                    k,
                    "destroying the lab".into(),
                    Action::Destroy,
                    "destroy cancelled",
                );
            }
            Overlay::ConfirmSnapshot(name) => {
                return self.confirm(
                    k,
                    format!("taking snapshot {name}"),
                    Action::Snapshot(name),
                    "snapshot cancelled",
                );
            }
            Overlay::ConfirmRestore(name) => {
                return self.confirm(
                    k,
                    format!("restoring snapshot {name}"),
                    Action::Restore(name),
                    "restore cancelled",
                );
            }
            Overlay::Snapshots(i) => {
                let snaps = self.snapshots();
                match k.code {
                    KeyCode::Up | KeyCode::Char('k') => {
                        self.overlay = Overlay::Snapshots(i.saturating_sub(1));
                    }
                    KeyCode::Down | KeyCode::Char('j') => {
                        self.overlay =
                            Overlay::Snapshots((i + 1).min(snaps.len().saturating_sub(1)));
                    }
                    KeyCode::Enter => {
                        self.overlay = match snaps.get(i) {
                            Some((name, _)) => Overlay::ConfirmRestore(name.clone()),
                            None => Overlay::None,
                        };
                    }
                    _ => self.overlay = Overlay::None,
                }
                return Vec::new();
            }
            Overlay::Checks(i) => return self.checks_key(i, k),
            Overlay::None => {}
        }
        match self.focus {
            Focus::Tab(i) => self.tab_key(i, k),
            Focus::Dashboard | Focus::Topology if self.nodes.filtering => self.filter_key(k),
            Focus::Dashboard | Focus::Topology => self.dashboard_key(k),
        }
    }

    fn dashboard_key(&mut self, k: KeyEvent) -> Vec<Action> {
        let Some(cmd) = keymap::lookup(&k) else {
            return Vec::new();
        };
        let n = match self.table {
            Table::Nodes => self.node_names().len(),
            Table::Links => self.link_count(),
        };
        let sel = match self.table {
            Table::Nodes => &mut self.nodes.selected,
            Table::Links => &mut self.links.selected,
        };
        match cmd {
            Command::Quit => {
                self.quit = true;
                vec![Action::Quit]
            }
            Command::Help => {
                self.overlay = Overlay::Help;
                Vec::new()
            }
            Command::Down => {
                if n > 0 {
                    *sel = (*sel + 1).min(n - 1);
                }
                Vec::new()
            }
            Command::Up => {
                *sel = sel.saturating_sub(1);
                Vec::new()
            }
            Command::First => {
                *sel = 0;
                Vec::new()
            }
            Command::Last => {
                *sel = n.saturating_sub(1);
                Vec::new()
            }
            Command::OtherTable => {
                self.table = match self.table {
                    Table::Nodes if self.link_count() > 0 => Table::Links,
                    _ => Table::Nodes,
                };
                Vec::new()
            }
            Command::Console => self.open_tab(TabKind::Console),
            Command::Ssh => self.open_tab(TabKind::Ssh),
            Command::Tab(i) => {
                if i < self.tabs.list.len() {
                    self.focus = Focus::Tab(i);
                    self.tabs.current = i;
                }
                Vec::new()
            }
            Command::CurrentTab => {
                if !self.tabs.list.is_empty() {
                    let i = self.tabs.current.min(self.tabs.list.len() - 1);
                    self.focus = Focus::Tab(i);
                }
                Vec::new()
            }
            Command::CloseTab if !self.tabs.list.is_empty() => {
                self.close_tab(self.tabs.current.min(self.tabs.list.len() - 1))
            }
            Command::Reconnect if !self.tabs.list.is_empty() => {
                self.reconnect(self.tabs.current.min(self.tabs.list.len() - 1))
            }
            Command::CloseTab | Command::Reconnect => Vec::new(),
            Command::StartNode => self.node_action(NodeOp::Start),
            Command::StopNode => self.node_action(NodeOp::Stop),
            Command::RestartNode => self.node_action(NodeOp::Restart),
            Command::ToggleLink => self.link_toggle(),
            Command::ToggleCapture => self.capture_toggle(),
            Command::Destroy => {
                self.overlay = Overlay::ConfirmDestroy;
                Vec::new()
            }
            Command::Filter => {
                self.nodes.filtering = true;
                self.table = Table::Nodes;
                Vec::new()
            }
            Command::Topology => {
                self.focus = match self.focus {
                    Focus::Topology => Focus::Dashboard,
                    _ => Focus::Topology,
                };
                Vec::new()
            }
            Command::TakeSnapshot => {
                if self.deploying || self.snapshot_busy {
                    self.note(
                        "wait for the deploy (or snapshot) in progress to finish",
                        true,
                    );
                    return Vec::new();
                }
                let taken: Vec<String> = self.snapshots().into_iter().map(|(n, _)| n).collect();
                let name = (1..)
                    .map(|k| format!("snap{k}"))
                    .find(|n| !taken.contains(n))
                    .unwrap_or_else(|| "snap".into());
                self.overlay = Overlay::ConfirmSnapshot(name);
                Vec::new()
            }
            Command::Validate => self.validate_key(),
            Command::Snapshots => {
                if self.snapshots().is_empty() {
                    self.note("no snapshots yet (S takes one)", false);
                } else if self.deploying || self.snapshot_busy {
                    self.note(
                        "wait for the deploy (or snapshot) in progress to finish",
                        true,
                    );
                } else {
                    self.overlay = Overlay::Snapshots(0);
                }
                Vec::new()
            }
        }
    }

    fn mouse(&mut self, m: MouseEvent) -> Vec<Action> {
        let areas = Areas::of(self.screen);
        let at = Position::new(m.column, m.row);
        match (self.focus, m.kind) {
            (Focus::Tab(i), MouseEventKind::ScrollUp) => {
                if let Some(t) = self.tabs.list.get_mut(i) {
                    t.emu.scroll(3);
                }
                Vec::new()
            }
            (Focus::Tab(i), MouseEventKind::ScrollDown) => {
                if let Some(t) = self.tabs.list.get_mut(i) {
                    t.emu.scroll(-3);
                }
                Vec::new()
            }
            (_, MouseEventKind::Down(MouseButton::Left)) if areas.tab_bar.contains(at) => {
                // Tab bar: "dashboard", "topology", then each tab, in the order drawn.
                let titles = self.tab_titles();
                let mut x = areas.tab_bar.x;
                for (k, t) in titles.iter().enumerate() {
                    let w = t.chars().count() as u16 + 3;
                    if m.column < x + w {
                        match k {
                            0 => self.focus = Focus::Dashboard,
                            1 => self.focus = Focus::Topology,
                            _ => {
                                self.focus = Focus::Tab(k - 2);
                                self.tabs.current = k - 2;
                            }
                        }
                        break;
                    }
                    x += w;
                }
                Vec::new()
            }
            (Focus::Dashboard, MouseEventKind::ScrollDown) => {
                let n = self.node_names().len();
                if n > 0 {
                    self.nodes.selected = (self.nodes.selected + 1).min(n - 1);
                }
                Vec::new()
            }
            (Focus::Dashboard, MouseEventKind::ScrollUp) => {
                self.nodes.selected = self.nodes.selected.saturating_sub(1);
                Vec::new()
            }
            (Focus::Dashboard, MouseEventKind::Down(MouseButton::Left))
                if areas.nodes.contains(at) =>
            {
                // Rows start below the border and the header line.
                let row = m.row.saturating_sub(areas.nodes.y + 2) as usize;
                if row < self.node_names().len() {
                    self.nodes.selected = row;
                    self.table = Table::Nodes;
                }
                Vec::new()
            }
            (Focus::Dashboard, MouseEventKind::Down(MouseButton::Left))
                if areas.links.contains(at) =>
            {
                let row = m.row.saturating_sub(areas.links.y + 2) as usize;
                if row < self.link_count() {
                    self.links.selected = row;
                    self.table = Table::Links;
                }
                Vec::new()
            }
            _ => Vec::new(),
        }
    }
}
