//! The topology's settings section (`vmlab`, or `newtlab` in newtron's spec directories): port
//! bases, boot limits, link mode, consoles, the cross-host check and the hosts.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::fields::{bounded, choice};
use crate::error::{SpecError, SpecErrors};
use crate::model::{LabSettings, LinkMode};

/// The keys of the `vmlab` section.
const KNOWN: &[&str] = &[
    "link_port_base",
    "console_port_base",
    "ssh_port_base",
    "ports",
    "max_parallel_boots",
    "cross_host_check",
    "consoles",
    "links",
    "hosts",
    "servers",
    "coalesce_hosts",
    "guest_network",
    "patches",
];

pub(super) fn resolve_settings(
    topo: &Map<String, Value>,
    path: &Path,
    errs: &mut SpecErrors,
) -> LabSettings {
    resolve_section(topo, path, errs)
}

/// `vmlab.patches`: the folder of boot patch sets, relative to the spec directory (or
/// absolute, or under `~`).
pub(super) fn patches_dir(
    topo: &Map<String, Value>,
    path: &Path,
    home: Option<&Path>,
    errs: &mut SpecErrors,
) -> Option<PathBuf> {
    let v = topo.get("vmlab")?.as_object()?.get("patches")?;
    let dir = path.parent().unwrap_or(Path::new("."));
    match v.as_str() {
        Some(p) if !p.is_empty() && crate::values::path(p).is_ok() => {
            Some(super::fields::expand_path(p, dir, home))
        }
        _ => {
            errs.push(SpecError::new(
                path,
                "vmlab.patches",
                format!("must be a folder's path, not {v}"),
                "write the folder that holds <dataplane>/always/*.json, for example \"patches\", \
                 or leave it out",
            ));
            None
        }
    }
}

fn resolve_section(topo: &Map<String, Value>, path: &Path, errs: &mut SpecErrors) -> LabSettings {
    let mut s = LabSettings::default();
    // newtron's own spec directories name this section "newtlab".
    let (key, section) = match (topo.get("vmlab"), topo.get("newtlab")) {
        (Some(v), _) => ("vmlab", v),
        (None, Some(v)) => ("newtlab", v),
        (None, None) => return s,
    };
    let Some(section) = section.as_object() else {
        errs.push(SpecError::new(
            path,
            key,
            "must be an object",
            "write the settings as {\"link_port_base\": 20000, ...}",
        ));
        return s;
    };
    if key == "vmlab" {
        // newtron's `newtlab` section carries keys of its own; ours must not hide a typo.
        for k in section.keys().filter(|k| !KNOWN.contains(&k.as_str())) {
            let near = KNOWN
                .iter()
                .find(|known| super::fields::close(k, known))
                .map(|known| format!("did you mean {known:?}? "))
                .unwrap_or_default();
            errs.push(SpecError::new(
                path,
                format!("vmlab.{k}"),
                "is not a vmlab setting",
                format!("{near}the settings are: {}", KNOWN.join(", ")),
            ));
        }
    }
    let found = |field: &str| super::fields::field(section, path, key, field);
    for (field, slot) in [
        ("link_port_base", &mut s.link_port_base),
        ("console_port_base", &mut s.console_port_base),
        ("ssh_port_base", &mut s.ssh_port_base),
    ] {
        let port = bounded(
            found(field),
            1..=65535,
            "a port number",
            "pick a free range, for example 20000",
            errs,
        );
        if let Some(p) = port {
            *slot = p as u32;
        }
    }
    if let Some(n) = bounded(
        found("max_parallel_boots"),
        1..=1024,
        "a whole number",
        "write how many nodes may boot at once, for example 2, or leave it out",
        errs,
    ) {
        s.max_parallel_boots = Some(n as u32);
    }
    if let Some(keyed) = choice(
        found("cross_host_check"),
        &[("keyed", true), ("none", false)],
        "leave it out (keyed: nothing on the network can inject frames)",
        errs,
    ) {
        s.cross_host_keyed = keyed;
    }
    if let Some(tcp) = choice(
        found("consoles"),
        &[("unix", false), ("tcp", true)],
        "leave it out (unix: only you reach the consoles) or write \"tcp\" for tools that \
         need a port",
        errs,
    ) {
        s.tcp_consoles = tcp;
    }
    if let Some(exact) = choice(
        found("ports"),
        &[("prefer", false), ("exact", true)],
        "leave it out (prefer: a lab whose ports are taken moves to the next free block) or \
         write \"exact\" to refuse instead",
        errs,
    ) {
        s.exact_ports = exact;
    }
    if let Some(outbound) = choice(
        found("guest_network"),
        &[("isolated", false), ("outbound", true)],
        "leave it out (isolated: guests reach nothing on this host) or write \"outbound\" \
         (guests reach the network and every service on this host's loopback)",
        errs,
    ) {
        s.guest_outbound = outbound;
    }
    match section.get("coalesce_hosts") {
        None | Some(Value::Null) => {}
        Some(Value::Bool(b)) => s.coalesce_hosts = Some(*b),
        Some(_) => errs.push(SpecError::new(
            path,
            format!("{key}.coalesce_hosts"),
            "must be true or false",
            "write true (hosts on one server share a VM) or false (a VM each)",
        )),
    }
    if let Some(mode) = choice(
        found("links"),
        &[("relay", LinkMode::Relay), ("direct", LinkMode::Direct)],
        "leave it out (relay: counters, down/up, impairments, capture) or write \"direct\"",
        errs,
    ) {
        s.links = mode;
    }
    hosts(section, key, path, &mut s, errs);
    servers(section, key, path, &mut s, errs);
    s
}

