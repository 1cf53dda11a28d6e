//! The dashboard's keys, listed once: [`BINDINGS`] is what the key handler looks up, what the
//! footer shows and what the help overlay lists, so the three can never disagree.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// What a key does on the dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Up,
    Down,
    First,
    Last,
    /// Switch the selection between the nodes and the links tables.
    OtherTable,
    Console,
    Ssh,
    /// Go to tab n (0-based).
    Tab(usize),
    CurrentTab,
    CloseTab,
    Reconnect,
    StartNode,
    StopNode,
    RestartNode,
    /// Set the selected link down, or up again.
    ToggleLink,
    /// Start a capture of the selected link into the lab directory, or stop it.
    ToggleCapture,
    /// Take a snapshot of the whole lab (asks first).
    TakeSnapshot,
    /// List the snapshots to restore one (asks first).
    Snapshots,
    /// Run the lab's checks (validate.json) and show them as they finish.
    Validate,
    Destroy,
    /// Type a filter for the nodes shown.
    Filter,
    /// Switch between the dashboard and the topology view.
    Topology,
    Help,
    Quit,
}

/// One entry of the table.
pub struct Binding {
    /// The keys, as the help shows them.
    pub keys: &'static str,
    /// What they do, as the help says it.
    pub does: &'static str,
    /// The footer's short form, when the footer shows it.
    pub footer: Option<&'static str>,
    /// Which key events mean it.
    pub matches: fn(&KeyEvent) -> Option<Command>,
}

fn plain(k: &KeyEvent) -> bool {
    !k.modifiers
        .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
}

/// Every dashboard key.
pub const BINDINGS: &[Binding] = &[
    Binding {
        keys: "↑ ↓ / j k, mouse",
        does: "select a node (or a link, in the links table)",
        footer: Some("↑↓ select"),
        matches: |k| match k.code {
            KeyCode::Up | KeyCode::Char('k') if plain(k) => Some(Command::Up),
            KeyCode::Down | KeyCode::Char('j') if plain(k) => Some(Command::Down),
            KeyCode::Home | KeyCode::Char('g') if plain(k) => Some(Command::First),
            KeyCode::End | KeyCode::Char('G') if plain(k) => Some(Command::Last),
            _ => None,
        },
    },
    Binding {
        keys: "← → / h l",
        does: "move the selection between the nodes and the links table",
        footer: Some("←→ table"),
        matches: |k| match k.code {
            KeyCode::Left | KeyCode::Right | KeyCode::Char('h') | KeyCode::Char('l')
                if plain(k) =>
            {
                Some(Command::OtherTable)
            }
            _ => None,
        },
    },
    Binding {
        keys: "Enter (or c)",
        does: "open the selected node's serial console in a tab",
        footer: Some("⏎ console"),
        matches: |k| match k.code {
            KeyCode::Enter => Some(Command::Console),
            KeyCode::Char('c') if plain(k) => Some(Command::Console),
            _ => None,
        },
    },
    Binding {
        keys: "s",
        does: "open an SSH session to the selected node in a tab",
        footer: Some("s ssh"),
        matches: |k| (k.code == KeyCode::Char('s') && plain(k)).then_some(Command::Ssh),
    },
    Binding {
        keys: "1-9, Alt-1..9, Tab",
        does: "switch to a tab",
        footer: None,
        matches: |k| match k.code {
            KeyCode::Char(d @ '1'..='9') => Some(Command::Tab(d as usize - '1' as usize)),
            KeyCode::Tab => Some(Command::CurrentTab),
            _ => None,
        },
    },
    Binding {
        keys: "Ctrl-]",
        does: "back to the dashboard (the only key a tab keeps)",
        footer: None,
        matches: |_| None,
    },
    Binding {
        keys: "Shift-PgUp/PgDn, wheel",
        does: "scroll a tab's history",
        footer: None,
        matches: |_| None,
    },
    Binding {
        keys: "r / x",
        does: "reconnect / close the current (or closed) tab",
        footer: None,
        matches: |k| match k.code {
            KeyCode::Char('r') if plain(k) => Some(Command::Reconnect),
            KeyCode::Char('x') if plain(k) => Some(Command::CloseTab),
            _ => None,
        },
    },
    Binding {
        keys: "u / p / R",
        does: "start / stop / restart the selected node",
        footer: Some("u/p/R node"),
        matches: |k| match k.code {
            KeyCode::Char('u') if plain(k) => Some(Command::StartNode),
            KeyCode::Char('p') if plain(k) => Some(Command::StopNode),
            KeyCode::Char('R') if plain(k) => Some(Command::RestartNode),
            _ => None,
        },
    },
    Binding {
        keys: "t",
        does: "set the selected link down, or up again",
        footer: Some("t link"),
        matches: |k| (k.code == KeyCode::Char('t') && plain(k)).then_some(Command::ToggleLink),
    },
    Binding {
        keys: "w",
        does: "capture the selected link to a pcap in the lab directory; w again stops",
        footer: Some("w capture"),
        matches: |k| (k.code == KeyCode::Char('w') && plain(k)).then_some(Command::ToggleCapture),
    },
    Binding {
        keys: "S / L",
        does: "take a live snapshot of the whole lab / list snapshots to restore one (ask first)",
        footer: Some("S/L snapshot"),
        matches: |k| match k.code {
            KeyCode::Char('S') if plain(k) => Some(Command::TakeSnapshot),
            KeyCode::Char('L') if plain(k) => Some(Command::Snapshots),
            _ => None,
        },
    },
    Binding {
        keys: "V",
        does: "run the lab's checks (validate.json beside its spec) in a panel that fills in as \
               each ends; V shows a run in flight again",
        footer: Some("V checks"),
        matches: |k| (k.code == KeyCode::Char('V') && plain(k)).then_some(Command::Validate),
    },
    Binding {
        keys: "/",
        does: "filter the nodes by name, platform or host (Enter keeps it, Esc clears it)",
        footer: Some("/ filter"),
        matches: |k| (k.code == KeyCode::Char('/') && plain(k)).then_some(Command::Filter),
    },
    Binding {
        keys: "T",
        does: "switch between the dashboard and the topology drawing with live states",
        footer: Some("T topology"),
        matches: |k| (k.code == KeyCode::Char('T') && plain(k)).then_some(Command::Topology),
    },
    Binding {
        keys: "D",
        does: "destroy the lab (asks first)",
        footer: None,
        matches: |k| (k.code == KeyCode::Char('D') && plain(k)).then_some(Command::Destroy),
    },
    Binding {
        keys: "? / F1",
        does: "this help",
        footer: Some("? help"),
        matches: |k| match k.code {
            KeyCode::Char('?') | KeyCode::F(1) => Some(Command::Help),
            _ => None,
        },
    },
    Binding {
        keys: "q / Ctrl-C",
        does: "quit (the lab keeps running; a deploy in progress is stopped)",
        footer: Some("q quit"),
        matches: |k| match k.code {
            KeyCode::Char('q') if plain(k) => Some(Command::Quit),
            KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => {
                Some(Command::Quit)
            }
            _ => None,
        },
    },
];

