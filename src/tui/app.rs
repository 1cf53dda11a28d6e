//! The TUI's state and its reactions to input and engine news. No I/O happens here: input
//! becomes [`Action`]s that the run loop carries out, and news only changes state.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use crossterm::event::{
    Event as TermEvent, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent,
    MouseEventKind,
};
use ratatui::layout::{Position, Rect};

use super::keymap::{self, Command};
use super::layout::Areas;
use crate::engine::api::{BootStage, Event as EngineEvent, NodeOp, NodeStatus, Observation};
use crate::term::keys::{Modes, key_bytes, paste_bytes};
use crate::term::screen::Emulator;
use crate::term::session::{SessionEvent, SessionId};

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
    Destroy,
    Quit,
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
    pub selected: usize,
    pub focus: Focus,
    /// The tab `x` and `r` act on from the dashboard.
    pub current_tab: usize,
    pub tabs: Vec<Tab>,
    pub log: VecDeque<LogLine>,
    pub overlay: Overlay,
    /// Boot stages the engine reported, newer than the last observation may know.
    pub stages: HashMap<String, BootStage>,
    /// Nodes with an action (start/stop/restart) in flight.
    pub busy: HashMap<String, NodeOp>,
    /// Which table the selection keys move in.
    pub table: Table,
    /// The selected row of the links table.
    pub selected_link: usize,
    /// Links with a down/up in flight.
    pub busy_links: std::collections::HashSet<usize>,
    /// Captures running, by link index, with their file once it is known.
    pub captures: HashMap<usize, Option<String>>,
    /// A snapshot or restore is in flight.
    pub snapshot_busy: bool,
    pub quit: bool,
    next_session: SessionId,
    /// The size of the whole terminal at the last draw.
    pub screen: Rect,
    /// Nodes shown are those whose name, platform or host contains this (case-insensitive).
    pub filter: String,
    /// The filter is being typed (`/`): keys go to it.
    pub filtering: bool,
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
            selected: 0,
            focus: Focus::Dashboard,
            current_tab: 0,
            tabs: Vec::new(),
            log: VecDeque::new(),
            overlay: Overlay::None,
            stages: HashMap::new(),
            busy: HashMap::new(),
            table: Table::Nodes,
            selected_link: 0,
            busy_links: Default::default(),
            captures: HashMap::new(),
            snapshot_busy: false,
            quit: false,
            next_session: 1,
            screen: Rect::new(0, 0, 80, 24),
            filter: String::new(),
            filtering: false,
            no_color: false,
        }
    }

    /// Does a node pass the filter?
    pub fn shown(&self, n: &crate::engine::api::NodeRow) -> bool {
        if self.filter.is_empty() {
            return true;
        }
        let f = self.filter.to_lowercase();
        [&n.name, &n.platform, &n.host]
            .iter()
            .any(|s| s.to_lowercase().contains(&f))
    }

    /// Names of the nodes shown (the filter applied), in topology order: what the selection
    /// indexes.
    pub fn node_names(&self) -> Vec<String> {
        self.obs
            .as_ref()
            .map(|o| {
                o.status
                    .nodes
                    .iter()
                    .filter(|n| self.shown(n))
                    .map(|n| n.name.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn selected_node(&self) -> Option<String> {
        self.node_names().get(self.selected).cloned()
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
                            let known = self.stages.entry(n.name.clone()).or_insert(stage);
                            *known = (*known).max(stage);
                        }
                        (_, Some(stage)) => {
                            self.stages.insert(n.name.clone(), stage);
                        }
                        (_, None) => {
                            self.stages.remove(&n.name);
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
    fn clamp_selection(&mut self) {
        let count = self.node_names().len();
        self.selected = self.selected.min(count.saturating_sub(1));
    }

    /// News from the engine (a deploy or a node action).
    pub fn engine_event(&mut self, e: EngineEvent) {
        let error = matches!(e, EngineEvent::NodeFailed { .. } | EngineEvent::Warning(_));
        if let EngineEvent::NodeStage { node, stage, .. } = &e {
            self.stages.insert(node.clone(), *stage);
        }
        self.note(e.describe(), error);
    }

    /// Output or news from a tab's session; returns bytes to send back (terminal replies).
    pub fn session_event(&mut self, id: SessionId, e: SessionEvent) -> Option<Vec<u8>> {
        let tab = self.tabs.iter_mut().find(|t| t.session == id)?;
        match e {
            SessionEvent::Output(bytes) => {
                tab.state = TabState::Connected;
                let reply = tab.emu.process(&bytes);
                return (!reply.is_empty()).then_some(reply);
            }
            SessionEvent::Notice(n) => tab.notice = Some(n),
            SessionEvent::Closed(why) => {
                tab.state = TabState::Closed(why.clone());
                let label = format!("{} {} tab: {why}", tab.node, tab.kind.label());
                self.note(label, false);
            }
        }
        None
    }

    /// A session finished connecting (or failed to).
    pub fn connected(&mut self, id: SessionId, result: Result<(), String>) {
        if let Some(tab) = self.tabs.iter_mut().find(|t| t.session == id) {
            match result {
                Ok(()) => {
                    if tab.state == TabState::Connecting {
                        tab.state = TabState::Connected;
                    }
                }
                Err(e) => tab.state = TabState::Closed(e),
            }
        }
    }

    /// The result of a node action.
    pub fn action_done(&mut self, node: &str, op: NodeOp, result: Result<(), String>) {
        self.busy.remove(node);
        let what = op.verb();
        match result {
            Ok(()) => self.note(format!("{node}: {what} done"), false),
            Err(e) => self.note(format!("{node}: {what} failed: {e}"), true),
        }
    }

    /// Tab bar titles: the dashboard, then each tab (drawing and mouse hit-testing use the
    /// same strings).
    pub fn tab_titles(&self) -> Vec<String> {
        let mut t = vec!["dashboard".to_string(), "topology".to_string()];
        for (i, tab) in self.tabs.iter().enumerate() {
            let state = match &tab.state {
                TabState::Connecting => "connecting",
                TabState::Connected => "connected",
                TabState::Closed(_) => "closed",
            };
            t.push(format!(
                "{} {} {} ({state})",
                i + 1,
                tab.node,
                tab.kind.label()
            ));
        }
        t
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

    /// Size every tab's emulator (and pty) to the pane it is drawn in.
    pub fn fit_panes(&mut self) -> Vec<Action> {
        let pane = Areas::of(self.screen).pane_inner();
        let mut out = Vec::new();
        for t in &mut self.tabs {
            let before = t.emu.size();
            t.emu.resize(pane.height, pane.width);
            if t.emu.size() != before {
                let (r, c) = t.emu.size();
                out.push(Action::Resize(t.session, r, c));
            }
        }
        out
    }

    /// The answer to a yes/no overlay: `y` sends `action` (a snapshot or restore marks the
    /// lab busy until it is done), anything else cancels.
    fn confirm(
        &mut self,
        k: KeyEvent,
        doing: String,
        action: Action,
        cancelled: &str,
    ) -> Vec<Action> {
        self.overlay = Overlay::None;
        if !matches!(k.code, KeyCode::Char('y') | KeyCode::Char('Y')) {
            self.note(cancelled, false);
            return Vec::new();
        }
        self.note(doing, false);
        if matches!(action, Action::Snapshot(_) | Action::Restore(_)) {
            self.snapshot_busy = true;
        }
        vec![action]
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
            Overlay::None => {}
        }
        match self.focus {
            Focus::Tab(i) => self.tab_key(i, k),
            Focus::Dashboard | Focus::Topology if self.filtering => self.filter_key(k),
            Focus::Dashboard | Focus::Topology => self.dashboard_key(k),
        }
    }

    /// A key while the filter is typed: text edits it (the table follows as it changes),
    /// Enter keeps it, Esc clears it.
    fn filter_key(&mut self, k: KeyEvent) -> Vec<Action> {
        match k.code {
            KeyCode::Enter => self.filtering = false,
            KeyCode::Esc => {
                self.filtering = false;
                self.filter.clear();
            }
            KeyCode::Backspace => {
                self.filter.pop();
            }
            KeyCode::Char(c)
                if !k
                    .modifiers
                    .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
                    && self.filter.chars().count() < 32 =>
            {
                self.filter.push(c)
            }
            _ => {}
        }
        self.clamp_selection();
        Vec::new()
    }

    fn tab_key(&mut self, i: usize, k: KeyEvent) -> Vec<Action> {
        // Ctrl-] is the one key a tab keeps for itself (terminals report it as Ctrl-5 too).
        if is_detach(&k) {
            self.focus = Focus::Dashboard;
            return Vec::new();
        }
        let Some(tab) = self.tabs.get_mut(i) else {
            self.focus = Focus::Dashboard;
            return Vec::new();
        };
        let page = i64::from(tab.emu.size().0.saturating_sub(1).max(1));
        if k.modifiers.contains(KeyModifiers::SHIFT) {
            match k.code {
                KeyCode::PageUp => {
                    tab.emu.scroll(page as isize);
                    return Vec::new();
                }
                KeyCode::PageDown => {
                    tab.emu.scroll(-page as isize);
                    return Vec::new();
                }
                _ => {}
            }
        }
        if let TabState::Closed(_) = tab.state {
            return match k.code {
                KeyCode::Char('r') => self.reconnect(i),
                KeyCode::Char('x') => self.close_tab(i),
                _ => Vec::new(),
            };
        }
        self.tab_bytes(i, |m| key_bytes(k, m))
    }

    fn tab_bytes(&mut self, i: usize, make: impl FnOnce(Modes) -> Option<Vec<u8>>) -> Vec<Action> {
        let Some(tab) = self.tabs.get_mut(i) else {
            return Vec::new();
        };
        if !matches!(tab.state, TabState::Connected | TabState::Connecting) {
            return Vec::new();
        }
        let Some(bytes) = make(Modes::of(tab.emu.screen())) else {
            return Vec::new();
        };
        tab.emu.follow();
        vec![Action::Send(tab.session, bytes)]
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
            Table::Nodes => &mut self.selected,
            Table::Links => &mut self.selected_link,
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
                if i < self.tabs.len() {
                    self.focus = Focus::Tab(i);
                    self.current_tab = i;
                }
                Vec::new()
            }
            Command::CurrentTab => {
                if !self.tabs.is_empty() {
                    let i = self.current_tab.min(self.tabs.len() - 1);
                    self.focus = Focus::Tab(i);
                }
                Vec::new()
            }
            Command::CloseTab if !self.tabs.is_empty() => {
                self.close_tab(self.current_tab.min(self.tabs.len() - 1))
            }
            Command::Reconnect if !self.tabs.is_empty() => {
                self.reconnect(self.current_tab.min(self.tabs.len() - 1))
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
                self.filtering = true;
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

    /// The lab's snapshots as last observed: (name, when taken).
    pub fn snapshots(&self) -> Vec<(String, String)> {
        self.obs
            .as_ref()
            .map(|o| o.snapshots.clone())
            .unwrap_or_default()
    }

    /// A snapshot or restore finished.
    pub fn snapshot_done(&mut self, result: Result<String, String>) {
        self.snapshot_busy = false;
        match result {
            Ok(s) => self.note(s, false),
            Err(e) => self.note(e, true),
        }
    }

    fn link_count(&self) -> usize {
        self.obs.as_ref().map_or(0, |o| o.status.links.len())
    }

    /// The selected link: (index, one end's name, admin up).
    fn selected_link(&self) -> Option<(usize, String, bool)> {
        let l = self.obs.as_ref()?.status.links.get(self.selected_link)?;
        Some((l.index, l.a.clone(), l.admin_up))
    }

    fn link_toggle(&mut self) -> Vec<Action> {
        if self.table != Table::Links {
            self.note("select a link first (← →)", true);
            return Vec::new();
        }
        let Some((index, end, up)) = self.selected_link() else {
            return Vec::new();
        };
        if self.busy_links.contains(&index) {
            self.note(format!("link {index}: busy"), true);
            return Vec::new();
        }
        self.busy_links.insert(index);
        let up = !up;
        self.note(
            format!(
                "link {index} ({end}): setting it {}",
                if up { "up" } else { "down" }
            ),
            false,
        );
        vec![Action::Link { index, end, up }]
    }

    fn capture_toggle(&mut self) -> Vec<Action> {
        if self.table != Table::Links {
            self.note("select a link first (← →)", true);
            return Vec::new();
        }
        let Some((index, end, _)) = self.selected_link() else {
            return Vec::new();
        };
        match self.captures.entry(index) {
            std::collections::hash_map::Entry::Occupied(_) => {
                self.note(format!("link {index}: stopping the capture"), false);
                vec![Action::StopCapture(index)]
            }
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(None);
                vec![Action::StartCapture { index, end }]
            }
        }
    }

    /// A link operation finished.
    pub fn link_done(&mut self, index: usize, result: Result<String, String>) {
        self.busy_links.remove(&index);
        match result {
            Ok(s) => self.note(s, false),
            Err(e) => self.note(format!("link {index}: {e}"), true),
        }
    }

    /// A capture started writing to `path`.
    pub fn capture_started(&mut self, index: usize, path: String) {
        self.note(
            format!("link {index}: capturing to {path} (w stops)"),
            false,
        );
        self.captures.insert(index, Some(path));
    }

    /// A capture ended: how many frames went where, or why it stopped.
    pub fn capture_ended(&mut self, index: usize, result: Result<(u64, String), String>) {
        self.captures.remove(&index);
        match result {
            Ok((n, path)) => self.note(
                format!("link {index}: captured {n} frames to {path}"),
                false,
            ),
            Err(e) => self.note(format!("link {index}: capture failed: {e}"), true),
        }
    }

    fn node_action(&mut self, op: NodeOp) -> Vec<Action> {
        let what = op.verb();
        let Some(node) = self.selected_node() else {
            return Vec::new();
        };
        if self.deploying {
            self.note(
                format!("{node}: wait for the deploy to finish before you {what} nodes"),
                true,
            );
            return Vec::new();
        }
        if let Some(doing) = self.busy.get(&node) {
            self.note(format!("{node}: busy ({})", doing.doing()), true);
            return Vec::new();
        }
        self.busy.insert(node.clone(), op);
        self.note(format!("{node}: {what}..."), false);
        vec![Action::Node(op, node)]
    }

    fn open_tab(&mut self, kind: TabKind) -> Vec<Action> {
        let Some(node) = self.selected_node() else {
            return Vec::new();
        };
        if let Some(i) = self
            .tabs
            .iter()
            .position(|t| t.node == node && t.kind == kind)
        {
            self.focus = Focus::Tab(i);
            self.current_tab = i;
            if matches!(self.tabs[i].state, TabState::Closed(_)) {
                return self.reconnect(i);
            }
            return Vec::new();
        }
        let session = self.next_session;
        self.next_session += 1;
        let pane = Areas::of(self.screen).pane_inner();
        let emu = Emulator::new(pane.height, pane.width);
        let (rows, cols) = emu.size();
        self.tabs.push(Tab {
            session,
            node: node.clone(),
            kind,
            state: TabState::Connecting,
            notice: None,
            emu,
        });
        let i = self.tabs.len() - 1;
        self.focus = Focus::Tab(i);
        self.current_tab = i;
        let mut out = vec![Action::Connect {
            session,
            node,
            kind,
            rows,
            cols,
        }];
        // A new tab may change the layout of the others.
        out.extend(self.fit_panes());
        out
    }

    fn reconnect(&mut self, i: usize) -> Vec<Action> {
        let session = self.next_session;
        self.next_session += 1;
        let Some(tab) = self.tabs.get_mut(i) else {
            return Vec::new();
        };
        let old = tab.session;
        tab.session = session;
        tab.state = TabState::Connecting;
        tab.notice = None;
        let (rows, cols) = tab.emu.size();
        tab.emu = Emulator::new(rows, cols);
        self.focus = Focus::Tab(i);
        self.current_tab = i;
        vec![
            Action::Disconnect(old),
            Action::Connect {
                session,
                node: tab.node.clone(),
                kind: tab.kind,
                rows,
                cols,
            },
        ]
    }

    fn close_tab(&mut self, i: usize) -> Vec<Action> {
        if i >= self.tabs.len() {
            return Vec::new();
        }
        let tab = self.tabs.remove(i);
        self.focus = Focus::Dashboard;
        self.current_tab = self.current_tab.min(self.tabs.len().saturating_sub(1));
        let mut out = vec![Action::Disconnect(tab.session)];
        out.extend(self.fit_panes());
        out
    }

    fn mouse(&mut self, m: MouseEvent) -> Vec<Action> {
        let areas = Areas::of(self.screen);
        let at = Position::new(m.column, m.row);
        match (self.focus, m.kind) {
            (Focus::Tab(i), MouseEventKind::ScrollUp) => {
                if let Some(t) = self.tabs.get_mut(i) {
                    t.emu.scroll(3);
                }
                Vec::new()
            }
            (Focus::Tab(i), MouseEventKind::ScrollDown) => {
                if let Some(t) = self.tabs.get_mut(i) {
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
                                self.current_tab = k - 2;
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
                    self.selected = (self.selected + 1).min(n - 1);
                }
                Vec::new()
            }
            (Focus::Dashboard, MouseEventKind::ScrollUp) => {
                self.selected = self.selected.saturating_sub(1);
                Vec::new()
            }
            (Focus::Dashboard, MouseEventKind::Down(MouseButton::Left))
                if areas.nodes.contains(at) =>
            {
                // Rows start below the border and the header line.
                let row = m.row.saturating_sub(areas.nodes.y + 2) as usize;
                if row < self.node_names().len() {
                    self.selected = row;
                    self.table = Table::Nodes;
                }
                Vec::new()
            }
            (Focus::Dashboard, MouseEventKind::Down(MouseButton::Left))
                if areas.links.contains(at) =>
            {
                let row = m.row.saturating_sub(areas.links.y + 2) as usize;
                if row < self.link_count() {
                    self.selected_link = row;
                    self.table = Table::Links;
                }
                Vec::new()
            }
            _ => Vec::new(),
        }
    }
}
