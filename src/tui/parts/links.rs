//! The links table: its selection, down/up and capture of the selected link, what came back
//! from them, and its drawing (state, counters, rates, settings).

use crate::engine::api::{LinkRow, LinkState};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Span;
use ratatui::widgets::{Block, Borders, Cell, Row, Table, TableState};

use crate::tui::app::{Action, App, Table as Pick};
use crate::tui::style::fit_end;

impl App {
    /// The links shown: with the `/` filter, those with an end on a node it shows; what the
    /// links table's selection indexes.
    pub fn shown_links(&self) -> Vec<&LinkRow> {
        let Some(o) = self.obs.as_ref() else {
            return Vec::new();
        };
        let nodes = self.node_names();
        let on_shown = |end: &str| {
            let node = end.split(':').next().unwrap_or(end);
            nodes.iter().any(|n| n == node)
        };
        o.status
            .links
            .iter()
            .filter(|l| self.filter.is_empty() || on_shown(&l.a) || on_shown(&l.z))
            .collect()
    }

    pub(in crate::tui) fn link_count(&self) -> usize {
        self.shown_links().len()
    }

    /// The selected link: (index, one end's name, admin up).
    pub(in crate::tui) fn selected_link(&self) -> Option<(usize, String, bool)> {
        let l = *self.shown_links().get(self.selected_link)?;
        Some((l.index, l.a.clone(), l.admin_up))
    }

    pub(in crate::tui) fn link_toggle(&mut self) -> Vec<Action> {
        if self.table != Pick::Links {
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
        // The monitor logs the link's new state when it sees it: one line for one key.
        vec![Action::Link {
            index,
            end,
            up: !up,
        }]
    }

    pub(in crate::tui) fn capture_toggle(&mut self) -> Vec<Action> {
        if self.table != Pick::Links {
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
        // Success shows as the link's new state, which the monitor logs.
        if let Err(e) = result {
            self.note(format!("link {index}: {e}"), true);
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
}

pub(in crate::tui) fn draw(f: &mut Frame, app: &App, area: Rect) {
    let header = Row::new([
        "#",
        "A",
        "Z",
        "STATE",
        "A→Z",
        "Z→A",
        "DROPPED",
        "IMPAIRMENTS",
    ])
    .style(Style::default().add_modifier(Modifier::BOLD));
    // The width each end gets (two of the five flexible parts, after the fixed columns,
    // the spacing, the borders and the selection mark): a cut end keeps its port.
    let mark = if app.table == Pick::Links { 2 } else { 0 };
    let fixed = 2 + 14 + 2 * RATE_W + 7 + 7 + 2 + mark;
    let end_w = usize::from(area.width.saturating_sub(fixed) * 2 / 5);
    let rows: Vec<Row> = app
        .obs
        .as_ref()
        .map(|_| {
            app.shown_links()
                .into_iter()
                .map(|l| {
                    let (label, color) = match l.state {
                        LinkState::Up => ("up".to_string(), Color::Green),
                        LinkState::Waiting => (
                            format!("waiting: {}", l.waiting_for.join(",")),
                            Color::Yellow,
                        ),
                        LinkState::Down => ("down".to_string(), Color::Red),
                        LinkState::Remote => ("other hosts".to_string(), Color::DarkGray),
                    };
                    // A link between hosts says so: its frames leave this machine.
                    let label = if l.transport == crate::plan::LinkTransport::CrossHost {
                        format!("{label} ⇄")
                    } else {
                        label
                    };
                    let label = match app.captures.get(&l.index) {
                        Some(_) => format!("{label} ●rec"),
                        None if app.busy_links.contains(&l.index) => format!("{label}…"),
                        None => label,
                    };
                    let (ab, ba, dropped) = match &l.counters {
                        Some(c) => (
                            rate(c.a_to_z.frames_per_sec, c.a_to_z.bits_per_sec),
                            rate(c.z_to_a.frames_per_sec, c.z_to_a.bits_per_sec),
                            (c.a_to_z.dropped.total() + c.z_to_a.dropped.total()).to_string(),
                        ),
                        None => ("-".into(), "-".into(), "-".into()),
                    };
                    let impair = if l.impair.is_clean() {
                        "-".to_string()
                    } else if l.impair.a_to_z == l.impair.z_to_a {
                        l.impair.a_to_z.to_string()
                    } else {
                        format!("→ {} ← {}", l.impair.a_to_z, l.impair.z_to_a)
                    };
                    Row::new(vec![
                        Cell::from(l.index.to_string()),
                        Cell::from(fit_end(&l.a, &l.a_guest, end_w)),
                        Cell::from(fit_end(&l.z, &l.z_guest, end_w)),
                        Cell::from(Span::styled(label, Style::default().fg(color))),
                        Cell::from(ab),
                        Cell::from(ba),
                        Cell::from(dropped),
                        Cell::from(impair),
                    ])
                })
                .collect()
        })
        .unwrap_or_default();
    let widths = [
        Constraint::Length(2),
        Constraint::Fill(2),
        Constraint::Fill(2),
        Constraint::Length(14),
        Constraint::Length(RATE_W),
        Constraint::Length(RATE_W),
        Constraint::Length(7),
        Constraint::Fill(1),
    ];
    let title = match &app.obs {
        Some(o) => match &o.status.relay {
            Some(r) if r.status == "running" => " links (relay running) ".to_string(),
            Some(_) => " links — relay NOT running: vmlab repair ".to_string(),
            None => " links (direct) ".to_string(),
        },
        None => " links ".to_string(),
    };
    let mut table = Table::new(rows, widths)
        .header(header)
        .block(Block::default().borders(Borders::ALL).title(title))
        .column_spacing(1);
    let selected = (app.table == Pick::Links).then_some(app.selected_link);
    if selected.is_some() {
        table = table
            .row_highlight_style(
                Style::default()
                    .bg(Color::DarkGray)
                    .add_modifier(Modifier::BOLD),
            )
            .highlight_symbol("▶ ");
    }
    let mut state = TableState::default().with_selected(selected);
    f.render_stateful_widget(table, area, &mut state);
}

/// A rate column: `99.9 Mbit/s`.
const RATE_W: u16 = 12;

/// A direction's rate in one cell, in the CLI's units: `96.0 kbit/s` (an idle direction that
/// still passes frames, under 1 bit/s on average, shows its frames: `3 f/s`).
pub(in crate::tui) fn rate(fps: f64, bps: f64) -> String {
    if bps < 1.0 && fps >= 0.5 {
        return format!("{fps:.0} f/s");
    }
    crate::spec::impair::show_bits_per_sec(bps)
}
