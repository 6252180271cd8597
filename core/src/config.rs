//! Validated, typed node configuration.
//!
//! Parse, don't validate: [`NodeSettings`] is what an operator wrote (already
//! typed by the host agent's TOML reader or by a test), [`Config::new`] checks
//! every rule once and yields a [`Config`] that cannot hold a bad value. Each
//! [`ConfigError`] names the field by its config key (`vip.address`,
//! `election.priority`, ...) and the rule it broke.

use core::fmt;
use core::net::Ipv4Addr;

use heapless::Vec;

use crate::time::Duration;
use crate::wire::vrrp::{ChecksumKind, MAX_INTERVAL_CENTIS};
use crate::wire::EthernetAddress;

/// Which ARP form a gratuitous announcement uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GarpForm {
    /// ARP request with sender IP = target IP = VIP (what Linux `arping -U` sends).
    Request,
    /// ARP reply with sender IP = target IP = VIP, to broadcast (`arping -A`).
    Reply,
    /// Both forms, request first, in every announcement.
    Both,
}

/// How adverts are checksummed on send (both forms are always accepted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumMode {
    /// Send the form the peers of this VRID use, learned from the last valid
    /// advert received; before any is heard, the pseudo-header form, which
    /// every keepalived release accepts (Debian's 2.2 refuses the RFC 9568
    /// form and, worse, restarts its own advert timer on each refused advert,
    /// so it would fall silent while still holding). An RFC 9568 peer that
    /// refuses our first adverts becomes master, advertises, and we switch.
    Auto,
    /// Always the RFC 9568 form (VRRP message only).
    Rfc9568,
    /// Always the RFC 5798 / keepalived form (with the IPv4 pseudo-header).
    PseudoHeader,
}

impl ChecksumMode {
    /// The form to send, given the one last learned from a peer.
    pub fn to_send(self, learned: Option<ChecksumKind>) -> ChecksumKind {
        match self {
            ChecksumMode::Rfc9568 => ChecksumKind::Rfc9568,
            ChecksumMode::PseudoHeader => ChecksumKind::PseudoHeader,
            ChecksumMode::Auto => learned.unwrap_or(ChecksumKind::PseudoHeader),
        }
    }
}

/// Gratuitous ARP and ARP responder settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnnounceConfig {
    /// Gratuitous ARPs sent on acquiring, the first at once (1 to 100).
    pub garp_count: u8,
    /// Spacing of the acquire burst (1 ms to 60 s).
    pub garp_interval: Duration,
    /// Period of re-announcements while holding; zero disables (else 10 ms to 1 h).
    pub refresh_interval: Duration,
    /// ARP form of each announcement.
    pub form: GarpForm,
    /// Whether the core answers ARP requests for the VIP (else the host's kernel does).
    pub answer_arp: bool,
}

impl Default for AnnounceConfig {
    fn default() -> Self {
        AnnounceConfig {
            garp_count: 3,
            garp_interval: Duration::from_millis(100),
            refresh_interval: Duration::ZERO,
            form: GarpForm::Both,
            answer_arp: true,
        }
    }
}

/// VRRPv3 settings as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VrrpSettings {
    /// Virtual router ID, 1 to 255.
    pub vrid: u8,
    /// Priority, 1 to 255 (255: address owner, starts as master at once).
    pub priority: u8,
    /// Advert interval, 10 ms to 40.95 s in steps of 10 ms.
    pub advert_interval: Duration,
    /// Whether a higher-priority backup takes over from a lower-priority master.
    pub preempt: bool,
    /// How long a higher-priority backup waits before preempting (at most 1 h).
    pub preempt_delay: Duration,
    /// Checksum form sent.
    pub checksum: ChecksumMode,
    /// Use the VRRP virtual MAC 00:00:5e:00:01:VRID instead of the node's own.
    pub virtual_mac: bool,
}

impl Default for VrrpSettings {
    fn default() -> Self {
        VrrpSettings {
            vrid: 51,
            priority: 100,
            advert_interval: Duration::from_secs(1),
            preempt: true,
            preempt_delay: Duration::ZERO,
            checksum: ChecksumMode::Auto,
            virtual_mac: false,
        }
    }
}

/// The election protocols, by the names configs and status use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// VRRPv3 (RFC 9568).
    Vrrp,
}

impl Protocol {
    /// Every protocol this build speaks.
    pub const ALL: [Protocol; 1] = [Protocol::Vrrp];

