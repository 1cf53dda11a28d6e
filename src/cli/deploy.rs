//! `vmlab deploy`: validate everything, then deploy with live per-node progress.
//!
//! Progress reads well in both places it lands: on a terminal, one animated line per node; in
//! a CI log (stderr not a terminal), one plain timestamped line per stage change.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::mpsc::UnboundedReceiver;

use super::args::DeployArgs;
use super::output;
use super::say::{
    Progress, progress, say, tell, tell_event, tell_step, with_printer, with_progress,
};
use super::signals::Interrupts;
use crate::engine::api::{
    self, AllOptions, BootStage, DeployOptions, EngineError, Event, Prepared,
};
use crate::spec;

pub async fn run(args: DeployArgs, interrupts: &Interrupts) -> Result<i32, EngineError> {
    let spec_dir = args.spec_dir()?;
    let mut lab = api::load_spec(&spec_dir)?;
    api::set_port_bases(
        &mut lab,
        [
            args.link_port_base,
            args.console_port_base,
            args.ssh_port_base,
        ],
    );

    if args.all_hosts {
        return all_hosts(&lab, &args, interrupts).await;
    }

    if args.dry_run {
        let (plan, problems) = api::dry_run(&lab, args.accel.wanted(), args.host.clone()).await?;
        if args.accel.wanted().is_none() {
            say("# accelerator: decided at deploy by probing KVM; shown here for TCG");
        }
        say(output::plan_text(&plan).trim_end());
        if !problems.is_empty() {
            return Err(EngineError::Invalid(problems));
        }
        return Ok(0);
    }

    let opts = DeployOptions {
        accel: args.accel.wanted(),
        force: args.force,
        keep_on_failure: args.keep_on_failure,
        host: args.host.clone(),
    };
    let cancel = interrupts.token();
    let prepared = with_progress(|notes| async move {
        tokio::select! {
            biased;
            _ = cancel.cancelled() => Err(EngineError::Interrupted),
            p = api::prepare_deploy(&lab, opts, &notes) => p,
        }
    })
    .await?;
    let deployment = match prepared {
        Prepared::AlreadyRunning(state) => {
            if progress() == Progress::Json {
                tell(&done_event(&state, false).to_string());
            } else {
                say(&format!(
                    "lab {} is already running ({}); nothing changed (use --force to redeploy)",
                    state.name,
                    api::count(state.nodes.len(), "node")
                ));
            }
            return Ok(0);
        }
        Prepared::Ready(d) => d,
    };

    let names: Vec<String> = deployment
        .plan()
        .local_nodes()
        .map(|n| n.name.clone())
        .collect();
    let state = with_printer(
        |rx| print_progress(rx, names),
        |sink| async move { deployment.run(&sink, cancel).await },
    )
    .await?;
    if progress() == Progress::Json {
        // The JSON stream is all a script reads: it ends with the lab, as a `done` event.
        tell(&done_event(&state, true).to_string());
    } else {
        say(output::deployed_text(&state).trim_end());
    }
    Ok(0)
}

/// The last event of a JSON progress stream that went well: the lab, whether this deploy
/// changed anything, and how to reach each node.
fn done_event(state: &api::LabState, changed: bool) -> serde_json::Value {
    let nodes: Vec<serde_json::Value> = state
        .ordered_nodes()
        .map(|(name, n)| {
            serde_json::json!({
                "name": name,
                "status": n.status,
                "host": n.host.clone().unwrap_or_else(|| "localhost".into()),
                "mgmt_addr": n.mgmt_addr,
                "ssh_port": n.ssh_port,
                "console_port": n.console_port,
            })
        })
        .collect();
    serde_json::json!({
        "event": "done",
        "lab": state.name,
        "lab_dir": state.lab_dir,
        "changed": changed,
        "nodes": nodes,
    })
}

