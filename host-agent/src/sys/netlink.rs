//! A small NETLINK_ROUTE client: message encoding, bounds-checked decoding
//! and a request/reply socket.
//!
//! Hand-rolled over libc rather than the `rtnetlink` crate: the daemon needs
//! four messages (get link, dump addresses, new/del address) and one
//! multicast group, all fixed kernel ABI. That is a few hundred lines with no
//! background task, keeps the kernel's errno exact (EEXIST, EADDRNOTAVAIL
//! decide idempotency) and avoids a fast-moving dependency tree. Decoding
//! never indexes out of bounds: a malformed reply is an error, not a panic.

use std::io;
use std::mem;
use std::os::fd::{AsRawFd, OwnedFd};

use super::fd::{cvt, cvt_size, recv_from, setsockopt, socket};

pub(crate) const NLMSG_HDRLEN: usize = 16;
const NLMSG_NOOP: u16 = 1;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;

pub(crate) const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
pub(crate) const NLM_F_DUMP: u16 = 0x300; // ROOT | MATCH
pub(crate) const NLM_F_EXCL: u16 = 0x200;
pub(crate) const NLM_F_CREATE: u16 = 0x400;
const NLM_F_DUMP_INTR: u16 = 0x10;
const NLM_F_CAPPED: u16 = 0x100; // on NLMSG_ERROR: original payload omitted
const NLM_F_ACK_TLVS: u16 = 0x200; // on NLMSG_ERROR: extended ack follows
const NLMSGERR_ATTR_MSG: u16 = 1;
const NLA_TYPE_MASK: u16 = 0x3fff;

/// How long the worker thread waits for a reply that was never queued.
///
/// rtnetlink answers inside the request's own syscalls, so this bounds only
/// a kernel that never answers; the caller stopped waiting long before, at
/// [`super::rtnl_worker::REQUEST_BOUND`].
const REPLY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);
const RECV_BUFFER: usize = 64 * 1024;

/// Rounds up to netlink's 4-byte alignment.
const fn align(len: usize) -> usize {
    (len + 3) & !3
}

fn u16_at(buf: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(buf.get(at..at + 2)?.try_into().ok()?))
}

pub(crate) fn u32_at(buf: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(buf.get(at..at + 4)?.try_into().ok()?))
}

/// One netlink message being built: header, fixed family header, attributes.
#[derive(Debug)]
pub(crate) struct Request {
    buf: Vec<u8>,
}

impl Request {
    /// Starts a message of type `ty` whose fixed header is `family_header`.
    pub(crate) fn new(ty: u16, flags: u16, family_header: &[u8]) -> Self {
        let mut buf = vec![0u8; NLMSG_HDRLEN];
        buf[4..6].copy_from_slice(&ty.to_ne_bytes());
        buf[6..8].copy_from_slice(&flags.to_ne_bytes());
        buf.extend_from_slice(family_header);
        buf.resize(align(buf.len()), 0);
        Self { buf }
    }

    /// Appends attribute `ty` with `payload`.
    pub(crate) fn attr(mut self, ty: u16, payload: &[u8]) -> Self {
        // Attributes here are addresses and names, far below u16::MAX.
        let len = (4 + payload.len()) as u16;
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(payload);
        self.buf.resize(align(self.buf.len()), 0);
        self
    }

    fn flags(&self) -> u16 {
        u16::from_ne_bytes([self.buf[6], self.buf[7]])
    }

    /// Fills in length and sequence number; returns the wire bytes.
    fn finish(&mut self, seq: u32) -> &[u8] {
        let len = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        self.buf[8..12].copy_from_slice(&seq.to_ne_bytes());
        &self.buf
    }
}

/// One received netlink message, borrowed from the receive buffer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Message<'a> {
    pub(crate) ty: u16,
    pub(crate) flags: u16,
    pub(crate) seq: u32,
    /// Everything after the netlink header.
    pub(crate) payload: &'a [u8],
}

