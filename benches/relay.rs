//! The link relay against a direct link, in one run: a real relay process (the release vmlab
//! binary) serves a lab directory with one link, and this program plays both VMs with unix
//! datagram sockets bound where the QEMUs would bind theirs.
//!
//! - latency: 20 000 ping-pongs of 64-byte frames a → z → a, through the relay and directly;
//!   the median added one-way latency is half the difference of the median round trips;
//! - throughput: 200 000 frames of 1 500 bytes a → z as fast as the receiver takes them,
//!   through the relay and directly;
//! - relay CPU: the relay process's own CPU time (from /proc) per 100 000 frames forwarded,
//!   and over 10 s idle;
//! - between hosts: two more pairs of relays, as two hosts on one machine (127.0.0.2 and
//!   127.0.0.3) would run them, carry a link over UDP, keyed and not: the same latency and
//!   throughput, against the same-host relay of the same run.
//!
//!   cargo bench --bench relay
//!   RELAY_BENCH_VMLAB=path/to/an/older/vmlab cargo bench --bench relay   (the same program
//!   against another build's relay: the relays are driven only through their unix sockets)

// Tests and benchmarks drive the vmlab binary and look at what it left behind: the front
// ends' rules in clippy.toml (no processes, no files) are not theirs.
#![allow(clippy::disallowed_methods)]

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn cpu_ticks(pid: i32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("relay stat");
    let rest = stat.rsplit_once(')').expect("stat").1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

fn hz() -> f64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as f64
}

/// Median of round trips (µs) of `n` 64-byte ping-pongs: `a` sends to `a_to`, and an echo
/// thread on `z` — another "VM", as in real life — sends each frame back to `z_to`.
fn ping_pong(a: &UnixDatagram, a_to: &Path, z: &UnixDatagram, z_to: &Path, n: usize) -> f64 {
    let (z, z_to) = (z.try_clone().unwrap(), z_to.to_path_buf());
    let echo = std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        for _ in 0..n {
            let got = z.recv(&mut buf).unwrap();
            z.send_to(&buf[..got], &z_to).unwrap();
        }
    });
    let frame = [0x5au8; 64];
    let mut buf = [0u8; 2048];
    let mut rtts = Vec::with_capacity(n);
    for _ in 0..n {
        let t0 = Instant::now();
        a.send_to(&frame, a_to).unwrap();
        a.recv(&mut buf).unwrap();
        rtts.push(t0.elapsed().as_secs_f64() * 1e6);
    }
    echo.join().unwrap();
    rtts.sort_by(f64::total_cmp);
    rtts[n / 2]
}

/// Frames per second of `n` 1500-byte frames from `a` (sending to `a_to`) received by `z`,
/// and how many arrived.
fn blast_counted(a: &UnixDatagram, a_to: &Path, z: &UnixDatagram, n: usize) -> (f64, usize) {
    let z = z.try_clone().unwrap();
    let receiver = std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        let mut got = 0;
        z.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let t0 = Instant::now();
        let mut last = t0;
        while got < n {
            match z.recv(&mut buf) {
                Ok(_) => {
                    got += 1;
                    last = Instant::now();
                }
                Err(_) => break,
            }
        }
        (got, last.duration_since(t0))
    });
    let frame = [0xa5u8; 1500];
    for _ in 0..n {
        // A full relay queue makes send block: the sender waits, as a QEMU would.
        a.send_to(&frame, a_to).unwrap();
    }
    let (got, took) = receiver.join().unwrap();
    (got as f64 / took.as_secs_f64(), got)
}

/// As [`blast_counted`], on a path that must not lose a frame (unix sockets push back).
fn blast(a: &UnixDatagram, a_to: &Path, z: &UnixDatagram, n: usize) -> f64 {
    let (fps, got) = blast_counted(a, a_to, z, n);
    assert_eq!(got, n, "frames lost on an unimpaired link");
    fps
}

