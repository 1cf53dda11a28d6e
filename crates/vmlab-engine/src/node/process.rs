//! Processes vmlab started: proving a pid is ours, watching it, and signalling it.
//!
//! A pid is a node's QEMU only if the process belongs to this user, its command line carries
//! `-pidfile <lab_dir>/qemu/<node>.pid`, and its executable (`/proc/<pid>/exe`) is the one
//! recorded when that QEMU was launched — whatever the program is called, so `VMLAB_QEMU`
//! may name `/usr/libexec/qemu-kvm` or a wrapper script that execs QEMU. A QEMU whose launch
//! was never recorded (a deploy killed mid-launch) must run the node's planned command line,
//! written to state.json before any launch (a wrapper may put options in front of it), or at
//! least a program named like QEMU.
//!
//! Signals go through a pidfd opened *before* the identity check: if the pid is recycled at
//! any point, the pidfd still names the old process and the signal cannot reach the new one.

use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::libc;
use nix::sys::signal::Signal;

/// What proves a pid is one node's QEMU.
#[derive(Debug, Clone, Copy)]
pub struct QemuIdentity<'a> {
    /// The pidfile its command line must name.
    pub pidfile: &'a Path,
    /// Its executable as recorded at launch.
    pub exe: Option<&'a Path>,
    /// Without a recorded executable: the node's planned command line (program first), which
    /// the process's arguments must end with.
    pub argv: Option<&'a [String]>,
}

impl<'a> QemuIdentity<'a> {
    /// A QEMU whose launch was recorded.
    pub fn launched(pidfile: &'a Path, exe: Option<&'a Path>) -> Self {
        QemuIdentity {
            pidfile,
            exe,
            argv: None,
        }
    }
}

/// The argv of a process, if it exists.
pub fn cmdline(pid: i32) -> Option<Vec<String>> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    if raw.is_empty() {
        return None; // zombie or kernel thread
    }
    Some(
        raw.split(|b| *b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect(),
    )
}

/// The executable a process runs (`/proc/<pid>/exe`, without the " (deleted)" mark an
/// upgraded binary gets).
pub fn exe(pid: i32) -> Option<PathBuf> {
    let p = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
    let s = p.to_string_lossy();
    Some(match s.strip_suffix(" (deleted)") {
        Some(stripped) => PathBuf::from(stripped),
        None => p,
    })
}

/// The pidfile a QEMU command line names (commas were doubled for QEMU's option syntax).
pub fn pidfile_arg(argv: &[String]) -> Option<PathBuf> {
    let i = argv.iter().position(|a| a == "-pidfile")?;
    argv.get(i + 1).map(|p| PathBuf::from(p.replace(",,", ",")))
}

/// Is the process owned by this user?
pub fn owned_by_me(pid: i32) -> bool {
    std::fs::metadata(format!("/proc/{pid}"))
        .is_ok_and(|m| m.uid() == nix::unistd::getuid().as_raw())
}

/// Does the executable look like a QEMU system emulator?
fn named_like_qemu(exe: &Path) -> bool {
    exe.file_name()
        .is_some_and(|n| n.to_string_lossy().contains("qemu"))
}

/// Is `pid` the QEMU that `id` describes?
pub fn is_our_qemu(pid: i32, id: QemuIdentity<'_>) -> bool {
    if !owned_by_me(pid) {
        return false;
    }
    let Some(argv) = cmdline(pid) else {
        return false;
    };
    if pidfile_arg(&argv).as_deref() != Some(id.pidfile) {
        return false;
    }
    let Some(actual) = exe(pid) else {
        return false;
    };
    if let Some(recorded) = id.exe {
        return actual == recorded;
    }
    let planned = id.argv.and_then(|a| a.get(1..)).filter(|a| !a.is_empty());
    planned.is_some_and(|p| argv.ends_with(p)) || named_like_qemu(&actual)
}

/// Is the process alive (and not a zombie)?
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            // The state letter follows the ")" closing the command name.
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.trim_start().chars().next());
            !matches!(state, Some('Z') | Some('X') | None)
        }
        Err(_) => false,
    }
}

/// Alive and the QEMU `id` describes.
pub fn is_running_qemu(pid: i32, id: QemuIdentity<'_>) -> bool {
    alive(pid) && is_our_qemu(pid, id)
}

/// Reads a QEMU pidfile.
pub fn read_pidfile(path: &Path) -> Option<i32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Every running QEMU of this user whose pidfile lies in `<lab_dir>/qemu/`: (pid, pidfile).
/// Finds what a deploy launched even when no node record names its pid; `planned` gives a
/// node's planned command line by its pidfile.
pub fn scan_lab_qemus<'a>(
    lab_dir: &Path,
    planned: impl Fn(&Path) -> Option<&'a [String]>,
) -> Vec<(i32, PathBuf)> {
    let qdir = lab_dir.join("qemu");
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if let Some(pf) = cmdline(pid).and_then(|a| pidfile_arg(&a))
            && pf.parent() == Some(qdir.as_path())
            && alive(pid)
            && is_our_qemu(
                pid,
                QemuIdentity {
                    pidfile: &pf,
                    exe: None,
                    argv: planned(&pf),
                },
            )
        {
            out.push((pid, pf));
        }
    }
    out.sort();
    out
}

