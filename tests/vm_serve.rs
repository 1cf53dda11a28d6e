//! `vmlab serve` as its own process, driven by a real HTTP client: newtron's lab-server routes
//! deploy a real lab while a client reads the event stream to `complete`, the `ssh_port` and
//! key path status reports log in, a node stops and starts, the bridge stats grow with
//! traffic, vmlab's own routes change a link, run exec and the lab's checks, a deploy started
//! from the CLI shows on the stream, and 400, 404, 409 and 401 are each provoked.

// Tests and benchmarks drive the vmlab binary and look at what it left behind: the front
// ends' rules in clippy.toml (no processes, no files) are not theirs.
#![allow(clippy::disallowed_methods)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

/// A running `vmlab serve`, killed on drop, and the token it takes.
struct Serve {
    child: Child,
    base: String,
    token: String,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `vmlab serve` on a free loopback port with `args`; its base URL and the token it made
/// in the lab's home (or the one of `--token-file`).
fn serve(lab: &TestLab, args: &[&str]) -> Serve {
    serve_limited(lab, args, None)
}

/// [`serve`], started with a soft limit of `open_files` descriptors (as a login session
/// often has: 1024) under the hard limit it has.
fn serve_limited(lab: &TestLab, args: &[&str], open_files: Option<u64>) -> Serve {
    let mut cmd = lab.command(&["serve", "--listen", "127.0.0.1:0"]);
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    if let Some(soft) = open_files {
        use nix::sys::resource::{Resource, getrlimit, setrlimit};
        use std::os::unix::process::CommandExt;
        // SAFETY: only async-signal-safe system calls between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
                setrlimit(Resource::RLIMIT_NOFILE, soft.min(hard), hard)?;
                Ok(())
            });
        }
    }
    let mut child = cmd.spawn().expect("run vmlab serve");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line)
        .expect("the server says where it listens");
    let base = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .map(|a| format!("http://{a}"))
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    let file = args
        .iter()
        .position(|a| *a == "--token-file")
        .map(|i| std::path::PathBuf::from(args[i + 1]))
        .unwrap_or_else(|| lab.home().join("serve.token"));
    let text = std::fs::read_to_string(&file).expect("the server's token file");
    let token = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .and_then(|l| l.split_whitespace().last())
        .expect("a token")
        .to_string();
    Serve { child, base, token }
}

/// One request: its status and its JSON body (`null` when there is none).
fn call(method: &str, url: &str, body: Option<&str>, token: Option<&str>) -> (u16, Value) {
    let mut r = ureq::request(method, url).timeout(Duration::from_secs(300));
    if let Some(t) = token {
        r = r.set("Authorization", &format!("Bearer {t}"));
    }
    let res = match body {
        Some(b) => r.set("Content-Type", "application/json").send_string(b),
        None => r.call(),
    };
    let resp = match res {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {url}: {e}"),
    };
    let code = resp.status();
    (code, resp.into_json().unwrap_or(Value::Null))
}

/// Events (name, data) of an SSE stream, read on a thread as they come.
#[derive(Clone, Default)]
struct Events(Arc<Mutex<Vec<(String, String)>>>);

impl Events {
    fn follow(url: &str, token: &str) -> Self {
        Self::follow_after(url, token, None)
    }

    /// Follows from after the event whose id is `last` (`Last-Event-ID`).
    fn follow_after(url: &str, token: &str, last: Option<&str>) -> Self {
        let events = Events::default();
        let mut req = ureq::get(url).set("Authorization", &format!("Bearer {token}"));
        if let Some(id) = last {
            req = req.set("Last-Event-ID", id);
        }
        let resp = req.call().expect("the event stream");
        assert_eq!(
            resp.header("content-type"),
            Some("text/event-stream"),
            "an SSE stream"
        );
        let sink = events.clone();
        std::thread::spawn(move || {
            let mut name = String::new();
            let mut data = String::new();
            for line in BufReader::new(resp.into_reader()).lines() {
                let Ok(line) = line else { break };
                if let Some(n) = line.strip_prefix("event: ") {
                    name = n.to_string();
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data = d.to_string();
                } else if line.is_empty() && !name.is_empty() {
                    sink.0
                        .lock()
                        .unwrap()
                        .push((std::mem::take(&mut name), std::mem::take(&mut data)));
                }
            }
        });
        events
    }

