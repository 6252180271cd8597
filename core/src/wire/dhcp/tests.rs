//! Fixtures: dnsmasq 2.90's answers to a client with chaddr
//! 02:00:00:09:7f:3f (core/tests/fixtures/README.md), then our own
//! messages built, checked by etherparse and parsed back.

use etherparse::{NetSlice, SlicedPacket, TransportSlice};

use super::*;

static OFFER: &[u8] = include_bytes!("../../../tests/fixtures/dnsmasq-2.90-dhcp-offer.bin");
static ACK: &[u8] = include_bytes!("../../../tests/fixtures/dnsmasq-2.90-dhcp-ack.bin");
static NAK: &[u8] = include_bytes!("../../../tests/fixtures/dnsmasq-2.90-dhcp-nak.bin");
static RENEW_ACK: &[u8] = include_bytes!("../../../tests/fixtures/dnsmasq-2.90-dhcp-renew-ack.bin");

const CLIENT: EthernetAddress = EthernetAddress([0x02, 0x00, 0x00, 0x09, 0x7f, 0x3f]);
const SERVER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 100);
const MASK: Ipv4Addr = Ipv4Addr::new(255, 255, 255, 0);

fn ip(frame: &[u8]) -> &[u8] {
    &frame[14..]
}

#[test]
fn dnsmasq_offer_parses_with_every_field_the_client_uses() {
    let eth = EthernetFrame::new_checked(OFFER).unwrap();
    assert!(claims(&eth));
    let d = Datagram::parse(ip(OFFER)).unwrap();
    assert_eq!((d.src, d.dst), (SERVER, VIP));
    let m = d.message;
    assert_eq!(m.kind, MessageType::Offer);
    assert_eq!(m.xid, 0x3903_f326);
    assert_eq!(m.chaddr, CLIENT);
    assert_eq!(m.yiaddr, VIP);
    assert_eq!(m.server_id, Some(SERVER));
    assert_eq!(m.subnet_mask, Some(MASK));
    assert_eq!(
        (m.lease_secs, m.renew_secs, m.rebind_secs),
        (Some(120), Some(60), Some(105))
    );
    // dnsmasq does not echo option 61.
    assert_eq!(m.client_id, None);
    assert!(!m.broadcast);
    assert!(!m.from_client());
}

#[test]
fn dnsmasq_ack_and_renewal_ack_parse() {
    let m = Datagram::parse(ip(ACK)).unwrap().message;
    assert_eq!(
        (m.kind, m.xid, m.yiaddr),
        (MessageType::Ack, 0x3903_f326, VIP)
    );
    assert_eq!(m.lease_secs, Some(120));
    // A renewal's T1 and T2 are shortened by dnsmasq's random amount.
    let m = Datagram::parse(ip(RENEW_ACK)).unwrap().message;
    assert_eq!(
        (m.kind, m.xid, m.yiaddr),
        (MessageType::Ack, 0x3903_f328, VIP)
    );
    assert_eq!(
        (m.lease_secs, m.renew_secs, m.rebind_secs),
        (Some(120), Some(53), Some(98))
    );
}

#[test]
fn dnsmasq_nak_parses_broadcast_with_its_server() {
    let d = Datagram::parse(ip(NAK)).unwrap();
    assert_eq!(d.dst, Ipv4Addr::BROADCAST);
    let m = d.message;
    assert_eq!((m.kind, m.xid), (MessageType::Nak, 0x3903_f327));
    assert_eq!(m.server_id, Some(SERVER));
    assert_eq!(m.yiaddr, Ipv4Addr::UNSPECIFIED);
    assert!(m.broadcast);
}

#[test]
fn a_bad_udp_checksum_is_refused_and_a_zero_one_accepted() {
    let mut frame = OFFER.to_vec();
    // UDP checksum: IPv4 header (20) + 6 into the IPv4 packet.
    let at = 14 + 20 + 6;
    frame[at] ^= 0x01;
    assert_eq!(Datagram::parse(ip(&frame)), Err(Error::Udp));
    frame[at] = 0;
    frame[at + 1] = 0;
    assert!(Datagram::parse(ip(&frame)).is_ok());
}

#[test]
fn truncations_and_other_traffic_are_refused_without_panicking() {
    let packet = ip(OFFER);
    for len in 0..packet.len() {
        assert!(Datagram::parse(&packet[..len]).is_err(), "length {len}");
    }
    // Another UDP port is not ours.
    let mut frame = OFFER.to_vec();
    frame[14 + 20 + 3] = 69;
    assert!(!claims(&EthernetFrame::new_checked(&frame[..]).unwrap()));
    let mut udp = UdpPacket::new_unchecked(&mut frame[14 + 20..]);
    udp.fill_checksum(&IpAddress::Ipv4(SERVER), &IpAddress::Ipv4(VIP));
    assert_eq!(Datagram::parse(ip(&frame)), Err(Error::NotDhcp));
    // A broken magic cookie is a malformed message.
    let mut frame = OFFER.to_vec();
    frame[14 + 28 + 236] ^= 0xff;
    let mut udp = UdpPacket::new_unchecked(&mut frame[14 + 20..]);
    udp.fill_checksum(&IpAddress::Ipv4(SERVER), &IpAddress::Ipv4(VIP));
    assert_eq!(Datagram::parse(ip(&frame)), Err(Error::Bootp));
}

