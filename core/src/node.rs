//! The sans-IO node: election, announcer and responder behind one API.
//!
//! # Drain rule
//! After constructing a node and after every input (`handle_frame`,
//! `handle_timeout`, `command`), call [`Node::poll_output`] until it returns
//! `None`, acting on each output in order, then ask [`Node::poll_timeout`]
//! for the next deadline. The queue holds [`QUEUE_CAPACITY`] items; a caller
//! that does not drain loses outputs (counted in `queue_overflows`).
//!
//! # Ordering guarantee
//! Outputs come in the order the node decided them. In particular
//! [`Event::ReleaseVip`] precedes any frame that would let another node take
//! over (the priority-0 advert on shutdown or health loss), and
//! [`Event::AcquireVip`] precedes the first advert and gratuitous ARP sent as
//! holder, so a caller that applies outputs in order never announces a VIP
//! it has not configured, nor invites a takeover while still holding it.

use core::net::Ipv4Addr;

use crate::arp::{self, Announcer, ArpVerdict};
use crate::config::Config;
use crate::election::vrrp::Vrrp;
pub use crate::output::{
    Counters, DropReason, Event, FrameKind, Holder, Output, Role, QUEUE_CAPACITY,
};
use crate::output::{Outbox, Pending, Tx};
use crate::rand::Prng;
use crate::time::Instant;
use crate::wire::vrrp::{self, Advert, Repr};
use crate::wire::{
    self, ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
    EthernetRepr, ETHERNET_HEADER_LEN, MAX_FRAME_LEN,
};

/// The caller's transmit buffer: big enough for any frame the core emits.
pub type FrameBuf = [u8; MAX_FRAME_LEN];

/// An operator's or the host's instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Stop for good: release the VIP (priority-0 advert if holding).
    Shutdown,
    /// Change this node's priority (1 to 255; 0 is ignored).
    SetPriority(u8),
    /// The interface lost carrier: give the VIP up at once.
    LinkDown,
    /// The interface has carrier again.
    LinkUp,
    /// The health check failed: give the VIP up (priority 0 if holding).
    HealthDown,
    /// The health check passes again.
    HealthUp,
}

/// One vipd node: feed it frames, timeouts and commands; drain its outputs.
#[derive(Debug)]
pub struct Node {
    config: Config,
    vrrp: Vrrp,
    announcer: Announcer,
    outbox: Outbox,
    prng: Prng,
    link_up: bool,
    healthy: bool,
    shut_down: bool,
}

/// What the host knows about its interface and health when a node starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conditions {
    /// The interface has carrier.
    pub link_up: bool,
    /// The health check passes (or none is configured).
    pub healthy: bool,
}

impl Default for Conditions {
    fn default() -> Self {
        Conditions {
            link_up: true,
            healthy: true,
        }
    }
}

impl Node {
    /// A node that starts at `now` (RFC 9568 Startup) with carrier and
    /// health; drain its outputs.
    pub fn new(config: Config, seed: u64, now: Instant) -> Node {
        Node::starting(config, seed, now, Conditions::default())
    }

    /// A node that starts at `now` under `conditions`: without carrier or
    /// health it starts in Fault and may not hold the VIP until the matching
    /// `LinkUp`/`HealthUp` (so a priority-255 node never claims the VIP on a
    /// dead link, not even for one step). Drain its outputs.
    pub fn starting(config: Config, seed: u64, now: Instant, conditions: Conditions) -> Node {
        let mut node = Node {
            vrrp: Vrrp::new(
                *config.vrrp(),
                config.address(),
                config.vip_mac(),
                config.vip(),
            ),
            announcer: Announcer::new(*config.announce()),
            outbox: Outbox::new(),
            prng: Prng::new(seed),
            link_up: conditions.link_up,
            healthy: conditions.healthy,
            shut_down: false,
            config,
        };
        if conditions.link_up && conditions.healthy {
            node.vrrp.startup(now, &mut node.outbox);
        } else {
            node.vrrp.fault(false, &mut node.outbox);
        }
        node.sync_announcer(now);
        node
    }

    // ---- getters ----

    /// The validated configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The current role.
    pub fn role(&self) -> Role {
        self.vrrp.role()
    }

    /// True while this node holds the VIP.
    pub fn is_holder(&self) -> bool {
        self.role() == Role::Master
    }

    /// This node's current priority.
    pub fn priority(&self) -> u8 {
        self.vrrp.priority()
    }

    /// The holder as this node knows it.
    pub fn holder(&self) -> Option<Holder> {
        self.vrrp.holder()
    }

    /// The MAC that answers for the VIP: ours while holding, else the holder's.
    pub fn vip_hwaddr(&self) -> Option<EthernetAddress> {
        self.holder().map(|h| h.hwaddr)
    }

