//! The last step of config checking: the interface's facts plus the core's
//! rules.

use std::net::Ipv4Addr;

use vip_core::config::{same_subnet, ConfigError, Rule};
use vip_core::wire::EthernetAddress;
use vip_core::{Config, HostFacts, NodeSettings};

use super::{AgentConfig, Problem};

/// What netlink says about the management interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceFacts {
    /// Its hwaddr.
    pub mac: [u8; 6],
    /// Its IPv4 addresses with prefix lengths, in the kernel's order.
    pub ipv4: Vec<(Ipv4Addr, u8)>,
}

/// A config ready to run: the core's config and the facts chosen for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The core's validated config.
    pub core: Config,
    /// The node's own address (the first one whose subnet holds the VIP).
    pub address: Ipv4Addr,
    /// Its prefix length.
    pub prefix_len: u8,
}

/// Picks the node's address and checks everything the core checks.
///
/// The node's address is the interface's first IPv4 address whose subnet
/// holds the VIP, else its first address (the core then refuses the VIP as
/// outside the subnet). A `VIP/32` on the interface is vipd's own (left by an
/// earlier run) and is never taken as the node's address; the VIP with any
/// other prefix length is an operator's address and refused.
pub fn resolve(config: &AgentConfig, facts: &InterfaceFacts) -> Result<Resolved, Vec<Problem>> {
    let vip = config.vip();
    let operators = facts
        .ipv4
        .iter()
        .find(|(a, len)| Some(*a) == vip && *len != 32);
    if let Some((vip, len)) = operators {
        return Err(vec![Problem::new(
            "vip.address",
            format!(
                "must differ from the node's own address {vip} (configured on {} as {vip}/{len})",
                config.interface
            ),
        )]);
    }
    let own: Vec<(Ipv4Addr, u8)> = facts
        .ipv4
        .iter()
        .copied()
        .filter(|(a, _)| Some(*a) != vip)
        .collect();
    let chosen = own
        .iter()
        .find(|(a, len)| vip.is_some_and(|vip| same_subnet(*a, vip, *len)))
        .or_else(|| own.first())
        .copied();
    let Some((address, prefix_len)) = chosen else {
        return Err(vec![Problem::new(
            "interface",
            format!(
                "{} has no IPv4 address: the node's address is read from it",
                config.interface
            ),
        )]);
    };
    let settings = NodeSettings {
        host: HostFacts {
            name: config.node.clone(),
            mac: EthernetAddress(facts.mac),
            address,
            prefix_len,
        },
        cluster: config.settings.clone(),
    };
    match Config::new(settings.clone()) {
        Ok(core) => Ok(Resolved {
            core,
            address,
            prefix_len,
        }),
        Err(errors) => Err(errors
            .iter()
            .map(|e| core_problem(config, &settings.host, e))
            .collect()),
    }
}

/// The core's error as the daemon words it: the interface-derived fields
/// under the `interface` key with the value that broke the rule, and the
/// interface named where the core can only say "this node".
fn core_problem(config: &AgentConfig, h: &HostFacts, e: &ConfigError) -> Problem {
    let iface = &config.interface;
    let rule = e.message();
    match (e.key.name, &e.rule) {
        ("interface.mac", _) => {
            Problem::new("interface", format!("{iface}'s hwaddr {}: {rule}", h.mac))
        }
        ("interface.address", _) => Problem::new(
            "interface",
            format!("{iface}'s address {}: {rule}", h.address),
        ),
        ("interface.prefix_len", _) => Problem::new(
            "interface",
            format!("{iface}'s address {}/{}: {rule}", h.address, h.prefix_len),
        ),
        (_, Rule::MemberIsThisNode { name, address }) => Problem::new(
            e.key.to_string(),
            format!(
                "member {name} is this node, but its address on {iface} is {address}{}",
                e.value
                    .as_ref()
                    .map_or_else(String::new, |v| format!(", not {v}"))
            ),
        ),
        _ => Problem::new(e.key.to_string(), rule.to_string()),
    }
}
