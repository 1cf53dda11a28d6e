//! The nodes table: its state ([`NodesPart`]: the selection, the nodes with an action in flight,
//! what the engine said of each boot, the `/` filter), which nodes the filter shows,
//! start/stop/restart of the selected node, and its drawing (status, boot stage, CPU, memory,
//! ports).

use std::collections::HashMap;
use std::time::Duration;

use crate::engine::api::{
    BootStage, Event as EngineEvent, NodeOp, NodeRow, NodeStatus, Observation,
};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Span;
use ratatui::widgets::{Block, Borders, Cell, Row, Table, TableState};

use super::Out;
use crate::tui::shared::Action;
use crate::tui::style::{clock, gauge, mib};

/// What the nodes table keeps: its selection, the nodes with an action (start/stop/restart) in
/// flight, what the engine's events said of each node's boot ahead of the next observation
/// (its stage; which boot patch it is at, `[which, of]`), and the `/` filter.
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

impl NodesPart {
    /// Does a node pass the filter?
    pub fn shown(&self, n: &NodeRow) -> bool {
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
    pub fn names(&self, obs: Option<&Observation>) -> Vec<String> {
        obs.map(|o| {
            o.status
                .nodes
                .iter()
                .filter(|n| self.shown(n))
                .map(|n| n.name.clone())
                .collect()
        })
        .unwrap_or_default()
    }

    /// The selected node's name.
    pub fn selected_node(&self, obs: Option<&Observation>) -> Option<String> {
        self.names(obs).get(self.selected).cloned()
    }

    /// A fresh observation: the stages the state file gives (the engine's events may be ahead
    /// of it while a node boots).
    pub fn observe(&mut self, o: &Observation) {
        for n in &o.status.nodes {
            match (n.status, n.stage) {
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
    }

    /// What an engine event says of a node's boot: its stage, the boot patch it is at.
    pub fn engine_event(&mut self, e: &EngineEvent) {
        if let EngineEvent::NodeStage { node, stage, .. } = e {
            self.stages.insert(node.clone(), *stage);
        }
        if let EngineEvent::NodePatch {
            node, index, total, ..
        } = e
        {
            self.stages.insert(node.clone(), BootStage::Patching);
            self.patching.insert(node.clone(), [*index, *total]);
        }
    }

    /// A key while the filter is typed: text edits it (the table follows as it changes),
    /// Enter keeps it, Esc clears it.
    pub fn filter_key(&mut self, k: KeyEvent) {
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
    }

    /// Start, stop or restart `node` (the selected one), unless a deploy runs or the node is
    /// busy.
    pub fn action(&mut self, op: NodeOp, node: Option<String>, deploying: bool) -> Out {
        let what = op.verb();
        let Some(node) = node else {
            return Out::none();
        };
        if deploying {
            return Out::said(
                format!("{node}: wait for the deploy to finish before you {what} nodes"),
                true,
            );
        }
        if let Some(doing) = self.busy.get(&node) {
            return Out::said(format!("{node}: busy ({})", doing.doing()), true);
        }
        self.busy.insert(node.clone(), op);
        Out::act(Action::Node(op, node.clone())).note(format!("{node}: {what}..."), false)
    }

    /// The result of a node action.
    pub fn action_done(&mut self, node: &str, op: NodeOp, result: Result<(), String>) -> Out {
        self.busy.remove(node);
        let what = op.verb();
        match result {
            Ok(()) => Out::said(format!("{node}: {what} done"), false),
            Err(e) => Out::said(format!("{node}: {what} failed: {e}"), true),
        }
    }

    /// A node's state word and its colour.
    pub fn state(&self, n: &NodeRow) -> (String, Color) {
        match (self.busy.get(&n.name), n.status) {
            (Some(op), _) => (format!("{}…", op.doing()), Color::Yellow),
            (None, NodeStatus::Running) => ("running".into(), Color::Green),
            (None, NodeStatus::Booting) => ("booting".into(), Color::Yellow),
            (None, NodeStatus::Paused) => ("paused".into(), Color::Magenta),
            (None, NodeStatus::Dead | NodeStatus::Failed) => (n.status.label().into(), Color::Red),
            (None, s) => (s.label().into(), Color::DarkGray),
        }
    }
}

/// A node's BOOT cell: how long its boot took, or how far it is (a gauge against the boot time
/// learnt for its platform, and the stage, with the boot patch it is at), or what it waits for.
fn boot_cell(part: &NodesPart, o: &Observation, n: &NodeRow) -> String {
    let stage = part.stages.get(&n.name).copied().or(n.stage);
    match (n.status, stage) {
        (NodeStatus::Running, _) | (_, Some(BootStage::Ready)) => match n.boot_secs {
            Some(s) => format!("ready in {}", clock(Duration::from_secs_f64(s))),
            None => "ready".into(),
        },
        (NodeStatus::Booting, stage) => {
            let expected = o
                .expected_boot
                .get(&n.name)
                .copied()
                .unwrap_or(Duration::from_secs(180));
            let elapsed = n.uptime_secs.unwrap_or(0) as f64;
            let frac = (elapsed / expected.as_secs_f64().max(1.0)).min(0.99);
            let what = match stage {
                Some(BootStage::Patching) => {
                    match part.patching.get(&n.name).copied().or(n.patch) {
                        Some([i, of]) => format!("patching {i}/{of}"),
                        None => "patching".into(),
                    }
                }
                Some(s) => s.label().into(),
                None => "launching".into(),
            };
            format!("{} {what}", gauge(frac, 6))
        }
        (NodeStatus::Pending, _) => n.waiting.clone().unwrap_or_else(|| "-".into()),
        _ => "-".into(),
    }
}

/// The nodes table: what matters first (state, boot, the interface map); ports and usage in
/// fixed narrow columns; the host column only in a multi-host lab.
impl NodesPart {
    /// Draws the table of `obs`'s nodes; `picked`: the selection keys move in it.
    pub fn draw(&self, f: &mut Frame, area: Rect, obs: Option<&Observation>, picked: bool) {
        let multi_host = obs.is_some_and(|o| {
            o.status
                .nodes
                .iter()
                .any(|n| n.host != o.status.nodes[0].host)
        });
        let mut head = vec!["NODE", "PLATFORM"];
        if multi_host {
            head.push("HOST");
        }
        // Narrow screens give the ports' room to the interface map (`vmlab status` and
        // ssh_config have the ports).
        let ports = area.width >= 110;
        head.extend(["STATE", "BOOT", "UP"]);
        if ports {
            head.extend(["SSH", "CONSOLE"]);
        }
        head.extend(["CPU", "MEM", "INTERFACES (spec=guest)"]);
        let header = Row::new(head).style(Style::default().add_modifier(Modifier::BOLD));
        let mut rows = Vec::new();
        let mut shown = 0;
        let mut total = 0;
        if let Some(o) = obs {
            total = o.status.nodes.len();
            for n in o.status.nodes.iter().filter(|n| self.shown(n)) {
                shown += 1;
                let (state, color) = self.state(n);
                let boot = boot_cell(self, o, n);
                let usage = o.usage.get(&n.name);
                let ifaces = o
                    .interfaces
                    .get(&n.name)
                    .map(|v| {
                        v.iter()
                            .map(|(spec, guest)| format!("{spec}={guest}"))
                            .collect::<Vec<_>>()
                            .join(" ")
                    })
                    .unwrap_or_default();
                let mut cells = vec![Cell::from(n.name.clone()), Cell::from(n.platform.clone())];
                if multi_host {
                    cells.push(Cell::from(n.host.clone()));
                }
                cells.extend([
                    Cell::from(Span::styled(state, Style::default().fg(color))),
                    Cell::from(boot),
                    Cell::from(
                        n.uptime_secs
                            .map(|s| clock(Duration::from_secs(s)))
                            .unwrap_or_else(|| "-".into()),
                    ),
                ]);
                if ports {
                    cells.extend([
                        Cell::from(n.ssh_port.to_string()),
                        Cell::from(
                            n.console_port
                                .map_or_else(|| "unix".into(), |p| p.to_string()),
                        ),
                    ]);
                }
                cells.extend([
                    Cell::from(
                        usage
                            .map(|u| format!("{:.0}%", u.cpu_percent))
                            .unwrap_or_else(|| "-".into()),
                    ),
                    Cell::from(
                        usage
                            .map(|u| mib(u.rss_bytes))
                            .unwrap_or_else(|| "-".into()),
                    ),
                    Cell::from(ifaces),
                ]);
                rows.push(Row::new(cells));
            }
        }
        // A column as wide as its longest value, within [min, max]; 8 before the first status.
        let widest = |field: fn(&NodeRow) -> &str, min: usize, max: usize| {
            obs.map_or(8, |o| {
                let longest = o.status.nodes.iter().map(|n| field(n).chars().count());
                longest.max().unwrap_or(min).clamp(min, max) as u16
            })
        };
        let name_w = widest(|n| &n.name, 4, u16::MAX as usize);
        let platform_w = widest(|n| &n.platform, 8, 16);
        let mut widths = vec![Constraint::Length(name_w), Constraint::Length(platform_w)];
        if multi_host {
            widths.push(Constraint::Length(8));
        }
        widths.extend([
            Constraint::Length(9),
            Constraint::Length(21),
            Constraint::Length(7),
        ]);
        if ports {
            widths.extend([Constraint::Length(5), Constraint::Length(7)]);
        }
        widths.extend([
            Constraint::Length(4),
            Constraint::Length(7),
            Constraint::Fill(1),
        ]);
        let title = if self.filtering || !self.filter.is_empty() {
            format!(
                " nodes — filter: {}{} ({shown}/{total}) ",
                self.filter,
                if self.filtering { "▏" } else { "" }
            )
        } else {
            " nodes ".to_string()
        };
        let table = Table::new(rows, widths)
            .header(header)
            .block(Block::default().borders(Borders::ALL).title(title))
            .row_highlight_style(
                Style::default()
                    .bg(Color::DarkGray)
                    .add_modifier(Modifier::BOLD),
            )
            .highlight_symbol("▶ ")
            .column_spacing(1);
        let selected = picked.then_some(self.selected);
        let mut state = TableState::default().with_selected(selected);
        f.render_stateful_widget(table, area, &mut state);
    }
}
