//! The link relay: one detached process per lab (`vmlab relay --lab-dir <dir>`, started by
//! deploy and by `vmlab repair`) between the two ends of every link.
//!
//! Each link end has two sockets here: one bound at the path the end's QEMU sends to
//! (`<i>a.rl`), which receives that VM's frames, and one connected to the VM's own socket
//! (`<i>a.vm`), which sends to it. A connected sender gives real backpressure: when a VM's
//! socket is full the relay waits, stops reading the other end, and that QEMU queues — as with
//! a direct link — instead of dropping. When a VM restarts, its old socket is gone: the sender
//! reconnects to the new one on the next frame, and the receiving socket never noticed, so the
//! link carries traffic again at once.
//!
//! Per direction the relay counts frames and bytes, applies the link's admin state and
//! impairments ([`super::shaper`]), and copies frames to captures. Admin state and impairments
//! come from `links.json`, read at start and on every `reload`, so the relay can be killed and
//! started again at any moment without touching a VM. It answers [`super::control`] requests
//! on `relay.sock`. It exits when its lab directory goes away.
//!
//! It forks itself away from its parent before starting any thread (the parent writes the
//! pidfile and exits, as QEMU's `-daemonize` does), holds `relay.lock` so only one relay serves
//! a lab, and runs on a single-threaded runtime: idle, it wakes once a second.

use std::collections::VecDeque;
use std::os::unix::net::UnixDatagram as StdDatagram;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixDatagram, UnixListener, UnixStream};
use tokio::sync::{broadcast, watch};

use super::config::{LinkConfig, LinksFile};
use super::control::{self, Ack, DirReport, Dropped, LinkReport, RelayReport, Request};
use super::shaper::{self, Shaper, Verdict};
use crate::spec::LinkImpair;
use crate::spec::impair::Direction;

/// The relay's pidfile in a lab directory.
pub fn pidfile(lab_dir: &Path) -> PathBuf {
    lab_dir.join("relay.pid")
}

/// The relay's log.
pub fn log_file(lab_dir: &Path) -> PathBuf {
    lab_dir.join("logs").join("relay.log")
}

/// The largest frame a link carries (jumbo frames included).
const MAX_FRAME: usize = 65_536;

/// Counters of one direction, shared with the control server.
#[derive(Debug, Default)]
struct DirCounters {
    frames: AtomicU64,
    bytes: AtomicU64,
    down: AtomicU64,
    loss: AtomicU64,
    rate: AtomicU64,
    peer: AtomicU64,
    /// Milliseconds since the epoch of the last frame in (0: none).
    last_ms: AtomicU64,
    /// Frames and bytes at the last one-second tick, and the rates over that second (f64 bits).
    tick_frames: AtomicU64,
    tick_bytes: AtomicU64,
    fps: AtomicU64,
    bps: AtomicU64,
}

