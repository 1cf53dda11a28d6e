//! What the commands print: plan, status and deploy summaries as plain-text tables.

use std::fmt::Write;

use crate::present;

use comfy_table::presets::NOTHING;
use comfy_table::{Cell, Table};

use crate::engine::api::{
    BootStage, Check, HostView, ImageRow, LabState, LabStatus, LinkState, NodeStatus, Snapshot,
    count,
};
use crate::plan::{End, LabPlan, LinkTransport, NicRole};

fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(NOTHING);
    t.set_header(header.iter().map(Cell::new));
    t
}

/// `--dry-run`: the port table, the links and every node's QEMU command line.
pub fn plan_text(plan: &LabPlan) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# lab {} ({}, {})",
        plan.name,
        count(plan.nodes.len(), "node"),
        count(plan.links.len(), "link")
    );
    let _ = writeln!(s, "# lab directory: {}", plan.lab_dir.display());
    let _ = writeln!(s, "# accelerator: {}", plan.accel);
    if let Some(why) = &plan.ports_moved {
        let _ = writeln!(s, "# ports: {why}");
    }
    if let Some(h) = &plan.local_host {
        let _ = writeln!(
            s,
            "# host: {h} (runs {} of the {} nodes; the other hosts deploy theirs)",
            plan.local_nodes().count(),
            plan.nodes.len()
        );
    }
    let mut nodes = table(&[
        "NODE", "PLATFORM", "HOST", "SSH", "CONSOLE", "NICS", "MEMORY", "CPUS",
    ]);
    for n in &plan.nodes {
        nodes.add_row(vec![
            n.name.clone(),
            n.platform.clone(),
            match (&n.host, n.local) {
                (None, _) => "localhost".to_string(),
                (Some(h), true) => format!("{h} (here)"),
                (Some(h), false) => h.clone(),
            },
            format!("{}:{}", n.mgmt_addr, n.ssh_port),
            console_cell(n.console_port),
            (n.nics.len() - 1).to_string(),
            format!("{} MB", n.memory_mb),
            n.cpus.to_string(),
        ]);
    }
    let _ = writeln!(s, "\n{nodes}");
    if !plan.links.is_empty() {
        let mut links = table(&["LINK", "A", "A NIC", "Z", "Z NIC", "WIRED", "IMPAIRMENTS"]);
        for l in &plan.links {
            links.add_row(vec![
                l.index.to_string(),
                l.a.to_string(),
                format!("eth{}", l.a.nic),
                l.z.to_string(),
                format!("eth{}", l.z.nic),
                match (&l.transport, &l.cross) {
                    (LinkTransport::Relay, _) => "relay".to_string(),
                    (LinkTransport::Direct, _) => "direct".to_string(),
                    (LinkTransport::CrossHost, Some(c)) => {
                        format!("to host {} (udp {} → {})", c.peer_host, c.local, c.peer)
                    }
                    (LinkTransport::CrossHost, None) => "to another host".to_string(),
                    (LinkTransport::Remote, _) => "elsewhere".to_string(),
                },
                present::impair_text(&l.impair),
            ]);
        }
        let _ = writeln!(s, "\n{links}");
        let _ = writeln!(
            s,
            "# each link end is a unix datagram socket in {}: <link><end>.vm is the VM's own, \
             <link><end>.rl the relay's; no ports are bound for links",
            plan.lab_dir.join("links").display()
        );
    }
    for n in &plan.nodes {
        if !n.local {
            let _ = writeln!(
                s,
                "\n# {} runs on host {}",
                n.name,
                n.host.as_deref().unwrap_or("?")
            );
            continue;
        }
        let _ = writeln!(s, "\n# {}", n.name);
        for nic in &n.nics {
            let what = match &nic.role {
                NicRole::Management => "management (user networking, ssh forwarded)".to_string(),
                NicRole::Link {
                    iface,
                    peer,
                    link,
                    end,
                } => format!(
                    "{iface} -- {peer} (link {link}, end {})",
                    match end {
                        End::A => "a",
                        End::Z => "z",
                    }
                ),
                NicRole::Unconnected => "unconnected (fills the gap)".to_string(),
            };
            let _ = writeln!(
                s,
                "#   eth{:<2} {} pci {:#04x}  {what}",
                nic.index, nic.mac, nic.pci_slot
            );
        }
        let _ = writeln!(s, "{}", shell_words::join(&n.argv));
        if let Some(rendered) = plan.boot_patches.get(&n.name) {
            boot_patches_text(&mut s, rendered);
        }
    }
    s
}

