//! Each lab's operation journal: every long operation on a lab (deploy, destroy, node start,
//! stop and restart, snapshot, restore, repair, and validate), whoever runs it — the CLI, the TUI or
//! `vmlab serve` — appends its beginning, its events and its end, one JSON object a line, to
//! `$VMLAB_HOME/events/<lab>.jsonl`; `vmlab serve` adds an `audit` line for each command run
//! through it (who, what, on which nodes; never the output). It is what the HTTP server's
//! event streams follow, so an operation started anywhere shows up there. Which operation
//! changes the lab now is not read here but from the lab lock's record (`lab::lock`), the one
//! answer every front end reads.
//!
//! Appends are single `write`s of one line on an `O_APPEND` file: processes writing at once do
//! not tear each other's lines. The journal is private (the folder 0700, the files 0600,
//! tightened when an older vmlab left them looser) and bounded: a string in a line is cut past
//! [`MAX_STRING`] bytes and a line past [`MAX_LINE`], and a file past [`MAX_BYTES`] is moved
//! aside (`.old`, replacing the one before) by the write that finds it so, whoever writes: a
//! lab's journal never holds much more than twice that. An operation whose begin was moved
//! aside states it again in the new file, so a reader of that file alone knows it runs. Readers
//! take at most [`CHUNK`] bytes at a time.

use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::events::Event;
use super::home;
use crate::spec::LabName;

/// A journal is moved aside once it is this large.
pub const MAX_BYTES: u64 = 1024 * 1024;

/// A string in a journal line (a check's output, an error's text) is cut past this many bytes.
pub const MAX_STRING: usize = 2048;

/// A journal line longer than this (many strings) keeps only its kind and a cut detail.
pub const MAX_LINE: usize = 16 * 1024;

/// A reader takes at most this much of a journal at a time.
pub const CHUNK: usize = 64 * 1024;

/// The journal of lab `name`.
pub fn path(name: &LabName) -> PathBuf {
    home::events_dir().join(format!("{name}.jsonl"))
}

