//! `vmlab serve` as its own process, driven by a real HTTP client: newtron's lab-server routes
//! deploy a real lab while a client reads the event stream to `complete`, the `ssh_port` and
//! key path status reports log in, a node stops and starts, the bridge stats grow with
//! traffic, vmlab's own routes change a link, run exec and the lab's checks, a deploy started
//! from the CLI shows on the stream, and 400, 404, 409 and 401 are each provoked.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

/// A running `vmlab serve`, killed on drop.
struct Serve {
    child: Child,
    base: String,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `vmlab serve` on a free loopback port with `args`; its base URL.
fn serve(lab: &TestLab, args: &[&str]) -> Serve {
    let mut cmd = lab.command(&["serve", "--listen", "127.0.0.1:0"]);
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
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
    Serve { child, base }
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
    fn follow(url: &str) -> Self {
        Self::follow_after(url, None)
    }

    /// Follows from after the event whose id is `last` (`Last-Event-ID`).
    fn follow_after(url: &str, last: Option<&str>) -> Self {
        let events = Events::default();
        let mut req = ureq::get(url);
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
        call(m, &format!("{}{path}", srv.base), body, None)
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
    let stream = Events::follow(&format!("{}/newtlab/v1/labs/apilab/events", srv.base));
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
    let stream = Events::follow(&format!("{}/newtlab/v1/labs/apilab/events", srv.base));
    let own = Events::follow(&format!("{}/v1/labs/apilab/events", srv.base));
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
    let replay = Events::follow_after(&format!("{}/v1/labs/apilab/events", srv.base), Some("0"));
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
        drop(Events::follow(&url("/newtlab/v1/labs/broken/events")));
        let stream = Events::follow(&url("/newtlab/v1/labs/broken/events"));
        let (code, v) = call("POST", &url("/newtlab/v1/labs/broken/deploy"), None, None);
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
    assert_eq!(call("GET", &url("/newtlab/v1/health"), None, None).0, 200);
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
    std::fs::write(&token, "s3cret-token\n").unwrap();
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
    let (code, v) = call("GET", &url, None, Some("s3cret-token"));
    assert_eq!((code, &v["data"]), (200, &json!([])));
    // The OpenAPI document lists what the server answers: every path and method in it is
    // routed (a made-up one is not).
    let (code, doc) = call(
        "GET",
        &format!("{}/v1/openapi.json", srv.base),
        None,
        Some("s3cret-token"),
    );
    assert_eq!(code, 200);
    let paths = doc["paths"].as_object().expect("paths");
    assert!(paths.len() >= 15, "{doc}");
    let routed = |method: &str, path: &str| {
        let url = format!("{}{}", srv.base, path.replace(['{', '}'], ""));
        if path.ends_with("/events") {
            // A stream: its headers say it is one; its body never ends.
            let resp = ureq::get(&url)
                .set("Authorization", "Bearer s3cret-token")
                .call()
                .expect("a stream");
            return resp.header("content-type") == Some("text/event-stream");
        }
        let (code, body) = call(
            &method.to_uppercase(),
            &url,
            Some("{}"),
            Some("s3cret-token"),
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
    // A body past the cap is refused, not read.
    let big = format!("{{\"pad\": \"{}\"}}", "x".repeat(100_000));
    let (code, _) = call(
        "POST",
        &format!("{}/newtlab/v1/labs/x/deploy", srv.base),
        Some(&big),
        Some("s3cret-token"),
    );
    assert_eq!(code, 413);
}
