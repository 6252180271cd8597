//! Fuzz target bodies, compiled by ordinary test builds so they keep building.
//!
//! Each body takes the fuzzer's bytes and panics only when an invariant of the
//! core breaks; malformed input on its own must never panic. `fuzz/` wraps
//! each body in a one-line libFuzzer target; the tests at the end of this file
//! run every body over its seed corpus, its saved regressions and
//! proptest-generated input, so `cargo test -p vip-core` exercises them.
//!
//! Oracles: our own parsers (every frame we emit parses back to what we meant)
//! and `etherparse`, a decoder nobody here wrote (every frame we emit is a
//! well-formed Ethernet / IPv4 / ARP frame to it too).
//!
//! Adding a target for a new format: write `pub fn NAME(data: &[u8])` (for a
//! wire format, a parse then [`round_trip`]), add `NAME` to the `targets!`
//! list below, and add `fuzz/fuzz_targets/NAME.rs` with its `[[bin]]` entry.

use core::fmt::Debug;
use core::net::Ipv4Addr;

use crate::wire::vrrp::{self, Advert, ChecksumKind, Packet, Repr};
use crate::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetRepr, MAX_FRAME_LEN,
};

/// Declares the target table from the body names.
macro_rules! targets {
    ($($name:ident),* $(,)?) => {
        /// Every fuzz target as `(name, body)`; the name is the binary in
        /// `fuzz/fuzz_targets/` and the folder under `fuzz/seeds/`.
        pub const TARGETS: &[(&str, fn(&[u8]))] = &[$((stringify!($name), $name)),*];
    };
}

targets!(
    vrrp_message,
    advert_ipv4,
    ethernet_arp,
    node,
    quorum_message,
    quorum_node,
    dhcp_ipv4,
    dhcp_node,
    etcd_node
);

/// Parse → emit → parse: emitting `first` into `len` bytes and parsing those
/// bytes again must give `first` back.
///
/// # Panics
/// If `len` exceeds [`MAX_FRAME_LEN`], the re-parse fails, or it differs.
pub fn round_trip<R: PartialEq + Debug>(
    first: &R,
    len: usize,
    emit: impl FnOnce(&R, &mut [u8]),
    parse: impl FnOnce(&[u8]) -> Option<R>,
) {
    assert!(len <= MAX_FRAME_LEN, "buffer_len {len} for {first:?}");
    let mut buf = [0u8; MAX_FRAME_LEN];
    emit(first, &mut buf[..len]);
    let again = parse(&buf[..len]);
    assert_eq!(again.as_ref(), Some(first), "emitted {:02x?}", &buf[..len]);
}

const SRC: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 11);

/// Takes `N` bytes off the front of the fuzzer's input (zero-padded at its
/// end), for the targets that read operations.
fn take<const N: usize>(data: &mut &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    let n = data.len().min(N);
    out[..n].copy_from_slice(&data[..n]);
    *data = &data[n..];
    out
}

/// A VRRPv3 message: the checked view never panics; parse → emit → parse is stable.
pub fn vrrp_message(data: &[u8]) {
    let Ok(packet) = Packet::new_checked(data) else {
        return;
    };
    // Every accessor after check_len, including out-of-range addresses.
    let count = usize::from(packet.address_count());
    let _ = (packet.version(), packet.msg_type(), packet.vrid());
    let _ = (packet.priority(), packet.max_advert_interval());
    let _ = packet.checksum();
    for i in 0..count + 2 {
        let _ = packet.address(i);
    }
    let _ = packet.lists(SRC);
    let kind = packet.checksum_kind(SRC, vrrp::MULTICAST_GROUP);
    let _ = packet.checksum_kind(Ipv4Addr::BROADCAST, Ipv4Addr::UNSPECIFIED);
    let Ok(repr) = Repr::parse(&packet) else {
        return;
    };
    assert_eq!(repr.addresses.len(), count);
    assert_eq!(repr.vrid, packet.vrid());
    let kind = kind.unwrap_or(ChecksumKind::Rfc9568);
    round_trip(
        &repr,
        repr.buffer_len(),
        |r, buf| {
            let mut p = Packet::new_unchecked(buf);
            r.emit(&mut p);
            p.fill_checksum(kind, SRC, vrrp::MULTICAST_GROUP);
        },
        |buf| {
            let p = Packet::new_checked(buf).ok()?;
            assert_eq!(p.checksum_kind(SRC, vrrp::MULTICAST_GROUP), Some(kind));
            Repr::parse(&p).ok()
        },
    );
}