/// One operation's writer to its lab's journal. An operation dropped before it ended (its
/// caller went away: a client gone, a front end quitting) is ended then, so the journal never
/// shows it running on.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    op: String,
    /// The operation's id, on each of its lines: `<pid>-<n>`.
    id: String,
    /// Where its begin line starts in the journal: a stream resumed from here
    /// (`Last-Event-ID`) sees the operation whole.
    begun_at: std::sync::atomic::AtomicU64,
    pid: u32,
    ended: std::sync::atomic::AtomicBool,
    /// The file (device, inode) this operation's begin line is in; a write that finds another
    /// file there (the journal was moved aside) states the begin again first.
    begun_in: std::sync::Mutex<Option<(u64, u64)>>,
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
            let _ = home::private_dir(dir);
        }
        static OPS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let n = OPS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let j = Journal {
            path,
            op: op.to_string(),
            id: format!("{}-{n}", std::process::id()),
            begun_at: 0.into(),
            pid: std::process::id(),
            ended: false.into(),
            begun_in: std::sync::Mutex::new(None),
        };
        j.write(json!({"kind": "begin"}));
        j
    }

    /// The operation's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Where the operation's begin line starts: the `Last-Event-ID` after which a stream
    /// shows it whole.
    pub fn begun_at(&self) -> u64 {
        self.begun_at.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Ends the operation, done, saying whether it changed the lab (a deploy of a lab that
    /// already ran as asked changed nothing).
    pub fn end_changed(&self, changed: bool) {
        self.end_with(Ok(()), Some(changed));
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
        self.end_with(result, None);
    }

    fn end_with(&self, result: Result<(), String>, changed: Option<bool>) {
        if self.ended.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let mut line = match result {
            Ok(()) => json!({"kind": "end", "ok": true}),
            Err(message) => json!({"kind": "end", "ok": false, "message": message}),
        };
        if let (Some(c), Some(o)) = (changed, line.as_object_mut()) {
            o.insert("changed".into(), Value::from(c));
        }
        self.write(line);
    }

    fn write(&self, mut line: Value) {
        let begin = line.get("kind").and_then(Value::as_str) == Some("begin");
        if let Some(o) = line.as_object_mut() {
            o.insert("id".into(), Value::from(self.id.clone()));
        }
        let text = line_text(line, &self.op, self.pid);
        let mut begun_in = self.begun_in.lock().unwrap_or_else(|p| p.into_inner());
        let Ok((mut f, file)) = open_for_append(&self.path) else {
            return;
        };
        if begin {
            *begun_in = Some(file);
        } else if *begun_in != Some(file) {
            // The journal was moved aside since this operation began: say so again here, so
            // that whoever reads this file knows the operation runs.
            let again = line_text(
                json!({"kind": "begin", "again": true, "id": self.id}),
                &self.op,
                self.pid,
            );
            let _ = f.write_all(again.as_bytes());
            *begun_in = Some(file);
        }
        // One write: concurrent writers do not interleave inside a line.
        if f.write_all(text.as_bytes()).is_ok() && begin {
            // Appending leaves the file's position at the end of this line.
            use std::io::Seek;
            if let Ok(end) = f.stream_position() {
                self.begun_at.store(
                    end.saturating_sub(text.len() as u64),
                    std::sync::atomic::Ordering::SeqCst,
                );
            }
        }
    }
}

/// Records in lab `name`'s journal that `by` ran `what` through `op` (`exec`, `validate`):
/// one `audit` line, without the output.
pub fn audit(name: &LabName, op: &str, by: &str, what: Value) {
    let mut line = json!({"kind": "audit", "by": by});
    if let (Some(o), Value::Object(w)) = (line.as_object_mut(), what) {
        o.extend(w);
    }
    let text = line_text(line, op, std::process::id());
    if let Ok((mut f, _)) = open_for_append(&path(name)) {
        let _ = f.write_all(text.as_bytes());
    }
}

/// One journal line: `line` stamped with the time, the operation and the pid, its strings cut
/// to their bound and the whole to its own, with its newline.
fn line_text(mut line: Value, op: &str, pid: u32) -> String {
    if let Some(o) = line.as_object_mut() {
        let at = humantime::format_rfc3339_millis(std::time::SystemTime::now());
        o.insert("at".into(), Value::from(at.to_string()));
        o.insert("op".into(), Value::from(op));
        o.insert("pid".into(), Value::from(pid));
    }
    cut_strings(&mut line);
    let mut text = line.to_string();
    if text.len() > MAX_LINE {
        let field = |k: &str| line.get(k).cloned().unwrap_or(Value::Null);
        let mut detail = line
            .get("detail")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| text.clone());
        cut_string(&mut detail);
        text = json!({
            "kind": field("kind"),
            "event": {"event": line.pointer("/event/event").cloned().unwrap_or(Value::Null)},
            "detail": detail,
            "cut": true,
            "at": field("at"),
            "op": field("op"),
            "pid": field("pid"),
        })
        .to_string();
    }
    text.push('\n');
    text
}

/// Cuts every string in `v` to [`MAX_STRING`] bytes, saying how much went.
fn cut_strings(v: &mut Value) {
    match v {
        Value::String(s) => cut_string(s),
        Value::Array(a) => a.iter_mut().for_each(cut_strings),
        Value::Object(o) => o.values_mut().for_each(cut_strings),
        _ => {}
    }
}

fn cut_string(s: &mut String) {
    if s.len() <= MAX_STRING {
        return;
    }
    let mut keep = MAX_STRING;
    while !s.is_char_boundary(keep) {
        keep -= 1;
    }
    let gone = s.len() - keep;
    s.truncate(keep);
    s.push_str(&format!("… ({gone} bytes cut)"));
}

