//! SSH to a lab node with the system's OpenSSH client: no password prompt, no host-key
//! trouble after a redeploy, the user's own known_hosts untouched, the password never on a
//! command line.
//!
//! The password reaches ssh through `SSH_ASKPASS`: the vmlab binary itself is the helper
//! ([`askpass_secret`]), reading the secret from its environment, which only this user can see.
//!
//! No spec value can become an ssh option: the user name (checked when the spec is read, and
//! again here) goes after `-l`, and `--` ends ssh's options before the host, so neither the
//! name nor a remote command word is ever parsed as one.
//!
//! Commands (`exec`, `validate`) share one connection per machine: OpenSSH's connection
//! multiplexing, its control socket in the lab's private directory (`ssh/<machine>`), the
//! connection kept a minute after its last command, closed when the lab is destroyed or a
//! snapshot is restored, and gone with its VM. `VMLAB_SSH_REUSE=0` turns it off.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::error::EngineError;
use super::node::state::NodeState;

/// Environment variable that turns the vmlab binary into ssh's askpass helper.
pub const ASKPASS_ENV: &str = "VMLAB_ASKPASS";
/// Environment variable that carries the password to the helper.
pub const SECRET_ENV: &str = "VMLAB_ASKPASS_SECRET";

/// If this process was started by ssh as its askpass helper, the password it must print.
pub fn askpass_secret() -> Option<String> {
    if std::env::var_os(ASKPASS_ENV).is_none_or(|v| v != "1") {
        return None;
    }
    Some(std::env::var(SECRET_ENV).unwrap_or_default())
}

/// Environment variable that turns connection sharing off (`0`, `no`, `off`).
pub const REUSE_ENV: &str = "VMLAB_SSH_REUSE";

/// How long a shared connection stays after its last command.
const PERSIST_SECS: u32 = 60;

/// A Unix socket's path holds at most 107 bytes, and ssh binds the control socket under a
/// name 17 bytes longer before it renames it into place.
const CONTROL_PATH_MAX: usize = 107 - 17;

/// Where the shared connection to `machine` (a VM of the lab in `lab_dir`) lives, or `None`
/// when sharing is off or the lab's directory is too deep for a socket there (then each
/// command logs in on its own).
pub fn shared_socket(lab_dir: &Path, machine: &str) -> Option<PathBuf> {
    if std::env::var(REUSE_ENV).is_ok_and(|v| matches!(v.as_str(), "0" | "no" | "off" | "false")) {
        return None;
    }
    let p = lab_dir.join("ssh").join(machine);
    (p.as_os_str().len() <= CONTROL_PATH_MAX).then_some(p)
}

/// Closes the shared connections of the lab in `lab_dir` (of `machines`, or all of them):
/// each master asked to exit over its socket. Quietly does nothing where there is none.
pub async fn close_shared(lab_dir: &Path, machines: Option<&[String]>) {
    let dir = lab_dir.join("ssh");
    let sockets: Vec<PathBuf> = match machines {
        Some(m) => m.iter().map(|m| dir.join(m)).collect(),
        None => std::fs::read_dir(&dir)
            .map(|rd| rd.flatten().map(|e| e.path()).collect())
            .unwrap_or_default(),
    };
    let closes = sockets.iter().filter(|p| p.exists()).map(|p| {
        let mut cmd = tokio::process::Command::new("ssh");
        cmd.arg("-o")
            .arg(format!("ControlPath={}", config_path(p)))
            .args(["-O", "exit", "--", "vmlab-shared"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        async move {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), cmd.status()).await;
        }
    });
    futures::future::join_all(closes).await;
}

/// The ssh command for `node` as recorded in `n`; `remote` is the command to run (empty:
/// interactive shell); host keys are kept in `known_hosts` (the lab's own); `shared`, the
/// control socket of a connection to share (see [`shared_socket`]).
#[allow(clippy::too_many_arguments)]
pub fn ssh_command(
    node: &str,
    n: &NodeState,
    pass: Option<&str>,
    known_hosts: &Path,
    remote: &[String],
    askpass: &Path,
    tty: bool,
    shared: Option<&Path>,
) -> Result<Command, EngineError> {
    let (Some(user), Some(pass)) = (&n.ssh_user, pass) else {
        return Err(EngineError::LabState(format!(
            "node {node} has no SSH credentials: set ssh_user and ssh_pass in its profile, or \
             vm_credentials in its platform, then redeploy"
        )));
    };
    if let Err(why) = crate::spec::values::ssh_user(user) {
        return Err(EngineError::LabState(format!(
            "node {node}'s recorded user name {user:?} {why}; fix ssh_user and redeploy"
        )));
    }
    let mut cmd = Command::new("ssh");
    cmd.arg("-l")
        .arg(user)
        .arg("-p")
        .arg(n.ssh_port.to_string())
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", config_path(known_hosts)))
        .args(["-o", "StrictHostKeyChecking=no"])
        .args(["-o", "LogLevel=ERROR"])
        .args([
            "-o",
            "PreferredAuthentications=password,keyboard-interactive",
        ])
        .args(["-o", "PubkeyAuthentication=no"])
        .args(["-o", "NumberOfPasswordPrompts=1"])
        .args(["-o", "ConnectTimeout=15"])
        // An interactive shell reached through a command (a coalesced host's namespace).
        .args(if tty { &["-t"][..] } else { &[][..] });
    if let Some(socket) = shared.filter(|s| private_dir(s)) {
        cmd.args(["-o", "ControlMaster=auto"])
            .arg("-o")
            .arg(format!("ControlPath={}", config_path(socket)))
            .arg("-o")
            .arg(format!("ControlPersist={PERSIST_SECS}"))
            // A master whose VM went away (or was put back in time) ends within seconds
            // rather than holding its clients.
            .args(["-o", "ServerAliveInterval=5"])
            .args(["-o", "ServerAliveCountMax=2"]);
    }
    cmd
        // Options end here: the host and every remote word are never read as options.
        .arg("--")
        .arg(n.mgmt_addr.to_string())
        .args(remote)
        .env("SSH_ASKPASS", askpass)
        .env("SSH_ASKPASS_REQUIRE", "force")
        .env(ASKPASS_ENV, "1")
        .env(SECRET_ENV, pass);
    Ok(cmd)
}

/// The directory of a control socket, made private (0700) if it is not there yet. False
/// when it cannot be: no sharing then.
fn private_dir(socket: &Path) -> bool {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let Some(dir) = socket.parent() else {
        return false;
    };
    let _ = std::fs::DirBuilder::new().mode(0o700).create(dir);
    std::fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir() && m.permissions().mode() & 0o077 == 0)
}

/// A path as an ssh option value: `%` escaped (ssh expands `%` tokens in file names) and
/// quoted when it holds white space (ssh splits option values there).
fn config_path(p: &Path) -> String {
    let s = p.to_string_lossy().replace('%', "%%");
    if s.contains(char::is_whitespace) {
        format!("\"{s}\"")
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_survive_ssh_option_parsing() {
        assert_eq!(config_path(Path::new("/a/b")), "/a/b");
        assert_eq!(config_path(Path::new("/a b/%d")), "\"/a b/%%d\"");
    }
}
