//! Typed events the engine publishes while it works: the one stream that both the headless
//! deploy progress and the TUI consume (and the journal keeps). A check's result is defined
//! here, as the event that carries it.

use std::time::Duration;

use tokio::sync::mpsc;

use super::link::LinkState;
pub use super::node::{BootStage, NodeStatus};
use serde::Serialize;

/// `1 node`, `2 nodes`: a count with its noun, singular or plural (`VM`, `link`, `host`).
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Something that happened.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A node reached a boot stage, `elapsed` after its launch began.
    NodeStage {
        node: String,
        stage: BootStage,
        elapsed: Duration,
    },
    /// A node's boot patch `index` of `total` (1-based) begins.
    NodePatch {
        node: String,
        index: usize,
        total: usize,
        description: String,
        elapsed: Duration,
    },
    /// A node waits before it starts (staged boot).
    NodeWaiting { node: String, reason: String },
    /// A node failed to launch or boot.
    NodeFailed {
        node: String,
        reason: String,
        elapsed: Duration,
    },
    /// A lab-wide step (creating disks, launching, patching profiles).
    Step(String),
    /// Something the user should know but that does not stop the work.
    Warning(String),
    /// The work waits (for another command to let go of the lab).
    Waiting(String),
    /// A long step's progress, from 0 to 1.
    Progress { what: String, fraction: f64 },
    /// A node's observed status changed (for example: its QEMU died, so it is now dead).
    NodeStatus { node: String, status: NodeStatus },
    /// A link's observed state changed.
    LinkState {
        a: String,
        z: String,
        state: LinkState,
        /// With `waiting`: what is missing.
        waiting_for: Vec<String>,
    },
    /// The link relay started or stopped running.
    Relay { running: bool },
    /// A line of what one host of a multi-host lab does (`--all-hosts`).
    Host { host: String, line: String },
    /// One check of `vmlab validate` ended on one node or link.
    Check(CheckResult),
}

impl Event {
    /// One line for a log.
    pub fn describe(&self) -> String {
        match self {
            Event::NodeStage {
                node,
                stage,
                elapsed,
            } => {
                format!("{node}: {} ({:.1} s)", stage.label(), elapsed.as_secs_f64())
            }
            Event::NodePatch {
                node,
                index,
                total,
                description,
                ..
            } => format!("{node}: boot patch {index}/{total}: {description}"),
            Event::NodeFailed { node, reason, .. } => format!("{node}: FAILED: {reason}"),
            Event::NodeWaiting { node, reason } => format!("{node}: {reason}"),
            Event::Step(s) => s.clone(),
            Event::Warning(w) => format!("warning: {w}"),
            Event::Waiting(w) => w.clone(),
            Event::Progress { what, fraction } => format!("{what}: {:.0}%", fraction * 100.0),
            Event::NodeStatus { node, status } => format!("{node} is {}", status.label()),
            Event::LinkState {
                a,
                z,
                state,
                waiting_for,
            } => {
                if waiting_for.is_empty() {
                    format!("link {a} -- {z} is {}", state.label())
                } else {
                    format!(
                        "link {a} -- {z} is {} for {}",
                        state.label(),
                        waiting_for.join(", ")
                    )
                }
            }
            Event::Host { host, line } => format!("{host} | {line}"),
            Event::Check(r) => {
                let line = format!("{}: {} on {}", r.check, r.verdict.word(), r.on);
                if r.verdict == CheckVerdict::Pass {
                    line
                } else {
                    format!("warning: {line}: {}", r.detail)
                }
            }
            Event::Relay { running: true } => "the link relay runs".to_string(),
            Event::Relay { running: false } => {
                "the link relay is not running: links carry no traffic (vmlab repair)".to_string()
            }
        }
    }
}

impl Event {
    /// The event as one JSON object for scripts and CI (`vmlab deploy --progress json`):
    /// always an `event` field naming the kind, then the kind's own fields. Times are seconds.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        match self {
            Event::NodeStage {
                node,
                stage,
                elapsed,
            } => json!({"event": "node_stage", "node": node, "stage": stage,
                        "elapsed_s": secs(*elapsed)}),
            Event::NodePatch {
                node,
                index,
                total,
                description,
                elapsed,
            } => json!({"event": "node_patch", "node": node, "index": index, "total": total,
                        "description": description, "elapsed_s": secs(*elapsed)}),
            Event::NodeWaiting { node, reason } => {
                json!({"event": "node_waiting", "node": node, "reason": reason})
            }
            Event::NodeFailed {
                node,
                reason,
                elapsed,
            } => json!({"event": "node_failed", "node": node, "reason": reason,
                        "elapsed_s": secs(*elapsed)}),
            Event::Step(s) => json!({"event": "step", "message": s}),
            Event::Warning(w) => json!({"event": "warning", "message": w}),
            Event::Waiting(w) => json!({"event": "waiting", "message": w}),
            Event::Progress { what, fraction } => {
                json!({"event": "progress", "what": what, "fraction": fraction})
            }
            Event::NodeStatus { node, status } => {
                json!({"event": "node_status", "node": node, "status": status})
            }
            Event::LinkState {
                a,
                z,
                state,
                waiting_for,
            } => json!({"event": "link_state", "a": a, "z": z, "state": state,
                        "waiting_for": waiting_for}),
            Event::Relay { running } => json!({"event": "relay", "running": running}),
            Event::Host { host, line } => json!({"event": "host", "host": host, "line": line}),
            Event::Check(r) => json!({"event": "check", "check": r.check, "on": r.on,
                        "verdict": r.verdict, "detail": r.detail, "attempts": r.attempts,
                        "seconds": r.seconds}),
        }
    }

    /// Worth showing with `-q`: what went wrong or needs the user.
    pub fn is_problem(&self) -> bool {
        matches!(self, Event::NodeFailed { .. } | Event::Warning(_))
            || matches!(self, Event::Relay { running: false })
            || matches!(self, Event::Check(r) if r.verdict != CheckVerdict::Pass)
    }
}

