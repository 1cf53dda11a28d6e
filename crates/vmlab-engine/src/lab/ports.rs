//! Where a one-host lab's ports go. The spec's port bases are a preference: when something
//! holds a port of the spec's block (another vmlab lab, running or stopped, or any other
//! program), the lab moves to the next free block of the same size and the plan says who held
//! the preferred one. `vmlab.ports: "exact"` keeps the spec's block (and the preflight's
//! refusal), and so does a multi-host lab: its hosts must agree on one block, and each host
//! deploys its part on its own.

use std::collections::{BTreeMap, BTreeSet};

use super::LabDir;
use super::find;
use super::state::LabState;
use crate::netstat;
use crate::plan::ports::PortBases;
use crate::plan::{self, LabPlan, PlanOptions, PortRole};
use crate::spec::{Lab, LabName, SpecError};

/// How many blocks past the spec's a lab may move before the preflight refuses instead.
const MAX_MOVES: u32 = 64;

/// The ports every other deployed lab recorded, with the lab: a running one's, and a stopped
/// one's too (its nodes take their ports back when they start).
pub fn claimed_by_others(me: &LabName) -> BTreeMap<u16, LabName> {
    let mut out = BTreeMap::new();
    for name in find::list().into_iter().filter(|n| n != me) {
        let Ok(state) = LabState::load(&LabDir::of(name.clone())) else {
            continue;
        };
        for n in state
            .nodes
            .values()
            .filter(|n| n.status != crate::node::NodeStatus::Remote)
        {
            out.insert(n.ssh_port, name.clone());
            if let Some(c) = n.console_port {
                out.insert(c, name.clone());
            }
        }
        for l in state
            .links
            .iter()
            .filter(|l| l.transport == plan::LinkTransport::CrossHost)
        {
            out.insert(l.port, name.clone());
        }
    }
    out
}

/// Who holds `port`: another lab, or a process this user can see.
pub fn holder_of(port: u16, claimed: &BTreeMap<u16, LabName>) -> Option<String> {
    claimed
        .get(&port)
        .map(|l| format!("lab {l}"))
        .or_else(|| netstat::holder(port))
}

/// The plan for `spec`, its ports placed: the block `lab` recorded at its last deploy if it is
/// still free, else the spec's if it is free, else the first free block after it. When none
/// is free (or the lab's ports are exact) the spec's plan comes back and the preflight names
/// what holds its ports.
pub fn place(
    spec: &Lab,
    lab: &LabDir,
    opts: &PlanOptions,
    own: &BTreeSet<u16>,
    claimed: &BTreeMap<u16, LabName>,
) -> Result<LabPlan, Vec<SpecError>> {
    let first = plan::build(spec, opts)?;
    if spec.settings.exact_ports || !spec.settings.hosts.is_empty() {
        return Ok(first);
    }
    let taken = |p: &LabPlan| -> Vec<u16> {
        let mut t: Vec<u16> = busy(p, own).into_iter().map(|b| b.port).collect();
        t.extend(
            p.ports
                .iter()
                .filter(|u| matches!(u.role, PortRole::Ssh { .. } | PortRole::Console { .. }))
                .filter(|u| claimed.contains_key(&u.port))
                .map(|u| u.port),
        );
        t.sort_unstable();
        t.dedup();
        t
    };
    let recorded = LabState::load(lab)
        .ok()
        .and_then(|s| s.ports.map(|b| (b, s.ports_moved)));
    if let Some((bases, why)) = recorded.filter(|(b, _)| *b != first.port_bases)
        && let Ok(mut p) = plan::build(&bases.apply(spec), opts)
        && taken(&p).is_empty()
    {
        p.ports_moved = why;
        return Ok(p);
    }
    let busy = taken(&first);
    if busy.is_empty() {
        return Ok(first);
    }
    for step in 1..=MAX_MOVES {
        let Some(bases) = PortBases::moved(spec, step) else {
            break;
        };
        let Ok(mut p) = plan::build(&bases.apply(spec), opts) else {
            continue;
        };
        if taken(&p).is_empty() {
            p.ports_moved = Some(moved_note(&first, &p, &busy, claimed));
            return Ok(p);
        }
    }
    Ok(first)
}

