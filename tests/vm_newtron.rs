//! newtron's network layout on real VMs: a `networks/<id>/` directory (topology with `nodes`,
//! `nodes/<node>.json`, `zones/`, `network.json`, `secrets.json` with `${secret:...}`
//! passwords) beside a `platforms/` registry with `ports[]` inventories, a switch platform and
//! a host platform. vmlab deploys it as it is, never writes a byte of it, and never lets a
//! secret out.

// Tests and benchmarks drive the vmlab binary and look at what it left behind: the front
// ends' rules in clippy.toml (no processes, no files) are not theirs.
#![allow(clippy::disallowed_methods)]

mod common;

use std::path::Path;

use common::*;
use serde_json::{Value, json};

/// The guest's password, reached only through secrets.
const SECRET: &str = "YourPaSsWoRd";

fn write(path: &Path, v: &Value) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, serde_json::to_string_pretty(v).unwrap()).unwrap();
}

/// Every file under `dir` (recursively) as text, for a search.
fn all_text(dir: &Path) -> String {
    files_under(dir)
        .into_values()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_newtron_network_deploys_as_it_is_and_keeps_its_secrets() {
    let lab = vm_lab("lab1", 150);
    let image = guest_image();
    let root = lab.root.path();
    let net = root.join("networks/lab1");
    let platform = |name: &str, device_type: &str, ports: &[&str], creds: Value| {
        json!({
            "name": name, "description": "vmlab's tiny guest", "device_type": device_type,
            "port_count": ports.len(),
            "ports": ports.iter().enumerate()
                .map(|(i, p)| json!({"name": p, "nic_index": i + 1, "speed": "1G"}))
                .collect::<Vec<_>>(),
            "vm_image": image, "vm_memory": 256, "vm_cpus": 1,
            "vm_nic_driver": "virtio-net-pci", "credentials": creds, "vm_boot_timeout": 150,
            "dataplane": ""
        })
    };
    // The platforms' own passwords are wrong: only the node, zone and network ones log in.
    write(
        &root.join("platforms/tiny-switch.json"),
        &platform(
            "tiny-switch",
            "switch",
            &["Ethernet0", "Ethernet4", "Ethernet8", "Ethernet12"],
            json!({"user": "admin", "pass": "not-this"}),
        ),
    );
    write(
        &root.join("platforms/tiny-host.json"),
        &platform(
            "tiny-host",
            "host",
            &["eth0", "eth1"],
            json!({"user": "root", "pass": "not-this"}),
        ),
    );
    write(
        &net.join("topology.json"),
        &json!({
            "version": "1.0",
            "description": "two switches and a host",
            "nodes": {
                "host1": {}, "host2": {}, "host3": {},
                "sw1": { "steps": [{"url": "/setup-device", "params": {"fields": {"hostname": "sw1"}}}],
                         "ports": {"Ethernet0": {"admin_status": "up", "mtu": 9100}} },
                "sw2": {}
            },
            "links": [
                {"a": "sw1:Ethernet0", "z": "sw2:Ethernet0"},
                {"a": "sw1:Ethernet4", "z": "host1:eth0"},
                {"a": "sw1:Ethernet8", "z": "host2:eth0"},
                {"a": "host3:eth0", "z": "sw1:Ethernet12"}
            ],
            "newtlab": {"link_port_base": 22970, "console_port_base": 26830, "ssh_port_base": 28830}
        }),
    );
    write(
        &net.join("nodes/sw1.json"),
        &json!({"mgmt_ip": "127.0.0.1", "loopback_ip": "10.0.0.1", "zone": "amer",
                "platform": "tiny-switch", "ssh_user": "admin", "ssh_pass": "${secret:sw1_ssh_pass}",
                "underlay_asn": 65001}),
    );
    // sw2's password comes from its zone, host1's from the network.
    write(
        &net.join("nodes/sw2.json"),
        &json!({"mgmt_ip": "127.0.0.1", "zone": "amer", "platform": "tiny-switch"}),
    );
    write(
        &net.join("nodes/host1.json"),
        &json!({"mgmt_ip": "127.0.0.1", "zone": "", "platform": "tiny-host", "host_ip": "10.1.0.2"}),
    );
    // host2's address has a prefix: its namespace gets it at deploy.
    write(
        &net.join("nodes/host2.json"),
        &json!({"mgmt_ip": "127.0.0.1", "platform": "tiny-host", "host_ip": "10.9.2.2/30"}),
    );
    write(
        &net.join("nodes/host3.json"),
        &json!({"mgmt_ip": "127.0.0.1", "platform": "tiny-host"}),
    );
    write(
        &net.join("zones/amer.json"),
        &json!({"ssh_pass": "${secret:zone_pass}"}),
    );
    write(
        &net.join("network.json"),
        &json!({"version": "1.0", "ssh_user": "admin", "ssh_pass": "${secret:ssh_pass}",
                "filters": {}}),
    );
    write(
        &net.join("secrets.json"),
        &json!({"sw1_ssh_pass": SECRET, "zone_pass": SECRET, "ssh_pass": SECRET}),
    );
    let spec_files = || {
        (
            files_under(&root.join("networks")),
            files_under(&root.join("platforms")),
        )
    };
    let before = spec_files();

    // A dry run shows the plan; the deploy, with -vv, says nothing of the secrets.
    let dry = lab.ok(&["deploy", net.to_str().unwrap(), "--dry-run"]);
    // The three hosts share one VM (newtron's layout coalesces them by default).
    assert!(
        stdout(&dry).contains("# lab lab1 (3 nodes, 4 links)"),
        "{}",
        stdout(&dry)
    );
    let o = lab.ok(&[
        "-vv",
        "deploy",
        net.to_str().unwrap(),
        "--progress",
        "plain",
    ]);
    let said = format!("{}{}", stdout(&o), stderr(&o));
    assert!(
        !said.contains(SECRET),
        "a secret in deploy's output:\n{said}"
    );

    // Runtime values are published by status, with the fields newtron's tools read.
    let st = lab.json(&["status", "--lab", "lab1", "--json"]);
    let text = st.to_string();
    assert!(!text.contains(SECRET), "a secret in status: {text}");
    let node = |name: &str| {
        st["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name} in {st}"))
    };
    assert_eq!(node("sw1")["device_type"], "switch");
    assert_eq!(node("hostvm-0")["device_type"], "host-vm");
    assert_eq!(node("host1")["host_ip"], "10.1.0.2");
    assert_eq!(node("sw2")["ssh_user"], "admin");
    for n in ["sw1", "sw2", "hostvm-0", "host1", "host2", "host3"] {
        assert!(node(n)["pid"].as_i64().is_some(), "{n}: {st}");
        assert!(node(n)["ssh_port"].as_u64().is_some(), "{n}: {st}");
        assert_eq!(node(n)["status"], "running", "{n}: {st}");
    }
    for h in ["host1", "host2", "host3"] {
        assert_eq!(node(h)["device_type"], "host", "{st}");
        assert_eq!(node(h)["vm"], "hostvm-0", "{st}");
        assert_eq!(node(h)["namespace"], h, "{st}");
        assert_eq!(node(h)["pid"], node("hostvm-0")["pid"], "{st}");
    }
    let vms = st["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["vm"].is_null())
        .count();
    assert_eq!(vms, 3, "two switches and one host VM: {st}");
    assert_eq!(lab.qemus().len(), 3);

    // Every login works with its secret password (node, zone, network).
    for n in ["sw1", "sw2", "host1"] {
        assert_eq!(on(&lab, n, "echo in-$((40+2))").trim(), "in-42", "{n}");
    }
    // Traffic on the switch-switch link (ports[] places it: sw1's Ethernet0 is its first
    // data NIC).
    set_ip(&lab, "sw1", 1, "10.9.0.1");
    set_ip(&lab, "sw2", 1, "10.9.0.2");
    assert!(ping(&lab, "sw1", "10.9.0.2"), "switch to switch");
    // Each host pings the switch over its own interface, from its own namespace, where its
    // interface has the spec's name and nothing else is.
    for k in 1..=3 {
        set_ip(&lab, "sw1", k + 1, &format!("10.9.{k}.1"));
    }
    for k in [1, 3] {
        on(
            &lab,
            &format!("host{k}"),
            &format!("ip addr add 10.9.{k}.2/30 dev eth0"),
        );
    }
    for k in 1..=3 {
        let h = format!("host{k}");
        assert_eq!(
            on(&lab, &h, "ls /sys/class/net | tr '\\n' ' '").trim(),
            "eth0 lo",
            "{h}'s namespace"
        );
        assert!(ping(&lab, &h, &format!("10.9.{k}.1")), "{h} to sw1");
    }
    // The link table names a host's end as the spec does.
    let links = lab.json(&["links", "--lab", "lab1", "--json"]);
    let l = &links["links"][1];
    assert_eq!(
        (l["z"].as_str(), l["z_guest"].as_str()),
        (Some("host1:eth0"), Some("eth0")),
        "{links}"
    );
    lab.ok(&["link", "down", "host3:eth0"]);
    assert!(!ping(&lab, "host3", "10.9.3.1"), "host3's link is down");
    lab.ok(&["link", "up", "host3:eth0"]);
    // exec reaches every host in its namespace.
    let o = lab.vmlab(&[
        "exec",
        "--lab",
        "lab1",
        "--format",
        "json",
        "--nodes",
        "host2,host3",
        "--",
        "ip -o -4 addr show dev eth0",
    ]);
    let text = stdout(&o);
    assert!(
        text.contains("10.9.2.2/30") && text.contains("10.9.3.2/30"),
        "{text}{}",
        stderr(&o)
    );

    // No secret in any process's command line, the lab's files (state, logs) or exports.
    for pid in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmd) = std::fs::read(pid.path().join("cmdline")) {
            assert!(
                !String::from_utf8_lossy(&cmd).contains(SECRET),
                "a secret in the command line of pid {:?}",
                pid.file_name()
            );
        }
    }
    let files = all_text(&lab.lab_dir());
    assert!(!files.contains(SECRET), "a secret in the lab directory");
    assert!(
        files.contains("sw1_ssh_pass"),
        "state names the secret's key"
    );

    lab.ok(&["destroy", "--lab", "lab1"]);
    assert!(lab.qemus().is_empty());
    // newtron's files are newtron's: not a byte changed, nothing added.
    let after = spec_files();
    assert_eq!(
        (before.0.keys().collect::<Vec<_>>(), before.1.len()),
        (after.0.keys().collect::<Vec<_>>(), after.1.len()),
        "files were added or removed"
    );
    assert!(before == after, "a spec file changed");
}

