//! The etcd election's fencing rule (docs/protocol.md, "The etcd
//! election"): the holder holds only while its own clock says its etcd
//! lease lives, whatever etcd answers late.
//!
//! Sans-IO like the rest of the core. The machine asks its host's etcd
//! adapter for what it needs ([`EtcdRequest`], drained with
//! [`Etcd::poll_request`]): a keep-alive of the node's lease every
//! [`keepalive_interval`] (the first one grants it), a campaign on the
//! election key, a resignation, a revocation on a clean stop. The adapter
//! reports what etcd said ([`EtcdInput`]): a keep-alive answered with the
//! lease's TTL, the lease lost, the election's leader.
//!
//! The rule: the lease ends, on this node's clock, at the time this node
//! *asked* for the keep-alive that was answered plus L = [`timing::lease`]
//! of the TTL, drift ρ and fence margin D, the quorum holder's formula. The
//! adapter sends a request only after it was asked, and etcd counts the TTL
//! from when it processed the request, later still; so the node's end comes
//! before etcd's by at least the request's transit and D, on any clocks
//! within ρ. The node holds while etcd names it leader *and* its lease has
//! not ended; it releases at the end by its own timer, so an answer that
//! comes late (or never) changes nothing.
//!
//! A node never holds on a key it asked to delete: from the moment it asks
//! to resign until the adapter reports the deletion done (with its
//! revision), etcd naming it leader changes nothing, and afterwards only a
//! key created after that revision counts (docs/protocol.md, "Resigning").
//!
//! A planned move ([`MoveOrder`], docs/protocol.md "Moves through etcd") is
//! a key every node watches: each node the order sends back re-queues (its
//! key deleted and put again, so it is younger than the target's), and by
//! the rule above never holds on its old key, so the oldest key left, and
//! the next leader, is the target's.

use heapless::Deque;

use core::net::Ipv4Addr;

use super::learn_holder;
use super::quorum::timing;
use crate::config::limits::MAX_MEMBERS;
pub use crate::config::EtcdSettings;
use crate::config::Members;
use crate::output::{Event, Holder, Outbox, Role};
use crate::time::{Duration, Instant};
use crate::wire::EthernetAddress;

/// The shortest TTL etcd grants: it silently raises `lease grant 1` to a
/// 2 s TTL (etcd 3.4.23, measured), so a config asking for less is refused.
pub const LEASE_TTL_MIN: Duration = Duration::from_secs(2);
/// `etcd.lease_ttl` when the config names none.
pub const LEASE_TTL_DEFAULT: Duration = Duration::from_secs(2);
/// The longest `etcd.lease_ttl` a config may set.
pub const LEASE_TTL_MAX: Duration = Duration::from_secs(60);
/// Keep-alives per TTL: a lost one or two still leave the lease alive.
pub const KEEPALIVES_PER_TTL: u64 = 4;
/// Keep-alives awaiting an answer that are remembered; an answer to an
/// older one is ignored (a newer one was asked since, and counts later).
const PENDING: usize = 8;
/// Requests one input may leave for the adapter.
const REQUESTS: usize = 8;

/// How often the holder (every node: a backup keeps its lease too, so it
/// can take over at once) asks for a keep-alive: TTL / [`KEEPALIVES_PER_TTL`].
pub const fn keepalive_interval(ttl: Duration) -> Duration {
    ttl.div(KEEPALIVES_PER_TTL)
}

/// What the machine asks its host's etcd adapter to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EtcdRequest {
    /// Keep the node's lease alive (grant one if it has none); answer with
    /// [`EtcdInput::KeptAlive`] naming `seq`.
    KeepAlive {
        /// This request's number.
        seq: u32,
    },
    /// Campaign on the election key with the node's lease.
    Campaign,
    /// Resign: delete the node's election key (others may win at once);
    /// answer with [`EtcdInput::Resigned`] once etcd has done it.
    Resign,
    /// Revoke the lease (a clean stop): its key goes with it.
    Revoke,
    /// Write the move order (`vipd move`), for every node to read back as
    /// [`EtcdInput::Move`].
    Move(MoveOrder),
    /// The order at `revision` is carried out: delete it, unless a newer
    /// order replaced it.
    ClearMove {
        /// The order's revision, as [`EtcdInput::Move`] gave it.
        revision: u64,
    },
    /// The holder's VIP changed (the DHCP mode: leased, moved, lost): put
    /// it in this node's record, so every node reads it with the leader.
    Publish {
        /// The address the VIP has now, `None` while it has none.
        vip: Option<Ipv4Addr>,
    },
}

