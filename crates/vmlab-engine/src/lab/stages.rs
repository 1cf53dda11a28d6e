//! Staged boot, decided purely: which nodes of a deploy may start now, what the others wait
//! for (nodes that must be ready first, their boot delay, or a free boot slot), which can never
//! start (a node they wait for failed), and when to look again. Time is an offset from the
//! start of the deploy, passed in, so every rule is tested exactly.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// What a node waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wait {
    /// These nodes are not ready yet.
    Nodes(Vec<String>),
    /// Its boot delay: this much is left.
    Delay(Duration),
    /// Every boot slot is taken.
    Slot,
}

impl Wait {
    pub fn describe(&self) -> String {
        match self {
            Wait::Nodes(n) => format!("waiting for {}", n.join(", ")),
            Wait::Delay(d) => format!("boot delay, {:.0} s left", d.as_secs_f64().ceil()),
            Wait::Slot => "waiting for a free boot slot".into(),
        }
    }
}

/// One node as staging sees it.
#[derive(Debug, Clone)]
pub struct StageNode {
    pub name: String,
    pub wait_for: Vec<String>,
    pub delay: Duration,
}

/// What to do now.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decision {
    /// Start these (indexes into the nodes), in order.
    pub start: Vec<usize>,
    /// These wait, and for what.
    pub waiting: Vec<(usize, Wait)>,
    /// These can never start: a node they wait for failed (named).
    pub doomed: Vec<(usize, String)>,
    /// Look again at this time at the latest (a boot delay ends).
    pub wake_at: Option<Duration>,
}

/// The staging of one deploy.
#[derive(Debug, Clone)]
pub struct Stages {
    nodes: Vec<StageNode>,
    max: usize,
    /// When each node's waits were all met.
    eligible_at: HashMap<usize, Duration>,
    started: HashSet<usize>,
    ready: HashSet<String>,
    failed: HashSet<String>,
}

impl Stages {
    /// `max`: at most this many nodes booting at once (at least 1).
    pub fn new(nodes: Vec<StageNode>, max: usize) -> Self {
        Stages {
            nodes,
            max: max.max(1),
            eligible_at: HashMap::new(),
            started: HashSet::new(),
            ready: HashSet::new(),
            failed: HashSet::new(),
        }
    }

    /// Every node has started, failed or been given up.
    pub fn all_started(&self) -> bool {
        (0..self.nodes.len())
            .all(|i| self.started.contains(&i) || self.failed.contains(&self.nodes[i].name))
    }

    pub fn ready(&mut self, name: &str) {
        self.ready.insert(name.to_string());
    }

    pub fn failed(&mut self, name: &str) {
        self.failed.insert(name.to_string());
    }

    /// Decides at `now`, with `booting` nodes launched and not yet ready or failed. The nodes
    /// it says to start count as started.
    pub fn decide(&mut self, now: Duration, booting: usize) -> Decision {
        let mut d = Decision::default();
        let mut slots = self.max.saturating_sub(booting);
        for i in 0..self.nodes.len() {
            if self.started.contains(&i) || self.failed.contains(&self.nodes[i].name) {
                continue;
            }
            let n = &self.nodes[i];
            if let Some(f) = n.wait_for.iter().find(|w| self.failed.contains(*w)) {
                d.doomed.push((i, f.clone()));
                continue;
            }
            let missing: Vec<String> = n
                .wait_for
                .iter()
                .filter(|w| !self.ready.contains(*w))
                .cloned()
                .collect();
            if !missing.is_empty() {
                d.waiting.push((i, Wait::Nodes(missing)));
                continue;
            }
            let since = *self.eligible_at.entry(i).or_insert(now);
            let due = since + n.delay;
            if due > now {
                d.waiting.push((i, Wait::Delay(due - now)));
                d.wake_at = Some(d.wake_at.map_or(due, |w| w.min(due)));
                continue;
            }
            if slots == 0 {
                d.waiting.push((i, Wait::Slot));
                continue;
            }
            slots -= 1;
            self.started.insert(i);
            d.start.push(i);
        }
        for (i, _) in &d.doomed {
            let name = self.nodes[*i].name.clone();
            self.failed.insert(name);
        }
        d
    }
}

/// How many nodes may boot at once by default: twice the host's cores (a boot waits on timers
/// and disk as well as on the CPU: measured on 2 cores under TCG, the 4 tiny guests of the demo
/// lab all at once were ready in ~10 s, 2 at a time in ~15 s), fewer if the free memory holds
/// fewer of the lab's largest node.
pub fn default_parallel(
    cores: usize,
    mem_available_mb: Option<u64>,
    largest_node_mb: u64,
) -> usize {
    let by_mem = mem_available_mb
        .map(|m| (m / largest_node_mb.max(1)) as usize)
        .unwrap_or(usize::MAX);
    (2 * cores).min(by_mem).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, wait: &[&str], delay: u64) -> StageNode {
        StageNode {
            name: name.into(),
            wait_for: wait.iter().map(|s| s.to_string()).collect(),
            delay: Duration::from_secs(delay),
        }
    }

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn spines_before_leaves() {
        let mut s = Stages::new(
            vec![
                node("spine1", &[], 0),
                node("leaf1", &["spine1"], 0),
                node("spine2", &[], 0),
            ],
            8,
        );
        let d = s.decide(S(0), 0);
        assert_eq!(d.start, [0, 2]);
        assert_eq!(d.waiting, [(1, Wait::Nodes(vec!["spine1".into()]))]);
        assert!(s.decide(S(1), 2).start.is_empty());
        s.ready("spine1");
        assert_eq!(s.decide(S(5), 1).start, [1]);
        assert!(s.all_started());
    }

    #[test]
    fn one_boot_at_a_time_and_delays() {
        let mut s = Stages::new(vec![node("a", &[], 0), node("b", &[], 3)], 1);
        let d = s.decide(S(0), 0);
        assert_eq!(d.start, [0]);
        assert_eq!(d.waiting, [(1, Wait::Delay(S(3)))]);
        assert_eq!(d.wake_at, Some(S(3)));
        // The delay is over, but a's boot holds the only slot.
        assert_eq!(s.decide(S(4), 1).waiting, [(1, Wait::Slot)]);
        s.ready("a");
        assert_eq!(s.decide(S(6), 0).start, [1]);
    }

    #[test]
    fn a_failed_node_dooms_what_waits_for_it() {
        let mut s = Stages::new(
            vec![
                node("a", &[], 0),
                node("b", &["a"], 0),
                node("c", &["b"], 0),
            ],
            4,
        );
        s.decide(S(0), 0);
        s.failed("a");
        let d = s.decide(S(1), 0);
        assert_eq!(d.doomed, [(1, "a".to_string())]);
        let d = s.decide(S(1), 0);
        assert_eq!(d.doomed, [(2, "b".to_string())]);
        assert!(s.all_started());
    }

    #[test]
    fn default_parallel_boots_follow_cores_and_memory() {
        assert_eq!(default_parallel(8, Some(16_000), 4096), 3);
        assert_eq!(default_parallel(2, Some(20_000), 256), 4);
        assert_eq!(default_parallel(4, Some(1_000), 4096), 1);
        assert_eq!(default_parallel(4, None, 4096), 8);
    }
}
