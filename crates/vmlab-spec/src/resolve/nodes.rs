//! One node resolved from its topology entry, its profile and its platform (profile → platform
//! → built-in default), then what only the whole set can check: hosts and boot waits.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::fields::{
    DEFAULT_BOOT_TIMEOUT_SECS, DEFAULT_CPUS, DEFAULT_MEMORY_MB, DEFAULT_NIC_DRIVER, expand_path,
};
use super::fields::{Found, choice, is_empty, type_error, uint_field, value_error};
use crate::error::{SpecError, SpecErrors};
use crate::ifmap::InterfaceMap;
use crate::model::{Credentials, GuestFile, LabSettings, Node};
use crate::name::is_safe_name;
use crate::values;

use super::platforms::{PlatformDef, Platforms};

/// A profile's path and its content (`None` when it failed to parse, already reported).
pub(super) type ParsedProfile = (PathBuf, Option<Map<String, Value>>);

/// What newtron's layout adds around a node: its zone's and its network's SSH defaults, and
/// the secrets `${secret:<key>}` values name.
pub(super) struct NewtronCtx<'a> {
    pub(super) zones: HashMap<&'a str, (&'a Path, &'a Map<String, Value>)>,
    pub(super) zones_dir: PathBuf,
    pub(super) network: Option<(&'a Path, &'a Map<String, Value>)>,
    pub(super) secrets: Option<(&'a Path, &'a Map<String, Value>)>,
    pub(super) secrets_path: PathBuf,
}

pub(super) struct NodeCtx<'a> {
    pub(super) dev: &'a str,
    pub(super) index: usize,
    pub(super) topo_device: Option<&'a Map<String, Value>>,
    pub(super) profile: Option<&'a ParsedProfile>,
    pub(super) platforms: &'a Platforms<'a>,
    /// newtron's layout: zones, the network's defaults and the secrets (`None`: the design's).
    pub(super) newtron: Option<&'a NewtronCtx<'a>>,
    pub(super) spec_dir: &'a Path,
    pub(super) home: Option<&'a Path>,
    /// Where images named without a path live (`$VMLAB_HOME/images`), when known.
    pub(super) images: Option<&'a Path>,
}

/// Where a node's fields come from, first non-empty wins: its profile, then its platform.
struct Sources<'a> {
    profile: &'a Map<String, Value>,
    profile_path: &'a PathBuf,
    def: &'a PlatformDef<'a>,
    platform_name: String,
}

impl<'a> Sources<'a> {
    fn lookup(&self, key: &str) -> Option<Found<'a>> {
        if let Some(v) = self.profile.get(key).filter(|v| !is_empty(v)) {
            return Some(Found {
                value: v,
                file: self.profile_path,
                field: key.to_string(),
            });
        }
        self.def
            .doc
            .get(key)
            .filter(|v| !is_empty(v))
            .map(|v| Found {
                value: v,
                file: self.def.file,
                field: self.def.field(key),
            })
    }

    /// A field of the platform alone.
    fn platform(&self, key: &str) -> Option<&'a Value> {
        self.def.doc.get(key)
    }

    /// A field of the profile alone (non-empty).
    fn profile(&self, key: &str) -> Option<&'a Value> {
        self.profile.get(key).filter(|v| !is_empty(v))
    }
}

/// Where the spec keeps node files, and what defines platforms, in this layout.
fn layout(c: &NodeCtx<'_>) -> (&'static str, &'static str) {
    if c.newtron.is_some() {
        ("nodes", "the platforms registry")
    } else {
        ("profiles", "platforms.json")
    }
}