/// Splits a datagram into messages; stops with an error at a bad length.
pub(crate) fn messages(mut buf: &[u8]) -> impl Iterator<Item = Result<Message<'_>, &'static str>> {
    std::iter::from_fn(move || {
        if buf.is_empty() {
            return None;
        }
        let parsed = (|| {
            let len = u32_at(buf, 0).ok_or("short netlink header")? as usize;
            if len < NLMSG_HDRLEN || len > buf.len() {
                return Err("bad netlink message length");
            }
            let msg = Message {
                ty: u16_at(buf, 4).ok_or("short netlink header")?,
                flags: u16_at(buf, 6).ok_or("short netlink header")?,
                seq: u32_at(buf, 8).ok_or("short netlink header")?,
                payload: &buf[NLMSG_HDRLEN..len],
            };
            Ok((msg, align(len).min(buf.len())))
        })();
        match parsed {
            Ok((msg, next)) => {
                buf = &buf[next..];
                Some(Ok(msg))
            }
            Err(e) => {
                buf = &[];
                Some(Err(e))
            }
        }
    })
}

/// Splits an attribute area into `(type, payload)`; stops with an error at a
/// bad length.
pub(crate) fn attrs(mut buf: &[u8]) -> impl Iterator<Item = Result<(u16, &[u8]), &'static str>> {
    std::iter::from_fn(move || {
        if buf.len() < 4 {
            return None;
        }
        let len = usize::from(u16_at(buf, 0)?);
        let ty = u16_at(buf, 2)? & NLA_TYPE_MASK;
        if len < 4 || len > buf.len() {
            buf = &[];
            return Some(Err("bad netlink attribute length"));
        }
        let payload = &buf[4..len];
        buf = &buf[align(len).min(buf.len())..];
        Some(Ok((ty, payload)))
    })
}

/// Why a request failed.
#[derive(Debug)]
pub(crate) enum RequestError {
    /// The kernel refused: errno and its extended-ack text, if any.
    Kernel { errno: i32, message: Option<String> },
    /// A syscall on the socket failed (or timed out).
    Io(io::Error),
    /// The reply could not be decoded.
    Malformed(&'static str),
    /// A dump raced with a change and is inconsistent; ask again.
    DumpInterrupted,
}

impl RequestError {
    /// The error as an `io::Error` for messages, or the detail of a reply
    /// that could not be read.
    pub(crate) fn into_io(self) -> Result<io::Error, &'static str> {
        match self {
            Self::Kernel {
                errno,
                message: None,
            } => Ok(io::Error::from_raw_os_error(errno)),
            Self::Kernel {
                errno,
                message: Some(message),
            } => {
                let kind = io::Error::from_raw_os_error(errno).kind();
                Ok(io::Error::new(kind, KernelError { errno, message }))
            }
            Self::Io(e) => Ok(e),
            Self::Malformed(detail) => Err(detail),
            Self::DumpInterrupted => Err("address dump kept being interrupted"),
        }
    }
}

/// A kernel refusal with its extended-ack text, kept inside an `io::Error`
/// so that the errno stays readable.
#[derive(Debug)]
pub(crate) struct KernelError {
    pub(crate) errno: i32,
    message: String,
}

impl std::fmt::Display for KernelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let os = io::Error::from_raw_os_error(self.errno);
        write!(f, "{os} ({})", self.message)
    }
}

impl std::error::Error for KernelError {}

/// A blocking NETLINK_ROUTE socket for one request at a time.
///
/// Its calls can stall on the kernel's `rtnl_lock`: run them through
/// [`super::rtnl_worker::bounded`], never on the event loop directly.
#[derive(Debug)]
pub(crate) struct RouteSocket {
    fd: OwnedFd,
    seq: u32,
}

