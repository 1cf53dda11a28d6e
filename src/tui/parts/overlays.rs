//! What is drawn over everything: the help, the confirmations (destroy, snapshot, restore) and
//! the snapshot list, with their keys' results. The overlay shown is the app's (it routes keys
//! to it); these functions answer them.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Table, TableState, Wrap};

use super::Out;
use crate::tui::keymap;
use crate::tui::shared::{Action, Overlay};
use crate::tui::style::{ACCENT, centered, wrap_words};

/// The answer to a yes/no overlay: `y` sends `action`, anything else cancels; either closes it.
pub fn confirm(k: KeyEvent, doing: String, action: Action, cancelled: &str) -> Out {
    let out = Out::none().overlay(Overlay::None);
    if !matches!(k.code, KeyCode::Char('y') | KeyCode::Char('Y')) {
        return out.note(cancelled, false);
    }
    out.note(doing, false).then(vec![action])
}

/// A key in the list of `snaps` with row `i` selected: ↑↓ move, Enter asks to restore it,
/// anything else closes the list.
pub fn snapshots_key(i: usize, snaps: &[(String, String)], k: KeyEvent) -> Out {
    let to = match k.code {
        KeyCode::Up | KeyCode::Char('k') => Overlay::Snapshots(i.saturating_sub(1)),
        KeyCode::Down | KeyCode::Char('j') => {
            Overlay::Snapshots((i + 1).min(snaps.len().saturating_sub(1)))
        }
        KeyCode::Enter => match snaps.get(i) {
            Some((name, _)) => Overlay::ConfirmRestore(name.clone()),
            None => Overlay::None,
        },
        _ => Overlay::None,
    };
    Out::none().overlay(to)
}

/// What a lab busy with a deploy, a snapshot or a restore says to `S` and `L`.
const WAIT: &str = "wait for the deploy (or snapshot) in progress to finish";

/// `S`: asks to take a snapshot under the first free name `snapN` (not while `busy`).
pub fn take_snapshot(snaps: &[(String, String)], busy: bool) -> Out {
    if busy {
        return Out::said(WAIT, true);
    }
    let name = (1..)
        .map(|k| format!("snap{k}"))
        .find(|n| !snaps.iter().any(|(taken, _)| taken == n))
        .unwrap_or_else(|| "snap".into());
    Out::none().overlay(Overlay::ConfirmSnapshot(name))
}

/// `L`: lists the snapshots to restore one (not while `busy`).
pub fn list_snapshots(snaps: &[(String, String)], busy: bool) -> Out {
    if snaps.is_empty() {
        Out::said("no snapshots yet (S takes one)", false)
    } else if busy {
        Out::said(WAIT, true)
    } else {
        Out::none().overlay(Overlay::Snapshots(0))
    }
}

/// The keys, in a box as wide as the screen allows (up to 100 columns); each description
/// wraps under itself, so nothing is cut at any width from 80 columns up.
pub fn draw_help(f: &mut Frame, area: Rect) {
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

/// Asks before destroying lab `lab`.
pub fn draw_confirm(f: &mut Frame, lab: &str, area: Rect) {
    let r = centered(area, 60, 6);
    f.render_widget(Clear, r);
    let text = format!(
        "Destroy lab {}? Every VM stops and its disk overlay is deleted.\n\n  y: destroy    any other key: cancel",
        lab
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

/// A yes/no question in a box of `color`.
pub fn ask(f: &mut Frame, title: &str, text: &str, color: Color) {
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

/// The snapshots `snaps` (name, when taken), row `selected` marked.
pub fn draw_snapshots(f: &mut Frame, snaps: &[(String, String)], selected: usize) {
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
