//! Keystrokes → the bytes an xterm sends, so a console or SSH tab gets exactly what a real
//! terminal would: arrows (normal and application cursor mode), Home/End, PgUp/PgDn, F-keys,
//! Ctrl and Alt combinations, and bracketed paste.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

/// What the guest's terminal modes ask of the keyboard.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Modes {
    /// DECCKM: arrows send `ESC O x` instead of `ESC [ x`.
    pub application_cursor: bool,
    /// Pastes are wrapped in `ESC [ 200 ~` … `ESC [ 201 ~`.
    pub bracketed_paste: bool,
}

impl Modes {
    pub fn of(screen: &vt100::Screen) -> Self {
        Modes {
            application_cursor: screen.application_cursor(),
            bracketed_paste: screen.bracketed_paste(),
        }
    }
}

/// The xterm modifier parameter: 1 + shift + 2·alt + 4·ctrl (1 means none).
fn modifier_param(m: KeyModifiers) -> u8 {
    1 + u8::from(m.contains(KeyModifiers::SHIFT))
        + 2 * u8::from(m.contains(KeyModifiers::ALT))
        + 4 * u8::from(m.contains(KeyModifiers::CONTROL))
}

/// The bytes for one key press (`None` for releases and keys a terminal does not send).
pub fn key_bytes(key: KeyEvent, modes: Modes) -> Option<Vec<u8>> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    let m = key.modifiers;
    let alt = m.contains(KeyModifiers::ALT);
    let ctrl = m.contains(KeyModifiers::CONTROL);
    let param = modifier_param(m);
    // CSI with a final letter (arrows, Home/End, F1-F4 when modified).
    let letter = |normal_ss3: bool, c: char| -> Vec<u8> {
        if param > 1 {
            format!("\x1b[1;{param}{c}").into_bytes()
        } else if normal_ss3 {
            format!("\x1bO{c}").into_bytes()
        } else {
            format!("\x1b[{c}").into_bytes()
        }
    };
    let tilde = |n: u8| -> Vec<u8> {
        if param > 1 {
            format!("\x1b[{n};{param}~").into_bytes()
        } else {
            format!("\x1b[{n}~").into_bytes()
        }
    };
    let with_alt = |mut b: Vec<u8>| {
        if alt {
            b.insert(0, 0x1b);
        }
        b
    };
    let bytes = match key.code {
        KeyCode::Char(c) => {
            if ctrl {
                let b = match c.to_ascii_lowercase() {
                    c @ 'a'..='z' => c as u8 - b'a' + 1,
                    ' ' | '@' | '2' => 0,
                    '[' | '3' => 0x1b,
                    '\\' | '4' => 0x1c,
                    ']' | '5' => 0x1d,
                    '^' | '6' => 0x1e,
                    '_' | '-' | '7' => 0x1f,
                    '?' | '8' => 0x7f,
                    _ => return with_alt(c.to_string().into_bytes()).into(),
                };
                with_alt(vec![b])
            } else {
                with_alt(c.to_string().into_bytes())
            }
        }
        KeyCode::Enter => with_alt(b"\r".to_vec()),
        KeyCode::Tab => with_alt(b"\t".to_vec()),
        KeyCode::BackTab => b"\x1b[Z".to_vec(),
        KeyCode::Backspace => with_alt(if ctrl { vec![0x08] } else { vec![0x7f] }),
        KeyCode::Esc => with_alt(vec![0x1b]),
        KeyCode::Up => letter(modes.application_cursor, 'A'),
        KeyCode::Down => letter(modes.application_cursor, 'B'),
        KeyCode::Right => letter(modes.application_cursor, 'C'),
        KeyCode::Left => letter(modes.application_cursor, 'D'),
        KeyCode::Home => letter(modes.application_cursor, 'H'),
        KeyCode::End => letter(modes.application_cursor, 'F'),
        KeyCode::Insert => tilde(2),
        KeyCode::Delete => tilde(3),
        KeyCode::PageUp => tilde(5),
        KeyCode::PageDown => tilde(6),
        KeyCode::F(n @ 1..=4) => letter(true, (b'P' + n - 1) as char),
        KeyCode::F(n @ 5..=12) => tilde([15, 17, 18, 19, 20, 21, 23, 24][usize::from(n - 5)]),
        _ => return None,
    };
    Some(bytes)
}

