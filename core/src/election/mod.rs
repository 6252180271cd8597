//! The VIP election: one enum over the protocols.
//!
//! VRRPv3 ([`vrrp`]), majority leases ([`quorum`]) and etcd ([`etcd`]). Every protocol takes the same inputs (its own
//! frames, timeouts, the node's commands) and has the same duty: push
//! `AcquireVip`/`ReleaseVip` into the outbox (through `Outbox::acquire_vip`
//! and `Outbox::release_vip`) before any frame that lets another node take
//! over, and describe its frames as [`ElectionTx`] so the node can build them
//! at poll time. A new protocol is a new variant here and a new arm in each
//! method; the node does not change.

pub mod etcd;
pub mod quorum;
pub mod vrrp;

use crate::config::{Config, ElectionSettings, Protocol};
use crate::dhcp::{Heard, SharedLease};
use crate::filter::FrameFilter;
use crate::output::{FrameKind, Holder, Outbox, Role, Vip};
use crate::time::Instant;
use crate::wire::{EthernetAddress, EthernetFrame, EthernetProtocol};

use etcd::Etcd;
use quorum::timing::PriorRuns;
use quorum::Quorum;
use vrrp::Vrrp;

/// The election a node runs.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // one per node, never moved in a hot path
pub enum Election {
    /// VRRPv3 (RFC 9568).
    Vrrp(Vrrp),
    /// Majority leases.
    Quorum(Quorum),
    /// The cluster's etcd, with vipd's fence.
    Etcd(Etcd),
}

/// A frame an election asked for, to be built when the caller polls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ElectionTx {
    /// A VRRP advert.
    Vrrp(vrrp::AdvertTx),
    /// A quorum frame.
    Quorum(quorum::QuorumTx),
}

/// Where an election frame goes and what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Emitted {
    /// The Ethernet source when it is not the VIP's MAC.
    pub(crate) src: Option<EthernetAddress>,
    pub(crate) dst: EthernetAddress,
    pub(crate) ethertype: EthernetProtocol,
    pub(crate) len: usize,
    pub(crate) kind: FrameKind,
}

impl Election {
    /// The election `config` names, in Initialize: the node starts it.
    pub(crate) fn new(config: &Config, seed: u64, prior: PriorRuns) -> Election {
        match config.election() {
            ElectionSettings::Vrrp(v) => {
                let leased = config.dhcp().is_some();
                Election::Vrrp(Vrrp::new(*v, config.address(), config.vip_mac(), leased))
            }
            ElectionSettings::Quorum(q) => Election::Quorum(Quorum::new(config, q, seed, prior)),
            ElectionSettings::Etcd(e) => {
                Election::Etcd(Etcd::new(*e, config.address(), config.members()))
            }
        }
    }

    /// Adds the frames this election receives to `filter`.
    pub(crate) fn want(settings: &ElectionSettings, filter: &mut FrameFilter) {
        match settings {
            ElectionSettings::Vrrp(_) => {
                filter.ipv4_protocol(crate::wire::vrrp::PROTOCOL);
                filter.group(EthernetAddress(crate::wire::vrrp::MULTICAST_MAC));
            }
            ElectionSettings::Quorum(q) => {
                filter.ethertype(q.ethertype);
                if let Some(group) = q.group_mac {
                    filter.group(group);
                }
            }
            // etcd speaks to the adapter, not the segment.
            ElectionSettings::Etcd(_) => {}
        }
    }

    // ---- getters ----

    /// The protocol.
    pub fn protocol(&self) -> Protocol {
        match self {
            Election::Vrrp(_) => Protocol::Vrrp,
            Election::Quorum(_) => Protocol::Quorum,
            Election::Etcd(_) => Protocol::Etcd,
        }
    }

    /// The VRRP machine, when the protocol is VRRP (for status and tests).
    pub fn as_vrrp(&self) -> Option<&Vrrp> {
        match self {
            Election::Vrrp(v) => Some(v),
            Election::Quorum(_) | Election::Etcd(_) => None,
        }
    }

    /// The quorum machine, when the protocol is quorum (for status and tests).
    pub fn as_quorum(&self) -> Option<&Quorum> {
        match self {
            Election::Quorum(q) => Some(q),
            Election::Vrrp(_) | Election::Etcd(_) => None,
        }
    }

