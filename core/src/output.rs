//! What a node asks of its caller: events, frames to send, and their counters.

use core::net::Ipv4Addr;

use heapless::Deque;

use crate::dhcp::{DhcpTx, LeaseStatus};
use crate::election::ElectionTx;
use crate::time::Instant;
use crate::wire::EthernetAddress;

/// A node's role in the cluster, whatever the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Not started, or shut down.
    Initialize,
    /// Following a holder (or waiting for one); ready to take over.
    Backup,
    /// Holding the VIP.
    Holder,
    /// Link down, health check failing or the VIP unusable: may not hold.
    Fault,
    /// Asking the members for votes (quorum only).
    Candidate,
}

impl Role {
    /// Every role, in metrics order.
    pub const ALL: [Role; 5] = [
        Role::Initialize,
        Role::Backup,
        Role::Holder,
        Role::Fault,
        Role::Candidate,
    ];

    /// Lower-case name, as status and metrics show it. The holder is
    /// `master`, the word keepalived's operators already grep for.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Initialize => "initialize",
            Role::Backup => "backup",
            Role::Holder => "master",
            Role::Fault => "fault",
            Role::Candidate => "candidate",
        }
    }
}

/// A VIP as the host configures it: the address and its prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Vip {
    /// The address.
    pub address: Ipv4Addr,
    /// Its prefix length on the interface (32 for a static VIP).
    pub prefix_len: u8,
}

impl Vip {
    /// `address/32`, how a static VIP is configured.
    pub const fn host(address: Ipv4Addr) -> Vip {
        Vip {
            address,
            prefix_len: 32,
        }
    }
}

/// The node that holds the VIP, as this node knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Holder {
    /// The holder's own address (for VRRP, the advert's IPv4 source).
    pub address: Ipv4Addr,
    /// The MAC that answers for the VIP (for VRRP, the advert's Ethernet source).
    pub hwaddr: EthernetAddress,
    /// The priority it advertises.
    pub priority: u8,
    /// Its term, for a protocol that numbers them (`None` for VRRP).
    pub term: Option<u64>,
    /// When this node first learned of this holder.
    pub since: Instant,
}

/// What any protocol learns of a peer from one valid message of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Peer {
    /// The peer's own address.
    pub address: Ipv4Addr,
    /// The MAC it sent from.
    pub hwaddr: EthernetAddress,
    /// The priority it announced (0: stopping).
    pub priority: u8,
    /// The term it spoke in, for a protocol that numbers them.
    pub term: Option<u64>,
}

/// Why a frame meant for us was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Shorter than its headers say.
    Truncated,
    /// A malformed IPv4 header, a fragment, or a bad header checksum.
    Ipv4Header,
    /// A VRRP advert with a TTL other than 255.
    Ttl,
    /// A VRRP checksum that matches neither form.
    Checksum,
    /// A VRRP version or type we do not speak.
    Unsupported,
    /// A VRRP advert for another virtual router.
    Vrid,
    /// A VRRP advert whose address list lacks our VIP or lists too many.
    AddressList,
    /// A VRRP advert with a zero interval.
    Interval,
    /// An ARP packet that is not Ethernet/IPv4 or is malformed.
    Arp,
    /// Our own frame, looped back.
    Looped,
    /// An election message whose authentication tag does not verify.
    Auth,
    /// An authenticated election message seen before (or older than one seen).
    Replay,
    /// An election message from a sender's boot this node has not confirmed.
    Epoch,
    /// An election message from a member with another configuration.
    Digest,
    /// A DHCP message for the VIP's client whose UDP or BOOTP part is
    /// malformed, or that lacks an option its type requires.
    Dhcp,
}

impl DropReason {
    /// Every reason, in counter order.
    pub const ALL: [DropReason; 15] = [
        DropReason::Truncated,
        DropReason::Ipv4Header,
        DropReason::Ttl,
        DropReason::Checksum,
        DropReason::Unsupported,
        DropReason::Vrid,
        DropReason::AddressList,
        DropReason::Interval,
        DropReason::Arp,
        DropReason::Looped,
        DropReason::Auth,
        DropReason::Replay,
        DropReason::Epoch,
        DropReason::Digest,
        DropReason::Dhcp,
    ];

    /// Snake-case name, as metrics label it.
    pub const fn as_str(self) -> &'static str {
        match self {
            DropReason::Truncated => "truncated",
            DropReason::Ipv4Header => "ipv4_header",
            DropReason::Ttl => "ttl",
            DropReason::Checksum => "checksum",
            DropReason::Unsupported => "unsupported",
            DropReason::Vrid => "vrid",
            DropReason::AddressList => "address_list",
            DropReason::Interval => "interval",
            DropReason::Arp => "arp",
            DropReason::Looped => "looped",
            DropReason::Auth => "auth",
            DropReason::Replay => "replay",
            DropReason::Epoch => "epoch",
            DropReason::Digest => "digest",
            DropReason::Dhcp => "dhcp",
        }
    }

    const fn index(self) -> usize {
        self as usize
    }
}

