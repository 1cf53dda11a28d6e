//! The nodes table: which nodes the `/` filter shows, the selection, start/stop/restart of the
//! selected node, and its drawing (status, boot stage, CPU, memory, ports).

use std::time::Duration;

use crate::engine::api::{BootStage, NodeOp, NodeRow, NodeStatus, Observation};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Span;
use ratatui::widgets::{Block, Borders, Cell, Row, Table, TableState};

use crate::tui::app::{Action, App, Table as Pick};
use crate::tui::style::{clock, gauge, mib};

impl App {
    /// Does a node pass the filter?
    pub fn shown(&self, n: &crate::engine::api::NodeRow) -> bool {
        if self.nodes.filter.is_empty() {
            return true;
        }
        let f = self.nodes.filter.to_lowercase();
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

    pub(in crate::tui) fn selected_node(&self) -> Option<String> {
        self.node_names().get(self.nodes.selected).cloned()
    }

    /// A key while the filter is typed: text edits it (the table follows as it changes),
    /// Enter keeps it, Esc clears it.
    pub(in crate::tui) fn filter_key(&mut self, k: KeyEvent) -> Vec<Action> {
        match k.code {
            KeyCode::Enter => self.nodes.filtering = false,
            KeyCode::Esc => {
                self.nodes.filtering = false;
                self.nodes.filter.clear();
            }
            KeyCode::Backspace => {
                self.nodes.filter.pop();
            }
            KeyCode::Char(c)
                if !k
                    .modifiers
                    .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
                    && self.nodes.filter.chars().count() < 32 =>
            {
                self.nodes.filter.push(c)
            }
            _ => {}
        }
        self.clamp_selection();
        Vec::new()
    }

    pub(in crate::tui) fn node_action(&mut self, op: NodeOp) -> Vec<Action> {
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
        if let Some(doing) = self.nodes.busy.get(&node) {
            self.note(format!("{node}: busy ({})", doing.doing()), true);
            return Vec::new();
        }
        self.nodes.busy.insert(node.clone(), op);
        self.note(format!("{node}: {what}..."), false);
        vec![Action::Node(op, node)]
    }
}

/// A node's state word and its colour.
pub(in crate::tui) fn node_state(app: &App, n: &NodeRow) -> (String, Color) {
    match (app.nodes.busy.get(&n.name), n.status) {
        (Some(op), _) => (format!("{}…", op.doing()), Color::Yellow),
        (None, NodeStatus::Running) => ("running".into(), Color::Green),
        (None, NodeStatus::Booting) => ("booting".into(), Color::Yellow),
        (None, NodeStatus::Paused) => ("paused".into(), Color::Magenta),
        (None, NodeStatus::Dead | NodeStatus::Failed) => (n.status.label().into(), Color::Red),
        (None, s) => (s.label().into(), Color::DarkGray),
    }
}

/// A node's BOOT cell: how long its boot took, or how far it is (a gauge against the boot time
/// learnt for its platform, and the stage, with the boot patch it is at), or what it waits for.
fn boot_cell(app: &App, o: &Observation, n: &NodeRow) -> String {
    let stage = app.nodes.stages.get(&n.name).copied().or(n.stage);
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
                    match app.nodes.patching.get(&n.name).copied().or(n.patch) {
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
pub(in crate::tui) fn draw(f: &mut Frame, app: &App, area: Rect) {
    let multi_host = app.obs.as_ref().is_some_and(|o| {
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
    if let Some(o) = &app.obs {
        total = o.status.nodes.len();
        for n in o.status.nodes.iter().filter(|n| app.shown(n)) {
            shown += 1;
            let (state, color) = node_state(app, n);
            let boot = boot_cell(app, o, n);
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
        app.obs.as_ref().map_or(8, |o| {
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
    let title = if app.nodes.filtering || !app.nodes.filter.is_empty() {
        format!(
            " nodes — filter: {}{} ({shown}/{total}) ",
            app.nodes.filter,
            if app.nodes.filtering { "▏" } else { "" }
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
    let selected = (app.table == Pick::Nodes).then_some(app.nodes.selected);
    let mut state = TableState::default().with_selected(selected);
    f.render_stateful_widget(table, area, &mut state);
}
