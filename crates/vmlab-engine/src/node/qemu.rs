//! Running QEMU: finding the programs, probing KVM for real, creating overlays, launching a
//! node and stopping it.
//!
//! A launch returns the pid from QEMU's pidfile and the executable that pid runs, read at once
//! from `/proc`: together with the pidfile argument, what later proves the pid is ours.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use tokio::process::Command;

use super::process::{self, QemuIdentity};
use super::qmp;

use crate::error::EngineError;
use crate::plan::Accel;

/// The x86-64 system emulator (`$VMLAB_QEMU` overrides).
pub fn qemu_binary() -> String {
    std::env::var("VMLAB_QEMU").unwrap_or_else(|_| "qemu-system-x86_64".to_string())
}

/// Finds `program` on PATH (or as given, if it has a slash).
pub fn which(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        let p = PathBuf::from(program);
        return p.is_file().then_some(p);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(program))
            .find(|p| p.is_file())
    })
}

/// Fails with install advice when QEMU or qemu-img is missing.
pub fn require_programs(qemu: &str) -> Result<(), EngineError> {
    for (prog, pkg) in [(qemu, "qemu-system-x86"), ("qemu-img", "qemu-utils")] {
        if which(prog).is_none() {
            return Err(EngineError::MissingProgram {
                program: prog.to_string(),
                fix: format!(
                    "install it (Debian/Ubuntu: apt-get install {pkg}; note that on Debian 12 \
                     qemu-system-x86 and qemu-utils must come from the same release)"
                ),
            });
        }
    }
    Ok(())
}

/// A 512-byte boot sector that enters protected mode, returns to real mode, calls the BIOS and
/// writes "PR" to the debug console: the transitions a bootloader makes. Source: probe.S.
const KVM_PROBE_SECTOR: &[u8] = include_bytes!("../../../../assets/kvm-probe/probe.bin");

/// Runs a throwaway QEMU under KVM with the CPU model labs would use and checks it executes
/// guest code. `Err` says why KVM cannot be used.
pub async fn probe_kvm(qemu: &str, scratch: &Path) -> Result<(), String> {
    let dev = Path::new("/dev/kvm");
    if !dev.exists() {
        return Err("/dev/kvm does not exist".into());
    }
    if nix::unistd::access(
        dev,
        nix::unistd::AccessFlags::R_OK | nix::unistd::AccessFlags::W_OK,
    )
    .is_err()
    {
        return Err(
            "/dev/kvm is not readable and writable by this user (join the kvm group)".into(),
        );
    }
    probe_guest(qemu, scratch, Accel::Kvm).await
}

/// The probe's command line after the program: the boot sector `disk` as an IDE disk, and
/// what it writes to the debug console into `out`. Both paths are escaped. The disk is a
/// private scratch copy, writable: QEMU 7.2 refuses a read-only IDE hard disk ("Block node
/// is read-only"), which made every probe fail and every lab run under TCG.
fn probe_args(accel: Accel, disk: &Path, out: &Path) -> Vec<String> {
    let (accel, cpu) = accel.qemu_names();
    [
        "-accel",
        accel,
        "-cpu",
        cpu,
        "-machine",
        "pc",
        "-nodefaults",
        "-display",
        "none",
        "-m",
        "16",
        "-no-reboot",
    ]
    .into_iter()
    .map(str::to_string)
    .chain([
        "-drive".into(),
        format!("file={},format=raw,if=ide", crate::plan::qemu::path(disk)),
        "-chardev".into(),
        format!("file,id=probe,path={}", crate::plan::qemu::path(out)),
        "-device".into(),
        "isa-debugcon,iobase=0x402,chardev=probe".into(),
    ])
    .collect()
}

