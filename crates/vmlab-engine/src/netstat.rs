//! Local ports: whether one is free to bind (TCP as QEMU binds, UDP as the relay binds), and
//! which are in established connections (read from `/proc/net/tcp`, the reality behind a link's "up").

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, OwnedFd};

use nix::sys::socket::{
    AddressFamily, SockFlag, SockType, SockaddrIn, SockaddrIn6, bind, setsockopt, socket,
    sockopt::ReuseAddr,
};

/// Can TCP `addr`:`port` be bound right now?
pub fn port_free_on(addr: IpAddr, port: u16) -> bool {
    probe(SocketAddr::new(addr, port)).is_ok()
}

/// Can UDP `addr`:`port` be bound right now? Probed the way the relay binds a cross-host link's
/// port (`UdpSocket::bind`, no `SO_REUSEADDR`), so any socket already on the port counts.
pub fn udp_port_free(addr: IpAddr, port: u16) -> bool {
    UdpSocket::bind(SocketAddr::new(addr, port)).is_ok()
}

/// Binds a TCP socket to `at` the way QEMU binds its listeners (with `SO_REUSEADDR`) but
/// never listens on it. A listening probe (what `TcpListener::bind` makes) would itself hold
/// the port for a moment, and a second check running at the same time — another `vmlab` on
/// another lab, a dry run in a test — would report the port as taken by the first.
/// Bound-only sockets with `SO_REUSEADDR` do not conflict with each other on Linux; a
/// listener, or a socket without `SO_REUSEADDR` (an outgoing connection's local port),
/// still does — exactly what would stop QEMU.
fn probe(at: SocketAddr) -> nix::Result<OwnedFd> {
    let family = match at {
        SocketAddr::V4(_) => AddressFamily::Inet,
        SocketAddr::V6(_) => AddressFamily::Inet6,
    };
    let fd = socket(family, SockType::Stream, SockFlag::SOCK_CLOEXEC, None)?;
    setsockopt(&fd, ReuseAddr, &true)?;
    match at {
        SocketAddr::V4(a) => bind(fd.as_raw_fd(), &SockaddrIn::from(a))?,
        SocketAddr::V6(a) => bind(fd.as_raw_fd(), &SockaddrIn6::from(a))?,
    }
    Ok(fd)
}

/// Is `addr` one of this machine's addresses (can a socket be bound to it)? Every 127.x.y.z
/// is (the whole loopback network is local on Linux).
pub fn address_is_local(addr: IpAddr) -> bool {
    UdpSocket::bind(SocketAddr::new(addr, 0)).is_ok()
}

/// Local ports with an ESTABLISHED IPv4 TCP connection (vmlab binds 127.0.0.1 only).
///
/// Reading `/proc/net/tcp` makes the kernel walk its whole established-socket hash table
/// (262144 buckets on a 24 GB machine, about 2 ms a walk), and each `read` of at most a page
/// walks again from where the last one stopped: large reads keep the walks few, and IPv6
/// (`tcp6`, another table walk) is not read at all.
pub fn established_local_ports() -> HashSet<u16> {
    use std::io::Read;
    let Ok(mut f) = std::fs::File::open("/proc/net/tcp") else {
        return HashSet::new();
    };
    let mut text = Vec::with_capacity(64 * 1024);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match f.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => text.extend_from_slice(&buf[..n]),
        }
    }
    parse_established(&String::from_utf8_lossy(&text))
        .into_iter()
        .collect()
}

/// Parses `/proc/net/tcp` text: local ports of lines in state 01 (ESTABLISHED).
pub fn parse_established(text: &str) -> Vec<u16> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            let local = f.nth(1)?;
            let state = f.nth(1)?;
            if state != "01" {
                return None;
            }
            let port = local.rsplit_once(':')?.1;
            u16::from_str_radix(port, 16).ok()
        })
        .collect()
}

/// Which process holds TCP `port` (listening, or bound), as "name (pid N)", when this user can
/// see it: the socket's inode from `/proc/net/tcp{,6}`, then the process with that inode open.
/// `None` when the holder belongs to another user (or no socket is found).
pub fn holder(port: u16) -> Option<String> {
    let inodes: HashSet<String> = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .flat_map(|text| parse_inodes(&text, port))
        .collect();
    if inodes.is_empty() {
        return None;
    }
    let procs = std::fs::read_dir("/proc").ok()?;
    for p in procs.flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(p.path().join("fd")) else {
            continue;
        };
        let holds = fds.flatten().any(|fd| {
            std::fs::read_link(fd.path()).is_ok_and(|t| {
                t.to_str()
                    .and_then(|t| t.strip_prefix("socket:["))
                    .and_then(|t| t.strip_suffix(']'))
                    .is_some_and(|i| inodes.contains(i))
            })
        });
        if holds {
            let name = std::fs::read_to_string(p.path().join("comm")).unwrap_or_default();
            return Some(format!("{} (pid {pid})", name.trim()));
        }
    }
    None
}

/// The socket inodes of `/proc/net/tcp` text whose local port is `port` and that are not
/// connections (listening, or bound and closed).
fn parse_inodes(text: &str, port: u16) -> Vec<String> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let local = f.get(1)?;
            let state = f.get(3)?;
            let p = u16::from_str_radix(local.rsplit_once(':')?.1, 16).ok()?;
            (p == port && matches!(*state, "0A" | "07")).then(|| f.get(9).map(|i| i.to_string()))?
        })
        .collect()
}