pub(super) fn resolve_node(c: &NodeCtx<'_>, errs: &mut SpecErrors) -> Option<Node> {
    let src = sources(c, errs)?;
    let before = errs.len();
    let image = image(c, &src, errs);
    let memory_mb = uint_field(
        src.lookup("vm_memory"),
        DEFAULT_MEMORY_MB,
        64,
        u64::from(u32::MAX),
        errs,
    );
    let cpus = uint_field(src.lookup("vm_cpus"), u64::from(DEFAULT_CPUS), 1, 255, errs) as u32;
    let boot_timeout_secs = uint_field(
        src.lookup("vm_boot_timeout"),
        DEFAULT_BOOT_TIMEOUT_SECS,
        1,
        86_400,
        errs,
    );
    let nic_driver = nic_driver(&src, errs);
    let cpu_features = cpu_features(&src, errs);
    let interface_map = interface_map(&src, errs);
    let credentials = resolve_credentials(c, src.profile, src.profile_path, src.def, errs);
    let host = vm_host(&src, errs);
    let boot_delay_secs = uint_field(src.lookup("vm_boot_delay"), 0, 0, 3600, errs);
    let (wait_for, wait_for_from) = wait_for(&src, errs);
    let qemu_args = qemu_args(&src, errs);
    // `vm_ssh_key`: install the lab's SSH key in the guest once it is ready (default: yes).
    let ssh_key = match src.lookup("vm_ssh_key") {
        None => true,
        Some(f) => match f.value {
            Value::Bool(b) => *b,
            _ => {
                errs.push(type_error(&f, "true or false", "false"));
                true
            }
        },
    };
    let files = files(c, &src, errs);
    // `vm_guest_network`: may this node's guest open connections out (default: the lab's)?
    let guest_outbound = choice(
        src.lookup("vm_guest_network"),
        &[("isolated", false), ("outbound", true)],
        "leave it out (the lab's vmlab.guest_network, isolated by default) or write \
         \"outbound\" (the guest reaches the network and every service on this host's loopback)",
        errs,
    );
    let device_type = device_type(&src, errs);
    let host_ip = host_ip(&src, errs);
    let dataplane = super::dataplane::resolve(src.def, c.spec_dir, c.home, errs);
    if errs.len() != before {
        return None;
    }
    let (image, image_from) = image?;
    Some(Node {
        name: c.dev.to_string(),
        index: c.index,
        platform: src.platform_name,
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
        profile: src.profile_path.clone(),
        boot_delay_secs,
        wait_for,
        wait_for_from,
        qemu_args,
        ssh_key,
        files,
        device_type,
        host_ip,
        guest_outbound,
        dataplane,
    })
}

/// The node's profile and its platform's definition, each problem reported.
fn sources<'a>(c: &NodeCtx<'a>, errs: &mut SpecErrors) -> Option<Sources<'a>> {
    let (folder, source) = layout(c);
    let default_profile_path = c.spec_dir.join(folder).join(format!("{}.json", c.dev));
    let Some((profile_path, profile)) = c.profile else {
        errs.push(SpecError::new(
            &default_profile_path,
            "",
            format!("device {} has no profile", c.dev),
            format!(
                "create {folder}/{}.json with at least {{\"platform\": \"<name from {source}>\"}}",
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
                format!("set \"platform\" to a name defined in {source}"),
            ));
            return None;
        }
    };
    let ps = c.platforms;
    // A platforms.json that failed to parse was reported once already.
    if ps.broken {
        return None;
    }
    if ps.missing {
        errs.push(SpecError::new(
            &ps.place,
            "",
            format!("platforms.json does not exist, but devices use platform {platform_name:?}"),
            "create platforms.json with a \"platforms\" object defining it",
        ));
        return None;
    }
    let Some(def) = ps.defs.get(platform_name.as_str()) else {
        errs.push(SpecError::new(
            profile_path,
            "platform",
            format!("unknown platform {platform_name:?}"),
            if ps.registry {
                format!(
                    "add {}/{platform_name}.json, or use one of: {}",
                    ps.place.display(),
                    ps.names().join(", ")
                )
            } else {
                format!("use one of: {}", ps.names().join(", "))
            },
        ));
        return None;
    };
    Some(Sources {
        profile,
        profile_path,
        def,
        platform_name,
    })
}

