//! Port allocation (HLD §5.2): link ports by link index, console and SSH ports by node index.
//! Console ports are in the table (checked, bound) only with `vmlab.consoles: "tcp"`.

use vmlab_spec::{Lab, LabSettings, SpecError};

/// The first port of each block: the spec's bases, or the block the engine moved a lab to
/// when the spec's was taken (recorded in state).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PortBases {
    pub link: u32,
    pub console: u32,
    pub ssh: u32,
}

impl PortBases {
    pub fn of(s: &LabSettings) -> Self {
        PortBases {
            link: s.link_port_base,
            console: s.console_port_base,
            ssh: s.ssh_port_base,
        }
    }

    /// `lab` with these bases.
    pub fn apply(self, lab: &Lab) -> Lab {
        let mut lab = lab.clone();
        lab.settings.link_port_base = self.link;
        lab.settings.console_port_base = self.console;
        lab.settings.ssh_port_base = self.ssh;
        lab
    }

    /// The `step`th block after the spec's: the console and SSH bases each move by the lab's
    /// node count, so the blocks of labs of one spec sit side by side. (Link ports stay: a
    /// one-host lab binds none.) `None` once a block would end past 65535.
    pub fn moved(lab: &Lab, step: u32) -> Option<Self> {
        let n = lab.nodes.len().max(1) as u64;
        let s = Self::of(&lab.settings);
        let shift = u64::from(step) * n;
        let fits = |base: u32| u64::from(base) + shift + n - 1 <= 65535;
        (fits(s.console) && fits(s.ssh)).then(|| PortBases {
            link: s.link,
            console: (u64::from(s.console) + shift) as u32,
            ssh: (u64::from(s.ssh) + shift) as u32,
        })
    }
}

/// What a port is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortRole {
    /// A link's listening socket.
    Link { index: usize, a: String, z: String },
    /// A node's serial console.
    Console { node: String },
    /// A node's forwarded SSH port.
    Ssh { node: String },
}

impl std::fmt::Display for PortRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PortRole::Link { index, a, z } => write!(f, "link {index} ({a} -- {z})"),
            PortRole::Console { node } => write!(f, "console of {node}"),
            PortRole::Ssh { node } => write!(f, "ssh of {node}"),
        }
    }
}

/// One bound port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortUse {
    pub port: u16,
    pub role: PortRole,
}

/// Ports by index, and the whole table.
#[derive(Debug, Clone)]
pub struct Ports {
    pub link: Vec<u16>,
    pub console: Vec<u16>,
    pub ssh: Vec<u16>,
    pub table: Vec<PortUse>,
}

/// Allocates every port; errors name the base setting to change.
pub fn allocate(lab: &Lab) -> Result<Ports, Vec<SpecError>> {
    let topo = lab.spec_dir.join("topology.json");
    let mut errs = Vec::new();
    let s = &lab.settings;
    let mut one = |base: u32, count: usize, field: &str, what: &str| -> Vec<u16> {
        let last = u64::from(base) + count.saturating_sub(1) as u64;
        if count > 0 && last > 65535 {
            errs.push(SpecError::new(
                &topo,
                format!("vmlab.{field}"),
                format!("{count} {what} from port {base} would end at {last}, past 65535"),
                format!("lower {field} to at most {}", 65536 - count as u64),
            ));
            return vec![0; count];
        }
        (0..count).map(|i| (base as usize + i) as u16).collect()
    };
    let link = one(s.link_port_base, lab.links.len(), "link_port_base", "links");
    let console = one(
        s.console_port_base,
        lab.nodes.len(),
        "console_port_base",
        "consoles",
    );
    let ssh = one(
        s.ssh_port_base,
        lab.nodes.len(),
        "ssh_port_base",
        "ssh ports",
    );
    if !errs.is_empty() {
        return Err(errs);
    }
    let mut table = Vec::with_capacity(link.len() + 2 * lab.nodes.len());
    for l in &lab.links {
        table.push(PortUse {
            port: link[l.index],
            role: PortRole::Link {
                index: l.index,
                a: l.a.to_string(),
                z: l.z.to_string(),
            },
        });
    }
    for n in &lab.nodes {
        // Consoles on unix sockets (the default) use no port.
        if s.tcp_consoles {
            table.push(PortUse {
                port: console[n.index],
                role: PortRole::Console {
                    node: n.name.clone(),
                },
            });
        }
        table.push(PortUse {
            port: ssh[n.index],
            role: PortRole::Ssh {
                node: n.name.clone(),
            },
        });
    }
    table.sort_by_key(|p| p.port);
    for pair in table.windows(2) {
        if pair[0].port == pair[1].port {
            errs.push(SpecError::new(
                &topo,
                "vmlab",
                format!(
                    "port {} would serve both the {} and the {}",
                    pair[0].port, pair[0].role, pair[1].role
                ),
                "move link_port_base, console_port_base and ssh_port_base apart so the ranges do not overlap",
            ));
        }
    }
    if errs.is_empty() {
        Ok(Ports {
            link,
            console,
            ssh,
            table,
        })
    } else {
        Err(errs)
    }
}
