//! A node's QEMU command line, built purely from its plan.
//!
//! The VM is daemonized with `-display none`, its serial console served on a unix socket in the
//! lab directory (or on loopback TCP with `vmlab.consoles: "tcp"`; one client at a time) with a
//! log of all guest output, QMP on a unix socket, and a pidfile whose path names
//! the lab directory: that path is how vmlab later proves a pid is its own QEMU.
//!
//! The CPU model is `host` under KVM and `max` under TCG, with the platform's
//! `vm_cpu_features` appended. Under TCG `max` matters: `qemu64,+sse4.2` advertises SSE4.2
//! without SSSE3, and a guest libc that trusts SSE4.2 then runs SSSE3 instructions and dies on
//! an invalid opcode; `max` emulates every feature TCG can, so the flags a platform asks for
//! come with the ones they imply.

use super::model::{Accel, End, LinkPlan, LinkTransport, NicPlan, NicRole, NodePaths};
use vmlab_spec::Node;

/// Inputs for one command line.
pub struct QemuInput<'a> {
    /// Where the SSH forward binds.
    pub mgmt_addr: std::net::IpAddr,
    /// May the guest open connections out through its management NIC? Without it the user
    /// network is `restrict=on`: only the SSH forward in works.
    pub outbound: bool,
    pub qemu: &'a str,
    pub lab: &'a str,
    pub node: &'a Node,
    pub accel: Accel,
    pub ssh_port: u16,
    /// `None`: the console is a unix socket at `paths.console`.
    pub console_port: Option<u16>,
    pub nics: &'a [NicPlan],
    /// Every link of the lab.
    pub links: &'a [LinkPlan],
    pub paths: &'a NodePaths,
}

/// The netdev id of link `index` (the same on both ends).
pub fn link_netdev_id(index: usize) -> String {
    format!("link{index}")
}

/// Builds the argv, program first.
pub fn argv(i: &QemuInput<'_>) -> Vec<String> {
    let node = i.node;
    let mut a: Vec<String> = Vec::with_capacity(40 + 4 * i.nics.len());
    let mut push = |items: &[&str]| a.extend(items.iter().map(|s| s.to_string()));
    push(&[i.qemu]);
    push(&[
        "-name",
        &format!(
            "guest={}:{},process=vmlab-{}",
            opt(i.lab),
            opt(&node.name),
            opt(&node.name)
        ),
    ]);
    let (accel, cpu) = i.accel.qemu_names();
    push(&["-machine", &format!("pc,accel={accel}")]);
    let cpu = match &node.cpu_features {
        Some(f) => format!("{cpu},{f}"),
        None => cpu.to_string(),
    };
    push(&["-cpu", &cpu]);
    push(&["-m", &node.memory_mb.to_string()]);
    push(&["-smp", &node.cpus.to_string()]);
    push(&["-nodefaults", "-no-user-config", "-display", "none"]);
    push(&["-pidfile", &path(&i.paths.pidfile), "-daemonize"]);
    push(&[
        "-qmp",
        &format!("unix:{},server=on,wait=off", path(&i.paths.qmp)),
    ]);
    let listen = match i.console_port {
        Some(port) => format!("host=127.0.0.1,port={port},telnet=off"),
        None => format!("path={}", path(&i.paths.console)),
    };
    push(&[
        "-chardev",
        &format!(
            "socket,id=console,{listen},server=on,wait=off,logfile={},logappend=on",
            path(&i.paths.console_log)
        ),
    ]);
    push(&["-serial", "chardev:console"]);
    push(&[
        "-drive",
        &format!(
            "if=none,id=disk0,file={},format=qcow2",
            path(&i.paths.overlay)
        ),
    ]);
    push(&["-device", "virtio-blk-pci,drive=disk0,addr=0x5,bootindex=1"]);
    for nic in i.nics {
        let device = |netdev: Option<&str>| {
            let mut d = format!("{},id=nic{},mac={}", node.nic_driver, nic.index, nic.mac);
            if let Some(n) = netdev {
                d.push_str(&format!(",netdev={n}"));
            }
            d.push_str(&format!(",addr={:#04x}", nic.pci_slot));
            d
        };
        match &nic.role {
            NicRole::Management => {
                push(&[
                    "-netdev",
                    &format!(
                        "user,id=mgmt,restrict={},hostfwd=tcp:{}:{}-:22",
                        if i.outbound { "off" } else { "on" },
                        i.mgmt_addr,
                        i.ssh_port
                    ),
                ]);
                push(&["-device", &device(Some("mgmt"))]);
            }
            NicRole::Link { link, end, .. } => {
                // Links are in index order; look further only if they are not.
                let Some(l) = i
                    .links
                    .get(*link)
                    .filter(|l| l.index == *link)
                    .or_else(|| i.links.iter().find(|l| l.index == *link))
                else {
                    continue;
                };
                // A link between hosts reaches the other host through this host's relay.
                let wiring = match l.transport {
                    LinkTransport::CrossHost | LinkTransport::Remote => LinkTransport::Relay,
                    t => t,
                };
                // A cable from a node back to itself has both its netdevs in one QEMU.
                let id = match end {
                    End::Z if l.a.node == l.z.node => format!("{}z", link_netdev_id(*link)),
                    _ => link_netdev_id(*link),
                };
                let (local, remote) = l.sockets.of(*end, wiring);
                let netdev = format!(
                    "dgram,id={id},local.type=unix,local.path={},remote.type=unix,remote.path={}",
                    path(local),
                    path(remote)
                );
                push(&["-netdev", &netdev]);
                push(&["-device", &device(Some(&id))]);
            }
            NicRole::Unconnected => push(&["-device", &device(None)]),
        }
    }
    // What the guest may read through fw_cfg (`opt/vmlab/<name>`): its name, its ports'
    // names by MAC, and the node's `vm_files`. Guests that do not look ignore them.
    push(&[
        "-fw_cfg",
        &format!("name=opt/vmlab/hostname,string={}", opt(&node.name)),
    ]);
    let ports = port_names(i.nics);
    if !ports.is_empty() {
        push(&[
            "-fw_cfg",
            &format!("name=opt/vmlab/interfaces,string={}", opt(&ports)),
        ]);
    }
    for f in &node.files {
        push(&[
            "-fw_cfg",
            &format!("name=opt/vmlab/{},file={}", opt(&f.name), path(&f.source)),
        ]);
    }
    // The platform's or profile's own tuning, last (checked when the spec was read).
    a.extend(node.qemu_args.iter().cloned());
    a
}

