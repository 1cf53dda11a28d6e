//! A background watcher of one lab: every interval it reads the lab's status and each QEMU's
//! CPU and memory use, off the caller's thread, and sends one [`Observation`].
//!
//! The TUI draws these; it never touches `/proc` or state files itself.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::LabDir;
use super::export::{self, Drawing};
use super::state::LabState;
use super::status::{self, LabStatus};
use crate::events::{Event, EventSink};
use crate::node::boottimes::BootTimes;
use crate::node::process;

/// Resource use of one QEMU.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    /// Percent of one core over the last interval.
    pub cpu_percent: f64,
    pub rss_bytes: u64,
}

/// One look at the lab.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub status: LabStatus,
    /// By node name.
    pub usage: HashMap<String, Usage>,
    /// Expected boot time by node name (learned, else the node's boot timeout).
    pub expected_boot: HashMap<String, Duration>,
    /// The lab's snapshots: (name, when taken), oldest first.
    pub snapshots: Vec<(String, String)>,
    /// Each node's linked interfaces: (spec name, guest name), in guest order.
    pub interfaces: HashMap<String, Vec<(String, String)>>,
    /// The topology drawn for the terminal, each node's status under its name (drawn again
    /// only when a status changes).
    pub topology: Arc<Drawing>,
    /// When the observation was made.
    pub taken: Instant,
}

/// Starts watching `lab_dir`; observations arrive on the receiver until it is dropped, and
/// every change of a node's status or a link's state is also sent to `events`.
pub fn spawn(
    lab: LabDir,
    every: Duration,
    events: EventSink,
) -> mpsc::Receiver<Result<Observation, String>> {
    let (tx, rx) = mpsc::channel(2);
    tokio::spawn(async move {
        let mut last: HashMap<i32, (u64, Instant)> = HashMap::new();
        let mut previous: Option<LabStatus> = None;
        let mut drawn: DrawCache = None;
        loop {
            let dir = lab.clone();
            let prev = last.clone();
            let cache = drawn.take();
            let r = tokio::task::spawn_blocking(move || observe(&dir, &prev, cache)).await;
            let msg = match r {
                Ok(Ok((obs, ticks, cache))) => {
                    last = ticks;
                    drawn = cache;
                    if let Some(prev) = &previous {
                        for e in changes(prev, &obs.status) {
                            events.send(e);
                        }
                    }
                    previous = Some(obs.status.clone());
                    Ok(obs)
                }
                Ok(Err(e)) => Err(e),
                Err(e) => Err(e.to_string()),
            };
            if tx.send(msg).await.is_err() {
                return;
            }
            tokio::time::sleep(every).await;
        }
    });
    rx
}

type Ticks = HashMap<i32, (u64, Instant)>;

/// Status and link-state changes between two looks at a lab.
pub fn changes(before: &LabStatus, now: &LabStatus) -> Vec<Event> {
    let mut out = Vec::new();
    for n in &now.nodes {
        let was = before
            .nodes
            .iter()
            .find(|b| b.name == n.name)
            .map(|b| b.status);
        if was.is_some_and(|w| w != n.status) {
            out.push(Event::NodeStatus {
                node: n.name.clone(),
                status: n.status,
            });
        }
    }
    for l in &now.links {
        let was = before
            .links
            .iter()
            .find(|b| b.index == l.index)
            .map(|b| (b.state, &b.waiting_for));
        if was.is_some_and(|(s, w)| s != l.state || *w != l.waiting_for) {
            out.push(Event::LinkState {
                a: l.a.clone(),
                z: l.z.clone(),
                state: l.state,
                waiting_for: l.waiting_for.clone(),
            });
        }
    }
    if let (Some(b), Some(n)) = (&before.relay, &now.relay)
        && b.status != n.status
    {
        out.push(Event::Relay {
            running: n.status == "running",
        });
    }
    out
}

