//! What the relay does to each frame of one direction of a link, decided purely: drop it (and
//! why) or send it at a given time. Loss is random, rate is a token bucket with a bounded
//! queue, delay and jitter set the send time. Frames never overtake each other (jitter moves a
//! frame's time only as far as the one before it), so TCP through an impaired link sees delay
//! and loss, not reordering.
//!
//! Time is microseconds on any monotonic clock and randomness is passed in, so every rule is
//! tested exactly.

use crate::spec::impair::Impairment;

/// The most a direction queues before it drops for rate: 100 ms of sending, or this many
/// frames, or this many bytes waiting for their time (frames are up to 9 KiB: the frame bound
/// alone would let one direction hold 180 MB).
pub const RATE_QUEUE_US: u64 = 100_000;
pub const MAX_QUEUED: usize = 20_000;
pub const MAX_QUEUED_BYTES: usize = 8 * 1024 * 1024;

/// Frames waiting for their send time, in order, with their total size.
#[derive(Debug, Default)]
pub struct FrameQueue {
    frames: std::collections::VecDeque<(u64, Vec<u8>)>,
    bytes: usize,
}

impl FrameQueue {
    pub fn push(&mut self, at: u64, frame: Vec<u8>) {
        self.bytes += frame.len();
        self.frames.push_back((at, frame));
    }

    /// The next frame whose time is at or before `now`.
    pub fn pop_due(&mut self, now: u64) -> Option<Vec<u8>> {
        if self.frames.front().is_some_and(|(at, _)| *at <= now) {
            let (_, f) = self.frames.pop_front()?;
            self.bytes -= f.len();
            return Some(f);
        }
        None
    }

    /// The send time of the next frame.
    pub fn next_at(&self) -> Option<u64> {
        self.frames.front().map(|(at, _)| *at)
    }

    /// Empties the queue; how many frames it held.
    pub fn clear(&mut self) -> usize {
        let n = self.frames.len();
        self.frames.clear();
        self.bytes = 0;
        n
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// (frames, bytes) waiting.
    pub fn backlog(&self) -> Backlog {
        Backlog {
            frames: self.frames.len(),
            bytes: self.bytes,
        }
    }
}

/// How much waits already.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backlog {
    pub frames: usize,
    pub bytes: usize,
}

/// Why a frame was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drop {
    /// Random loss.
    Loss,
    /// Over the rate limit, or the queue is full.
    Rate,
}

/// A frame's fate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Drop(Drop),
    /// Send at this time (microseconds); at or before now means at once.
    SendAt(u64),
}

/// The state of one direction: its impairment and where its queue stands.
#[derive(Debug, Clone, Default)]
pub struct Shaper {
    imp: Impairment,
    /// When the rate limiter is next free to start a frame.
    next_free: u64,
    /// The send time of the last frame passed, which no later frame may precede.
    last_at: u64,
}

impl Shaper {
    pub fn new(imp: Impairment) -> Self {
        Shaper {
            imp,
            ..Shaper::default()
        }
    }

    /// A clean direction: every frame goes at once.
    pub fn is_clean(&self) -> bool {
        self.imp.is_clean()
    }

