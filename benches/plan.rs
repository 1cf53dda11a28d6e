//! Plan building speed: a generated 1000-node, 2000-link topology, from spec text to a full
//! plan (every QEMU command line), in the design's layout and in newtron's (registry ports,
//! secrets). Target: under 50 ms (BENCHMARKS.md).

// Tests and benchmarks drive the vmlab binary and look at what it left behind: the front
// ends' rules in clippy.toml (no processes, no files) are not theirs.
#![allow(clippy::disallowed_methods)]

use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::{Criterion, criterion_group, criterion_main};
use vmlab::plan::{self, Accel, PlanOptions};
use vmlab::spec::{self, SpecSources, SpecText};

const NODES: usize = 1000;
const LINKS: usize = 2000;

/// Every node uses four stride-4 interfaces: Ethernet0/4 as a link's a end, Ethernet8/12 as z.
fn sources() -> SpecSources {
    let mut devices = serde_json::Map::new();
    for i in 0..NODES {
        devices.insert(format!("n{i}"), serde_json::json!({}));
    }
    let links: Vec<serde_json::Value> = (0..LINKS)
        .map(|k| {
            let (i, slot) = (k % NODES, k / NODES);
            let z = (i + 1 + slot * (NODES / 2)) % NODES;
            serde_json::json!({
                "a": format!("n{i}:Ethernet{}", 4 * slot),
                "z": format!("n{z}:Ethernet{}", 4 * (2 + slot)),
            })
        })
        .collect();
    let topology = serde_json::json!({
        "name": "big", "devices": devices, "links": links,
        "vmlab": { "link_port_base": 10000, "console_port_base": 20000, "ssh_port_base": 30000 }
    });
    let platforms = r#"{"platforms": {"vs": {"vm_image": "/img/vs.qcow2", "vm_interface_map": "stride-4",
        "vm_credentials": {"user": "admin", "pass": "x"}}}}"#;
    let dir = PathBuf::from("/specs/big");
    let text = |rel: &str, t: String| SpecText {
        path: dir.join(rel),
        text: t,
    };
    SpecSources {
        dir: dir.clone(),
        dir_name: Some("bench".into()),
        topology: text("topology.json", topology.to_string()),
        platforms: Some(text("platforms.json", platforms.to_string())),
        profiles: (0..NODES)
            .map(|i| {
                (
                    format!("n{i}"),
                    text(
                        &format!("profiles/n{i}.json"),
                        r#"{"platform": "vs"}"#.into(),
                    ),
                )
            })
            .collect(),
        newtron: None,
    }
}

/// The same network laid out as newtron lays it out: `nodes` in the topology, `nodes/<n>.json`
/// with a `${secret:...}` password each, and a registry platform whose 32-port `ports[]`
/// inventory places the interfaces.
fn newtron_sources() -> SpecSources {
    let design = sources();
    let mut topology: serde_json::Value =
        serde_json::from_str(&design.topology.text).expect("generated topology");
    let obj = topology.as_object_mut().expect("an object");
    let devices = obj.remove("devices").expect("devices");
    obj.insert("nodes".into(), devices);
    obj.remove("name");
    let settings = obj.remove("vmlab").expect("settings");
    obj.insert("newtlab".into(), settings);
    let ports: Vec<serde_json::Value> = (0..32)
        .map(|k| serde_json::json!({"name": format!("Ethernet{}", 4 * k), "nic_index": k + 1}))
        .collect();
    let platform = serde_json::json!({"name": "vs", "device_type": "switch", "ports": ports,
        "vm_image": "/img/vs.qcow2", "credentials": {"user": "admin", "pass": "x"}});
    let dir = PathBuf::from("/n/networks/big");
    let text = |path: PathBuf, t: String| SpecText { path, text: t };
    let mut secrets = serde_json::Map::new();
    for i in 0..NODES {
        secrets.insert(format!("n{i}_pass"), "YourPaSsWoRd".into());
    }
    SpecSources {
        dir: dir.clone(),
        dir_name: Some("big".into()),
        topology: text(dir.join("topology.json"), topology.to_string()),
        platforms: None,
        profiles: (0..NODES)
            .map(|i| {
                (
                    format!("n{i}"),
                    text(
                        dir.join(format!("nodes/n{i}.json")),
                        format!(
                            r#"{{"platform": "vs", "ssh_user": "admin", "ssh_pass": "${{secret:n{i}_pass}}", "zone": ""}}"#
                        ),
                    ),
                )
            })
            .collect(),
        newtron: Some(spec::source::NewtronSources {
            registry: PathBuf::from("/n/platforms"),
            platforms: vec![(
                "vs".into(),
                text(PathBuf::from("/n/platforms/vs.json"), platform.to_string()),
            )],
            secrets: Some(text(
                dir.join("secrets.json"),
                serde_json::Value::Object(secrets).to_string(),
            )),
            zones: Vec::new(),
            network: None,
        }),
    }
}

fn bench(c: &mut Criterion) {
    let src = sources();
    let opts = PlanOptions {
        lab_dir: PathBuf::from("/home/u/.vmlab/labs/big"),
        accel: Accel::Tcg,
        qemu: "qemu-system-x86_64".into(),
        local_host: None,
    };
    let lab = spec::resolve(&src, Some(Path::new("/home/u"))).expect("valid generated spec");
    assert_eq!((lab.nodes.len(), lab.links.len()), (NODES, LINKS));
    c.bench_function("plan 1000 nodes 2000 links (resolved lab → plan)", |b| {
        b.iter(|| plan::build(black_box(&lab), &opts).expect("plan"))
    });
    c.bench_function("spec text → plan, 1000 nodes 2000 links", |b| {
        b.iter(|| {
            let lab = spec::resolve(black_box(&src), None).expect("valid");
            plan::build(&lab, &opts).expect("plan")
        })
    });
    let newtron = newtron_sources();
    let lab = spec::resolve(&newtron, None).expect("valid generated newtron network");
    assert_eq!((lab.nodes.len(), lab.links.len()), (NODES, LINKS));
    c.bench_function(
        "newtron layout: spec text → plan, 1000 nodes 2000 links",
        |b| {
            b.iter(|| {
                let lab = spec::resolve(black_box(&newtron), None).expect("valid");
                plan::build(&lab, &opts).expect("plan")
            })
        },
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