/// `vm_image`: a path (or a name under the images folder), and where it was set.
fn image(
    c: &NodeCtx<'_>,
    src: &Sources<'_>,
    errs: &mut SpecErrors,
) -> Option<(PathBuf, (PathBuf, String))> {
    let (folder, _) = layout(c);
    let platform_name = &src.platform_name;
    let def = src.def;
    match src.lookup("vm_image") {
        Some(f) => match f.value.as_str() {
            Some(s) => match values::path(s) {
                Ok(()) => Some((
                    match c.images.filter(|_| is_image_name(s)) {
                        Some(images) => images.join(if s.ends_with(".qcow2") {
                            s.to_string()
                        } else {
                            format!("{s}.qcow2")
                        }),
                        None => expand_path(s, c.spec_dir, c.home),
                    },
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
                def.file,
                def.field("vm_image"),
                format!(
                    "device {} has no disk image (platform {platform_name:?})",
                    c.dev
                ),
                format!(
                    "set vm_image in {} for {platform_name}, or in {folder}/{}.json",
                    def.file
                        .file_name()
                        .map(|f| f.to_string_lossy())
                        .unwrap_or_default(),
                    c.dev
                ),
            ));
            None
        }
    }
}

fn nic_driver(src: &Sources<'_>, errs: &mut SpecErrors) -> String {
    match src.lookup("vm_nic_driver") {
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
    }
}

fn cpu_features(src: &Sources<'_>, errs: &mut SpecErrors) -> Option<String> {
    match src.lookup("vm_cpu_features") {
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
    }
}

/// The interface map: newtron's port inventory, else `vm_interface_map` (stride-4 by
/// default).
fn interface_map(src: &Sources<'_>, errs: &mut SpecErrors) -> InterfaceMap {
    let ports = src
        .platform("ports")
        .and_then(Value::as_array)
        .filter(|p| !p.is_empty() && src.profile.get("vm_interface_map").is_none());
    match (ports, src.lookup("vm_interface_map")) {
        // newtron's registry: the platform's port inventory places each interface.
        (Some(ports), _) => match crate::ifmap::parse_ports(ports) {
            Ok(m) => m,
            Err((i, why)) => {
                errs.push(SpecError::new(
                    src.def.file,
                    src.def.field(&format!("ports[{i}]")),
                    why,
                    "write each port as {\"name\": \"Ethernet0\", \"nic_index\": 1}",
                ));
                InterfaceMap::Stride4
            }
        },
        (None, None) => InterfaceMap::Stride4,
        (None, Some(f)) => {
            let custom_found = src.lookup("vm_interface_map_custom");
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
    }
}

fn vm_host(src: &Sources<'_>, errs: &mut SpecErrors) -> Option<String> {
    match src.profile("vm_host") {
        None => None,
        Some(Value::String(h)) if is_safe_name(h) => Some(h.clone()),
        Some(_) => {
            errs.push(SpecError::new(
                src.profile_path,
                "vm_host",
                "must be a host name string",
                "name a host from the vmlab.hosts map",
            ));
            None
        }
    }
}

/// `vm_wait_for`: the nodes this one boots after, and where that was said.
fn wait_for(src: &Sources<'_>, errs: &mut SpecErrors) -> (Vec<String>, Option<(PathBuf, String)>) {
    match src.lookup("vm_wait_for") {
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
    }
}

fn qemu_args(src: &Sources<'_>, errs: &mut SpecErrors) -> Vec<String> {
    match src.lookup("vm_qemu_args") {
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
    }
}

/// `vm_files`: the platform's, with the profile's added (a name in both: the profile's).
fn files(c: &NodeCtx<'_>, src: &Sources<'_>, errs: &mut SpecErrors) -> Vec<GuestFile> {
    {
        fn found<'a>(
            doc: &'a Map<String, Value>,
            file: &'a Path,
            field: String,
        ) -> Option<Found<'a>> {
            doc.get("vm_files")
                .filter(|v| !is_empty(v))
                .map(|value| Found { value, file, field })
        }
        let mut files = guest_files(
            found(src.def.doc, src.def.file, src.def.field("vm_files")),
            c.spec_dir,
            errs,
        );
        let own = guest_files(
            found(src.profile, src.profile_path, "vm_files".into()),
            c.spec_dir,
            errs,
        );
        files.retain(|f| !own.iter().any(|o| o.name == f.name));
        files.extend(own);
        files
    }
}

fn device_type(src: &Sources<'_>, errs: &mut SpecErrors) -> String {
    match src.platform("device_type") {
        None | Some(Value::Null) => "switch".to_string(),
        Some(Value::String(t)) if t == "switch" || t == "host" => t.clone(),
        Some(_) => {
            errs.push(SpecError::new(
                src.def.file,
                src.def.field("device_type"),
                "must be \"switch\" or \"host\"",
                "leave it out for a switch, or write \"host\"",
            ));
            String::new()
        }
    }
}

