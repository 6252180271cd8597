//! The quorum election's settings and their rules.

use super::limits::{self, DurationRange, IntRange};
use super::rules::{Findings, Key, Rule, Value};
use super::Members;
use crate::election::quorum::auth::{AuthKey, KEY_LEN};
use crate::election::quorum::timing::{lease, LEASE_MAX, MAX_DRIFT_PPM_MAX};
use crate::time::Duration;
use crate::wire::EthernetAddress;

/// `election.advert_interval` for quorum: the renewal period.
pub const QUORUM_ADVERT_INTERVAL: DurationRange = DurationRange {
    min: Duration::from_millis(1),
    max: Duration::from_secs(10),
};
/// `election.lease`: from 3 renewals (checked apart) to [`LEASE_MAX`].
pub const LEASE: DurationRange = DurationRange {
    min: Duration::from_millis(3),
    max: LEASE_MAX,
};
/// `election.max_drift`, ppm.
pub const MAX_DRIFT: IntRange = IntRange {
    min: 0,
    max: MAX_DRIFT_PPM_MAX as i64,
};
/// `election.fence_margin`.
pub const FENCE_MARGIN: DurationRange = DurationRange {
    min: Duration::ZERO,
    max: Duration::from_secs(1),
};
/// `election.reannounce_after`: when the second gratuitous-ARP burst goes.
pub const REANNOUNCE_AFTER: DurationRange = DurationRange {
    min: Duration::ZERO,
    max: Duration::from_secs(10),
};
/// How many renewal intervals a lease must span at least.
pub const LEASE_MIN_RENEWALS: u64 = 3;
/// EtherTypes a quorum frame may not use: IPv4, ARP, 802.1Q, IPv6, 802.1ad.
const RESERVED_ETHERTYPES: [u16; 5] = [0x0800, 0x0806, 0x8100, 0x86dd, 0x88a8];

/// The ranges of what shortens a holder's lease, ρ and D (quorum and etcd).
pub(super) fn check_lease_shortening(c: &mut Findings, max_drift_ppm: u32, fence_margin: Duration) {
    c.int("election.max_drift", i64::from(max_drift_ppm), MAX_DRIFT);
    c.duration("election.fence_margin", fence_margin, FENCE_MARGIN);
}

/// The quorum-lease election's settings as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumSettings {
    /// This node's priority ([`limits::PRIORITY`]): a higher one stands
    /// first and, with `preempt`, takes the VIP over.
    pub priority: u8,
    /// The holder's renewal period R ([`QUORUM_ADVERT_INTERVAL`]).
    pub advert_interval: Duration,
    /// How long a promise lasts, P ([`LEASE`], at least 3 × R).
    pub lease: Duration,
    /// The worst clock-rate error of any member, ρ, in ppm ([`MAX_DRIFT`]).
    pub max_drift_ppm: u32,
    /// How long VIP traffic may still pass after the lease's end, D
    /// ([`FENCE_MARGIN`]).
    pub fence_margin: Duration,
    /// Whether a higher-priority eligible member is handed the VIP.
    pub preempt: bool,
    /// How long it must be heard first ([`limits::PREEMPT_DELAY`]).
    pub preempt_delay: Duration,
    /// When the new holder repeats its gratuitous-ARP burst
    /// ([`REANNOUNCE_AFTER`]; zero: never).
    pub reannounce_after: Duration,
    /// The frames' EtherType.
    pub ethertype: u16,
    /// The frames' destination (`None`: broadcast).
    pub group_mac: Option<EthernetAddress>,
    /// The cluster key.
    pub key: AuthKey,
}

impl QuorumSettings {
    /// The default lease for a renewal period: 5 × R.
    pub const fn default_lease(advert_interval: Duration) -> Duration {
        advert_interval.saturating_mul(5)
    }

    /// Settings with every default for renewals every `advert_interval`,
    /// signed with `key`.
    pub fn with_defaults(advert_interval: Duration, key: AuthKey) -> QuorumSettings {
        QuorumSettings {
            priority: 100,
            advert_interval,
            lease: Self::default_lease(advert_interval),
            max_drift_ppm: 500,
            // The eBPF fence compares at nanosecond precision: D covers only
            // frames already queued behind it (docs/protocol.md, "Holding").
            fence_margin: Duration::from_millis(1),
            preempt: true,
            preempt_delay: Duration::ZERO,
            reannounce_after: Duration::from_millis(50),
            ethertype: crate::wire::quorum::ETHERTYPE,
            group_mac: None,
            key,
        }
    }

    /// The default renewal period.
    pub const DEFAULT_ADVERT_INTERVAL: Duration = Duration::from_millis(50);

    /// The holder's lease L these settings give.
    pub fn holder_lease(&self) -> Duration {
        lease(self.lease, self.max_drift_ppm, self.fence_margin)
    }

    pub(crate) fn check_into(&self, c: &mut Findings, members: &Members) {
        c.int(
            "election.priority",
            i64::from(self.priority),
            limits::PRIORITY,
        );
        let r = self.advert_interval;
        c.duration("election.advert_interval", r, QUORUM_ADVERT_INTERVAL);
        c.duration("election.lease", self.lease, LEASE);
        if self.lease < r.saturating_mul(LEASE_MIN_RENEWALS) {
            c.fail(
                Key::new("election.lease"),
                Rule::LeaseTooShort {
                    interval: r,
                    renewals: LEASE_MIN_RENEWALS,
                },
                Some(Value::Duration(self.lease)),
            );
        }
        check_lease_shortening(c, self.max_drift_ppm, self.fence_margin);
        let l = self.holder_lease();
        if l <= r.saturating_mul(2) && self.lease >= r.saturating_mul(LEASE_MIN_RENEWALS) {
            c.fail(
                Key::new("election.lease"),
                Rule::HolderLeaseTooShort { holder_lease: l },
                Some(Value::Duration(self.lease)),
            );
        }
        c.duration(
            "election.preempt_delay",
            self.preempt_delay,
            limits::PREEMPT_DELAY,
        );
        c.duration(
            "election.reannounce_after",
            self.reannounce_after,
            REANNOUNCE_AFTER,
        );
        if self.ethertype < 0x0600 || RESERVED_ETHERTYPES.contains(&self.ethertype) {
            c.fail(
                Key::new("election.ethertype"),
                Rule::EthertypeReserved,
                Some(Value::Int(i64::from(self.ethertype))),
            );
        }
        if let Some(mac) = self.group_mac {
            if !mac.is_multicast() || mac.is_broadcast() {
                c.fail(
                    Key::new("election.group_mac"),
                    Rule::GroupMacNotMulticast,
                    None,
                );
            }
        }
        if !KEY_LEN.contains(&self.key.len()) {
            c.fail(Key::new("election.key_file"), Rule::KeyLength, None);
        }
        let witnesses = members.iter().filter(|m| m.witness).count();
        let n = members.len();
        if n < 3 {
            c.fail(
                Key::new("member"),
                Rule::QuorumTooFewMembers { members: n },
                None,
            );
        } else if n - witnesses < 2 {
            c.fail(Key::new("member"), Rule::QuorumTooFewHolders, None);
        }
    }
}
