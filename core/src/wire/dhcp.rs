//! DHCPv4 (RFC 2131, 2132) as the VIP's lease client sends and receives it:
//! smoltcp's BOOTP view and `Repr`, inside an IPv4 header and a UDP header
//! of our own making, so the client needs no socket bound to port 68.
//!
//! [`Datagram::parse`] takes an IPv4 packet (a frame's payload) and never
//! panics: every length is checked before it is read. [`Datagram::emit`]
//! into a buffer of at least [`Datagram::buffer_len`] bytes never panics.
//! A message carries only what the lease client and the simulator's server
//! need; other options are skipped on receipt.

use core::net::Ipv4Addr;

pub use smoltcp::wire::{DhcpMessageType as MessageType, DHCP_CLIENT_PORT, DHCP_SERVER_PORT};
use smoltcp::wire::{
    DhcpOption, DhcpPacket, DhcpRepr, EthernetAddress, EthernetFrame, EthernetProtocol, IpAddress,
    IpProtocol, Ipv4Packet, UdpPacket,
};

/// Length of the IPv4 header we send (no options).
pub const IPV4_HEADER_LEN: usize = 20;

/// Length of a UDP header.
pub const UDP_HEADER_LEN: usize = 8;

/// The shortest BOOTP message we send: RFC 1542 §2.1 lets relays drop
/// anything shorter, so every message is zero-padded to it.
pub const MIN_BOOTP_LEN: usize = 300;

/// What a client asks the server for (option 55): subnet mask, router,
/// lease time, server identifier, T1, T2.
pub const PARAMETER_REQUEST_LIST: [u8; 6] = [1, 3, 51, 54, 58, 59];

/// IPv4 time to live of the messages we send (RFC 1700's default).
const TTL: u8 = 64;

/// Option codes read or written here beyond what smoltcp's `Repr` covers.
mod option {
    pub const HOST_NAME: u8 = 12;
    pub const RENEWAL_TIME: u8 = 58;
    pub const REBINDING_TIME: u8 = 59;
}

/// Why an IPv4 packet is not a DHCP message we can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The IPv4 header is malformed, fragmented, or its checksum is wrong.
    Ipv4,
    /// Not UDP between the DHCP ports.
    NotDhcp,
    /// The UDP length or checksum is wrong.
    Udp,
    /// The BOOTP message or its options are malformed, or no message type.
    Bootp,
}

/// True if `eth` carries IPv4 UDP to the DHCP client port: the cheap
/// pre-filter that decides whether the lease client judges a frame.
pub fn claims(eth: &EthernetFrame<&[u8]>) -> bool {
    if eth.ethertype() != EthernetProtocol::Ipv4 {
        return false;
    }
    let ip = eth.payload();
    let (Some(&first), Some(&protocol)) = (ip.first(), ip.get(9)) else {
        return false;
    };
    let udp = usize::from(first & 0x0f) * 4;
    protocol == u8::from(IpProtocol::Udp)
        && ip
            .get(udp + 2..udp + 4)
            .is_some_and(|port| port == DHCP_CLIENT_PORT.to_be_bytes())
}

/// Recomputes the IPv4 header and UDP checksums of a UDP packet in place
/// (any other packet is left alone): for a host whose kernel handed over
/// a frame with its checksum left to the card (Linux's
/// `TP_STATUS_CSUMNOTREADY` on a packet socket), and for fuzzers.
pub fn fill_checksums(ip: &mut [u8]) {
    let Ok(mut packet) = Ipv4Packet::new_checked(&mut ip[..]) else {
        return;
    };
    packet.fill_checksum();
    if packet.next_header() != IpProtocol::Udp {
        return;
    }
    let (src, dst) = (packet.src_addr(), packet.dst_addr());
    if let Ok(mut udp) = UdpPacket::new_checked(packet.payload_mut()) {
        udp.fill_checksum(&IpAddress::Ipv4(src), &IpAddress::Ipv4(dst));
    }
}

