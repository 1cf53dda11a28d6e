//! Each lab's operation journal: every long operation on a lab (deploy, destroy, node start,
//! stop and restart, snapshot, restore, repair, and validate, which changes nothing and so
//! never counts as the operation in flight), whoever runs it — the CLI, the TUI or
//! `vmlab serve` — appends its beginning, its events and its end, one JSON object a line, to
//! `$VMLAB_HOME/events/<lab>.jsonl`. It is what the HTTP server's event streams follow, so an
//! operation started anywhere shows up there. Appends are single `write`s of one line on an
//! `O_APPEND` file: processes writing at once do not tear each other's lines. A journal past
//! [`MAX_BYTES`] is moved aside (`.old`) when the next operation begins.

use std::io::Write;
use std::path::PathBuf;

use serde_json::{Value, json};

use super::events::Event;
use super::home;
use crate::spec::LabName;

/// A journal is moved aside once it is this large.
pub const MAX_BYTES: u64 = 1024 * 1024;

/// The journal of lab `name`.
pub fn path(name: &LabName) -> PathBuf {
    home::vmlab_home()
        .join("events")
        .join(format!("{name}.jsonl"))
}

/// Operations that change nothing in the lab: journaled for the streams, but never the
/// operation in flight that keeps another one waiting.
const READ_ONLY: &[&str] = &["validate"];

/// One operation's writer to its lab's journal. An operation dropped before it ended (its
/// caller went away: a client gone, a front end quitting) is ended then, so the journal never
/// shows it running on.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    op: String,
    pid: u32,
    ended: std::sync::atomic::AtomicBool,
}

impl Drop for Journal {
    fn drop(&mut self) {
        self.end(Err(
            "stopped before it ended (whoever ran it went away)".into()
        ));
    }
}

impl Journal {
    /// Begins operation `op` (`deploy`, `destroy`, `stop r1`, ...) on lab `name`.
    pub fn begin(name: &LabName, op: &str) -> Self {
        Journal::begin_at(path(name), op)
    }

    fn begin_at(path: PathBuf, op: &str) -> Self {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        if std::fs::metadata(&path).is_ok_and(|m| m.len() > MAX_BYTES) {
            let _ = std::fs::rename(&path, path.with_extension("jsonl.old"));
        }
        let j = Journal {
            path,
            op: op.to_string(),
            pid: std::process::id(),
            ended: false.into(),
        };
        j.write(json!({"kind": "begin"}));
        j
    }

    /// A tap that records every event a sink sends in this journal.
    pub fn tap(self: &std::sync::Arc<Self>) -> super::events::Tap {
        let me = self.clone();
        std::sync::Arc::new(move |e: &Event| me.event(e))
    }

    /// Ends the operation with `result` and hands it back.
    pub fn ended<T, E: std::fmt::Display>(&self, result: Result<T, E>) -> Result<T, E> {
        self.end(match &result {
            Ok(_) => Ok(()),
            Err(e) => Err(e.to_string()),
        });
        result
    }

    /// Records one of the operation's events.
    pub fn event(&self, e: &Event) {
        self.write(json!({"kind": "event", "event": e.to_json(), "detail": e.describe()}));
    }

    /// Ends the operation: `Err` carries what went wrong, as the user was told. Only the first
    /// end is written.
    pub fn end(&self, result: Result<(), String>) {
        if self.ended.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        self.write(match result {
            Ok(()) => json!({"kind": "end", "ok": true}),
            Err(message) => json!({"kind": "end", "ok": false, "message": message}),
        });
    }

    fn write(&self, mut line: Value) {
        if let Some(o) = line.as_object_mut() {
            let at = humantime::format_rfc3339_millis(std::time::SystemTime::now());
            o.insert("at".into(), Value::from(at.to_string()));
            o.insert("op".into(), Value::from(self.op.clone()));
            o.insert("pid".into(), Value::from(self.pid));
        }
        let mut text = line.to_string();
        text.push('\n');
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path);
        if let Ok(mut f) = file {
            // One write: concurrent writers do not interleave inside a line.
            let _ = f.write_all(text.as_bytes());
        }
    }
}

/// One line of a journal, and where the next one starts (what a stream's `Last-Event-ID`
/// names to resume after it).
#[derive(Debug, Clone)]
pub struct Entry {
    pub next: u64,
    pub line: Value,
}

/// Follows lab `name`'s journal from byte `from` (`None`: its current end), as lines come.
pub struct Follower {
    path: PathBuf,
    offset: Option<u64>,
    pending: Vec<u8>,
    ready: std::collections::VecDeque<Entry>,
}

