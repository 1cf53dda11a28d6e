//! The topology's links: both ends checked against the nodes and their interface maps, each
//! interface on one link at most, the transport, and declared impairments.

use std::collections::HashMap;
use std::path::Path;

use serde_json::{Map, Value};

use super::fields::MAX_NIC_INDEX;
use super::fields::type_name;
use crate::spec::error::{SpecError, SpecErrors};
use crate::spec::impair::{self, Directions, Impairment};
use crate::spec::model::{Endpoint, Link, LinkImpair, LinkMode, Node};

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
                        "use an interface name the platform's vm_interface_map can place",
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
