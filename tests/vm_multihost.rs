//! Multi-host labs on real VMs, with two hosts on one machine: two loopback addresses
//! (127.0.0.2 and 127.0.0.3) and two state homes. One lab runs through the cases that do not
//! disturb each other: either host first, a ping over the cross-host link, each host's status
//! with only its own pids, datagrams from a stranger, with a wrong key or replayed that never
//! reach the guest (and a rightly keyed one that does, so the check can fail), restarts on
//! either host, and destroy per host. A second lab is deployed, checked and destroyed with
//! `--all-hosts` through a real sshd the test starts on loopback with a throwaway key. A third,
//! on three hosts (127.0.0.4 too), checks what `--all-hosts` may touch: the key made although
//! the first host has no link between hosts, re-deploys that start nothing and roll back
//! nothing that ran already, a host whose part differs refusing, a stopped node's relay ports
//! known as the lab's own, and destroy leaving a one-host lab of the same name alone.

// Tests and benchmarks drive the vmlab binary and look at what it left behind: the front
// ends' rules in clippy.toml (no processes, no files) are not theirs.
#![allow(clippy::disallowed_methods)]

mod common;

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;
use vmlab::engine::api::wire;

const H1: &str = "127.0.0.2";
const H2: &str = "127.0.0.3";
const H3: &str = "127.0.0.4";

/// The second host's home beside the lab's; destroyed (and its processes killed) on drop.
struct Host2 {
    home: PathBuf,
    lab: String,
}

impl Host2 {
    fn new(lab: &TestLab) -> Self {
        Host2::at(lab, "second")
    }

    /// Another host whose home is `dir` in the test's directory.
    fn at(lab: &TestLab, dir: &str) -> Self {
        // Not "home2": a path that starts with the first home's would look like one of its own.
        let home = lab.root.path().join(dir);
        std::fs::create_dir_all(&home).expect("mkdir");
        Host2 {
            home,
            lab: lab.name.clone(),
        }
    }

    fn vmlab(&self, args: &[&str]) -> Output {
        Command::new(vmlab_bin())
            .args(args)
            .env("VMLAB_HOME", &self.home)
            .env("VMLAB_ACCEL", "tcg")
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run vmlab")
    }
}

impl Drop for Host2 {
    fn drop(&mut self) {
        let _ = self.vmlab(&["destroy", "--force", "--lab", &self.lab]);
        kill_named(&self.home);
    }
}

/// A two-node lab: `a` on h1, `b` on h2, one link a:Ethernet0 -- b:Ethernet0.
fn multihost_lab(name: &str, base: u16) -> VmLab {
    let lab = vm_lab(name, 120);
    lab.write(
        "topology.json",
        &two_node_topology(
            name,
            [base, base + 3000, base + 5000],
            &format!(r#""hosts": {{ "h1": "{H1}", "h2": "{H2}" }}"#),
        ),
    );
    lab.write(
        "profiles/a.json",
        "{\"platform\": \"tiny-seq\", \"vm_host\": \"h1\"}",
    );
    lab.write(
        "profiles/b.json",
        "{\"platform\": \"tiny-seq\", \"vm_host\": \"h2\"}",
    );
    lab
}

/// `run` with `--lab <lab>` after the command's first word (`["ssh", "a"]` runs
/// `ssh --lab <lab> a`).
fn in_lab<'a>(
    lab: &'a str,
    run: impl Fn(&[&str]) -> Output + 'a,
) -> impl Fn(&[&str]) -> Output + 'a {
    move |args| {
        let mut v = args.to_vec();
        v.splice(1..1, ["--lab", lab]);
        run(&v)
    }
}

fn node<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["nodes"]
        .as_array()
        .and_then(|n| n.iter().find(|n| n["name"] == name))
        .unwrap_or_else(|| panic!("no node {name} in {status}"))
}

fn address(run: &dyn Fn(&[&str]) -> Output, node: &str, ip: &str) {
    let o = run(&[
        "ssh",
        node,
        "--",
        &format!("ip addr flush dev eth1; ip addr add {ip}/24 dev eth1 && ip link set eth1 up"),
    ]);
    ok(&o, &format!("addressing {node}"));
}

