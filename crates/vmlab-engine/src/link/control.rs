//! The relay's control protocol and its client: one JSON request per connection on the lab's
//! `relay.sock` (a unix socket in the 0700 lab directory), one JSON reply line, and for a
//! capture the frames that follow, each as `[µs since the epoch: u64][direction: u8][length:
//! u32][frame]` (little-endian). The client writes captures as pcap.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::spec::LinkImpair;
use crate::spec::impair::Direction;

/// The control socket of a lab's relay.
pub fn socket_path(lab_dir: &Path) -> PathBuf {
    lab_dir.join("relay.sock")
}

/// A request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Request {
    /// Counters, rates, attachment and settings of every link.
    Status,
    /// Read `links.json` again and apply it.
    Reload,
    /// Stream the frames of one link, both ways, until the client goes.
    Capture { link: usize },
}

/// Frames dropped in one direction, by cause.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
pub struct Dropped {
    /// The link is set down.
    pub down: u64,
    /// Random loss.
    pub loss: u64,
    /// Over the rate limit (or its queue is full).
    pub rate: u64,
    /// The receiving VM was not there (stopped, restarting) or did not take the frame.
    pub peer: u64,
    /// Larger than a jumbo frame (9216 bytes).
    #[serde(default)]
    pub oversize: u64,
    /// A link between hosts: datagrams from an address other than the peer host's.
    #[serde(default)]
    pub foreign: u64,
    /// A link between hosts: datagrams whose keyed check failed (or that were malformed).
    #[serde(default)]
    pub forged: u64,
    /// A link between hosts: datagrams seen before (replays).
    #[serde(default)]
    pub replayed: u64,
}

impl Dropped {
    pub fn total(&self) -> u64 {
        self.down
            + self.loss
            + self.rate
            + self.peer
            + self.oversize
            + self.foreign
            + self.forged
            + self.replayed
    }
}

/// One direction of a link.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DirReport {
    /// Frames and bytes delivered.
    pub frames: u64,
    pub bytes: u64,
    pub dropped: Dropped,
    /// When a frame last came in (RFC 3339, milliseconds).
    pub last_frame: Option<String>,
    /// Delivered over the last second.
    pub frames_per_sec: f64,
    pub bits_per_sec: f64,
}

/// One link as the relay sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkReport {
    pub index: usize,
    pub up: bool,
    pub impair: LinkImpair,
    /// Is the end's VM socket there to send to?
    pub a_attached: bool,
    pub z_attached: bool,
    pub a_to_z: DirReport,
    pub z_to_a: DirReport,
    /// A link between hosts: the other host as this relay hears it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<PeerReport>,
}

/// The other host of a link between hosts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PeerReport {
    pub host: String,
    /// Its address and the link's port.
    pub address: String,
    /// Its relay was heard in the last few seconds.
    pub alive: bool,
    /// Its VM is attached (as its last heartbeat said).
    pub attached: bool,
    /// When it was last heard (RFC 3339).
    pub last_heard: Option<String>,
    /// Datagrams carry the keyed check.
    pub keyed: bool,
}

/// The reply to [`Request::Status`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RelayReport {
    pub pid: i32,
    /// When this relay started (RFC 3339): counters count from here.
    pub started: String,
    pub links: Vec<LinkReport>,
}

/// A reply that is not a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ack {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

fn connect(lab_dir: &Path, limit: Duration) -> std::io::Result<UnixStream> {
    let s = UnixStream::connect(socket_path(lab_dir))?;
    s.set_read_timeout(Some(limit))?;
    s.set_write_timeout(Some(limit))?;
    Ok(s)
}

fn ask(s: &mut UnixStream, req: &Request) -> std::io::Result<String> {
    let mut line = serde_json::to_string(req).map_err(std::io::Error::other)?;
    line.push('\n');
    s.write_all(line.as_bytes())?;
    let mut reply = String::new();
    BufReader::new(&mut *s).read_line(&mut reply)?;
    if reply.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "the relay closed the connection",
        ));
    }
    Ok(reply)
}

/// Asks the relay for its report (blocking, at most `limit`).
pub fn status(lab_dir: &Path, limit: Duration) -> std::io::Result<RelayReport> {
    let mut s = connect(lab_dir, limit)?;
    let reply = ask(&mut s, &Request::Status)?;
    serde_json::from_str(&reply).map_err(std::io::Error::other)
}

