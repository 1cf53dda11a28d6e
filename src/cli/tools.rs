//! The engineer's toolbox commands: `ssh-config`, `inventory`, `graph`, `exec` and `doctor` —
//! what they print, and how.

use std::path::Path;
use std::time::Duration;

use clap::ValueEnum;

use super::LabArgs;
use super::output;
use super::say::{say, say_json, tell};
use crate::engine::doctor::{self, Verdict};
use crate::engine::lab::exec::{self, Targets};
use crate::engine::lab::export;
use crate::engine::lab::find;
use crate::engine::lab::state::LabState;
use crate::engine::{EngineError, home};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InventoryFormat {
    Ansible,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    Ascii,
    Dot,
    Mermaid,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExecFormat {
    Text,
    Json,
}

/// `vmlab ssh-config`.
pub fn ssh_config(lab: &LabArgs) -> Result<i32, EngineError> {
    let dir = find::find(&lab.selector(), false)?;
    let state = LabState::load(&dir)?;
    say(export::ssh_config(&state, dir.path()).trim_end());
    Ok(0)
}

/// `vmlab inventory`.
pub fn inventory(lab: &LabArgs, format: InventoryFormat) -> Result<i32, EngineError> {
    let dir = find::find(&lab.selector(), false)?;
    let state = LabState::load(&dir)?;
    match format {
        InventoryFormat::Ansible => say(export::ansible(&state, dir.path()).trim_end()),
        InventoryFormat::Json => say_json(&export::inventory(&state, dir.path()), "the inventory")?,
    }
    Ok(0)
}

/// `vmlab graph`: a deployed lab (with each node's status), or with `-S` a spec that is not
/// deployed (as planned).
pub async fn graph(lab: &LabArgs, format: GraphFormat) -> Result<i32, EngineError> {
    let (state, live) = match find::find(&lab.selector(), false) {
        Ok(dir) => {
            let st = crate::engine::lab::status::snapshot(&dir)?;
            (LabState::load(&dir)?, Some(st))
        }
        Err(EngineError::LabNotFound(why)) => match &lab.specs {
            Some(d) => {
                let spec = crate::spec::load(d, home::user_home().as_deref())?;
                (export::planned_state(&spec)?, None)
            }
            None => return Err(EngineError::LabNotFound(why)),
        },
        Err(e) => return Err(e),
    };
    let text = match format {
        GraphFormat::Dot => export::dot(&state),
        GraphFormat::Mermaid => export::mermaid(&state),
        GraphFormat::Ascii => {
            let status = |n: &str| {
                live.as_ref().and_then(|st| {
                    st.nodes
                        .iter()
                        .find(|r| r.name == n)
                        .map(|r| r.status.label().to_string())
                })
            };
            export::ascii(&state, &status).text()
        }
    };
    say(text.trim_end());
    Ok(0)
}

/// `vmlab exec`.
pub async fn exec(
    lab: &LabArgs,
    targets: Targets,
    format: ExecFormat,
    timeout: u64,
    command: &[String],
) -> Result<i32, EngineError> {
    let dir = find::find(&lab.selector(), false)?;
    let state = LabState::load(&dir)?;
    let nodes = exec::resolve(&state, &targets)?;
    let width = nodes.iter().map(String::len).max().unwrap_or(0);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<exec::Line>();
    let printer = tokio::spawn(async move {
        while let Some(l) = rx.recv().await {
            if format == ExecFormat::Text {
                let line = format!("{:<width$} | {}", l.node, l.line);
                if l.stream == "stderr" {
                    tell(&line);
                } else {
                    say(&line);
                }
            }
        }
    });
    let outcomes = exec::run(
        &dir,
        &nodes,
        command,
        Duration::from_secs(timeout.max(1)),
        &tx,
    )
    .await;
    drop(tx);
    let _ = printer.await;
    let outcomes = outcomes?;
    if format == ExecFormat::Json {
        say_json(&outcomes, "exec results")?;
    }
    let failed: Vec<String> = outcomes
        .iter()
        .filter(|o| !o.ok())
        .map(|o| match (&o.error, o.exit_code) {
            (Some(e), _) => format!("{} ({e})", o.node),
            (None, Some(c)) => format!("{} (exit {c})", o.node),
            (None, None) => o.node.clone(),
        })
        .collect();
    if failed.is_empty() {
        Ok(0)
    } else {
        Err(EngineError::ExecFailed(failed))
    }
}

/// `vmlab doctor`.
pub async fn doctor(specs: Option<&Path>, json: bool) -> Result<i32, EngineError> {
    let spec = match specs {
        Some(d) => Some(crate::spec::load(d, home::user_home().as_deref())?),
        None => None,
    };
    let checks = doctor::run(spec.as_ref()).await;
    if json {
        say_json(&checks, "doctor checks")?;
    } else {
        say(output::doctor_text(&checks).trim_end());
    }
    let blockers: Vec<&str> = checks
        .iter()
        .filter(|c| c.verdict == Verdict::Fail)
        .map(|c| c.name.as_str())
        .collect();
    if blockers.is_empty() {
        Ok(0)
    } else {
        Err(EngineError::Blocked(format!(
            "this machine cannot deploy {}: {}",
            spec.map(|s| format!("lab {}", s.name))
                .unwrap_or_else(|| "labs".into()),
            blockers.join(", ")
        )))
    }
}
