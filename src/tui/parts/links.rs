//! The links table: its state ([`LinksPart`]: the selection, the links with a change in
//! flight, the captures running), down/up and capture of the selected link, what came back from
//! them, and its drawing (state, counters, rates, settings).

use std::collections::{HashMap, HashSet};

use crate::engine::api::{LinkRow, LinkState, Observation};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Span;
use ratatui::widgets::{Block, Borders, Cell, Row, Table, TableState};

use super::Out;
use super::nodes::NodesPart;
use crate::present;
use crate::tui::shared::Action;
use crate::tui::style::fit_end;

/// What the links table keeps, and only it changes: its selection, the links with a down/up in
/// flight, and the captures running (by link index, with their file once it is known).
#[derive(Debug, Default)]
pub struct LinksPart {
    pub selected: usize,
    pub busy: HashSet<usize>,
    pub captures: HashMap<usize, Option<String>>,
}

/// The links shown: with the nodes table's `/` filter, those with an end on a node it shows;
/// what the links table's selection indexes.
pub fn shown<'a>(obs: Option<&'a Observation>, nodes: &NodesPart) -> Vec<&'a LinkRow> {
    let Some(o) = obs else {
        return Vec::new();
    };
    let names = nodes.names(obs);
    let on_shown = |end: &str| {
        let node = end.split(':').next().unwrap_or(end);
        names.iter().any(|n| n == node)
    };
    o.status
        .links
        .iter()
        .filter(|l| nodes.filter.is_empty() || on_shown(&l.a) || on_shown(&l.z))
        .collect()
}

impl LinksPart {
    /// Sets `link` (the selected one) down, or up again; `picked`: the links table has the
    /// selection.
    pub fn toggle(&mut self, link: Option<&LinkRow>, picked: bool) -> Out {
        if !picked {
            return Out::said("select a link first (← →)", true);
        }
        let Some(l) = link else {
            return Out::none();
        };
        if self.busy.contains(&l.index) {
            return Out::said(format!("link {}: busy", l.index), true);
        }
        self.busy.insert(l.index);
        // The monitor logs the link's new state when it sees it: one line for one key.
        Out::act(Action::Link {
            index: l.index,
            end: l.a.clone(),
            up: !l.admin_up,
        })
    }

    /// Starts a capture of `link` (the selected one), or stops the one running.
    pub fn capture_toggle(&mut self, link: Option<&LinkRow>, picked: bool) -> Out {
        if !picked {
            return Out::said("select a link first (← →)", true);
        }
        let Some(l) = link else {
            return Out::none();
        };
        let index = l.index;
        match self.captures.entry(index) {
            std::collections::hash_map::Entry::Occupied(_) => Out::act(Action::StopCapture(index))
                .note(format!("link {index}: stopping the capture"), false),
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(None);
                Out::act(Action::StartCapture {
                    index,
                    end: l.a.clone(),
                })
            }
        }
    }

    /// A link operation finished.
    pub fn link_done(&mut self, index: usize, result: Result<String, String>) -> Out {
        self.busy.remove(&index);
        // Success shows as the link's new state, which the monitor logs.
        match result {
            Ok(_) => Out::none(),
            Err(e) => Out::said(format!("link {index}: {e}"), true),
        }
    }

    /// A capture started writing to `path`.
    pub fn capture_started(&mut self, index: usize, path: String) -> Out {
        let out = Out::said(
            format!("link {index}: capturing to {path} (w stops)"),
            false,
        );
        self.captures.insert(index, Some(path));
        out
    }

    /// A capture ended: how many frames went where, or why it stopped.
    pub fn capture_ended(&mut self, index: usize, result: Result<(u64, String), String>) -> Out {
        self.captures.remove(&index);
        match result {
            Ok((n, path)) => Out::said(
                format!("link {index}: captured {n} frames to {path}"),
                false,
            ),
            Err(e) => Out::said(format!("link {index}: capture failed: {e}"), true),
        }
    }

    /// Draws the `shown` links (the relay's line from `obs` in the title); `picked`: the
    /// selection keys move in it.
    pub fn draw(
        &self,
        f: &mut Frame,
        area: Rect,
        shown: &[&LinkRow],
        obs: Option<&Observation>,
        picked: bool,
    ) {
        let header =
            Row::new(present::LINK_HEADER).style(Style::default().add_modifier(Modifier::BOLD));
        // The width each end gets (two of the five flexible parts, after the fixed columns,
        // the spacing, the borders and the selection mark): a cut end keeps its port.
        let mark = if picked { 2 } else { 0 };
        // Each shown link's words, made once a frame (`crate::present`: the CLI's and the APIs').
        let shown: Vec<(&LinkRow, present::LinkCells)> =
            shown.iter().map(|l| (*l, present::link_cells(l))).collect();
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
                let label = match self.captures.get(&l.index) {
                    Some(_) => format!("{} ●rec", cells.state),
                    None if self.busy.contains(&l.index) => format!("{}…", cells.state),
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
        let title = match obs {
            Some(o) => format!(" links — {} ", present::relay_line(&o.status)),
            None => " links ".to_string(),
        };
        let mut table = Table::new(rows, widths)
            .header(header)
            .block(Block::default().borders(Borders::ALL).title(title))
            .column_spacing(1);
        let selected = picked.then_some(self.selected);
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
}

/// A rate column: `99.9 Mbit/s`.
const RATE_W: u16 = 12;

/// The state column's least width (`down`, `up` and their marks).
const STATE_MIN: u16 = 14;

/// The dropped column's least width (its header's).
const DROPPED_MIN: u16 = 7;
