//! A small DHCP server with static mappings, for the simulator and the
//! core's timeline tests: what dnsmasq does with `dhcp-host=MAC,ADDRESS`
//! and a pool, sans-IO, in a frame and out a frame.
//!
//! It keeps no time: bindings do not expire. Enough for the lease client's
//! tests (offers, ACKs, NAKs when a mapping changes, unicast and broadcast
//! answers), not a server for a network.

use core::net::Ipv4Addr;

use heapless::Vec;

use crate::wire::dhcp::{Datagram, Message, MessageType};
use crate::wire::{
    EthernetAddress, EthernetFrame, EthernetProtocol, EthernetRepr, ETHERNET_HEADER_LEN,
};

/// Most static mappings and bindings kept.
pub const SERVER_CAPACITY: usize = 8;

/// A DHCP server with static mappings and an address pool.
#[derive(Debug, Clone)]
pub struct StaticServer {
    address: Ipv4Addr,
    hwaddr: EthernetAddress,
    mask: Ipv4Addr,
    lease_secs: u32,
    renew_secs: Option<u32>,
    rebind_secs: Option<u32>,
    mappings: Vec<(EthernetAddress, Ipv4Addr), SERVER_CAPACITY>,
    pool: Option<(Ipv4Addr, Ipv4Addr)>,
    bindings: Vec<(EthernetAddress, Ipv4Addr), SERVER_CAPACITY>,
    /// Messages answered, by kind: offers, ACKs, NAKs.
    pub answered: [u64; 3],
}

impl StaticServer {
    /// A server at `address` (its identifier) with MAC `hwaddr`, handing
    /// out `lease_secs`-second leases in a `mask` subnet.
    pub fn new(
        address: Ipv4Addr,
        hwaddr: EthernetAddress,
        mask: Ipv4Addr,
        lease_secs: u32,
    ) -> Self {
        StaticServer {
            address,
            hwaddr,
            mask,
            lease_secs,
            renew_secs: None,
            rebind_secs: None,
            mappings: Vec::new(),
            pool: None,
            bindings: Vec::new(),
            answered: [0; 3],
        }
    }

    /// The server's identifier (option 54).
    pub fn address(&self) -> Ipv4Addr {
        self.address
    }

    /// Sends T1 and T2 (options 58, 59) with every lease.
    pub fn set_times(&mut self, renew_secs: u32, rebind_secs: u32) {
        self.renew_secs = Some(renew_secs);
        self.rebind_secs = Some(rebind_secs);
    }

    /// Sets the lease length.
    pub fn set_lease(&mut self, lease_secs: u32) {
        self.lease_secs = lease_secs;
    }

    /// Maps `hwaddr` to `address` (dnsmasq's `dhcp-host`); a client bound
    /// to another address is refused it from now on.
    pub fn map(&mut self, hwaddr: EthernetAddress, address: Ipv4Addr) {
        self.mappings.retain(|(m, _)| *m != hwaddr);
        self.bindings.retain(|(m, _)| *m != hwaddr);
        // Capacity is the caller's: a test or scenario maps a few MACs.
        let _ = self.mappings.push((hwaddr, address));
    }

    /// Hands out addresses from `first` to `last` to unmapped clients.
    pub fn set_pool(&mut self, first: Ipv4Addr, last: Ipv4Addr) {
        self.pool = Some((first, last));
    }

    /// Forgets every binding, as a server restarted without a lease file.
    pub fn forget_bindings(&mut self) {
        self.bindings.clear();
    }

    /// Answers one Ethernet frame: writes the answer into `buf` and returns
    /// its length, or `None` when the frame asks nothing of this server.
    pub fn handle_frame(&mut self, frame: &[u8], buf: &mut [u8]) -> Option<usize> {
        let eth = EthernetFrame::new_checked(frame).ok()?;
        if eth.ethertype() != EthernetProtocol::Ipv4 {
            return None;
        }
        let d = Datagram::parse(eth.payload()).ok()?;
        let m = d.message;
        if !m.from_client() {
            return None;
        }
        let client = m.chaddr;
        let answer = match m.kind {
            MessageType::Discover => {
                let address = self.choose(client, m.requested)?;
                Some((MessageType::Offer, address))
            }
            MessageType::Request => self.request(&m),
            MessageType::Release => {
                self.bindings.retain(|(c, _)| *c != client);
                None
            }
            _ => None,
        }?;
        let (kind, address) = answer;
        self.answered[match kind {
            MessageType::Offer => 0,
            MessageType::Ack => 1,
            _ => 2,
        }] += 1;
        Some(self.emit(&m, kind, address, buf))
    }