/// How one check ended on one node (or link).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CheckVerdict {
    Pass,
    Fail,
    Error,
}

/// One check on one node (or its link).
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct CheckResult {
    pub check: String,
    /// The node, or the link as the check names it.
    pub on: String,
    pub verdict: CheckVerdict,
    /// What was expected and what came, for a failure; why it could not run, for an error.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
    pub attempts: u32,
    pub seconds: f64,
}

/// How many results passed, failed and could not run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Tally {
    pub pass: usize,
    pub fail: usize,
    pub error: usize,
}

impl Tally {
    pub fn of(results: &[CheckResult]) -> Tally {
        let of = |v| results.iter().filter(|r| r.verdict == v).count();
        Tally {
            pass: of(CheckVerdict::Pass),
            fail: of(CheckVerdict::Fail),
            error: of(CheckVerdict::Error),
        }
    }

    /// Every result passed (none failed or errored).
    pub fn passed(&self) -> bool {
        self.fail + self.error == 0
    }
}

/// A run of checks as the CLI's `--format json` and `POST /v1/labs/{lab}/validate` give it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct CheckReport {
    pub lab: String,
    /// Every result passed.
    pub passed: bool,
    pub counts: Tally,
    /// Every check × node, in the checks' order.
    pub results: Vec<CheckResult>,
}

impl CheckReport {
    pub fn of(lab: impl Into<String>, results: Vec<CheckResult>) -> CheckReport {
        let counts = Tally::of(&results);
        CheckReport {
            lab: lab.into(),
            passed: counts.passed(),
            counts,
            results,
        }
    }
}

impl CheckVerdict {
    /// As reports show it: `pass`, `FAIL`, `ERROR` (what needs a look stands out).
    pub fn word(self) -> &'static str {
        match self {
            CheckVerdict::Pass => "pass",
            CheckVerdict::Fail => "FAIL",
            CheckVerdict::Error => "ERROR",
        }
    }
}

/// Seconds, to the millisecond.
fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

/// Something that also sees every event a sink sends (an operation's journal).
pub type Tap = std::sync::Arc<dyn Fn(&Event) + Send + Sync>;

/// Where the engine sends events. Sending never blocks; a receiver that went away is fine.
#[derive(Clone)]
pub struct EventSink {
    tx: Option<mpsc::UnboundedSender<Event>>,
    taps: Vec<Tap>,
}

impl std::fmt::Debug for EventSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventSink")
            .field("open", &self.tx.is_some())
            .field("taps", &self.taps.len())
            .finish()
    }
}

impl EventSink {
    /// A sink and the receiving end of its stream.
    pub fn channel() -> (Self, mpsc::UnboundedReceiver<Event>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            EventSink {
                tx: Some(tx),
                taps: Vec::new(),
            },
            rx,
        )
    }

    /// A sink that drops everything.
    pub fn none() -> Self {
        EventSink {
            tx: None,
            taps: Vec::new(),
        }
    }

    /// This sink, with `tap` also seeing every event.
    pub fn tapped(&self, tap: Tap) -> Self {
        let mut s = self.clone();
        s.taps.push(tap);
        s
    }

    pub fn send(&self, e: Event) {
        for t in &self.taps {
            t(&e);
        }
        if let Some(tx) = &self.tx {
            let _ = tx.send(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(verdict: CheckVerdict) -> CheckResult {
        CheckResult {
            check: "c".into(),
            on: "n".into(),
            verdict,
            detail: if verdict == CheckVerdict::Pass {
                String::new()
            } else {
                "why".into()
            },
            attempts: 1,
            seconds: 0.1,
        }
    }

    #[test]
    fn a_check_event_counts_tells_and_serializes_its_result() {
        let rs = [
            result(CheckVerdict::Pass),
            result(CheckVerdict::Fail),
            result(CheckVerdict::Pass),
            result(CheckVerdict::Error),
        ];
        let t = Tally::of(&rs);
        assert_eq!((t.pass, t.fail, t.error), (2, 1, 1));
        assert!(!t.passed());
        assert!(Tally::of(&rs[..1]).passed());
        assert!(Tally::of(&[]).passed(), "no results is nothing failed");

        let pass = Event::Check(rs[0].clone());
        let fail = Event::Check(rs[1].clone());
        assert_eq!(pass.describe(), "c: pass on n");
        assert_eq!(fail.describe(), "warning: c: FAIL on n: why");
        assert!(!pass.is_problem() && fail.is_problem());
        let j = fail.to_json();
        assert_eq!(j["event"], "check");
        assert_eq!(j["verdict"], "fail");
        assert_eq!(j["detail"], "why");
    }
}
