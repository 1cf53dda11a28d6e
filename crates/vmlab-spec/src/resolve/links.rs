//! The topology's links: both ends checked against the nodes and their interface maps, each
//! interface on one link at most, the transport, and declared impairments.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde_json::{Map, Value};

use super::fields::MAX_NIC_INDEX;
use super::fields::type_name;
use crate::error::{SpecError, SpecErrors};
use crate::impair::{self, Directions, Impairment};
use crate::model::{Endpoint, Link, LinkImpair, LinkMode, Node};

pub(super) fn resolve_links(
    topo: &Map<String, Value>,
    path: &Path,
    known: &[&str],
    nodes: &[Node],
    mode: LinkMode,
    errs: &mut SpecErrors,
) -> Vec<Link> {
    let mut links = Vec::new();
    let list = match topo.get("links") {
        None | Some(Value::Null) => return links,
        Some(Value::Array(l)) => l,
        Some(_) => {
            errs.push(SpecError::new(
                path,
                "links",
                "must be an array",
                "write [{\"a\": \"dev:Ethernet0\", \"z\": \"dev:Ethernet0\"}, ...]",
            ));
            return links;
        }
    };
    // (node, iface) → the field that first used it; (node, nic) → the field that placed it.
    let mut used: HashMap<(String, String), String> = HashMap::new();
    let mut nics: HashMap<(String, u32), String> = HashMap::new();
    let by_name: HashMap<&str, &Node> = nodes.iter().map(|n| (n.name.as_str(), n)).collect();
    let known_set: std::collections::HashSet<&str> = known.iter().copied().collect();
    for (i, l) in list.iter().enumerate() {
        let mut ends = Vec::with_capacity(2);
        for side in ["a", "z"] {
            let field = format!("links[{i}].{side}");
            let Some(s) = l.get(side).and_then(Value::as_str) else {
                errs.push(SpecError::new(
                    path,
                    &field,
                    "missing or not a string",
                    "write \"device:Interface\", for example \"leaf1:Ethernet0\"",
                ));
                continue;
            };
            let Some((dev, iface)) = s
                .split_once(':')
                .filter(|(d, i)| !d.is_empty() && !i.is_empty())
            else {
                errs.push(SpecError::new(
                    path,
                    &field,
                    format!("{s:?} is not device:interface"),
                    "write \"device:Interface\", for example \"leaf1:Ethernet0\"",
                ));
                continue;
            };
            if !known_set.contains(dev) {
                errs.push(SpecError::new(
                    path,
                    &field,
                    format!("unknown device {dev:?}"),
                    format!("use a device from \"devices\" ({})", known.join(", ")),
                ));
                continue;
            }
            let key = (dev.to_string(), iface.to_string());
            if let Some(first) = used.get(&key) {
                errs.push(SpecError::new(
                    path,
                    &field,
                    format!("interface {s} is already on {first}"),
                    "give each interface at most one link",
                ));
                continue;
            }
            used.insert(key, field.clone());
            // The node may have failed to resolve (already reported): skip NIC placement.
            let Some(node) = by_name.get(dev) else {
                continue;
            };
            let nic = match node.interface_map.nic_for(iface) {
                Ok(n) => n,
                Err(why) => {
                    errs.push(SpecError::new(
                        path,
                        &field,
                        format!("{why} (device {dev}, platform {})", node.platform),
                        match node.interface_map {
                            crate::InterfaceMap::Ports(_) => format!(
                                "use a port of platform {}'s ports[], or add it there",
                                node.platform
                            ),
                            _ => "use an interface name the platform's vm_interface_map can place"
                                .into(),
                        },
                    ));
                    continue;
                }
            };
            if nic > MAX_NIC_INDEX {
                errs.push(SpecError::new(
                    path,
                    &field,
                    format!(
                        "{s} needs data NIC {nic}, but a VM has at most {MAX_NIC_INDEX} data NICs"
                    ),
                    "use a lower-numbered interface",
                ));
                continue;
            }
            if let Some(first) = nics.get(&(dev.to_string(), nic)) {
                errs.push(SpecError::new(
                    path,
                    &field,
                    format!("{s} maps to NIC {nic}, which {first} already uses"),
                    "fix vm_interface_map_custom so each interface has its own NIC",
                ));
                continue;
            }
            nics.insert((dev.to_string(), nic), field.clone());
            ends.push(Endpoint {
                node: dev.to_string(),
                iface: iface.to_string(),
                nic,
            });
        }
        let impair = resolve_impair(l.get("impair"), path, &format!("links[{i}].impair"), errs);
        let mode = match l.get("transport") {
            None | Some(Value::Null) => mode,
            Some(Value::String(m)) if m == "relay" => LinkMode::Relay,
            Some(Value::String(m)) if m == "direct" => LinkMode::Direct,
            Some(other) => {
                errs.push(SpecError::new(
                    path,
                    format!("links[{i}].transport"),
                    format!("must be \"relay\" or \"direct\", not {other}"),
                    "leave it out to use the lab's vmlab.links, or write \"direct\"",
                ));
                mode
            }
        };
        if mode == LinkMode::Direct && !impair.is_clean() {
            errs.push(SpecError::new(
                path,
                format!("links[{i}].impair"),
                "a direct link has nothing between its ends to impair it",
                "remove \"impair\", or let the link go through the relay",
            ));
        }
        if let (Some(z), Some(a), true) = (ends.pop(), ends.pop(), ends.is_empty()) {
            links.push(Link {
                index: i,
                a,
                z,
                impair,
                mode,
            });
        }
    }
    links
}

