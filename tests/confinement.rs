//! Nothing outside a lab is ever touched: every way a bad lab name can enter (`--lab`, `-S`, a
//! topology `name`, a state file) is refused with a non-zero exit, and a `$VMLAB_HOME` holding
//! another lab and an images folder — and a directory outside it — comes out byte-identical.

// Tests and benchmarks drive the vmlab binary and look at what it left behind: the front
// ends' rules in clippy.toml (no processes, no files) are not theirs.
#![allow(clippy::disallowed_methods)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::*;

/// Every file and directory under `root`: path → contents (directories: "<dir>", symlinks:
/// "-> target").
fn tree(root: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().to_path_buf();
            let meta = p.symlink_metadata().unwrap();
            if meta.file_type().is_symlink() {
                out.insert(
                    rel,
                    format!("-> {}", std::fs::read_link(&p).unwrap().display()),
                );
            } else if meta.is_dir() {
                out.insert(rel, "<dir>".into());
                todo.push(p);
            } else {
                out.insert(
                    rel,
                    String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into(),
                );
            }
        }
    }
    out
}

/// A home with a real-looking lab `other` (marker, state, a disk), an images folder, a
/// directory vmlab did not create (`labs/foreign`), a symlink (`labs/linked`) to a victim
/// directory outside the home, and a lab whose state file is damaged (`labs/broken`).
fn populated() -> TestLab {
    let lab = TestLab::new("x");
    let home = lab.home();
    let other = home.join("labs/other");
    std::fs::create_dir_all(other.join("disks")).unwrap();
    std::fs::write(other.join(".vmlab-lab"), "other\n").unwrap();
    std::fs::write(
        other.join("state.json"),
        serde_json::json!({
            "name": "other", "created": "2026-11-25T00:00:00Z", "spec_dir": "/nowhere",
            "lab_dir": other, "accel": "tcg", "nodes": {}, "node_order": [], "links": []
        })
        .to_string(),
    )
    .unwrap();
    std::fs::write(other.join("disks/r1.qcow2"), "overlay bytes").unwrap();
    std::fs::create_dir_all(home.join("images")).unwrap();
    std::fs::write(home.join("images/sonic-vs.qcow2"), "image bytes").unwrap();
    std::fs::create_dir_all(home.join("labs/foreign")).unwrap();
    std::fs::write(home.join("labs/foreign/notes.txt"), "not vmlab's").unwrap();
    let victim = lab.root.path().join("victim");
    std::fs::create_dir_all(&victim).unwrap();
    std::fs::write(victim.join("precious.txt"), "keep me").unwrap();
    std::os::unix::fs::symlink(&victim, home.join("labs/linked")).unwrap();
    lab
}

/// Runs vmlab, expects exit `code`, and checks the whole temp root did not change.
fn refused(lab: &TestLab, args: &[&str], code: i32, needle: &str) {
    let before = tree(lab.root.path());
    let o = lab.vmlab(args);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(code), "{args:?}:\n{err}");
    assert!(
        err.to_lowercase().contains(&needle.to_lowercase()),
        "{args:?} does not say {needle:?}:\n{err}"
    );
    assert_eq!(before, tree(lab.root.path()), "{args:?} changed files");
}

#[test]
fn bad_lab_names_on_the_command_line_are_refused() {
    let lab = populated();
    let victim = lab.root.path().join("victim");
    let victim = victim.to_str().unwrap();
    for name in [
        "..",
        "",
        ".",
        "/",
        victim,
        "../labs/other",
        "a/b",
        "-rf",
        " other",
    ] {
        let flag = format!("--lab={name}");
        refused(&lab, &["destroy", "--force", &flag], 2, "lab name");
        refused(&lab, &["destroy", &flag], 2, "lab name");
        refused(&lab, &["status", &flag], 2, "lab name");
        refused(&lab, &["stop", &flag, "r1"], 2, "lab name");
    }
}

#[test]
fn directories_vmlab_did_not_create_are_never_removed() {
    let lab = populated();
    refused(
        &lab,
        &["destroy", "--force", "--lab", "foreign"],
        3,
        "not a lab directory vmlab created",
    );
    refused(
        &lab,
        &["destroy", "--force", "--lab", "linked"],
        3,
        "not a lab directory vmlab created",
    );
    refused(&lab, &["destroy", "--lab", "ghost"], 3, "not deployed");
    // The real lab is still there and can be destroyed: the checks are not a blanket refusal.
    let o = lab.vmlab(&["destroy", "--lab", "other"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!lab.home().join("labs/other").exists());
    assert!(lab.home().join("images/sonic-vs.qcow2").exists());
    assert!(lab.home().join("labs/foreign/notes.txt").exists());
}

#[test]
fn spec_directories_name_labs_by_the_deploy_rule_only() {
    let lab = populated();
    // A topology whose name would climb out, or is empty.
    for name in ["", "..", "../other", "/tmp", "-x"] {
        lab.write(
            "topology.json",
            &serde_json::json!({ "name": name, "devices": { "r1": {} } }).to_string(),
        );
        let specs = lab.specs();
        let specs = specs.to_str().unwrap();
        refused(
            &lab,
            &["destroy", "--force", "-S", specs],
            2,
            "topology.json: name",
        );
        refused(&lab, &["status", "-S", specs], 2, "topology.json: name");
        refused(
            &lab,
            &["deploy", "-S", specs, "--dry-run"],
            2,
            "topology.json: name",
        );
    }
    // No name: `-S ..` names the real parent directory (not "..", not everything).
    lab.write("topology.json", r#"{ "devices": { "r1": {} } }"#);
    let o = lab
        .command(&["destroy", "--force", "-S", ".."])
        .current_dir(lab.specs().join("profiles"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let parent = lab
        .specs()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(
        stderr(&o).contains(&format!("lab \"{parent}\" is not deployed")),
        "{}",
        stderr(&o)
    );
    assert!(lab.home().join("labs/other/state.json").exists());
}

#[test]
fn a_state_file_cannot_name_another_lab() {
    let lab = populated();
    // A state file claiming a name that climbs out is damaged, not obeyed.
    let other = lab.home().join("labs/other/state.json");
    let text = std::fs::read_to_string(&other)
        .unwrap()
        .replace("\"name\":\"other\"", "\"name\":\"..\"");
    std::fs::write(&other, text).unwrap();
    refused(&lab, &["status", "--lab", "other"], 3, "damaged");
}

#[test]
fn reports_go_to_stderr_with_the_documented_codes() {
    let lab = populated();
    std::fs::create_dir_all(lab.home().join("labs/broken")).unwrap();
    std::fs::write(lab.home().join("labs/broken/state.json"), "{").unwrap();
    let o = lab.vmlab(&["labs"]);
    assert_eq!(
        o.status.code(),
        Some(3),
        "a damaged lab is worth a non-zero exit"
    );
    assert!(stdout(&o).contains("other"), "{}", stdout(&o));
    assert!(!stdout(&o).contains("broken"), "errors stay off stdout");
    assert!(stderr(&o).contains("lab broken"), "{}", stderr(&o));

    let missing = lab.root.path().join("no-such-specs");
    let o = lab.vmlab(&["status", "-S", missing.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("does not exist"), "{}", stderr(&o));

    lab.write("topology.json", r#"{ "devices": { "r1": {} } }"#);
    let file = lab.specs().join("topology.json");
    let o = lab.vmlab(&["deploy", "-S", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("not a spec directory"),
        "{}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains("the directory that holds it"),
        "{}",
        stderr(&o)
    );
}
