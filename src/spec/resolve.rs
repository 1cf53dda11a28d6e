//! Spec text → [`Lab`], purely: JSON parsing, validation and HLD §4 resolution.
//!
//! VM settings resolve profile → platform → built-in default (first non-empty wins); credentials
//! resolve profile `ssh_user`/`ssh_pass` → platform `vm_credentials`. Every problem is collected
//! (not just the first) so one run of `vmlab deploy` shows the user all of them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::error::{SpecError, SpecErrors};
use super::ifmap::InterfaceMap;
use super::impair::{self, Directions, Impairment};
use super::model::{Credentials, Endpoint, Lab, LabSettings, Link, LinkImpair, LinkMode, Node};
use super::name::{derive_lab_name, is_safe_name};
use super::source::{SpecSources, SpecText};
use super::values;

/// Built-in defaults (HLD §4).
pub const DEFAULT_MEMORY_MB: u64 = 4096;
pub const DEFAULT_CPUS: u32 = 2;
pub const DEFAULT_NIC_DRIVER: &str = "e1000";
pub const DEFAULT_BOOT_TIMEOUT_SECS: u64 = 180;
/// The highest data NIC index a VM can have: NICs sit one per PCI slot, 0x08..=0x1f.
pub const MAX_NIC_INDEX: u32 = 23;

/// Resolves the spec. `home` expands a leading `~` in image paths.
pub fn resolve(src: &SpecSources, home: Option<&Path>) -> Result<Lab, SpecErrors> {
    let mut errs = SpecErrors::default();
    let topo_path = src.topology.path.clone();
    let topology = parse_object(&src.topology, &mut errs);
    let platforms_doc = src
        .platforms
        .as_ref()
        .and_then(|t| parse_object(t, &mut errs));
    let mut profiles: HashMap<&str, ParsedProfile> = HashMap::new();
    for (name, text) in &src.profiles {
        let parsed = parse_object(text, &mut errs);
        profiles.insert(name.as_str(), (text.path.clone(), parsed));
    }
    let Some(topology) = topology else {
        return Err(errs);
    };

    let name = match derive_lab_name(topology.get("name"), src.dir_name.as_deref(), &topo_path) {
        Ok(n) => Some(n),
        Err(e) => {
            errs.push(e);
            None
        }
    };

    let settings = resolve_settings(&topology, &topo_path, &mut errs);

    let platforms: Option<&Map<String, Value>> = match &platforms_doc {
        Some(doc) => match doc.get("platforms") {
            Some(Value::Object(m)) => Some(m),
            _ => {
                let path = src
                    .platforms
                    .as_ref()
                    .map(|t| t.path.clone())
                    .unwrap_or_default();
                errs.push(SpecError::new(
                    path,
                    "platforms",
                    "missing or not an object",
                    "put the platform definitions under a top-level \"platforms\" object",
                ));
                None
            }
        },
        None => None,
    };
    let platforms_path = src
        .platforms
        .as_ref()
        .map(|t| t.path.clone())
        .unwrap_or_else(|| src.dir.join("platforms.json"));

    let mut nodes = Vec::new();
    match topology.get("devices") {
        Some(Value::Object(devices)) if !devices.is_empty() => {
            for (index, (dev, body)) in devices.iter().enumerate() {
                let field = format!("devices.{dev}");
                if !is_safe_name(dev) {
                    errs.push(SpecError::new(
                        &topo_path,
                        &field,
                        format!("device name {dev:?} is not safe as a file name"),
                        "use letters, digits, '.', '_' and '-' only, starting with a letter or \
                         digit, at most 64 characters",
                    ));
                    continue;
                }
                let ctx = NodeCtx {
                    dev,
                    index,
                    topo_device: body.as_object(),
                    profile: profiles.get(dev.as_str()),
                    platforms,
                    platforms_path: &platforms_path,
                    platforms_broken: src.platforms.is_some(),
                    spec_dir: &src.dir,
                    home,
                };
                if let Some(node) = resolve_node(&ctx, &mut errs) {
                    nodes.push(node);
                }
            }
        }
        _ => errs.push(SpecError::new(
            &topo_path,
            "devices",
            "missing, empty or not an object",
            "list the lab's devices under \"devices\": {\"name\": {...}}",
        )),
    }

    check_hosts(&nodes, &settings, &topo_path, &mut errs);
    // With every device resolved, its waits can be checked (a node that failed is missing).
    let all_devices =
        matches!(topology.get("devices"), Some(Value::Object(d)) if d.len() == nodes.len());
    if all_devices {
        check_wait_for(&nodes, &mut errs);
    }
    let known: Vec<&str> = match topology.get("devices") {
        Some(Value::Object(d)) => d.keys().map(String::as_str).collect(),
        _ => Vec::new(),
    };
    let links = resolve_links(
        &topology,
        &topo_path,
        &known,
        &nodes,
        settings.links,
        &mut errs,
    );

    match (name, errs.is_empty()) {
        (Some(name), true) => Ok(Lab {
            name,
            spec_dir: src.dir.clone(),
            settings,
            nodes,
            links,
        }),
        _ => Err(errs),
    }
}

