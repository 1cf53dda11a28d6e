//! Writing to the user's terminal without dying of it: output to a closed pipe (`vmlab status
//! | head -1`) or a hung-up terminal (SIGHUP during a deploy) must not panic and skip the
//! cleanup that follows, as `println!` would.

use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};

use crate::engine::api::{EngineError, Event, EventSink};

/// How progress (engine events) is told on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Progress {
    /// Animated lines on a terminal, plain timestamped lines otherwise.
    Auto,
    /// Plain timestamped lines, even on a terminal.
    Plain,
    /// One JSON object per event (see README, "Machine-readable output").
    Json,
    /// Only warnings and failures (`-q`).
    Quiet,
}

static MODE: AtomicU8 = AtomicU8::new(0);

/// Sets how progress is told, for the whole process (from `-q` and `--progress`).
pub fn set_progress(p: Progress) {
    MODE.store(p as u8, Ordering::Relaxed);
}

/// How progress is told.
pub fn progress() -> Progress {
    match MODE.load(Ordering::Relaxed) {
        1 => Progress::Plain,
        2 => Progress::Json,
        3 => Progress::Quiet,
        _ => Progress::Auto,
    }
}

/// Tells one event as the progress mode wants it (nothing, with `-q`, unless it is a problem).
pub fn tell_event(e: &Event) {
    match progress() {
        Progress::Json => tell(&e.to_json().to_string()),
        Progress::Quiet if !e.is_problem() => {}
        _ => tell(&e.describe()),
    }
}

/// Progress that is not an engine event (a command saying what it does), as a `step` in JSON
/// mode and not at all with `-q`.
pub fn tell_step(line: &str) {
    tell_event(&Event::Step(line.to_string()));
}

/// `NO_COLOR` set and not empty (no-color.org): no colour anywhere, CLI or TUI.
pub fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// A line of data on stdout.
pub fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|_| out.flush());
}

/// `v` as pretty JSON on stdout (the `--format json` of every listing).
pub fn say_json<T: serde::Serialize>(v: &T, what: &str) -> Result<(), EngineError> {
    let text = serde_json::to_string_pretty(v)
        .map_err(|e| EngineError::io(format!("cannot encode {what}"), std::io::Error::other(e)))?;
    say(&text);
    Ok(())
}

/// A line of progress, a warning or an error on stderr.
pub fn tell(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// Runs `work` with a sink whose events are told on stderr as they come, and returns its
/// result once every line is out: the one wrap-up of every command that reports progress.
pub async fn with_progress<T, F, Fut>(work: F) -> T
where
    F: FnOnce(EventSink) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    with_printer(
        |mut rx| async move {
            while let Some(e) = rx.recv().await {
                tell_event(&e);
            }
        },
        work,
    )
    .await
}

/// Runs `work` with a sink whose events `print` shows as they come (a deploy's bars), and
/// returns its result once `print` has shown the last one.
pub async fn with_printer<T, P, PF, F, Fut>(print: P, work: F) -> T
where
    P: FnOnce(tokio::sync::mpsc::UnboundedReceiver<Event>) -> PF,
    PF: std::future::Future<Output = ()> + Send + 'static,
    F: FnOnce(EventSink) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let (sink, rx) = EventSink::channel();
    let printer = tokio::spawn(print(rx));
    // `work` owns the sink: when it is done, the sink is gone and the printer ends.
    let result = work(sink).await;
    let _ = printer.await;
    result
}