fn host_ip(src: &Sources<'_>, errs: &mut SpecErrors) -> Option<String> {
    match src.profile("host_ip") {
        None => None,
        Some(Value::String(s)) if host_address(s) => Some(s.clone()),
        Some(_) => {
            errs.push(SpecError::new(
                src.profile_path,
                "host_ip",
                "must be an IP address, with or without a prefix length",
                "write \"10.1.0.2\" or \"10.1.0.2/24\"",
            ));
            None
        }
    }
}

/// `vm_files`: `{"frr.conf": "files/spine1.frr.conf", ...}`, each name checked and each path
/// kept inside the spec directory.
fn guest_files(found: Option<Found<'_>>, spec_dir: &Path, errs: &mut SpecErrors) -> Vec<GuestFile> {
    let Some(f) = found else {
        return Vec::new();
    };
    let example = "{\"frr.conf\": \"files/spine1.frr.conf\"}";
    let Some(map) = f.value.as_object() else {
        errs.push(type_error(
            &f,
            "an object of guest file name to a path in the spec directory",
            example,
        ));
        return Vec::new();
    };
    let mut out = Vec::new();
    for (name, v) in map {
        let field = format!("{}.{name}", f.field);
        if let Err(why) = values::guest_file_name(name) {
            errs.push(SpecError::new(
                f.file,
                &field,
                format!("names a guest file badly: {why}"),
                "name it like \"frr.conf\" or \"setup.sh\"",
            ));
            continue;
        }
        match v.as_str().map(|s| (s, values::spec_relative_path(s))) {
            Some((s, Ok(()))) => out.push(GuestFile {
                name: name.clone(),
                source: spec_dir.join(s),
                from: (f.file.to_path_buf(), field),
            }),
            Some((_, Err(why))) => errs.push(SpecError::new(
                f.file,
                &field,
                why,
                "give a file of the spec directory, like \"files/spine1.frr.conf\"",
            )),
            None => errs.push(SpecError::new(
                f.file,
                &field,
                "must be a path string",
                "give a file of the spec directory, like \"files/spine1.frr.conf\"",
            )),
        }
    }
    out
}

