//! Standing and holding: asking for votes, counting them, renewing the
//! lease and handing over.

use super::{timing, Quorum, QuorumTx, Renewal, State, RENEWALS_KEPT};
use crate::output::{Event, Outbox};
use crate::time::{Duration, Instant};
use crate::wire::quorum::{Flags, MessageType, NO_SUBJECT};

impl Quorum {
    pub(super) fn stand(&mut self, now: Instant, handed: bool, out: &mut Outbox) {
        self.counter += 1;
        let term = self.counter << 8 | u64::from(self.me);
        if !self.may_promise(now, self.me, self.epoch, term) {
            return;
        }
        self.make_promise(now, self.me, Some(self.epoch), term);
        let request_seq = self.send(now, MessageType::VoteRequest, self.me, term, 0, 0, out);
        self.enter(
            out,
            State::Candidate {
                term,
                request_seq,
                sent_at: now,
                votes: 1 << self.me,
                give_up_at: now + timing::candidacy(self.interval),
                handed,
            },
        );
    }

    pub(super) fn abandon(&mut self, now: Instant, out: &mut Outbox) {
        self.moving_in = false;
        // Its own vote was a promise to itself for this term only: free it.
        if self.promise.is_some_and(|p| p.to == self.me) {
            self.promise = None;
        }
        // So were its voters': a term given up can never be won (late votes
        // are ignored), so a release naming no target frees them at once,
        // or a split vote would bind them for a whole promise.
        if let State::Candidate { term, .. } = self.state {
            self.send(
                now,
                MessageType::Release,
                NO_SUBJECT,
                term,
                self.epoch,
                0,
                out,
            );
        }
        // A wider random part after a failed round, so colliding
        // candidates fall apart.
        self.backoff = self.draw_backoff(true);
        self.backoff_from = now;
        self.enter(out, State::Backup);
    }

    pub(super) fn win(&mut self, now: Instant, term: u64, sent_at: Instant, out: &mut Outbox) {
        let moved_in = core::mem::take(&mut self.moving_in);
        // A term it held is a term it backed (rule 2): it will not back an
        // older holder, one that can only be renewing after a frozen clock.
        self.promised_term = self.promised_term.max(term);
        self.enter(
            out,
            State::Holder {
                term,
                lease_end: sent_at + self.lease,
                renew_at: now,
                renewals: [Renewal::default(); RENEWALS_KEPT],
                reannounce_at: (self.reannounce_after > Duration::ZERO)
                    .then(|| now + self.reannounce_after),
                preempt: None,
                moved_in,
            },
        );
        out.event(Event::LeaseExtended {
            until: sent_at + self.lease,
        });
        self.learn_holder(now, self.me, self.vip_mac, self.priority, term, out);
        self.holder_heard = None;
        self.renew(now, out);
    }

    pub(super) fn renew(&mut self, now: Instant, out: &mut Outbox) {
        let State::Holder { term, .. } = self.state else {
            return;
        };
        self.make_promise(now, self.me, Some(self.epoch), term);
        let (lease, lease_left) = self.shared_lease.map_or((0, 0), |l| l.to_echo(now));
        let seq = self.send(
            now,
            MessageType::Renew,
            self.me,
            term,
            lease,
            lease_left,
            out,
        );
        let interval = self.interval;
        let me = self.me;
        if let State::Holder {
            renew_at, renewals, ..
        } = &mut self.state
        {
            *renew_at = now + interval;
            let slot = (seq as usize) % RENEWALS_KEPT;
            renewals[slot] = Renewal {
                seq,
                sent_at: now,
                acks: 1 << me,
            };
        }
    }

    /// Gives the VIP up if the lease has run out: before anything else.
    pub(super) fn check_lease(&mut self, now: Instant, out: &mut Outbox) {
        if self.lease_end().is_some_and(|end| now >= end) {
            self.lose(out);
        }
    }

    /// No longer holds: release first; the promise to itself runs on.
    pub(super) fn lose(&mut self, out: &mut Outbox) {
        if matches!(self.state, State::Holder { .. }) {
            self.backoff = self.draw_backoff(false);
            self.enter(out, State::Backup);
        }
    }

    /// Releases, then tells the members they may back `target` at once.
    /// Gives the VIP up and, with a target, hands it over: `planned` for a
    /// `vipd move` (the target then keeps it against preemption), not for
    /// preemption, health or shutdown.
    pub(super) fn hand_over(
        &mut self,
        now: Instant,
        target: Option<u8>,
        planned: bool,
        out: &mut Outbox,
    ) {
        let State::Holder { term, .. } = self.state else {
            return;
        };
        self.lose(out);
        let Some(t) = target else { return };
        if let Some(p) = &mut self.promise {
            if p.to == self.me {
                p.to = t;
                p.epoch = None;
                p.min_term = term + 1;
            }
        }
        let flags = Flags {
            planned,
            ..self.flags(now)
        };
        let release = QuorumTx::new(MessageType::Release, t, term, self.epoch, 0);
        self.send_flagged(flags, release, out);
    }

    pub(super) fn consider_preemption(&mut self, now: Instant, out: &mut Outbox) {
        if !self.preempt {
            return;
        }
        let best = self
            .best_target(now)
            .filter(|&t| self.peers[usize::from(t)].priority > self.priority);
        let State::Holder {
            preempt, moved_in, ..
        } = &mut self.state
        else {
            return;
        };
        if *moved_in {
            return;
        }
        let since = match (best, *preempt) {
            (None, _) => None,
            (Some(t), Some((p, since))) if p == t => Some((t, since)),
            (Some(t), _) => Some((t, now)),
        };
        *preempt = since;
        if let Some((t, since)) = since {
            if now.saturating_since(since) >= self.preempt_delay {
                self.hand_over(now, Some(t), false, out);
            }
        }
    }

    /// The member a move without a target goes to: eligible, not a witness,
    /// heard within a promise, highest priority, then lowest index.
    pub(super) fn best_target(&self, now: Instant) -> Option<u8> {
        (0..self.members.len() as u8)
            .filter(|&t| self.valid_target(now, t))
            .max_by_key(|&t| (self.peers[usize::from(t)].priority, u8::MAX - t))
    }

    pub(super) fn valid_target(&self, now: Instant, t: u8) -> bool {
        let i = usize::from(t);
        t != self.me
            && i < self.members.len()
            && !self.members[i].witness
            && self.peers[i].flags.eligible
            && self.peers[i].heard_within(now, self.promise_len)
    }
}