    /// The name as configs, scenario files and status write it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Protocol::Vrrp => "vrrp",
        }
    }

    /// The protocol called `name`, if this build speaks it.
    pub fn from_name(name: &str) -> Option<Protocol> {
        Protocol::ALL.into_iter().find(|p| p.as_str() == name)
    }

    /// True if each side of a partition may elect its own holder (VRRP's
    /// known limit); false for a protocol that needs a majority.
    pub const fn holder_per_partition(self) -> bool {
        match self {
            Protocol::Vrrp => true,
        }
    }
}

/// The election protocol and its settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElectionSettings {
    /// VRRPv3 (RFC 9568).
    Vrrp(VrrpSettings),
}

impl ElectionSettings {
    /// Which protocol these settings are for.
    pub const fn protocol(&self) -> Protocol {
        match self {
            ElectionSettings::Vrrp(_) => Protocol::Vrrp,
        }
    }
}

/// A node's settings as written, before validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeSettings {
    /// The management interface's MAC address.
    pub mac: EthernetAddress,
    /// The node's own IPv4 address on the management interface.
    pub address: Ipv4Addr,
    /// Prefix length of the management subnet.
    pub prefix_len: u8,
    /// The virtual IP.
    pub vip: Ipv4Addr,
    /// Announcement settings.
    pub announce: AnnounceConfig,
    /// Election protocol.
    pub election: ElectionSettings,
}

/// The rule a setting broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// The VIP equals the node's own address.
    VipIsNodeAddress(Ipv4Addr),
    /// The VIP lies outside the node's subnet.
    VipOutsideSubnet {
        /// The node's address.
        address: Ipv4Addr,
        /// Its prefix length.
        prefix_len: u8,
    },
    /// The VIP is not a usable unicast host address.
    VipNotUnicast,
    /// The VIP is the subnet's network or broadcast address.
    VipSubnetEdge,
    /// The node address is not a usable unicast address.
    AddressNotUnicast,
    /// A prefix length above 32 or below 1.
    PrefixLen,
    /// A number outside its inclusive range.
    Range {
        /// Lowest allowed.
        min: u64,
        /// Highest allowed.
        max: u64,
    },
    /// A duration outside its inclusive range.
    DurationRange {
        /// Shortest allowed.
        min: Duration,
        /// Longest allowed.
        max: Duration,
    },
    /// A duration that is not a whole number of centiseconds.
    NotCentiseconds,
    /// The MAC address is zero, multicast or broadcast.
    MacNotUnicast,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::VipIsNodeAddress(a) => {
                write!(f, "must differ from the node's own address {a}")
            }
            Rule::VipOutsideSubnet {
                address,
                prefix_len,
            } => write!(
                f,
                "must be inside the node's subnet {}/{prefix_len}",
                network(*address, *prefix_len)
            ),
            Rule::VipNotUnicast => f.write_str("must be a unicast host address"),
            Rule::VipSubnetEdge => {
                f.write_str("must not be the subnet's network or broadcast address")
            }
            Rule::AddressNotUnicast => f.write_str("must be a unicast host address"),
            Rule::PrefixLen => f.write_str("must be a prefix length from 1 to 32"),
            Rule::Range { min, max } => write!(f, "must be from {min} to {max}"),
            Rule::DurationRange { min, max } => write!(f, "must be from {min} to {max}"),
            Rule::NotCentiseconds => f.write_str("must be a multiple of 10ms"),
            Rule::MacNotUnicast => f.write_str("must be a unicast MAC address"),
        }
    }
}

/// One broken rule: the config key and the rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigError {
    /// The config key, e.g. `election.priority`.
    pub field: &'static str,
    /// What it must satisfy.
    pub rule: Rule,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.rule)
    }
}

/// Every broken rule found, in field order (at most 16).
pub type ConfigErrors = Vec<ConfigError, 16>;

/// A validated node configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    settings: NodeSettings,
}

/// The network address of `addr` under a `/prefix_len` mask (prefixes above
/// 32 count as 32).
pub fn network(addr: Ipv4Addr, prefix_len: u8) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(addr) & mask(prefix_len))
}

/// True if `a` and `b` lie in one `/prefix_len` subnet.
pub fn same_subnet(a: Ipv4Addr, b: Ipv4Addr, prefix_len: u8) -> bool {
    network(a, prefix_len) == network(b, prefix_len)
}

fn mask(prefix_len: u8) -> u32 {
    match prefix_len {
        0 => 0,
        n => u32::MAX << (32 - u32::from(n.min(32))),
    }
}

