//! The commands about a whole lab: `destroy`, `status`, `labs`, `repair` (each also across
//! every host of a multi-host lab where it has `--all-hosts`).

use super::args::{FormatArgs, HostArgs, LabArgs};
use super::output;
use super::say::{say, say_json, tell, with_progress};
use crate::engine::api::{self, EngineError, LabHandle};

/// The spec of a multi-host lab, for `--all-hosts`: from `-S`, or from where the lab deployed
/// here was deployed from.
pub fn spec_of(lab: &LabArgs) -> Result<crate::spec::Lab, EngineError> {
    let dir = match &lab.specs {
        Some(d) => d.clone(),
        None => {
            let found = LabHandle::find(&lab.selector(), false).map_err(|e| {
                EngineError::LabNotFound(format!(
                    "{e}; with --all-hosts, name the lab's spec directory with -S"
                ))
            })?;
            found.state()?.spec_dir
        }
    };
    api::load_spec(&dir)
}

/// `vmlab destroy --all-hosts`: each host's part.
pub async fn destroy_all(lab: &LabArgs, host: &HostArgs) -> Result<i32, EngineError> {
    let spec = spec_of(lab)?;
    let hosts = api::hosts(&spec, host.host.as_deref())?;
    let n = hosts.len();
    with_progress(|notes| {
        let name = spec.name.clone();
        async move { api::destroy_all_hosts(&name, &hosts, &notes).await }
    })
    .await?;
    say(&format!("destroyed lab {} on {n} hosts", spec.name));
    Ok(0)
}

/// `vmlab destroy`.
pub async fn destroy(
    lab: &LabArgs,
    host: &HostArgs,
    force: bool,
    missing_ok: bool,
) -> Result<i32, EngineError> {
    let lab = match LabHandle::find(&lab.selector(), force) {
        Err(EngineError::LabNotFound(why)) if missing_ok => {
            say(&why);
            return Ok(0);
        }
        r => r?,
    };
    if !force {
        lab.check_host(host.host.as_deref())?;
    }
    let report = with_progress(|notes| {
        let lab = lab.clone();
        async move { lab.destroy(force, &notes).await }
    })
    .await?;
    for note in &report.left_alone {
        tell(&format!("warning: {note}; not signalled"));
    }
    say(&format!(
        "destroyed lab {} ({} VM{} stopped)",
        lab.name(),
        report.stopped.len(),
        if report.stopped.len() == 1 { "" } else { "s" }
    ));
    Ok(0)
}

/// `vmlab status --all-hosts`: every host's view; exit 6 if a host could not say.
pub async fn status_all(
    lab: &LabArgs,
    host: &HostArgs,
    out: &FormatArgs,
) -> Result<i32, EngineError> {
    let spec = spec_of(lab)?;
    let hosts = api::hosts(&spec, host.host.as_deref())?;
    let views = api::status_all_hosts(&spec.name, &hosts).await;
    if out.json() {
        say_json(
            &serde_json::json!({ "name": spec.name, "hosts": views }),
            "status",
        )?;
    } else {
        say(output::all_hosts_text(&spec.name, &views).trim_end());
    }
    Ok(if views.iter().any(|v| v.error.is_some()) {
        6
    } else {
        0
    })
}

/// `vmlab status`.
pub fn status(lab: &LabArgs, host: &HostArgs, out: &FormatArgs) -> Result<i32, EngineError> {
    let lab = LabHandle::find(&lab.selector(), false)?;
    lab.check_host(host.host.as_deref())?;
    let st = lab.status()?;
    if out.json() {
        say_json(&st, "status")?;
    } else {
        say(output::status_text(&st).trim_end());
    }
    Ok(0)
}

/// `vmlab labs`: one line per lab on stdout; a lab whose state cannot be read is reported on
/// stderr, and then the exit code is 3.
pub fn labs(json: bool) -> Result<i32, EngineError> {
    let (rows, damaged) = api::lab_rows();
    if rows.is_empty() && damaged.is_empty() && !json {
        tell("no labs deployed");
    }
    for (name, e) in &damaged {
        tell(&format!("error: lab {name}: {e}"));
    }
    let rows: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| serde_json::to_value(r).unwrap_or_default())
        .collect();
    if json {
        say_json(&rows, "labs")?;
    } else if !rows.is_empty() {
        say(output::labs_text(&rows).trim_end());
    }
    Ok(if damaged.is_empty() { 0 } else { 3 })
}

/// `vmlab repair`.
pub async fn repair(
    lab: &LabArgs,
    host: &HostArgs,
    cancel: &tokio_util::sync::CancellationToken,
) -> Result<i32, EngineError> {
    let lab = LabHandle::find(&lab.selector(), false)?;
    lab.check_host(host.host.as_deref())?;
    let report = with_progress(|sink| {
        let lab = lab.clone();
        async move { lab.repair(&sink, cancel).await }
    })
    .await?;
    if report.nothing() {
        say(&format!("lab {}: nothing to repair", lab.name()));
    } else {
        let mut done = Vec::new();
        if let Some(pid) = report.relay {
            done.push(format!("link relay started (pid {pid})"));
        }
        if !report.resumed.is_empty() {
            done.push(format!("resumed: {}", report.resumed.join(", ")));
        }
        if !report.nodes.is_empty() {
            done.push(format!("started again: {}", report.nodes.join(", ")));
        }
        say(&format!("lab {}: {}", lab.name(), done.join("; ")));
    }
    Ok(0)
}
