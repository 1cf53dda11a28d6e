//! Operations on the links of a deployed lab: set a link down or up, impair it or clear its
//! impairments, and capture it. A link is named by either end (`node:iface`). Changes are made
//! under the lab's lock in `links.json`, then the relay is told to read it again; a relay that
//! is not running finds them when it starts.

use std::io::Write;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use super::LabDir;
use super::lock;
use super::state::LabState;
use crate::error::EngineError;
use crate::events::{Event, EventSink};
use crate::link::LinkRecord;
use crate::link::config::LinksFile;
use crate::link::control;
use crate::plan::LinkTransport;
use crate::spec::impair::Directions;

/// What to change on a link.
#[derive(Debug, Clone, PartialEq)]
pub enum LinkChange {
    /// Admin state: down drops every frame, up lets them pass.
    Admin { up: bool },
    /// Set the given impairments (others stay) in the given directions.
    Impair {
        dirs: Directions,
        delay_us: Option<u64>,
        jitter_us: Option<u64>,
        loss_ppm: Option<u32>,
        rate_bps: Option<u64>,
    },
    /// Clear every impairment, both ways.
    Reset,
}

/// The link named by `end`, as `vmlab links` shows links: its index (`0`), or either end as
/// `node:interface` with the spec's interface name (`spine1:Ethernet0`) or the guest's
/// (`spine1:eth1`). A name that does not fit is a usage error (exit 2) naming what there is.
pub fn find<'a>(state: &'a LabState, end: &str) -> Result<&'a LinkRecord, EngineError> {
    let bad = |what: String, fix: String| EngineError::Usage { what, fix };
    if !end.is_empty() && end.bytes().all(|b| b.is_ascii_digit()) {
        return end
            .parse::<usize>()
            .ok()
            .and_then(|i| state.links.iter().find(|l| l.index == i))
            .ok_or_else(|| {
                bad(
                    format!("lab {} has no link {end}", state.name),
                    match state.links.len() {
                        0 => "it has no links".into(),
                        n => format!("links are numbered 0 to {} (`vmlab links`)", n - 1),
                    },
                )
            });
    }
    let Some((node, iface)) = end
        .split_once(':')
        .filter(|(n, i)| !n.is_empty() && !i.is_empty())
    else {
        return Err(bad(
            format!("{end:?} is not node:interface"),
            "name a link by either end (spine1:Ethernet0 or spine1:eth1) or by its number \
             in `vmlab links`"
                .into(),
        ));
    };
    // A coalesced host's end lives on its VM's NIC.
    if let Some(h) = state.virtual_host(node) {
        let machine = format!("{}:{node}/{iface}", h.vm);
        return state
            .links
            .iter()
            .find(|l| l.a == machine || l.z == machine)
            .ok_or_else(|| {
                bad(
                    format!("{node} has no link on {iface:?}"),
                    format!(
                        "links of {node}: {}",
                        h.ifaces
                            .iter()
                            .map(|(i, _)| i.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            });
    }
    if !state.nodes.contains_key(node) {
        return Err(bad(
            format!("lab {} has no node {node:?}", state.name),
            format!("use one of: {}", state.node_order.join(", ")),
        ));
    }
    // Every end on the node, with both its names.
    let on_node: Vec<(&LinkRecord, &str, String)> = state
        .links
        .iter()
        .flat_map(|l| {
            let (ga, gz) = l.guest_names();
            [(l, l.a.as_str(), ga), (l, l.z.as_str(), gz)]
        })
        .filter_map(|(l, e, guest)| {
            e.strip_prefix(&format!("{node}:"))
                .map(|spec_name| (l, spec_name, guest))
        })
        .collect();
    on_node
        .iter()
        .find(|(_, spec_name, guest)| *spec_name == iface || guest == iface)
        .map(|(l, _, _)| *l)
        .ok_or_else(|| {
            bad(
                format!("{node} has no link on {iface:?}"),
                if on_node.is_empty() {
                    format!("{node} has no links")
                } else {
                    format!(
                        "links of {node}: {}",
                        on_node
                            .iter()
                            .map(|(l, s, g)| format!("{s} ({g}, link {})", l.index))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                },
            )
        })
}

/// Is `end` (node:interface, either name of the interface) the `a` end of `link`?
fn end_is_a(link: &LinkRecord, end: &str) -> bool {
    let (ga, _) = link.guest_names();
    let a_guest = link
        .a
        .split_once(':')
        .map(|(n, _)| format!("{n}:{ga}"))
        .unwrap_or_default();
    end == link.a || end == a_guest
}

/// Applies `change` to the link at `end`, returning the link's index.
pub async fn change(
    lab: &LabDir,
    end: &str,
    change: &LinkChange,
    events: &EventSink,
) -> Result<usize, EngineError> {
    let _lock = lock::acquire(lab.name(), &format!("vmlab link {end}"), events).await?;
    let state = LabState::load(lab)?;
    let link = find(&state, end)?;
    if link.transport == LinkTransport::Direct {
        return Err(EngineError::LabState(format!(
            "link {} -- {} is direct (vmlab.links: \"direct\"): nothing between its ends can \
             set it down or impair it; redeploy without that setting to use the relay",
            link.a, link.z
        )));
    }
    let mut file = LinksFile::load(lab.path())?;
    let Some(cfg) = file.link_mut(link.index) else {
        return Err(EngineError::LabState(format!(
            "links.json has no link {}; redeploy the lab",
            link.index
        )));
    };
    match change {
        LinkChange::Admin { up } => cfg.up = *up,
        LinkChange::Impair {
            dirs,
            delay_us,
            jitter_us,
            loss_ppm,
            rate_bps,
        } => {
            let typed_a = end
                .split_once(':')
                .map(|(node, iface)| match state.virtual_host(node) {
                    Some(h) => link.a == format!("{}:{node}/{iface}", h.vm),
                    None => end_is_a(link, end),
                });
            let dirs = dirs.resolve(typed_a).map_err(|why| EngineError::Usage {
                what: format!("--direction with link {end}: {why}"),
                fix: format!(
                    "name it as {} or {}, or use --direction both",
                    link.a, link.z
                ),
            })?;
            for d in dirs {
                let i = cfg.impair.get_mut(d);
                if let Some(v) = delay_us {
                    i.delay_us = *v;
                }
                if let Some(v) = jitter_us {
                    i.jitter_us = *v;
                }
                if let Some(v) = loss_ppm {
                    i.loss_ppm = *v;
                }
                if let Some(v) = rate_bps {
                    i.rate_bps = *v;
                }
            }
        }
        LinkChange::Reset => cfg.impair = Default::default(),
    }
    let summary = format!(
        "link {} -- {}: {}, a-to-z {}, z-to-a {}",
        cfg.a,
        cfg.z,
        if cfg.up { "up" } else { "down" },
        cfg.impair.a_to_z,
        cfg.impair.z_to_a
    );
    file.save(lab.path())?;
    tracing::info!("links.json of lab {}: {summary}", lab.name());
    let relay_alive = state.relay_alive(lab);
    if relay_alive {
        control::reload(lab.path(), Duration::from_secs(5)).map_err(|e| {
            EngineError::LabState(format!(
                "the setting is saved, but the relay did not take it ({e}); run `vmlab repair \
                 --lab {}`",
                lab.name()
            ))
        })?;
        events.send(Event::Step(summary));
    } else {
        events.send(Event::Warning(format!(
            "{summary} (saved; the link relay is not running, so no link carries traffic until \
             `vmlab repair --lab {}` starts it)",
            lab.name()
        )));
    }
    Ok(link.index)
}

/// Captures the link at `end` into `out` as pcap until `stop` is set; returns the frames
/// written. Blocking: run it off the async runtime.
pub fn capture(
    lab: &LabDir,
    end: &str,
    out: &mut dyn Write,
    stop: &AtomicBool,
) -> Result<u64, EngineError> {
    let (stream, what, _) = start_capture(lab, end)?;
    stream
        .pump(out, stop)
        .map_err(|e| EngineError::io(format!("capture of {what}"), e))
}

/// Checks the link can be captured and has the relay start copying it: (the stream, the
/// link's `a -- z`, its index).
fn start_capture(
    lab: &LabDir,
    end: &str,
) -> Result<(control::CaptureStream, String, usize), EngineError> {
    let state = LabState::load(lab)?;
    let link = find(&state, end)?;
    let what = format!("{} -- {}", link.a, link.z);
    if link.transport == LinkTransport::Direct {
        return Err(EngineError::LabState(format!(
            "link {what} is direct: its frames pass through nothing vmlab could capture"
        )));
    }
    if !state.relay_alive(lab) {
        return Err(EngineError::LabState(format!(
            "the link relay is not running; run `vmlab repair --lab {}`",
            lab.name()
        )));
    }
    tracing::info!("capturing link {} ({what})", link.index);
    let stream = control::start_capture(lab.path(), link.index)
        .map_err(|e| EngineError::io(format!("capture of {what}"), e))?;
    Ok((stream, what, link.index))
}

/// Captures the link at `end` into the file `to` (default: a new file in the lab's
/// `captures/` directory) until `stop` is set; `started` hears the file's path once it is
/// open. The file is touched only once the relay sends the link's frames (a direct link or a
/// stopped relay leaves an existing file as it was), and a new one is private (0600): it
/// holds the lab's traffic. Blocking.
pub fn capture_to_file(
    lab: &LabDir,
    end: &str,
    to: Option<&std::path::Path>,
    stop: &AtomicBool,
    started: &dyn Fn(&std::path::Path),
) -> Result<(u64, std::path::PathBuf), EngineError> {
    use std::os::unix::fs::OpenOptionsExt;
    let (stream, what, index) = start_capture(lab, end)?;
    let path = to
        .map(std::path::Path::to_path_buf)
        .unwrap_or_else(|| capture_path(lab, index));
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| EngineError::io(format!("cannot create {}", dir.display()), e))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| EngineError::io(format!("cannot create {}", path.display()), e))?;
    started(&path);
    let n = stream
        .pump(&mut file, stop)
        .map_err(|e| EngineError::io(format!("capture of {what}"), e))?;
    Ok((n, path))
}

/// Where a capture goes by default: `<lab>/captures/link<N>-<time>.pcap`.
pub fn capture_path(lab: &LabDir, index: usize) -> std::path::PathBuf {
    let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        .to_string()
        .replace([':', '-'], "");
    lab.path()
        .join("captures")
        .join(format!("link{index}-{stamp}.pcap"))
}
