//! The lab as an OpenSSH client config: `Host <node> <lab>-<node>`, its address and port, the
//! lab's key and its own known_hosts. Pure.

use std::fmt::Write;
use std::path::Path;

use super::text::{cfg_path, local_nodes};
use crate::lab::sshkey;
use crate::lab::state::LabState;

/// `ssh_config`: `Host <node> <lab>-<node>` for each node of this host, logging in with the
/// lab's key; use it with `ssh -F <file> spine1` or an `Include` line in `~/.ssh/config`.
pub fn ssh_config(state: &LabState, lab_dir: &Path) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# vmlab lab {lab}: `ssh -F {f} <node>`, or `Include {f}` in ~/.ssh/config.\n\
         # Written by vmlab deploy; regenerated on every deploy.",
        lab = state.name,
        f = cfg_path(&lab_dir.join("ssh_config"))
    );
    for (name, n) in local_nodes(state) {
        let _ = writeln!(s, "\nHost {name} {}-{name}", state.name);
        if !n.ssh_key {
            let _ = writeln!(
                s,
                "  # vm_ssh_key is false for this node: ssh asks for its password"
            );
        }
        let _ = writeln!(s, "  HostName {}", n.mgmt_addr);
        let _ = writeln!(s, "  Port {}", n.ssh_port);
        if let Some(u) = &n.ssh_user {
            let _ = writeln!(s, "  User {u}");
        }
        if n.ssh_key {
            let _ = writeln!(
                s,
                "  IdentityFile {}\n  IdentitiesOnly yes",
                cfg_path(&sshkey::private_key(lab_dir))
            );
        }
        let _ = writeln!(
            s,
            "  UserKnownHostsFile {}\n  StrictHostKeyChecking no\n  LogLevel ERROR",
            cfg_path(&lab_dir.join("known_hosts"))
        );
    }
    s
}
