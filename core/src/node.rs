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
use crate::dhcp::{DhcpClient, LeaseStatus};
use crate::election::etcd::{EtcdInput, EtcdRequest};
use crate::election::quorum::timing::PriorRuns;
use crate::election::Election;
use crate::filter::FrameFilter;
pub use crate::output::{
    Counters, DropReason, Event, FrameKind, Holder, InKind, Output, Peer, Role, Vip, QUEUE_CAPACITY,
};
use crate::output::{Outbox, Queued, Tx};
use crate::rand::Prng;
use crate::time::{soonest, Duration, Instant};
use crate::wire::{
    self, dhcp, ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
    EthernetRepr, ETHERNET_HEADER_LEN, MAX_FRAME_LEN,
};

/// The caller's transmit buffer: big enough for any frame the core emits.
pub type FrameBuf = [u8; MAX_FRAME_LEN];

/// The most a `Node` may take, in bytes: it lives inline (no heap) on a
/// task's stack or in a static on small targets. 8 KiB since the quorum
/// election: per-member freshness and names for 16 members, a ring of recent
/// renewals and the HMAC key schedule.
pub const NODE_BUDGET: usize = 8192;

/// How long a node whose VIP the host could not configure stays out of the
/// election before it may hold again.
pub const VIP_RETRY: Duration = Duration::from_secs(1);

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
    /// The host could not configure the VIP it was told to acquire: give it
    /// up (priority 0 if holding) and stay out for [`VIP_RETRY`], so the
    /// others are not kept out by a holder nobody can reach.
    VipFailed,
    /// Move the VIP to this member (an index into the config's members), or
    /// to the best other member: at once on the holder, else by asking it
    /// (quorum only; VRRP moves by priority).
    MoveTo(Option<u8>),
}

/// What the host knows about its interface, health and earlier runs when a
/// node starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conditions {
    /// The interface has carrier.
    pub link_up: bool,
    /// The health check passes (or none is configured).
    pub healthy: bool,
    /// What earlier runs may have promised (the quorum election's restart
    /// wait; VRRP ignores it).
    pub prior_runs: PriorRuns,
}

impl Default for Conditions {
    /// Carrier, health, and no earlier run that could still bind this one
    /// (a host up for longer than any promise lasts).
    fn default() -> Self {
        Conditions {
            link_up: true,
            healthy: true,
            prior_runs: PriorRuns::FirstSinceBoot {
                uptime: Duration::MAX,
            },
        }
    }
}

/// One vipd node: feed it frames, timeouts and commands; drain its outputs.
#[derive(Debug)]
pub struct Node {
    config: Config,
    election: Election,
    announcer: Announcer,
    /// The VIP's lease client, in the DHCP mode.
    dhcp: Option<DhcpClient>,
    outbox: Outbox,
    prng: Prng,
    conditions: Conditions,
    /// Set while the VIP could not be configured: the node may not hold
    /// before this instant.
    vip_retry_at: Option<Instant>,
    shut_down: bool,
}

impl Node {
    /// A node that starts at `now` with carrier and health; drain its outputs.
    pub fn new(config: Config, seed: u64, now: Instant) -> Node {
        Node::starting(config, seed, now, Conditions::default())
    }

    /// A node that starts at `now` under `conditions`: without carrier or
    /// health it starts in Fault and may not hold the VIP until the matching
    /// `LinkUp`/`HealthUp` (so a priority-255 node never claims the VIP on a
    /// dead link, not even for one step). Drain its outputs.
    pub fn starting(config: Config, seed: u64, now: Instant, conditions: Conditions) -> Node {
        let mut node = Node {
            election: Election::new(&config, seed, conditions.prior_runs),
            announcer: Announcer::new(*config.announce()),
            dhcp: config.dhcp().map(|d| DhcpClient::new(d.hwaddr)),
            outbox: Outbox::new(config.static_vip().map(Vip::host)),
            prng: Prng::new(seed),
            conditions,
            vip_retry_at: None,
            shut_down: false,
            config,
        };
        if node.may_hold() {
            node.election.startup(now, &mut node.outbox);
        } else {
            node.election.fault(now, false, &mut node.outbox);
        }
        if let Some(dhcp) = &mut node.dhcp {
            // Reports the client's first status.
            dhcp.stop(&mut node.outbox);
        }
        node.sync(now);
        node
    }

