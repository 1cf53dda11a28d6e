//! One lock per lab. Every command that changes a lab (deploy, destroy, stop, start, restart,
//! and whatever comes later) holds it; reading a lab (status, the TUI's monitor) never takes it.
//!
//! The lock is an exclusive `flock` on `$VMLAB_HOME/locks/<lab>.lock`, outside the lab
//! directory that destroy deletes, so a waiter can never end up locking a file that was
//! removed under it. The kernel drops the lock when its holder dies, even by SIGKILL. The
//! holder writes its pid and what it is doing into the file, so a second command can say who
//! holds the lab. A second command waits a short, stated time for a quick operation to finish,
//! and says at once that the lab is busy when a deploy holds it (deploys take minutes).
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
    _lock: Flock<File>,
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
    let path = lock_path(lab);
    let started = Instant::now();
    let mut told = false;
    loop {
        let file = open(&path)?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(mut lock) => {
                // Who holds it, for the next one that finds it busy.
                let _ = lock.set_len(0);
                let _ = lock.rewind();
                let _ = writeln!(lock, "{}\t{doing}", std::process::id());
                tracing::debug!("locked lab {lab} for {doing}");
                return Ok(LabLock { _lock: lock });
            }
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => {
                let holder = holder(&path);
                let long = holder.as_ref().is_some_and(|h| h.doing.contains("deploy"));
                let who = holder
                    .as_ref()
                    .map(|h| format!("`{}` (pid {})", h.doing, h.pid))
                    .unwrap_or_else(|| "another vmlab command".into());
                if long || started.elapsed() >= WAIT {
                    return Err(EngineError::LabBusy {
                        lab: lab.to_string(),
                        holder: who,
                    });
                }
                if !told {
                    events.send(Event::Waiting(format!(
                        "lab {lab} is busy: {who} is changing it; waiting up to {} s",
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

/// Who holds a lock, as its holder wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub pid: i32,
    pub doing: String,
}

fn holder(path: &Path) -> Option<Holder> {
    let mut text = String::new();
    File::open(path).ok()?.read_to_string(&mut text).ok()?;
    let (pid, doing) = text.trim_end().split_once('\t')?;
    Some(Holder {
        pid: pid.parse().ok()?,
        doing: doing.to_string(),
    })
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
