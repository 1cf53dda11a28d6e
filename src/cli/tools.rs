//! The engineer's toolbox commands: `ssh-config`, `inventory`, `graph`, `export k8s`, `exec`,
//! `doctor`, `completions` and `man` — what they print, and how.

use std::path::Path;
use std::time::Duration;

use super::args::{Cli, ExecFormat, GraphFormat, InventoryFormat, K8sAccel, K8sArgs, LabArgs};
use super::output;
use super::say::{say, say_json, tell};
use crate::engine::api::{self, EngineError, ExecLine, LabHandle, Targets, Verdict};

/// `vmlab ssh-config`.
pub fn ssh_config(lab: &LabArgs) -> Result<i32, EngineError> {
    let lab = LabHandle::find(&lab.selector(), false)?;
    say(lab.ssh_config()?.trim_end());
    Ok(0)
}

/// `vmlab inventory`.
pub fn inventory(lab: &LabArgs, format: InventoryFormat) -> Result<i32, EngineError> {
    let lab = LabHandle::find(&lab.selector(), false)?;
    match format {
        InventoryFormat::Ansible => say(lab.ansible_inventory()?.trim_end()),
        InventoryFormat::Json => say_json(&lab.inventory()?, "the inventory")?,
    }
    Ok(0)
}

/// `vmlab graph`: a deployed lab (with each node's status), or with `-S` a spec that is not
/// deployed (as planned).
pub async fn graph(lab: &LabArgs, format: GraphFormat) -> Result<i32, EngineError> {
    let (state, live) = match LabHandle::find(&lab.selector(), false) {
        Ok(lab) => (lab.state()?, Some(lab.status()?)),
        Err(EngineError::LabNotFound(why)) => match &lab.specs {
            Some(d) => (api::planned_state(&api::load_spec(d)?)?, None),
            None => return Err(EngineError::LabNotFound(why)),
        },
        Err(e) => return Err(e),
    };
    let text = match format {
        GraphFormat::Dot => api::dot(&state),
        GraphFormat::Mermaid => api::mermaid(&state),
        GraphFormat::Ascii => {
            let status = |n: &str| {
                live.as_ref().and_then(|st| {
                    st.nodes
                        .iter()
                        .find(|r| r.name == n)
                        .map(|r| r.status.label().to_string())
                })
            };
            api::drawing(&state, &status).text()
        }
    };
    say(text.trim_end());
    Ok(0)
}

/// `vmlab export k8s`: the manifests on stdout (or a file each in `--out`), what the split came
/// to on stderr.
pub fn export_k8s(args: &K8sArgs) -> Result<i32, EngineError> {
    let dir = match &args.specs {
        Some(d) => d.clone(),
        None => api::spec_dir_here().ok_or_else(|| EngineError::Usage {
            what: "no spec directory here".into(),
            fix: "name one with -S DIR".into(),
        })?,
    };
    let spec = api::load_spec(&dir)?;
    let images = match (&args.images_claim, &args.images_image) {
        (Some(c), _) => api::ImagesFrom::Claim(c.clone()),
        (None, Some(i)) => api::ImagesFrom::Image(i.clone()),
        (None, None) => {
            return Err(EngineError::Usage {
                what: "where the pods find the disk images is not said".into(),
                fix: "add --images-claim CLAIM or --images-image IMAGE".into(),
            });
        }
    };
    let export = api::export_k8s(
        &spec,
        &api::K8sOptions {
            namespace: args.namespace.clone(),
            image: args.image.clone(),
            images,
            shards: args.shards,
            kvm: args.accel == K8sAccel::Kvm,
            api_port: args.api_port,
        },
    )?;
    for (shard, nodes) in &export.shards {
        tell(&format!("shard {shard}: {}", nodes.join(", ")));
    }
    let (crossing, links) = export.crossing;
    tell(&format!(
        "{} in {}; {crossing} of {} between shards",
        api::count(spec.nodes.len(), "node"),
        api::count(export.shards.len(), "shard"),
        api::count(links, "link")
    ));
    match &args.out {
        Some(out) => {
            let written = api::write_k8s(out, &export)?;
            tell(&format!(
                "wrote {} into {} (kubectl apply -f {})",
                api::count(written.len(), "manifest"),
                out.display(),
                out.display()
            ));
        }
        None => say(export.yaml()?.trim_end()),
    }
    Ok(0)
}

/// `vmlab exec`: on `--all` nodes, those of `--platform`, or those named.
pub async fn exec(
    lab: &LabArgs,
    nodes: Vec<String>,
    platform: Option<String>,
    all: bool,
    format: ExecFormat,
    timeout: u64,
    command: &[String],
) -> Result<i32, EngineError> {
    let targets = match (all, platform) {
        (true, _) => Targets::All,
        (false, Some(p)) => Targets::Platform(p),
        (false, None) => Targets::Nodes(nodes),
    };
    let lab = LabHandle::find(&lab.selector(), false)?;
    let nodes = lab.exec_targets(&targets)?;
    let width = nodes.iter().map(String::len).max().unwrap_or(0);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<ExecLine>();
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
    let outcomes = lab
        .exec(&nodes, command, Duration::from_secs(timeout.max(1)), &tx)
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
        Some(d) => Some(api::load_spec(d)?),
        None => None,
    };
    let checks = api::doctor(spec.as_ref()).await;
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

/// `vmlab completions SHELL`: the completion script on stdout.
pub fn completions(shell: clap_complete::Shell) -> Result<i32, EngineError> {
    let mut cmd = <Cli as clap::CommandFactory>::command();
    // Into a buffer, then out through `say`: clap_complete writes with `write_all(..)
    // .expect(..)`, which panics on a closed pipe (`vmlab completions zsh | head -3`).
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, "vmlab", &mut buf);
    say(String::from_utf8_lossy(&buf).trim_end());
    Ok(0)
}

/// `vmlab man [COMMAND...]`: a man page (roff) on stdout — vmlab's, or the one of the command
/// named (`vmlab man link down` is `vmlab-link-down(1)`, as SEE ALSO names it).
pub fn man(path: &[String]) -> Result<i32, EngineError> {
    let mut cmd = <Cli as clap::CommandFactory>::command().disable_help_subcommand(true);
    // Built, so that each command knows its full name (`vmlab-link-down`).
    cmd.build();
    for word in path {
        let known: Vec<String> = cmd
            .get_subcommands()
            .filter(|s| !s.is_hide_set())
            .map(|s| s.get_name().to_string())
            .collect();
        let Some(sub) = cmd
            .find_subcommand(word)
            .filter(|s| !s.is_hide_set())
            .cloned()
        else {
            return Err(EngineError::Usage {
                what: format!(
                    "vmlab man: no page for {word:?}{}",
                    if known.is_empty() {
                        " (it has no commands)"
                    } else {
                        ""
                    }
                ),
                fix: format!("name one of: {}", known.join(", ")),
            });
        };
        cmd = sub;
    }
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd)
        .render(&mut buf)
        .map_err(|e| EngineError::io("cannot render the man page", e))?;
    say(String::from_utf8_lossy(&buf).trim_end());
    Ok(0)
}
