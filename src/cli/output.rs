//! What the commands print: plan, status and deploy summaries as plain-text tables.

use std::fmt::Write;

use comfy_table::presets::NOTHING;
use comfy_table::{Cell, Table};

use crate::engine::NodeStatus;
use crate::engine::lab::state::LabState;
use crate::engine::lab::status::LabStatus;
use crate::plan::{LabPlan, NicRole};

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
        "# lab {} ({} nodes, {} links)",
        plan.name,
        plan.nodes.len(),
        plan.links.len()
    );
    let _ = writeln!(s, "# lab directory: {}", plan.lab_dir.display());
    let _ = writeln!(s, "# accelerator: {}", plan.accel);
    let mut nodes = table(&[
        "NODE", "PLATFORM", "SSH", "CONSOLE", "NICS", "MEMORY", "CPUS",
    ]);
    for n in &plan.nodes {
        nodes.add_row(vec![
            n.name.clone(),
            n.platform.clone(),
            n.ssh_port.to_string(),
            n.console_port.to_string(),
            (n.nics.len() - 1).to_string(),
            format!("{} MB", n.memory_mb),
            n.cpus.to_string(),
        ]);
    }
    let _ = writeln!(s, "\n{nodes}");
    if !plan.links.is_empty() {
        let mut links = table(&["LINK", "A", "A NIC", "Z", "Z NIC", "PORT"]);
        for l in &plan.links {
            links.add_row(vec![
                l.index.to_string(),
                l.a.to_string(),
                format!("eth{}", l.a.nic),
                l.z.to_string(),
                format!("eth{}", l.z.nic),
                l.port.to_string(),
            ]);
        }
        let _ = writeln!(s, "\n{links}");
    }
    for n in &plan.nodes {
        let _ = writeln!(s, "\n# {}", n.name);
        for nic in &n.nics {
            let what = match &nic.role {
                NicRole::Management => "management (user networking, ssh forwarded)".to_string(),
                NicRole::Link {
                    iface,
                    peer,
                    listens,
                    ..
                } => format!(
                    "{iface} -- {peer} ({})",
                    if *listens { "listens" } else { "connects" }
                ),
                NicRole::Unconnected => "unconnected (fills the gap)".to_string(),
            };
            let _ = writeln!(
                s,
                "#   eth{:<2} {} pci {:#04x}  {what}",
                nic.index, nic.mac, nic.pci_slot
            );
        }
        for l in &n.listeners {
            let _ = writeln!(
                s,
                "#   fd {fd} (addr.type=fd,addr.str={fd}) is not a file: it is link {}'s listening \
                 socket on 127.0.0.1:{}, which vmlab binds and hands to this QEMU when it starts it",
                l.link,
                l.port,
                fd = l.fd
            );
        }
        let _ = writeln!(s, "{}", shell_words::join(&n.argv));
    }
    s
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
    let mut nodes = table(&[
        "NODE", "PLATFORM", "STATUS", "PID", "SSH", "CONSOLE", "HOST", "UPTIME",
    ]);
    for n in &st.nodes {
        nodes.add_row(vec![
            n.name.clone(),
            n.platform.clone(),
            match (n.status, n.stage) {
                (NodeStatus::Booting, Some(stage)) => {
                    format!("booting ({})", stage.label())
                }
                (s, _) => s.label().to_string(),
            },
            n.pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
            n.ssh_port.to_string(),
            n.console_port.to_string(),
            n.host.clone(),
            n.uptime_secs
                .map(human_duration)
                .unwrap_or_else(|| "-".into()),
        ]);
    }
    let _ = writeln!(s, "{nodes}");
    if !st.links.is_empty() {
        let mut links = table(&["A", "Z", "PORT", "STATE"]);
        for l in &st.links {
            links.add_row(vec![
                l.a.clone(),
                l.z.clone(),
                l.port.to_string(),
                l.state.label().to_string(),
            ]);
        }
        let _ = writeln!(s, "\n{links}");
    }
    s
}

/// After a successful deploy: how to reach each node.
pub fn deployed_text(state: &LabState) -> String {
    let mut s = String::new();
    let mut t = table(&["NODE", "SSH", "CONSOLE", "BOOT"]);
    for (name, n) in state.ordered_nodes() {
        t.add_row(vec![
            name.clone(),
            format!("127.0.0.1:{}", n.ssh_port),
            format!("127.0.0.1:{}", n.console_port),
            n.boot_seconds
                .map(|b| format!("{b:.1} s"))
                .unwrap_or_default(),
        ]);
    }
    let _ = writeln!(s, "{t}");
    let first = state.node_order.first().cloned().unwrap_or_default();
    let _ = writeln!(
        s,
        "\nlab {} is up: `vmlab ssh {first}`, `vmlab console {first}`, `vmlab status`, `vmlab destroy`",
        state.name
    );
    s
}

fn human_duration(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
        s => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}
