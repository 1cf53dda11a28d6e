//! "This lab is busy": one record, read by everyone who asks. Every command that changes a lab
//! (deploy, destroy, stop, start, restart, link changes, snapshot, restore, repair) holds the
//! lab's lock while it runs, whoever runs it — the CLI, the TUI or `vmlab serve`; reading a lab
//! (status, the TUI's monitor, validate) never takes it.
//!
//! The lock is an exclusive `flock` on `$VMLAB_HOME/locks/<lab>.lock`, outside the lab
//! directory that destroy deletes, so a waiter can never end up locking a file that was
//! removed under it. The kernel drops the lock when its holder dies, even by SIGKILL. The
//! holder writes its record into the file — pid, what it does, when it began (one JSON line)
//! — and empties it when it lets go. That record is the one answer to "who is changing this
//! lab": the CLI's wait ([`acquire`] waits a short, stated time for a quick operation and says
//! at once that the lab is busy when a deploy holds it), the server's 409 and the journal's
//! "operation in flight" ([`holder`]) all read it. A record in a file nobody has locked is a
//! dead holder's and means nothing.
//!
//! `state.json` has a second, short lock of its own (`<lab>.state.lock`) for its
//! read-modify-write updates, which a boot watch makes without holding the lab lock.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg};

use crate::error::EngineError;
use crate::events::{Event, EventSink};
use crate::home;
use crate::spec::LabName;

/// How long a command waits for a quick operation of another to finish.
pub const WAIT: Duration = Duration::from_secs(15);

/// Held while a command changes a lab; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct LabLock {
    lock: Flock<File>,
}

impl Drop for LabLock {
    fn drop(&mut self) {
        // The record goes before the lock: a record stays only where its holder died.
        let _ = self.lock.set_len(0);
    }
}

/// Who changes a lab: the record its lock's holder keeps in the lock file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Holder {
    /// The process holding the lock.
    pub pid: u32,
    /// What it does, as a command line would say it (`vmlab restart spine1`).
    pub doing: String,
    /// When it took the lock (RFC 3339).
    pub at: String,
}

impl Holder {
    /// How a busy lab names its holder: "`vmlab deploy` (pid 4242, begun at ...)".
    pub fn describe(&self) -> String {
        format!("`{}` (pid {}, begun at {})", self.doing, self.pid, self.at)
    }

    /// A deploy takes minutes: nobody waits for one.
    fn is_long(&self) -> bool {
        self.doing.contains("deploy")
    }
}

/// The lock file of a lab.
pub fn lock_path(lab: &LabName) -> PathBuf {
    home::locks_dir().join(format!("{lab}.lock"))
}

fn open(path: &Path) -> Result<File, EngineError> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if let Some(dir) = path.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| EngineError::io(format!("cannot create {}", dir.display()), e))?;
    }
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| EngineError::io(format!("cannot open {}", path.display()), e))
}

/// Takes the lab's lock for `doing` (for example `"vmlab restart spine1"`). When another
/// command holds it, `events` hears who and how long this one waits.
pub async fn acquire(
    lab: &LabName,
    doing: &str,
    events: &EventSink,
) -> Result<LabLock, EngineError> {
    acquire_at(&lock_path(lab), lab, doing, events).await
}

