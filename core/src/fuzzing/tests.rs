//! The fuzz bodies over seeds, regressions and proptest input, and the
//! bad-input table of docs/testing.md.
extern crate std;

use std::path::PathBuf;
use std::vec::Vec;
use std::{format, fs, vec};

use proptest::prelude::*;

use super::harness::peer_arp;
use super::*;
use crate::node::{Command, DropReason, FrameKind, Node, Output, Role};
use crate::time::{Duration, Instant};
use crate::wire::{ETHERNET_HEADER_LEN, MAX_FRAME_LEN};

/// The RFC 9568-form message of `wire::vrrp`'s fixture (VRID 51, priority 200).
const RFC9568_MESSAGE: [u8; 12] = [
    0x31, 0x33, 0xc8, 0x01, 0x00, 0x64, 0x44, 0x02, 0xc0, 0x00, 0x02, 0x64,
];
/// keepalived 2.2.7's advert, one whole frame (core/tests/fixtures).
const KEEPALIVED: &[u8] = include_bytes!("../../tests/fixtures/keepalived-2.2-vrrpv3-advert.bin");

fn fuzz_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// A whole advert frame as the core emits it: node priority 255 starts as master.
fn emitted_advert() -> Vec<u8> {
    let mut node = Node::new(node_config([255, 0, 99, 0]), 1, Instant::ZERO);
    let mut buf = [0u8; MAX_FRAME_LEN];
    while let Some(out) = node.poll_output(&mut buf) {
        if let Output::Transmit {
            len,
            kind: FrameKind::Advert,
        } = out
        {
            return buf[..len].to_vec();
        }
    }
    panic!("an owner sends an advert at startup");
}

fn arp_request_for_vip() -> Vec<u8> {
    let mut buf = [0u8; 64];
    let len = peer_arp(&mut buf, 0, 50, NODE_MAC);
    buf[..len].to_vec()
}

