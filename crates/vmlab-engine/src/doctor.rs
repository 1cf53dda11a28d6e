//! `vmlab doctor`: is this machine ready to run labs (and, given a spec, this lab)? Each check
//! says what it found and, when something is wrong, what to do. A `fail` blocks a deploy; a
//! `warn` does not (TCG instead of KVM, little free memory for comfort).

use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use super::home;
use super::lab::LabDir;
use super::lab::deploy;
use super::node::qemu;
use crate::plan::Accel;
use crate::spec::Lab;

/// A check's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Ok,
    Warn,
    Fail,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Warn => "warn",
            Verdict::Fail => "FAIL",
        }
    }
}

/// One check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    pub name: String,
    pub verdict: Verdict,
    pub found: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

fn check(name: &str, verdict: Verdict, found: impl Into<String>, fix: Option<&str>) -> Check {
    Check {
        name: name.into(),
        verdict,
        found: found.into(),
        fix: fix.map(String::from),
    }
}

/// The first line a program prints for `--version` (or `-V`, on stderr for ssh).
async fn version(program: &str, arg: &str) -> Option<String> {
    let out = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::process::Command::new(program)
            .arg(arg)
            .stdin(std::process::Stdio::null())
            .output(),
    )
    .await
    .ok()?
    .ok()?;
    let text = if out.stdout.is_empty() {
        out.stderr
    } else {
        out.stdout
    };
    String::from_utf8_lossy(&text)
        .lines()
        .next()
        .map(|l| l.trim().to_string())
}

/// `x.y` of the first `digits.digits` in `text`.
pub fn major_minor(text: &str) -> Option<(u32, u32)> {
    text.split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .filter_map(|w| {
            let mut it = w.split('.');
            let a = it.next()?.parse().ok()?;
            let b = it.next()?.parse().ok()?;
            Some((a, b))
        })
        .next()
}

/// `OpenSSH_9.2p1` → (9, 2).
pub fn openssh_version(text: &str) -> Option<(u32, u32)> {
    let rest = text.split("OpenSSH_").nth(1)?;
    major_minor(rest)
}

fn meminfo_mb(field: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace()
        .nth(1)?
        .parse::<u64>()
        .ok()
        .map(|kb| kb / 1024)
}

fn free_disk_mb(path: &Path) -> Option<u64> {
    let mut p = path.to_path_buf();
    while !p.exists() {
        p = p.parent()?.to_path_buf();
    }
    let st = nix::sys::statvfs::statvfs(&p).ok()?;
    Some(st.blocks_available() as u64 * st.fragment_size() as u64 / (1024 * 1024))
}

/// Every check, in order. With `lab`, also that lab's images, memory, disk and ports.
pub async fn run(lab: Option<&Lab>) -> Vec<Check> {
    let mut out = Vec::new();
    qemu_checks(&mut out).await;
    ssh_checks(&mut out).await;
    room(&mut out, lab);
    if let Some(l) = lab {
        lab_checks(&mut out, l).await;
    }
    out
}

/// QEMU and qemu-img, found and of one release, and whether KVM works.
async fn qemu_checks(out: &mut Vec<Check>) {
    let qemu_bin = qemu::qemu_binary();
    let qv = version(&qemu_bin, "--version").await;
    let iv = version("qemu-img", "--version").await;
    match &qv {
        Some(v) => out.push(check("qemu", Verdict::Ok, format!("{qemu_bin}: {v}"), None)),
        None => out.push(check(
            "qemu",
            Verdict::Fail,
            format!("{qemu_bin} not found"),
            Some("install qemu-system-x86 (or set VMLAB_QEMU); scripts/setup does it"),
        )),
    }
    match &iv {
        Some(v) => out.push(check("qemu-img", Verdict::Ok, v.clone(), None)),
        None => out.push(check(
            "qemu-img",
            Verdict::Fail,
            "qemu-img not found",
            Some("install qemu-utils from the same release as qemu-system-x86"),
        )),
    }
    if let (Some(a), Some(b)) = (
        qv.as_deref().and_then(major_minor),
        iv.as_deref().and_then(major_minor),
    ) {
        if a != b {
            out.push(check(
                "qemu versions",
                Verdict::Warn,
                format!(
                    "emulator {}.{} and qemu-img {}.{} differ",
                    a.0, a.1, b.0, b.1
                ),
                Some("install both from one release (Debian 12: no backports for one only)"),
            ));
        } else {
            out.push(check(
                "qemu versions",
                Verdict::Ok,
                format!("both {}.{}", a.0, a.1),
                None,
            ));
        }
    }
    if qv.is_some() {
        match qemu::probe_kvm(&qemu_bin, &home::scratch_dir()).await {
            Ok(()) => out.push(check(
                "kvm",
                Verdict::Ok,
                "usable (a probe guest ran under KVM)",
                None,
            )),
            Err(why) => out.push(check(
                "kvm",
                Verdict::Warn,
                format!("not usable: {why}; labs run under TCG, several times slower"),
                Some(kvm_fix(&why)),
            )),
        }
    }
}

