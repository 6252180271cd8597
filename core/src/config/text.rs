//! Reading settings from text, for every reader of config files.
//!
//! The daemon's TOML reader and the simulator's scenario reader both turn
//! words into the core's settings; what a word may be, and what is said when
//! it is not, is written here once. A reader implements [`Refusals`] (where
//! a refusal goes) and gets the typed reads; a value refused is replaced by
//! the default, so the core's own checks do not report it a second time.

use core::fmt;

use super::limits::{self, IntRange};
use super::names::Named;
use super::quorum::{QuorumSettings, MAX_DRIFT};
use super::EtcdSettings;
use super::{AnnounceConfig, GarpForm};
use crate::time::Duration;
use crate::wire::EthernetAddress;

/// A MAC as operators write it: `aa:bb:cc:dd:ee:ff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MacText(pub EthernetAddress);

impl fmt::Display for MacText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0 .0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

/// Reads `aa:bb:cc:dd:ee:ff` (or with dashes); `None` for anything else.
pub fn parse_mac(text: &str) -> Option<EthernetAddress> {
    let mut mac = [0u8; 6];
    let mut parts = text.split([':', '-']);
    for b in &mut mac {
        let part = parts.next()?;
        if part.len() != 2 {
            return None;
        }
        *b = u8::from_str_radix(part, 16).ok()?;
    }
    parts.next().is_none().then_some(EthernetAddress(mac))
}

/// Where a reader collects what it refuses, and the typed reads on top.
pub trait Refusals {
    /// Records that `key`'s value is refused, and why.
    fn refuse(&mut self, key: &str, why: fmt::Arguments<'_>);

    /// A duration in the one grammar; `default` when absent or refused.
    fn duration(&mut self, key: &str, text: Option<&str>, default: Duration) -> Duration {
        let Some(text) = text else { return default };
        Duration::parse(text).unwrap_or_else(|e| {
            self.refuse(key, format_args!("{e}, not {text:?}"));
            default
        })
    }

    /// A one-byte number; a number outside `range` cannot reach the core's
    /// checks, so it is refused here in their words.
    fn int_u8(&mut self, key: &str, value: Option<i64>, range: IntRange, default: u8) -> u8 {
        let Some(value) = value else { return default };
        range.fit_u8(value).unwrap_or_else(|| {
            self.refuse(key, format_args!("{range}, not {value}"));
            default
        })
    }

    /// `election.max_drift` (quorum and etcd), in ppm; a number that does
    /// not fit the type cannot reach the core's range check, so it is
    /// refused here in its words.
    fn drift_ppm(&mut self, value: Option<i64>, default: u32) -> u32 {
        let Some(v) = value else { return default };
        u32::try_from(v).unwrap_or_else(|_| {
            self.refuse("election.max_drift", format_args!("{MAX_DRIFT}, not {v}"));
            default
        })
    }

    /// One of an enum's words; `default` when absent or refused.
    fn word<T: Named>(&mut self, key: &str, text: Option<&str>, default: T) -> T {
        self.optional_word(key, text).unwrap_or(default)
    }

    /// One of an enum's words; `None` when absent or refused.
    fn optional_word<T: Named>(&mut self, key: &str, text: Option<&str>) -> Option<T> {
        let text = text?;
        let found = T::all().iter().copied().find(|v| v.name() == text);
        if found.is_none() {
            let all = super::OneOf(T::all());
            self.refuse(key, format_args!("must be {all}, not {text:?}"));
        }
        found
    }
}

/// The `[announce]` keys as a file writes them (absent: `None`).
#[derive(Debug, Clone, Copy, Default)]
pub struct AnnounceText<'a> {
    /// `garp_count`.
    pub garp_count: Option<i64>,
    /// `garp_interval`.
    pub garp_interval: Option<&'a str>,
    /// `refresh_interval`.
    pub refresh_interval: Option<&'a str>,
    /// `form`.
    pub form: Option<&'a str>,
    /// `answer_arp`.
    pub answer_arp: Option<bool>,
}

impl AnnounceConfig {
    /// The announcer's settings from a file's `[announce]` keys, defaults
    /// for what is absent; ranges are left to `Config::new`.
    pub fn read(text: AnnounceText<'_>, r: &mut impl Refusals) -> AnnounceConfig {
        let d = AnnounceConfig::default();
        AnnounceConfig {
            garp_count: r.int_u8(
                "announce.garp_count",
                text.garp_count,
                limits::GARP_COUNT,
                d.garp_count,
            ),
            garp_interval: r.duration(
                "announce.garp_interval",
                text.garp_interval,
                d.garp_interval,
            ),
            refresh_interval: r.duration(
                "announce.refresh_interval",
                text.refresh_interval,
                d.refresh_interval,
            ),
            form: r.word::<GarpForm>("announce.form", text.form, d.form),
            answer_arp: text.answer_arp.unwrap_or(d.answer_arp),
        }
    }
}

/// The quorum keys of `[election]` every reader shares, as a file writes
/// them (absent: `None`). The interval, priority, key and frame keys are the
/// readers' own (a scenario has no key file, for one).
#[derive(Debug, Clone, Copy, Default)]
pub struct QuorumText<'a> {
    /// `lease`.
    pub lease: Option<&'a str>,
    /// `max_drift`, in ppm.
    pub max_drift: Option<i64>,
    /// `fence_margin`.
    pub fence_margin: Option<&'a str>,
    /// `preempt`.
    pub preempt: Option<bool>,
    /// `preempt_delay`.
    pub preempt_delay: Option<&'a str>,
    /// `reannounce_after`.
    pub reannounce_after: Option<&'a str>,
}

