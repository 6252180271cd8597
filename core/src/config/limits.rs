//! Every range a setting must fall in, written once.
//!
//! The core's validation checks them; the daemon's config reader and the
//! simulator's scenario reader quote them when a value does not even fit
//! its type (a priority of 300 or -1), so every message names the same
//! bounds. Defaults live beside the settings (`VrrpSettings::default()`,
//! `AnnounceConfig::default()`), also once.

use core::fmt;

use crate::time::Duration;

/// An inclusive range of whole numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntRange {
    /// Lowest allowed.
    pub min: i64,
    /// Highest allowed.
    pub max: i64,
}

impl IntRange {
    /// True if `value` lies inside.
    pub const fn contains(&self, value: i64) -> bool {
        value >= self.min && value <= self.max
    }

    /// `value` as a `u8` if it lies inside (every u8 setting's range fits).
    pub fn fit_u8(&self, value: i64) -> Option<u8> {
        u8::try_from(value).ok().filter(|_| self.contains(value))
    }
}

impl fmt::Display for IntRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "must be from {} to {}", self.min, self.max)
    }
}

/// An inclusive range of durations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationRange {
    /// Shortest allowed.
    pub min: Duration,
    /// Longest allowed.
    pub max: Duration,
}

impl DurationRange {
    /// True if `value` lies inside.
    pub fn contains(&self, value: Duration) -> bool {
        value >= self.min && value <= self.max
    }
}

impl fmt::Display for DurationRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "must be from {} to {}", self.min, self.max)
    }
}

const fn ints(min: i64, max: i64) -> IntRange {
    IntRange { min, max }
}

const fn durations(min: Duration, max: Duration) -> DurationRange {
    DurationRange { min, max }
}

/// `election.vrid`.
pub const VRID: IntRange = ints(1, 255);
/// `election.priority` (255: the address owner, master at once).
pub const PRIORITY: IntRange = ints(1, 255);
/// `election.advert_interval` for VRRP: the 12-bit centisecond field, from
/// 1 cs; it must also be a whole number of centiseconds.
pub const VRRP_ADVERT_INTERVAL: DurationRange = durations(
    Duration::from_millis(10),
    Duration::from_centis(crate::wire::vrrp::MAX_INTERVAL_CENTIS as u64),
);
/// The step VRRP's advert interval counts in.
pub const VRRP_INTERVAL_STEP: Duration = Duration::from_millis(10);
/// `election.preempt_delay`.
pub const PREEMPT_DELAY: DurationRange = durations(Duration::ZERO, Duration::from_secs(3600));
/// `announce.garp_count`: the acquire burst.
pub const GARP_COUNT: IntRange = ints(1, 100);
/// `announce.garp_interval`: the burst's spacing.
pub const GARP_INTERVAL: DurationRange =
    durations(Duration::from_millis(1), Duration::from_secs(60));
/// `announce.refresh_interval` when not zero (zero: no refresh).
pub const REFRESH_INTERVAL: DurationRange =
    durations(Duration::from_millis(10), Duration::from_secs(3600));
/// The management subnet's prefix length.
pub const PREFIX_LEN: IntRange = ints(1, 32);
/// Most `[[member]]` entries a config may list.
pub const MAX_MEMBERS: usize = 16;
/// Longest cluster, node or member name, in bytes (a host name fits).
pub const MAX_NAME_LEN: usize = 64;
