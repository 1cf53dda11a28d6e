//! Plan building speed: a generated 1000-node, 2000-link topology, from spec text to a full
//! plan (every QEMU command line). Target: under 50 ms (BENCHMARKS.md).

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
}

criterion_group!(benches, bench);
criterion_main!(benches);