/// Is a client connected to the unix socket listening at `path`? A connection accepted on
/// it shows in `/proc/net/unix` under the same path, in state 03 (connected).
pub fn unix_connected(path: &std::path::Path) -> bool {
    let Some(path) = path.to_str() else {
        return false;
    };
    std::fs::read_to_string("/proc/net/unix").is_ok_and(|text| {
        text.lines().skip(1).any(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            f.len() >= 8 && f[5] == "03" && f[7] == path
        })
    })
}

/// The uid owning the other end of a TCP connection on this machine: the socket bound to
/// `peer` and connected to `local` (a connection accepted on `local` from `peer`), asked of
/// the kernel through sock_diag (one exact look-up, no walk of every socket). `None` when the
/// peer is not on this machine or the kernel does not say.
pub fn peer_uid(local: SocketAddr, peer: SocketAddr) -> Option<u32> {
    use nix::sys::socket::{MsgFlags, NetlinkAddr, SockProtocol, recv, sendto};
    // Kernel ABI (linux/inet_diag.h, linux/sock_diag.h).
    const SOCK_DIAG_BY_FAMILY: u16 = 20;
    const NLM_F_REQUEST: u16 = 1;
    const NLMSG_ERROR: u16 = 2;
    let (family, peer_ip, local_ip): (u8, [u8; 16], [u8; 16]) = match (peer.ip(), local.ip()) {
        (IpAddr::V4(p), IpAddr::V4(l)) => {
            let mut a = [0u8; 16];
            let mut b = [0u8; 16];
            a[..4].copy_from_slice(&p.octets());
            b[..4].copy_from_slice(&l.octets());
            (libc_af(AddressFamily::Inet), a, b)
        }
        (IpAddr::V6(p), IpAddr::V6(l)) => (libc_af(AddressFamily::Inet6), p.octets(), l.octets()),
        _ => return None,
    };
    // nlmsghdr (16) + inet_diag_req_v2 (8) + inet_diag_sockid (48).
    let mut req = Vec::with_capacity(72);
    req.extend_from_slice(&72u32.to_ne_bytes());
    req.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    req.extend_from_slice(&NLM_F_REQUEST.to_ne_bytes());
    req.extend_from_slice(&1u32.to_ne_bytes()); // seq
    req.extend_from_slice(&0u32.to_ne_bytes()); // pid
    req.extend_from_slice(&[family, 6 /* IPPROTO_TCP */, 0, 0]);
    req.extend_from_slice(&u32::MAX.to_ne_bytes()); // every state
    // The peer's socket: its source is the peer, its destination us.
    req.extend_from_slice(&peer.port().to_be_bytes());
    req.extend_from_slice(&local.port().to_be_bytes());
    req.extend_from_slice(&peer_ip);
    req.extend_from_slice(&local_ip);
    req.extend_from_slice(&0u32.to_ne_bytes()); // interface
    req.extend_from_slice(&[0xff; 8]); // INET_DIAG_NOCOOKIE
    let fd = socket(
        AddressFamily::Netlink,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkSockDiag,
    )
    .ok()?;
    sendto(
        fd.as_raw_fd(),
        &req,
        &NetlinkAddr::new(0, 0),
        MsgFlags::empty(),
    )
    .ok()?;
    let mut buf = [0u8; 1024];
    let n = recv(fd.as_raw_fd(), &mut buf, MsgFlags::empty()).ok()?;
    let u16_at = |i: usize| Some(u16::from_ne_bytes(buf.get(i..i + 2)?.try_into().ok()?));
    let u32_at = |i: usize| Some(u32::from_ne_bytes(buf.get(i..i + 4)?.try_into().ok()?));
    if n < 16 || u16_at(4)? == NLMSG_ERROR || u16_at(4)? != SOCK_DIAG_BY_FAMILY {
        return None;
    }
    // nlmsghdr (16), then inet_diag_msg: family, state, timer, retrans (4), the socket id
    // (48), expires, rqueue, wqueue (12), uid.
    if n < 16 + 4 + 48 + 12 + 4 {
        return None;
    }
    u32_at(16 + 4 + 48 + 12)
}

fn libc_af(f: AddressFamily) -> u8 {
    f as i32 as u8
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn port_free(port: u16) -> bool {
        port_free_on(IpAddr::V4(Ipv4Addr::LOCALHOST), port)
    }

    #[test]
    fn parses_established_lines_only() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 0100007F:4E20 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0\n\
   1: 0100007F:4E20 0100007F:B1C2 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0 20 4 30 10 -1\n";
        assert_eq!(parse_established(text), vec![0x4E20]);
    }

    #[test]
    fn checks_running_at_once_do_not_see_each_other() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let check = move || (0..3000).all(|_| port_free(port));
        let other = std::thread::spawn(check);
        let here = check();
        let there = other.join().unwrap();
        assert!(
            here && there,
            "one check saw the other's probe as a user of the port"
        );
    }

    #[test]
    fn a_udp_socket_holds_its_port() {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = s.local_addr().unwrap().port();
        assert!(!udp_port_free(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }

    #[test]
    fn the_holder_of_a_listening_port_is_named() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let who = holder(port).expect("our own listener is visible");
        assert!(
            who.ends_with(&format!("(pid {})", std::process::id())),
            "{who}"
        );
        drop(l);
        assert_eq!(holder(port), None);
    }

    #[test]
    fn a_connection_to_a_unix_socket_is_seen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let l = std::os::unix::net::UnixListener::bind(&path).unwrap();
        assert!(!unix_connected(&path));
        let _c = std::os::unix::net::UnixStream::connect(&path).unwrap();
        let _a = l.accept().unwrap();
        assert!(unix_connected(&path));
    }

    #[test]
    fn a_bound_port_is_not_free() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        assert!(!port_free(port));
        drop(l);
        assert!(port_free(port));
    }
}
