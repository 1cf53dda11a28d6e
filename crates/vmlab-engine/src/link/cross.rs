//! Links between hosts, in the relay: the UDP side of a link whose other end runs on another
//! host. The local VM talks to this relay over its unix sockets as on any relayed link; its
//! frames go out to the other host's relay as [`super::wire`] datagrams ([`UdpSink`], driven
//! by [`super::forward::run`] like any direction), and datagrams from the other host come in
//! through [`inbound`], which drops anything not from the peer host's address and port, not
//! carrying the link key's tag, made for an earlier run of this relay, seen before, or with a
//! made-up epoch — each counted — before the frame goes to the VM. Once a second each side
//! sends a heartbeat saying its VM is attached and carrying its relay's nonce (frames to it
//! must be made for that nonce: see [`super::wire`]), so each host knows whether the link is
//! whole; either host (and either VM) may start first or restart. Until a relay has heard the
//! other's nonce, its frames count as not taken (`peer`).
//!
//! Impairments of a direction apply on the host that sends it (where its frames leave a VM);
//! a link set down on either host drops both directions there.

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

use super::forward::{self, LinkShared, Peer, Sink, now_us};
use super::wire::{
    self, Header, KEY_LEN, Kind, NONCE_LEN, Nonce, Refused, RunKeys, Tagging, Window,
};
use crate::plan::End;
use crate::spec::LinkImpair;
use crate::spec::impair::Direction;

/// The other host counts as there while heard within this long (heartbeats come each second).
pub const ALIVE: Duration = Duration::from_secs(3);

/// What the two directions and the heartbeat of one link between hosts share.
pub struct CrossShared {
    pub link: u32,
    /// The end on this host.
    pub local_end: End,
    pub sock: UdpSocket,
    pub peer: SocketAddr,
    pub peer_host: String,
    /// The link key (the lab key bound to the lab, the link and its addresses), if keyed.
    pub key: Option<[u8; KEY_LEN]>,
    /// This run's keys (what frames to it are checked with), if keyed.
    own_keys: Option<RunKeys>,
    /// This relay's epoch (see [`super::wire`]) and its next sequence number.
    pub epoch: u64,
    seq: AtomicU64,
    /// This relay run's nonce: frames to it must be made for it.
    nonce: Nonce,
    /// The other relay's run, from its latest heartbeat (none yet: nothing can be sent).
    peer_run: Mutex<Option<PeerRun>>,
    /// Milliseconds since the epoch when the other host was last heard (0: never).
    last_heard_ms: AtomicU64,
    peer_attached: AtomicBool,
}

/// The other relay's run as its heartbeats announce it: its nonce, and (keyed) the keys frames
/// to it are tagged with, derived once per nonce.
#[derive(Clone)]
struct PeerRun {
    nonce: Nonce,
    keys: Option<RunKeys>,
}

impl PeerRun {
    fn tagging(&self) -> Tagging<'_> {
        match &self.keys {
            Some(k) => Tagging::Keyed(k),
            None => Tagging::Unkeyed {
                hint: wire::hint_of(&self.nonce),
            },
        }
    }
}

/// Where a link between hosts is: the lab it belongs to and its ends' UDP addresses.
pub struct CrossPlace<'a> {
    pub lab: &'a str,
    pub link: u32,
    pub local_end: End,
    pub local: SocketAddr,
    pub peer: SocketAddr,
}

