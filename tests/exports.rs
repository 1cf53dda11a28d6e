//! What other tools read about a lab — ssh_config, the Ansible and JSON inventories, and the
//! graphs — rendered for the demo spine-leaf (`assets/demo`) and snapshotted, plus a
//! two-host variant for the per-host grouping; and the demo's checks (`validate.json`), read
//! as `vmlab validate` reads them and naming only what the demo has.

// Tests and benchmarks drive the vmlab binary and look at what it left behind: the front
// ends' rules in clippy.toml (no processes, no files) are not theirs.
#![allow(clippy::disallowed_methods)]

#[path = "common/fabric.rs"]
mod fabric;

use std::path::Path;

use fabric::{demo, planned};
use vmlab::engine::api::export;

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
    let st = planned(&demo(), None);
    let text = export::ssh_config(&st, Path::new("/home/u/.vmlab/labs/demo"));
    assert!(!text.contains("YourPaSsWoRd"), "no password in ssh_config");
    insta::assert_snapshot!(text);
}

#[test]
fn inventories_of_the_demo() {
    let st = planned(&demo(), None);
    let dir = Path::new("/home/u/.vmlab/labs/demo");
    let yml = export::ansible(&st, dir);
    assert!(!yml.contains("YourPaSsWoRd"));
    insta::assert_snapshot!("ansible", yml);
    let inv = export::inventory(&st, dir);
    let json = serde_json::to_value(&inv).unwrap();
    // Every node lists its interfaces with the guest's names.
    let spine1 = &json["nodes"][0];
    assert_eq!(spine1["name"], "spine1");
    // Named as `vmlab status` names it.
    assert_eq!(spine1["host"], "localhost");
    assert_eq!(spine1["interfaces"][0]["name"], "Ethernet0");
    assert_eq!(spine1["interfaces"][0]["guest"], "eth1");
    assert_eq!(spine1["interfaces"][1]["name"], "Ethernet4");
    assert_eq!(spine1["interfaces"][1]["guest"], "eth2");
    insta::assert_snapshot!("json", stable(serde_json::to_string_pretty(&json).unwrap()));
}

#[test]
fn graphs_of_the_demo() {
    let st = planned(&demo(), None);
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
    let st = planned(&fabric::spine_leaf("wide", 4, 40), None);
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

/// The demo split over two hosts (spines on h1, leaves on h2), seen from h1: the inventory
/// groups by host too, the graphs group nodes by host, and ssh_config lists h1's nodes only
/// (h2's entries are on h2, with h2's key).
#[test]
fn a_two_host_demo_is_grouped_by_host() {
    let mut spec = demo();
    spec.settings.hosts = vec![
        ("h1".into(), "127.0.0.2".into()),
        ("h2".into(), "127.0.0.3".into()),
    ];
    for n in &mut spec.nodes {
        let h = if n.name.starts_with("spine") {
            "h1"
        } else {
            "h2"
        };
        n.host = Some(h.into());
    }
    let st = planned(&spec, Some("h1"));
    let dir = Path::new("/home/u/.vmlab/labs/demo");
    let yml = export::ansible(&st, dir);
    for want in ["host_h1:", "host_h2:", "ansible_host: \"127.0.0.3\""] {
        assert!(yml.contains(want), "inventory lacks {want}:\n{yml}");
    }
    let cfg = export::ssh_config(&st, dir);
    assert!(cfg.contains("Host spine1 demo-spine1"), "{cfg}");
    assert!(
        !cfg.contains("leaf1"),
        "h2's nodes are not in h1's ssh_config:\n{cfg}"
    );
    let dot = export::dot(&st);
    assert_eq!(dot.matches("subgraph cluster_").count(), 2, "{dot}");
    let art = export::ascii(&st, &|_| None).text();
    assert!(art.contains("@h1") && art.contains("@h2"), "{art}");
}

/// Names that differ only in what an Ansible group or a Mermaid id cannot hold (`leaf-1`,
/// `leaf_1`; platforms `sonic-vs`, `sonic_vs`), and a node named like a host's subgraph
/// (`host_h1`), stay apart: two groups, distinct diagram nodes, a link between them.
#[test]
fn names_alike_after_escaping_stay_apart() {
    let topology = serde_json::json!({
        "name": "alike",
        "devices": { "leaf-1": {}, "leaf_1": {}, "host_h1": {} },
        "links": [
            { "a": "leaf-1:Ethernet0", "z": "leaf_1:Ethernet0" },
            { "a": "leaf_1:Ethernet4", "z": "host_h1:Ethernet0" },
        ],
        "vmlab": { "hosts": { "h1": "127.0.0.2" } }
    });
    let spec = fabric::from_json(
        "alike",
        &topology,
        r#"{"platforms": {"sonic-vs": {"vm_image": "/img/a.qcow2"},
                          "sonic_vs": {"vm_image": "/img/b.qcow2"}}}"#,
        &[
            ("leaf-1", r#"{"platform": "sonic-vs", "vm_host": "h1"}"#),
            ("leaf_1", r#"{"platform": "sonic_vs", "vm_host": "h1"}"#),
            ("host_h1", r#"{"platform": "sonic_vs", "vm_host": "h1"}"#),
        ],
    );
    let st = planned(&spec, Some("h1"));

    let mm = export::mermaid(&st);
    let ids: Vec<&str> = mm
        .lines()
        .filter_map(|l| l.trim().split_once("[\""))
        .map(|(id, _)| id.trim_start_matches("subgraph ").trim())
        .collect();
    assert_eq!(ids.len(), 4, "a subgraph and three nodes:\n{mm}");
    let distinct: std::collections::HashSet<&&str> = ids.iter().collect();
    assert_eq!(distinct.len(), 4, "two things share an id:\n{mm}");
    assert!(
        mm.contains("n_leaf_1 ---|") && mm.contains("| n_leaf_1_2"),
        "{mm}"
    );

    let yml = export::ansible(&st, Path::new("/home/u/.vmlab/labs/alike"));
    let groups: Vec<&str> = yml
        .lines()
        .filter(|l| l.starts_with("    ") && !l.starts_with("     ") && l.ends_with(':'))
        .collect();
    assert_eq!(
        groups,
        ["    sonic_vs:", "    sonic_vs_2:", "    host_h1:"],
        "{yml}"
    );
}

#[test]
fn the_demo_checks_parse_and_name_what_the_demo_has() {
    use vmlab::spec::validate::{Nodes, Target, parse};
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo/validate.json");
    let text = vmlab::spec::source::read_checks(&path)
        .expect("the demo's checks")
        .expect("a checks file");
    let checks = parse(&text).expect("valid checks");
    let st = planned(&demo(), None);
    assert!(checks.checks.len() >= 5, "a real set of checks");
    let mut links = 0;
    for c in &checks.checks {
        match &c.target {
            Target::Nodes {
                nodes: Nodes::Named(n),
                ..
            } => {
                for n in n {
                    assert!(st.nodes.contains_key(n), "{}: no node {n}", c.name)
                }
            }
            Target::Nodes { .. } => {}
            Target::Link(end) => {
                links += 1;
                vmlab::engine::api::find_link_end(&st, end)
                    .unwrap_or_else(|e| panic!("{}: {e}", c.name));
            }
        }
    }
    assert_eq!(links, st.links.len(), "one link check per link of the demo");
}