/// Something the caller must act on or may report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    /// Put this VIP on the interface: this node holds it now.
    AcquireVip(Vip),
    /// Take this VIP off the interface (the one acquired): this node no
    /// longer holds it.
    ReleaseVip(Vip),
    /// The role changed.
    RoleChanged {
        /// Previous role.
        from: Role,
        /// New role.
        to: Role,
    },
    /// The holder changed, as this node knows it (`None`: no holder known).
    HolderLearned(Option<Holder>),
    /// A valid election message arrived from a peer (for status: who is
    /// alive, at what priority). Decides nothing.
    PeerHeard(Peer),
    /// Another MAC claimed the VIP while this node holds it; re-announced.
    Conflict {
        /// The other claimant.
        hwaddr: EthernetAddress,
    },
    /// A frame meant for us was dropped.
    FrameDropped(DropReason),
    /// The holder's lease now runs until this instant (quorum only): the
    /// host arms a fence in its kernel that stops the VIP's traffic by
    /// itself then, so a frozen process cannot keep answering for the VIP.
    /// `ReleaseVip` closes it earlier. Every `AcquireVip` of a tenure is
    /// followed by one, in the same drain, before any frame for the VIP (a
    /// DHCP lease bound after the win, or a new address after a NAK).
    LeaseExtended {
        /// The lease's end, on the node's clock.
        until: Instant,
    },
    /// The VIP's DHCP lease changed, as this node knows it (DHCP mode only):
    /// its phase, address, the address asked for, and what went wrong.
    LeaseChanged(LeaseStatus),
}

/// The kind of a transmitted frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameKind {
    /// A VRRP advert.
    Advert,
    /// A gratuitous ARP (announcement).
    Garp,
    /// An ARP reply for the VIP.
    ArpReply,
    /// A DHCP message of the VIP's lease client.
    Dhcp,
}

impl FrameKind {
    /// Every kind, in counter order.
    pub const ALL: [FrameKind; 4] = [
        FrameKind::Advert,
        FrameKind::Garp,
        FrameKind::ArpReply,
        FrameKind::Dhcp,
    ];

    /// Snake-case name, as metrics label it.
    pub const fn as_str(self) -> &'static str {
        match self {
            FrameKind::Advert => "advert",
            FrameKind::Garp => "garp",
            FrameKind::ArpReply => "arp_reply",
            FrameKind::Dhcp => "dhcp",
        }
    }
}

/// What a received frame counted as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InKind {
    /// A valid election message (a VRRP advert) for this cluster.
    Advert,
    /// A valid ARP packet.
    Arp,
    /// A DHCP answer to the VIP's lease client.
    Dhcp,
    /// Not for us: counted, no event.
    Ignored,
    /// Meant for us but dropped (see [`DropReason`]).
    Dropped,
}

impl InKind {
    /// Every kind, in metrics order.
    pub const ALL: [InKind; 5] = [
        InKind::Advert,
        InKind::Arp,
        InKind::Dhcp,
        InKind::Ignored,
        InKind::Dropped,
    ];

    /// Snake-case name, as metrics label it.
    pub const fn as_str(self) -> &'static str {
        match self {
            InKind::Advert => "advert",
            InKind::Arp => "arp",
            InKind::Dhcp => "dhcp",
            InKind::Ignored => "ignored",
            InKind::Dropped => "dropped",
        }
    }
}

/// One item of the output queue, as the caller sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// A frame of `len` bytes was written to the front of the caller's buffer: send it.
    Transmit {
        /// Frame length.
        len: usize,
        /// What it is.
        kind: FrameKind,
    },
    /// An event.
    Event(Event),
}

/// Frame counters and drop counters, monotonic since construction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// Every frame handed in.
    pub frames_in: u64,
    /// Valid VRRP adverts for our VRID.
    pub adverts_in: u64,
    /// Valid ARP packets.
    pub arp_in: u64,
    /// DHCP answers to the VIP's lease client.
    pub dhcp_in: u64,
    /// Frames not for us (other protocols, other hosts' ARP), ignored silently.
    pub ignored: u64,
    /// Frames dropped, indexed like [`DropReason::ALL`].
    pub dropped: [u64; DropReason::ALL.len()],
    /// Frames sent, indexed like [`FrameKind::ALL`].
    pub frames_out: [u64; FrameKind::ALL.len()],
    /// Times this node acquired the VIP.
    pub acquired: u64,
    /// Times this node released the VIP.
    pub released: u64,
    /// Conflicts seen while holding.
    pub conflicts: u64,
    /// Outputs lost because the caller did not drain the queue.
    pub queue_overflows: u64,
}

impl Counters {
    /// Frames dropped for `reason`.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.dropped[reason.index()]
    }

    /// Frames sent of `kind`.
    pub fn sent(&self, kind: FrameKind) -> u64 {
        self.frames_out[kind as usize]
    }

    /// Frames received that counted as `kind`.
    pub fn received(&self, kind: InKind) -> u64 {
        match kind {
            InKind::Advert => self.adverts_in,
            InKind::Arp => self.arp_in,
            InKind::Dhcp => self.dhcp_in,
            InKind::Ignored => self.ignored,
            InKind::Dropped => self.dropped_total(),
        }
    }

    /// All dropped frames.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.iter().sum()
    }
}

