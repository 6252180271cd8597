//! What a member knows of each other member: the epoch it confirmed, the
//! highest sequence seen in it, an outstanding challenge, and what the
//! member last said of itself.

use crate::time::{Duration, Instant};
use crate::wire::quorum::Flags;

/// One other member, as this node knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct PeerState {
    /// The epoch confirmed by a challenge, and the highest sequence seen in it.
    confirmed: Option<(u64, u64)>,
    /// The nonce of the challenge outstanding, and when it was sent.
    challenge: Option<(u64, Instant)>,
    /// When this node last answered the member's challenge.
    answered_at: Option<Instant>,
    /// When a fresh frame of the member last arrived.
    pub(crate) heard_at: Option<Instant>,
    /// What it last said of itself.
    pub(crate) flags: Flags,
    /// Its priority, as it last said.
    pub(crate) priority: u8,
}

/// What the freshness check says of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Freshness {
    /// New: act on it.
    Fresh,
    /// Seen before, or older than one seen: drop it.
    Replay,
    /// From an epoch not confirmed: drop it and challenge.
    UnknownEpoch,
}

impl PeerState {
    /// Judges a frame's (epoch, seq) and, when fresh, records its sequence.
    pub(crate) fn check(&mut self, epoch: u64, seq: u64) -> Freshness {
        match &mut self.confirmed {
            Some((e, highest)) if *e == epoch => {
                if seq <= *highest {
                    Freshness::Replay
                } else {
                    *highest = seq;
                    Freshness::Fresh
                }
            }
            _ => Freshness::UnknownEpoch,
        }
    }

    /// The epoch confirmed for this member, if any.
    pub(crate) fn epoch(&self) -> Option<u64> {
        self.confirmed.map(|(e, _)| e)
    }

    /// A challenge to send now, with `nonce`, unless one went out less than
    /// `every` ago.
    pub(crate) fn challenge(&mut self, now: Instant, every: Duration, nonce: u64) -> Option<u64> {
        match self.challenge {
            Some((_, at)) if now.saturating_since(at) < every => None,
            _ => {
                self.challenge = Some((nonce, now));
                Some(nonce)
            }
        }
    }

    /// A response with `nonce` in `epoch` at `seq`: true (and the epoch
    /// confirmed) if it answers the challenge outstanding.
    pub(crate) fn answer(&mut self, nonce: u64, epoch: u64, seq: u64) -> bool {
        match self.challenge {
            Some((n, _)) if n == nonce => {
                self.challenge = None;
                self.confirmed = Some((epoch, seq));
                true
            }
            _ => false,
        }
    }

    /// True if this node may answer the member's challenge now (one answer
    /// per `every`, so replayed challenges cannot make it a reflector).
    pub(crate) fn may_answer(&mut self, now: Instant, every: Duration) -> bool {
        let recent = self
            .answered_at
            .is_some_and(|at| now.saturating_since(at) < every);
        if !recent {
            self.answered_at = Some(now);
        }
        !recent
    }

    /// True if the member was heard within `within` of `now`.
    pub(crate) fn heard_within(&self, now: Instant, within: Duration) -> bool {
        self.heard_at
            .is_some_and(|at| now.saturating_since(at) <= within)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_epoch_counts_only_once_confirmed_and_sequences_only_grow() {
        let mut p = PeerState::default();
        let t = Instant::from_millis(1);
        assert_eq!(p.check(7, 1), Freshness::UnknownEpoch);
        let nonce = p.challenge(t, Duration::from_millis(10), 99).unwrap();
        assert_eq!(
            p.challenge(t, Duration::from_millis(10), 100),
            None,
            "rate-limited"
        );
        assert!(!p.answer(nonce + 1, 7, 5), "a wrong nonce confirms nothing");
        assert!(p.answer(nonce, 7, 5));
        assert!(!p.answer(nonce, 7, 6), "a nonce answers once");
        assert_eq!(p.epoch(), Some(7));
        assert_eq!(p.check(7, 5), Freshness::Replay);
        assert_eq!(p.check(7, 6), Freshness::Fresh);
        assert_eq!(p.check(7, 6), Freshness::Replay);
        assert_eq!(p.check(8, 100), Freshness::UnknownEpoch, "another boot");
    }
}