/// One DHCP message: the fields a lease client and a server act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message {
    /// DISCOVER, OFFER, REQUEST, DECLINE, ACK, NAK, RELEASE or INFORM; the
    /// BOOTP op follows from it.
    pub kind: MessageType,
    /// Transaction id, chosen by the client.
    pub xid: u32,
    /// Seconds since the client began this exchange.
    pub secs: u16,
    /// Ask the server to broadcast its answer.
    pub broadcast: bool,
    /// The client's hardware address: the VIP MAC.
    pub chaddr: EthernetAddress,
    /// Option 61 as hardware type 1 and a MAC.
    pub client_id: Option<EthernetAddress>,
    /// The client's current address (renewing, rebinding, releasing).
    pub ciaddr: Ipv4Addr,
    /// The address offered or assigned.
    pub yiaddr: Ipv4Addr,
    /// Option 50: the address the client asks for.
    pub requested: Option<Ipv4Addr>,
    /// Option 54: the server the message is from or meant for.
    pub server_id: Option<Ipv4Addr>,
    /// Option 1.
    pub subnet_mask: Option<Ipv4Addr>,
    /// Option 51, seconds.
    pub lease_secs: Option<u32>,
    /// Option 58 (T1), seconds.
    pub renew_secs: Option<u32>,
    /// Option 59 (T2), seconds.
    pub rebind_secs: Option<u32>,
}

impl Message {
    /// A message of `kind` with every optional field empty.
    pub const fn new(kind: MessageType, xid: u32, chaddr: EthernetAddress) -> Message {
        Message {
            kind,
            xid,
            secs: 0,
            broadcast: false,
            chaddr,
            client_id: None,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            yiaddr: Ipv4Addr::UNSPECIFIED,
            requested: None,
            server_id: None,
            subnet_mask: None,
            lease_secs: None,
            renew_secs: None,
            rebind_secs: None,
        }
    }

    /// True for the messages a client sends.
    pub fn from_client(&self) -> bool {
        matches!(
            self.kind,
            MessageType::Discover
                | MessageType::Request
                | MessageType::Decline
                | MessageType::Release
                | MessageType::Inform
        )
    }
}

/// A DHCP message with the IPv4 addresses it travels between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Datagram<'a> {
    /// IPv4 source.
    pub src: Ipv4Addr,
    /// IPv4 destination.
    pub dst: Ipv4Addr,
    /// The message.
    pub message: Message,
    /// Option 12 on a client's message: a name for the server's log, cut
    /// to [`HOST_NAME_MAX`] bytes.
    pub host_name: Option<&'a str>,
}