/// A frame to build when the caller polls, with what must be fixed at queue time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tx {
    /// A frame of the election's own protocol.
    Election(ElectionTx),
    Garp {
        reply: bool,
    },
    /// A gratuitous ARP that points the VIP at the new holder's MAC, sent by
    /// a master that yields to it.
    Handover {
        reply: bool,
        to_hwaddr: EthernetAddress,
    },
    ArpReply {
        to_hwaddr: EthernetAddress,
        to_address: Ipv4Addr,
    },
    /// A message of the VIP's DHCP client.
    Dhcp(DhcpTx),
}

/// One queued output: an event as it is, a frame still to be built.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Queued {
    Event(Event),
    Transmit(Tx),
}

/// How many outputs one input may leave queued; the longest sequence one
/// input produces is well under this.
pub const QUEUE_CAPACITY: usize = 32;

/// The ordered output queue, the counters it keeps, and the VIP it has
/// told the host to configure.
///
/// Every part of the core writes here, so one queue orders them all. It
/// owns the acquire/release pairing: the election says when the node holds
/// ([`Outbox::acquire_vip`], [`Outbox::release_vip`]), the VIP's source
/// says which address it is ([`Outbox::set_vip`]: fixed, or the DHCP
/// lease's), and the host is told to configure the address only while both
/// hold. `ReleaseVip` always names exactly the VIP acquired, even if the
/// node's VIP changed meanwhile.
#[derive(Debug)]
pub(crate) struct Outbox {
    queue: Deque<Queued, QUEUE_CAPACITY>,
    pub(crate) counters: Counters,
    /// The VIP this node should hold when it holds (`None`: no lease).
    vip: Option<Vip>,
    /// True while the election has this node hold.
    holding: bool,
    /// The VIP the host was told to configure and not yet to remove.
    configured: Option<Vip>,
    /// The election's lease end last announced in this tenure (quorum), so
    /// an address configured later in it reopens the host's fence.
    lease_until: Option<Instant>,
}

impl Outbox {
    pub(crate) fn new(vip: Option<Vip>) -> Self {
        Outbox {
            queue: Deque::new(),
            counters: Counters::default(),
            vip,
            holding: false,
            configured: None,
            lease_until: None,
        }
    }

    /// The VIP the node holds while it holds, if it has an address.
    pub(crate) fn vip(&self) -> Option<Vip> {
        self.vip
    }

    /// The VIP the host has configured now, if any.
    pub(crate) fn configured(&self) -> Option<Vip> {
        self.configured
    }

    /// The election made this node the holder: queues `AcquireVip` for the
    /// node's VIP, if it has one yet.
    pub(crate) fn acquire_vip(&mut self) {
        self.holding = true;
        self.configure();
    }

    /// The election no longer has this node hold: queues `ReleaseVip` for
    /// the VIP acquired, if any.
    pub(crate) fn release_vip(&mut self) {
        self.holding = false;
        self.lease_until = None;
        self.unconfigure();
    }

    /// The node's VIP is now `vip` (a lease bound, changed or ended):
    /// releases an address the host no longer may keep and, while holding,
    /// acquires the new one, in that order.
    pub(crate) fn set_vip(&mut self, vip: Option<Vip>) {
        if self.vip == vip {
            return;
        }
        self.vip = vip;
        if self.configured.is_some() && self.configured != vip {
            self.unconfigure();
        }
        if self.holding && self.configured.is_none() {
            self.configure();
            // The host closed its fence with the old address's release:
            // the new one passes as long as the tenure's lease does.
            if let (Some(until), Some(_)) = (self.lease_until, self.configured) {
                self.event(Event::LeaseExtended { until });
            }
        }
    }

    fn configure(&mut self) {
        if let (None, Some(vip)) = (self.configured, self.vip) {
            self.configured = Some(vip);
            self.event(Event::AcquireVip(vip));
        }
    }

    fn unconfigure(&mut self) {
        if let Some(vip) = self.configured.take() {
            self.event(Event::ReleaseVip(vip));
        }
    }

    fn push(&mut self, item: Queued) {
        if self.queue.push_back(item).is_err() {
            self.counters.queue_overflows += 1;
        }
    }

    pub(crate) fn event(&mut self, event: Event) {
        match event {
            Event::AcquireVip(_) => self.counters.acquired += 1,
            Event::LeaseExtended { until } => self.lease_until = Some(until),
            Event::ReleaseVip(_) => self.counters.released += 1,
            Event::Conflict { .. } => self.counters.conflicts += 1,
            Event::FrameDropped(reason) => self.counters.dropped[reason.index()] += 1,
            _ => {}
        }
        self.push(Queued::Event(event));
    }

    pub(crate) fn transmit(&mut self, tx: Tx) {
        self.push(Queued::Transmit(tx));
    }

    pub(crate) fn drop_frame(&mut self, reason: DropReason) {
        self.event(Event::FrameDropped(reason));
    }

    pub(crate) fn pop(&mut self) -> Option<Queued> {
        self.queue.pop_front()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}
