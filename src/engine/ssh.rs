//! SSH to a lab node with the system's OpenSSH client: no password prompt, no host-key
//! trouble after a redeploy, the user's own known_hosts untouched, the password never on a
//! command line.
//!
//! The password reaches ssh through `SSH_ASKPASS`: the vmlab binary itself is the helper
//! ([`askpass_secret`]), reading the secret from its environment, which only this user can see.

use std::path::Path;
use std::process::Command;

use super::error::EngineError;
use super::state::LabState;

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

/// The ssh command for `node`; `remote` is the command to run (empty: interactive shell).
pub fn ssh_command(
    state: &LabState,
    node: &str,
    remote: &[String],
    askpass: &Path,
) -> Result<Command, EngineError> {
    let n = state.node(node)?;
    let (Some(user), Some(pass)) = (&n.ssh_user, &n.ssh_pass) else {
        return Err(EngineError::LabState(format!(
            "node {node} has no SSH credentials: set ssh_user and ssh_pass in its profile, or \
             vm_credentials in its platform, then redeploy"
        )));
    };
    let known_hosts = state.lab_dir.join("known_hosts");
    let mut cmd = Command::new("ssh");
    cmd.arg("-p")
        .arg(n.ssh_port.to_string())
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", known_hosts.display()))
        .args(["-o", "StrictHostKeyChecking=no"])
        .args(["-o", "LogLevel=ERROR"])
        .args([
            "-o",
            "PreferredAuthentications=password,keyboard-interactive",
        ])
        .args(["-o", "PubkeyAuthentication=no"])
        .args(["-o", "NumberOfPasswordPrompts=1"])
        .args(["-o", "ConnectTimeout=15"])
        .arg(format!("{user}@127.0.0.1"))
        .env("SSH_ASKPASS", askpass)
        .env("SSH_ASKPASS_REQUIRE", "force")
        .env(ASKPASS_ENV, "1")
        .env(SECRET_ENV, pass);
    if !remote.is_empty() {
        cmd.arg("--").args(remote);
    }
    Ok(cmd)
}