impl DirCounters {
    fn report(&self) -> DirReport {
        let last = self.last_ms.load(Ordering::Relaxed);
        DirReport {
            frames: self.frames.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            dropped: Dropped {
                down: self.down.load(Ordering::Relaxed),
                loss: self.loss.load(Ordering::Relaxed),
                rate: self.rate.load(Ordering::Relaxed),
                peer: self.peer.load(Ordering::Relaxed),
            },
            last_frame: (last > 0).then(|| {
                humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(last))
                    .to_string()
            }),
            frames_per_sec: f64::from_bits(self.fps.load(Ordering::Relaxed)),
            bits_per_sec: f64::from_bits(self.bps.load(Ordering::Relaxed)),
        }
    }

    /// Once a second: the rates over the last second.
    fn tick(&self, secs: f64) {
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
struct LinkShared {
    index: usize,
    a_vm: PathBuf,
    z_vm: PathBuf,
    settings: watch::Sender<(bool, LinkImpair)>,
    dirs: [DirCounters; 2],
    capture: broadcast::Sender<Arc<[u8]>>,
}

impl LinkShared {
    fn counters(&self, d: Direction) -> &DirCounters {
        &self.dirs[d as usize]
    }
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// The sending side towards one VM: connected to its socket, reconnected after a restart.
struct Peer {
    path: PathBuf,
    sock: Option<UnixDatagram>,
}

impl Peer {
    fn connect(&mut self) -> bool {
        if self.sock.is_some() {
            return true;
        }
        let s = StdDatagram::unbound()
            .and_then(|s| s.connect(&self.path).map(|_| s))
            .and_then(|s| s.set_nonblocking(true).map(|_| s))
            .and_then(UnixDatagram::from_std);
        match s {
            Ok(s) => {
                self.sock = Some(s);
                true
            }
            Err(_) => false,
        }
    }

    /// Delivers a frame, waiting (up to a bound) while the VM's socket is full. False if the
    /// VM is not there or does not take it.
    async fn send(&mut self, frame: &[u8]) -> bool {
        for _attempt in 0..2 {
            if !self.connect() {
                return false;
            }
            let Some(sock) = &self.sock else {
                return false;
            };
            match tokio::time::timeout(Duration::from_millis(250), sock.send(frame)).await {
                Ok(Ok(_)) => return true,
                // The VM restarted: its old socket is gone; connect to the new one and retry.
                Ok(Err(e))
                    if matches!(
                        e.raw_os_error(),
                        Some(nix::libc::ECONNREFUSED)
                            | Some(nix::libc::ENOTCONN)
                            | Some(nix::libc::ENOENT)
                    ) =>
                {
                    self.sock = None;
                }
                Ok(Err(_)) | Err(_) => return false,
            }
        }
        false
    }
}

/// One direction of one link: frames in from one VM, out to the other.
async fn forward(
    link: Arc<LinkShared>,
    dir: Direction,
    rx: UnixDatagram,
    mut out: Peer,
    mut settings: watch::Receiver<(bool, LinkImpair)>,
) {
    let counters = link.counters(dir);
    let mut buf = vec![0u8; MAX_FRAME];
    let (mut up, imp) = *settings.borrow_and_update();
    let mut shaper = Shaper::new(*imp.get(dir));
    let mut rng = fastrand::Rng::new();
    let mut queue: VecDeque<(u64, Vec<u8>)> = VecDeque::new();
    let start = Instant::now();
    let mono_us = move || start.elapsed().as_micros() as u64;
    loop {
        let due = queue.front().map(|(at, _)| *at);
        tokio::select! {
            biased;
            // The next queued frame's time has come.
            _ = sleep_until_us(start, due.unwrap_or(0)), if due.is_some() => {
                if let Some((_, frame)) = queue.pop_front() {
                    deliver(&link, dir, counters, &mut out, &frame).await;
                }
            }
            changed = settings.changed() => {
                if changed.is_err() {
                    return;
                }
                let (u, imp) = *settings.borrow_and_update();
                up = u;
                shaper = Shaper::new(*imp.get(dir));
                if !up {
                    counters.down.fetch_add(queue.len() as u64, Ordering::Relaxed);
                    queue.clear();
                }
            }
            r = rx.recv(&mut buf) => {
                let Ok(n) = r else { continue };
                counters.last_ms.store(now_us() / 1000, Ordering::Relaxed);
                if !up {
                    counters.down.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                if shaper.is_clean() && queue.is_empty() {
                    deliver(&link, dir, counters, &mut out, &buf[..n]).await;
                    continue;
                }
                let verdict = shaper.decide(
                    mono_us(),
                    n,
                    rng.f64(),
                    rng.f64() * 2.0 - 1.0,
                    queue.len(),
                );
                match verdict {
                    Verdict::Drop(shaper::Drop::Loss) => {
                        counters.loss.fetch_add(1, Ordering::Relaxed);
                    }
                    Verdict::Drop(shaper::Drop::Rate) => {
                        counters.rate.fetch_add(1, Ordering::Relaxed);
                    }
                    Verdict::Drop(shaper::Drop::Down) => {
                        counters.down.fetch_add(1, Ordering::Relaxed);
                    }
                    Verdict::SendAt(at) if at <= mono_us() && queue.is_empty() => {
                        deliver(&link, dir, counters, &mut out, &buf[..n]).await;
                    }
                    Verdict::SendAt(at) => queue.push_back((at, buf[..n].to_vec())),
                }
            }
        }
    }
}

async fn sleep_until_us(start: Instant, at_us: u64) {
    tokio::time::sleep_until((start + Duration::from_micros(at_us)).into()).await;
}

async fn deliver(
    link: &LinkShared,
    dir: Direction,
    counters: &DirCounters,
    out: &mut Peer,
    frame: &[u8],
) {
    if out.send(frame).await {
        counters.frames.fetch_add(1, Ordering::Relaxed);
        counters
            .bytes
            .fetch_add(frame.len() as u64, Ordering::Relaxed);
        if link.capture.receiver_count() > 0 {
            let mut rec = Vec::with_capacity(13 + frame.len());
            control::encode_frame(now_us(), dir, frame, &mut rec);
            let _ = link.capture.send(rec.into());
        }
    } else {
        counters.peer.fetch_add(1, Ordering::Relaxed);
    }
}

/// Binds a datagram socket at `path`, removing a stale file first.
fn bind(path: &Path) -> std::io::Result<StdDatagram> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let s = StdDatagram::bind(path)?;
    s.set_nonblocking(true)?;
    Ok(s)
}

/// Everything bound before the fork, so a failure is reported to whoever started the relay.
struct Bound {
    links: Vec<(LinkConfig, StdDatagram, StdDatagram)>,
    control: std::os::unix::net::UnixListener,
    _lock: nix::fcntl::Flock<std::fs::File>,
}

fn prepare(lab_dir: &Path) -> Result<Bound, String> {
    if !crate::engine::home::marker_file(lab_dir).is_file() {
        return Err(format!(
            "{} is not a lab directory vmlab created",
            lab_dir.display()
        ));
    }
    let lock_file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lab_dir.join("relay.lock"))
        .map_err(|e| format!("cannot open relay.lock: {e}"))?;
    let lock = nix::fcntl::Flock::lock(lock_file, nix::fcntl::FlockArg::LockExclusiveNonblock)
        .map_err(|_| "a relay already runs for this lab".to_string())?;
    let file = LinksFile::load(lab_dir).map_err(|e| e.to_string())?;
    let mut links = Vec::new();
    for l in file.links {
        let a = bind(&l.sockets.a_relay)
            .map_err(|e| format!("cannot bind {}: {e}", l.sockets.a_relay.display()))?;
        let z = bind(&l.sockets.z_relay)
            .map_err(|e| format!("cannot bind {}: {e}", l.sockets.z_relay.display()))?;
        links.push((l, a, z));
    }
    let ctl = control::socket_path(lab_dir);
    let _ = std::fs::remove_file(&ctl);
    let control = std::os::unix::net::UnixListener::bind(&ctl)
        .map_err(|e| format!("cannot bind {}: {e}", ctl.display()))?;
    control
        .set_nonblocking(true)
        .map_err(|e| format!("cannot set up {}: {e}", ctl.display()))?;
    Ok(Bound {
        links,
        control,
        _lock: lock,
    })
}

/// `vmlab relay --lab-dir <dir>`: binds everything, forks away (the parent writes the pidfile
/// and exits 0), then serves until the lab directory is gone or a signal ends it. Called before
/// any thread exists. Returns the exit code for the parent or a failure.
pub fn main(lab_dir: &Path, foreground: bool) -> i32 {
    let bound = match prepare(lab_dir) {
        Ok(b) => b,
        Err(e) => {
            eprintln_safe(&format!("vmlab relay: {e}"));
            return 3;
        }
    };
    if !foreground {
        // SAFETY: no other thread exists yet (the relay runs before any runtime is built),
        // so the child may go on to do anything.
        match unsafe { nix::unistd::fork() } {
            Ok(nix::unistd::ForkResult::Parent { child }) => {
                let pf = pidfile(lab_dir);
                let code = match crate::engine::fsutil::atomic_write(
                    &pf,
                    format!("{child}\n").as_bytes(),
                    Some(0o600),
                ) {
                    Ok(()) => 0,
                    Err(e) => {
                        eprintln_safe(&format!("vmlab relay: cannot write {}: {e}", pf.display()));
                        let _ = nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL);
                        1
                    }
                };
                // _exit: no destructor may release the lock the child now holds.
                // SAFETY: ends this process at once; nothing is left to run.
                unsafe { nix::libc::_exit(code) }
            }
            Ok(nix::unistd::ForkResult::Child) => {
                let _ = nix::unistd::setsid();
            }
            Err(e) => {
                eprintln_safe(&format!("vmlab relay: cannot fork: {e}"));
                return 1;
            }
        }
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln_safe(&format!("vmlab relay: cannot start the runtime: {e}"));
            return 1;
        }
    };
    rt.block_on(serve(lab_dir, bound))
}

