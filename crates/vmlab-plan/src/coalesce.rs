//! Host VMs coalesced, as newtron's own lab tool runs them: the nodes of a `device_type: host`
//! platform placed on the same server (and of the same platform) share one VM, `hostvm-<k>`,
//! each host in its own network namespace holding its data interfaces under the names the
//! spec gives them. Six test hosts then cost one VM instead of six.
//!
//! [`machines`] turns a lab into the lab of VMs that really run (the hosts replaced by their
//! VMs, their links' ends moved onto the VM's NICs) and the hosts that live in them; the rest
//! of the plan is built from that. [`setup_script`] is what a host VM runs once it is up.

use std::borrow::Cow;
use std::collections::BTreeMap;

use vmlab_spec::{InterfaceMap, Lab, Node};

/// A host living in a namespace of a host VM.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VirtualHost {
    /// Its node name in the spec, and its namespace's name.
    pub name: String,
    /// The VM it lives in.
    pub vm: String,
    pub platform: String,
    /// Its interfaces: the name the spec gives (inside the namespace), and the VM's NIC
    /// index that carries it (the VM's `eth<k>` before it moves).
    pub ifaces: Vec<(String, u32)>,
    /// `host_ip` of its profile: configured on its interface when it has a prefix length.
    pub host_ip: Option<String>,
}

/// Are hosts coalesced in `lab`: `vmlab.coalesce_hosts`, else on for newtron's layout (as its
/// own tool does) and off for the design's.
pub fn enabled(lab: &Lab) -> bool {
    lab.settings.coalesce_hosts.unwrap_or(lab.newtron)
}

/// The lab of VMs that run, and the hosts coalesced into them (none: the lab itself).
pub fn machines(lab: &Lab) -> (Cow<'_, Lab>, Vec<VirtualHost>) {
    if !enabled(lab) || !lab.nodes.iter().any(|n| n.device_type == "host") {
        return (Cow::Borrowed(lab), Vec::new());
    }
    // Groups by (server, platform), members by name: the same on every host.
    let mut groups: BTreeMap<(String, String), Vec<&Node>> = BTreeMap::new();
    for n in lab.nodes.iter().filter(|n| n.device_type == "host") {
        groups
            .entry((n.host.clone().unwrap_or_default(), n.platform.clone()))
            .or_default()
            .push(n);
    }
    let taken: std::collections::HashSet<&str> =
        lab.nodes.iter().map(|n| n.name.as_str()).collect();
    let mut names = (0..)
        .map(|k| format!("hostvm-{k}"))
        .filter(|n| !taken.contains(n.as_str()));
    let mut vm_of: BTreeMap<&str, String> = BTreeMap::new();
    let mut vms: Vec<(String, Vec<&Node>)> = Vec::new();
    for (_, mut members) in groups {
        members.sort_by(|a, b| a.name.cmp(&b.name));
        let vm = names.next().unwrap_or_default();
        for m in &members {
            vm_of.insert(m.name.as_str(), vm.clone());
        }
        vms.push((vm, members));
    }
    // The VM's NICs go to its members by name, each member's interfaces in link order.
    let mut linked: Vec<(&str, &str)> = Vec::new();
    for l in &lab.links {
        for end in [&l.a, &l.z] {
            if vm_of.contains_key(end.node.as_str())
                && !linked.contains(&(end.node.as_str(), end.iface.as_str()))
            {
                linked.push((end.node.as_str(), end.iface.as_str()));
            }
        }
    }
    linked.sort_by_key(|(node, _)| *node);
    let mut next_nic: BTreeMap<&str, u32> = BTreeMap::new();
    let mut nic_of: BTreeMap<(String, String), u32> = BTreeMap::new();
    for (node, iface) in linked {
        let n = next_nic.entry(vm_of[node].as_str()).or_insert(0);
        *n += 1;
        nic_of.insert((node.to_string(), iface.to_string()), *n);
    }
    let mut links = lab.links.clone();
    for l in &mut links {
        for end in [&mut l.a, &mut l.z] {
            let Some(vm) = vm_of.get(end.node.as_str()) else {
                continue;
            };
            let k = nic_of
                .get(&(end.node.clone(), end.iface.clone()))
                .copied()
                .unwrap_or_default();
            end.iface = format!("{}/{}", end.node, end.iface);
            end.node = vm.clone();
            end.nic = k;
        }
    }
    let mut hosts = Vec::new();
    let mut vm_nodes: BTreeMap<String, Node> = BTreeMap::new();
    for (vm, members) in &vms {
        let first = members[0];
        let mut node = first.clone();
        node.name = vm.clone();
        node.memory_mb = members
            .iter()
            .map(|m| m.memory_mb)
            .max()
            .unwrap_or(first.memory_mb);
        node.cpus = members.iter().map(|m| m.cpus).max().unwrap_or(first.cpus);
        node.boot_timeout_secs = members
            .iter()
            .map(|m| m.boot_timeout_secs)
            .max()
            .unwrap_or(first.boot_timeout_secs);
        node.device_type = "host-vm".into();
        node.host_ip = None;
        let mut table = Vec::new();
        for m in members {
            let mut ifaces: Vec<(String, u32)> = nic_of
                .iter()
                .filter(|((n, _), _)| n == &m.name)
                .map(|((_, i), k)| (i.clone(), *k))
                .collect();
            ifaces.sort_by_key(|(_, k)| *k);
            table.extend(ifaces.iter().map(|(i, k)| (format!("{}/{i}", m.name), *k)));
            hosts.push(VirtualHost {
                name: m.name.clone(),
                vm: vm.clone(),
                platform: m.platform.clone(),
                ifaces,
                host_ip: m.host_ip.clone(),
            });
        }
        table.sort_by_key(|(_, k)| *k);
        node.interface_map = InterfaceMap::Custom(table);
        let member_names: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
        let mut waits: Vec<String> = members
            .iter()
            .flat_map(|m| m.wait_for.iter().cloned())
            .filter(|w| !member_names.contains(&w.as_str()))
            .collect();
        waits.sort();
        waits.dedup();
        node.wait_for = waits;
        vm_nodes.insert(vm.clone(), node);
    }
    // The VM takes the place of its first member (in topology order); indices are renumbered.
    let mut nodes = Vec::with_capacity(lab.nodes.len());
    for n in &lab.nodes {
        match vm_of.get(n.name.as_str()) {
            None => nodes.push(n.clone()),
            Some(vm) => {
                if let Some(node) = vm_nodes.remove(vm) {
                    nodes.push(node);
                }
            }
        }
    }
    for (i, n) in nodes.iter_mut().enumerate() {
        n.index = i;
        for w in &mut n.wait_for {
            if let Some(vm) = vm_of.get(w.as_str()) {
                *w = vm.clone();
            }
        }
        n.wait_for.dedup();
    }
    let mut out = lab.clone();
    out.nodes = nodes;
    out.links = links;
    (Cow::Owned(out), hosts)
}

