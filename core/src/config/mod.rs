//! Validated, typed node configuration: the one config model.
//!
//! Parse, don't validate: [`NodeSettings`] is what an operator wrote
//! ([`ClusterSettings`], typed by the daemon's TOML reader, the simulator's
//! scenario reader or a test) plus what the host knows of itself
//! ([`HostFacts`]: its name, MAC and address). [`Config::new`] checks every
//! rule once and yields a [`Config`] that cannot hold a bad value;
//! [`ClusterSettings::check`] runs the rules that need no host facts, so a
//! reader can refuse a file before it looks at any interface.
//!
//! Every range is in [`limits`], every word in [`names`], every default in
//! a `Default` impl here; readers quote them rather than restate them. Each
//! [`ConfigError`] names the key (`vip.address`, `election.priority`,
//! `member[2].address`), the rule and the value.

use core::net::Ipv4Addr;

use crate::time::Duration;
use crate::wire::EthernetAddress;

mod etcd;
pub mod limits;
mod members;
pub mod names;
pub mod quorum;
mod rules;
#[cfg(test)]
pub(crate) mod tests;
pub mod text;
mod vip;

pub use etcd::{EtcdSettings, LEASE_TTL};
pub use members::{Member, Members, Name};
pub use names::{ChecksumMode, GarpForm, Named, OneOf, Protocol, VipMode};
pub use quorum::QuorumSettings;
pub use rules::{ConfigError, ConfigErrors, Key, Message, Rule, Value};
pub use vip::{derived_hwaddr, hwaddr_allowed, DhcpSettings, VipRule, VipSettings};

use rules::Findings;

/// Gratuitous ARP and ARP responder settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnnounceConfig {
    /// Gratuitous ARPs sent on acquiring, the first at once ([`limits::GARP_COUNT`]).
    pub garp_count: u8,
    /// Spacing of the acquire burst ([`limits::GARP_INTERVAL`]).
    pub garp_interval: Duration,
    /// Period of re-announcements while holding; zero disables
    /// ([`limits::REFRESH_INTERVAL`] otherwise).
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

impl AnnounceConfig {
    fn check_into(&self, c: &mut Findings) {
        c.int(
            "announce.garp_count",
            i64::from(self.garp_count),
            limits::GARP_COUNT,
        );
        c.duration(
            "announce.garp_interval",
            self.garp_interval,
            limits::GARP_INTERVAL,
        );
        if self.refresh_interval != Duration::ZERO {
            c.duration(
                "announce.refresh_interval",
                self.refresh_interval,
                limits::REFRESH_INTERVAL,
            );
        }
    }
}

/// VRRPv3 settings as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VrrpSettings {
    /// Virtual router ID ([`limits::VRID`]).
    pub vrid: u8,
    /// Priority ([`limits::PRIORITY`]; 255: address owner, master at once).
    pub priority: u8,
    /// Advert interval ([`limits::VRRP_ADVERT_INTERVAL`], whole centiseconds).
    pub advert_interval: Duration,
    /// Whether a higher-priority backup takes over from a lower-priority master.
    pub preempt: bool,
    /// How long a higher-priority backup waits before preempting
    /// ([`limits::PREEMPT_DELAY`]).
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

impl VrrpSettings {
    fn check_into(&self, c: &mut Findings) {
        c.int("election.vrid", i64::from(self.vrid), limits::VRID);
        c.int(
            "election.priority",
            i64::from(self.priority),
            limits::PRIORITY,
        );
        let interval = self.advert_interval;
        if !limits::VRRP_ADVERT_INTERVAL.contains(interval) {
            c.duration(
                "election.advert_interval",
                interval,
                limits::VRRP_ADVERT_INTERVAL,
            );
        } else if interval.total_micros() % limits::VRRP_INTERVAL_STEP.total_micros() != 0 {
            c.fail(
                Key::new("election.advert_interval"),
                Rule::NotCentiseconds,
                Some(Value::Duration(interval)),
            );
        }
        c.duration(
            "election.preempt_delay",
            self.preempt_delay,
            limits::PREEMPT_DELAY,
        );
    }
}

