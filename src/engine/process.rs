//! Processes vmlab started: proving a pid is ours, watching it, and stopping it.
//!
//! A pid is this lab's QEMU only if `/proc/<pid>/cmdline` runs a `qemu-system-*` program with
//! `-pidfile <lab_dir>/qemu/<node>.pid`: a recycled pid that now belongs to someone else fails
//! that test and is never signalled.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

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

/// The pidfile a QEMU command line names, if it is a QEMU command line.
pub fn qemu_pidfile(argv: &[String]) -> Option<PathBuf> {
    let prog = Path::new(argv.first()?).file_name()?.to_string_lossy();
    if !prog.starts_with("qemu-system-") {
        return None;
    }
    let i = argv.iter().position(|a| a == "-pidfile")?;
    // Commas were doubled for QEMU's option syntax.
    argv.get(i + 1).map(|p| PathBuf::from(p.replace(",,", ",")))
}

/// Is `pid` the QEMU that writes `pidfile`?
pub fn is_our_qemu(pid: i32, pidfile: &Path) -> bool {
    cmdline(pid)
        .and_then(|a| qemu_pidfile(&a))
        .is_some_and(|p| p == pidfile)
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

/// Reads a QEMU pidfile.
pub fn read_pidfile(path: &Path) -> Option<i32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Every running QEMU whose pidfile lies in `<lab_dir>/qemu/`: (pid, pidfile).
pub fn scan_lab_qemus(lab_dir: &Path) -> Vec<(i32, PathBuf)> {
    let qdir = lab_dir.join("qemu");
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if let Some(pf) = cmdline(pid).and_then(|a| qemu_pidfile(&a))
            && pf.parent() == Some(qdir.as_path())
            && alive(pid)
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

/// Sends `sig` to `pid` only if it is still the QEMU writing `pidfile`.
pub fn signal_if_ours(pid: i32, pidfile: &Path, sig: Signal) -> bool {
    is_our_qemu(pid, pidfile) && kill(Pid::from_raw(pid), sig).is_ok()
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

    #[test]
    fn recognises_qemu_by_its_pidfile() {
        let argv: Vec<String> = [
            "/usr/bin/qemu-system-x86_64",
            "-m",
            "64",
            "-pidfile",
            "/l/a,,b/qemu/x.pid",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            qemu_pidfile(&argv),
            Some(PathBuf::from("/l/a,b/qemu/x.pid"))
        );
        let not: Vec<String> = ["sleep", "-pidfile", "/l/qemu/x.pid"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(qemu_pidfile(&not), None);
    }

    #[test]
    fn our_own_process_is_not_a_qemu() {
        let me = std::process::id() as i32;
        assert!(alive(me));
        assert!(!is_our_qemu(me, Path::new("/tmp/x.pid")));
        assert!(uptime(me).is_some());
        let (_, rss) = usage(me).expect("usage of this process");
        assert!(rss > 1024 * 1024, "rss {rss}");
    }
}
