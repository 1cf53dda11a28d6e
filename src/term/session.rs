//! The byte streams behind terminal tabs: a serial console over TCP, or ssh in a pty.
//!
//! Reading happens on its own task (console) or thread (pty) and arrives as [`SessionEvent`]s
//! on the UI's channel; writing goes through an unbounded queue drained by a writer task or
//! thread, so the UI never blocks on a slow guest.

use std::io::{Read, Write};

use crate::engine::api::{ConsoleClaim, LocalConsole};
use portable_pty::{CommandBuilder, MasterPty, PtySize, native_pty_system};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};

/// Identifies a tab's session in events.
pub type SessionId = u64;

/// What a session reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    /// Bytes from the guest.
    Output(Vec<u8>),
    /// Something the user should see about the connection.
    Notice(String),
    /// The session ended, and why.
    Closed(String),
}

/// An open session.
pub struct Session {
    input: UnboundedSender<Vec<u8>>,
    pty: Option<PtyParts>,
    /// A console tab holds the console while it is open: a second viewer is told who.
    _claim: Option<ConsoleClaim>,
}

struct PtyParts {
    master: Box<dyn MasterPty + Send>,
    child: Box<dyn portable_pty::Child + Send + Sync>,
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Some(p) = &mut self.pty {
            let _ = p.child.kill();
        }
    }
}

impl Session {
    /// A session on a serial console the engine opened. When another client already held it
    /// (QEMU serves one at a time), the session says so and waits its turn.
    pub fn console(
        id: SessionId,
        console: LocalConsole,
        events: UnboundedSender<(SessionId, SessionEvent)>,
    ) -> Session {
        if let Some(who) = &console.held_by {
            let _ = events.send((
                id,
                SessionEvent::Notice(format!(
                    "the console ({}) is held by {who}: following its output read-only; \
                     reopen the tab to type once it lets go",
                    console.place
                )),
            ));
        }
        let LocalConsole {
            halves: (mut rd, mut wr),
            recent,
            claim,
            ..
        } = console;
        // What the console showed last, as `vmlab console` shows it, then what comes.
        if !recent.is_empty() {
            let _ = events.send((id, SessionEvent::Output(recent)));
        }
        let (input, mut queue) = unbounded_channel::<Vec<u8>>();
        let ev = events.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                match rd.read(&mut buf).await {
                    Ok(0) => {
                        let _ = ev.send((id, SessionEvent::Closed("the console closed".into())));
                        return;
                    }
                    Ok(n) => {
                        if ev
                            .send((id, SessionEvent::Output(buf[..n].to_vec())))
                            .is_err()
                        {
                            return;
                        }
                    }
                    Err(e) => {
                        let _ = ev.send((id, SessionEvent::Closed(format!("console error: {e}"))));
                        return;
                    }
                }
            }
        });
        tokio::spawn(async move {
            while let Some(bytes) = queue.recv().await {
                if wr.write_all(&bytes).await.is_err() {
                    return;
                }
            }
        });
        Session {
            input,
            pty: None,
            _claim: Some(claim),
        }
    }

    /// Runs `command` (an ssh command line) in a new pty of `rows`×`cols`.
    pub fn pty(
        id: SessionId,
        command: &crate::engine::api::SshCommand,
        rows: u16,
        cols: u16,
        events: UnboundedSender<(SessionId, SessionEvent)>,
    ) -> std::io::Result<Session> {
        let (rows, cols) = super::screen::clamp(rows, cols);
        let pair = native_pty_system()
            .openpty(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .map_err(std::io::Error::other)?;
        let mut cb = CommandBuilder::new(command.program());
        cb.args(command.args());
        for (k, v) in command.envs() {
            match v {
                Some(v) => cb.env(k, v),
                None => cb.env_remove(k),
            }
        }
        cb.env("TERM", "xterm-256color");
        // The terminal layer's one spawn: the engine's ssh command, in the pty this tab owns.
        #[allow(clippy::disallowed_methods)]
        let child = pair
            .slave
            .spawn_command(cb)
            .map_err(std::io::Error::other)?;
        // The child has its own copy; holding ours would keep the pty open after it exits.
        drop(pair.slave);
        let mut reader = pair
            .master
            .try_clone_reader()
            .map_err(std::io::Error::other)?;
        let mut writer = pair.master.take_writer().map_err(std::io::Error::other)?;
        let ev = events.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) | Err(_) => {
                        let _ = ev.send((id, SessionEvent::Closed("the ssh session ended".into())));
                        return;
                    }
                    Ok(n) => {
                        if ev
                            .send((id, SessionEvent::Output(buf[..n].to_vec())))
                            .is_err()
                        {
                            return;
                        }
                    }
                }
            }
        });
        let (input, mut queue) = unbounded_channel::<Vec<u8>>();
        std::thread::spawn(move || {
            while let Some(bytes) = queue.blocking_recv() {
                if writer
                    .write_all(&bytes)
                    .and_then(|_| writer.flush())
                    .is_err()
                {
                    return;
                }
            }
        });
        Ok(Session {
            input,
            pty: Some(PtyParts {
                master: pair.master,
                child,
            }),
            _claim: None,
        })
    }

    /// Queues bytes for the guest.
    pub fn send(&self, bytes: Vec<u8>) {
        let _ = self.input.send(bytes);
    }

    /// Tells the pty its new size (a console over TCP has no size to tell).
    pub fn resize(&self, rows: u16, cols: u16) {
        if let Some(p) = &self.pty {
            let (rows, cols) = super::screen::clamp(rows, cols);
            let _ = p.master.resize(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            });
        }
    }
}
