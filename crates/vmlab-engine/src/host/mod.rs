//! Hosts of a multi-host lab: which host this machine is, running vmlab on the others over
//! SSH ([`remote`]), carrying the spec and the lab key to them ([`transfer`]), and the
//! commands that drive every host at once ([`all`]: `deploy`, `destroy` and `status` with
//! `--all-hosts`); and the same lab as shards on Kubernetes ([`k8s`]: the export's manifests,
//! and a shard's spec made inside its pod).
//!
//! Each host deploys and owns only its own nodes (`vmlab deploy --host NAME`, in its own
//! `$VMLAB_HOME`); the plan is the same on every host because indices and ports are global.
//! Nothing here reaches into another host's files: what another host does, it does itself,
//! asked over SSH.

pub mod all;
pub mod call;
pub mod k8s;
pub mod remote;
pub mod transfer;

use std::net::IpAddr;

use crate::error::EngineError;
use crate::netstat;
use crate::spec::{Lab, SpecError, SpecErrors};

/// One host of a lab, as this machine sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostTarget {
    pub name: String,
    pub addr: IpAddr,
    /// This machine: its part runs in this process, not over SSH.
    pub local: bool,
}

/// The lab's hosts, with this machine marked: the host named by `me` (`--host`), else the one
/// host whose address is this machine's (none: every host is reached over SSH).
pub fn targets(lab: &Lab, me: Option<&str>) -> Result<Vec<HostTarget>, EngineError> {
    let topo = lab.spec_dir.join("topology.json");
    let hosts: Vec<(String, IpAddr)> = lab
        .settings
        .hosts
        .iter()
        .filter_map(|(n, _)| lab.settings.host_addr(n).map(|a| (n.clone(), a)))
        .collect();
    if hosts.is_empty() || lab.nodes.iter().all(|n| n.host.is_none()) {
        return Err(EngineError::Invalid(SpecErrors::from(SpecError::new(
            &topo,
            "vmlab.hosts",
            "this lab does not place its nodes on hosts",
            "--all-hosts is for multi-host labs: set vmlab.hosts and each profile's vm_host, \
             or deploy without --all-hosts",
        ))));
    }
    let me = match me {
        Some(m) if hosts.iter().any(|(n, _)| n == m) => Some(m.to_string()),
        Some(m) => {
            return Err(EngineError::Invalid(SpecErrors::from(SpecError::new(
                &topo,
                "vmlab.hosts",
                format!("--host {m:?} is not a host of this lab"),
                format!(
                    "use one of: {}",
                    hosts
                        .iter()
                        .map(|(n, _)| n.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ))));
        }
        None => {
            let here: Vec<&(String, IpAddr)> = hosts
                .iter()
                .filter(|(_, a)| netstat::address_is_local(*a))
                .collect();
            match here.as_slice() {
                [] => None,
                [(n, _)] => Some(n.clone()),
                many => {
                    return Err(EngineError::Invalid(SpecErrors::from(SpecError::new(
                        &topo,
                        "vmlab.hosts",
                        format!(
                            "the addresses of several hosts are this machine's ({})",
                            many.iter()
                                .map(|(n, a)| format!("{n} {a}"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                        "say which host this machine is with --host <name>",
                    ))));
                }
            }
        }
    };
    Ok(hosts
        .into_iter()
        .map(|(name, addr)| HostTarget {
            local: me.as_deref() == Some(name.as_str()),
            name,
            addr,
        })
        .collect())
}
