//! The terminal emulator behind a console or SSH tab: a vt100 parser that never panics on
//! tiny sizes and that answers the terminal queries guests send.
//!
//! `vt100::Parser::new` and `Screen::set_size` panic below 2 rows or 2 columns, and a pane is
//! often that small mid-resize, so every size goes through [`clamp`]. Shells like busybox ask
//! the terminal where its cursor is (`ESC [ 6 n`); a real terminal answers, so this one does
//! too: [`Emulator::process`] returns the bytes to send back.

use vt100::{Callbacks, Parser, Screen};

/// Lines of scrollback each pane keeps.
pub const SCROLLBACK: usize = 5000;

/// The smallest size vt100 accepts.
pub fn clamp(rows: u16, cols: u16) -> (u16, u16) {
    (rows.max(2), cols.max(2))
}

/// Collects replies to terminal queries while the parser runs.
#[derive(Debug, Default)]
pub struct Replies {
    pending: Vec<u8>,
}

impl Callbacks for Replies {
    fn unhandled_csi(
        &mut self,
        screen: &mut Screen,
        i1: Option<u8>,
        _i2: Option<u8>,
        params: &[&[u16]],
        c: char,
    ) {
        let first = params.first().and_then(|p| p.first()).copied().unwrap_or(0);
        match (i1, c, first) {
            // Device status report: cursor position.
            (None, 'n', 6) => {
                let (row, col) = screen.cursor_position();
                self.pending
                    .extend_from_slice(format!("\x1b[{};{}R", row + 1, col + 1).as_bytes());
            }
            // Device status report: "terminal OK".
            (None, 'n', 5) => self.pending.extend_from_slice(b"\x1b[0n"),
            // Primary device attributes: a VT102-class terminal.
            (None, 'c', 0) => self.pending.extend_from_slice(b"\x1b[?6c"),
            _ => {}
        }
    }
}

/// One pane's terminal state.
pub struct Emulator {
    parser: Parser<Replies>,
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("size", &self.size())
            .finish()
    }
}

impl Emulator {
    pub fn new(rows: u16, cols: u16) -> Self {
        let (rows, cols) = clamp(rows, cols);
        Emulator {
            parser: Parser::new_with_callbacks(rows, cols, SCROLLBACK, Replies::default()),
        }
    }

    /// Feeds guest output; returns what the terminal must answer (often nothing).
    pub fn process(&mut self, bytes: &[u8]) -> Vec<u8> {
        self.parser.process(bytes);
        std::mem::take(&mut self.parser.callbacks_mut().pending)
    }

    pub fn screen(&self) -> &Screen {
        self.parser.screen()
    }

    pub fn size(&self) -> (u16, u16) {
        self.parser.screen().size()
    }

    /// Resizes (clamped); a no-op when the size is unchanged.
    pub fn resize(&mut self, rows: u16, cols: u16) {
        let (rows, cols) = clamp(rows, cols);
        if self.size() != (rows, cols) {
            self.parser.screen_mut().set_size(rows, cols);
        }
    }

    /// Scrolls the view `lines` further back (positive) or forward (negative).
    pub fn scroll(&mut self, lines: isize) {
        let s = self.parser.screen_mut();
        let now = s.scrollback() as isize;
        s.set_scrollback((now + lines).max(0) as usize);
    }

    /// How far back the view is scrolled (0: following the output).
    pub fn scrolled_back(&self) -> usize {
        self.parser.screen().scrollback()
    }

    /// Jumps back to the live screen.
    pub fn follow(&mut self) {
        self.parser.screen_mut().set_scrollback(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiny_sizes_do_not_panic() {
        let mut e = Emulator::new(0, 0);
        e.resize(1, 0);
        e.process(b"hello world\r\n");
        assert_eq!(e.size(), (2, 2));
    }

    #[test]
    fn answers_cursor_position_queries() {
        let mut e = Emulator::new(24, 80);
        let reply = e.process(b"ab\x1b[6n");
        assert_eq!(reply, b"\x1b[1;3R");
        assert!(e.process(b"plain").is_empty());
    }

    #[test]
    fn scrollback_moves_the_view() {
        let mut e = Emulator::new(3, 10);
        for i in 0..10 {
            e.process(format!("line{i}\r\n").as_bytes());
        }
        assert!(e.screen().contents().contains("line9"));
        e.scroll(4);
        assert!(e.scrolled_back() > 0);
        assert!(!e.screen().contents().contains("line9"));
        e.follow();
        assert!(e.screen().contents().contains("line9"));
    }
}
