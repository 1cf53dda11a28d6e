//! Local TCP ports: whether one is free to bind, and which are in established connections
//! (read from `/proc/net/tcp`, the reality behind a link's "up").

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener};

/// Can 127.0.0.1:`port` be bound right now?
pub fn port_free(port: u16) -> bool {
    TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port)).is_ok()
}

/// Local ports with an ESTABLISHED TCP connection (IPv4 and IPv6).
pub fn established_local_ports() -> HashSet<u16> {
    let mut out = HashSet::new();
    for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
        if let Ok(text) = std::fs::read_to_string(file) {
            out.extend(parse_established(&text));
        }
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_established_lines_only() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 0100007F:4E20 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0\n\
   1: 0100007F:4E20 0100007F:B1C2 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0 20 4 30 10 -1\n";
        assert_eq!(parse_established(text), vec![0x4E20]);
    }

    #[test]
    fn a_bound_port_is_not_free() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        assert!(!port_free(port));
        drop(l);
        assert!(port_free(port));
    }
}
