//! Interface queries, the VIP's address and the carrier watch, over
//! NETLINK_ROUTE.
//!
//! The request functions are synchronous, and each returns within
//! [`REQUEST_BOUND`](super::REQUEST_BOUND) (250 ms): the request runs on the netlink worker thread,
//! in order with every other (see `rtnl_worker`), so a kernel stalled on its
//! `rtnl_lock` cannot hold up the event loop for longer. A request that took
//! longer fails with `ErrorKind::TimedOut` and is still carried out later.

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::os::fd::OwnedFd;

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use super::error::{iface_label, Operation, SysError};
use super::fd::register;
use super::netlink::{
    attrs, messages, open_monitor, recv_from_kernel, u32_at, Message, Request, RequestError,
    RouteSocket, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST,
};
use super::rtnl_worker::bounded;

const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const RTM_DELADDR: u16 = 21;
const RTM_GETADDR: u16 = 22;
const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFINFOMSG_LEN: usize = 16;
const IFADDRMSG_LEN: usize = 8;
const RT_SCOPE_UNIVERSE: u8 = 0;
const AF_UNSPEC: u8 = 0;
const AF_INET: u8 = libc::AF_INET as u8;
const RTMGRP_LINK: u32 = libc::RTMGRP_LINK as u32;
const IFF_LOWER_UP: u32 = libc::IFF_LOWER_UP as u32;
const DUMP_ATTEMPTS: usize = 5;

/// What the daemon needs to know about its management interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceInfo {
    /// The interface name.
    pub name: String,
    /// The kernel's interface index.
    pub index: u32,
    /// The Ethernet hwaddr.
    pub mac: [u8; 6],
    /// IPv4 addresses with prefix length, in the kernel's order.
    pub ipv4: Vec<(Ipv4Addr, u8)>,
    /// Up and with carrier (IFF_LOWER_UP): frames can pass.
    pub carrier_up: bool,
    /// MTU in bytes (without the Ethernet header).
    pub mtu: u32,
}

/// Looks up interface `name` in the calling thread's network namespace.
///
/// Errors: [`SysError::InvalidInterfaceName`], [`SysError::NoSuchInterface`],
/// [`SysError::NotEthernet`] for an interface without a 6-byte hwaddr, or
/// the failing netlink request (`TimedOut` past [`REQUEST_BOUND`](super::REQUEST_BOUND)).
pub fn interface_info(name: &str) -> Result<InterfaceInfo, SysError> {
    check_name(name)?;
    let fail = |op, e| request_failed(op, name.to_owned(), e);
    let mut socket =
        RouteSocket::open().map_err(|e| fail(Operation::QueryLink, RequestError::Io(e)))?;
    let mut name_attr = name.as_bytes().to_vec();
    name_attr.push(0);
    let request =
        Request::new(RTM_GETLINK, NLM_F_REQUEST, &ifinfomsg(0)).attr(IFLA_IFNAME, &name_attr);
    let (link, addresses) = bounded(move || {
        let link = get_link(&mut socket, request);
        let addresses = match &link {
            Ok(link) => Some(ipv4_addresses(&mut socket, link.index)),
            Err(_) => None,
        };
        (link, addresses)
    })
    .map_err(|e| fail(Operation::QueryLink, e))?;
    let link = match link {
        Err(RequestError::Kernel { errno, .. }) if errno == libc::ENODEV => {
            return Err(SysError::NoSuchInterface {
                name: name.to_owned(),
            })
        }
        other => other.map_err(|e| fail(Operation::QueryLink, e))?,
    };
    let mac = match (link.link_type, link.mac) {
        (libc::ARPHRD_ETHER, Some(mac)) => mac,
        (link_type, _) => {
            return Err(SysError::NotEthernet {
                name: name.to_owned(),
                link_type,
            })
        }
    };
    let ipv4 = addresses
        .ok_or(RequestError::Malformed("no address dump after the link"))
        .and_then(|dump| dump)
        .map_err(|e| fail(Operation::ListAddresses, e))?;
    Ok(InterfaceInfo {
        name: name.to_owned(),
        index: link.index,
        mac,
        ipv4,
        carrier_up: link.carrier_up,
        mtu: link.mtu,
    })
}