impl Follower {
    pub fn new(name: &LabName, from: Option<u64>) -> Self {
        let path = path(name);
        // "From now" is now, not when the first look happens.
        let from = from.unwrap_or_else(|| std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0));
        Follower {
            path,
            offset: Some(from),
            pending: Vec::new(),
            ready: std::collections::VecDeque::new(),
        }
    }

    /// The next line, waiting (polling every `every`) until there is one. A journal moved
    /// aside or cut shorter than where this follower was is followed from its start.
    pub async fn next(&mut self, every: std::time::Duration) -> Entry {
        use tokio::io::{AsyncReadExt, AsyncSeekExt};
        loop {
            if let Some(e) = self.ready.pop_front() {
                return e;
            }
            let len = tokio::fs::metadata(&self.path)
                .await
                .map(|m| m.len())
                .unwrap_or(0);
            let at = *self.offset.get_or_insert(len);
            let at = if len < at {
                self.pending.clear();
                self.offset = Some(0);
                0
            } else {
                at
            };
            if len > at
                && let Ok(mut f) = tokio::fs::File::open(&self.path).await
                && f.seek(std::io::SeekFrom::Start(at)).await.is_ok()
            {
                let mut buf = Vec::new();
                if f.take(len - at).read_to_end(&mut buf).await.is_ok() {
                    self.offset = Some(at + buf.len() as u64);
                    self.take_lines(at, buf);
                    continue;
                }
            }
            tokio::time::sleep(every).await;
        }
    }

    /// Splits what was read (starting at byte `at`) into whole lines.
    fn take_lines(&mut self, at: u64, buf: Vec<u8>) {
        let start = at - self.pending.len() as u64;
        let mut data = std::mem::take(&mut self.pending);
        data.extend(buf);
        let mut consumed = 0usize;
        while let Some(nl) = data[consumed..].iter().position(|b| *b == b'\n') {
            let line = &data[consumed..consumed + nl];
            consumed += nl + 1;
            if let Ok(v) = serde_json::from_slice::<Value>(line) {
                self.ready.push_back(Entry {
                    next: start + consumed as u64,
                    line: v,
                });
            }
        }
        self.pending = data[consumed..].to_vec();
    }
}

/// The operation on lab `name` begun and not ended by a process that still runs: its name,
/// when it began and the pid running it.
pub fn in_flight(name: &LabName) -> Option<(String, String, u32)> {
    let text = std::fs::read_to_string(path(name)).ok()?;
    open_ops(&text)
        .into_iter()
        .rev()
        .find(|(_, _, pid)| std::path::Path::new(&format!("/proc/{pid}")).exists())
}

/// The operations a journal's text shows begun and not ended, oldest first (read-only ones
/// left out): name, when it began, pid.
fn open_ops(text: &str) -> Vec<(String, String, u32)> {
    let mut open: Vec<(String, String, u32)> = Vec::new();
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let field = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let pid = v.get("pid").and_then(Value::as_u64).unwrap_or(0) as u32;
        match v.get("kind").and_then(Value::as_str) {
            Some("begin") if !READ_ONLY.contains(&field("op").as_str()) => {
                open.push((field("op"), field("at"), pid))
            }
            Some("end") => {
                let op = field("op");
                if let Some(i) = open.iter().rposition(|(o, _, p)| *o == op && *p == pid) {
                    open.remove(i);
                }
            }
            _ => {}
        }
    }
    open
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_operation_dropped_unended_is_ended_and_validate_keeps_nobody_waiting() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("lab.jsonl");
        {
            let j = Journal::begin_at(path.clone(), "snapshot s1");
            j.event(&Event::Step("pausing".into()));
            // Dropped here, as a client gone mid-request drops its handler.
        }
        {
            let j = Journal::begin_at(path.clone(), "restart r1");
            j.end(Ok(()));
            // Ended once: the drop adds nothing.
        }
        let running = Journal::begin_at(path.clone(), "stop r2");
        let checks = Journal::begin_at(path.clone(), "validate");
        let text = std::fs::read_to_string(&path).expect("the journal");
        let ends: Vec<Value> = text
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["kind"] == "end")
            .collect();
        assert_eq!(ends.len(), 2, "{text}");
        assert_eq!(ends[0]["op"], "snapshot s1");
        assert_eq!(ends[0]["ok"], false);
        assert!(
            ends[0]["message"]
                .as_str()
                .unwrap_or("")
                .contains("went away")
        );
        assert_eq!(
            (&ends[1]["op"], &ends[1]["ok"]),
            (&json!("restart r1"), &json!(true))
        );
        // What is in flight: the stop, not the checks (they change nothing).
        let open = open_ops(&text);
        assert_eq!(open.len(), 1, "{open:?}");
        assert_eq!(open[0].0, "stop r2");
        drop((running, checks));
    }
}