    /// The answer to a REQUEST: ACK the address the client may have, NAK
    /// another, nothing for a REQUEST meant for another server.
    fn request(&mut self, m: &Message) -> Option<(MessageType, Ipv4Addr)> {
        if m.server_id.is_some_and(|s| s != self.address) {
            return None;
        }
        let asked = if m.ciaddr.is_unspecified() {
            m.requested?
        } else {
            m.ciaddr
        };
        let allowed = self.choose(m.chaddr, Some(asked));
        if allowed != Some(asked) {
            return Some((MessageType::Nak, Ipv4Addr::UNSPECIFIED));
        }
        if !self
            .bindings
            .iter()
            .any(|(c, a)| *c == m.chaddr && *a == asked)
        {
            self.bindings.retain(|(c, _)| *c != m.chaddr);
            let _ = self.bindings.push((m.chaddr, asked));
        }
        Some((MessageType::Ack, asked))
    }

    /// The address `client` gets: its mapping, its binding, the one it asks
    /// for if the pool has it free, or the pool's first free one.
    fn choose(&self, client: EthernetAddress, requested: Option<Ipv4Addr>) -> Option<Ipv4Addr> {
        if let Some((_, a)) = self.mappings.iter().find(|(c, _)| *c == client) {
            return Some(*a);
        }
        if let Some((_, a)) = self.bindings.iter().find(|(c, _)| *c == client) {
            return Some(*a);
        }
        let (first, last) = self.pool?;
        let free = |a: Ipv4Addr| {
            !self.bindings.iter().any(|(_, b)| *b == a)
                && !self.mappings.iter().any(|(_, b)| *b == a)
        };
        let in_pool =
            |a: Ipv4Addr| u32::from(a) >= u32::from(first) && u32::from(a) <= u32::from(last);
        if let Some(r) = requested.filter(|r| in_pool(*r) && free(*r)) {
            return Some(r);
        }
        (u32::from(first)..=u32::from(last))
            .map(Ipv4Addr::from)
            .find(|a| free(*a))
    }

    fn emit(&self, m: &Message, kind: MessageType, address: Ipv4Addr, buf: &mut [u8]) -> usize {
        let mut reply = Message::new(kind, m.xid, m.chaddr);
        reply.server_id = Some(self.address);
        reply.broadcast = m.broadcast;
        if kind != MessageType::Nak {
            reply.yiaddr = address;
            reply.subnet_mask = Some(self.mask);
            reply.lease_secs = Some(self.lease_secs);
            reply.renew_secs = self.renew_secs;
            reply.rebind_secs = self.rebind_secs;
        }
        // RFC 2131 §4.1: NAKs are broadcast; a client with an address hears
        // at it; one asking for broadcast gets it; else unicast to chaddr.
        let (dst, dst_hwaddr) = if kind == MessageType::Nak {
            (Ipv4Addr::BROADCAST, EthernetAddress::BROADCAST)
        } else if !m.ciaddr.is_unspecified() {
            (m.ciaddr, m.chaddr)
        } else if m.broadcast {
            (Ipv4Addr::BROADCAST, EthernetAddress::BROADCAST)
        } else {
            (address, m.chaddr)
        };
        let d = Datagram {
            src: self.address,
            dst,
            message: reply,
            host_name: None,
        };
        let eth = EthernetRepr {
            src_addr: self.hwaddr,
            dst_addr: dst_hwaddr,
            ethertype: EthernetProtocol::Ipv4,
        };
        eth.emit(&mut EthernetFrame::new_unchecked(&mut buf[..]));
        ETHERNET_HEADER_LEN + d.emit(&mut buf[ETHERNET_HEADER_LEN..])
    }
}
