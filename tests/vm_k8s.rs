//! Playing the kubelet for `vmlab export k8s`: two network namespaces stand in for the pods of
//! two shards (their addresses on a veth pair, the headless Service's names in their
//! `/etc/hosts`), the spec laid out as the pods' projected volume would show it, and in each the
//! pod's own command, `vmlab shard run`, with its own home. The link between the shards carries
//! traffic; a QEMU killed inside a shard comes back; SIGTERM to one shard leaves nothing of it
//! while the other runs on, and starting it again brings the link back.

// Tests drive the vmlab binary and look at what it left behind: the front ends' rules in
// clippy.toml (no processes, no files) are not theirs.
#![allow(clippy::disallowed_methods)]

mod common;
#[path = "common/k8s.rs"]
mod k8s;

use std::path::PathBuf;
use std::process::Child;
use std::time::{Duration, Instant};

use common::*;
use k8s::{of_kind, two_shards};
use serde_json::Value;

/// The shard processes started, and the homes whose QEMUs and relays are this test's: all
/// killed on drop, whatever happened.
struct Shards {
    children: Vec<Child>,
    homes: Vec<PathBuf>,
}

impl Drop for Shards {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for h in &self.homes {
            kill_named(h);
        }
    }
}

/// Waits up to `limit` for `f`; failing, says `what` and the shards' logs.
fn wait_for(what: &str, limit: Duration, logs: &dyn Fn() -> String, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(
            t0.elapsed() < limit,
            "{what}: not within {} s\n{}",
            limit.as_secs(),
            logs()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn two_shards_in_two_pods_link_heal_and_stop_cleanly() {
    require_qemu();
    let image = guest_image();
    let _lock = vm_lock();
    let lab = TestLab::new("ab");
    let (docs, _, mnt) = two_shards(&lab, &image);
    use std::os::unix::fs::PermissionsExt;
    // The API token as the Secret holds it, where the pod would find it.
    let secret = of_kind(&docs, "Secret")[0];
    let token = {
        use base64::Engine as _;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(secret["data"]["api-token"].as_str().unwrap())
            .unwrap();
        String::from_utf8(raw).unwrap()
    };
    let token_file = lab.root.path().join("token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    // Group-readable, as a Secret volume with an fsGroup makes it.
    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o440)).unwrap();
    // The pod's command as the manifest gives it.
    let sts = of_kind(&docs, "StatefulSet");
    let command = |k: usize| -> Vec<String> {
        let c = &sts[k]["spec"]["template"]["spec"]["containers"][0];
        let mut words: Vec<String> = c["command"]
            .as_array()
            .unwrap()
            .iter()
            .chain(c["args"].as_array().unwrap())
            .map(|w| w.as_str().unwrap().to_string())
            .collect();
        assert_eq!(words[..3], ["vmlab", "shard", "run"]);
        words.drain(..1);
        // The spec and the token where this test mounted them.
        let at = words.iter().position(|w| w == "--spec").unwrap();
        words[at + 1] = mnt.to_string_lossy().into_owned();
        let at = words.iter().position(|w| w == "--token-file").unwrap();
        words[at + 1] = token_file.to_string_lossy().into_owned();
        words
    };
    let pods = Pods::new("10.251.0.1 ab-s0-0.ab\n10.251.0.2 ab-s1-0.ab\n");
    let homes: Vec<PathBuf> = (0..2)
        .map(|k| lab.root.path().join(format!("pod{k}")))
        .collect();
    for h in &homes {
        std::fs::create_dir_all(h).unwrap();
    }
    let mut shards = Shards {
        children: Vec::new(),
        homes: homes.clone(),
    };
    let start = |shards: &mut Shards, k: usize| {
        let words = command(k);
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        let log = std::fs::File::create(lab.root.path().join(format!("pod{k}.log"))).unwrap();
        let child = pods
            .command(k, &homes[k], &words)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start the shard");
        shards.children.push(child);
        shards.children.len() - 1
    };
    let log = |k: usize| std::fs::read_to_string(lab.root.path().join(format!("pod{k}.log")));
    let logs = || format!("pod 0 said:\n{:?}\npod 1 said:\n{:?}", log(0), log(1));
    let mnt_s = mnt.to_string_lossy().into_owned();
    // A probe of pod k, as the kubelet runs it: `vmlab shard ready` or `vmlab shard alive`.
    let probe = |k: usize, what: &str| {
        let shard = format!("s{k}");
        let args = ["shard", what, "--spec", &mnt_s, "--shard", &shard];
        pods.vmlab(k, &homes[k], &args).status.success()
    };
    let ready = |k: usize| probe(k, "ready");
    let alive = |k: usize| probe(k, "alive");
    let run = |k: usize, node: &str, cmd: &str| {
        pods.vmlab(k, &homes[k], &["ssh", "--lab", "ab", node, "--", cmd])
    };
    let address = |k: usize, node: &str, ip: &str| {
        let cmd =
            format!("ip addr flush dev eth1; ip addr add {ip}/24 dev eth1 && ip link set eth1 up");
        ok(&run(k, node, &cmd), &format!("addressing {node}"));
    };
    let pings = |k: usize, node: &str, ip: &str| {
        let o = run(k, node, &format!("ping -c 3 -i 0.2 -W 3 {ip}"));
        o.status.success() && stdout(&o).contains("bytes from")
    };

    let s0 = start(&mut shards, 0);
    let _s1 = start(&mut shards, 1);
    for k in 0..2 {
        wait_for(
            &format!("shard s{k} ready"),
            Duration::from_secs(150),
            &logs,
            || ready(k),
        );
        assert!(alive(k), "shard s{k} alive");
    }
    // Each shard serves its API on its pod's address, for the token from the Secret: asked
    // from the other pod, shard s1 names the lab; without the token, 401.
    let api = |token: Option<&str>| {
        let script = "import sys, urllib.request, urllib.error\n\
            r = urllib.request.Request('http://10.251.0.2:8080/v1/labs')\n\
            if sys.argv[1]: r.add_header('Authorization', 'Bearer ' + sys.argv[1])\n\
            try:\n    res = urllib.request.urlopen(r, timeout=10); print(res.status, res.read().decode())\n\
            except urllib.error.HTTPError as e:\n    print(e.code)\n";
        let o = std::process::Command::new("ip")
            .args([
                "netns",
                "exec",
                &pods.names[0],
                "python3",
                "-c",
                script,
                token.unwrap_or(""),
            ])
            .output()
            .unwrap();
        stdout(&o)
    };
    let answer = api(Some(&token));
    assert!(
        answer.starts_with("200 ") && answer.contains("\"ab\""),
        "{answer}"
    );
    assert!(api(None).starts_with("401"), "{}", api(None));

    // The link between the shards: a in pod 0, b in pod 1.
    address(0, "a", "10.61.0.1");
    address(1, "b", "10.61.0.2");
    assert!(pings(0, "a", "10.61.0.2"), "no ping between the shards");

    // A QEMU killed inside shard 1 comes back (the shard repairs every 10 s).
    let st: Value = serde_json::from_str(&stdout(&pods.vmlab(
        1,
        &homes[1],
        &["status", "--lab", "ab", "--json"],
    )))
    .unwrap();
    let b = st["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "b")
        .unwrap();
    let pid = b["pid"].as_i64().unwrap() as i32;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    wait_for("shard s1 notices", Duration::from_secs(10), &logs, || {
        !ready(1)
    });
    wait_for("b back in shard s1", Duration::from_secs(90), &logs, || {
        ready(1)
    });
    address(1, "b", "10.61.0.2");
    assert!(pings(0, "a", "10.61.0.2"), "no ping after b came back");

    // SIGTERM to shard 0: it destroys its nodes and exits 0; shard 1 runs on.
    let pid0 = shards.children[s0].id() as i32;
    // `ip netns exec` hands the signal on to vmlab it runs as (it execs).
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid0),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = shards.children[s0].try_wait().unwrap() {
            break s;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(40),
            "shard s0 did not stop: {:?}",
            log(0)
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(status.code(), Some(0), "{:?}", log(0));
    assert!(
        processes_naming(&homes[0], &["\0-pidfile\0", "\0relay\0"]).is_empty(),
        "shard s0 left processes"
    );
    assert!(
        !homes[0].join("labs/ab").exists(),
        "shard s0 left its lab directory"
    );
    assert!(!alive(0));
    assert!(ready(1), "shard s1 runs on");

    // Shard 0 again: the link between the shards is back.
    start(&mut shards, 0);
    wait_for(
        "shard s0 ready again",
        Duration::from_secs(150),
        &logs,
        || ready(0),
    );
    address(0, "a", "10.61.0.1");
    assert!(
        pings(0, "a", "10.61.0.2"),
        "no ping after shard s0 came back"
    );
}