fn ops(config: [u8; 4], ops: &[Op<'_>]) -> Vec<u8> {
    let mut out = config.to_vec();
    let mut buf = [0u8; 4096];
    for op in ops {
        let n = op.encode(&mut buf).unwrap();
        out.extend_from_slice(&buf[..n]);
    }
    out
}

/// The seed corpus, by target and file name; `fuzz/seeds/` holds these bytes.
/// An ack from member 1 for member 0's renewal 7 (the wire test's fixture).
const QUORUM_ACK: [u8; 72] = [
    0x01, 0x02, 0x01, 0x01, 0x64, 0x00, 0x00, 0x00, 0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8,
    0, 0, 0, 0, 0, 0, 0xbe, 0xef, 0, 0, 0, 0, 0, 0, 0, 0x2a, 0, 0, 0, 0, 0, 0, 0x03, 0x00, 0x01,
    0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0, 0, 0, 0, 0, 0, 0, 0x07, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0,
];

/// A `quorum_node` run: priority 150; it starts, is challenged and
/// answers, hears renewals from n0, a vote request from n2, then is asked
/// to move and to shut down.
fn quorum_run() -> Vec<u8> {
    let mut b = vec![150, 0, 0, 0, 0, 0, 0, 0, 0, 7];
    let term = 0x0000_0000_0000_0100u64.to_be_bytes();
    // frame: kind, sender, flags, priority, subject, shape, term, echo_seq
    let frame =
        |b: &mut Vec<u8>, kind: u8, sender: u8, flags: u8, prio: u8, subject: u8, echo: u64| {
            b.extend_from_slice(&[0, kind, sender, flags, prio, subject, 0]);
            b.extend_from_slice(&term);
            b.extend_from_slice(&echo.to_be_bytes());
        };
    b.extend_from_slice(&[3, 10]); // wait 200 ms
    frame(&mut b, 1, 0, 3, 200, 0, 0); // renew from n0
    b.extend_from_slice(&[1, 0]); // answer the challenge for n0's epoch
    for _ in 0..5 {
        frame(&mut b, 1, 0, 3, 200, 0, 0);
        b.extend_from_slice(&[2, 40]); // wait 10 ms
    }
    b.extend_from_slice(&[3, 5]); // n0 goes quiet for 100 ms
    frame(&mut b, 3, 2, 1, 100, 2, 0); // a vote request from n2
    b.extend_from_slice(&[1, 0, 2, 200, 4, 4, 0, 3, 10, 4, 8, 0, 5]);
    b
}

/// dnsmasq 2.90's answers (core/tests/fixtures), as IPv4 packets.
fn dnsmasq_packets() -> [(&'static str, Vec<u8>); 3] {
    let ip = |frame: &[u8]| frame[ETHERNET_HEADER_LEN..].to_vec();
    [
        (
            "dnsmasq-offer",
            ip(include_bytes!(
                "../../tests/fixtures/dnsmasq-2.90-dhcp-offer.bin"
            )),
        ),
        (
            "dnsmasq-nak",
            ip(include_bytes!(
                "../../tests/fixtures/dnsmasq-2.90-dhcp-nak.bin"
            )),
        ),
        (
            "dnsmasq-renew-ack",
            ip(include_bytes!(
                "../../tests/fixtures/dnsmasq-2.90-dhcp-renew-ack.bin"
            )),
        ),
    ]
}

/// A DHCP-mode holder's run: offer and ACK for the mapped address, a
/// renewal's worth of time, a NAK, carrier lost and back, an offer that
/// breaks the subnet rule.
fn dhcp_run() -> Vec<u8> {
    let answer = |kind: u8, flags: u8, last: u8| [0, kind, flags, last, 120, 60, 105, 0, 0];
    let mut b = Vec::new();
    b.extend_from_slice(&answer(0, 0, 100));
    b.extend_from_slice(&answer(1, 0, 100));
    b.extend_from_slice(&[2, 255, 3]);
    b.extend_from_slice(&answer(1, 0x80, 100));
    b.extend_from_slice(&answer(2, 0, 0));
    b.extend_from_slice(&[5, 0, 5, 1, 3]);
    b.extend_from_slice(&answer(0, 4, 7));
    b.extend_from_slice(&[2, 100]);
    b
}

/// An `etcd_node` run: priority 100, TTL 2 s; its keep-alive answered, it
/// is named leader and holds, time passes with answers, an order moves the
/// VIP to n2, the lease is lost, and time runs on unanswered.
fn etcd_run() -> Vec<u8> {
    let mut b = vec![100, 0, 0, 0, 0, 0, 0, 0, 0, 3];
    // answer the newest keep-alive; n1 (me) leads at term 5; hold 1 s.
    b.extend_from_slice(&[9, 2, 0x42, 5, 5, 250, 9]);
    // an order to n2 from n1 at revision 9; n2 leads; the resignation is
    // done at 10; the order is cleared.
    b.extend_from_slice(&[4, 2, 1, 9, 2, 2, 40, 8, 10, 4, 0xff, 0, 0]);
    // the lease is lost; two seconds unanswered; a move command; shut down.
    b.extend_from_slice(&[1, 6, 20, 7, 5, 0, 7, 8, 0]);
    b
}

fn seeds() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let advert = emitted_advert();
    let arp = arp_request_for_vip();
    let keepalived_ip = KEEPALIVED[ETHERNET_HEADER_LEN..].to_vec();
    let peer = |flags, priority| Op::Advert {
        flags,
        priority,
        interval: 100,
        peer: 13,
    };
    let wait = Op::WaitLong { tenths: 40 };
    let mut all = vec![
        ("vrrp_message", "rfc9568-message", RFC9568_MESSAGE.to_vec()),
        (
            "vrrp_message",
            "keepalived-message",
            keepalived_ip[20..].to_vec(),
        ),
        ("advert_ipv4", "keepalived-advert", keepalived_ip),
        (
            "advert_ipv4",
            "emitted-advert",
            advert[ETHERNET_HEADER_LEN..].to_vec(),
        ),
        ("ethernet_arp", "arp-request-for-vip", arp.clone()),
        ("quorum_message", "ack", QUORUM_ACK.to_vec()),
        ("quorum_node", "renewals-vote-move", quorum_run()),
        ("etcd_node", "lead-hold-move-lapse", etcd_run()),
        ("dhcp_node", "lease-renew-nak-refuse", dhcp_run()),
        ("ethernet_arp", "keepalived-frame", KEEPALIVED.to_vec()),
        (
            "node",
            "keepalived-frame",
            ops([0; 4], &[Op::Frame(KEEPALIVED), wait]),
        ),
        (
            "node",
            "backup-then-master",
            ops(
                [100, 0, 99, 0],
                &[peer(0, 200), wait, Op::Arp { flags: 0, peer: 50 }, Op::Echo],
            ),
        ),
        (
            "node",
            "master-preempted-then-link",
            ops(
                [255, 0x86, 9, 0x0b],
                &[
                    Op::Arp { flags: 0, peer: 50 },
                    peer(2, 255),
                    peer(0, 0),
                    Op::NextDeadline,
                    Op::Command { which: 2, value: 0 },
                    Op::Command { which: 3, value: 0 },
                    Op::Repeat { count: 3 },
                    wait,
                ],
            ),
        ),
        (
            "node",
            "emitted-advert-and-shutdown",
            ops(
                [200, 0, 99, 0],
                &[
                    Op::FixedFrame(&advert),
                    wait,
                    Op::Command {
                        which: 1,
                        value: 50,
                    },
                    Op::Command { which: 0, value: 0 },
                    Op::Frame(&arp),
                ],
            ),
        ),
    ];
    for (name, packet) in dnsmasq_packets() {
        all.push(("dhcp_ipv4", name, packet));
    }
    all
}

/// `VIPD_WRITE_SEEDS=1 cargo test -p vip-core seed_files` rewrites
/// `fuzz/seeds/`; otherwise the files must hold exactly these bytes.
#[test]
fn seed_files_match_the_fixtures() {
    let write = std::env::var_os("VIPD_WRITE_SEEDS").is_some();
    for (target, name, bytes) in seeds() {
        let path = fuzz_dir().join("seeds").join(target).join(name);
        if write {
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(&path, &bytes).unwrap();
        }
        let on_disk = fs::read(&path).unwrap_or_default();
        assert_eq!(
            on_disk,
            bytes,
            "{} is stale: VIPD_WRITE_SEEDS=1",
            path.display()
        );
    }
}

/// Every body over its seeds and its saved regressions (crashers once).
#[test]
fn every_target_passes_its_seeds_and_regressions() {
    for (target, body) in TARGETS {
        let mut ran = 0;
        for dir in ["seeds", "regressions"] {
            let Ok(entries) = fs::read_dir(fuzz_dir().join(dir).join(target)) else {
                continue;
            };
            for entry in entries {
                let path = entry.unwrap().path();
                let bytes = fs::read(&path).unwrap();
                let result = std::panic::catch_unwind(|| body(&bytes));
                assert!(result.is_ok(), "{target} panics on {}", path.display());
                ran += 1;
            }
        }
        assert!(ran > 0, "{target} has no seeds");
    }
    for (target, _, bytes) in seeds() {
        let body = TARGETS.iter().find(|(t, _)| *t == target).unwrap().1;
        body(&bytes);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn wire_targets_survive_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
        vrrp_message(&bytes);
        advert_ipv4(&bytes);
        ethernet_arp(&bytes);
        quorum_message(&bytes);
    }

    #[test]
    fn quorum_node_survives_any_run(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        quorum_node(&bytes);
    }

    #[test]
    fn quorum_node_survives_mutated_runs(at in 0usize..200, xor in 1u8..) {
        let mut run = quorum_run();
        let at = at % run.len();
        run[at] ^= xor;
        quorum_node(&run);
    }

    #[test]
    fn quorum_message_survives_mutated_fixtures(at in 0usize..72, xor in 1u8.., cut in 0usize..8) {
        let mut m = QUORUM_ACK.to_vec();
        m[at] ^= xor;
        m.truncate(m.len() - cut);
        quorum_message(&m);
    }

    #[test]
    fn wire_targets_survive_mutated_fixtures(
        at in 0usize..64,
        xor in 1u8..,
        cut in 0usize..64,
    ) {
        let mut frame = KEEPALIVED.to_vec();
        let at = at % frame.len();
        frame[at] ^= xor;
        frame.truncate(frame.len() - cut.min(frame.len()));
        ethernet_arp(&frame);
        let ip = frame.get(ETHERNET_HEADER_LEN..).unwrap_or_default();
        advert_ipv4(ip);
        vrrp_message(ip.get(20..).unwrap_or_default());
    }

    #[test]
    fn dhcp_targets_survive_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        dhcp_ipv4(&bytes);
        dhcp_node(&bytes);
    }

    #[test]
    fn dhcp_targets_survive_mutated_fixtures(which in 0usize..3, at in 0usize..400, xor in 1u8.., cut in 0usize..400) {
        let (_, mut packet) = dnsmasq_packets()[which].clone();
        let at = at % packet.len();
        packet[at] ^= xor;
        packet.truncate(packet.len() - cut.min(packet.len()));
        dhcp_ipv4(&packet);
        let mut run = dhcp_run();
        let at = at % run.len();
        run[at] ^= xor;
        dhcp_node(&run);
    }

    #[test]
    fn node_survives_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        node(&bytes);
    }

    #[test]
    fn node_survives_structured_runs(
        config in any::<[u8; 4]>(),
        steps in proptest::collection::vec((0u8..Op::COUNT, any::<[u8; 4]>()), 0..48),
    ) {
        let mut bytes = config.to_vec();
        for (code, operands) in steps {
            // Frame opcodes get a small length so the run goes on.
            bytes.push(code);
            if code <= 1 {
                bytes.extend_from_slice(&[operands[0] % 64, 0]);
            }
            bytes.extend_from_slice(&operands);
        }
        node(&bytes);
    }
}

