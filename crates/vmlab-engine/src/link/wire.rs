//! The datagrams two hosts' relays exchange for a link between them, over UDP.
//!
//! Each datagram is a header, then its payload (an Ethernet frame, or in a heartbeat the
//! sending relay's nonce), then — when the lab's links between hosts are keyed (the default) —
//! a 16-byte tag.
//!
//! ```text
//! magic "VML2" | kind u8 | flags u8 | hint u16 | link u32 | epoch u64 | seq u64 | payload | tag
//! ```
//!
//! What the tag covers, and why:
//! - It is BLAKE3 in keyed mode with a **link key** derived from the lab key, the lab's name,
//!   the link's index and both ends' UDP addresses ([`link_key`]): a datagram of another lab
//!   that happens to share the key file, or of another link, never checks out.
//! - A frame's tag is made with a key bound to the **receiving relay's nonce** ([`RunKeys`]),
//!   a random value each relay picks when it starts and sends in its heartbeats (one hash when
//!   the nonce is learnt, none per frame). So a frame is good only for the relay run it was
//!   made for: after the receiving relay restarts, everything captured before is refused
//!   (`hint`, the nonce's first two bytes, tells such a stale frame from a forged one for the
//!   counters). Heartbeats are bound to no nonce (they are how a nonce is learnt), so a
//!   replayed old heartbeat can at worst make a relay believe in a stale nonce until the next
//!   real heartbeat, a second later.
//!
//! `flags` says which end sent it (so a datagram reflected back at its sender is refused) and,
//! in a heartbeat, whether the sender's VM is attached. `epoch` is the sending relay's start
//! (nanoseconds since the epoch, never less than the last one used for the lab) and `seq`
//! counts its datagrams, so within one relay run the receiver refuses a replay: anything from
//! an older epoch, or a sequence number it has seen or that fell out of its 1024-wide window.
//! An epoch more than a day ahead of the receiver's clock is refused ([`plausible_epoch`]), so
//! a made-up epoch cannot lock the real sender out. Empty frames are refused (QEMU's socket
//! backend can stall on one). All integers are big-endian. Pure code, no I/O.

use std::net::SocketAddr;

use crate::plan::End;

pub const MAGIC: &[u8; 4] = b"VML2";
pub const HEADER_LEN: usize = 28;
pub const TAG_LEN: usize = 16;
/// The lab key's length in bytes.
pub const KEY_LEN: usize = 32;
/// A relay run's nonce.
pub const NONCE_LEN: usize = 16;
pub type Nonce = [u8; NONCE_LEN];
/// How far ahead of the receiver's clock an epoch may be (clocks of two hosts differ).
pub const MAX_EPOCH_AHEAD_NS: u64 = 24 * 3600 * 1_000_000_000;

/// What a datagram carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Frame,
    /// Once a second, each way: the link's other host is there, whether its VM is, and the
    /// sending relay's nonce.
    Heartbeat,
}

/// A datagram's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub kind: Kind,
    /// The end that sent it.
    pub from: End,
    /// In a heartbeat: the sender's VM socket is there.
    pub attached: bool,
    pub link: u32,
    pub epoch: u64,
    pub seq: u64,
}

const FLAG_FROM_Z: u8 = 1;
const FLAG_ATTACHED: u8 = 2;

/// Why a datagram was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Too short, wrong magic, unknown kind, another link, from the wrong end, or empty.
    Malformed,
    /// The tag does not match: not made with this link's key.
    Forged,
    /// Seen before, older than the window, or made for an earlier run of this relay.
    Replayed,
}

/// The key one link's datagrams are tagged with: the lab key bound to the lab's name, the
/// link's index and its two ends' UDP addresses (`a` end first).
pub fn link_key(
    lab_key: &[u8; KEY_LEN],
    lab: &str,
    link: u32,
    a: SocketAddr,
    z: SocketAddr,
) -> [u8; KEY_LEN] {
    let mut h = blake3::Hasher::new_derive_key("vmlab 2026-12 link between hosts");
    h.update(lab_key);
    h.update(&(lab.len() as u64).to_be_bytes());
    h.update(lab.as_bytes());
    h.update(&link.to_be_bytes());
    h.update(a.to_string().as_bytes());
    h.update(b"\0");
    h.update(z.to_string().as_bytes());
    *h.finalize().as_bytes()
}