    /// Waits for an event named `name`; every event seen until then.
    fn wait_for(&self, name: &str, within: Duration) -> Vec<(String, String)> {
        let t0 = Instant::now();
        loop {
            let seen = self.0.lock().unwrap().clone();
            if seen.iter().any(|(n, _)| n == name) {
                return seen;
            }
            assert!(
                t0.elapsed() < within,
                "no {name} event within {within:?}: {seen:?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

#[test]
fn the_api_deploys_and_drives_a_lab_as_newtrons_clients_do() {
    let lab = vm_lab("apilab", 120);
    let net = lab.root.path().join("networks/apilab");
    std::fs::create_dir_all(net.join("profiles")).unwrap();
    std::fs::write(
        net.join("topology.json"),
        two_node_topology("apilab", [22980, 26860, 28860], ""),
    )
    .unwrap();
    std::fs::copy(
        lab.specs().join("platforms.json"),
        net.join("platforms.json"),
    )
    .unwrap();
    for n in ["a", "b"] {
        std::fs::write(
            net.join(format!("profiles/{n}.json")),
            "{\"platform\": \"tiny-seq\"}",
        )
        .unwrap();
    }
    let networks = lab.root.path().join("networks");
    let srv = serve(&lab, &["--networks-base", networks.to_str().unwrap()]);
    let api = |m: &str, path: &str, body: Option<&str>| {
        call(m, &format!("{}{path}", srv.base), body, Some(&srv.token))
    };

    let (code, health) = api("GET", "/newtlab/v1/health", None);
    assert_eq!((code, health["data"]["status"].as_str()), (200, Some("ok")));
    assert_eq!(api("GET", "/newtlab/v1/labs/apilab/status", None).0, 404);
    assert_eq!(api("GET", "/newtlab/v1/labs/nosuch/status", None).0, 404);
    assert_eq!(api("POST", "/newtlab/v1/labs/nosuch/deploy", None).0, 404);
    assert_eq!(
        api("POST", "/newtlab/v1/labs/apilab/deploy", Some("[1,")).0,
        400
    );
    assert_eq!(api("GET", "/newtlab/v1/labs/..%2Fx/status", None).0, 400);

    // Deploy through the API while a client follows the stream to `complete`.
    let stream = Events::follow(
        &format!("{}/newtlab/v1/labs/apilab/events", srv.base),
        &srv.token,
    );
    let (code, started) = api("POST", "/newtlab/v1/labs/apilab/deploy?force=false", None);
    assert_eq!(code, 202, "{started}");
    assert_eq!(started["data"]["op"], "deploy");
    assert_eq!(started["data"]["network_id"], "apilab");
    let (code, busy) = api("POST", "/newtlab/v1/labs/apilab/deploy", None);
    assert_eq!(code, 409, "{busy}");
    assert!(
        busy["error"].as_str().unwrap_or("").contains("deploy"),
        "{busy}"
    );
    let seen = stream.wait_for("complete", Duration::from_secs(240));
    assert!(
        !seen.iter().any(|(n, _)| n == "error"),
        "the deploy failed: {seen:?}"
    );
    assert!(
        seen.iter()
            .any(|(n, d)| n == "phase" && d.contains("ready")),
        "phase events of the boot: {seen:?}"
    );

    // newtron's LabState: log in on the port and with the key it names.
    let (code, st) = api("GET", "/newtlab/v1/labs/apilab/status", None);
    assert_eq!(code, 200, "{st}");
    let st = &st["data"];
    assert_eq!(st["network_id"], "apilab");
    let a = &st["nodes"]["a"];
    assert_eq!(a["status"], "running", "{st}");
    assert!(a["pid"].as_i64().is_some(), "{st}");
    let port = a["ssh_port"].as_u64().expect("ssh_port").to_string();
    let key = st["ssh_key_path"].as_str().expect("ssh_key_path");
    let o = Command::new("ssh")
        .args([
            "-i",
            key,
            "-p",
            &port,
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=no",
        ])
        .args(["-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"])
        .args(["admin@127.0.0.1", "echo", "in-$((40+2))"])
        .output()
        .expect("ssh");
    assert_eq!(stdout(&o).trim(), "in-42", "{}", stderr(&o));
    let (code, labs) = api("GET", "/newtlab/v1/labs", None);
    assert_eq!(
        (code, &labs["data"]),
        (200, &json!([{"network_id": "apilab"}]))
    );
    // vmlab's own API on its own: the rows `labs --json` gives, links with the lab's name,
    // and a deploy of the running lab that says it changed nothing — its 202 names the
    // operation and the event id to resume from, so a client subscribing after its POST
    // misses nothing.
    let (code, rows) = api("GET", "/v1/labs", None);
    assert_eq!(code, 200, "{rows}");
    assert_eq!(rows["data"], lab.json(&["labs", "--json"]), "{rows}");
    let (code, l) = api("GET", "/v1/labs/apilab/links", None);
    assert_eq!((code, &l["data"]["name"]), (200, &json!("apilab")), "{l}");
    let (code, again) = api("POST", "/v1/labs/apilab/deploy", None);
    assert_eq!(code, 202, "{again}");
    let (id, from) = (
        again["data"]["id"]
            .as_str()
            .expect("the operation's id")
            .to_string(),
        again["data"]["event_id"].as_u64().expect("its event id"),
    );
    let resumed = Events::follow_after(
        &format!("{}/v1/labs/apilab/events", srv.base),
        &srv.token,
        Some(&from.to_string()),
    );
    let seen = resumed.wait_for("end", Duration::from_secs(60));
    let end = seen
        .iter()
        .filter(|(n, _)| n == "end")
        .map(|(_, d)| serde_json::from_str::<Value>(d).expect("json"))
        .find(|d| d["id"] == json!(id))
        .unwrap_or_else(|| panic!("the deploy's end: {seen:?}"));
    assert_eq!(
        (&end["ok"], &end["changed"]),
        (&json!(true), &json!(false)),
        "{end}"
    );
    assert!(
        seen.iter().any(|(n, d)| n == "begin" && d.contains(&id)),
        "its begin too: {seen:?}"
    );

    // Bridge stats grow with traffic over the link.
    let bytes = || {
        let (code, b) = api("GET", "/newtlab/v1/labs/apilab/bridges/stats", None);
        assert_eq!(code, 200, "{b}");
        let l = &b["data"][0]["stats"]["links"][0];
        assert_eq!(l["a"], "a:Ethernet0", "{b}");
        l["a_to_z_bytes"].as_u64().unwrap_or(0) + l["z_to_a_bytes"].as_u64().unwrap_or(0)
    };
    let before = bytes();
    set_ip(&lab, "a", 1, "10.8.0.1");
    set_ip(&lab, "b", 1, "10.8.0.2");
    assert!(ping(&lab, "a", "10.8.0.2"));
    let after = bytes();
    assert!(after > before + 500, "{before} → {after}");

    // A node stops and starts.
    let (code, r) = api("POST", "/newtlab/v1/labs/apilab/nodes/b/stop", None);
    assert_eq!(
        (code, &r["data"]["status"]),
        (200, &json!("stopped")),
        "{r}"
    );
    let (_, st) = api("GET", "/newtlab/v1/labs/apilab/status", None);
    assert_eq!(st["data"]["nodes"]["b"]["status"], "stopped");
    let (code, r) = api("POST", "/newtlab/v1/labs/apilab/nodes/b/start", None);
    assert_eq!(
        (code, &r["data"]["status"]),
        (200, &json!("started")),
        "{r}"
    );
    assert_eq!(
        api("POST", "/newtlab/v1/labs/apilab/nodes/ghost/stop", None).0,
        404
    );
    assert_eq!(
        api("POST", "/newtlab/v1/labs/apilab/provision", None).0,
        501
    );

    // vmlab's own routes: a link set down and up, an impairment, exec on every node.
    let (code, l) = api("POST", "/v1/labs/apilab/links/a:Ethernet0/down", None);
    assert_eq!((code, &l["data"]["state"]), (200, &json!("down")), "{l}");
    assert_eq!(
        api("POST", "/v1/labs/apilab/links/a:Ethernet0/up", None).0,
        200
    );
    let (code, l) = api(
        "POST",
        "/v1/labs/apilab/links/b:Ethernet0/set",
        Some(r#"{"delay": "7ms", "direction": "from-here"}"#),
    );
    assert_eq!(code, 200, "{l}");
    assert_eq!(l["data"]["impair"]["z_to_a"]["delay_us"], 7000, "{l}");
    assert_eq!(
        api(
            "POST",
            "/v1/labs/apilab/links/a:Ethernet0/set",
            Some(r#"{"delay": "fast"}"#)
        )
        .0,
        400
    );
    assert_eq!(
        api("POST", "/v1/labs/apilab/links/a:Ethernet0/set", None).0,
        400
    );
    let (code, x) = api(
        "POST",
        "/v1/labs/apilab/exec",
        Some(r#"{"command": "echo x-$((6*7))", "all": true}"#),
    );
    assert_eq!(code, 200, "{x}");
    let outs = x["data"].as_array().expect("outcomes");
    assert_eq!(outs.len(), 2, "{x}");
    assert!(
        outs.iter()
            .all(|o| o["stdout"].as_str().unwrap_or("").contains("x-42")),
        "{x}"
    );

    // The exec is in the lab's journal: who ran what on which nodes, never the output.
    let journal = lab.home().join("events/apilab.jsonl");
    let audits: Vec<Value> = std::fs::read_to_string(&journal)
        .expect("the journal")
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["kind"] == "audit")
        .collect();
    let exec = audits
        .iter()
        .find(|a| a["op"] == "exec")
        .expect("an audit line");
    assert_eq!(exec["command"], "echo x-$((6*7))", "{exec}");
    assert_eq!(exec["nodes"], json!(["a", "b"]), "{exec}");
    let by = exec["by"].as_str().unwrap_or("");
    let uid = nix::unistd::getuid().as_raw();
    assert!(
        by.contains("token serve.token") && by.contains(&format!("uid {uid}")),
        "{exec}"
    );
    assert!(
        !std::fs::read_to_string(&journal).unwrap().contains("x-42"),
        "no output in the journal"
    );

    // A slow lab stalls nobody: with the relay stopped, each status waits for it, and the
    // server still answers another request at once.
    let relay = *lab.relays().first().expect("the lab's relay");
    let relay = nix::unistd::Pid::from_raw(relay);
    nix::sys::signal::kill(relay, nix::sys::signal::Signal::SIGSTOP).expect("stop the relay");
    let slow: Vec<_> = (0..6)
        .map(|_| {
            let (url, token) = (
                format!("{}/v1/labs/apilab/status", srv.base),
                srv.token.clone(),
            );
            std::thread::spawn(move || {
                let t0 = Instant::now();
                let code = call("GET", &url, None, Some(&token)).0;
                (code, t0.elapsed())
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    let t0 = Instant::now();
    assert_eq!(api("GET", "/newtlab/v1/health", None).0, 200);
    let health = t0.elapsed();
    let slow: Vec<(u16, Duration)> = slow.into_iter().map(|t| t.join().unwrap()).collect();
    nix::sys::signal::kill(relay, nix::sys::signal::Signal::SIGCONT).expect("resume the relay");
    let slowest = slow.iter().map(|(_, d)| *d).max().unwrap_or_default();
    assert!(
        slowest >= Duration::from_millis(400),
        "status waited for the stopped relay: {slow:?}"
    );
    assert!(
        health < Duration::from_millis(300),
        "health took {health:?} while status calls waited ({slow:?})"
    );

    // A request's checks are bounded (count and wait), and however much they print, the
    // journal stays bounded: 50 checks printing 20 kB on each node.
    let many = |n: usize, extra: &str| {
        let checks: Vec<String> = (0..n)
            .map(|i| {
                format!(
                    r#"{{"name": "long{i}", "all": true, "exec": "printf %20000s x; echo", "expect": {{"stdout": "^y"}}{extra}}}"#
                )
            })
            .collect();
        format!(r#"{{"checks": [{}]}}"#, checks.join(","))
    };
    let (code, v) = api("POST", "/v1/labs/apilab/validate", Some(&many(101, "")));
    assert_eq!(code, 400, "{v}");
    assert!(
        v["error"].as_str().unwrap_or("").contains("at most 100"),
        "{v}"
    );
    let (code, v) = api(
        "POST",
        "/v1/labs/apilab/validate",
        Some(&many(1, r#", "wait": 3600"#)),
    );
    assert_eq!(code, 400, "{v}");
    assert!(v["error"].as_str().unwrap_or("").contains("wait"), "{v}");
    let size = || {
        ["events/apilab.jsonl", "events/apilab.jsonl.old"]
            .iter()
            .map(|f| {
                std::fs::metadata(lab.home().join(f))
                    .map(|m| m.len())
                    .unwrap_or(0)
            })
            .sum::<u64>()
    };
    let before = size();
    let (code, v) = api("POST", "/v1/labs/apilab/validate", Some(&many(50, "")));
    assert_eq!(
        (code, &v["data"]["counts"]["fail"]),
        (200, &json!(100)),
        "{v}"
    );
    let grew = size().saturating_sub(before);
    assert!(grew < 1_500_000, "the journal grew by {grew} bytes");

    // The lab's checks: none beside its spec (400, saying where they go); given in the body,
    // a pass on both nodes and a fail come back as results (200) with the counts; `only`
    // picks; an invalid list is 400 naming the field.
    let (code, v) = api("POST", "/v1/labs/apilab/validate", None);
    assert_eq!(code, 400, "{v}");
    assert!(v.to_string().contains("validate.json"), "{v}");
    let checks = r#"[
        {"name": "linux", "all": true, "exec": "uname -s", "expect": {"stdout": "^Linux$"}},
        {"name": "wrong", "nodes": ["a"], "exec": "echo no", "expect": {"stdout": "^yes$"}}]"#;
    let (code, v) = api(
        "POST",
        "/v1/labs/apilab/validate",
        Some(&format!(r#"{{"checks": {checks}}}"#)),
    );
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["data"]["passed"], json!(false), "{v}");
    assert_eq!(
        v["data"]["counts"],
        json!({"pass": 2, "fail": 1, "error": 0}),
        "{v}"
    );
    let failed = &v["data"]["results"][2];
    assert_eq!(
        (&failed["check"], &failed["on"], &failed["verdict"]),
        (&json!("wrong"), &json!("a"), &json!("fail")),
        "{v}"
    );
    assert!(
        failed["detail"].as_str().unwrap_or("").contains("no"),
        "{v}"
    );
    let (code, v) = api(
        "POST",
        "/v1/labs/apilab/validate",
        Some(&format!(r#"{{"checks": {checks}, "only": ["linux"]}}"#)),
    );
    assert_eq!((code, &v["data"]["passed"]), (200, &json!(true)), "{v}");
    // Checks run through the API are audited too: their names, commands and targets.
    let audited = std::fs::read_to_string(lab.home().join("events/apilab.jsonl"))
        .expect("the journal")
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["kind"] == "audit" && l["checks"][0]["name"] == "linux")
        .expect("an audit line of the checks");
    assert_eq!(audited["checks"][0]["exec"], "uname -s", "{audited}");
    assert_eq!(audited["checks"][1]["nodes"], json!(["a"]), "{audited}");
    let (code, v) = api(
        "POST",
        "/v1/labs/apilab/validate",
        Some(
            r#"{"checks": [{"name": "x", "all": true, "exec": "true", "expect": {"stdot": "x"}}]}"#,
        ),
    );
    assert_eq!(code, 400, "{v}");
    assert!(v.to_string().contains("stdot"), "{v}");

    // Destroy through the API; then a deploy from the CLI shows on the stream too.
    let (code, d) = api("POST", "/newtlab/v1/labs/apilab/destroy", None);
    assert_eq!(
        (code, &d["data"]["status"]),
        (200, &json!("destroyed")),
        "{d}"
    );
    assert!(lab.qemus().is_empty());
    let stream = Events::follow(
        &format!("{}/newtlab/v1/labs/apilab/events", srv.base),
        &srv.token,
    );
    let own = Events::follow(&format!("{}/v1/labs/apilab/events", srv.base), &srv.token);
    lab.ok(&["deploy", net.to_str().unwrap()]);
    let seen = stream.wait_for("complete", Duration::from_secs(30));
    assert!(
        seen.iter()
            .any(|(n, d)| n == "phase" && d.contains("deploy started")),
        "{seen:?}"
    );
    let mine = own.wait_for("end", Duration::from_secs(30));
    assert!(
        mine.iter()
            .any(|(n, d)| n == "begin" && d.contains("\"op\":\"deploy\"")),
        "{mine:?}"
    );
    // A client back with Last-Event-ID 0 gets the journal from its start: both deploys.
    let replay = Events::follow_after(
        &format!("{}/v1/labs/apilab/events", srv.base),
        &srv.token,
        Some("0"),
    );
    let t0 = Instant::now();
    loop {
        let begins = replay
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|(n, d)| n == "begin" && d.contains("\"op\":\"deploy\""))
            .count();
        if begins >= 2 {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "no replay: {:?}",
            replay.0.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Destroyed behind the server's back (from the CLI): the server says so and goes on.
    lab.ok(&["destroy", "apilab"]);
    assert!(lab.qemus().is_empty());
    assert_eq!(api("GET", "/newtlab/v1/labs/apilab/status", None).0, 404);
    assert_eq!(
        api("POST", "/newtlab/v1/labs/apilab/nodes/a/stop", None).0,
        404
    );
    assert_eq!(api("GET", "/newtlab/v1/health", None).0, 200);
}

#[test]
fn a_failing_deploy_ends_its_stream_with_the_error_and_frees_the_lab() {
    let lab = TestLab::new("apifail");
    let net = lab.root.path().join("networks/broken");
    std::fs::create_dir_all(net.join("profiles")).unwrap();
    std::fs::write(
        net.join("topology.json"),
        r#"{"name": "broken", "devices": {"r1": {}}, "vmlab": {"ssh_port_base": 28870}}"#,
    )
    .unwrap();
    std::fs::write(
        net.join("platforms.json"),
        r#"{"platforms": {"p": {"vm_image": "/nonexistent/disk.qcow2"}}}"#,
    )
    .unwrap();
    std::fs::write(net.join("profiles/r1.json"), r#"{"platform": "p"}"#).unwrap();
    let networks = lab.root.path().join("networks");
    let srv = serve(&lab, &["--networks-base", networks.to_str().unwrap()]);
    let url = |p: &str| format!("{}{p}", srv.base);
    for _ in 0..2 {
        // A client that goes away mid-stream changes nothing for the next.
        drop(Events::follow(
            &url("/newtlab/v1/labs/broken/events"),
            &srv.token,
        ));
        let stream = Events::follow(&url("/newtlab/v1/labs/broken/events"), &srv.token);
        let (code, v) = call(
            "POST",
            &url("/newtlab/v1/labs/broken/deploy"),
            None,
            Some(&srv.token),
        );
        assert_eq!(code, 202, "{v}");
        let seen = stream.wait_for("error", Duration::from_secs(60));
        let (_, message) = seen.iter().find(|(n, _)| n == "error").unwrap();
        assert!(message.contains("/nonexistent/disk.qcow2"), "{message}");
        assert!(!seen.iter().any(|(n, _)| n == "complete"), "{seen:?}");
    }
    assert!(
        !lab.home().join("labs/broken").exists(),
        "nothing half-deployed"
    );
    assert_eq!(
        call("GET", &url("/newtlab/v1/health"), None, Some(&srv.token)).0,
        200
    );
}

#[test]
fn the_api_asks_for_its_token_off_loopback_and_whenever_it_has_one() {
    let lab = TestLab::new("apitoken");
    // Off loopback without a token: refused before it listens.
    let o = lab.vmlab(&["serve", "--listen", "0.0.0.0:0"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--token-file"), "{}", stderr(&o));
    // A token file others can read is refused.
    let token = lab.root.path().join("token");
    std::fs::write(&token, "s3cret-token-of-this-test\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o644)).unwrap();
    let o = lab.vmlab(&["serve", "--token-file", token.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("chmod 600"), "{}", stderr(&o));
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
    let srv = serve(&lab, &["--token-file", token.to_str().unwrap()]);
    let url = format!("{}/newtlab/v1/labs", srv.base);
    assert_eq!(call("GET", &url, None, None).0, 401);
    assert_eq!(call("GET", &url, None, Some("wrong")).0, 401);
    let (code, v) = call("GET", &url, None, Some("s3cret-token-of-this-test"));
    assert_eq!((code, &v["data"]), (200, &json!([])));
    // The OpenAPI document lists what the server answers: every path and method in it is
    // routed (a made-up one is not).
    let (code, doc) = call(
        "GET",
        &format!("{}/v1/openapi.json", srv.base),
        None,
        Some("s3cret-token-of-this-test"),
    );
    assert_eq!(code, 200);
    let paths = doc["paths"].as_object().expect("paths");
    assert!(paths.len() >= 15, "{doc}");
    let routed = |method: &str, path: &str| {
        let url = format!("{}{}", srv.base, path.replace(['{', '}'], ""));
        if path.ends_with("/events") {
            // A stream's route: for a lab that is not there, its own 404 (not the fallback's).
            return match ureq::get(&url)
                .set("Authorization", "Bearer s3cret-token-of-this-test")
                .call()
            {
                Ok(resp) => resp.header("content-type") == Some("text/event-stream"),
                Err(ureq::Error::Status(404, r)) => r
                    .into_json::<Value>()
                    .is_ok_and(|v| v["error"].as_str().unwrap_or("").contains("not deployed")),
                Err(_) => false,
            };
        }
        let (code, body) = call(
            &method.to_uppercase(),
            &url,
            Some("{}"),
            Some("s3cret-token-of-this-test"),
        );
        code != 405 && body["error"] != "no such route"
    };
    for (path, methods) in paths {
        for method in methods.as_object().expect("methods").keys() {
            assert!(
                routed(method, path),
                "{method} {path} is in the document, not served"
            );
        }
    }
    assert!(
        !routed("get", "/v1/labs/x/nothing-here"),
        "the fallback is told apart"
    );
    assert!(
        paths.contains_key("/newtlab/v1/labs/{name}/deploy"),
        "{doc}"
    );
    // The document is valid OpenAPI 3.0 and each example body valid against its schema, by
    // openapi-spec-validator (.ci/run makes target/openapi-venv with it); request bodies are
    // typed (a route's body schema refuses unknown keys) and actions are paths of their own.
    let python =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/openapi-venv/bin/python");
    assert!(
        python.is_file(),
        "{} is missing: run .ci/run, which makes it (python3 -m venv, pip install \
         openapi-spec-validator)",
        python.display()
    );
    let file = lab.root.path().join("openapi.json");
    std::fs::write(&file, doc.to_string()).unwrap();
    let o = Command::new(&python)
        .arg(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/check_openapi.py"),
        )
        .arg(&file)
        .output()
        .expect("run the OpenAPI validator");
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("document valid; 6 examples valid"),
        "{}",
        stdout(&o)
    );
    let exec = &doc["components"]["schemas"]["ExecBody"];
    assert_eq!(exec["additionalProperties"], json!(false), "{exec}");
    assert!(
        paths.contains_key("/v1/labs/{name}/links/{end}/set"),
        "{doc}"
    );
    assert!(!paths.keys().any(|p| p.contains("{action}")), "{doc}");
    // A body past the cap is refused, not read.
    let big = format!("{{\"pad\": \"{}\"}}", "x".repeat(100_000));
    let (code, _) = call(
        "POST",
        &format!("{}/newtlab/v1/labs/x/deploy", srv.base),
        Some(&big),
        Some("s3cret-token-of-this-test"),
    );
    assert_eq!(code, 413);
}

/// A raw HTTP/1.1 request on its own connection; the connection, for reading the answer (or
/// not reading it).
fn raw(base: &str, request: &str) -> std::net::TcpStream {
    use std::io::Write;
    let addr = base.trim_start_matches("http://");
    let mut c = std::net::TcpStream::connect(addr).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(request.as_bytes()).expect("send");
    c
}

/// The status code of the answer on `c`.
fn status_of(c: std::net::TcpStream) -> u16 {
    status_on(&c)
}

/// The status code of the answer on `c`, the connection kept open (a stream stays counted).
fn status_on(c: &std::net::TcpStream) -> u16 {
    let mut line = String::new();
    BufReader::new(c).read_line(&mut line).expect("an answer");
    line.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {line:?}"))
}

/// A shell script run as user `nobody` (another local user), its output.
fn as_nobody(script: &str, args: &[&str]) -> Output {
    Command::new("runuser")
        .args(["-u", "nobody", "--", "bash", "-c", script, "nobody"])
        .args(args)
        .current_dir("/")
        .output()
        .expect("runuser (util-linux)")
}

/// The open descriptors of process `pid`.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// Resident memory of process `pid`, in kB.
fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Who may call the server and what a web page can make it do, with no VM: only holders of
/// the token (made 0600 in a 0700 home on first start) — not another local user — get in;
/// a rebound Host, a foreign Origin, a cross-site fetch and a body that is not JSON are
/// refused; an origin allowed by `--allow-origin` gets CORS answers; another user's
/// thousand half-sent requests leave the owner room and time out; streams are refused for
/// labs that are not there and past their cap, and replays of a huge journal do not grow
/// the server.
#[test]
fn only_the_token_gets_in_and_no_page_or_other_user_can_drive_or_starve_the_server() {
    use std::os::unix::fs::PermissionsExt;
    let lab = TestLab::new("apiguard");
    let networks = lab.root.path().join("networks");
    std::fs::create_dir_all(networks.join("web")).unwrap();
    std::fs::write(networks.join("web/topology.json"), "{}").unwrap();
    // A journal as an older vmlab left it: 50 MB, readable by all.
    let events = lab.home().join("events");
    std::fs::create_dir_all(&events).unwrap();
    let line = format!(
        "{{\"kind\":\"event\",\"detail\":\"{}\"}}\n",
        "d".repeat(1000)
    );
    std::fs::write(events.join("web.jsonl"), line.repeat(50_000)).unwrap();
    // Started as a login session often starts programs: 1024 open files at most.
    let srv = serve_limited(
        &lab,
        &[
            "--networks-base",
            networks.to_str().unwrap(),
            "--allow-origin",
            "http://localhost:3000",
        ],
        Some(1024),
    );
    let pid = srv.child.id();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&lab.home().join("serve.token")), 0o600);
    assert_eq!(mode(&lab.home()), 0o700);
    assert!(srv.token.len() >= 32, "a long random token");
    let base = srv.base.clone();
    let port = base.rsplit(':').next().unwrap().to_string();
    let bearer = format!("Authorization: Bearer {}\r\n", srv.token);
    let get = |path: &str, headers: &str| {
        status_of(raw(
            &base,
            &format!(
                "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{headers}Connection: close\r\n\r\n"
            ),
        ))
    };

    // Another local user, without the token: 401 on every route.
    let probe = r#"exec 3<>/dev/tcp/127.0.0.1/$1 || exit 9
printf 'POST /v1/labs/web/exec HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 26\r\nConnection: close\r\n\r\n{"command":"id","all":true}' >&3
head -n 1 <&3"#;
    let o = as_nobody(probe, &[&port]);
    assert!(
        stdout(&o).contains(" 401 "),
        "{} {}",
        stdout(&o),
        stderr(&o)
    );
    assert_eq!(get("/v1/labs", ""), 401);
    assert_eq!(get("/v1/labs", &bearer), 200);
    // A web page: a rebound name, another origin, a cross-site fetch, a form's text/plain.
    let rebound = status_of(raw(
        &base,
        &format!(
            "GET /v1/labs HTTP/1.1\r\nHost: rebind.attacker.example:{port}\r\n{bearer}Connection: close\r\n\r\n"
        ),
    ));
    assert_eq!(rebound, 421);
    assert_eq!(
        get(
            "/v1/labs",
            &format!("{bearer}Origin: http://attacker.example\r\n")
        ),
        403
    );
    assert_eq!(
        get(
            "/v1/labs",
            &format!("{bearer}Sec-Fetch-Site: cross-site\r\n")
        ),
        403
    );
    let form = |ctype: &str| {
        status_of(raw(
            &base,
            &format!(
                "POST /v1/labs/web/exec HTTP/1.1\r\nHost: 127.0.0.1\r\n{bearer}Content-Type: {ctype}\r\nContent-Length: 27\r\nConnection: close\r\n\r\n{{\"command\":\"id\",\"all\":true}}"
            ),
        ))
    };
    assert_eq!(form("text/plain"), 415);
    assert_eq!(form("application/x-www-form-urlencoded"), 415);
    assert_eq!(
        form("application/json; charset=utf-8"),
        404,
        "the lab is not deployed"
    );
    // The origin it was told to trust: CORS answers, the preflight included.
    let mut c = raw(
        &base,
        "OPTIONS /v1/labs HTTP/1.1\r\nHost: localhost\r\nOrigin: http://localhost:3000\r\nAccess-Control-Request-Method: GET\r\nConnection: close\r\n\r\n",
    );
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut c, &mut answer).ok();
    assert!(answer.starts_with("HTTP/1.1 204"), "{answer}");
    let answer = answer.to_ascii_lowercase();
    assert!(
        answer.contains("access-control-allow-origin: http://localhost:3000"),
        "{answer}"
    );
    assert!(answer.contains("authorization"), "{answer}");
    assert_eq!(
        get(
            "/v1/labs",
            &format!("{bearer}Origin: http://localhost:3000\r\n")
        ),
        200
    );

    // Streams: none for a made-up lab; five replays of the 50 MB journal nobody reads cost
    // the server little; past the cap of streams on one lab, 503.
    assert_eq!(get("/v1/labs/made-up/events", &bearer), 404);
    let rss0 = rss_kb(pid);
    let replays: Vec<_> = (0..5)
        .map(|_| {
            raw(
                &base,
                &format!("GET /v1/labs/web/events HTTP/1.1\r\nHost: 127.0.0.1\r\n{bearer}Last-Event-ID: 0\r\n\r\n"),
            )
        })
        .collect();
    std::thread::sleep(Duration::from_secs(3));
    let grew = rss_kb(pid).saturating_sub(rss0);
    assert!(grew < 60_000, "five replays grew the server by {grew} kB");
    let more: Vec<_> = (5..128)
        .map(|_| {
            raw(
                &base,
                &format!("GET /v1/labs/web/events HTTP/1.1\r\nHost: 127.0.0.1\r\n{bearer}\r\n"),
            )
        })
        .collect();
    // Each stream is counted before its answer starts, so once all 128 have answered the
    // next is past the cap (a fixed sleep here lost the race once on a loaded machine).
    for c in replays.iter().chain(&more) {
        assert_eq!(status_on(c), 200, "a stream within the cap");
    }
    assert_eq!(get("/v1/labs/web/events", &bearer), 503);
    drop((replays, more));

    // Another user's 1100 half-sent requests: the owner is still answered, and the
    // half-sent ones are closed once their headers are late.
    let flood = r#"trap '' PIPE
ulimit -n 4096 2>/dev/null || ulimit -n "$(ulimit -Hn)"
n=0
for ((i = 0; i < 1100; i++)); do
  exec {fd}<>/dev/tcp/127.0.0.1/$1 2>/dev/null || continue
  printf 'GET /v1/labs HTTP/1.1\r\nHost: 127.0.0.1\r\n' >&$fd 2>/dev/null
  n=$((n + 1))
done
echo "opened $n"
sleep 25"#;
    let port2 = port.clone();
    let attacker = std::thread::spawn(move || as_nobody(flood, &[&port2]));
    std::thread::sleep(Duration::from_secs(4));
    let (code, v) = call("GET", &format!("{base}/v1/labs"), None, Some(&srv.token));
    assert_eq!(
        (code, &v["data"]),
        (200, &json!([])),
        "the owner is answered"
    );
    assert!(open_fds(pid) < 200, "{} descriptors open", open_fds(pid));
    std::thread::sleep(Duration::from_secs(9));
    assert!(
        open_fds(pid) < 40,
        "{} descriptors still open",
        open_fds(pid)
    );
    let o = attacker.join().unwrap();
    assert!(
        stdout(&o).contains("opened"),
        "{} {}",
        stdout(&o),
        stderr(&o)
    );
}

/// The journal is private on a fresh machine (the home and `events/` 0700, journals 0600) and
/// one an older vmlab left readable is tightened when it is next written.
#[test]
fn the_journal_is_private_and_an_old_one_is_tightened() {
    use std::os::unix::fs::PermissionsExt;
    let lab = TestLab::new("jpriv");
    std::fs::remove_dir(lab.home()).unwrap();
    lab.write(
        "topology.json",
        r#"{"name": "jpriv", "devices": {"r1": {}}}"#,
    );
    lab.write(
        "platforms.json",
        r#"{"platforms": {"p": {"vm_image": "/nonexistent/disk.qcow2"}}}"#,
    );
    lab.write("profiles/r1.json", r#"{"platform": "p"}"#);
    let specs = lab.specs();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let journal = lab.home().join("events/jpriv.jsonl");
    // A deploy that fails at once still journals: on a fresh home, all private.
    let o = lab.vmlab(&["deploy", "-S", specs.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(journal.exists(), "{}", stderr(&o));
    assert_eq!(mode(&lab.home()), 0o700);
    assert_eq!(mode(&lab.home().join("events")), 0o700);
    assert_eq!(mode(&journal), 0o600);
    // Loosened as an older vmlab left them: tightened by the next operation.
    for (p, m) in [
        (lab.home(), 0o755),
        (lab.home().join("events"), 0o755),
        (journal.clone(), 0o644),
    ] {
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(m)).unwrap();
    }
    let o = lab.vmlab(&["deploy", "-S", specs.to_str().unwrap()]);
    assert!(!o.status.success());
    assert_eq!(mode(&lab.home()), 0o700);
    assert_eq!(mode(&lab.home().join("events")), 0o700);
    assert_eq!(mode(&journal), 0o600);
}

/// One shape for every answer and a 400 that names what is wrong, with no VM: `GET /` says
/// where things are; a method a route does not take and a body past the cap answer in the
/// envelope; a mistyped key is named with the one meant, on every route; a value of the wrong
/// kind is named by its field.
#[test]
fn every_answer_is_in_the_envelope_and_a_mistyped_key_is_named() {
    let lab = TestLab::new("apishape");
    let srv = serve(&lab, &[]);
    let url = |p: &str| format!("{}{p}", srv.base);
    let t = Some(srv.token.as_str());
    let (code, root) = call("GET", &url("/"), None, t);
    assert_eq!(code, 200, "{root}");
    assert_eq!(root["data"]["openapi"], "/v1/openapi.json", "{root}");
    let (code, v) = call("DELETE", &url("/v1/labs"), None, t);
    assert_eq!(code, 405);
    assert!(
        v["error"].as_str().is_some(),
        "an error in the envelope: {v}"
    );
    let big = format!("{{\"pad\": \"{}\"}}", "x".repeat(100_000));
    let (code, v) = call("POST", &url("/v1/labs/x/exec"), Some(&big), t);
    assert_eq!(code, 413);
    assert!(v["error"].as_str().unwrap_or("").contains("64 KiB"), "{v}");
    for (path, body, named) in [
        (
            "/newtlab/v1/labs/x/deploy",
            r#"{"forse": true}"#,
            "did you mean \"force\"",
        ),
        (
            "/v1/labs/x/deploy",
            r#"{"forse": true}"#,
            "did you mean \"force\"",
        ),
        (
            "/v1/labs/x/links/0/set",
            r#"{"dleay": "20ms"}"#,
            "did you mean \"delay\"",
        ),
        (
            "/v1/labs/x/exec",
            r#"{"comand": "id", "all": true}"#,
            "did you mean \"command\"",
        ),
        (
            "/v1/labs/x/validate",
            r#"{"onyl": ["a"]}"#,
            "did you mean \"only\"",
        ),
        (
            "/v1/labs/x/nodes/a/stop",
            r#"{"now": true}"#,
            "takes no body",
        ),
        (
            "/newtlab/v1/labs/x/destroy",
            r#"{"force": true}"#,
            "takes no body",
        ),
        (
            "/v1/labs/x/exec",
            r#"{"command": "id", "nodes": "leaf1"}"#,
            "nodes must be a list",
        ),
    ] {
        let (code, v) = call("POST", &url(path), Some(body), t);
        assert_eq!(code, 400, "{path} {body}: {v}");
        let e = v["error"].as_str().unwrap_or("");
        assert!(e.contains(named), "{path} {body}: {e}");
    }
    // One line per request on the server's stderr: method, path, status, time, caller.
    let mut srv = srv;
    let _ = srv.child.kill();
    let mut log = String::new();
    std::io::Read::read_to_string(&mut srv.child.stderr.take().expect("stderr"), &mut log).ok();
    let line = log
        .lines()
        .find(|l| l.contains("DELETE /v1/labs 405"))
        .unwrap_or_else(|| panic!("no line for the 405: {log}"));
    assert!(line.contains(" ms (token serve.token, uid "), "{line}");
}
