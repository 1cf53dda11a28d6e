//! Server-Sent Events from a lab's operation journal: every operation on the lab, whoever
//! started it, as it happens. Each event's id is where the next journal line starts, so a
//! client that comes back with `Last-Event-ID` resumes after the last event it saw. A stream
//! follows a file through one shared follower per lab; a slow client loses the oldest lines
//! rather than slow anything.
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

/// How often a lab's journal is looked at for new lines (one look serves every stream).
const POLL: Duration = Duration::from_millis(25);

/// Lines a slow stream may fall behind before it loses the oldest (it never slows anything).
const BACKLOG: usize = 1024;

/// One follower per lab journal, shared by every stream of the lab that starts from now: 100
/// open streams cost one look at the file, not 100.
#[derive(Default)]
pub(crate) struct Hub {
    labs: std::sync::Mutex<
        std::collections::HashMap<LabName, tokio::sync::broadcast::Sender<api::JournalEntry>>,
    >,
}

impl Hub {
    /// The lines of lab `lab`'s journal from now on.
    fn subscribe(
        self: &std::sync::Arc<Self>,
        lab: &LabName,
    ) -> tokio::sync::broadcast::Receiver<api::JournalEntry> {
        let mut labs = self.labs.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = labs.get(lab) {
            return tx.subscribe();
        }
        let (tx, rx) = tokio::sync::broadcast::channel(BACKLOG);
        labs.insert(lab.clone(), tx.clone());
        let (hub, lab) = (self.clone(), lab.clone());
        // From the journal's end as this first stream opens.
        let mut follower = api::follow_journal(&lab, None);
        tokio::spawn(async move {
            let mut check = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    e = follower.next(POLL) => { let _ = tx.send(e); }
                    _ = check.tick() => {
                        let mut labs = hub.labs.lock().unwrap_or_else(|p| p.into_inner());
                        // The last stream went away: stop following (under the lock, so a new
                        // stream either finds this sender gone or keeps it alive).
                        if tx.receiver_count() == 0 {
                            labs.remove(&lab);
                            return;
                        }
                    }
                }
            }
        });
        rx
    }
}

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

/// The event stream of lab `lab`: from now through the lab's shared follower, or from `from`
/// (`Last-Event-ID`) through one of its own.
pub(crate) fn events(
    hub: std::sync::Arc<Hub>,
    lab: LabName,
    from: Option<u64>,
    flavor: Flavor,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let entries: futures::stream::BoxStream<'static, api::JournalEntry> = match from {
        Some(at) => {
            futures::stream::unfold(api::follow_journal(&lab, Some(at)), |mut f| async move {
                let entry = f.next(POLL).await;
                Some((entry, f))
            })
            .boxed()
        }
        None => futures::stream::unfold(hub.subscribe(&lab), |mut rx| async move {
            loop {
                match rx.recv().await {
                    Ok(e) => return Some((e, rx)),
                    // Fell behind: the oldest lines are lost, the stream goes on.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
        .boxed(),
    };
    let stream = entries.filter_map(move |e| async move { render(&e, flavor).map(Ok) });
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