fn ping_passes(run: &dyn Fn(&[&str]) -> Output, from: &str, to: &str) -> bool {
    // A first lost reply on a busy TCG host is not a broken link.
    let o = run(&["ssh", from, "--", &format!("ping -c 3 -i 0.2 -W 2 {to}")]);
    ping_stats(&stdout(&o)).1 > 0
}

fn rx_packets(run: &dyn Fn(&[&str]) -> Output, node: &str) -> u64 {
    let o = run(&[
        "ssh",
        node,
        "--",
        "cat /sys/class/net/eth1/statistics/rx_packets",
    ]);
    ok(&o, "rx_packets").trim().parse().expect("a count")
}

/// A broadcast frame of a local experimental EtherType: any NIC takes it, no stack answers.
fn test_frame() -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&[0x02, 0, 0, 0, 0xee, 0x01]);
    f.extend_from_slice(&[0x88, 0xb5]);
    f.extend_from_slice(&[0x5a; 60]);
    f
}

fn dropped(links: &Value, what: &str) -> u64 {
    // b is the z end: datagrams to h2 arrive in the a-to-z direction.
    links["links"][0]["counters"]["a_to_z"]["dropped"][what]
        .as_u64()
        .unwrap_or_else(|| panic!("no {what} counter in {links}"))
}