/// OpenSSH's client (new enough for how `vmlab ssh` logs in) and ssh-keygen.
async fn ssh_checks(out: &mut Vec<Check>) {
    match version("ssh", "-V").await {
        Some(v) => match openssh_version(&v) {
            Some((maj, min)) if (maj, min) >= (8, 4) => {
                out.push(check("ssh client", Verdict::Ok, v, None))
            }
            Some(_) => out.push(check(
                "ssh client",
                Verdict::Fail,
                format!("{v}: SSH_ASKPASS_REQUIRE (how vmlab ssh logs in) needs OpenSSH 8.4"),
                Some("install a newer openssh-client"),
            )),
            None => out.push(check(
                "ssh client",
                Verdict::Warn,
                format!("{v}: not OpenSSH"),
                Some("vmlab ssh needs OpenSSH's client"),
            )),
        },
        None => out.push(check(
            "ssh client",
            Verdict::Fail,
            "ssh not found",
            Some("install openssh-client"),
        )),
    }
    if qemu::which("ssh-keygen").is_none() {
        out.push(check(
            "ssh-keygen",
            Verdict::Warn,
            "not found: no lab SSH key, no ssh_config logins without a password",
            Some("install openssh-client"),
        ));
    } else {
        out.push(check("ssh-keygen", Verdict::Ok, "found", None));
    }
}

/// `VMLAB_HOME` writable, and memory and disk for the lab (or for a small one).
fn room(out: &mut Vec<Check>, lab: Option<&Lab>) {
    let vh = home::vmlab_home();
    let writable = std::fs::create_dir_all(&vh).is_ok()
        && nix::unistd::access(&vh, nix::unistd::AccessFlags::W_OK).is_ok();
    out.push(if writable {
        check("VMLAB_HOME", Verdict::Ok, vh.display().to_string(), None)
    } else {
        check(
            "VMLAB_HOME",
            Verdict::Fail,
            format!("{} is not writable", vh.display()),
            Some("set VMLAB_HOME to a directory of yours"),
        )
    });
    let mem = meminfo_mb("MemAvailable:");
    let disk = free_disk_mb(&vh);
    let (need_mem, need_disk) = match lab {
        Some(l) => (
            l.nodes.iter().map(|n| n.memory_mb).sum::<u64>(),
            // Overlays start small and grow with what the guests write: 1 GB a node is room.
            1024 * l.nodes.len() as u64,
        ),
        None => (1024, 2048),
    };
    match mem {
        Some(m) if m >= need_mem => out.push(check(
            "memory",
            Verdict::Ok,
            format!("{m} MB free, {need_mem} MB wanted"),
            None,
        )),
        Some(m) => out.push(check(
            "memory",
            if lab.is_some() {
                Verdict::Fail
            } else {
                Verdict::Warn
            },
            format!("{m} MB free, {need_mem} MB wanted"),
            Some("free memory, lower vm_memory, or place nodes on more hosts (vm_host)"),
        )),
        None => {}
    }
    match disk {
        Some(d) if d >= need_disk => out.push(check(
            "disk",
            Verdict::Ok,
            format!("{d} MB free under {}", vh.display()),
            None,
        )),
        Some(d) => out.push(check(
            "disk",
            Verdict::Warn,
            format!(
                "{d} MB free under {}, {need_disk} MB is room for the overlays",
                vh.display()
            ),
            Some("free disk space, or set VMLAB_HOME elsewhere"),
        )),
        None => {}
    }
}

