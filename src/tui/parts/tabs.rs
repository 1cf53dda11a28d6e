//! Console and SSH tabs: their state ([`TabsPart`]), opening, reconnecting and closing them,
//! their keys (Ctrl-] detaches), session output through each tab's emulator, pane sizes, and the
//! tab bar and pane drawing.

use crate::term::keys::{Modes, key_bytes};
use crate::term::screen::Emulator;
use crate::term::session::{SessionEvent, SessionId};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use tui_term::widget::PseudoTerminal;

use super::Out;
use crate::tui::layout::Areas;
use crate::tui::shared::{Action, Focus, Tab, TabKind, TabState, is_detach};
use crate::tui::style::ACCENT;

/// What the tabs keep: every console and SSH tab, the one `x` and `r` act on from the
/// dashboard, and the id the next session gets.
#[derive(Debug)]
pub struct TabsPart {
    pub list: Vec<Tab>,
    pub current: usize,
    next_session: SessionId,
}

impl Default for TabsPart {
    fn default() -> Self {
        TabsPart {
            list: Vec::new(),
            current: 0,
            next_session: 1,
        }
    }
}

impl TabsPart {
    /// Output or news from a tab's session: bytes to send back (terminal replies), and what
    /// the log is told.
    pub fn session_event(&mut self, id: SessionId, e: SessionEvent) -> (Option<Vec<u8>>, Out) {
        let Some(tab) = self.list.iter_mut().find(|t| t.session == id) else {
            return (None, Out::none());
        };
        match e {
            SessionEvent::Output(bytes) => {
                tab.state = TabState::Connected;
                let reply = tab.emu.process(&bytes);
                return ((!reply.is_empty()).then_some(reply), Out::none());
            }
            SessionEvent::Notice(n) => tab.notice = Some(n),
            SessionEvent::Closed(why) => {
                tab.state = TabState::Closed(why.clone());
                let label = format!("{} {} tab: {why}", tab.node, tab.kind.label());
                return (None, Out::said(label, false));
            }
        }
        (None, Out::none())
    }

    /// A session finished connecting (or failed to).
    pub fn connected(&mut self, id: SessionId, result: Result<(), String>) {
        if let Some(tab) = self.list.iter_mut().find(|t| t.session == id) {
            match result {
                Ok(()) => {
                    if tab.state == TabState::Connecting {
                        tab.state = TabState::Connected;
                    }
                }
                Err(e) => tab.state = TabState::Closed(e),
            }
        }
    }

    /// Tab bar titles: the dashboard, then each tab (drawing and mouse hit-testing use the
    /// same strings).
    pub fn titles(&self) -> Vec<String> {
        let mut t = vec!["dashboard".to_string(), "topology".to_string()];
        for (i, tab) in self.list.iter().enumerate() {
            let state = match &tab.state {
                TabState::Connecting => "connecting",
                TabState::Connected => "connected",
                TabState::Closed(_) => "closed",
            };
            t.push(format!(
                "{} {} {} ({state})",
                i + 1,
                tab.node,
                tab.kind.label()
            ));
        }
        t
    }

    /// Size every tab's emulator (and pty) to the pane it is drawn in on `screen`.
    pub fn fit(&mut self, screen: Rect) -> Vec<Action> {
        let pane = Areas::of(screen).pane_inner();
        let mut out = Vec::new();
        for t in &mut self.list {
            let before = t.emu.size();
            t.emu.resize(pane.height, pane.width);
            if t.emu.size() != before {
                let (r, c) = t.emu.size();
                out.push(Action::Resize(t.session, r, c));
            }
        }
        out
    }

    /// Scrolls tab `i` back (`lines` > 0) or forward.
    pub fn scroll(&mut self, i: usize, lines: isize) {
        if let Some(t) = self.list.get_mut(i) {
            t.emu.scroll(lines);
        }
    }

    /// A key while tab `i` has focus.
    pub fn key(&mut self, i: usize, k: KeyEvent, screen: Rect) -> Out {
        // Ctrl-] is the one key a tab keeps for itself (terminals report it as Ctrl-5 too).
        if is_detach(&k) {
            return Out::none().focus(Focus::Dashboard);
        }
        let Some(tab) = self.list.get_mut(i) else {
            return Out::none().focus(Focus::Dashboard);
        };
        let page = i64::from(tab.emu.size().0.saturating_sub(1).max(1));
        if k.modifiers.contains(KeyModifiers::SHIFT) {
            match k.code {
                KeyCode::PageUp => {
                    tab.emu.scroll(page as isize);
                    return Out::none();
                }
                KeyCode::PageDown => {
                    tab.emu.scroll(-page as isize);
                    return Out::none();
                }
                _ => {}
            }
        }
        if let TabState::Closed(_) = tab.state {
            return match k.code {
                KeyCode::Char('r') => self.reconnect(i),
                KeyCode::Char('x') => self.close(i, screen),
                _ => Out::none(),
            };
        }
        Out::acts(self.bytes(i, |m| key_bytes(k, m)))
    }