/// Tells the relay to read `links.json` again.
pub fn reload(lab_dir: &Path, limit: Duration) -> std::io::Result<()> {
    let mut s = connect(lab_dir, limit)?;
    let reply = ask(&mut s, &Request::Reload)?;
    let ack: Ack = serde_json::from_str(&reply).map_err(std::io::Error::other)?;
    match ack.error {
        None if ack.ok => Ok(()),
        e => Err(std::io::Error::other(
            e.unwrap_or_else(|| "the relay refused".into()),
        )),
    }
}

/// A captured frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub micros: u64,
    pub dir: Direction,
    pub data: Vec<u8>,
}

/// Encodes a captured frame for the stream.
pub fn encode_frame(micros: u64, dir: Direction, data: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&micros.to_le_bytes());
    out.push(match dir {
        Direction::AToZ => 0,
        Direction::ZToA => 1,
    });
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(data);
}

/// A capture the relay agreed to send: nothing is written anywhere before it exists.
pub struct CaptureStream(UnixStream);

/// Asks the relay to copy link `link`'s frames; `Err` when it cannot (not running, refused).
pub fn start_capture(lab_dir: &Path, link: usize) -> std::io::Result<CaptureStream> {
    let mut s = connect(lab_dir, Duration::from_secs(5))?;
    let reply = ask(&mut s, &Request::Capture { link })?;
    let ack: Ack = serde_json::from_str(&reply).map_err(std::io::Error::other)?;
    if !ack.ok {
        return Err(std::io::Error::other(
            ack.error.unwrap_or_else(|| "the relay refused".into()),
        ));
    }
    Ok(CaptureStream(s))
}

impl CaptureStream {
    /// Writes the frames to `out` as pcap until `stop` is set or the relay goes; the frames
    /// written.
    pub fn pump(self, out: &mut dyn Write, stop: &AtomicBool) -> std::io::Result<u64> {
        let mut s = self.0;
        // Short reads: a stop is noticed within 200 ms.
        s.set_read_timeout(Some(Duration::from_millis(200)))?;
        let mut reader = FrameReader::default();
        let mut buf = vec![0u8; 256 * 1024];
        let mut count = 0u64;
        let mut header_written = false;
        while !stop.load(Ordering::Relaxed) {
            let frames = match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => reader.feed(&buf[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock
                            | std::io::ErrorKind::TimedOut
                            | std::io::ErrorKind::Interrupted
                    ) =>
                {
                    Vec::new()
                }
                Err(e) => return Err(e),
            };
            if header_written && frames.is_empty() {
                continue;
            }
            // Each batch goes through a fresh pcap writer; every batch after the first drops the
            // writer's 24-byte file header.
            let mut pcap =
                pcap_file::pcap::PcapWriter::new(Vec::new()).map_err(std::io::Error::other)?;
            for f in &frames {
                let pkt = pcap_file::pcap::PcapPacket::new(
                    Duration::from_micros(f.micros),
                    f.data.len() as u32,
                    &f.data,
                );
                pcap.write_packet(&pkt).map_err(std::io::Error::other)?;
            }
            let bytes = pcap.into_writer();
            let skip = if header_written { PCAP_HEADER_LEN } else { 0 };
            out.write_all(&bytes[skip..])?;
            out.flush()?;
            header_written = true;
            count += frames.len() as u64;
        }
        Ok(count)
    }
}

/// The size of a pcap file header.
const PCAP_HEADER_LEN: usize = 24;

/// Splits the capture stream into frames.
#[derive(Debug, Default)]
pub struct FrameReader {
    pending: Vec<u8>,
}

impl FrameReader {
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Frame> {
        self.pending.extend_from_slice(bytes);
        let mut out = Vec::new();
        let mut at = 0;
        while self.pending.len() - at >= 13 {
            let h = &self.pending[at..at + 13];
            let micros = u64::from_le_bytes(h[0..8].try_into().unwrap_or_default());
            let dir = if h[8] == 0 {
                Direction::AToZ
            } else {
                Direction::ZToA
            };
            let len = u32::from_le_bytes(h[9..13].try_into().unwrap_or_default()) as usize;
            if self.pending.len() - at - 13 < len {
                break;
            }
            out.push(Frame {
                micros,
                dir,
                data: self.pending[at + 13..at + 13 + len].to_vec(),
            });
            at += 13 + len;
        }
        self.pending.drain(..at);
        out
    }
}
