//! The etcd election's settings and their rules.

use super::limits::{self, DurationRange};
use super::quorum::check_lease_shortening;
use super::rules::{Findings, Key, Rule, Value};
use super::Members;
use crate::election::etcd::{keepalive_interval, LEASE_TTL_DEFAULT, LEASE_TTL_MAX, LEASE_TTL_MIN};
use crate::election::quorum::timing;
use crate::time::Duration;

/// `etcd.lease_ttl`.
pub const LEASE_TTL: DurationRange = DurationRange {
    min: LEASE_TTL_MIN,
    max: LEASE_TTL_MAX,
};

/// The etcd election's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EtcdSettings {
    /// This node's priority, reported in status (etcd elects the oldest
    /// key, not the highest priority).
    pub priority: u8,
    /// The lease's TTL as granted ([`LEASE_TTL_MIN`] to [`LEASE_TTL_MAX`]).
    pub lease_ttl: Duration,
    /// The worst clock-rate error between this node and the etcd leader, ppm.
    pub max_drift_ppm: u32,
    /// How long VIP traffic may still pass after the lease's end.
    pub fence_margin: Duration,
}

impl EtcdSettings {
    /// Every default, at `priority`.
    pub const fn with_defaults(priority: u8) -> EtcdSettings {
        EtcdSettings {
            priority,
            lease_ttl: LEASE_TTL_DEFAULT,
            max_drift_ppm: 500,
            fence_margin: Duration::from_millis(1),
        }
    }

    pub(crate) fn check_into(&self, c: &mut Findings, members: &Members) {
        for (i, m) in members.iter().enumerate() {
            if m.witness {
                c.fail(Key::member(i, "witness"), Rule::WitnessWithEtcd, None);
            }
        }
        c.int(
            "election.priority",
            i64::from(self.priority),
            limits::PRIORITY,
        );
        if self.lease_ttl < LEASE_TTL_MIN {
            c.fail(
                Key::new("etcd.lease_ttl"),
                Rule::EtcdTtlBelowMin(LEASE_TTL_MIN),
                Some(Value::Duration(self.lease_ttl)),
            );
        } else {
            c.duration("etcd.lease_ttl", self.lease_ttl, LEASE_TTL);
        }
        if self.lease_ttl.total_micros() % 1_000_000 != 0 {
            c.fail(
                Key::new("etcd.lease_ttl"),
                Rule::EtcdTtlNotSeconds,
                Some(Value::Duration(self.lease_ttl)),
            );
        }
        check_lease_shortening(c, self.max_drift_ppm, self.fence_margin);
        // Two keep-alives may be lost and the third still extend in time.
        let l = self.holder_lease();
        let keepalive = keepalive_interval(self.lease_ttl);
        if l <= keepalive.saturating_mul(3) {
            c.fail(
                Key::new("etcd.lease_ttl"),
                Rule::EtcdLeaseTooShort {
                    holder_lease: l,
                    keepalive,
                },
                Some(Value::Duration(self.lease_ttl)),
            );
        }
    }

    /// The holder's lease L these settings give, counted from the asking
    /// of the keep-alive etcd answered.
    pub fn holder_lease(&self) -> Duration {
        timing::lease(self.lease_ttl, self.max_drift_ppm, self.fence_margin)
    }
}
