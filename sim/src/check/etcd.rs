//! The etcd election's records and bounds for the checker: who held in
//! which term, the moves asked and the holders stopped, and the liveness
//! bound from the core's own constants (docs/simulator.md, "Invariants
//! for etcd").

use vip_core::election::etcd::keepalive_interval;
use vip_core::election::quorum::timing;
use vip_core::{Duration, Instant};

use super::bounds::{self, ROUNDS_MISSED};
use super::quorum::MoveResult;
use super::Bounds;
use crate::etcd::adapter::{DEAD_AFTER, RETRY_MAX, WATCH_RETRY};
use crate::etcd::WATCH_RTO;
use crate::scenario::{FaultKind, MoveOutcome, Scenario};

/// A `move` fault under etcd, as asked.
#[derive(Debug, Clone, Copy)]
pub struct EtcdMove {
    /// When.
    pub at: Instant,
    /// The node whose daemon was asked.
    pub asked: usize,
    /// The target, or `None` for any but the holder.
    pub to: Option<usize>,
    /// The holder then (the one node holding), if any.
    pub holder: Option<usize>,
    /// The asked core wrote an order (`EtcdRequest::Move`).
    pub ordered: bool,
    /// Why the target cannot take it, known at the time.
    pub hopeless: Option<&'static str>,
}

/// The holder taken away: stopped cleanly (`stop`: the next node should
/// hold within two trips, its revocation up and the watch event down), or
/// gone without a word (crash, cut from etcd, pause, freeze: within its
/// lease's TTL at etcd and two trips).
#[derive(Debug, Clone, Copy)]
pub struct EtcdHandover {
    /// When.
    pub at: Instant,
    /// The holder.
    pub node: usize,
    /// A clean stop (it revokes its lease).
    pub clean: bool,
    /// Another node was ready then: running, reachable, its key put under
    /// a lease that lives.
    pub successor: bool,
}

/// What one handover came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandoverResult {
    /// When the holder was taken away.
    pub at: Instant,
    /// A clean stop.
    pub clean: bool,
    /// Judged strictly: no loss on the paths, no other fault near it, and
    /// another node ready to follow.
    pub strict: bool,
    /// How long until another node held, if one did.
    pub handed: Option<Duration>,
    /// One line for the report.
    pub detail: String,
    /// Late in a quiet period (a violation).
    pub broken: bool,
}

/// The etcd records of one run.
#[derive(Debug, Default)]
pub struct EtcdLog {
    /// Every acquisition: (when, node, term = the key's create revision).
    pub acquisitions: Vec<(Instant, usize, u64)>,
    /// Every acquisition whose VIP the host could not add: (when, node).
    pub failed_adds: Vec<(Instant, usize)>,
    /// Every move order a core asked for: (when, node).
    pub ordered: Vec<(Instant, usize)>,
    /// Every move asked.
    pub moves: Vec<EtcdMove>,
    /// Every time the holder was taken away.
    pub handovers: Vec<EtcdHandover>,
}

impl EtcdLog {
    /// `node` acquired in `term`: terms grow across holders (each new
    /// leader's key is younger than the last one's), and a term is one
    /// node's (a restart takes its own key over in place). Returns the
    /// violation, if any.
    pub fn acquire(&mut self, at: Instant, node: usize, term: u64) -> Option<String> {
        let found = self
            .acquisitions
            .iter()
            .find(|&&(_, n, t)| t > term || (t == term && n != node))
            .map(|&(t_at, n, t)| {
                format!(
                    "n{node} acquired in term {term}, not above term {t} that n{n} held at {t_at}"
                )
            });
        self.acquisitions.push((at, node, term));
        found
    }

    /// The first acquisition after `at` by a node `fits` accepts.
    fn first_after(&self, at: Instant, fits: impl Fn(usize) -> bool) -> Option<(Instant, usize)> {
        self.acquisitions
            .iter()
            .find(|&&(t, n, _)| t >= at && fits(n))
            .map(|&(t, n, _)| (t, n))
    }