/// A quorum payload: the checked view never panics; parse → emit → parse is
/// stable; a tag checks only for the bytes it was made over.
pub fn quorum_message(data: &[u8]) {
    use crate::election::quorum::auth::{AuthKey, Signer};
    use crate::wire::quorum::{Packet as QPacket, Repr as QRepr, PAYLOAD_LEN, SIGNED_LEN};
    let Ok(packet) = QPacket::new_checked(data) else {
        return;
    };
    let _ = (
        packet.version(),
        packet.msg_type(),
        packet.sender(),
        packet.flags(),
    );
    let _ = (
        packet.priority(),
        packet.subject(),
        packet.digest(),
        packet.epoch(),
    );
    let _ = (
        packet.seq(),
        packet.term(),
        packet.echo_epoch(),
        packet.echo_seq(),
    );
    // A fixed key: random bytes almost never carry its tag; a sealed copy does.
    let key = AuthKey::new(&[0x42; 32]).expect("32 bytes");
    let signer = Signer::new(&key);
    let src = EthernetAddress([2, 0, 0, 0, 0, 1]);
    let tag = signer.tag(src, 0x88b5, packet.signed());
    assert!(signer.verify(src, 0x88b5, packet.signed(), &tag));
    assert_eq!(
        signer.verify(src, 0x88b5, packet.signed(), packet.tag()),
        packet.tag() == tag,
        "a tag verifies only when it is the tag"
    );
    let Ok(repr) = QRepr::parse(&packet) else {
        return;
    };
    round_trip(
        &repr,
        PAYLOAD_LEN,
        |r, buf| r.emit(&mut QPacket::new_unchecked(buf)),
        |buf| QRepr::parse(&QPacket::new_checked(buf).ok()?).ok(),
    );
    let mut buf = [0u8; PAYLOAD_LEN];
    repr.emit(&mut QPacket::new_unchecked(&mut buf[..]));
    // Reserved bytes and unknown flag bits are ignored on receipt and
    // written as zero; every other byte is written back as it was read.
    use crate::wire::quorum::{field, Flags};
    let mut parsed = [0u8; SIGNED_LEN];
    parsed.copy_from_slice(&data[..SIGNED_LEN]);
    parsed[field::RESERVED].fill(0);
    parsed[field::FLAGS] = Flags::from_byte(parsed[field::FLAGS]).to_byte();
    assert_eq!(
        &buf[..SIGNED_LEN],
        &parsed[..],
        "emit writes the bytes it parsed"
    );
}

/// An IPv4 packet carrying an advert: as given, and with its checksums fixed
/// in each form (so the fuzzer reaches past the checksum checks).
pub fn advert_ipv4(data: &[u8]) {
    advert_ipv4_once(data);
    if data.len() > MAX_FRAME_LEN {
        return;
    }
    for kind in [ChecksumKind::Rfc9568, ChecksumKind::PseudoHeader] {
        let mut buf = [0u8; MAX_FRAME_LEN];
        let fixed = &mut buf[..data.len()];
        fixed.copy_from_slice(data);
        fix_ipv4_checksums(fixed, kind);
        advert_ipv4_once(fixed);
    }
}

fn advert_ipv4_once(data: &[u8]) {
    let Ok(advert) = Advert::parse(data) else {
        return;
    };
    // What we accept, an independent decoder accepts and reads the same way.
    let ip = etherparse::Ipv4Slice::from_slice(data).expect("etherparse refuses an advert we took");
    let header = ip.header();
    assert_eq!(header.ttl(), vrrp::TTL);
    assert_eq!(header.protocol().0, vrrp::PROTOCOL);
    assert_eq!(header.source_addr(), advert.src);
    assert_eq!(header.destination_addr(), vrrp::MULTICAST_GROUP);
    if smoltcp_checks_ipv4_checksums() {
        assert_eq!(
            header.header_checksum(),
            header.to_header().calc_header_checksum()
        );
    }
    assert!(!ip.is_payload_fragmented());
    assert!(ip.payload().payload.len() >= advert.vrrp.buffer_len());
    assert!(inet_checksum_ok(
        &ip.payload().payload[..advert.vrrp.buffer_len()],
        advert.checksum,
        advert.src
    ));
    round_trip(&advert, advert.buffer_len(), Advert::emit, |buf| {
        Advert::parse(buf).ok()
    });
}

