//! One direction of one link, in a thread of its own: frames in from one VM, out to the
//! other. The thread blocks in `recvmmsg` until a frame comes (then takes every frame waiting,
//! a batch per call) and sends with `sendmmsg` on a socket connected to the receiving VM's —
//! so a full VM socket makes it wait, giving the sender's QEMU the backpressure a direct link
//! gives. No async machinery sits between a frame and its forwarding: it is the relay's cost
//! per frame, and the latency it adds.
//!
//! When the receiving VM restarts, its old socket is gone: the next send fails with
//! `ECONNREFUSED` and the thread connects to the new one. Settings (admin state,
//! impairments) are read from a watch channel between batches; a queued frame's time is
//! waited for with the socket's receive timeout. Counters are atomics the control server reads.

use std::os::fd::AsRawFd;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::{broadcast, watch};

use super::control::{self, DirReport, Dropped};
use super::mmsg::{self, Batch};
use super::shaper::{self, FrameQueue, Shaper, Verdict};
use crate::spec::LinkImpair;
use crate::spec::impair::Direction;

/// How long an idle thread sleeps before it looks at its stop flag again (settings are read
/// whenever frames come).
const IDLE_WAIT: Duration = Duration::from_secs(5);
/// How long a full VM socket may hold a send before the frames are counted as not taken.
const SEND_WAIT: Duration = Duration::from_millis(250);

/// Counters of one direction, shared with the control server.
#[derive(Debug, Default)]
pub struct DirCounters {
    frames: AtomicU64,
    bytes: AtomicU64,
    pub down: AtomicU64,
    loss: AtomicU64,
    rate: AtomicU64,
    peer: AtomicU64,
    oversize: AtomicU64,
    /// Links between hosts, arriving: from an address other than the peer host's, with a
    /// wrong tag (or malformed), or a replay.
    pub foreign: AtomicU64,
    pub forged: AtomicU64,
    pub replayed: AtomicU64,
    /// Milliseconds since the epoch of the last frame in (0: none).
    last_ms: AtomicU64,
    /// Frames and bytes at the last one-second tick, and the rates over that second (f64 bits).
    tick_frames: AtomicU64,
    tick_bytes: AtomicU64,
    fps: AtomicU64,
    bps: AtomicU64,
}

impl DirCounters {
    pub fn report(&self) -> DirReport {
        let last = self.last_ms.load(Ordering::Relaxed);
        DirReport {
            frames: self.frames.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            dropped: Dropped {
                down: self.down.load(Ordering::Relaxed),
                loss: self.loss.load(Ordering::Relaxed),
                rate: self.rate.load(Ordering::Relaxed),
                peer: self.peer.load(Ordering::Relaxed),
                oversize: self.oversize.load(Ordering::Relaxed),
                foreign: self.foreign.load(Ordering::Relaxed),
                forged: self.forged.load(Ordering::Relaxed),
                replayed: self.replayed.load(Ordering::Relaxed),
            },
            last_frame: (last > 0).then(|| {
                humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(last))
                    .to_string()
            }),
            frames_per_sec: f64::from_bits(self.fps.load(Ordering::Relaxed)),
            bits_per_sec: f64::from_bits(self.bps.load(Ordering::Relaxed)),
        }
    }

    /// A frame came in now.
    pub fn touch(&self) {
        self.last_ms.store(now_us() / 1000, Ordering::Relaxed);
    }

    /// Once a second: the rates over the last second.
    pub fn tick(&self, secs: f64) {
        let f = self.frames.load(Ordering::Relaxed);
        let b = self.bytes.load(Ordering::Relaxed);
        let df = f - self.tick_frames.swap(f, Ordering::Relaxed);
        let db = b - self.tick_bytes.swap(b, Ordering::Relaxed);
        self.fps
            .store((df as f64 / secs).to_bits(), Ordering::Relaxed);
        self.bps
            .store((db as f64 * 8.0 / secs).to_bits(), Ordering::Relaxed);
    }
}

