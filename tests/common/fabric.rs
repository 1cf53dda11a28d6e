//! Labs as planned, for tests and benchmarks that draw or export them without deploying: the
//! demo spine-leaf from `assets/demo`, and generated spine-leaf fabrics of any size. Included
//! by `#[path]` from tests and benches alike, so it depends on nothing but the library.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use vmlab::engine::api::LabState;
use vmlab::plan::{self, Accel, PlanOptions};
use vmlab::spec::{self, Lab, SpecSources, SpecText};

/// The state a deploy of `spec` would record, as host `local_host` (lab dir
/// `/home/u/.vmlab/labs/<name>`).
pub fn planned(spec: &Lab, local_host: Option<&str>) -> LabState {
    let plan = plan::build(
        spec,
        &PlanOptions {
            lab_dir: PathBuf::from("/home/u/.vmlab/labs").join(spec.name.as_str()),
            accel: Accel::Tcg,
            qemu: "qemu-system-x86_64".into(),
            local_host: local_host.map(String::from),
        },
    )
    .expect("plan");
    LabState::from_plan(&plan)
}

/// The demo spec (`assets/demo`), with `/home/u` as the home directory.
pub fn demo() -> Lab {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo");
    spec::load(&dir, Some(Path::new("/home/u"))).expect("the demo spec")
}

/// A fabric named `name`: `spines` spines and `leaves` leaves, each leaf on two spines taken
/// in turn (`leafL:Ethernet0` and `:Ethernet4` to consecutive spines, each spine's ports
/// `Ethernet0`, `Ethernet4`, … in the order its leaves come), one platform `vs`.
pub fn spine_leaf(name: &str, spines: usize, leaves: usize) -> Lab {
    let mut devices = serde_json::Map::new();
    for s in 0..spines {
        devices.insert(format!("spine{s}"), serde_json::json!({}));
    }
    for l in 0..leaves {
        devices.insert(format!("leaf{l}"), serde_json::json!({}));
    }
    let mut used = vec![0usize; spines];
    let mut links = Vec::new();
    for l in 0..leaves {
        for k in 0..2 {
            let s = (2 * l + k) % spines;
            links.push(serde_json::json!({
                "a": format!("spine{s}:Ethernet{}", 4 * used[s]),
                "z": format!("leaf{l}:Ethernet{}", 4 * k),
            }));
            used[s] += 1;
        }
    }
    let topology = serde_json::json!({"name": name, "devices": devices, "links": links});
    let names: Vec<String> = (0..spines)
        .map(|s| format!("spine{s}"))
        .chain((0..leaves).map(|l| format!("leaf{l}")))
        .collect();
    let profiles: Vec<(&str, &str)> = names
        .iter()
        .map(|n| (n.as_str(), r#"{"platform": "vs"}"#))
        .collect();
    from_json(
        name,
        &topology,
        r#"{"platforms": {"vs": {"vm_image": "/img/vs.qcow2"}}}"#,
        &profiles,
    )
}

/// A spec from its files' texts (under `/specs/<name>`): the topology, platforms.json, and
/// each node's profile.
pub fn from_json(
    name: &str,
    topology: &serde_json::Value,
    platforms: &str,
    profiles: &[(&str, &str)],
) -> Lab {
    let dir = PathBuf::from("/specs").join(name);
    let text = |rel: &str, t: String| SpecText {
        path: dir.join(rel),
        text: t,
    };
    let src = SpecSources {
        dir: dir.clone(),
        dir_name: Some(name.into()),
        topology: text("topology.json", topology.to_string()),
        platforms: Some(text("platforms.json", platforms.into())),
        profiles: profiles
            .iter()
            .map(|(n, p)| {
                (
                    n.to_string(),
                    text(&format!("profiles/{n}.json"), p.to_string()),
                )
            })
            .collect(),
        newtron: None,
    };
    spec::resolve(&src, None).expect("a valid spec")
}
