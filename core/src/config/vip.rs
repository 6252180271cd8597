//! Where the VIP's address comes from: fixed in the config, or leased by
//! DHCP for a VIP MAC that every node shares.

use core::fmt;
use core::net::Ipv4Addr;

use sha2::{Digest, Sha256};

use super::{mask, same_subnet, unicast, HostFacts, Members, Name};
use crate::config::limits;
use crate::wire::EthernetAddress;

/// The VIP as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VipSettings {
    /// A fixed address (`[vip] address`).
    Static(Ipv4Addr),
    /// An address leased by DHCP for the VIP MAC (`[vip] mode = "dhcp"`).
    Dhcp(DhcpSettings),
}

impl From<Ipv4Addr> for VipSettings {
    fn from(address: Ipv4Addr) -> Self {
        VipSettings::Static(address)
    }
}

/// The DHCP mode's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DhcpSettings {
    /// The VIP MAC: the DHCP client's hardware address and identifier, the
    /// MAC that answers for the VIP on whichever node holds it. Unicast and
    /// locally administered.
    pub hwaddr: EthernetAddress,
}

impl DhcpSettings {
    /// The settings with the VIP MAC derived from the cluster's name: the
    /// same on every node and every start, so the operator can map it to an
    /// address on the DHCP server before the first start (`vipd check`
    /// prints it).
    pub fn derived(cluster: &Name) -> DhcpSettings {
        DhcpSettings {
            hwaddr: derived_hwaddr(cluster),
        }
    }
}

/// A stable, locally administered unicast MAC for `cluster`: the first six
/// bytes of SHA-256 over a fixed label and the name, with the group bit
/// cleared and the local bit set.
pub fn derived_hwaddr(cluster: &Name) -> EthernetAddress {
    let digest = Sha256::new()
        .chain_update(b"vipd dhcp hwaddr\0")
        .chain_update(cluster.as_bytes())
        .finalize();
    let mut mac = [0u8; 6];
    mac.copy_from_slice(&digest[..6]);
    mac[0] = (mac[0] & 0xfc) | 0x02;
    EthernetAddress(mac)
}

/// True if `mac` may be a VIP MAC: unicast and locally administered.
pub fn hwaddr_allowed(mac: EthernetAddress) -> bool {
    mac.0[0] & 0x01 == 0 && mac.0[0] & 0x02 != 0
}

/// Why an address may not be the VIP: the rules a static VIP is checked
/// against when the config loads, and a leased one when its offer arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VipRule {
    /// Not a usable unicast host address.
    NotUnicast,
    /// The node's own address.
    NodeAddress,
    /// A configured member's address.
    MemberAddress,
    /// Outside the node's subnet.
    OutsideSubnet,
    /// The subnet's network or broadcast address.
    SubnetEdge,
}

impl VipRule {
    /// Snake-case name, as status and metrics show it.
    pub const fn as_str(self) -> &'static str {
        match self {
            VipRule::NotUnicast => "not_unicast",
            VipRule::NodeAddress => "node_address",
            VipRule::MemberAddress => "member_address",
            VipRule::OutsideSubnet => "outside_subnet",
            VipRule::SubnetEdge => "subnet_edge",
        }
    }
}

impl fmt::Display for VipRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            VipRule::NotUnicast => "is not a unicast host address",
            VipRule::NodeAddress => "is this node's own address",
            VipRule::MemberAddress => "is a member's address",
            VipRule::OutsideSubnet => "lies outside the nodes' subnet",
            VipRule::SubnetEdge => "is the subnet's network or broadcast address",
        })
    }
}

/// The rule `vip` breaks against this host (its address and subnet), if any.
pub(super) fn host_rule(vip: Ipv4Addr, h: &HostFacts) -> Option<VipRule> {
    let prefix_ok = limits::PREFIX_LEN.contains(i64::from(h.prefix_len));
    if vip == h.address {
        return Some(VipRule::NodeAddress);
    }
    if prefix_ok && !same_subnet(vip, h.address, h.prefix_len) {
        return Some(VipRule::OutsideSubnet);
    }
    if prefix_ok && h.prefix_len <= 30 {
        let host = u32::from(vip) & !mask(h.prefix_len);
        if host == 0 || host == !mask(h.prefix_len) {
            return Some(VipRule::SubnetEdge);
        }
    }
    None
}

/// The first rule a leased `vip` breaks, checking every rule a static VIP
/// is held to.
pub(super) fn leased_rule(vip: Ipv4Addr, h: &HostFacts, members: &Members) -> Option<VipRule> {
    if !unicast(vip) {
        return Some(VipRule::NotUnicast);
    }
    host_rule(vip, h).or_else(|| {
        members
            .iter()
            .any(|m| m.address == vip)
            .then_some(VipRule::MemberAddress)
    })
}
