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

use std::os::unix::net::UnixDatagram as StdDatagram;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::broadcast;

use super::config::{LinkConfig, LinksFile};
use super::control::{self, Ack, LinkReport, PeerReport, RelayReport, Request};
use super::cross::{self, CrossShared, UdpSink};
use super::forward::{self, LinkShared};
use crate::spec::impair::Direction;

/// The socket buffers asked for a link between hosts (4 MiB each way).
const UDP_BUFFER: usize = 4 << 20;

/// The relay's pidfile in a lab directory.
pub fn pidfile(lab_dir: &Path) -> PathBuf {
    lab_dir.join("relay.pid")
}

/// The relay's log.
pub fn log_file(lab_dir: &Path) -> PathBuf {
    lab_dir.join("logs").join("relay.log")
}

/// Binds a datagram socket at `path`, removing a stale file first.
fn bind(path: &Path) -> std::io::Result<StdDatagram> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    StdDatagram::bind(path)
}

/// Everything bound before the fork, so a failure is reported to whoever started the relay.
struct Bound {
    links: Vec<(LinkConfig, StdDatagram, StdDatagram)>,
    /// Links between hosts: the local end's relay socket and the link's UDP socket.
    cross: Vec<(LinkConfig, StdDatagram, std::net::UdpSocket)>,
    key: Option<[u8; super::wire::KEY_LEN]>,
    control: std::os::unix::net::UnixListener,
    _lock: nix::fcntl::Flock<std::fs::File>,
}

fn prepare(lab_dir: &Path) -> Result<Bound, String> {
    if !crate::home::marker_file(lab_dir).is_file() {
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
    let key = file.key().map_err(|e| e.to_string())?;
    let mut links = Vec::new();
    let mut cross = Vec::new();
    for l in file.links {
        match (l.transport, &l.cross) {
            (crate::plan::LinkTransport::Relay, _) => {
                let a = bind(&l.sockets.a_relay)
                    .map_err(|e| format!("cannot bind {}: {e}", l.sockets.a_relay.display()))?;
                let z = bind(&l.sockets.z_relay)
                    .map_err(|e| format!("cannot bind {}: {e}", l.sockets.z_relay.display()))?;
                links.push((l, a, z));
            }
            (crate::plan::LinkTransport::CrossHost, Some(c)) => {
                let path = match c.local_end {
                    crate::plan::End::A => &l.sockets.a_relay,
                    crate::plan::End::Z => &l.sockets.z_relay,
                };
                let rx = bind(path).map_err(|e| format!("cannot bind {}: {e}", path.display()))?;
                let udp = std::net::UdpSocket::bind(c.local).map_err(|e| {
                    format!(
                        "cannot bind UDP {} for link {} ({} -- {}): {e}",
                        c.local, l.index, l.a, l.z
                    )
                })?;
                // UDP does not push back: room for a burst (the kernel caps it at
                // net.core.rmem_max / wmem_max) keeps a burst from being a loss.
                let _ = nix::sys::socket::setsockopt(
                    &udp,
                    nix::sys::socket::sockopt::RcvBuf,
                    &UDP_BUFFER,
                );
                let _ = nix::sys::socket::setsockopt(
                    &udp,
                    nix::sys::socket::sockopt::SndBuf,
                    &UDP_BUFFER,
                );
                cross.push((l, rx, udp));
            }
            _ => {}
        }
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
        cross,
        key,
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
                let code = match crate::fsutil::atomic_write(
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
    let mut links: Vec<Carried> = Vec::new();
    let mut threads = Vec::new();
    for (cfg, a_rx, z_rx) in bound.links {
        let shared = LinkShared::new(&cfg);
        // Frames from a (arriving on a's relay socket) go to z, and the other way round: a
        // thread each, blocked in the kernel until a frame comes.
        for (dir, rx, to) in [
            (Direction::AToZ, a_rx, cfg.sockets.z_vm.clone()),
            (Direction::ZToA, z_rx, cfg.sockets.a_vm.clone()),
        ] {
            let (link, settings) = (shared.clone(), shared.settings.subscribe());
            let spawned = std::thread::Builder::new()
                .name(format!("link{}{}", cfg.index, dir.label()))
                .stack_size(256 * 1024)
                .spawn(move || forward::run(link, dir, rx, forward::Peer::new(to), settings));
            match spawned {
                Ok(t) => threads.push(t),
                Err(e) => {
                    eprintln_safe(&format!("vmlab relay: cannot start a link thread: {e}"));
                    return 1;
                }
            }
        }
        tracing::info!("link {}: {} -- {} relayed", cfg.index, cfg.a, cfg.z);
        links.push(Carried {
            link: shared,
            cross: None,
        });
    }
    let epoch = if bound.cross.is_empty() {
        0
    } else {
        cross::next_epoch(lab_dir)
    };
    // The lab's name is its directory's (what both hosts' relays agree on), bound into each
    // link's key.
    let lab_name = lab_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    for (cfg, vm_rx, udp) in bound.cross {
        match start_cross(&lab_name, cfg, vm_rx, udp, bound.key, epoch) {
            Ok((shared, mut started)) => {
                links.push(shared);
                threads.append(&mut started);
            }
            Err(e) => {
                eprintln_safe(&format!("vmlab relay: {e}"));
                return 1;
            }
        }
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
    let marker = crate::home::marker_file(lab_dir);
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
                    if let Some(c) = &l.cross {
                        let vm = match c.local_end {
                            crate::plan::End::A => &l.a_vm,
                            crate::plan::End::Z => &l.z_vm,
                        };
                        c.heartbeat(attached(vm));
                    }
                }
                // The lab was destroyed under us: nothing left to serve.
                if !marker.is_file() {
                    tracing::info!("lab directory gone; relay exits");
                    for l in links.iter() {
                        l.stop.store(true, Ordering::Relaxed);
                    }
                    return 0;
                }
            }
        }
    }
}