/// Multi-host placement: a `vm_host` names a host of `vmlab.hosts`, and once any node is
/// placed, every node is.
pub(super) fn check_hosts(
    nodes: &[Node],
    settings: &LabSettings,
    topo: &Path,
    errs: &mut SpecErrors,
) {
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
pub(super) fn check_wait_for(nodes: &[Node], errs: &mut SpecErrors) {
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

pub(super) fn resolve_credentials(
    c: &NodeCtx<'_>,
    profile: &Map<String, Value>,
    profile_path: &Path,
    def: &PlatformDef<'_>,
    errs: &mut SpecErrors,
) -> Option<Credentials> {
    // Where credentials come from, first non-empty wins: the node, its zone and its network
    // (newtron's layout), then the platform.
    let mut sources: Vec<(&Map<String, Value>, &Path, String)> =
        vec![(profile, profile_path, String::new())];
    if let Some(n) = c.newtron {
        if let Some(z) = profile
            .get("zone")
            .and_then(Value::as_str)
            .filter(|z| !z.is_empty())
        {
            match n.zones.get(z) {
                Some((path, doc)) => sources.push((doc, path, String::new())),
                None => errs.push(SpecError::new(
                    profile_path,
                    "zone",
                    format!("zone {z:?} has no file"),
                    format!("create {}/{z}.json, or fix the zone", n.zones_dir.display()),
                )),
            }
        }
        if let Some((path, doc)) = n.network {
            sources.push((doc, path, String::new()));
        }
    }
    let mut platform_keys = Vec::new();
    for key in ["vm_credentials", "credentials"] {
        match def.doc.get(key) {
            Some(Value::Object(m)) => platform_keys.push((m, key)),
            Some(v) if !is_empty(v) => errs.push(SpecError::new(
                def.file,
                def.field(key),
                "must be an object",
                "write {\"user\": \"admin\", \"pass\": \"...\"}",
            )),
            _ => {}
        }
    }
    for (m, key) in &platform_keys {
        sources.push((m, def.file, format!("{}.", def.field(key))));
    }
    // (value, file, field) of the first non-empty.
    let pick = |node_key: &str, platform_key: &str| -> Option<(String, PathBuf, String)> {
        sources
            .iter()
            .enumerate()
            .find_map(|(i, (doc, path, prefix))| {
                // The platform's objects say user/pass; the others ssh_user/ssh_pass.
                let key = if i >= sources.len() - platform_keys.len() {
                    platform_key
                } else {
                    node_key
                };
                doc.get(key)
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map(|v| (v.to_string(), path.to_path_buf(), format!("{prefix}{key}")))
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
    if let Some((u, file, field)) = &user {
        if secret_key(u).is_some() {
            // A user name is on ssh's command line, where a secret must never be.
            errs.push(SpecError::new(
                file,
                field,
                "the user name names a secret",
                "write the user name itself (it is on ssh's command line); keep secrets for \
                 passwords",
            ));
            ok = false;
        } else if let Err(why) = values::ssh_user(u) {
            // A user name reaches ssh's command line: it must never read as an option.
            errs.push(SpecError::new(
                file,
                field,
                format!("user name {u:?} {why}"),
                "write a plain login name, for example \"admin\"",
            ));
            ok = false;
        }
    }
    let mut secret = None;
    let pass = match pass {
        Some((p, file, field)) => match secret_key(&p) {
            None => Some((p, file, field)),
            Some(key) => {
                secret = Some(key.to_string());
                match lookup_secret(c, key, &file, &field, errs) {
                    Some(v) => Some((v, file, field)),
                    None => {
                        ok = false;
                        None
                    }
                }
            }
        },
        None => None,
    };
    if let Some((p, file, field)) = &pass
        && let Err(why) = values::password(p)
    {
        // Never the value: it may be a secret.
        errs.push(SpecError::new(
            file,
            field,
            format!("the password {why}"),
            "use a one-line password",
        ));
        ok = false;
    }
    match (user, pass, ok) {
        (Some((user, ..)), Some((pass, ..)), true) => Some(Credentials { user, pass, secret }),
        _ => None,
    }
}

/// Is `s` an address, or an address with a prefix length (`10.1.0.2/24`)?
fn host_address(s: &str) -> bool {
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    match addr.parse::<std::net::IpAddr>() {
        Ok(ip) => len.is_none_or(|l| {
            l.parse::<u8>()
                .is_ok_and(|n| n <= if ip.is_ipv4() { 32 } else { 128 })
        }),
        Err(_) => false,
    }
}

/// The key of a `${secret:<key>}` value.
fn secret_key(v: &str) -> Option<&str> {
    v.strip_prefix("${secret:")?.strip_suffix('}')
}

/// The value of secret `key` (named at `file`'s `field`); an error naming the key, never a
/// value, when there is none.
fn lookup_secret(
    c: &NodeCtx<'_>,
    key: &str,
    file: &Path,
    field: &str,
    errs: &mut SpecErrors,
) -> Option<String> {
    let Some(n) = c.newtron else {
        errs.push(SpecError::new(
            file,
            field,
            format!("names secret {key:?}, but secrets are read only from newtron's layout"),
            "write the password itself, or lay the lab out as a newtron network \
             (nodes/ and secrets.json)",
        ));
        return None;
    };
    let Some((_, secrets)) = n.secrets else {
        errs.push(SpecError::new(
            file,
            field,
            format!("names secret {key:?}, but the network has no secrets.json"),
            format!(
                "create {} with {{\"{key}\": \"...\"}}",
                n.secrets_path.display()
            ),
        ));
        return None;
    };
    match secrets.get(key) {
        Some(Value::String(v)) => Some(v.clone()),
        Some(_) => {
            errs.push(SpecError::new(
                &n.secrets_path,
                key,
                "a secret must be a string",
                "quote the value",
            ));
            None
        }
        None => {
            errs.push(SpecError::new(
                file,
                field,
                format!("names secret {key:?}, which secrets.json does not have"),
                format!(
                    "add \"{key}\" to {}, or fix the name",
                    n.secrets_path.display()
                ),
            ));
            None
        }
    }
}

/// Is a `vm_image` value only a name (`vmlab-tiny`, `sonic-vs.qcow2`): no directory in it,
/// not `~` or `.`-relative? Such a name is an image of `vmlab image list`.
pub(super) fn is_image_name(s: &str) -> bool {
    !s.contains('/') && !s.starts_with('~') && !s.starts_with('.') && !s.is_empty()
}