#[test]
fn a_broken_newtron_network_is_named_file_by_file() {
    let lab = TestLab::new("broken");
    let root = lab.root.path();
    let net = root.join("networks/broken");
    write(
        &net.join("topology.json"),
        &json!({"nodes": {"r1": {}, "r2": {}, "r3": {}},
                "links": [{"a": "r1:Ethernet0", "z": "r2:Ethernet9"}]}),
    );
    write(
        &net.join("nodes/r1.json"),
        &json!({"platform": "sw", "ssh_pass": "${secret:missing_key}"}),
    );
    write(&net.join("nodes/r2.json"), &json!({"platform": "sw"}));
    write(&net.join("nodes/r3.json"), &json!({"platform": "nope"}));
    write(&net.join("secrets.json"), &json!({"other": "hidden-value"}));
    // No registry beside networks/: say where it looked and how to name one.
    let o = lab.vmlab(&["deploy", net.to_str().unwrap(), "--dry-run"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("platforms registry"), "{}", stderr(&o));
    assert!(stderr(&o).contains("--platforms"), "{}", stderr(&o));
    write(
        &root.join("platforms/sw.json"),
        &json!({"name": "sw", "vm_image": "/nonexistent.qcow2",
                "credentials": {"user": "admin", "pass": "x"},
                "ports": [{"name": "Ethernet0", "nic_index": 1}]}),
    );
    write(
        &root.join("platforms/misnamed.json"),
        &json!({"name": "other-name"}),
    );
    let o = lab.vmlab(&["deploy", net.to_str().unwrap(), "--dry-run"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    for says in [
        "nodes/r1.json: ssh_pass: names secret \"missing_key\", which secrets.json does not have",
        "misnamed.json: name: the platform is named \"other-name\", but its file is misnamed.json",
        "nodes/r3.json: platform: unknown platform \"nope\"",
        "interface \"Ethernet9\" is not in the platform's ports[]",
    ] {
        assert!(err.contains(says), "does not say {says:?}:\n{err}");
    }
    assert!(
        !err.contains("hidden-value"),
        "a secret's value in an error:\n{err}"
    );
    // --platforms names another registry.
    let elsewhere = root.join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let o = lab.vmlab(&[
        "--platforms",
        elsewhere.to_str().unwrap(),
        "deploy",
        net.to_str().unwrap(),
        "--dry-run",
    ]);
    assert!(
        stderr(&o).contains("unknown platform \"sw\""),
        "{}",
        stderr(&o)
    );
}
