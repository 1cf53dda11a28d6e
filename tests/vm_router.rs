//! What vmlab's links carry, seen by real network software: router guests (FRR, lldpd, built by
//! `assets/guest/build-router.sh` from Debian's packages) run the demo as a routed fabric —
//! eBGP with BFD on every link, LLDP, jumbo frames, 802.1Q — and a pair of routers bonds two
//! links with LACP and talks over a direct link. Each lab boots once and its sections run in
//! order; a failure names its section.

// Tests and benchmarks drive the vmlab binary and look at what it left behind: the front
// ends' rules in clippy.toml (no processes, no files) are not theirs.
#![allow(clippy::disallowed_methods)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

/// `vtysh -c <cmd>` on `node`, parsed.
fn vtysh(lab: &TestLab, node: &str, cmd: &str) -> Value {
    let out = on(lab, node, &format!("vtysh -c '{cmd}'"));
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{node}: `{cmd}`: {e}: {out}"))
}

/// Tries `f` until it gives `Some`, for at most `secs`; the test fails naming `what`.
fn wait_for<T>(what: &str, secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
    let t0 = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(secs),
            "{what}: not within {secs} s"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// The BFD state of `node`'s session with `peer` ("up", "down", "init"...).
fn bfd_state(lab: &TestLab, node: &str, peer: &str) -> String {
    let v = vtysh(lab, node, &format!("show bfd peer {peer} json"));
    v["status"].as_str().unwrap_or("none").to_string()
}

/// The BGP state of each of `node`'s peers, by address.
fn bgp_states(lab: &TestLab, node: &str) -> Vec<(String, String)> {
    let v = vtysh(lab, node, "show bgp summary json");
    v["ipv4Unicast"]["peers"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, p)| (k.clone(), p["state"].as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// Every BGP session of the demo fabric, Established or not.
fn all_established(lab: &TestLab) -> bool {
    ["spine1", "spine2", "leaf1", "leaf2"].iter().all(|n| {
        let s = bgp_states(lab, n);
        s.len() == 2 && s.iter().all(|(_, st)| st == "Established")
    })
}

/// A watcher on `node` that prints `DOWN <gap ms>` once its BFD session with `peer` leaves
/// "up" (gap: the time between its last two looks), after it printed `UP` for the first look.
/// Its lines are read on the host as they come, timed by the host's clock.
struct BfdWatch {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<(Instant, String)>,
}

impl BfdWatch {
    fn start(lab: &TestLab, node: &str, peer: &str) -> Self {
        let script = format!(
            "last=$(date +%s%N); while :; do s=$(vtysh -c 'show bfd peer {peer} json' | \
             grep -o '\"status\":\"[a-z]*\"'); now=$(date +%s%N); \
             case \"$s\" in *'\"up\"'*) [ -n \"$said\" ] || {{ echo UP; said=1; }} ;; \
             *) echo \"DOWN $(( (now - last) / 1000000 ))\"; exit 0 ;; esac; last=$now; done"
        );
        let mut child = lab
            .command(&["ssh", "--lab", &lab.name, node, "--", &script])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("vmlab ssh");
        let out = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send((Instant::now(), line)).is_err() {
                    break;
                }
            }
        });
        BfdWatch { child, lines: rx }
    }

    /// The next line, within `secs`.
    fn next(&self, secs: u64) -> (Instant, String) {
        self.lines
            .recv_timeout(Duration::from_secs(secs))
            .expect("a line from the BFD watcher")
    }
}

impl Drop for BfdWatch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Is bond member `member` collecting and distributing (its actor port state has both bits,
/// 0x10 and 0x20), by `/proc/net/bonding/<bond>`?
fn distributing(bond: &str, member: &str) -> bool {
    bond.split("Slave Interface: ")
        .find(|s| s.starts_with(member))
        .and_then(|s| s.split("details actor lacp pdu:").nth(1))
        .and_then(|s| s.split("port state: ").nth(1))
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse::<u32>().ok())
        .is_some_and(|state| state & 0x30 == 0x30)
}

/// Starts `vmlab capture <end> -w <file>`; returns once the file exists.
fn start_capture(lab: &TestLab, end: &str, pcap: &std::path::Path) -> std::process::Child {
    let cap = lab
        .command(&["capture", end, "-w", pcap.to_str().expect("utf-8 path")])
        .stderr(Stdio::piped())
        .spawn()
        .expect("vmlab capture");
    wait_for("the capture starts", 10, || pcap.exists().then_some(()));
    std::thread::sleep(Duration::from_millis(300));
    cap
}

