//! The plan layer: what vmlab will do, as a pure value (no I/O, no tokio, no clock).
//!
//! [`build`] turns a resolved [`Lab`] into a [`LabPlan`]: the ports of every node and link
//! (HLD §5.2), every NIC with its PCI slot and MAC, the unix datagram sockets of every link, the
//! files of the lab directory, and each node's complete QEMU command line. The engine executes a plan; it
//! never decides any of this itself, so a snapshot of the plan is a snapshot of what would run.

pub mod coalesce;
pub mod model;
pub mod nics;
pub mod patches;
pub mod ports;
pub mod qemu;
pub mod shards;

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;

use vmlab_spec::{Lab, Link, LinkMode, SpecError};

pub use model::{
    Accel, CrossHost, End, LabPlan, LinkPlan, LinkSockets, LinkTransport, Mac, NicPlan, NicRole,
    NodePatches, NodePaths, NodePlan, PlanOptions,
};
pub use ports::{PortRole, PortUse};

/// The plan as any host of the lab computes it, for what every host agrees on — placement,
/// management addresses, ports, indices, links between hosts — and not for launching: TCG,
/// the default QEMU program, seen from the first host of `hosts` (none in a one-host lab).
/// `--all-hosts` and the exports of a lab not deployed read this one plan.
pub fn placement(lab: &Lab, lab_dir: PathBuf) -> Result<LabPlan, Vec<SpecError>> {
    build(
        lab,
        &PlanOptions {
            lab_dir,
            accel: Accel::Tcg,
            qemu: "qemu-system-x86_64".into(),
            local_host: lab.settings.hosts.first().map(|(h, _)| h.clone()),
        },
    )
}

