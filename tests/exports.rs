//! What other tools read about a lab — ssh_config, the Ansible and JSON inventories, and the
//! graphs — rendered for the demo spine-leaf (`assets/demo`) and snapshotted, plus a
//! two-host variant for the per-host grouping.

use std::path::{Path, PathBuf};

use vmlab::engine::lab::export;
use vmlab::engine::lab::state::LabState;
use vmlab::plan::{self, Accel, PlanOptions};

fn demo_state(local_host: Option<&str>, spec: &vmlab::spec::Lab) -> LabState {
    let plan = plan::build(
        spec,
        &PlanOptions {
            lab_dir: PathBuf::from("/home/u/.vmlab/labs/demo"),
            accel: Accel::Tcg,
            qemu: "qemu-system-x86_64".into(),
            local_host: local_host.map(String::from),
        },
    )
    .expect("plan");
    LabState::from_plan(&plan)
}

fn demo() -> vmlab::spec::Lab {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo");
    vmlab::spec::load(&dir, Some(Path::new("/home/u"))).expect("the demo spec")
}

/// The demo's paths differ by checkout: name the spec directory the same everywhere.
fn stable(s: String) -> String {
    s.replace(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("assets/demo")
            .to_string_lossy()
            .into_owned(),
        "<spec>",
    )
}

#[test]
fn ssh_config_of_the_demo() {
    let st = demo_state(None, &demo());
    let text = export::ssh_config(&st, Path::new("/home/u/.vmlab/labs/demo"));
    assert!(!text.contains("YourPaSsWoRd"), "no password in ssh_config");
    insta::assert_snapshot!(text);
}

#[test]
fn inventories_of_the_demo() {
    let st = demo_state(None, &demo());
    let dir = Path::new("/home/u/.vmlab/labs/demo");
    let yml = export::ansible(&st, dir);
    assert!(!yml.contains("YourPaSsWoRd"));
    insta::assert_snapshot!("ansible", yml);
    let inv = export::inventory(&st, dir);
    let json = serde_json::to_value(&inv).unwrap();
    // Every node lists its interfaces with the guest's names.
    let spine1 = &json["nodes"][0];
    assert_eq!(spine1["name"], "spine1");
    assert_eq!(spine1["interfaces"][0]["name"], "Ethernet0");
    assert_eq!(spine1["interfaces"][0]["guest"], "eth1");
    assert_eq!(spine1["interfaces"][1]["name"], "Ethernet4");
    assert_eq!(spine1["interfaces"][1]["guest"], "eth2");
    insta::assert_snapshot!("json", stable(serde_json::to_string_pretty(&json).unwrap()));
}

#[test]
fn graphs_of_the_demo() {
    let st = demo_state(None, &demo());
    insta::assert_snapshot!("dot", export::dot(&st));
    insta::assert_snapshot!("mermaid", export::mermaid(&st));
    let art = export::ascii(&st, &|_| None).text();
    // Spines on the top row, leaves below, every link numbered in the legend as `vmlab
    // links` numbers it.
    let first = art.lines().nth(1).unwrap();
    assert!(
        first.contains("spine1") && first.contains("spine2"),
        "{art}"
    );
    assert!(!first.contains("leaf"), "{art}");
    for k in 0..4 {
        assert!(
            art.contains(&format!(" {k}  ")),
            "link {k} in the legend:\n{art}"
        );
    }
    insta::assert_snapshot!("ascii", art);
}

/// A fabric too wide for link lines (4 spines, 40 leaves, 80 links) is drawn compact: boxes
/// wrapped to the width limit, every link in the legend, and a note saying where the lines are.
#[test]
fn a_wide_fabric_is_drawn_compact() {
    use vmlab::spec::{SpecSources, SpecText};
    let mut devices = serde_json::Map::new();
    for s in 0..4 {
        devices.insert(format!("spine{s}"), serde_json::json!({}));
    }
    for l in 0..40 {
        devices.insert(format!("leaf{l}"), serde_json::json!({}));
    }
    let mut used = [0usize; 4];
    let mut links = Vec::new();
    for l in 0..40 {
        for k in 0..2 {
            let s = (2 * l + k) % 4;
            links.push(
                serde_json::json!({"a": format!("spine{s}:Ethernet{}", 4 * used[s]),
                                          "z": format!("leaf{l}:Ethernet{}", 4 * k)}),
            );
            used[s] += 1;
        }
    }
    let dir = PathBuf::from("/specs/wide");
    let text = |rel: &str, t: String| SpecText {
        path: dir.join(rel),
        text: t,
    };
    let src = SpecSources {
        dir: dir.clone(),
        dir_name: Some("wide".into()),
        topology: text(
            "topology.json",
            serde_json::json!({"name": "wide", "devices": devices, "links": links}).to_string(),
        ),
        platforms: Some(text(
            "platforms.json",
            r#"{"platforms": {"vs": {"vm_image": "/img/vs.qcow2"}}}"#.into(),
        )),
        profiles: (0..4)
            .map(|s| format!("spine{s}"))
            .chain((0..40).map(|l| format!("leaf{l}")))
            .map(|n| {
                let t = text(
                    &format!("profiles/{n}.json"),
                    r#"{"platform": "vs"}"#.into(),
                );
                (n, t)
            })
            .collect(),
    };
    let spec = vmlab::spec::resolve(&src, None).expect("valid");
    let st = demo_state(None, &spec);
    let d = export::ascii(&st, &|_| None);
    let art = d.text();
    let boxes_end = art
        .lines()
        .position(|l| l.contains("80 links: too many to draw"))
        .unwrap_or_else(|| panic!("no note:\n{art}"));
    for line in art.lines().take(boxes_end) {
        assert!(
            line.chars().count() <= export::MAX_DRAWN_WIDTH,
            "too wide: {line}"
        );
    }
    for n in (0..4)
        .map(|s| format!("spine{s}"))
        .chain((0..40).map(|l| format!("leaf{l}")))
    {
        assert!(art.contains(&format!(" {n} ")), "{n} not drawn:\n{art}");
    }
    assert!(
        art.contains("79  spine3 Ethernet76 (eth20) ── leaf39 Ethernet4 (eth2)"),
        "{art}"
    );
    assert_eq!(d.boxes.len(), 44);
    // Spines above the leaves.
    let row_of = |n: &str| {
        art.lines()
            .position(|l| l.contains(&format!(" {n} ")))
            .unwrap()
    };
    assert!(row_of("spine3") < row_of("leaf0"));
}
