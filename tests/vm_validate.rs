//! `vmlab validate` on a real lab: a check that passes, one that passes only after its `wait`
//! (something in the guest becomes true seconds later), one that fails (the report shows what
//! was expected and what came), a JSON-pointer check on a command's JSON output, a link check
//! before and after `vmlab link down`; the exit codes; JUnit read by a real XML parser.

// Tests and benchmarks drive the vmlab binary and look at what it left behind: the front
// ends' rules in clippy.toml (no processes, no files) are not theirs.
#![allow(clippy::disallowed_methods)]

mod common;

use common::*;
use serde_json::Value;

const CHECKS: &str = r#"{ "checks": [
  { "name": "hostnames", "all": true, "exec": "hostname", "expect": { "stdout": "^vmlab$" } },
  { "name": "later", "all": true, "exec": "test -e /tmp/ready", "wait": 40 },
  { "name": "json", "nodes": ["b"], "exec": "echo '{\"a\": {\"n\": 2, \"s\": \"Established\"}}'",
    "expect": { "json": [ { "pointer": "/a/n", "equals": 2 }, { "pointer": "/a/s", "matches": "^Est" } ] } },
  { "name": "link up", "link": "a:Ethernet0", "expect": { "state": "up" } },
  { "name": "greets", "nodes": ["a"], "exec": "echo hello", "expect": { "stdout": "^goodbye$" } }
] }"#;