    /// Frame and event counters.
    pub fn counters(&self) -> &Counters {
        &self.outbox.counters
    }

    /// The election's internals, for status and tests.
    pub fn vrrp(&self) -> &Vrrp {
        &self.vrrp
    }

    // ---- inputs ----

    /// Handles one whole Ethernet frame received on the management interface.
    ///
    /// Never panics; frames meant for us that are malformed are dropped with
    /// [`Event::FrameDropped`], other traffic is counted in `ignored`.
    pub fn handle_frame(&mut self, now: Instant, frame: &[u8]) {
        self.outbox.counters.frames_in += 1;
        let Ok(eth) = EthernetFrame::new_checked(frame) else {
            self.outbox.drop_frame(DropReason::Truncated);
            return;
        };
        if self.shut_down {
            self.outbox.counters.ignored += 1;
            return;
        }
        match eth.ethertype() {
            EthernetProtocol::Arp => self.handle_arp(now, eth.payload()),
            EthernetProtocol::Ipv4 if is_vrrp(eth.payload()) => {
                self.handle_vrrp(now, eth.src_addr(), eth.payload())
            }
            _ => self.outbox.counters.ignored += 1,
        }
    }

    /// Handles timers due at or before `now`. Early calls are harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.vrrp.poll_timeout().is_some_and(|at| now >= at) {
            self.vrrp.handle_timeout(now, &mut self.outbox);
            self.sync_announcer(now);
        }
        self.announcer
            .handle_timeout(now, &mut self.prng, &mut self.outbox);
    }

    // ---- commands ----

    /// Applies a command at `now`.
    pub fn command(&mut self, now: Instant, command: Command) {
        if self.shut_down {
            return;
        }
        match command {
            Command::Shutdown => {
                self.shut_down = true;
                self.vrrp.shutdown(&mut self.outbox);
            }
            Command::SetPriority(p) if p > 0 => self.vrrp.set_priority(now, p, &mut self.outbox),
            Command::SetPriority(_) => {}
            Command::LinkDown => {
                self.link_up = false;
                self.vrrp.fault(false, &mut self.outbox);
            }
            Command::HealthDown => {
                self.healthy = false;
                self.vrrp.fault(self.link_up, &mut self.outbox);
            }
            Command::LinkUp | Command::HealthUp => {
                if command == Command::LinkUp {
                    self.link_up = true;
                } else {
                    self.healthy = true;
                }
                if self.link_up && self.healthy {
                    self.vrrp.recover(now, &mut self.outbox);
                }
            }
        }
        self.sync_announcer(now);
    }

    // ---- outputs ----

    /// The next queued output. A transmit is written to the front of `buf`.
    #[must_use]
    pub fn poll_output(&mut self, buf: &mut FrameBuf) -> Option<Output> {
        match self.outbox.pop()? {
            Pending::Event(e) => Some(Output::Event(e)),
            Pending::Transmit(tx) => {
                let (len, kind) = self.emit(tx, buf);
                self.outbox.counters.frames_out[kind as usize] += 1;
                Some(Output::Transmit { len, kind })
            }
        }
    }

    /// The earliest deadline at which [`Node::handle_timeout`] must be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.vrrp.poll_timeout(), self.announcer.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// True if outputs are waiting.
    pub fn has_output(&self) -> bool {
        !self.outbox.is_empty()
    }

    // ---- internals ----

    fn handle_arp(&mut self, now: Instant, payload: &[u8]) {
        let parsed = ArpPacket::new_checked(payload).and_then(|p| ArpRepr::parse(&p));
        let Ok(repr) = parsed else {
            self.outbox.drop_frame(DropReason::Arp);
            return;
        };
        self.outbox.counters.arp_in += 1;
        if !self.is_holder() {
            return;
        }
        let a = self.config.announce();
        match arp::classify(
            &repr,
            self.config.vip(),
            self.config.vip_mac(),
            a.answer_arp,
        ) {
            ArpVerdict::Ignore => {}
            ArpVerdict::Answer { hwaddr, address } => self.outbox.transmit(Tx::ArpReply {
                to_hwaddr: hwaddr,
                to_address: address,
            }),
            ArpVerdict::Conflict(hwaddr) => self.announcer.conflict(now, hwaddr, &mut self.outbox),
        }
    }

    fn handle_vrrp(&mut self, now: Instant, src: EthernetAddress, ip: &[u8]) {
        let advert = match Advert::parse(ip) {
            Ok(a) => a,
            Err(e) => {
                self.outbox.drop_frame(match e {
                    vrrp::Error::Truncated => DropReason::Truncated,
                    vrrp::Error::Unsupported => DropReason::Unsupported,
                    vrrp::Error::Checksum => DropReason::Checksum,
                    vrrp::Error::Ttl => DropReason::Ttl,
                    vrrp::Error::Ipv4 | vrrp::Error::NotVrrp => DropReason::Ipv4Header,
                    vrrp::Error::TooManyAddresses => DropReason::AddressList,
                });
                return;
            }
        };
        if advert.src == self.config.address() {
            self.outbox.drop_frame(DropReason::Looped);
            return;
        }
        if advert.vrrp.vrid != self.config.vrrp().vrid {
            self.outbox.drop_frame(DropReason::Vrid);
            return;
        }
        self.vrrp.handle_advert(now, &advert, src, &mut self.outbox);
        self.sync_announcer(now);
    }

    /// Starts, stops or re-runs announcing to match the election, after the
    /// election's own outputs.
    fn sync_announcer(&mut self, now: Instant) {
        match (self.is_holder(), self.announcer.is_active()) {
            (true, false) => self.announcer.start(now, &mut self.prng, &mut self.outbox),
            (false, true) => self.announcer.stop(),
            _ => {}
        }
        if let Some(to) = self.vrrp.take_handover() {
            self.announcer.handover(to, &mut self.outbox);
        }
        if self.vrrp.take_reassert() {
            self.announcer
                .reassert(now, &mut self.prng, &mut self.outbox);
        }
    }

    /// Builds a queued frame into `buf`; returns its length and kind.
    fn emit(&self, tx: Tx, buf: &mut FrameBuf) -> (usize, FrameKind) {
        let src = self.config.vip_mac();
        let vip = self.config.vip();
        let (dst, ethertype, kind) = match tx {
            Tx::Advert { .. } => (
                EthernetAddress(vrrp::MULTICAST_MAC),
                EthernetProtocol::Ipv4,
                FrameKind::Advert,
            ),
            Tx::Garp { .. } | Tx::Handover { .. } => (
                EthernetAddress::BROADCAST,
                EthernetProtocol::Arp,
                FrameKind::Garp,
            ),
            Tx::ArpReply { to_hwaddr, .. } => {
                (to_hwaddr, EthernetProtocol::Arp, FrameKind::ArpReply)
            }
        };
        let eth = EthernetRepr {
            src_addr: src,
            dst_addr: dst,
            ethertype,
        };
        eth.emit(&mut EthernetFrame::new_unchecked(&mut buf[..]));
        let payload = &mut buf[ETHERNET_HEADER_LEN..];
        let payload_len = match tx {
            Tx::Advert { priority, checksum } => {
                let mut addresses = heapless::Vec::new();
                // Cannot fail: capacity MAX_ADDRESSES >= 1.
                let _ = addresses.push(vip);
                let advert = Advert {
                    src: self.config.address(),
                    checksum,
                    vrrp: Repr {
                        vrid: self.config.vrrp().vrid,
                        priority,
                        max_advert_interval: self.config.vrrp().advert_interval.total_centis()
                            as u16,
                        addresses,
                    },
                };
                advert.emit(payload);
                advert.buffer_len()
            }
            Tx::Garp { reply } => emit_garp(payload, reply, src, vip),
            // The Ethernet source stays ours so switches learn no false port;
            // hosts take the neighbour entry from the ARP sender field.
            Tx::Handover { reply, to_hwaddr } => emit_garp(payload, reply, to_hwaddr, vip),
            Tx::ArpReply {
                to_hwaddr,
                to_address,
            } => emit_arp(
                payload,
                ArpOperation::Reply,
                src,
                vip,
                to_hwaddr,
                to_address,
            ),
        };
        (wire::pad(buf, ETHERNET_HEADER_LEN + payload_len), kind)
    }
}

/// True if an IPv4 payload says IP protocol 112; cheap pre-filter.
fn is_vrrp(ip: &[u8]) -> bool {
    ip.get(9) == Some(&vrrp::PROTOCOL)
}

fn emit_garp(payload: &mut [u8], reply: bool, hwaddr: EthernetAddress, vip: Ipv4Addr) -> usize {
    let (operation, target) = if reply {
        (ArpOperation::Reply, EthernetAddress::BROADCAST)
    } else {
        (ArpOperation::Request, EthernetAddress([0; 6]))
    };
    emit_arp(payload, operation, hwaddr, vip, target, vip)
}

fn emit_arp(
    payload: &mut [u8],
    operation: ArpOperation,
    source_hardware_addr: EthernetAddress,
    source_protocol_addr: Ipv4Addr,
    target_hardware_addr: EthernetAddress,
    target_protocol_addr: Ipv4Addr,
) -> usize {
    let repr = ArpRepr::EthernetIpv4 {
        operation,
        source_hardware_addr,
        source_protocol_addr,
        target_hardware_addr,
        target_protocol_addr,
    };
    repr.emit(&mut ArpPacket::new_unchecked(&mut payload[..wire::ARP_LEN]));
    wire::ARP_LEN
}