/// A node's boot patches as `--dry-run` shows them: each patch, then every command the guest
/// will run and every file it will write, rendered.
fn boot_patches_text(s: &mut String, rendered: &[crate::plan::patches::Rendered]) {
    use crate::plan::patches::Step;
    let _ = writeln!(
        s,
        "# boot patches ({}), applied over SSH after every boot, before the node is ready:",
        rendered.len()
    );
    for (i, p) in rendered.iter().enumerate() {
        let _ = writeln!(s, "#   {}. {} — {}", i + 1, p.file, p.description);
        for step in &p.steps {
            let (remote, _) = step.remote();
            match step {
                Step::Write { content, .. } => {
                    let _ = writeln!(s, "#      $ {remote}   <<< {}", step.describe());
                    for line in content.lines() {
                        let _ = writeln!(s, "#      | {line}");
                    }
                }
                Step::Disable { .. } => {
                    let _ = writeln!(s, "#      $ {remote}   (a missing file is no failure)");
                }
                _ => {
                    let _ = writeln!(s, "#      $ {remote}");
                }
            }
        }
    }
}

/// `vmlab status`: node and link tables.
pub fn status_text(st: &LabStatus) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "lab {} ({}, {})",
        st.name,
        st.accel,
        st.lab_dir.display()
    );
    if let Some(why) = &st.ports_moved {
        let _ = writeln!(s, "ports: {why}");
    }
    let mut nodes = table(&[
        "NODE", "PLATFORM", "STATUS", "PID", "SSH", "CONSOLE", "HOST", "UPTIME",
    ]);
    for n in &st.nodes {
        nodes.add_row(vec![
            n.name.clone(),
            n.platform.clone(),
            match (n.status, n.stage) {
                (NodeStatus::Booting, Some(BootStage::Patching)) => match n.patch {
                    Some([i, of]) => format!("booting (patching {i}/{of})"),
                    None => "booting (patching)".to_string(),
                },
                (NodeStatus::Booting, Some(stage)) => {
                    format!("booting ({})", stage.label())
                }
                (NodeStatus::Pending, _) if n.waiting.is_some() => {
                    format!("pending ({})", n.waiting.clone().unwrap_or_default())
                }
                (s, _) if n.vm.is_some() => {
                    format!("{} (in {})", s.label(), n.vm.clone().unwrap_or_default())
                }
                (s, _) => s.label().to_string(),
            },
            n.pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
            n.ssh_port.to_string(),
            match &n.vm {
                Some(vm) => format!("{vm}'s"),
                None => console_cell(n.console_port),
            },
            n.host.clone(),
            n.uptime_secs
                .map(human_duration)
                .unwrap_or_else(|| "-".into()),
        ]);
    }
    let _ = writeln!(s, "{nodes}");
    if !st.links.is_empty() {
        let _ = writeln!(s, "\n{}", links_text(st));
    }
    if !st.repair.is_empty() {
        let _ = writeln!(
            s,
            "\nneeds repair: {}; run `vmlab repair --lab {}`",
            st.repair.join(", "),
            st.name
        );
    }
    s
}

/// `vmlab links` (and the links part of `status`): state, guest interfaces, counters and
/// rates each way, drops, impairments, and the relay, in the words every front end shares
/// (`crate::present`).
pub fn links_text(st: &LabStatus) -> String {
    let mut links = table(&present::LINK_HEADER);
    for l in &st.links {
        let c = present::link_cells(l);
        links.add_row(vec![
            c.index,
            c.a,
            c.z,
            c.state,
            c.a_to_z,
            c.z_to_a,
            c.dropped,
            c.impairments,
        ]);
    }
    format!("{links}\n{}", present::relay_line(st))
}

pub use present::human_bytes;

/// A console column: its TCP port, or `unix` for a console on the lab's unix socket.
pub fn console_cell(port: Option<u16>) -> String {
    port.map_or_else(|| "unix".into(), |p| p.to_string())
}

/// After a successful deploy: how to reach each node.
pub fn deployed_text(state: &LabState) -> String {
    let mut s = String::new();
    let mut t = table(&["NODE", "SSH", "CONSOLE", "BOOT"]);
    for (name, n) in state
        .ordered_nodes()
        .filter(|(_, n)| n.status != NodeStatus::Remote)
    {
        t.add_row(vec![
            name.clone(),
            format!("{}:{}", n.mgmt_addr, n.ssh_port),
            match n.console_port {
                Some(p) => format!("127.0.0.1:{p}"),
                None => format!("vmlab console {name}"),
            },
            n.boot_seconds
                .map(|b| format!("{b:.1} s"))
                .unwrap_or_default(),
        ]);
    }
    let _ = writeln!(s, "{t}");
    let first = state
        .ordered_nodes()
        .find(|(_, n)| n.status != NodeStatus::Remote)
        .map(|(name, _)| name.clone())
        .unwrap_or_default();
    match &state.host {
        Some(h) => {
            let _ = writeln!(
                s,
                "\nlab {} is up on host {h} ({} of its {} nodes): `vmlab ssh {first}`, \
                 `vmlab status`, `vmlab destroy`; the other hosts deploy their own",
                state.name,
                state
                    .nodes
                    .values()
                    .filter(|n| n.status != NodeStatus::Remote)
                    .count(),
                state.nodes.len()
            );
        }
        None => {
            let _ = writeln!(
                s,
                "\nlab {} is up: `vmlab ssh {first}`, `vmlab console {first}`, `vmlab status`, `vmlab destroy`",
                state.name
            );
        }
    }
    s
}