/// The election protocol and its settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ElectionSettings {
    /// VRRPv3 (RFC 9568).
    Vrrp(VrrpSettings),
    /// Majority leases (docs/protocol.md).
    Quorum(QuorumSettings),
    /// The cluster's etcd (docs/protocol.md, "The etcd election").
    Etcd(EtcdSettings),
}

impl ElectionSettings {
    /// Which protocol these settings are for.
    pub const fn protocol(&self) -> Protocol {
        match self {
            ElectionSettings::Vrrp(_) => Protocol::Vrrp,
            ElectionSettings::Quorum(_) => Protocol::Quorum,
            ElectionSettings::Etcd(_) => Protocol::Etcd,
        }
    }

    /// This node's priority.
    pub const fn priority(&self) -> u8 {
        match self {
            ElectionSettings::Vrrp(v) => v.priority,
            ElectionSettings::Quorum(q) => q.priority,
            ElectionSettings::Etcd(e) => e.priority,
        }
    }

    fn check_into(&self, c: &mut Findings, members: &Members) {
        match self {
            ElectionSettings::Vrrp(v) => v.check_into(c),
            ElectionSettings::Quorum(q) => q.check_into(c, members),
            ElectionSettings::Etcd(e) => e.check_into(c, members),
        }
    }
}

/// What the host knows of itself: read from its interface, not written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostFacts {
    /// This node's name.
    pub name: Name,
    /// The management interface's MAC address.
    pub mac: EthernetAddress,
    /// The node's own IPv4 address on the management interface.
    pub address: Ipv4Addr,
    /// Prefix length of the management subnet.
    pub prefix_len: u8,
}

/// What the operator configures: the cluster's shared settings and this
/// node's own (its priority, inside `election`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSettings {
    /// The cluster's name.
    pub cluster: Name,
    /// The virtual IP: fixed, or leased by DHCP.
    pub vip: VipSettings,
    /// The configured members (may be empty for VRRP).
    pub members: Members,
    /// Announcement settings.
    pub announce: AnnounceConfig,
    /// Election protocol.
    pub election: ElectionSettings,
}

impl ClusterSettings {
    /// Checks every rule that needs no host facts; returns all broken ones.
    ///
    /// # Errors
    /// Every broken rule, in key order.
    // No heap to box into; this runs once per config load, so the size is moot.
    #[allow(clippy::result_large_err)]
    pub fn check(&self) -> Result<(), ConfigErrors> {
        let mut c = Findings::default();
        self.check_into(&mut c, None);
        c.into_result()
    }

    fn check_into(&self, c: &mut Findings, host: Option<&HostFacts>) {
        match self.vip {
            VipSettings::Static(vip) if !unicast(vip) => c.fail(
                Key::new("vip.address"),
                Rule::VipNotUnicast,
                Some(Value::Address(vip)),
            ),
            VipSettings::Static(vip) => {
                if let Some(h) = host {
                    check_vip_against_host(c, vip, h);
                }
            }
            VipSettings::Dhcp(d) => self.check_dhcp(c, d, host),
        }
        self.announce.check_into(c);
        self.election.check_into(c, &self.members);
        self.check_members(c, host);
        if let (ElectionSettings::Quorum(_) | ElectionSettings::Etcd(_), Some(h)) =
            (&self.election, host)
        {
            if !self.members.iter().any(|m| m.address == h.address) {
                c.fail(Key::new("member"), Rule::NotAMember(h.address), None);
            }
        }
    }

    /// The MAC that answers for the VIP when it is not the holder's own:
    /// the DHCP mode's VIP MAC, or VRRP's virtual MAC 00:00:5e:00:01:VRID.
    pub fn shared_vip_mac(&self) -> Option<EthernetAddress> {
        match (&self.vip, &self.election) {
            (VipSettings::Dhcp(d), _) => Some(d.hwaddr),
            (VipSettings::Static(_), ElectionSettings::Vrrp(v)) if v.virtual_mac => Some(
                EthernetAddress(crate::wire::vrrp::virtual_router_mac(v.vrid)),
            ),
            (VipSettings::Static(_), _) => None,
        }
    }

