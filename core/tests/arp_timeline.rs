//! Timelines of the announcer and the ARP responder.

mod common;

use common::*;
use std::net::Ipv4Addr;
use vip_core::config::GarpForm;
use vip_core::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
    EthernetRepr,
};
use vip_core::{Duration, Event, FrameKind, Instant};

const CLIENT_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x50]);
const CLIENT: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 50);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn arp_frame(op: ArpOperation, sha: EthernetAddress, spa: Ipv4Addr, tpa: Ipv4Addr) -> Vec<u8> {
    let repr = ArpRepr::EthernetIpv4 {
        operation: op,
        source_hardware_addr: sha,
        source_protocol_addr: spa,
        target_hardware_addr: EthernetAddress([0; 6]),
        target_protocol_addr: tpa,
    };
    let mut f = vec![0u8; 14 + 28];
    EthernetRepr {
        src_addr: sha,
        dst_addr: EthernetAddress::BROADCAST,
        ethertype: EthernetProtocol::Arp,
    }
    .emit(&mut EthernetFrame::new_unchecked(&mut f[..]));
    repr.emit(&mut ArpPacket::new_unchecked(&mut f[14..]));
    f
}

fn parse_arp(frame: &[u8]) -> (EthernetAddress, ArpRepr) {
    let eth = EthernetFrame::new_checked(frame).unwrap();
    assert_eq!(eth.ethertype(), EthernetProtocol::Arp);
    let arp = ArpRepr::parse(&ArpPacket::new_checked(eth.payload()).unwrap()).unwrap();
    (eth.dst_addr(), arp)
}

/// Two nodes, node 0 master; returns the cluster once settled.
fn settled(form: GarpForm, count: u8, refresh_ms: u64) -> Cluster {
    let mut s0 = settings(0, 200, 10);
    s0.cluster.announce.form = form;
    s0.cluster.announce.garp_count = count;
    s0.cluster.announce.garp_interval = ms(100);
    s0.cluster.announce.refresh_interval = ms(refresh_ms);
    let mut c = Cluster::new(vec![s0, settings(1, 100, 10)]);
    c.drive_for(ms(50));
    assert_eq!(c.holders(), vec![0]);
    c
}