/// A planned move, as written under the prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MoveOrder {
    /// The member that should hold next; `None`: any but `from`.
    pub to: Option<Ipv4Addr>,
    /// The holder when the move was asked.
    pub from: Ipv4Addr,
}

/// A move order as etcd holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PostedMove {
    /// The order.
    pub order: MoveOrder,
    /// The revision that wrote it (its key's mod revision).
    pub revision: u64,
}

/// What the host's etcd adapter reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EtcdInput {
    /// etcd answered keep-alive `seq`: the lease lives for `ttl` from when
    /// etcd processed it.
    KeptAlive {
        /// The request answered.
        seq: u32,
        /// The TTL etcd gave (zero or less: the lease is gone).
        ttl: Duration,
    },
    /// The lease is gone: expired, revoked, or unknown to etcd.
    LeaseLost,
    /// The election's leader, the oldest key under the prefix (read after
    /// every change): this node's own, or another's.
    Leader(LeaderRecord),
    /// No key under the election's prefix.
    NoLeader,
    /// The move order under the prefix as it now stands, `None` when
    /// there is none (read in the same stream as the leader, so an order
    /// comes before any leader change it causes).
    Move(Option<PostedMove>),
    /// A [`EtcdRequest::Resign`] is done: the key is gone as of `revision`
    /// (the deletion's revision, or the store's when there was no key).
    /// One per resignation asked, in order.
    Resigned {
        /// etcd's revision after the deletion.
        revision: u64,
    },
}

/// The record an election key holds (its value, and its create revision
/// as the term).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaderRecord {
    /// The key is this node's own.
    pub me: bool,
    /// The leader's address.
    pub address: Ipv4Addr,
    /// The MAC that answers for the VIP there.
    pub hwaddr: EthernetAddress,
    /// The key's create revision.
    pub term: u64,
    /// The priority the record gives (reported only).
    pub priority: u8,
    /// The VIP the record names: the fixed one, or the holder's leased
    /// address (`None` while it has none).
    pub vip: Option<Ipv4Addr>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Initialize,
    Backup,
    Holder { term: u64 },
    Fault,
}

/// The etcd election of one node.
#[derive(Debug, Clone)]
pub struct Etcd {
    settings: EtcdSettings,
    /// This node's address (a move order names members by address).
    me: Ipv4Addr,
    /// The members' addresses, in config order (a move command names an index).
    members: heapless::Vec<Ipv4Addr, MAX_MEMBERS>,
    priority: u8,
    state: State,
    /// The lease's end on this node's clock, while it lives.
    lease_end: Option<Instant>,
    /// Keep-alives asked for and not yet answered: (seq, asked at).
    pending: Deque<(u32, Instant), PENDING>,
    next_seq: u32,
    keepalive_at: Option<Instant>,
    /// etcd last named this node the leader, with this term.
    leader_term: Option<u64>,
    /// The oldest term this node may hold under: a key of its own created
    /// at or before the revision of its last finished resignation is the
    /// deleted one, reported late.
    min_term: u64,
    /// Resignations asked and not yet reported done: while any is, no key
    /// of this node's is one to hold with.
    resigning: u32,
    /// The leader etcd last named, if it was this node's key.
    my_key_leads: Option<u64>,
    /// What the leader's record last said of the VIP, and whether that is
    /// news for the DHCP part (members' copy of the holder's address).
    leader_vip: Option<Option<Ipv4Addr>>,
    heard_vip: Option<Option<Ipv4Addr>>,
    /// The VIP this node's record was last asked to name.
    published: Option<Option<Ipv4Addr>>,
    /// The move order as last read.
    order: Option<PostedMove>,
    /// The revision of the last order this node followed (one read again
    /// after a reconnect is not followed twice).
    followed: u64,
    holder: Option<Holder>,
    requests: Deque<EtcdRequest, REQUESTS>,
}

