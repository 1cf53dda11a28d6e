//! One node resolved from its topology entry, its profile and its platform (profile → platform
//! → built-in default), then what only the whole set can check: hosts and boot waits.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::fields::{
    DEFAULT_BOOT_TIMEOUT_SECS, DEFAULT_CPUS, DEFAULT_MEMORY_MB, DEFAULT_NIC_DRIVER, expand_path,
};
use super::fields::{Found, is_empty, type_error, uint_field, value_error};
use crate::spec::error::{SpecError, SpecErrors};
use crate::spec::ifmap::InterfaceMap;
use crate::spec::model::{Credentials, LabSettings, Node};
use crate::spec::name::is_safe_name;
use crate::spec::values;

/// A profile's path and its content (`None` when it failed to parse, already reported).
pub(super) type ParsedProfile = (PathBuf, Option<Map<String, Value>>);

pub(super) struct NodeCtx<'a> {
    pub(super) dev: &'a str,
    pub(super) index: usize,
    pub(super) topo_device: Option<&'a Map<String, Value>>,
    pub(super) profile: Option<&'a ParsedProfile>,
    pub(super) platforms: Option<&'a Map<String, Value>>,
    pub(super) platforms_path: &'a Path,
    /// platforms.json exists but could not be used (already reported once).
    pub(super) platforms_broken: bool,
    pub(super) spec_dir: &'a Path,
    pub(super) home: Option<&'a Path>,
    /// Where images named without a path live (`$VMLAB_HOME/images`), when known.
    pub(super) images: Option<&'a Path>,
}

pub(super) fn resolve_node(c: &NodeCtx<'_>, errs: &mut SpecErrors) -> Option<Node> {
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

/// Is a `vm_image` value only a name (`vmlab-tiny`, `sonic-vs.qcow2`): no directory in it,
/// not `~` or `.`-relative? Such a name is an image of `vmlab image list`.
pub(super) fn is_image_name(s: &str) -> bool {
    !s.contains('/') && !s.starts_with('~') && !s.starts_with('.') && !s.is_empty()
}
