//! `vmlab serve` under load, against a running lab (started by `benches/serve_vm.sh`, which
//! gives the server's URL, its token, its pid and the lab's name): `GET status` latency
//! (median, p99) and requests per second over one keep-alive connection; the same while the
//! server deploys a second lab and runs 10 execs at once on this one; the time from an engine
//! event (a link set down and up, stamped by the journal when it happens) to a subscriber
//! reading it; and the server's CPU with 100 event streams open and nothing happening.

// Tests and benchmarks drive the vmlab binary and look at what it left behind: the front
// ends' rules in clippy.toml (no processes, no files) are not theirs.
#![allow(clippy::disallowed_methods)]

use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

fn env(k: &str) -> String {
    std::env::var(k).unwrap_or_else(|_| panic!("{k} is not set: run benches/serve_vm.sh"))
}

/// utime + stime of `pid`, in clock ticks.
fn ticks(pid: &str) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("the server runs");
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    f[11].parse::<u64>().unwrap_or(0) + f[12].parse::<u64>().unwrap_or(0)
}

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return;
    }
    let (base, pid, lab) = (env("SERVE_URL"), env("SERVE_PID"), env("SERVE_LAB"));
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    assert_eq!(comm.trim(), "vmlab", "pid {pid} is not the server");
    let bearer = format!("Bearer {}", env("SERVE_TOKEN"));
    // ureq's middleware returns its own (large) error type.
    #[allow(clippy::result_large_err)]
    let agent = ureq::AgentBuilder::new()
        .middleware({
            let bearer = bearer.clone();
            move |req: ureq::Request, next: ureq::MiddlewareNext| {
                next.handle(req.set("Authorization", &bearer))
            }
        })
        .build();
    let status = format!("{base}/newtlab/v1/labs/{lab}/status");
    // Warm up, then time each request.
    for _ in 0..50 {
        agent
            .get(&status)
            .call()
            .expect("status")
            .into_string()
            .expect("body");
    }
    let n = 2000;
    let mut lat = Vec::with_capacity(n);
    let t0 = Instant::now();
    for _ in 0..n {
        let t = Instant::now();
        let body = agent
            .get(&status)
            .call()
            .expect("status")
            .into_string()
            .expect("body");
        lat.push(t.elapsed());
        assert!(body.contains("\"ssh_port\""), "{body}");
    }
    let wall = t0.elapsed();
    lat.sort();
    println!(
        "GET status ({n} requests, one connection): median {:.2} ms, p99 {:.2} ms, {:.0} requests/s",
        lat[n / 2].as_secs_f64() * 1e3,
        lat[n * 99 / 100].as_secs_f64() * 1e3,
        n as f64 / wall.as_secs_f64()
    );

    // The same while the server works: a second lab deploying and 10 execs at once here.
    if let Ok(other) = std::env::var("SERVE_OTHER_LAB") {
        let deploy = {
            let (agent, url) = (
                agent.clone(),
                format!("{base}/newtlab/v1/labs/{other}/deploy"),
            );
            std::thread::spawn(move || {
                agent
                    .post(&url)
                    .call()
                    .map(|r| r.status())
                    .map_err(|e| e.to_string())
            })
        };
        let execs: Vec<_> = (0..10)
            .map(|_| {
                let (agent, url) = (agent.clone(), format!("{base}/v1/labs/{lab}/exec"));
                std::thread::spawn(move || {
                    agent
                        .post(&url)
                        .set("Content-Type", "application/json")
                        .send_string(r#"{"command": "sleep 2; uname -r", "all": true}"#)
                        .map(|r| r.status())
                        .map_err(|e| e.to_string())
                })
            })
            .collect();
        let mut lat = Vec::new();
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(8) {
            let t = Instant::now();
            agent.get(&status).call().expect("status");
            lat.push(t.elapsed());
        }
        for e in execs {
            assert_eq!(e.join().expect("exec").expect("exec answered"), 200);
        }
        assert_eq!(
            deploy.join().expect("deploy").expect("deploy answered"),
            202
        );
        lat.sort();
        let n = lat.len();
        println!(
            "GET status while a deploy and 10 execs run ({n} requests over 8 s): median {:.2} ms, \
             p99 {:.2} ms, max {:.2} ms",
            lat[n / 2].as_secs_f64() * 1e3,
            lat[n * 99 / 100].as_secs_f64() * 1e3,
            lat[n - 1].as_secs_f64() * 1e3
        );
    }

    // Event to subscriber: the journal stamps each line when the engine emits it.
    let resp = agent
        .get(&format!("{base}/v1/labs/{lab}/events"))
        .call()
        .expect("stream");
    let (tx, rx) = std::sync::mpsc::channel::<(String, Instant)>();
    std::thread::spawn(move || {
        for line in BufReader::new(resp.into_reader()).lines() {
            let Ok(line) = line else { break };
            if let Some(d) = line.strip_prefix("data: ") {
                let _ = tx.send((d.to_string(), Instant::now()));
            }
        }
    });
    let mut delays = Vec::new();
    for round in 0..20 {
        let action = if round % 2 == 0 { "down" } else { "up" };
        agent
            .post(&format!("{base}/v1/labs/{lab}/links/0/{action}"))
            .call()
            .expect("link change");
        // The change's own events: from the journal's stamp to now.
        while let Ok((d, at)) = rx.recv_timeout(Duration::from_secs(5)) {
            let v: serde_json::Value = serde_json::from_str(&d).expect("json");
            if v["kind"] == "end" {
                let stamped =
                    humantime::parse_rfc3339(v["at"].as_str().unwrap_or("")).expect("a stamp");
                let since = std::time::SystemTime::now()
                    .duration_since(stamped)
                    .unwrap_or_default();
                delays.push(since.saturating_sub(at.elapsed()));
                break;
            }
        }
    }
    delays.sort();
    println!(
        "journal line to subscriber ({} link changes): median {:.0} ms, max {:.0} ms",
        delays.len(),
        delays[delays.len() / 2].as_secs_f64() * 1e3,
        delays[delays.len() - 1].as_secs_f64() * 1e3
    );

    // 100 idle streams: the server's CPU over 30 s.
    let mut streams = Vec::new();
    for _ in 0..100 {
        streams.push(
            agent
                .get(&format!("{base}/v1/labs/{lab}/events"))
                .call()
                .expect("stream"),
        );
    }
    std::thread::sleep(Duration::from_secs(2));
    let hz = 100.0;
    let (t0, w0) = (ticks(&pid), Instant::now());
    std::thread::sleep(Duration::from_secs(30));
    let (t1, w1) = (ticks(&pid), w0.elapsed());
    println!(
        "idle with 100 event streams open: {:.2}% of a core over {:.0} s",
        (t1 - t0) as f64 / hz / w1.as_secs_f64() * 100.0,
        w1.as_secs_f64()
    );
    drop(streams);
}