impl Etcd {
    /// A machine in Initialize for the node at `me` among `members`.
    pub fn new(settings: EtcdSettings, me: Ipv4Addr, members: &Members) -> Etcd {
        Etcd {
            settings,
            me,
            members: members.iter().map(|m| m.address).collect(),
            priority: settings.priority,
            state: State::Initialize,
            lease_end: None,
            pending: Deque::new(),
            next_seq: 0,
            keepalive_at: None,
            leader_term: None,
            min_term: 0,
            resigning: 0,
            my_key_leads: None,
            leader_vip: None,
            heard_vip: None,
            published: None,
            order: None,
            followed: 0,
            holder: None,
            requests: Deque::new(),
        }
    }

    // ---- getters ----

    /// This node's role.
    pub fn role(&self) -> Role {
        match self.state {
            State::Initialize => Role::Initialize,
            State::Backup => Role::Backup,
            State::Holder { .. } => Role::Holder,
            State::Fault => Role::Fault,
        }
    }

    /// The holder as this node knows it (from etcd's leader key).
    pub fn holder(&self) -> Option<Holder> {
        self.holder
    }

    /// This node's priority (etcd elects the oldest key; the priority is
    /// reported, not compared).
    pub fn priority(&self) -> u8 {
        self.priority
    }

    /// The lease's end on this node's clock, while it lives.
    pub fn lease_end(&self) -> Option<Instant> {
        self.lease_end
    }

    /// The next deadline: the lease's end or the next keep-alive.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.lease_end, self.keepalive_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The next request for the adapter, in the order they were made.
    pub(crate) fn poll_request(&mut self) -> Option<EtcdRequest> {
        self.requests.pop_front()
    }

    /// What the leader's record said of the VIP since the last call, once
    /// (`None` inside: it names no address).
    pub(crate) fn take_heard_vip(&mut self) -> Option<Option<Ipv4Addr>> {
        self.heard_vip.take()
    }

    /// The holder's DHCP lease as it stands: its address goes into this
    /// node's record when it changed.
    pub(crate) fn share_vip(&mut self, vip: Option<Ipv4Addr>) {
        if matches!(self.state, State::Holder { .. }) && self.published != Some(vip) {
            self.published = Some(vip);
            self.request(EtcdRequest::Publish { vip });
        }
    }

    // ---- inputs ----

    /// Changes the priority this node reports.
    pub(crate) fn set_priority(&mut self, priority: u8) {
        self.priority = priority;
    }

    /// Starts: keeps a lease and campaigns.
    pub(crate) fn startup(&mut self, now: Instant, out: &mut Outbox) {
        if self.state != State::Initialize {
            return;
        }
        self.enter(State::Backup, out);
        self.keep_alive(now);
        self.request(EtcdRequest::Campaign);
    }

    /// Runs the timers due at `now`: the lease's end first (the VIP goes
    /// before anything else), then the keep-alive.
    pub(crate) fn handle_timeout(&mut self, now: Instant, out: &mut Outbox) {
        if self.lease_end.is_some_and(|end| now >= end) {
            self.lease_end = None;
            self.let_go(out);
        }
        if self.keepalive_at.is_some_and(|at| now >= at) {
            self.keep_alive(now);
        }
    }

