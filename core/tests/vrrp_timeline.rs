//! Timelines of the VRRPv3 machine: at time t this arrives, at t' this leaves.

mod common;

use common::*;
use vip_core::node::VIP_RETRY;
use vip_core::wire::vrrp::{Advert, ChecksumKind};
use vip_core::wire::{EthernetFrame, ETHERNET_HEADER_LEN};
use vip_core::{Command, DropReason, Duration, Event, FrameKind, Instant, Peer, Role};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Skew_Time for `priority` at `interval_ms`, in microseconds.
fn skew(priority: u64, interval_ms: u64) -> Duration {
    Duration::from_micros((256 - priority) * interval_ms * 1000 / 256)
}

/// Node `i`'s `ReleaseVip` since `t` comes before its priority-0 advert.
fn assert_release_precedes_priority_zero(c: &Cluster, i: usize, t: Instant) {
    let out = c.entries(i, t);
    let release = out
        .iter()
        .position(|e| matches!(e.what, Logged::Event(Event::ReleaseVip(_))))
        .expect("a release");
    let bye = out
        .iter()
        .position(|e| matches!(&e.what, Logged::Frame(FrameKind::Advert, f) if advert_of(f).vrrp.priority == 0))
        .expect("a priority-0 advert");
    assert!(release < bye, "ReleaseVip before the priority-0 advert");
}

fn advert_of(frame: &[u8]) -> Advert {
    let eth = EthernetFrame::new_checked(frame).unwrap();
    Advert::parse(eth.payload()).unwrap()
}

#[test]
fn lone_node_starts_as_backup_and_becomes_master_after_master_down_interval() {
    let mut c = Cluster::with_priorities(&[100], 10);
    assert_eq!(c.node(0).role(), Role::Backup);
    let down = ms(30) + skew(100, 10);
    assert_eq!(c.node(0).poll_timeout(), Some(Instant::ZERO + down));
    c.drive_until(Instant::ZERO + down - Duration::from_micros(1));
    assert!(
        c.holders().is_empty(),
        "no master before Master_Down_Interval"
    );
    c.drive_until(Instant::ZERO + down);
    assert_eq!(c.holders(), vec![0]);
    let acquired = c.first_event(0, Instant::ZERO, acquire()).unwrap();
    assert_eq!(acquired, Instant::ZERO + down);
    // The advert and the first gratuitous ARP leave in the same step.
    assert_eq!(c.sent(0, acquired, FrameKind::Advert).len(), 1);
    assert!(!c.sent(0, acquired, FrameKind::Garp).is_empty());
    assert!(c.log.iter().all(|e| e.at <= acquired || e.node == 0));
}

#[test]
fn acquire_event_precedes_the_first_advert_and_garp() {
    let mut c = Cluster::with_priorities(&[100], 10);
    c.drive_for(ms(40));
    let entries = c.entries(0, Instant::ZERO);
    let acquire = entries
        .iter()
        .position(|e| matches!(e.what, Logged::Event(Event::AcquireVip(_))))
        .unwrap();
    let first_frame = entries
        .iter()
        .position(|e| matches!(e.what, Logged::Frame(..)))
        .unwrap();
    assert!(acquire < first_frame);
}

#[test]
fn master_keeps_advertising_every_interval() {
    let mut c = Cluster::with_priorities(&[100], 10);
    c.drive_for(ms(37));
    let start = c.now;
    c.drive_for(ms(100));
    let n = c.sent(0, start, FrameKind::Advert).len();
    // Master since Master_Down_Interval (35.9375 ms): adverts at 45.94,
    // 55.94, ... 135.94 ms fall in (37, 137].
    assert_eq!(n, 10, "adverts in 100 ms at 10 ms");
}

#[test]
fn highest_priority_wins_and_others_follow() {
    let mut c = Cluster::with_priorities(&[100, 200, 150], 10);
    c.drive_for(ms(200));
    assert_eq!(c.holders(), vec![1]);
    for i in [0, 2] {
        assert_eq!(c.node(i).role(), Role::Backup);
        let h = c.node(i).holder().unwrap();
        assert_eq!(h.address, address(1));
        assert_eq!(h.hwaddr, mac(1));
        assert_eq!(h.priority, 200);
    }
    assert_eq!(c.node(1).holder().unwrap().address, address(1));
}

