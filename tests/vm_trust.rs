//! Trust, on real VMs: signals never leave a QEMU behind, racing commands never lose one, a
//! crash during a start is a boot failure (exit 4), and a newtron spec directory in its own
//! layout — platform `vm_cpu_features: "+sse4.2"`, 4 vCPUs, 4 GB — boots under TCG, and a
//! guest reaches nothing on the host unless its platform allows it.

// Tests and benchmarks drive the vmlab binary and look at what it left behind: the front
// ends' rules in clippy.toml (no processes, no files) are not theirs.
#![allow(clippy::disallowed_methods)]

mod common;

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};

fn status(lab: &TestLab) -> Value {
    let o = lab.vmlab(&["status", "--json"]);
    assert!(o.status.success(), "status: {}", stderr(&o));
    serde_json::from_str(&stdout(&o)).expect("status JSON")
}

/// The pids state.json records for running nodes.
fn recorded_pids(lab: &TestLab) -> BTreeSet<i32> {
    status(lab)["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["pid"].as_i64().map(|p| p as i32))
        .collect()
}

fn running_qemus(lab: &TestLab) -> BTreeSet<i32> {
    lab.qemus().into_iter().collect()
}

/// Waits until `n` QEMUs of this lab run.
fn wait_for_qemus(lab: &TestLab, n: usize) {
    let t0 = Instant::now();
    while lab.qemus().len() < n {
        assert!(t0.elapsed() < Duration::from_secs(30), "VMs never started");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until state.json records `n` pids.
fn wait_for_recorded_pids(lab: &TestLab, n: usize) {
    let t0 = Instant::now();
    loop {
        let recorded = std::fs::read_to_string(lab.lab_dir().join("state.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .map(|st| {
                st["nodes"]
                    .as_object()
                    .map(|m| m.values().filter(|n| n["pid"].is_i64()).count())
                    .unwrap_or(0)
            })
            .unwrap_or(0);
        if recorded >= n {
            return;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "pids never recorded"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn signals_mid_deploy_leave_no_qemu_and_no_port() {
    let lab = two_node_lab("sig", 22700, 25700, 27700);
    let ports = [25700, 25701, 27700, 27701, 22700];
    let specs = lab.specs();
    let specs = specs.to_str().unwrap();
    // QEMU under another name: vmlab recognises its QEMUs by what it recorded, not by name.
    let emu = renamed_qemu(&lab.root.path().join("emu"));
    let deploy = || {
        let mut c = lab.command(&["deploy", "-S", specs, "--accel", "tcg"]);
        c.env("VMLAB_QEMU", &emu);
        c
    };
    // SIGTERM once both nodes boot (the watch is cancelled); SIGHUP while the QEMUs are still
    // launching (the launches finish, then everything is stopped).
    for (sig, code, booting) in [(Signal::SIGTERM, 143, true), (Signal::SIGHUP, 129, false)] {
        let child = deploy()
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        if booting {
            wait_for_recorded_pids(&lab, 2);
        } else {
            wait_for_qemus(&lab, 2);
        }
        kill(Pid::from_raw(child.id() as i32), sig).unwrap();
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(code),
            "{sig}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(lab.qemus().is_empty(), "{sig} left QEMU running");
        assert!(!lab.lab_dir().exists(), "{sig} left the lab directory");
        for p in ports {
            assert!(port_free(p), "{sig} left port {p} bound");
        }
    }

    // SIGKILL cannot be handled: a plain destroy afterwards finds every QEMU deploy launched.
    let mut child = deploy()
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for_qemus(&lab, 2);
    kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL).unwrap();
    let _ = child.wait();
    // Launching QEMUs finish daemonizing on their own: two remain.
    let t0 = Instant::now();
    while lab.qemus().len() != 2 && t0.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(lab.qemus().len(), 2, "the QEMUs outlive a killed deploy");
    for pid in lab.qemus() {
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
        assert_eq!(exe, emu, "the QEMU runs under its other name");
    }
    let o = lab.vmlab(&["destroy"]);
    assert!(o.status.success(), "destroy after SIGKILL: {}", stderr(&o));
    assert!(stdout(&o).contains("2 VMs stopped"), "{}", stdout(&o));
    assert!(lab.qemus().is_empty(), "QEMU left after destroy");
    assert!(!lab.lab_dir().exists());
    for p in ports {
        assert!(port_free(p), "port {p} still bound");
    }
}

#[test]
fn racing_commands_never_lose_a_vm() {
    let lab = two_node_lab("race", 22800, 25800, 27800);
    let profile = lab.specs().join("profiles/a.json");
    std::fs::set_permissions(&profile, std::fs::Permissions::from_mode(0o640)).unwrap();
    let specs = lab.specs();
    let specs = specs.to_str().unwrap();

    // Two deploys of one lab at once: one deploys, the other is refused as busy.
    let spawn = || {
        lab.command(&["deploy", "-S", specs, "--accel", "tcg"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (first, second) = (spawn(), spawn());
    let outs = [
        first.wait_with_output().unwrap(),
        second.wait_with_output().unwrap(),
    ];
    let mut codes: Vec<i32> = outs.iter().map(|o| o.status.code().unwrap()).collect();
    codes.sort();
    let all: String = outs.iter().map(stderr).collect();
    assert_eq!(codes, [0, 3], "{all}");
    assert!(all.contains("is busy"), "the loser says why: {all}");
    let st = status(&lab);
    for n in st["nodes"].as_array().unwrap() {
        assert_eq!(n["status"], "running", "{n}");
        assert!(n["ready_at"].is_string(), "{n}");
    }
    assert_eq!(recorded_pids(&lab), running_qemus(&lab), "a QEMU untracked");
    assert_eq!(
        std::fs::metadata(&profile).unwrap().permissions().mode() & 0o7777,
        0o640,
        "the patched profile kept its mode"
    );

    // A start of one node while the other restarts: both end up running and recorded.
    let o = lab.vmlab(&["stop", "b"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let restart = lab
        .command(&["restart", "a"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let start = lab.vmlab(&["start", "b"]);
    let restart = restart.wait_with_output().unwrap();
    assert!(restart.status.success(), "restart a: {}", stderr(&restart));
    assert!(start.status.success(), "start b: {}", stderr(&start));
    let pids = recorded_pids(&lab);
    assert_eq!(pids.len(), 2, "{}", status(&lab));
    assert_eq!(pids, running_qemus(&lab), "a QEMU untracked");

    // A QEMU that dies while its node starts is a boot failure: exit 4, named.
    let o = lab.vmlab(&["stop", "b"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let start = lab
        .command(&["start", "b"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let state_file = lab.lab_dir().join("state.json");
    let t0 = Instant::now();
    let pid = loop {
        let st: Value =
            serde_json::from_str(&std::fs::read_to_string(&state_file).unwrap()).unwrap();
        if let Some(p) = st["nodes"]["b"]["pid"].as_i64() {
            break p as i32;
        }
        assert!(t0.elapsed() < Duration::from_secs(20), "b never launched");
        std::thread::sleep(Duration::from_millis(20));
    };
    kill(Pid::from_raw(pid), Signal::SIGKILL).unwrap();
    let out = start.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(err.contains("b: QEMU exited during boot"), "{err}");
    let st = status(&lab);
    assert_eq!(st["nodes"][1]["status"], "failed", "{st}");

    let o = lab.vmlab(&["destroy"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(lab.qemus().is_empty());
}

#[test]
fn a_newtron_spec_directory_boots_unmodified_under_tcg() {
    let vm = vm_lab("newtron", 300);
    // The spec directory exactly as newtron lays it out; the tiny guest stands in for SONiC at
    // the image path the platform names (`~/.newtlab/images/sonic-vpp.qcow2`).
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/newtron-4node");
    let specs = vm.root.path().join("4node");
    copy_dir(&fixture, &specs);
    let home = vm.root.path().join("user");
    std::fs::create_dir_all(home.join(".newtlab/images")).unwrap();
    std::os::unix::fs::symlink(guest_image(), home.join(".newtlab/images/sonic-vpp.qcow2"))
        .unwrap();
    let run = |args: &[&str]| {
        vm.command(args)
            .env("HOME", &home)
            .output()
            .expect("run vmlab")
    };
    let o = run(&["deploy", "-S", specs.to_str().unwrap(), "--accel", "tcg"]);
    assert!(o.status.success(), "deploy: {}\n{}", stdout(&o), stderr(&o));
    let dry = run(&[
        "deploy",
        "-S",
        specs.to_str().unwrap(),
        "--dry-run",
        "--accel",
        "tcg",
    ]);
    assert!(
        stdout(&dry).contains("-cpu max,+sse4.2"),
        "{}",
        stdout(&dry)
    );

    // The guest sees SSE4.2 and the SSSE3 that goes with it.
    let o = run(&[
        "ssh",
        "--lab",
        "4node",
        "spine1",
        "--",
        "grep -m1 flags /proc/cpuinfo",
    ]);
    let flags: BTreeSet<&str> = std::str::from_utf8(&o.stdout)
        .unwrap()
        .split_whitespace()
        .collect();
    for f in ["ssse3", "sse4_1", "sse4_2"] {
        assert!(flags.contains(f), "no {f} in the guest: {flags:?}");
    }
    // Traffic over a link (sequential map: Ethernet0 is eth1).
    for (node, ip) in [("spine1", "10.1.0.0"), ("leaf1", "10.1.0.1")] {
        let o = run(&[
            "ssh",
            "--lab",
            "4node",
            node,
            "--",
            &format!("ip addr add {ip}/31 dev eth1 && ip link set eth1 up"),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let o = run(&[
        "ssh",
        "--lab",
        "4node",
        "spine1",
        "--",
        "ping -c 3 -i 0.2 -W 3 10.1.0.1",
    ]);
    assert!(stdout(&o).contains("bytes from"), "{}", stdout(&o));
    // newtron's fields survive the profile patch; vmlab's are added.
    let p: Value =
        serde_json::from_str(&std::fs::read_to_string(specs.join("profiles/spine2.json")).unwrap())
            .unwrap();
    assert_eq!(p["underlay_asn"], 65002);
    assert_eq!(p["evpn"]["route_reflector"], true);
    assert_eq!(p["ssh_port"], 13001);
    // Consoles are the lab's unix sockets: no port to write (see README, Consoles).
    assert!(p.get("console_port").is_none(), "{p}");

    let o = run(&["destroy", "--lab", "4node"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(vm.qemus().is_empty());
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

/// A guest's management network reaches nothing on the host by default (QEMU's user network
/// with `restrict=on`): a listener on the host's loopback, which QEMU shows the guest at
/// 10.0.2.2, is out of reach, while SSH in still works. A platform that asks for outbound
/// access (`vm_guest_network: "outbound"`) gets it — which shows the probe can succeed.
#[test]
fn guests_reach_nothing_on_the_host_unless_their_platform_allows_it() {
    let lab = vm_lab("fence", 120);
    let mut platforms: Value =
        serde_json::from_str(&lab.read("platforms.json")).expect("platforms.json");
    let mut open = platforms["platforms"]["tiny-seq"].clone();
    open["vm_guest_network"] = json!("outbound");
    platforms["platforms"]["tiny-open"] = open;
    lab.write("platforms.json", &platforms.to_string());
    lab.write(
        "topology.json",
        &two_node_topology("fence", [23880, 27880, 29880], ""),
    );
    lab.write("profiles/a.json", "{\"platform\": \"tiny-seq\"}");
    lab.write("profiles/b.json", "{\"platform\": \"tiny-open\"}");
    // A service on the host's loopback, counting who connects.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a host listener");
    let port = listener.local_addr().expect("its port").port();
    let reached = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = reached.clone();
    std::thread::spawn(move || {
        for c in listener.incoming().flatten() {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let _ = std::io::Write::write_all(&mut &c, b"host-service\n");
        }
    });
    lab.deploy();
    let argv = |node: &str| {
        let pid = status(&lab)["nodes"]
            .as_array()
            .and_then(|n| n.iter().find(|n| n["name"] == node))
            .and_then(|n| n["pid"].as_i64())
            .expect("a pid");
        std::fs::read(format!("/proc/{pid}/cmdline")).expect("QEMU's command line")
    };
    let has = |argv: &[u8], s: &str| argv.windows(s.len()).any(|w| w == s.as_bytes());
    assert!(
        has(&argv("a"), "restrict=on"),
        "a's user network is restricted"
    );
    assert!(
        has(&argv("b"), "restrict=off"),
        "b asked for outbound access"
    );
    let probe = format!("nc -w 3 10.0.2.2 {port} </dev/null; echo exit=$?");
    // SSH in works on both (this command came that way).
    let fenced = on(&lab, "a", &probe);
    assert!(
        !fenced.contains("host-service"),
        "a reached the host: {fenced}"
    );
    assert!(!fenced.contains("exit=0"), "{fenced}");
    assert_eq!(reached.load(std::sync::atomic::Ordering::SeqCst), 0);
    let open = on(&lab, "b", &probe);
    assert!(
        open.contains("host-service"),
        "b did not reach the host: {open}"
    );
    assert_eq!(reached.load(std::sync::atomic::Ordering::SeqCst), 1);
    lab.ok(&["destroy", "fence"]);
}
