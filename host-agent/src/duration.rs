//! Durations as the config file writes them: `10ms`, `1.5s`, `250us`, `2m`.
//!
//! A duration is a decimal number followed by one unit: `us` (microseconds),
//! `ms`, `s`, `m` (minutes) or `h`. A fraction is allowed as long as the
//! result is a whole number of microseconds. The bare number `0` is accepted
//! as "none". Anything else is refused with a message that says what is
//! expected; the caller puts the config key in front of it.

use std::fmt;

use vip_core::Duration;

/// Why a duration string was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DurationError {
    /// Not of the form NUMBER UNIT.
    Syntax,
    /// A unit other than us, ms, s, m, h.
    Unit(String),
    /// More precision than a microsecond.
    SubMicrosecond,
    /// Longer than the core's clock can hold.
    TooLong,
}

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DurationError::Syntax => {
                f.write_str("must be a duration such as \"10ms\", \"1.5s\" or \"250us\"")
            }
            DurationError::Unit(u) => write!(
                f,
                "unknown unit {u:?}: use us, ms, s, m or h (as in \"10ms\" or \"1.5s\")"
            ),
            DurationError::SubMicrosecond => f.write_str("must be a whole number of microseconds"),
            DurationError::TooLong => f.write_str("is too long"),
        }
    }
}

impl std::error::Error for DurationError {}

/// Parses a duration written as NUMBER UNIT (see the module doc).
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let text = text.trim();
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or(DurationError::Syntax)?;
    let (number, unit) = text.split_at(split);
    if number.is_empty() {
        return Err(DurationError::Syntax);
    }
    let unit_micros: u64 = match unit {
        "us" | "µs" => 1,
        "ms" => 1_000,
        "s" => 1_000_000,
        "m" => 60_000_000,
        "h" => 3_600_000_000,
        other if other.chars().all(|c| c.is_ascii_alphabetic()) => {
            return Err(DurationError::Unit(other.to_owned()))
        }
        _ => return Err(DurationError::Syntax),
    };
    let (whole, fraction) = match number.split_once('.') {
        Some((w, f)) => (w, f),
        None => (number, ""),
    };
    let digits_only = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits_only(whole) || !digits_only(fraction) {
        return Err(DurationError::Syntax);
    }
    if number.ends_with('.') {
        return Err(DurationError::Syntax);
    }
    let whole: u64 = whole.parse().map_err(|_| DurationError::TooLong)?;
    let mut micros = whole
        .checked_mul(unit_micros)
        .ok_or(DurationError::TooLong)?;
    // The fraction in units of 10^-len, scaled to microseconds exactly.
    let fraction = fraction.trim_end_matches('0');
    if !fraction.is_empty() {
        if fraction.len() > 18 {
            return Err(DurationError::SubMicrosecond);
        }
        let numerator: u128 = fraction.parse().map_err(|_| DurationError::Syntax)?;
        let denominator = 10u128.pow(fraction.len() as u32);
        let scaled = numerator * u128::from(unit_micros);
        if scaled % denominator != 0 {
            return Err(DurationError::SubMicrosecond);
        }
        let extra = u64::try_from(scaled / denominator).map_err(|_| DurationError::TooLong)?;
        micros = micros.checked_add(extra).ok_or(DurationError::TooLong)?;
    }
    Ok(Duration::from_micros(micros))
}

/// Converts a core duration to the standard library's.
pub fn to_std(d: Duration) -> std::time::Duration {
    std::time::Duration::from_micros(d.total_micros())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> u64 {
        parse_duration(text)
            .unwrap_or_else(|e| panic!("{text}: {e}"))
            .total_micros()
    }

    #[test]
    fn accepts_every_unit() {
        assert_eq!(ok("250us"), 250);
        assert_eq!(ok("250µs"), 250);
        assert_eq!(ok("10ms"), 10_000);
        assert_eq!(ok("1s"), 1_000_000);
        assert_eq!(ok("2m"), 120_000_000);
        assert_eq!(ok("1h"), 3_600_000_000);
        assert_eq!(ok("0"), 0);
        assert_eq!(ok("0s"), 0);
        assert_eq!(ok(" 5ms "), 5_000);
    }

    #[test]
    fn accepts_exact_fractions() {
        assert_eq!(ok("1.5s"), 1_500_000);
        assert_eq!(ok("0.25ms"), 250);
        assert_eq!(ok("1.000s"), 1_000_000);
        assert_eq!(ok("0.5m"), 30_000_000);
        assert_eq!(ok("1.000001s"), 1_000_001);
    }

    #[test]
    fn refuses_junk_with_a_reason() {
        for junk in [
            "", "ms", "10", "1.5", "-1s", "1 s", "1s2", ".5s", "1.s", "1..5s", "1e3ms", "s1",
        ] {
            assert!(parse_duration(junk).is_err(), "{junk:?} accepted");
        }
        assert_eq!(
            parse_duration("10 parsecs").unwrap_err(),
            DurationError::Syntax
        );
        assert_eq!(
            parse_duration("10sec").unwrap_err(),
            DurationError::Unit("sec".into())
        );
        assert_eq!(
            parse_duration("10sec").unwrap_err().to_string(),
            "unknown unit \"sec\": use us, ms, s, m or h (as in \"10ms\" or \"1.5s\")"
        );
        assert_eq!(
            parse_duration("1.5us").unwrap_err(),
            DurationError::SubMicrosecond
        );
        assert_eq!(
            parse_duration("1.0000001s").unwrap_err(),
            DurationError::SubMicrosecond
        );
    }

    #[test]
    fn refuses_overflow() {
        assert_eq!(
            parse_duration("99999999999999999999s").unwrap_err(),
            DurationError::TooLong
        );
        assert_eq!(
            parse_duration("9999999999999h").unwrap_err(),
            DurationError::TooLong
        );
    }

    #[test]
    fn round_trips_the_core_display() {
        for micros in [0, 250, 10_000, 1_500_000, 3_000_000] {
            let d = Duration::from_micros(micros);
            assert_eq!(parse_duration(&d.to_string()).unwrap(), d);
        }
    }
}