    fn check_dhcp(&self, c: &mut Findings, d: DhcpSettings, host: Option<&HostFacts>) {
        let value = Some(Value::Mac(d.hwaddr));
        if !hwaddr_allowed(d.hwaddr) {
            c.fail(Key::new("vip.hwaddr"), Rule::HwaddrNotLocal, value);
        } else if host.is_some_and(|h| h.mac == d.hwaddr) {
            c.fail(Key::new("vip.hwaddr"), Rule::HwaddrIsNodeMac, value);
        }
        if let ElectionSettings::Vrrp(v) = &self.election {
            if v.virtual_mac {
                c.fail(
                    Key::new("election.virtual_mac"),
                    Rule::VirtualMacWithDhcp,
                    None,
                );
            }
        }
    }

    fn check_members(&self, c: &mut Findings, host: Option<&HostFacts>) {
        for (i, m) in self.members.iter().enumerate() {
            let earlier = &self.members[..i];
            if earlier.iter().any(|e| e.name == m.name) {
                let rule = Rule::NameListedTwice(m.name.clone());
                c.fail(Key::member(i, "name"), rule, None);
            }
            if earlier.iter().any(|e| e.address == m.address) {
                let rule = Rule::AddressListedTwice(m.address);
                c.fail(Key::member(i, "address"), rule, None);
            }
            // The node's own address is reported once, as the node's.
            let own = host.is_some_and(|h| h.address == m.address);
            if self.vip == VipSettings::Static(m.address) && !own {
                let rule = Rule::VipIsMemberAddress {
                    name: m.name.clone(),
                    address: m.address,
                };
                c.fail(Key::new("vip.address"), rule, None);
            }
            let Some(h) = host else { continue };
            if m.name == h.name && m.address != h.address {
                let rule = Rule::MemberIsThisNode {
                    name: m.name.clone(),
                    address: h.address,
                };
                c.fail(
                    Key::member(i, "address"),
                    rule,
                    Some(Value::Address(m.address)),
                );
            } else if limits::PREFIX_LEN.contains(i64::from(h.prefix_len))
                && !same_subnet(m.address, h.address, h.prefix_len)
            {
                let rule = Rule::MemberOutsideSubnet {
                    address: h.address,
                    prefix_len: h.prefix_len,
                    name: m.name.clone(),
                };
                c.fail(Key::member(i, "address"), rule, None);
            }
        }
    }
}

fn check_vip_against_host(c: &mut Findings, vip: Ipv4Addr, h: &HostFacts) {
    let key = Key::new("vip.address");
    let value = Some(Value::Address(vip));
    match vip::host_rule(vip, h) {
        Some(VipRule::NodeAddress) => c.fail(key, Rule::VipIsNodeAddress(h.address), None),
        Some(VipRule::OutsideSubnet) => {
            let rule = Rule::VipOutsideSubnet {
                address: h.address,
                prefix_len: h.prefix_len,
            };
            c.fail(key, rule, value);
        }
        Some(VipRule::SubnetEdge) => c.fail(key, Rule::VipSubnetEdge, value),
        Some(VipRule::NotUnicast | VipRule::MemberAddress) | None => {}
    }
}

/// A node's settings: the host's facts plus what the operator wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSettings {
    /// What the host knows of itself.
    pub host: HostFacts,
    /// What the operator wrote.
    pub cluster: ClusterSettings,
}

/// A validated node configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
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

