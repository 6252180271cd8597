//! The daemon's clock: the core's [`Instant`] is microseconds since the
//! daemon started, read from the monotonic clock; wall-clock time is used
//! only to print those instants for people.

use std::time::{SystemTime, UNIX_EPOCH};

use vip_core::Instant;

/// The monotonic origin of core time, and the wall-clock time it was read at.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    start: tokio::time::Instant,
    wall_start: SystemTime,
}

impl Clock {
    /// A clock whose origin is now.
    pub fn start() -> Clock {
        Clock {
            start: tokio::time::Instant::now(),
            wall_start: SystemTime::now(),
        }
    }

    /// Core time now.
    pub fn now(&self) -> Instant {
        self.at(tokio::time::Instant::now())
    }

    /// Core time at the tokio instant `t` (zero before the origin).
    pub fn at(&self, t: tokio::time::Instant) -> Instant {
        let micros = t.saturating_duration_since(self.start).as_micros();
        Instant::from_micros(u64::try_from(micros).unwrap_or(u64::MAX))
    }

    /// The tokio instant of core time `t`, for `sleep_until`.
    pub fn deadline(&self, t: Instant) -> tokio::time::Instant {
        let offset = std::time::Duration::from_micros(t.total_micros());
        self.start
            .checked_add(offset)
            // Past the end of tokio's clock: a year from now is "never".
            .unwrap_or_else(|| {
                tokio::time::Instant::now() + std::time::Duration::from_secs(365 * 86_400)
            })
    }

    /// The wall-clock time of core time `t`.
    pub fn wall(&self, t: Instant) -> SystemTime {
        self.wall_start + std::time::Duration::from_micros(t.total_micros())
    }

    /// Core time `t` as RFC 3339 UTC with milliseconds.
    pub fn rfc3339(&self, t: Instant) -> String {
        rfc3339(self.wall(t))
    }
}

/// Formats `t` as RFC 3339 UTC with milliseconds, e.g. `2025-01-31T23:59:59.250Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_millis()
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_rfc3339() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(951_782_400_250); // leap day 2000
        assert_eq!(rfc3339(t), "2000-02-29T00:00:00.250Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_767_225_599); // last second of 2025
        assert_eq!(rfc3339(t), "2025-12-31T23:59:59.000Z");
    }

    #[tokio::test]
    async fn core_time_round_trips_through_deadlines() {
        let clock = Clock::start();
        let t = Instant::from_micros(1_500_000);
        assert_eq!(clock.at(clock.deadline(t)), t);
        assert!(clock.now() < Instant::from_micros(60_000_000));
    }
}
