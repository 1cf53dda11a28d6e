//! Ctrl-C, SIGTERM and SIGHUP: each cancels what the command is doing through one token the
//! engine honours (a deploy or a node start then stops what it started), and the signal's
//! number decides the exit code, 128 + n. A second signal during that cleanup does not cut it
//! short: the handlers stay installed.

use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};

use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

/// The cancellation a command passes to the engine, and which signal fired it.
pub struct Interrupts {
    token: CancellationToken,
    signal: Arc<AtomicI32>,
}

impl Interrupts {
    /// Installs the handlers (inside the runtime) and starts listening.
    pub fn install() -> Self {
        let token = CancellationToken::new();
        let fired = Arc::new(AtomicI32::new(0));
        let mut streams = Vec::new();
        for (kind, num) in [
            (SignalKind::interrupt(), nix::libc::SIGINT),
            (SignalKind::terminate(), nix::libc::SIGTERM),
            (SignalKind::hangup(), nix::libc::SIGHUP),
        ] {
            match signal(kind) {
                Ok(s) => streams.push((s, num)),
                Err(e) => tracing::warn!("cannot handle signal {num}: {e}"),
            }
        }
        for (mut stream, num) in streams {
            let (token, fired) = (token.clone(), fired.clone());
            tokio::spawn(async move {
                while stream.recv().await.is_some() {
                    tracing::info!("signal {num} received: cancelling");
                    let _ = fired.compare_exchange(0, num, Ordering::SeqCst, Ordering::SeqCst);
                    token.cancel();
                }
            });
        }
        Interrupts {
            token,
            signal: fired,
        }
    }

    /// No handlers: signals keep their default effect (commands that start nothing to undo).
    pub fn none() -> Self {
        Interrupts {
            token: CancellationToken::new(),
            signal: Arc::new(AtomicI32::new(0)),
        }
    }

    pub fn token(&self) -> &CancellationToken {
        &self.token
    }

    /// The first signal received, if any.
    pub fn signal(&self) -> Option<i32> {
        match self.signal.load(Ordering::SeqCst) {
            0 => None,
            n => Some(n),
        }
    }
}
