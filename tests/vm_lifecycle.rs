//! Lab lifecycle on real VMs: live whole-lab snapshots restored without a reboot (with the
//! links as they were, also after the nodes were stopped), images managed by vmlab, and staged
//! boot (waits, one boot at a time, a boot delay) read back from `status --json` times.

// Tests and benchmarks drive the vmlab binary and look at what it left behind: the front
// ends' rules in clippy.toml (no processes, no files) are not theirs.
#![allow(clippy::disallowed_methods)]

mod common;

use std::time::{Duration, SystemTime};

use common::*;
use serde_json::Value;

fn time(s: &Value) -> SystemTime {
    humantime::parse_rfc3339(s.as_str().expect("a time")).expect("RFC 3339")
}

#[test]
fn a_snapshot_brings_the_whole_lab_back_with_its_links() {
    let vm = vm_lab("snap", 120);
    // The lab's image is one vmlab imported (raw, converted to qcow2).
    let raw = vm.root.path().join("tiny.raw");
    let conv = std::process::Command::new("qemu-img")
        .args(["convert", "-O", "raw"])
        .arg(guest_image())
        .arg(&raw)
        .status()
        .unwrap();
    assert!(conv.success());
    let o = vm.vmlab(&["image", "import", raw.to_str().unwrap(), "--name", "tiny"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let image = vm.home().join("images/tiny.qcow2");
    let info = std::process::Command::new("qemu-img")
        .args(["info", "--output=json"])
        .arg(&image)
        .output()
        .unwrap();
    assert!(
        stdout(&info).contains("\"format\": \"qcow2\""),
        "{}",
        stdout(&info)
    );
    vm.write("platforms.json", &tiny_platforms(&image, 120));
    vm.write(
        "topology.json",
        &two_node_topology("snap", [23000, 26000, 28000], ""),
    );
    vm.write("profiles/a.json", "{\"platform\": \"tiny-seq\"}");
    vm.write("profiles/b.json", "{\"platform\": \"tiny-seq\"}");
    vm.deploy();

    // The image is in use: it cannot be removed.
    let o = vm.vmlab(&["image", "rm", "tiny"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("in use by snap:a"), "{}", stderr(&o));
    assert!(image.exists());
    let list = stdout(&vm.ok(&["image", "list", "--json"]));
    let rows: Value = serde_json::from_str(&list).unwrap();
    assert_eq!(rows[0]["used_by"], serde_json::json!(["snap:a", "snap:b"]));
    // Named as a spec names it (`vm_image: "tiny"`), not by its file.
    assert_eq!(rows[0]["name"], "tiny", "{rows}");

    on(
        &vm,
        "a",
        "ip addr add 10.70.0.1/24 dev eth1 && ip link set eth1 up && echo before > /tmp/state",
    );
    on(
        &vm,
        "b",
        "ip addr add 10.70.0.2/24 dev eth1 && ip link set eth1 up",
    );
    let o = stdout(&vm.ok(&["snapshot", "--name", "s1"]));
    let _ = o;
    let list = stdout(&vm.ok(&["snapshot", "--list", "--json"]));
    let snaps: Value = serde_json::from_str(&list).unwrap();
    assert_eq!(snaps[0]["name"], "s1");
    assert!(
        snaps[0]["nodes"][0]["vm_state_bytes"].as_u64().unwrap() > 1 << 20,
        "{snaps}"
    );

    // Change everything: guest RAM, an interface address, a link set down.
    on(
        &vm,
        "a",
        "echo after > /tmp/state && ip addr add 10.99.0.1/32 dev eth1",
    );
    stdout(&vm.ok(&["link", "down", "a:Ethernet0"]));
    let o = vm.vmlab(&["restore", "--name", "s1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("every node answering SSH after"),
        "{}",
        stdout(&o)
    );
    assert_eq!(on(&vm, "a", "cat /tmp/state").trim(), "before");
    let addrs = on(&vm, "a", "ip -o addr show dev eth1");
    assert!(
        addrs.contains("10.70.0.1") && !addrs.contains("10.99.0.1"),
        "{addrs}"
    );
    let l = vm.json(&["links", "--json"]);
    assert_eq!(l["links"][0]["state"], "up", "the link is as it was: {l}");
    assert!(ping(&vm, "a", "10.70.0.2"), "no traffic after restore");

    // After the nodes were stopped (and started), the snapshot still restores.
    stdout(&vm.ok(&["stop", "a"]));
    stdout(&vm.ok(&["stop", "b"]));
    // A stopped node's console is not reached for, wherever it would be.
    let o = vm.vmlab(&["console", "a"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("a is not running (stopped)"),
        "{}",
        stderr(&o)
    );
    let o = vm.vmlab(&["restore", "--name", "s1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("starting a, b from the snapshot"),
        "{}",
        stderr(&o)
    );
    let st = vm.status();
    assert!(
        st["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["status"] == "running"),
        "{st}"
    );
    assert_eq!(on(&vm, "a", "cat /tmp/state").trim(), "before");
    assert!(
        ping(&vm, "a", "10.70.0.2"),
        "no traffic after restoring stopped nodes"
    );
    stdout(&vm.ok(&["restart", "b"]));
    let o = vm.vmlab(&["restore", "--name", "s1"]);
    assert!(
        o.status.success(),
        "restore after a restart: {}",
        stderr(&o)
    );

    // Bad input changes nothing.
    let o = vm.vmlab(&["restore", "--name", "nope"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(
        stderr(&o).contains("no snapshot \"nope\" (snapshots: s1)"),
        "{}",
        stderr(&o)
    );
    let o = vm.vmlab(&["snapshot", "--name", "../x"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let o = vm.vmlab(&["snapshot", "--name", "s1"]);
    assert_eq!(o.status.code(), Some(3), "a name taken: {}", stderr(&o));

    // Consoles are the lab's: a unix socket in the 0700 lab directory, no TCP port, nothing
    // in the profile; `vmlab console` reaches it, another local user cannot.
    assert!(
        port_free(26000) && port_free(26001),
        "a console listens on TCP"
    );
    let profile: Value = serde_json::from_str(&vm.read("profiles/a.json")).unwrap();
    assert!(profile.get("console_port").is_none(), "{profile}");
    assert_eq!(profile["ssh_port"], 28000);
    let out = console_says(&vm, "a", "echo console-$((6*7))\n");
    assert!(out.contains("console-42"), "{out}");
    {
        use std::os::unix::fs::PermissionsExt;
        // Only the lab directory stands between another user and the socket.
        for d in [
            vm.root.path().to_path_buf(),
            vm.home(),
            vm.home().join("labs"),
        ] {
            std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let sock = vm.lab_dir().join("qemu/a.con");
        let o = std::process::Command::new("runuser")
            .args(["-u", "nobody", "--", "socat", "-u"])
            .arg(format!("UNIX-CONNECT:{}", sock.display()))
            .arg("-")
            .output()
            .expect("runuser and socat (scripts/setup)");
        assert!(!o.status.success(), "another user reached the console");
        assert!(stderr(&o).contains("Permission denied"), "{}", stderr(&o));
    }

    // All-digit names would be read by QEMU as snapshot ids (`1` = the first snapshot).
    let o = vm.vmlab(&["snapshot", "--name", "1"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("all digits"), "{}", stderr(&o));

    // A signal while the lab is paused: the VMs run again, nothing half-taken stays.
    let o = interrupted_snapshot(&vm, "s2", nix::sys::signal::Signal::SIGTERM);
    assert_eq!(o.status.code(), Some(143), "{}", stderr(&o));
    for n in ["a", "b"] {
        assert_eq!(qmp_status(&vm, n), "running", "{n} after SIGTERM");
    }
    let st = vm.status();
    for n in st["nodes"].as_array().unwrap() {
        assert_eq!(n["status"], "running", "{st}");
    }
    assert!(!stdout(&vm.ok(&["snapshot", "--list"])).contains("s2"));
    // vmlab killed outright while the lab is paused: status says so, repair resumes.
    let o = interrupted_snapshot(&vm, "s3", nix::sys::signal::Signal::SIGKILL);
    assert_eq!(o.status.code(), None, "killed");
    assert_eq!(qmp_status(&vm, "a"), "paused");
    let st = vm.status();
    for n in st["nodes"].as_array().unwrap() {
        assert_eq!(n["status"], "paused", "{st}");
    }
    let o = stdout(&vm.ok(&["repair"]));
    assert!(o.contains("resumed: a, b"), "{o}");
    for n in ["a", "b"] {
        assert_eq!(qmp_status(&vm, n), "running", "{n} after repair");
    }
    assert!(ping(&vm, "a", "10.70.0.2"), "no traffic after repair");

    stdout(&vm.ok(&["snapshot", "--delete", "s1"]));
    assert!(stdout(&vm.ok(&["snapshot", "--list"])).contains("no snapshots"));
    stdout(&vm.ok(&["destroy"]));
    assert!(vm.qemus().is_empty() && vm.relays().is_empty());
    // No lab uses it now.
    stdout(&vm.ok(&["image", "rm", "tiny"]));
    assert!(!image.exists());
}

/// Starts `vmlab snapshot --name <name>`, sends `sig` once it says the VMs are paused, and
/// waits for it to end.
fn interrupted_snapshot(
    vm: &TestLab,
    name: &str,
    sig: nix::sys::signal::Signal,
) -> std::process::Output {
    use std::io::BufRead;
    let mut child = vm
        .command(&["snapshot", "--name", name])
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        assert!(
            err.read_line(&mut line).unwrap() > 0,
            "snapshot ended before pausing: {seen}"
        );
        seen.push_str(&line);
        if line.contains("paused 2 VMs") {
            break;
        }
    }
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), sig).unwrap();
    let mut rest = Vec::new();
    std::io::Read::read_to_end(&mut err, &mut rest).unwrap();
    let mut o = child.wait_with_output().unwrap();
    o.stderr = [seen.into_bytes(), rest].concat();
    o
}

/// QEMU's own word on whether `node` runs (`query-status`), over its QMP socket.
fn qmp_status(vm: &TestLab, node: &str) -> String {
    use std::io::{BufRead, Write};
    let path = vm.lab_dir().join("qemu").join(format!("{node}.mon"));
    let s = std::os::unix::net::UnixStream::connect(&path).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut w = s.try_clone().unwrap();
    let mut r = std::io::BufReader::new(s);
    // Only what is meant for this connection counts: QEMU writes its answer to the snapshot
    // vmlab was killed in to whoever connects next.
    let mut reply = |wanted: &dyn Fn(&Value) -> bool| loop {
        let mut line = String::new();
        assert!(r.read_line(&mut line).unwrap() > 0, "QMP closed");
        let v: Value = serde_json::from_str(&line).unwrap();
        if wanted(&v) {
            return v;
        }
    };
    reply(&|v| v.get("QMP").is_some());
    w.write_all(b"{\"execute\":\"qmp_capabilities\",\"id\":\"caps\"}\n")
        .unwrap();
    reply(&|v| v["id"] == "caps");
    w.write_all(b"{\"execute\":\"query-status\",\"id\":\"st\"}\n")
        .unwrap();
    let v = reply(&|v| v["id"] == "st");
    match v["return"]["status"].as_str() {
        Some(s) => s.to_string(),
        None => panic!("{node}: QMP query-status answered {v}"),
    }
}

#[test]
fn staged_boot_waits_delays_and_boots_one_at_a_time() {
    let vm = vm_lab("stages", 120);
    vm.write(
        "topology.json",
        r#"{ "name": "stages", "devices": { "leaf": {}, "spine": {}, "late": {} },
             "links": [ { "a": "spine:Ethernet0", "z": "leaf:Ethernet0" } ],
             "vmlab": { "console_port_base": 26200, "ssh_port_base": 28200,
                        "max_parallel_boots": 1 } }"#,
    );
    // The leaf comes first in the topology but waits for the spine.
    vm.write(
        "profiles/leaf.json",
        "{\"platform\": \"tiny-seq\", \"vm_wait_for\": [\"spine\"]}",
    );
    vm.write("profiles/spine.json", "{\"platform\": \"tiny-seq\"}");
    vm.write(
        "profiles/late.json",
        "{\"platform\": \"tiny-seq\", \"vm_boot_delay\": 3}",
    );
    let o = vm.deploy();
    let log = stderr(&o);
    assert!(log.contains("booting at most 1 node at once"), "{log}");
    assert!(log.contains("leaf: waiting for spine"), "{log}");
    assert!(log.contains("late: boot delay"), "{log}");

    let st = vm.status();
    let node = |name: &str| {
        st["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["name"] == name)
            .cloned()
            .unwrap()
    };
    let (spine, leaf, late) = (node("spine"), node("leaf"), node("late"));
    assert!(
        time(&leaf["started"]) >= time(&spine["ready_at"]),
        "leaf started before spine was ready: {st}"
    );
    // One boot at a time: sorted by start, each starts once the one before is ready.
    let mut boots: Vec<(SystemTime, SystemTime)> = [&spine, &leaf, &late]
        .iter()
        .map(|n| (time(&n["started"]), time(&n["ready_at"])))
        .collect();
    boots.sort();
    for w in boots.windows(2) {
        assert!(w[1].0 >= w[0].1, "two boots overlapped: {st}");
    }
    // late could start at once but waits out its delay (and its turn).
    let first = boots[0].0;
    assert!(
        time(&late["started"]).duration_since(first).unwrap() >= Duration::from_secs(3),
        "{st}"
    );
    stdout(&vm.ok(&["destroy"]));
}
