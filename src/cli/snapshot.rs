//! `vmlab snapshot` (take, list, delete) and `vmlab restore`.

use super::args::{FormatArgs, LabArgs};
use super::output;
use super::say::{say, say_json, with_progress};
use crate::engine::api::{EngineError, LabHandle};

/// `vmlab snapshot [NAME] [--delete NAME]`; no name and no `--delete` lists them.
pub async fn snapshot(
    lab: &LabArgs,
    name: Option<String>,
    delete: Option<String>,
    out: &FormatArgs,
    cancel: &tokio_util::sync::CancellationToken,
) -> Result<i32, EngineError> {
    let lab = LabHandle::find(&lab.selector(), false)?;
    let snaps = with_progress(|notes| async move {
        match (name, delete) {
            (Some(name), _) => lab.snapshot(&name, &notes, cancel).await.map(|_| None),
            (None, Some(name)) => lab.delete_snapshot(&name, &notes).await.map(|_| None),
            (None, None) => lab.snapshots().map(Some),
        }
    })
    .await?;
    if let Some(snaps) = snaps {
        if out.json() {
            say_json(&snaps, "snapshots")?;
        } else {
            say(&output::snapshots_text(&snaps));
        }
    }
    Ok(0)
}

/// `vmlab restore NAME`.
pub async fn restore(
    lab: &LabArgs,
    name: &str,
    cancel: &tokio_util::sync::CancellationToken,
) -> Result<i32, EngineError> {
    let lab = LabHandle::find(&lab.selector(), false)?;
    let r = with_progress(|notes| {
        let lab = lab.clone();
        async move { lab.restore(name, &notes, cancel).await }
    })
    .await?;
    say(&format!(
        "lab {} is back at {name}: running after {:.2} s, every node answering SSH after {:.2} s",
        lab.name(),
        r.resumed_after.as_secs_f64(),
        r.ssh_after.as_secs_f64()
    ));
    Ok(0)
}