/// Ends a capture with Ctrl-C; what `tcpdump -e -n -r` reads from it.
fn end_capture(cap: std::process::Child, pcap: &std::path::Path) -> String {
    std::thread::sleep(Duration::from_millis(300));
    kill(Pid::from_raw(cap.id() as i32), Signal::SIGINT).expect("SIGINT");
    let out = cap.wait_with_output().expect("capture ends");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read = std::process::Command::new("tcpdump")
        .args(["-e", "-n", "-r"])
        .arg(pcap)
        .output()
        .expect("tcpdump is installed (scripts/setup)");
    assert!(read.status.success(), "{}", stderr(&read));
    stdout(&read)
}

/// The demo (`assets/demo`) on router guests, as `scripts/demo` runs it: it converges and
/// passes its own checks (BGP, BFD, LLDP on relayed links, every loopback, 9000-byte frames);
/// then what a router sees of the lab's link tools.
#[test]
fn the_routed_demo_converges_and_its_links_carry_what_routers_send() {
    let lab = router_lab("demo");
    let demo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo");
    let copied = std::process::Command::new("cp")
        .arg("-r")
        .arg(demo.join("."))
        .arg(lab.specs())
        .status()
        .expect("cp");
    assert!(copied.success());
    let specs = lab.specs();
    let t0 = Instant::now();
    let o = lab.vmlab(&[
        "deploy",
        "-S",
        specs.to_str().expect("utf-8 path"),
        "--link-port-base",
        "24400",
        "--console-port-base",
        "24500",
        "--ssh-port-base",
        "24600",
    ]);
    assert!(o.status.success(), "deploy: {}", stderr(&o));
    let deployed = t0.elapsed();

    // 1. The demo's own checks: every session Established, BFD up, LLDP neighbours as the
    //    topology says, loopbacks reach each other, 9000-byte frames cross each link.
    let o = lab.vmlab(&["validate", "--lab", "demo", "--json"]);
    let report: Value = serde_json::from_str(&stdout(&o)).expect("the report");
    assert!(o.status.success(), "the demo's checks: {report:#}");
    assert_eq!(report["passed"], Value::Bool(true), "{report}");
    assert!(
        report["counts"]["pass"].as_u64().unwrap_or(0) >= 22,
        "{report}"
    );
    let converged = t0.elapsed();
    assert!(all_established(&lab), "every BGP session Established");
    // The table says how long after the last node was ready everything passed.
    let o = lab.ok(&["validate", "--lab", "demo"]);
    let summary = stdout(&o);
    assert!(
        summary.contains("22 of 22 passed in ")
            && summary.contains("after the last node was ready"),
        "{summary}"
    );
    eprintln!(
        "deploy: {:.1} s; deploy to converged (all checks pass): {:.1} s",
        deployed.as_secs_f64(),
        converged.as_secs_f64()
    );

    // 2. Link down: BFD declares the neighbour down on both ends within 1.5 s, BGP withdraws
    //    the routes learnt over the link; link up brings all back.
    let a = BfdWatch::start(&lab, "spine1", "10.1.1.1");
    let z = BfdWatch::start(&lab, "leaf1", "10.1.1.0");
    assert_eq!(a.next(30).1, "UP", "spine1's BFD session starts up");
    assert_eq!(z.next(30).1, "UP", "leaf1's BFD session starts up");
    let down_at = Instant::now();
    lab.ok(&["link", "down", "spine1:Ethernet0"]);
    for (w, who) in [(&a, "spine1"), (&z, "leaf1")] {
        let (at, line) = w.next(10);
        let gap: f64 = line
            .strip_prefix("DOWN ")
            .and_then(|g| g.parse().ok())
            .unwrap_or_else(|| panic!("{who}: {line}"));
        let seen = at.duration_since(down_at).as_secs_f64();
        // Declared down at most `seen` after the link went down, and after `seen - gap`
        // (the watcher's previous look still saw it up).
        eprintln!("{who}: BFD down seen {seen:.2} s after link down (looks {gap} ms apart)");
        assert!(
            seen - gap / 1000.0 <= 1.5 && seen <= 3.0,
            "{who}: BFD saw the link down {seen:.2} s after it went down"
        );
    }
    drop((a, z));
    wait_for("leaf1 withdraws spine1's routes", 10, || {
        let r = on(&lab, "leaf1", "ip route show 10.255.0.1");
        (!r.contains("10.1.1.0")).then_some(())
    });
    lab.ok(&["link", "up", "spine1:Ethernet0"]);
    wait_for("the session over spine1:Ethernet0 comes back", 90, || {
        all_established(&lab).then_some(())
    });
    wait_for(
        "leaf1 learns spine1's loopback again over the link",
        30,
        || {
            let r = on(&lab, "leaf1", "ip route show 10.255.0.1");
            r.contains("10.1.1.0").then_some(())
        },
    );

    // 3. 802.1Q: a tagged subinterface on each end passes traffic; the capture shows the tag.
    for (node, ip) in [("spine1", "192.168.100.1"), ("leaf1", "192.168.100.2")] {
        on(
            &lab,
            node,
            &format!(
                "ip link add link Ethernet0 name Ethernet0.100 type vlan id 100 && \
                 ip addr add {ip}/30 dev Ethernet0.100 && ip link set Ethernet0.100 up"
            ),
        );
    }
    let pcap = lab.root.path().join("vlan.pcap");
    let cap = start_capture(&lab, "spine1:Ethernet0", &pcap);
    let o = ssh(&lab, "spine1", "ping -c 3 -i 0.2 -W 2 192.168.100.2");
    assert!(o.status.success(), "ping over VLAN 100: {}", stdout(&o));
    let frames = end_capture(cap, &pcap);
    let tagged: Vec<&str> = frames
        .lines()
        .filter(|l| l.contains("vlan 100") && l.contains("ICMP echo"))
        .collect();
    assert!(
        tagged.len() >= 6,
        "tagged echo frames in the capture:\n{frames}"
    );

    // 4. Impairments as a router sees them: 50 ms each way shows in ping; 100% loss fails
    //    BFD; reset brings it back.
    let rtt = |node: &str, ip: &str| {
        let out = on(&lab, node, &format!("ping -c 4 -i 0.3 -W 3 {ip}"));
        // iputils: rtt min/avg/max/mdev = a/b/c/d ms
        out.lines()
            .find_map(|l| l.split(" = ").nth(1))
            .and_then(|v| v.split('/').nth(1))
            .and_then(|a| a.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("no rtt in {out}"))
    };
    let before = rtt("spine1", "10.1.1.1");
    lab.ok(&["link", "set", "spine1:Ethernet0", "--delay", "50ms"]);
    let delayed = rtt("spine1", "10.1.1.1");
    eprintln!("rtt over spine1:Ethernet0: {before:.1} ms, with 50 ms each way {delayed:.1} ms");
    assert!(
        delayed >= 100.0 && delayed > before + 80.0,
        "rtt {before} ms, delayed {delayed} ms"
    );
    lab.ok(&["link", "set", "spine1:Ethernet0", "--loss", "100%"]);
    wait_for("BFD fails on 100% loss", 10, || {
        (bfd_state(&lab, "spine1", "10.1.1.1") == "down").then_some(())
    });
    lab.ok(&["link", "reset", "spine1:Ethernet0"]);
    wait_for("BFD comes back after link reset", 30, || {
        (bfd_state(&lab, "spine1", "10.1.1.1") == "up").then_some(())
    });
    wait_for("BGP comes back after link reset", 90, || {
        all_established(&lab).then_some(())
    });

    // 5. Snapshots of a converged network: restore after a link flap, and every session is
    //    Established again within 3 s of the restore.
    let nodes = ["spine1", "spine2", "leaf1", "leaf2"];
    let uptimes = |lab: &TestLab| -> Vec<(String, String, u64)> {
        nodes
            .iter()
            .flat_map(|n| {
                let v = vtysh(lab, n, "show bgp summary json");
                let peers = v["ipv4Unicast"]["peers"]
                    .as_object()
                    .cloned()
                    .unwrap_or_default();
                peers
                    .into_iter()
                    .map(|(p, s)| (n.to_string(), p, s["peerUptimeMsec"].as_u64().unwrap_or(0)))
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    // Read just before the snapshot: each is at most its uptime in the snapshot.
    let before = uptimes(&lab);
    lab.ok(&["snapshot", "converged"]);
    assert_eq!(before.len(), 8, "{before:?}");
    lab.ok(&["link", "down", "spine1:Ethernet0"]);
    wait_for("the flap takes the session down", 30, || {
        let s = bgp_states(&lab, "spine1");
        s.iter()
            .any(|(p, st)| p == "10.1.1.1" && st != "Established")
            .then_some(())
    });
    lab.ok(&["link", "up", "spine1:Ethernet0"]);
    let r0 = Instant::now();
    lab.ok(&["restore", "converged"]);
    let restored = r0.elapsed();
    // When the first look that found every session Established began.
    let r1 = Instant::now();
    let seen = wait_for("every session Established after the restore", 30, || {
        let started = r1.elapsed();
        all_established(&lab).then_some(started)
    });
    let after = uptimes(&lab);
    eprintln!(
        "restore: {:.1} s; every session Established at the first look {:.1} s after it \
         returned; uptimes at the snapshot {before:?}, after {after:?}",
        restored.as_secs_f64(),
        seen.as_secs_f64(),
    );
    assert!(
        seen <= Duration::from_secs(3),
        "sessions Established {:.1} s after the restore",
        seen.as_secs_f64()
    );
    // The sessions survived: each one's uptime goes on from the snapshot, the one over the
    // flapped link included (the guest's clock is the HPET, which the snapshot restores; a TSC
    // clock would jump by the time since the snapshot and expire every BFD and hold timer).
    for (node, peer, up) in &before {
        let now = after
            .iter()
            .find(|(n, p, _)| n == node && p == peer)
            .map(|(_, _, u)| *u)
            .unwrap_or(0);
        assert!(
            now >= *up,
            "{node}'s session with {peer} was made anew: uptime {up} ms at the snapshot, {now} ms after"
        );
    }
    lab.ok(&["destroy", "demo"]);
}

/// Two routers with two parallel relayed links bonded by LACP (802.3ad) and a third, direct
/// link: the bond negotiates (each end sees its partner on both members) and keeps carrying
/// when one member goes down; LLDP and 9000-byte frames cross the direct link.
#[test]
fn lacp_bonds_parallel_links_and_a_direct_link_carries_lldp_and_jumbo_frames() {
    let lab = router_lab("lacp");
    lab.write(
        "topology.json",
        r#"{
  "name": "lacp",
  "devices": {
    "r1": { "interfaces": { "Ethernet0": { "link": "r2:Ethernet0" }, "Ethernet1": { "link": "r2:Ethernet1" }, "Ethernet2": { "link": "r2:Ethernet2" } } },
    "r2": { "interfaces": { "Ethernet0": { "link": "r1:Ethernet0" }, "Ethernet1": { "link": "r1:Ethernet1" }, "Ethernet2": { "link": "r1:Ethernet2" } } }
  },
  "links": [
    { "a": "r1:Ethernet0", "z": "r2:Ethernet0" },
    { "a": "r1:Ethernet1", "z": "r2:Ethernet1" },
    { "a": "r1:Ethernet2", "z": "r2:Ethernet2", "transport": "direct" }
  ],
  "vmlab": { "link_port_base": 24700, "console_port_base": 24800, "ssh_port_base": 24900 }
}
"#,
    );
    lab.write(
        "platforms.json",
        r#"{ "platforms": { "router": {
  "vm_image": "vmlab-router", "vm_memory": 512, "vm_cpus": 1,
  "vm_nic_driver": "virtio-net-pci", "vm_interface_map": "sequential",
  "vm_credentials": { "user": "admin", "pass": "YourPaSsWoRd" }, "vm_boot_timeout": 300
} } }
"#,
    );
    for (node, n) in [("r1", 1), ("r2", 2)] {
        lab.write(
            &format!("files/{node}-setup.sh"),
            &format!(
                "ip link add bond0 type bond mode 802.3ad lacp_rate fast miimon 100 ad_select count\n\
                 ip link set Ethernet0 down && ip link set Ethernet0 master bond0\n\
                 ip link set Ethernet1 down && ip link set Ethernet1 master bond0\n\
                 ip link set bond0 up\n\
                 ip addr add 10.9.0.{n}/30 dev bond0\n\
                 ip link set Ethernet2 mtu 9000\n\
                 ip addr add 10.9.1.{n}/30 dev Ethernet2\n"
            ),
        );
        lab.write(
            &format!("profiles/{node}.json"),
            &format!(
                r#"{{ "platform": "router", "vm_files": {{ "setup.sh": "files/{node}-setup.sh" }} }}"#
            ),
        );
    }
    lab.deploy();

    // LACP: both members of each end's bond in one aggregator with the partner's MAC.
    let partner_of = |node: &str| {
        let peer_nic0 = on(
            &lab,
            if node == "r1" { "r2" } else { "r1" },
            "cat /sys/class/net/bond0/address",
        );
        (peer_nic0.trim().to_string(), node.to_string())
    };
    for node in ["r1", "r2"] {
        let (peer_mac, _) = partner_of(node);
        wait_for(
            &format!("{node}'s bond negotiates with its partner"),
            60,
            || {
                let b = on(&lab, node, "cat /proc/net/bonding/bond0");
                // The aggregator's partner, and each member's partner PDU, are the other end.
                let members = b
                    .matches(&format!("system mac address: {peer_mac}"))
                    .count();
                (b.contains(&format!("Partner Mac Address: {peer_mac}"))
                    && members == 2
                    && b.contains("Number of ports: 2"))
                .then_some(())
            },
        );
    }
    for node in ["r1", "r2"] {
        let b = on(&lab, node, "cat /proc/net/bonding/bond0");
        for m in ["Ethernet0", "Ethernet1"] {
            assert!(distributing(&b, m), "{node}: {m} distributes:\n{b}");
        }
    }
    assert!(ping(&lab, "r1", "10.9.0.2"), "traffic over the bond");
    // One member down: the bond keeps carrying (LACP's fast rate drops it within 3 s).
    lab.ok(&["link", "down", "r1:Ethernet0"]);
    wait_for("the bond carries on one member", 20, || {
        let o = ssh(&lab, "r1", "ping -c 3 -i 0.3 -W 1 10.9.0.2");
        (o.status.success() && stdout(&o).contains(" 0% packet loss")).then_some(())
    });
    // The member whose partner went silent stops collecting and distributing (the port has
    // carrier still: a socket link has none to lose, so LACP's timeout is what notices).
    wait_for("r1 stops distributing on the silent member", 10, || {
        (!distributing(&on(&lab, "r1", "cat /proc/net/bonding/bond0"), "Ethernet0")).then_some(())
    });
    lab.ok(&["link", "up", "r1:Ethernet0"]);
    // A member whose partner timed out is "defaulted", and a defaulted port sends LACPDUs at
    // the slow rate (every 30 s) until it hears its partner again: rejoining can take 30 s.
    let mut last = String::new();
    let back = (0..60).any(|_| {
        last = on(&lab, "r1", "cat /proc/net/bonding/bond0");
        distributing(&last, "Ethernet0") || {
            std::thread::sleep(Duration::from_millis(500));
            false
        }
    });
    assert!(back, "the member rejoins within 60 looks:\n{last}");

    // LLDP across the direct link (and the relayed ones): each port lists its neighbour.
    for (node, peer) in [("r1", "r2"), ("r2", "r1")] {
        for port in ["Ethernet0", "Ethernet1", "Ethernet2"] {
            wait_for(&format!("{node} sees {peer} on {port}"), 30, || {
                let kv = on(&lab, node, &format!("lldpctl -f keyvalue {port}"));
                (kv.contains(&format!("lldp.{port}.chassis.name={peer}"))
                    && kv.contains(&format!("lldp.{port}.port.ifname={port}")))
                .then_some(())
            });
        }
    }
    // Jumbo frames: 9000 bytes unfragmented across the direct link; 9001 do not fit its MTU.
    let o = ssh(&lab, "r1", "ping -M do -s 8972 -c 2 -W 2 10.9.1.2");
    assert!(
        o.status.success(),
        "9000-byte frames, direct: {}",
        stdout(&o)
    );
    let o = ssh(&lab, "r1", "ping -M do -s 8973 -c 1 -W 2 10.9.1.2");
    assert!(!o.status.success(), "a 9001-byte packet passed a 9000 MTU");
    lab.ok(&["destroy", "lacp"]);
}