/// The keys of one relay run's datagrams: heartbeats are tagged with the link key, frames with
/// the link key bound to the receiving run's nonce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunKeys {
    link: [u8; KEY_LEN],
    frames: [u8; KEY_LEN],
    hint: [u8; 2],
}

impl RunKeys {
    /// The keys for datagrams to (or, with its own nonce, of) the relay run `nonce`.
    pub fn new(link_key: &[u8; KEY_LEN], nonce: &Nonce) -> Self {
        RunKeys {
            link: *link_key,
            frames: *blake3::keyed_hash(link_key, nonce).as_bytes(),
            hint: hint_of(nonce),
        }
    }
}

/// How a datagram is tagged: with keys (keyed links), or only with the receiving run's hint
/// (unkeyed links).
#[derive(Debug, Clone, Copy)]
pub enum Tagging<'a> {
    Keyed(&'a RunKeys),
    Unkeyed { hint: [u8; 2] },
}

impl Tagging<'_> {
    fn hint(&self) -> [u8; 2] {
        match self {
            Tagging::Keyed(k) => k.hint,
            Tagging::Unkeyed { hint } => *hint,
        }
    }

    fn key(&self, kind: Kind) -> Option<&[u8; KEY_LEN]> {
        match (self, kind) {
            (Tagging::Keyed(k), Kind::Frame) => Some(&k.frames),
            (Tagging::Keyed(k), Kind::Heartbeat) => Some(&k.link),
            (Tagging::Unkeyed { .. }, _) => None,
        }
    }
}

/// Is `epoch` believable at `now_ns` (not a made-up future)?
pub fn plausible_epoch(epoch: u64, now_ns: u64) -> bool {
    epoch <= now_ns.saturating_add(MAX_EPOCH_AHEAD_NS)
}

/// The tag of `body`.
fn tag(key: &[u8; KEY_LEN], body: &[u8]) -> [u8; TAG_LEN] {
    let mut t = [0u8; TAG_LEN];
    t.copy_from_slice(&blake3::keyed_hash(key, body).as_bytes()[..TAG_LEN]);
    t
}

/// The first two bytes of a nonce, sent in the clear to tell a stale frame from a forged one.
pub fn hint_of(nonce: &Nonce) -> [u8; 2] {
    [nonce[0], nonce[1]]
}

/// Appends one datagram to `out` (cleared first). A frame is made for the receiving relay's
/// run (`to`: the keys or hint of its nonce, learnt from its heartbeats); a heartbeat's
/// payload is the sender's own nonce.
pub fn encode(h: &Header, payload: &[u8], to: Tagging<'_>, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(MAGIC);
    out.push(match h.kind {
        Kind::Frame => 0,
        Kind::Heartbeat => 1,
    });
    let mut flags = 0;
    if h.from == End::Z {
        flags |= FLAG_FROM_Z;
    }
    if h.attached {
        flags |= FLAG_ATTACHED;
    }
    out.push(flags);
    out.extend_from_slice(&match h.kind {
        Kind::Frame => to.hint(),
        Kind::Heartbeat => [0, 0],
    });
    out.extend_from_slice(&h.link.to_be_bytes());
    out.extend_from_slice(&h.epoch.to_be_bytes());
    out.extend_from_slice(&h.seq.to_be_bytes());
    out.extend_from_slice(payload);
    if let Some(key) = to.key(h.kind) {
        let t = tag(key, out);
        out.extend_from_slice(&t);
    }
}

