//! Property tests: round trips of every `Repr`, and no input panics a node.

mod common;

use common::*;
use proptest::prelude::*;
use std::net::Ipv4Addr;
use vip_core::wire::vrrp::{self, Advert, ChecksumKind, Repr};
use vip_core::wire::{ArpOperation, ArpPacket, ArpRepr, EthernetAddress};
use vip_core::{Command, Config, Duration, FrameBuf, Instant, Node, Output};

fn ipv4() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>().prop_map(Ipv4Addr::from)
}

fn repr() -> impl Strategy<Value = Repr> {
    (
        any::<u8>(),
        any::<u8>(),
        0u16..=vrrp::MAX_INTERVAL_CENTIS,
        proptest::collection::vec(ipv4(), 0..=vrrp::MAX_ADDRESSES),
    )
        .prop_map(|(vrid, priority, interval, addrs)| Repr {
            vrid,
            priority,
            max_advert_interval: interval,
            addresses: heapless::Vec::from_slice(&addrs).unwrap(),
        })
}

fn checksum_kind() -> impl Strategy<Value = ChecksumKind> {
    prop_oneof![
        Just(ChecksumKind::Rfc9568),
        Just(ChecksumKind::PseudoHeader)
    ]
}

proptest! {
    #[test]
    fn vrrp_repr_round_trips(r in repr(), kind in checksum_kind(), src in ipv4()) {
        let mut buf = vec![0u8; r.buffer_len()];
        let mut p = vrrp::Packet::new_unchecked(&mut buf[..]);
        r.emit(&mut p);
        p.fill_checksum(kind, src, vrrp::MULTICAST_GROUP);
        let p = vrrp::Packet::new_checked(&buf[..]).unwrap();
        prop_assert_eq!(Repr::parse(&p).unwrap(), r);
        // Either form verifies; a rare message verifies under both.
        prop_assert!(p.checksum_kind(src, vrrp::MULTICAST_GROUP).is_some());
    }

    #[test]
    fn advert_round_trips(r in repr(), kind in checksum_kind(), src in ipv4()) {
        let a = Advert { src, checksum: kind, vrrp: r };
        let mut buf = vec![0u8; a.buffer_len()];
        a.emit(&mut buf);
        let parsed = Advert::parse(&buf).unwrap();
        prop_assert_eq!(&parsed.vrrp, &a.vrrp);
        prop_assert_eq!(parsed.src, a.src);
        if parsed.checksum != a.checksum {
            // Both forms coincide only when the pseudo-header sums to zero mod 0xffff.
            let p = vrrp::Packet::new_unchecked(&buf[20..]);
            prop_assert!(p.checksum_kind(src, vrrp::MULTICAST_GROUP).is_some());
        }
    }

    #[test]
    fn arp_repr_round_trips(op in prop_oneof![Just(ArpOperation::Request), Just(ArpOperation::Reply)],
                            sha in any::<[u8; 6]>(), spa in ipv4(), tha in any::<[u8; 6]>(), tpa in ipv4()) {
        let r = ArpRepr::EthernetIpv4 {
            operation: op,
            source_hardware_addr: EthernetAddress(sha),
            source_protocol_addr: spa,
            target_hardware_addr: EthernetAddress(tha),
            target_protocol_addr: tpa,
        };
        let mut buf = vec![0u8; r.buffer_len()];
        r.emit(&mut ArpPacket::new_unchecked(&mut buf[..]));
        prop_assert_eq!(ArpRepr::parse(&ArpPacket::new_checked(&buf[..]).unwrap()).unwrap(), r);
    }

    #[test]
    fn vrrp_packet_accessors_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        if let Ok(p) = vrrp::Packet::new_checked(&bytes[..]) {
            let _ = (p.version(), p.msg_type(), p.vrid(), p.priority(), p.max_advert_interval(), p.checksum());
            for i in 0..300 { let _ = p.address(i); }
            let _ = p.checksum_kind(Ipv4Addr::LOCALHOST, vrrp::MULTICAST_GROUP);
            let _ = Repr::parse(&p);
        }
        let _ = Advert::parse(&bytes);
    }
}