    /// What etcd said, through the adapter.
    pub(crate) fn handle_input(&mut self, now: Instant, input: EtcdInput, out: &mut Outbox) {
        match input {
            EtcdInput::KeptAlive { seq, ttl } => self.kept_alive(now, seq, ttl, out),
            EtcdInput::LeaseLost => {
                self.lease_end = None;
                self.pending.clear();
                self.leader_term = None;
                self.let_go(out);
                // The old key went with the old lease: a new lease (the
                // adapter grants one at a keep-alive when it has none),
                // then a new campaign on it.
                if self.state != State::Initialize {
                    self.keep_alive(now);
                }
                if self.state == State::Backup {
                    self.request(EtcdRequest::Campaign);
                }
            }
            EtcdInput::Leader(record) if record.me && !self.may_hold_on(record.term) => {
                self.my_key_leads = Some(record.term);
                // A key this node asked to delete, still the oldest: its
                // deletion is on its way (or done, and reported late). The
                // next leader may hold the moment it lands: not one to
                // hold with.
                self.leader_term = None;
                self.let_go(out);
                self.learn(now, record, out);
            }
            EtcdInput::Leader(record) if record.me => {
                self.my_key_leads = Some(record.term);
                self.leader_term = Some(record.term);
                self.learn(now, record, out);
                self.try_hold(out);
            }
            EtcdInput::Leader(record) => {
                self.my_key_leads = None;
                self.leader_term = None;
                self.let_go(out);
                self.learn(now, record, out);
            }
            EtcdInput::NoLeader => {
                self.my_key_leads = None;
                self.leader_term = None;
                self.let_go(out);
                if self.holder.take().is_some() {
                    out.event(Event::HolderLearned(None));
                }
            }
            EtcdInput::Move(posted) => self.follow_order(posted, out),
            EtcdInput::Resigned { revision } => {
                self.resigning = self.resigning.saturating_sub(1);
                self.min_term = self.min_term.max(revision.saturating_add(1));
                // A key put since, named leader while the deletion was
                // still on its way, may hold now.
                if let Some(term) = self.my_key_leads.filter(|&t| self.may_hold_on(t)) {
                    self.leader_term = Some(term);
                    self.try_hold(out);
                }
            }
        }
    }

    // ---- commands ----

    /// Stops for good: releases, then revokes the lease so the next
    /// candidate wins at once rather than a TTL later.
    pub(crate) fn shutdown(&mut self, out: &mut Outbox) {
        if self.state == State::Initialize {
            return;
        }
        self.enter(State::Initialize, out);
        self.lease_end = None;
        self.keepalive_at = None;
        self.pending.clear();
        self.request(EtcdRequest::Revoke);
    }

    /// The node may not hold (link, health, VIP failure): releases and
    /// resigns, so another takes over at once; keeps its lease.
    pub(crate) fn fault(&mut self, out: &mut Outbox) {
        if matches!(self.state, State::Initialize | State::Fault) {
            return;
        }
        self.enter(State::Fault, out);
        self.leader_term = None;
        self.request(EtcdRequest::Resign);
    }

    /// The node may hold again: campaigns.
    pub(crate) fn recover(&mut self, out: &mut Outbox) {
        if self.state != State::Fault {
            return;
        }
        self.enter(State::Backup, out);
        self.request(EtcdRequest::Campaign);
    }

    /// `vipd move`: asks for the VIP to go to member `target` (an index
    /// into the config's members), or to any member but the holder, by
    /// writing a move order. Nothing without a known holder (nothing to
    /// move) or with a target that is not a member.
    pub(crate) fn move_to(&mut self, target: Option<u8>) {
        let Some(holder) = self.holder else { return };
        let to = match target {
            None => None,
            Some(i) => match self.members.get(usize::from(i)) {
                Some(&address) => Some(address),
                None => return,
            },
        };
        if to == Some(holder.address) {
            return;
        }
        self.request(EtcdRequest::Move(MoveOrder {
            to,
            from: holder.address,
        }));
    }

    // ---- inside ----

    /// Acts on the move order as it now stands.
    fn follow_order(&mut self, posted: Option<PostedMove>, out: &mut Outbox) {
        self.order = posted;
        let Some(posted) = posted else { return };
        if posted.revision <= self.followed {
            // Followed already (read again after a reconnect).
            self.clear_if_done();
            return;
        }
        self.followed = posted.revision;
        if self.sent_back_by(posted.order) {
            // Every key older than the order is sent to the back of the
            // line (a re-queued key is created after the order, so it is
            // younger than the target's); the old one never holds again,
            // as no key does that this node asked to delete.
            self.leader_term = None;
            self.let_go(out);
            if self.state == State::Backup {
                self.requeue();
            }
        } else {
            self.clear_if_done();
        }
    }

    /// True if a key of this node's created at revision `term` is one it
    /// may hold with: no resignation is on its way, and the key is younger
    /// than the last one done.
    fn may_hold_on(&self, term: u64) -> bool {
        self.resigning == 0 && term >= self.min_term
    }

