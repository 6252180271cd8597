//! The packet core's per-frame cost, one benchmark per configuration.
//!
//! `cargo bench -p benches --bench core`. Each iteration hands one frame to a
//! node and drains every output, as the daemon does. Targets (median, on the
//! project's 2-core machine): a frame not for us 30 ns, an advert to a backup
//! 150 ns, an ARP request answered by the master 250 ns (docs/testing.md).

use std::hint::black_box;
use std::net::Ipv4Addr;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use vip_core::wire::vrrp::{Advert, ChecksumKind, Repr, MULTICAST_MAC};
use vip_core::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
    EthernetRepr, ETHERNET_HEADER_LEN, MAX_FRAME_LEN,
};
use vip_core::{
    AnnounceConfig, ClusterSettings, Config, Duration, ElectionSettings, FrameBuf, HostFacts,
    Instant, Members, Name, Node, NodeSettings, Output, VrrpSettings,
};

const NODE_ADDRESS: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 11);
const PEER_ADDRESS: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 12);
const CLIENT_ADDRESS: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 50);
const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 100);
const NODE_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x0b]);
const PEER_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x0c]);
const CLIENT_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x32]);
const VRID: u8 = 51;

/// A node at `priority` (255 holds the VIP from the start), outputs drained.
fn node(priority: u8) -> Node {
    let name = |n| Name::new(n).expect("a short name");
    let settings = NodeSettings {
        host: HostFacts {
            name: name("bench"),
            mac: NODE_MAC,
            address: NODE_ADDRESS,
            prefix_len: 24,
        },
        cluster: ClusterSettings {
            cluster: name("bench"),
            vip: VIP.into(),
            members: Members::new(),
            announce: AnnounceConfig::default(),
            election: ElectionSettings::Vrrp(VrrpSettings {
                vrid: VRID,
                priority,
                ..VrrpSettings::default()
            }),
        },
    };
    let mut node = Node::new(Config::new(settings).expect("valid"), 1, Instant::ZERO);
    drain(&mut node, &mut [0; MAX_FRAME_LEN]);
    node
}

/// Polls every output; returns how many there were.
fn drain(node: &mut Node, buf: &mut FrameBuf) -> usize {
    let mut n = 0;
    while let Some(out) = node.poll_output(buf) {
        black_box(&out);
        if let Output::Transmit { len, .. } = out {
            black_box(&buf[..len]);
        }
        n += 1;
    }
    n
}

fn ethernet(buf: &mut [u8], src: EthernetAddress, dst: EthernetAddress, ty: EthernetProtocol) {
    EthernetRepr {
        src_addr: src,
        dst_addr: dst,
        ethertype: ty,
    }
    .emit(&mut EthernetFrame::new_unchecked(buf));
}

/// The master's advert (priority 200, RFC 9568 checksum), padded to 60 bytes.
fn advert_frame() -> Vec<u8> {
    let mut frame = vec![0u8; 60];
    ethernet(
        &mut frame,
        PEER_MAC,
        EthernetAddress(MULTICAST_MAC),
        EthernetProtocol::Ipv4,
    );
    Advert {
        src: PEER_ADDRESS,
        checksum: ChecksumKind::Rfc9568,
        vrrp: Repr {
            vrid: VRID,
            priority: 200,
            max_advert_interval: 100,
            addresses: std::iter::once(VIP).collect(),
        },
    }
    .emit(&mut frame[ETHERNET_HEADER_LEN..]);
    frame
}

/// An ARP request from a client for `target`, padded to 60 bytes.
fn arp_request(target: Ipv4Addr) -> Vec<u8> {
    let mut frame = vec![0u8; 60];
    ethernet(
        &mut frame,
        CLIENT_MAC,
        EthernetAddress::BROADCAST,
        EthernetProtocol::Arp,
    );
    ArpRepr::EthernetIpv4 {
        operation: ArpOperation::Request,
        source_hardware_addr: CLIENT_MAC,
        source_protocol_addr: CLIENT_ADDRESS,
        target_hardware_addr: EthernetAddress([0; 6]),
        target_protocol_addr: target,
    }
    .emit(&mut ArpPacket::new_unchecked(
        &mut frame[ETHERNET_HEADER_LEN..],
    ));
    frame
}

/// A UDP datagram between two other hosts (an IPv4 frame, not VRRP).
fn udp_frame() -> Vec<u8> {
    let mut frame = advert_frame();
    frame[ETHERNET_HEADER_LEN + 9] = 17; // IP protocol UDP
    frame
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("core");
    group.throughput(Throughput::Elements(1));
    let mut buf = [0u8; MAX_FRAME_LEN];

    // (a) Traffic the core only has to recognise as not its own.
    for (name, frame) in [
        ("frame_not_ours/ipv4_udp_to_backup", udp_frame()),
        (
            "frame_not_ours/arp_for_other_ip_to_backup",
            arp_request(Ipv4Addr::new(192, 0, 2, 1)),
        ),
    ] {
        let mut backup = node(100);
        let now = Instant::from_millis(10);
        group.bench_function(name, |b| {
            b.iter(|| {
                backup.handle_frame(now, black_box(&frame));
                drain(&mut backup, &mut buf)
            })
        });
        assert_eq!(backup.role(), vip_core::Role::Backup);
    }

    // (b) The steady state of a backup: one advert per interval from the master.
    let advert = advert_frame();
    let mut backup = node(100);
    let mut now = Instant::ZERO;
    group.bench_function("advert_to_backup", |b| {
        b.iter(|| {
            now += Duration::from_secs(1);
            backup.handle_frame(now, black_box(&advert));
            drain(&mut backup, &mut buf)
        })
    });
    assert!(backup.counters().adverts_in > 0 && !backup.is_holder());

    // (c) The master answers a client's ARP request for the VIP.
    let request = arp_request(VIP);
    let mut master = node(255);
    let now = Instant::from_millis(10);
    group.bench_function("arp_request_answered_by_master", |b| {
        b.iter(|| {
            master.handle_frame(now, black_box(&request));
            drain(&mut master, &mut buf)
        })
    });
    assert!(master.counters().sent(vip_core::FrameKind::ArpReply) > 0);
    group.finish();

    // The baseline, measured in the same run: an independent decoder only
    // slicing the same frames (no validation of VRRP, no state, no output).
    // The core's figures above are quoted as ratios to these.
    let mut baseline = c.benchmark_group("baseline");
    baseline.throughput(Throughput::Elements(1));
    for (name, frame) in [
        ("etherparse_slice/advert", advert.clone()),
        ("etherparse_slice/arp_request", request.clone()),
        ("etherparse_slice/ipv4_udp", udp_frame()),
    ] {
        baseline.bench_function(name, |b| {
            b.iter(|| {
                etherparse::SlicedPacket::from_ethernet(black_box(&frame))
                    .map(|p| p.net.is_some())
                    .unwrap_or(false)
            })
        });
    }
    baseline.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