#[derive(Debug, Clone)]
enum Input {
    Frame(Vec<u8>),
    /// A frame built from a valid advert with a few bytes flipped.
    MutatedAdvert(u8, Vec<(usize, u8)>),
    Wait(u32),
    Command(u8, u8),
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..128).prop_map(Input::Frame),
        (
            any::<u8>(),
            proptest::collection::vec((0usize..80, any::<u8>()), 0..4)
        )
            .prop_map(|(p, f)| Input::MutatedAdvert(p, f)),
        (0u32..200_000).prop_map(Input::Wait),
        (0u8..6, any::<u8>()).prop_map(|(c, p)| Input::Command(c, p)),
    ]
}

fn advert_frame(priority: u8) -> Vec<u8> {
    let mut s = settings(0, priority.max(1), 10);
    s.host.mac = mac(5);
    s.host.address = address(5);
    let mut node = Node::new(Config::new(s).unwrap(), 0, Instant::ZERO);
    let mut buf: FrameBuf = [0; vip_core::wire::MAX_FRAME_LEN];
    while node.poll_output(&mut buf).is_some() {}
    node.handle_timeout(Instant::from_millis(100));
    while let Some(o) = node.poll_output(&mut buf) {
        if let Output::Transmit {
            len,
            kind: vip_core::FrameKind::Advert,
        } = o
        {
            let mut f = buf[..len].to_vec();
            f[14 + 20 + 2] = priority;
            return f;
        }
    }
    unreachable!("a lone node advertises once master")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Arbitrary frames, waits and commands never panic a node, deadlines are
    /// never in the past, and acquire/release alternate.
    #[test]
    fn arbitrary_inputs_never_break_a_node(inputs in proptest::collection::vec(input(), 0..60)) {
        let mut node = Node::new(Config::new(settings(0, 100, 10)).unwrap(), 1, Instant::ZERO);
        let mut buf: FrameBuf = [0; vip_core::wire::MAX_FRAME_LEN];
        let mut now = Instant::ZERO;
        let mut holding = false;
        let mut link_up = true;
        for i in inputs {
            match i {
                Input::Frame(f) => node.handle_frame(now, &f),
                Input::MutatedAdvert(p, flips) => {
                    let mut f = advert_frame(p);
                    for (at, b) in flips { if at < f.len() { f[at] ^= b; } }
                    node.handle_frame(now, &f);
                }
                Input::Wait(us) => {
                    now += Duration::from_micros(u64::from(us));
                    node.handle_timeout(now);
                }
                Input::Command(c, p) => {
                    let cmd = match c {
                        0 => Command::SetPriority(p),
                        1 => { link_up = false; Command::LinkDown }
                        2 => { link_up = true; Command::LinkUp }
                        3 => Command::HealthDown,
                        4 => Command::HealthUp,
                        _ => Command::Shutdown,
                    };
                    node.command(now, cmd);
                }
            }
            while let Some(o) = node.poll_output(&mut buf) {
                match o {
                    Output::Event(vip_core::Event::AcquireVip(_)) => { prop_assert!(!holding); holding = true; }
                    Output::Event(vip_core::Event::ReleaseVip(_)) => { prop_assert!(holding); holding = false; }
                    Output::Transmit { len, .. } => prop_assert!((60..=vip_core::wire::MAX_FRAME_LEN).contains(&len)),
                    _ => {}
                }
            }
            prop_assert_eq!(holding, node.is_holder());
            if !link_up { prop_assert!(!node.is_holder()); }
            if let Some(t) = node.poll_timeout() { prop_assert!(t > now, "deadline {:?} not after now {:?}", t, now); }
        }
    }

    /// With distinct priorities, exactly one master after convergence: the highest.
    #[test]
    fn distinct_priorities_converge_on_the_highest(
        prios in proptest::collection::btree_set(1u8..=254, 2..8),
        order in any::<u64>(),
    ) {
        let mut prios: Vec<u8> = prios.into_iter().collect();
        // Shuffle deterministically from `order` so the highest is anywhere.
        let n = prios.len();
        for i in 0..n { prios.swap(i, (order as usize >> (i % 16)) % n); }
        let mut c = Cluster::with_priorities(&prios, 10);
        c.drive_for(Duration::from_millis(300));
        let best = (0..n).max_by_key(|&i| prios[i]).unwrap();
        prop_assert_eq!(c.holders(), vec![best]);
        for i in 0..n {
            prop_assert_eq!(c.node(i).holder().map(|h| h.address), Some(address(best)));
        }
    }
}