/// A lab's own checks: its images, its ports and its spec, as a deploy now would find them.
async fn lab_checks(out: &mut Vec<Check>, l: &Lab) {
    let here = l
        .nodes
        .iter()
        .any(|n| n.host.is_some())
        .then(|| {
            l.settings
                .hosts
                .iter()
                .find(|(_, a)| a.parse().is_ok_and(crate::netstat::address_is_local))
        })
        .flatten()
        .map(|(n, _)| n.clone());
    let running = deploy::running_state(&LabDir::of(l.name.clone())).is_some();
    match deploy::dry_run(l, Some(Accel::Tcg), here).await {
        Ok((plan, problems)) => {
            let kind = |field: &str| {
                if field.contains("vm_image") {
                    "images"
                } else if field.contains("port") {
                    "ports"
                } else {
                    "lab"
                }
            };
            let nodes = plan.local_nodes().count();
            let blocks = crate::lab::ports::blocks(&plan);
            let ports = if running {
                format!("{} runs here, on its {blocks}", l.name)
            } else if let Some(why) = &plan.ports_moved {
                format!("a deploy now moves: {why}")
            } else {
                format!("{blocks} are free")
            };
            for (name, found) in [
                ("images", format!("every image of {nodes} nodes is there")),
                ("ports", ports),
                ("lab", format!("{}: the spec is valid", l.name)),
            ] {
                if !problems.0.iter().any(|p| kind(&p.field) == name) {
                    out.push(check(name, Verdict::Ok, found, None));
                }
            }
            for p in problems.0 {
                out.push(Check {
                    name: kind(&p.field).into(),
                    verdict: Verdict::Fail,
                    found: format!("{}: {}", p.field, p.problem),
                    fix: Some(p.fix),
                });
            }
        }
        Err(e) => out.push(Check {
            name: "lab".into(),
            verdict: Verdict::Fail,
            found: e.to_string(),
            fix: None,
        }),
    }
    if LabDir::of(l.name.clone()).is_vmlab_lab() && !running {
        out.push(check(
            "lab",
            Verdict::Ok,
            format!("{} is deployed here (its nodes are not running)", l.name),
            None,
        ));
    }
}

/// What to do about a KVM the probe could not use, from why it could not.
fn kvm_fix(why: &str) -> &'static str {
    if why.contains("does not exist") {
        "enable virtualization in the firmware (VT-x or AMD-V) and load kvm_intel or kvm_amd"
    } else if why.contains("readable and writable") {
        "add yourself to the kvm group (`sudo usermod -aG kvm $USER`), then log in again"
    } else {
        "/dev/kvm is there but cannot run a guest (an MSR it refused, or a guest that never \
         ran: often nested virtualisation without full support); enable nested virtualisation \
         on the hypervisor, or keep TCG"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kvm_fix_follows_what_went_wrong() {
        assert!(kvm_fix("/dev/kvm does not exist").contains("firmware"));
        assert!(kvm_fix("/dev/kvm is not readable and writable by this user").contains("group"));
        let nested = kvm_fix("qemu-system-x86_64: error: failed to set MSR 0x10a to 0x0");
        assert!(nested.contains("nested"), "{nested}");
        assert!(!nested.contains("firmware"), "{nested}");
    }

    #[test]
    fn versions_read_from_what_programs_print() {
        assert_eq!(
            major_minor("QEMU emulator version 7.2.15 (Debian 1:7.2+dfsg-7+deb12u12)"),
            Some((7, 2))
        );
        assert_eq!(major_minor("qemu-img version 7.2.15"), Some((7, 2)));
        assert_eq!(
            openssh_version("OpenSSH_9.2p1 Debian-2+deb12u10, OpenSSL 3.0.22"),
            Some((9, 2))
        );
        assert_eq!(openssh_version("dropbear v2022.83"), None);
    }
}
