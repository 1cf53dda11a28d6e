//! The engineer's toolbox on a real lab of two tiny guests: deploy with `--progress json`, the
//! lab key and ssh_config (plain `ssh -F … -o BatchMode=yes` logs in: no password is possible
//! there), `vmlab exec` on many nodes (and a failing node named, exit 7), every listing's JSON,
//! the inventories and the graph of a running lab, `-q`. The cases share one deployed lab.

// Tests and benchmarks drive the vmlab binary and look at what it left behind: the front
// ends' rules in clippy.toml (no processes, no files) are not theirs.
#![allow(clippy::disallowed_methods)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use common::*;
use serde_json::Value;

/// `ssh -F <lab>/ssh_config -o BatchMode=yes <host> <cmd>`: the user's own ssh, no vmlab.
fn plain_ssh(cfg: &std::path::Path, host: &str, cmd: &str) -> std::process::Output {
    Command::new("ssh")
        .arg("-F")
        .arg(cfg)
        .args(["-o", "BatchMode=yes", "-o", "ConnectTimeout=20", host, cmd])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run ssh")
}

#[test]
fn toolbox_on_a_running_lab() {
    let lab = vm_lab("tools", 120);
    lab.write(
        "topology.json",
        r#"{ "name": "tools", "devices": { "r1": {}, "r2": {} },
             "links": [ { "a": "r1:Ethernet0", "z": "r2:Ethernet4" } ],
             "vmlab": { "link_port_base": 23500, "console_port_base": 26500, "ssh_port_base": 28500 } }"#,
    );
    lab.write("profiles/r1.json", "{\"platform\": \"tiny-stride\"}");
    lab.write("profiles/r2.json", "{\"platform\": \"tiny-stride\"}");
    let specs = lab.specs();
    let specs = specs.to_str().expect("utf-8");

    // --- deploy --progress json: every stderr line is one JSON event.
    let o = lab.vmlab(&["deploy", "-S", specs, "--progress", "json"]);
    assert!(o.status.success(), "deploy: {}\n{}", stdout(&o), stderr(&o));
    let events: Vec<Value> = stderr(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON event ({e}): {l}")))
        .collect();
    for e in &events {
        assert!(e["event"].is_string(), "no event kind: {e}");
    }
    for node in ["r1", "r2"] {
        let ready = events
            .iter()
            .find(|e| e["event"] == "node_stage" && e["node"] == node && e["stage"] == "ready");
        let ready = ready.unwrap_or_else(|| panic!("no ready event for {node}: {events:?}"));
        assert!(
            ready["elapsed_s"].as_f64().is_some_and(|s| s > 0.0),
            "{ready}"
        );
    }
    assert!(
        events.iter().any(|e| e["event"] == "step"),
        "no step events"
    );
    // The stream ends with the lab, and stdout holds nothing a script would have to skip.
    let last = events.last().expect("events");
    assert_eq!(last["event"], "done", "{last}");
    assert_eq!(last["lab"], "tools", "{last}");
    assert_eq!(last["changed"], true, "{last}");
    assert_eq!(last["nodes"].as_array().map(Vec::len), Some(2), "{last}");
    assert_eq!(last["nodes"][0]["ssh_port"], 28500, "{last}");
    assert!(stdout(&o).trim().is_empty(), "stdout: {}", stdout(&o));
    let o = lab.vmlab(&["deploy", "-S", specs, "--progress", "json"]);
    assert!(o.status.success(), "deploy again: {}", stderr(&o));
    let again: Value =
        serde_json::from_str(stderr(&o).lines().last().expect("a line")).expect("JSON");
    assert_eq!(again["event"], "done", "{again}");
    assert_eq!(again["changed"], false, "{again}");

    // --- The lab's files: ssh_config, inventories; private, and no password in them.
    let dir = lab.lab_dir();
    let cfg = dir.join("ssh_config");
    for f in [
        "ssh_config",
        "inventory.yml",
        "inventory.json",
        "id_ed25519",
    ] {
        let p = dir.join(f);
        let meta = std::fs::metadata(&p).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert_eq!(
            meta.permissions().mode() & 0o077,
            0,
            "{f} is readable by others"
        );
        if f != "id_ed25519" {
            let text = std::fs::read_to_string(&p).expect("read");
            assert!(!text.contains("YourPaSsWoRd"), "{f} holds the password");
        }
    }
    let printed = lab.vmlab(&["ssh-config", "--lab", "tools"]);
    assert!(printed.status.success(), "{}", stderr(&printed));
    assert_eq!(
        stdout(&printed).trim_end(),
        std::fs::read_to_string(&cfg).expect("read").trim_end(),
        "vmlab ssh-config prints the file deploy wrote"
    );

    // --- The user's own ssh logs in with the lab key (BatchMode: a password cannot work).
    for host in ["r1", "tools-r2"] {
        let o = plain_ssh(&cfg, host, "true");
        assert!(
            o.status.success(),
            "ssh -F {} {host} true: {}",
            cfg.display(),
            stderr(&o)
        );
    }
    let o = plain_ssh(&cfg, "r2", "cat ~/.ssh/authorized_keys");
    let pubkey = std::fs::read_to_string(dir.join("id_ed25519.pub")).expect("public key");
    assert!(
        stdout(&o).contains(pubkey.split_whitespace().nth(1).expect("key body")),
        "the lab key is in r2's authorized_keys: {}",
        stdout(&o)
    );

    // --- exec on every node, prefixed; a node where it fails is named, exit 7.
    // The command without `--`, as ssh takes one.
    let o = lab.vmlab(&["exec", "--lab", "tools", "--all", "hostname"]);
    assert!(o.status.success(), "exec --all: {}", stderr(&o));
    let out = stdout(&o);
    for node in ["r1", "r2"] {
        assert!(
            out.lines()
                .any(|l| l.starts_with(&format!("{node} | ")) && l.ends_with("vmlab")),
            "no `{node} | vmlab` line:\n{out}"
        );
    }
    let o = lab.vmlab(&[
        "exec",
        "--lab",
        "tools",
        "--nodes",
        "r1",
        "--",
        "touch /tmp/mark",
    ]);
    assert!(o.status.success(), "exec --nodes r1: {}", stderr(&o));
    let o = lab.vmlab(&["exec", "--lab", "tools", "--all", "--", "test -e /tmp/mark"]);
    assert_eq!(o.status.code(), Some(7), "{}\n{}", stdout(&o), stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("r2 (exit 1)"),
        "the failing node is named: {err}"
    );
    assert!(!err.contains("r1 ("), "r1 did not fail: {err}");
    // Naming what is not there: exit 3, with what there is.
    let o = lab.vmlab(&["exec", "--lab", "tools", "--nodes", "r1,r9", "--", "true"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("r9"), "{}", stderr(&o));
    let o = lab.vmlab(&["exec", "--lab", "tools", "--platform", "nope", "--", "true"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("tiny-stride"), "{}", stderr(&o));
    let o = lab.vmlab(&[
        "exec",
        "--lab",
        "tools",
        "--all",
        "--format",
        "json",
        "--",
        "echo hi; echo oops >&2",
    ]);
    let v = json(&o, "exec --format json");
    let rows = v.as_array().expect("an array of outcomes");
    assert_eq!(rows.len(), 2);
    for r in rows {
        assert_eq!(r["exit_code"], 0, "{r}");
        assert_eq!(r["stdout"], "hi\n", "{r}");
        assert_eq!(r["stderr"], "oops\n", "{r}");
        assert!(r["seconds"].as_f64().is_some(), "{r}");
        assert!(r.get("truncated").is_none(), "{r}");
    }
    // Output that is not UTF-8 is shown (lossy) and the reading goes on.
    let o = lab.vmlab(&[
        "exec",
        "--lab",
        "tools",
        "--all",
        "--",
        r#"printf '\377\n'; seq 5"#,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for node in ["r1", "r2"] {
        assert!(out.contains(&format!("{node} | \u{fffd}")), "{out}");
        assert!(out.contains(&format!("{node} | 5")), "{out}");
    }
    // A flood: a line of 2 MB is cut, JSON keeps at most 1 MiB of each stream and says so.
    let o = lab.vmlab(&[
        "exec",
        "--lab",
        "tools",
        "--nodes",
        "r1",
        "--format",
        "json",
        "--",
        "head -c 2000000 /dev/zero | tr '\\0' a; echo; seq 300000",
    ]);
    let v = json(&o, "exec of a flood");
    let r = &v[0];
    assert_eq!(r["exit_code"], 0, "{}", stderr(&o));
    assert_eq!(r["truncated"], true);
    let kept = r["stdout"].as_str().unwrap();
    assert!(kept.len() <= 1024 * 1024, "{} bytes kept", kept.len());
    assert!(
        kept.contains("[line cut: "),
        "the long line says it was cut"
    );
    assert!(kept.lines().next().unwrap().len() < 70 * 1024);

    // --- Every listing's JSON parses and has its documented fields.
    let st = json(
        &lab.vmlab(&["status", "--lab", "tools", "--format", "json"]),
        "status",
    );
    assert_eq!(st["name"], "tools");
    for n in st["nodes"].as_array().expect("nodes") {
        for k in [
            "name",
            "platform",
            "status",
            "pid",
            "ssh_port",
            "console_port",
            "host",
        ] {
            assert!(n.get(k).is_some(), "status node lacks {k}: {n}");
        }
        assert_eq!(n["status"], "running");
        assert!(n["boot_secs"].as_f64().is_some(), "boot_secs: {n}");
    }
    let labs = json(&lab.vmlab(&["labs", "--format", "json"]), "labs");
    let row = &labs.as_array().expect("an array")[0];
    assert_eq!(row["name"], "tools");
    assert_eq!(row["nodes"], 2, "{row}");
    let links = json(&lab.vmlab(&["links", "--lab", "tools", "--json"]), "links");
    let l0 = &links["links"][0];
    assert_eq!(
        (l0["a_guest"].as_str(), l0["z_guest"].as_str()),
        (Some("eth1"), Some("eth2"))
    );
    let snaps = json(
        &lab.vmlab(&["snapshot", "--lab", "tools", "--list", "--format", "json"]),
        "snapshot --list",
    );
    assert_eq!(snaps, serde_json::json!([]));
    let images = json(
        &lab.vmlab(&["image", "list", "--format", "json"]),
        "image list",
    );
    let img = &images.as_array().expect("an array")[0];
    assert!(img["used_by"].to_string().contains("tools"), "{img}");

    // --- Inventories and the graph of the running lab.
    let inv = json(
        &lab.vmlab(&["inventory", "--lab", "tools", "--format", "json"]),
        "inventory",
    );
    let r2 = inv["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .find(|n| n["name"] == "r2")
        .expect("r2");
    assert_eq!(r2["ssh_port"], 28501);
    assert_eq!(r2["interfaces"][0]["name"], "Ethernet4");
    assert_eq!(r2["interfaces"][0]["guest"], "eth2");
    let yml = stdout(&lab.vmlab(&["inventory", "--lab", "tools"]));
    for want in [
        "ansible_host: \"127.0.0.1\"",
        "ansible_port: 28500",
        "ansible_user: \"admin\"",
        "ansible_ssh_private_key_file:",
    ] {
        assert!(yml.contains(want), "inventory.yml lacks {want}:\n{yml}");
    }
    let g = lab.vmlab(&["graph", "--lab", "tools"]);
    let art = stdout(&g);
    assert!(
        g.status.success() && art.contains("r1") && art.matches("running").count() == 2,
        "{art}"
    );
    assert!(art.contains("r2 Ethernet4 (eth2)"), "{art}");

    // --- -q: a restart says nothing but still works; the key is there after the boot.
    let o = lab.vmlab(&["-q", "restart", "--lab", "tools", "r2"]);
    assert!(o.status.success(), "restart: {}", stderr(&o));
    assert_eq!(stderr(&o), "", "-q prints no progress");
    let o = plain_ssh(&cfg, "r2", "true");
    assert!(o.status.success(), "ssh after restart: {}", stderr(&o));

    let o = lab.vmlab(&["destroy", "--lab", "tools"]);
    assert!(o.status.success(), "destroy: {}", stderr(&o));
    assert!(lab.qemus().is_empty(), "QEMU left: {:?}", lab.qemus());
}
