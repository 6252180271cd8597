//! The quorum-lease election (docs/protocol.md, "Quorum leases"): a node
//! holds the VIP only while a majority of the configured members has
//! promised, within a lease measured on its own clock, not to back anyone
//! else.
//!
//! States: Initialize, Backup (following a holder, or waiting to stand),
//! Candidate (asking for votes), Holder. Every deadline lives in the state
//! that owns it, except the restart wait and the promise, which outlive
//! states. The machine pushes `ReleaseVip` before any frame that lets
//! another node take over (a release, a renewal it can no longer back), and
//! checks its lease at the start of every input, so a late input can never
//! act as holder after the lease ended.

pub mod auth;
mod hold;
mod peers;
mod receive;
pub mod timing;

use core::net::Ipv4Addr;

use heapless::Vec;

use super::{ElectionTx, Emitted};
use crate::config::limits::MAX_MEMBERS;
use crate::config::quorum::QuorumSettings;
use crate::config::Config;
use crate::dhcp::{Heard, SharedLease};
use crate::output::{DropReason, Event, FrameKind, Holder, Outbox, Peer, Role, Tx};
use crate::rand::{derive_seed, Prng};
use crate::time::{soonest, Duration, Instant};
use crate::wire::quorum::{
    self, Flags, MessageType, Packet, Repr, DIGEST_LEN, NO_SUBJECT, PAYLOAD_LEN,
};
use crate::wire::{EthernetAddress, EthernetFrame, EthernetProtocol};

use auth::Signer;
use peers::{Freshness, PeerState};
use timing::PriorRuns;

/// How many recent renewals the holder remembers the send time of.
const RENEWALS_KEPT: usize = 16;

/// A promise: this node backs `to` (in `epoch`, or any epoch after a move's
/// release) in a term of at least `min_term`, until `until` on its clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Promise {
    to: u8,
    epoch: Option<u64>,
    min_term: u64,
    until: Instant,
}

/// One renewal the holder sent: its sequence, send time and who acked it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Renewal {
    seq: u64,
    sent_at: Instant,
    acks: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // one per node; the holder's is the one that matters
enum State {
    Initialize,
    Backup,
    Candidate {
        term: u64,
        request_seq: u64,
        sent_at: Instant,
        votes: u32,
        give_up_at: Instant,
        /// Standing on a holder's release: the members promised to that
        /// holder back this node alone, so it yields to no rival.
        handed: bool,
    },
    Holder {
        term: u64,
        lease_end: Instant,
        renew_at: Instant,
        renewals: [Renewal; RENEWALS_KEPT],
        reannounce_at: Option<Instant>,
        /// The higher-priority member heard, and since when (preemption).
        preempt: Option<(u8, Instant)>,
        /// Won through a planned move: it keeps the VIP against preemption
        /// (a move that bounced straight back would be useless).
        moved_in: bool,
    },
}

/// A quorum frame to build at poll time: what is fixed when it is queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct QuorumTx {
    msg_type: MessageType,
    flags: u8,
    priority: u8,
    subject: u8,
    seq: u64,
    term: u64,
    echo_epoch: u64,
    echo_seq: u64,
}

impl QuorumTx {
    /// A frame of `msg_type`; flags, priority and sequence number are
    /// filled in when it is queued.
    fn new(msg_type: MessageType, subject: u8, term: u64, echo_epoch: u64, echo_seq: u64) -> Self {
        QuorumTx {
            msg_type,
            flags: 0,
            priority: 0,
            subject,
            seq: 0,
            term,
            echo_epoch,
            echo_seq,
        }
    }
}

/// The static facts of one member the election needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct MemberFacts {
    address: Ipv4Addr,
    witness: bool,
}