    /// Judges every move: `by(at)` its deadline, `quiet(at, by)` whether
    /// nothing but the move happened around it.
    pub fn judge_moves(
        &self,
        within: Duration,
        quiet: impl Fn(Instant, Instant) -> bool,
    ) -> Vec<MoveResult> {
        self.moves
            .iter()
            .map(|m| {
                let target =
                    m.to.map_or("any other node".to_string(), |t| format!("n{t}"));
                let refused = |why: String| MoveResult {
                    at: m.at,
                    outcome: MoveOutcome::Refused,
                    detail: format!("move to {target} at {}: refused, {why}", m.at),
                    broken: false,
                };
                let Some(h) = m.holder else {
                    return refused("no holder".to_string());
                };
                if !m.ordered {
                    return refused(format!(
                        "n{} wrote no order ({})",
                        m.asked,
                        m.hopeless.unwrap_or("it knew no holder to move")
                    ));
                }
                let by = m.at + within;
                let taken = self.first_after(m.at, |n| n != h && m.to.is_none_or(|t| t == n));
                // Nobody but the target between the order and the target
                // (without one: the old holder does not come back first).
                let between = self.first_after(m.at, |n| n == h || m.to.is_some_and(|t| t != n));
                let cut_in = between.filter(|&(t, _)| taken.is_none_or(|(tt, _)| t < tt));
                let failed_add = self
                    .failed_adds
                    .iter()
                    .any(|&(t, n)| t >= m.at && t <= by && n != h);
                let quiet = quiet(m.at, by) && m.hopeless.is_none() && !failed_add;
                match (taken, cut_in) {
                    (Some((t, n)), None) if t <= by => MoveResult {
                        at: m.at,
                        outcome: MoveOutcome::Moved,
                        detail: format!(
                            "move to {target} at {}: n{n} held {} later",
                            m.at,
                            crate::units::ms(t - m.at)
                        ),
                        broken: false,
                    },
                    _ => {
                        let when =
                            taken.map_or("never".to_string(), |(t, n)| format!("n{n} at {t}"));
                        let other = cut_in
                            .map(|(t, n)| format!(", n{n} held in between at {t}"))
                            .unwrap_or_default();
                        MoveResult {
                            at: m.at,
                            outcome: MoveOutcome::Late,
                            detail: format!(
                                "move to {target} at {}: not held by {by} (held: {when}{other}){}",
                                m.at,
                                if quiet { " in a quiet period" } else { "" }
                            ),
                            broken: quiet,
                        }
                    }
                }
            })
            .collect()
    }

    /// Judges every handover: another node holds within `clean` after a
    /// clean stop, `gone` after the holder went without a word, or it was
    /// not quiet.
    pub fn judge_handovers(
        &self,
        clean: Duration,
        gone: Duration,
        quiet: impl Fn(Instant, Instant) -> bool,
    ) -> Vec<HandoverResult> {
        self.handovers
            .iter()
            .map(|s| {
                let by = s.at + if s.clean { clean } else { gone };
                let what = if s.clean { "stop" } else { "loss" };
                let taken = self.first_after(s.at, |n| n != s.node);
                let handed = taken.map(|(t, _)| t - s.at);
                let late = taken.is_none_or(|(t, _)| t > by);
                let failed_add = self
                    .failed_adds
                    .iter()
                    .any(|&(t, n)| t >= s.at && t <= by && n != s.node);
                let strict = s.successor && !failed_add && quiet(s.at, by);
                let broken = late && strict;
                let detail = match taken {
                    Some((t, n)) => format!(
                        "{what} of n{} at {}: n{n} held {} later{}",
                        s.node,
                        s.at,
                        crate::units::ms(t - s.at),
                        if broken {
                            format!(", not by {by} in a quiet period")
                        } else {
                            String::new()
                        }
                    ),
                    None => format!("{what} of n{} at {}: nobody held after it", s.node, s.at),
                };
                HandoverResult {
                    at: s.at,
                    clean: s.clean,
                    strict,
                    handed,
                    detail,
                    broken,
                }
            })
            .collect()
    }
}

/// The worst one-way latency of a node's path to etcd.
pub fn one_way(s: &Scenario) -> Duration {
    s.etcd.map_or(Duration::ZERO, |e| e.delay + e.jitter) + s.bound.real_path
}

/// Keep-alive round trips that frame loss may cost in a row: the least
/// `k` with p^k ≤ [`ROUNDS_MISSED`], where a round trip fails with p = 1
/// − (1 − x)² at loss x per message; and the retransmissions one watch
/// event may need, the least with x^k ≤ the same.
pub fn rounds(loss_ppm: u32) -> (u64, u64) {
    let x = f64::from(loss_ppm) / 1e6;
    let least = |p: f64| {
        if p <= 0.0 {
            0
        } else if p >= 1.0 {
            u64::MAX / 1024
        } else {
            (ROUNDS_MISSED.ln() / p.ln()).ceil() as u64
        }
    };
    (least(1.0 - (1.0 - x) * (1.0 - x)), least(x))
}