/// `vmlab doctor`: one row per check.
pub fn doctor_text(checks: &[Check]) -> String {
    let mut t = table(&["CHECK", "", "FOUND", "FIX"]);
    // Long findings and fixes wrap to the terminal (or 120 columns in a log).
    t.set_content_arrangement(comfy_table::ContentArrangement::Dynamic);
    if t.width().is_none() {
        t.set_width(120);
    }
    for c in checks {
        t.add_row(vec![
            c.name.clone(),
            c.verdict.label().to_string(),
            c.found.clone(),
            c.fix.clone().unwrap_or_default(),
        ]);
    }
    t.to_string()
}

/// `vmlab labs`: name, nodes running, spec directory.
pub fn labs_text(rows: &[serde_json::Value]) -> String {
    let mut t = table(&["LAB", "RUNNING", "SPEC DIR"]);
    for r in rows {
        t.add_row(vec![
            r["name"].as_str().unwrap_or_default().to_string(),
            format!("{}/{}", r["running"], r["nodes"]),
            r["spec_dir"].as_str().unwrap_or_default().to_string(),
        ]);
    }
    t.to_string()
}

/// `vmlab status --all-hosts`: every host's own nodes in one table, then each link as the
/// hosts of its ends see it, then the hosts that could not be asked.
pub fn all_hosts_text(name: &crate::spec::LabName, views: &[HostView]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "lab {name} on {} hosts", views.len());
    let mut nodes = table(&["NODE", "HOST", "STATUS", "PID", "SSH", "CONSOLE", "UPTIME"]);
    let mut links = table(&["LINK", "A", "Z", "SEEN FROM", "STATE", "DROPPED"]);
    let mut problems = Vec::new();
    for v in views {
        let Some(st) = &v.status else {
            problems.push(format!(
                "{} ({}): {}",
                v.host,
                v.address,
                v.error.as_deref().unwrap_or("no answer")
            ));
            continue;
        };
        for n in st.nodes.iter().filter(|n| n.status != NodeStatus::Remote) {
            nodes.add_row(vec![
                n.name.clone(),
                v.host.clone(),
                n.status.label().to_string(),
                n.pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
                format!("{}:{}", v.address, n.ssh_port),
                console_cell(n.console_port),
                n.uptime_secs
                    .map(human_duration)
                    .unwrap_or_else(|| "-".into()),
            ]);
        }
        for l in st.links.iter().filter(|l| l.state != LinkState::Remote) {
            links.add_row(vec![
                l.index.to_string(),
                l.a.clone(),
                l.z.clone(),
                v.host.clone(),
                present::state_text(l),
                present::link_cells(l).dropped,
            ]);
        }
    }
    let _ = writeln!(s, "{nodes}\n\n{links}");
    for p in problems {
        let _ = writeln!(s, "\nnot known: {p}");
    }
    s
}

fn human_duration(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
        s => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// `vmlab snapshot --list`.
pub fn snapshots_text(snaps: &[Snapshot]) -> String {
    if snaps.is_empty() {
        return "no snapshots (take one with `vmlab snapshot --name <name>`)".into();
    }
    let mut t = table(&["NAME", "TAKEN", "PAUSED", "NODES", "MEMORY STATE"]);
    for s in snaps {
        let bytes: u64 = s.nodes.iter().filter_map(|n| n.vm_state_bytes).sum();
        t.add_row(vec![
            s.name.clone(),
            s.taken.clone(),
            format!("{:.2} s", s.paused_secs),
            s.nodes
                .iter()
                .map(|n| n.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            human_bytes(bytes),
        ]);
    }
    t.to_string()
}

/// `vmlab image list`.
pub fn images_text(rows: &[ImageRow]) -> String {
    if rows.is_empty() {
        return "no images (import one with `vmlab image import <file>`)".into();
    }
    let mut t = table(&["NAME", "FORMAT", "ON DISK", "VIRTUAL", "USED BY", "PATH"]);
    for r in rows {
        t.add_row(vec![
            r.name.clone(),
            r.format.clone().unwrap_or_else(|| "?".into()),
            human_bytes(r.size),
            r.virtual_size
                .map(human_bytes)
                .unwrap_or_else(|| "-".into()),
            if r.used_by.is_empty() {
                "-".into()
            } else {
                r.used_by.join(", ")
            },
            format!(
                "{}{}",
                r.path.display(),
                if r.managed {
                    ""
                } else {
                    " (outside the images folder)"
                }
            ),
        ]);
    }
    t.to_string()
}
