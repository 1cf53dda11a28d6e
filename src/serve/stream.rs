//! Server-Sent Events from a lab's operation journal: every operation on the lab, whoever
//! started it, as it happens. Each event's id is where the next journal line starts, so a
//! client that comes back with `Last-Event-ID` resumes after the last event it saw.
//!
//! One task follows every followed lab's journal for the whole server, woken by the engine's
//! journal watch (inotify) the moment any process writes a line, and hands each line to the
//! lab's streams through one broadcast channel; a slow client loses the oldest lines rather
//! than slow anything. A stream resumed with `Last-Event-ID` reads the lines before "now" from
//! the file itself, a chunk at a time as its client takes them, then joins the broadcast.
//! Streams are capped per lab and per server (503 past either).
//!
//! newtron's flavour (`/newtlab/v1/.../events`) is its `phase` / `complete` / `error` events
//! (`complete` and `error` end a deploy or a destroy); vmlab's own (`/v1/.../events`) gives
//! each journal line whole, its kind as the event name.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use serde_json::{Value, json};
use tokio::sync::broadcast;

use super::cap::Slot;
use super::reply::ApiError;
use crate::engine::api;
use crate::spec::LabName;

/// How often journals are looked at when no watch could be set up (every write wakes the
/// follower at once otherwise; this is also when unfollowed labs are let go).
const POLL_UNWATCHED: Duration = Duration::from_millis(25);
const POLL_WATCHED: Duration = Duration::from_secs(1);

/// Lines a slow stream may fall behind before it loses the oldest (it never slows anything).
const BACKLOG: usize = 256;

/// Event streams open at once on one lab, and on the whole server.
pub(crate) const MAX_LAB_STREAMS: usize = 128;
pub(crate) const MAX_STREAMS: usize = 512;

/// The journals followed for the server's streams: a follower and a channel per lab.
#[derive(Default)]
pub(crate) struct Hub {
    labs: Mutex<HashMap<LabName, Feed>>,
    streams: Arc<AtomicUsize>,
    /// The task that follows the journals, started with the first stream.
    driver: std::sync::OnceLock<()>,
}

struct Feed {
    follower: api::JournalFollower,
    tx: broadcast::Sender<api::JournalEntry>,
    streams: Arc<AtomicUsize>,
}

impl Feed {
    /// Hands every line written since the last look to the lab's streams.
    fn drain(&mut self) {
        while let Some(e) = self.follower.next_now() {
            let _ = self.tx.send(e);
        }
    }
}

impl Hub {
    /// The lines of lab `lab`'s journal from now on, and where "now" is in the journal; 503
    /// past a cap.
    fn subscribe(
        self: &Arc<Self>,
        lab: &LabName,
    ) -> Result<(broadcast::Receiver<api::JournalEntry>, u64, [Slot; 2]), ApiError> {
        self.driver.get_or_init(|| {
            tokio::spawn(drive(Arc::downgrade(self)));
        });
        let full = |what: &str| {
            ApiError(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("too many event streams are open {what}; close one and try again"),
            )
        };
        let mut labs = self.labs.lock().unwrap_or_else(|p| p.into_inner());
        let feed = labs.entry(lab.clone()).or_insert_with(|| Feed {
            follower: api::follow_journal(lab, None),
            tx: broadcast::channel(BACKLOG).0,
            streams: Arc::default(),
        });
        // A stream's places under both caps, given back when it ends.
        let server =
            Slot::take(&self.streams, MAX_STREAMS).ok_or_else(|| full("on this server"))?;
        let on_lab = Slot::take(&feed.streams, MAX_LAB_STREAMS)
            .ok_or_else(|| full(&format!("on lab {lab}")))?;
        let slot = [server, on_lab];
        // "Now" is what is written as the stream opens.
        feed.drain();
        Ok((feed.tx.subscribe(), feed.follower.read_to(), slot))
    }

    /// One look at the journals of `labs` (`None`: every followed lab); labs nobody follows
    /// any more are let go.
    fn look(&self, labs: Option<&[String]>) {
        let mut map = self.labs.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, f| f.tx.receiver_count() > 0);
        for (name, feed) in map.iter_mut() {
            if labs.is_none_or(|l| l.iter().any(|n| n == name.as_str())) {
                feed.drain();
            }
        }
    }
}

/// Follows the journals while the hub lives: at once on every change the watch sees, and on
/// a timer in case it sees none.
async fn drive(hub: std::sync::Weak<Hub>) {
    let watch = match api::JournalWatch::new() {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!("cannot watch the journals ({e}); looking every 25 ms");
            None
        }
    };
    let every = if watch.is_some() {
        POLL_WATCHED
    } else {
        POLL_UNWATCHED
    };
    let mut tick = tokio::time::interval(every);
    loop {
        let changed = tokio::select! {
            c = async { match &watch { Some(w) => w.changed().await.ok(), None => std::future::pending().await } } => c,
            _ = tick.tick() => None,
        };
        let Some(hub) = hub.upgrade() else { return };
        hub.look(changed.as_deref());
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

/// A stream's state: the lines before "now" still to read from the file (from `Last-Event-ID`),
/// then the broadcast.
struct Reader {
    replay: Option<(api::JournalFollower, u64)>,
    rx: broadcast::Receiver<api::JournalEntry>,
    _slots: [Slot; 2],
}

/// The event stream of lab `lab`: from now, or after `from` (`Last-Event-ID`).
pub(crate) fn events(
    hub: &Arc<Hub>,
    lab: LabName,
    from: Option<u64>,
    flavor: Flavor,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>> + use<>>, ApiError> {
    let (rx, now, slot) = hub.subscribe(&lab)?;
    let replay = from
        .filter(|at| *at < now)
        .map(|at| (api::follow_journal(&lab, Some(at)), now));
    let reader = Reader {
        replay,
        rx,
        _slots: slot,
    };
    let entries = futures::stream::unfold(reader, |mut r| async move {
        if let Some((f, upto)) = &mut r.replay {
            match f.next_now() {
                Some(e) if e.next <= *upto => return Some((e, r)),
                _ => r.replay = None,
            }
        }
        loop {
            match r.rx.recv().await {
                Ok(e) => return Some((e, r)),
                // Fell behind: the oldest lines are lost, the stream goes on.
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    let stream = entries.filter_map(move |e| async move { render(&e, flavor).map(Ok) });
    // newtron's clients expect a comment line every 30 s (proxies keep the stream open); one
    // every 15 s also finds a client gone sooner and frees its place.
    Ok(Sse::new(stream).keep_alive(
        KeepAlive::new()
            .interval(Duration::from_secs(15))
            .text("heartbeat"),
    ))
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
                ("end", Some(true)) if whole => (
                    "complete".into(),
                    json!({"changed": line.get("changed").cloned().unwrap_or(Value::Null)}),
                ),
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
