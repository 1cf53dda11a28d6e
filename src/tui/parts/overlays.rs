//! What is drawn over everything: the help, the confirmations (destroy, snapshot, restore) and
//! the snapshot list, with their keys' results.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Table, TableState, Wrap};

use crate::tui::app::{Action, App, Overlay};
use crate::tui::keymap;
use crate::tui::style::{ACCENT, centered, wrap_words};

impl App {
    /// The answer to a yes/no overlay: `y` sends `action` (a snapshot or restore marks the
    /// lab busy until it is done), anything else cancels.
    pub(in crate::tui) fn confirm(
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
}

/// The keys, in a box as wide as the screen allows (up to 100 columns); each description
/// wraps under itself, so nothing is cut at any width from 80 columns up.
pub(in crate::tui) fn draw_help(f: &mut Frame, area: Rect) {
    let keys_w = keymap::BINDINGS
        .iter()
        .map(|b| b.keys.chars().count())
        .max()
        .unwrap_or(10)
        + 2;
    let w = area.width.min(100);
    let text_w = (w as usize).saturating_sub(keys_w + 4).max(10);
    let mut lines: Vec<Line> = Vec::new();
    for b in keymap::BINDINGS {
        for (k, part) in wrap_words(b.does, text_w).into_iter().enumerate() {
            let keys = if k == 0 { b.keys } else { "" };
            lines.push(Line::from(vec![
                Span::styled(
                    format!(" {keys:<keys_w$}"),
                    Style::default().fg(ACCENT).add_modifier(Modifier::BOLD),
                ),
                Span::raw(part),
            ]));
        }
    }
    let r = centered(area, w, lines.len() as u16 + 2);
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" keys — any key closes "),
        ),
        r,
    );
}

pub(in crate::tui) fn draw_confirm(f: &mut Frame, app: &App, area: Rect) {
    let r = centered(area, 60, 6);
    f.render_widget(Clear, r);
    let text = format!(
        "Destroy lab {}? Every VM stops and its disk overlay is deleted.\n\n  y: destroy    any other key: cancel",
        app.lab
    );
    f.render_widget(
        Paragraph::new(text).wrap(Wrap { trim: false }).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" destroy ")
                .border_style(Style::default().fg(Color::Red)),
        ),
        r,
    );
}

pub(in crate::tui) fn ask(f: &mut Frame, title: &str, text: &str, color: Color) {
    let r = centered(f.area(), 64, 7);
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(text.to_string())
            .wrap(Wrap { trim: false })
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(title.to_string())
                    .border_style(Style::default().fg(color)),
            ),
        r,
    );
}

pub(in crate::tui) fn draw_snapshots(f: &mut Frame, app: &App, selected: usize) {
    let snaps = app.snapshots();
    let r = centered(f.area(), 64, snaps.len() as u16 + 4);
    f.render_widget(Clear, r);
    let rows: Vec<Row> = snaps
        .iter()
        .map(|(name, taken)| Row::new(vec![Cell::from(name.clone()), Cell::from(taken.clone())]))
        .collect();
    let table = Table::new(rows, [Constraint::Min(16), Constraint::Length(22)])
        .header(
            Row::new(["SNAPSHOT", "TAKEN"]).style(Style::default().add_modifier(Modifier::BOLD)),
        )
        .block(
            Block::default()
                .borders(Borders::ALL)
                .title(" snapshots — ↑↓ select · Enter restore · any other key closes "),
        )
        .row_highlight_style(
            Style::default()
                .bg(Color::DarkGray)
                .add_modifier(Modifier::BOLD),
        )
        .highlight_symbol("▶ ");
    let mut state = TableState::default().with_selected(Some(selected));
    f.render_stateful_widget(table, r, &mut state);
}