/// Waits until `pid` is gone, up to `limit`.
pub async fn wait_gone(pid: i32, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if !alive(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    !alive(pid)
}

/// A pidfd for `pid`, if the kernel has them (Linux 5.3 and later).
fn pidfd_open(pid: i32) -> Option<OwnedFd> {
    // SAFETY: a plain system call with integer arguments; a non-negative result is a new fd
    // that we own.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: `fd` was just returned by pidfd_open and is owned by nothing else.
    Some(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

fn pidfd_send_signal(fd: &OwnedFd, sig: Signal) -> bool {
    use std::os::fd::AsRawFd;
    // SAFETY: a plain system call on a pidfd we own, with a null siginfo as documented.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd.as_raw_fd(),
            sig as libc::c_int,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    r == 0
}

/// Sends `sig` to `pid` only if it is the QEMU `id` describes; `why` is logged. True if the
/// signal was sent.
pub fn signal_qemu(pid: i32, id: QemuIdentity<'_>, sig: Signal, why: &str) -> bool {
    signal_checked(
        pid,
        || is_our_qemu(pid, id),
        sig,
        &format!("{why} ({})", id.pidfile.display()),
    )
}

/// Sends `sig` to `pid` only if `ours()` holds once a pidfd for it is open; `why` is logged.
/// True if the signal was sent.
pub fn signal_checked(pid: i32, ours: impl Fn() -> bool, sig: Signal, why: &str) -> bool {
    // The pidfd first: from here on, `pid` being recycled cannot redirect the signal.
    let fd = pidfd_open(pid);
    if !ours() {
        tracing::info!("not signalling pid {pid}: it is no longer ours ({why})");
        return false;
    }
    tracing::info!("sending {sig} to pid {pid}: {why}");
    match fd {
        Some(fd) => pidfd_send_signal(&fd, sig),
        None => nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig).is_ok(),
    }
}

/// How long the process has run, from `/proc`.
pub fn uptime(pid: i32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    // Field 22 (starttime) is the 20th after the command name.
    let start_ticks: u64 = rest.split_whitespace().nth(19)?.parse().ok()?;
    let ticks = clock_ticks_per_sec()?;
    let up: f64 = std::fs::read_to_string("/proc/uptime")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    let started = start_ticks as f64 / ticks as f64;
    Some(Duration::from_secs_f64((up - started).max(0.0)))
}

/// Clock ticks per second, the unit of `/proc/<pid>/stat` times.
pub fn clock_ticks_per_sec() -> Option<u64> {
    let t = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK).ok()??;
    u64::try_from(t).ok().filter(|t| *t > 0)
}

/// CPU time used so far (clock ticks, user + system) and resident memory (bytes).
pub fn usage(pid: i32) -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15: the 12th and 13th after the command name.
    let cpu = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    // rss (field 24, in pages) is the 22nd after the command name.
    let pages: u64 = f.get(21)?.parse().ok()?;
    let page = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .and_then(|p| u64::try_from(p).ok())
        .unwrap_or(4096);
    Some((cpu, pages * page))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn finds_the_pidfile_argument_whatever_the_program() {
        let a = argv(&[
            "/usr/libexec/qemu-kvm",
            "-m",
            "64",
            "-pidfile",
            "/l/a,,b/qemu/x.pid",
        ]);
        assert_eq!(pidfile_arg(&a), Some(PathBuf::from("/l/a,b/qemu/x.pid")));
        assert_eq!(pidfile_arg(&argv(&["sleep", "1"])), None);
    }

    #[test]
    fn a_process_that_only_claims_a_pidfile_is_not_ours() {
        // A child whose command line names the pidfile but whose executable is not QEMU (and
        // not the one recorded) is never taken for a QEMU.
        let d = tempfile::tempdir().unwrap();
        let pidfile = d.path().join("qemu").join("x.pid");
        let mut child = std::process::Command::new("sh")
            .args(["-c", "sleep 30; exit 0", "-pidfile"])
            .arg(&pidfile)
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let id = QemuIdentity::launched(&pidfile, None);
        std::thread::sleep(Duration::from_millis(100));
        assert!(!is_our_qemu(pid, id), "an unrecorded non-QEMU executable");
        // Its planned command line (here: sh's own arguments) identifies it.
        let plan: Vec<String> = ["prog", "-c", "sleep 30; exit 0", "-pidfile"]
            .iter()
            .map(|s| s.to_string())
            .chain([pidfile.to_string_lossy().into_owned()])
            .collect();
        let by_plan = QemuIdentity {
            pidfile: &pidfile,
            exe: None,
            argv: Some(&plan),
        };
        assert!(
            is_our_qemu(pid, by_plan),
            "the planned command line matches"
        );
        let wrong_plan: Vec<String> = vec!["prog".into(), "-other".into()];
        let by_wrong_plan = QemuIdentity {
            pidfile: &pidfile,
            exe: None,
            argv: Some(&wrong_plan),
        };
        assert!(!is_our_qemu(pid, by_wrong_plan), "another command line");
        let actual = exe(pid).unwrap();
        let recorded = QemuIdentity::launched(&pidfile, Some(&actual));
        assert!(
            is_our_qemu(pid, recorded),
            "recorded executable and pidfile match"
        );
        let other =
            QemuIdentity::launched(&pidfile, Some(Path::new("/usr/bin/qemu-system-x86_64")));
        assert!(!is_our_qemu(pid, other), "a different executable");
        assert!(!signal_qemu(pid, other, Signal::SIGKILL, "test"));
        assert!(alive(pid));
        assert!(signal_qemu(pid, recorded, Signal::SIGKILL, "test"));
        let _ = child.wait();
    }

    #[test]
    fn our_own_process_is_not_a_qemu() {
        let me = std::process::id() as i32;
        assert!(alive(me));
        assert!(!is_our_qemu(
            me,
            QemuIdentity::launched(Path::new("/tmp/x.pid"), None)
        ));
        assert!(uptime(me).is_some());
        let (_, rss) = usage(me).expect("usage of this process");
        assert!(rss > 1024 * 1024, "rss {rss}");
    }
}
