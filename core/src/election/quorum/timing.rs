//! The quorum election's arithmetic, written once (docs/protocol.md, "Terms
//! and parameters"): the holder's lease, the restart wait, the backoff and
//! the liveness bound. Every function rounds against the holder: leases
//! down, waits and promises up.

use crate::time::Duration;

/// Parts per million.
const PPM: u128 = 1_000_000;

/// The longest `election.lease` a config may set; the restart wait after a
/// start with no record of this boot's runs covers a promise this long.
pub const LEASE_MAX: Duration = Duration::from_secs(30);

/// The largest `election.max_drift` a config may set, in ppm; the restart
/// wait with no record uses it.
pub const MAX_DRIFT_PPM_MAX: u32 = 10_000;

/// The holder's lease L = (1−ρ)·(P/(1+ρ) − D), rounded down: how long after a
/// renewal's send time (on the holder's clock) it may hold, when a majority
/// promised P (on their clocks) from receipt and the fence may leak D.
pub fn lease(promise: Duration, drift_ppm: u32, fence_margin: Duration) -> Duration {
    let p = u128::from(promise.total_micros());
    let rho = u128::from(drift_ppm);
    // P/(1+ρ), rounded down.
    let slowest = p * PPM / (PPM + rho);
    let after_fence = slowest.saturating_sub(u128::from(fence_margin.total_micros()));
    // (1−ρ)·x, rounded down.
    let l = after_fence * (PPM - rho.min(PPM)) / PPM;
    Duration::from_micros(u64::try_from(l).unwrap_or(u64::MAX))
}

/// How long `promise` on a clock at most `drift_ppm` fast or slow can last
/// in real time at the most, as measured by another such clock: the wait
/// that outlasts it, P·(1+ρ)/(1−ρ), rounded up.
pub fn outlast(promise: Duration, drift_ppm: u32) -> Duration {
    let p = u128::from(promise.total_micros());
    let rho = u128::from(drift_ppm).min(PPM - 1);
    let w = (p * (PPM + rho)).div_ceil(PPM - rho);
    Duration::from_micros(u64::try_from(w).unwrap_or(u64::MAX))
}

/// What a restarted member knows about the runs before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PriorRuns {
    /// An earlier run of this boot may have promised, under at most this
    /// lease and drift (the largest any run of this boot used).
    ThisBoot {
        /// The largest lease.
        lease: Duration,
        /// The largest drift, ppm.
        drift_ppm: u32,
    },
    /// This is the first run since the host booted `uptime` ago: only a
    /// run of an earlier boot can have promised, under any config.
    FirstSinceBoot {
        /// Time since the host booted, on this run's clock.
        uptime: Duration,
    },
}

/// The restart wait W: how long after its start a member may not vote, ack
/// or stand, so that no promise of an earlier run is still running.
pub fn restart_wait(prior: PriorRuns) -> Duration {
    match prior {
        PriorRuns::ThisBoot { lease, drift_ppm } => outlast(lease, drift_ppm),
        // The earlier boot ended before this one began: its promises have
        // had the uptime to run out already.
        PriorRuns::FirstSinceBoot { uptime } => {
            outlast(LEASE_MAX, MAX_DRIFT_PPM_MAX).saturating_sub(uptime)
        }
    }
}

/// The deterministic part of a candidate's backoff: (255 − priority)/256 of
/// the renewal interval, so a higher priority stands first.
pub fn backoff_base(interval: Duration, priority: u8) -> Duration {
    interval.saturating_mul(u64::from(255 - priority)).div(256)
}

/// The most the seeded random part of a first backoff adds: 1/32 of the
/// interval, less than ten priority steps (10/256), so the higher priority
/// stands first; after a failed round the random part may reach a whole
/// interval, so candidates that collided fall apart.
pub fn backoff_spread(interval: Duration) -> Duration {
    interval.div(32)
}

/// How long a candidate waits for a majority before it abandons the term.
pub fn candidacy(interval: Duration) -> Duration {
    interval.saturating_mul(2)
}

/// The most a backoff lasts: the priority part (under one interval) plus
/// the random part (a quarter interval; a whole one after a failed round).
pub fn backoff_max(interval: Duration) -> Duration {
    interval.saturating_mul(2)
}

/// The liveness bound B = P(1+ρ)/(1−ρ) + backoff_max + 2·delay + rounds ×
/// (candidacy + backoff_max + 2·delay): the longest a connected majority,
/// with frames delayed at most `delay` and `rounds` rounds lost, goes
/// without a holder after the last one stopped renewing.
pub fn liveness_bound(
    interval: Duration,
    promise: Duration,
    drift_ppm: u32,
    delay: Duration,
    rounds: u64,
) -> Duration {
    let trip = delay.saturating_mul(2);
    let round = candidacy(interval) + backoff_max(interval) + trip;
    outlast(promise, drift_ppm) + backoff_max(interval) + trip + round.saturating_mul(rounds)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn the_lease_leaves_room_for_drift_on_both_clocks_and_the_fence() {
        // P = 250 ms, ρ = 500 ppm, D = 5 ms: 0.9995 × (249.875 − 5) ms.
        assert_eq!(lease(ms(250), 500, ms(5)).total_micros(), 244_752);
        assert_eq!(lease(ms(250), 0, Duration::ZERO), ms(250));
        assert_eq!(lease(ms(4), 0, ms(5)), Duration::ZERO, "D longer than P");
        // The defining inequality: L/(1−ρ) + D ≤ P/(1+ρ), in exact integers.
        for (p, rho, d) in [
            (250_000u128, 500u128, 5_000u128),
            (6_000, 500, 200),
            (30_000_000, 10_000, 1_000_000),
        ] {
            let l = u128::from(
                lease(
                    Duration::from_micros(p as u64),
                    rho as u32,
                    Duration::from_micros(d as u64),
                )
                .total_micros(),
            );
            // L·PPM/(PPM−ρ) + D ≤ P·PPM/(PPM+ρ), cross-multiplied.
            let lhs = (l * PPM + d * (PPM - rho)) * (PPM + rho);
            let rhs = p * PPM * (PPM - rho);
            assert!(lhs <= rhs, "p {p} rho {rho} d {d}: lease {l}");
        }
    }

    #[test]
    fn waits_outlast_promises() {
        assert_eq!(outlast(ms(1000), 0), ms(1000));
        // 1 s × 1.0005 / 0.9995 = 1.001000500... s, rounded up.
        assert_eq!(outlast(ms(1000), 500).total_micros(), 1_001_001);
        let no_record = restart_wait(PriorRuns::FirstSinceBoot {
            uptime: Duration::ZERO,
        });
        assert_eq!(no_record, outlast(LEASE_MAX, MAX_DRIFT_PPM_MAX));
        assert!(no_record > LEASE_MAX);
        let late_start = PriorRuns::FirstSinceBoot {
            uptime: Duration::from_secs(60),
        };
        assert_eq!(restart_wait(late_start), Duration::ZERO);
        let this_boot = PriorRuns::ThisBoot {
            lease: ms(250),
            drift_ppm: 500,
        };
        assert_eq!(restart_wait(this_boot), outlast(ms(250), 500));
    }

    #[test]
    fn higher_priority_backs_off_less() {
        assert_eq!(backoff_base(ms(256), 255), Duration::ZERO);
        assert_eq!(backoff_base(ms(256), 1), ms(254));
        assert!(backoff_base(ms(10), 200) < backoff_base(ms(10), 100));
        assert_eq!(backoff_spread(ms(32)), ms(1));
    }
}