impl RouteSocket {
    /// Opens a socket in the calling thread's network namespace.
    pub(crate) fn open() -> io::Result<Self> {
        let fd = socket(libc::AF_NETLINK, libc::SOCK_RAW, libc::NETLINK_ROUTE)?;
        let timeout = libc::timeval {
            tv_sec: REPLY_TIMEOUT.as_secs() as libc::time_t,
            tv_usec: REPLY_TIMEOUT.subsec_micros() as libc::suseconds_t,
        };
        setsockopt(&fd, libc::SOL_SOCKET, libc::SO_RCVTIMEO, &timeout)?;
        // Extended acks add the kernel's reason to an error; best effort.
        let _ = setsockopt(&fd, libc::SOL_NETLINK, libc::NETLINK_EXT_ACK, &1i32);
        bind(&fd, 0)?;
        Ok(Self { fd, seq: 0 })
    }

    /// Sends `request` and feeds each reply message to `on_reply` until the
    /// kernel's ack (plain request) or end of dump (`NLM_F_DUMP`).
    pub(crate) fn request(
        &mut self,
        mut request: Request,
        mut on_reply: impl FnMut(&Message<'_>) -> Result<(), &'static str>,
    ) -> Result<(), RequestError> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let is_dump = request.flags() & NLM_F_DUMP == NLM_F_DUMP;
        if !is_dump {
            let flags = request.flags() | NLM_F_ACK;
            request.buf[6..8].copy_from_slice(&flags.to_ne_bytes());
        }
        let bytes = request.finish(seq);
        // SAFETY: `bytes` is readable for its length during the call; a
        // connectionless send(2) on a netlink socket goes to the kernel.
        let sent = cvt_size(unsafe {
            libc::send(self.fd.as_raw_fd(), bytes.as_ptr().cast(), bytes.len(), 0)
        })
        .map_err(RequestError::Io)?;
        if sent != bytes.len() {
            return Err(RequestError::Malformed("short netlink send"));
        }

        let mut buf = vec![0u8; RECV_BUFFER];
        let mut interrupted = false;
        loop {
            let len = match recv_from_kernel(&self.fd, &mut buf) {
                Ok(Some(len)) => len,
                Ok(None) => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Err(RequestError::Io(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("no netlink reply within {} ms", REPLY_TIMEOUT.as_millis()),
                    )))
                }
                Err(e) => return Err(RequestError::Io(e)),
            };
            for msg in messages(&buf[..len]) {
                let msg = msg.map_err(RequestError::Malformed)?;
                if msg.seq != seq {
                    continue; // a late answer to an earlier, abandoned request
                }
                interrupted |= msg.flags & NLM_F_DUMP_INTR != 0;
                match msg.ty {
                    NLMSG_NOOP => {}
                    NLMSG_ERROR => {
                        return match parse_error(&msg)? {
                            None if interrupted => Err(RequestError::DumpInterrupted),
                            None => Ok(()),
                            Some(e) => Err(e),
                        }
                    }
                    NLMSG_DONE => {
                        // A dump's DONE carries an int: 0 or a negative errno.
                        if let Some(code) = u32_at(msg.payload, 0) {
                            let code = code as i32;
                            if code < 0 {
                                return Err(RequestError::Kernel {
                                    errno: -code,
                                    message: None,
                                });
                            }
                        }
                        return if interrupted {
                            Err(RequestError::DumpInterrupted)
                        } else {
                            Ok(())
                        };
                    }
                    _ => on_reply(&msg).map_err(RequestError::Malformed)?,
                }
            }
        }
    }
}

/// Decodes NLMSG_ERROR: `None` for an ack (errno 0).
fn parse_error(msg: &Message<'_>) -> Result<Option<RequestError>, RequestError> {
    let code = u32_at(msg.payload, 0).ok_or(RequestError::Malformed("short NLMSG_ERROR"))? as i32;
    if code == 0 {
        return Ok(None);
    }
    let mut message = None;
    if msg.flags & NLM_F_ACK_TLVS != 0 {
        // After the errno: the request's header, and its payload unless capped.
        let orig_len = if msg.flags & NLM_F_CAPPED != 0 {
            NLMSG_HDRLEN
        } else {
            u32_at(msg.payload, 4).map_or(NLMSG_HDRLEN, |l| l as usize)
        };
        let tlvs = msg.payload.get(4 + align(orig_len)..).unwrap_or(&[]);
        for (ty, payload) in attrs(tlvs).flatten() {
            if ty == NLMSGERR_ATTR_MSG {
                let text = payload.split(|&b| b == 0).next().unwrap_or(&[]);
                message = Some(String::from_utf8_lossy(text).into_owned());
            }
        }
    }
    Ok(Some(RequestError::Kernel {
        errno: code.wrapping_neg(),
        message,
    }))
}