impl Config {
    /// Checks every rule; returns all broken ones.
    ///
    /// # Errors
    /// Every broken rule, in key order: the interface's facts, the VIP,
    /// `announce`, `election`, then the members.
    // No heap to box into; this runs once per config load, so the size is moot.
    #[allow(clippy::result_large_err)]
    pub fn new(settings: NodeSettings) -> Result<Config, ConfigErrors> {
        let mut c = Findings::default();
        let h = &settings.host;
        if !h.mac.is_unicast() || h.mac.0 == [0; 6] {
            c.fail(Key::new("interface.mac"), Rule::MacNotUnicast, None);
        }
        if !unicast(h.address) {
            c.fail(Key::new("interface.address"), Rule::AddressNotUnicast, None);
        }
        if !limits::PREFIX_LEN.contains(i64::from(h.prefix_len)) {
            c.fail(Key::new("interface.prefix_len"), Rule::PrefixLen, None);
        }
        settings.cluster.check_into(&mut c, Some(h));
        c.into_result()?;
        Ok(Config { settings })
    }

    /// The settings, as validated.
    pub fn settings(&self) -> &NodeSettings {
        &self.settings
    }

    /// This node's name.
    pub fn name(&self) -> &Name {
        &self.settings.host.name
    }

    /// The cluster's name.
    pub fn cluster(&self) -> &Name {
        &self.settings.cluster.cluster
    }

    /// The node's own MAC address.
    pub fn mac(&self) -> EthernetAddress {
        self.settings.host.mac
    }

    /// The node's own IPv4 address.
    pub fn address(&self) -> Ipv4Addr {
        self.settings.host.address
    }

    /// The management subnet's prefix length.
    pub fn prefix_len(&self) -> u8 {
        self.settings.host.prefix_len
    }

    /// The VIP as configured: fixed or leased.
    pub fn vip_settings(&self) -> VipSettings {
        self.settings.cluster.vip
    }

    /// The fixed VIP (`None` in the DHCP mode).
    pub fn static_vip(&self) -> Option<Ipv4Addr> {
        match self.settings.cluster.vip {
            VipSettings::Static(address) => Some(address),
            VipSettings::Dhcp(_) => None,
        }
    }

    /// The DHCP mode's settings (`None` for a fixed VIP).
    pub fn dhcp(&self) -> Option<DhcpSettings> {
        match self.settings.cluster.vip {
            VipSettings::Static(_) => None,
            VipSettings::Dhcp(d) => Some(d),
        }
    }

    /// The first rule a leased `address` breaks as the VIP (the rules a
    /// fixed VIP is held to when the config loads), if any.
    pub fn leased_vip_rule(&self, address: Ipv4Addr) -> Option<VipRule> {
        vip::leased_rule(address, &self.settings.host, self.members())
    }

    /// The configured members.
    pub fn members(&self) -> &Members {
        &self.settings.cluster.members
    }

    /// The member name for `address`: this node's own name for its address.
    pub fn member_name(&self, address: Ipv4Addr) -> Option<&Name> {
        if address == self.address() {
            return Some(self.name());
        }
        self.members()
            .iter()
            .find(|m| m.address == address)
            .map(|m| &m.name)
    }

    /// Announcement settings.
    pub fn announce(&self) -> &AnnounceConfig {
        &self.settings.cluster.announce
    }

    /// The election settings.
    pub fn election(&self) -> &ElectionSettings {
        &self.settings.cluster.election
    }

    /// The election protocol.
    pub fn protocol(&self) -> Protocol {
        self.election().protocol()
    }

    /// The VRRP settings, when the protocol is VRRP.
    pub fn vrrp(&self) -> Option<&VrrpSettings> {
        match self.election() {
            ElectionSettings::Vrrp(v) => Some(v),
            ElectionSettings::Quorum(_) | ElectionSettings::Etcd(_) => None,
        }
    }

    /// The quorum settings, when the protocol is quorum.
    pub fn quorum(&self) -> Option<&QuorumSettings> {
        match self.election() {
            ElectionSettings::Quorum(q) => Some(q),
            ElectionSettings::Vrrp(_) | ElectionSettings::Etcd(_) => None,
        }
    }

    /// This node's index among the members, if it is one.
    pub fn member_index(&self) -> Option<usize> {
        self.members()
            .iter()
            .position(|m| m.address == self.address())
    }

    /// The MAC that answers for the VIP while this node holds it.
    pub fn vip_mac(&self) -> EthernetAddress {
        self.settings.cluster.shared_vip_mac().unwrap_or(self.mac())
    }
}
