//! VRRPv3 for IPv4 (RFC 9568): a zero-copy packet view, its `Repr`, and the
//! IPv4 advert that carries it.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! |Version| Type  | Virtual Rtr ID|   Priority    |Count IPvX Addr|
//! |(rsvd) |     Max Adver Int     |          Checksum             |
//! |                       IPv4 Address(es)                        |
//! ```
//!
//! Once [`Packet::new_checked`] has passed, no accessor panics; `emit` into a
//! buffer of at least [`Repr::buffer_len`] (or [`Advert::buffer_len`]) never
//! panics. Both facts are covered by the tests at the end of this file and by
//! the property tests.
//!
//! Checksums: RFC 9568 sums the VRRP message alone for IPv4. RFC 5798 was read
//! by most implementations (keepalived by default, Linux-based routers) as
//! covering an IPv4 pseudo-header too. [`Packet::checksum_kind`] tells which
//! form a received message carries; senders choose with [`ChecksumKind`].

use core::net::Ipv4Addr;

use heapless::Vec;
use smoltcp::wire::{IpProtocol, Ipv4Packet};

/// IP protocol number of VRRP.
pub const PROTOCOL: u8 = 112;
/// The IPv4 multicast group VRRP adverts go to.
pub const MULTICAST_GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// The Ethernet group address for [`MULTICAST_GROUP`].
pub const MULTICAST_MAC: [u8; 6] = [0x01, 0x00, 0x5e, 0x00, 0x00, 0x12];
/// The virtual router MAC of IPv4 virtual router `vrid`, 00-00-5E-00-01-{VRID}
/// (RFC 9568 §7.3): what answers for the VIP with `virtual_mac = true`.
pub const fn virtual_router_mac(vrid: u8) -> [u8; 6] {
    [0x00, 0x00, 0x5e, 0x00, 0x01, vrid]
}
/// The TTL every advert is sent with; any other value is dropped (RFC 9568 §7.1).
pub const TTL: u8 = 255;
/// VRRP version 3, message type 1 (ADVERTISEMENT), as the first byte.
pub const VERSION_TYPE: u8 = 0x31;
/// The fixed part of a VRRP message, before the addresses.
pub const HEADER_LEN: usize = 8;
/// Most addresses a [`Repr`] holds; an advert listing more is refused.
pub const MAX_ADDRESSES: usize = 16;
/// The largest advert interval the 12-bit field carries, in centiseconds.
pub const MAX_INTERVAL_CENTIS: u16 = 0x0fff;
/// Length of the IPv4 header vipd emits (no options).
pub const IPV4_HEADER_LEN: usize = 20;
/// DSCP class selector 6 (network control), as keepalived and routers send.
pub const DSCP_CS6: u8 = 48;

/// Why a VRRP message or advert was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// Shorter than its header or its address list says.
    Truncated,
    /// Version other than 3 or type other than ADVERTISEMENT.
    Unsupported,
    /// Neither checksum form matches.
    Checksum,
    /// IPv4 TTL other than 255.
    Ttl,
    /// IPv4 header malformed: bad header checksum, length or fragment.
    Ipv4,
    /// Not IP protocol 112 or not to 224.0.0.18.
    NotVrrp,
    /// More than [`MAX_ADDRESSES`] addresses.
    TooManyAddresses,
}

/// The checksum form of an IPv4 VRRPv3 message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChecksumKind {
    /// RFC 9568: the VRRP message alone.
    Rfc9568,
    /// RFC 5798 as keepalived reads it: with the IPv4 pseudo-header.
    PseudoHeader,
}

mod field {
    use core::ops::Range;
    pub const VER_TYPE: usize = 0;
    pub const VRID: usize = 1;
    pub const PRIORITY: usize = 2;
    pub const COUNT: usize = 3;
    pub const INTERVAL: Range<usize> = 4..6;
    pub const CHECKSUM: Range<usize> = 6..8;
    pub const ADDRESSES: usize = 8;
}

