//! `vmlab console`: the user's terminal, in raw mode, joined to a serial console the engine
//! opened (its unix socket, or its TCP port).
//!
//! Every byte typed goes to the guest unchanged except Ctrl-] (0x1d), which detaches, as in
//! telnet. With stdin not a terminal (scripts, tests) the input is sent as it is, and the
//! command ends once input is over and the guest has been quiet for a moment.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::engine::api::LocalConsole;

/// The detach key: Ctrl-].
pub const DETACH: u8 = 0x1d;

/// Restores the terminal when dropped, however the session ends.
struct RawMode;

impl RawMode {
    fn enable() -> std::io::Result<Self> {
        crossterm::terminal::enable_raw_mode()?;
        Ok(RawMode)
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = crossterm::terminal::disable_raw_mode();
    }
}

/// How an attachment ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The user pressed Ctrl-].
    Detached,
    /// Input ended and the guest went quiet.
    InputDone,
    /// QEMU closed the console.
    Closed,
}

/// Attaches stdin/stdout to `node`'s open console.
pub async fn attach(console: LocalConsole, node: &str) -> std::io::Result<Ended> {
    let interactive = std::io::stdin().is_terminal();
    if let Some(who) = &console.held_by {
        eprint!(
            "the console of {node} is held by {who}: following its output read-only (what \
             you type goes nowhere); detach there, or stop it, to type here\r\n"
        );
    }
    let _raw = if interactive {
        eprint!(
            "connected to the console of {node} ({}); Ctrl-] detaches\r\n",
            console.place
        );
        Some(RawMode::enable()?)
    } else {
        None
    };
    let LocalConsole {
        halves: (mut rd, mut wr),
        recent,
        claim: _claim,
        ..
    } = console;
    // What the console showed last, then what comes.
    if !recent.is_empty() {
        let mut out = std::io::stdout().lock();
        out.write_all(&recent)?;
        out.flush()?;
    }
    let mut stdin = tokio::io::stdin();
    let mut inbuf = [0u8; 1024];
    let mut outbuf = [0u8; 8192];
    let mut input_open = true;
    let quiet = Duration::from_millis(1500);
    let ended = loop {
        tokio::select! {
            n = stdin.read(&mut inbuf), if input_open => {
                let n = n?;
                if n == 0 {
                    input_open = false;
                    continue;
                }
                let chunk = &inbuf[..n];
                if let Some(i) = chunk.iter().position(|b| *b == DETACH) {
                    wr.write_all(&chunk[..i]).await?;
                    break Ended::Detached;
                }
                wr.write_all(chunk).await?;
            }
            n = rd.read(&mut outbuf) => {
                let n = n?;
                if n == 0 {
                    break Ended::Closed;
                }
                let mut out = std::io::stdout().lock();
                out.write_all(&outbuf[..n])?;
                out.flush()?;
            }
            _ = tokio::time::sleep(quiet), if !input_open => break Ended::InputDone,
        }
    };
    drop(_raw);
    if interactive {
        eprintln!("\r\ndetached from the console of {node}");
    }
    Ok(ended)
}
