//! What a broken setting is told: the config key, the rule and the value.

use core::fmt;
use core::net::Ipv4Addr;

use heapless::Vec;

use super::limits::{DurationRange, IntRange, MAX_MEMBERS, MAX_NAME_LEN};
use super::members::Name;
use super::network;
use crate::time::Duration;
use crate::wire::EthernetAddress;

/// The rule a setting broke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// The VIP equals the node's own address.
    VipIsNodeAddress(Ipv4Addr),
    /// The VIP equals a configured member's address.
    VipIsMemberAddress {
        /// The member.
        name: Name,
        /// Its address.
        address: Ipv4Addr,
    },
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
    /// A prefix length outside 1 to 32.
    PrefixLen,
    /// A number outside its range.
    Range(IntRange),
    /// A duration outside its range.
    DurationRange(DurationRange),
    /// A VRRP interval that is not a whole number of centiseconds.
    NotCentiseconds,
    /// The MAC address is zero, multicast or broadcast.
    MacNotUnicast,
    /// An empty name.
    NameEmpty,
    /// A name longer than [`MAX_NAME_LEN`] bytes.
    NameTooLong,
    /// A name with spaces or control characters.
    NameCharacters,
    /// A member name listed twice.
    NameListedTwice(Name),
    /// A member address listed twice.
    AddressListedTwice(Ipv4Addr),
    /// More than [`MAX_MEMBERS`] members.
    TooManyMembers,
    /// A member outside the node's subnet.
    MemberOutsideSubnet {
        /// The node's address.
        address: Ipv4Addr,
        /// Its prefix length.
        prefix_len: u8,
        /// The member.
        name: Name,
    },
    /// A member with this node's name and another address.
    MemberIsThisNode {
        /// The member (this node's name).
        name: Name,
        /// This node's own address.
        address: Ipv4Addr,
    },
    /// The quorum or etcd election with this node missing from the members.
    NotAMember(Ipv4Addr),
    /// A witness under the etcd election (etcd's own members vote).
    WitnessWithEtcd,
    /// The quorum election with fewer than three members.
    QuorumTooFewMembers {
        /// How many are configured.
        members: usize,
    },
    /// The quorum election with fewer than two members that may hold.
    QuorumTooFewHolders,
    /// A lease shorter than the renewals it must span.
    LeaseTooShort {
        /// The renewal interval.
        interval: Duration,
        /// How many renewals it must span.
        renewals: u64,
    },
    /// A lease whose holder's part, after drift and the fence margin, could
    /// not be renewed in time.
    HolderLeaseTooShort {
        /// The holder's lease the settings give.
        holder_lease: Duration,
    },
    /// An EtherType below 0x0600 or one that IPv4, ARP, IPv6 or VLANs use.
    EthertypeReserved,
    /// An etcd lease TTL below what etcd grants.
    EtcdTtlBelowMin(Duration),
    /// An etcd lease TTL that is not whole seconds (etcd's unit).
    EtcdTtlNotSeconds,
    /// An etcd lease whose holder's part spans three keep-alives or fewer.
    EtcdLeaseTooShort {
        /// The holder's lease the settings give.
        holder_lease: Duration,
        /// The keep-alive interval.
        keepalive: Duration,
    },
    /// A group MAC that is not a multicast address (or is broadcast).
    GroupMacNotMulticast,
    /// A key that is not 32 to 64 bytes long.
    KeyLength,
    /// A VIP MAC that is multicast or not locally administered.
    HwaddrNotLocal,
    /// A VIP MAC equal to the node's own MAC.
    HwaddrIsNodeMac,
    /// VRRP's virtual MAC asked for beside a DHCP VIP, which has its own.
    VirtualMacWithDhcp,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::VipIsNodeAddress(a) => write!(f, "must differ from the node's own address {a}"),
            Rule::VipIsMemberAddress { name, address } => {
                write!(f, "must differ from member {name}'s address {address}")
            }
            Rule::VipOutsideSubnet {
                address,
                prefix_len,
            } => write!(
                f,
                "must be inside the node's subnet {}/{prefix_len}",
                network(*address, *prefix_len)
            ),
            Rule::VipNotUnicast | Rule::AddressNotUnicast => {
                f.write_str("must be a unicast host address")
            }
            Rule::VipSubnetEdge => {
                f.write_str("must not be the subnet's network or broadcast address")
            }
            Rule::PrefixLen => f.write_str("must be a prefix length from 1 to 32"),
            Rule::Range(r) => r.fmt(f),
            Rule::DurationRange(r) => r.fmt(f),
            Rule::NotCentiseconds => {
                f.write_str("must be a multiple of 10ms (VRRP counts centiseconds)")
            }
            Rule::MacNotUnicast => f.write_str("must be a unicast MAC address"),
            Rule::HwaddrNotLocal => f.write_str(
                "must be a unicast, locally administered MAC (second hex digit 2, 6, a or e, as in 02:00:00:09:7f:3f)",
            ),
            Rule::HwaddrIsNodeMac => {
                f.write_str("must differ from the interface's own MAC: every node shares the VIP MAC")
            }
            Rule::VirtualMacWithDhcp => f.write_str(
                "must be false with [vip] mode = \"dhcp\": the VIP MAC (vip.hwaddr) answers for the VIP",
            ),
            Rule::NameEmpty => f.write_str("must not be empty"),
            Rule::NameTooLong => write!(f, "must be at most {MAX_NAME_LEN} characters"),
            Rule::NameCharacters => f.write_str("must not contain spaces or control characters"),
            Rule::NameListedTwice(name) => write!(f, "{:?} is listed twice", name.as_str()),
            Rule::AddressListedTwice(a) => write!(f, "{a} is listed twice"),
            Rule::TooManyMembers => write!(f, "lists more than {MAX_MEMBERS} members"),
            Rule::MemberOutsideSubnet {
                address,
                prefix_len,
                name,
            } => write!(
                f,
                "must be inside the node's subnet {}/{prefix_len} (member {name})",
                network(*address, *prefix_len)
            ),
            Rule::MemberIsThisNode { name, address } => write!(
                f,
                "member {name} is this node, but its address is {address}"
            ),
            Rule::NotAMember(address) => write!(
                f,
                "must list this node (address {address}): the quorum and etcd elections know the nodes by the members list"
            ),
            Rule::WitnessWithEtcd => f.write_str(
                "applies only to protocol = \"quorum\": under etcd, etcd's own members vote and every vipd member may hold; remove it, or leave the node out"
            ),
            Rule::QuorumTooFewMembers { members } => write!(
                f,
                "lists {members} members: the quorum election needs 3 or more (with two nodes, add a third member with witness = true, a small machine on the same segment that votes and never holds), or use protocol = \"vrrp\""
            ),
            Rule::QuorumTooFewHolders => f.write_str(
                "needs at least two members that are not witnesses, or nothing can take the VIP over"
            ),
            Rule::LeaseTooShort { interval, renewals } => write!(
                f,
                "must be at least {renewals} advert intervals ({} at {interval})",
                interval.saturating_mul(*renewals)
            ),
            Rule::HolderLeaseTooShort { holder_lease } => write!(
                f,
                "leaves the holder a lease of {holder_lease} after drift and the fence margin, not more than 2 advert intervals: lengthen the lease, or shorten advert_interval or fence_margin"
            ),
            Rule::EtcdTtlBelowMin(min) => write!(
                f,
                "must be at least {min}: etcd raises a shorter TTL to {min} without saying so, and the fence would count the wrong lease"
            ),
            Rule::EtcdTtlNotSeconds => f.write_str(
                "must be whole seconds: etcd grants TTLs in seconds"
            ),
            Rule::EtcdLeaseTooShort { holder_lease, keepalive } => write!(
                f,
                "leaves the holder a lease of {holder_lease} after drift and the fence margin, not more than 3 keep-alives ({keepalive} apart): lengthen lease_ttl, or shorten fence_margin"
            ),
            Rule::EthertypeReserved => f.write_str(
                "must be an EtherType from 0x0600 that IPv4, ARP, IPv6 and VLANs do not use (the default 0x88b5 is IEEE local experimental)"
            ),
            Rule::GroupMacNotMulticast => {
                f.write_str("must be a multicast MAC address other than broadcast")
            }
            Rule::KeyLength => f.write_str("must hold 32 to 64 bytes"),
        }
    }
}