fn unicast(a: Ipv4Addr) -> bool {
    !(a.is_unspecified() || a.is_multicast() || a.is_broadcast() || a.is_loopback())
}

struct Checker {
    errors: ConfigErrors,
}

impl Checker {
    fn fail(&mut self, field: &'static str, rule: Rule) {
        // More than 16 problems: the first 16 are enough to act on.
        let _ = self.errors.push(ConfigError { field, rule });
    }

    fn range(&mut self, field: &'static str, value: u64, min: u64, max: u64) {
        if value < min || value > max {
            self.fail(field, Rule::Range { min, max });
        }
    }

    fn duration(&mut self, field: &'static str, value: Duration, min: Duration, max: Duration) {
        if value < min || value > max {
            self.fail(field, Rule::DurationRange { min, max });
        }
    }
}

impl Config {
    /// Checks every rule; returns all broken ones.
    // No heap to box into; this runs once per config load, so the size is moot.
    #[allow(clippy::result_large_err)]
    pub fn new(settings: NodeSettings) -> Result<Config, ConfigErrors> {
        let mut c = Checker { errors: Vec::new() };
        let s = &settings;
        if !s.mac.is_unicast() || s.mac.0 == [0; 6] {
            c.fail("interface.mac", Rule::MacNotUnicast);
        }
        if !unicast(s.address) {
            c.fail("interface.address", Rule::AddressNotUnicast);
        }
        let prefix_ok = (1..=32).contains(&s.prefix_len);
        if !prefix_ok {
            c.fail("interface.prefix_len", Rule::PrefixLen);
        }
        if !unicast(s.vip) {
            c.fail("vip.address", Rule::VipNotUnicast);
        } else if s.vip == s.address {
            c.fail("vip.address", Rule::VipIsNodeAddress(s.address));
        } else if prefix_ok && network(s.vip, s.prefix_len) != network(s.address, s.prefix_len) {
            c.fail(
                "vip.address",
                Rule::VipOutsideSubnet {
                    address: s.address,
                    prefix_len: s.prefix_len,
                },
            );
        } else if prefix_ok && s.prefix_len <= 30 {
            let host = u32::from(s.vip) & !mask(s.prefix_len);
            if host == 0 || host == !mask(s.prefix_len) {
                c.fail("vip.address", Rule::VipSubnetEdge);
            }
        }
        let a = &s.announce;
        c.range("announce.garp_count", u64::from(a.garp_count), 1, 100);
        c.duration(
            "announce.garp_interval",
            a.garp_interval,
            Duration::from_millis(1),
            Duration::from_secs(60),
        );
        if a.refresh_interval != Duration::ZERO {
            c.duration(
                "announce.refresh_interval",
                a.refresh_interval,
                Duration::from_millis(10),
                Duration::from_secs(3600),
            );
        }
        match &s.election {
            ElectionSettings::Vrrp(v) => {
                c.range("election.vrid", u64::from(v.vrid), 1, 255);
                c.range("election.priority", u64::from(v.priority), 1, 255);
                let min = Duration::from_millis(10);
                let max = Duration::from_centis(u64::from(MAX_INTERVAL_CENTIS));
                if v.advert_interval < min || v.advert_interval > max {
                    c.fail("election.advert_interval", Rule::DurationRange { min, max });
                } else if v.advert_interval.total_micros() % 10_000 != 0 {
                    c.fail("election.advert_interval", Rule::NotCentiseconds);
                }
                c.duration(
                    "election.preempt_delay",
                    v.preempt_delay,
                    Duration::ZERO,
                    Duration::from_secs(3600),
                );
            }
        }
        if c.errors.is_empty() {
            Ok(Config { settings })
        } else {
            Err(c.errors)
        }
    }

    /// The settings, as validated.
    pub fn settings(&self) -> &NodeSettings {
        &self.settings
    }

    /// The node's own MAC address.
    pub fn mac(&self) -> EthernetAddress {
        self.settings.mac
    }

    /// The node's own IPv4 address.
    pub fn address(&self) -> Ipv4Addr {
        self.settings.address
    }

    /// The VIP.
    pub fn vip(&self) -> Ipv4Addr {
        self.settings.vip
    }

    /// Announcement settings.
    pub fn announce(&self) -> &AnnounceConfig {
        &self.settings.announce
    }

    /// The VRRP settings (the only protocol so far).
    pub fn vrrp(&self) -> &VrrpSettings {
        match &self.settings.election {
            ElectionSettings::Vrrp(v) => v,
        }
    }

