//! The quorum election's records for the checker: who promised in which
//! term, who held which term, the moves asked, and what the attacker's
//! frames did.
//!
//! Terms: the protocol orders holders' terms through the members that
//! remember them, not through a clock. A member that acked or voted in term
//! T (and has not restarted since) votes only for a higher term, so once
//! more than N − M members other than the holder remember T, every later
//! holder has a higher term. A restart forgets (no disk), so the rule is
//! checked in that form: an acquisition in term T' ≤ T is a violation only
//! while more than N − M members that promised in T still run the same
//! incarnation.

use std::collections::BTreeMap;

use vip_core::{Duration, Instant};

use crate::scenario::MoveOutcome;

/// Who promised in one term.
#[derive(Debug, Clone, Default)]
struct TermEntry {
    /// The member the promises were to.
    subject: u8,
    /// Per member, the incarnation that promised (0: none).
    promised_by: Vec<u32>,
    /// Someone acquired in this term.
    held: bool,
}

/// A `move` fault, as asked.
#[derive(Debug, Clone, Copy)]
pub struct MoveAsk {
    /// When.
    pub at: Instant,
    /// The node whose daemon was asked.
    pub asked: usize,
    /// The target, or `None` for the best other one.
    pub to: Option<usize>,
    /// The holder then (the one node holding), if any.
    pub holder: Option<usize>,
    /// Why the target cannot take it, known at the time (for the report).
    pub hopeless: Option<&'static str>,
}

/// What one move came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoveResult {
    /// When it was asked.
    pub at: Instant,
    /// The outcome.
    pub outcome: MoveOutcome,
    /// One line for the report.
    pub detail: String,
    /// True if it was late in a quiet period (a violation).
    pub broken: bool,
}

/// The attacker's frames and what the nodes did with them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AttackTally {
    /// Replays of frames the target had accepted.
    pub replays: u64,
    /// Frames with a flipped bit.
    pub forged: u64,
    /// Frames signed with the key under another config's digest.
    pub foreign: u64,
    /// Dropped as `auth`.
    pub dropped_auth: u64,
    /// Dropped as `replay`.
    pub dropped_replay: u64,
    /// Dropped as `epoch` (a replay from a sender's earlier run; challenged).
    pub dropped_epoch: u64,
    /// Dropped as `digest`.
    pub dropped_digest: u64,
}

/// The quorum records of one run.
#[derive(Debug, Default)]
pub struct QuorumLog {
    /// Keyed by (term, the holder's epoch): two runs of one node may reach
    /// the same term, and each is its own lease.
    terms: BTreeMap<(u64, u64), TermEntry>,
    /// Every acquisition: (when, node, term).
    pub acquisitions: Vec<(Instant, usize, u64)>,
    /// Every release: (when, node).
    pub releases: Vec<(Instant, usize)>,
    /// Every acquisition whose VIP the host could not add: (when, node).
    pub failed_adds: Vec<(Instant, usize)>,
    /// When each vote request went out (its voters stay bound for a promise).
    pub requests: Vec<Instant>,
    /// Every move asked.
    pub moves: Vec<MoveAsk>,
    /// The attacker's tally.
    pub attack: AttackTally,
    /// Acquisitions whose term was not above an earlier holder's, all with
    /// too few members remembering that term (allowed, counted).
    pub forgotten_terms: u64,
}

impl QuorumLog {
    /// `member` (in `incarnation`) acked or voted for `subject` (in its
    /// `epoch`) in `term`.
    pub fn promise(&mut self, term: u64, epoch: u64, subject: u8, member: usize, incarnation: u32) {
        let e = self.terms.entry((term, epoch)).or_default();
        e.subject = subject;
        if e.promised_by.len() <= member {
            e.promised_by.resize(member + 1, 0);
        }
        e.promised_by[member] = incarnation;
    }

    /// `node` acquired in `term` (in its `epoch`); `running[m]` is member
    /// m's incarnation if it runs. Returns the violation, if any.
    pub fn acquire(
        &mut self,
        at: Instant,
        node: usize,
        (term, epoch): (u64, u64),
        running: &[Option<u32>],
        tolerated: usize,
    ) -> Option<String> {
        self.acquisitions.push((at, node, term));
        let mut found = None;
        let mut backwards = false;
        for (&(t, e_epoch), e) in self.terms.range((term, 0)..) {
            if !e.held || (t, e_epoch) == (term, epoch) {
                continue;
            }
            backwards = true;
            let remembering = e
                .promised_by
                .iter()
                .enumerate()
                .filter(|&(m, &inc)| {
                    inc != 0 && m != usize::from(e.subject) && running.get(m) == Some(&Some(inc))
                })
                .count();
            if remembering > tolerated && found.is_none() {
                found = Some(format!(
                    "n{node} acquired in term {term:#x}, not above term {t:#x} that n{} held \
                     while {remembering} members that promised in it still run (more than {tolerated})",
                    e.subject
                ));
            }
        }
        if backwards && found.is_none() {
            self.forgotten_terms += 1;
        }
        let e = self.terms.entry((term, epoch)).or_default();
        e.subject = node as u8;
        e.held = true;
        found
    }

