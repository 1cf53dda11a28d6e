//! Where everything sits on screen: one pure function of the terminal size, shared by drawing
//! and by mouse handling so a click lands on what was drawn there.

use ratatui::layout::{Constraint, Direction, Layout, Rect};

/// The screen's regions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Areas {
    pub header: Rect,
    pub tab_bar: Rect,
    /// Dashboard: the nodes table.
    pub nodes: Rect,
    /// Dashboard: the links table.
    pub links: Rect,
    /// Dashboard: the event log.
    pub log: Rect,
    /// A tab's terminal pane, border included.
    pub pane: Rect,
    pub footer: Rect,
}

impl Areas {
    pub fn of(screen: Rect) -> Self {
        let rows = Layout::default()
            .direction(Direction::Vertical)
            .constraints([
                Constraint::Length(1),
                Constraint::Length(1),
                Constraint::Min(3),
                Constraint::Length(1),
            ])
            .split(screen);
        let body = rows[2];
        // Nodes, links (full width: counters, rates and impairments need it), then the log.
        let parts = Layout::default()
            .direction(Direction::Vertical)
            .constraints([
                Constraint::Percentage(42),
                Constraint::Percentage(33),
                Constraint::Percentage(25),
            ])
            .split(body);
        Areas {
            header: rows[0],
            tab_bar: rows[1],
            nodes: parts[0],
            links: parts[1],
            log: parts[2],
            pane: body,
            footer: rows[3],
        }
    }

    /// The pane without its border: the size of a tab's terminal.
    pub fn pane_inner(&self) -> Rect {
        let p = self.pane;
        Rect::new(
            p.x.saturating_add(1),
            p.y.saturating_add(1),
            p.width.saturating_sub(2),
            p.height.saturating_sub(2),
        )
    }
}