#[test]
fn higher_priority_backup_preempts() {
    let mut c = Cluster::with_priorities(&[100, 50], 10);
    c.drive_for(ms(100));
    assert_eq!(c.holders(), vec![0]);
    let t = c.now;
    c.command(1, Command::SetPriority(200));
    // Node 1 now discards node 0's lower-priority adverts; its down timer
    // (armed by the last accepted advert, with the old skew) runs out.
    let bound = ms(30) + skew(50, 10) + ms(10) + ms(1);
    c.drive_until(t + bound);
    assert_eq!(c.holders(), vec![1]);
    let released = c.first_event(0, t, release()).unwrap();
    let acquired = c.first_event(1, t, acquire()).unwrap();
    assert!(
        released >= acquired,
        "the old master steps down on the new advert"
    );
    assert!(
        released - acquired <= ms(1),
        "one link delay of overlap at most"
    );
}

#[test]
fn higher_priority_backup_does_not_preempt_with_preempt_off() {
    let mut s0 = settings(0, 100, 10);
    let mut s1 = settings(1, 50, 10);
    vrrp_mut(&mut s0).preempt = false;
    vrrp_mut(&mut s1).preempt = false;
    let mut c = Cluster::new(vec![s0, s1]);
    c.drive_for(ms(100));
    assert_eq!(c.holders(), vec![0]);
    c.command(1, Command::SetPriority(200));
    c.drive_for(ms(500));
    assert_eq!(c.holders(), vec![0]);
    assert_eq!(c.node(1).role(), Role::Backup);
}

#[test]
fn preempt_delay_holds_a_higher_backup_back() {
    let s0 = settings(0, 100, 10);
    let mut s1 = settings(1, 50, 10);
    vrrp_mut(&mut s1).preempt_delay = ms(200);
    let mut c = Cluster::new(vec![s0, s1]);
    c.drive_for(ms(100));
    let t = c.now;
    c.command(1, Command::SetPriority(200));
    c.drive_until(t + ms(190));
    assert_eq!(c.holders(), vec![0], "still within the preempt delay");
    c.drive_until(t + ms(230));
    assert_eq!(c.holders(), vec![1]);
}

#[test]
fn priority_zero_hands_over_within_skew_time() {
    let mut c = Cluster::with_priorities(&[200, 100, 50], 10);
    c.drive_for(ms(100));
    assert_eq!(c.holders(), vec![0]);
    let t = c.now;
    c.command(0, Command::Shutdown);
    assert!(c.holders().is_empty());
    // Release precedes the priority-0 advert in node 0's outputs.
    assert_release_precedes_priority_zero(&c, 0, t);
    c.drive_until(t + c.delay + skew(100, 10));
    assert_eq!(
        c.holders(),
        vec![1],
        "the highest backup takes over after its Skew_Time"
    );
    assert_eq!(
        c.first_event(1, t, acquire()),
        Some(t + c.delay + skew(100, 10))
    );
    c.drive_for(ms(100));
    assert_eq!(c.holders(), vec![1]);
}

#[test]
fn a_vip_the_host_could_not_configure_steps_the_holder_aside_for_vip_retry() {
    let mut c = Cluster::with_priorities(&[200, 100], 10);
    c.drive_for(ms(100));
    assert_eq!(c.holders(), vec![0]);
    let t = c.now;
    c.command(0, Command::VipFailed);
    // Like a failed health check: release, then priority 0 for a quick handover.
    assert_release_precedes_priority_zero(&c, 0, t);
    assert_eq!(c.node(0).role(), Role::Fault);
    c.drive_until(t + c.delay + skew(100, 10));
    assert_eq!(c.holders(), vec![1]);
    // Out of the election for VIP_RETRY, then back through Startup: as the
    // higher priority it preempts once its down timer runs out.
    assert_eq!(c.node(0).poll_timeout(), Some(t + VIP_RETRY));
    c.drive_until(t + VIP_RETRY - Duration::from_micros(1));
    assert_eq!(c.node(0).role(), Role::Fault);
    c.drive_until(t + VIP_RETRY);
    assert_eq!(c.node(0).role(), Role::Backup);
    let back = t + VIP_RETRY + ms(30) + skew(200, 10);
    assert_eq!(c.first_event(0, t + VIP_RETRY, acquire()), None);
    c.drive_until(back + c.delay);
    assert_eq!(c.first_event(0, t + VIP_RETRY, acquire()), Some(back));
    assert_eq!(
        c.holders(),
        vec![0],
        "node 1 yields on node 0's first advert"
    );
}

