//! The core's own clock types: microseconds, supplied by the caller.
//!
//! The core never reads a clock. Every input carries `now`; every deadline it
//! hands back is an [`Instant`] on the same scale. The origin is the caller's
//! choice (boot, process start, simulation start).

use core::fmt;
use core::ops::{Add, AddAssign, Sub};

mod text;

pub use text::DurationError;

/// The earliest of some deadlines, `None` when none is set: how the node
/// folds every part's timer into one `poll_timeout` (quinn-proto's
/// `TimerTable::next_timeout`).
pub fn soonest(deadlines: impl IntoIterator<Item = Option<Instant>>) -> Option<Instant> {
    deadlines.into_iter().flatten().min()
}

/// A point in time, in microseconds since an origin the caller chose.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant {
    micros: u64,
}

/// A span of time in microseconds.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration {
    micros: u64,
}

impl Instant {
    /// The origin.
    pub const ZERO: Instant = Instant { micros: 0 };

    /// An instant `micros` microseconds after the origin.
    pub const fn from_micros(micros: u64) -> Self {
        Instant { micros }
    }

    /// An instant `millis` milliseconds after the origin (saturating).
    pub const fn from_millis(millis: u64) -> Self {
        Instant {
            micros: millis.saturating_mul(1000),
        }
    }

    /// Microseconds since the origin.
    pub const fn total_micros(self) -> u64 {
        self.micros
    }

    /// Time elapsed from `earlier` to `self`, zero if `earlier` is later.
    pub const fn saturating_since(self, earlier: Instant) -> Duration {
        Duration {
            micros: self.micros.saturating_sub(earlier.micros),
        }
    }
}

impl Duration {
    /// No time at all.
    pub const ZERO: Duration = Duration { micros: 0 };
    /// The longest representable span.
    pub const MAX: Duration = Duration { micros: u64::MAX };

    /// A span of `micros` microseconds.
    pub const fn from_micros(micros: u64) -> Self {
        Duration { micros }
    }

    /// A span of `millis` milliseconds (saturating).
    pub const fn from_millis(millis: u64) -> Self {
        Duration {
            micros: millis.saturating_mul(1000),
        }
    }

    /// A span of `secs` seconds (saturating).
    pub const fn from_secs(secs: u64) -> Self {
        Duration {
            micros: secs.saturating_mul(1_000_000),
        }
    }

    /// A span of `cs` centiseconds, VRRP's unit on the wire.
    pub const fn from_centis(cs: u64) -> Self {
        Duration {
            micros: cs.saturating_mul(10_000),
        }
    }

    /// The span in microseconds.
    pub const fn total_micros(self) -> u64 {
        self.micros
    }

    /// The span in whole milliseconds, rounded down.
    pub const fn total_millis(self) -> u64 {
        self.micros / 1000
    }

    /// The span in whole centiseconds, rounded down.
    pub const fn total_centis(self) -> u64 {
        self.micros / 10_000
    }

    /// `self * n`, saturating.
    pub const fn saturating_mul(self, n: u64) -> Duration {
        Duration {
            micros: self.micros.saturating_mul(n),
        }
    }

    /// `self / n`; `n == 0` yields [`Duration::MAX`] rather than panicking.
    pub const fn div(self, n: u64) -> Duration {
        match self.micros.checked_div(n) {
            Some(micros) => Duration { micros },
            None => Duration::MAX,
        }
    }

    /// `self + other`, saturating.
    pub const fn saturating_add(self, other: Duration) -> Duration {
        Duration {
            micros: self.micros.saturating_add(other.micros),
        }
    }

    /// `self - other`, zero if `other` is longer.
    pub const fn saturating_sub(self, other: Duration) -> Duration {
        Duration {
            micros: self.micros.saturating_sub(other.micros),
        }
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    /// Saturates at the end of time rather than wrapping.
    fn add(self, rhs: Duration) -> Instant {
        Instant {
            micros: self.micros.saturating_add(rhs.micros),
        }
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, rhs: Duration) {
        *self = *self + rhs;
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    /// Saturates at zero when `rhs` is later.
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_since(rhs)
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;
    /// Saturates at the origin.
    fn sub(self, rhs: Duration) -> Instant {
        Instant {
            micros: self.micros.saturating_sub(rhs.micros),
        }
    }
}

impl Sub for Duration {
    type Output = Duration;
    /// Saturates at zero.
    fn sub(self, rhs: Duration) -> Duration {
        self.saturating_sub(rhs)
    }
}

impl Add for Duration {
    type Output = Duration;
    fn add(self, rhs: Duration) -> Duration {
        Duration {
            micros: self.micros.saturating_add(rhs.micros),
        }
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{:06}s",
            self.micros / 1_000_000,
            self.micros % 1_000_000
        )
    }
}

impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl fmt::Debug for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Duration {
    /// Shortest exact form among `s`, `ms` and `us`, as the config accepts it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let us = self.micros;
        if us != 0 && us % 1_000_000 == 0 {
            write!(f, "{}s", us / 1_000_000)
        } else if us % 1000 == 0 {
            write!(f, "{}ms", us / 1000)
        } else {
            write!(f, "{}us", us)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        let t = Instant::from_micros(u64::MAX - 1);
        assert_eq!((t + Duration::from_secs(1)).total_micros(), u64::MAX);
        assert_eq!(Instant::ZERO - t, Duration::ZERO);
        assert_eq!(Duration::from_millis(10).div(0), Duration::MAX);
    }

    #[test]
    fn soonest_folds_every_deadline() {
        let at = Instant::from_millis;
        assert_eq!(soonest([None, None]), None);
        assert_eq!(soonest([Some(at(5)), None, Some(at(3))]), Some(at(3)));
        assert_eq!(soonest([None, Some(at(7))]), Some(at(7)));
    }

    #[test]
    fn units() {
        assert_eq!(Duration::from_centis(100), Duration::from_secs(1));
        assert_eq!(Duration::from_millis(1234).total_centis(), 123);
    }
}