/// Adds `addr` to interface `ifindex` as a /32 with scope global.
///
/// Idempotent: an existing `addr/32` is success. Needs CAP_NET_ADMIN.
/// Returns within [`REQUEST_BOUND`](super::REQUEST_BOUND); past it, `TimedOut`, and the address
/// may still be added later, before any request made after this one.
pub fn add_vip(ifindex: u32, addr: Ipv4Addr) -> Result<(), SysError> {
    let op = Operation::AddVip(addr);
    let request = Request::new(
        RTM_NEWADDR,
        NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL,
        &ifaddrmsg(32, ifindex),
    )
    .attr(IFA_LOCAL, &addr.octets())
    .attr(IFA_ADDRESS, &addr.octets());
    match one_request(request) {
        Err(RequestError::Kernel { errno, .. }) if errno == libc::EEXIST => Ok(()),
        other => other.map_err(|e| request_failed(op, iface_label(ifindex), e)),
    }
}

/// Removes `addr/32` from interface `ifindex`.
///
/// Idempotent: an absent address is success. Only the /32 is removed, never
/// the same address with another prefix length. Needs CAP_NET_ADMIN.
/// Returns within [`REQUEST_BOUND`](super::REQUEST_BOUND); past it, `TimedOut`, and the removal
/// is still carried out later, before any request made after this one.
pub fn remove_vip(ifindex: u32, addr: Ipv4Addr) -> Result<(), SysError> {
    let op = Operation::RemoveVip(addr);
    // IFA_ADDRESS makes the kernel match the prefix length as well as the
    // local address.
    let request = Request::new(RTM_DELADDR, NLM_F_REQUEST, &ifaddrmsg(32, ifindex))
        .attr(IFA_LOCAL, &addr.octets())
        .attr(IFA_ADDRESS, &addr.octets());
    match one_request(request) {
        Err(RequestError::Kernel { errno, .. })
            if errno == libc::EADDRNOTAVAIL || errno == libc::ENOENT =>
        {
            Ok(())
        }
        other => other.map_err(|e| request_failed(op, iface_label(ifindex), e)),
    }
}

/// Whether interface `ifindex` has `addr` with any prefix length.
///
/// Returns within [`REQUEST_BOUND`](super::REQUEST_BOUND) (`TimedOut` past it).
pub fn has_address(ifindex: u32, addr: Ipv4Addr) -> Result<bool, SysError> {
    let fail = |e| request_failed(Operation::ListAddresses, iface_label(ifindex), e);
    let mut socket = RouteSocket::open().map_err(|e| fail(RequestError::Io(e)))?;
    let addresses = bounded(move || ipv4_addresses(&mut socket, ifindex))
        .and_then(|dump| dump)
        .map_err(fail)?;
    Ok(addresses.iter().any(|&(a, _)| a == addr))
}

/// A carrier change of the watched interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkEvent {
    /// Up with carrier: frames can pass.
    CarrierUp,
    /// Down or without carrier.
    CarrierDown,
    /// The interface was deleted (or moved out of this namespace).
    Removed,
}

/// Follows carrier changes of one interface (RTMGRP_LINK notifications).
#[derive(Debug)]
pub struct LinkWatch {
    fd: AsyncFd<OwnedFd>,
    ifindex: u32,
    carrier_up: bool,
    removed: bool,
    pending: VecDeque<LinkEvent>,
    buf: Vec<u8>,
}

impl LinkWatch {
    /// Subscribes to link notifications, then reads the current state, so
    /// that no change falls between the two. The read returns within
    /// [`REQUEST_BOUND`](super::REQUEST_BOUND).
    ///
    /// Needs a tokio runtime with I/O enabled (an error without one).
    pub fn new(ifindex: u32) -> Result<Self, SysError> {
        let fail = |e| SysError::io(Operation::WatchLink, ifindex, e);
        let fd = open_monitor(RTMGRP_LINK).map_err(fail)?;
        let fd = register(fd, Interest::READABLE).map_err(fail)?;
        let mut watch = Self {
            fd,
            ifindex,
            carrier_up: false,
            removed: false,
            pending: VecDeque::new(),
            buf: vec![0; 64 * 1024],
        };
        match watch.query()? {
            Some(up) => watch.carrier_up = up,
            None => {
                return Err(SysError::NoSuchInterface {
                    name: format!("index {ifindex}"),
                })
            }
        }
        Ok(watch)
    }

    /// The carrier state as last reported (or read at creation).
    pub fn carrier_up(&self) -> bool {
        self.carrier_up
    }

