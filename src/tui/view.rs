//! Drawing: a pure function of the [`App`] state (and the clock) onto a ratatui frame. This
//! file lays the screen out (header, tab bar, the dashboard's tables or a pane, the log, the
//! footer, an overlay) and draws what belongs to no part; each part draws itself from its own
//! state and what it is handed.

use std::time::SystemTime;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::app::App;
use super::keymap;
use super::layout::Areas;
use super::parts;
use super::shared::{Focus, Overlay, Table};
use super::style::{ACCENT, clock};
use crate::engine::api::NodeStatus;

/// Draws the whole screen.
pub fn draw(f: &mut Frame, app: &App) {
    let areas = Areas::of(f.area());
    header(f, app, areas.header);
    app.tabs.draw_bar(f, areas.tab_bar, app.focus);
    let obs = app.obs.as_ref();
    match app.focus {
        Focus::Dashboard => {
            app.nodes
                .draw(f, areas.nodes, obs, app.table == Table::Nodes);
            app.links.draw(
                f,
                areas.links,
                &app.shown_links(),
                obs,
                app.table == Table::Links,
            );
            log(f, app, areas.log);
        }
        Focus::Topology => {
            parts::topology::draw(f, areas.pane, obs, &app.nodes, &app.links, app.table)
        }
        Focus::Tab(i) => app.tabs.draw_pane(f, i, areas.pane),
    }
    footer(f, app, areas.footer);
    match app.overlay.clone() {
        Overlay::None => {}
        Overlay::Help => parts::overlays::draw_help(f, f.area()),
        Overlay::ConfirmDestroy => parts::overlays::draw_confirm(f, &app.lab, f.area()),
        Overlay::ConfirmSnapshot(name) => parts::overlays::ask(
            f,
            " snapshot ",
            &format!(
                "Take a live snapshot {name} of lab {}? Every VM pauses for a moment, then runs \
                 on.\n\n  y: take it    any other key: cancel",
                app.lab
            ),
            Color::Yellow,
        ),
        Overlay::ConfirmRestore(name) => parts::overlays::ask(
            f,
            " restore ",
            &format!(
                "Restore lab {} to snapshot {name}? Every VM goes back to that moment; what \
                 changed since is lost.\n\n  y: restore    any other key: cancel",
                app.lab
            ),
            Color::Red,
        ),
        Overlay::Snapshots(i) => parts::overlays::draw_snapshots(f, &app.snapshots(), i),
        Overlay::Checks(i) => app.checks.draw(f, i),
    }
    if app.no_color {
        strip_colour(f);
    }
}

/// `NO_COLOR`: every colour goes; what stood out by its background (the selection, the
/// active tab) stands out in reverse video instead.
fn strip_colour(f: &mut Frame) {
    let buf = f.buffer_mut();
    let area = buf.area;
    for y in area.top()..area.bottom() {
        for x in area.left()..area.right() {
            if let Some(cell) = buf.cell_mut((x, y)) {
                if cell.bg != Color::Reset {
                    cell.modifier.insert(Modifier::REVERSED);
                }
                cell.fg = Color::Reset;
                cell.bg = Color::Reset;
            }
        }
    }
}

fn header(f: &mut Frame, app: &App, area: Rect) {
    let (ready, total, accel, age) = match &app.obs {
        Some(o) => {
            let ready = o
                .status
                .nodes
                .iter()
                .filter(|n| n.status == NodeStatus::Running)
                .count();
            let age = humantime::parse_rfc3339(&o.status.created)
                .ok()
                .and_then(|c| SystemTime::now().duration_since(c).ok());
            (ready, o.status.nodes.len(), o.status.accel.to_string(), age)
        }
        None => (0, 0, "-".into(), None),
    };
    let mut spans = vec![
        Span::styled(
            " vmlab ",
            Style::default()
                .fg(Color::Black)
                .bg(ACCENT)
                .add_modifier(Modifier::BOLD),
        ),
        Span::raw(format!(" lab {} ", app.lab)),
        Span::styled(
            format!(" ready {ready}/{total} "),
            Style::default().fg(if total > 0 && ready == total {
                Color::Green
            } else {
                Color::Yellow
            }),
        ),
        Span::raw(format!(" {accel} ")),
        Span::raw(format!(
            " up {} ",
            age.map(clock).unwrap_or_else(|| "-".into())
        )),
    ];
    if app.deploying {
        spans.push(Span::styled(
            " deploying ",
            Style::default()
                .fg(Color::Yellow)
                .add_modifier(Modifier::BOLD),
        ));
    }
    if let Some(e) = &app.obs_error {
        spans.push(Span::styled(
            format!(" {e} "),
            Style::default().fg(Color::Red),
        ));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn log(f: &mut Frame, app: &App, area: Rect) {
    let visible = area.height.saturating_sub(2) as usize;
    let width = area.width.saturating_sub(2) as usize;
    f.render_widget(
        Paragraph::new(log_lines(app, visible, width))
            .block(Block::default().borders(Borders::ALL).title(" events ")),
        area,
    );
}

/// The last `visible` rows of the event log at `width` columns: a long line wraps under its
/// text (indented past the time) instead of being cut.
fn log_lines(app: &App, visible: usize, width: usize) -> Vec<Line<'static>> {
    const STAMP: usize = 8;
    let room = width.saturating_sub(STAMP).max(1);
    let mut rows: Vec<Line> = Vec::new();
    for l in app.log.iter().rev() {
        if rows.len() >= visible {
            break;
        }
        let style = if l.error {
            Style::default().fg(Color::Red)
        } else {
            Style::default()
        };
        let chars: Vec<char> = l.text.chars().collect();
        let pieces: Vec<String> = if chars.is_empty() {
            vec![String::new()]
        } else {
            chars.chunks(room).map(|c| c.iter().collect()).collect()
        };
        let mut these: Vec<Line> = pieces
            .into_iter()
            .enumerate()
            .map(|(i, piece)| {
                let stamp = if i == 0 {
                    format!("{:>6.1}s ", l.at.as_secs_f64())
                } else {
                    " ".repeat(STAMP)
                };
                Line::from(vec![
                    Span::styled(stamp, Style::default().fg(Color::DarkGray)),
                    Span::styled(piece, style),
                ])
            })
            .collect();
        these.reverse();
        rows.extend(these);
    }
    rows.truncate(visible);
    rows.reverse();
    rows
}

fn footer(f: &mut Frame, app: &App, area: Rect) {
    let text = match app.focus {
        _ if app.nodes.filtering => {
            " type to filter nodes by name, platform or host · Enter keeps it · Esc clears it"
                .to_string()
        }
        Focus::Dashboard | Focus::Topology => keymap::footer(area.width as usize),
        Focus::Tab(_) => {
            " Ctrl-] dashboard · Shift-PgUp/PgDn or wheel scroll · every other key goes to the VM"
                .to_string()
        }
    };
    f.render_widget(
        Paragraph::new(Span::styled(text, Style::default().fg(Color::DarkGray))),
        area,
    );
}