/// The command a key means on the dashboard.
pub fn lookup(k: &KeyEvent) -> Option<Command> {
    BINDINGS.iter().find_map(|b| (b.matches)(k))
}

/// The footer line, from the table, in `width` columns: as many hints as fit, in table order,
/// and always the last two (`? help · q quit`).
pub fn footer(width: usize) -> String {
    let parts: Vec<&str> = BINDINGS.iter().filter_map(|b| b.footer).collect();
    let keep = parts.len().saturating_sub(2);
    let (rest, tail) = parts.split_at(keep);
    let tail = tail.join(" · ");
    let mut line = String::from(" ");
    for p in rest {
        if line.chars().count() + p.chars().count() + 3 + tail.chars().count() > width {
            break;
        }
        line.push_str(p);
        line.push_str(" · ");
    }
    line + &tail
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, mods)
    }

    #[test]
    fn keys_mean_what_the_help_says() {
        assert_eq!(
            lookup(&key(KeyCode::Char('t'), KeyModifiers::NONE)),
            Some(Command::ToggleLink)
        );
        assert_eq!(
            lookup(&key(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Some(Command::Quit)
        );
        assert_eq!(
            lookup(&key(KeyCode::Char('c'), KeyModifiers::NONE)),
            Some(Command::Console)
        );
        assert_eq!(
            lookup(&key(KeyCode::Char('3'), KeyModifiers::ALT)),
            Some(Command::Tab(2))
        );
        assert_eq!(lookup(&key(KeyCode::Char('z'), KeyModifiers::NONE)), None);
        assert!(footer(200).contains("t link"));
        let narrow = footer(40);
        assert!(narrow.chars().count() <= 40, "{narrow}");
        assert!(narrow.ends_with("? help · q quit"), "{narrow}");
    }
}