impl QuorumSettings {
    /// `defaults` (from [`QuorumSettings::with_defaults`]) with the keys
    /// `text` sets; ranges are left to `Config::new`, except a drift that
    /// does not fit its type.
    pub fn read(text: QuorumText<'_>, defaults: QuorumSettings, r: &mut impl Refusals) -> Self {
        let d = defaults;
        let max_drift_ppm = r.drift_ppm(text.max_drift, d.max_drift_ppm);
        QuorumSettings {
            lease: r.duration("election.lease", text.lease, d.lease),
            max_drift_ppm,
            fence_margin: r.duration("election.fence_margin", text.fence_margin, d.fence_margin),
            preempt: text.preempt.unwrap_or(d.preempt),
            preempt_delay: r.duration(
                "election.preempt_delay",
                text.preempt_delay,
                d.preempt_delay,
            ),
            reannounce_after: r.duration(
                "election.reannounce_after",
                text.reannounce_after,
                d.reannounce_after,
            ),
            ..d
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Said {
        lines: heapless::Vec<heapless::String<160>, 8>,
    }

    impl Refusals for Said {
        fn refuse(&mut self, key: &str, why: fmt::Arguments<'_>) {
            let mut line = heapless::String::new();
            let _ = fmt::write(&mut line, format_args!("{key}: {why}"));
            let _ = self.lines.push(line);
        }
    }

    #[test]
    fn absent_keys_take_the_defaults_and_bad_words_are_refused_in_order() {
        let mut said = Said::default();
        let a = AnnounceConfig::read(AnnounceText::default(), &mut said);
        assert_eq!(a, AnnounceConfig::default());
        assert!(said.lines.is_empty());
        let text = AnnounceText {
            garp_count: Some(300),
            garp_interval: Some("fast"),
            refresh_interval: Some("1s"),
            form: Some("all"),
            answer_arp: Some(false),
        };
        let a = AnnounceConfig::read(text, &mut said);
        assert_eq!(a.refresh_interval, Duration::from_secs(1));
        assert!(!a.answer_arp);
        assert_eq!(a.garp_count, AnnounceConfig::default().garp_count);
        let lines: heapless::Vec<&str, 8> = said.lines.iter().map(|l| l.as_str()).collect();
        assert_eq!(
            lines.as_slice(),
            [
                "announce.garp_count: must be from 1 to 100, not 300",
                "announce.garp_interval: must be a duration such as \"10ms\", \"1.5s\" or \"250us\", not \"fast\"",
                "announce.form: must be \"request\", \"reply\" or \"both\", not \"all\"",
            ]
        );
    }

    #[test]
    fn quorum_keys_override_the_defaults_and_bad_values_are_refused() {
        use crate::election::quorum::auth::AuthKey;
        let key = AuthKey::new(&[7; 32]).unwrap();
        let d = QuorumSettings::with_defaults(Duration::from_millis(2), key);
        let mut said = Said::default();
        let q = QuorumSettings::read(QuorumText::default(), d.clone(), &mut said);
        assert_eq!(q, d);
        let text = QuorumText {
            lease: Some("20ms"),
            max_drift: Some(-1),
            fence_margin: Some("soon"),
            preempt: Some(false),
            preempt_delay: Some("1s"),
            reannounce_after: None,
        };
        let q = QuorumSettings::read(text, d.clone(), &mut said);
        assert_eq!(q.lease, Duration::from_millis(20));
        assert_eq!(
            (q.max_drift_ppm, q.fence_margin),
            (d.max_drift_ppm, d.fence_margin)
        );
        assert!(!q.preempt);
        assert_eq!(q.preempt_delay, Duration::from_secs(1));
        let lines: heapless::Vec<&str, 8> = said.lines.iter().map(|l| l.as_str()).collect();
        assert_eq!(
            lines.as_slice(),
            [
                "election.max_drift: must be from 0 to 10000, not -1",
                "election.fence_margin: must be a duration such as \"10ms\", \"1.5s\" or \"250us\", not \"soon\"",
            ]
        );
    }
}

/// The etcd election's keys every reader shares, as a file writes them
/// (absent: `None`): `etcd.lease_ttl`, and the lease shortening of
/// `[election]` it shares with quorum.
#[derive(Debug, Clone, Copy, Default)]
pub struct EtcdText<'a> {
    /// `etcd.lease_ttl`.
    pub lease_ttl: Option<&'a str>,
    /// `election.max_drift`, in ppm.
    pub max_drift: Option<i64>,
    /// `election.fence_margin`.
    pub fence_margin: Option<&'a str>,
}

impl EtcdSettings {
    /// `defaults` with the keys `text` sets; ranges are left to
    /// `Config::new`, except a drift that does not fit its type.
    pub fn read(text: EtcdText<'_>, defaults: EtcdSettings, r: &mut impl Refusals) -> Self {
        let d = defaults;
        let max_drift_ppm = r.drift_ppm(text.max_drift, d.max_drift_ppm);
        EtcdSettings {
            lease_ttl: r.duration("etcd.lease_ttl", text.lease_ttl, d.lease_ttl),
            max_drift_ppm,
            fence_margin: r.duration("election.fence_margin", text.fence_margin, d.fence_margin),
            ..d
        }
    }
}
