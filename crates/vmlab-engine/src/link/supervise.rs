//! Starting, recognising and stopping a lab's relay process. The relay is the vmlab binary
//! itself (`vmlab relay --lab-dir <dir>`), so it is recognised like a QEMU: this user's process,
//! that exact command line at the end of its arguments, and the executable recorded when it
//! started — and signalled only through a pidfd after that check.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::Signal;

use super::relay;
use crate::node::process;

/// A running relay.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RelayRecord {
    pub pid: i32,
    /// `/proc/<pid>/exe` when it started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exe: Option<PathBuf>,
}

/// The arguments a lab's relay runs with (after the program).
fn relay_args(lab_dir: &Path) -> Vec<String> {
    vec![
        "relay".into(),
        "--lab-dir".into(),
        lab_dir.to_string_lossy().into_owned(),
    ]
}

/// Is `pid` this lab's relay (`exe`: as recorded; `None`: the running vmlab binary)?
pub fn is_our_relay(pid: i32, lab_dir: &Path, exe: Option<&Path>) -> bool {
    let Some(argv) = process::cmdline(pid) else {
        return false;
    };
    if !process::alive(pid) || !argv.ends_with(&relay_args(lab_dir)) {
        return false;
    }
    let expected = exe
        .map(Path::to_path_buf)
        .or_else(|| std::env::current_exe().ok());
    process::owned_by_me(pid) && process::exe(pid).is_some_and(|e| Some(e) == expected)
}

/// Starts the lab's relay and returns it once it serves (its sockets are bound before it
/// detaches). `program` is the vmlab binary to run.
pub async fn start(lab_dir: &Path, program: &Path) -> Result<RelayRecord, String> {
    let log_path = relay::log_file(lab_dir);
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| format!("cannot open {}: {e}", log_path.display()))?;
    let log2 = log.try_clone().map_err(|e| e.to_string())?;
    let pf = relay::pidfile(lab_dir);
    let _ = std::fs::remove_file(&pf);
    tracing::info!(
        "starting the link relay: {} {}",
        program.display(),
        relay_args(lab_dir).join(" ")
    );
    let status = tokio::process::Command::new(program)
        .args(relay_args(lab_dir))
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(log2))
        .status()
        .await
        .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
    if !status.success() {
        let tail = crate::node::health::console_tail(&log_path, 3).join(" / ");
        return Err(format!("the link relay did not start ({status}): {tail}"));
    }
    let pid = process::read_pidfile(&pf)
        .ok_or_else(|| format!("the link relay wrote no pidfile at {}", pf.display()))?;
    let exe = process::exe(pid);
    if !is_our_relay(pid, lab_dir, exe.as_deref()) {
        return Err(format!(
            "the link relay (pid {pid}) exited at once; see {}",
            log_path.display()
        ));
    }
    tracing::info!("the link relay runs as pid {pid}");
    Ok(RelayRecord { pid, exe })
}

/// Stops the relay if `rec` is still it: SIGTERM, then SIGKILL. True once it is gone.
pub async fn stop(lab_dir: &Path, rec: &RelayRecord, why: &str) -> bool {
    let pid = rec.pid;
    for (sig, grace) in [
        (Signal::SIGTERM, Duration::from_secs(3)),
        (Signal::SIGKILL, Duration::from_secs(3)),
    ] {
        if !process::alive(pid) {
            return true;
        }
        let ours = || is_our_relay(pid, lab_dir, rec.exe.as_deref());
        process::signal_checked(pid, ours, sig, why);
        if process::wait_gone(pid, grace).await {
            return true;
        }
    }
    !process::alive(pid)
}

/// Every running relay of this lab, recorded or not (a deploy killed before it recorded one).
pub fn scan(lab_dir: &Path) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out: Vec<i32> = entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()))
        .filter(|pid| is_our_relay(*pid, lab_dir, None))
        .collect();
    out.sort();
    out
}
