//! `vmlab shard`: a shard of a lab exported for Kubernetes, as its pod runs it — `plan` (what it
//! would run), `run` (the pod's process: deploy its nodes, keep them alive, serve its API,
//! destroy them on SIGTERM), and the probes `ready` and `alive`. Each is the command a user
//! would type put together: the shard's spec is a received spec of a multi-host lab, deployed,
//! repaired and destroyed with `--host <shard>`.

use std::time::Duration;

use clap::Parser;

use super::args::{Cli, Command, HostArgs, LabArgs, ShardArgs, ShardRunArgs};
use super::say::{say, tell};
use super::{deploy, lab, output, signals};
use crate::engine::api::{self, EngineError, LabHandle, LabSelector, NodeStatus};

/// The shard's spec, made in this home from the mounted one (blocking: it may wait for the
/// peers' names).
async fn spec_of(args: &ShardArgs) -> Result<std::path::PathBuf, EngineError> {
    let (mounted, shard, wait) = (
        args.spec.clone(),
        args.shard.clone(),
        Duration::from_secs(args.wait),
    );
    tokio::task::spawn_blocking(move || api::shard_spec(&mounted, &shard, wait))
        .await
        .map_err(|e| EngineError::io("the shard's spec", std::io::Error::other(e)))?
}

/// `vmlab shard plan`: the shard's plan, as `deploy --dry-run` prints one.
pub async fn plan(args: &ShardArgs) -> Result<i32, EngineError> {
    let dir = spec_of(args).await?;
    tell(&format!("shard {}: spec at {}", args.shard, dir.display()));
    let lab = api::load_spec(&dir)?;
    let (plan, problems) = api::dry_run(&lab, None, Some(args.shard.clone())).await?;
    say(output::plan_text(&plan).trim_end());
    if !problems.is_empty() {
        return Err(EngineError::Invalid(problems));
    }
    Ok(0)
}

/// A command line of vmlab's own, parsed as the user's would be.
fn command(words: &[&str]) -> Result<Command, EngineError> {
    Cli::try_parse_from(std::iter::once("vmlab").chain(words.iter().copied()))
        .map(|c| c.command)
        .map_err(|e| EngineError::Usage {
            what: format!("vmlab {}: {e}", words.join(" ")),
            fix: "this is a bug in vmlab shard".into(),
        })
}

/// `vmlab shard run`: deploy, keep alive, serve, and destroy on SIGTERM (exit 0).
pub async fn run(
    args: &ShardRunArgs,
    interrupts: &signals::Interrupts,
) -> Result<i32, EngineError> {
    api::mark_shard_process()?;
    let dir = spec_of(&args.shard).await?;
    let shard = args.shard.shard.as_str();
    let lab_name = api::load_spec(&dir)?.name;
    let dir_text = dir.to_string_lossy().into_owned();
    let Command::Deploy(d) = command(&["deploy", "-S", &dir_text, "--host", shard])? else {
        return Err(EngineError::Usage {
            what: "vmlab shard run: not a deploy".into(),
            fix: "this is a bug in vmlab shard".into(),
        });
    };
    let cancel = interrupts.token();
    if let (Some(listen), Some(token)) = (&args.listen, &args.token_file) {
        let token = api::shard_token(token)?.to_string_lossy().into_owned();
        if let Command::Serve(s) = command(&["serve", "--listen", listen, "--token-file", &token])?
        {
            let cancel = cancel.clone();
            tokio::spawn(async move {
                if let Err(e) = super::server::serve(s, cancel).await {
                    tell(&format!("shard: the API stopped: {e}"));
                }
            });
        }
    }
    match deploy::run(d, interrupts).await {
        // Stopped while it deployed: the deploy undid what it started.
        Err(EngineError::Interrupted) => {
            say(&format!(
                "shard {shard}: stopped while deploying; nothing of it is left"
            ));
            return Ok(0);
        }
        r => r?,
    };
    let lab_args = LabArgs {
        specs: None,
        lab: Some(lab_name.clone()),
    };
    let host = HostArgs {
        host: Some(shard.to_string()),
    };
    say(&format!(
        "shard {shard} of lab {lab_name}: running; repairing every 10 s until SIGTERM"
    ));
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tokio::time::sleep(Duration::from_secs(10)) => {}
        }
        // A dead QEMU or relay comes back; a failure is told and tried again next time.
        let quiet = tokio_util::sync::CancellationToken::new();
        if let Err(e) = lab::repair(&lab_args, &host, &quiet).await {
            tell(&format!("shard {shard}: repair: {e}"));
        }
    }
    say(&format!("shard {shard}: stopping; destroying its nodes"));
    lab::destroy(&lab_args, &host, true, true).await?;
    Ok(0)
}

/// `vmlab shard ready`: every node of the shard running.
pub fn ready(args: &ShardArgs) -> Result<i32, EngineError> {
    let name = api::shard_lab(&args.spec)?;
    let status = LabHandle::find(&LabSelector::Name(name), false)?.status()?;
    let mine: Vec<_> = status
        .nodes
        .iter()
        .filter(|n| n.host == args.shard)
        .collect();
    let waiting: Vec<&str> = mine
        .iter()
        .filter(|n| n.status != NodeStatus::Running)
        .map(|n| n.name.as_str())
        .collect();
    if mine.is_empty() || !waiting.is_empty() {
        tell(&format!(
            "shard {}: not ready ({})",
            args.shard,
            if mine.is_empty() {
                "no node deployed yet".to_string()
            } else {
                format!("waiting for {}", waiting.join(", "))
            }
        ));
        return Ok(1);
    }
    say(&format!(
        "shard {}: ready ({} running)",
        args.shard,
        api::count(mine.len(), "node")
    ));
    Ok(0)
}

/// `vmlab shard alive`: the home's shard process lives.
pub fn alive() -> Result<i32, EngineError> {
    Ok(if api::shard_process_alive() { 0 } else { 1 })
}