/// The value that broke a rule, as the config writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A number.
    Int(i64),
    /// A duration (written as a TOML string: `"5ms"`).
    Duration(Duration),
    /// An IPv4 address.
    Address(Ipv4Addr),
    /// A name (written as a TOML string).
    Name(Name),
    /// A MAC address (written as a TOML string).
    Mac(EthernetAddress),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(n) => write!(f, "{n}"),
            Value::Duration(d) => write!(f, "\"{d}\""),
            Value::Address(a) => write!(f, "{a}"),
            Value::Name(n) => write!(f, "{:?}", n.as_str()),
            Value::Mac(m) => write!(f, "\"{}\"", super::text::MacText(*m)),
        }
    }
}

/// A config key: `election.priority`, or `member[2].address` for member 1
/// (members count from 1 in messages, as people count them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    /// The member's index from 0, for `member[..]` keys.
    pub member: Option<usize>,
    /// The key, or the member's field.
    pub name: &'static str,
}

impl Key {
    /// A top-level or section key.
    pub const fn new(name: &'static str) -> Key {
        Key { member: None, name }
    }

    /// A key of member `index` (from 0).
    pub const fn member(index: usize, name: &'static str) -> Key {
        Key {
            member: Some(index),
            name,
        }
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.member {
            Some(i) => write!(f, "member[{}].{}", i + 1, self.name),
            None => f.write_str(self.name),
        }
    }
}