/// The journal at `path` opened to append (0600, tightened if looser), after moving it aside
/// if it is past [`MAX_BYTES`]; the file's (device, inode).
fn open_for_append(path: &Path) -> std::io::Result<(std::fs::File, (u64, u64))> {
    let open = || {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)
    };
    let mut f = match open() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent() {
                home::private_dir(dir)?;
            }
            open()?
        }
        other => other?,
    };
    let mut m = f.metadata()?;
    if m.len() > MAX_BYTES {
        let _ = std::fs::rename(path, path.with_extension("jsonl.old"));
        f = open()?;
        m = f.metadata()?;
    }
    if m.mode() & 0o077 != 0 {
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok((f, (m.dev(), m.ino())))
}

/// One line of a journal, and where the next one starts (what a stream's `Last-Event-ID`
/// names to resume after it).
#[derive(Debug, Clone)]
pub struct Entry {
    pub next: u64,
    pub line: Value,
}

/// Reads lab `name`'s journal from byte `from` (`None`: its current end), a line at a time,
/// never more than [`CHUNK`] bytes at once. It does not wait: [`Follower::next_now`] hands out
/// what is written already, and a [`Watch`] says when there is more.
pub struct Follower {
    path: PathBuf,
    offset: u64,
    /// The file followed (device, inode), once read: another one there was moved in.
    file: Option<(u64, u64)>,
    pending: Vec<u8>,
    ready: std::collections::VecDeque<Entry>,
}

impl Follower {
    pub fn new(name: &LabName, from: Option<u64>) -> Self {
        let path = path(name);
        let meta = std::fs::metadata(&path).ok();
        // "From now" is now, not when the first look happens.
        let offset = from.unwrap_or_else(|| meta.as_ref().map(|m| m.len()).unwrap_or(0));
        Follower {
            path,
            offset,
            file: meta.map(|m| (m.dev(), m.ino())),
            pending: Vec::new(),
            ready: std::collections::VecDeque::new(),
        }
    }

    /// Where the journal has been read to: every line ending at or before it has been handed
    /// out or is ready.
    pub fn read_to(&self) -> u64 {
        self.offset
    }