/// The etcd bounds (docs/simulator.md, "Invariants for etcd"). With T the
/// TTL, K = [`keepalive_interval`]`(T)`, ρ the world's drift bound, δ the
/// worst one-way latency to etcd, `t` the adapter's deadline (T/2), and
/// `k`, `kw` from [`rounds`]:
///
/// * `settle`, the liveness bound B = max(T stretched by ρ (the gone
///   holder's lease at etcd), [`DEAD_AFTER`] + [`WATCH_RETRY`] (a broken
///   watch noticed and started again)) + (k + 1) × K stretched (the next
///   leader's lease, if it lapsed, needs a keep-alive answered) + (k + 1)
///   × (t + [`RETRY_MAX`]) (a campaign or a read that failed is tried
///   again) + kw × [`WATCH_RTO`] + 6δ + 1 ms (+ the two DHCP exchanges of
///   [`bounds::lease_exchanges`] with `[dhcp]`: the new holder asks the
///   server before it configures the address);
/// * `arp_after_acquire` = the announcement burst + the segment's latency
///   + one client period + 1 ms (plus the Linux recovery path with loss);
/// * `arp_settle` = B + that (plus the Linux recovery path if the segment
///   is ever partitioned: a holder elected on the other side is announced
///   to nobody who stayed with the old one).
pub fn etcd_bounds(s: &Scenario) -> Bounds {
    let rho = s.bound.drift_ppm;
    let d = one_way(s);
    let (k, kw) = rounds(s.etcd.map_or(0, |e| e.loss_ppm));
    let b = s
        .nodes
        .iter()
        .filter_map(|n| match n.config.election() {
            vip_core::ElectionSettings::Etcd(e) => Some(e.lease_ttl),
            _ => None,
        })
        .map(|ttl| {
            let gone = timing::outlast(ttl, rho).max(DEAD_AFTER + WATCH_RETRY);
            let keepalive = timing::outlast(keepalive_interval(ttl), rho).saturating_mul(k + 1);
            let retries = (ttl.div(2) + RETRY_MAX).saturating_mul(k + 1);
            gone + keepalive + retries + WATCH_RTO.saturating_mul(kw) + d.saturating_mul(6)
        })
        .max()
        .unwrap_or_default();
    let settle = b + Duration::from_millis(1) + bounds::lease_exchanges(s);
    let burst = s
        .nodes
        .iter()
        .map(|n| {
            let a = n.config.announce();
            a.garp_interval
                .saturating_mul(u64::from(a.garp_count.saturating_sub(1)))
        })
        .max()
        .unwrap_or_default();
    let mut after =
        burst + bounds::one_way(s) + bounds::client_period(s) + Duration::from_millis(1);
    if s.network.loss_ppm > 0 || bounds::has_bursts(s) {
        after = after + bounds::recovery(s);
    }
    // A holder elected across a partition of the segment never reaches the
    // clients cut off with the old one, and after the heal no frame tells
    // it (etcd's nodes send none to each other): those clients find it by
    // their own ARP (docs/simulator.md, "What the etcd checks found").
    let partitioned = s
        .faults
        .iter()
        .any(|f| matches!(f.kind, FaultKind::Partition { .. }));
    let healing = if partitioned {
        bounds::recovery(s)
    } else {
        Duration::ZERO
    };
    Bounds {
        settle,
        arp_settle: settle + after + healing,
        transient: None,
        zero_tolerance: Some("etcd"),
        own_window: true,
        arp_after_acquire: Some(after),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    #[test]
    fn terms_grow_across_holders_and_stay_with_their_node() {
        let mut log = EtcdLog::default();
        assert!(log.acquire(at(1), 0, 5).is_none());
        assert!(log.acquire(at(2), 0, 5).is_none(), "n0 again on its key");
        assert!(log.acquire(at(3), 1, 7).is_none());
        let back = log.acquire(at(4), 2, 6);
        assert!(back.is_some_and(|v| v.contains("term 7")));
        let shared = log.acquire(at(5), 2, 7);
        assert!(shared.is_some(), "another node in n1's term");
    }

    #[test]
    fn rounds_follow_the_loss() {
        assert_eq!(rounds(0), (0, 0));
        let (k, kw) = rounds(300_000);
        assert_eq!(kw, 12, "0.3^12 < 1e-6 < 0.3^11");
        assert_eq!(k, 21, "0.51^21 < 1e-6 < 0.51^20");
    }
}
