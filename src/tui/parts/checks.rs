//! The lab's checks in the dashboard (`V`): runs the `validate.json` beside the lab's spec, as
//! `vmlab validate` does, and shows a panel of check × node results that fills in as each check
//! finishes (the engine's `check` events), with a summary in its title and the selected row's
//! whole detail under the table. The panel closes with any other key; the run goes on and `V`
//! shows it again (or runs the checks again once they are done).

use std::time::Instant;

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Table, TableState, Wrap};

use crate::engine::api::{CheckResult, CheckVerdict, Tally};
use crate::tui::app::{Action, App, ChecksRun, Overlay};
use crate::tui::style::{centered, fit, wrap_words};

impl App {
    /// `V` on the dashboard: run the checks, or show the run in flight.
    pub(in crate::tui) fn validate_key(&mut self) -> Vec<Action> {
        if self.checks.running {
            self.overlay = Overlay::Checks(0);
            return Vec::new();
        }
        if self.deploying {
            self.note(
                "wait for the deploy to finish before running the checks",
                true,
            );
            return Vec::new();
        }
        self.checks = ChecksRun {
            running: true,
            started: Some(Instant::now()),
            ..ChecksRun::default()
        };
        self.overlay = Overlay::Checks(0);
        self.note("running the lab's checks (validate.json)", false);
        vec![Action::Validate]
    }

    /// A key while the panel is open: ↑↓ select a row, `V` runs the checks again once they
    /// are done, anything else closes the panel.
    pub(in crate::tui) fn checks_key(&mut self, selected: usize, k: KeyEvent) -> Vec<Action> {
        let rows = self.checks.results.len();
        match k.code {
            KeyCode::Up | KeyCode::Char('k') => {
                self.overlay = Overlay::Checks(selected.saturating_sub(1));
            }
            KeyCode::Down | KeyCode::Char('j') => {
                self.overlay = Overlay::Checks((selected + 1).min(rows.saturating_sub(1)));
            }
            KeyCode::Char('V') => return self.validate_key(),
            _ => self.overlay = Overlay::None,
        }
        Vec::new()
    }

    /// One check × node ended (an engine event of this TUI's run).
    pub(in crate::tui) fn check_ended(&mut self, r: &CheckResult) {
        if self.checks.running {
            self.checks.results.push(r.clone());
        }
    }

    /// The run finished: its results are the whole list, or it could not run.
    pub fn validate_done(&mut self, result: Result<Vec<CheckResult>, String>) {
        self.checks.running = false;
        self.checks.took = self.checks.started.map(|t| t.elapsed());
        match result {
            Ok(results) => {
                self.checks.results = results;
                let t = Tally::of(&self.checks.results);
                self.note(
                    format!(
                        "checks: {} of {} pass ({})",
                        t.pass,
                        self.checks.results.len(),
                        self.checks.summary()
                    ),
                    !t.passed(),
                );
            }
            Err(e) => {
                self.note(format!("checks: {e}"), true);
                self.checks.error = Some(e);
            }
        }
    }
}

/// The panel: a row per check × node, the selected row's detail below, up to 110 columns.
pub(in crate::tui) fn draw(f: &mut Frame, app: &App, selected: usize) {
    let run = &app.checks;
    let area = f.area();
    let w = area.width.min(110);
    let inner_w = w.saturating_sub(2) as usize;
    let detail: Vec<String> = match (&run.error, run.results.get(selected)) {
        (Some(e), _) => wrap_words(e, inner_w),
        (None, Some(r)) if !r.detail.is_empty() => wrap_words(&r.detail, inner_w),
        (None, Some(r)) => vec![format!(
            "{} on {}: {} after {} {} ({:.1} s)",
            r.check,
            r.on,
            r.verdict.word(),
            r.attempts,
            if r.attempts == 1 { "try" } else { "tries" },
            r.seconds
        )],
        (None, None) if run.running => vec!["the first check runs…".to_string()],
        (None, None) => vec!["no results".to_string()],
    };
    let detail_h = detail.len().min(4) as u16;
    let h = (run.results.len() as u16 + detail_h + 4).max(8);
    let r = centered(area, w, h);
    f.render_widget(Clear, r);
    let block = Block::default().borders(Borders::ALL).title(format!(
        " checks — {} — ↑↓ select · V again · any other key closes ",
        run.summary()
    ));
    let inner = block.inner(r);
    f.render_widget(block, r);
    let [table_area, detail_area] =
        Layout::vertical([Constraint::Min(2), Constraint::Length(detail_h)]).areas(inner);
    // What the DETAIL column has after the others and their spacing: a cut detail says so.
    let detail_w = usize::from(table_area.width.saturating_sub(22 + 20 + 6 + 5 + 4));
    let rows: Vec<Row> = run
        .results
        .iter()
        .map(|r| {
            let colour = match r.verdict {
                CheckVerdict::Pass => Color::Green,
                CheckVerdict::Fail | CheckVerdict::Error => Color::Red,
            };
            let first = fit(r.detail.lines().next().unwrap_or(""), detail_w);
            Row::new(vec![
                Cell::from(fit(&r.check, 22)),
                Cell::from(fit(&r.on, 20)),
                Cell::from(r.verdict.word()).style(Style::default().fg(colour)),
                Cell::from(format!("{:.1}", r.seconds)),
                Cell::from(first),
            ])
        })
        .collect();
    let table = Table::new(
        rows,
        [
            Constraint::Length(22),
            Constraint::Length(20),
            Constraint::Length(6),
            Constraint::Length(5),
            Constraint::Min(10),
        ],
    )
    .header(
        Row::new(["CHECK", "ON", "RESULT", "SECS", "DETAIL"])
            .style(Style::default().add_modifier(Modifier::BOLD)),
    )
    .row_highlight_style(
        Style::default()
            .bg(Color::DarkGray)
            .add_modifier(Modifier::BOLD),
    );
    let mut state =
        TableState::default().with_selected((!run.results.is_empty()).then_some(selected));
    f.render_stateful_widget(table, table_area, &mut state);
    let style = if run.error.is_some() {
        Style::default().fg(Color::Red)
    } else {
        Style::default()
    };
    f.render_widget(
        Paragraph::new(detail.into_iter().map(Line::from).collect::<Vec<_>>())
            .style(style)
            .wrap(Wrap { trim: false }),
        detail_area,
    );
}
