//! Console and SSH tabs: opening, reconnecting and closing them, their keys (Ctrl-] detaches),
//! session output through each tab's emulator, pane sizes, and the tab bar and pane drawing.

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

use crate::tui::app::{Action, App, Focus, Tab, TabKind, TabState, is_detach};
use crate::tui::layout::Areas;
use crate::tui::style::ACCENT;

impl App {
    /// Output or news from a tab's session; returns bytes to send back (terminal replies).
    pub fn session_event(&mut self, id: SessionId, e: SessionEvent) -> Option<Vec<u8>> {
        let tab = self.tabs.list.iter_mut().find(|t| t.session == id)?;
        match e {
            SessionEvent::Output(bytes) => {
                tab.state = TabState::Connected;
                let reply = tab.emu.process(&bytes);
                return (!reply.is_empty()).then_some(reply);
            }
            SessionEvent::Notice(n) => tab.notice = Some(n),
            SessionEvent::Closed(why) => {
                tab.state = TabState::Closed(why.clone());
                let label = format!("{} {} tab: {why}", tab.node, tab.kind.label());
                self.note(label, false);
            }
        }
        None
    }

    /// A session finished connecting (or failed to).
    pub fn connected(&mut self, id: SessionId, result: Result<(), String>) {
        if let Some(tab) = self.tabs.list.iter_mut().find(|t| t.session == id) {
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
    pub fn tab_titles(&self) -> Vec<String> {
        let mut t = vec!["dashboard".to_string(), "topology".to_string()];
        for (i, tab) in self.tabs.list.iter().enumerate() {
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

    /// Size every tab's emulator (and pty) to the pane it is drawn in.
    pub fn fit_panes(&mut self) -> Vec<Action> {
        let pane = Areas::of(self.screen).pane_inner();
        let mut out = Vec::new();
        for t in &mut self.tabs.list {
            let before = t.emu.size();
            t.emu.resize(pane.height, pane.width);
            if t.emu.size() != before {
                let (r, c) = t.emu.size();
                out.push(Action::Resize(t.session, r, c));
            }
        }
        out
    }

    pub(in crate::tui) fn tab_key(&mut self, i: usize, k: KeyEvent) -> Vec<Action> {
        // Ctrl-] is the one key a tab keeps for itself (terminals report it as Ctrl-5 too).
        if is_detach(&k) {
            self.focus = Focus::Dashboard;
            return Vec::new();
        }
        let Some(tab) = self.tabs.list.get_mut(i) else {
            self.focus = Focus::Dashboard;
            return Vec::new();
        };
        let page = i64::from(tab.emu.size().0.saturating_sub(1).max(1));
        if k.modifiers.contains(KeyModifiers::SHIFT) {
            match k.code {
                KeyCode::PageUp => {
                    tab.emu.scroll(page as isize);
                    return Vec::new();
                }
                KeyCode::PageDown => {
                    tab.emu.scroll(-page as isize);
                    return Vec::new();
                }
                _ => {}
            }
        }
        if let TabState::Closed(_) = tab.state {
            return match k.code {
                KeyCode::Char('r') => self.reconnect(i),
                KeyCode::Char('x') => self.close_tab(i),
                _ => Vec::new(),
            };
        }
        self.tab_bytes(i, |m| key_bytes(k, m))
    }

    pub(in crate::tui) fn tab_bytes(
        &mut self,
        i: usize,
        make: impl FnOnce(Modes) -> Option<Vec<u8>>,
    ) -> Vec<Action> {
        let Some(tab) = self.tabs.list.get_mut(i) else {
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

    pub(in crate::tui) fn open_tab(&mut self, kind: TabKind) -> Vec<Action> {
        let Some(node) = self.selected_node() else {
            return Vec::new();
        };
        if let Some(i) = self
            .tabs
            .list
            .iter()
            .position(|t| t.node == node && t.kind == kind)
        {
            self.focus = Focus::Tab(i);
            self.tabs.current = i;
            if matches!(self.tabs.list[i].state, TabState::Closed(_)) {
                return self.reconnect(i);
            }
            return Vec::new();
        }
        let session = self.tabs.next_session;
        self.tabs.next_session += 1;
        let pane = Areas::of(self.screen).pane_inner();
        let emu = Emulator::new(pane.height, pane.width);
        let (rows, cols) = emu.size();
        self.tabs.list.push(Tab {
            session,
            node: node.clone(),
            kind,
            state: TabState::Connecting,
            notice: None,
            emu,
        });
        let i = self.tabs.list.len() - 1;
        self.focus = Focus::Tab(i);
        self.tabs.current = i;
        let mut out = vec![Action::Connect {
            session,
            node,
            kind,
            rows,
            cols,
        }];
        // A new tab may change the layout of the others.
        out.extend(self.fit_panes());
        out
    }

    pub(in crate::tui) fn reconnect(&mut self, i: usize) -> Vec<Action> {
        let session = self.tabs.next_session;
        self.tabs.next_session += 1;
        let Some(tab) = self.tabs.list.get_mut(i) else {
            return Vec::new();
        };
        let old = tab.session;
        tab.session = session;
        tab.state = TabState::Connecting;
        tab.notice = None;
        let (rows, cols) = tab.emu.size();
        tab.emu = Emulator::new(rows, cols);
        self.focus = Focus::Tab(i);
        self.tabs.current = i;
        vec![
            Action::Disconnect(old),
            Action::Connect {
                session,
                node: tab.node.clone(),
                kind: tab.kind,
                rows,
                cols,
            },
        ]
    }

    pub(in crate::tui) fn close_tab(&mut self, i: usize) -> Vec<Action> {
        if i >= self.tabs.list.len() {
            return Vec::new();
        }
        let tab = self.tabs.list.remove(i);
        self.focus = Focus::Dashboard;
        self.tabs.current = self
            .tabs
            .current
            .min(self.tabs.list.len().saturating_sub(1));
        let mut out = vec![Action::Disconnect(tab.session)];
        out.extend(self.fit_panes());
        out
    }
}

pub(in crate::tui) fn draw_bar(f: &mut Frame, app: &App, area: Rect) {
    let mut spans = Vec::new();
    for (k, title) in app.tab_titles().into_iter().enumerate() {
        let active = match app.focus {
            Focus::Dashboard => k == 0,
            Focus::Topology => k == 1,
            Focus::Tab(i) => k == i + 2,
        };
        let closed = k > 1
            && matches!(
                app.tabs.list.get(k - 2).map(|t| &t.state),
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

pub(in crate::tui) fn draw_pane(f: &mut Frame, app: &App, i: usize, area: Rect) {
    let Some(tab) = app.tabs.list.get(i) else {
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
