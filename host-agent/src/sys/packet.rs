//! The AF_PACKET socket that carries every frame the core sends and receives.
//!
//! One `SOCK_RAW` socket per management interface sees whole Ethernet frames.
//! A classic BPF filter in the kernel, compiled from the core's
//! [`FrameFilter`], passes only what the core asked for, so the daemon is not
//! woken by the rest of the segment's traffic.

use std::io;
use std::mem;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use vip_core::FrameFilter;

use super::bpf;
use super::error::{Operation, SysError};
use super::fd::{cvt, cvt_size, setsockopt, socket};
use super::poll::wait_readable;

/// The receive buffer [`PacketOptions::new`] asks for: 1 MiB.
pub const DEFAULT_RECV_BUFFER: usize = 1 << 20;

/// How to open a [`PacketSocket`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacketOptions {
    /// The frames to receive (compiled into the kernel filter) and the
    /// link-layer multicast groups to join, so that their frames arrive
    /// without promiscuous mode. An empty filter receives nothing.
    pub filter: FrameFilter,
    /// Receive buffer asked for, in bytes (the kernel may grant less when
    /// it cannot be forced past `net.core.rmem_max`).
    pub recv_buffer: usize,
}

impl PacketOptions {
    /// Options receiving what `filter` wants, with a
    /// [`DEFAULT_RECV_BUFFER`] receive buffer.
    pub fn new(filter: FrameFilter) -> Self {
        Self {
            filter,
            recv_buffer: DEFAULT_RECV_BUFFER,
        }
    }
}

/// A non-blocking AF_PACKET socket bound to one interface. The event loop
/// waits for it in its [`Poller`](super::Poller), not in the tokio reactor.
#[derive(Debug)]
pub struct PacketSocket {
    fd: OwnedFd,
    ifindex: u32,
    truncated: AtomicU64,
}

impl PacketSocket {
    /// Opens the socket on interface `ifindex`, attaches the filter compiled
    /// from `options.filter` and joins its groups.
    ///
    /// Errors name the interface and the step that failed. Needs
    /// CAP_NET_RAW.
    pub fn open(ifindex: u32, options: &PacketOptions) -> Result<Self, SysError> {
        let open_err = |e| SysError::io(Operation::OpenPacketSocket, ifindex, e);
        // Protocol 0 at creation: the socket receives nothing until bind(),
        // so no unfiltered frame can be queued before the filter is attached.
        let fd =
            socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_NONBLOCK, 0).map_err(open_err)?;

        let program = bpf::compile(&options.filter);
        let fprog = libc::sock_fprog {
            // At most bpf::MAX_PROGRAM_LEN (15) instructions.
            len: program.len() as libc::c_ushort,
            filter: program.as_ptr().cast_mut(),
        };
        // The kernel copies the program during setsockopt, so `program` only
        // has to live until the call returns.
        setsockopt(&fd, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &fprog)
            .map_err(|e| SysError::io(Operation::AttachFilter, ifindex, e))?;

        // Kernels since 4.20 can drop our own transmissions before queueing
        // them; older ones refuse the option and recv() drops them instead.
        let _ = setsockopt(&fd, libc::SOL_PACKET, libc::PACKET_IGNORE_OUTGOING, &1i32);
        // Each frame's status, to see checksums the kernel left to the card
        // (a frame from another namespace over veth, or a local sender).
        setsockopt(&fd, libc::SOL_PACKET, libc::PACKET_AUXDATA, &1i32).map_err(open_err)?;

        let rcvbuf = libc::c_int::try_from(options.recv_buffer).unwrap_or(libc::c_int::MAX);
        // SO_RCVBUFFORCE passes rmem_max with CAP_NET_ADMIN; fall back if not.
        if setsockopt(&fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, &rcvbuf).is_err() {
            setsockopt(&fd, libc::SOL_SOCKET, libc::SO_RCVBUF, &rcvbuf).map_err(open_err)?;
        }

        bind(&fd, ifindex).map_err(open_err)?;

        for group in &options.filter.groups {
            join(&fd, ifindex, group.0)
                .map_err(|e| SysError::io(Operation::JoinGroup(group.0), ifindex, e))?;
        }

