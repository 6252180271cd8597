//! Junk frames and a paced sender for the frame-flood test.
//!
//! The frames are built here by hand (byte offsets from RFC 826, RFC 791 and
//! RFC 9568), not with the core's emitters, so that the test does not share
//! the daemon's idea of the formats. A pool of frames is built once and
//! sent round-robin; the sender runs on its own thread inside the flooding
//! namespace (setns on that thread only) with its own current-thread tokio
//! runtime, and sends through `host_agent::sys::PacketSocket`.

use std::fs::File;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use host_agent::sys::{interface_info, PacketOptions, PacketSocket};
use vip_core::FrameFilter;

use super::lab::VIP;

/// One kind of junk, with where the daemon should count it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Random bytes behind the ARP EtherType: dropped, reason `arp`.
    ArpRandom,
    /// A well-formed ARP request for another address: counted, ignored.
    ArpOther,
    /// A well-formed ARP request for the VIP: the master answers it.
    ArpForVip,
    /// A VRRP advert with TTL 1: dropped, reason `ttl`.
    VrrpTtl,
    /// A VRRP advert whose VRRP checksum matches neither form: `checksum`.
    VrrpChecksum,
    /// A VRRPv2 advert: `unsupported`.
    VrrpVersion2,
    /// A VRRP advert with a broken IPv4 header checksum: `ipv4_header`.
    VrrpIpChecksum,
    /// A VRRP message counting more addresses than it carries: `truncated`.
    VrrpTruncated,
    /// A VRRP advert listing 20 addresses: `address_list`.
    VrrpTooMany,
    /// A valid advert, priority 254, for VRID 52: `vrid`.
    VrrpOtherVrid,
    /// Random bytes behind the quorum EtherType 0x88B5: passes the kernel
    /// filter, counted as ignored.
    Quorum,
    /// IPv4/UDP broadcast: stopped by the kernel filter.
    Udp,
    /// IPv6 to all-nodes: stopped by the kernel filter.
    Ipv6,
    /// An ARP request for the VIP inside an 802.1Q tag: stopped by the filter.
    Vlan,
    /// Random bytes behind a random EtherType: stopped by the filter.
    Other,
}

impl Kind {
    /// The mix: each kind with its share out of 32 frames.
    pub const MIX: [(Kind, u32); 15] = [
        (Kind::ArpRandom, 6),
        (Kind::ArpOther, 2),
        (Kind::ArpForVip, 2),
        (Kind::VrrpTtl, 2),
        (Kind::VrrpChecksum, 2),
        (Kind::VrrpVersion2, 2),
        (Kind::VrrpIpChecksum, 2),
        (Kind::VrrpTruncated, 2),
        (Kind::VrrpTooMany, 1),
        (Kind::VrrpOtherVrid, 3),
        (Kind::Quorum, 2),
        (Kind::Udp, 2),
        (Kind::Ipv6, 1),
        (Kind::Vlan, 1),
        (Kind::Other, 2),
    ];

    /// The drop reason the daemon's metrics should count this kind under.
    pub fn drop_reason(self) -> Option<&'static str> {
        Some(match self {
            Kind::ArpRandom => "arp",
            Kind::VrrpTtl => "ttl",
            Kind::VrrpChecksum => "checksum",
            Kind::VrrpVersion2 => "unsupported",
            Kind::VrrpIpChecksum => "ipv4_header",
            Kind::VrrpTruncated => "truncated",
            Kind::VrrpTooMany => "address_list",
            Kind::VrrpOtherVrid => "vrid",
            _ => return None,
        })
    }
}

/// A xorshift64* generator: the junk is random but one seed repeats it.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (0 is replaced).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `lo..hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() % (hi - lo) as u64) as usize
    }

    /// `len` random bytes.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

const BROADCAST: [u8; 6] = [0xff; 6];
const VRRP_MAC: [u8; 6] = [0x01, 0x00, 0x5e, 0x00, 0x00, 0x12];
const VRRP_GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);

/// The one's-complement sum of RFC 1071 over `bytes`.
pub fn internet_checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn ethernet(dst: [u8; 6], src: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + payload.len());
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

fn arp_request(src: [u8; 6], spa: Ipv4Addr, tpa: Ipv4Addr) -> Vec<u8> {
    let mut a = vec![0, 1, 0x08, 0x00, 6, 4, 0, 1];
    a.extend_from_slice(&src);
    a.extend_from_slice(&spa.octets());
    a.extend_from_slice(&[0; 6]);
    a.extend_from_slice(&tpa.octets());
    a
}

