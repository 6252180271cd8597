//! The `node` target: a real [`Node`] driven by fuzzer-chosen operations,
//! its contract checked after every input.

use core::net::Ipv4Addr;

use etherparse::{ArpOperation as EpArpOperation, LinkSlice, NetSlice, SlicedPacket};

use super::{arp_from_etherparse, fix_ipv4_checksums, inet_checksum_ok};
use crate::config::{
    AnnounceConfig, ChecksumMode, ClusterSettings, Config, ElectionSettings, GarpForm, HostFacts,
    Members, Name, NodeSettings, VrrpSettings,
};
use crate::node::{Command, Event, FrameBuf, FrameKind, Node, Output, Role, VIP_RETRY};
use crate::time::{Duration, Instant};
use crate::wire::vrrp::{self, Advert, ChecksumKind, Repr};
use crate::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
    EthernetRepr, ETHERNET_HEADER_LEN, MAX_FRAME_LEN, MIN_FRAME_LEN,
};

/// The node's own address, VIP and MAC in every `node` run.
pub const NODE_ADDRESS: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 12);
/// The VIP in every `node` run.
pub const NODE_VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 100);
/// The node's interface MAC in every `node` run.
pub const NODE_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x0b]);
const OUR_VRID: u8 = 51;
const OTHER_VRID: u8 = 52;