/// Checks a datagram for link `link` arriving at end `to`, whose relay run is `mine` (its own
/// keys or hint): its shape, its tag and that a frame was made for this run (the replay check
/// within a run is [`Window`]'s). Returns the header and the payload.
pub fn decode<'a>(
    data: &'a [u8],
    link: u32,
    to: End,
    mine: Tagging<'_>,
) -> Result<(Header, &'a [u8]), Refused> {
    let tag_len = if matches!(mine, Tagging::Keyed(_)) {
        TAG_LEN
    } else {
        0
    };
    if data.len() < HEADER_LEN + tag_len || &data[..4] != MAGIC {
        return Err(Refused::Malformed);
    }
    let (body, got) = data.split_at(data.len() - tag_len);
    let kind = match body[4] {
        0 => Kind::Frame,
        1 => Kind::Heartbeat,
        _ => return Err(Refused::Malformed),
    };
    let hint = [body[6], body[7]];
    let stale = kind == Kind::Frame && hint != mine.hint();
    if let Some(key) = mine.key(kind) {
        let want = tag(key, body);
        // Constant time: the comparison does not tell an attacker how much of a guess was right.
        let diff = want.iter().zip(got).fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if diff != 0 {
            return Err(if stale {
                Refused::Replayed
            } else {
                Refused::Forged
            });
        }
    } else if stale {
        // Unkeyed: at least a frame from before this relay run is not taken.
        return Err(Refused::Replayed);
    }
    let flags = body[5];
    let u32_at = |i: usize| u32::from_be_bytes([body[i], body[i + 1], body[i + 2], body[i + 3]]);
    let u64_at = |i: usize| (u64::from(u32_at(i)) << 32) | u64::from(u32_at(i + 4));
    let h = Header {
        kind,
        from: if flags & FLAG_FROM_Z != 0 {
            End::Z
        } else {
            End::A
        },
        attached: flags & FLAG_ATTACHED != 0,
        link: u32_at(8),
        epoch: u64_at(12),
        seq: u64_at(20),
    };
    let payload = &body[HEADER_LEN..];
    let bad_payload = match kind {
        Kind::Frame => payload.is_empty(),
        Kind::Heartbeat => payload.len() != NONCE_LEN,
    };
    if h.link != link || h.from == to || bad_payload {
        return Err(Refused::Malformed);
    }
    Ok((h, payload))
}

/// Sequence numbers seen from the other host: the newest epoch, the highest sequence number in
/// it, and a bitmap of the [`Window::WIDTH`] below it.
#[derive(Debug, Clone, Default)]
pub struct Window {
    epoch: u64,
    top: u64,
    seen: [u64; 16],
    any: bool,
}

impl Window {
    pub const WIDTH: u64 = 1024;

    /// Accepts `(epoch, seq)` once; a newer epoch (the other relay restarted) starts afresh.
    pub fn accept(&mut self, epoch: u64, seq: u64) -> Result<(), Refused> {
        if !self.any || epoch > self.epoch {
            *self = Window {
                epoch,
                top: seq,
                seen: [0; 16],
                any: true,
            };
            self.mark(seq);
            return Ok(());
        }
        if epoch < self.epoch {
            return Err(Refused::Replayed);
        }
        if seq > self.top {
            let shift = seq - self.top;
            if shift >= Self::WIDTH {
                self.seen = [0; 16];
            } else {
                for s in self.top + 1..seq {
                    self.clear(s);
                }
            }
            self.top = seq;
            self.mark(seq);
            return Ok(());
        }
        if self.top - seq >= Self::WIDTH || self.is_marked(seq) {
            return Err(Refused::Replayed);
        }
        self.mark(seq);
        Ok(())
    }

    fn bit(seq: u64) -> (usize, u64) {
        let i = seq % Self::WIDTH;
        ((i / 64) as usize, 1u64 << (i % 64))
    }

    fn mark(&mut self, seq: u64) {
        let (w, b) = Self::bit(seq);
        self.seen[w] |= b;
    }

    fn clear(&mut self, seq: u64) {
        let (w, b) = Self::bit(seq);
        self.seen[w] &= !b;
    }

    fn is_marked(&self, seq: u64) -> bool {
        let (w, b) = Self::bit(seq);
        self.seen[w] & b != 0
    }
}