        Ok(Self {
            fd,
            ifindex,
            truncated: AtomicU64::new(0),
        })
    }

    /// The index of the interface the socket is bound to.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// Joins the link-layer multicast group `mac` for the socket's lifetime.
    pub fn join_group(&self, mac: [u8; 6]) -> Result<(), SysError> {
        join(&self.fd, self.ifindex, mac)
            .map_err(|e| SysError::io(Operation::JoinGroup(mac), self.ifindex, e))
    }

    /// Receives the next whole Ethernet frame into `buf`, waiting at most
    /// `timeout`: `Ok(None)` if none came. Skips frames as
    /// [`Self::try_recv`] does. For tests and tools; the event loop waits
    /// in its poller.
    pub fn recv_timeout(&self, buf: &mut [u8], timeout: Duration) -> io::Result<Option<usize>> {
        let until = Instant::now() + timeout;
        loop {
            if let Some(len) = self.try_recv(buf)? {
                return Ok(Some(len));
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() || !wait_readable(self.fd.as_fd(), left)? {
                return Ok(None);
            }
        }
    }

    /// Receives a frame if one is queued, without waiting: `Ok(None)` when
    /// the queue is empty.
    ///
    /// Frames this host sent are skipped, and so are frames longer than
    /// `buf` (counted by [`Self::truncated_frames`]); a buffer of the MTU plus
    /// 14 bytes or more avoids that.
    pub fn try_recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        loop {
            match self.recv_once(&self.fd, buf) {
                Ok(Some(len)) => return Ok(Some(len)),
                Ok(None) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) => return Err(e),
            }
        }
    }

    /// Sends one whole Ethernet frame (destination MAC first, no FCS).
    ///
    /// Does not wait: a full transmit queue gives `ErrorKind::WouldBlock`.
    pub fn send(&self, frame: &[u8]) -> io::Result<()> {
        // SAFETY: `frame` is readable for `frame.len()` bytes during the call;
        // the descriptor is owned by `self` and open.
        let sent = cvt_size(unsafe {
            libc::send(self.fd.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0)
        })?;
        if sent == frame.len() {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("sent {sent} of {} bytes", frame.len()),
            ))
        }
    }

    /// How many received frames were skipped for not fitting the buffer.
    pub fn truncated_frames(&self) -> u64 {
        self.truncated.load(Ordering::Relaxed)
    }

    /// One recvmsg(2): `Ok(None)` for a frame that is skipped. A frame
    /// whose checksum the kernel left undone (`TP_STATUS_CSUMNOTREADY`)
    /// gets it filled in, as the card would have on the wire.
    fn recv_once(&self, fd: &OwnedFd, buf: &mut [u8]) -> io::Result<Option<usize>> {
        let (len, from, status) = recv_with_status(fd, buf)?;
        if from.sll_pkttype == libc::PACKET_OUTGOING {
            return Ok(None);
        }
        if len > buf.len() {
            self.truncated.fetch_add(1, Ordering::Relaxed);
            return Ok(None);
        }
        if status & libc::TP_STATUS_CSUMNOTREADY != 0 && buf.get(12..14) == Some(&[0x08, 0x00]) {
            vip_core::wire::dhcp::fill_checksums(&mut buf[14..len]);
        }
        Ok(Some(len))
    }
}

impl AsFd for PacketSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Room for one `tpacket_auxdata` control message (and alignment).
const CONTROL_LEN: usize = 64;

/// recvmsg(2) with MSG_TRUNC: the frame's full length, its sender and its
/// `tp_status` (0 when the kernel sent no auxdata).
fn recv_with_status(fd: &OwnedFd, buf: &mut [u8]) -> io::Result<(usize, libc::sockaddr_ll, u32)> {
    // SAFETY: sockaddr_ll is plain old data; all zeroes is a valid value.
    let mut from: libc::sockaddr_ll = unsafe { mem::zeroed() };
    // u64s: a control buffer aligned for cmsghdr.
    let mut control = [0u64; CONTROL_LEN / 8];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: msghdr is plain old data; all zeroes is a valid value.
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    msg.msg_name = (&mut from as *mut libc::sockaddr_ll).cast();
    msg.msg_namelen = mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = CONTROL_LEN as _;
    // SAFETY: every pointer in `msg` points at a live local (`from`, `iov`
    // over `buf`, `control`) with the length given, for the whole call; with
    // MSG_TRUNC the kernel writes at most `buf.len()` bytes of the frame
    // and returns its full length.
    let len = cvt_size(unsafe { libc::recvmsg(fd.as_raw_fd(), &mut msg, libc::MSG_TRUNC) })?;
    let mut status = 0;
    // SAFETY: `msg` was filled by recvmsg: CMSG_FIRSTHDR/NXTHDR walk only
    // the `msg_controllen` bytes of `control` the kernel wrote, and a
    // PACKET_AUXDATA message holds a tpacket_auxdata, read unaligned.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            let c = &*cmsg;
            if c.cmsg_level == libc::SOL_PACKET
                && c.cmsg_type == libc::PACKET_AUXDATA
                && c.cmsg_len as usize
                    >= libc::CMSG_LEN(mem::size_of::<libc::tpacket_auxdata>() as u32) as usize
            {
                let aux = libc::CMSG_DATA(cmsg).cast::<libc::tpacket_auxdata>();
                status = std::ptr::read_unaligned(aux).tp_status;
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    Ok((len, from, status))
}

fn bind(fd: &OwnedFd, ifindex: u32) -> io::Result<()> {
    // SAFETY: sockaddr_ll is plain old data; all zeroes is a valid value.
    let mut addr: libc::sockaddr_ll = unsafe { mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as libc::c_ushort;
    addr.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
    addr.sll_ifindex = libc::c_int::try_from(ifindex)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "interface index too large"))?;
    // SAFETY: `addr` is a fully initialised sockaddr_ll and the length passed
    // is its size; the descriptor is open.
    cvt(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_ll).cast(),
            mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    })
    .map(drop)
}

fn join(fd: &OwnedFd, ifindex: u32, mac: [u8; 6]) -> io::Result<()> {
    let mut address = [0u8; 8];
    address[..6].copy_from_slice(&mac);
    let mreq = libc::packet_mreq {
        mr_ifindex: libc::c_int::try_from(ifindex).map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidInput, "interface index too large")
        })?,
        mr_type: libc::PACKET_MR_MULTICAST as libc::c_ushort,
        mr_alen: 6,
        mr_address: address,
    };
    setsockopt(fd, libc::SOL_PACKET, libc::PACKET_ADD_MEMBERSHIP, &mreq)
}