/// The shell script a host VM runs once it is up: a namespace per host, its interfaces moved
/// in under their spec names and brought up, `host_ip` set where it has a prefix. It finds
/// iproute2's `ip` itself (busybox's has no `ip netns`); without one it exits 42. Running it
/// again on the same boot changes nothing. Every name in it was checked when the spec was
/// read (node names, interface names, addresses).
pub fn setup_script(hosts: &[&VirtualHost]) -> String {
    let mut s = String::from(
        "ip=; for c in /usr/sbin/ip /sbin/ip /usr/bin/ip /bin/ip; do \
         if [ -x $c ] && $c netns list >/dev/null 2>&1; then ip=$c; break; fi; done; \
         [ -n \"$ip\" ] || exit 42; set -e; ",
    );
    for h in hosts {
        let ns = &h.name;
        s.push_str(&format!(
            "[ -e /run/netns/{ns} ] || $ip netns add {ns}; $ip -n {ns} link set lo up; "
        ));
        for (iface, k) in &h.ifaces {
            s.push_str(&format!(
                "if [ -e /sys/class/net/eth{k} ]; then $ip link set eth{k} netns {ns}; \
                 $ip -n {ns} link set eth{k} name {iface}; fi; $ip -n {ns} link set {iface} up; "
            ));
        }
        if let (Some(ip), Some((first, _))) = (&h.host_ip, h.ifaces.first())
            && ip.contains('/')
        {
            s.push_str(&format!("$ip -n {ns} addr replace {ip} dev {first}; "));
        }
    }
    s.push_str("true");
    s
}

/// The remote command that runs `command` (ssh's words, joined as ssh joins them) inside
/// `host`'s namespace; an interactive shell there when `command` is empty.
pub fn in_namespace(host: &str, command: &[String]) -> String {
    let find = "ip=; for c in /usr/sbin/ip /sbin/ip /usr/bin/ip /bin/ip; do \
                if [ -x $c ] && $c netns list >/dev/null 2>&1; then ip=$c; break; fi; done; ";
    if command.is_empty() {
        format!("{find}exec $ip netns exec {host} sh -l")
    } else {
        format!(
            "{find}exec $ip netns exec {host} sh -c {}",
            shell_words::quote(&command.join(" "))
        )
    }
}