/// `vmlab deploy --all-hosts`: every host at once, each line of progress tagged by host.
async fn all_hosts(
    lab: &spec::Lab,
    args: &DeployArgs,
    interrupts: &Interrupts,
) -> Result<i32, EngineError> {
    let hosts = api::hosts(lab, args.host.as_deref())?;
    let here = hosts
        .iter()
        .find(|h| h.local)
        .map(|h| format!("this machine is {}", h.name))
        .unwrap_or_else(|| "this machine is none of them".into());
    tell_step(&format!(
        "lab {} on {} hosts ({here}; the others over ssh): {}",
        lab.name,
        hosts.len(),
        hosts
            .iter()
            .map(|h| format!("{} {}", h.name, h.addr))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let opts = AllOptions {
        accel: args.accel.wanted(),
        force: args.force,
        keep_on_failure: args.keep_on_failure,
    };
    let counts =
        with_printer(
            |rx| print_progress(rx, Vec::new()),
            |sink| async move {
                api::deploy_all_hosts(lab, &hosts, &opts, &sink, interrupts.token()).await
            },
        )
        .await?;
    say(&format!(
        "lab {} is up on {} hosts: {}; `vmlab status --all-hosts -S {}` shows it whole",
        lab.name,
        counts.len(),
        counts
            .iter()
            .map(|(h, n)| format!("{h} ({n} nodes)"))
            .collect::<Vec<_>>()
            .join(", "),
        args.spec_dir()?.display()
    ));
    Ok(0)
}

/// Prints engine events until the stream ends.
pub async fn print_progress(mut rx: UnboundedReceiver<Event>, nodes: Vec<String>) {
    let width = nodes.iter().map(String::len).max().unwrap_or(4);
    match progress() {
        Progress::Json | Progress::Quiet => {
            while let Some(e) = rx.recv().await {
                tell_event(&e);
            }
        }
        Progress::Auto if std::io::stderr().is_terminal() => {
            progress_bars(&mut rx, &nodes, width).await
        }
        _ => plain_lines(&mut rx, width).await,
    }
}

async fn plain_lines(rx: &mut UnboundedReceiver<Event>, width: usize) {
    let t0 = Instant::now();
    let mut tenths: HashMap<String, u32> = HashMap::new();
    while let Some(e) = rx.recv().await {
        let line = match e {
            // A log wants a line per tenth, not per percent.
            Event::Progress { what, fraction } => {
                let tenth = (fraction * 10.0).floor() as u32;
                if tenths.get(&what) == Some(&tenth) {
                    continue;
                }
                tenths.insert(what.clone(), tenth);
                format!(
                    "[{:>6.1}s] {what}: {}%",
                    t0.elapsed().as_secs_f64(),
                    tenth * 10
                )
            }
            Event::NodeStage {
                node,
                stage,
                elapsed,
            } => {
                format!(
                    "[{:>6.1}s] {node:<width$}  {}",
                    elapsed.as_secs_f64(),
                    stage.label()
                )
            }
            Event::NodeFailed {
                node,
                reason,
                elapsed,
            } => {
                format!(
                    "[{:>6.1}s] {node:<width$}  FAILED: {reason}",
                    elapsed.as_secs_f64()
                )
            }
            Event::NodePatch {
                node,
                index,
                total,
                description,
                elapsed,
            } => format!(
                "[{:>6.1}s] {node:<width$}  patching {index}/{total}: {description}",
                elapsed.as_secs_f64()
            ),
            Event::Step(s) => format!("[{:>6.1}s] {s}", t0.elapsed().as_secs_f64()),
            other => other.describe(),
        };
        tell(&line);
    }
}

async fn progress_bars(rx: &mut UnboundedReceiver<Event>, nodes: &[String], width: usize) {
    let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(
        "{spinner:.cyan} {prefix:<W$} {wide_msg}"
            .replace("W", &width.to_string())
            .as_str(),
    )
    .unwrap_or_else(|_| ProgressStyle::default_spinner());
    let done_style = ProgressStyle::with_template(
        "  {prefix:<W$} {wide_msg}"
            .replace("W", &width.to_string())
            .as_str(),
    )
    .unwrap_or_else(|_| ProgressStyle::default_spinner());
    let mut bars: HashMap<String, ProgressBar> = HashMap::new();
    for n in nodes {
        let pb = multi.add(ProgressBar::new_spinner());
        pb.set_style(style.clone());
        pb.set_prefix(n.clone());
        pb.set_message("waiting");
        pb.enable_steady_tick(Duration::from_millis(120));
        bars.insert(n.clone(), pb);
    }
    let order = [
        BootStage::Launched,
        BootStage::Booting,
        BootStage::ConsolePrompt,
        BootStage::SshBanner,
        BootStage::Patching,
        BootStage::Ready,
    ];
    while let Some(e) = rx.recv().await {
        match e {
            Event::NodeStage {
                node,
                stage,
                elapsed,
            } => {
                if let Some(pb) = bars.get(&node) {
                    let trail: Vec<&str> = order
                        .iter()
                        .filter(|s| **s <= stage)
                        .map(|s| s.label())
                        .collect();
                    pb.set_message(format!(
                        "{:>5.1}s  {}",
                        elapsed.as_secs_f64(),
                        trail.join(" → ")
                    ));
                    if stage == BootStage::Ready {
                        pb.set_style(done_style.clone());
                        pb.finish();
                    }
                }
            }
            Event::NodeFailed {
                node,
                reason,
                elapsed,
            } => {
                if let Some(pb) = bars.get(&node) {
                    pb.set_style(done_style.clone());
                    pb.finish_with_message(format!(
                        "{:>5.1}s  FAILED: {reason}",
                        elapsed.as_secs_f64()
                    ));
                }
            }
            Event::NodeWaiting { node, reason } => {
                if let Some(pb) = bars.get(&node) {
                    pb.set_message(reason);
                }
            }
            Event::NodePatch {
                node,
                index,
                total,
                description,
                elapsed,
            } => {
                if let Some(pb) = bars.get(&node) {
                    pb.set_message(format!(
                        "{:>5.1}s  patching {index}/{total}: {description}",
                        elapsed.as_secs_f64()
                    ));
                }
            }
            Event::Progress { what, fraction } => {
                let pb = bars.entry(what.clone()).or_insert_with(|| {
                    let pb = multi.add(ProgressBar::new(1000));
                    pb.set_style(
                        ProgressStyle::with_template("{prefix} [{wide_bar}] {percent}%")
                            .unwrap_or_else(|_| ProgressStyle::default_bar()),
                    );
                    pb.set_prefix(what.clone());
                    pb
                });
                pb.set_position((fraction * 1000.0) as u64);
                if fraction >= 1.0 {
                    pb.finish();
                }
            }
            Event::Step(s) => {
                let _ = multi.println(s);
            }
            other => {
                let _ = multi.println(other.describe());
            }
        }
    }
    for pb in bars.values() {
        if !pb.is_finished() {
            pb.abandon();
        }
    }
}
