//! What a node asks of its caller: events, frames to send, and their counters.

use core::net::Ipv4Addr;

use heapless::Deque;

use crate::time::Instant;
use crate::wire::vrrp::ChecksumKind;
use crate::wire::EthernetAddress;

/// A node's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Not started, or shut down.
    Initialize,
    /// Following a master; ready to take over.
    Backup,
    /// Holding the VIP.
    Master,
    /// Link down or health check failing: may not hold the VIP.
    Fault,
}

impl Role {
    /// Lower-case name, as status output shows it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Initialize => "initialize",
            Role::Backup => "backup",
            Role::Master => "master",
            Role::Fault => "fault",
        }
    }
}

/// The node that holds the VIP, as this node knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Holder {
    /// The holder's primary address (the advert's IPv4 source).
    pub address: Ipv4Addr,
    /// The MAC that answers for the VIP (the advert's Ethernet source).
    pub hwaddr: EthernetAddress,
    /// The priority it advertises.
    pub priority: u8,
    /// When this node first learned of this holder.
    pub since: Instant,
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
}

impl DropReason {
    /// Every reason, in counter order.
    pub const ALL: [DropReason; 10] = [
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
        }
    }

    const fn index(self) -> usize {
        self as usize
    }
}

/// Something the caller must act on or may report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    /// Put the VIP on the interface: this node holds it now.
    AcquireVip,
    /// Take the VIP off the interface: this node no longer holds it.
    ReleaseVip,
    /// The role changed.
    RoleChanged {
        /// Previous role.
        from: Role,
        /// New role.
        to: Role,
    },
    /// The holder changed, as this node knows it (`None`: no holder known).
    HolderLearned(Option<Holder>),
    /// A valid advert for our VRID and VIP arrived from a peer (for status:
    /// who is alive, at what priority). Decides nothing.
    AdvertHeard {
        /// The peer's primary address.
        address: Ipv4Addr,
        /// The priority it advertised (0: stopping).
        priority: u8,
    },
    /// Another MAC claimed the VIP while this node holds it; re-announced.
    Conflict {
        /// The other claimant.
        hwaddr: EthernetAddress,
    },
    /// A frame meant for us was dropped.
    FrameDropped(DropReason),
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
}

impl FrameKind {
    /// Every kind, in counter order.
    pub const ALL: [FrameKind; 3] = [FrameKind::Advert, FrameKind::Garp, FrameKind::ArpReply];

    /// Snake-case name, as metrics label it.
    pub const fn as_str(self) -> &'static str {
        match self {
            FrameKind::Advert => "advert",
            FrameKind::Garp => "garp",
            FrameKind::ArpReply => "arp_reply",
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

    /// All dropped frames.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.iter().sum()
    }
}

/// A frame to build when the caller polls, with what must be fixed at queue time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tx {
    Advert {
        priority: u8,
        checksum: ChecksumKind,
    },
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
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Pending {
    Event(Event),
    Transmit(Tx),
}

/// How many outputs one input may leave queued; the longest sequence one
/// input produces is well under this.
pub const QUEUE_CAPACITY: usize = 32;

/// The ordered output queue plus the counters it keeps.
#[derive(Debug)]
pub(crate) struct Outbox {
    queue: Deque<Pending, QUEUE_CAPACITY>,
    pub(crate) counters: Counters,
}

impl Outbox {
    pub(crate) fn new() -> Self {
        Outbox {
            queue: Deque::new(),
            counters: Counters::default(),
        }
    }

    fn push(&mut self, item: Pending) {
        if self.queue.push_back(item).is_err() {
            self.counters.queue_overflows += 1;
        }
    }

    pub(crate) fn event(&mut self, event: Event) {
        match event {
            Event::AcquireVip => self.counters.acquired += 1,
            Event::ReleaseVip => self.counters.released += 1,
            Event::Conflict { .. } => self.counters.conflicts += 1,
            Event::FrameDropped(reason) => self.counters.dropped[reason.index()] += 1,
            _ => {}
        }
        self.push(Pending::Event(event));
    }

    pub(crate) fn transmit(&mut self, tx: Tx) {
        self.push(Pending::Transmit(tx));
    }

    pub(crate) fn drop_frame(&mut self, reason: DropReason) {
        self.event(Event::FrameDropped(reason));
    }

    pub(crate) fn pop(&mut self) -> Option<Pending> {
        self.queue.pop_front()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}