fn verdicts(v: &Value) -> Vec<(String, String, String)> {
    v.as_array()
        .expect("a list of results")
        .iter()
        .map(|r| {
            (
                r["check"].as_str().unwrap_or("").to_string(),
                r["on"].as_str().unwrap_or("").to_string(),
                r["verdict"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn checks_pass_wait_fail_and_report_for_ci() {
    let lab = two_node_lab("checks", 22990, 26880, 28880);
    lab.write("validate.json", CHECKS);
    lab.deploy();
    // Something true on b already, and on a a few seconds from now.
    on(&lab, "b", "touch /tmp/ready");
    on(
        &lab,
        "a",
        "setsid sh -c 'sleep 4; touch /tmp/ready' > /dev/null 2>&1 < /dev/null &",
    );
    let o = lab.vmlab(&["validate", "--lab", "checks", "--format", "json"]);
    assert_eq!(
        o.status.code(),
        Some(9),
        "a check fails: exit 9\n{}",
        stderr(&o)
    );
    // The report has the API's shape: passed and the counts with every result.
    let report: Value = serde_json::from_str(&stdout(&o)).expect("JSON results");
    assert_eq!(report["passed"], Value::Bool(false), "{report}");
    assert_eq!(report["counts"]["fail"], 1, "{report}");
    let results = report["results"].clone();
    let v = verdicts(&results);
    let want = |c: &str, on: &str, verdict: &str| {
        assert!(
            v.contains(&(c.into(), on.into(), verdict.into())),
            "{c} on {on} is not {verdict}: {v:?}"
        )
    };
    want("hostnames", "a", "pass");
    want("hostnames", "b", "pass");
    want("later", "a", "pass");
    want("later", "b", "pass");
    want("json", "b", "pass");
    want("link up", "a:Ethernet0", "pass");
    want("greets", "a", "fail");
    // Only the node still failing is tried again: b passed at once, a after its wait; the
    // results keep the nodes' order.
    let later: Vec<&Value> = results
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["check"] == "later")
        .collect();
    assert_eq!(
        (later[0]["on"].as_str(), later[1]["on"].as_str()),
        (Some("a"), Some("b")),
        "{later:?}"
    );
    assert!(
        later[0]["attempts"].as_u64().unwrap_or(0) > 1,
        "a waited: {later:?}"
    );
    assert_eq!(later[1]["attempts"], 1, "b passed at once: {later:?}");
    let greets = results
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["check"] == "greets")
        .unwrap();
    let detail = greets["detail"].as_str().unwrap_or("");
    assert!(
        detail.contains("does not match /^goodbye$/") && detail.contains("hello"),
        "expected and actual: {detail}"
    );
    // The checks shared one SSH connection per node: its control socket is in the lab's
    // private directory, and a master process serves it.
    use std::os::unix::fs::FileTypeExt;
    let sockets = lab.lab_dir().join("ssh");
    for node in ["a", "b"] {
        let meta = std::fs::symlink_metadata(sockets.join(node)).expect("a control socket");
        assert!(meta.file_type().is_socket(), "{node}'s control socket");
    }
    assert!(!masters(&sockets).is_empty(), "the shared connections run");

    // The table says the same; only the passing checks: exit 0.
    let o = lab.vmlab(&["validate", "--lab", "checks"]);
    assert!(stdout(&o).contains("FAIL"), "{}", stdout(&o));
    assert!(stdout(&o).contains("6 of 7 passed"), "{}", stdout(&o));
    lab.ok(&[
        "validate",
        "--lab",
        "checks",
        "--only",
        "hostnames,json,link up",
    ]);

    // A link check after the link goes down.
    lab.ok(&["link", "down", "--lab", "checks", "a:Ethernet0"]);
    let o = lab.vmlab(&["validate", "--lab", "checks", "--only", "link up"]);
    assert_eq!(o.status.code(), Some(9));
    assert!(
        stdout(&o).contains("the link is down, expected up"),
        "{}",
        stdout(&o)
    );
    lab.ok(&["link", "up", "--lab", "checks", "a:Ethernet0"]);

    // JUnit for CI, read by an XML parser: one test case per check × node.
    let o = lab.vmlab(&["validate", "--lab", "checks", "--format", "junit"]);
    assert_eq!(o.status.code(), Some(9));
    let xml = stdout(&o);
    let doc = roxmltree::Document::parse(&xml).expect("JUnit XML");
    let cases: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len(), 7, "{xml}");
    let failed: Vec<_> = cases
        .iter()
        .filter(|c| c.children().any(|k| k.has_tag_name("failure")))
        .map(|c| c.attribute("name").unwrap_or(""))
        .collect();
    assert_eq!(failed, ["greets on a"], "{xml}");

    // A bad checks file: exit 2, naming the check and the key; an unknown --only name too.
    lab.write(
        "bad.json",
        r#"{"checks": [{"name": "x", "all": true, "exec": "true", "expect": {"stdot": "y"}}]}"#,
    );
    let bad = lab.specs().join("bad.json");
    let o = lab.vmlab(&[
        "validate",
        "--lab",
        "checks",
        "--file",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("checks[0] (x).expect.stdot: is not a key vmlab knows here"),
        "{}",
        stderr(&o)
    );
    let o = lab.vmlab(&["validate", "--lab", "checks", "--only", "nope"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    // Targets the lab does not have: exit 2 before anything runs, every one named.
    lab.write(
        "targets.json",
        r#"{"checks": [{"name": "n", "nodes": ["a", "leaf9"], "exec": "touch /tmp/ran"},
                       {"name": "l", "link": "a:Ethernet9", "expect": {"state": "up"}}]}"#,
    );
    let targets = lab.specs().join("targets.json");
    let o = lab.vmlab(&[
        "validate",
        "--lab",
        "checks",
        "--file",
        targets.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    for named in [
        "checks[0] (n).nodes",
        "leaf9",
        "checks[1] (l).link",
        "Ethernet9",
    ] {
        assert!(stderr(&o).contains(named), "{named}: {}", stderr(&o));
    }
    assert!(!on(&lab, "a", "ls /tmp").contains("ran"), "nothing ran");
    // An empty list tests nothing: an error; no file at all: exit 3; --json as elsewhere.
    lab.write("empty.json", r#"{"checks": []}"#);
    let empty = lab.specs().join("empty.json");
    let o = lab.vmlab(&[
        "validate",
        "--lab",
        "checks",
        "--file",
        empty.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("is empty"), "{}", stderr(&o));
    let o = lab.vmlab(&[
        "validate",
        "--lab",
        "checks",
        "--file",
        "/nonexistent/checks.json",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("no checks file"), "{}", stderr(&o));
    let o = lab.vmlab(&[
        "validate",
        "--lab",
        "checks",
        "--only",
        "hostnames",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let report: Value = serde_json::from_str(&stdout(&o)).expect("--json");
    assert_eq!(report["counts"]["pass"], 2, "{report}");
    // A check is tried until its wait is spent: true at about 85% of it, it passes.
    on(
        &lab,
        "a",
        "setsid sh -c 'sleep 8.5; touch /tmp/late' > /dev/null 2>&1 < /dev/null &",
    );
    lab.write(
        "late.json",
        r#"{"checks": [{"name": "almost late", "nodes": ["a"], "exec": "test -e /tmp/late", "wait": 10}]}"#,
    );
    let late = lab.specs().join("late.json");
    let o = lab.vmlab(&[
        "validate",
        "--lab",
        "checks",
        "--file",
        late.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    lab.ok(&["destroy", "checks"]);
    assert_eq!(masters(&sockets), Vec::<String>::new(), "destroy ends them");
}

/// The ssh processes serving a control socket under `dir` (ssh names itself after it).
fn masters(dir: &std::path::Path) -> Vec<String> {
    let dir = dir.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.starts_with("ssh: ") && c.contains(&dir))
        .collect()
}

/// The demo as `scripts/demo` runs it — its spec, its image named `vmlab-tiny` in the images
/// folder, its checks — passes every one of its checks on the tiny guest (the JSON check uses
/// iproute2's `ip -j`, which the guest has). Deployed on port bases given at deploy, as a
/// newtron network's would be.
#[test]
fn the_demo_passes_its_own_checks_on_the_tiny_guest() {
    let lab = vm_lab("demo", 180);
    let demo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo-tiny");
    for f in ["topology.json", "platforms.json", "validate.json"] {
        std::fs::copy(demo.join(f), lab.specs().join(f)).expect("copy the demo");
    }
    for e in std::fs::read_dir(demo.join("profiles")).expect("the demo's profiles") {
        let e = e.expect("a profile");
        std::fs::copy(e.path(), lab.specs().join("profiles").join(e.file_name())).unwrap();
    }
    let image = guest_image();
    lab.ok(&[
        "image",
        "import",
        image.to_str().unwrap(),
        "--name",
        "vmlab-tiny",
    ]);
    let specs = lab.specs();
    let o = lab.vmlab(&[
        "deploy",
        "-S",
        specs.to_str().unwrap(),
        "--link-port-base",
        "23950",
        "--console-port-base",
        "27970",
        "--ssh-port-base",
        "29950",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let ports: Vec<u64> = lab.status()["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter_map(|n| n["ssh_port"].as_u64())
        .collect();
    assert!(
        ports.iter().all(|p| (29950..29954).contains(p)),
        "{ports:?}"
    );
    let o = lab.vmlab(&["validate", "--lab", "demo", "--json"]);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    let report: Value = serde_json::from_str(&stdout(&o)).expect("the report");
    assert_eq!(report["passed"], Value::Bool(true), "{report}");
    assert!(
        report["counts"]["pass"].as_u64().unwrap_or(0) >= 17,
        "{report}"
    );
    lab.ok(&["destroy", "demo"]);
}