/// An Ethernet frame, and the ARP packet it carries: parse → emit → parse,
/// checked against etherparse.
pub fn ethernet_arp(data: &[u8]) {
    let Ok(frame) = EthernetFrame::new_checked(data) else {
        return;
    };
    let eth = EthernetRepr::parse(&frame).expect("checked frame parses");
    round_trip(
        &eth,
        eth.buffer_len(),
        |r, buf| r.emit(&mut EthernetFrame::new_unchecked(buf)),
        |buf| EthernetRepr::parse(&EthernetFrame::new_checked(buf).ok()?).ok(),
    );
    let Ok(packet) = ArpPacket::new_checked(frame.payload()) else {
        return;
    };
    let _ = (
        packet.hardware_type(),
        packet.protocol_type(),
        packet.operation(),
    );
    let _ = (packet.source_hardware_addr(), packet.source_protocol_addr());
    let _ = (packet.target_hardware_addr(), packet.target_protocol_addr());
    let Ok(arp) = ArpRepr::parse(&packet) else {
        return;
    };
    let theirs = etherparse::ArpPacketSlice::from_slice(frame.payload())
        .expect("etherparse refuses ARP we took")
        .to_packet()
        .try_eth_ipv4()
        .expect("etherparse: not Ethernet/IPv4 ARP");
    assert_eq!(arp, arp_from_etherparse(&theirs));
    round_trip(
        &arp,
        arp.buffer_len(),
        |r, buf| r.emit(&mut ArpPacket::new_unchecked(buf)),
        |buf| ArpRepr::parse(&ArpPacket::new_checked(buf).ok()?).ok(),
    );
}

fn arp_from_etherparse(p: &etherparse::ArpEthIpv4Packet) -> ArpRepr {
    ArpRepr::EthernetIpv4 {
        operation: ArpOperation::from(p.operation.0),
        source_hardware_addr: EthernetAddress(p.sender_mac),
        source_protocol_addr: p.sender_ipv4_addr(),
        target_hardware_addr: EthernetAddress(p.target_mac),
        target_protocol_addr: p.target_ipv4_addr(),
    }
}

/// False under cargo-fuzz: smoltcp built with `--cfg fuzzing` accepts any
/// IPv4 header checksum (so fuzzers get past it); true in ordinary builds.
fn smoltcp_checks_ipv4_checksums() -> bool {
    let mut header = [0u8; 20];
    header[0] = 0x45;
    header[3] = 20;
    header[10] = 0xde; // wrong: the right checksum here is 0xbaeb
    let packet = smoltcp::wire::Ipv4Packet::new_unchecked(&header[..]);
    !packet.verify_checksum()
}

/// RFC 1071 checksum check written apart from `wire::vrrp`, as an oracle.
fn inet_checksum_ok(message: &[u8], kind: ChecksumKind, src: Ipv4Addr) -> bool {
    let mut acc: u64 = 0;
    for (i, b) in message.iter().enumerate() {
        acc += if i % 2 == 0 {
            u64::from(*b) << 8
        } else {
            u64::from(*b)
        };
    }
    if kind == ChecksumKind::PseudoHeader {
        let [a, b, c, d] = src.octets();
        let [e, f, g, h] = vrrp::MULTICAST_GROUP.octets();
        for word in [[a, b], [c, d], [e, f], [g, h], [0, vrrp::PROTOCOL]] {
            acc += u64::from(u16::from_be_bytes(word));
        }
        acc += message.len() as u64;
    }
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc == 0xffff
}

/// Recomputes the IPv4 header checksum and, if the payload holds a VRRP
/// message, its checksum in form `kind`. Leaves anything unparsable alone.
fn fix_ipv4_checksums(ip: &mut [u8], kind: ChecksumKind) {
    use smoltcp::wire::Ipv4Packet;
    let Ok(mut packet) = Ipv4Packet::new_checked(&mut ip[..]) else {
        return;
    };
    packet.fill_checksum();
    let (src, dst) = (packet.src_addr(), packet.dst_addr());
    if let Ok(mut message) = Packet::new_checked(packet.payload_mut()) {
        message.fill_checksum(kind, src, dst);
    }
}

mod dhcp_node;
mod etcd_node;
mod harness;
mod quorum_node;
#[cfg(test)]
mod tests;

pub use dhcp_node::{dhcp_ipv4, dhcp_node};
pub use etcd_node::etcd_node;
pub use quorum_node::quorum_node;

pub use harness::{
    node, node_config, Harness, Op, NODE_ADDRESS, NODE_CONFIG_LEN, NODE_MAC, NODE_VIP,
};