#[test]
fn ordinary_builds_check_ipv4_header_checksums() {
    assert!(smoltcp_checks_ipv4_checksums());
}

#[test]
fn ops_encode_and_decode_alike() {
    let all = [
        Op::Frame(&[1, 2, 3]),
        Op::FixedFrame(&[]),
        Op::Advert {
            flags: 1,
            priority: 2,
            interval: 3,
            peer: 4,
        },
        Op::Arp { flags: 5, peer: 6 },
        Op::Echo,
        Op::Repeat { count: 7 },
        Op::Wait { millis: 8 },
        Op::WaitLong { tenths: 9 },
        Op::NextDeadline,
        Op::EarlyTimeout,
        Op::Command {
            which: 10,
            value: 11,
        },
    ];
    assert_eq!(all.len(), usize::from(Op::COUNT));
    let encoded = ops([0; 4], &all);
    let mut rest = &encoded[4..];
    for op in all {
        assert_eq!(Op::decode(&mut rest), Some(op));
    }
    assert_eq!(Op::decode(&mut rest), None);
}

// ---- the bad-input table (docs/testing.md) ----

fn backup() -> Harness {
    Harness::new(node_config([100, 0, 99, 0]))
}

fn master() -> Harness {
    let h = Harness::new(node_config([255, 0, 99, 0]));
    assert!(h.node().is_holder());
    h
}