    // ---- getters ----

    /// The validated configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The election, for status and tests.
    pub fn election(&self) -> &Election {
        &self.election
    }

    /// The current role.
    pub fn role(&self) -> Role {
        self.election.role()
    }

    /// True while this node holds the VIP.
    pub fn is_holder(&self) -> bool {
        self.role() == Role::Holder
    }

    /// This node's current priority.
    pub fn priority(&self) -> u8 {
        self.election.priority()
    }

    /// The holder as this node knows it.
    pub fn holder(&self) -> Option<Holder> {
        self.election.holder()
    }

    /// The VIP this node configures while it holds: the fixed one, or the
    /// DHCP lease's while one lasts (held or learned from the holder).
    pub fn vip(&self) -> Option<Vip> {
        self.outbox.vip()
    }

    /// The MAC that answers for the VIP: the VIP MAC in the DHCP mode, else
    /// ours while holding, else the holder's.
    pub fn vip_hwaddr(&self) -> Option<EthernetAddress> {
        match &self.dhcp {
            Some(d) => Some(d.hwaddr()),
            None => self.holder().map(|h| h.hwaddr),
        }
    }

    /// The VIP's DHCP lease as this node knows it (`None` for a fixed VIP).
    pub fn lease(&self) -> Option<LeaseStatus> {
        self.dhcp.as_ref().map(DhcpClient::status)
    }

    /// The frames this node wants from the wire (for the host's filter).
    pub fn frame_filter(&self) -> FrameFilter {
        FrameFilter::for_config(&self.config)
    }

    /// Frame and event counters.
    pub fn counters(&self) -> &Counters {
        &self.outbox.counters
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
        if eth.ethertype() == EthernetProtocol::Arp {
            self.handle_arp(now, eth.payload());
        } else if self.election.claims(&eth) {
            self.election.handle_frame(now, &eth, &mut self.outbox);
            self.sync(now);
        } else if self.dhcp.is_some() && dhcp::claims(&eth) {
            self.handle_dhcp(now, &eth);
            self.sync(now);
        } else {
            self.outbox.counters.ignored += 1;
        }
    }