/// One step of a `node` run, as the fuzzer's bytes encode it.
///
/// The encoding is the opcode byte (taken modulo [`Op::COUNT`]) then the
/// operands; [`Op::encode`] writes it, for seeds and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op<'a> {
    /// Hand in these bytes as a frame, as they are.
    Frame(&'a [u8]),
    /// Hand in these bytes with their IPv4 and VRRP checksums made valid.
    FixedFrame(&'a [u8]),
    /// A well-formed advert from peer `192.0.2.<peer>`, shaped by `flags`:
    /// bit 0 other VRID, bit 1 pseudo-header checksum, bit 2 omit the VIP,
    /// bit 3 TTL 64, bit 4 break the checksum.
    Advert {
        /// Shape bits.
        flags: u8,
        /// Advertised priority.
        priority: u8,
        /// Advertised interval, centiseconds.
        interval: u8,
        /// Last octet of the peer's address.
        peer: u8,
    },
    /// A well-formed ARP packet: `flags` bits 0–1 operation (request, reply,
    /// 3 = unknown), bits 2–3 sender IP (peer, VIP, 0.0.0.0, ours), bits 4–5
    /// target IP (VIP, peer, ours, VIP), bit 6 sender MAC is the VIP's.
    Arp {
        /// Shape bits.
        flags: u8,
        /// Last octet of the peer's address and MAC.
        peer: u8,
    },
    /// Hand the last frame the node sent back to it.
    Echo,
    /// Hand the last frame in again `count` times (a flood).
    Repeat {
        /// How many more times.
        count: u8,
    },
    /// Advance time by `millis`, delivering every deadline on the way.
    Wait {
        /// Milliseconds.
        millis: u8,
    },
    /// Advance time by `tenths` × 100 ms, delivering every deadline.
    WaitLong {
        /// Tenths of a second.
        tenths: u8,
    },
    /// Advance time to the next deadline and deliver it.
    NextDeadline,
    /// Call `handle_timeout` now, before anything is due.
    EarlyTimeout,
    /// Apply a command: `which` modulo 7 picks shutdown, set priority
    /// (to `value`), link down, link up, health down, health up, VIP failed.
    Command {
        /// Which command.
        which: u8,
        /// Operand of set priority.
        value: u8,
    },
}

impl<'a> Op<'a> {
    /// How many opcodes there are.
    pub const COUNT: u8 = 11;

    /// Reads one op from the front of `bytes`; `None` at the end.
    pub fn decode(bytes: &mut &'a [u8]) -> Option<Op<'a>> {
        let (&code, rest) = bytes.split_first()?;
        *bytes = rest;
        let mut byte = || -> Option<u8> {
            let (&b, rest) = bytes.split_first()?;
            *bytes = rest;
            Some(b)
        };
        Some(match code % Self::COUNT {
            0 | 1 => {
                let len = usize::from(u16::from_le_bytes([byte()?, byte()?]) % 2048);
                let len = len.min(bytes.len());
                let (frame, rest) = bytes.split_at(len);
                *bytes = rest;
                if code % Self::COUNT == 0 {
                    Op::Frame(frame)
                } else {
                    Op::FixedFrame(frame)
                }
            }
            2 => Op::Advert {
                flags: byte()?,
                priority: byte()?,
                interval: byte()?,
                peer: byte()?,
            },
            3 => Op::Arp {
                flags: byte()?,
                peer: byte()?,
            },
            4 => Op::Echo,
            5 => Op::Repeat { count: byte()? },
            6 => Op::Wait { millis: byte()? },
            7 => Op::WaitLong { tenths: byte()? },
            8 => Op::NextDeadline,
            9 => Op::EarlyTimeout,
            _ => Op::Command {
                which: byte()?,
                value: byte()?,
            },
        })
    }

    /// Appends this op's encoding to `out`; returns the bytes written, or
    /// `None` if `out` is too short.
    pub fn encode(&self, out: &mut [u8]) -> Option<usize> {
        let mut tmp = [0u8; 5];
        let head: &[u8] = match *self {
            Op::Frame(f) | Op::FixedFrame(f) => {
                let code = if matches!(self, Op::Frame(_)) { 0 } else { 1 };
                let [lo, hi] = (f.len() as u16).to_le_bytes();
                tmp[..3].copy_from_slice(&[code, lo, hi]);
                let n = 3 + f.len();
                out.get_mut(..3)?.copy_from_slice(&tmp[..3]);
                out.get_mut(3..n)?.copy_from_slice(f);
                return Some(n);
            }
            Op::Advert {
                flags,
                priority,
                interval,
                peer,
            } => {
                tmp = [2, flags, priority, interval, peer];
                &tmp
            }
            Op::Arp { flags, peer } => {
                tmp[..3].copy_from_slice(&[3, flags, peer]);
                &tmp[..3]
            }
            Op::Echo => &[4],
            Op::Repeat { count } => {
                tmp[..2].copy_from_slice(&[5, count]);
                &tmp[..2]
            }
            Op::Wait { millis } => {
                tmp[..2].copy_from_slice(&[6, millis]);
                &tmp[..2]
            }
            Op::WaitLong { tenths } => {
                tmp[..2].copy_from_slice(&[7, tenths]);
                &tmp[..2]
            }
            Op::NextDeadline => &[8],
            Op::EarlyTimeout => &[9],
            Op::Command { which, value } => {
                tmp[..3].copy_from_slice(&[10, which, value]);
                &tmp[..3]
            }
        };
        out.get_mut(..head.len())?.copy_from_slice(head);
        Some(head.len())
    }
}

/// How many leading bytes of a `node` input choose the configuration.
pub const NODE_CONFIG_LEN: usize = 4;

/// The configuration a `node` run uses, chosen by its first four bytes:
/// priority (0 means 100), then flags (bit 0 preempt off, bits 1–2 checksum
/// mode, bit 3 virtual MAC, bits 4–5 GARP form, bit 6 no ARP answers, bit 7
/// refresh every 1 s), advert interval − 1 in centiseconds, and burst
/// (bits 0–2 GARP count − 1, bits 3–7 preempt delay in 100 ms).
pub fn node_config(head: [u8; NODE_CONFIG_LEN]) -> Config {
    let [priority, flags, interval, burst] = head;
    let checksum = match (flags >> 1) & 3 {
        1 => ChecksumMode::Rfc9568,
        2 => ChecksumMode::PseudoHeader,
        _ => ChecksumMode::Auto,
    };
    let form = match (flags >> 4) & 3 {
        0 => GarpForm::Request,
        1 => GarpForm::Reply,
        _ => GarpForm::Both,
    };
    // Every value below is inside its documented range and the names are short.
    let name = |n| Name::new(n).expect("a valid name");
    let host = HostFacts {
        name: name("fuzz"),
        mac: NODE_MAC,
        address: NODE_ADDRESS,
        prefix_len: 24,
    };
    let cluster = ClusterSettings {
        cluster: name("fuzz"),
        vip: NODE_VIP.into(),
        members: Members::new(),
        announce: AnnounceConfig {
            garp_count: 1 + (burst & 7),
            garp_interval: Duration::from_millis(100),
            refresh_interval: if flags & 0x80 != 0 {
                Duration::from_secs(1)
            } else {
                Duration::ZERO
            },
            form,
            answer_arp: flags & 0x40 == 0,
        },
        election: ElectionSettings::Vrrp(VrrpSettings {
            vrid: OUR_VRID,
            priority: if priority == 0 { 100 } else { priority },
            advert_interval: Duration::from_centis(u64::from(interval) + 1),
            preempt: flags & 1 == 0,
            preempt_delay: Duration::from_millis(100 * u64::from(burst >> 3)),
            checksum,
            virtual_mac: flags & 8 != 0,
        }),
    };
    Config::new(NodeSettings { host, cluster }).expect("fuzz config is valid")
}

/// Drives a real [`Node`] through the ops encoded after the config bytes,
/// checking its contract after every input (see [`Harness`]).
pub fn node(data: &[u8]) {
    let mut head = [0u8; NODE_CONFIG_LEN];
    let n = data.len().min(NODE_CONFIG_LEN);
    head[..n].copy_from_slice(&data[..n]);
    let mut ops = &data[n..];
    let mut h = Harness::new(node_config(head));
    while let Some(op) = Op::decode(&mut ops) {
        h.apply(op);
    }
}

/// Deadlines one wait delivers on time before the caller turns up late.
const ON_TIME_PER_WAIT: u32 = 32;

/// A node plus what its caller knows, and the checks run after every input.
///
/// After each input it drains the queue and checks: every transmitted frame
/// parses with our parsers and etherparse and says what its kind promises
/// (adverts: TTL 255, valid checksums, our VRID, our address, the VIP);
/// AcquireVip and ReleaseVip alternate and match `is_holder`; frames that
/// need the VIP leave only while holding; nothing is sent and nothing is held
/// while the link is down, and nothing is held while unhealthy or shut down;
/// counters match what was handed in and seen; the queue never overflows;
/// the next deadline is never before `now` (after a timeout, after `now`).
#[derive(Debug)]
pub struct Harness {
    node: Node,
    now: Instant,
    buf: FrameBuf,
    last_in: [u8; MAX_FRAME_LEN],
    last_in_len: usize,
    last_out: [u8; MAX_FRAME_LEN],
    last_out_len: usize,
    holding: bool,
    role: Role,
    link_up: bool,
    healthy: bool,
    shut_down: bool,
    /// After `VipFailed`: the node may not hold before this instant.
    vip_out_until: Option<Instant>,
    frames_in: u64,
    drops_seen: u64,
    acquires: u64,
    releases: u64,
}

impl Harness {
    /// A node built from `config` at time 1 s, with its startup outputs checked.
    pub fn new(config: Config) -> Self {
        let now = Instant::from_millis(1000);
        let mut h = Harness {
            node: Node::new(config, 0x5eed, now),
            now,
            buf: [0; MAX_FRAME_LEN],
            last_in: [0; MAX_FRAME_LEN],
            last_in_len: 0,
            last_out: [0; MAX_FRAME_LEN],
            last_out_len: 0,
            holding: false,
            role: Role::Initialize,
            link_up: true,
            healthy: true,
            shut_down: false,
            vip_out_until: None,
            frames_in: 0,
            drops_seen: 0,
            acquires: 0,
            releases: 0,
        };
        h.drain(false);
        h
    }

    /// The node under test.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// Applies one op and checks the node afterwards.
    pub fn apply(&mut self, op: Op<'_>) {
        match op {
            Op::Frame(f) => self.frame(f),
            Op::FixedFrame(f) => {
                let len = f.len().min(MAX_FRAME_LEN);
                let mut buf = [0u8; MAX_FRAME_LEN];
                buf[..len].copy_from_slice(&f[..len]);
                let frame = &mut buf[..len];
                if frame.len() > ETHERNET_HEADER_LEN && frame[12..14] == [0x08, 0x00] {
                    let kind = if frame[0] & 1 == 0 {
                        ChecksumKind::Rfc9568
                    } else {
                        ChecksumKind::PseudoHeader
                    };
                    fix_ipv4_checksums(&mut frame[ETHERNET_HEADER_LEN..], kind);
                }
                self.frame(frame);
            }
            Op::Advert {
                flags,
                priority,
                interval,
                peer,
            } => {
                let mut buf = [0u8; 64];
                let len = peer_advert(&mut buf, flags, priority, interval, peer);
                self.frame(&buf[..len]);
            }
            Op::Arp { flags, peer } => {
                let mut buf = [0u8; 64];
                let len = peer_arp(&mut buf, flags, peer, self.node.config().vip_mac());
                self.frame(&buf[..len]);
            }
            Op::Echo => {
                let out = self.last_out;
                self.frame(&out[..self.last_out_len]);
            }
            Op::Repeat { count } => {
                let last = self.last_in;
                for _ in 0..count {
                    self.frame(&last[..self.last_in_len]);
                }
            }
            Op::Wait { millis } => self.wait(Duration::from_millis(u64::from(millis))),
            Op::WaitLong { tenths } => self.wait(Duration::from_millis(100 * u64::from(tenths))),
            Op::NextDeadline => {
                if let Some(at) = self.node.poll_timeout() {
                    self.timeout(at);
                }
            }
            Op::EarlyTimeout => {
                self.node.handle_timeout(self.now);
                self.drain(false);
            }
            Op::Command { which, value } => {
                let command = match which % 7 {
                    0 => Command::Shutdown,
                    1 => Command::SetPriority(value),
                    2 => Command::LinkDown,
                    3 => Command::LinkUp,
                    4 => Command::HealthDown,
                    5 => Command::HealthUp,
                    _ => Command::VipFailed,
                };
                self.command(command);
            }
        }
    }

    /// Hands one frame in at `now`.
    pub fn frame(&mut self, frame: &[u8]) {
        let len = frame.len().min(MAX_FRAME_LEN);
        self.last_in[..len].copy_from_slice(&frame[..len]);
        self.last_in_len = len;
        self.frames_in += 1;
        let drops_before = self.drops_seen;
        self.node.handle_frame(self.now, frame);
        self.drain(false);
        assert!(self.drops_seen - drops_before <= 1, "one frame, one drop");
    }

    /// Applies one command at `now`.
    pub fn command(&mut self, command: Command) {
        if !self.shut_down {
            match command {
                Command::Shutdown => self.shut_down = true,
                Command::LinkDown => self.link_up = false,
                Command::LinkUp => self.link_up = true,
                Command::HealthDown => self.healthy = false,
                Command::HealthUp => self.healthy = true,
                Command::VipFailed => self.vip_out_until = Some(self.now + VIP_RETRY),
                Command::SetPriority(_) | Command::MoveTo(_) => {}
            }
        }
        self.node.command(self.now, command);
        self.drain(false);
        if let Command::SetPriority(p @ 1..) = command {
            if !self.shut_down {
                assert_eq!(self.node.priority(), p);
            }
        }
    }

    /// Advances time by `by`, delivering deadlines at their instants; past
    /// [`ON_TIME_PER_WAIT`] of them the caller is late (a paused process)
    /// and calls `handle_timeout` once, at the end of the wait.
    pub fn wait(&mut self, by: Duration) {
        let until = self.now + by;
        let mut on_time = 0;
        while let Some(at) = self.node.poll_timeout().filter(|at| *at <= until) {
            if on_time < ON_TIME_PER_WAIT {
                on_time += 1;
                self.timeout(at);
            } else {
                // A late call must leave every deadline after `until`
                // (checked in `drain`), so this branch runs once.
                assert!(self.now < until, "timer livelock at {at}");
                self.timeout(until);
            }
        }
        self.now = until;
    }

    fn timeout(&mut self, at: Instant) {
        assert!(at >= self.now, "deadline {at} before now {}", self.now);
        self.now = at;
        self.node.handle_timeout(at);
        self.drain(true);
    }

    /// Drains every output, checking each, then the state they leave.
    fn drain(&mut self, after_timeout: bool) {
        let mut released_here = false;
        let mut outputs = 0;
        while let Some(output) = self.node.poll_output(&mut self.buf) {
            outputs += 1;
            match output {
                Output::Event(e) => self.event(e, &mut released_here),
                Output::Transmit { len, kind } => {
                    assert!(self.link_up, "transmit while link down: {kind:?}");
                    assert!((MIN_FRAME_LEN..=MAX_FRAME_LEN).contains(&len), "len {len}");
                    let frame = &self.buf[..len];
                    let (priority, sender) = check_frame(&self.node, frame, kind);
                    let vip_mac = self.node.config().vip_mac();
                    match kind {
                        FrameKind::Advert if priority == 0 => {
                            assert!(!self.holding && released_here, "priority 0 while holding");
                        }
                        FrameKind::Garp if sender != vip_mac => {
                            // A handover: the master that yielded points the
                            // VIP at the winner, whose MAC it just learned.
                            assert!(!self.holding && released_here, "handover while holding");
                            let winner = self.node.holder().map(|h| h.hwaddr);
                            assert_eq!(Some(sender), winner, "handover to a non-holder");
                            assert!(sender.is_unicast());
                        }
                        _ => {
                            assert!(self.holding, "{kind:?} sent while not holding");
                            assert_eq!(sender, vip_mac, "{kind:?} from another MAC");
                        }
                    }
                    self.last_out[..len].copy_from_slice(frame);
                    self.last_out_len = len;
                }
            }
        }
        assert!(outputs <= crate::node::QUEUE_CAPACITY);
        assert_eq!(self.holding, self.node.is_holder(), "events vs is_holder");
        assert_eq!(self.role, self.node.role(), "RoleChanged vs role");
        if !self.link_up || !self.healthy || self.shut_down || self.vip_out() {
            assert!(
                !self.holding,
                "holds while link down, unhealthy, shut down or the VIP unusable"
            );
        }
        if self.holding {
            assert_eq!(
                self.node.vip_hwaddr(),
                Some(self.node.config().vip_mac()),
                "holder's hwaddr"
            );
        }
        let c = self.node.counters();
        assert_eq!(c.frames_in, self.frames_in);
        assert_eq!(c.dropped_total(), self.drops_seen);
        assert_eq!((c.acquired, c.released), (self.acquires, self.releases));
        assert_eq!(
            c.queue_overflows, 0,
            "outputs lost while draining every input"
        );
        if let Some(at) = self.node.poll_timeout() {
            if after_timeout {
                assert!(
                    at > self.now,
                    "deadline {at} not after timeout at {}",
                    self.now
                );
            } else {
                assert!(at >= self.now, "deadline {at} in the past at {}", self.now);
            }
        }
    }

    /// True within [`VIP_RETRY`] of the last `VipFailed`.
    fn vip_out(&self) -> bool {
        self.vip_out_until.is_some_and(|t| self.now < t)
    }

    fn event(&mut self, e: Event, released_here: &mut bool) {
        match e {
            Event::AcquireVip(vip) => {
                assert_eq!(Some(vip), self.node.vip(), "acquires the node's VIP");
                assert!(!self.holding, "AcquireVip twice");
                assert!(self.link_up && self.healthy && !self.shut_down);
                assert!(!self.vip_out(), "holds within VIP_RETRY of VipFailed");
                self.holding = true;
                self.acquires += 1;
            }
            Event::ReleaseVip(vip) => {
                assert_eq!(Some(vip), self.node.vip(), "releases the VIP it acquired");
                assert!(self.holding, "ReleaseVip without AcquireVip");
                self.holding = false;
                *released_here = true;
                self.releases += 1;
            }
            Event::RoleChanged { from, to } => {
                assert_eq!(from, self.role, "RoleChanged from a role we were not in");
                assert_ne!(from, to);
                self.role = to;
            }
            Event::FrameDropped(_) => self.drops_seen += 1,
            Event::HolderLearned(_)
            | Event::Conflict { .. }
            | Event::PeerHeard(_)
            | Event::LeaseExtended { .. } => {}
            Event::LeaseChanged(_) => panic!("a fixed VIP has no lease"),
        }
    }
}

/// Checks one transmitted frame with our parsers and etherparse; returns the
/// advert's priority (1 for ARP) and the MAC it speaks for (the ARP sender).
fn check_frame(node: &Node, frame: &[u8], kind: FrameKind) -> (u8, EthernetAddress) {
    let config = node.config();
    let vrrp = config.vrrp().expect("the node target runs VRRP");
    let eth = EthernetFrame::new_checked(frame).expect("we emit a short frame");
    assert_eq!(eth.src_addr(), config.vip_mac());
    let sliced = SlicedPacket::from_ethernet(frame).expect("etherparse refuses our frame");
    let Some(LinkSlice::Ethernet2(link)) = &sliced.link else {
        panic!("etherparse: no Ethernet II header");
    };
    assert_eq!(link.source(), config.vip_mac().0);
    assert_eq!(link.destination(), eth.dst_addr().0);
    match kind {
        FrameKind::Dhcp => panic!("a fixed VIP sends no DHCP"),
        FrameKind::Advert => {
            assert_eq!(eth.ethertype(), EthernetProtocol::Ipv4);
            assert_eq!(eth.dst_addr().0, vrrp::MULTICAST_MAC);
            let advert = Advert::parse(eth.payload()).expect("our advert parses");
            assert_eq!(advert.src, config.address());
            assert_eq!(advert.vrrp.vrid, vrrp.vrid);
            assert_eq!(advert.vrrp.addresses.as_slice(), [NODE_VIP]);
            assert_eq!(
                Duration::from_centis(u64::from(advert.vrrp.max_advert_interval)),
                vrrp.advert_interval
            );
            match vrrp.checksum {
                ChecksumMode::Rfc9568 => assert_eq!(advert.checksum, ChecksumKind::Rfc9568),
                ChecksumMode::PseudoHeader => {
                    assert_eq!(advert.checksum, ChecksumKind::PseudoHeader)
                }
                ChecksumMode::Auto => {}
            }
            let Some(NetSlice::Ipv4(ip)) = &sliced.net else {
                panic!("etherparse: advert is not IPv4");
            };
            let header = ip.header();
            assert_eq!(header.ttl(), 255);
            assert_eq!(header.protocol().0, vrrp::PROTOCOL);
            assert_eq!(header.source_addr(), config.address());
            assert_eq!(header.destination_addr(), vrrp::MULTICAST_GROUP);
            assert_eq!(header.dcp().value(), vrrp::DSCP_CS6);
            assert_eq!(
                header.header_checksum(),
                header.to_header().calc_header_checksum()
            );
            assert!(!ip.is_payload_fragmented());
            let message = ip.payload().payload;
            assert_eq!(message.len(), advert.vrrp.buffer_len());
            assert_eq!(message[0], 0x31);
            assert_eq!(message[1], vrrp.vrid);
            assert!(inet_checksum_ok(message, advert.checksum, advert.src));
            let priority = advert.vrrp.priority;
            assert!(
                priority == 0 || priority == node.priority(),
                "advert priority"
            );
            (priority, config.vip_mac())
        }
        FrameKind::Garp | FrameKind::ArpReply => {
            assert_eq!(eth.ethertype(), EthernetProtocol::Arp);
            let ours = ArpRepr::parse(&ArpPacket::new_checked(eth.payload()).expect("our ARP"))
                .expect("our ARP parses");
            let Some(NetSlice::Arp(arp)) = &sliced.net else {
                panic!("etherparse: ARP frame is not ARP");
            };
            let theirs = arp
                .to_packet()
                .try_eth_ipv4()
                .expect("etherparse: eth/ipv4 ARP");
            assert_eq!(ours, arp_from_etherparse(&theirs));
            assert_eq!(theirs.sender_ipv4_addr(), NODE_VIP);
            if kind == FrameKind::Garp {
                assert!(eth.dst_addr().is_broadcast());
                assert_eq!(theirs.target_ipv4_addr(), NODE_VIP);
            } else {
                assert_eq!(theirs.operation, EpArpOperation::REPLY);
                assert_eq!(theirs.target_mac, eth.dst_addr().0);
            }
            (1, EthernetAddress(theirs.sender_mac))
        }
    }
}

/// Writes a peer's advert frame shaped by `flags` (see [`Op::Advert`]).
fn peer_advert(buf: &mut [u8; 64], flags: u8, priority: u8, interval: u8, peer: u8) -> usize {
    let src = Ipv4Addr::new(192, 0, 2, peer);
    let mut addresses = heapless::Vec::new();
    let listed = if flags & 4 != 0 {
        Ipv4Addr::new(192, 0, 2, 200)
    } else {
        NODE_VIP
    };
    // Cannot fail: capacity is MAX_ADDRESSES >= 1.
    let _ = addresses.push(listed);
    let advert = Advert {
        src,
        checksum: if flags & 2 != 0 {
            ChecksumKind::PseudoHeader
        } else {
            ChecksumKind::Rfc9568
        },
        vrrp: Repr {
            vrid: if flags & 1 != 0 { OTHER_VRID } else { OUR_VRID },
            priority,
            max_advert_interval: u16::from(interval),
            addresses,
        },
    };
    EthernetRepr {
        src_addr: EthernetAddress([0x02, 0, 0, 0, 1, peer]),
        dst_addr: EthernetAddress(vrrp::MULTICAST_MAC),
        ethertype: EthernetProtocol::Ipv4,
    }
    .emit(&mut EthernetFrame::new_unchecked(&mut buf[..]));
    let ip = &mut buf[ETHERNET_HEADER_LEN..];
    advert.emit(ip);
    if flags & 8 != 0 {
        ip[8] = 64; // TTL, with the header checksum fixed so only the TTL is wrong
        fix_ipv4_checksums(ip, advert.checksum);
    }
    if flags & 16 != 0 {
        ip[vrrp::IPV4_HEADER_LEN + 6] ^= 0x5a;
    }
    ETHERNET_HEADER_LEN + advert.buffer_len()
}

/// Writes a peer's ARP frame shaped by `flags` (see [`Op::Arp`]).
pub(super) fn peer_arp(buf: &mut [u8; 64], flags: u8, peer: u8, vip_mac: EthernetAddress) -> usize {
    let peer_ip = Ipv4Addr::new(192, 0, 2, peer);
    let peer_mac = EthernetAddress([0x02, 0, 0, 0, 2, peer]);
    let operation = match flags & 3 {
        0 => ArpOperation::Request,
        1 | 2 => ArpOperation::Reply,
        _ => ArpOperation::Unknown(7),
    };
    let sender_ip = match (flags >> 2) & 3 {
        0 => peer_ip,
        1 => NODE_VIP,
        2 => Ipv4Addr::UNSPECIFIED,
        _ => NODE_ADDRESS,
    };
    let target_ip = match (flags >> 4) & 3 {
        1 => peer_ip,
        2 => NODE_ADDRESS,
        _ => NODE_VIP,
    };
    let sender_mac = if flags & 0x40 != 0 { vip_mac } else { peer_mac };
    EthernetRepr {
        src_addr: sender_mac,
        dst_addr: EthernetAddress::BROADCAST,
        ethertype: EthernetProtocol::Arp,
    }
    .emit(&mut EthernetFrame::new_unchecked(&mut buf[..]));
    let arp = ArpRepr::EthernetIpv4 {
        operation,
        source_hardware_addr: sender_mac,
        source_protocol_addr: sender_ip,
        target_hardware_addr: EthernetAddress([0; 6]),
        target_protocol_addr: target_ip,
    };
    arp.emit(&mut ArpPacket::new_unchecked(
        &mut buf[ETHERNET_HEADER_LEN..][..arp.buffer_len()],
    ));
    MIN_FRAME_LEN
}