    /// The MAC that answers for the VIP while this node holds it.
    pub fn vip_mac(&self) -> EthernetAddress {
        let v = self.vrrp();
        if v.virtual_mac {
            EthernetAddress([0x00, 0x00, 0x5e, 0x00, 0x01, v.vrid])
        } else {
            self.settings.mac
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn settings() -> NodeSettings {
        NodeSettings {
            mac: EthernetAddress([0x02, 0, 0, 0, 0, 0x0b]),
            address: Ipv4Addr::new(192, 0, 2, 11),
            prefix_len: 24,
            vip: Ipv4Addr::new(192, 0, 2, 100),
            announce: AnnounceConfig::default(),
            election: ElectionSettings::Vrrp(VrrpSettings::default()),
        }
    }

    fn vrrp(f: impl FnOnce(&mut VrrpSettings)) -> NodeSettings {
        let mut s = settings();
        let ElectionSettings::Vrrp(v) = &mut s.election;
        f(v);
        s
    }

    fn only_error(s: NodeSettings) -> ConfigError {
        let errors = Config::new(s).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        errors[0]
    }

    #[test]
    fn zero_or_group_mac_is_refused() {
        for mac in [[0u8; 6], [0xff; 6], [0x01, 0, 0x5e, 0, 0, 1]] {
            let mut s = settings();
            s.mac = EthernetAddress(mac);
            assert_eq!(only_error(s).rule, Rule::MacNotUnicast);
        }
    }

    #[test]
    fn good_settings_pass() {
        let c = Config::new(settings()).unwrap();
        assert_eq!(c.vip_mac(), settings().mac);
        let c = Config::new(vrrp(|v| v.virtual_mac = true)).unwrap();
        assert_eq!(c.vip_mac(), EthernetAddress([0, 0, 0x5e, 0, 1, 51]));
    }

    #[test]
    fn vip_equal_to_node_address_is_refused() {
        let mut s = settings();
        s.vip = s.address;
        let e = only_error(s);
        assert_eq!(e.field, "vip.address");
        assert_eq!(e.rule, Rule::VipIsNodeAddress(s.address));
        let mut text = heapless::String::<128>::new();
        core::fmt::write(&mut text, format_args!("{e}")).unwrap();
        assert_eq!(
            text,
            "vip.address: must differ from the node's own address 192.0.2.11"
        );
    }

    #[test]
    fn vip_outside_subnet_is_refused() {
        let mut s = settings();
        s.vip = Ipv4Addr::new(198, 51, 100, 7);
        let e = only_error(s);
        assert_eq!(e.field, "vip.address");
        assert!(matches!(
            e.rule,
            Rule::VipOutsideSubnet { prefix_len: 24, .. }
        ));
        s.vip = Ipv4Addr::new(192, 0, 2, 255);
        assert_eq!(only_error(s).rule, Rule::VipSubnetEdge);
        s.vip = Ipv4Addr::new(224, 0, 0, 18);
        assert_eq!(only_error(s).rule, Rule::VipNotUnicast);
    }

    #[test]
    fn interval_bounds_are_enforced() {
        for bad in [Duration::from_millis(9), Duration::from_millis(40_960)] {
            let e = only_error(vrrp(|v| v.advert_interval = bad));
            assert_eq!(e.field, "election.advert_interval");
        }
        let e = only_error(vrrp(|v| v.advert_interval = Duration::from_millis(15)));
        assert_eq!(e.rule, Rule::NotCentiseconds);
        assert!(Config::new(vrrp(|v| v.advert_interval = Duration::from_millis(10))).is_ok());
        assert!(Config::new(vrrp(|v| v.advert_interval = Duration::from_millis(40_950))).is_ok());
    }

    #[test]
    fn priority_and_vrid_ranges_are_enforced() {
        let e = only_error(vrrp(|v| v.priority = 0));
        assert_eq!(e.field, "election.priority");
        assert_eq!(e.rule, Rule::Range { min: 1, max: 255 });
        let e = only_error(vrrp(|v| v.vrid = 0));
        assert_eq!(e.field, "election.vrid");
    }

    #[test]
    fn every_problem_is_reported() {
        let mut s = vrrp(|v| {
            v.priority = 0;
            v.vrid = 0;
        });
        s.announce.garp_count = 0;
        s.vip = s.address;
        let fields: heapless::Vec<&str, 8> = Config::new(s)
            .unwrap_err()
            .iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields.as_slice(),
            [
                "vip.address",
                "announce.garp_count",
                "election.vrid",
                "election.priority"
            ]
        );
    }
}