    /// The next line written already, reading at most [`CHUNK`] more bytes; `None` when there
    /// is none yet. A journal moved aside or cut shorter is followed from its start.
    pub fn next_now(&mut self) -> Option<Entry> {
        use std::io::{Read, Seek};
        for _ in 0..64 {
            if let Some(e) = self.ready.pop_front() {
                return Some(e);
            }
            let mut f = std::fs::File::open(&self.path).ok()?;
            let m = f.metadata().ok()?;
            let file = (m.dev(), m.ino());
            if self.file.is_some_and(|was| was != file) || m.len() < self.offset {
                self.pending.clear();
                self.offset = 0;
            }
            self.file = Some(file);
            if m.len() <= self.offset || f.seek(std::io::SeekFrom::Start(self.offset)).is_err() {
                return None;
            }
            let want = (m.len() - self.offset).min(CHUNK as u64);
            let mut buf = Vec::with_capacity(want as usize);
            if f.take(want).read_to_end(&mut buf).is_err() || buf.is_empty() {
                return None;
            }
            let at = self.offset;
            self.offset += buf.len() as u64;
            self.take_lines(at, buf);
        }
        // A line longer than everything read so far (not one this journal writes): dropped.
        self.pending.clear();
        None
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

/// Says which labs' journals changed, as they change (inotify on `$VMLAB_HOME/events`, made
/// private if it is not yet there): a write by any process reaches a follower at once.
pub struct Watch {
    fd: tokio::io::unix::AsyncFd<InotifyFd>,
}

struct InotifyFd(nix::sys::inotify::Inotify);

impl AsRawFd for InotifyFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

impl AsFd for InotifyFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl Watch {
    /// Must be made inside a tokio runtime.
    pub fn new() -> std::io::Result<Self> {
        use nix::sys::inotify::{AddWatchFlags as W, InitFlags, Inotify};
        let dir = home::events_dir();
        home::private_dir(&dir)?;
        let ino = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)?;
        ino.add_watch(
            &dir,
            W::IN_MODIFY | W::IN_CREATE | W::IN_MOVED_TO | W::IN_MOVED_FROM,
        )?;
        // SAFETY: `InotifyFd` owns the descriptor it names and closes it only when dropped,
        // with the `AsyncFd` that holds it.
        let fd = unsafe { tokio::io::unix::AsyncFd::register(InotifyFd(ino)) }
            .map_err(std::io::Error::from)?;
        Ok(Watch { fd })
    }

    /// Waits for a change; the labs whose journal changed (names as the files spell them).
    pub async fn changed(&self) -> std::io::Result<Vec<String>> {
        loop {
            let mut ready = self.fd.readable().await?;
            match ready.get_inner().0.read_events() {
                Ok(events) => {
                    let mut labs: Vec<String> = events
                        .iter()
                        .filter_map(|e| e.name.as_ref()?.to_str()?.strip_suffix(".jsonl"))
                        .map(str::to_string)
                        .collect();
                    labs.dedup();
                    return Ok(labs);
                }
                Err(nix::errno::Errno::EAGAIN) => ready.clear_ready(),
                Err(e) => return Err(e.into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_operation_dropped_unended_is_ended() {
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
        // The stop and the checks have begun and not ended (what runs now is the lab lock's
        // record: `lock::holder`; checks never take the lock).
        let begun: Vec<Value> = text
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["kind"] == "begin")
            .collect();
        assert_eq!(begun.len(), 4, "{text}");
        assert_eq!(
            (&begun[2]["op"], &begun[3]["op"]),
            (&json!("stop r2"), &json!("validate"))
        );
        drop((running, checks));
    }

    #[test]
    fn lines_and_files_stay_bounded_and_an_operation_moved_aside_is_begun_again() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("lab.jsonl");
        let j = Journal::begin_at(path.clone(), "deploy");
        let long = "x".repeat(100_000);
        // A long string is cut, saying how much went.
        j.event(&Event::Step(long.clone()));
        let text = std::fs::read_to_string(&path).expect("the journal");
        let last: Value = serde_json::from_str(text.lines().last().expect("a line")).expect("json");
        let detail = last["detail"].as_str().expect("detail");
        assert!(detail.len() < MAX_STRING + 40, "{}", detail.len());
        assert!(detail.ends_with("bytes cut)"), "{detail}");
        // Many long strings in one line: the line keeps its kind and a cut detail.
        let many = line_text(
            json!({"kind": "event", "detail": "d", "list": vec![long.clone(); 20]}),
            "validate",
            1,
        );
        assert!(many.len() <= MAX_LINE, "{}", many.len());
        assert!(many.contains("\"cut\":true"), "{many}");
        // 3 MB of events: never more than the bound in the file and the bound moved aside.
        for _ in 0..1500 {
            j.event(&Event::Step(long.clone()));
        }
        let now = std::fs::metadata(&path).expect("journal").len();
        let old = std::fs::metadata(path.with_extension("jsonl.old"))
            .expect("moved aside")
            .len();
        assert!(now <= MAX_BYTES + MAX_LINE as u64, "{now}");
        assert!(old <= MAX_BYTES + MAX_LINE as u64, "{old}");
        // The file now there shows the deploy running (its begin stated again, first).
        let now_text = std::fs::read_to_string(&path).expect("journal");
        let first: Value =
            serde_json::from_str(now_text.lines().next().expect("a line")).expect("json");
        assert_eq!(
            (&first["kind"], &first["op"], &first["again"]),
            (&json!("begin"), &json!("deploy"), &json!(true)),
            "{first}"
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path)
            .expect("journal")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        drop(j);
    }
}
