//! The words every front end uses for a lab's links, written once: each link's cells (its
//! ends, its state, what it carried each way, what it dropped, its impairments), the relay's
//! line, and what a link API reports as connected. `vmlab links` (and `status`), the TUI's
//! links table and the HTTP APIs draw or answer from these; none of them words a link itself.
//! Pure: a [`LinkRow`] in, text out.

use crate::engine::api::{DirReport, Dropped, LabStatus, LinkRow, LinkState};
use crate::plan::LinkTransport;
use crate::spec::LinkImpair;

/// The links table's columns, in order.
pub const LINK_HEADER: [&str; 8] = [
    "LINK",
    "A",
    "Z",
    "STATE",
    "A→Z",
    "Z→A",
    "DROPPED",
    "IMPAIRMENTS",
];

/// One link as text, cell by cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkCells {
    pub index: String,
    /// `spine1:Ethernet0 (eth1)`.
    pub a: String,
    pub z: String,
    /// `up`, `down`, `waiting for leaf1, relay`, `up (between hosts)`.
    pub state: String,
    /// Each way in full: `120 fr 11.3 KiB @ 96.0 kbit/s`, or `-` without counters.
    pub a_to_z: String,
    pub z_to_a: String,
    /// Each way's rate alone (a narrow column): `96.0 kbit/s`, `3 f/s`, or `-`.
    pub a_to_z_rate: String,
    pub z_to_a_rate: String,
    /// `0`, `loss 3, down 2`, or `-` without counters.
    pub dropped: String,
    /// `none`, `both: delay 20ms`, or `a-to-z: …; z-to-a: …`.
    pub impairments: String,
}

/// The cells of link `l`.
pub fn link_cells(l: &LinkRow) -> LinkCells {
    let (a_to_z, z_to_a, a_to_z_rate, z_to_a_rate, dropped) = match &l.counters {
        Some(c) => (
            dir_text(&c.a_to_z),
            dir_text(&c.z_to_a),
            rate(c.a_to_z.frames_per_sec, c.a_to_z.bits_per_sec),
            rate(c.z_to_a.frames_per_sec, c.z_to_a.bits_per_sec),
            dropped_text(&c.a_to_z.dropped, &c.z_to_a.dropped),
        ),
        None => ("-".into(), "-".into(), "-".into(), "-".into(), "-".into()),
    };
    LinkCells {
        index: l.index.to_string(),
        a: format!("{} ({})", l.a, l.a_guest),
        z: format!("{} ({})", l.z, l.z_guest),
        state: state_text(l),
        a_to_z,
        z_to_a,
        a_to_z_rate,
        z_to_a_rate,
        dropped,
        impairments: impair_text(&l.impair),
    }
}

/// A link's state in words: waiting names what it waits for; a link between hosts says so
/// (its frames leave this machine).
pub fn state_text(l: &LinkRow) -> String {
    match (l.state, l.transport) {
        (LinkState::Waiting, _) => format!("waiting for {}", l.waiting_for.join(", ")),
        (other, LinkTransport::CrossHost) => format!("{} (between hosts)", other.label()),
        (other, _) => other.label().to_string(),
    }
}

/// A link's impairments in one cell: `none`, `both: delay 20ms`, or each way.
pub fn impair_text(i: &LinkImpair) -> String {
    if i.is_clean() {
        "none".into()
    } else if i.a_to_z == i.z_to_a {
        format!("both: {}", i.a_to_z)
    } else {
        format!("a-to-z: {}; z-to-a: {}", i.a_to_z, i.z_to_a)
    }
}

/// The relay under the links table: running since when, not running (and the fix), or none
/// (direct links).
pub fn relay_line(st: &LabStatus) -> String {
    match &st.relay {
        Some(r) if r.status == "running" => format!(
            "link relay: running (pid {}){}",
            r.pid.map(|p| p.to_string()).unwrap_or_default(),
            r.started
                .as_ref()
                .map(|t| format!(", counting since {t}"))
                .unwrap_or_default()
        ),
        Some(_) => format!(
            "link relay: not running; links carry no traffic (run `vmlab repair --lab {}`)",
            st.name
        ),
        None => "links are direct: no relay, no counters".into(),
    }
}

/// Does link `l` carry frames now (both ends there, up, relay running): what a link API
/// reports as connected.
pub fn connected(l: &LinkRow) -> bool {
    l.state == LinkState::Up
}