/// One broken rule: the key, the rule, and the value that broke it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The config key.
    pub key: Key,
    /// What it must satisfy.
    pub rule: Rule,
    /// The value written, where the message should repeat it.
    pub value: Option<Value>,
}

impl ConfigError {
    /// The rule and the value, without the key: `must be from 1 to 255, not 0`.
    pub fn message(&self) -> Message<'_> {
        Message(self)
    }
}

/// [`ConfigError::message`].
#[derive(Debug, Clone, Copy)]
pub struct Message<'a>(&'a ConfigError);

impl fmt::Display for Message<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.rule.fmt(f)?;
        match &self.0.value {
            Some(v) => write!(f, ", not {v}"),
            None => Ok(()),
        }
    }
}

impl fmt::Display for ConfigError {
    /// `KEY: RULE, not VALUE`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message())
    }
}

/// Every broken rule found, in key order (at most 16: enough to act on).
pub type ConfigErrors = Vec<ConfigError, 16>;

/// Collects broken rules while settings are checked.
#[derive(Debug, Default)]
pub(crate) struct Findings {
    pub(crate) errors: ConfigErrors,
}

impl Findings {
    pub(crate) fn fail(&mut self, key: Key, rule: Rule, value: Option<Value>) {
        // More than 16 problems: the first 16 are enough to act on.
        let _ = self.errors.push(ConfigError { key, rule, value });
    }

    pub(crate) fn int(&mut self, key: &'static str, value: i64, range: IntRange) {
        if !range.contains(value) {
            self.fail(Key::new(key), Rule::Range(range), Some(Value::Int(value)));
        }
    }

    pub(crate) fn duration(&mut self, key: &'static str, value: Duration, range: DurationRange) {
        if !range.contains(value) {
            self.fail(
                Key::new(key),
                Rule::DurationRange(range),
                Some(Value::Duration(value)),
            );
        }
    }

    // No heap to box into; this runs once per config load, so the size is moot.
    #[allow(clippy::result_large_err)]
    pub(crate) fn into_result(self) -> Result<(), ConfigErrors> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(self.errors)
        }
    }
}