/// Starts a link between hosts: the thread that sends the local VM's frames to the other host
/// and the one that takes the other host's datagrams to the VM.
fn start_cross(
    lab_name: &str,
    cfg: LinkConfig,
    vm_rx: StdDatagram,
    udp: std::net::UdpSocket,
    key: Option<[u8; super::wire::KEY_LEN]>,
    epoch: u64,
) -> Result<(Carried, Vec<std::thread::JoinHandle<()>>), String> {
    let Some(c) = cfg.cross.clone() else {
        return Err(format!("link {} has no host addresses", cfg.index));
    };
    let crossed = Arc::new(CrossShared::new(
        cross::CrossPlace {
            lab: lab_name,
            link: cfg.index as u32,
            local_end: c.local_end,
            local: c.local,
            peer: c.peer,
        },
        udp,
        c.peer_host.clone(),
        key,
        epoch,
    ));
    let shared = LinkShared::new(&cfg);
    let (out_dir, _) = crossed.directions();
    let local_vm = match c.local_end {
        crate::plan::End::A => cfg.sockets.a_vm.clone(),
        crate::plan::End::Z => cfg.sockets.z_vm.clone(),
    };
    let mut threads = Vec::new();
    let (link, settings) = (shared.clone(), shared.settings.subscribe());
    let sink = UdpSink::new(crossed.clone());
    threads.push(
        std::thread::Builder::new()
            .name(format!("link{}out", cfg.index))
            .stack_size(256 * 1024)
            .spawn(move || forward::run(link, out_dir, vm_rx, sink, settings))
            .map_err(|e| format!("cannot start a link thread: {e}"))?,
    );
    let (link, settings) = (shared.clone(), shared.settings.subscribe());
    threads.push(
        std::thread::Builder::new()
            .name(format!("link{}in", cfg.index))
            .stack_size(256 * 1024)
            .spawn({
                let crossed = crossed.clone();
                move || cross::inbound(link, crossed, local_vm, settings)
            })
            .map_err(|e| format!("cannot start a link thread: {e}"))?,
    );
    tracing::info!(
        "link {}: {} -- {} between hosts: {} <-> {} ({}){}",
        cfg.index,
        cfg.a,
        cfg.z,
        c.local,
        c.peer,
        c.peer_host,
        if key.is_some() { ", keyed" } else { "" }
    );
    Ok((
        Carried {
            link: shared,
            cross: Some(crossed),
        },
        threads,
    ))
}

/// A link the relay carries: what its directions share, and for a link between hosts its
/// UDP side.
struct Carried {
    link: Arc<LinkShared>,
    cross: Option<Arc<CrossShared>>,
}

impl std::ops::Deref for Carried {
    type Target = LinkShared;
    fn deref(&self) -> &LinkShared {
        &self.link
    }
}

/// Is there a socket bound at `path` to send to?
fn attached(path: &Path) -> bool {
    StdDatagram::unbound().and_then(|s| s.connect(path)).is_ok()
}

async fn handle(
    stream: UnixStream,
    links: &[Carried],
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
                        // A link between hosts: the remote end is there when its host says so.
                        let end = |e: crate::plan::End, path: &Path| match &l.cross {
                            Some(c) if c.local_end != e => c.peer_attached(),
                            _ => attached(path),
                        };
                        LinkReport {
                            index: l.index,
                            up,
                            impair,
                            a_attached: end(crate::plan::End::A, &l.a_vm),
                            z_attached: end(crate::plan::End::Z, &l.z_vm),
                            a_to_z: l.counters(Direction::AToZ).report(),
                            z_to_a: l.counters(Direction::ZToA).report(),
                            peer: l.cross.as_ref().map(|c| PeerReport {
                                host: c.peer_host.clone(),
                                address: c.peer.to_string(),
                                alive: c.alive(),
                                attached: c.peer_attached(),
                                last_heard: c
                                    .last_heard()
                                    .map(|t| humantime::format_rfc3339_millis(t).to_string()),
                                keyed: c.key.is_some(),
                            }),
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
