//! Many datagrams per system call (`recvmmsg`, `sendmmsg`): under load the relay moves a batch
//! of frames with two calls instead of two calls per frame, which is most of its cost.

use std::io;
use std::os::fd::RawFd;

use nix::libc;

/// Frames one call moves at most.
pub const BATCH: usize = 16;
/// The largest frame a batch slot holds: a jumbo frame (9000 bytes of MTU) with its headers.
pub const SLOT: usize = 9216;

/// Receive buffers for one batch: one slot at first, [`BATCH`] once a direction carries
/// traffic (a link that is never used costs 9 KiB a direction, not 147).
pub struct Batch {
    bufs: Vec<Vec<u8>>,
    lens: [usize; BATCH],
    truncated: [bool; BATCH],
    count: usize,
}

impl Default for Batch {
    fn default() -> Self {
        Batch {
            bufs: (0..BATCH).map(|_| vec![0u8; SLOT]).collect(),
            lens: [0; BATCH],
            truncated: [false; BATCH],
            count: 0,
        }
    }
}

impl Batch {
    /// A batch of one slot, grown by [`Batch::grow`].
    pub fn small() -> Self {
        Batch {
            bufs: vec![vec![0u8; SLOT]],
            lens: [0; BATCH],
            truncated: [false; BATCH],
            count: 0,
        }
    }

    /// All [`BATCH`] slots.
    pub fn grow(&mut self) {
        while self.bufs.len() < BATCH {
            self.bufs.push(vec![0u8; SLOT]);
        }
    }

    /// The frames of the last receive: (frame, was it cut short).
    pub fn frames(&self) -> impl Iterator<Item = (&[u8], bool)> {
        (0..self.count).map(|i| (&self.bufs[i][..self.lens[i]], self.truncated[i]))
    }

    /// Receives up to [`BATCH`] waiting datagrams from `fd` without blocking.
    #[cfg(test)]
    pub fn recv(&mut self, fd: RawFd) -> io::Result<usize> {
        self.recv_with(fd, libc::MSG_DONTWAIT)
    }

    /// Waits (up to the socket's receive timeout) for a datagram, then takes every one
    /// waiting, up to the batch's size.
    pub fn recv_wait(&mut self, fd: RawFd) -> io::Result<usize> {
        self.recv_with(fd, libc::MSG_WAITFORONE)
    }

    fn recv_with(&mut self, fd: RawFd, flags: libc::c_int) -> io::Result<usize> {
        let mut iovs: Vec<libc::iovec> = self
            .bufs
            .iter_mut()
            .map(|b| libc::iovec {
                iov_base: b.as_mut_ptr().cast(),
                iov_len: b.len(),
            })
            .collect();
        let mut msgs = headers(&mut iovs);
        // SAFETY: `msgs` and the buffers their iovecs point into live through the call, and
        // the count passed is their length.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                msgs.as_mut_ptr(),
                msgs.len() as libc::c_uint,
                flags,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            self.count = 0;
            return Err(io::Error::last_os_error());
        }
        let n = n as usize;
        for (i, m) in msgs.iter().take(n).enumerate() {
            self.lens[i] = (m.msg_len as usize).min(SLOT);
            self.truncated[i] = m.msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
        }
        self.count = n;
        Ok(n)
    }
}

/// One message header per iovec (one buffer each, no address, no control data). The headers
/// point into `iovs`, which must outlive their use.
fn headers(iovs: &mut [libc::iovec]) -> Vec<libc::mmsghdr> {
    iovs.iter_mut()
        .map(|iov| {
            // SAFETY: a zeroed mmsghdr is a valid "no name, no control" header; the iovec is
            // set right after.
            let mut m: libc::mmsghdr = unsafe { std::mem::zeroed() };
            m.msg_hdr.msg_iov = iov;
            m.msg_hdr.msg_iovlen = 1;
            m
        })
        .collect()
}

/// Sends `frames` on the connected socket `fd` without blocking; returns how many were sent
/// (the first ones, in order).
#[cfg(test)]
pub fn send(fd: RawFd, frames: &[&[u8]]) -> io::Result<usize> {
    send_with(fd, frames, libc::MSG_DONTWAIT)
}

/// Sends `frames` on the connected socket `fd`, waiting (up to its send timeout) while the
/// receiver is full.
pub fn send_wait(fd: RawFd, frames: &[&[u8]]) -> io::Result<usize> {
    send_with(fd, frames, 0)
}

fn send_with(fd: RawFd, frames: &[&[u8]], flags: libc::c_int) -> io::Result<usize> {
    if frames.is_empty() {
        return Ok(0);
    }
    let mut iovs: Vec<libc::iovec> = frames
        .iter()
        .map(|f| libc::iovec {
            iov_base: f.as_ptr() as *mut libc::c_void,
            iov_len: f.len(),
        })
        .collect();
    let mut msgs = headers(&mut iovs);
    // SAFETY: `msgs` and the frames they point at live through the call; the kernel only reads
    // the frames.
    let n = unsafe { libc::sendmmsg(fd, msgs.as_mut_ptr(), msgs.len() as libc::c_uint, flags) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixDatagram;

    #[test]
    fn a_batch_goes_through_in_two_calls() {
        let (a, b) = UnixDatagram::pair().unwrap();
        let frames: Vec<Vec<u8>> = (0..20u8).map(|i| vec![i; 100 + i as usize]).collect();
        let refs: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
        let sent = send(a.as_raw_fd(), &refs).unwrap();
        assert_eq!(sent, 20);
        let mut batch = Batch::default();
        assert_eq!(batch.recv(b.as_raw_fd()).unwrap(), BATCH);
        let got: Vec<Vec<u8>> = batch.frames().map(|(f, _)| f.to_vec()).collect();
        assert_eq!(got, frames[..BATCH]);
        assert_eq!(batch.recv(b.as_raw_fd()).unwrap(), 4);
        let err = batch.recv(b.as_raw_fd()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        // A frame too big for a slot is flagged, not silently cut.
        send(a.as_raw_fd(), &[&vec![7u8; SLOT + 10]]).unwrap();
        batch.recv(b.as_raw_fd()).unwrap();
        assert!(batch.frames().next().unwrap().1, "truncation flagged");
    }
}