/// "the spec's ssh ports 40000–40003 are taken (by lab demo); using 40004–40007".
fn moved_note(
    first: &LabPlan,
    chosen: &LabPlan,
    busy: &[u16],
    claimed: &BTreeMap<u16, LabName>,
) -> String {
    let mut holders: Vec<String> = Vec::new();
    // Naming a process walks /proc: a few ports say enough.
    for p in busy.iter().take(4) {
        let h = holder_of(*p, claimed).unwrap_or_else(|| "another program".into());
        if !holders.contains(&h) {
            holders.push(h);
        }
    }
    if busy.len() > 4 && !holders.iter().any(|h| h.starts_with("lab ")) {
        holders.push("others".into());
    }
    format!(
        "the spec's {} are taken (by {}); this lab uses {} (write vmlab.ports: \"exact\" to \
         refuse instead)",
        blocks(first),
        holders.join(", "),
        blocks(chosen)
    )
}

/// "ssh ports 40000–40003, console ports 30000–30003".
pub fn blocks(plan: &LabPlan) -> String {
    let span = |ports: Vec<u16>| match (ports.iter().min(), ports.iter().max()) {
        (Some(a), Some(b)) if a == b => a.to_string(),
        (Some(a), Some(b)) => format!("{a}–{b}"),
        _ => String::new(),
    };
    let ssh: Vec<u16> = plan.local_nodes().map(|n| n.ssh_port).collect();
    let console: Vec<u16> = plan.local_nodes().filter_map(|n| n.console_port).collect();
    let mut out = format!("ssh ports {}", span(ssh));
    if !console.is_empty() {
        out.push_str(&format!(", console ports {}", span(console)));
    }
    out
}

/// A port this host's part of the plan would bind that something else holds now.
pub struct Busy {
    pub port: u16,
    pub role: PortRole,
    /// The setting its block comes from (`ssh_port_base`, …).
    pub base: &'static str,
    pub addr: std::net::IpAddr,
    pub udp: bool,
}

/// The ports of `plan` this host binds (SSH forwards, TCP consoles, the relay's ports of links
/// between hosts) that cannot be bound now and are not among `own`.
pub fn busy(plan: &LabPlan, own: &BTreeSet<u16>) -> Vec<Busy> {
    let mgmt_of: std::collections::HashMap<&str, std::net::IpAddr> = plan
        .local_nodes()
        .map(|n| (n.name.as_str(), n.mgmt_addr))
        .collect();
    let loopback = std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
    let mut out = Vec::new();
    for p in plan.ports.iter().filter(|p| !own.contains(&p.port)) {
        let (base, addr, udp) = match &p.role {
            PortRole::Link { index, .. } => {
                // Only a link between hosts uses its port (UDP, on this host's address).
                match plan.links.get(*index).and_then(|l| l.cross.as_ref()) {
                    Some(c) => ("link_port_base", c.local.ip(), true),
                    None => continue,
                }
            }
            PortRole::Console { node } if mgmt_of.contains_key(node.as_str()) => {
                ("console_port_base", loopback, false)
            }
            PortRole::Ssh { node } => match mgmt_of.get(node.as_str()) {
                Some(a) => ("ssh_port_base", *a, false),
                None => continue,
            },
            PortRole::Console { .. } => continue,
        };
        let free = if udp {
            netstat::udp_port_free(addr, p.port)
        } else {
            netstat::port_free_on(addr, p.port)
        };
        if !free {
            out.push(Busy {
                port: p.port,
                role: p.role.clone(),
                base,
                addr,
                udp,
            });
        }
    }
    out
}