/// Parses a file that must hold a JSON object, on its own.
pub fn parse_file(text: &SpecText) -> Result<Map<String, Value>, SpecErrors> {
    let mut errs = SpecErrors::default();
    parse_object(text, &mut errs).ok_or(errs)
}

/// Parses a file that must hold a JSON object; syntax errors name line and column.
fn parse_object(text: &SpecText, errs: &mut SpecErrors) -> Option<Map<String, Value>> {
    match serde_json::from_str::<Value>(&text.text) {
        Ok(Value::Object(m)) => Some(m),
        Ok(other) => {
            errs.push(SpecError::new(
                &text.path,
                "",
                format!("the file holds {}, not a JSON object", type_name(&other)),
                "make the top level an object: { ... }",
            ));
            None
        }
        Err(e) => {
            let what = e.to_string();
            // serde_json appends " at line L column C"; keep only the reason.
            let reason = what.split(" at line ").next().unwrap_or(&what).to_string();
            errs.push(SpecError::new(
                &text.path,
                format!("line {}, column {}", e.line(), e.column()),
                format!("malformed JSON: {reason}"),
                "fix the JSON syntax there",
            ));
            None
        }
    }
}

fn resolve_settings(topo: &Map<String, Value>, path: &Path, errs: &mut SpecErrors) -> LabSettings {
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
    for (field, slot) in [
        ("link_port_base", &mut s.link_port_base),
        ("console_port_base", &mut s.console_port_base),
        ("ssh_port_base", &mut s.ssh_port_base),
    ] {
        match section.get(field) {
            None | Some(Value::Null) => {}
            Some(v) => match v.as_u64() {
                Some(p) if (1..=65535).contains(&p) => *slot = p as u32,
                _ => errs.push(SpecError::new(
                    path,
                    format!("{key}.{field}"),
                    format!("must be a port number from 1 to 65535, not {v}"),
                    "pick a free range, for example 20000",
                )),
            },
        }
    }
    match section.get("max_parallel_boots") {
        None | Some(Value::Null) => {}
        Some(v) => match v.as_u64() {
            Some(n) if (1..=1024).contains(&n) => s.max_parallel_boots = Some(n as u32),
            _ => errs.push(SpecError::new(
                path,
                format!("{key}.max_parallel_boots"),
                format!("must be a whole number from 1 to 1024, not {v}"),
                "write how many nodes may boot at once, for example 2, or leave it out",
            )),
        },
    }
    match section.get("cross_host_check") {
        None | Some(Value::Null) => {}
        Some(Value::String(m)) if m == "keyed" => s.cross_host_keyed = true,
        Some(Value::String(m)) if m == "none" => s.cross_host_keyed = false,
        Some(other) => errs.push(SpecError::new(
            path,
            format!("{key}.cross_host_check"),
            format!("must be \"keyed\" or \"none\", not {other}"),
            "leave it out (keyed: nothing on the network can inject frames)",
        )),
    }
    match section.get("consoles") {
        None | Some(Value::Null) => {}
        Some(Value::String(m)) if m == "unix" => s.tcp_consoles = false,
        Some(Value::String(m)) if m == "tcp" => s.tcp_consoles = true,
        Some(other) => errs.push(SpecError::new(
            path,
            format!("{key}.consoles"),
            format!("must be \"unix\" or \"tcp\", not {other}"),
            "leave it out (unix: only you reach the consoles) or write \"tcp\" for tools that \
             need a port",
        )),
    }
    match section.get("links") {
        None | Some(Value::Null) => {}
        Some(Value::String(m)) if m == "relay" => s.links = LinkMode::Relay,
        Some(Value::String(m)) if m == "direct" => s.links = LinkMode::Direct,
        Some(other) => errs.push(SpecError::new(
            path,
            format!("{key}.links"),
            format!("must be \"relay\" or \"direct\", not {other}"),
            "leave it out (relay: counters, down/up, impairments, capture) or write \"direct\"",
        )),
    }
    match section.get("hosts") {
        None | Some(Value::Null) => {}
        Some(Value::Object(h)) => {
            for (name, addr) in h {
                if let Err(why) = super::name::check_name(name) {
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
                            "write the address other hosts reach this one on, for example                              \"192.168.1.10\"",
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
    s
}

/// A profile's path and its content (`None` when it failed to parse, already reported).
type ParsedProfile = (PathBuf, Option<Map<String, Value>>);

struct NodeCtx<'a> {
    dev: &'a str,
    index: usize,
    topo_device: Option<&'a Map<String, Value>>,
    profile: Option<&'a ParsedProfile>,
    platforms: Option<&'a Map<String, Value>>,
    platforms_path: &'a Path,
    /// platforms.json exists but could not be used (already reported once).
    platforms_broken: bool,
    spec_dir: &'a Path,
    home: Option<&'a Path>,
}

/// Where a resolved value came from, so errors name the right file and field.
struct Found<'a> {
    value: &'a Value,
    file: &'a Path,
    field: String,
}

fn resolve_node(c: &NodeCtx<'_>, errs: &mut SpecErrors) -> Option<Node> {
    let default_profile_path = c.spec_dir.join("profiles").join(format!("{}.json", c.dev));
    let Some((profile_path, profile)) = c.profile else {
        errs.push(SpecError::new(
            &default_profile_path,
            "",
            format!("device {} has no profile", c.dev),
            format!(
                "create profiles/{}.json with at least {{\"platform\": \"<name from platforms.json>\"}}",
                c.dev
            ),
        ));
        return None;
    };
    // A profile with a syntax error was reported already.
    let profile = profile.as_ref()?;

    // Platform name: profile, else the topology device entry.
    let platform_name = match (
        profile.get("platform"),
        c.topo_device.and_then(|d| d.get("platform")),
    ) {
        (Some(Value::String(p)), _) if !p.is_empty() => p.clone(),
        (_, Some(Value::String(p))) if !p.is_empty() => p.clone(),
        _ => {
            errs.push(SpecError::new(
                profile_path,
                "platform",
                format!("device {} has no platform", c.dev),
                "set \"platform\" to a name defined in platforms.json",
            ));
            return None;
        }
    };
    let platform = match c.platforms {
        // A platforms.json that failed to parse was reported once already.
        None if c.platforms_broken => return None,
        None => {
            errs.push(SpecError::new(
                c.platforms_path,
                "",
                format!(
                    "platforms.json does not exist, but devices use platform {platform_name:?}"
                ),
                "create platforms.json with a \"platforms\" object defining it",
            ));
            return None;
        }
        Some(p) => match p.get(&platform_name) {
            Some(Value::Object(def)) => def,
            Some(_) => {
                errs.push(SpecError::new(
                    c.platforms_path,
                    format!("platforms.{platform_name}"),
                    "must be an object",
                    "define the platform as {\"vm_image\": ..., ...}",
                ));
                return None;
            }
            None => {
                let known: Vec<&str> = p.keys().map(String::as_str).collect();
                errs.push(SpecError::new(
                    profile_path,
                    "platform",
                    format!("unknown platform {platform_name:?}"),
                    format!("use one of: {}", known.join(", ")),
                ));
                return None;
            }
        },
    };
    let pfield = |f: &str| format!("platforms.{platform_name}.{f}");

    // First non-empty wins: profile, then platform.
    let lookup = |key: &str| -> Option<Found<'_>> {
        if let Some(v) = profile.get(key).filter(|v| !is_empty(v)) {
            return Some(Found {
                value: v,
                file: profile_path,
                field: key.to_string(),
            });
        }
        platform.get(key).filter(|v| !is_empty(v)).map(|v| Found {
            value: v,
            file: c.platforms_path,
            field: pfield(key),
        })
    };
    let before = errs.len();

    let image =
        match lookup("vm_image") {
            Some(f) => match f.value.as_str() {
                Some(s) => match values::path(s) {
                    Ok(()) => Some((
                        expand_path(s, c.spec_dir, c.home),
                        (f.file.to_path_buf(), f.field.clone()),
                    )),
                    Err(why) => {
                        errs.push(value_error(&f, &why, "\"~/.vmlab/images/sonic-vs.qcow2\""));
                        None
                    }
                },
                None => {
                    errs.push(type_error(
                        &f,
                        "a path string",
                        "\"~/.vmlab/images/sonic-vs.qcow2\"",
                    ));
                    None
                }
            },
            None => {
                errs.push(SpecError::new(
                c.platforms_path,
                pfield("vm_image"),
                format!("device {} has no disk image (platform {platform_name:?})", c.dev),
                format!(
                    "set vm_image in platforms.json for {platform_name}, or in profiles/{}.json",
                    c.dev
                ),
            ));
                None
            }
        };
    let memory_mb = uint_field(
        lookup("vm_memory"),
        DEFAULT_MEMORY_MB,
        64,
        u64::from(u32::MAX),
        errs,
    );
    let cpus = uint_field(lookup("vm_cpus"), u64::from(DEFAULT_CPUS), 1, 255, errs) as u32;
    let boot_timeout_secs = uint_field(
        lookup("vm_boot_timeout"),
        DEFAULT_BOOT_TIMEOUT_SECS,
        1,
        86_400,
        errs,
    );
    let nic_driver = match lookup("vm_nic_driver") {
        None => DEFAULT_NIC_DRIVER.to_string(),
        Some(f) => match f.value.as_str() {
            Some(s) => match values::nic_model(s) {
                Ok(()) => s.to_string(),
                Err(why) => {
                    errs.push(value_error(&f, &why, "\"e1000\" or \"virtio-net-pci\""));
                    String::new()
                }
            },
            None => {
                errs.push(type_error(
                    &f,
                    "a QEMU NIC model name",
                    "\"e1000\" or \"virtio-net-pci\"",
                ));
                String::new()
            }
        },
    };
    let cpu_features = match lookup("vm_cpu_features") {
        None => None,
        Some(f) => match f.value.as_str() {
            Some(s) => match values::cpu_features(s) {
                Ok(()) => Some(s.to_string()),
                Err(why) => {
                    errs.push(value_error(&f, &why, "\"+sse4.2\" or \"+ssse3,+sse4.2\""));
                    None
                }
            },
            None => {
                errs.push(type_error(&f, "QEMU CPU feature flags", "\"+sse4.2\""));
                None
            }
        },
    };
    let interface_map = match lookup("vm_interface_map") {
        None => InterfaceMap::Stride4,
        Some(f) => {
            let custom_found = lookup("vm_interface_map_custom");
            let custom = custom_found.as_ref().and_then(|cf| cf.value.as_object());
            match f.value.as_str().map(|k| InterfaceMap::parse(k, custom)) {
                Some(Ok(m)) => m,
                Some(Err(why)) => {
                    errs.push(SpecError::new(
                        f.file,
                        &f.field,
                        why,
                        "use \"sequential\", \"stride-4\", or \"custom\" with vm_interface_map_custom",
                    ));
                    InterfaceMap::Stride4
                }
                None => {
                    errs.push(type_error(&f, "a map name", "\"stride-4\""));
                    InterfaceMap::Stride4
                }
            }
        }
    };
    let credentials = resolve_credentials(
        profile,
        platform,
        errs,
        profile_path,
        c.platforms_path,
        &platform_name,
    );
    let host = match profile.get("vm_host").filter(|v| !is_empty(v)) {
        None => None,
        Some(Value::String(h)) if is_safe_name(h) => Some(h.clone()),
        Some(_) => {
            errs.push(SpecError::new(
                profile_path,
                "vm_host",
                "must be a host name string",
                "name a host from the vmlab.hosts map",
            ));
            None
        }
    };

    let boot_delay_secs = uint_field(lookup("vm_boot_delay"), 0, 0, 3600, errs);
    let (wait_for, wait_for_from) = match lookup("vm_wait_for") {
        None => (Vec::new(), None),
        Some(f) => {
            let names: Option<Vec<String>> = match f.value {
                Value::String(s) => Some(vec![s.clone()]),
                Value::Array(a) => a.iter().map(|v| v.as_str().map(str::to_string)).collect(),
                _ => None,
            };
            match names {
                Some(n) => (n, Some((f.file.to_path_buf(), f.field.clone()))),
                None => {
                    errs.push(type_error(
                        &f,
                        "a list of node names",
                        "[\"spine1\", \"spine2\"]",
                    ));
                    (Vec::new(), None)
                }
            }
        }
    };
    let qemu_args = match lookup("vm_qemu_args") {
        None => Vec::new(),
        Some(f) => {
            let list: Option<Vec<String>> = f
                .value
                .as_array()
                .and_then(|a| a.iter().map(|v| v.as_str().map(str::to_string)).collect());
            match list {
                None => {
                    errs.push(type_error(
                        &f,
                        "a list of strings",
                        "[\"-rtc\", \"base=utc\"]",
                    ));
                    Vec::new()
                }
                Some(args) => match values::qemu_args(&args) {
                    Ok(()) => args,
                    Err((at, why)) => {
                        errs.push(SpecError::new(
                            f.file,
                            format!("{}[{at}]", f.field),
                            why,
                            "use only options that tune the emulated machine; see README",
                        ));
                        Vec::new()
                    }
                },
            }
        }
    };

    // `vm_ssh_key`: install the lab's SSH key in the guest once it is ready (default: yes).
    let ssh_key = match lookup("vm_ssh_key") {
        None => true,
        Some(f) => match f.value {
            Value::Bool(b) => *b,
            _ => {
                errs.push(type_error(&f, "true or false", "false"));
                true
            }
        },
    };

    if errs.len() != before {
        return None;
    }
    let (image, image_from) = image?;
    Some(Node {
        name: c.dev.to_string(),
        index: c.index,
        platform: platform_name,
        image,
        image_from,
        memory_mb,
        cpus,
        nic_driver,
        interface_map,
        cpu_features,
        credentials,
        boot_timeout_secs,
        host,
        profile: profile_path.clone(),
        boot_delay_secs,
        wait_for,
        wait_for_from,
        qemu_args,
        ssh_key,
    })
}

/// Multi-host placement: a `vm_host` names a host of `vmlab.hosts`, and once any node is
/// placed, every node is.
fn check_hosts(nodes: &[Node], settings: &LabSettings, topo: &Path, errs: &mut SpecErrors) {
    let placed = nodes.iter().filter(|n| n.host.is_some()).count();
    if placed == 0 {
        return;
    }
    let names: Vec<&str> = settings.hosts.iter().map(|(n, _)| n.as_str()).collect();
    for n in nodes {
        match &n.host {
            Some(h) if settings.hosts.is_empty() => errs.push(SpecError::new(
                &n.profile,
                "vm_host",
                format!(
                    "{} is placed on host {h:?}, but topology.json has no vmlab.hosts",
                    n.name
                ),
                format!(
                    "add \"hosts\": {{\"{h}\": \"<its IP address>\"}} to the vmlab section of {}",
                    topo.display()
                ),
            )),
            Some(h) if !names.contains(&h.as_str()) => errs.push(SpecError::new(
                &n.profile,
                "vm_host",
                format!(
                    "{} is placed on host {h:?}, which vmlab.hosts does not name",
                    n.name
                ),
                format!("use one of: {}", names.join(", ")),
            )),
            Some(_) => {}
            None => errs.push(SpecError::new(
                &n.profile,
                "vm_host",
                format!(
                    "{} has no vm_host, but the lab places nodes on hosts ({placed} of {} do)",
                    n.name,
                    nodes.len()
                ),
                format!("set \"vm_host\" to one of: {}", names.join(", ")),
            )),
        }
    }
}

/// `vm_wait_for` names nodes of the lab, and no node waits for itself, directly or around a
/// circle (else nothing in that circle could ever start).
fn check_wait_for(nodes: &[Node], errs: &mut SpecErrors) {
    let index: HashMap<&str, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.name.as_str(), i))
        .collect();
    let mut bad = false;
    for n in nodes {
        for w in &n.wait_for {
            if !index.contains_key(w.as_str()) {
                bad = true;
                let (file, field) = n
                    .wait_for_from
                    .clone()
                    .unwrap_or_else(|| (n.profile.clone(), "vm_wait_for".into()));
                errs.push(SpecError::new(
                    file,
                    field,
                    format!("{} waits for {w:?}, which is not a node of the lab", n.name),
                    format!(
                        "name nodes from topology.json's devices ({})",
                        nodes
                            .iter()
                            .map(|n| n.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
        }
    }
    if bad {
        return;
    }
    // Depth-first search for a circle; report each circle once.
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    let mut mark = vec![Mark::New; nodes.len()];
    let mut stack: Vec<usize> = Vec::new();
    fn visit(
        i: usize,
        nodes: &[Node],
        index: &HashMap<&str, usize>,
        mark: &mut [Mark],
        stack: &mut Vec<usize>,
    ) -> Option<Vec<usize>> {
        mark[i] = Mark::Open;
        stack.push(i);
        for w in &nodes[i].wait_for {
            let j = index[w.as_str()];
            match mark[j] {
                Mark::Open => {
                    let from = stack.iter().position(|k| *k == j).unwrap_or(0);
                    let mut circle = stack[from..].to_vec();
                    circle.push(j);
                    return Some(circle);
                }
                Mark::New => {
                    if let Some(c) = visit(j, nodes, index, mark, stack) {
                        return Some(c);
                    }
                }
                Mark::Done => {}
            }
        }
        stack.pop();
        mark[i] = Mark::Done;
        None
    }
    for i in 0..nodes.len() {
        if mark[i] == Mark::New
            && let Some(circle) = visit(i, nodes, &index, &mut mark, &mut stack)
        {
            let first = &nodes[circle[0]];
            let (file, field) = first
                .wait_for_from
                .clone()
                .unwrap_or_else(|| (first.profile.clone(), "vm_wait_for".into()));
            let path: Vec<&str> = circle.iter().map(|k| nodes[*k].name.as_str()).collect();
            errs.push(SpecError::new(
                file,
                field,
                format!(
                    "vm_wait_for goes in a circle: {} (none of them could ever start)",
                    path.join(" waits for ")
                ),
                "remove one of those waits",
            ));
            return;
        }
    }
}

fn resolve_credentials(
    profile: &Map<String, Value>,
    platform: &Map<String, Value>,
    errs: &mut SpecErrors,
    profile_path: &Path,
    platforms_path: &Path,
    platform_name: &str,
) -> Option<Credentials> {
    let pc = platform.get("vm_credentials").and_then(Value::as_object);
    if platform
        .get("vm_credentials")
        .is_some_and(|v| !is_empty(v) && !v.is_object())
    {
        errs.push(SpecError::new(
            platforms_path,
            format!("platforms.{platform_name}.vm_credentials"),
            "must be an object",
            "write {\"user\": \"admin\", \"pass\": \"...\"}",
        ));
    }
    // (value, file, field) of the first non-empty: profile, then platform.
    let pick = |profile_key: &str, platform_key: &str| -> Option<(String, PathBuf, String)> {
        if let Some(v) = profile
            .get(profile_key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        {
            return Some((
                v.to_string(),
                profile_path.to_path_buf(),
                profile_key.into(),
            ));
        }
        pc.and_then(|m| m.get(platform_key))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(|v| {
                (
                    v.to_string(),
                    platforms_path.to_path_buf(),
                    format!("platforms.{platform_name}.vm_credentials.{platform_key}"),
                )
            })
    };
    for key in ["ssh_user", "ssh_pass"] {
        if profile
            .get(key)
            .is_some_and(|v| !v.is_string() && !v.is_null())
        {
            errs.push(SpecError::new(
                profile_path,
                key,
                "must be a string",
                "quote the value",
            ));
        }
    }
    let user = pick("ssh_user", "user");
    let pass = pick("ssh_pass", "pass");
    let mut ok = true;
    if let Some((u, file, field)) = &user
        && let Err(why) = values::ssh_user(u)
    {
        // A user name reaches ssh's command line: it must never read as an option.
        errs.push(SpecError::new(
            file,
            field,
            format!("user name {u:?} {why}"),
            "write a plain login name, for example \"admin\"",
        ));
        ok = false;
    }
    if let Some((p, file, field)) = &pass
        && let Err(why) = values::password(p)
    {
        errs.push(SpecError::new(
            file,
            field,
            format!("the password {why}"),
            "use a one-line password",
        ));
        ok = false;
    }
    match (user, pass, ok) {
        (Some((user, ..)), Some((pass, ..)), true) => Some(Credentials { user, pass }),
        _ => None,
    }
}

fn resolve_links(
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
fn resolve_impair(
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

fn uint_field(
    found: Option<Found<'_>>,
    default: u64,
    min: u64,
    max: u64,
    errs: &mut SpecErrors,
) -> u64 {
    match found {
        None => default,
        Some(f) => match f.value.as_u64() {
            Some(n) if (min..=max).contains(&n) => n,
            _ => {
                errs.push(SpecError::new(
                    f.file,
                    &f.field,
                    format!(
                        "must be a whole number from {min} to {max}, not {}",
                        f.value
                    ),
                    "write a plain number without quotes",
                ));
                default
            }
        },
    }
}

fn type_error(f: &Found<'_>, want: &str, example: &str) -> SpecError {
    SpecError::new(
        f.file,
        &f.field,
        format!("must be {want}, not {}", f.value),
        format!("write for example {example}"),
    )
}

/// Empty values do not count in "first non-empty wins".
fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Number(n) => n.as_u64() == Some(0),
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Bool(_) => false,
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn value_error(f: &Found<'_>, why: &str, example: &str) -> SpecError {
    SpecError::new(
        f.file,
        &f.field,
        format!("{} {why}", f.value),
        format!("write for example {example}"),
    )
}

/// `~/x` → `$HOME/x`; relative paths resolve against the spec directory.
pub fn expand_path(s: &str, spec_dir: &Path, home: Option<&Path>) -> PathBuf {
    let p = match (s.strip_prefix("~/"), home) {
        (Some(rest), Some(h)) => h.join(rest),
        _ if s == "~" => home
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from(s)),
        _ => PathBuf::from(s),
    };
    if p.is_absolute() { p } else { spec_dir.join(p) }
}
