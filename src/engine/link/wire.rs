//! The datagrams two hosts' relays exchange for a link between them, over UDP.
//!
//! Each datagram is a header, then the Ethernet frame (none for a heartbeat), then — when the
//! lab's links between hosts are keyed (the default) — a 16-byte tag: BLAKE3 in keyed mode,
//! with the lab's key, over everything before it.
//!
//! ```text
//! magic "VML1" | kind u8 | flags u8 | reserved u16 | link u32 | epoch u64 | seq u64 | frame | tag
//! ```
//!
//! `flags` says which end sent it (so a datagram reflected back at its sender is refused) and,
//! in a heartbeat, whether the sender's VM is attached. `epoch` is the sending relay's start
//! (nanoseconds since the epoch, never less than the last one used for the lab) and `seq`
//! counts its datagrams, so the receiver refuses a replay: anything from an older epoch, or a
//! sequence number it has seen or that fell out of its 1024-wide window. All integers are
//! big-endian. Pure code, no I/O.

use crate::plan::End;

pub const MAGIC: &[u8; 4] = b"VML1";
pub const HEADER_LEN: usize = 28;
pub const TAG_LEN: usize = 16;
/// The lab key's length in bytes.
pub const KEY_LEN: usize = 32;

/// What a datagram carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Frame,
    /// Once a second, each way: the link's other host is there, and whether its VM is.
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
    /// Too short, wrong magic, unknown kind, another link, or from the wrong end.
    Malformed,
    /// The tag does not match: not sent with this lab's key.
    Forged,
    /// Seen before, or older than the window.
    Replayed,
}

/// Appends one datagram to `out` (cleared first).
pub fn encode(h: &Header, frame: &[u8], key: Option<&[u8; KEY_LEN]>, out: &mut Vec<u8>) {
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
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&h.link.to_be_bytes());
    out.extend_from_slice(&h.epoch.to_be_bytes());
    out.extend_from_slice(&h.seq.to_be_bytes());
    out.extend_from_slice(frame);
    if let Some(key) = key {
        let tag = blake3::keyed_hash(key, out);
        out.extend_from_slice(&tag.as_bytes()[..TAG_LEN]);
    }
}

/// Checks a datagram for link `link` arriving at end `to`: its shape and its tag (the replay
/// check is [`Window`]'s). Returns the header and the frame.
pub fn decode<'a>(
    data: &'a [u8],
    link: u32,
    to: End,
    key: Option<&[u8; KEY_LEN]>,
) -> Result<(Header, &'a [u8]), Refused> {
    let tag_len = if key.is_some() { TAG_LEN } else { 0 };
    if data.len() < HEADER_LEN + tag_len || &data[..4] != MAGIC {
        return Err(Refused::Malformed);
    }
    let (body, tag) = data.split_at(data.len() - tag_len);
    if let Some(key) = key {
        let want = blake3::keyed_hash(key, body);
        // Constant time: the comparison does not tell an attacker how much of a guess was right.
        let diff = want.as_bytes()[..TAG_LEN]
            .iter()
            .zip(tag)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if diff != 0 {
            return Err(Refused::Forged);
        }
    }
    let kind = match body[4] {
        0 => Kind::Frame,
        1 => Kind::Heartbeat,
        _ => return Err(Refused::Malformed),
    };
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
    if h.link != link || h.from == to {
        return Err(Refused::Malformed);
    }
    Ok((h, &body[HEADER_LEN..]))
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

    #[test]
    fn a_datagram_round_trips_and_any_change_is_refused() {
        let mut out = Vec::new();
        encode(&hdr(9), b"frame bytes", Some(&KEY), &mut out);
        assert_eq!(out.len(), HEADER_LEN + 11 + TAG_LEN);
        let (h, f) = decode(&out, 3, End::Z, Some(&KEY)).unwrap();
        assert_eq!((h, f), (hdr(9), &b"frame bytes"[..]));
        // Every single flipped byte is caught.
        for i in 0..out.len() {
            let mut bad = out.clone();
            bad[i] ^= 0x40;
            assert!(decode(&bad, 3, End::Z, Some(&KEY)).is_err(), "byte {i}");
        }
        // Another key, another link, or the sender's own end.
        assert_eq!(
            decode(&out, 3, End::Z, Some(&[8; KEY_LEN])),
            Err(Refused::Forged)
        );
        assert_eq!(decode(&out, 4, End::Z, Some(&KEY)), Err(Refused::Malformed));
        assert_eq!(decode(&out, 3, End::A, Some(&KEY)), Err(Refused::Malformed));
        // Unkeyed links carry no tag.
        encode(&hdr(1), b"x", None, &mut out);
        assert_eq!(out.len(), HEADER_LEN + 1);
        assert!(decode(&out, 3, End::Z, None).is_ok());
        assert_eq!(decode(&out[..10], 3, End::Z, None), Err(Refused::Malformed));
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