/// One node's quorum election.
#[derive(Debug, Clone)]
pub struct Quorum {
    priority: u8,
    interval: Duration,
    promise_len: Duration,
    lease: Duration,
    reannounce_after: Duration,
    preempt: bool,
    preempt_delay: Duration,
    ethertype: u16,
    dst: EthernetAddress,
    signer: Signer,
    digest: [u8; DIGEST_LEN],
    prior: PriorRuns,
    me: u8,
    mac: EthernetAddress,
    vip_mac: EthernetAddress,
    members: Vec<MemberFacts, MAX_MEMBERS>,
    majority: u32,
    peers: Vec<PeerState, MAX_MEMBERS>,
    epoch: u64,
    seq: u64,
    prng: Prng,
    /// The highest term counter heard or used.
    counter: u64,
    /// The highest term this node promised in.
    promised_term: u64,
    promise: Option<Promise>,
    /// No vote, ack or candidacy before this instant (restart wait).
    wait_until: Instant,
    /// The host lets this node hold (link, health, VIP usable).
    able: bool,
    state: State,
    holder: Option<Holder>,
    /// The holder this node last heard renew, and when.
    holder_heard: Option<(u8, Instant)>,
    /// A release named this node: the next win is a planned move's.
    moving_in: bool,
    /// This round's backoff, counted from `backoff_from`.
    backoff: Duration,
    /// When this round's backoff began (the node became free no earlier).
    backoff_from: Instant,
    reassert: bool,
    /// The drift bound, for leases learned from the holder.
    max_drift_ppm: u32,
    /// The VIP's DHCP lease this holder tells the members in its renewals.
    shared_lease: Option<SharedLease>,
    /// The VIP is leased by DHCP: renewals say the holder's lease, or none.
    leased: bool,
    /// What the holder's last renewal said of its DHCP lease (`Some(None)`:
    /// it holds none), not yet taken by the node.
    heard_lease: Option<Heard>,
}

impl Quorum {
    /// The election for `config` with `settings`, in Initialize.
    ///
    /// `Config::new` made sure this node is a member, the members are at
    /// most [`MAX_MEMBERS`], and the settings are in range.
    pub(crate) fn new(
        config: &Config,
        settings: &QuorumSettings,
        seed: u64,
        prior: PriorRuns,
    ) -> Quorum {
        let members: Vec<MemberFacts, MAX_MEMBERS> = config
            .members()
            .iter()
            .map(|m| MemberFacts {
                address: m.address,
                witness: m.witness,
            })
            .collect();
        let me = members
            .iter()
            .position(|m| m.address == config.address())
            .unwrap_or(0) as u8;
        let mut peers = Vec::new();
        for _ in 0..members.len() {
            // Capacity equals the members' own.
            let _ = peers.push(PeerState::default());
        }
        let mut prng = Prng::new(derive_seed(seed, 0x9_0000));
        let epoch = prng.next_u64();
        let mut q = Quorum {
            priority: settings.priority,
            interval: settings.advert_interval,
            promise_len: settings.lease,
            lease: settings.holder_lease(),
            reannounce_after: settings.reannounce_after,
            preempt: settings.preempt,
            preempt_delay: settings.preempt_delay,
            ethertype: settings.ethertype,
            dst: settings.group_mac.unwrap_or(EthernetAddress::BROADCAST),
            signer: Signer::new(&settings.key),
            digest: auth::config_digest(config, settings),
            prior,
            me,
            mac: config.mac(),
            vip_mac: config.vip_mac(),
            majority: members.len() as u32 / 2 + 1,
            members,
            peers,
            epoch,
            seq: 0,
            prng,
            counter: 0,
            promised_term: 0,
            promise: None,
            wait_until: Instant::ZERO,
            able: false,
            state: State::Initialize,
            holder: None,
            holder_heard: None,
            moving_in: false,
            backoff: Duration::ZERO,
            backoff_from: Instant::ZERO,
            reassert: false,
            max_drift_ppm: settings.max_drift_ppm,
            shared_lease: None,
            leased: config.dhcp().is_some(),
            heard_lease: None,
        };
        q.backoff = q.draw_backoff(false);
        q
    }

    // ---- getters ----

    /// The current role.
    pub fn role(&self) -> Role {
        match self.state {
            State::Initialize => Role::Initialize,
            State::Holder { .. } => Role::Holder,
            State::Candidate { .. } => Role::Candidate,
            State::Backup if !self.able && !self.witness() => Role::Fault,
            State::Backup => Role::Backup,
        }
    }

    /// This node's priority.
    pub fn priority(&self) -> u8 {
        self.priority
    }

    /// The holder as this node knows it.
    pub fn holder(&self) -> Option<Holder> {
        self.holder
    }