/// The last drawing, the node statuses it shows and the links it was drawn with (a redeploy
/// may change them).
type DrawCache = Option<(DrawKey, Arc<Drawing>)>;
type DrawKey = (Vec<(String, &'static str)>, Vec<(String, String)>);

/// The topology drawing for `status`: the cached one while every node's status and the links
/// are as they were when it was drawn, else drawn again. Returns it and the new cache.
fn topology(state: &LabState, status: &LabStatus, cache: DrawCache) -> (Arc<Drawing>, DrawCache) {
    let status_of: Vec<(String, &'static str)> = status
        .nodes
        .iter()
        .map(|n| (n.name.clone(), n.status.label()))
        .collect();
    let links = state
        .links
        .iter()
        .map(|l| (l.a.clone(), l.z.clone()))
        .collect();
    let key: DrawKey = (status_of, links);
    let drawing = match cache {
        Some((shown, d)) if shown == key => d,
        _ => Arc::new(export::ascii(state, &|n| {
            key.0
                .iter()
                .find(|(name, _)| name == n)
                .map(|(_, s)| s.to_string())
        })),
    };
    (drawing.clone(), Some((key, drawing)))
}

fn observe(
    lab: &LabDir,
    prev: &Ticks,
    cache: DrawCache,
) -> Result<(Observation, Ticks, DrawCache), String> {
    // One read of state.json serves both the status and the boot timeouts.
    let state = LabState::load(lab).map_err(|e| e.to_string())?;
    let view = status::LinkView::read(lab, &state);
    let status = status::observe(lab, &state, &view);
    let now = Instant::now();
    let hz = process::clock_ticks_per_sec().unwrap_or(100) as f64;
    let mut usage = HashMap::new();
    let mut ticks = HashMap::new();
    let learned = BootTimes::load();
    let mut expected_boot = HashMap::new();
    for n in &status.nodes {
        let timeout = state
            .nodes
            .get(&n.name)
            .map_or(180, |r| r.boot_timeout_secs);
        let expected = learned
            .expected(&n.platform, status.accel)
            .unwrap_or(Duration::from_secs(timeout.max(1)));
        expected_boot.insert(n.name.clone(), expected);
        let Some(pid) = n.pid else { continue };
        let Some((cpu, rss)) = process::usage(pid) else {
            continue;
        };
        let pct = match prev.get(&pid) {
            Some((t0, at)) if cpu >= *t0 => {
                let secs = now.duration_since(*at).as_secs_f64().max(0.001);
                (cpu - t0) as f64 / hz / secs * 100.0
            }
            _ => 0.0,
        };
        usage.insert(
            n.name.clone(),
            Usage {
                cpu_percent: pct,
                rss_bytes: rss,
            },
        );
        ticks.insert(pid, (cpu, now));
    }
    let (topology, drawn) = topology(&state, &status, cache);
    Ok((
        Observation {
            status,
            usage,
            expected_boot,
            snapshots: super::snapshot::list(lab)
                .map(|l| l.into_iter().map(|s| (s.name, s.taken)).collect())
                .unwrap_or_default(),
            interfaces: export::interface_map(&state),
            topology,
            taken: now,
        },
        ticks,
        drawn,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::status::{LinkRow, NodeRow};
    use crate::link::LinkState;
    use crate::node::NodeStatus;

    fn status(node: NodeStatus, link: LinkState) -> LabStatus {
        LabStatus {
            name: crate::spec::LabName::parse("l").unwrap(),
            lab_dir: std::path::PathBuf::from("/l"),
            spec_dir: std::path::PathBuf::from("/s"),
            accel: crate::plan::Accel::Tcg,
            created: String::new(),
            ports_moved: None,
            nodes: vec![NodeRow {
                name: "r1".into(),
                platform: "p".into(),
                status: node,
                stage: None,
                patch: None,
                pid: None,
                ssh_port: 1,
                console_port: Some(2),
                host: "localhost".into(),
                uptime_secs: None,
                started: None,
                ready_at: None,
                waiting: None,
                boot_secs: None,
                ssh_user: None,
                device_type: None,
                host_ip: None,
                vm: None,
                namespace: None,
            }],
            links: vec![LinkRow {
                index: 0,
                a: "r1:Ethernet0".into(),
                z: "r2:Ethernet0".into(),
                a_guest: "eth1".into(),
                z_guest: "eth1".into(),
                transport: crate::plan::LinkTransport::Relay,
                state: link,
                waiting_for: if link == LinkState::Waiting {
                    vec!["r1".into()]
                } else {
                    Vec::new()
                },
                admin_up: link != LinkState::Down,
                impair: Default::default(),
                counters: None,
                peer: None,
            }],
            relay: None,
            repair: Vec::new(),
        }
    }

    /// Two nodes, r1 and r2, one link between them.
    fn tiny_plan() -> crate::plan::LabPlan {
        use crate::spec::{SpecSources, SpecText};
        let dir = std::path::PathBuf::from("/specs/l");
        let text = |rel: &str, t: &str| SpecText {
            path: dir.join(rel),
            text: t.to_string(),
        };
        let src = SpecSources {
            dir: dir.clone(),
            dir_name: Some("l".into()),
            topology: text(
                "topology.json",
                r#"{"name": "l", "devices": {"r1": {}, "r2": {}},
                    "links": [{"a": "r1:Ethernet0", "z": "r2:Ethernet0"}]}"#,
            ),
            platforms: Some(text(
                "platforms.json",
                r#"{"platforms": {"p": {"vm_image": "/img/p.qcow2"}}}"#,
            )),
            profiles: ["r1", "r2"]
                .map(|n| {
                    (
                        n.to_string(),
                        text(&format!("profiles/{n}.json"), r#"{"platform": "p"}"#),
                    )
                })
                .to_vec(),
            newtron: None,
        };
        let lab = crate::spec::resolve(&src, None).expect("spec");
        crate::plan::build(
            &lab,
            &crate::plan::PlanOptions {
                lab_dir: "/labs/l".into(),
                accel: crate::plan::Accel::Tcg,
                qemu: "qemu-system-x86_64".into(),
                local_host: None,
            },
        )
        .expect("plan")
    }

    #[test]
    fn the_topology_is_drawn_again_only_when_a_status_or_the_links_change() {
        let mut state = LabState::from_plan(&tiny_plan());
        let st = |s: NodeStatus| {
            let mut v = status(s, LinkState::Up);
            v.nodes[0].name = "r1".into();
            v
        };
        let (first, cache) = topology(&state, &st(NodeStatus::Booting), None);
        let (same, cache) = topology(&state, &st(NodeStatus::Booting), cache);
        assert!(
            Arc::ptr_eq(&first, &same),
            "nothing changed: the same drawing"
        );
        let (running, cache) = topology(&state, &st(NodeStatus::Running), cache);
        assert!(!Arc::ptr_eq(&same, &running));
        assert!(running.text().contains("running"), "{}", running.text());
        state.links.clear();
        let (unlinked, _) = topology(&state, &st(NodeStatus::Running), cache);
        assert!(!Arc::ptr_eq(&running, &unlinked), "the links changed");
    }

    #[test]
    fn changes_name_what_changed_only() {
        let a = status(NodeStatus::Running, LinkState::Up);
        assert!(changes(&a, &a).is_empty());
        let b = status(NodeStatus::Dead, LinkState::Waiting);
        let lines: Vec<String> = changes(&a, &b).iter().map(Event::describe).collect();
        assert_eq!(
            lines,
            [
                "r1 is dead",
                "link r1:Ethernet0 -- r2:Ethernet0 is waiting for r1"
            ]
        );
    }
}
