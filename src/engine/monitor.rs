//! A background watcher of one lab: every interval it reads the lab's status and each QEMU's
//! CPU and memory use, off the caller's thread, and sends one [`Observation`].
//!
//! The TUI draws these; it never touches `/proc` or state files itself.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::boottimes;
use super::process;
use super::status::{LabStatus, snapshot};

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
    /// When the observation was made.
    pub taken: Instant,
}

/// Starts watching `lab_dir`; observations arrive on the receiver until it is dropped.
pub fn spawn(lab_dir: PathBuf, every: Duration) -> mpsc::Receiver<Result<Observation, String>> {
    let (tx, rx) = mpsc::channel(2);
    tokio::spawn(async move {
        let mut last: HashMap<i32, (u64, Instant)> = HashMap::new();
        loop {
            let dir = lab_dir.clone();
            let prev = last.clone();
            let r = tokio::task::spawn_blocking(move || observe(&dir, &prev)).await;
            let msg = match r {
                Ok(Ok((obs, ticks))) => {
                    last = ticks;
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

fn observe(dir: &std::path::Path, prev: &Ticks) -> Result<(Observation, Ticks), String> {
    let status = snapshot(dir).map_err(|e| e.to_string())?;
    let now = Instant::now();
    let hz = process::clock_ticks_per_sec().unwrap_or(100) as f64;
    let mut usage = HashMap::new();
    let mut ticks = HashMap::new();
    let learned = boottimes::all();
    let mut expected_boot = HashMap::new();
    let timeouts = super::state::LabState::load(dir)
        .map(|s| {
            s.nodes
                .iter()
                .map(|(n, r)| (n.clone(), r.boot_timeout_secs))
                .collect::<HashMap<_, _>>()
        })
        .unwrap_or_default();
    for n in &status.nodes {
        let learned = learned
            .get(&boottimes::table_key(&n.platform, status.accel))
            .filter(|l| l.samples > 0)
            .map(|l| Duration::from_secs_f64(l.mean_secs));
        let fallback = Duration::from_secs(timeouts.get(&n.name).copied().unwrap_or(180).max(1));
        expected_boot.insert(n.name.clone(), learned.unwrap_or(fallback));
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
    Ok((
        Observation {
            status,
            usage,
            expected_boot,
            taken: now,
        },
        ticks,
    ))
}