    /// This run's epoch.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The config digest every frame carries.
    pub fn digest(&self) -> [u8; DIGEST_LEN] {
        self.digest
    }

    /// The EtherType its frames use.
    pub fn ethertype(&self) -> u16 {
        self.ethertype
    }

    /// This node's member index.
    pub fn member_index(&self) -> u8 {
        self.me
    }

    /// The holder's current lease end, while holding.
    pub fn lease_end(&self) -> Option<Instant> {
        match self.state {
            State::Holder { lease_end, .. } => Some(lease_end),
            _ => None,
        }
    }

    /// When the restart wait ends.
    pub fn waits_until(&self) -> Instant {
        self.wait_until
    }

    /// The member this node is promised to and until when, if any.
    pub fn promised(&self) -> Option<(u8, Instant)> {
        self.promise.map(|p| (p.to, p.until))
    }

    /// The next deadline.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.state {
            State::Initialize => None,
            State::Backup => soonest([self.stand_at(), self.holder_expires_at()]),
            State::Candidate { give_up_at, .. } => Some(*give_up_at),
            State::Holder {
                lease_end,
                renew_at,
                reannounce_at,
                ..
            } => soonest([Some(*lease_end), Some(*renew_at), *reannounce_at]),
        }
    }

    fn witness(&self) -> bool {
        self.members
            .get(usize::from(self.me))
            .is_some_and(|m| m.witness)
    }

    fn waiting(&self, now: Instant) -> bool {
        now < self.wait_until
    }

    fn eligible(&self, now: Instant) -> bool {
        self.able && !self.witness() && !self.waiting(now)
    }

    fn flags(&self, now: Instant) -> Flags {
        Flags {
            eligible: self.eligible(now),
            holding: matches!(self.state, State::Holder { .. }),
            waiting: self.waiting(now),
            planned: false,
        }
    }

    /// When a backup stands, if it may: after the restart wait, after its
    /// promise, after the last holder it heard could still be renewing,
    /// plus its backoff.
    fn stand_at(&self) -> Option<Instant> {
        if !self.able || self.witness() {
            return None;
        }
        let free_at = [
            Some(self.wait_until),
            Some(self.backoff_from),
            self.promise.map(|p| p.until),
            self.holder_heard.map(|(_, at)| at + self.promise_len),
        ]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(self.wait_until);
        Some(free_at + self.backoff)
    }

    /// When the holder last heard stops counting as alive (a promise after
    /// its last renewal), unless this node holds.
    fn holder_expires_at(&self) -> Option<Instant> {
        match self.holder_heard {
            Some((_, at)) if self.holder.is_some() => Some(at + self.promise_len),
            _ => None,
        }
    }

    /// True if this node may promise `to` in `epoch` for `term` now.
    fn may_promise(&self, now: Instant, to: u8, epoch: u64, term: u64) -> bool {
        if self.waiting(now) {
            return false;
        }
        match self.promise {
            Some(p) if now < p.until => {
                p.to == to && p.epoch.is_none_or(|e| e == epoch) && term >= p.min_term
            }
            _ => true,
        }
    }

    // ---- inputs ----

    /// A frame [`claims`] passed: authenticated, checked and acted on, or
    /// dropped with its reason.
    pub(crate) fn handle_frame(
        &mut self,
        now: Instant,
        eth: &EthernetFrame<&[u8]>,
        out: &mut Outbox,
    ) {
        self.check_lease(now, out);
        let Ok(packet) = Packet::new_checked(eth.payload()) else {
            out.drop_frame(DropReason::Truncated);
            return;
        };
        let Ok(repr) = Repr::parse(&packet) else {
            out.drop_frame(DropReason::Unsupported);
            return;
        };
        let src = eth.src_addr();
        if !self
            .signer
            .verify(src, self.ethertype, packet.signed(), packet.tag())
        {
            out.drop_frame(DropReason::Auth);
            return;
        }
        if repr.digest != self.digest || usize::from(repr.sender) >= self.members.len() {
            out.drop_frame(DropReason::Digest);
            return;
        }
        if repr.sender == self.me {
            out.drop_frame(DropReason::Looped);
            return;
        }
        let i = usize::from(repr.sender);
        if repr.msg_type == MessageType::Challenge {
            // Answered whatever the sender's epoch: that is how epochs get
            // confirmed. Rate-limited, so replays cannot make us a reflector.
            self.challenged(now, &repr, out);
            return;
        }
        if repr.msg_type == MessageType::Response {
            // An answer to another member's challenge says nothing to us.
            if repr.subject != self.me {
                return;
            }
            // A response carries the highest term the member heard: a node
            // that missed elections, or restarted and remembers none, must
            // stand above it to be voted for. Without a nonce it answers a
            // vote request it refused.
            if self.peers[i].answer(repr.echo_seq, repr.epoch, repr.seq) || repr.echo_seq == 0 {
                self.counter = self.counter.max(repr.term >> 8);
            } else {
                out.drop_frame(DropReason::Epoch);
            }
            return;
        }
        match self.peers[i].check(repr.epoch, repr.seq) {
            Freshness::Fresh => {}
            Freshness::Replay => {
                out.drop_frame(DropReason::Replay);
                return;
            }
            Freshness::UnknownEpoch => {
                out.drop_frame(DropReason::Epoch);
                let nonce = self.prng.next_u64();
                if let Some(nonce) = self.peers[i].challenge(now, self.interval, nonce) {
                    self.send(now, MessageType::Challenge, repr.sender, 0, 0, nonce, out);
                }
                return;
            }
        }
        out.counters.adverts_in += 1;
        let peer = &mut self.peers[i];
        // A member silent for longer than a promise, or never heard in a
        // tenure longer than that, was cut off (a healed partition, a
        // restart): clients on its side may still name the old holder, so a
        // holder announces again (rate-limited by the announcer). A member
        // first heard as the holder wins is not one: that would swallow the
        // re-announcement at `reannounce_after`.
        let held_long = self
            .holder
            .is_some_and(|h| now.saturating_since(h.since) > self.promise_len);
        let returning =
            !peer.heard_within(now, self.promise_len) && (peer.heard_at.is_some() || held_long);
        peer.heard_at = Some(now);
        peer.flags = repr.flags;
        peer.priority = repr.priority;
        if returning && matches!(self.state, State::Holder { .. }) {
            self.reassert = true;
        }
        out.event(Event::PeerHeard(Peer {
            address: self.members[i].address,
            hwaddr: src,
            priority: repr.priority,
            term: Some(repr.term),
        }));
        match repr.msg_type {
            MessageType::Renew => self.renewal(now, &repr, src, out),
            MessageType::Ack => self.ack(&repr, out),
            MessageType::VoteRequest => self.vote_request(now, &repr, out),
            MessageType::Vote => self.vote(now, &repr, out),
            MessageType::Release => self.release(now, &repr, out),
            MessageType::MoveRequest => {
                if matches!(self.state, State::Holder { .. }) {
                    self.move_to(now, Some(repr.subject).filter(|&s| s != NO_SUBJECT), out);
                }
            }
            // Challenges are handled above; a response to another member,
            // or an unknown type (refused by the parser), means nothing here.
            MessageType::Challenge | MessageType::Response | MessageType::Unknown(_) => {}
        }
    }

    /// Runs the timers due at `now`.
    pub(crate) fn handle_timeout(&mut self, now: Instant, out: &mut Outbox) {
        self.check_lease(now, out);
        match self.state.clone() {
            State::Initialize => {}
            State::Backup => {
                if self.holder_expires_at().is_some_and(|at| now >= at) {
                    self.holder = None;
                    self.holder_heard = None;
                    out.event(Event::HolderLearned(None));
                }
                if self.stand_at().is_some_and(|at| now >= at) {
                    self.stand(now, false, out);
                }
            }
            State::Candidate { give_up_at, .. } => {
                if now >= give_up_at {
                    self.abandon(now, out);
                    // A backoff drawn as zero (priority 255, no random part)
                    // makes the next candidacy due now: stand in this call,
                    // so no deadline is left in the past after it.
                    if self.stand_at().is_some_and(|at| now >= at) {
                        self.stand(now, false, out);
                    }
                }
            }
            State::Holder {
                renew_at,
                reannounce_at,
                ..
            } => {
                if reannounce_at.is_some_and(|at| now >= at) {
                    self.reassert = true;
                    if let State::Holder { reannounce_at, .. } = &mut self.state {
                        *reannounce_at = None;
                    }
                }
                if now >= renew_at {
                    self.renew(now, out);
                    self.consider_preemption(now, out);
                }
            }
        }
    }

    // ---- commands ----

    /// Starts: Backup, after the restart wait.
    pub(crate) fn startup(&mut self, now: Instant, out: &mut Outbox) {
        self.able = true;
        self.wait_until = now + timing::restart_wait(self.prior);
        // Listen for one renewal period first: a holder may be renewing.
        self.backoff_from = now + self.interval;
        self.enter(out, State::Backup);
        // Ask every member to confirm its epoch now, so the first election
        // does not lose a round to challenges.
        let nonce = self.prng.next_u64();
        for (i, peer) in self.peers.iter_mut().enumerate() {
            if i != usize::from(self.me) {
                peer.challenge(now, Duration::ZERO, nonce);
            }
        }
        self.send(now, MessageType::Challenge, NO_SUBJECT, 0, 0, nonce, out);
    }

    /// Stops for good: a holder releases, and names the best other member.
    pub(crate) fn shutdown(&mut self, now: Instant, out: &mut Outbox) {
        self.fault(now, true, out);
        self.enter(out, State::Initialize);
    }

    /// May not hold: a holder releases (naming the best other member when
    /// it can still send); a candidate gives its term up. It still votes.
    pub(crate) fn fault(&mut self, now: Instant, can_send: bool, out: &mut Outbox) {
        let before = self.role();
        self.able = false;
        if self.state == State::Initialize {
            // Started without carrier or health: it votes from the start,
            // so the restart wait runs from the start too.
            self.wait_until = self.wait_until.max(now + timing::restart_wait(self.prior));
        }
        match self.state {
            State::Holder { .. } if can_send => {
                let target = self.best_target(now);
                self.hand_over(now, target, false, out);
            }
            State::Holder { .. } => self.lose(out),
            State::Candidate { .. } => self.abandon(now, out),
            // A backup's word changes from backup to fault; nothing else does.
            State::Initialize | State::Backup => self.note_role(before, out),
        }
    }

    /// May hold again.
    pub(crate) fn recover(&mut self, now: Instant, out: &mut Outbox) {
        if self.state == State::Initialize {
            self.startup(now, out);
        } else {
            let before = self.role();
            self.able = true;
            self.note_role(before, out);
        }
    }

    fn note_role(&self, from: Role, out: &mut Outbox) {
        let to = self.role();
        if from != to {
            out.event(Event::RoleChanged { from, to });
        }
    }

    /// Changes this node's priority (renewals and acks carry it).
    pub(crate) fn set_priority(&mut self, priority: u8) {
        self.priority = priority;
    }

    /// Moves the VIP to `target` (a member index), or to the best other
    /// member: at once on the holder, else by asking the holder.
    pub(crate) fn move_to(&mut self, now: Instant, target: Option<u8>, out: &mut Outbox) {
        if matches!(self.state, State::Holder { .. }) {
            let target = target.or_else(|| self.best_target(now));
            if let Some(t) = target.filter(|&t| self.valid_target(now, t)) {
                self.hand_over(now, Some(t), true, out);
            }
        } else {
            let subject = target.unwrap_or(NO_SUBJECT);
            self.send(
                now,
                MessageType::MoveRequest,
                subject,
                self.counter << 8,
                0,
                0,
                out,
            );
        }
    }

    // ---- what the announcer must do ----

    /// True once after this holder decided to repeat its announcements.
    /// The VIP's DHCP lease to carry in this holder's renewals.
    pub(crate) fn share_lease(&mut self, lease: Option<SharedLease>) {
        self.shared_lease = lease;
    }

    /// What the holder said of its DHCP lease since the last call.
    pub(crate) fn take_heard_lease(&mut self) -> Option<Heard> {
        self.heard_lease.take()
    }

    pub(crate) fn take_reassert(&mut self) -> bool {
        core::mem::take(&mut self.reassert)
    }

    // ---- outputs ----

    /// Writes the payload `tx` describes and seals it.
    pub(crate) fn emit(&self, tx: QuorumTx, payload: &mut [u8]) -> Emitted {
        let repr = Repr {
            msg_type: tx.msg_type,
            sender: self.me,
            flags: Flags::from_byte(tx.flags),
            priority: tx.priority,
            subject: tx.subject,
            digest: self.digest,
            epoch: self.epoch,
            seq: tx.seq,
            term: tx.term,
            echo_epoch: tx.echo_epoch,
            echo_seq: tx.echo_seq,
        };
        let bytes = &mut payload[..PAYLOAD_LEN];
        repr.emit(&mut Packet::new_unchecked(&mut *bytes));
        let tag = self
            .signer
            .tag(self.mac, self.ethertype, &bytes[..quorum::SIGNED_LEN]);
        Packet::new_unchecked(bytes).set_tag(&tag);
        Emitted {
            src: Some(self.mac),
            dst: self.dst,
            ethertype: EthernetProtocol::from(self.ethertype),
            len: PAYLOAD_LEN,
            kind: FrameKind::Advert,
        }
    }

    // ---- bookkeeping ----

    fn make_promise(&mut self, now: Instant, to: u8, epoch: Option<u64>, term: u64) {
        let until = now + self.promise_len;
        let until = match self.promise {
            Some(p) if p.to == to && now < p.until => until.max(p.until),
            _ => until,
        };
        self.promise = Some(Promise {
            to,
            epoch,
            min_term: term,
            until,
        });
        // Terms promised to others only grow; its own candidacy's term is
        // given up with the candidacy, and does not stop it following an
        // older holder that is still renewing.
        if to != self.me {
            self.promised_term = self.promised_term.max(term);
        }
    }

    fn learn_holder(
        &mut self,
        now: Instant,
        h: u8,
        hwaddr: EthernetAddress,
        priority: u8,
        term: u64,
        out: &mut Outbox,
    ) {
        let seen = Holder {
            address: self.members[usize::from(h)].address,
            hwaddr,
            priority,
            term: Some(term),
            since: now,
        };
        super::learn_holder(&mut self.holder, seen, out);
    }

    fn address_of(&self, i: u8) -> Option<Ipv4Addr> {
        self.members.get(usize::from(i)).map(|m| m.address)
    }

    fn draw_backoff(&mut self, after_failure: bool) -> Duration {
        let spread = if after_failure {
            self.interval
        } else {
            timing::backoff_spread(self.interval)
        }
        .total_micros();
        timing::backoff_base(self.interval, self.priority)
            + Duration::from_micros(self.prng.below(spread + 1))
    }

    /// Queues one frame; returns its sequence number.
    #[allow(clippy::too_many_arguments)]
    fn send(
        &mut self,
        now: Instant,
        msg_type: MessageType,
        subject: u8,
        term: u64,
        echo_epoch: u64,
        echo_seq: u64,
        out: &mut Outbox,
    ) -> u64 {
        let tx = QuorumTx::new(msg_type, subject, term, echo_epoch, echo_seq);
        self.send_flagged(self.flags(now), tx, out)
    }

    /// Queues `tx` with `flags`, this node's priority and the next sequence
    /// number; returns that number.
    fn send_flagged(&mut self, flags: Flags, mut tx: QuorumTx, out: &mut Outbox) -> u64 {
        self.seq += 1;
        tx.flags = flags.to_byte();
        tx.priority = self.priority;
        tx.seq = self.seq;
        out.transmit(Tx::Election(ElectionTx::Quorum(tx)));
        self.seq
    }

    /// Moves to `next`, pushing Release/RoleChanged/Acquire in contract order.
    fn enter(&mut self, out: &mut Outbox, next: State) {
        let from = self.role();
        let was_holder = matches!(self.state, State::Holder { .. });
        self.state = next;
        let to = self.role();
        if was_holder && to != Role::Holder {
            out.release_vip();
            if self
                .holder
                .is_some_and(|h| h.address == self.members[usize::from(self.me)].address)
            {
                self.holder = None;
                out.event(Event::HolderLearned(None));
            }
        }
        if from != to {
            out.event(Event::RoleChanged { from, to });
        }
        if to == Role::Holder && !was_holder {
            out.acquire_vip();
        }
    }
}

/// True if `eth` carries this election's EtherType.
pub(crate) fn claims(eth: &EthernetFrame<&[u8]>, ethertype: u16) -> bool {
    u16::from(eth.ethertype()) == ethertype
}
