//! The link layer on real VMs, in one deployed 2-node lab whose cases follow each other: links
//! survive either end starting first, restarts, a killed QEMU and a killed relay (`vmlab
//! repair`); counters count a known transfer; down stops traffic and up restores it; delay and
//! loss show in ping; a capture is a pcap a real reader opens; bad input changes nothing.

// Tests and benchmarks drive the vmlab binary and look at what it left behind: the front
// ends' rules in clippy.toml (no processes, no files) are not theirs.
#![allow(clippy::disallowed_methods)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

/// `vmlab links --json`.
fn links(lab: &TestLab) -> Value {
    lab.json(&["links", "--json"])
}

/// Both guests' link addresses (guest config lives in RAM: a restarted node needs it again).
fn address(lab: &TestLab, node: &str) {
    let ip = if node == "a" {
        "10.60.0.1"
    } else {
        "10.60.0.2"
    };
    on(
        lab,
        node,
        &format!("ip addr flush dev eth1; ip addr add {ip}/24 dev eth1 && ip link set eth1 up"),
    );
}

/// Pings a → b; (sent, received, avg ms).
fn ping_ab(lab: &TestLab, args: &str) -> (u32, u32, Option<f64>) {
    let o = lab.vmlab(&[
        "ssh",
        "--lab",
        &lab.name,
        "a",
        "--",
        &format!("ping {args} 10.60.0.2"),
    ]);
    ping_stats(&stdout(&o))
}

fn passes(lab: &TestLab) -> bool {
    // A first lost reply on a busy TCG host is not a broken link.
    let (_, rx, _) = ping_ab(lab, "-c 3 -i 0.2 -W 2");
    rx > 0
}