impl CrossShared {
    /// `lab_key`: the lab's key, when links between hosts are keyed.
    pub fn new(
        place: CrossPlace<'_>,
        sock: UdpSocket,
        peer_host: String,
        lab_key: Option<[u8; KEY_LEN]>,
        epoch: u64,
    ) -> Self {
        let (a, z) = match place.local_end {
            End::A => (place.local, place.peer),
            End::Z => (place.peer, place.local),
        };
        let key = lab_key.map(|k| wire::link_key(&k, place.lab, place.link, a, z));
        // Unique to this run: the epoch (which only grows for the lab) and randomness.
        let mut nonce = [0u8; NONCE_LEN];
        nonce[..8].copy_from_slice(&fastrand::u64(..).to_be_bytes());
        nonce[8..].copy_from_slice(&(epoch ^ fastrand::u64(..)).to_be_bytes());
        CrossShared {
            link: place.link,
            local_end: place.local_end,
            sock,
            peer: place.peer,
            peer_host,
            own_keys: key.map(|k| RunKeys::new(&k, &nonce)),
            key,
            epoch,
            seq: AtomicU64::new(0),
            nonce,
            peer_run: Mutex::new(None),
            last_heard_ms: AtomicU64::new(0),
            peer_attached: AtomicBool::new(false),
        }
    }

    /// The direction frames leave this host in, and the one they arrive in.
    pub fn directions(&self) -> (Direction, Direction) {
        match self.local_end {
            End::A => (Direction::AToZ, Direction::ZToA),
            End::Z => (Direction::ZToA, Direction::AToZ),
        }
    }