fn eprintln_safe(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

async fn serve(lab_dir: &Path, bound: Bound) -> i32 {
    let started = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let mut links: Vec<Arc<LinkShared>> = Vec::new();
    for (cfg, a_rx, z_rx) in bound.links {
        let (a_rx, z_rx) = match (UnixDatagram::from_std(a_rx), UnixDatagram::from_std(z_rx)) {
            (Ok(a), Ok(z)) => (a, z),
            _ => {
                eprintln_safe("vmlab relay: cannot register the link sockets");
                return 1;
            }
        };
        let (settings, _) = watch::channel((cfg.up, cfg.impair));
        let shared = Arc::new(LinkShared {
            index: cfg.index,
            a_vm: cfg.sockets.a_vm.clone(),
            z_vm: cfg.sockets.z_vm.clone(),
            settings,
            dirs: Default::default(),
            capture: broadcast::channel(4096).0,
        });
        // Frames from a (arriving on a's relay socket) go to z, and the other way round.
        for (dir, rx, to) in [
            (Direction::AToZ, a_rx, cfg.sockets.z_vm.clone()),
            (Direction::ZToA, z_rx, cfg.sockets.a_vm.clone()),
        ] {
            let peer = Peer {
                path: to,
                sock: None,
            };
            tokio::spawn(forward(
                shared.clone(),
                dir,
                rx,
                peer,
                shared.settings.subscribe(),
            ));
        }
        tracing::info!("link {}: {} -- {} relayed", cfg.index, cfg.a, cfg.z);
        links.push(shared);
    }
    let links = Arc::new(links);
    let listener = match UnixListener::from_std(bound.control) {
        Ok(l) => l,
        Err(e) => {
            eprintln_safe(&format!("vmlab relay: cannot serve control requests: {e}"));
            return 1;
        }
    };
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut last_tick = Instant::now();
    let marker = crate::engine::home::marker_file(lab_dir);
    loop {
        tokio::select! {
            conn = listener.accept() => {
                if let Ok((stream, _)) = conn {
                    let (links, dir, started) = (links.clone(), lab_dir.to_path_buf(), started.clone());
                    tokio::spawn(async move {
                        if let Err(e) = handle(stream, &links, &dir, &started).await {
                            tracing::debug!("control connection: {e}");
                        }
                    });
                }
            }
            _ = tick.tick() => {
                let secs = last_tick.elapsed().as_secs_f64().max(0.001);
                last_tick = Instant::now();
                for l in links.iter() {
                    for d in &l.dirs {
                        d.tick(secs);
                    }
                }
                // The lab was destroyed under us: nothing left to serve.
                if !marker.is_file() {
                    tracing::info!("lab directory gone; relay exits");
                    return 0;
                }
            }
        }
    }
}

/// Is there a socket bound at `path` to send to?
fn attached(path: &Path) -> bool {
    StdDatagram::unbound().and_then(|s| s.connect(path)).is_ok()
}

async fn handle(
    stream: UnixStream,
    links: &[Arc<LinkShared>],
    lab_dir: &Path,
    started: &str,
) -> std::io::Result<()> {
    let (rd, mut wr) = stream.into_split();
    let mut line = String::new();
    let mut reader = BufReader::new(rd).take(64 * 1024);
    tokio::time::timeout(Duration::from_secs(5), reader.read_line(&mut line))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no request"))??;
    let req: Request = match serde_json::from_str(&line) {
        Ok(r) => r,
        Err(e) => return reply(&mut wr, &refuse(format!("bad request: {e}"))).await,
    };
    match req {
        Request::Status => {
            let report = RelayReport {
                pid: std::process::id() as i32,
                started: started.to_string(),
                links: links
                    .iter()
                    .map(|l| {
                        let (up, impair) = *l.settings.borrow();
                        LinkReport {
                            index: l.index,
                            up,
                            impair,
                            a_attached: attached(&l.a_vm),
                            z_attached: attached(&l.z_vm),
                            a_to_z: l.counters(Direction::AToZ).report(),
                            z_to_a: l.counters(Direction::ZToA).report(),
                        }
                    })
                    .collect(),
            };
            reply(&mut wr, &report).await
        }
        Request::Reload => match LinksFile::load(lab_dir) {
            Ok(file) => {
                for cfg in file.links {
                    if let Some(l) = links.iter().find(|l| l.index == cfg.index) {
                        l.settings.send_replace((cfg.up, cfg.impair));
                        tracing::info!(
                            "link {}: {}, a-to-z {}, z-to-a {}",
                            cfg.index,
                            if cfg.up { "up" } else { "down" },
                            cfg.impair.a_to_z,
                            cfg.impair.z_to_a
                        );
                    }
                }
                reply(
                    &mut wr,
                    &Ack {
                        ok: true,
                        error: None,
                    },
                )
                .await
            }
            Err(e) => reply(&mut wr, &refuse(e.to_string())).await,
        },
        Request::Capture { link } => {
            let Some(l) = links.iter().find(|l| l.index == link) else {
                return reply(&mut wr, &refuse(format!("no link {link}"))).await;
            };
            let mut rx = l.capture.subscribe();
            reply(
                &mut wr,
                &Ack {
                    ok: true,
                    error: None,
                },
            )
            .await?;
            tracing::info!("capture of link {link} started");
            loop {
                match rx.recv().await {
                    Ok(rec) => wr.write_all(&rec).await?,
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!("capture of link {link} fell behind: {n} frames skipped");
                    }
                    Err(broadcast::error::RecvError::Closed) => return Ok(()),
                }
            }
        }
    }
}

fn refuse(error: String) -> Ack {
    Ack {
        ok: false,
        error: Some(error),
    }
}

async fn reply<T: serde::Serialize>(
    wr: &mut tokio::net::unix::OwnedWriteHalf,
    msg: &T,
) -> std::io::Result<()> {
    let mut text = serde_json::to_string(msg).map_err(std::io::Error::other)?;
    text.push('\n');
    wr.write_all(text.as_bytes()).await
}
