//! A node's clock: what its core reads as `now`, as a function of virtual
//! time.
//!
//! The clock runs in segments: from virtual `since` it reads `at` and runs
//! at `1 + ppm/1e6`, so it reads `at + d + floor(d × ppm / 1e6)` at
//! `since + d`; a frozen clock (a paused VM) reads `at` until thawed. A node
//! whose rate never changes has one segment from zero, `local = t +
//! floor(t × ppm / 1e6)`. The clock outlives restarts: it is the machine's.

use vip_core::Instant;

/// Parts per million.
const PPM: i128 = 1_000_000;

/// One machine's clock.
#[derive(Debug, Clone, Copy)]
pub(super) struct Clock {
    /// Virtual time the current segment began.
    since: Instant,
    /// The local reading then.
    at: Instant,
    /// The rate error, ppm (kept while frozen).
    ppm: i64,
    /// Stopped since `since`.
    frozen: bool,
}

impl Clock {
    /// A clock that reads zero at virtual zero and runs at `1 + ppm/1e6`.
    pub(super) fn new(ppm: i64) -> Clock {
        Clock {
            since: Instant::ZERO,
            at: Instant::ZERO,
            ppm,
            frozen: false,
        }
    }

    /// The rate error now, ppm.
    pub(super) fn ppm(&self) -> i64 {
        self.ppm
    }

    /// True while the clock is stopped.
    pub(super) fn is_frozen(&self) -> bool {
        self.frozen
    }

    /// The local reading at virtual `t` (not before the segment began).
    pub(super) fn local(&self, t: Instant) -> Instant {
        if self.frozen {
            return self.at;
        }
        let d = i128::from(t.saturating_since(self.since).total_micros());
        if self.ppm == 0 {
            return self.at + vip_core::Duration::from_micros(d as u64);
        }
        let skew = (d * i128::from(self.ppm)).div_euclid(PPM);
        let run = (d + skew).max(0) as u64;
        self.at + vip_core::Duration::from_micros(run)
    }

    /// The earliest virtual time at which the clock reads `local` or later;
    /// `None` if it is frozen short of it. A reading the segment began past
    /// gives the segment's start.
    pub(super) fn virtual_of(&self, local: Instant) -> Option<Instant> {
        if local <= self.at {
            return Some(self.since);
        }
        if self.frozen {
            return None;
        }
        let l = i128::from(local.saturating_since(self.at).total_micros());
        if self.ppm == 0 {
            return Some(self.since + vip_core::Duration::from_micros(l as u64));
        }
        let rate = PPM + i128::from(self.ppm);
        let mut d = ((l * PPM + rate - 1) / rate).max(0) as u64;
        let at = |d: u64| self.local(self.since + vip_core::Duration::from_micros(d));
        while at(d) < local {
            d += 1;
        }
        while d > 0 && at(d - 1) >= local {
            d -= 1;
        }
        Some(self.since + vip_core::Duration::from_micros(d))
    }

    /// Runs at `1 + ppm/1e6` from virtual `now` on (after a thaw if frozen).
    pub(super) fn set_rate(&mut self, now: Instant, ppm: i64) {
        if !self.frozen {
            self.at = self.local(now);
            self.since = now;
        }
        self.ppm = ppm;
    }

    /// Stops the clock at virtual `now`.
    pub(super) fn freeze(&mut self, now: Instant) {
        if !self.frozen {
            self.at = self.local(now);
            self.since = now;
            self.frozen = true;
        }
    }

    /// Starts the clock again at virtual `now`, from the reading it stopped at.
    pub(super) fn thaw(&mut self, now: Instant) {
        if self.frozen {
            self.frozen = false;
            self.since = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(us: u64) -> Instant {
        Instant::from_micros(us)
    }

    #[test]
    fn one_segment_reads_as_the_old_formula() {
        for ppm in [-500i64, 0, 300, 100_000] {
            let c = Clock::new(ppm);
            for t in [0u64, 1, 999, 1_000_000, 12_345_678] {
                let v = i128::from(t);
                let old = (v + (v * i128::from(ppm)).div_euclid(1_000_000)).max(0) as u64;
                assert_eq!(c.local(at(t)), at(old), "ppm {ppm} t {t}");
                let back = c.virtual_of(at(old)).unwrap();
                assert!(c.local(back) >= at(old));
                assert!(
                    back == Instant::ZERO
                        || c.local(back - vip_core::Duration::from_micros(1)) < at(old)
                );
            }
        }
    }

    #[test]
    fn a_frozen_clock_stops_and_runs_on_from_where_it_stopped() {
        let mut c = Clock::new(0);
        c.freeze(at(1_000));
        assert_eq!(c.local(at(5_000)), at(1_000));
        assert_eq!(c.virtual_of(at(1_500)), None, "not while frozen");
        c.thaw(at(9_000));
        assert_eq!(c.local(at(9_500)), at(1_500));
        assert_eq!(c.virtual_of(at(1_500)), Some(at(9_500)));
    }

    #[test]
    fn a_rate_change_keeps_the_reading_continuous() {
        let mut c = Clock::new(500);
        let before = c.local(at(2_000_000));
        c.set_rate(at(2_000_000), -500);
        assert_eq!(c.local(at(2_000_000)), before);
        assert_eq!(
            c.local(at(3_000_000)),
            before + vip_core::Duration::from_micros(999_500)
        );
    }
}
