//! Spec text → [`Lab`], purely: JSON parsing, validation and HLD §4 resolution.
//!
//! VM settings resolve profile → platform → built-in default (first non-empty wins); credentials
//! resolve profile `ssh_user`/`ssh_pass` → platform `vm_credentials`. Every problem is collected
//! (not just the first) so one run of `vmlab deploy` shows the user all of them.
//!
//! Split by what is resolved: the topology's settings section ([`settings`]), the nodes with
//! their hosts, waits and credentials ([`nodes`]), the links and their impairments
//! ([`links`]), and the checks every field shares ([`fields`]: ranges, choices, type errors).
//! This file reads the documents and puts the lab together; a second spec layout changes how
//! documents are found, not these checks.

mod dataplane;
mod fields;
mod links;
mod nodes;
mod placement;
mod platforms;
mod settings;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::error::{SpecError, SpecErrors};
use super::model::Lab;
use super::name::{derive_lab_name, is_safe_name};
use super::source::{SpecSources, SpecText};
use fields::type_name;
pub use fields::{
    DEFAULT_BOOT_TIMEOUT_SECS, DEFAULT_CPUS, DEFAULT_MEMORY_MB, DEFAULT_NIC_DRIVER, MAX_NIC_INDEX,
    expand_path,
};
use links::{check_declared_links, resolve_links};
use nodes::{NewtronCtx, NodeCtx, ParsedProfile, check_hosts, check_wait_for, resolve_node};
use platforms::Platforms;
use settings::resolve_settings;

/// A parsed file: its path, and its object (`None`: it did not parse, already reported).
type ParsedDoc = (PathBuf, Option<Map<String, Value>>);

/// What newtron's layout adds around its nodes, from its parsed zones, network and secrets.
fn newtron_ctx<'a>(
    dir: &Path,
    zones: &'a [platforms::RegistryFile],
    network: Option<&'a ParsedDoc>,
    secrets: Option<&'a ParsedDoc>,
) -> NewtronCtx<'a> {
    let object =
        |d: Option<&'a ParsedDoc>| d.and_then(|(p, d)| d.as_ref().map(|d| (p.as_path(), d)));
    NewtronCtx {
        zones: zones
            .iter()
            .filter_map(|(z, path, doc)| doc.as_ref().map(|d| (z.as_str(), (path.as_path(), d))))
            .collect(),
        zones_dir: dir.join("zones"),
        network: object(network),
        secrets: object(secrets),
        secrets_path: dir.join("secrets.json"),
    }
}

/// Where boot patch sets are looked for when nothing names a folder: `patches/` beside the
/// platforms (the spec directory's), or in newtron's checkout `patches/` beside its registry,
/// then its own newtlab patches.
fn patches_default(src: &SpecSources) -> Vec<PathBuf> {
    match &src.newtron {
        Some(n) => match n.registry.parent() {
            Some(up) => vec![up.join("patches"), up.join("pkg/newtlab/patches")],
            None => Vec::new(),
        },
        None => vec![src.dir.join("patches")],
    }
}

/// Resolves the spec. `home` expands a leading `~` in image paths.
pub fn resolve(src: &SpecSources, home: Option<&Path>) -> Result<Lab, SpecErrors> {
    resolve_in(src, home, None)
}