fn dropped(h: &Harness, reason: DropReason) -> u64 {
    h.node().counters().dropped(reason)
}

fn keepalived_with(f: impl FnOnce(&mut [u8])) -> Vec<u8> {
    let mut frame = KEEPALIVED.to_vec();
    f(&mut frame);
    frame
}

#[test]
fn truncated_frames_are_dropped() {
    let mut h = backup();
    for len in 0..KEEPALIVED.len() {
        h.frame(&KEEPALIVED[..len]);
    }
    // Below 14 bytes: no Ethernet header; then a cut IPv4 header or message.
    assert_eq!(dropped(&h, DropReason::Truncated), 14);
    assert!(dropped(&h, DropReason::Ipv4Header) > 0);
    assert_eq!(h.node().counters().adverts_in, 0);
    assert_eq!(h.node().role(), Role::Backup);
}

#[test]
fn malformed_arp_is_dropped() {
    let mut h = master();
    let good = arp_request_for_vip();
    let sent = h.node().counters().sent(FrameKind::ArpReply);
    for (at, value) in [(15, 0x06), (16, 0x86), (18, 8), (19, 16)] {
        let mut frame = good.clone();
        frame[at] = value; // hardware type, protocol type, lengths
        h.frame(&frame);
    }
    h.frame(&good[..14 + 7]);
    assert_eq!(dropped(&h, DropReason::Arp), 5);
    assert_eq!(h.node().counters().sent(FrameKind::ArpReply), sent);
    h.frame(&good);
    assert_eq!(h.node().counters().sent(FrameKind::ArpReply), sent + 1);
}

#[test]
fn adverts_with_a_wrong_ttl_are_dropped() {
    let mut h = backup();
    h.apply(Op::Advert {
        flags: 8,
        priority: 200,
        interval: 100,
        peer: 13,
    });
    assert_eq!(dropped(&h, DropReason::Ttl), 1);
    assert_eq!(h.node().holder(), None);
}

#[test]
fn adverts_with_a_bad_checksum_are_dropped() {
    let mut h = backup();
    h.apply(Op::Advert {
        flags: 16,
        priority: 200,
        interval: 100,
        peer: 13,
    });
    h.frame(&keepalived_with(|f| f[40] ^= 1));
    assert_eq!(dropped(&h, DropReason::Checksum), 2);
    h.frame(KEEPALIVED);
    assert_eq!(h.node().counters().adverts_in, 1);
}