    /// True if `order` sends this node back: it is not the target.
    fn sent_back_by(&self, order: MoveOrder) -> bool {
        match order.to {
            Some(to) => to != self.me,
            None => order.from == self.me,
        }
    }

    /// The holder that an order named (or that is not the node it moved
    /// away from) clears the order: it is carried out.
    fn clear_if_done(&mut self) {
        let Some(posted) = self.order else { return };
        if matches!(self.state, State::Holder { .. }) && !self.sent_back_by(posted.order) {
            self.order = None;
            self.request(EtcdRequest::ClearMove {
                revision: posted.revision,
            });
        }
    }

    /// Deletes this node's key and puts it again, at the back of the line.
    fn requeue(&mut self) {
        self.request(EtcdRequest::Resign);
        self.request(EtcdRequest::Campaign);
    }

    fn keep_alive(&mut self, now: Instant) {
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        if self.pending.is_full() {
            self.pending.pop_front();
        }
        let _ = self.pending.push_back((seq, now));
        self.request(EtcdRequest::KeepAlive { seq });
        self.keepalive_at = Some(now + keepalive_interval(self.settings.lease_ttl));
    }

    fn kept_alive(&mut self, now: Instant, seq: u32, ttl: Duration, out: &mut Outbox) {
        let Some(&(_, asked_at)) = self.pending.iter().find(|(s, _)| *s == seq) else {
            return;
        };
        // Answered: it and every older request are done with.
        while self.pending.front().is_some_and(|&(s, _)| s != seq) {
            self.pending.pop_front();
        }
        self.pending.pop_front();
        if ttl == Duration::ZERO {
            self.handle_input(now, EtcdInput::LeaseLost, out);
            return;
        }
        let ttl = ttl.min(self.settings.lease_ttl);
        let lease = timing::lease(ttl, self.settings.max_drift_ppm, self.settings.fence_margin);
        let end = asked_at + lease;
        if end <= now || self.lease_end.is_some_and(|e| e >= end) {
            return;
        }
        self.lease_end = Some(end);
        if matches!(self.state, State::Holder { .. }) {
            out.event(Event::LeaseExtended { until: end });
        } else {
            self.try_hold(out);
        }
    }

    /// Holds if etcd names this node leader and its lease lives.
    fn try_hold(&mut self, out: &mut Outbox) {
        let (Some(term), Some(end)) = (self.leader_term, self.lease_end) else {
            return;
        };
        if self.state != State::Backup {
            return;
        }
        self.enter(State::Holder { term }, out);
        out.event(Event::LeaseExtended { until: end });
        self.clear_if_done();
    }

    /// No longer holds (its lease ended or etcd names another): release.
    fn let_go(&mut self, out: &mut Outbox) {
        if matches!(self.state, State::Holder { .. }) {
            self.enter(State::Backup, out);
        }
    }

    fn learn(&mut self, now: Instant, r: LeaderRecord, out: &mut Outbox) {
        let seen = Holder {
            address: r.address,
            hwaddr: r.hwaddr,
            priority: if r.me { self.priority } else { r.priority },
            term: Some(r.term),
            since: now,
        };
        learn_holder(&mut self.holder, seen, out);
        // Another's record: what it says of the VIP is the members' copy
        // (this node's own lease is its DHCP client's).
        if !r.me && self.leader_vip != Some(r.vip) {
            self.leader_vip = Some(r.vip);
            self.heard_vip = Some(r.vip);
        }
    }

    fn request(&mut self, r: EtcdRequest) {
        if r == EtcdRequest::Resign {
            self.resigning = self.resigning.saturating_add(1);
        }
        // One input makes at most three requests and the host drains them
        // after each, so the queue never fills.
        debug_assert!(!self.requests.is_full());
        let _ = self.requests.push_back(r);
    }

    fn enter(&mut self, next: State, out: &mut Outbox) {
        let from = self.role();
        let was_holder = matches!(self.state, State::Holder { .. });
        self.state = next;
        let to = self.role();
        if was_holder && to != Role::Holder {
            out.release_vip();
        }
        if from != to {
            out.event(Event::RoleChanged { from, to });
        }
        if to == Role::Holder && !was_holder {
            out.acquire_vip();
        }
    }
}

#[cfg(test)]
mod tests;