    /// `node` released.
    pub fn release(&mut self, at: Instant, node: usize) {
        self.releases.push((at, node));
    }

    /// Judges every move: `one_way` is the worst host-to-host latency,
    /// `quiet(at, until)` whether nothing but the move happened around it.
    pub fn judge_moves(
        &self,
        one_way: Duration,
        quiet: impl Fn(Instant, Instant) -> bool,
    ) -> Vec<MoveResult> {
        let epsilon = Duration::from_micros(100);
        self.moves
            .iter()
            .map(|m| {
                let forwarded = m.holder.is_some_and(|h| h != m.asked);
                let hops = if forwarded { 4 } else { 3 };
                let by = m.at + one_way.saturating_mul(hops) + epsilon;
                let release_by = m.at + one_way.saturating_mul(hops - 3) + epsilon;
                let released = m.holder.and_then(|h| {
                    self.releases
                        .iter()
                        .find(|&&(t, n)| n == h && t >= m.at && t <= release_by)
                        .map(|&(t, _)| t)
                });
                let taken = self.acquisitions.iter().find(|&&(t, n, _)| {
                    t >= m.at && Some(n) != m.holder && m.to.is_none_or(|to| to == n)
                });
                let target =
                    m.to.map_or("the best other member".to_string(), |t| format!("n{t}"));
                match (m.holder, released, taken) {
                    (None, _, _) => MoveResult {
                        at: m.at,
                        outcome: MoveOutcome::Refused,
                        detail: format!("move to {target} at {}: refused, no holder", m.at),
                        broken: false,
                    },
                    (Some(h), None, _) => MoveResult {
                        at: m.at,
                        outcome: MoveOutcome::Refused,
                        detail: format!(
                            "move to {target} at {}: refused by n{h} ({})",
                            m.at,
                            m.hopeless.unwrap_or("no eligible target it heard within P")
                        ),
                        broken: false,
                    },
                    (Some(h), Some(r), Some(&(t, n, _))) if t <= by => MoveResult {
                        at: m.at,
                        outcome: MoveOutcome::Moved,
                        detail: format!(
                            "move to {target} at {}: n{h} released at {r}, n{n} held {} later",
                            m.at,
                            crate::units::ms(t - m.at)
                        ),
                        broken: false,
                    },
                    (Some(h), Some(r), taken) => {
                        let failed_add = self.failed_adds.iter().any(|&(t, n)| {
                            t >= m.at
                                && t <= by
                                && Some(n) != m.holder
                                && m.to.is_none_or(|to| to == n)
                        });
                        let broken = !failed_add && quiet(m.at, by);
                        let when = taken
                            .map_or("never".to_string(), |&(t, n, _)| format!("n{n} at {}", t));
                        MoveResult {
                            at: m.at,
                            outcome: MoveOutcome::Late,
                            detail: format!(
                                "move to {target} at {}: n{h} released at {r} but the target did \
                                 not hold by {by} (held: {when}){}",
                                m.at,
                                if broken {
                                    " in a quiet period"
                                } else if failed_add {
                                    ": its host could not add the VIP"
                                } else {
                                    ""
                                }
                            ),
                            broken,
                        }
                    }
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    #[test]
    fn a_lower_term_is_a_violation_only_while_enough_members_remember() {
        let mut log = QuorumLog::default();
        let all = [Some(1), Some(1), Some(1)];
        // n0 holds term 0x500, promised by n1 only (n2 was cut off).
        log.promise(0x500, 7, 0, 1, 1);
        assert!(log.acquire(at(1), 0, (0x500, 7), &all, 1).is_none());
        // n2 wins 0x202 with n0's vote: one member (n1) remembers 0x500,
        // not more than N − M = 1: allowed, and counted.
        assert!(log.acquire(at(2), 2, (0x202, 9), &all, 1).is_none());
        assert_eq!(log.forgotten_terms, 1);
        // n0 holds 0x600 promised by n1 and n2: a lower term now breaks it.
        log.promise(0x600, 7, 0, 1, 1);
        log.promise(0x600, 7, 0, 2, 1);
        assert!(log.acquire(at(3), 0, (0x600, 7), &all, 1).is_none());
        let v = log.acquire(at(4), 1, (0x301, 8), &all, 1);
        assert!(v.is_some_and(|v| v.contains("term 0x600")), "{log:?}");
        // Once n1 restarted (incarnation 2) only n2 remembers.
        let v = log.acquire(at(5), 2, (0x402, 9), &[Some(1), Some(2), Some(1)], 1);
        assert!(v.is_none());
        // Another run of n0 (another epoch) in the same term 0x600 is its own lease.
        log.promise(0x600, 11, 0, 2, 1);
        let v = log.acquire(at(6), 0, (0x600, 11), &[Some(2), Some(2), Some(1)], 1);
        assert!(v.is_none(), "{v:?}");
    }
}