/// Opens a non-blocking socket subscribed to the multicast `groups` bitmask.
pub(crate) fn open_monitor(groups: u32) -> io::Result<OwnedFd> {
    let fd = socket(
        libc::AF_NETLINK,
        libc::SOCK_RAW | libc::SOCK_NONBLOCK,
        libc::NETLINK_ROUTE,
    )?;
    // Link events come in bursts (every flag change); make room for them.
    let rcvbuf: libc::c_int = 1 << 20;
    if setsockopt(&fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, &rcvbuf).is_err() {
        setsockopt(&fd, libc::SOL_SOCKET, libc::SO_RCVBUF, &rcvbuf)?;
    }
    bind(&fd, groups)?;
    Ok(fd)
}

fn bind(fd: &OwnedFd, groups: u32) -> io::Result<()> {
    // SAFETY: sockaddr_nl is plain old data; all zeroes is a valid value.
    let mut addr: libc::sockaddr_nl = unsafe { mem::zeroed() };
    addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    addr.nl_groups = groups;
    // SAFETY: `addr` is an initialised sockaddr_nl and the length is its
    // size; nl_pid 0 lets the kernel pick the port id.
    cvt(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_nl).cast(),
            mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// Receives one datagram; `Ok(None)` if it did not come from the kernel
/// (another process may unicast to our port) and is ignored.
pub(crate) fn recv_from_kernel(fd: &OwnedFd, buf: &mut [u8]) -> io::Result<Option<usize>> {
    let (len, from) = recv_from::<libc::sockaddr_nl>(fd, buf)?;
    if from.nl_pid != 0 {
        return Ok(None);
    }
    if len > buf.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "netlink datagram larger than the receive buffer",
        ));
    }
    Ok(Some(len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_layout_is_aligned() {
        let mut req =
            Request::new(20, NLM_F_REQUEST, &[2, 32, 0, 0, 7, 0, 0, 0]).attr(2, &[192, 0, 2, 100]);
        let bytes = req.finish(9).to_vec();
        assert_eq!(bytes.len(), 16 + 8 + 8);
        assert_eq!(u32_at(&bytes, 0), Some(32));
        assert_eq!(u32_at(&bytes, 8), Some(9));
        let msg = messages(&bytes).next().unwrap().unwrap();
        assert_eq!(msg.ty, 20);
        let (ty, payload) = attrs(&msg.payload[8..]).next().unwrap().unwrap();
        assert_eq!((ty, payload), (2, &[192, 0, 2, 100][..]));
    }

    #[test]
    fn malformed_lengths_end_iteration_with_an_error() {
        let mut bytes = vec![0u8; 20];
        bytes[0..4].copy_from_slice(&200u32.to_ne_bytes());
        let all: Vec<_> = messages(&bytes).collect();
        assert_eq!(all.len(), 1);
        assert!(all[0].is_err());

        let attr = [3u8, 0, 1, 0]; // length 3 < 4
        let all: Vec<_> = attrs(&attr).collect();
        assert!(matches!(all[..], [Err(_)]));
        assert_eq!(attrs(&[1, 2]).count(), 0);
    }

    #[test]
    fn every_truncation_of_a_message_is_safe() {
        let mut req = Request::new(16, NLM_F_REQUEST, &[0u8; 16]).attr(3, b"eth0\0");
        let bytes = req.finish(1).to_vec();
        for cut in 0..bytes.len() {
            for msg in messages(&bytes[..cut]).flatten() {
                for attr in attrs(msg.payload) {
                    let _ = attr;
                }
            }
        }
    }
}
