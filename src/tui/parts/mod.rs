//! The dashboard by what is on screen, gitui-style: each part is a component that owns its
//! state (a struct of its own), handles its keys, folds its results and draws itself. A part
//! never sees the [`super::app::App`]: it is handed what it reads (the last observation, the
//! selected node, whether a deploy runs) and answers with an [`Out`] — actions for the run
//! loop, lines for the event log, where focus or the overlay goes — which the app, the router,
//! applies. [`super::view`] lays the parts out.

use super::keymap::Command;
use super::shared::{Action, Focus, Overlay};

pub mod checks;
pub mod links;
pub mod nodes;
pub mod overlays;
pub mod tabs;
pub mod topology;

/// A part's answer to a key or a result: what the rest of the TUI is asked to do.
#[derive(Debug, Default)]
#[must_use]
pub struct Out {
    /// Work for the run loop.
    pub actions: Vec<Action>,
    /// Lines for the event log: (text, is an error).
    pub notes: Vec<(String, bool)>,
    /// Where keyboard focus goes.
    pub focus: Option<Focus>,
    /// The overlay to show (`Overlay::None` closes it).
    pub overlay: Option<Overlay>,
}

impl Out {
    /// Nothing to do.
    pub fn none() -> Self {
        Out::default()
    }

    /// One action.
    pub fn act(action: Action) -> Self {
        Out {
            actions: vec![action],
            ..Out::default()
        }
    }

    /// Several actions.
    pub fn acts(actions: Vec<Action>) -> Self {
        Out {
            actions,
            ..Out::default()
        }
    }

    /// One line for the event log.
    pub fn said(text: impl Into<String>, error: bool) -> Self {
        Out::none().note(text, error)
    }

    /// Adds a line for the event log.
    pub fn note(mut self, text: impl Into<String>, error: bool) -> Self {
        self.notes.push((text.into(), error));
        self
    }

    /// Moves the focus.
    pub fn focus(mut self, focus: Focus) -> Self {
        self.focus = Some(focus);
        self
    }

    /// Shows (or, with `Overlay::None`, closes) an overlay.
    pub fn overlay(mut self, overlay: Overlay) -> Self {
        self.overlay = Some(overlay);
        self
    }

    /// Adds actions after these.
    pub fn then(mut self, more: Vec<Action>) -> Self {
        self.actions.extend(more);
        self
    }
}

/// Moves a table's selection `selected` among `rows` rows by a selection key; false for any
/// other command.
pub fn step(selected: &mut usize, rows: usize, cmd: Command) -> bool {
    match cmd {
        Command::Down => {
            if rows > 0 {
                *selected = (*selected + 1).min(rows - 1);
            }
        }
        Command::Up => *selected = selected.saturating_sub(1),
        Command::First => *selected = 0,
        Command::Last => *selected = rows.saturating_sub(1),
        _ => return false,
    }
    true
}
