//! Receiving: what each message type does to a member, after `handle_frame`
//! in `mod.rs` checked the tag, the config digest and the sender.

use super::peers::Freshness;
use super::{Quorum, State};
use crate::dhcp::{Heard, SharedLease};
use crate::output::{DropReason, Event, Outbox};
use crate::time::Instant;
use crate::wire::quorum::{MessageType, Repr, NO_SUBJECT};
use crate::wire::EthernetAddress;

impl Quorum {
    pub(super) fn challenged(&mut self, now: Instant, repr: &Repr, out: &mut Outbox) {
        let i = usize::from(repr.sender);
        if repr.subject != self.me && repr.subject != NO_SUBJECT {
            return;
        }
        // A confirmed epoch's challenges are sequence-checked like any frame.
        if self.peers[i].epoch() == Some(repr.epoch)
            && self.peers[i].check(repr.epoch, repr.seq) == Freshness::Replay
        {
            out.drop_frame(DropReason::Replay);
            return;
        }
        if self.peers[i].may_answer(now, self.interval.div(2)) {
            // The term says how high the challenger must stand (it may have
            // restarted and forgotten every term).
            let term = self.counter << 8;
            self.send(
                now,
                MessageType::Response,
                repr.sender,
                term,
                0,
                repr.echo_seq,
                out,
            );
        }
        // We may not know its epoch either: ask in turn.
        if self.peers[i].epoch() != Some(repr.epoch) {
            let nonce = self.prng.next_u64();
            if let Some(nonce) = self.peers[i].challenge(now, self.interval, nonce) {
                self.send(now, MessageType::Challenge, repr.sender, 0, 0, nonce, out);
            }
        }
    }

    pub(super) fn renewal(
        &mut self,
        now: Instant,
        repr: &Repr,
        src: EthernetAddress,
        out: &mut Outbox,
    ) {
        let h = repr.sender;
        if self.members[usize::from(h)].witness {
            return;
        }
        match self.state {
            State::Holder { term, .. } => {
                // Another holder with a higher term has a majority, so this
                // one lost its own (possible only when clocks broke the
                // drift bound, or after a frozen VM woke): give up at once.
                if repr.term > term {
                    self.lose(out);
                } else {
                    return;
                }
            }
            // A holder is renewing: this candidacy cannot win; follow it.
            State::Candidate { .. } => self.abandon(now, out),
            State::Initialize | State::Backup => {}
        }
        let may =
            self.may_promise(now, h, repr.epoch, repr.term) && repr.term >= self.promised_term;
        let following = self.promise.is_some_and(|p| p.to == h && now < p.until);
        if !may && !following && !self.waiting(now) {
            // Promised elsewhere: deaf to this one (and to its term).
            return;
        }
        self.counter = self.counter.max(repr.term >> 8);
        self.holder_heard = Some((h, now));
        self.learn_holder(now, h, src, repr.priority, repr.term, out);
        if may {
            // The lease a member keeps is the one the renewal it acks
            // carries (or none): the holder it promised to.
            if self.leased {
                let lease =
                    SharedLease::from_echo(now, repr.echo_epoch, repr.echo_seq, self.max_drift_ppm);
                self.heard_lease = Some(lease.map_or(Heard::NoLease, Heard::Lease));
            }
            self.make_promise(now, h, Some(repr.epoch), repr.term);
            self.send(
                now,
                MessageType::Ack,
                h,
                repr.term,
                repr.epoch,
                repr.seq,
                out,
            );
        }
    }

    pub(super) fn ack(&mut self, repr: &Repr, out: &mut Outbox) {
        let majority = self.majority;
        let lease = self.lease;
        let State::Holder {
            term,
            lease_end,
            renewals,
            ..
        } = &mut self.state
        else {
            return;
        };
        if repr.subject != self.me || repr.echo_epoch != self.epoch || repr.term != *term {
            return;
        }
        let Some(r) = renewals
            .iter_mut()
            .find(|r| r.seq == repr.echo_seq && r.seq != 0)
        else {
            return;
        };
        r.acks |= 1 << repr.sender;
        let until = r.sent_at + lease;
        if r.acks.count_ones() >= majority && until > *lease_end {
            *lease_end = until;
            out.event(Event::LeaseExtended { until });
        }
    }