/// How many of a link's two ends are there (the ones it does not wait for).
pub fn ends_present(l: &LinkRow) -> usize {
    2usize.saturating_sub(l.waiting_for.len())
}

/// One direction: frames and bytes so far, and the rate over the last second.
fn dir_text(d: &DirReport) -> String {
    format!(
        "{} fr {} @ {}",
        d.frames,
        human_bytes(d.bytes),
        crate::spec::impair::show_bits_per_sec(d.bits_per_sec)
    )
}

/// A direction's rate alone: `96.0 kbit/s` (an idle direction that still passes frames,
/// under 1 bit/s on average, shows its frames: `3 f/s`).
pub fn rate(fps: f64, bps: f64) -> String {
    if bps < 1.0 && fps >= 0.5 {
        return format!("{fps:.0} f/s");
    }
    crate::spec::impair::show_bits_per_sec(bps)
}

fn dropped_text(a: &Dropped, b: &Dropped) -> String {
    let sum = |f: fn(&Dropped) -> u64| f(a) + f(b);
    let parts: Vec<String> = [
        ("down", sum(|d| d.down)),
        ("loss", sum(|d| d.loss)),
        ("rate", sum(|d| d.rate)),
        ("peer", sum(|d| d.peer)),
        ("oversize", sum(|d| d.oversize)),
        ("foreign", sum(|d| d.foreign)),
        ("forged", sum(|d| d.forged)),
        ("replayed", sum(|d| d.replayed)),
    ]
    .iter()
    .filter(|(_, n)| *n > 0)
    .map(|(k, n)| format!("{k} {n}"))
    .collect();
    if parts.is_empty() {
        "0".into()
    } else {
        parts.join(", ")
    }
}

/// Bytes for people: `11.3 KiB`.
pub fn human_bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.1} GiB", n as f64 / (1u64 << 30) as f64),
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::api::LinkCounters;
    use crate::spec::impair::Impairment;

    fn row(state: LinkState, transport: LinkTransport) -> LinkRow {
        LinkRow {
            index: 3,
            a: "spine1:Ethernet0".into(),
            z: "leaf1:Ethernet0".into(),
            a_guest: "eth1".into(),
            z_guest: "eth1".into(),
            transport,
            state,
            waiting_for: if state == LinkState::Waiting {
                vec!["leaf1".into(), "relay".into()]
            } else {
                Vec::new()
            },
            admin_up: true,
            impair: LinkImpair::default(),
            counters: None,
            peer: None,
        }
    }

    #[test]
    fn a_link_is_worded_once() {
        let waiting = link_cells(&row(LinkState::Waiting, LinkTransport::Relay));
        assert_eq!(waiting.state, "waiting for leaf1, relay");
        assert_eq!(waiting.a, "spine1:Ethernet0 (eth1)");
        assert_eq!(
            (waiting.a_to_z.as_str(), waiting.dropped.as_str()),
            ("-", "-")
        );
        assert_eq!(waiting.impairments, "none");
        let mut up = row(LinkState::Up, LinkTransport::CrossHost);
        let mut c = LinkCounters {
            a_to_z: DirReport::default(),
            z_to_a: DirReport::default(),
        };
        c.a_to_z.frames = 120;
        c.a_to_z.bytes = 11_571;
        c.a_to_z.bits_per_sec = 96_000.0;
        c.a_to_z.dropped.loss = 3;
        c.z_to_a.dropped.down = 2;
        c.z_to_a.frames_per_sec = 3.0;
        up.counters = Some(c);
        up.impair.a_to_z = Impairment {
            delay_us: 20_000,
            ..Impairment::default()
        };
        let cells = link_cells(&up);
        assert_eq!(cells.state, "up (between hosts)");
        assert_eq!(cells.a_to_z, "120 fr 11.3 KiB @ 96.0 kbit/s");
        assert_eq!(cells.z_to_a_rate, "3 f/s");
        assert_eq!(cells.dropped, "down 2, loss 3");
        assert!(cells.impairments.starts_with("a-to-z: "), "{cells:?}");
        assert!(connected(&up));
        assert_eq!(
            ends_present(&row(LinkState::Waiting, LinkTransport::Relay)),
            0
        );
    }
}