    /// The etcd machine, when the protocol is etcd (for status and tests).
    pub fn as_etcd(&self) -> Option<&Etcd> {
        match self {
            Election::Etcd(e) => Some(e),
            Election::Vrrp(_) | Election::Quorum(_) => None,
        }
    }

    /// What etcd said, through the host's adapter (ignored by the others).
    pub(crate) fn handle_etcd(&mut self, now: Instant, input: etcd::EtcdInput, out: &mut Outbox) {
        if let Election::Etcd(e) = self {
            e.handle_input(now, input, out);
        }
    }

    /// The next request for the host's etcd adapter.
    pub(crate) fn poll_etcd_request(&mut self) -> Option<etcd::EtcdRequest> {
        match self {
            Election::Etcd(e) => e.poll_request(),
            Election::Vrrp(_) | Election::Quorum(_) => None,
        }
    }

    /// This node's role.
    pub fn role(&self) -> Role {
        match self {
            Election::Vrrp(v) => v.role(),
            Election::Quorum(q) => q.role(),
            Election::Etcd(e) => e.role(),
        }
    }

    /// This node's priority now.
    pub fn priority(&self) -> u8 {
        match self {
            Election::Vrrp(v) => v.priority(),
            Election::Quorum(q) => q.priority(),
            Election::Etcd(e) => e.priority(),
        }
    }

    /// The holder as this node knows it.
    pub fn holder(&self) -> Option<Holder> {
        match self {
            Election::Vrrp(v) => v.holder(),
            Election::Quorum(q) => q.holder(),
            Election::Etcd(e) => e.holder(),
        }
    }

