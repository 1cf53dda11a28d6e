//! The lab's SSH key: an ed25519 key pair in the lab directory (`id_ed25519`, made with
//! `ssh-keygen` at deploy), whose public half is installed in each guest user's
//! `~/.ssh/authorized_keys` over the password login once the node is ready — again after every
//! boot, since a guest may keep its home in RAM. A platform or profile opts out with
//! `"vm_ssh_key": false`. With it, `ssh -F <lab>/ssh_config <node>` (see [`super::export`]),
//! Ansible and any other tool log in with no password; the password is never written outside
//! state.json.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::LabDir;
use super::state::LabState;
use crate::error::EngineError;
use crate::events::{Event, EventSink};

/// The private key's file name in a lab directory (the public key adds `.pub`).
pub const FILE: &str = "id_ed25519";

pub fn private_key(lab_dir: &Path) -> PathBuf {
    lab_dir.join(FILE)
}

/// How long installing the key on one node may take.
const INSTALL_LIMIT: Duration = Duration::from_secs(60);

/// The lab's public key line, made first if there is none.
pub async fn ensure(lab: &LabDir) -> Result<String, EngineError> {
    let key = private_key(lab.path());
    let public = key.with_extension("pub");
    if !key.is_file() || !public.is_file() {
        let _ = std::fs::remove_file(&key);
        let _ = std::fs::remove_file(&public);
        let out = tokio::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", ""])
            .arg("-C")
            .arg(format!("vmlab-{}", lab.name()))
            .arg("-f")
            .arg(&key)
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .map_err(|e| EngineError::MissingProgram {
                program: "ssh-keygen".into(),
                fix: format!("install openssh-client ({e})"),
            })?;
        if !out.status.success() {
            return Err(EngineError::LabState(format!(
                "ssh-keygen could not make the lab's key: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
    }
    let line = std::fs::read_to_string(&public)
        .map_err(|e| EngineError::io(format!("cannot read {}", public.display()), e))?;
    let line = line.trim().to_string();
    checked_public_key(&line).map(|()| line)
}

/// A public key line goes into a remote shell command: only `ssh-ed25519 <base64> <comment>`
/// with plain characters passes.
fn checked_public_key(line: &str) -> Result<(), EngineError> {
    let mut parts = line.split(' ');
    let ok = parts.next() == Some("ssh-ed25519")
        && parts.next().is_some_and(|b| {
            !b.is_empty()
                && b.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'='))
        })
        && parts.next().is_none_or(|c| {
            c.bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-' | b'@'))
        })
        && parts.next().is_none();
    if ok {
        Ok(())
    } else {
        Err(EngineError::LabState(format!(
            "the lab's public key {line:?} is not an ed25519 key line; remove the lab's \
             id_ed25519* files and redeploy"
        )))
    }
}

/// The guest-side command: the key added to `~/.ssh/authorized_keys` once, modes set.
pub fn install_script(public: &str) -> String {
    format!(
        "umask 077; mkdir -p ~/.ssh && touch ~/.ssh/authorized_keys && \
         (grep -qxF '{public}' ~/.ssh/authorized_keys || echo '{public}' >> ~/.ssh/authorized_keys) && \
         chmod 700 ~/.ssh && chmod 600 ~/.ssh/authorized_keys"
    )
}

/// Installs the lab's key (made first if needed) on each of `nodes` that wants it (`vm_ssh_key`)
/// and has a password login, all at once; a node where it fails gets a warning (`vmlab ssh`
/// and the password still work there).
pub async fn install_on(lab: &LabDir, nodes: &[String], events: &EventSink) {
    let Ok(state) = LabState::load(lab) else {
        return;
    };
    let wanted: Vec<&String> = nodes
        .iter()
        .filter(|n| {
            state.nodes.get(*n).is_some_and(|r| {
                r.ssh_key
                    && r.ssh_user.is_some()
                    && (r.ssh_pass.is_some() || r.ssh_pass_secret.is_some())
            })
        })
        .collect();
    if wanted.is_empty() {
        return;
    }
    let public = match ensure(lab).await {
        Ok(p) => p,
        Err(e) => {
            events.send(Event::Warning(format!(
                "no SSH key for the lab ({e}); log in with `vmlab ssh`"
            )));
            return;
        }
    };
    events.send(Event::Step(format!(
        "installing the lab's SSH key on {} node{}",
        wanted.len(),
        if wanted.len() == 1 { "" } else { "s" }
    )));
    let t0 = std::time::Instant::now();
    let results = futures::future::join_all(wanted.iter().map(|n| install(lab, n, &public))).await;
    let done = results.iter().filter(|r| r.is_ok()).count();
    events.send(Event::Step(format!(
        "the lab's SSH key is on {done} of {} node{} ({:.1} s)",
        wanted.len(),
        if wanted.len() == 1 { "" } else { "s" },
        t0.elapsed().as_secs_f64()
    )));
    for (n, r) in wanted.iter().zip(results) {
        if let Err(e) = r {
            events.send(Event::Warning(format!(
                "could not install the lab's SSH key on {n}: {e}; `ssh -F` will ask for its \
                 password there (`vmlab ssh {n}` still works)"
            )));
        }
    }
}

/// Installs the public key on `node` over its password login; records whether it worked.
pub async fn install(lab: &LabDir, node: &str, public: &str) -> Result<(), String> {
    let state = LabState::load(lab).map_err(|e| e.to_string())?;
    let me = std::env::current_exe().map_err(|e| format!("cannot locate vmlab: {e}"))?;
    let cmd = state
        .ssh_command(node, &[install_script(public)], &me)
        .map_err(|e| e.to_string())?;
    let mut cmd = tokio::process::Command::from(cmd);
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let out = tokio::time::timeout(INSTALL_LIMIT, cmd.output())
        .await
        .map_err(|_| format!("no answer within {} s", INSTALL_LIMIT.as_secs()))?
        .map_err(|e| format!("cannot run ssh: {e}"))?;
    let ok = out.status.success();
    let _ = LabState::update_node(lab, node, |n| n.key_installed = ok);
    if ok {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_key_lines_reach_a_shell() {
        assert!(
            checked_public_key("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB+x/y= vmlab-lab").is_ok()
        );
        assert!(checked_public_key("ssh-ed25519 AAAA").is_ok());
        for bad in [
            "ssh-rsa AAAA x",
            "ssh-ed25519 AAAA' ; rm -rf ~ '",
            "ssh-ed25519 AAAA vmlab lab",
            "ssh-ed25519  x",
            "ssh-ed25519 AAAA $(id)",
        ] {
            assert!(checked_public_key(bad).is_err(), "{bad}");
        }
        let s = install_script("ssh-ed25519 AAAA vmlab-x");
        assert!(s.contains("'ssh-ed25519 AAAA vmlab-x'"));
    }
}