    fn header(&self, kind: Kind, attached: bool) -> Header {
        Header {
            kind,
            from: self.local_end,
            attached,
            link: self.link,
            epoch: self.epoch,
            seq: self.seq.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// Is the other host's relay there (heard lately)?
    pub fn alive(&self) -> bool {
        let last = self.last_heard_ms.load(Ordering::Relaxed);
        last > 0 && now_us() / 1000 <= last + ALIVE.as_millis() as u64
    }

    /// Is the other end's VM there (the other host alive, and its VM attached)?
    pub fn peer_attached(&self) -> bool {
        self.alive() && self.peer_attached.load(Ordering::Relaxed)
    }

    pub fn last_heard(&self) -> Option<SystemTime> {
        let last = self.last_heard_ms.load(Ordering::Relaxed);
        (last > 0).then(|| UNIX_EPOCH + Duration::from_millis(last))
    }

    /// The other relay's run, once heard.
    fn peer_run(&self) -> Option<PeerRun> {
        self.peer_run
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// What frames to this run are checked with.
    fn own_tagging(&self) -> Tagging<'_> {
        match &self.own_keys {
            Some(k) => Tagging::Keyed(k),
            None => Tagging::Unkeyed {
                hint: wire::hint_of(&self.nonce),
            },
        }
    }

    /// The other relay announced run `nonce`: frames go to it from now on.
    fn heard_run(&self, nonce: Nonce) {
        let mut peer = self.peer_run.lock().unwrap_or_else(|e| e.into_inner());
        if peer.as_ref().is_some_and(|p| p.nonce == nonce) {
            return;
        }
        *peer = Some(PeerRun {
            nonce,
            keys: self.key.map(|k| RunKeys::new(&k, &nonce)),
        });
    }

    /// Sends a heartbeat (once a second, from the relay's timer), with this run's nonce.
    pub fn heartbeat(&self, attached: bool) {
        let mut buf = Vec::with_capacity(wire::HEADER_LEN + NONCE_LEN + wire::TAG_LEN);
        wire::encode(
            &self.header(Kind::Heartbeat, attached),
            &self.nonce,
            self.own_tagging(),
            &mut buf,
        );
        if let Err(e) = self.sock.send_to(&buf, self.peer) {
            tracing::debug!("link {}: heartbeat to {}: {e}", self.link, self.peer);
        }
    }
}

/// The outgoing side: frames from the local VM, wrapped and sent to the other host.
pub struct UdpSink {
    pub cross: Arc<CrossShared>,
    buf: Vec<u8>,
}

impl UdpSink {
    pub fn new(cross: Arc<CrossShared>) -> Self {
        UdpSink {
            cross,
            buf: Vec::with_capacity(super::mmsg::SLOT + wire::HEADER_LEN + wire::TAG_LEN),
        }
    }
}

impl Sink for UdpSink {
    /// Frames go only while the other host is heard (and its relay's nonce known): before
    /// that they would vanish unseen, so they count as not taken (`peer`), as towards a VM
    /// that is not there.
    fn send(&mut self, frames: &[&[u8]]) -> usize {
        let Some(to) = self.cross.peer_run().filter(|_| self.cross.alive()) else {
            return 0;
        };
        let mut sent = 0;
        for f in frames {
            wire::encode(
                &self.cross.header(Kind::Frame, true),
                f,
                to.tagging(),
                &mut self.buf,
            );
            match self.cross.sock.send_to(&self.buf, self.cross.peer) {
                Ok(_) => sent += 1,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        sent
    }
}

/// The incoming side, in a thread of its own until the link's stop flag is set: datagrams
/// from the other host, checked, to the local VM's socket at `to`.
pub fn inbound(
    link: Arc<LinkShared>,
    cross: Arc<CrossShared>,
    to: PathBuf,
    mut settings: watch::Receiver<(bool, LinkImpair)>,
) {
    let (_, dir) = cross.directions();
    let counters = link.counters(dir);
    let mut out = Peer::new(to);
    let mut window = Window::default();
    let mut buf = vec![0u8; super::mmsg::SLOT + wire::HEADER_LEN + wire::TAG_LEN + NONCE_LEN];
    let Ok(sock) = cross.sock.try_clone() else {
        tracing::error!("link {}: cannot clone its UDP socket", cross.link);
        return;
    };
    let _ = sock.set_read_timeout(Some(Duration::from_secs(5)));
    let mut up = settings.borrow_and_update().0;
    let to_end = cross.local_end;
    while !link.stop.load(Ordering::Relaxed) {
        let (n, from) = match sock.recv_from(&mut buf) {
            Ok(r) => r,
            Err(_) => continue,
        };
        if settings.has_changed().unwrap_or(false) {
            up = settings.borrow_and_update().0;
        }
        if from != cross.peer {
            counters.foreign.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let decoded = wire::decode(&buf[..n], cross.link, to_end, cross.own_tagging());
        let (h, frame) = match decoded {
            Ok(d) if wire::plausible_epoch(d.0.epoch, now_us().saturating_mul(1000)) => d,
            Err(Refused::Replayed) => {
                counters.replayed.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            Ok(_) | Err(_) => {
                counters.forged.fetch_add(1, Ordering::Relaxed);
                continue;
            }
        };
        if let Err(Refused::Replayed) = window.accept(h.epoch, h.seq) {
            counters.replayed.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        cross
            .last_heard_ms
            .store(now_us() / 1000, Ordering::Relaxed);
        match h.kind {
            Kind::Heartbeat => {
                cross.peer_attached.store(h.attached, Ordering::Relaxed);
                let mut nonce = [0u8; NONCE_LEN];
                nonce.copy_from_slice(frame);
                cross.heard_run(nonce);
            }
            Kind::Frame => {
                cross.peer_attached.store(true, Ordering::Relaxed);
                counters.touch();
                if !up {
                    counters.down.fetch_add(1, Ordering::Relaxed);
                } else {
                    forward::deliver(&link, dir, counters, &mut out, &[frame]);
                }
            }
        }
    }
}

/// This relay's epoch for the lab: its start time in nanoseconds, and never less than one
/// more than the last epoch recorded in `links/epoch` (so a clock set back cannot make the
/// other host refuse it as a replay).
pub fn next_epoch(lab_dir: &Path) -> u64 {
    let file = lab_dir.join("links").join("epoch");
    let last: u64 = std::fs::read_to_string(&file)
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let epoch = now.max(last + 1);
    if let Err(e) = crate::fsutil::atomic_write(&file, format!("{epoch}\n").as_bytes(), Some(0o600))
    {
        tracing::warn!("cannot record the relay's epoch: {e}");
    }
    epoch
}
