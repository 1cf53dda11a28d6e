//! Boot health: follows a node from launch to ready.
//!
//! Progress comes from two real signals: the serial console log QEMU writes (first output →
//! booting; a login or shell prompt → console prompt) and the forwarded SSH port, probed until
//! it sends an `SSH-2.0-` banner. An open port alone means nothing — QEMU's user networking
//! accepts connections before the guest's SSH server exists.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use super::process::{self, QemuIdentity};
use super::state::BootStage;

/// What a finished watch found.
#[derive(Debug, Clone, PartialEq)]
pub enum BootOutcome {
    Ready { elapsed: Duration },
    Failed { reason: String, elapsed: Duration },
}

/// What one node's watch needs.
pub struct Watch<'a> {
    pub pid: i32,
    /// What proves `pid` is still this node's QEMU.
    pub qemu: QemuIdentity<'a>,
    pub console_log: &'a Path,
    /// The node's SSH forward (its management address and port).
    pub ssh: std::net::SocketAddr,
    pub timeout: Duration,
    /// When the launch began (elapsed times count from here).
    pub started: Instant,
    /// Console log bytes before this boot (logs are appended across restarts).
    pub log_offset: u64,
}

/// Watches a node until it is ready, its QEMU dies, or its boot timeout passes. Each stage
/// reached is handed to `reached` with the time since the launch began (the caller records
/// it and tells whoever listens).
///
/// A guest whose console shows a prompt but whose SSH stays silent for a while (a third of
/// its boot timeout, at most a minute) is told once through `stalled`, with the likely causes,
/// instead of waiting out the timeout in silence.
pub async fn watch_boot(
    w: Watch<'_>,
    reached: &(dyn Fn(BootStage, Duration) + Sync),
    stalled: &(dyn Fn(String) + Sync),
) -> BootOutcome {
    let mut stage = BootStage::Launched;
    let mut prompt_at: Option<Instant> = None;
    let mut told = false;
    let hint_after = (w.timeout / 3).min(Duration::from_secs(60));
    let mut offset = w.log_offset;
    let mut tail = String::new();
    let mut next_ssh_probe = Instant::now();
    let emit = |stage: BootStage| reached(stage, w.started.elapsed());
    loop {
        if !process::is_running_qemu(w.pid, w.qemu) {
            return BootOutcome::Failed {
                reason: "QEMU exited during boot".into(),
                elapsed: w.started.elapsed(),
            };
        }
        if let Some(chunk) = read_new(w.console_log, &mut offset) {
            if stage < BootStage::Booting {
                stage = BootStage::Booting;
                emit(stage);
            }
            tail.push_str(&chunk);
            if tail.len() > 4096 {
                let cut = tail.len() - 2048;
                let cut = (cut..tail.len())
                    .find(|i| tail.is_char_boundary(*i))
                    .unwrap_or(0);
                tail.drain(..cut);
            }
            if stage < BootStage::ConsolePrompt && shows_prompt(&tail) {
                stage = BootStage::ConsolePrompt;
                prompt_at = Some(Instant::now());
                emit(stage);
            }
        }
        if Instant::now() >= next_ssh_probe {
            if ssh_banner(w.ssh, Duration::from_millis(1500)).await {
                if stage < BootStage::Booting {
                    // A guest that prints nothing on its console still booted.
                    emit(BootStage::Booting);
                }
                // `Ready` is the boot path's to say, once the node's boot patches are on.
                emit(BootStage::SshBanner);
                return BootOutcome::Ready {
                    elapsed: w.started.elapsed(),
                };
            }
            next_ssh_probe = Instant::now() + Duration::from_millis(250);
        }
        if let Some(at) = prompt_at
            && !told
            && at.elapsed() >= hint_after
        {
            told = true;
            stalled(format!(
                "its console shows a prompt but SSH has not answered for {} s; {SILENT_SSH}; \
                 still waiting up to its boot timeout",
                at.elapsed().as_secs()
            ));
        }
        if w.started.elapsed() > w.timeout {
            return BootOutcome::Failed {
                reason: format!(
                    "{TIMED_OUT} of {} s (last stage: {}){}",
                    w.timeout.as_secs(),
                    stage.label(),
                    if prompt_at.is_some() {
                        format!("; {SILENT_SSH}")
                    } else {
                        String::new()
                    }
                ),
                elapsed: w.started.elapsed(),
            };
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// How a failure reason starts when the boot timeout ran out (see [`timed_out`]).
const TIMED_OUT: &str = "no SSH banner within its boot timeout";

/// Did a boot fail because its timeout ran out (not because QEMU died or would not start)?
pub fn timed_out(reason: &str) -> bool {
    reason.starts_with(TIMED_OUT)
}

/// Why a guest that reached its console prompt may never answer SSH.
const SILENT_SSH: &str = "likely causes: a NIC model the guest has no driver for (vm_nic_driver, \
     for example e1000 on a virtio-only guest), an SSH server that does not start, or a \
     management interface that does not come up (its console log tells)";

/// Does `addr` (a node's SSH forward) send an SSH banner within `limit`?
pub async fn ssh_banner(addr: std::net::SocketAddr, limit: Duration) -> bool {
    let probe = async {
        let mut s = TcpStream::connect(addr).await.ok()?;
        let mut buf = [0u8; 8];
        let mut got = 0;
        while got < buf.len() {
            let n = s.read(&mut buf[got..]).await.ok()?;
            if n == 0 {
                return None;
            }
            got += n;
        }
        Some(&buf == b"SSH-2.0-")
    };
    matches!(tokio::time::timeout(limit, probe).await, Ok(Some(true)))
}

/// New bytes of a growing file since `offset` (lossy UTF-8).
fn read_new(path: &Path, offset: &mut u64) -> Option<String> {
    let mut f = std::fs::File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    if len <= *offset {
        return None;
    }
    f.seek(SeekFrom::Start(*offset)).ok()?;
    let mut buf = Vec::with_capacity((len - *offset) as usize);
    f.take(len - *offset).read_to_end(&mut buf).ok()?;
    *offset += buf.len() as u64;
    Some(String::from_utf8_lossy(&buf).into_owned())
}

/// Does the console's last line look like a login or shell prompt?
pub fn shows_prompt(console: &str) -> bool {
    let clean = strip_ansi(console);
    let last = clean
        .rsplit(['\n', '\r'])
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim_end();
    last.ends_with("login:")
        || last.ends_with("Password:")
        || ((last.ends_with('#') || last.ends_with('$') || last.ends_with('>')) && last.len() < 80)
}

/// Removes ANSI escape sequences and other control characters (keeps newlines).
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            match chars.peek() {
                Some('[') => {
                    chars.next();
                    // CSI: parameters then one final byte in @..~
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                }
                Some(']') => {
                    // OSC: until BEL or ESC \
                    for c in chars.by_ref() {
                        if c == '\x07' || c == '\\' {
                            break;
                        }
                    }
                }
                _ => {
                    chars.next();
                }
            }
        } else if c == '\n' || c == '\t' || !c.is_control() {
            out.push(c);
        } else if c == '\r' {
            out.push('\n');
        }
    }
    out
}