/// How to spoil an advert.
#[derive(Debug, Clone, Copy, Default)]
struct Spoil {
    ttl: Option<u8>,
    version: Option<u8>,
    vrrp_checksum: bool,
    ip_checksum: bool,
    claimed: Option<u8>,
}

/// An IPv4 packet carrying a VRRPv3 advert from `src` for `vrid` listing
/// `addresses`, RFC 9568 checksum, spoiled as `spoil` says.
fn advert(src: Ipv4Addr, vrid: u8, priority: u8, addresses: &[Ipv4Addr], spoil: Spoil) -> Vec<u8> {
    let mut v = vec![
        (spoil.version.unwrap_or(3) << 4) | 1,
        vrid,
        priority,
        spoil.claimed.unwrap_or(addresses.len() as u8),
        0x00,
        100, // 100 centiseconds
        0,
        0,
    ];
    for a in addresses {
        v.extend_from_slice(&a.octets());
    }
    let sum = internet_checksum(&v) ^ (u16::from(spoil.vrrp_checksum) * 0x5a5a);
    v[6..8].copy_from_slice(&sum.to_be_bytes());
    let total = (20 + v.len()) as u16;
    let mut ip = vec![0x45, 0xc0];
    ip.extend_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&[0, 0, 0, 0, spoil.ttl.unwrap_or(255), 112, 0, 0]);
    ip.extend_from_slice(&src.octets());
    ip.extend_from_slice(&VRRP_GROUP.octets());
    let sum = internet_checksum(&ip) ^ (u16::from(spoil.ip_checksum) * 0x0101);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    ip.extend_from_slice(&v);
    ip
}

/// One junk frame of `kind` from `src`.
pub fn frame(kind: Kind, src: [u8; 6], rng: &mut Rng) -> Vec<u8> {
    let sender = Ipv4Addr::new(192, 0, 2, 66);
    let other = Ipv4Addr::new(192, 0, 2, rng.range(150, 250) as u8);
    let vrrp = |spoil: Spoil| {
        ethernet(
            VRRP_MAC,
            src,
            0x0800,
            &advert(sender, 51, 200, &[VIP], spoil),
        )
    };
    match kind {
        Kind::ArpRandom => {
            let len = rng.range(0, 80);
            ethernet(BROADCAST, src, 0x0806, &rng.bytes(len))
        }
        Kind::ArpOther => ethernet(BROADCAST, src, 0x0806, &arp_request(src, sender, other)),
        Kind::ArpForVip => ethernet(BROADCAST, src, 0x0806, &arp_request(src, sender, VIP)),
        Kind::VrrpTtl => vrrp(Spoil {
            ttl: Some(1),
            ..Spoil::default()
        }),
        Kind::VrrpChecksum => vrrp(Spoil {
            vrrp_checksum: true,
            ..Spoil::default()
        }),
        Kind::VrrpVersion2 => vrrp(Spoil {
            version: Some(2),
            ..Spoil::default()
        }),
        Kind::VrrpIpChecksum => vrrp(Spoil {
            ip_checksum: true,
            ..Spoil::default()
        }),
        Kind::VrrpTruncated => vrrp(Spoil {
            claimed: Some(4),
            ..Spoil::default()
        }),
        Kind::VrrpTooMany => {
            let list: Vec<Ipv4Addr> = (0..20).map(|i| Ipv4Addr::new(192, 0, 2, 100 + i)).collect();
            ethernet(
                VRRP_MAC,
                src,
                0x0800,
                &advert(sender, 51, 200, &list, Spoil::default()),
            )
        }
        Kind::VrrpOtherVrid => ethernet(
            VRRP_MAC,
            src,
            0x0800,
            &advert(sender, 52, 254, &[VIP], Spoil::default()),
        ),
        Kind::Quorum => {
            let len = rng.range(46, 200);
            ethernet(BROADCAST, src, 0x88b5, &rng.bytes(len))
        }
        Kind::Udp => {
            let mut ip = vec![0x45, 0, 0, 48, 0, 0, 0, 0, 64, 17, 0, 0];
            ip.extend_from_slice(&sender.octets());
            ip.extend_from_slice(&[255; 4]);
            let sum = internet_checksum(&ip);
            ip[10..12].copy_from_slice(&sum.to_be_bytes());
            ip.extend_from_slice(&[0x1f, 0x90, 0x1f, 0x90, 0, 28, 0, 0]);
            ip.extend_from_slice(&rng.bytes(20));
            ethernet(BROADCAST, src, 0x0800, &ip)
        }
        Kind::Ipv6 => {
            let len = rng.range(40, 300);
            ethernet([0x33, 0x33, 0, 0, 0, 1], src, 0x86dd, &rng.bytes(len))
        }
        Kind::Vlan => {
            let mut tagged = vec![0x00, 0x07, 0x08, 0x06];
            tagged.extend_from_slice(&arp_request(src, sender, VIP));
            ethernet(BROADCAST, src, 0x8100, &tagged)
        }
        Kind::Other => {
            let ethertype = [0x88cc, 0x9000, 0x1234, 0x0842][rng.range(0, 4)];
            let len = rng.range(46, 1500);
            ethernet(BROADCAST, src, ethertype, &rng.bytes(len))
        }
    }
}