    /// Waits for the next change of carrier, or the interface's removal.
    ///
    /// Only changes are reported: the many other link notifications
    /// (flags, statistics, MTU) are absorbed. If the kernel drops
    /// notifications (socket overrun) the state is read again, so a missed
    /// change is still reported (that read returns within
    /// [`REQUEST_BOUND`](super::REQUEST_BOUND)). Cancel-safe.
    pub async fn next(&mut self) -> Result<LinkEvent, SysError> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Ok(event);
            }
            let mut guard = self
                .fd
                .readable()
                .await
                .map_err(|e| SysError::io(Operation::WatchLink, self.ifindex, e))?;
            let buf = &mut self.buf;
            let read = match guard.try_io(|fd| recv_from_kernel(fd.get_ref(), buf)) {
                Ok(read) => read,
                Err(_would_block) => continue,
            };
            match read {
                Ok(Some(len)) => {
                    let datagram = std::mem::take(&mut self.buf);
                    self.absorb(&datagram[..len]);
                    self.buf = datagram;
                }
                Ok(None) => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => self.resync()?,
                Err(e) => return Err(SysError::io(Operation::WatchLink, self.ifindex, e)),
            }
        }
    }

    fn absorb(&mut self, datagram: &[u8]) {
        // A bad message ends the datagram; the good ones before it count.
        for msg in messages(datagram).map_while(Result::ok) {
            let Some(link) = parse_link(&msg).ok() else {
                continue;
            };
            // AF_BRIDGE notifications describe bridge ports: a DELLINK there
            // means "left the bridge", not "deleted".
            if link.index != self.ifindex || link.family != AF_UNSPEC {
                continue;
            }
            match msg.ty {
                RTM_NEWLINK => self.observe(Some(link.carrier_up)),
                RTM_DELLINK => self.observe(None),
                _ => {}
            }
        }
    }

    /// Records the state `carrier` (`None`: interface gone), queueing an
    /// event if it differs from the last one.
    fn observe(&mut self, carrier: Option<bool>) {
        match carrier {
            None if !self.removed => {
                self.removed = true;
                self.carrier_up = false;
                self.pending.push_back(LinkEvent::Removed);
            }
            Some(up) if !self.removed && up != self.carrier_up => {
                self.carrier_up = up;
                self.pending.push_back(if up {
                    LinkEvent::CarrierUp
                } else {
                    LinkEvent::CarrierDown
                });
            }
            _ => {}
        }
    }

    fn resync(&mut self) -> Result<(), SysError> {
        let state = self.query()?;
        self.observe(state);
        Ok(())
    }

    /// Reads the carrier now: `None` if the interface no longer exists.
    fn query(&self) -> Result<Option<bool>, SysError> {
        let fail = |e| request_failed(Operation::QueryLink, iface_label(self.ifindex), e);
        let mut socket = RouteSocket::open().map_err(|e| fail(RequestError::Io(e)))?;
        let request = Request::new(RTM_GETLINK, NLM_F_REQUEST, &ifinfomsg(self.ifindex));
        match bounded(move || get_link(&mut socket, request)).and_then(|link| link) {
            Ok(link) => Ok(Some(link.carrier_up)),
            Err(RequestError::Kernel { errno, .. }) if errno == libc::ENODEV => Ok(None),
            Err(e) => Err(fail(e)),
        }
    }
}

/// The parts of an RTM_NEWLINK / RTM_DELLINK this layer reads.
#[derive(Debug)]
struct Link {
    family: u8,
    index: u32,
    link_type: u16,
    carrier_up: bool,
    mac: Option<[u8; 6]>,
    mtu: u32,
}