/// The bytes for pasted text.
pub fn paste_bytes(text: &str, modes: Modes) -> Vec<u8> {
    // Terminals send newlines in pastes as carriage returns.
    let body = text.replace("\r\n", "\r").replace('\n', "\r");
    if modes.bracketed_paste {
        [b"\x1b[200~".as_slice(), body.as_bytes(), b"\x1b[201~"].concat()
    } else {
        body.into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(code: KeyCode, m: KeyModifiers) -> Vec<u8> {
        key_bytes(KeyEvent::new(code, m), Modes::default()).unwrap()
    }

    #[test]
    fn plain_and_control_characters() {
        assert_eq!(k(KeyCode::Char('a'), KeyModifiers::NONE), b"a");
        assert_eq!(k(KeyCode::Char('é'), KeyModifiers::NONE), "é".as_bytes());
        assert_eq!(k(KeyCode::Char('c'), KeyModifiers::CONTROL), [0x03]);
        assert_eq!(
            k(
                KeyCode::Char('C'),
                KeyModifiers::CONTROL | KeyModifiers::SHIFT
            ),
            [0x03]
        );
        assert_eq!(k(KeyCode::Char(' '), KeyModifiers::CONTROL), [0x00]);
        assert_eq!(k(KeyCode::Char('\\'), KeyModifiers::CONTROL), [0x1c]);
        assert_eq!(k(KeyCode::Char('x'), KeyModifiers::ALT), b"\x1bx");
        assert_eq!(
            k(
                KeyCode::Char('d'),
                KeyModifiers::ALT | KeyModifiers::CONTROL
            ),
            b"\x1b\x04"
        );
        assert_eq!(k(KeyCode::Enter, KeyModifiers::NONE), b"\r");
        assert_eq!(k(KeyCode::Backspace, KeyModifiers::NONE), [0x7f]);
        assert_eq!(k(KeyCode::Esc, KeyModifiers::NONE), [0x1b]);
        assert_eq!(k(KeyCode::BackTab, KeyModifiers::SHIFT), b"\x1b[Z");
    }

    #[test]
    fn cursor_keys_follow_the_cursor_mode() {
        assert_eq!(k(KeyCode::Up, KeyModifiers::NONE), b"\x1b[A");
        assert_eq!(k(KeyCode::Left, KeyModifiers::NONE), b"\x1b[D");
        assert_eq!(k(KeyCode::Home, KeyModifiers::NONE), b"\x1b[H");
        assert_eq!(k(KeyCode::End, KeyModifiers::NONE), b"\x1b[F");
        let app = Modes {
            application_cursor: true,
            bracketed_paste: false,
        };
        assert_eq!(
            key_bytes(KeyEvent::new(KeyCode::Up, KeyModifiers::NONE), app).unwrap(),
            b"\x1bOA"
        );
        assert_eq!(
            key_bytes(KeyEvent::new(KeyCode::End, KeyModifiers::NONE), app).unwrap(),
            b"\x1bOF"
        );
        assert_eq!(k(KeyCode::Right, KeyModifiers::CONTROL), b"\x1b[1;5C");
        assert_eq!(
            k(KeyCode::Up, KeyModifiers::SHIFT | KeyModifiers::ALT),
            b"\x1b[1;4A"
        );
    }

    #[test]
    fn editing_and_function_keys() {
        assert_eq!(k(KeyCode::PageUp, KeyModifiers::NONE), b"\x1b[5~");
        assert_eq!(k(KeyCode::PageDown, KeyModifiers::NONE), b"\x1b[6~");
        assert_eq!(k(KeyCode::Delete, KeyModifiers::NONE), b"\x1b[3~");
        assert_eq!(k(KeyCode::Insert, KeyModifiers::NONE), b"\x1b[2~");
        assert_eq!(k(KeyCode::Delete, KeyModifiers::CONTROL), b"\x1b[3;5~");
        assert_eq!(k(KeyCode::F(1), KeyModifiers::NONE), b"\x1bOP");
        assert_eq!(k(KeyCode::F(4), KeyModifiers::NONE), b"\x1bOS");
        assert_eq!(k(KeyCode::F(2), KeyModifiers::SHIFT), b"\x1b[1;2Q");
        assert_eq!(k(KeyCode::F(5), KeyModifiers::NONE), b"\x1b[15~");
        assert_eq!(k(KeyCode::F(12), KeyModifiers::NONE), b"\x1b[24~");
        assert!(
            key_bytes(
                KeyEvent::new(KeyCode::F(13), KeyModifiers::NONE),
                Modes::default()
            )
            .is_none()
        );
    }

    #[test]
    fn pastes_are_bracketed_when_asked() {
        assert_eq!(paste_bytes("a\nb", Modes::default()), b"a\rb");
        let m = Modes {
            application_cursor: false,
            bracketed_paste: true,
        };
        assert_eq!(paste_bytes("ls", m), b"\x1b[200~ls\x1b[201~");
    }
}