/// `links[i].impair`: `{"delay": "20ms", "jitter": "5ms", "loss": "1%", "rate": "10mbit",
/// "direction": "both"}`, every field optional.
pub(super) fn resolve_impair(
    v: Option<&Value>,
    path: &Path,
    field: &str,
    errs: &mut SpecErrors,
) -> LinkImpair {
    let mut out = LinkImpair::default();
    let obj = match v {
        None | Some(Value::Null) => return out,
        Some(Value::Object(o)) => o,
        Some(other) => {
            errs.push(SpecError::new(
                path,
                field,
                format!("must be an object, not {}", type_name(other)),
                "write {\"delay\": \"20ms\", \"loss\": \"1%\"}",
            ));
            return out;
        }
    };
    let mut one = Impairment::default();
    let mut dirs = Directions::Both;
    for (k, v) in obj {
        let f = format!("{field}.{k}");
        let Some(text) = v.as_str() else {
            errs.push(SpecError::new(
                path,
                &f,
                format!("must be a string, not {v}"),
                "quote it, for example \"20ms\"",
            ));
            continue;
        };
        let r = match k.as_str() {
            "delay" => impair::parse_duration(text).map(|us| one.delay_us = us),
            "jitter" => impair::parse_duration(text).map(|us| one.jitter_us = us),
            "loss" => impair::parse_loss(text).map(|ppm| one.loss_ppm = ppm),
            "rate" => impair::parse_rate(text).map(|bps| one.rate_bps = bps),
            "direction" => Directions::parse(text).map(|d| dirs = d),
            _ => Err(format!("{k:?} is not an impairment")),
        };
        if let Err(why) = r {
            errs.push(SpecError::new(
                path,
                &f,
                why,
                "use delay, jitter (20ms), loss (1%), rate (10mbit) and direction (a-to-z, \
                 z-to-a, both)",
            ));
        }
    }
    for d in dirs.list() {
        *out.get_mut(d) = one;
    }
    out
}

/// A link can also be written on a device, as `devices.<d>.interfaces.<i>.link` (newtron's
/// layout writes both). The two places must agree: a link declared on an interface that
/// `links` does not hold (or holds differently), or an unknown end, is an error naming both
/// places. Nothing is wired from these declarations alone: `links` is what is wired. A link of
/// `links` that an interface does not declare is fine: specs document some interfaces only.
pub(super) fn check_declared_links(
    topo: &Map<String, Value>,
    path: &Path,
    known: &[&str],
    errs: &mut SpecErrors,
) {
    let Some(devices) = topo.get("devices").and_then(Value::as_object) else {
        return;
    };
    // Each end in `links`, with its other end and the entry that holds it.
    let mut listed: BTreeMap<String, (String, String)> = BTreeMap::new();
    for (i, l) in topo
        .get("links")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        if let (Some(a), Some(z)) = (
            l.get("a").and_then(Value::as_str),
            l.get("z").and_then(Value::as_str),
        ) {
            listed.insert(a.to_string(), (z.to_string(), format!("links[{i}]")));
            listed.insert(z.to_string(), (a.to_string(), format!("links[{i}]")));
        }
    }
    for (dev, d) in devices {
        let Some(ifaces) = d.get("interfaces").and_then(Value::as_object) else {
            continue;
        };
        for (iface, v) in ifaces {
            let Some(peer) = v.get("link") else {
                continue;
            };
            let field = format!("devices.{dev}.interfaces.{iface}.link");
            let here = format!("{dev}:{iface}");
            let peer_dev = peer
                .as_str()
                .and_then(|p| p.split_once(':'))
                .filter(|(d, i)| !d.is_empty() && !i.is_empty())
                .map(|(d, _)| d);
            let Some(peer_dev) = peer_dev else {
                errs.push(SpecError::new(
                    path,
                    &field,
                    format!("must be \"device:Interface\", not {peer}"),
                    "write the other end, for example \"leaf1:Ethernet0\"",
                ));
                continue;
            };
            let peer = peer.as_str().unwrap_or_default();
            if !known.contains(&peer_dev) {
                errs.push(SpecError::new(
                    path,
                    &field,
                    format!("names {peer:?}, but there is no device {peer_dev:?}"),
                    format!("name an interface of one of: {}", known.join(", ")),
                ));
                continue;
            }
            match listed.get(&here) {
                Some((other, _)) if other == peer => {}
                Some((other, entry)) => errs.push(SpecError::new(
                    path,
                    &field,
                    format!("links {here} to {peer}, but {entry} links it to {other}"),
                    "make the two agree (links is what is wired)",
                )),
                None => errs.push(SpecError::new(
                    path,
                    &field,
                    format!("links {here} to {peer}, but no entry of links holds {here}"),
                    format!(
                        "add {{\"a\": \"{here}\", \"z\": \"{peer}\"}} to links, or remove this \
                         link here"
                    ),
                )),
            }
        }
    }
}