async fn acquire_at(
    path: &Path,
    lab: &LabName,
    doing: &str,
    events: &EventSink,
) -> Result<LabLock, EngineError> {
    let started = Instant::now();
    let mut told = false;
    loop {
        let file = open(path)?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(mut lock) => {
                let record = Holder {
                    pid: std::process::id(),
                    doing: doing.to_string(),
                    at: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
                };
                let line = serde_json::to_string(&record).unwrap_or_default();
                let _ = lock.set_len(0);
                let _ = lock.rewind();
                // One write: a reader sees no record or all of it.
                let _ = lock.write_all(format!("{line}\n").as_bytes());
                tracing::debug!("locked lab {lab} for {doing}");
                return Ok(LabLock { lock });
            }
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => {
                let waited = started.elapsed();
                let Some(h) = record(path) else {
                    // No live record: a holder between its lock and its record, or someone
                    // asking [`holder`] for an instant. Look again soon.
                    if waited >= WAIT {
                        return Err(EngineError::LabBusy {
                            lab: lab.to_string(),
                            holder: "another vmlab command".into(),
                        });
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                };
                if h.is_long() || waited >= WAIT {
                    return Err(EngineError::LabBusy {
                        lab: lab.to_string(),
                        holder: h.describe(),
                    });
                }
                if !told {
                    events.send(Event::Waiting(format!(
                        "lab {lab} is busy: {} is changing it; waiting up to {} s",
                        h.describe(),
                        WAIT.as_secs()
                    )));
                    told = true;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err((_, e)) => {
                return Err(EngineError::io(
                    format!("cannot lock {}", path.display()),
                    e.into(),
                ));
            }
        }
    }
}

/// Who is changing lab `lab` now: the holder's record, if its lock is held (a shared lock
/// taken for an instant tells; a record nobody holds is not read).
pub fn holder(lab: &LabName) -> Option<Holder> {
    holder_at(&lock_path(lab))
}

fn holder_at(path: &Path) -> Option<Holder> {
    let file = File::open(path).ok()?;
    match Flock::lock(file, FlockArg::LockSharedNonblock) {
        Ok(_free) => None,
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => record(path),
        Err(_) => None,
    }
}

/// The record in a lock file, if whole and its process runs.
fn record(path: &Path) -> Option<Holder> {
    let mut text = String::new();
    File::open(path).ok()?.read_to_string(&mut text).ok()?;
    let h: Holder = serde_json::from_str(text.trim_end()).ok()?;
    Path::new(&format!("/proc/{}", h.pid)).exists().then_some(h)
}

/// Runs `f` under the state lock of `lab` (a short lock around one read-modify-write of
/// `state.json`; never held across an await).
pub fn with_state_lock<T>(
    lab: &LabName,
    f: impl FnOnce() -> Result<T, EngineError>,
) -> Result<T, EngineError> {
    let path = home::locks_dir().join(format!("{lab}.state.lock"));
    let file = open(&path)?;
    let _lock = Flock::lock(file, FlockArg::LockExclusive)
        .map_err(|(_, e)| EngineError::io("cannot lock the lab state", e.into()))?;
    f()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_record_is_there_while_the_lock_is_held_and_only_then() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("lab.lock");
        let lab = LabName::parse("lab").expect("a name");
        let events = EventSink::none();
        assert_eq!(holder_at(&path), None, "no file: nobody");
        // A dead holder's record (SIGKILLed before it emptied it) means nothing.
        std::fs::write(
            &path,
            r#"{"pid":4194304,"doing":"vmlab deploy","at":"2026-01-01T00:00:00Z"}"#,
        )
        .expect("write");
        assert_eq!(holder_at(&path), None, "a record nobody holds");
        let lock = acquire_at(&path, &lab, "vmlab deploy", &events)
            .await
            .expect("a lock nobody holds");
        let h = holder_at(&path).expect("the holder");
        assert_eq!(
            (h.pid, h.doing.as_str()),
            (std::process::id(), "vmlab deploy")
        );
        // A second command is refused at once while a deploy holds the lab, naming it.
        let t0 = Instant::now();
        let busy = acquire_at(&path, &lab, "vmlab stop r1", &events)
            .await
            .expect_err("busy");
        assert!(t0.elapsed() < Duration::from_secs(2));
        let said = busy.to_string();
        assert!(said.contains("`vmlab deploy` (pid "), "{said}");
        drop(lock);
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "");
        assert_eq!(holder_at(&path), None, "let go: nobody");
    }

    #[tokio::test]
    async fn a_quick_operation_is_waited_for() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("lab.lock");
        let lab = LabName::parse("lab").expect("a name");
        let events = EventSink::none();
        let lock = acquire_at(&path, &lab, "vmlab stop r1", &events)
            .await
            .expect("free");
        let release = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            drop(lock);
        });
        let t0 = Instant::now();
        let again = acquire_at(&path, &lab, "vmlab start r1", &events).await;
        assert!(again.is_ok(), "{again:?}");
        assert!(t0.elapsed() >= Duration::from_millis(250));
        release.await.expect("released");
        assert_eq!(
            holder_at(&path).map(|h| h.doing),
            Some("vmlab start r1".to_string())
        );
    }
}