/// What both directions of a link share with the control server.
pub struct LinkShared {
    pub index: usize,
    pub a_vm: PathBuf,
    pub z_vm: PathBuf,
    /// Admin state and impairments, changed by a reload.
    pub settings: watch::Sender<(bool, LinkImpair)>,
    pub dirs: [DirCounters; 2],
    /// Delivered frames, encoded for captures (sent only while someone captures).
    pub capture: broadcast::Sender<std::sync::Arc<[u8]>>,
    /// Set when the relay ends.
    pub stop: AtomicBool,
}

impl LinkShared {
    /// A link's shared state as its configuration starts it: its settings, zero counters, no
    /// capture.
    pub fn new(cfg: &super::config::LinkConfig) -> std::sync::Arc<Self> {
        std::sync::Arc::new(LinkShared {
            index: cfg.index,
            a_vm: cfg.sockets.a_vm.clone(),
            z_vm: cfg.sockets.z_vm.clone(),
            settings: watch::channel((cfg.up, cfg.impair)).0,
            dirs: Default::default(),
            capture: broadcast::channel(4096).0,
            stop: AtomicBool::new(false),
        })
    }

    pub fn counters(&self, d: Direction) -> &DirCounters {
        &self.dirs[d as usize]
    }
}

pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// Where one direction's frames go: a VM's socket here, or the link's other host.
pub trait Sink {
    /// Delivers frames in order; returns how many were taken.
    fn send(&mut self, frames: &[&[u8]]) -> usize;
}

/// The sending side towards one VM: connected to its socket, reconnected after a restart.
pub struct Peer {
    path: PathBuf,
    sock: Option<UnixDatagram>,
}

impl Sink for Peer {
    fn send(&mut self, frames: &[&[u8]]) -> usize {
        Peer::send(self, frames)
    }
}

impl Peer {
    pub fn new(path: PathBuf) -> Self {
        Peer { path, sock: None }
    }

    fn connect(&mut self) -> bool {
        if self.sock.is_some() {
            return true;
        }
        let s = UnixDatagram::unbound()
            .and_then(|s| s.connect(&self.path).map(|_| s))
            .and_then(|s| s.set_write_timeout(Some(SEND_WAIT)).map(|_| s));
        match s {
            Ok(s) => {
                self.sock = Some(s);
                true
            }
            Err(_) => false,
        }
    }

    /// Delivers frames in order; returns how many the VM took.
    fn send(&mut self, frames: &[&[u8]]) -> usize {
        let mut sent = 0;
        let mut reconnected = false;
        while sent < frames.len() {
            if !self.connect() {
                return sent;
            }
            let Some(sock) = &self.sock else {
                return sent;
            };
            match mmsg::send_wait(sock.as_raw_fd(), &frames[sent..]) {
                Ok(0) => return sent,
                Ok(n) => sent += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                // The VM restarted: its old socket is gone; connect to the new one, once.
                Err(e)
                    if !reconnected
                        && matches!(
                            e.raw_os_error(),
                            Some(nix::libc::ECONNREFUSED)
                                | Some(nix::libc::ENOTCONN)
                                | Some(nix::libc::ENOENT)
                        ) =>
                {
                    self.sock = None;
                    reconnected = true;
                }
                // Gone, or full for longer than SEND_WAIT.
                Err(_) => return sent,
            }
        }
        sent
    }
}

