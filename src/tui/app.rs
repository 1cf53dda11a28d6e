//! The TUI's router: its state and its reactions to input and engine news. No I/O happens here:
//! input becomes [`Action`]s that the run loop carries out, and news only changes state.
//!
//! This file holds the app, the router: what belongs to no part (the lab's observation, the
//! event log, focus, the overlay shown, the screen) and each part's state struct, and it
//! routes keys, the mouse, observations and results to the part they are for, handing each
//! only what it reads and applying the [`Out`] it answers (`parts::{nodes, links, topology,
//! tabs, checks, overlays}` own their state, keys and drawing, and never see the app).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crossterm::event::{
    Event as TermEvent, KeyEvent, KeyEventKind, MouseButton, MouseEvent, MouseEventKind,
};
use ratatui::layout::{Position, Rect};

use super::keymap::{self, Command};
use super::layout::Areas;
use super::parts::checks::ChecksRun;
use super::parts::links::{self, LinksPart};
use super::parts::nodes::NodesPart;
use super::parts::tabs::TabsPart;
use super::parts::{Out, overlays, step};
use super::shared::{Action, Focus, Overlay, TabKind, Table};
use crate::engine::api::{CheckResult, Event as EngineEvent, LinkRow, NodeOp, Observation};
use crate::term::keys::paste_bytes;
use crate::term::session::{SessionEvent, SessionId};

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

    /// Carries out what a part answered: its lines into the log, focus and overlay moved;
    /// its actions, for the run loop.
    fn apply(&mut self, out: Out) -> Vec<Action> {
        let Out {
            actions,
            notes,
            focus,
            overlay,
        } = out;
        for (text, error) in notes {
            self.note(text, error);
        }
        if let Some(f) = focus {
            if let Focus::Tab(i) = f {
                self.tabs.current = i;
            }
            self.focus = f;
        }
        if let Some(o) = overlay {
            self.overlay = o;
        }
        actions
    }

    /// A fresh observation from the engine's monitor.
    pub fn observe(&mut self, obs: Result<Observation, String>) {
        match obs {
            Ok(o) => {
                self.nodes.observe(&o);
                self.obs = Some(o);
                self.obs_error = None;
                self.clamp_selection();
            }
            Err(e) => self.obs_error = Some(e),
        }
    }

    /// Keeps the tables' selections on rows that are shown.
    fn clamp_selection(&mut self) {
        let count = self.node_names().len();
        self.nodes.selected = self.nodes.selected.min(count.saturating_sub(1));
        let links = self.shown_links().len();
        self.links.selected = self.links.selected.min(links.saturating_sub(1));
    }

    /// Names of the nodes the nodes table shows (its filter applied), in topology order.
    pub fn node_names(&self) -> Vec<String> {
        self.nodes.names(self.obs.as_ref())
    }

    /// The links the links table shows (those with an end on a node shown).
    pub fn shown_links(&self) -> Vec<&LinkRow> {
        links::shown(self.obs.as_ref(), &self.nodes)
    }

    /// The lab's snapshots as last observed: (name, when taken).
    pub fn snapshots(&self) -> Vec<(String, String)> {
        self.obs
            .as_ref()
            .map(|o| o.snapshots.clone())
            .unwrap_or_default()
    }

    /// Tab bar titles (drawing and mouse hit-testing use the same strings).
    pub fn tab_titles(&self) -> Vec<String> {
        self.tabs.titles()
    }

    /// News from the engine (a deploy or a node action).
    pub fn engine_event(&mut self, e: EngineEvent) {
        let error = e.is_problem();
        self.nodes.engine_event(&e);
        if let EngineEvent::Check(r) = &e {
            self.checks.ended(r);
        }
        self.note(e.describe(), error);
    }

    /// The result of a node action.
    pub fn action_done(&mut self, node: &str, op: NodeOp, result: Result<(), String>) {
        let out = self.nodes.action_done(node, op, result);
        self.apply(out);
    }

    /// A link operation finished.
    pub fn link_done(&mut self, index: usize, result: Result<String, String>) {
        let out = self.links.link_done(index, result);
        self.apply(out);
    }

    /// A capture started writing to `path`.
    pub fn capture_started(&mut self, index: usize, path: String) {
        let out = self.links.capture_started(index, path);
        self.apply(out);
    }

    /// A capture ended: how many frames went where, or why it stopped.
    pub fn capture_ended(&mut self, index: usize, result: Result<(u64, String), String>) {
        let out = self.links.capture_ended(index, result);
        self.apply(out);
    }

    /// The checks' run finished.
    pub fn validate_done(&mut self, result: Result<Vec<CheckResult>, String>) {
        let out = self.checks.done(result);
        self.apply(out);
    }

    /// A snapshot or restore finished.
    pub fn snapshot_done(&mut self, result: Result<String, String>) {
        self.snapshot_busy = false;
        match result {
            Ok(s) => self.note(s, false),
            Err(e) => self.note(e, true),
        }
    }

    /// Output or news from a tab's session; returns bytes to send back (terminal replies).
    pub fn session_event(&mut self, id: SessionId, e: SessionEvent) -> Option<Vec<u8>> {
        let (reply, out) = self.tabs.session_event(id, e);
        self.apply(out);
        reply
    }

    /// A session finished connecting (or failed to).
    pub fn connected(&mut self, id: SessionId, result: Result<(), String>) {
        self.tabs.connected(id, result);
    }

    /// Size every tab's emulator (and pty) to the pane it is drawn in.
    pub fn fit_panes(&mut self) -> Vec<Action> {
        self.tabs.fit(self.screen)
    }

    /// Handles one terminal event.
    pub fn input(&mut self, ev: TermEvent) -> Vec<Action> {
        match ev {
            TermEvent::Key(k) if k.kind != KeyEventKind::Release => self.key(k),
            TermEvent::Paste(text) => match self.focus {
                Focus::Tab(i) => self.tabs.bytes(i, |m| Some(paste_bytes(&text, m))),
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

    /// A key: to the overlay shown, else to the tab with focus, the filter being typed or the
    /// dashboard.
    fn key(&mut self, k: KeyEvent) -> Vec<Action> {
        let out = match self.overlay.clone() {
            Overlay::Help => Out::none().overlay(Overlay::None),
            Overlay::ConfirmDestroy => overlays::confirm(
                k,
                "destroying the lab".into(),
                Action::Destroy,
                "destroy cancelled",
            ),
            Overlay::ConfirmSnapshot(name) => overlays::confirm(
                k,
                format!("taking snapshot {name}"),
                Action::Snapshot(name),
                "snapshot cancelled",
            ),
            Overlay::ConfirmRestore(name) => overlays::confirm(
                k,
                format!("restoring snapshot {name}"),
                Action::Restore(name),
                "restore cancelled",
            ),
            Overlay::Snapshots(i) => overlays::snapshots_key(i, &self.snapshots(), k),
            Overlay::Checks(i) => self.checks.key(i, k, self.deploying),
            Overlay::None => match self.focus {
                Focus::Tab(i) => self.tabs.key(i, k, self.screen),
                Focus::Dashboard | Focus::Topology if self.nodes.filtering => {
                    self.nodes.filter_key(k);
                    self.clamp_selection();
                    Out::none()
                }
                Focus::Dashboard | Focus::Topology => self.dashboard_key(k),
            },
        };
        let actions = self.apply(out);
        // A snapshot or restore marks the lab busy until it is done.
        if actions
            .iter()
            .any(|a| matches!(a, Action::Snapshot(_) | Action::Restore(_)))
        {
            self.snapshot_busy = true;
        }
        actions
    }

    /// A dashboard key, to the part whose command it is.
    fn dashboard_key(&mut self, k: KeyEvent) -> Out {
        let Some(cmd) = keymap::lookup(&k) else {
            return Out::none();
        };
        let obs = self.obs.as_ref();
        let rows = match self.table {
            Table::Nodes => self.nodes.names(obs).len(),
            Table::Links => links::shown(obs, &self.nodes).len(),
        };
        let selected = match self.table {
            Table::Nodes => &mut self.nodes.selected,
            Table::Links => &mut self.links.selected,
        };
        if step(selected, rows, cmd) {
            return Out::none();
        }
        let node = self.nodes.selected_node(obs);
        let picked = self.table == Table::Links;
        match cmd {
            Command::Quit => {
                self.quit = true;
                Out::act(Action::Quit)
            }
            Command::Help => Out::none().overlay(Overlay::Help),
            Command::Up | Command::Down | Command::First | Command::Last => Out::none(),
            Command::OtherTable => {
                self.table = match self.table {
                    Table::Nodes if !links::shown(obs, &self.nodes).is_empty() => Table::Links,
                    _ => Table::Nodes,
                };
                Out::none()
            }
            Command::Console => self.tabs.open(node, TabKind::Console, self.screen),
            Command::Ssh => self.tabs.open(node, TabKind::Ssh, self.screen),
            Command::Tab(i) if i < self.tabs.list.len() => Out::none().focus(Focus::Tab(i)),
            Command::Tab(_) => Out::none(),
            Command::CurrentTab => match self.tabs.current() {
                Some(i) => Out::none().focus(Focus::Tab(i)),
                None => Out::none(),
            },
            Command::CloseTab => match self.tabs.current() {
                Some(i) => self.tabs.close(i, self.screen),
                None => Out::none(),
            },
            Command::Reconnect => match self.tabs.current() {
                Some(i) => self.tabs.reconnect(i),
                None => Out::none(),
            },
            Command::StartNode => self.nodes.action(NodeOp::Start, node, self.deploying),
            Command::StopNode => self.nodes.action(NodeOp::Stop, node, self.deploying),
            Command::RestartNode => self.nodes.action(NodeOp::Restart, node, self.deploying),
            Command::ToggleLink => {
                let link = links::shown(obs, &self.nodes)
                    .get(self.links.selected)
                    .copied();
                self.links.toggle(link, picked)
            }
            Command::ToggleCapture => {
                let link = links::shown(obs, &self.nodes)
                    .get(self.links.selected)
                    .copied();
                self.links.capture_toggle(link, picked)
            }
            Command::Destroy => Out::none().overlay(Overlay::ConfirmDestroy),
            Command::Filter => {
                self.nodes.filtering = true;
                self.table = Table::Nodes;
                Out::none()
            }
            Command::Topology => Out::none().focus(match self.focus {
                Focus::Topology => Focus::Dashboard,
                _ => Focus::Topology,
            }),
            Command::TakeSnapshot => {
                overlays::take_snapshot(&self.snapshots(), self.deploying || self.snapshot_busy)
            }
            Command::Validate => self.checks.start(self.deploying),
            Command::Snapshots => {
                overlays::list_snapshots(&self.snapshots(), self.deploying || self.snapshot_busy)
            }
        }
    }

    /// The mouse: the wheel scrolls a tab or moves the nodes' selection; a click picks a tab
    /// in the bar or a row of a table.
    fn mouse(&mut self, m: MouseEvent) -> Vec<Action> {
        let areas = Areas::of(self.screen);
        let at = Position::new(m.column, m.row);
        match (self.focus, m.kind) {
            (Focus::Tab(i), MouseEventKind::ScrollUp) => self.tabs.scroll(i, 3),
            (Focus::Tab(i), MouseEventKind::ScrollDown) => self.tabs.scroll(i, -3),
            (_, MouseEventKind::Down(MouseButton::Left)) if areas.tab_bar.contains(at) => {
                // Tab bar: "dashboard", "topology", then each tab, in the order drawn.
                let mut x = areas.tab_bar.x;
                for (k, t) in self.tab_titles().iter().enumerate() {
                    let w = t.chars().count() as u16 + 3;
                    if m.column < x + w {
                        let to = match k {
                            0 => Focus::Dashboard,
                            1 => Focus::Topology,
                            _ => Focus::Tab(k - 2),
                        };
                        self.apply(Out::none().focus(to));
                        break;
                    }
                    x += w;
                }
            }
            (Focus::Dashboard, MouseEventKind::ScrollDown) => {
                let rows = self.node_names().len();
                let _ = step(&mut self.nodes.selected, rows, Command::Down);
            }
            (Focus::Dashboard, MouseEventKind::ScrollUp) => {
                let _ = step(&mut self.nodes.selected, 0, Command::Up);
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
            }
            (Focus::Dashboard, MouseEventKind::Down(MouseButton::Left))
                if areas.links.contains(at) =>
            {
                let row = m.row.saturating_sub(areas.links.y + 2) as usize;
                if row < self.shown_links().len() {
                    self.links.selected = row;
                    self.table = Table::Links;
                }
            }
            _ => {}
        }
        Vec::new()
    }
}
