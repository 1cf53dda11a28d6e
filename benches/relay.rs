//! The link relay against a direct link, in one run: a real relay process (the release vmlab
//! binary) serves a lab directory with one link, and this program plays both VMs with unix
//! datagram sockets bound where the QEMUs would bind theirs.
//!
//! - latency: 20 000 ping-pongs of 64-byte frames a → z → a, through the relay and directly;
//!   the median added one-way latency is half the difference of the median round trips;
//! - throughput: 200 000 frames of 1 500 bytes a → z as fast as the receiver takes them,
//!   through the relay and directly;
//! - relay CPU: the relay process's own CPU time (from /proc) per 100 000 frames forwarded,
//!   and over 10 s idle.
//!
//!   cargo bench --bench relay

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

/// Frames per second of `n` 1500-byte frames from `a` (sending to `a_to`) received by `z`.
fn blast(a: &UnixDatagram, a_to: &Path, z: &UnixDatagram, n: usize) -> f64 {
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
    assert_eq!(got, n, "frames lost on an unimpaired link");
    got as f64 / took.as_secs_f64()
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
    let vmlab = root.join("target/release/vmlab");
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

    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGTERM,
    );
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
}