/// Runs one direction until the link's stop flag is set: frames arriving on `rx` (from one
/// VM) go to `out` (the other VM, or the link's other host).
pub fn run(
    link: std::sync::Arc<LinkShared>,
    dir: Direction,
    rx: UnixDatagram,
    mut out: impl Sink,
    mut settings: watch::Receiver<(bool, LinkImpair)>,
) {
    let counters = link.counters(dir);
    let mut batch = Batch::small();
    let (mut up, imp) = *settings.borrow_and_update();
    let mut shaper = Shaper::new(*imp.get(dir));
    let mut rng = fastrand::Rng::new();
    let mut queue = FrameQueue::default();
    let start = Instant::now();
    let mono_us = || start.elapsed().as_micros() as u64;
    let mut wait = IDLE_WAIT;
    let _ = rx.set_read_timeout(Some(wait));
    while !link.stop.load(Ordering::Relaxed) {
        // Send every queued frame whose time has come, then wait at most until the next one.
        let now = mono_us();
        while let Some(frame) = queue.pop_due(now) {
            deliver(&link, dir, counters, &mut out, &[&frame]);
        }
        let next = queue
            .next_at()
            .map(|at| Duration::from_micros(at.saturating_sub(mono_us()).max(1)))
            .unwrap_or(IDLE_WAIT)
            .min(IDLE_WAIT);
        if next != wait {
            wait = next;
            let _ = rx.set_read_timeout(Some(wait));
        }
        let received = batch.recv_wait(rx.as_raw_fd());
        // New settings apply from the frames that woke us.
        if settings.has_changed().unwrap_or(false) {
            let (u, imp) = *settings.borrow_and_update();
            up = u;
            shaper = Shaper::new(*imp.get(dir));
            if !up {
                let dropped = queue.clear();
                counters.down.fetch_add(dropped as u64, Ordering::Relaxed);
            }
        }
        let Ok(n) = received else {
            continue;
        };
        // The first frame makes this a direction that carries traffic: full batches from now.
        batch.grow();
        counters.last_ms.store(now_us() / 1000, Ordering::Relaxed);
        let oversize = batch.frames().filter(|(_, cut)| *cut).count() as u64;
        if oversize > 0 {
            counters.oversize.fetch_add(oversize, Ordering::Relaxed);
        }
        let frames = batch.frames().filter(|(_, cut)| !cut).map(|(f, _)| f);
        if !up {
            counters
                .down
                .fetch_add(n as u64 - oversize, Ordering::Relaxed);
        } else if shaper.is_clean() && queue.is_empty() {
            let frames: Vec<&[u8]> = frames.collect();
            deliver(&link, dir, counters, &mut out, &frames);
        } else {
            for frame in frames {
                let verdict = shaper.decide(
                    mono_us(),
                    frame.len(),
                    rng.f64(),
                    rng.f64() * 2.0 - 1.0,
                    queue.backlog(),
                );
                match verdict {
                    Verdict::Drop(shaper::Drop::Loss) => {
                        counters.loss.fetch_add(1, Ordering::Relaxed);
                    }
                    Verdict::Drop(shaper::Drop::Rate) => {
                        counters.rate.fetch_add(1, Ordering::Relaxed);
                    }
                    Verdict::SendAt(at) if at <= mono_us() && queue.is_empty() => {
                        deliver(&link, dir, counters, &mut out, &[frame]);
                    }
                    Verdict::SendAt(at) => queue.push(at, frame.to_vec()),
                }
            }
        }
    }
}

/// Delivers frames in order, counting what went and what did not, and copies them to
/// captures.
pub fn deliver(
    link: &LinkShared,
    dir: Direction,
    counters: &DirCounters,
    out: &mut impl Sink,
    frames: &[&[u8]],
) {
    let sent = out.send(frames);
    let bytes: usize = frames[..sent].iter().map(|f| f.len()).sum();
    counters.frames.fetch_add(sent as u64, Ordering::Relaxed);
    counters.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    if sent < frames.len() {
        counters
            .peer
            .fetch_add((frames.len() - sent) as u64, Ordering::Relaxed);
    }
    if link.capture.receiver_count() > 0 {
        let at = now_us();
        for f in &frames[..sent] {
            let mut rec = Vec::with_capacity(13 + f.len());
            control::encode_frame(at, dir, f, &mut rec);
            let _ = link.capture.send(rec.into());
        }
    }
}