/// A lab directory for a relay: its marker, and `links.json` with `links`.
fn lab_dir(root: &Path, name: &str, links: serde_json::Value) -> std::path::PathBuf {
    let lab = root.join(name);
    std::fs::create_dir_all(lab.join("links")).unwrap();
    std::fs::create_dir_all(lab.join("logs")).unwrap();
    std::fs::write(lab.join(".vmlab-lab"), "bench\n").unwrap();
    std::fs::write(lab.join("links.json"), links.to_string()).unwrap();
    lab
}

/// Starts a relay for `lab`; its pid.
fn start_relay(vmlab: &Path, lab: &Path) -> i32 {
    let status = Command::new(vmlab)
        .args(["relay", "--lab-dir"])
        .arg(lab)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::read_to_string(lab.join("relay.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// One end of a link between two hosts, as that host's links.json says it.
fn cross_end(lab: &Path, end: &str, port: u16, key: Option<&str>) -> serde_json::Value {
    let (me, peer) = if end == "a" {
        ("127.0.0.2", "127.0.0.3")
    } else {
        ("127.0.0.3", "127.0.0.2")
    };
    let sock = |n: &str| lab.join("links").join(n);
    let mut v = serde_json::json!({
        "links": [{ "index": 0, "a": "a:Ethernet0", "z": "z:Ethernet0", "up": true,
                    "transport": "cross-host",
                    "sockets": { "a_vm": sock("0a.vm"), "a_relay": sock("0a.rl"),
                                 "z_vm": sock("0z.vm"), "z_relay": sock("0z.rl") },
                    "cross": { "local_end": end, "local": format!("{me}:{port}"),
                               "peer_host": "other", "peer": format!("{peer}:{port}") } }]
    });
    if let Some(k) = key {
        v["key"] = serde_json::Value::from(k);
    }
    v
}

/// Round trip and throughput over a link between two relays (two "hosts"): the a end's VM
/// socket in `h1`, the z end's in `h2`.
fn between_hosts(
    vmlab: &Path,
    root: &Path,
    port: u16,
    key: Option<&str>,
    n: usize,
) -> (f64, f64, f64, Vec<i32>) {
    let tag = if key.is_some() { "keyed" } else { "plain" };
    // Each host's lab directory has the lab's name (the link key binds it), as on real hosts.
    let (h1, h2) = (format!("h1-{tag}/bench"), format!("h2-{tag}/bench"));
    let h1 = lab_dir(root, &h1, cross_end(&root.join(&h1), "a", port, key));
    let h2 = lab_dir(root, &h2, cross_end(&root.join(&h2), "z", port, key));
    let a = UnixDatagram::bind(h1.join("links/0a.vm")).unwrap();
    let z = UnixDatagram::bind(h2.join("links/0z.vm")).unwrap();
    let pids = vec![start_relay(vmlab, &h1), start_relay(vmlab, &h2)];
    // The relays hear each other's heartbeat (once a second) before frames go.
    std::thread::sleep(Duration::from_millis(2500));
    let (a_rl, z_rl) = (h1.join("links/0a.rl"), h2.join("links/0z.rl"));
    ping_pong(&a, &a_rl, &z, &z_rl, 2_000);
    let rtt = ping_pong(&a, &a_rl, &z, &z_rl, 20_000);
    // UDP does not push back: what the other relay cannot take in time is lost, as on a
    // network; the rate counts what arrived.
    let (fps, got) = blast_counted(&a, &a_rl, &z, n);
    (rtt, fps, 1.0 - got as f64 / n as f64, pids)
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert!(
        Command::new("cargo")
            .args(["build", "--release", "-q"])
            .current_dir(root)
            .status()
            .unwrap()
            .success()
    );
    let vmlab = std::env::var_os("RELAY_BENCH_VMLAB")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join("target/release/vmlab"));
    let work = tempfile::Builder::new()
        .prefix("vrel")
        .tempdir_in("/tmp")
        .unwrap();
    let lab = work.path().join("lab");
    std::fs::create_dir_all(lab.join("links")).unwrap();
    std::fs::create_dir_all(lab.join("logs")).unwrap();
    std::fs::write(lab.join(".vmlab-lab"), "bench\n").unwrap();
    let sock = |n: &str| lab.join("links").join(n);
    let links = serde_json::json!({
        "links": [{ "index": 0, "a": "a:Ethernet0", "z": "z:Ethernet0", "up": true,
                    "sockets": { "a_vm": sock("0a.vm"), "a_relay": sock("0a.rl"),
                                 "z_vm": sock("0z.vm"), "z_relay": sock("0z.rl") } }]
    });
    std::fs::write(lab.join("links.json"), links.to_string()).unwrap();
    // The two "VMs".
    let a = UnixDatagram::bind(sock("0a.vm")).unwrap();
    let z = UnixDatagram::bind(sock("0z.vm")).unwrap();
    let status = Command::new(&vmlab)
        .args(["relay", "--lab-dir"])
        .arg(&lab)
        .status()
        .unwrap();
    assert!(status.success());
    let pid: i32 = std::fs::read_to_string(lab.join("relay.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let (a_rl, z_rl) = (sock("0a.rl"), sock("0z.rl"));
    let (a_vm, z_vm) = (sock("0a.vm"), sock("0z.vm"));

    // Warm up both paths.
    ping_pong(&a, &a_rl, &z, &z_rl, 2_000);
    ping_pong(&a, &z_vm, &z, &a_vm, 2_000);

    let relay_rtt = ping_pong(&a, &a_rl, &z, &z_rl, 20_000);
    let direct_rtt = ping_pong(&a, &z_vm, &z, &a_vm, 20_000);

    let n: usize = std::env::var("RELAY_BENCH_FRAMES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let c0 = cpu_ticks(pid);
    let relay_fps = blast(&a, &a_rl, &z, n);
    let c1 = cpu_ticks(pid);
    let direct_fps = blast(&a, &z_vm, &z, n);

    let idle0 = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(10));
    let idle1 = cpu_ticks(pid);

    let key = "07".repeat(32);
    let (keyed_rtt, keyed_fps, keyed_loss, p1) =
        between_hosts(&vmlab, work.path(), 24790, Some(&key), n);
    let (plain_rtt, plain_fps, plain_loss, p2) = between_hosts(&vmlab, work.path(), 24791, None, n);

    for p in std::iter::once(pid).chain(p1).chain(p2) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(p),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
    let cpu_per_100k = (c1 - c0) as f64 / hz() / (n as f64 / 100_000.0);
    println!(
        "relay vs direct, one run (unix datagram sockets, {} frames)",
        n
    );
    println!(
        "  round trip, median of 20000 (64 B): relay {relay_rtt:.1} us, direct {direct_rtt:.1} us; \
         added one-way: {:.1} us",
        (relay_rtt - direct_rtt) / 2.0
    );
    println!(
        "  throughput (1500 B): relay {:.0} frames/s ({:.2} Gbit/s), direct {:.0} frames/s \
         ({:.2} Gbit/s); relay/direct {:.2}",
        relay_fps,
        relay_fps * 1500.0 * 8.0 / 1e9,
        direct_fps,
        direct_fps * 1500.0 * 8.0 / 1e9,
        relay_fps / direct_fps
    );
    println!(
        "  relay CPU: {cpu_per_100k:.3} s per 100k frames; idle {:.2}% of a core over 10 s \
         ({} ticks)",
        (idle1 - idle0) as f64 / hz() / 10.0 * 100.0,
        idle1 - idle0
    );
    println!("between hosts (two relays, UDP over loopback), same run:");
    for (label, rtt, fps, loss) in [
        ("keyed", keyed_rtt, keyed_fps, keyed_loss),
        ("unkeyed", plain_rtt, plain_fps, plain_loss),
    ] {
        println!(
            "  {label}: round trip {rtt:.1} us (added one-way vs same-host relay {:.1} us); \
             throughput {fps:.0} frames/s delivered ({:.2} Gbit/s, {:.1}% of a flood lost), \
             vs same-host relay {:.2}",
            (rtt - relay_rtt) / 2.0,
            fps * 1500.0 * 8.0 / 1e9,
            loss * 100.0,
            fps / relay_fps
        );
    }
}