/// Boots the probe sector under `accel` in `scratch` and waits for its "PR".
async fn probe_guest(qemu: &str, scratch: &Path, accel: Accel) -> Result<(), String> {
    std::fs::create_dir_all(scratch).map_err(|e| e.to_string())?;
    let disk = scratch.join(format!("kvm-probe-{}.img", std::process::id()));
    let out = scratch.join(format!("kvm-probe-{}.out", std::process::id()));
    std::fs::write(&disk, KVM_PROBE_SECTOR).map_err(|e| e.to_string())?;
    let _ = std::fs::remove_file(&out);
    let result = async {
        let mut child = Command::new(qemu)
            .args(probe_args(accel, &disk, &out))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot run {qemu}: {e}"))?;
        let start = Instant::now();
        loop {
            if std::fs::read(&out).is_ok_and(|b| b.ends_with(b"PR")) {
                return Ok(());
            }
            if let Ok(Some(_)) = child.try_wait() {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    use tokio::io::AsyncReadExt;
                    let _ = e.read_to_string(&mut err).await;
                }
                let line = err
                    .lines()
                    .find(|l| l.contains("error") || l.contains("failed"))
                    .or_else(|| err.lines().last())
                    .unwrap_or("QEMU exited")
                    .to_string();
                return Err(line);
            }
            if start.elapsed() > Duration::from_secs(10) {
                return Err(
                    "a test guest under KVM did not run its first instructions within 10 s".into(),
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    .await;
    let _ = std::fs::remove_file(&disk);
    let _ = std::fs::remove_file(&out);
    result
}

/// Chooses the accelerator: `Kvm`/`Tcg` as asked, or probe when `None` (auto). The string is a
/// warning to show when KVM was wanted but is not usable.
pub async fn choose_accel(
    qemu: &str,
    wanted: Option<Accel>,
    scratch: &Path,
) -> (Accel, Option<String>) {
    match wanted {
        Some(a) => (a, None),
        None => match probe_kvm(qemu, scratch).await {
            Ok(()) => (Accel::Kvm, None),
            Err(why) => (
                Accel::Tcg,
                Some(format!(
                    "KVM is not usable ({why}); running under TCG software emulation, which is \
                     several times slower"
                )),
            ),
        },
    }
}

/// Runs `qemu-img` with `args` (stdin closed, killed if dropped); its stdout, or its error
/// output as the error.
async fn qemu_img(args: &[&std::ffi::OsStr]) -> Result<Vec<u8>, String> {
    let out = Command::new("qemu-img")
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| format!("cannot run qemu-img: {e}"))?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

/// `qemu-img info` of an image, as JSON. `-U` (no lock): an overlay a running QEMU holds can
/// still be read.
pub async fn image_info(image: &Path) -> Result<serde_json::Value, String> {
    let out = qemu_img(&[
        "info".as_ref(),
        "-U".as_ref(),
        "--output=json".as_ref(),
        "--".as_ref(),
        image.as_os_str(),
    ])
    .await?;
    serde_json::from_slice(&out).map_err(|e| e.to_string())
}

/// The format of a disk image, from `qemu-img info`.
pub async fn image_format(image: &Path) -> Result<String, String> {
    let v = image_info(image).await?;
    v.get("format")
        .and_then(|f| f.as_str())
        .map(str::to_string)
        .ok_or_else(|| "qemu-img did not name the image format".into())
}

/// Deletes internal snapshot `name` from an image no QEMU holds.
pub async fn delete_snapshot(image: &Path, name: &str) -> Result<(), String> {
    qemu_img(&[
        "snapshot".as_ref(),
        "-d".as_ref(),
        name.as_ref(),
        "--".as_ref(),
        image.as_os_str(),
    ])
    .await
    .map(drop)
}

/// Creates `overlay` as a qcow2 copy-on-write layer on `image`.
pub async fn create_overlay(image: &Path, format: &str, overlay: &Path) -> Result<(), String> {
    qemu_img(&[
        "create".as_ref(),
        "-q".as_ref(),
        "-f".as_ref(),
        "qcow2".as_ref(),
        "-F".as_ref(),
        format.as_ref(),
        "-b".as_ref(),
        image.as_os_str(),
        overlay.as_os_str(),
    ])
    .await
    .map(drop)
}

/// What starting one QEMU needs.
pub struct Launch<'a> {
    /// The command line, program first (from the plan).
    pub argv: &'a [String],
    /// The pidfile that command line names.
    pub pidfile: &'a Path,
    /// Where QEMU's own messages go.
    pub qemu_log: &'a Path,
}

/// A QEMU that runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launched {
    pub pid: i32,
    /// `/proc/<pid>/exe` right after the launch.
    pub exe: Option<PathBuf>,
}

/// Starts a QEMU (which daemonizes) and returns its pid from the pidfile.
pub async fn launch(l: &Launch<'_>) -> Result<Launched, String> {
    let argv = l.argv;
    let Some(program) = argv.first() else {
        return Err("empty QEMU command line".into());
    };
    tracing::info!("launching {}", shell_words::join(argv));
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(l.qemu_log)
        .map_err(|e| format!("cannot open {}: {e}", l.qemu_log.display()))?;
    let log2 = log.try_clone().map_err(|e| e.to_string())?;
    let _ = std::fs::remove_file(l.pidfile);
    let before = std::fs::metadata(l.qemu_log).map(|m| m.len()).unwrap_or(0);
    let mut cmd = Command::new(program);
    cmd.args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(log2));
    let status = cmd
        .status()
        .await
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    let messages = std::fs::read(l.qemu_log)
        .map(|b| String::from_utf8_lossy(&b[(before as usize).min(b.len())..]).into_owned())
        .unwrap_or_default();
    if !status.success() {
        let msg: Vec<&str> = messages
            .lines()
            .filter(|l| !l.contains("has no peer"))
            .collect();
        return Err(format!(
            "QEMU refused to start ({status}): {}",
            if msg.is_empty() {
                "no message".to_string()
            } else {
                msg.join(" / ")
            }
        ));
    }
    // The daemonizing parent exits once the pidfile is written.
    for _ in 0..100 {
        if let Some(pid) = super::process::read_pidfile(l.pidfile) {
            let exe = super::process::exe(pid);
            tracing::info!(
                "QEMU runs as pid {pid} ({})",
                exe.as_deref()
                    .map(|e| e.display().to_string())
                    .unwrap_or_default()
            );
            return Ok(Launched { pid, exe });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err(format!(
        "QEMU started but wrote no pidfile at {}",
        l.pidfile.display()
    ))
}

/// QMP quit → SIGTERM → SIGKILL, each given time to work, and only while `pid` is still the
/// QEMU `id` describes. True once the process is gone.
pub async fn stop_qemu(pid: i32, id: QemuIdentity<'_>, qmp_socket: &Path, why: &str) -> bool {
    if !process::is_our_qemu(pid, id) {
        return !process::alive(pid);
    }
    tracing::info!("asking pid {pid} to quit over QMP: {why}");
    if qmp::execute(qmp_socket, "quit", Duration::from_secs(2))
        .await
        .is_ok()
        && process::wait_gone(pid, Duration::from_secs(5)).await
    {
        return true;
    }
    for (sig, grace) in [
        (Signal::SIGTERM, Duration::from_secs(3)),
        (Signal::SIGKILL, Duration::from_secs(3)),
    ] {
        if !process::alive(pid) {
            return true;
        }
        process::signal_qemu(pid, id, sig, why);
        if process::wait_gone(pid, grace).await {
            return true;
        }
    }
    !process::alive(pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The probe's paths reach QEMU escaped: in a directory with a comma in its name (a
    /// `VMLAB_HOME` can have one), the same boot sector still runs. Under TCG, which works
    /// wherever QEMU does (KVM may not), so the test checks the command line, not the host.
    #[tokio::test]
    async fn the_probe_runs_in_a_directory_with_a_comma() {
        let root = tempfile::tempdir().expect("tempdir");
        let scratch = root.path().join("home,x=1");
        let r = probe_guest(&qemu_binary(), &scratch, Accel::Tcg).await;
        assert_eq!(r, Ok(()), "QEMU must be installed for this test");
        let args = probe_args(Accel::Kvm, &scratch.join("d"), &scratch.join("o"));
        assert!(args.iter().any(|a| a.contains("home,,x=1/d")), "{args:?}");
    }
}
