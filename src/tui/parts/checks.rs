//! The lab's checks in the dashboard (`V`): runs the `validate.json` beside the lab's spec, as
//! `vmlab validate` does, and shows a panel of check × node results that fills in as each check
//! finishes (the engine's `check` events), with a summary in its title and the selected row's
//! whole detail under the table. The panel closes with any other key; the run goes on and `V`
//! shows it again (or runs the checks again once they are done).

use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Table, TableState, Wrap};

use super::Out;
use crate::engine::api::{CheckResult, CheckVerdict, Tally};
use crate::tui::shared::{Action, Overlay};
use crate::tui::style::{centered, fit, wrap_words};

/// The lab's checks as the last `V` ran them.
#[derive(Debug, Default)]
pub struct ChecksRun {
    /// A run is in flight.
    pub running: bool,
    /// Each check × node that has ended, in the order they ended.
    pub results: Vec<CheckResult>,
    /// Why the run could not start or did not finish (no `validate.json`, an invalid file).
    pub error: Option<String>,
    pub started: Option<Instant>,
    /// How long the finished run took.
    pub took: Option<Duration>,
}

impl ChecksRun {
    /// The panel's title: what ran and how it stands.
    pub fn summary(&self) -> String {
        let Tally { pass, fail, error } = Tally::of(&self.results);
        let mut s = format!("{pass} pass");
        if fail > 0 {
            s.push_str(&format!(" · {fail} FAIL"));
        }
        if error > 0 {
            s.push_str(&format!(" · {error} ERROR"));
        }
        if self.running {
            s.push_str(" · running…");
        } else if let Some(took) = self.took {
            s.push_str(&format!(" · {:.1} s", took.as_secs_f64()));
        }
        s
    }

    /// `V` on the dashboard: run the checks, or show the run in flight.
    pub fn start(&mut self, deploying: bool) -> Out {
        if self.running {
            return Out::none().overlay(Overlay::Checks(0));
        }
        if deploying {
            return Out::said(
                "wait for the deploy to finish before running the checks",
                true,
            );
        }
        *self = ChecksRun {
            running: true,
            started: Some(Instant::now()),
            ..ChecksRun::default()
        };
        Out::act(Action::Validate)
            .note("running the lab's checks (validate.json)", false)
            .overlay(Overlay::Checks(0))
    }

    /// A key while the panel is open with row `selected`: ↑↓ select a row, `V` runs the
    /// checks again once they are done, anything else closes the panel.
    pub fn key(&mut self, selected: usize, k: KeyEvent, deploying: bool) -> Out {
        let rows = self.results.len();
        let to = match k.code {
            KeyCode::Up | KeyCode::Char('k') => Overlay::Checks(selected.saturating_sub(1)),
            KeyCode::Down | KeyCode::Char('j') => {
                Overlay::Checks((selected + 1).min(rows.saturating_sub(1)))
            }
            KeyCode::Char('V') => return self.start(deploying),
            _ => Overlay::None,
        };
        Out::none().overlay(to)
    }

    /// One check × node ended (an engine event of this TUI's run).
    pub fn ended(&mut self, r: &CheckResult) {
        if self.running {
            self.results.push(r.clone());
        }
    }

    /// The run finished: its results are the whole list, or it could not run.
    pub fn done(&mut self, result: Result<Vec<CheckResult>, String>) -> Out {
        self.running = false;
        self.took = self.started.map(|t| t.elapsed());
        match result {
            Ok(results) => {
                self.results = results;
                let t = Tally::of(&self.results);
                Out::said(
                    format!(
                        "checks: {} of {} pass ({})",
                        t.pass,
                        self.results.len(),
                        self.summary()
                    ),
                    !t.passed(),
                )
            }
            Err(e) => {
                let out = Out::said(format!("checks: {e}"), true);
                self.error = Some(e);
                out
            }
        }
    }

    /// The panel: a row per check × node, the selected row's detail below, up to 110 columns.
    pub fn draw(&self, f: &mut Frame, selected: usize) {
        let run = self;
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
}
