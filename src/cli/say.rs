//! Writing to the user's terminal without dying of it: output to a closed pipe (`vmlab status
//! | head -1`) or a hung-up terminal (SIGHUP during a deploy) must not panic and skip the
//! cleanup that follows, as `println!` would.

use std::io::Write;

use crate::engine::EventSink;

/// A line of data on stdout.
pub fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|_| out.flush());
}

/// A line of progress, a warning or an error on stderr.
pub fn tell(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// An event sink whose events are told on stderr, one line each, and the task doing it
/// (await it after dropping the sink, so every line is out).
pub fn printing_sink() -> (EventSink, tokio::task::JoinHandle<()>) {
    let (sink, mut rx) = EventSink::channel();
    let task = tokio::spawn(async move {
        while let Some(e) = rx.recv().await {
            tell(&e.describe());
        }
    });
    (sink, task)
}
