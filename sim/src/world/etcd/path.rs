//! A node's path to etcd: one connection, in order both ways.
//!
//! Each message draws from the path's own PRNG: latency `delay +
//! uniform(0..=jitter)`, and with chance `loss` it is lost. A request or
//! an answer that is lost never arrives (the adapter's deadline turns a
//! stalled RPC into a failure; the model draws the failure directly). A
//! watch event is never lost while the watch lives: each loss drawn costs
//! it one retransmission, [`WATCH_RTO`] later (TCP). Arrivals keep the
//! order of sending in each direction. A cut loses everything sent while
//! it lasts and everything still on the way when it began.

use vip_core::rand::Prng;
use vip_core::{Duration, Instant};

use crate::etcd::WATCH_RTO;
use crate::scenario::EtcdSpec;
/// Retransmissions drawn for one watch event at most (a path that loses
/// everything still delivers, this late).
const MAX_RETRANSMITS: u32 = 30;

/// Which way a message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::world) enum Way {
    /// Node to etcd.
    Up,
    /// etcd to node.
    Down,
}

/// One node's path to etcd.
#[derive(Debug)]
pub(in crate::world) struct Path {
    prng: Prng,
    /// Cut now.
    pub(in crate::world) cut: bool,
    /// Cuts so far: a message sent before a cut and arriving after it is lost.
    pub(in crate::world) cuts: u64,
    /// The latest arrival scheduled each way (arrivals keep their order).
    up_free: Instant,
    down_free: Instant,
}

impl Path {
    /// A whole path drawing from `seed`.
    pub(in crate::world) fn new(seed: u64) -> Path {
        Path {
            prng: Prng::new(seed),
            cut: false,
            cuts: 0,
            up_free: Instant::ZERO,
            down_free: Instant::ZERO,
        }
    }

    /// When a message sent `way` at `now` arrives, or `None` if lost; a
    /// watch event (`stream`) is never lost but may be sent again.
    pub(in crate::world) fn transit(
        &mut self,
        spec: &EtcdSpec,
        way: Way,
        stream: bool,
        now: Instant,
    ) -> Option<Instant> {
        if self.cut {
            return None;
        }
        let mut extra = Duration::ZERO;
        if stream {
            let mut sent = 0;
            while sent < MAX_RETRANSMITS && self.prng.chance_ppm(spec.loss_ppm) {
                extra = extra + WATCH_RTO;
                sent += 1;
            }
        } else if spec.loss_ppm > 0 && self.prng.chance_ppm(spec.loss_ppm) {
            return None;
        }
        let mut latency = spec.delay + extra;
        if spec.jitter > Duration::ZERO {
            latency =
                latency + Duration::from_micros(self.prng.below(spec.jitter.total_micros() + 1));
        }
        let free = match way {
            Way::Up => &mut self.up_free,
            Way::Down => &mut self.down_free,
        };
        let at = (now + latency).max(*free);
        *free = at;
        Some(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(loss: u32) -> EtcdSpec {
        EtcdSpec {
            delay: Duration::from_micros(200),
            jitter: Duration::from_micros(100),
            loss_ppm: loss,
            drift_ppm: 0,
        }
    }

    #[test]
    fn arrivals_keep_their_order_and_a_cut_loses_all() {
        let mut p = Path::new(7);
        let s = spec(0);
        let mut last = Instant::ZERO;
        for k in 0..200 {
            let now = Instant::from_micros(k * 10);
            let at = p.transit(&s, Way::Down, false, now).unwrap();
            assert!(at >= last && at >= now + s.delay);
            last = at;
        }
        p.cut = true;
        assert_eq!(p.transit(&s, Way::Up, true, Instant::ZERO), None);
    }

    #[test]
    fn a_lossy_path_loses_requests_but_only_delays_watch_events() {
        let mut p = Path::new(3);
        let s = spec(300_000);
        let now = Instant::from_millis(1000);
        let lost = (0..1000)
            .filter(|_| p.transit(&s, Way::Up, false, now).is_none())
            .count();
        assert!((200..400).contains(&lost), "{lost}");
        let mut q = Path::new(3);
        let late = (0..1000)
            .map(|k| now + Duration::from_secs(k))
            .filter(|&sent| {
                let at = q.transit(&s, Way::Down, true, sent);
                at.is_some_and(|a| a - sent >= WATCH_RTO)
            })
            .count();
        assert!((200..400).contains(&late), "{late}");
    }
}
