//! Real labs of real QEMU guests (the tiny image built from Debian packages), under TCG where
//! KVM does not work: deploy, traffic over every link, profiles, status, ssh, console, destroy.
//! Labs run one at a time (a machine-wide lock) with their own ports and VMLAB_HOME.

// Tests and benchmarks drive the vmlab binary and look at what it left behind: the front
// ends' rules in clippy.toml (no processes, no files) are not theirs.
#![allow(clippy::disallowed_methods)]

mod common;

use common::*;
use serde_json::Value;

/// Every node of the lab is stopped, its directory gone and its ports free.
fn assert_destroyed(lab: &TestLab, ports: &[u16]) {
    let o = lab.vmlab(&["destroy", "--lab", &lab.name]);
    assert!(o.status.success(), "destroy: {}", stderr(&o));
    assert!(
        lab.qemus().is_empty(),
        "QEMU left running: {:?}",
        lab.qemus()
    );
    assert!(!lab.lab_dir().exists(), "lab dir left behind");
    assert!(lab.relays().is_empty(), "link relay left running");
    for p in ports {
        assert!(port_free(*p), "port {p} still bound after destroy");
    }
}

#[test]
fn two_node_lab_end_to_end() {
    let lab = vm_lab("duo", 120);
    lab.write(
        "topology.json",
        r#"{
  "version": "1.0",
  "name": "duo",
  "devices": {
    "r1": { "interfaces": { "Ethernet0": { "link": "r2:Ethernet4", "ip": "10.1.0.0/31" } } },
    "r2": { "interfaces": { "Ethernet4": { "link": "r1:Ethernet0", "ip": "10.1.0.1/31" } } }
  },
  "links": [ { "a": "r1:Ethernet0", "z": "r2:Ethernet4" } ],
  "vmlab": { "link_port_base": 22100, "console_port_base": 25100, "ssh_port_base": 27100,
             "consoles": "tcp" }
}
"#,
    );
    let r1_profile = "{\n    \"mgmt_ip\": \"PLACEHOLDER\",\n    \"loopback_ip\": \"10.0.0.1\",\n    \"platform\": \"tiny-stride\",\n    \"site\": \"lab-site\"\n}\n";
    lab.write("profiles/r1.json", r1_profile);
    lab.write(
        "profiles/r2.json",
        "{\"platform\": \"tiny-stride\", \"ssh_user\": \"admin\", \"extra\": [1, 2]}",
    );

    let o = lab.deploy();
    let progress = stderr(&o);
    for stage in ["launched", "booting", "ssh banner", "ready"] {
        assert!(
            progress.contains(&format!("r1  {stage}")),
            "no '{stage}' progress for r1:\n{progress}"
        );
    }

    // Profiles: vmlab's three fields set, everything else kept in order.
    let p1 = lab.read("profiles/r1.json");
    assert_eq!(
        p1,
        "{\n    \"mgmt_ip\": \"127.0.0.1\",\n    \"loopback_ip\": \"10.0.0.1\",\n    \"platform\": \"tiny-stride\",\n    \"site\": \"lab-site\",\n    \"ssh_port\": 27100,\n    \"console_port\": 25100\n}\n"
    );
    let p2: Value = serde_json::from_str(&lab.read("profiles/r2.json")).unwrap();
    let keys: Vec<&str> = p2.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "platform",
            "ssh_user",
            "extra",
            "mgmt_ip",
            "ssh_port",
            "console_port"
        ]
    );
    assert_eq!(p2["extra"], serde_json::json!([1, 2]));
    assert_eq!(p2["ssh_port"], 27101);

    // status --json reflects reality.
    let o = lab.vmlab(&["status", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let st: Value = serde_json::from_str(&stdout(&o)).expect("status JSON");
    assert_eq!(st["name"], "duo");
    let nodes = st["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 2);
    for (n, (ssh, con)) in nodes.iter().zip([(27100, 25100), (27101, 25101)]) {
        assert_eq!(n["status"], "running", "{n}");
        assert!(n["pid"].as_i64().unwrap() > 1);
        assert_eq!(n["ssh_port"], ssh);
        assert_eq!(n["console_port"], con);
    }
    assert_eq!(st["links"][0]["state"], "up");
    assert_eq!(st["links"][0]["a_guest"], "eth1");
    assert_eq!(st["links"][0]["z_guest"], "eth2");
    assert_eq!(st["relay"]["status"], "running");

    // Traffic over the link: r1's Ethernet0 is eth1 (stride-4), r2's Ethernet4 is eth2 with
    // eth1 present but unconnected.
    set_ip(&lab, "r1", 1, "10.77.0.1");
    set_ip(&lab, "r2", 2, "10.77.0.2");
    assert!(
        ping(&lab, "r2", "10.77.0.1"),
        "no ping over r1:Ethernet0 -- r2:Ethernet4"
    );

    // ssh passes the remote exit status through.
    let o = lab.vmlab(&["ssh", "r1", "--", "exit 3"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    // The command after the node as ssh takes it, options and all, `--` optional.
    let o = lab.vmlab(&["ssh", "r1", "uname", "-s"]);
    assert!(o.status.success(), "ssh r1 uname -s: {}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "Linux", "{}", stderr(&o));

    // The console answers.
    let out = console_says(&lab, "r2", "echo console-$((6*7))\n");
    assert!(out.contains("console-42"), "console said: {out}");

    // Deploying again changes nothing.
    let o = lab.vmlab(&["deploy", "-S", lab.specs().to_str().unwrap()]);
    assert!(o.status.success());
    assert!(stdout(&o).contains("already running"), "{}", stdout(&o));

    // A dead VM is shown dead.
    let pid = nodes[1]["pid"].as_i64().unwrap() as i32;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let st: Value = serde_json::from_str(&stdout(&lab.vmlab(&["status", "--json"]))).unwrap();
    assert_eq!(st["nodes"][1]["status"], "dead");
    assert_eq!(st["links"][0]["state"], "waiting");
    assert_eq!(st["links"][0]["waiting_for"], serde_json::json!(["r2"]));
    assert!(
        st["repair"][0].as_str().unwrap().contains("r2 died"),
        "{st}"
    );

    assert_destroyed(&lab, &[22100, 25100, 25101, 27100, 27101]);
}

#[test]
fn spine_leaf_mixing_maps_with_a_gap() {
    let lab = vm_lab("fabric", 240);
    // spine1 uses Ethernet0 and Ethernet8 (stride-4: eth1, eth3; eth2 is the gap).
    lab.write(
        "topology.json",
        r#"{
  "name": "fabric",
  "devices": { "spine1": {}, "spine2": {}, "leaf1": {}, "leaf2": {} },
  "links": [
    { "a": "spine1:Ethernet0", "z": "leaf1:Ethernet0" },
    { "a": "spine1:Ethernet8", "z": "leaf2:Ethernet0" },
    { "a": "spine2:Ethernet0", "z": "leaf1:Ethernet1" },
    { "a": "spine2:Ethernet4", "z": "leaf2:Ethernet1" }
  ],
  "newtlab": { "link_port_base": 22200, "console_port_base": 25200, "ssh_port_base": 27200,
               "links": "direct" }
}
"#,
    );
    for (n, p) in [
        ("spine1", "tiny-stride"),
        ("spine2", "tiny-stride"),
        ("leaf1", "tiny-seq"),
        ("leaf2", "tiny-seq"),
    ] {
        lab.write(
            &format!("profiles/{n}.json"),
            &format!("{{\"platform\": \"{p}\"}}\n"),
        );
    }
    lab.deploy();

    // (a node, a nic, z node, z nic) as the maps predict.
    let links = [
        ("spine1", 1, "leaf1", 1),
        ("spine1", 3, "leaf2", 1),
        ("spine2", 1, "leaf1", 2),
        ("spine2", 2, "leaf2", 2),
    ];
    for (i, (a, an, z, zn)) in links.iter().enumerate() {
        let net = format!("10.88.{i}");
        set_ip(&lab, a, *an, &format!("{net}.1"));
        set_ip(&lab, z, *zn, &format!("{net}.2"));
        assert!(
            ping(&lab, z, &format!("{net}.1")),
            "no ping over link {i}: {a}:eth{an} -- {z}:eth{zn}"
        );
    }
    // The gap NIC exists in the guest (eth2 on spine1) so Ethernet8 kept its position.
    let o = lab.vmlab(&["ssh", "spine1", "--", "ls /sys/class/net"]);
    let ifs = stdout(&o);
    for nic in ["eth0", "eth1", "eth2", "eth3"] {
        assert!(ifs.contains(nic), "spine1 lacks {nic}: {ifs}");
    }
    let st: Value = serde_json::from_str(&stdout(&lab.vmlab(&["status", "--json"]))).unwrap();
    assert!(
        st["links"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["state"] == "up" && l["transport"] == "direct"),
        "{st}"
    );
    assert!(st["relay"].is_null(), "direct links need no relay: {st}");
    assert!(lab.relays().is_empty());

    let mut ports = vec![22200, 22201, 22202, 22203];
    ports.extend((0..4).flat_map(|i| [25200 + i, 27200 + i]));
    assert_destroyed(&lab, &ports);
}

/// A guest that reaches its login prompt but never answers SSH (here: its NICs are e1000, a
/// driver the tiny guest does not have) is named with the likely causes while it boots, not
/// only when its boot timeout runs out.
#[test]
fn a_prompt_without_ssh_is_named_with_its_likely_causes() {
    let lab = vm_lab("nodriver", 24);
    lab.write(
        "topology.json",
        r#"{ "name": "nodriver", "devices": { "mute": {} }, "vmlab": { "link_port_base": 22950, "console_port_base": 25950, "ssh_port_base": 27950 } }"#,
    );
    lab.write(
        "profiles/mute.json",
        "{\"platform\": \"tiny-seq\", \"vm_nic_driver\": \"e1000\"}",
    );
    let o = lab.vmlab(&[
        "deploy",
        "-S",
        lab.specs().to_str().unwrap(),
        "--progress",
        "plain",
    ]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    let err = stderr(&o);
    let hint = err
        .lines()
        .find(|l| l.contains("mute: its console shows a prompt but SSH has not answered"))
        .unwrap_or_else(|| panic!("no hint while it booted:\n{err}"));
    assert!(hint.contains("vm_nic_driver"), "{hint}");
    // The hint came before the failure, and the failure says it too.
    let hint_at = err.find(hint).unwrap_or(0);
    let failed_at = err.find("mute  FAILED").unwrap_or_else(|| panic!("{err}"));
    assert!(hint_at < failed_at, "{err}");
    assert!(
        err.contains("(last stage: console prompt); likely causes"),
        "{err}"
    );
    assert!(lab.qemus().is_empty());
    assert!(!lab.lab_dir().exists());
}

#[test]
fn boot_timeout_names_the_node_and_cleans_up() {
    let lab = vm_lab("specs", 2); // no topology name: the spec dir names the lab
    lab.write(
        "topology.json",
        r#"{ "devices": { "lonely": {} }, "vmlab": { "link_port_base": 22300, "console_port_base": 25300, "ssh_port_base": 27300 } }"#,
    );
    let profile = "{\"platform\": \"tiny-seq\"}";
    lab.write("profiles/lonely.json", profile);
    let o = lab.vmlab(&["deploy", "-S", lab.specs().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("lonely: no SSH banner within its boot timeout of 2 s"),
        "{err}"
    );
    assert!(err.contains("last console lines"), "no console tail: {err}");
    assert!(lab.qemus().is_empty());
    assert!(!lab.lab_dir().exists());
    assert_eq!(
        lab.read("profiles/lonely.json"),
        profile,
        "profile touched by a failed deploy"
    );
    assert!(port_free(25300) && port_free(27300));
}

#[test]
fn interrupt_during_deploy_stops_what_it_started() {
    let lab = two_node_lab("cut", 22400, 25400, 27400);
    let mut child = lab
        .command(&["deploy", "-S", lab.specs().to_str().unwrap()])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until both VMs run, then press Ctrl-C.
    let t0 = std::time::Instant::now();
    while lab.qemus().len() < 2 {
        assert!(t0.elapsed().as_secs() < 30, "VMs never started");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert!(lab.qemus().is_empty(), "QEMU left running after Ctrl-C");
    assert!(!lab.lab_dir().exists());
}

#[test]
fn a_node_stops_and_starts_and_its_link_carries_traffic_again() {
    let lab = two_node_lab("cycle", 22600, 25600, 27600);
    lab.deploy();

    // b is the link's connecting end: stopped, it shows stopped and the link down.
    let o = lab.vmlab(&["stop", "b"]);
    assert!(o.status.success(), "stop: {}", stderr(&o));
    let st: Value = serde_json::from_str(&stdout(&lab.vmlab(&["status", "--json"]))).unwrap();
    assert_eq!(st["nodes"][1]["status"], "stopped");
    assert_eq!(st["nodes"][1]["pid"], Value::Null);
    assert_eq!(st["links"][0]["state"], "waiting");
    assert_eq!(lab.qemus().len(), 1);

    let o = lab.vmlab(&["start", "b"]);
    assert!(o.status.success(), "start: {}", stderr(&o));
    assert!(stderr(&o).contains("b: ready"), "{}", stderr(&o));
    let st: Value = serde_json::from_str(&stdout(&lab.vmlab(&["status", "--json"]))).unwrap();
    assert_eq!(st["nodes"][1]["status"], "running");
    assert_eq!(st["links"][0]["state"], "up");
    set_ip(&lab, "a", 1, "10.66.0.1");
    set_ip(&lab, "b", 1, "10.66.0.2");
    assert!(ping(&lab, "b", "10.66.0.1"), "no traffic after b restarted");

    // Starting a running node is refused; stopping twice is harmless.
    let o = lab.vmlab(&["start", "a"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr(&o).contains("already running"));

    // Several nodes at once, and the whole lab: stop --all, then start --all boots both at
    // once and returns when both are ready; a restart of a stopped node does not say it
    // stopped it.
    let o = lab.vmlab(&["stop", "a", "b"]);
    assert!(o.status.success(), "stop a b: {}", stderr(&o));
    assert!(lab.qemus().is_empty(), "stop a b leaves no QEMU");
    // A stopped node is named as such, with what brings it back.
    let o = lab.vmlab(&["ssh", "a", "true"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("a is not running (stopped); start it with `vmlab start a`"),
        "{}",
        stderr(&o)
    );
    let o = lab.vmlab(&["snapshot", "s"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("`vmlab start a`"), "{}", stderr(&o));
    assert!(
        !stderr(&o).contains("repair"),
        "repair does not start a stopped node: {}",
        stderr(&o)
    );
    let o = lab.vmlab(&["stop", "--all"]);
    assert!(
        o.status.success(),
        "stop --all of a stopped lab: {}",
        stderr(&o)
    );
    assert!(stdout(&o).contains("no node to stop"), "{}", stdout(&o));
    let o = lab.vmlab(&["restart", "b"]);
    assert!(o.status.success(), "restart b: {}", stderr(&o));
    assert!(
        !stderr(&o).contains("b stopped"),
        "b was not running: {}",
        stderr(&o)
    );
    let o = lab.vmlab(&["start", "--all"]);
    assert!(o.status.success(), "start --all: {}", stderr(&o));
    assert!(stderr(&o).contains("a: ready"), "{}", stderr(&o));
    assert!(
        !stderr(&o).contains("b: ready"),
        "b ran already: {}",
        stderr(&o)
    );
    let st = lab.status();
    for n in st["nodes"].as_array().unwrap() {
        assert_eq!(n["status"], "running", "{st}");
    }
    assert_eq!(lab.qemus().len(), 2);

    // `destroy --all` is answered with what destroy does, and changes nothing.
    let o = lab.vmlab(&["destroy", "--all"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        !stderr(&o).contains("--all-hosts'"),
        "no 'did you mean': {}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("whole lab"), "{}", stderr(&o));
    assert_eq!(lab.qemus().len(), 2);

    assert_destroyed(&lab, &[22600, 25600, 25601, 27600, 27601]);
}

/// Copies the lab's spec directory to `<root>/<name>` (a topology without a name: the
/// directory names the lab) and returns it.
fn copy_spec(lab: &TestLab, name: &str) -> std::path::PathBuf {
    let to = lab.root.path().join(name);
    std::fs::create_dir_all(to.join("profiles")).unwrap();
    for rel in ["topology.json", "platforms.json", "profiles/a.json"] {
        std::fs::copy(lab.specs().join(rel), to.join(rel)).unwrap();
    }
    to
}

#[test]
fn labs_copied_from_one_spec_come_up_side_by_side_and_share_a_console() {
    use std::io::{Read, Write};
    use std::process::Stdio;
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    let lab = vm_lab("side1", 120);
    lab.write(
        "topology.json",
        r#"{ "devices": { "a": {} }, "vmlab": { "link_port_base": 22960, "console_port_base": 26800, "ssh_port_base": 28800 } }"#,
    );
    lab.write("profiles/a.json", "{\"platform\": \"tiny-seq\"}");
    let one = copy_spec(&lab, "side1");
    let two = copy_spec(&lab, "side2");
    // Both labs live in this test's VMLAB_HOME: dropping `lab` kills every QEMU of it.
    lab.ok(&["deploy", one.to_str().unwrap(), "--progress", "plain"]);
    // The same spec again, under the copy's name: the block is taken, the next one is used.
    let o = lab.ok(&["deploy", two.to_str().unwrap(), "--progress", "plain"]);
    let err = stderr(&o);
    assert!(
        err.contains(
            "the spec's ssh ports 28800 are taken (by lab side1); this lab uses ssh ports 28801"
        ),
        "{err}"
    );
    let st = lab.json(&["status", "--lab", "side2", "--json"]);
    assert_eq!(st["nodes"][0]["ssh_port"], 28801, "{st}");
    assert!(
        st["ports_moved"]
            .as_str()
            .unwrap_or("")
            .contains("lab side1"),
        "{st}"
    );
    assert_eq!(
        lab.json(&["status", "--lab", "side1", "--json"])["nodes"][0]["ssh_port"],
        28800
    );
    let cfg = stdout(&lab.ok(&["ssh-config", "--lab", "side2"]));
    assert!(cfg.contains("Port 28801"), "{cfg}");
    let profile: Value =
        serde_json::from_str(&std::fs::read_to_string(two.join("profiles/a.json")).unwrap())
            .unwrap();
    assert_eq!(profile["ssh_port"], 28801, "the copy's profile is patched");
    // Both answer real SSH, each on its own port.
    for name in ["side1", "side2"] {
        let o = lab.vmlab(&["ssh", "--lab", name, "a", "echo", "up-$((20+22))"]);
        assert!(stdout(&o).contains("up-42"), "{name}: {}", stderr(&o));
    }
    // A third copy that insists on the exact block is refused, naming the lab that holds it;
    // a port held by another program is named by its process.
    let three = copy_spec(&lab, "side3");
    std::fs::write(
        three.join("topology.json"),
        r#"{ "devices": { "a": {} }, "vmlab": { "ssh_port_base": 28800, "ports": "exact" } }"#,
    )
    .unwrap();
    let o = lab.vmlab(&["deploy", three.to_str().unwrap(), "--dry-run"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("held by lab side1"), "{}", stderr(&o));
    let stranger = std::net::TcpListener::bind("127.0.0.1:28802").unwrap();
    std::fs::write(
        three.join("topology.json"),
        r#"{ "devices": { "a": {} }, "vmlab": { "ssh_port_base": 28802, "ports": "exact" } }"#,
    )
    .unwrap();
    let o = lab.vmlab(&["deploy", three.to_str().unwrap(), "--dry-run"]);
    assert!(
        stderr(&o).contains(&format!("(pid {})", std::process::id())),
        "the test's own listener is named: {}",
        stderr(&o)
    );
    drop(stranger);

    // Two console viewers at once: the first types, the second follows read-only and is
    // told who holds the console.
    let mut first = lab
        .command(&["console", "--lab", "side1", "a"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let first_pid = first.id();
    let mut first_in = first.stdin.take().unwrap();
    first_in.write_all(b"\n").unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let mut second = lab
        .command(&["console", "--lab", "side1", "a"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let reader = {
        let (seen, mut out) = (seen.clone(), second.stdout.take().unwrap());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = out.read(&mut buf) {
                if n == 0 {
                    break;
                }
                seen.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        })
    };
    let mut second_in = second.stdin.take().unwrap();
    std::thread::sleep(Duration::from_secs(1));
    second_in.write_all(b"echo x$((5*5))\n").unwrap();
    first_in.write_all(b"echo two$((7*8))\n").unwrap();
    let t0 = Instant::now();
    while !String::from_utf8_lossy(&seen.lock().unwrap()).contains("two56") {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "the second viewer never saw the first's output: {:?}",
            String::from_utf8_lossy(&seen.lock().unwrap())
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(first_in);
    let first_out = stdout(&first.wait_with_output().unwrap());
    assert!(first_out.contains("two56"), "{first_out}");
    assert!(
        !first_out.contains("x25"),
        "the follower's input reached the guest: {first_out}"
    );
    drop(second_in);
    let second_out = second.wait_with_output().unwrap();
    reader.join().unwrap();
    let told = stderr(&second_out);
    assert!(
        told.contains(&format!("held by vmlab console (pid {first_pid})")),
        "{told}"
    );
    // Once the first lets go, the console is anyone's again.
    assert!(console_says(&lab, "a", "echo back$((2*3))\n").contains("back6"));

    lab.ok(&["destroy", "--lab", "side2"]);
    lab.ok(&["destroy", "--lab", "side1"]);
    assert!(lab.qemus().is_empty());
}