    /// Bytes for tab `i`'s session, made for its terminal's modes (nothing once it closed).
    pub fn bytes(&mut self, i: usize, make: impl FnOnce(Modes) -> Option<Vec<u8>>) -> Vec<Action> {
        let Some(tab) = self.list.get_mut(i) else {
            return Vec::new();
        };
        if !matches!(tab.state, TabState::Connected | TabState::Connecting) {
            return Vec::new();
        }
        let Some(bytes) = make(Modes::of(tab.emu.screen())) else {
            return Vec::new();
        };
        tab.emu.follow();
        vec![Action::Send(tab.session, bytes)]
    }

    /// Opens a `kind` tab to `node` (the selected one), or goes to the one open.
    pub fn open(&mut self, node: Option<String>, kind: TabKind, screen: Rect) -> Out {
        let Some(node) = node else {
            return Out::none();
        };
        if let Some(i) = self
            .list
            .iter()
            .position(|t| t.node == node && t.kind == kind)
        {
            self.current = i;
            if matches!(self.list[i].state, TabState::Closed(_)) {
                return self.reconnect(i);
            }
            return Out::none().focus(Focus::Tab(i));
        }
        let session = self.next_session;
        self.next_session += 1;
        let pane = Areas::of(screen).pane_inner();
        let emu = Emulator::new(pane.height, pane.width);
        let (rows, cols) = emu.size();
        self.list.push(Tab {
            session,
            node: node.clone(),
            kind,
            state: TabState::Connecting,
            notice: None,
            emu,
        });
        let i = self.list.len() - 1;
        self.current = i;
        Out::act(Action::Connect {
            session,
            node,
            kind,
            rows,
            cols,
        })
        // A new tab may change the layout of the others.
        .then(self.fit(screen))
        .focus(Focus::Tab(i))
    }

    /// Opens tab `i`'s session again (a fresh terminal).
    pub fn reconnect(&mut self, i: usize) -> Out {
        let session = self.next_session;
        self.next_session += 1;
        let Some(tab) = self.list.get_mut(i) else {
            return Out::none();
        };
        let old = tab.session;
        tab.session = session;
        tab.state = TabState::Connecting;
        tab.notice = None;
        let (rows, cols) = tab.emu.size();
        tab.emu = Emulator::new(rows, cols);
        self.current = i;
        Out::acts(vec![
            Action::Disconnect(old),
            Action::Connect {
                session,
                node: tab.node.clone(),
                kind: tab.kind,
                rows,
                cols,
            },
        ])
        .focus(Focus::Tab(i))
    }

    /// Closes tab `i`; the dashboard gets the focus.
    pub fn close(&mut self, i: usize, screen: Rect) -> Out {
        if i >= self.list.len() {
            return Out::none();
        }
        let tab = self.list.remove(i);
        self.current = self.current.min(self.list.len().saturating_sub(1));
        Out::act(Action::Disconnect(tab.session))
            .then(self.fit(screen))
            .focus(Focus::Dashboard)
    }

    /// The tab `x` and `r` act on from the dashboard, if any is open.
    pub fn current(&self) -> Option<usize> {
        (!self.list.is_empty()).then(|| self.current.min(self.list.len() - 1))
    }

    /// The tab bar: the dashboard, the topology and each tab, the one with `focus` marked.
    pub fn draw_bar(&self, f: &mut Frame, area: Rect, focus: Focus) {
        let mut spans = Vec::new();
        for (k, title) in self.titles().into_iter().enumerate() {
            let active = match focus {
                Focus::Dashboard => k == 0,
                Focus::Topology => k == 1,
                Focus::Tab(i) => k == i + 2,
            };
            let closed = k > 1
                && matches!(
                    self.list.get(k - 2).map(|t| &t.state),
                    Some(TabState::Closed(_))
                );
            let style = if active {
                Style::default()
                    .fg(Color::Black)
                    .bg(ACCENT)
                    .add_modifier(Modifier::BOLD)
            } else if closed {
                Style::default().fg(Color::DarkGray)
            } else {
                Style::default()
            };
            spans.push(Span::styled(format!(" {title} "), style));
            spans.push(Span::raw("│"));
        }
        f.render_widget(Paragraph::new(Line::from(spans)), area);
    }

    /// Tab `i`'s pane: its terminal, with its state and any notice in the border.
    pub fn draw_pane(&self, f: &mut Frame, i: usize, area: Rect) {
        let Some(tab) = self.list.get(i) else {
            return;
        };
        let mut title = format!(" {} {} ", tab.node, tab.kind.label());
        match &tab.state {
            TabState::Connecting => title.push_str("— connecting "),
            TabState::Connected => {}
            TabState::Closed(why) => {
                title.push_str(&format!("— closed: {why} (r reconnects, x closes) "))
            }
        }
        if tab.emu.scrolled_back() > 0 {
            title.push_str(&format!(
                "[scrolled back {} lines] ",
                tab.emu.scrolled_back()
            ));
        }
        let mut block = Block::default().borders(Borders::ALL).title(title);
        if let Some(n) = &tab.notice {
            block = block.title_bottom(Line::from(Span::styled(
                format!(" {n} "),
                Style::default().fg(Color::Yellow),
            )));
        }
        let term = PseudoTerminal::new(tab.emu.screen()).block(block);
        f.render_widget(term, area);
    }
}