#[test]
fn checksums_left_to_the_card_are_filled_in() {
    let mut frame = OFFER.to_vec();
    // What a veth peer hands a packet socket: the UDP checksum not done.
    frame[14 + 26] = 0x12;
    frame[14 + 27] = 0x34;
    assert_eq!(Datagram::parse(ip(&frame)), Err(Error::Udp));
    fill_checksums(&mut frame[14..]);
    assert_eq!(&frame[..], OFFER, "the checksum dnsmasq meant");
}

fn discover() -> Datagram<'static> {
    let mut m = Message::new(MessageType::Discover, 0x0102_0304, CLIENT);
    m.client_id = Some(CLIENT);
    m.requested = Some(VIP);
    m.broadcast = true;
    m.secs = 3;
    Datagram {
        src: Ipv4Addr::UNSPECIFIED,
        dst: Ipv4Addr::BROADCAST,
        message: m,
        host_name: Some("mgmt"),
    }
}

#[test]
fn our_discover_is_padded_checked_by_etherparse_and_parses_back() {
    let d = discover();
    let len = d.buffer_len();
    assert!(len >= IPV4_HEADER_LEN + UDP_HEADER_LEN + MIN_BOOTP_LEN);
    let mut buf = [0xa5u8; 600];
    assert_eq!(d.emit(&mut buf[..len]), len);
    let packet = &buf[..len];
    let sliced = SlicedPacket::from_ip(packet).expect("etherparse reads our packet");
    let Some(NetSlice::Ipv4(ipv4)) = &sliced.net else {
        panic!("not IPv4");
    };
    assert_eq!(ipv4.header().ttl(), 64);
    let Some(TransportSlice::Udp(udp)) = &sliced.transport else {
        panic!("not UDP");
    };
    assert_eq!((udp.source_port(), udp.destination_port()), (68, 67));
    let sum = udp
        .to_header()
        .calc_checksum_ipv4(&ipv4.header().to_header(), udp.payload())
        .unwrap();
    assert_eq!(sum, udp.checksum());
    let back = Datagram::parse(packet).unwrap();
    assert_eq!(back.message, d.message);
    assert_eq!((back.src, back.dst), (d.src, d.dst));
    // Options 53, 61, 50, 55 and 12 as RFC 2132 lays them out.
    let bootp = &packet[28..];
    let options = &bootp[240..];
    assert_eq!(&options[..3], &[53, 1, 1]);
    assert!(contains(
        options,
        &[61, 7, 1, 0x02, 0x00, 0x00, 0x09, 0x7f, 0x3f]
    ));
    assert!(contains(options, &[50, 4, 192, 0, 2, 100]));
    assert!(contains(options, &[55, 6, 1, 3, 51, 54, 58, 59]));
    assert!(contains(options, b"\x0c\x04mgmt"));
    assert_eq!(bootp[10] & 0x80, 0x80, "broadcast flag");
}

#[test]
fn a_server_answer_round_trips_with_t1_and_t2() {
    let mut m = Message::new(MessageType::Ack, 7, CLIENT);
    m.yiaddr = VIP;
    m.server_id = Some(SERVER);
    m.subnet_mask = Some(MASK);
    m.lease_secs = Some(4);
    m.renew_secs = Some(2);
    m.rebind_secs = Some(3);
    let d = Datagram {
        src: SERVER,
        dst: VIP,
        message: m,
        host_name: None,
    };
    let mut buf = [0u8; 600];
    let len = d.emit(&mut buf);
    assert_eq!(Datagram::parse(&buf[..len]).unwrap().message, m);
    assert!(!m.from_client());
}

#[test]
fn a_long_host_name_is_cut_to_the_label_limit() {
    let name = "n".repeat(200);
    let d = Datagram {
        host_name: Some(&name),
        ..discover()
    };
    let mut buf = [0u8; 800];
    let len = d.emit(&mut buf);
    assert_eq!(len, d.buffer_len());
    let options = &buf[28 + 240..len];
    let at = options
        .windows(2)
        .position(|w| w == [12, HOST_NAME_MAX as u8]);
    assert!(at.is_some(), "option 12 of {HOST_NAME_MAX} bytes");
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