/// `MAC NAME;MAC NAME;...` for each data NIC on a link whose interface name a Linux guest can
/// take as its own (1 to 15 bytes, no `/`, `:`, `;` or white space): a guest that reads it
/// renames its ports to the topology's names.
pub fn port_names(nics: &[NicPlan]) -> String {
    let linux_name = |n: &str| {
        (1..=15).contains(&n.len())
            && n != "."
            && n != ".."
            && n.chars()
                .all(|c| c.is_ascii_graphic() && !matches!(c, '/' | ':' | ';' | ','))
    };
    nics.iter()
        .filter_map(|n| match &n.role {
            NicRole::Link { iface, .. } if linux_name(iface) => Some(format!("{} {iface}", n.mac)),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join(";")
}

/// QEMU option values double their commas.
fn opt(s: &str) -> String {
    s.replace(',', ",,")
}

/// A path as the value of a QEMU option (`file=`, `path=`): its commas doubled, so a
/// directory named `a,b` cannot end the value and start another property. Every path that
/// goes into a QEMU option string goes through here.
pub fn path(p: &std::path::Path) -> String {
    opt(&p.to_string_lossy())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Mac;

    fn nic(index: u32, role: NicRole) -> NicPlan {
        NicPlan {
            index,
            mac: Mac([2, 0, 0, 0, 0, index as u8]),
            pci_slot: 8 + index,
            role,
        }
    }

    fn link(iface: &str) -> NicRole {
        NicRole::Link {
            link: 0,
            iface: iface.into(),
            peer: "b:Ethernet0".into(),
            end: End::A,
        }
    }

    #[test]
    fn port_names_list_linked_nics_a_linux_guest_can_take() {
        let nics = [
            nic(0, NicRole::Management),
            nic(1, link("Ethernet0")),
            nic(2, NicRole::Unconnected),
            nic(3, link("Ethernet8")),
            nic(4, link("a-name-too-long-for-linux")),
            nic(5, link("Eth;0")),
        ];
        assert_eq!(
            port_names(&nics),
            "02:00:00:00:00:01 Ethernet0;02:00:00:00:00:03 Ethernet8"
        );
        assert_eq!(port_names(&nics[..1]), "");
    }
}