/// The last `n` non-empty lines of a console log, cleaned for printing.
pub fn console_tail(path: &Path, n: usize) -> Vec<String> {
    let Ok(bytes) = std::fs::read(path) else {
        return Vec::new();
    };
    let start = bytes.len().saturating_sub(16 * 1024);
    let text = strip_ansi(&String::from_utf8_lossy(&bytes[start..]));
    let lines: Vec<String> = text
        .lines()
        .map(|l| l.trim_end().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    lines[lines.len().saturating_sub(n)..].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timeout_is_told_from_other_failures() {
        assert!(timed_out(&format!(
            "{TIMED_OUT} of 2 s (last stage: launched)"
        )));
        assert!(!timed_out("QEMU exited during boot"));
    }

    #[test]
    fn prompts_are_recognised() {
        assert!(shows_prompt(
            "Debian GNU/Linux 12 sonic ttyS0\n\nsonic login: "
        ));
        assert!(shows_prompt("Enter 'help'\r\n\r\nvmlab:/# \x1b[6n"));
        assert!(shows_prompt("admin@sonic:~$ "));
        assert!(!shows_prompt("[    1.234] Freeing unused kernel memory\n"));
        assert!(!shows_prompt(""));
    }

    #[test]
    fn ansi_is_stripped() {
        assert_eq!(
            strip_ansi("\x1b[1;31mred\x1b[0m\r\nx\x1b]0;t\x07y"),
            "red\n\nxy"
        );
    }
}