fn parse_link(msg: &Message<'_>) -> Result<Link, &'static str> {
    let header = msg.payload.get(..IFINFOMSG_LEN).ok_or("short ifinfomsg")?;
    let mut link = Link {
        family: header[0],
        link_type: u16::from_ne_bytes([header[2], header[3]]),
        index: u32_at(header, 4).ok_or("short ifinfomsg")?,
        carrier_up: u32_at(header, 8).ok_or("short ifinfomsg")? & IFF_LOWER_UP != 0,
        mac: None,
        mtu: 0,
    };
    for attr in attrs(&msg.payload[IFINFOMSG_LEN..]) {
        match attr? {
            (IFLA_ADDRESS, payload) => link.mac = payload.try_into().ok(),
            (IFLA_MTU, payload) => link.mtu = u32_at(payload, 0).ok_or("short IFLA_MTU")?,
            _ => {}
        }
    }
    Ok(link)
}

/// Sends a GETLINK and returns the one link in the reply.
fn get_link(socket: &mut RouteSocket, request: Request) -> Result<Link, RequestError> {
    let mut link = None;
    socket.request(request, |msg| {
        if msg.ty == RTM_NEWLINK {
            link = Some(parse_link(msg)?);
        }
        Ok(())
    })?;
    link.ok_or(RequestError::Malformed("no link in the GETLINK reply"))
}

/// Dumps the IPv4 addresses of interface `ifindex`, retrying a dump that
/// raced with a change.
fn ipv4_addresses(
    socket: &mut RouteSocket,
    ifindex: u32,
) -> Result<Vec<(Ipv4Addr, u8)>, RequestError> {
    let mut header = [0u8; IFADDRMSG_LEN];
    header[0] = AF_INET;
    let mut attempts = 0;
    loop {
        let mut found = Vec::new();
        let request = Request::new(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, &header);
        let result = socket.request(request, |msg| {
            if msg.ty == RTM_NEWADDR {
                if let Some(entry) = parse_ipv4_address(msg, ifindex)? {
                    found.push(entry);
                }
            }
            Ok(())
        });
        attempts += 1;
        match result {
            Err(RequestError::DumpInterrupted) if attempts < DUMP_ATTEMPTS => continue,
            Err(e) => return Err(e),
            Ok(()) => return Ok(found),
        }
    }
}

/// One RTM_NEWADDR entry, if it is IPv4 on `ifindex`.
fn parse_ipv4_address(
    msg: &Message<'_>,
    ifindex: u32,
) -> Result<Option<(Ipv4Addr, u8)>, &'static str> {
    let header = msg.payload.get(..IFADDRMSG_LEN).ok_or("short ifaddrmsg")?;
    if header[0] != AF_INET || u32_at(header, 4) != Some(ifindex) {
        return Ok(None);
    }
    let prefix_len = header[1];
    let (mut local, mut address) = (None, None);
    for attr in attrs(&msg.payload[IFADDRMSG_LEN..]) {
        let (ty, payload) = attr?;
        let value = <[u8; 4]>::try_from(payload).ok().map(Ipv4Addr::from);
        match ty {
            IFA_LOCAL => local = value,
            IFA_ADDRESS => address = value,
            _ => {}
        }
    }
    // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer on
    // point-to-point links and only a fallback.
    Ok(local.or(address).map(|a| (a, prefix_len)))
}

/// Sends one non-dump request and waits (bounded) for the ack.
pub(super) fn one_request(request: Request) -> Result<(), RequestError> {
    // Opened here, not on the worker: the socket must be in the calling
    // thread's network namespace.
    let mut socket = RouteSocket::open().map_err(RequestError::Io)?;
    bounded(move || socket.request(request, |_| Ok(()))).and_then(|ack| ack)
}

pub(super) fn request_failed(op: Operation, iface: String, e: RequestError) -> SysError {
    match e.into_io() {
        Ok(source) => SysError::Io { op, iface, source },
        Err(detail) => SysError::Malformed { op, iface, detail },
    }
}

fn check_name(name: &str) -> Result<(), SysError> {
    let reason = if name.is_empty() {
        "empty"
    } else if name.len() >= libc::IFNAMSIZ {
        "longer than 15 bytes"
    } else if name
        .bytes()
        .any(|b| b == 0 || b == b'/' || b == b':' || b.is_ascii_whitespace())
    {
        "contains NUL, '/', ':' or whitespace"
    } else {
        return Ok(());
    };
    Err(SysError::InvalidInterfaceName {
        name: name.to_owned(),
        reason,
    })
}

fn ifinfomsg(index: u32) -> [u8; IFINFOMSG_LEN] {
    let mut header = [0u8; IFINFOMSG_LEN];
    header[4..8].copy_from_slice(&index.to_ne_bytes());
    header
}

fn ifaddrmsg(prefix_len: u8, index: u32) -> [u8; IFADDRMSG_LEN] {
    let mut header = [AF_INET, prefix_len, 0, RT_SCOPE_UNIVERSE, 0, 0, 0, 0];
    header[4..8].copy_from_slice(&index.to_ne_bytes());
    header
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads through the worker, in this (the test's) namespace; reads need
    /// no privilege and change nothing.
    #[test]
    fn bounded_reads_reach_the_kernel() {
        let lo = std::fs::read_to_string("/sys/class/net/lo/ifindex")
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
            .expect("lo's index");
        assert!(has_address(lo, Ipv4Addr::LOCALHOST).expect("dump lo's addresses"));
        let e = interface_info("lo").unwrap_err();
        assert!(matches!(e, SysError::NotEthernet { .. }), "{e:?}");
        let e = interface_info("nosuch-vipd0").unwrap_err();
        assert!(matches!(e, SysError::NoSuchInterface { .. }), "{e:?}");
    }
}