    /// Decides a frame of `len` bytes arriving at `now`. `coin` is uniform in [0, 1) (loss),
    /// `spread` uniform in [-1, 1] (jitter); `queued` is what waits already.
    pub fn decide(
        &mut self,
        now: u64,
        len: usize,
        coin: f64,
        spread: f64,
        queued: Backlog,
    ) -> Verdict {
        let imp = &self.imp;
        if imp.loss_ppm > 0 && coin < f64::from(imp.loss_ppm) / 1e6 {
            return Verdict::Drop(Drop::Loss);
        }
        if queued.frames >= MAX_QUEUED || queued.bytes + len > MAX_QUEUED_BYTES {
            return Verdict::Drop(Drop::Rate);
        }
        let mut depart = now;
        if imp.rate_bps > 0 {
            let start = self.next_free.max(now);
            if start - now > RATE_QUEUE_US {
                return Verdict::Drop(Drop::Rate);
            }
            let tx_us = (len as u64 * 8 * 1_000_000).div_ceil(imp.rate_bps);
            self.next_free = start + tx_us;
            depart = self.next_free;
        }
        let jitter = (imp.jitter_us as f64 * spread.clamp(-1.0, 1.0)).round() as i64;
        let at = (depart as i64 + imp.delay_us as i64 + jitter).max(depart as i64) as u64;
        let at = at.max(self.last_at);
        self.last_at = at;
        Verdict::SendAt(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(frames: usize) -> Backlog {
        Backlog {
            frames,
            bytes: frames * 100,
        }
    }

    fn shaper(delay: u64, jitter: u64, loss_ppm: u32, rate_bps: u64) -> Shaper {
        Shaper::new(Impairment {
            delay_us: delay,
            jitter_us: jitter,
            loss_ppm,
            rate_bps,
        })
    }

    #[test]
    fn a_clean_direction_sends_at_once() {
        let mut s = Shaper::default();
        assert!(s.is_clean());
        assert_eq!(
            s.decide(1_000, 1500, 0.0, 0.0, q(0)),
            Verdict::SendAt(1_000)
        );
    }

    #[test]
    fn delay_and_jitter_never_reorder() {
        let mut s = shaper(20_000, 5_000, 0, 0);
        assert_eq!(s.decide(0, 100, 0.5, 0.0, q(0)), Verdict::SendAt(20_000));
        assert_eq!(s.decide(0, 100, 0.5, 1.0, q(0)), Verdict::SendAt(25_000));
        // Jitter would put this one before the last: it waits for it instead.
        assert_eq!(
            s.decide(1_000, 100, 0.5, -1.0, q(1)),
            Verdict::SendAt(25_000)
        );
        assert_eq!(
            s.decide(10_000, 100, 0.5, -1.0, q(0)),
            Verdict::SendAt(25_000)
        );
    }

    #[test]
    fn loss_follows_the_coin() {
        let mut s = shaper(0, 0, 300_000, 0);
        assert_eq!(s.decide(0, 100, 0.29, 0.0, q(0)), Verdict::Drop(Drop::Loss));
        assert_eq!(s.decide(0, 100, 0.31, 0.0, q(0)), Verdict::SendAt(0));
        let mut all = shaper(0, 0, 1_000_000, 0);
        assert_eq!(
            all.decide(0, 100, 0.999, 0.0, q(0)),
            Verdict::Drop(Drop::Loss)
        );
    }

    #[test]
    fn rate_spaces_frames_and_drops_past_the_queue() {
        // 8 Mbit/s: a 1000-byte frame takes 1 ms.
        let mut s = shaper(0, 0, 0, 8_000_000);
        assert_eq!(s.decide(0, 1000, 0.5, 0.0, q(0)), Verdict::SendAt(1_000));
        assert_eq!(s.decide(0, 1000, 0.5, 0.0, q(1)), Verdict::SendAt(2_000));
        // A burst fills 100 ms of queue, then drops.
        let mut sent = 2;
        loop {
            match s.decide(0, 1000, 0.5, 0.0, q(sent)) {
                Verdict::SendAt(_) => sent += 1,
                Verdict::Drop(d) => {
                    assert_eq!(d, Drop::Rate);
                    break;
                }
            }
        }
        assert_eq!(sent, 101, "100 ms of 1 ms frames queue after the first");
        // Later, the queue has drained and frames pass again.
        assert_eq!(
            s.decide(200_000, 1000, 0.5, 0.0, q(0)),
            Verdict::SendAt(201_000)
        );
    }

    #[test]
    fn a_queue_full_of_bytes_drops() {
        let mut s = shaper(10_000, 0, 0, 0);
        let big = Backlog {
            frames: 10,
            bytes: MAX_QUEUED_BYTES - 9000,
        };
        assert_eq!(s.decide(0, 9000, 0.5, 0.0, big), Verdict::SendAt(10_000));
        assert_eq!(s.decide(0, 9001, 0.5, 0.0, big), Verdict::Drop(Drop::Rate));
        // The queue counts what it holds.
        let mut queue = FrameQueue::default();
        queue.push(5, vec![0; 9000]);
        queue.push(9, vec![0; 100]);
        assert_eq!(
            queue.backlog(),
            Backlog {
                frames: 2,
                bytes: 9100
            }
        );
        assert_eq!(queue.pop_due(4), None);
        assert_eq!(queue.pop_due(5).map(|f| f.len()), Some(9000));
        assert_eq!(
            queue.backlog(),
            Backlog {
                frames: 1,
                bytes: 100
            }
        );
        assert_eq!(queue.clear(), 1);
        assert_eq!(queue.backlog(), Backlog::default());
    }

    #[test]
    fn a_full_queue_drops() {
        let mut s = shaper(10_000, 0, 0, 0);
        assert_eq!(
            s.decide(0, 64, 0.5, 0.0, q(MAX_QUEUED)),
            Verdict::Drop(Drop::Rate)
        );
    }
}
