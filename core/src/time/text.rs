//! Durations as configs and scenario files write them: `10ms`, `1.5s`,
//! `250us`, `2m`, `1h`.
//!
//! A duration is a decimal number followed by one unit: `us` (or `µs`,
//! microseconds), `ms`, `s`, `m` (minutes) or `h`. A fraction is allowed as
//! long as the result is a whole number of microseconds. The bare number `0`
//! is accepted as "none". This grammar is the only one: the daemon's config
//! reader and the simulator's scenario reader both call [`Duration::parse`].

use core::fmt;
use core::str::FromStr;

use super::Duration;

/// The longest unit name an error repeats back; longer ones are cut.
const UNIT_ECHO: usize = 12;

/// Why a duration string was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DurationError {
    /// Not of the form NUMBER UNIT.
    Syntax,
    /// A unit other than us, ms, s, m, h (its first letters).
    Unit(heapless::String<UNIT_ECHO>),
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

impl Duration {
    /// Parses a duration written as NUMBER UNIT (see the module doc).
    ///
    /// # Errors
    /// What is wrong with `text`, in words an operator can act on.
    pub fn parse(text: &str) -> Result<Duration, DurationError> {
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
                let mut echo = heapless::String::new();
                // ASCII letters: one byte each, so the cut is at a char boundary.
                let _ = echo.push_str(&other[..other.len().min(UNIT_ECHO)]);
                return Err(DurationError::Unit(echo));
            }
            _ => return Err(DurationError::Syntax),
        };
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
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
}

impl FromStr for Duration {
    type Err = DurationError;

    fn from_str(text: &str) -> Result<Duration, DurationError> {
        Duration::parse(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> u64 {
        match Duration::parse(text) {
            Ok(d) => d.total_micros(),
            Err(e) => panic!("{text}: {e:?}"),
        }
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
            "", "ms", "10", "5", "1.5", "-1s", "1 s", "1s2", ".5s", "1.s", "1..5s", "1e3ms", "s1",
        ] {
            assert!(Duration::parse(junk).is_err(), "{junk:?} accepted");
        }
        assert_eq!(Duration::parse("10 parsecs"), Err(DurationError::Syntax));
        let mut sec = heapless::String::new();
        sec.push_str("sec").unwrap();
        assert_eq!(Duration::parse("10sec"), Err(DurationError::Unit(sec)));
        let mut text = heapless::String::<96>::new();
        let e = Duration::parse("10sec").unwrap_err();
        core::fmt::write(&mut text, format_args!("{e}")).unwrap();
        assert_eq!(
            text,
            "unknown unit \"sec\": use us, ms, s, m or h (as in \"10ms\" or \"1.5s\")"
        );
        assert_eq!(Duration::parse("1.5us"), Err(DurationError::SubMicrosecond));
        assert_eq!(
            Duration::parse("1.0000001s"),
            Err(DurationError::SubMicrosecond)
        );
    }

    #[test]
    fn refuses_overflow() {
        assert_eq!(
            Duration::parse("99999999999999999999s"),
            Err(DurationError::TooLong)
        );
        assert_eq!(
            Duration::parse("9999999999999h"),
            Err(DurationError::TooLong)
        );
    }

    #[test]
    fn round_trips_the_display() {
        for micros in [0, 250, 10_000, 1_500_000, 3_000_000] {
            let d = Duration::from_micros(micros);
            let mut text = heapless::String::<32>::new();
            core::fmt::write(&mut text, format_args!("{d}")).unwrap();
            assert_eq!(Duration::parse(&text), Ok(d));
        }
    }
}
