//! The lab as inventories: JSON (every node with its spec and guest interface names, and the
//! links) and Ansible (groups per platform and per host). Pure.

use std::collections::HashMap;
use std::fmt::Write;
use std::path::Path;

use serde::Serialize;

use super::text::{Ids, cfg_path, group, yq};
use crate::lab::sshkey;
use crate::lab::state::LabState;
use crate::node::NodeState;

/// One guest interface in the JSON inventory.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InvInterface {
    /// As the spec names it (`Ethernet0`).
    pub name: String,
    /// As the guest sees it (`eth1`).
    pub guest: String,
    pub link: usize,
    /// The other end, `node:interface`.
    pub peer: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InvNode {
    pub name: String,
    pub platform: String,
    /// The host it runs on, as `vmlab status` names it (`localhost` in a one-host lab).
    pub host: String,
    pub mgmt_ip: String,
    pub ssh_port: u16,
    /// `null`: the console is on the lab's unix socket (`vmlab console`).
    pub console_port: Option<u16>,
    pub ssh_user: Option<String>,
    pub interfaces: Vec<InvInterface>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InvLink {
    pub index: usize,
    pub a: String,
    pub z: String,
    pub a_guest: String,
    pub z_guest: String,
    pub transport: crate::plan::LinkTransport,
}

/// `inventory.json`: nodes with their addresses, ports, user and interfaces (spec and guest
/// names), links, and how to log in.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Inventory {
    pub lab: String,
    pub ssh_config: String,
    pub ssh_key: String,
    pub nodes: Vec<InvNode>,
    pub links: Vec<InvLink>,
}

/// Every node's linked interfaces, in guest order (`eth1`, `eth2`, … `eth10`).
pub(super) fn interfaces_by_node(state: &LabState) -> HashMap<&str, Vec<InvInterface>> {
    let mut map: HashMap<&str, Vec<(u32, InvInterface)>> = HashMap::new();
    for l in &state.links {
        for (node, iface, nic, other) in l.ends() {
            map.entry(node).or_default().push((
                nic,
                InvInterface {
                    name: iface.to_string(),
                    guest: format!("eth{nic}"),
                    link: l.index,
                    peer: other.to_string(),
                },
            ));
        }
    }
    map.into_iter()
        .map(|(node, mut v)| {
            v.sort_by_key(|(nic, _)| *nic);
            (node, v.into_iter().map(|(_, i)| i).collect())
        })
        .collect()
}

pub fn inventory(state: &LabState, lab_dir: &Path) -> Inventory {
    let mut interfaces = interfaces_by_node(state);
    let nodes = state
        .ordered_nodes()
        .map(|(name, n)| InvNode {
            name: name.clone(),
            platform: n.platform.clone(),
            host: n.host.clone().unwrap_or_else(|| "localhost".into()),
            mgmt_ip: n.mgmt_addr.to_string(),
            ssh_port: n.ssh_port,
            console_port: n.console_port,
            ssh_user: n.ssh_user.clone(),
            interfaces: interfaces.remove(name.as_str()).unwrap_or_default(),
        })
        .collect();
    Inventory {
        lab: state.name.to_string(),
        ssh_config: lab_dir.join("ssh_config").to_string_lossy().into_owned(),
        ssh_key: sshkey::private_key(lab_dir).to_string_lossy().into_owned(),
        nodes,
        links: state
            .links
            .iter()
            .map(|l| {
                let (a_guest, z_guest) = l.guest_names();
                InvLink {
                    index: l.index,
                    a: l.a.clone(),
                    z: l.z.clone(),
                    a_guest,
                    z_guest,
                    transport: l.transport,
                }
            })
            .collect(),
    }
}

/// `inventory.yml`: Ansible's YAML inventory, grouped by platform (and by host in a multi-host
/// lab), each node with `ansible_host`, `ansible_port` and `ansible_user`, the lab's key for all.
pub fn ansible(state: &LabState, lab_dir: &Path) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# vmlab lab {}: `ansible-inventory -i <this file> --graph`",
        state.name
    );
    let _ = writeln!(s, "all:\n  vars:");
    let _ = writeln!(
        s,
        "    ansible_ssh_private_key_file: {}",
        yq(&sshkey::private_key(lab_dir).to_string_lossy())
    );
    let _ = writeln!(
        s,
        "    ansible_ssh_common_args: {}",
        yq(&format!(
            "-o UserKnownHostsFile={} -o StrictHostKeyChecking=no",
            cfg_path(&lab_dir.join("known_hosts"))
        ))
    );
    let _ = writeln!(s, "  children:");
    let mut groups: Vec<(String, Vec<&String>)> = Vec::new();
    fn add<'a>(groups: &mut Vec<(String, Vec<&'a String>)>, g: String, n: &'a String) {
        match groups.iter_mut().find(|(k, _)| *k == g) {
            Some((_, v)) => v.push(n),
            None => groups.push((g, vec![n])),
        }
    }
    let mut ids = Ids::default();
    let nodes: Vec<(&String, &NodeState)> = state.ordered_nodes().collect();
    for (name, n) in &nodes {
        let g = ids.of("platform", &n.platform, group(&n.platform));
        add(&mut groups, g, name);
    }
    for (name, n) in &nodes {
        if let Some(h) = &n.host {
            let g = ids.of("host", h, format!("host_{}", group(h)));
            add(&mut groups, g, name);
        }
    }
    let mut first = std::collections::HashSet::new();
    for (g, members) in &groups {
        let _ = writeln!(s, "    {g}:\n      hosts:");
        for name in members {
            // Host variables once, in the node's first group.
            if !first.insert(name.as_str()) {
                let _ = writeln!(s, "        {}: {{}}", yq(name));
                continue;
            }
            let Some(n) = state.nodes.get(*name) else {
                continue;
            };
            let _ = writeln!(s, "        {}:", yq(name));
            let _ = writeln!(
                s,
                "          ansible_host: {}",
                yq(&n.mgmt_addr.to_string())
            );
            let _ = writeln!(s, "          ansible_port: {}", n.ssh_port);
            if let Some(u) = &n.ssh_user {
                let _ = writeln!(s, "          ansible_user: {}", yq(u));
            }
        }
    }
    s
}