impl Datagram<'_> {
    /// Parses an IPv4 packet holding a DHCP message. The host name is not
    /// kept.
    ///
    /// # Errors
    /// [`Error`] says which layer is wrong.
    pub fn parse(ip: &[u8]) -> Result<Datagram<'static>, Error> {
        let packet = Ipv4Packet::new_checked(ip).map_err(|_| Error::Ipv4)?;
        if packet.version() != 4 || !packet.verify_checksum() {
            return Err(Error::Ipv4);
        }
        if packet.more_frags() || packet.frag_offset() != 0 {
            return Err(Error::Ipv4);
        }
        if packet.next_header() != IpProtocol::Udp {
            return Err(Error::NotDhcp);
        }
        let (src, dst) = (packet.src_addr(), packet.dst_addr());
        let udp = UdpPacket::new_checked(packet.payload()).map_err(|_| Error::Udp)?;
        let ports = (udp.src_port(), udp.dst_port());
        if ports != (DHCP_SERVER_PORT, DHCP_CLIENT_PORT)
            && ports != (DHCP_CLIENT_PORT, DHCP_SERVER_PORT)
        {
            return Err(Error::NotDhcp);
        }
        // A zero UDP checksum means none was computed (RFC 768).
        if udp.checksum() != 0 && !udp.verify_checksum(&IpAddress::Ipv4(src), &IpAddress::Ipv4(dst))
        {
            return Err(Error::Udp);
        }
        let dhcp = DhcpPacket::new_checked(udp.payload()).map_err(|_| Error::Bootp)?;
        let repr = DhcpRepr::parse(&dhcp).map_err(|_| Error::Bootp)?;
        let message = Message {
            kind: repr.message_type,
            xid: repr.transaction_id,
            secs: repr.secs,
            broadcast: repr.broadcast,
            chaddr: repr.client_hardware_address,
            client_id: repr.client_identifier,
            ciaddr: repr.client_ip,
            yiaddr: repr.your_ip,
            requested: repr.requested_ip,
            server_id: repr.server_identifier,
            subnet_mask: repr.subnet_mask,
            lease_secs: repr.lease_duration,
            renew_secs: repr.renew_duration,
            rebind_secs: repr.rebind_duration,
        };
        if let MessageType::Unknown(_) = message.kind {
            return Err(Error::Bootp);
        }
        if message.from_client() != (ports.1 == DHCP_SERVER_PORT) {
            return Err(Error::NotDhcp);
        }
        Ok(Datagram {
            src,
            dst,
            message,
            host_name: None,
        })
    }

    /// Bytes [`Datagram::emit`] writes: IPv4, UDP and the padded message.
    pub fn buffer_len(&self) -> usize {
        IPV4_HEADER_LEN + UDP_HEADER_LEN + self.bootp_len()
    }

    /// Writes the IPv4 packet into `buf` (at least [`Datagram::buffer_len`]
    /// bytes); returns its length.
    ///
    /// # Panics
    /// If `buf` is shorter than [`Datagram::buffer_len`].
    pub fn emit(&self, buf: &mut [u8]) -> usize {
        let len = self.buffer_len();
        let bootp_len = self.bootp_len();
        let buf = &mut buf[..len];
        buf.fill(0);
        let mut ip = Ipv4Packet::new_unchecked(&mut buf[..]);
        ip.set_version(4);
        ip.set_header_len(IPV4_HEADER_LEN as u8);
        ip.set_dscp(0);
        ip.set_ecn(0);
        ip.set_total_len(len as u16);
        ip.set_ident(0);
        ip.clear_flags();
        ip.set_dont_frag(true);
        ip.set_frag_offset(0);
        ip.set_hop_limit(TTL);
        ip.set_next_header(IpProtocol::Udp);
        ip.set_src_addr(self.src);
        ip.set_dst_addr(self.dst);
        ip.fill_checksum();
        let (src_port, dst_port) = if self.message.from_client() {
            (DHCP_CLIENT_PORT, DHCP_SERVER_PORT)
        } else {
            (DHCP_SERVER_PORT, DHCP_CLIENT_PORT)
        };
        let mut udp = UdpPacket::new_unchecked(ip.payload_mut());
        udp.set_src_port(src_port);
        udp.set_dst_port(dst_port);
        udp.set_len((UDP_HEADER_LEN + bootp_len) as u16);
        udp.set_checksum(0);
        let bootp = &mut udp.payload_mut()[..bootp_len];
        // `bootp_len` is the Repr's own length, padded: cannot fail.
        let _ = self.with_repr(|repr| repr.emit(&mut DhcpPacket::new_unchecked(bootp)));
        udp.fill_checksum(&IpAddress::Ipv4(self.src), &IpAddress::Ipv4(self.dst));
        len
    }

    /// The BOOTP message's length: smoltcp's for the `Repr`, padded.
    fn bootp_len(&self) -> usize {
        self.with_repr(|repr| repr.buffer_len()).max(MIN_BOOTP_LEN)
    }

    /// Calls `f` with the message as smoltcp's `Repr` (what `emit` writes
    /// and what `bootp_len` measures, built in one place).
    fn with_repr<R>(&self, f: impl FnOnce(&DhcpRepr<'_>) -> R) -> R {
        let m = &self.message;
        let renew = m.renew_secs.map(u32::to_be_bytes);
        let rebind = m.rebind_secs.map(u32::to_be_bytes);
        let mut options: heapless::Vec<DhcpOption<'_>, 3> = heapless::Vec::new();
        for (kind, data) in [
            (option::RENEWAL_TIME, renew.as_ref().map(|b| &b[..])),
            (option::REBINDING_TIME, rebind.as_ref().map(|b| &b[..])),
            (option::HOST_NAME, self.host_name_bytes()),
        ] {
            if let Some(data) = data {
                // Three slots for three options: cannot fail.
                let _ = options.push(DhcpOption { kind, data });
            }
        }
        let asks =
            m.from_client() && matches!(m.kind, MessageType::Discover | MessageType::Request);
        f(&DhcpRepr {
            message_type: m.kind,
            transaction_id: m.xid,
            secs: m.secs,
            client_hardware_address: m.chaddr,
            client_ip: m.ciaddr,
            your_ip: m.yiaddr,
            server_ip: Ipv4Addr::UNSPECIFIED,
            router: None,
            subnet_mask: m.subnet_mask,
            relay_agent_ip: Ipv4Addr::UNSPECIFIED,
            broadcast: m.broadcast,
            requested_ip: m.requested,
            client_identifier: m.client_id,
            server_identifier: m.server_id,
            parameter_request_list: asks.then_some(&PARAMETER_REQUEST_LIST[..]),
            dns_servers: None,
            max_size: None,
            lease_duration: m.lease_secs,
            renew_duration: None,
            rebind_duration: None,
            additional_options: &options,
        })
    }

    fn host_name_bytes(&self) -> Option<&[u8]> {
        let name = self.host_name?.as_bytes();
        Some(&name[..name.len().min(HOST_NAME_MAX)])
    }
}

/// The longest host name option we send (a DNS label's limit).
pub const HOST_NAME_MAX: usize = 63;

#[cfg(test)]
mod tests;
