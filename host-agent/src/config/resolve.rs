//! The last step of config checking: the interface's facts plus the core's
//! rules.

use std::net::Ipv4Addr;

use vip_core::config::{network, same_subnet};
use vip_core::wire::EthernetAddress;
use vip_core::{Config, ElectionSettings, NodeSettings};

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
    let vip = config.vip;
    let mut problems = Vec::new();
    if let Some((_, len)) = facts.ipv4.iter().find(|(a, len)| *a == vip && *len != 32) {
        problems.push(Problem::new(
            "vip.address",
            format!(
                "must differ from the node's own address {vip} (configured on {} as {vip}/{len})",
                config.interface
            ),
        ));
        return Err(problems);
    }
    let own: Vec<(Ipv4Addr, u8)> = facts
        .ipv4
        .iter()
        .copied()
        .filter(|(a, _)| *a != vip)
        .collect();
    let chosen = own
        .iter()
        .find(|(a, len)| same_subnet(*a, vip, *len))
        .or_else(|| own.first())
        .copied();
    let Some((address, prefix_len)) = chosen else {
        problems.push(Problem::new(
            "interface",
            format!(
                "{} has no IPv4 address: the node's address is read from it",
                config.interface
            ),
        ));
        return Err(problems);
    };
    let settings = NodeSettings {
        mac: EthernetAddress(facts.mac),
        address,
        prefix_len,
        vip,
        announce: config.announce,
        election: ElectionSettings::Vrrp(config.vrrp),
    };
    for (i, m) in config.members.iter().enumerate() {
        if m.name == config.node && m.address != address {
            problems.push(Problem::new(
                format!("member[{}].address", i + 1),
                format!(
                    "member {} is this node, but its address on {} is {address}, not {}",
                    m.name, config.interface, m.address
                ),
            ));
        } else if (1..=32).contains(&prefix_len) && !same_subnet(m.address, address, prefix_len) {
            problems.push(Problem::new(
                format!("member[{}].address", i + 1),
                format!(
                    "must be inside the node's subnet {}/{prefix_len} (member {})",
                    network(address, prefix_len),
                    m.name
                ),
            ));
        }
    }
    match Config::new(settings) {
        Ok(core) if problems.is_empty() => Ok(Resolved {
            core,
            address,
            prefix_len,
        }),
        Ok(_) => Err(problems),
        Err(errors) => {
            let mut core_problems: Vec<Problem> = errors
                .iter()
                .map(|e| core_problem(config, &settings, e.field, &e.rule.to_string()))
                .collect();
            core_problems.append(&mut problems);
            Err(core_problems)
        }
    }
}

/// Renames the core's interface-derived fields to the `interface` key, with
/// the value that broke the rule.
fn core_problem(config: &AgentConfig, s: &NodeSettings, field: &str, rule: &str) -> Problem {
    let iface = &config.interface;
    match field {
        "interface.mac" => Problem::new("interface", format!("{iface}'s hwaddr {}: {rule}", s.mac)),
        "interface.address" => Problem::new(
            "interface",
            format!("{iface}'s address {}: {rule}", s.address),
        ),
        "interface.prefix_len" => Problem::new(
            "interface",
            format!("{iface}'s address {}/{}: {rule}", s.address, s.prefix_len),
        ),
        // The core's VIP rules name the subnet, not the value that broke them.
        "vip.address" => Problem::new("vip.address", format!("{rule}, not {}", s.vip)),
        other => Problem::new(other, rule),
    }
}