#[test]
fn a_node_shut_down_during_its_vip_retry_stays_down() {
    // Found by the node fuzz target (fuzz/regressions/node/vip-retry-after-shutdown).
    let mut c = Cluster::with_priorities(&[200], 10);
    c.drive_for(ms(100));
    c.command(0, Command::VipFailed);
    c.command(0, Command::Shutdown);
    let t = c.now;
    assert_eq!(c.node(0).poll_timeout(), None, "no timer survives shutdown");
    c.drive_for(VIP_RETRY + ms(500));
    assert_eq!(c.first_event(0, t, acquire()), None);
    assert_eq!(c.node(0).role(), Role::Initialize);
}

#[test]
fn equal_priorities_are_broken_by_the_higher_address() {
    let mut c = Cluster::with_priorities(&[100, 100, 100], 10);
    c.drive_for(ms(200));
    assert_eq!(c.holders(), vec![2], "192.0.2.13 is the highest address");
}

#[test]
fn crash_of_the_master_is_detected_after_master_down_interval() {
    let mut c = Cluster::with_priorities(&[200, 100], 10);
    c.drive_for(ms(100));
    let last_advert = c
        .log
        .iter()
        .rev()
        .find(|e| e.node == 0 && matches!(e.what, Logged::Frame(FrameKind::Advert, _)))
        .unwrap()
        .at;
    c.crash(0);
    c.drive_for(ms(100));
    assert_eq!(c.holders(), vec![1]);
    let acquired = c.first_event(1, last_advert, acquire()).unwrap();
    assert_eq!(acquired, last_advert + c.delay + ms(30) + skew(100, 10));
}

#[test]
fn backup_learns_the_masters_interval() {
    let s0 = settings(0, 200, 10);
    let s1 = settings(1, 100, 1000); // configured 1 s, master says 10 ms
    let mut c = Cluster::new(vec![s0, s1]);
    c.drive_for(ms(4000));
    assert_eq!(c.holders(), vec![0]);
    assert_eq!(
        vrrp(c.node(1)).master_down_interval(),
        ms(30) + skew(100, 10)
    );
}

#[test]
fn link_down_releases_at_once_and_link_up_rejoins_as_backup() {
    let mut c = Cluster::with_priorities(&[200, 100], 10);
    c.drive_for(ms(100));
    let t = c.now;
    c.cut[0] = true;
    c.command(0, Command::LinkDown);
    assert_eq!(c.node(0).role(), Role::Fault);
    assert_eq!(c.first_event(0, t, release()), Some(t));
    assert!(
        c.sent(0, t, FrameKind::Advert).is_empty(),
        "no advert on a dead link"
    );
    c.drive_for(ms(60));
    assert_eq!(c.holders(), vec![1]);
    c.drive_for(ms(100));
    assert_eq!(
        c.node(0).role(),
        Role::Fault,
        "Fault has no timer to leave by"
    );
    c.cut[0] = false;
    c.command(0, Command::LinkUp);
    assert_eq!(c.node(0).role(), Role::Backup);
    c.drive_for(ms(100));
    assert_eq!(c.holders(), vec![0], "priority 200 preempts again");
}

#[test]
fn health_down_releases_with_priority_zero() {
    let mut c = Cluster::with_priorities(&[200, 100], 10);
    c.drive_for(ms(100));
    let t = c.now;
    c.command(0, Command::HealthDown);
    assert_eq!(c.node(0).role(), Role::Fault);
    let sent = c.sent(0, t, FrameKind::Advert);
    assert_eq!(advert_of(&sent[0]).vrrp.priority, 0);
    c.drive_until(t + c.delay + skew(100, 10));
    assert_eq!(c.holders(), vec![1]);
    c.command(0, Command::HealthUp);
    c.drive_for(ms(100));
    assert_eq!(c.holders(), vec![0]);
}

#[test]
fn priority_255_starts_as_master_at_once() {
    let c = Cluster::with_priorities(&[255, 100], 10);
    assert_eq!(c.holders(), vec![0]);
}