    pub(super) fn vote_request(&mut self, now: Instant, repr: &Repr, out: &mut Outbox) {
        let c = repr.sender;
        if self.members[usize::from(c)].witness {
            return;
        }
        // A candidate in a lower term yields, as if its round had run out
        // (Raft): candidates that only ever refuse each other can keep
        // colliding, since a candidacy (2 R) outlasts the backoff (R).
        if matches!(self.state, State::Candidate { term, handed, .. } if repr.term > term && !handed)
        {
            self.abandon(now, out);
        }
        if !matches!(self.state, State::Backup) {
            return;
        }
        if !self.may_promise(now, c, repr.epoch, repr.term) {
            // Promised elsewhere, or waiting: deaf to it.
            return;
        }
        if repr.term <= self.promised_term {
            // Terms only grow: a candidate behind a term this node backed
            // cannot win it. Free as it is, this node tells it the term to
            // beat (a response without a nonce), or it would climb one
            // counter per refused round.
            let term = self.counter << 8;
            self.send(now, MessageType::Response, c, term, 0, 0, out);
            return;
        }
        self.counter = self.counter.max(repr.term >> 8);
        self.make_promise(now, c, Some(repr.epoch), repr.term);
        if self
            .holder
            .is_some_and(|h| Some(h.address) != self.address_of(c))
        {
            self.holder = None;
            self.holder_heard = None;
            out.event(Event::HolderLearned(None));
        }
        self.send(
            now,
            MessageType::Vote,
            c,
            repr.term,
            repr.epoch,
            repr.seq,
            out,
        );
    }

    pub(super) fn vote(&mut self, now: Instant, repr: &Repr, out: &mut Outbox) {
        let majority = self.majority;
        let State::Candidate {
            term,
            request_seq,
            sent_at,
            votes,
            ..
        } = &mut self.state
        else {
            return;
        };
        if repr.subject != self.me
            || repr.echo_epoch != self.epoch
            || repr.echo_seq != *request_seq
            || repr.term != *term
        {
            return;
        }
        *votes |= 1 << repr.sender;
        if votes.count_ones() >= majority {
            let (term, sent_at) = (*term, *sent_at);
            if now >= sent_at + self.lease {
                // Read after the lease they grant ran out (the process was
                // not scheduled; frames are read before timers): holding
                // would announce the VIP and release it in the same breath.
                self.abandon(now, out);
                return;
            }
            self.win(now, term, sent_at, out);
        }
    }

    pub(super) fn release(&mut self, now: Instant, repr: &Repr, out: &mut Outbox) {
        let h = repr.sender;
        let target = repr.subject;
        let matches = self.promise.is_some_and(|p| {
            p.to == h && p.epoch == Some(repr.epoch) && p.min_term <= repr.term && now < p.until
        });
        if target == NO_SUBJECT {
            // A candidate gave this term up: a vote in exactly that term
            // backs nothing any more (a later term of its stays bound).
            if matches && self.promise.is_some_and(|p| p.min_term == repr.term) {
                self.promise = None;
            }
        } else if matches {
            if let Some(p) = &mut self.promise {
                // The target only, in a later term, until the old end.
                p.to = target;
                p.epoch = None;
                p.min_term = repr.term + 1;
            }
        }
        if self.holder_heard.is_some_and(|(x, _)| x == h) {
            self.holder_heard = None;
        }
        if self
            .holder
            .is_some_and(|x| Some(x.address) == self.address_of(h))
        {
            self.holder = None;
            out.event(Event::HolderLearned(None));
        }
        self.counter = self.counter.max(repr.term >> 8);
        if target == self.me && matches!(self.state, State::Candidate { handed: false, .. }) {
            // Its request went out before the release: the members promised
            // to the holder refused it. It stands again, on the release.
            self.abandon(now, out);
        }
        if target == self.me && self.eligible(now) && self.state == State::Backup {
            // Only a planned move sticks against preemption, whatever the
            // priorities: a release for preemption, or from a holder that
            // may no longer hold (health, shutdown, a failed VIP), hands
            // over a VIP that may be preempted back.
            self.moving_in = repr.flags.planned;
            self.stand(now, true, out);
            if !matches!(self.state, State::Candidate { .. }) {
                self.moving_in = false;
            }
        }
    }
}