/// The lab key as written in its file: 64 hex digits.
pub fn key_to_hex(key: &[u8; KEY_LEN]) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads a key written by [`key_to_hex`] (surrounding whitespace allowed).
pub fn key_from_hex(text: &str) -> Option<[u8; KEY_LEN]> {
    let t = text.trim();
    if t.len() != KEY_LEN * 2 || !t.is_ascii() {
        return None;
    }
    let mut key = [0u8; KEY_LEN];
    for (i, k) in key.iter_mut().enumerate() {
        *k = u8::from_str_radix(&t[i * 2..i * 2 + 2], 16).ok()?;
    }
    Some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; KEY_LEN] = [7; KEY_LEN];
    /// The receiving relay's run.
    const RUN: Nonce = [0xa5; NONCE_LEN];

    fn hdr(seq: u64) -> Header {
        Header {
            kind: Kind::Frame,
            from: End::A,
            attached: false,
            link: 3,
            epoch: 100,
            seq,
        }
    }

    fn keyed(k: &RunKeys) -> Tagging<'_> {
        Tagging::Keyed(k)
    }

    fn unkeyed(run: &Nonce) -> Tagging<'static> {
        Tagging::Unkeyed { hint: hint_of(run) }
    }

    #[test]
    fn a_datagram_round_trips_and_any_change_is_refused() {
        let keys = RunKeys::new(&KEY, &RUN);
        let mut out = Vec::new();
        encode(&hdr(9), b"frame bytes", keyed(&keys), &mut out);
        assert_eq!(out.len(), HEADER_LEN + 11 + TAG_LEN);
        let (h, f) = decode(&out, 3, End::Z, keyed(&keys)).unwrap();
        assert_eq!((h, f), (hdr(9), &b"frame bytes"[..]));
        // Every single flipped byte is caught.
        for i in 0..out.len() {
            let mut bad = out.clone();
            bad[i] ^= 0x40;
            assert!(decode(&bad, 3, End::Z, keyed(&keys)).is_err(), "byte {i}");
        }
        // Another key, another link, or the sender's own end.
        let other = RunKeys::new(&[8; KEY_LEN], &RUN);
        assert_eq!(decode(&out, 3, End::Z, keyed(&other)), Err(Refused::Forged));
        assert_eq!(
            decode(&out, 4, End::Z, keyed(&keys)),
            Err(Refused::Malformed)
        );
        assert_eq!(
            decode(&out, 3, End::A, keyed(&keys)),
            Err(Refused::Malformed)
        );
        // Unkeyed links carry no tag.
        encode(&hdr(1), b"x", unkeyed(&RUN), &mut out);
        assert_eq!(out.len(), HEADER_LEN + 1);
        assert!(decode(&out, 3, End::Z, unkeyed(&RUN)).is_ok());
        assert_eq!(
            decode(&out[..10], 3, End::Z, unkeyed(&RUN)),
            Err(Refused::Malformed)
        );
    }

    #[test]
    fn a_frame_is_good_only_for_the_relay_run_it_was_made_for() {
        let keys = RunKeys::new(&KEY, &RUN);
        let mut out = Vec::new();
        encode(&hdr(1), b"frame", keyed(&keys), &mut out);
        assert!(decode(&out, 3, End::Z, keyed(&keys)).is_ok());
        // The receiving relay restarted: a new nonce, and what was captured before is stale.
        let restarted: Nonce = [0x5a; NONCE_LEN];
        let now = RunKeys::new(&KEY, &restarted);
        assert_eq!(decode(&out, 3, End::Z, keyed(&now)), Err(Refused::Replayed));
        // Unkeyed links refuse them too (by the hint).
        encode(&hdr(1), b"frame", unkeyed(&RUN), &mut out);
        assert_eq!(
            decode(&out, 3, End::Z, unkeyed(&restarted)),
            Err(Refused::Replayed)
        );
        // Heartbeats are bound to no run: they carry the sender's nonce to be learnt.
        let hb = Header {
            kind: Kind::Heartbeat,
            ..hdr(2)
        };
        encode(&hb, &RUN, keyed(&now), &mut out);
        let someone = RunKeys::new(&KEY, &[1; NONCE_LEN]);
        let (h, payload) = decode(&out, 3, End::Z, keyed(&someone)).unwrap();
        assert_eq!((h.kind, payload), (Kind::Heartbeat, &RUN[..]));
    }

    #[test]
    fn link_keys_bind_the_lab_the_link_and_its_addresses() {
        let a: SocketAddr = "192.0.2.1:23300".parse().unwrap();
        let z: SocketAddr = "192.0.2.2:23300".parse().unwrap();
        let mine = RunKeys::new(&link_key(&KEY, "fabric", 0, a, z), &RUN);
        let mut out = Vec::new();
        let h = Header { link: 0, ..hdr(1) };
        encode(&h, b"frame", keyed(&mine), &mut out);
        assert!(decode(&out, 0, End::Z, keyed(&mine)).is_ok());
        // Another lab sharing the key file, another link, other ports: forged.
        for other in [
            link_key(&KEY, "fabric2", 0, a, z),
            link_key(&KEY, "fabric", 1, a, z),
            link_key(&KEY, "fabric", 0, a, "192.0.2.2:23301".parse().unwrap()),
            link_key(&KEY, "fabric", 0, z, a),
        ] {
            let other = RunKeys::new(&other, &RUN);
            assert_ne!(other, mine);
            assert_eq!(decode(&out, 0, End::Z, keyed(&other)), Err(Refused::Forged));
        }
    }

    #[test]
    fn empty_frames_and_made_up_epochs_are_refused_keyed_or_not() {
        let keys = RunKeys::new(&KEY, &RUN);
        let mut out = Vec::new();
        for t in [keyed(&keys), unkeyed(&RUN)] {
            encode(&hdr(1), b"", t, &mut out);
            assert_eq!(decode(&out, 3, End::Z, t), Err(Refused::Malformed));
        }
        let now = 1_800_000_000_000_000_000u64;
        assert!(plausible_epoch(now, now));
        assert!(
            plausible_epoch(now + 3_600_000_000_000, now),
            "an hour of clock skew"
        );
        assert!(!plausible_epoch(u64::MAX, now));
        assert!(!plausible_epoch(now + 2 * MAX_EPOCH_AHEAD_NS, now));
    }

    #[test]
    fn the_window_refuses_replays_and_accepts_reordering() {
        let mut w = Window::default();
        assert!(w.accept(100, 5).is_ok());
        assert_eq!(w.accept(100, 5), Err(Refused::Replayed));
        assert!(w.accept(100, 7).is_ok());
        assert!(w.accept(100, 6).is_ok(), "late but new");
        assert_eq!(w.accept(100, 6), Err(Refused::Replayed));
        assert!(w.accept(100, 5000).is_ok());
        assert_eq!(
            w.accept(100, 7),
            Err(Refused::Replayed),
            "out of the window"
        );
        assert!(w.accept(100, 5000 - 10).is_ok());
        // The other relay restarted: a newer epoch starts over; the old one is dead.
        assert!(w.accept(200, 1).is_ok());
        assert_eq!(w.accept(100, 5001), Err(Refused::Replayed));
        // Bits of numbers skipped over are clear when the window wraps past them.
        let mut w = Window::default();
        assert!(w.accept(1, 0).is_ok());
        assert!(w.accept(1, Window::WIDTH - 1).is_ok());
        assert!(w.accept(1, Window::WIDTH + 5).is_ok());
        assert!(w.accept(1, Window::WIDTH + 3).is_ok());
    }

    #[test]
    fn keys_read_back_and_bad_ones_are_refused() {
        let key: [u8; KEY_LEN] = std::array::from_fn(|i| i as u8 * 7);
        assert_eq!(key_from_hex(&format!("{}\n", key_to_hex(&key))), Some(key));
        assert_eq!(key_from_hex("abc"), None);
        assert_eq!(key_from_hex(&"zz".repeat(32)), None);
    }
}