/// A read/write view of a VRRPv3 IPv4 message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking its length.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer after [`Packet::check_len`].
    pub fn new_checked(buffer: T) -> Result<Packet<T>, Error> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks that the buffer holds the header and every address it counts.
    pub fn check_len(&self) -> Result<(), Error> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN || len < HEADER_LEN + 4 * usize::from(self.address_count()) {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }

    /// Returns the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The version (high nibble of byte 0); 3 for VRRPv3.
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_TYPE] >> 4
    }

    /// The message type (low nibble of byte 0); 1 for ADVERTISEMENT.
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::VER_TYPE] & 0x0f
    }

    /// The virtual router ID.
    pub fn vrid(&self) -> u8 {
        self.buffer.as_ref()[field::VRID]
    }

    /// The sender's priority (0 = stopping, 255 = address owner).
    pub fn priority(&self) -> u8 {
        self.buffer.as_ref()[field::PRIORITY]
    }

    /// How many IPv4 addresses follow the header.
    ///
    /// Readable before `check_len`, since it is what `check_len` uses.
    pub fn address_count(&self) -> u8 {
        self.buffer.as_ref().get(field::COUNT).copied().unwrap_or(0)
    }

    /// The 12-bit maximum advert interval, in centiseconds.
    pub fn max_advert_interval(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::INTERVAL];
        u16::from_be_bytes([b[0], b[1]]) & MAX_INTERVAL_CENTIS
    }

    /// The checksum field as sent.
    pub fn checksum(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::CHECKSUM];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// The `index`th address, if the count covers it.
    pub fn address(&self, index: usize) -> Option<Ipv4Addr> {
        if index >= usize::from(self.address_count()) {
            return None;
        }
        let at = field::ADDRESSES + 4 * index;
        let b = self.buffer.as_ref().get(at..at + 4)?;
        Some(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
    }

    /// True if `addr` is among the listed addresses.
    pub fn lists(&self, addr: Ipv4Addr) -> bool {
        (0..usize::from(self.address_count())).any(|i| self.address(i) == Some(addr))
    }

    /// The message bytes the checksum covers: header plus counted addresses.
    fn message(&self) -> &[u8] {
        let len = HEADER_LEN + 4 * usize::from(self.address_count());
        let buf = self.buffer.as_ref();
        &buf[..len.min(buf.len())]
    }

    /// Which checksum form matches, if any; `src`/`dst` are the IPv4 addresses.
    pub fn checksum_kind(&self, src: Ipv4Addr, dst: Ipv4Addr) -> Option<ChecksumKind> {
        let msg = self.message();
        if fold(sum(msg, 0)) == 0xffff {
            Some(ChecksumKind::Rfc9568)
        } else if fold(sum(msg, pseudo_header_sum(src, dst, msg.len()))) == 0xffff {
            Some(ChecksumKind::PseudoHeader)
        } else {
            None
        }
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets version 3 and type ADVERTISEMENT.
    pub fn set_version_type(&mut self, value: u8) {
        self.buffer.as_mut()[field::VER_TYPE] = value;
    }

    /// Sets the virtual router ID.
    pub fn set_vrid(&mut self, value: u8) {
        self.buffer.as_mut()[field::VRID] = value;
    }

    /// Sets the priority.
    pub fn set_priority(&mut self, value: u8) {
        self.buffer.as_mut()[field::PRIORITY] = value;
    }

    /// Sets the address count.
    pub fn set_address_count(&mut self, value: u8) {
        self.buffer.as_mut()[field::COUNT] = value;
    }

    /// Sets the interval (centiseconds; the reserved bits are cleared).
    pub fn set_max_advert_interval(&mut self, centis: u16) {
        let v = (centis & MAX_INTERVAL_CENTIS).to_be_bytes();
        self.buffer.as_mut()[field::INTERVAL].copy_from_slice(&v);
    }

    /// Sets the checksum field verbatim.
    pub fn set_checksum(&mut self, value: u16) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&value.to_be_bytes());
    }

    /// Sets the `index`th address; does nothing past the buffer.
    pub fn set_address(&mut self, index: usize, addr: Ipv4Addr) {
        let at = field::ADDRESSES + 4 * index;
        if let Some(b) = self.buffer.as_mut().get_mut(at..at + 4) {
            b.copy_from_slice(&addr.octets());
        }
    }

    /// Computes and stores the checksum in the given form.
    pub fn fill_checksum(&mut self, kind: ChecksumKind, src: Ipv4Addr, dst: Ipv4Addr) {
        self.set_checksum(0);
        let msg = self.message();
        let initial = match kind {
            ChecksumKind::Rfc9568 => 0,
            ChecksumKind::PseudoHeader => pseudo_header_sum(src, dst, msg.len()),
        };
        let value = !fold(sum(msg, initial));
        self.set_checksum(value);
    }
}