/// A pool of `count` frames in the proportions of [`Kind::MIX`], shuffled.
pub fn pool(count: usize, seed: u64) -> Vec<(Kind, Vec<u8>)> {
    let mut rng = Rng::new(seed);
    let mut frames = Vec::with_capacity(count);
    'fill: loop {
        for (kind, n) in Kind::MIX {
            for _ in 0..n {
                if frames.len() == count {
                    break 'fill;
                }
                // A few sender MACs, so the bridge learns a handful of entries.
                let src = [0x02, 0x66, 0, 0, 0, rng.range(1, 9) as u8];
                frames.push((kind, frame(kind, src, &mut rng)));
            }
        }
    }
    for i in (1..frames.len()).rev() {
        let j = rng.range(0, i + 1);
        frames.swap(i, j);
    }
    frames
}

/// What a flood sent.
#[derive(Debug, Clone, Default)]
pub struct FloodReport {
    /// Frames the socket took.
    pub sent: u64,
    /// Frames the socket refused (full queue); the pacing goes on.
    pub refused: u64,
    /// How long it ran.
    pub elapsed: Duration,
    /// Frames sent per kind, in [`Kind::MIX`] order.
    pub per_kind: Vec<(Kind, u64)>,
}

impl FloodReport {
    /// Frames sent per second.
    pub fn rate(&self) -> f64 {
        self.sent as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Frames of `kind` sent.
    pub fn sent_of(&self, kind: Kind) -> u64 {
        self.per_kind
            .iter()
            .find(|(k, _)| *k == kind)
            .map_or(0, |(_, n)| *n)
    }
}

/// Moves the calling thread into network namespace `ns`.
fn enter_netns(ns: &str) -> Result<(), String> {
    let file =
        File::open(format!("/run/netns/{ns}")).map_err(|e| format!("open netns {ns}: {e}"))?;
    // SAFETY: `file` is an open namespace descriptor for the duration of the
    // call; setns(CLONE_NEWNET) changes only the calling thread's namespace.
    let ret = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    if ret != 0 {
        return Err(format!("setns {ns}: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

/// Starts a thread in namespace `ns` that sends `frames` round-robin out of
/// `iface` at `rate` frames per second for `duration` (or until `stop`).
pub fn flood(
    ns: &str,
    iface: &str,
    frames: Vec<(Kind, Vec<u8>)>,
    rate: u64,
    duration: Duration,
    stop: Arc<AtomicBool>,
) -> JoinHandle<Result<FloodReport, String>> {
    let ns = ns.to_owned();
    let iface = iface.to_owned();
    std::thread::spawn(move || {
        enter_netns(&ns)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("tokio runtime: {e}"))?;
        let _entered = runtime.enter();
        let info = interface_info(&iface).map_err(|e| e.to_string())?;
        let options = PacketOptions {
            // The flooder reads nothing: an empty filter passes nothing and
            // joins no group.
            filter: FrameFilter::default(),
            recv_buffer: 4096,
        };
        let socket = PacketSocket::open(info.index, &options).map_err(|e| e.to_string())?;
        let mut per_kind = vec![0u64; Kind::MIX.len()];
        let index_of = |k: Kind| Kind::MIX.iter().position(|(m, _)| *m == k).unwrap_or(0);
        let (mut sent, mut refused, mut next) = (0u64, 0u64, 0usize);
        let started = Instant::now();
        loop {
            let elapsed = started.elapsed();
            if elapsed >= duration || stop.load(Ordering::Relaxed) {
                break;
            }
            // Paced by the clock: send what is due, then nap briefly.
            let due = (rate as f64 * elapsed.as_secs_f64()) as u64;
            while sent + refused < due {
                let (kind, bytes) = &frames[next % frames.len()];
                next += 1;
                match socket.send(bytes) {
                    Ok(()) => {
                        sent += 1;
                        per_kind[index_of(*kind)] += 1;
                    }
                    Err(_) => refused += 1,
                }
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        Ok(FloodReport {
            sent,
            refused,
            elapsed: started.elapsed(),
            per_kind: Kind::MIX.iter().map(|(k, _)| *k).zip(per_kind).collect(),
        })
    })
}
