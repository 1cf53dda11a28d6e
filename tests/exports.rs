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
