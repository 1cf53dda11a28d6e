//! Running a lab's checks (`vmlab validate`): each check in file order, a check's nodes at once
//! (one SSH command each, as `exec` runs them), a link check against the relay's state and
//! counters; a check with `wait` is tried again, with growing pauses, until it passes or its
//! time is up. Every check × node ends `pass`, `fail` (what was expected, what came) or
//! `error` (it could not run: node down, ssh failed).

use std::time::{Duration, Instant};

use super::LabDir;
use super::exec::{self, Outcome, Targets};
use super::state::LabState;
use crate::error::EngineError;
pub use crate::events::{CheckResult, CheckVerdict, Tally};
use crate::events::{Event, EventSink};
use crate::link::LinkState;
use crate::spec::validate::{Check, Checks, Expect, Nodes, Target, json_holds};

/// A command's timeout in a check.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `checks` (only those named in `only`, if given) on the running lab `lab`.
pub async fn run(
    lab: &LabDir,
    checks: &Checks,
    only: Option<&[String]>,
    events: &EventSink,
) -> Result<Vec<CheckResult>, EngineError> {
    if let Some(only) = only {
        for name in only {
            if !checks.checks.iter().any(|c| &c.name == name) {
                return Err(EngineError::Usage {
                    what: format!("no check is named {name:?}"),
                    fix: format!(
                        "name one of: {}",
                        checks
                            .checks
                            .iter()
                            .map(|c| c.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                });
            }
        }
    }
    targets_exist(lab, checks, only)?;
    let mut out = Vec::new();
    for check in checks
        .checks
        .iter()
        .filter(|c| only.is_none_or(|o| o.contains(&c.name)))
    {
        events.send(Event::Step(format!("check {}", check.name)));
        let results = one(lab, check, events).await?;
        let failed = results.iter().any(|r| r.verdict != CheckVerdict::Pass);
        out.extend(results);
        if failed && check.stop_on_error {
            events.send(Event::Warning(format!(
                "stopping: check {} failed and has stop_on_error",
                check.name
            )));
            break;
        }
    }
    Ok(out)
}

/// Every node, platform and link the checks to run name is in the lab: all the problems at
/// once, each naming the check and its field, before anything runs.
fn targets_exist(
    lab: &LabDir,
    checks: &Checks,
    only: Option<&[String]>,
) -> Result<(), EngineError> {
    let state = LabState::load(lab)?;
    let mut errs = crate::spec::SpecErrors::default();
    for (i, check) in checks.checks.iter().enumerate() {
        if only.is_some_and(|o| !o.contains(&check.name)) {
            continue;
        }
        let at = |field: &str| format!("checks[{i}] ({}).{field}", check.name);
        match &check.target {
            Target::Nodes { nodes, .. } => {
                let (targets, field) = match nodes {
                    Nodes::Named(n) => (Targets::Nodes(n.clone()), "nodes"),
                    Nodes::Platform(p) => (Targets::Platform(p.clone()), "platform"),
                    Nodes::All => continue,
                };
                if let Err(e) = exec::resolve(&state, &targets) {
                    errs.push(crate::spec::SpecError::new(
                        &checks.source,
                        at(field),
                        e.to_string(),
                        format!("name what lab {} has", state.name),
                    ));
                }
            }
            Target::Link(end) => {
                if let Err(e) = super::links::find(&state, end) {
                    errs.push(crate::spec::SpecError::new(
                        &checks.source,
                        at("link"),
                        e.to_string(),
                        "name a link as vmlab links shows it: an end (spine1:Ethernet0) or its number",
                    ));
                }
            }
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(EngineError::Invalid(errs))
    }
}

/// One check, tried until it passes or its wait is over. A node's result is final (and sent
/// as an event) as soon as it passes, or when the time is up; only the nodes still failing
/// are tried again. The results come back in the order of the check's nodes.
async fn one(
    lab: &LabDir,
    check: &Check,
    events: &EventSink,
) -> Result<Vec<CheckResult>, EngineError> {
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs(check.wait_secs);
    let mut pause = Duration::from_millis(500);
    let mut attempts = 0;
    // The check's nodes in their order, once resolved; those still to pass.
    let mut order: Vec<String> = Vec::new();
    let mut pending: Option<Vec<String>> = None;
    let mut done: Vec<CheckResult> = Vec::new();
    loop {
        attempts += 1;
        let state = LabState::load(lab)?;
        let tried: Vec<CheckResult> = match &check.target {
            Target::Nodes { nodes, command } => {
                let names = match &pending {
                    Some(p) => p.clone(),
                    None => {
                        let targets = match nodes {
                            Nodes::Named(n) => Targets::Nodes(n.clone()),
                            Nodes::Platform(p) => Targets::Platform(p.clone()),
                            Nodes::All => Targets::All,
                        };
                        match exec::resolve(&state, &targets) {
                            Ok(names) => {
                                order.clone_from(&names);
                                names
                            }
                            // No such node or platform: trying again changes nothing.
                            Err(e) => {
                                let r = result(check, "-", CheckVerdict::Error, e.to_string());
                                events.send(Event::Check(r.clone()));
                                return Ok(vec![r]);
                            }
                        }
                    }
                };
                let (lines, _rx) = tokio::sync::mpsc::unbounded_channel();
                exec::run(
                    lab,
                    &names,
                    std::slice::from_ref(command),
                    COMMAND_TIMEOUT,
                    &lines,
                )
                .await?
                .iter()
                .map(|o| judge(check, o))
                .collect()
            }
            Target::Link(end) => vec![link(lab, &state, check, end)],
        };
        // The last try is the one that starts once the time given is spent.
        let last = Instant::now() >= deadline;
        let mut still = Vec::new();
        for mut r in tried {
            if r.verdict == CheckVerdict::Pass || last {
                r.attempts = attempts;
                r.seconds = (t0.elapsed().as_secs_f64() * 10.0).round() / 10.0;
                events.send(Event::Check(r.clone()));
                done.push(r);
            } else {
                still.push(r.on);
            }
        }
        if still.is_empty() {
            done.sort_by_key(|r| order.iter().position(|n| *n == r.on));
            return Ok(done);
        }
        pending = Some(still);
        // Never past the deadline: the next try is at it at the latest.
        let left = deadline.saturating_duration_since(Instant::now());
        tokio::time::sleep(pause.min(left)).await;
        pause = (pause * 2).min(Duration::from_secs(5));
    }
}

fn result(check: &Check, on: &str, verdict: CheckVerdict, detail: String) -> CheckResult {
    CheckResult {
        check: check.name.clone(),
        on: on.to_string(),
        verdict,
        detail,
        attempts: 1,
        seconds: 0.0,
    }
}

/// The last lines of `text`, for a report: where a command's verdict usually is (`0 packets
/// received`), each cut to 200 characters; an ellipsis says what was left out.
fn tail(text: &str) -> String {
    let all: Vec<&str> = text.lines().collect();
    let from = all.len().saturating_sub(3);
    let cut = |l: &str| match l.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &l[..i]),
        None => l.to_string(),
    };
    let lines: Vec<String> = all[from..].iter().map(|l| cut(l)).collect();
    let more = if from > 0 { "… " } else { "" };
    format!("{more}{:?}", lines.join("\n"))
}

/// A command's outcome against the check's expectations.
fn judge(check: &Check, o: &Outcome) -> CheckResult {
    let verdict = |v, d| result(check, &o.node, v, d);
    if let Some(why) = &o.error {
        return verdict(CheckVerdict::Error, why.clone());
    }
    let e: &Expect = &check.expect;
    let want = e.exit.unwrap_or(0);
    if o.exit_code != Some(want) {
        return verdict(
            CheckVerdict::Fail,
            format!(
                "exit {}, expected {want}; stdout {}; stderr {}",
                o.exit_code.map_or("none".to_string(), |c| c.to_string()),
                tail(&o.stdout),
                tail(&o.stderr)
            ),
        );
    }
    for (name, p, text) in [
        ("stdout", &e.stdout, &o.stdout),
        ("stderr", &e.stderr, &o.stderr),
    ] {
        if let Some(p) = p
            && !p.re.is_match(text)
        {
            return verdict(
                CheckVerdict::Fail,
                format!("{name} does not match /{}/; it was {}", p.text, tail(text)),
            );
        }
    }
    if let Some(p) = &e.not_stdout
        && let Some(m) = p.re.find(&o.stdout)
    {
        return verdict(
            CheckVerdict::Fail,
            format!(
                "stdout matches /{}/, which it must not: {:?}",
                p.text,
                m.as_str()
            ),
        );
    }
    if !e.json.is_empty() {
        let parsed: serde_json::Value = match serde_json::from_str(&o.stdout) {
            Ok(v) => v,
            Err(err) => {
                return verdict(
                    CheckVerdict::Fail,
                    format!("the output is not JSON ({err}): {}", tail(&o.stdout)),
                );
            }
        };
        for j in &e.json {
            if let Err(why) = json_holds(&parsed, j) {
                return verdict(CheckVerdict::Fail, why);
            }
        }
    }
    verdict(CheckVerdict::Pass, String::new())
}

/// A link check: the link's state and the frames it delivered, as the relay reports them.
fn link(lab: &LabDir, state: &LabState, check: &Check, end: &str) -> CheckResult {
    let verdict = |v, d| result(check, end, v, d);
    let index = match super::links::find(state, end) {
        Ok(l) => l.index,
        Err(e) => return verdict(CheckVerdict::Error, e.to_string()),
    };
    let view = super::status::LinkView::read(lab, state);
    let st = super::status::observe(lab, state, &view);
    let Some(row) = st.links.iter().find(|l| l.index == index) else {
        return verdict(
            CheckVerdict::Error,
            format!("no link {index} in the lab's status"),
        );
    };
    if let Some(want) = &check.expect.state {
        let got = match row.state {
            LinkState::Up => "up",
            LinkState::Down => "down",
            LinkState::Waiting => "waiting",
            LinkState::Remote => "remote",
        };
        if got != want {
            return verdict(
                CheckVerdict::Fail,
                format!("the link is {got}, expected {want}"),
            );
        }
    }
    if let Some(min) = check.expect.frames_min {
        let frames = row
            .counters
            .as_ref()
            .map_or(0, |c| c.a_to_z.frames + c.z_to_a.frames);
        if frames < min {
            return verdict(
                CheckVerdict::Fail,
                format!("the link delivered {frames} frames, expected at least {min}"),
            );
        }
    }
    verdict(CheckVerdict::Pass, String::new())
}