#[test]
fn acquire_burst_has_count_announcements_at_the_interval_in_both_forms() {
    let mut c = settled(GarpForm::Both, 3, 0);
    c.drive_for(ms(1000));
    let acquired = c.first_event(0, Instant::ZERO, acquire()).unwrap();
    let garps: Vec<(Instant, Vec<u8>)> = c
        .entries(0, Instant::ZERO)
        .iter()
        .filter_map(|e| match &e.what {
            Logged::Frame(FrameKind::Garp, f) => Some((e.at, f.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(garps.len(), 6, "3 announcements x 2 forms");
    let times: Vec<Instant> = garps.iter().map(|g| g.0).collect();
    assert_eq!(
        times[0], acquired,
        "first announcement in the acquiring step"
    );
    assert_eq!(times[2], acquired + ms(100));
    assert_eq!(times[4], acquired + ms(200));
    let (dst, req) = parse_arp(&garps[0].1);
    assert_eq!(dst, EthernetAddress::BROADCAST);
    assert_eq!(
        req,
        ArpRepr::EthernetIpv4 {
            operation: ArpOperation::Request,
            source_hardware_addr: mac(0),
            source_protocol_addr: VIP,
            target_hardware_addr: EthernetAddress([0; 6]),
            target_protocol_addr: VIP,
        }
    );
    let (_, rep) = parse_arp(&garps[1].1);
    assert!(
        matches!(rep, ArpRepr::EthernetIpv4 { operation: ArpOperation::Reply, source_protocol_addr, target_protocol_addr, .. } if source_protocol_addr == VIP && target_protocol_addr == VIP)
    );
}

#[test]
fn refresh_repeats_announcements_while_holding() {
    let mut c = settled(GarpForm::Request, 1, 1000);
    let t = c.now;
    c.drive_for(ms(10_000));
    let n = c.sent(0, t, FrameKind::Garp).len();
    // The seed fixes the jitter (each period 15/16 s to 1 s): exactly 10.
    assert_eq!(n, 10, "refreshes in 10 s at 1 s");
    assert!(
        c.sent(1, Instant::ZERO, FrameKind::Garp).is_empty(),
        "backups never announce"
    );
}

#[test]
fn master_answers_arp_requests_for_the_vip_and_backup_does_not() {
    let mut c = settled(GarpForm::Request, 1, 0);
    let t = c.now;
    c.inject(&arp_frame(ArpOperation::Request, CLIENT_MAC, CLIENT, VIP));
    let replies = c.sent(0, t, FrameKind::ArpReply);
    assert_eq!(replies.len(), 1);
    let (dst, rep) = parse_arp(&replies[0]);
    assert_eq!(dst, CLIENT_MAC);
    assert_eq!(
        rep,
        ArpRepr::EthernetIpv4 {
            operation: ArpOperation::Reply,
            source_hardware_addr: mac(0),
            source_protocol_addr: VIP,
            target_hardware_addr: CLIENT_MAC,
            target_protocol_addr: CLIENT,
        }
    );
    assert!(c.sent(1, t, FrameKind::ArpReply).is_empty());
    // Requests for other addresses are not ours to answer.
    c.inject(&arp_frame(
        ArpOperation::Request,
        CLIENT_MAC,
        CLIENT,
        address(1),
    ));
    assert_eq!(c.sent(0, t, FrameKind::ArpReply).len(), 1);
}

#[test]
fn responder_can_be_left_to_the_kernel() {
    let mut s0 = settings(0, 200, 10);
    s0.cluster.announce.answer_arp = false;
    let mut c = Cluster::new(vec![s0]);
    c.drive_for(ms(50));
    let t = c.now;
    c.inject(&arp_frame(ArpOperation::Request, CLIENT_MAC, CLIENT, VIP));
    assert!(c.sent(0, t, FrameKind::ArpReply).is_empty());
}

#[test]
fn another_claimant_raises_a_conflict_and_a_rate_limited_reannounce() {
    let mut c = settled(GarpForm::Request, 1, 0);
    let intruder = EthernetAddress([0x02, 0, 0, 0, 0, 0x66]);
    let t = c.now;
    c.inject(&arp_frame(ArpOperation::Request, intruder, VIP, VIP));
    assert_eq!(
        c.first_event(0, t, Event::Conflict { hwaddr: intruder }),
        Some(t)
    );
    assert_eq!(
        c.sent(0, t, FrameKind::Garp).len(),
        1,
        "re-announced at once"
    );
    c.inject(&arp_frame(ArpOperation::Reply, intruder, VIP, VIP));
    assert_eq!(
        c.sent(0, t, FrameKind::Garp).len(),
        1,
        "not twice within garp_interval"
    );
    assert_eq!(c.node(0).counters().conflicts, 2);
    c.drive_for(ms(150));
    c.inject(&arp_frame(ArpOperation::Reply, intruder, VIP, VIP));
    assert_eq!(c.sent(0, t, FrameKind::Garp).len(), 2);
    // A backup sees no conflict: it does not hold the VIP.
    assert!(c
        .first_event(1, t, Event::Conflict { hwaddr: intruder })
        .is_none());
}

#[test]
fn malformed_arp_is_dropped_and_counted() {
    let mut c = settled(GarpForm::Request, 1, 0);
    let mut f = arp_frame(ArpOperation::Request, CLIENT_MAC, CLIENT, VIP);
    f[14 + 4] = 8; // hardware length 8: not Ethernet/IPv4
    c.inject(&f);
    c.inject(&f[..20]);
    assert_eq!(c.node(0).counters().dropped(vip_core::DropReason::Arp), 2);
}

#[test]
fn a_healed_partition_points_every_client_back_at_the_holder() {
    let mut c = settled(GarpForm::Request, 2, 0);
    c.drive_for(ms(500));
    c.cut[0] = true;
    c.drive_for(ms(100));
    assert_eq!(c.node(1).role(), vip_core::Role::Holder);
    let t = c.now;
    c.cut[0] = false;
    c.drive_for(ms(300));
    assert_eq!(c.holders(), vec![0]);
    // Clients on node 1's side were told node 1's MAC. Whichever master hears
    // the other first, they are told node 0's MAC again: node 0 re-announces
    // on hearing a lower master, node 1 announces node 0 when it yields.
    let garps: Vec<ArpRepr> = (0..2)
        .flat_map(|i| c.sent(i, t, FrameKind::Garp))
        .map(|f| parse_arp(&f).1)
        .collect();
    assert!(!garps.is_empty());
    for g in &garps {
        let ArpRepr::EthernetIpv4 {
            source_hardware_addr,
            source_protocol_addr,
            ..
        } = *g
        else {
            unreachable!()
        };
        assert_eq!((source_hardware_addr, source_protocol_addr), (mac(0), VIP));
    }
    // The yielding master keeps its own Ethernet source, so switches learn no false port.
    for f in c.sent(1, t, FrameKind::Garp) {
        assert_eq!(
            EthernetFrame::new_checked(&f[..]).unwrap().src_addr(),
            mac(1)
        );
    }
}

#[test]
fn master_reannounces_after_a_long_silence() {
    let mut c = settled(GarpForm::Request, 1, 0);
    c.drive_for(ms(500));
    // A pause: node 0 gets no input for 100 ms (ten intervals), then a late timeout.
    let mut paused = c.nodes[0].take();
    c.drive_for(ms(100));
    assert_eq!(c.node(1).role(), vip_core::Role::Holder);
    let t = c.now;
    paused.as_mut().unwrap().handle_timeout(t);
    c.nodes[0] = paused;
    c.drain(0);
    assert_eq!(c.sent(0, t, FrameKind::Garp).len(), 1);
    c.drive_for(ms(50));
    assert_eq!(c.holders(), vec![0]);
}
