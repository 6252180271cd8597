//! The VIP leased by DHCP, as timelines: the holder runs the exchange with
//! a static-mapping server on the segment, the members learn the lease,
//! and a new holder continues it.

mod common;

use std::net::Ipv4Addr;

use common::*;
use vip_core::config::VipRule;
use vip_core::dhcp::{LeaseProblem, LeaseState};
use vip_core::wire::dhcp::{Datagram, MessageType};
use vip_core::wire::{EthernetAddress, EthernetFrame};
use vip_core::{Duration, Event, FrameKind, Instant, Vip};

const MS: Duration = Duration::from_millis(1);

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Three quorum members renewing every 10 ms, the VIP leased from a
/// server with `lease_secs` leases; n0 (priority 200) wins.
fn cluster(lease_secs: u32) -> Cluster {
    let mut c = Cluster::new(
        (0..3)
            .map(|i| leased(quorum_settings(i, 3, 0, 200 - 10 * i as u8, 10)))
            .collect(),
    );
    c.dhcp = Some(ServerSlot::up(lease_secs));
    c
}

/// [`cluster`] with 10 s leases, bound, then the server maps the VIP MAC to
/// 192.0.2.101 and the cluster runs past the next renewal; returns it, when
/// the mapping changed, and the new address.
fn remapped_at_renewal() -> (Cluster, Instant, Ipv4Addr) {
    let mut c = cluster(10);
    c.drive_checking(Instant::ZERO + secs(1));
    let other = Ipv4Addr::new(192, 0, 2, 101);
    c.dhcp.as_mut().unwrap().server.map(VIP_MAC, other);
    let from = c.now;
    c.drive_checking(Instant::ZERO + secs(7));
    (c, from, other)
}

/// The DHCP messages node `i` sent since `from`: (Ethernet destination, datagram).
fn dhcp_sent(c: &Cluster, i: usize, from: Instant) -> Vec<(EthernetAddress, Datagram<'static>)> {
    c.sent(i, from, FrameKind::Dhcp)
        .iter()
        .map(|f| {
            let eth = EthernetFrame::new_checked(&f[..]).unwrap();
            assert_eq!(eth.src_addr(), VIP_MAC, "DHCP leaves from the VIP MAC");
            (eth.dst_addr(), Datagram::parse(eth.payload()).unwrap())
        })
        .collect()
}