fn wait_until(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < limit, "{what} within {limit:?}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn two_hosts_on_one_machine_share_a_lab() {
    let lab = multihost_lab("twohost", 23300);
    let h2 = Host2::new(&lab);
    let specs = lab.specs();
    let specs = specs.to_str().expect("utf-8");
    let on1 = in_lab("twohost", |a| lab.vmlab(a));
    let on2 = in_lab("twohost", |a| h2.vmlab(a));

    // Host h2 deploys first; h1 some seconds later.
    ok(
        &h2.vmlab(&["deploy", "-S", specs, "--host", "h2"]),
        "deploy h2",
    );
    let st2 = json(
        &h2.vmlab(&["status", "--json", "--host", "h2"]),
        "status h2",
    );
    assert_eq!(node(&st2, "a")["status"], "remote", "{st2}");
    assert!(node(&st2, "a")["pid"].is_null(), "{st2}");
    assert_eq!(
        st2["links"][0]["waiting_for"],
        serde_json::json!(["host h1"]),
        "{st2}"
    );
    std::thread::sleep(Duration::from_secs(3));
    ok(
        &lab.vmlab(&["deploy", "-S", specs, "--host", "h1"]),
        "deploy h1",
    );

    // Each host's status: its own node live with its pid, the other remote without one.
    let st1 = json(&on1(&["status", "--json"]), "status h1");
    let st2 = json(&on2(&["status", "--json"]), "status h2");
    let pid_a = node(&st1, "a")["pid"].as_i64().expect("a's pid on h1");
    let pid_b = node(&st2, "b")["pid"].as_i64().expect("b's pid on h2");
    assert_ne!(pid_a, pid_b);
    assert_eq!(node(&st1, "b")["status"], "remote", "{st1}");
    assert!(node(&st1, "b")["pid"].is_null());
    assert_eq!(node(&st2, "a")["status"], "remote", "{st2}");
    // SSH forwards bind each host's address; the profiles say so.
    assert_eq!(node(&st1, "a")["host"], "h1");
    let profile: Value = serde_json::from_str(&lab.read("profiles/a.json")).unwrap();
    assert_eq!(profile["mgmt_ip"], H1, "{profile}");
    let key = wire::key_from_hex(&lab.read("vmlab.key")).expect("the lab key beside the spec");

    // The cross-host link passes ping, and both hosts call it up.
    address(&on1, "a", "10.80.0.1");
    address(&on2, "b", "10.80.0.2");
    assert!(ping_passes(&on1, "a", "10.80.0.2"), "no ping across hosts");
    // Jumbo frames cross hosts: with a 9000-byte MTU at both ends, a 9000-byte packet (a
    // 9014-byte frame, one UDP datagram between the hosts) gets through whole; the guests
    // fragment nothing at that size, so a link that could not carry it would lose it.
    for (run, n) in [(&on1 as &dyn Fn(&[&str]) -> Output, "a"), (&on2, "b")] {
        let o = run(&["ssh", n, "--", "ip link set eth1 mtu 9000"]);
        ok(&o, &format!("a 9000-byte MTU on {n}"));
    }
    let o = on1(&["ssh", "a", "--", "ping -c 3 -i 0.2 -W 2 -s 8972 10.80.0.2"]);
    let (_, rx, _) = ping_stats(&stdout(&o));
    assert!(rx > 0, "9000-byte packets across hosts: {}", stdout(&o));
    assert!(
        stdout(&o).contains("8980 bytes from"),
        "whole 9000-byte packets came back: {}",
        stdout(&o)
    );
    for (h, run) in [("h1", &on1 as &dyn Fn(&[&str]) -> Output), ("h2", &on2)] {
        let l = json(&run(&["links", "--json"]), "links");
        let link = &l["links"][0];
        assert_eq!(link["state"], "up", "{h}: {link}");
        assert_eq!(link["transport"], "cross-host", "{h}: {link}");
        assert_eq!(link["peer"]["keyed"], true, "{h}: {link}");
        assert_eq!(link["peer"]["alive"], true, "{h}: {link}");
    }

    // Strangers: with h1's relay stopped, the test holds h1's link address and port.
    let link_port = 23300;
    let relay1 = st1["relay"]["pid"].as_i64().expect("h1's relay") as i32;
    let cmdline = std::fs::read(format!("/proc/{relay1}/cmdline")).unwrap_or_default();
    assert!(
        String::from_utf8_lossy(&cmdline).contains(&lab.home().to_string_lossy().into_owned()),
        "pid {relay1} is this test's relay"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(relay1),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let mut sock = None;
    wait_until(Duration::from_secs(5), "h1's link port free", || {
        sock = UdpSocket::bind((H1, link_port)).ok();
        sock.is_some()
    });
    let sock = sock.unwrap();
    let to_h2 = (H2, link_port);
    // Holding h1's port, the test hears h2's heartbeats: they carry h2's relay nonce, which a
    // frame must be made for. The link key binds the lab, the link and both addresses.
    let (a_addr, z_addr) = (
        format!("{H1}:{link_port}").parse().unwrap(),
        format!("{H2}:{link_port}").parse().unwrap(),
    );
    let link_key = wire::link_key(&key, "twohost", 0, a_addr, z_addr);
    // The nonce of h2's heartbeats, skipping any of an earlier run (`not`) still queued.
    let h2_nonce = |sock: &UdpSocket, not: Option<wire::Nonce>| -> wire::Nonce {
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 2048];
        let t0 = Instant::now();
        loop {
            assert!(t0.elapsed() < Duration::from_secs(15), "no new heartbeat");
            let (n, _) = sock
                .recv_from(&mut buf)
                .expect("a heartbeat from h2 within 5 s");
            let any_run = wire::RunKeys::new(&link_key, &[0; wire::NONCE_LEN]);
            if let Ok((h, payload)) = wire::decode(
                &buf[..n],
                0,
                vmlab::plan::End::A,
                wire::Tagging::Keyed(&any_run),
            ) && h.kind == wire::Kind::Heartbeat
                && Some(payload) != not.as_ref().map(|n| &n[..])
            {
                return payload.try_into().unwrap();
            }
        }
    };
    let nonce = h2_nonce(&sock, None);
    let epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let made = |k: &[u8; wire::KEY_LEN], epoch: u64, seq: u64, to: &wire::Nonce| {
        let mut out = Vec::new();
        wire::encode(
            &wire::Header {
                kind: wire::Kind::Frame,
                from: vmlab::plan::End::A,
                attached: true,
                link: 0,
                epoch,
                seq,
            },
            &test_frame(),
            wire::Tagging::Keyed(&wire::RunKeys::new(k, to)),
            &mut out,
        );
        out
    };
    let datagram = |k: &[u8; wire::KEY_LEN], seq: u64, to: &wire::Nonce| made(k, epoch, seq, to);
    let before = rx_packets(&on2, "b");
    let l0 = json(&on2(&["links", "--json"]), "links");
    // From another address, rightly keyed: dropped as foreign.
    let stranger = UdpSocket::bind(("127.0.0.1", 0)).unwrap();
    stranger
        .send_to(&datagram(&link_key, 1, &nonce), to_h2)
        .unwrap();
    // From the peer's address with the key of another lab sharing the key file: forged.
    let other_lab = wire::link_key(&key, "twohost2", 0, a_addr, z_addr);
    sock.send_to(&datagram(&other_lab, 2, &nonce), to_h2)
        .unwrap();
    // Rightly keyed from the peer's address: delivered (the check can let a frame in) ...
    let good = datagram(&link_key, 3, &nonce);
    sock.send_to(&good, to_h2).unwrap();
    // ... once: the same datagram again is a replay.
    std::thread::sleep(Duration::from_millis(200));
    sock.send_to(&good, to_h2).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let l1 = json(&on2(&["links", "--json"]), "links");
    assert_eq!(dropped(&l1, "foreign") - dropped(&l0, "foreign"), 1, "{l1}");
    assert_eq!(dropped(&l1, "forged") - dropped(&l0, "forged"), 1, "{l1}");
    assert_eq!(
        dropped(&l1, "replayed") - dropped(&l0, "replayed"),
        1,
        "{l1}"
    );
    let after = rx_packets(&on2, "b");
    assert_eq!(
        after - before,
        1,
        "exactly the rightly keyed frame reached b's eth1"
    );
    // h2's relay restarts: what was good before is stale now (its window starts empty, but
    // the frame was made for the old relay run), and a made-up far-future epoch is refused.
    let relay2 = json(&on2(&["status", "--json"]), "status h2")["relay"]["pid"]
        .as_i64()
        .expect("h2's relay") as i32;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(relay2),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    ok(&on2(&["repair"]), "repair h2's relay");
    let new_nonce = h2_nonce(&sock, Some(nonce));
    sock.send_to(&good, to_h2).unwrap();
    let future = made(&link_key, u64::MAX, 4, &new_nonce);
    sock.send_to(&future, to_h2).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let l2 = json(&on2(&["links", "--json"]), "links");
    assert_eq!(
        dropped(&l2, "replayed"),
        1,
        "the old frame after the restart: {l2}"
    );
    assert_eq!(dropped(&l2, "forged"), 1, "the made-up epoch: {l2}");
    assert_eq!(rx_packets(&on2, "b"), after, "neither reached b");
    drop(sock);

    // h1 repairs its relay; the link carries traffic again.
    ok(&on1(&["repair"]), "repair h1");
    wait_until(Duration::from_secs(20), "ping after repair", || {
        ping_passes(&on1, "a", "10.80.0.2")
    });

    // Restarting a node on either host keeps the link.
    ok(&on2(&["restart", "b"]), "restart b");
    address(&on2, "b", "10.80.0.2");
    assert!(ping_passes(&on1, "a", "10.80.0.2"), "after restarting b");
    ok(&on1(&["restart", "a"]), "restart a");
    address(&on1, "a", "10.80.0.1");
    assert!(ping_passes(&on2, "b", "10.80.0.1"), "after restarting a");

    // A node of the other host is not this host's to stop; a wrong --host is refused.
    let o = on1(&["stop", "b"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("runs on host h2"), "{}", stderr(&o));
    let o = on1(&["status", "--host", "h2"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("host h1's part"), "{}", stderr(&o));

    // Destroy on h1 touches only h1: b runs on, and h2 sees the link wait for h1.
    ok(&on1(&["destroy", "--host", "h1"]), "destroy h1");
    assert!(lab.qemus().is_empty(), "h1's QEMU is gone");
    let st2 = json(&on2(&["status", "--json"]), "status h2");
    assert_eq!(node(&st2, "b")["status"], "running", "{st2}");
    assert!(node(&st2, "b")["pid"].as_i64().is_some(), "{st2}");
    wait_until(Duration::from_secs(10), "h2 sees h1 gone", || {
        let l = json(&on2(&["links", "--json"]), "links");
        l["links"][0]["waiting_for"] == serde_json::json!(["host h1"])
    });
    ok(&on2(&["destroy"]), "destroy h2");
}

/// A throwaway sshd on `addr:port` that logs the test's user in with a throwaway key and runs
/// commands with `VMLAB_HOME=home` and the built vmlab first on PATH. Killed on drop.
struct Sshd {
    dir: PathBuf,
    pid: i32,
}

impl Sshd {
    fn start(dir: &Path, addr: &str, port: u16, home: &Path) -> Self {
        let sshd = Path::new("/usr/sbin/sshd");
        assert!(
            sshd.is_file(),
            "the --all-hosts test needs OpenSSH's server: install openssh-server (scripts/setup)"
        );
        std::fs::create_dir_all(dir).unwrap();
        let keygen = |f: &str| {
            let s = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(dir.join(f))
                .status()
                .expect("ssh-keygen");
            assert!(s.success());
        };
        keygen("host_key");
        keygen("user_key");
        std::fs::copy(dir.join("user_key.pub"), dir.join("authorized_keys")).unwrap();
        let bin = Path::new(vmlab_bin()).parent().unwrap().to_path_buf();
        std::fs::write(
            dir.join("sshd_config"),
            format!(
                "ListenAddress {addr}:{port}\nHostKey {d}/host_key\nAuthorizedKeysFile {d}/authorized_keys\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n\
                 PidFile {d}/sshd.pid\nSetEnv VMLAB_HOME={home} VMLAB_ACCEL=tcg PATH={bin}:/usr/local/bin:/usr/bin:/bin\n",
                d = dir.display(),
                home = home.display(),
                bin = bin.display(),
            ),
        )
        .unwrap();
        std::fs::write(
            dir.join("ssh_config"),
            format!(
                "Host {addr}\n  Port {port}\n  IdentityFile {d}/user_key\n  IdentitiesOnly yes\n  \
                 UserKnownHostsFile {d}/known_hosts\n  StrictHostKeyChecking no\n  LogLevel ERROR\n",
                d = dir.display()
            ),
        )
        .unwrap();
        let o = Command::new(sshd)
            .arg("-f")
            .arg(dir.join("sshd_config"))
            .arg("-E")
            .arg(dir.join("sshd.log"))
            .output()
            .expect("run sshd");
        assert!(
            o.status.success(),
            "sshd did not start: {}{}",
            stderr(&o),
            std::fs::read_to_string(dir.join("sshd.log")).unwrap_or_default()
        );
        let mut pid = 0;
        wait_until(Duration::from_secs(5), "sshd's pidfile", || {
            pid = std::fs::read_to_string(dir.join("sshd.pid"))
                .ok()
                .and_then(|t| t.trim().parse().ok())
                .unwrap_or(0);
            pid > 0
        });
        Sshd {
            dir: dir.to_path_buf(),
            pid,
        }
    }

    fn config(&self) -> PathBuf {
        self.dir.join("ssh_config")
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.pid),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
}

#[test]
fn all_hosts_drives_every_host_over_ssh() {
    let lab = multihost_lab("allhosts", 23400);
    let h2 = Host2::new(&lab);
    let sshd = Sshd::start(&lab.root.path().join("sshd"), H2, 23499, &h2.home);
    let specs = lab.specs();
    let specs = specs.to_str().expect("utf-8");
    let all = |args: &[&str], env: &[(&str, &str)]| {
        let mut c = lab.command(args);
        c.env("VMLAB_SSH_CONFIG", sshd.config());
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().expect("run vmlab")
    };

    // A host without vmlab: the copy fails, said plainly, and nothing is deployed anywhere.
    let o = all(
        &["deploy", "-S", specs, "--all-hosts", "--host", "h1"],
        &[("VMLAB_REMOTE_VMLAB", "/nonexistent/vmlab")],
    );
    assert_eq!(o.status.code(), Some(6), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("h2") && stderr(&o).contains("has no /nonexistent/vmlab"),
        "{}",
        stderr(&o)
    );
    assert!(!lab.lab_dir().exists(), "nothing deployed on h1");

    // A host whose vmlab is of another version (it takes the spec, but knows no host calls):
    // said plainly, before anything starts anywhere.
    let old = lab.root.path().join("old-vmlab");
    std::fs::write(
        &old,
        format!(
            "#!/bin/sh\nif [ \"$1\" = host-call ]; then\n  echo \"error: unrecognized subcommand 'host-call'\" >&2\n  exit 2\nfi\nexec '{}' \"$@\"\n",
            vmlab_bin()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&old, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let o = all(
        &["deploy", "-S", specs, "--all-hosts", "--host", "h1"],
        &[("VMLAB_REMOTE_VMLAB", old.to_str().unwrap())],
    );
    assert!(!o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("h2") && stderr(&o).contains("does not answer host calls v1"),
        "{}",
        stderr(&o)
    );
    assert!(!lab.lab_dir().exists(), "nothing deployed on h1");

    // Every host at once: h1 here, h2 over ssh; progress tagged by host.
    let o = all(&["deploy", "-S", specs, "--all-hosts", "--host", "h1"], &[]);
    let err = stderr(&o);
    assert!(
        o.status.success(),
        "deploy --all-hosts: {}\n{err}",
        stdout(&o)
    );
    assert!(err.contains("h2 | "), "{err}");
    assert!(err.contains("h1 | "), "{err}");
    assert!(
        h2.home.join("specs/allhosts/vmlab.key").is_file(),
        "the key went with the spec"
    );
    assert_eq!(
        std::fs::read_to_string(h2.home.join("specs/allhosts/vmlab.key")).unwrap(),
        lab.read("vmlab.key")
    );
    // The origin's profiles know where every node is.
    let b: Value = serde_json::from_str(&lab.read("profiles/b.json")).unwrap();
    assert_eq!(b["mgmt_ip"], H2, "{b}");

    // The whole lab in one status.
    let st = all(
        &[
            "status",
            "--all-hosts",
            "-S",
            specs,
            "--host",
            "h1",
            "--json",
        ],
        &[],
    );
    let st = json(&st, "status --all-hosts");
    let hosts = st["hosts"].as_array().expect("hosts");
    assert_eq!(hosts.len(), 2, "{st}");
    for (h, n) in [("h1", "a"), ("h2", "b")] {
        let view = hosts.iter().find(|v| v["host"] == h).expect("a host view");
        assert!(view["error"].is_null(), "{view}");
        assert_eq!(node(&view["status"], n)["status"], "running", "{view}");
    }
    let on1 = in_lab("allhosts", |a| lab.vmlab(a));
    let on2 = in_lab("allhosts", |a| h2.vmlab(a));
    address(&on1, "a", "10.81.0.1");
    address(&on2, "b", "10.81.0.2");
    assert!(ping_passes(&on1, "a", "10.81.0.2"), "no ping across hosts");

    // The console of a node on the other host, from this one: through ssh to that host (one
    // more login in the sshd's log).
    let logins = || {
        std::fs::read_to_string(lab.root.path().join("sshd/sshd.log"))
            .unwrap_or_default()
            .matches("Accepted publickey")
            .count()
    };
    let before = logins();
    let mut c = lab.command(&["console", "--lab", "allhosts", "b"]);
    c.env("VMLAB_SSH_CONFIG", sshd.config())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(b"echo remote-console-$((6*7)) $(hostname)\n")
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        stdout(&out).contains("remote-console-42"),
        "console of b from h1 said: {}\n{}",
        stdout(&out),
        stderr(&out)
    );
    assert_eq!(logins(), before + 1, "the console went through ssh");

    // One command destroys it everywhere.
    ok(
        &all(
            &["destroy", "--all-hosts", "-S", specs, "--host", "h1"],
            &[],
        ),
        "destroy --all-hosts",
    );
    assert!(lab.qemus().is_empty() && !lab.lab_dir().exists());
    let o = h2.vmlab(&["status", "--lab", "allhosts"]);
    assert!(!o.status.success(), "the lab is gone from h2 too");

    // An unreachable host is named as such.
    drop(sshd);
    std::thread::sleep(Duration::from_millis(300));
    let o = lab
        .command(&["status", "--all-hosts", "-S", specs, "--host", "h1"])
        .env("VMLAB_SSH_CONFIG", lab.root.path().join("sshd/ssh_config"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        stdout(&o).contains("unreachable over SSH"),
        "{}",
        stdout(&o)
    );
}

/// QEMUs of each of `homes`.
fn qemus_of(homes: &[&Path]) -> Vec<Vec<i32>> {
    homes
        .iter()
        .map(|h| {
            let mut p = processes_naming(h, &["\0-pidfile\0"]);
            p.sort_unstable();
            p
        })
        .collect()
}

#[test]
fn all_hosts_touches_only_what_it_started_on_three_hosts() {
    let lab = vm_lab("trio", 120);
    lab.write(
        "topology.json",
        &format!(
            r#"{{ "name": "trio", "devices": {{ "a": {{}}, "b": {{}}, "c": {{}} }},
                 "links": [ {{ "a": "b:Ethernet0", "z": "c:Ethernet0" }} ],
                 "vmlab": {{ "link_port_base": 23700, "console_port_base": 26700,
                             "ssh_port_base": 28700,
                             "hosts": {{ "h1": "{H1}", "h2": "{H2}", "h3": "{H3}" }} }} }}"#
        ),
    );
    for (n, h) in [("a", "h1"), ("b", "h2"), ("c", "h3")] {
        lab.write(
            &format!("profiles/{n}.json"),
            &format!("{{\"platform\": \"tiny-seq\", \"vm_host\": \"{h}\"}}"),
        );
    }
    let (h2, h3) = (Host2::at(&lab, "second"), Host2::at(&lab, "third"));
    let root = lab.root.path();
    let sshd2 = Sshd::start(&root.join("sshd2"), H2, 23798, &h2.home);
    let sshd3 = Sshd::start(&root.join("sshd3"), H3, 23799, &h3.home);
    let config = root.join("ssh_config");
    std::fs::write(
        &config,
        [sshd2.config(), sshd3.config()]
            .iter()
            .map(|c| std::fs::read_to_string(c).unwrap())
            .collect::<String>(),
    )
    .unwrap();
    let specs = lab.specs();
    let specs = specs.to_str().expect("utf-8");
    let all = |args: &[&str]| {
        lab.command(args)
            .env("VMLAB_SSH_CONFIG", &config)
            .output()
            .expect("run vmlab")
    };
    let deploy = ["deploy", "-S", specs, "--all-hosts", "--host", "h1"];
    let homes = [lab.home(), h2.home.clone(), h3.home.clone()];
    let homes: Vec<&Path> = homes.iter().map(PathBuf::as_path).collect();
    let on2 = in_lab("trio", |a| h2.vmlab(a));
    let on3 = in_lab("trio", |a| h3.vmlab(a));

    // The key is made though h1, listed first, has no link between hosts: every host has the
    // same one, and b and c reach each other.
    ok(&all(&deploy), "deploy --all-hosts");
    let key = lab.read("vmlab.key");
    for h in [&h2, &h3] {
        let got = std::fs::read_to_string(h.home.join("specs/trio/vmlab.key"))
            .expect("the key went with the spec");
        assert_eq!(got, key);
    }
    address(&on2, "b", "10.82.0.1");
    address(&on3, "c", "10.82.0.2");
    assert!(
        ping_passes(&on2, "b", "10.82.0.2"),
        "no ping between h2 and h3"
    );
    let running = qemus_of(&homes);
    assert!(running.iter().all(|p| p.len() == 1), "{running:?}");

    // Again, unchanged: every part runs already; nothing starts, nothing is destroyed.
    let o = all(&deploy);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("already running"), "{}", stderr(&o));
    assert_eq!(qemus_of(&homes), running);

    // c's machine changed: h3 says its part is not this lab's; what runs elsewhere stays.
    let c_profile = lab.read("profiles/c.json");
    lab.write(
        "profiles/c.json",
        "{\"platform\": \"tiny-seq\", \"vm_host\": \"h3\", \"vm_memory\": 320}",
    );
    let o = all(&deploy);
    assert_eq!(o.status.code(), Some(6), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("h3") && stderr(&o).contains("not as this spec would run it"),
        "{}",
        stderr(&o)
    );
    assert_eq!(qemus_of(&homes), running, "nothing rolled back");
    lab.write("profiles/c.json", &c_profile);

    // b stopped: h2's relay still holds the link's port; that is the lab's own, not a
    // stranger's. h2 then says what a one-host deploy says, and h1 and h3 keep running.
    ok(&on2(&["stop", "b"]), "stop b");
    let o = all(&deploy);
    assert_eq!(o.status.code(), Some(6), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(!err.contains("already in use"), "{err}");
    assert!(
        err.contains("h2") && err.contains("is not running"),
        "{err}"
    );
    let now = qemus_of(&homes);
    assert_eq!(
        (&now[0], &now[2]),
        (&running[0], &running[2]),
        "h1 and h3 kept"
    );
    ok(&on2(&["start", "b"]), "start b");

    // A one-host lab of the same name on h2: destroy --all-hosts leaves it, and says so.
    ok(&on2(&["destroy", "--host", "h2"]), "destroy h2's part");
    let single = root.join("single");
    std::fs::create_dir_all(single.join("profiles")).unwrap();
    std::fs::copy(
        specs.to_string() + "/platforms.json",
        single.join("platforms.json"),
    )
    .unwrap();
    std::fs::write(
        single.join("topology.json"),
        r#"{ "name": "trio", "devices": { "solo": {} },
             "vmlab": { "console_port_base": 26750, "ssh_port_base": 28750 } }"#,
    )
    .unwrap();
    std::fs::write(
        single.join("profiles/solo.json"),
        "{\"platform\": \"tiny-seq\"}",
    )
    .unwrap();
    ok(
        &h2.vmlab(&["deploy", "-S", single.to_str().unwrap()]),
        "a one-host lab trio on h2",
    );
    let solo = qemus_of(&homes)[1].clone();
    assert_eq!(solo.len(), 1);
    let o = all(&["destroy", "--all-hosts", "-S", specs, "--host", "h1"]);
    assert_eq!(o.status.code(), Some(6), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("h2") && stderr(&o).contains("not a multi-host lab's part"),
        "{}",
        stderr(&o)
    );
    let left = qemus_of(&homes);
    assert!(left[0].is_empty() && left[2].is_empty(), "{left:?}");
    assert_eq!(left[1], solo, "the one-host lab on h2 runs on");
    ok(
        &h2.vmlab(&["destroy", "--lab", "trio"]),
        "destroy the one-host lab",
    );
}

#[test]
fn a_server_pool_places_nodes_without_vm_host() {
    // newtron's server pool: no node names its host; max_nodes 1 each sends a to s1 (the tie
    // goes to the first name) and b to s2, on every host alike.
    let lab = vm_lab("pool", 120);
    lab.write(
        "topology.json",
        &two_node_topology(
            "pool",
            [23850, 26850, 28850],
            &format!(
                r#""servers": [ {{ "name": "s2", "address": "{H2}", "max_nodes": 1 }},
                                 {{ "name": "s1", "address": "{H1}", "max_nodes": 1 }} ]"#
            ),
        ),
    );
    lab.write("profiles/a.json", "{\"platform\": \"tiny-seq\"}");
    lab.write("profiles/b.json", "{\"platform\": \"tiny-seq\"}");
    let h2 = Host2::new(&lab);
    let specs = lab.specs();
    let specs = specs.to_str().expect("utf-8");
    let dry = ok(
        &lab.vmlab(&["deploy", specs, "--dry-run", "--host", "s1"]),
        "dry run on s1",
    );
    assert!(dry.contains("# host: s1 (runs 1 of the 2 nodes"), "{dry}");
    // Without --host the lab says it needs one.
    let o = lab.vmlab(&["deploy", specs, "--dry-run"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--host"), "{}", stderr(&o));

    ok(&h2.vmlab(&["deploy", specs, "--host", "s2"]), "deploy s2");
    ok(&lab.vmlab(&["deploy", specs, "--host", "s1"]), "deploy s1");
    let on1 = in_lab("pool", |a| lab.vmlab(a));
    let on2 = in_lab("pool", |a| h2.vmlab(a));
    let st1 = json(&on1(&["status", "--json"]), "status s1");
    assert_eq!(node(&st1, "a")["host"], "s1", "{st1}");
    assert_eq!(node(&st1, "b")["status"], "remote", "{st1}");
    let st2 = json(&on2(&["status", "--json"]), "status s2");
    assert_eq!(node(&st2, "b")["host"], "s2", "{st2}");
    assert!(node(&st2, "b")["pid"].as_i64().is_some(), "{st2}");
    address(&on1, "a", "10.7.0.1");
    address(&on2, "b", "10.7.0.2");
    assert!(
        ping_passes(&on1, "a", "10.7.0.2"),
        "a on s1 reaches b on s2"
    );

    // A third node does not fit: the error names the full servers.
    lab.write(
        "topology.json",
        &two_node_topology(
            "pool",
            [23850, 26850, 28850],
            &format!(
                r#""servers": [ {{ "name": "s2", "address": "{H2}", "max_nodes": 1 }},
                                 {{ "name": "s1", "address": "{H1}", "max_nodes": 1 }} ]"#
            ),
        )
        .replace(r#""b": {} }"#, r#""b": {}, "c": {} }"#),
    );
    lab.write("profiles/c.json", "{\"platform\": \"tiny-seq\"}");
    let o = lab.vmlab(&["deploy", specs, "--dry-run", "--host", "s1"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("node c has no room, every server is full (s1 1/1, s2 1/1)"),
        "{}",
        stderr(&o)
    );

    ok(&on1(&["destroy"]), "destroy s1");
    ok(&on2(&["destroy"]), "destroy s2");
    assert!(lab.qemus().is_empty());
}