/// Resolves the spec, a `vm_image` that is only a name (no `/`) naming an image of `images`
/// (`$VMLAB_HOME/images`, what `vmlab image list` shows): `vmlab-tiny` is
/// `<images>/vmlab-tiny.qcow2`. Without `images`, such a name is a file beside the spec.
pub fn resolve_in(
    src: &SpecSources,
    home: Option<&Path>,
    images: Option<&Path>,
) -> Result<Lab, SpecErrors> {
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
    // newtron's layout: its registry, zones, network and secrets, parsed.
    let parse_all = |files: &[(String, SpecText)], errs: &mut SpecErrors| {
        files
            .iter()
            .map(|(n, t)| (n.clone(), t.path.clone(), parse_object(t, errs)))
            .collect::<Vec<_>>()
    };
    let newtron = src.newtron.as_ref();
    let registry_docs = newtron.map(|n| parse_all(&n.platforms, &mut errs));
    let zone_docs = newtron.map(|n| parse_all(&n.zones, &mut errs));
    let network_doc = newtron
        .and_then(|n| n.network.as_ref())
        .map(|t| (t.path.clone(), parse_object(t, &mut errs)));
    let secrets_doc = newtron
        .and_then(|n| n.secrets.as_ref())
        .map(|t| (t.path.clone(), parse_object(t, &mut errs)));
    let Some(topology) = topology else {
        return Err(errs);
    };

    // newtron names a lab by its network's directory.
    let name = derive_lab_name(
        topology.get("name").filter(|_| newtron.is_none()),
        src.dir_name.as_deref(),
        &topo_path,
    )
    .map_err(|e| errs.push(e))
    .ok();

    let mut settings = resolve_settings(&topology, &topo_path, &mut errs);
    settings.patches = settings::patches_dir(&topology, &topo_path, home, &mut errs);
    settings.patches_default = patches_default(src);

    let platforms_path = src
        .platforms
        .as_ref()
        .map(|t| t.path.clone())
        .unwrap_or_else(|| src.dir.join("platforms.json"));
    let platforms = match (newtron, &registry_docs) {
        (Some(n), Some(docs)) => Platforms::from_registry(docs, &n.registry, &mut errs),
        _ => Platforms::from_file(
            platforms_doc.as_ref(),
            &platforms_path,
            src.platforms.is_some(),
            &mut errs,
        ),
    };
    let newtron_ctx = newtron.map(|_| {
        newtron_ctx(
            &src.dir,
            zone_docs.as_deref().unwrap_or_default(),
            network_doc.as_ref(),
            secrets_doc.as_ref(),
        )
    });
    // newtron's topology lists `nodes`; the design's, `devices`.
    let dkey = newtron.map_or("devices", |_| "nodes");

    let mut nodes = Vec::new();
    match topology.get(dkey) {
        Some(Value::Object(devices)) if !devices.is_empty() => {
            for (index, (dev, body)) in devices.iter().enumerate() {
                let field = format!("{dkey}.{dev}");
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
                    platforms: &platforms,
                    newtron: newtron_ctx.as_ref(),
                    spec_dir: &src.dir,
                    home,
                    images,
                };
                if let Some(node) = resolve_node(&ctx, &mut errs) {
                    nodes.push(node);
                }
            }
        }
        _ => errs.push(SpecError::new(
            &topo_path,
            dkey,
            "missing, empty or not an object",
            format!("list the lab's devices under \"{dkey}\": {{\"name\": {{...}}}}"),
        )),
    }

    placement::place_on_servers(&mut nodes, &settings, &topo_path, &mut errs);
    check_hosts(&nodes, &settings, &topo_path, &mut errs);
    // With every device resolved, its waits can be checked (a node that failed is missing).
    let all_devices =
        matches!(topology.get(dkey), Some(Value::Object(d)) if d.len() == nodes.len());
    if all_devices {
        check_wait_for(&nodes, &mut errs);
    }
    let known: Vec<&str> = match topology.get(dkey) {
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
    check_declared_links(&topology, &topo_path, &known, &mut errs);
    if settings.coalesce_hosts.unwrap_or(newtron.is_some()) {
        check_host_interfaces(&nodes, &links, &topo_path, &mut errs);
    }

    match (name, errs.is_empty()) {
        (Some(name), true) => Ok(Lab {
            name,
            newtron: newtron.is_some(),
            registry: newtron.map(|n| n.registry.clone()),
            spec_dir: src.dir.clone(),
            settings,
            nodes,
            links,
        }),
        _ => Err(errs),
    }
}

/// A coalesced host's interfaces are renamed to their spec names inside its namespace: each
/// must be a Linux interface name.
fn check_host_interfaces(
    nodes: &[super::model::Node],
    links: &[super::model::Link],
    topo: &Path,
    errs: &mut SpecErrors,
) {
    let hosts: std::collections::HashSet<&str> = nodes
        .iter()
        .filter(|n| n.device_type == "host")
        .map(|n| n.name.as_str())
        .collect();
    for l in links {
        for (end, side) in [(&l.a, "a"), (&l.z, "z")] {
            let ok = (1..=15).contains(&end.iface.len())
                && !end.iface.starts_with('-')
                && end
                    .iface
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
            if hosts.contains(end.node.as_str()) && !ok {
                errs.push(SpecError::new(
                    topo,
                    format!("links[{}].{side}", l.index),
                    format!(
                        "host {}'s interface {:?} cannot be a Linux interface name in its \
                         namespace",
                        end.node, end.iface
                    ),
                    "name it like eth0 (letters, digits, '_', '.', '-'; at most 15), or set \
                     vmlab.coalesce_hosts: false",
                ));
            }
        }
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