#[test]
fn adverts_for_another_vrid_are_dropped() {
    let mut h = backup();
    h.apply(Op::Advert {
        flags: 1,
        priority: 200,
        interval: 100,
        peer: 13,
    });
    assert_eq!(dropped(&h, DropReason::Vrid), 1);
    assert_eq!(h.node().holder(), None);
}

#[test]
fn other_versions_and_types_are_dropped() {
    let mut h = backup();
    for first in [0x21, 0x32] {
        let mut frame = KEEPALIVED.to_vec();
        frame[34] = first;
        // Checksums fixed in the pseudo-header form (frame[0] is odd).
        h.apply(Op::FixedFrame(&frame));
    }
    assert_eq!(dropped(&h, DropReason::Unsupported), 2);
}

/// An advert whose count says `count` and which carries `carried` addresses.
fn advert_listing(count: u8, carried: usize) -> Vec<u8> {
    let mut frame = KEEPALIVED[..42].to_vec();
    for i in 0..carried {
        frame.extend_from_slice(&[192, 0, 2, 100 + i as u8]);
    }
    frame[37] = count;
    let total = (frame.len() - ETHERNET_HEADER_LEN) as u16;
    frame[16..18].copy_from_slice(&total.to_be_bytes());
    fix_ipv4_checksums(
        &mut frame[ETHERNET_HEADER_LEN..],
        ChecksumKind::PseudoHeader,
    );
    frame
}

#[test]
fn too_many_addresses_are_dropped() {
    let mut h = backup();
    h.frame(&advert_listing(17, 17));
    assert_eq!(dropped(&h, DropReason::AddressList), 1);
    h.frame(&advert_listing(16, 16));
    assert_eq!(h.node().counters().adverts_in, 1);
}

#[test]
fn overcounted_address_lists_are_dropped() {
    let mut h = backup();
    h.frame(&advert_listing(3, 1));
    h.frame(&advert_listing(255, 1));
    assert_eq!(dropped(&h, DropReason::Truncated), 2);
    assert_eq!(h.node().counters().adverts_in, 0);
}

#[test]
fn oversized_frames_are_handled_by_their_headers() {
    let mut h = backup();
    let mut jumbo = KEEPALIVED.to_vec();
    jumbo.resize(9000, 0xee);
    h.frame(&jumbo); // trailing bytes past the IPv4 total length are ignored
    assert_eq!(h.node().counters().adverts_in, 1);
    let mut huge = vec![0xffu8; 70_000];
    huge[12..14].copy_from_slice(&[0x08, 0x06]);
    h.frame(&huge);
    assert_eq!(dropped(&h, DropReason::Arp), 1);
}

#[test]
fn frames_not_for_us_are_ignored() {
    let mut h = backup();
    let mut udp = KEEPALIVED.to_vec();
    udp[23] = 17;
    h.frame(&udp);
    udp[12..14].copy_from_slice(&[0x86, 0xdd]);
    h.frame(&udp);
    assert_eq!(h.node().counters().ignored, 2);
    assert_eq!(h.node().counters().dropped_total(), 0);
}

#[test]
fn a_flood_of_adverts_only_moves_counters() {
    let mut h = backup();
    h.frame(KEEPALIVED);
    let holder = h.node().holder();
    h.apply(Op::Repeat { count: 255 });
    let bad = keepalived_with(|f| f[40] ^= 1);
    for _ in 0..1000 {
        h.frame(&bad);
    }
    let c = h.node().counters();
    assert_eq!(c.adverts_in, 256);
    assert_eq!(c.dropped(DropReason::Checksum), 1000);
    assert_eq!(c.frames_in, 1256);
    assert_eq!(h.node().holder(), holder);
    // Fixed size whatever came in: the node owns no heap.
    assert!(core::mem::size_of::<Node>() <= crate::node::NODE_BUDGET);
}

#[test]
fn the_node_never_holds_while_the_link_is_down() {
    let mut h = master();
    h.command(Command::LinkDown);
    h.wait(Duration::from_secs(10));
    h.apply(Op::Arp { flags: 0, peer: 50 });
    h.command(Command::SetPriority(255));
    assert!(!h.node().is_holder());
    h.command(Command::LinkUp);
    assert!(h.node().is_holder());
    let _ = format!("{h:?}");
}