fn pid_of(lab: &TestLab, node: &str) -> i32 {
    lab.status()["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == node)
        .and_then(|n| n["pid"].as_i64())
        .expect("a running node") as i32
}

#[test]
fn links_survive_anything_and_carry_counters_settings_and_captures() {
    let lab = two_node_lab("wires", 22900, 25900, 27900);
    lab.deploy();
    address(&lab, "a");
    address(&lab, "b");
    assert!(passes(&lab), "no traffic after deploy");
    let l = &links(&lab)["links"][0];
    assert_eq!(l["state"], "up", "{l}");
    assert_eq!(
        (l["a_guest"].as_str(), l["z_guest"].as_str()),
        (Some("eth1"), Some("eth1"))
    );
    assert_eq!(l["transport"], "relay");

    // Counters rise by at least a known transfer: 50 pings of 1400 bytes are 50 frames of
    // 1442 bytes (payload, ICMP, IP and Ethernet headers) each way.
    let before = links(&lab)["links"][0]["counters"].clone();
    let (_, rx, _) = ping_ab(&lab, "-c 50 -i 0.05 -s 1400 -W 2");
    assert!(rx >= 45, "{rx} of 50 replies");
    let after = links(&lab)["links"][0]["counters"].clone();
    let delta = |dir: &str, what: &str| {
        after[dir][what].as_u64().unwrap() - before[dir][what].as_u64().unwrap()
    };
    assert!(delta("a_to_z", "frames") >= 50, "{after}");
    assert!(delta("a_to_z", "bytes") >= 50 * 1442, "{after}");
    assert!(delta("z_to_a", "bytes") >= u64::from(rx) * 1442, "{after}");
    assert!(after["a_to_z"]["last_frame"].is_string(), "{after}");

    // Down stops traffic (and counts it), up restores it.
    lab.ok(&["link", "down", "b:Ethernet0"]);
    assert_eq!(links(&lab)["links"][0]["state"], "down");
    let (_, rx, _) = ping_ab(&lab, "-c 3 -i 0.2 -W 1");
    assert_eq!(rx, 0, "ping passed a link set down");
    let c = &links(&lab)["links"][0]["counters"];
    assert!(c["a_to_z"]["dropped"]["down"].as_u64().unwrap() >= 3, "{c}");
    lab.ok(&["link", "up", "a:Ethernet0"]);
    assert!(passes(&lab), "no traffic after up");

    // Either end first: the a end stopped, the z end alone, then a starts again.
    lab.ok(&["stop", "a"]);
    let l = &links(&lab)["links"][0];
    assert_eq!(l["state"], "waiting");
    assert_eq!(l["waiting_for"], serde_json::json!(["a"]));
    lab.ok(&["start", "a"]);
    address(&lab, "a");
    assert!(passes(&lab), "no traffic after the a end started last");

    // Restart each end in turn.
    for node in ["a", "b"] {
        lab.ok(&["restart", node]);
        address(&lab, node);
        assert!(passes(&lab), "no traffic after restarting {node}");
    }

    // A QEMU killed outright: status says to repair; repair starts it; traffic passes.
    let a_pid = pid_of(&lab, "a");
    kill(Pid::from_raw(a_pid), Signal::SIGKILL).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let st = lab.status();
    assert_eq!(st["nodes"][0]["status"], "dead");
    assert!(st["repair"][0].as_str().unwrap().contains("a died"), "{st}");
    let out = stdout(&lab.vmlab(&["status"]));
    assert!(
        out.contains("vmlab repair"),
        "status says what to do: {out}"
    );
    lab.ok(&["repair"]);
    address(&lab, "a");
    assert!(passes(&lab), "no traffic after a killed QEMU was repaired");

    // The relay killed with the link set down: repair brings it back without touching a VM,
    // and the link is still down until set up.
    lab.ok(&["link", "down", "a:Ethernet0"]);
    let pids = (pid_of(&lab, "a"), pid_of(&lab, "b"));
    let relay = lab.status()["relay"]["pid"].as_i64().unwrap() as i32;
    kill(Pid::from_raw(relay), Signal::SIGKILL).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let st = lab.status();
    assert_eq!(st["relay"]["status"], "dead", "{st}");
    assert_eq!(
        st["links"][0]["state"], "down",
        "admin state is not the relay's"
    );
    // A capture with the relay down fails before it touches the file it was to write.
    let kept = lab.root.path().join("kept.pcap");
    std::fs::write(&kept, "not a capture\n").unwrap();
    let o = lab.vmlab(&["capture", "a:Ethernet0", "-w", kept.to_str().unwrap()]);
    assert!(!o.status.success(), "a capture without a relay");
    assert!(
        stderr(&o).contains("relay is not running"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read_to_string(&kept).unwrap(), "not a capture\n");
    let out = stdout(&lab.vmlab(&["repair"]));
    assert!(out.contains("link relay started"), "{out}");
    assert_eq!(
        (pid_of(&lab, "a"), pid_of(&lab, "b")),
        pids,
        "a VM was restarted"
    );
    assert_eq!(links(&lab)["links"][0]["state"], "down");
    let (_, rx, _) = ping_ab(&lab, "-c 2 -i 0.2 -W 1");
    assert_eq!(rx, 0, "a link set down came back up with the relay");
    lab.ok(&["link", "up", "a:Ethernet0"]);
    assert!(passes(&lab), "no traffic after the relay came back");

    // Delay: 100 ms each way adds 200 ms to the round trip (±30%).
    let (_, _, base) = ping_ab(&lab, "-c 5 -i 0.2 -W 2");
    let base = base.expect("baseline round trip");
    lab.ok(&["link", "set", "a:Ethernet0", "--delay", "100ms"]);
    let l = &links(&lab)["links"][0]["impair"];
    assert_eq!(l["a_to_z"]["delay_us"], 100_000, "{l}");
    let (_, rx, avg) = ping_ab(&lab, "-c 5 -i 0.2 -W 3");
    assert!(rx >= 4, "{rx} replies through the delay");
    let added = avg.expect("round trip") - base;
    assert!(
        (140.0..=260.0).contains(&added),
        "added {added:.1} ms (base {base:.1})"
    );

    // Loss: 30% each way loses about half the pings (1 - 0.7²); 200 pings land in 40-60%.
    lab.ok(&["link", "reset", "a:Ethernet0"]);
    lab.ok(&["link", "set", "b:Ethernet0", "--loss", "30%"]);
    let (tx, rx, _) = ping_ab(&lab, "-c 200 -i 0.05 -W 1");
    assert_eq!(tx, 200);
    let lost = f64::from(tx - rx) / f64::from(tx) * 100.0;
    assert!((40.0..=60.0).contains(&lost), "{lost:.1}% lost");
    let c = &links(&lab)["links"][0]["counters"];
    assert!(c["a_to_z"]["dropped"]["loss"].as_u64().unwrap() > 20, "{c}");
    lab.ok(&["link", "reset", "b:Ethernet0"]);
    assert!(links(&lab)["links"][0]["impair"]["a_to_z"].is_null());

    // Capture: 5 pings are 10 ICMP packets in a pcap that tcpdump reads.
    let pcap = lab.root.path().join("five.pcap");
    let cap = lab
        .command(&["capture", "a:Ethernet0", "-w", pcap.to_str().unwrap()])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while !pcap.exists() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "capture never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    let (_, rx, _) = ping_ab(&lab, "-c 5 -i 0.2 -W 2");
    assert_eq!(rx, 5);
    std::thread::sleep(Duration::from_millis(300));
    kill(Pid::from_raw(cap.id() as i32), Signal::SIGINT).unwrap();
    let out = cap.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read = std::process::Command::new("tcpdump")
        .args(["-nr"])
        .arg(&pcap)
        .arg("icmp")
        .output()
        .expect("tcpdump is installed (scripts/setup)");
    assert!(read.status.success(), "{}", stderr(&read));
    // The lab's traffic is private to its user.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&pcap).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "capture file mode {mode:o}");
    let icmp = stdout(&read);
    assert_eq!(icmp.lines().count(), 10, "{icmp}");
    assert_eq!(icmp.matches("echo request").count(), 5);
    assert_eq!(icmp.matches("echo reply").count(), 5);

    // A link named as `vmlab links` shows it: its number, or an end's guest interface.
    lab.ok(&["link", "down", "0"]);
    assert_eq!(links(&lab)["links"][0]["state"], "down");
    let guest_b = links(&lab)["links"][0]["z_guest"]
        .as_str()
        .expect("z_guest")
        .to_string();
    lab.ok(&["link", "up", &format!("b:{guest_b}")]);
    assert_eq!(links(&lab)["links"][0]["state"], "up");

    // --direction named by the end typed: from b, leaving b is the spec's z-to-a way.
    lab.ok(&[
        "link",
        "set",
        "b:Ethernet0",
        "--delay",
        "7ms",
        "--direction",
        "from-here",
    ]);
    let l = &links(&lab)["links"][0];
    assert_eq!(l["impair"]["z_to_a"]["delay_us"], 7000, "{l}");
    assert!(l["impair"]["a_to_z"]["delay_us"].is_null(), "{l}");
    lab.ok(&[
        "link",
        "set",
        &format!("b:{guest_b}"),
        "--delay",
        "3ms",
        "--direction",
        "to-here",
    ]);
    let l = &links(&lab)["links"][0];
    assert_eq!(l["impair"]["a_to_z"]["delay_us"], 3000, "{l}");
    lab.ok(&["link", "reset", "0"]);

    // Bad input: a clear error naming it, exit 2, nothing changed.
    let settings = std::fs::read_to_string(lab.lab_dir().join("links.json")).unwrap();
    for (args, says) in [
        (vec!["link", "down", "ghost:Ethernet0"], "no node \"ghost\""),
        (
            vec!["link", "down", "a:Ethernet9"],
            "a has no link on \"Ethernet9\"",
        ),
        (vec!["link", "down", "a"], "is not node:interface"),
        (vec!["link", "down", "a:eth9"], "links of a: Ethernet0 (eth"),
        (vec!["link", "down", "7"], "has no link 7"),
        (
            vec!["link", "set", "a:Ethernet0", "--delay", "-5ms"],
            "negative",
        ),
        (
            vec!["link", "set", "a:Ethernet0", "--loss", "101%"],
            "0% to 100%",
        ),
        (
            vec!["link", "set", "a:Ethernet0", "--rate", "fast"],
            "not a rate",
        ),
        (vec!["link", "set", "a:Ethernet0"], "nothing to set"),
        (
            vec![
                "link",
                "set",
                "0",
                "--loss",
                "1%",
                "--direction",
                "from-here",
            ],
            "need the link named by an end",
        ),
        (
            vec!["link", "set", "0", "--loss", "1%", "--direction", "up"],
            "not from-here, to-here, both",
        ),
        (
            vec!["capture", "a:Ethernet7"],
            "a has no link on \"Ethernet7\"",
        ),
    ] {
        let o = lab.vmlab(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains(says),
            "{args:?} does not say {says:?}: {}",
            stderr(&o)
        );
    }
    assert_eq!(
        settings,
        std::fs::read_to_string(lab.lab_dir().join("links.json")).unwrap(),
        "bad input changed the link settings"
    );

    let o = lab.vmlab(&["destroy"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(lab.qemus().is_empty() && lab.relays().is_empty());
}
