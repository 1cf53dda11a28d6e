//! The links table: its selection, down/up and capture of the selected link, what came back
//! from them, and its drawing (state, counters, rates, settings).

use crate::engine::api::{LinkRow, LinkState};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Span;
use ratatui::widgets::{Block, Borders, Cell, Row, Table, TableState};

use crate::present;
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
            .filter(|l| self.nodes.filter.is_empty() || on_shown(&l.a) || on_shown(&l.z))
            .collect()
    }

    pub(in crate::tui) fn link_count(&self) -> usize {
        self.shown_links().len()
    }

    /// The selected link: (index, one end's name, admin up).
    pub(in crate::tui) fn selected_link(&self) -> Option<(usize, String, bool)> {
        let l = *self.shown_links().get(self.links.selected)?;
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
        if self.links.busy.contains(&index) {
            self.note(format!("link {index}: busy"), true);
            return Vec::new();
        }
        self.links.busy.insert(index);
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
        match self.links.captures.entry(index) {
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
        self.links.busy.remove(&index);
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
        self.links.captures.insert(index, Some(path));
    }

    /// A capture ended: how many frames went where, or why it stopped.
    pub fn capture_ended(&mut self, index: usize, result: Result<(u64, String), String>) {
        self.links.captures.remove(&index);
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
    let header =
        Row::new(present::LINK_HEADER).style(Style::default().add_modifier(Modifier::BOLD));
    // The width each end gets (two of the five flexible parts, after the fixed columns,
    // the spacing, the borders and the selection mark): a cut end keeps its port.
    let mark = if app.table == Pick::Links { 2 } else { 0 };
    // Each shown link's words, made once a frame (`crate::present`: the CLI's and the APIs').
    let shown: Vec<(&LinkRow, present::LinkCells)> = app
        .shown_links()
        .into_iter()
        .map(|l| (l, present::link_cells(l)))
        .collect();
    // A column that fits the longest of its cells shown (`extra`: room for this TUI's marks),
    // but on a narrow screen the ends keep their room and a long cell is cut.
    let fit = |cell: fn(&present::LinkCells) -> &str, extra: u16, least: u16| {
        shown
            .iter()
            .map(|(_, c)| cell(c).chars().count() as u16 + extra)
            .max()
            .unwrap_or(0)
            .clamp(least, (area.width / 8).max(least))
    };
    let state_w = fit(|c| &c.state, 5, STATE_MIN);
    let dropped_w = fit(|c| &c.dropped, 0, DROPPED_MIN);
    let fixed = 4 + state_w + 2 * RATE_W + dropped_w + 7 + 2 + mark;
    let end_w = usize::from(area.width.saturating_sub(fixed) * 2 / 5);
    let rows: Vec<Row> = shown
        .into_iter()
        .map(|(l, cells)| {
            let color = match l.state {
                LinkState::Up => Color::Green,
                LinkState::Waiting => Color::Yellow,
                LinkState::Down => Color::Red,
                LinkState::Remote => Color::DarkGray,
            };
            // Colour, cut ends and this TUI's own marks (a capture, a change under way) are
            // its own.
            let label = match app.links.captures.get(&l.index) {
                Some(_) => format!("{} ●rec", cells.state),
                None if app.links.busy.contains(&l.index) => format!("{}…", cells.state),
                None => cells.state,
            };
            Row::new(vec![
                Cell::from(cells.index),
                Cell::from(fit_end(&l.a, &l.a_guest, end_w)),
                Cell::from(fit_end(&l.z, &l.z_guest, end_w)),
                Cell::from(Span::styled(label, Style::default().fg(color))),
                Cell::from(cells.a_to_z_rate),
                Cell::from(cells.z_to_a_rate),
                Cell::from(cells.dropped),
                Cell::from(cells.impairments),
            ])
        })
        .collect();
    let widths = [
        Constraint::Length(4),
        Constraint::Fill(2),
        Constraint::Fill(2),
        Constraint::Length(state_w),
        Constraint::Length(RATE_W),
        Constraint::Length(RATE_W),
        Constraint::Length(dropped_w),
        Constraint::Fill(1),
    ];
    let title = match &app.obs {
        Some(o) => format!(" links — {} ", present::relay_line(&o.status)),
        None => " links ".to_string(),
    };
    let mut table = Table::new(rows, widths)
        .header(header)
        .block(Block::default().borders(Borders::ALL).title(title))
        .column_spacing(1);
    let selected = (app.table == Pick::Links).then_some(app.links.selected);
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

/// The state column's least width (`down`, `up` and their marks).
const STATE_MIN: u16 = 14;

/// The dropped column's least width (its header's).
const DROPPED_MIN: u16 = 7;