/// A lab that places nodes on hosts is planned for one of them: `opts.local_host` must name a
/// host of the lab.
fn check_local_host(
    lab: &Lab,
    opts: &PlanOptions,
    topo: &std::path::Path,
) -> Result<(), Vec<SpecError>> {
    let placed: Vec<&str> = {
        let mut h: Vec<&str> = lab.nodes.iter().filter_map(|n| n.host.as_deref()).collect();
        h.sort();
        h.dedup();
        h
    };
    if !placed.is_empty() {
        match &opts.local_host {
            None => {
                return Err(vec![SpecError::new(
                    topo,
                    "vmlab.hosts",
                    format!(
                        "this lab places its nodes on hosts ({}), and no host was named",
                        placed.join(", ")
                    ),
                    "deploy it with --host <name> on each host, or --all-hosts",
                )]);
            }
            Some(h) if lab.settings.host_addr(h).is_none() => {
                return Err(vec![SpecError::new(
                    topo,
                    "vmlab.hosts",
                    format!("--host {h:?} is not a host of this lab"),
                    format!(
                        "use one of: {}",
                        lab.settings
                            .hosts
                            .iter()
                            .map(|(n, _)| n.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )]);
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// What `node`'s boot patches need (`None`: its platform has no dataplane, or it is a host,
/// which newtlab never patches either): the variables for the data NICs of `nics`.
fn node_patches(node: &vmlab_spec::Node, nics: &[NicPlan]) -> Option<NodePatches> {
    let dp = node
        .dataplane
        .as_ref()
        .filter(|_| node.device_type != "host")?;
    let data: Vec<(u32, u32)> = nics
        .iter()
        .filter(|n| !matches!(n.role, NicRole::Management))
        .map(|n| (n.index, n.pci_slot))
        .collect();
    Some(NodePatches {
        vars: patches::PatchVars::new(node, dp, &data),
        dataplane: dp.clone(),
    })
}

/// Each node's links (by the node's position), each once.
fn links_by_node(lab: &Lab) -> Vec<Vec<&Link>> {
    let index: HashMap<&str, usize> = lab
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.name.as_str(), i))
        .collect();
    let mut touching: Vec<Vec<&Link>> = vec![Vec::new(); lab.nodes.len()];
    for l in &lab.links {
        for end in [&l.a, &l.z] {
            if let Some(i) = index.get(end.node.as_str())
                && touching[*i].last().is_none_or(|last| last.index != l.index)
            {
                touching[*i].push(l);
            }
        }
    }
    touching
}

/// Builds the plan. Port problems (past 65535, two roles on one port) come back as spec errors
/// naming topology.json's port settings.
pub fn build(lab: &Lab, opts: &PlanOptions) -> Result<LabPlan, Vec<SpecError>> {
    // Coalesced hosts: the plan is of the VMs that run.
    let (machines, virtual_hosts) = coalesce::machines(lab);
    let lab = machines.as_ref();
    let ports = ports::allocate(lab)?;
    let topo = lab.spec_dir.join("topology.json");
    // Multi-host: which host this plan is for, and where each node lives.
    check_local_host(lab, opts, &topo)?;
    let here = |host: &Option<String>| match (&opts.local_host, host) {
        (Some(l), Some(h)) => l == h,
        _ => true,
    };
    let addr_of = |host: &Option<String>| -> IpAddr {
        host.as_deref()
            .and_then(|h| lab.settings.host_addr(h))
            .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST))
    };
    let node_host: HashMap<&str, &Option<String>> = lab
        .nodes
        .iter()
        .map(|n| (n.name.as_str(), &n.host))
        .collect();
    // Links by the nodes they touch, so planning stays linear in the lab's size.
    let touching = links_by_node(lab);
    // Every link, by index: its sockets and how its ends meet.
    let links: Vec<LinkPlan> = lab
        .links
        .iter()
        .map(|l| {
            let (ha, hz) = (
                node_host.get(l.a.node.as_str()).copied().unwrap_or(&None),
                node_host.get(l.z.node.as_str()).copied().unwrap_or(&None),
            );
            let port = ports.link[l.index];
            let (transport, cross) = match (here(ha), here(hz)) {
                (true, true) => (
                    match l.mode {
                        LinkMode::Relay => LinkTransport::Relay,
                        LinkMode::Direct => LinkTransport::Direct,
                    },
                    None,
                ),
                (false, false) => (LinkTransport::Remote, None),
                (a_here, _) => {
                    let (local_end, mine, theirs) = if a_here {
                        (End::A, ha, hz)
                    } else {
                        (End::Z, hz, ha)
                    };
                    (
                        LinkTransport::CrossHost,
                        Some(CrossHost {
                            local_end,
                            local: std::net::SocketAddr::new(addr_of(mine), port),
                            peer_host: theirs.clone().unwrap_or_default(),
                            peer: std::net::SocketAddr::new(addr_of(theirs), port),
                        }),
                    )
                }
            };
            LinkPlan {
                index: l.index,
                a: l.a.clone(),
                z: l.z.clone(),
                port,
                transport,
                sockets: LinkSockets::new(&opts.lab_dir, l.index),
                impair: l.impair,
                cross,
            }
        })
        .collect();
    let mut nodes = Vec::with_capacity(lab.nodes.len());
    for (node, touches) in lab.nodes.iter().zip(&touching) {
        let nics = nics::plan_nics(lab.name.as_str(), node, touches);
        let paths = NodePaths::new(&opts.lab_dir, &node.name);
        let ssh_port = ports.ssh[node.index];
        let console_port = lab
            .settings
            .tcp_consoles
            .then_some(ports.console[node.index]);
        let argv = qemu::argv(&qemu::QemuInput {
            mgmt_addr: addr_of(&node.host),
            outbound: node.guest_outbound.unwrap_or(lab.settings.guest_outbound),
            qemu: &opts.qemu,
            lab: lab.name.as_str(),
            node,
            accel: opts.accel,
            ssh_port,
            console_port,
            nics: &nics,
            links: &links,
            paths: &paths,
        });
        let node_patches = node_patches(node, &nics);
        nodes.push(NodePlan {
            name: node.name.clone(),
            index: node.index,
            platform: node.platform.clone(),
            local: here(&node.host),
            mgmt_addr: addr_of(&node.host),
            image: node.image.clone(),
            memory_mb: node.memory_mb,
            cpus: node.cpus,
            ssh_port,
            console_port,
            host: node.host.clone(),
            credentials: node.credentials.clone(),
            boot_timeout_secs: node.boot_timeout_secs,
            ssh_key: node.ssh_key,
            device_type: node.device_type.clone(),
            host_ip: node.host_ip.clone(),
            boot_delay_secs: node.boot_delay_secs,
            wait_for: node.wait_for.clone(),
            profile: node.profile.clone(),
            nics,
            patches: node_patches,
            paths,
            argv,
        });
    }
    Ok(LabPlan {
        name: lab.name.clone(),
        spec_dir: lab.spec_dir.clone(),
        lab_dir: opts.lab_dir.clone(),
        accel: opts.accel,
        nodes,
        links,
        ports: ports.table,
        max_parallel_boots: lab.settings.max_parallel_boots,
        local_host: opts.local_host.clone(),
        cross_host_keyed: lab.settings.cross_host_keyed,
        port_bases: ports::PortBases::of(&lab.settings),
        patch_profiles: !lab.newtron,
        virtual_hosts,
        ports_moved: None,
        patches_dir: lab.settings.patches.clone(),
        patches_default: lab.settings.patches_default.clone(),
        boot_patches: Default::default(),
    })
}
