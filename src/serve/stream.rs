//! Server-Sent Events from a lab's operation journal: every operation on the lab, whoever
//! started it, as it happens. Each event's id is where the next journal line starts, so a
//! client that comes back with `Last-Event-ID` resumes after the last event it saw. A stream
//! follows a file, so a slow client only falls behind: it never slows an operation.
//!
//! newtron's flavour (`/newtlab/v1/.../events`) is its `phase` / `complete` / `error` events
//! (`complete` and `error` end a deploy or a destroy); vmlab's own (`/v1/.../events`) gives
//! each journal line whole, its kind as the event name.

use std::convert::Infallible;
use std::time::Duration;

use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use serde_json::{Value, json};

use crate::engine::api;
use crate::spec::LabName;

/// How often a stream looks for new journal lines.
const POLL: Duration = Duration::from_millis(100);

/// Which API's events.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Flavor {
    Newtlab,
    Own,
}

/// Where a stream starts: after `Last-Event-ID`, else at the journal's end (what happens from
/// now on).
pub(crate) fn resume_from(headers: &HeaderMap) -> Option<u64> {
    headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// The event stream of lab `lab`.
pub(crate) fn events(
    lab: LabName,
    from: Option<u64>,
    flavor: Flavor,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let follower = api::follow_journal(&lab, from);
    let stream = futures::stream::unfold(follower, |mut f| async move {
        let entry = f.next(POLL).await;
        Some((entry, f))
    })
    .filter_map(move |e| async move { render(&e, flavor).map(Ok) });
    // newtron's clients expect a comment line every 30 s (proxies keep the stream open).
    Sse::new(stream).keep_alive(
        KeepAlive::new()
            .interval(Duration::from_secs(30))
            .text("heartbeat"),
    )
}

use futures::StreamExt;

/// One journal line as an SSE event, or nothing (a line newtron's flavour has no event for).
fn render(e: &api::JournalEntry, flavor: Flavor) -> Option<Event> {
    let line = &e.line;
    let field = |k: &str| line.get(k).and_then(Value::as_str).unwrap_or("");
    let (name, data) = match flavor {
        Flavor::Own => (field("kind").to_string(), line.clone()),
        Flavor::Newtlab => {
            let op = field("op");
            // Only a deploy or a destroy completes or fails a newtron client's wait.
            let whole = matches!(op, "deploy" | "destroy");
            match (field("kind"), line.get("ok").and_then(Value::as_bool)) {
                ("begin", _) => (
                    "phase".into(),
                    json!({"phase": op, "detail": format!("{op} started")}),
                ),
                ("event", _) => (
                    "phase".into(),
                    json!({
                        "phase": line.pointer("/event/event").and_then(Value::as_str).unwrap_or(""),
                        "detail": field("detail"),
                    }),
                ),
                ("end", Some(true)) if whole => ("complete".into(), Value::Null),
                ("end", Some(false)) if whole => {
                    ("error".into(), json!({"message": field("message")}))
                }
                ("end", Some(ok)) => (
                    "phase".into(),
                    json!({
                        "phase": op,
                        "detail": if ok { format!("{op} done") } else {
                            format!("{op} failed: {}", field("message"))
                        },
                    }),
                ),
                _ => return None,
            }
        }
    };
    Some(
        Event::default()
            .event(name)
            .id(e.next.to_string())
            .data(data.to_string()),
    )
}