/// One's-complement sum of `bytes` as big-endian words, added to `initial`.
fn sum(bytes: &[u8], initial: u32) -> u32 {
    let mut acc = initial;
    let mut chunks = bytes.chunks_exact(2);
    for c in &mut chunks {
        acc += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u32::from(*last) << 8;
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

fn pseudo_header_sum(src: Ipv4Addr, dst: Ipv4Addr, len: usize) -> u32 {
    sum(&src.octets(), 0) + sum(&dst.octets(), 0) + u32::from(PROTOCOL) + len as u32
}

/// The meaning of a VRRPv3 IPv4 advert message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repr {
    /// Virtual router ID, 1 to 255.
    pub vrid: u8,
    /// Sender priority: 0 stopping, 1–254, 255 owner.
    pub priority: u8,
    /// Advert interval in centiseconds (12 bits).
    pub max_advert_interval: u16,
    /// The virtual addresses, in order.
    pub addresses: Vec<Ipv4Addr, MAX_ADDRESSES>,
}

impl Repr {
    /// Parses a length-checked message. The checksum is checked by the caller,
    /// who knows the IPv4 addresses (see [`Advert::parse`]).
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&T>) -> Result<Repr, Error> {
        packet.check_len()?;
        if packet.version() != 3 || packet.msg_type() != 1 {
            return Err(Error::Unsupported);
        }
        let count = usize::from(packet.address_count());
        if count > MAX_ADDRESSES {
            return Err(Error::TooManyAddresses);
        }
        let mut addresses = Vec::new();
        for i in 0..count {
            let addr = packet.address(i).ok_or(Error::Truncated)?;
            // Cannot fail: count <= MAX_ADDRESSES was checked above.
            let _ = addresses.push(addr);
        }
        Ok(Repr {
            vrid: packet.vrid(),
            priority: packet.priority(),
            max_advert_interval: packet.max_advert_interval(),
            addresses,
        })
    }

    /// Bytes [`Repr::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + 4 * self.addresses.len()
    }

    /// Writes the message with a zero checksum; call
    /// [`Packet::fill_checksum`] afterwards (or use [`Advert::emit`]).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_version_type(VERSION_TYPE);
        packet.set_vrid(self.vrid);
        packet.set_priority(self.priority);
        packet.set_address_count(self.addresses.len() as u8);
        packet.set_max_advert_interval(self.max_advert_interval);
        packet.set_checksum(0);
        for (i, addr) in self.addresses.iter().enumerate() {
            packet.set_address(i, *addr);
        }
    }
}

/// A whole VRRPv3 advert as IPv4 carries it: the sender, the checksum form, the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advert {
    /// The sender's primary IPv4 address (the IPv4 source).
    pub src: Ipv4Addr,
    /// The checksum form the message carries (on parse) or gets (on emit).
    pub checksum: ChecksumKind,
    /// The VRRP message.
    pub vrrp: Repr,
}

impl Advert {
    /// Parses an IPv4 packet carrying a VRRPv3 advert, enforcing RFC 9568 §7.1:
    /// protocol 112, destination 224.0.0.18, TTL 255, a valid IPv4 header
    /// checksum, no fragments, version 3, and one of the two checksum forms.
    pub fn parse(ip: &[u8]) -> Result<Advert, Error> {
        let packet = Ipv4Packet::new_checked(ip).map_err(|_| Error::Ipv4)?;
        if packet.version() != 4 || !packet.verify_checksum() {
            return Err(Error::Ipv4);
        }
        if packet.more_frags() || packet.frag_offset() != 0 {
            return Err(Error::Ipv4);
        }
        if packet.next_header() != IpProtocol::Unknown(PROTOCOL)
            || packet.dst_addr() != MULTICAST_GROUP
        {
            return Err(Error::NotVrrp);
        }
        if packet.hop_limit() != TTL {
            return Err(Error::Ttl);
        }
        let src = packet.src_addr();
        let message = Packet::new_checked(packet.payload())?;
        let checksum = message
            .checksum_kind(src, MULTICAST_GROUP)
            .ok_or(Error::Checksum)?;
        let vrrp = Repr::parse(&message)?;
        Ok(Advert {
            src,
            checksum,
            vrrp,
        })
    }

    /// Bytes [`Advert::emit`] writes: IPv4 header plus message.
    pub fn buffer_len(&self) -> usize {
        IPV4_HEADER_LEN + self.vrrp.buffer_len()
    }