    /// Handles timers due at or before `now`. Early calls are harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.vip_retry_at.is_some_and(|at| now >= at) {
            self.vip_retry_at = None;
            self.recover_if_able(now);
        }
        if self.election.poll_timeout().is_some_and(|at| now >= at) {
            self.election.handle_timeout(now, &mut self.outbox);
            self.sync(now);
        }
        if let Some(d) = self
            .dhcp
            .as_mut()
            .filter(|d| d.poll_timeout().is_some_and(|at| now >= at))
        {
            d.handle_timeout(now, &mut self.prng, &mut self.outbox);
            self.sync(now);
        }
        self.announcer
            .handle_timeout(now, &mut self.prng, &mut self.outbox);
    }

    /// What etcd said, through the host's etcd adapter (`protocol =
    /// "etcd"`; other protocols ignore it).
    pub fn handle_etcd(&mut self, now: Instant, input: EtcdInput) {
        if self.shut_down {
            return;
        }
        self.election.handle_etcd(now, input, &mut self.outbox);
        self.sync(now);
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
                // Nothing may bring a stopped node back: not even the retry.
                self.vip_retry_at = None;
                self.election.shutdown(now, &mut self.outbox);
            }
            Command::SetPriority(p) if p > 0 => {
                self.election.set_priority(now, p, &mut self.outbox)
            }
            Command::SetPriority(_) => {}
            Command::LinkDown => {
                self.conditions.link_up = false;
                self.election.fault(now, false, &mut self.outbox);
            }
            Command::HealthDown => {
                self.conditions.healthy = false;
                self.election
                    .fault(now, self.conditions.link_up, &mut self.outbox);
            }
            Command::VipFailed => {
                self.vip_retry_at = Some(now + VIP_RETRY);
                self.election
                    .fault(now, self.conditions.link_up, &mut self.outbox);
            }
            Command::LinkUp => {
                self.conditions.link_up = true;
                self.recover_if_able(now);
            }
            Command::HealthUp => {
                self.conditions.healthy = true;
                self.recover_if_able(now);
            }
            Command::MoveTo(target) => self.election.move_to(now, target, &mut self.outbox),
        }
        self.sync(now);
    }

    // ---- outputs ----

    /// The next queued output. A transmit is written to the front of `buf`.
    #[must_use]
    pub fn poll_output(&mut self, buf: &mut FrameBuf) -> Option<Output> {
        match self.outbox.pop()? {
            Queued::Event(e) => Some(Output::Event(e)),
            Queued::Transmit(tx) => {
                let (len, kind) = self.emit(tx, buf);
                self.outbox.counters.frames_out[kind as usize] += 1;
                Some(Output::Transmit { len, kind })
            }
        }
    }

    /// The earliest deadline at which [`Node::handle_timeout`] must be
    /// called: the soonest of every part's.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        soonest([
            self.election.poll_timeout(),
            self.announcer.poll_timeout(),
            self.dhcp.as_ref().and_then(DhcpClient::poll_timeout),
            self.vip_retry_at,
        ])
    }

    /// The next request for the host's etcd adapter (`protocol = "etcd"`),
    /// in the order made; drain it with the outputs after every input.
    pub fn poll_etcd_request(&mut self) -> Option<EtcdRequest> {
        self.election.poll_etcd_request()
    }

    /// True if outputs are waiting.
    pub fn has_output(&self) -> bool {
        !self.outbox.is_empty()
    }

    // ---- internals ----

    /// True while nothing the host reported keeps this node from holding.
    fn may_hold(&self) -> bool {
        !self.shut_down
            && self.conditions.link_up
            && self.conditions.healthy
            && self.vip_retry_at.is_none()
    }

    fn recover_if_able(&mut self, now: Instant) {
        if self.may_hold() {
            self.election.recover(now, &mut self.outbox);
        }
    }

    fn handle_arp(&mut self, now: Instant, payload: &[u8]) {
        let parsed = ArpPacket::new_checked(payload).and_then(|p| ArpRepr::parse(&p));
        let Ok(repr) = parsed else {
            self.outbox.drop_frame(DropReason::Arp);
            return;
        };
        self.outbox.counters.arp_in += 1;
        let Some(vip) = self.outbox.configured() else {
            return;
        };
        let a = self.config.announce();
        match arp::classify(&repr, vip.address, self.config.vip_mac(), a.answer_arp) {
            ArpVerdict::Ignore => {}
            ArpVerdict::Answer { hwaddr, address } => self.outbox.transmit(Tx::ArpReply {
                to_hwaddr: hwaddr,
                to_address: address,
            }),
            ArpVerdict::Conflict(hwaddr) => self.announcer.conflict(now, hwaddr, &mut self.outbox),
        }
    }

    /// A frame [`dhcp::claims`] passed, in the DHCP mode.
    fn handle_dhcp(&mut self, now: Instant, eth: &EthernetFrame<&[u8]>) {
        let Some(client) = &mut self.dhcp else {
            return;
        };
        match dhcp::Datagram::parse(eth.payload()) {
            Ok(datagram) => client.handle_datagram(
                now,
                &datagram,
                eth.src_addr(),
                &self.config,
                &mut self.prng,
                &mut self.outbox,
            ),
            Err(dhcp::Error::Ipv4) => self.outbox.drop_frame(DropReason::Ipv4Header),
            Err(dhcp::Error::Udp | dhcp::Error::Bootp) => self.outbox.drop_frame(DropReason::Dhcp),
            Err(dhcp::Error::NotDhcp) => self.outbox.counters.ignored += 1,
        }
    }

    /// Brings the lease client and the announcer in line with the election,
    /// after the election's own outputs.
    fn sync(&mut self, now: Instant) {
        self.sync_lease(now);
        self.sync_announcer(now);
    }

    /// Runs the lease client while this node holds and stops it otherwise;
    /// hands it what the election heard of the holder's lease, and the
    /// election what the client holds.
    fn sync_lease(&mut self, now: Instant) {
        let Some(client) = &mut self.dhcp else {
            return;
        };
        // Stopped first, so a holder that stepped down on another's renewal
        // takes that renewal's lease.
        let holder = self.election.role() == Role::Holder;
        if !holder && client.is_running() {
            client.stop(&mut self.outbox);
        }
        if let Some(heard) = self.election.take_heard_lease() {
            client.learn(now, heard, &mut self.outbox);
        }
        if holder && !client.is_running() {
            client.start(now, &mut self.prng, &mut self.outbox);
        }
        self.election.share_lease(client.shared());
    }

    /// Starts, stops or re-runs announcing to match the election and the
    /// VIP configured.
    fn sync_announcer(&mut self, now: Instant) {
        let announcing = self.outbox.configured().is_some();
        match (announcing, self.announcer.is_active()) {
            (true, false) => self.announcer.start(now, &mut self.prng, &mut self.outbox),
            (false, true) => self.announcer.stop(),
            _ => {}
        }
        if let Some(to) = self.election.take_handover() {
            if self.outbox.vip().is_some() {
                self.announcer.handover(to, &mut self.outbox);
            }
        }
        if self.election.take_reassert() {
            self.announcer
                .reassert(now, &mut self.prng, &mut self.outbox);
        }
    }

    /// Builds a queued frame into `buf`; returns its length and kind.
    fn emit(&self, tx: Tx, buf: &mut FrameBuf) -> (usize, FrameKind) {
        let vip_mac = self.config.vip_mac();
        let mut src = vip_mac;
        let vip = self.vip();
        let address = vip.map_or(Ipv4Addr::UNSPECIFIED, |v| v.address);
        let payload = &mut buf[ETHERNET_HEADER_LEN..];
        let (dst, ethertype, payload_len, kind) = match tx {
            Tx::Election(tx) => {
                let e = self.election.emit(tx, vip, payload);
                src = e.src.unwrap_or(vip_mac);
                (e.dst, e.ethertype, e.len, e.kind)
            }
            Tx::Garp { reply } => (
                EthernetAddress::BROADCAST,
                EthernetProtocol::Arp,
                emit_garp(payload, reply, vip_mac, address),
                FrameKind::Garp,
            ),
            // The Ethernet source stays ours so switches learn no false port;
            // hosts take the neighbour entry from the ARP sender field.
            Tx::Handover { reply, to_hwaddr } => (
                EthernetAddress::BROADCAST,
                EthernetProtocol::Arp,
                emit_garp(payload, reply, to_hwaddr, address),
                FrameKind::Garp,
            ),
            Tx::ArpReply {
                to_hwaddr,
                to_address,
            } => (
                to_hwaddr,
                EthernetProtocol::Arp,
                emit_arp(
                    payload,
                    ArpOperation::Reply,
                    vip_mac,
                    address,
                    to_hwaddr,
                    to_address,
                ),
                FrameKind::ArpReply,
            ),
            Tx::Dhcp(tx) => (
                DhcpClient::destination(tx),
                EthernetProtocol::Ipv4,
                DhcpClient::emit(tx, self.config.cluster().as_str(), payload),
                FrameKind::Dhcp,
            ),
        };
        let eth = EthernetRepr {
            src_addr: src,
            dst_addr: dst,
            ethertype,
        };
        eth.emit(&mut EthernetFrame::new_unchecked(&mut buf[..]));
        (wire::pad(buf, ETHERNET_HEADER_LEN + payload_len), kind)
    }
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
