//! The commands about links: `links` (the table), `link down|up|set|reset`, `capture`.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::args::{FormatArgs, LabArgs, LinkAction};
use super::output;
use super::say::{self, say, say_json, with_progress};
use crate::engine::api::{EngineError, LabHandle, LinkChange};

/// `vmlab links`.
pub fn table(lab: &LabArgs, out: &FormatArgs) -> Result<i32, EngineError> {
    let st = LabHandle::find(&lab.selector(), false)?.status()?;
    if out.json() {
        say_json(
            &serde_json::json!({ "name": st.name, "relay": st.relay, "links": st.links }),
            "links",
        )?;
    } else if st.links.is_empty() {
        say::tell(&format!("lab {} has no links", st.name));
    } else {
        say(&output::links_text(&st));
    }
    Ok(0)
}

/// `vmlab link down|up|set|reset`.
pub async fn change(lab: &LabArgs, action: LinkAction) -> Result<i32, EngineError> {
    let lab = LabHandle::find(&lab.selector(), false)?;
    let (end, change) = match action {
        LinkAction::Down { end } => (end, LinkChange::Admin { up: false }),
        LinkAction::Up { end } => (end, LinkChange::Admin { up: true }),
        LinkAction::Reset { end } => (end, LinkChange::Reset),
        LinkAction::Set {
            end,
            delay,
            jitter,
            loss,
            rate,
            direction,
        } => {
            if delay.is_none() && jitter.is_none() && loss.is_none() && rate.is_none() {
                return Err(EngineError::Usage {
                    what: "vmlab link set: nothing to set".into(),
                    fix: "give --delay, --jitter, --loss or --rate".into(),
                });
            }
            (
                end,
                LinkChange::Impair {
                    dirs: direction,
                    delay_us: delay,
                    jitter_us: jitter,
                    loss_ppm: loss,
                    rate_bps: rate,
                },
            )
        }
    };
    with_progress(|notes| async move { lab.link(&end, &change, &notes).await })
        .await
        .map(|_| 0)
}

/// `vmlab capture`: pcap of one link until Ctrl-C (or the reader of stdout goes away).
pub async fn capture(
    lab: &LabArgs,
    end: String,
    write: Option<PathBuf>,
    cancel: &tokio_util::sync::CancellationToken,
) -> Result<i32, EngineError> {
    let lab = LabHandle::find(&lab.selector(), false)?;
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (stop, token) = (stop.clone(), cancel.clone());
        tokio::spawn(async move {
            token.cancelled().await;
            stop.store(true, Ordering::Relaxed);
        })
    };
    let to_stdout = write.as_ref().is_some_and(|p| p.as_os_str() == "-");
    let (stop2, end2) = (stop.clone(), end.clone());
    let result = tokio::task::spawn_blocking(move || -> Result<(u64, String), EngineError> {
        if to_stdout {
            say::tell_step(&format!("capturing {end2} to stdout; Ctrl-C stops"));
            let mut out = std::io::stdout().lock();
            return lab
                .capture(&end2, &mut out, &stop2)
                .map(|n| (n, "stdout".into()));
        }
        let started = |p: &std::path::Path| {
            say::tell_step(&format!(
                "capturing {end2} to {}; Ctrl-C stops",
                p.display()
            ));
        };
        lab.capture_to_file(&end2, write.as_deref(), &stop2, &started)
            .map(|(n, p)| (n, p.display().to_string()))
    })
    .await
    .map_err(|e| EngineError::io("capture", std::io::Error::other(e)))?;
    watcher.abort();
    match result {
        Ok((n, label)) => {
            say::tell_step(&format!("captured {n} frames of {end} to {label}"));
            Ok(0)
        }
        // The reader of stdout went away (wireshark closed): a normal end.
        Err(EngineError::Io { source, .. }) if source.kind() == std::io::ErrorKind::BrokenPipe => {
            Ok(0)
        }
        Err(e) => Err(e),
    }
}
