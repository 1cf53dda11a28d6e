//! Running vmlab on another host of a multi-host lab, over the system's OpenSSH client.
//!
//! vmlab needs key-based SSH to each host (it never types a password: `BatchMode=yes`) and
//! vmlab there. The host is the address from `vmlab.hosts`; the user's `~/.ssh/config` applies
//! as for any ssh (a `Host` entry for that address can set the user, port and key), or
//! `VMLAB_SSH_CONFIG` names another config file. The remote program is `vmlab` from the
//! remote PATH, or what `VMLAB_REMOTE_VMLAB` names (non-interactive shells often lack
//! `~/.cargo/bin` on their PATH).
//!
//! ssh joins the remote words into one line that the remote shell splits again: every word is
//! quoted here, so no value (a spec path with a space, a name) changes the remote command.

use std::net::IpAddr;
use std::process::Command;

use crate::error::EngineError;
use crate::lab::state::LabState;

/// An ssh config file to use instead of the user's (`ssh -F`).
pub const SSH_CONFIG_ENV: &str = "VMLAB_SSH_CONFIG";
/// The vmlab program on the other hosts (default `vmlab`).
pub const REMOTE_VMLAB_ENV: &str = "VMLAB_REMOTE_VMLAB";

/// ssh's exit status when it could not reach the host or log in.
pub const SSH_FAILED: i32 = 255;
/// A shell's exit status for a command it cannot find.
pub const NOT_FOUND: i32 = 127;

/// `ssh [-F cfg] -o BatchMode=yes ... [-t] -- <addr>`; remote words follow.
pub fn ssh_to(addr: IpAddr, interactive: bool) -> Command {
    let mut cmd = Command::new("ssh");
    if let Some(cfg) = std::env::var_os(SSH_CONFIG_ENV).filter(|v| !v.is_empty()) {
        cmd.arg("-F").arg(cfg);
    }
    if interactive {
        // A console: a terminal there, and the user may be asked for a passphrase.
        cmd.arg("-t");
    } else {
        cmd.args(["-o", "BatchMode=yes"]);
    }
    cmd.args(["-o", "ConnectTimeout=10"])
        .args(["-o", "ServerAliveInterval=15"])
        .arg("--")
        .arg(addr.to_string());
    cmd
}

/// The remote vmlab program's name.
pub fn remote_program() -> String {
    std::env::var(REMOTE_VMLAB_ENV)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "vmlab".into())
}

/// `ssh ... <addr> vmlab <args>` with every word quoted for the remote shell.
pub fn vmlab_on(addr: IpAddr, args: &[String], interactive: bool) -> Command {
    let mut cmd = ssh_to(addr, interactive);
    cmd.arg(shell_words::quote(&remote_program()).into_owned());
    for a in args {
        cmd.arg(shell_words::quote(a).into_owned());
    }
    cmd
}

/// The console of a node on another host: `ssh -t <host> vmlab console --lab <lab> <node>`.
/// The console stays on that host's loopback; only SSH reaches it.
pub fn console_command(state: &LabState, node: &str) -> Result<Command, EngineError> {
    let n = state.node(node)?;
    Ok(vmlab_on(
        n.mgmt_addr,
        &[
            "console".into(),
            "--lab".into(),
            state.name.to_string(),
            node.to_string(),
        ],
        true,
    ))
}

/// Says what an ssh run's exit status means when it is not the remote command's own.
pub fn explain_exit(host: &str, addr: IpAddr, code: Option<i32>) -> Option<String> {
    match code {
        Some(SSH_FAILED) => Some(format!(
            "host {host} ({addr}) is unreachable over SSH: vmlab needs key-based SSH to every \
             host (try `ssh {addr} true`; {SSH_CONFIG_ENV} can name an ssh config)"
        )),
        Some(NOT_FOUND) => Some(format!(
            "host {host} ({addr}) has no {} on its PATH: install vmlab there, or set \
             {REMOTE_VMLAB_ENV} to its path",
            remote_program()
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_words_are_quoted_and_the_host_ends_the_options() {
        let cmd = vmlab_on(
            "10.0.0.2".parse().unwrap(),
            &[
                "deploy".into(),
                "-S".into(),
                "/specs/my lab; rm -rf ~".into(),
            ],
            false,
        );
        let args: Vec<String> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let dd = args.iter().position(|a| a == "--").unwrap();
        assert_eq!(args[dd + 1], "10.0.0.2");
        assert!(args.contains(&"BatchMode=yes".to_string()));
        assert_eq!(
            shell_words::split(&args[dd + 2..].join(" ")).unwrap(),
            ["vmlab", "deploy", "-S", "/specs/my lab; rm -rf ~"]
        );
    }
}