    /// Writes the IPv4 packet (DSCP CS6, TTL 255, DF clear) and both checksums.
    ///
    /// # Panics
    /// If `buf` is shorter than [`Advert::buffer_len`].
    pub fn emit(&self, buf: &mut [u8]) {
        let len = self.buffer_len();
        let mut ip = Ipv4Packet::new_unchecked(&mut buf[..len]);
        ip.set_version(4);
        ip.set_header_len(IPV4_HEADER_LEN as u8);
        ip.set_dscp(DSCP_CS6);
        ip.set_ecn(0);
        ip.set_total_len(len as u16);
        ip.set_ident(0);
        ip.clear_flags();
        ip.set_frag_offset(0);
        ip.set_hop_limit(TTL);
        ip.set_next_header(IpProtocol::Unknown(PROTOCOL));
        ip.set_src_addr(self.src);
        ip.set_dst_addr(MULTICAST_GROUP);
        ip.fill_checksum();
        let mut message = Packet::new_unchecked(ip.payload_mut());
        self.vrrp.emit(&mut message);
        message.fill_checksum(self.checksum, self.src, MULTICAST_GROUP);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 9568-form message: VRID 51, priority 200, 100 cs, 192.0.2.100.
    static MESSAGE: [u8; 12] = [
        0x31, 0x33, 0xc8, 0x01, 0x00, 0x64, 0x44, 0x02, 0xc0, 0x00, 0x02, 0x64,
    ];
    const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 100);
    const SRC: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 11);

    fn repr() -> Repr {
        let mut addresses = Vec::new();
        addresses.push(VIP).unwrap();
        Repr {
            vrid: 51,
            priority: 200,
            max_advert_interval: 100,
            addresses,
        }
    }

    #[test]
    fn deconstruct() {
        let p = Packet::new_checked(&MESSAGE[..]).unwrap();
        assert_eq!(p.version(), 3);
        assert_eq!(p.msg_type(), 1);
        assert_eq!(p.vrid(), 51);
        assert_eq!(p.priority(), 200);
        assert_eq!(p.address_count(), 1);
        assert_eq!(p.max_advert_interval(), 100);
        assert_eq!(p.checksum(), 0x4402);
        assert_eq!(p.address(0), Some(VIP));
        assert_eq!(p.address(1), None);
        assert!(p.lists(VIP));
        assert_eq!(
            p.checksum_kind(SRC, MULTICAST_GROUP),
            Some(ChecksumKind::Rfc9568)
        );
    }

    #[test]
    fn construct() {
        let mut bytes = [0xa5u8; 12];
        let mut p = Packet::new_unchecked(&mut bytes[..]);
        p.set_version_type(VERSION_TYPE);
        p.set_vrid(51);
        p.set_priority(200);
        p.set_address_count(1);
        p.set_max_advert_interval(100);
        p.set_address(0, VIP);
        p.fill_checksum(ChecksumKind::Rfc9568, SRC, MULTICAST_GROUP);
        assert_eq!(bytes, MESSAGE);
    }

    #[test]
    fn parse_and_emit_round_trip_the_fixture() {
        let p = Packet::new_checked(&MESSAGE[..]).unwrap();
        let r = Repr::parse(&p).unwrap();
        assert_eq!(r, repr());
        let mut out = [0u8; 12];
        let mut q = Packet::new_unchecked(&mut out[..]);
        r.emit(&mut q);
        q.fill_checksum(ChecksumKind::Rfc9568, SRC, MULTICAST_GROUP);
        assert_eq!(out, MESSAGE);
    }

    #[test]
    fn pseudo_header_form_is_told_apart() {
        let mut bytes = MESSAGE;
        let mut p = Packet::new_unchecked(&mut bytes[..]);
        p.fill_checksum(ChecksumKind::PseudoHeader, SRC, MULTICAST_GROUP);
        assert_ne!(p.checksum(), 0x4402);
        assert_eq!(
            p.checksum_kind(SRC, MULTICAST_GROUP),
            Some(ChecksumKind::PseudoHeader)
        );
        // A different source breaks the pseudo-header form only.
        assert_eq!(p.checksum_kind(VIP, MULTICAST_GROUP), None);
    }

    #[test]
    fn truncated_and_overcounted_are_refused() {
        assert_eq!(
            Packet::new_checked(&MESSAGE[..7]).err(),
            Some(Error::Truncated)
        );
        let mut bytes = MESSAGE;
        bytes[3] = 2; // says two addresses, carries one
        assert_eq!(
            Packet::new_checked(&bytes[..]).err(),
            Some(Error::Truncated)
        );
        assert_eq!(Packet::new_unchecked(&[][..]).address_count(), 0);
    }

    #[test]
    fn advert_round_trip_with_ipv4_header() {
        for checksum in [ChecksumKind::Rfc9568, ChecksumKind::PseudoHeader] {
            let advert = Advert {
                src: SRC,
                checksum,
                vrrp: repr(),
            };
            let mut buf = [0u8; 64];
            advert.emit(&mut buf);
            let parsed = Advert::parse(&buf[..advert.buffer_len()]).unwrap();
            assert_eq!(parsed, advert);
            assert_eq!(&buf[IPV4_HEADER_LEN..][..4], &MESSAGE[..4]);
        }
    }

    #[test]
    fn advert_with_wrong_ttl_is_refused() {
        let advert = Advert {
            src: SRC,
            checksum: ChecksumKind::Rfc9568,
            vrrp: repr(),
        };
        let mut buf = [0u8; 32];
        advert.emit(&mut buf);
        let mut ip = Ipv4Packet::new_unchecked(&mut buf[..]);
        ip.set_hop_limit(64);
        ip.fill_checksum();
        assert_eq!(Advert::parse(&buf), Err(Error::Ttl));
    }
}