/// A valid advert frame from node 0 of a two-node cluster, for mutation.
fn master_advert() -> Vec<u8> {
    let mut c = Cluster::with_priorities(&[200], 10);
    c.drive_for(ms(40));
    c.sent(0, Instant::ZERO, FrameKind::Advert).remove(0)
}

fn expect_drop(frame: &[u8], reason: DropReason) {
    let mut c = Cluster::with_priorities(&[200, 100], 10);
    c.crash(0);
    let t = c.now;
    let deadline = c.node(1).poll_timeout();
    c.inject(frame);
    let dropped: Vec<_> = c
        .entries(1, t)
        .iter()
        .filter_map(|e| match e.what {
            Logged::Event(Event::FrameDropped(r)) => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(dropped, vec![reason]);
    assert_eq!(c.node(1).counters().dropped(reason), 1);
    assert_eq!(
        c.node(1).poll_timeout(),
        deadline,
        "a dropped frame moves no timer"
    );
    assert!(c.node(1).holder().is_none());
}

fn reseal_ipv4(frame: &mut [u8]) {
    let mut ip = smoltcp_ipv4(&mut frame[ETHERNET_HEADER_LEN..]);
    ip.fill_checksum();
}

fn smoltcp_ipv4(b: &mut [u8]) -> smoltcp::wire::Ipv4Packet<&mut [u8]> {
    smoltcp::wire::Ipv4Packet::new_unchecked(b)
}

#[test]
fn bad_adverts_are_dropped_and_counted() {
    let good = master_advert();
    // A sanity check that the good one is accepted.
    {
        let mut c = Cluster::with_priorities(&[200, 100], 10);
        c.crash(0);
        let t = c.now;
        c.inject(&good);
        assert_eq!(c.node(1).holder().unwrap().address, address(0));
        let heard = Event::PeerHeard(Peer {
            address: address(0),
            hwaddr: mac(0),
            priority: 200,
            term: None,
        });
        assert_eq!(c.first_event(1, t, heard), Some(t));
        assert_eq!(c.node(1).counters().adverts_in, 1);
    }
    let vrrp_at = ETHERNET_HEADER_LEN + 20;

    let mut ttl = good.clone();
    smoltcp_ipv4(&mut ttl[ETHERNET_HEADER_LEN..]).set_hop_limit(64);
    reseal_ipv4(&mut ttl);
    expect_drop(&ttl, DropReason::Ttl);

    let mut vrid = good.clone();
    vrid[vrrp_at + 1] = 52;
    vrid[vrrp_at + 6] = 0; // checksum now wrong too: VRID is checked after it, so fix it
    vrid[vrrp_at + 7] = 0;
    fix_vrrp_checksum(&mut vrid);
    expect_drop(&vrid, DropReason::Vrid);

    let mut sum = good.clone();
    sum[vrrp_at + 7] ^= 0xff;
    expect_drop(&sum, DropReason::Checksum);

    let mut version = good.clone();
    version[vrrp_at] = 0x21;
    fix_vrrp_checksum(&mut version);
    expect_drop(&version, DropReason::Unsupported);

    expect_drop(&good[..vrrp_at + 6], DropReason::Ipv4Header);
    expect_drop(&good[..10], DropReason::Truncated);

    let mut header = good.clone();
    header[ETHERNET_HEADER_LEN + 10] ^= 0x55; // IPv4 header checksum
    expect_drop(&header, DropReason::Ipv4Header);

    let mut other_vip = good.clone();
    other_vip[vrrp_at + 11] = 99;
    fix_vrrp_checksum(&mut other_vip);
    expect_drop(&other_vip, DropReason::AddressList);

    // ... unless the address owner sent it (RFC 9568 §7.1).
    let mut owner = other_vip.clone();
    owner[vrrp_at + 2] = 255;
    fix_vrrp_checksum(&mut owner);
    let mut c = Cluster::with_priorities(&[200, 100], 10);
    c.crash(0);
    c.inject(&owner);
    assert_eq!(c.node(1).counters().dropped_total(), 0);
    assert_eq!(c.node(1).holder().unwrap().priority, 255);
}

fn fix_vrrp_checksum(frame: &mut [u8]) {
    use vip_core::wire::vrrp::{Packet, MULTICAST_GROUP};
    let at = ETHERNET_HEADER_LEN + 20;
    let mut p = Packet::new_unchecked(&mut frame[at..at + 12]);
    p.fill_checksum(ChecksumKind::PseudoHeader, address(0), MULTICAST_GROUP);
}

#[test]
fn the_keepalived_capture_is_followed_and_its_checksum_form_adopted() {
    let frame = include_bytes!("fixtures/keepalived-2.2-vrrpv3-advert.bin");
    let advert = advert_of(frame);
    assert_eq!(advert.src, address(0));
    assert_eq!(advert.checksum, ChecksumKind::PseudoHeader);
    assert_eq!(advert.vrrp.vrid, 51);
    assert_eq!(advert.vrrp.priority, 200);
    assert_eq!(advert.vrrp.max_advert_interval, 100);
    assert_eq!(advert.vrrp.addresses.as_slice(), [VIP]);

    let mut s = settings(1, 100, 1000);
    vrrp_mut(&mut s).checksum = vip_core::ChecksumMode::Rfc9568;
    let mut auto = settings(2, 100, 1000);
    vrrp_mut(&mut auto).checksum = vip_core::ChecksumMode::Auto;
    let mut c = Cluster::new(vec![settings(0, 1, 1000), s, auto]);
    c.crash(0);
    c.inject(frame);
    let h = c.node(1).holder().unwrap();
    assert_eq!(h.address, address(0));
    assert_eq!(h.hwaddr.0, frame[6..12]);
    assert_eq!(
        vrrp(c.node(2)).checksum_to_send(),
        ChecksumKind::PseudoHeader
    );
    assert_eq!(vrrp(c.node(1)).checksum_to_send(), ChecksumKind::Rfc9568);
}

#[test]
fn auto_checksum_follows_an_rfc9568_peer() {
    let mut s0 = settings(0, 200, 10);
    vrrp_mut(&mut s0).checksum = vip_core::ChecksumMode::Rfc9568;
    let s1 = settings(1, 100, 10);
    let mut c = Cluster::new(vec![s0, s1]);
    assert_eq!(
        vrrp(c.node(1)).checksum_to_send(),
        ChecksumKind::PseudoHeader
    );
    c.drive_for(ms(100));
    assert_eq!(vrrp(c.node(1)).checksum_to_send(), ChecksumKind::Rfc9568);
}

#[test]
fn partitioned_masters_converge_on_heal() {
    let mut c = Cluster::with_priorities(&[200, 100, 50], 10);
    c.drive_for(ms(100));
    c.cut[0] = true;
    c.drive_for(ms(100));
    // Both sides of the partition have a master: the known VRRP limit.
    assert_eq!(c.node(0).role(), Role::Holder);
    assert_eq!(c.node(1).role(), Role::Holder);
    let t = c.now;
    c.cut[0] = false;
    c.drive_for(ms(25));
    assert_eq!(
        c.holders(),
        vec![0],
        "converged within one interval and a round trip"
    );
    assert!(c.first_event(1, t, release()).is_some());
}

#[test]
fn a_node_started_without_carrier_or_health_never_claims_the_vip() {
    use vip_core::{Conditions, Config, FrameBuf, Node, Output};
    for conditions in [
        Conditions {
            link_up: false,
            ..Conditions::default()
        },
        Conditions {
            healthy: false,
            ..Conditions::default()
        },
    ] {
        let config = Config::new(settings(0, 255, 10)).unwrap();
        let mut node = Node::starting(config, 0, Instant::ZERO, conditions);
        let mut buf: FrameBuf = [0; vip_core::wire::MAX_FRAME_LEN];
        let mut outputs = Vec::new();
        while let Some(o) = node.poll_output(&mut buf) {
            outputs.push(o);
        }
        assert_eq!(
            outputs,
            vec![Output::Event(Event::RoleChanged {
                from: Role::Initialize,
                to: Role::Fault
            })],
            "priority 255 must not even briefly hold on a dead link"
        );
        assert_eq!(node.poll_timeout(), None);
        let up = if conditions.link_up {
            Command::HealthUp
        } else {
            Command::LinkUp
        };
        node.command(Instant::ZERO, up);
        assert!(
            node.is_holder(),
            "owner starts as master once conditions hold"
        );
    }
}