fn kinds(sent: &[(EthernetAddress, Datagram<'static>)]) -> Vec<MessageType> {
    sent.iter().map(|(_, d)| d.message.kind).collect()
}

/// Instant of node `i`'s first `AcquireVip(address)` from `from`.
fn acquired(c: &Cluster, i: usize, from: Instant, address: Ipv4Addr) -> Option<Instant> {
    c.first_event(i, from, Event::AcquireVip(Vip::host(address)))
}

fn released(c: &Cluster, i: usize, from: Instant, address: Ipv4Addr) -> Option<Instant> {
    c.first_event(i, from, Event::ReleaseVip(Vip::host(address)))
}

#[test]
fn the_holder_leases_the_mapped_address_before_it_configures_or_announces_it() {
    let mut c = cluster(120);
    c.drive_checking(Instant::ZERO + secs(1));
    assert_eq!(c.holders(), vec![0]);
    let sent = dhcp_sent(&c, 0, Instant::ZERO);
    assert_eq!(
        kinds(&sent),
        vec![MessageType::Discover, MessageType::Request]
    );
    let (dst, discover) = sent[0];
    assert_eq!(dst, EthernetAddress::BROADCAST);
    assert_eq!(discover.message.chaddr, VIP_MAC);
    assert_eq!(discover.message.client_id, Some(VIP_MAC));
    assert_eq!(discover.message.requested, None, "nothing to ask for yet");
    let request = sent[1].1.message;
    assert_eq!(request.requested, Some(VIP));
    assert_eq!(request.server_id, Some(SERVER));
    assert_eq!(request.xid, discover.message.xid, "one exchange, one xid");
    // The VIP comes with the ACK, two round trips after the DISCOVER.
    let holding_at = c
        .first_event(
            0,
            Instant::ZERO,
            Event::RoleChanged {
                from: vip_core::Role::Candidate,
                to: vip_core::Role::Holder,
            },
        )
        .expect("n0 won");
    let at = acquired(&c, 0, Instant::ZERO, VIP).expect("n0 configured the VIP");
    assert_eq!(
        at,
        holding_at + c.delay.saturating_mul(4),
        "DISCOVER, OFFER, REQUEST, ACK"
    );
    let garps = c
        .entries(0, Instant::ZERO)
        .into_iter()
        .position(|e| matches!(e.what, Logged::Frame(FrameKind::Garp, _)))
        .expect("announced");
    let acquire = c
        .entries(0, Instant::ZERO)
        .into_iter()
        .position(|e| matches!(e.what, Logged::Event(Event::AcquireVip(_))))
        .unwrap();
    assert!(
        acquire < garps,
        "no gratuitous ARP before the address is leased"
    );
    let lease = c.node(0).lease().unwrap();
    assert_eq!(lease.state, LeaseState::Bound);
    assert_eq!((lease.address, lease.server), (Some(VIP), Some(SERVER)));
    // The lease runs from the REQUEST's sending, not the ACK's arrival.
    let requested_at = holding_at + c.delay.saturating_mul(2);
    assert_eq!(lease.expires_at, Some(requested_at + secs(120)));
    // Every member knows the lease and the VIP MAC from the holder.
    for i in 1..3 {
        let n = c.node(i);
        assert_eq!(n.vip(), Some(Vip::host(VIP)), "n{i} learned the VIP");
        assert_eq!(n.vip_hwaddr(), Some(VIP_MAC));
        let l = n.lease().unwrap();
        assert_eq!((l.state, l.address), (LeaseState::Stopped, Some(VIP)));
        let (mine, theirs) = (lease.expires_at.unwrap(), l.expires_at.unwrap());
        assert!(theirs <= mine, "a member's copy never outlives the lease");
        assert!(mine - theirs < secs(1), "by no more than the drift margin");
        assert!(
            dhcp_sent(&c, i, Instant::ZERO).is_empty(),
            "only the holder asks"
        );
    }
}

#[test]
fn the_holder_renews_by_unicast_at_t1_and_the_lease_moves_on() {
    let mut c = cluster(10);
    c.drive_checking(Instant::ZERO + secs(1));
    let first = c.node(0).lease().unwrap().expires_at.unwrap();
    let t1 = Instant::ZERO + secs(1);
    c.drive_checking(Instant::ZERO + secs(6));
    let sent = dhcp_sent(&c, 0, t1);
    assert_eq!(kinds(&sent), vec![MessageType::Request]);
    let (dst, renew) = sent[0];
    assert_eq!(dst, SERVER_MAC, "unicast to the server's MAC");
    assert_eq!((renew.src, renew.dst), (VIP, SERVER));
    assert_eq!(renew.message.ciaddr, VIP);
    assert_eq!(renew.message.requested, None);
    assert_eq!(renew.message.server_id, None);
    let lease = c.node(0).lease().unwrap();
    assert_eq!(lease.state, LeaseState::Bound);
    assert!(lease.expires_at.unwrap() >= first + secs(5));
    assert_eq!(released(&c, 0, Instant::ZERO, VIP), None, "kept throughout");
}

#[test]
fn a_lost_unicast_answer_costs_one_retry_then_broadcast_renews() {
    let mut c = cluster(10);
    c.drive_checking(Instant::ZERO + secs(1));
    c.dhcp.as_mut().unwrap().unicast_lost = true;
    let from = c.now;
    c.drive_checking(Instant::ZERO + secs(7));
    let sent = dhcp_sent(&c, 0, from);
    assert_eq!(
        kinds(&sent),
        vec![MessageType::Request, MessageType::Request]
    );
    assert_eq!(sent[0].0, SERVER_MAC);
    let (dst, retry) = sent[1];
    assert_eq!(dst, EthernetAddress::BROADCAST);
    assert!(retry.message.broadcast, "asks for a broadcast answer");
    assert_eq!(retry.message.ciaddr, Ipv4Addr::UNSPECIFIED);
    assert_eq!(retry.message.requested, Some(VIP));
    let lease = c.node(0).lease().unwrap();
    assert_eq!(lease.state, LeaseState::Bound, "renewed before T2");
    assert_eq!(released(&c, 0, Instant::ZERO, VIP), None);
}

#[test]
fn with_the_server_away_past_t2_the_holder_rebinds_and_keeps_the_address() {
    let mut c = cluster(10);
    c.drive_checking(Instant::ZERO + secs(1));
    c.dhcp.as_mut().unwrap().up = false;
    // T1 at about 5 s, T2 at 8.75 s, the end at 10 s.
    c.drive_checking(Instant::ZERO + secs(9));
    assert_eq!(c.node(0).lease().unwrap().state, LeaseState::Rebinding);
    c.dhcp.as_mut().unwrap().up = true;
    c.drive_checking(Instant::ZERO + secs(11));
    let lease = c.node(0).lease().unwrap();
    assert_eq!(lease.state, LeaseState::Bound);
    assert!(lease.expires_at.unwrap() > Instant::ZERO + secs(18));
    assert_eq!(released(&c, 0, Instant::ZERO, VIP), None);
}

#[test]
fn at_the_lease_end_without_a_server_the_address_goes_and_status_says_why() {
    let mut c = cluster(10);
    c.drive_checking(Instant::ZERO + secs(1));
    let end = c.node(0).lease().unwrap().expires_at.unwrap();
    c.dhcp.as_mut().unwrap().up = false;
    c.drive_checking(Instant::ZERO + secs(30));
    assert_eq!(released(&c, 0, Instant::ZERO, VIP), Some(end));
    let lease = c.node(0).lease().unwrap();
    assert_eq!(lease.address, None);
    assert_eq!(lease.requested, Some(VIP), "asks for it again");
    assert_eq!(lease.problem, Some(LeaseProblem::NoServer));
    assert_eq!(lease.state, LeaseState::Selecting);
    assert!(c.node(0).is_holder(), "still elected, holding no address");
    assert_eq!(c.node(0).vip(), None);
    let discovers: Vec<_> = dhcp_sent(&c, 0, end)
        .into_iter()
        .filter(|(_, d)| d.message.kind == MessageType::Discover)
        .collect();
    assert!(discovers.len() >= 3, "keeps asking: {}", discovers.len());
    assert!(discovers
        .iter()
        .all(|(_, d)| d.message.requested == Some(VIP)));
    // The members' copies ran out too.
    assert_eq!(c.node(1).vip(), None);
    // No gratuitous ARP for an address nobody leased.
    let after = end + MS;
    assert!(c.sent(0, after, FrameKind::Garp).is_empty());
}

#[test]
fn a_nak_at_renewal_releases_the_address_and_the_next_one_is_leased() {
    let (c, from, other) = remapped_at_renewal();
    let gone = released(&c, 0, from, VIP).expect("the refused address went");
    let back = acquired(&c, 0, from, other).expect("the new address came");
    assert!(gone < back);
    let sent = dhcp_sent(&c, 0, from);
    assert_eq!(
        kinds(&sent),
        vec![
            MessageType::Request,
            MessageType::Discover,
            MessageType::Request
        ]
    );
    assert_eq!(sent[1].1.message.requested, None, "not the refused address");
    let lease = c.node(0).lease().unwrap();
    assert_eq!((lease.address, lease.problem), (Some(other), None));
    // Announced at the new address.
    let garps = c.sent(0, back, FrameKind::Garp);
    assert!(!garps.is_empty());
    assert!(garps.iter().all(|f| f[28..32] == other.octets()));
    for i in 1..3 {
        assert_eq!(c.node(i).vip(), Some(Vip::host(other)), "n{i} follows");
    }
}

#[test]
fn a_new_holder_continues_the_lease_at_once_and_confirms_it() {
    let mut c = cluster(120);
    c.drive_checking(Instant::ZERO + secs(1));
    let crash = c.now;
    c.crash(0);
    c.drive_checking(crash + secs(1));
    assert_eq!(c.holders(), vec![1]);
    let won = c
        .entries(1, crash)
        .into_iter()
        .find(|e| {
            matches!(
                e.what,
                Logged::Event(Event::RoleChanged {
                    to: vip_core::Role::Holder,
                    ..
                })
            )
        })
        .unwrap()
        .at;
    assert_eq!(
        acquired(&c, 1, crash, VIP),
        Some(won),
        "no DHCP round trip first"
    );
    let sent = dhcp_sent(&c, 1, crash);
    assert_eq!(kinds(&sent), vec![MessageType::Request]);
    assert_eq!(
        sent[0].0,
        EthernetAddress::BROADCAST,
        "its server MAC is unknown"
    );
    assert_eq!(sent[0].1.message.requested, Some(VIP));
    assert_eq!(
        sent[0].1.message.chaddr, VIP_MAC,
        "the same client to the server"
    );
    let lease = c.node(1).lease().unwrap();
    assert_eq!((lease.state, lease.address), (LeaseState::Bound, Some(VIP)));
    assert_eq!(c.dhcp.as_ref().unwrap().server.answered[2], 0, "no NAK");
}

#[test]
fn a_failover_while_the_server_is_down_is_survived_by_the_lease() {
    let mut c = cluster(30);
    c.drive_checking(Instant::ZERO + secs(1));
    let end = c.node(0).lease().unwrap().expires_at.unwrap();
    c.dhcp.as_mut().unwrap().up = false;
    let crash = c.now;
    c.crash(0);
    c.drive_checking(crash + secs(5));
    assert_eq!(c.holders(), vec![1]);
    assert!(acquired(&c, 1, crash, VIP).is_some());
    assert_eq!(c.node(1).lease().unwrap().state, LeaseState::Renewing);
    // The server comes back before the lease ends: renewed, never released.
    c.dhcp.as_mut().unwrap().up = true;
    c.drive_checking(end - secs(5));
    assert_eq!(c.node(1).lease().unwrap().state, LeaseState::Bound);
    assert_eq!(released(&c, 1, crash, VIP), None);
}

#[test]
fn an_offer_that_breaks_a_vip_rule_is_refused_and_reported() {
    for (address, rule) in [
        (address(1), VipRule::MemberAddress),
        (address(0), VipRule::NodeAddress),
        (Ipv4Addr::new(198, 51, 100, 7), VipRule::OutsideSubnet),
        (Ipv4Addr::new(192, 0, 2, 255), VipRule::SubnetEdge),
    ] {
        let mut c = cluster(120);
        c.dhcp.as_mut().unwrap().server.map(VIP_MAC, address);
        c.drive_checking(Instant::ZERO + secs(10));
        assert_eq!(c.holders(), vec![0]);
        assert!(
            !c.log
                .iter()
                .any(|e| matches!(e.what, Logged::Event(Event::AcquireVip(_)))),
            "{address} was never configured"
        );
        let lease = c.node(0).lease().unwrap();
        assert_eq!(lease.problem, Some(LeaseProblem::Refused { address, rule }));
        assert_eq!(lease.state, LeaseState::Selecting);
        let sent = dhcp_sent(&c, 0, Instant::ZERO);
        assert!(
            sent.iter()
                .all(|(_, d)| d.message.kind == MessageType::Discover),
            "no REQUEST for a refused offer"
        );
    }
}

#[test]
fn vrrp_members_learn_the_address_from_adverts_and_a_new_master_asks_for_it() {
    let mut c = Cluster::new(vec![
        leased(settings(0, 200, 10)),
        leased(settings(1, 100, 10)),
    ]);
    c.dhcp = Some(ServerSlot::up(120));
    c.drive_checking(Instant::ZERO + secs(1));
    assert_eq!(c.holders(), vec![0]);
    assert_eq!(c.node(1).lease().unwrap().requested, Some(VIP));
    // It knows the address, so its status can name it, but not the lease.
    assert_eq!(c.node(1).lease().unwrap().holder_address, Some(VIP));
    assert_eq!(c.node(1).lease().unwrap().address, None);
    let crash = c.now;
    c.crash(0);
    c.drive_checking(crash + secs(1));
    assert_eq!(c.holders(), vec![1]);
    // VRRP carries no lease time: the new master asks before it holds.
    let sent = dhcp_sent(&c, 1, crash);
    assert_eq!(
        kinds(&sent),
        vec![MessageType::Discover, MessageType::Request]
    );
    assert_eq!(sent[0].1.message.requested, Some(VIP));
    assert!(acquired(&c, 1, crash, VIP).is_some());
    assert_eq!(c.node(1).vip_hwaddr(), Some(VIP_MAC));
}

#[test]
fn a_vrrp_master_without_a_lease_ends_what_the_members_say() {
    let mut c = Cluster::new(vec![
        leased(settings(0, 200, 10)),
        leased(settings(1, 100, 10)),
    ]);
    c.dhcp = Some(ServerSlot::up(10));
    c.drive_checking(Instant::ZERO + secs(1));
    assert_eq!(c.node(1).lease().unwrap().holder_address, Some(VIP));
    // The renewal is NAKed and every later offer refused (outside the
    // nodes' subnet): the master advertises no address, and the member
    // stops naming the old one.
    let outside = Ipv4Addr::new(198, 51, 100, 7);
    c.dhcp.as_mut().unwrap().server.map(VIP_MAC, outside);
    c.drive_checking(Instant::ZERO + secs(7));
    assert_eq!(c.node(0).vip(), None, "the master let the address go");
    assert_eq!(c.node(1).lease().unwrap().holder_address, None);
}

#[test]
fn a_holder_without_a_lease_ends_the_members_copies() {
    let mut c = cluster(10);
    c.drive_checking(Instant::ZERO + secs(1));
    // The server now maps the VIP MAC to a member's address: the renewal
    // is NAKed and every later offer refused.
    c.dhcp.as_mut().unwrap().server.map(VIP_MAC, address(1));
    c.drive_checking(Instant::ZERO + secs(7));
    assert_eq!(c.node(0).vip(), None, "the holder let the address go");
    for i in 1..3 {
        assert_eq!(
            c.node(i).vip(),
            None,
            "n{i} keeps no copy of an ended lease"
        );
        assert_eq!(c.node(i).lease().unwrap().address, None);
        assert_eq!(c.node(i).lease().unwrap().holder_address, None);
    }
    // So a new holder does not configure the address the server refused.
    let crash = c.now;
    c.crash(0);
    c.drive_checking(crash + secs(2));
    assert_eq!(c.holders().len(), 1);
    for i in 1..3 {
        assert_eq!(
            acquired(&c, i, crash, VIP),
            None,
            "n{i} configured a refused address"
        );
    }
}

#[test]
fn an_address_leased_later_in_a_tenure_reopens_the_hosts_fence() {
    let (c, from, other) = remapped_at_renewal();
    let entries = c.entries(0, from);
    let acquire = entries
        .iter()
        .position(|e| matches!(e.what, Logged::Event(Event::AcquireVip(v)) if v.address == other))
        .expect("the new address was configured");
    let at = entries[acquire].at;
    // Right behind it, in the same instant: the tenure's lease end again,
    // for the fence the release of the old address closed.
    let next = &entries[acquire + 1];
    assert_eq!(next.at, at);
    let Logged::Event(Event::LeaseExtended { until }) = next.what else {
        panic!("after AcquireVip: {:?}", next.what);
    };
    assert!(until > at, "a lease end still to come");
}

#[test]
fn a_renewal_answered_late_counts_its_lease_from_the_request_answered() {
    let mut c = cluster(30);
    c.drive_checking(Instant::ZERO + secs(1));
    c.dhcp.as_mut().unwrap().up = false;
    let crash = c.now;
    c.crash(0);
    // The new holder renews at once and again and again into the outage.
    c.drive_checking(crash + secs(15));
    let up = c.now;
    c.dhcp.as_mut().unwrap().up = true;
    c.drive_checking(up + secs(10));
    let sent = dhcp_sent(&c, 1, crash);
    assert!(sent.len() >= 3, "retries: {}", sent.len());
    let xids: std::collections::BTreeSet<u32> = sent.iter().map(|(_, d)| d.message.xid).collect();
    assert_eq!(xids.len(), sent.len(), "one transaction id per REQUEST");
    let lease = c.node(1).lease().unwrap();
    assert_eq!(lease.state, LeaseState::Bound);
    assert!(
        lease.expires_at.unwrap() >= up + secs(30 - 10),
        "the lease counts from the REQUEST the server answered, not the first try"
    );
}