/// `hosts`: host name → address, each a name and one host's address, no address twice.
fn hosts(
    section: &Map<String, Value>,
    key: &str,
    path: &Path,
    s: &mut LabSettings,
    errs: &mut SpecErrors,
) {
    match section.get("hosts") {
        None | Some(Value::Null) => {}
        Some(Value::Object(h)) => {
            for (name, addr) in h {
                if let Err(why) = crate::name::check_name(name) {
                    errs.push(SpecError::new(
                        path,
                        format!("{key}.hosts"),
                        format!("host name {name:?} {why}"),
                        "name hosts with letters, digits, '.', '_' and '-'",
                    ));
                    continue;
                }
                match addr.as_str().map(|a| (a, a.parse::<std::net::IpAddr>())) {
                    Some((a, Ok(ip)))
                        if ip.is_unspecified()
                            || ip.is_multicast()
                            || ip == std::net::IpAddr::V4(std::net::Ipv4Addr::BROADCAST) =>
                    {
                        errs.push(SpecError::new(
                            path,
                            format!("{key}.hosts.{name}"),
                            format!("{a:?} is not one host's address"),
                            "write the address other hosts reach this one on, for example \
                             \"192.168.1.10\"",
                        ))
                    }
                    Some((a, Ok(ip))) if s.host_addr_taken(ip) => errs.push(SpecError::new(
                        path,
                        format!("{key}.hosts.{name}"),
                        format!("{a:?} is already the address of another host"),
                        "give each host its own address",
                    )),
                    Some((a, Ok(_))) => s.hosts.push((name.clone(), a.to_string())),
                    Some((a, Err(_))) => errs.push(SpecError::new(
                        path,
                        format!("{key}.hosts.{name}"),
                        format!("{a:?} is not an IP address"),
                        "write the host's IPv4 or IPv6 address, for example \"192.168.1.10\"",
                    )),
                    None => errs.push(SpecError::new(
                        path,
                        format!("{key}.hosts.{name}"),
                        "must be an address string",
                        "write the host's IP address, for example \"192.168.1.10\"",
                    )),
                }
            }
        }
        Some(_) => errs.push(SpecError::new(
            path,
            format!("{key}.hosts"),
            "must be an object of host name → address",
            "write {\"server-a\": \"192.168.1.10\"}",
        )),
    }
}

/// `servers` (newtron's pool): each a name, one host's address and an optional `max_nodes`;
/// each is a host too.
fn servers(
    section: &Map<String, Value>,
    key: &str,
    path: &Path,
    s: &mut LabSettings,
    errs: &mut SpecErrors,
) {
    match section.get("servers") {
        None | Some(Value::Null) => {}
        Some(Value::Array(list)) => {
            for (i, srv) in list.iter().enumerate() {
                let field = format!("{key}.servers[{i}]");
                let name = srv.get("name").and_then(Value::as_str).unwrap_or("");
                let addr = srv.get("address").and_then(Value::as_str).unwrap_or("");
                if let Err(why) = crate::name::check_name(name) {
                    errs.push(SpecError::new(
                        path,
                        format!("{field}.name"),
                        format!("server name {name:?} {why}"),
                        "name servers with letters, digits, '.', '_' and '-'",
                    ));
                    continue;
                }
                let ip = match addr.parse::<std::net::IpAddr>() {
                    Ok(ip) if !ip.is_unspecified() && !ip.is_multicast() => ip,
                    _ => {
                        errs.push(SpecError::new(
                            path,
                            format!("{field}.address"),
                            format!("{addr:?} is not one host's IP address"),
                            "write the address other servers reach this one on, for example \
                             \"192.168.1.10\"",
                        ));
                        continue;
                    }
                };
                if s.host_addr(name).is_some() || s.host_addr_taken(ip) {
                    errs.push(SpecError::new(
                        path,
                        &field,
                        format!("server {name} (or its address {addr}) is named twice"),
                        "give each server its own name and address",
                    ));
                    continue;
                }
                let max = match srv.get("max_nodes") {
                    None | Some(Value::Null) => None,
                    Some(v) => match v.as_u64() {
                        // newtron reads 0 as no limit.
                        Some(0) => None,
                        Some(n) if n <= u64::from(u32::MAX) => Some(n as u32),
                        _ => {
                            errs.push(SpecError::new(
                                path,
                                format!("{field}.max_nodes"),
                                "must be a whole number",
                                "write how many nodes it may run, for example 4 (0: no limit)",
                            ));
                            continue;
                        }
                    },
                };
                s.hosts.push((name.to_string(), addr.to_string()));
                s.servers.push((name.to_string(), max));
            }
        }
        Some(_) => errs.push(SpecError::new(
            path,
            format!("{key}.servers"),
            "must be a list of servers",
            "write [{\"name\": \"server-a\", \"address\": \"192.168.1.10\", \"max_nodes\": 4}]",
        )),
    }
}