    /// The election's next deadline.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self {
            Election::Vrrp(v) => v.poll_timeout(),
            Election::Quorum(q) => q.poll_timeout(),
            Election::Etcd(e) => e.poll_timeout(),
        }
    }

    // ---- inputs ----

    /// True if `eth` is this election's to judge (counted, parsed, dropped).
    pub(crate) fn claims(&self, eth: &EthernetFrame<&[u8]>) -> bool {
        match self {
            Election::Vrrp(_) => vrrp::claims(eth),
            Election::Quorum(q) => quorum::claims(eth, q.ethertype()),
            Election::Etcd(_) => false,
        }
    }

    /// A frame [`Election::claims`] passed.
    pub(crate) fn handle_frame(
        &mut self,
        now: Instant,
        eth: &EthernetFrame<&[u8]>,
        out: &mut Outbox,
    ) {
        match self {
            Election::Vrrp(v) => v.handle_frame(now, eth, out),
            Election::Quorum(q) => q.handle_frame(now, eth, out),
            // It claims none.
            Election::Etcd(_) => {}
        }
    }

    /// Runs the election's timers due at `now`.
    pub(crate) fn handle_timeout(&mut self, now: Instant, out: &mut Outbox) {
        match self {
            Election::Vrrp(v) => v.handle_timeout(now, out),
            Election::Quorum(q) => q.handle_timeout(now, out),
            Election::Etcd(e) => e.handle_timeout(now, out),
        }
    }

    // ---- commands ----

    /// Starts the election (the node may hold).
    pub(crate) fn startup(&mut self, now: Instant, out: &mut Outbox) {
        match self {
            Election::Vrrp(v) => v.startup(now, out),
            Election::Quorum(q) => q.startup(now, out),
            Election::Etcd(e) => e.startup(now, out),
        }
    }

    /// Stops for good, releasing first.
    pub(crate) fn shutdown(&mut self, now: Instant, out: &mut Outbox) {
        match self {
            Election::Vrrp(v) => v.shutdown(out),
            Election::Quorum(q) => q.shutdown(now, out),
            Election::Etcd(e) => e.shutdown(out),
        }
    }

    /// The node may not hold: give the VIP up; `can_send` if the link is up.
    pub(crate) fn fault(&mut self, now: Instant, can_send: bool, out: &mut Outbox) {
        match self {
            Election::Vrrp(v) => v.fault(can_send, out),
            Election::Quorum(q) => q.fault(now, can_send, out),
            Election::Etcd(e) => e.fault(out),
        }
    }

    /// The node may hold again.
    pub(crate) fn recover(&mut self, now: Instant, out: &mut Outbox) {
        match self {
            Election::Vrrp(v) => v.recover(now, out),
            Election::Quorum(q) => q.recover(now, out),
            Election::Etcd(e) => e.recover(out),
        }
    }

    /// Changes this node's priority.
    pub(crate) fn set_priority(&mut self, now: Instant, priority: u8, out: &mut Outbox) {
        match self {
            Election::Vrrp(v) => v.set_priority(now, priority, out),
            Election::Quorum(q) => q.set_priority(priority),
            Election::Etcd(e) => e.set_priority(priority),
        }
    }

    /// Moves the VIP (VRRP moves by priority, see the docs; etcd through
    /// a move order every node watches).
    pub(crate) fn move_to(&mut self, now: Instant, target: Option<u8>, out: &mut Outbox) {
        match self {
            Election::Vrrp(_) => {}
            Election::Quorum(q) => q.move_to(now, target, out),
            Election::Etcd(e) => e.move_to(target),
        }
    }

    // ---- what the announcer must do ----

    /// The MAC this node just yielded to, once: announce the VIP there.
    pub(crate) fn take_handover(&mut self) -> Option<EthernetAddress> {
        match self {
            Election::Vrrp(v) => v.take_handover(),
            Election::Quorum(_) | Election::Etcd(_) => None,
        }
    }

    /// The VIP's DHCP lease for this holder to tell the members (quorum
    /// renewals carry it; VRRP adverts carry the address as their VIP; the
    /// etcd holder's record names the address).
    pub(crate) fn share_lease(&mut self, lease: Option<SharedLease>) {
        match self {
            Election::Quorum(q) => q.share_lease(lease),
            Election::Etcd(e) => e.share_vip(lease.map(|l| l.address)),
            Election::Vrrp(_) => {}
        }
    }

    /// What the holder said of its DHCP lease since the last call.
    pub(crate) fn take_heard_lease(&mut self) -> Option<Heard> {
        match self {
            Election::Vrrp(v) => v.take_heard_lease(),
            Election::Quorum(q) => q.take_heard_lease(),
            // The leader's record names the address, as a VRRP advert does
            // (not the lease's end: a new holder asks the server).
            Election::Etcd(e) => Some(match e.take_heard_vip()? {
                Some(address) if !address.is_unspecified() => Heard::Lease(SharedLease {
                    address,
                    server: None,
                    expires_at: None,
                }),
                _ => Heard::NoLease,
            }),
        }
    }

    /// True once after this holder decided clients may follow another MAC.
    pub(crate) fn take_reassert(&mut self) -> bool {
        match self {
            Election::Vrrp(v) => v.take_reassert(),
            Election::Quorum(q) => q.take_reassert(),
            Election::Etcd(_) => false,
        }
    }

    // ---- outputs ----

    /// Builds `tx`'s payload after the Ethernet header; says where it goes.
    pub(crate) fn emit(&self, tx: ElectionTx, vip: Option<Vip>, payload: &mut [u8]) -> Emitted {
        match (self, tx) {
            (Election::Vrrp(v), ElectionTx::Vrrp(advert)) => Emitted {
                src: None,
                dst: EthernetAddress(crate::wire::vrrp::MULTICAST_MAC),
                ethertype: EthernetProtocol::Ipv4,
                len: v.emit(advert, vip, payload),
                kind: FrameKind::Advert,
            },
            (Election::Quorum(q), ElectionTx::Quorum(tx)) => q.emit(tx, payload),
            // A frame is queued by the election that builds it (etcd's
            // none); the node never swaps its election.
            (Election::Vrrp(_), ElectionTx::Quorum(_))
            | (Election::Quorum(_), ElectionTx::Vrrp(_))
            | (Election::Etcd(_), _) => Emitted {
                src: None,
                dst: EthernetAddress::BROADCAST,
                ethertype: EthernetProtocol::Unknown(0),
                len: 0,
                kind: FrameKind::Advert,
            },
        }
    }
}

/// Records `seen` as the holder this node knows and emits `HolderLearned`
/// if anything changed. The same holder (address, MAC and term) at a new
/// priority keeps the `since` of when it was first learned.
fn learn_holder(known: &mut Option<Holder>, seen: Holder, out: &mut Outbox) {
    let same = known.is_some_and(|h| {
        h.address == seen.address && h.hwaddr == seen.hwaddr && h.term == seen.term
    });
    if same && known.is_some_and(|h| h.priority == seen.priority) {
        return;
    }
    let since = match *known {
        Some(h) if same => h.since,
        _ => seen.since,
    };
    let holder = Holder { since, ..seen };
    *known = Some(holder);
    out.event(crate::output::Event::HolderLearned(Some(holder)));
}
