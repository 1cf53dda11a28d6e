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

use std::path::Path;
use std::process::Command;

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

/// The ssh command for `node` as recorded in `n`; `remote` is the command to run (empty:
/// interactive shell); host keys are kept in `known_hosts` (the lab's own).
pub fn ssh_command(
    node: &str,
    n: &NodeState,
    pass: Option<&str>,
    known_hosts: &Path,
    remote: &[String],
    askpass: &Path,
    tty: bool,
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
        .args(if tty { &["-t"][..] } else { &[][..] })
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
