//! Each node's core settings: the simulator's address plan, the members,
//! and the core's own validation with its keys turned into the file's.
//!
//! The scenario reader hands the core what a daemon would: host facts
//! ([`host_facts`]) and the cluster's settings, then lets
//! [`ClusterSettings::check`] and [`Config::new`] judge them. Nothing here
//! re-checks a range or re-states a default.

use std::net::Ipv4Addr;

use vip_core::config::limits::MAX_MEMBERS;
use vip_core::election::quorum::auth::AuthKey;
use vip_core::wire::EthernetAddress;
use vip_core::{
    AnnounceConfig, ClusterSettings, Config, ConfigError, ElectionSettings, HostFacts, Member,
    Members, Name, NodeSettings, VipSettings,
};

use super::ScenarioError;

/// The VIP every scenario uses: fixed, or (`[dhcp]`) the address the
/// server maps the VIP MAC to.
pub const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 250);

/// The DHCP server's address (its identifier, option 54): above the
/// clients (`192.0.2.201` to `.240`) and the VIP, below the broadcast.
pub const DHCP_SERVER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 254);

/// The DHCP server's MAC: locally administered, outside the nodes'
/// (`02:00:00:00:00:xx`) and the clients' (`02:00:00:00:01:xx`) schemes.
pub const DHCP_SERVER_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0x02, 0x01]);

/// The management subnet's prefix length: `192.0.2.0/24`.
pub const PREFIX_LEN: u8 = 24;

/// The cluster name every scenario's nodes are configured with.
pub const CLUSTER: &str = "sim";

/// The cluster key every quorum scenario's nodes share: fixed, so runs replay.
pub const CLUSTER_KEY: [u8; 32] = *b"vipd-sim-cluster-key-32-bytes-ok";

/// [`CLUSTER_KEY`] as the core's key.
pub fn cluster_key() -> AuthKey {
    // Invariant: 32 bytes is a valid key length.
    AuthKey::new(&CLUSTER_KEY).expect("a 32-byte key is valid")
}

/// The MAC of node `i`: `02:00:00:00:00:(i+1)`.
pub fn node_mac(i: usize) -> EthernetAddress {
    EthernetAddress([0x02, 0, 0, 0, 0, (i + 1) as u8])
}

/// The address of node `i`: `192.0.2.(i+1)`.
pub fn node_address(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(192, 0, 2, (i + 1) as u8)
}

/// The name of node `i`: `n0`, `n1`, ...
pub fn node_name(i: usize) -> Name {
    // Invariant: "n" and a number is short ASCII without spaces, a valid name.
    Name::new(&format!("n{i}")).expect("n<number> is a valid name")
}

/// The members every node of an `n`-node cluster is configured with: every
/// node, as a daemon's config lists them, when `n` is at most
/// [`MAX_MEMBERS`]; none for a larger cluster (VRRP needs none, and the
/// core takes no more). Node `i` is a witness if `witnesses[i]` (absent:
/// not).
pub fn members(n: usize, witnesses: &[bool]) -> Members {
    let mut members = Members::new();
    if n <= MAX_MEMBERS {
        for i in 0..n {
            let member = Member {
                witness: witnesses.get(i).copied().unwrap_or(false),
                name: node_name(i),
                address: node_address(i),
            };
            // Cannot fail: at most MAX_MEMBERS pushes.
            let _ = members.push(member);
        }
    }
    members
}

/// The cluster's name, as the core takes it.
pub fn cluster_name() -> Name {
    // Invariant: a constant of three letters, a valid name.
    Name::new(CLUSTER).expect("CLUSTER is a valid name")
}

/// The settings every node of an `n`-node scenario shares (the priority
/// inside `election` is set per node by [`node_configs`]); `vip` is the
/// fixed [`VIP`] or the DHCP mode's settings.
pub fn cluster(
    n: usize,
    witnesses: &[bool],
    vip: VipSettings,
    announce: AnnounceConfig,
    election: ElectionSettings,
) -> ClusterSettings {
    ClusterSettings {
        cluster: cluster_name(),
        vip,
        members: members(n, witnesses),
        announce,
        election,
    }
}

/// What the host of node `i` knows of itself.
pub fn host_facts(i: usize) -> HostFacts {
    HostFacts {
        name: node_name(i),
        mac: node_mac(i),
        address: node_address(i),
        prefix_len: PREFIX_LEN,
    }
}

/// What differs between one node's settings and the cluster's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct NodeKnobs {
    /// Its priority.
    pub priority: u8,
    /// The `no_drift_margin` defect: its core is told `max_drift = 0` and
    /// `fence_margin = 0` (quorum or etcd).
    pub no_drift_margin: bool,
}

/// Every node's configuration: `cluster` (as node 0 sees it) judged once by
/// [`ClusterSettings::check`], then each node's own with its knobs by
/// [`Config::new`].
///
/// # Errors
/// The core's findings, keyed like the file (see [`scenario_error`]).
pub(super) fn node_configs(
    cluster: &ClusterSettings,
    knobs: &[NodeKnobs],
) -> Result<Vec<Config>, Vec<ScenarioError>> {
    let keyed = |errors: &[ConfigError], node: usize| -> Vec<ScenarioError> {
        errors.iter().map(|e| scenario_error(e, node)).collect()
    };
    cluster.check().map_err(|errors| keyed(&errors, 0))?;
    let mut configs = Vec::with_capacity(knobs.len());
    for (i, k) in knobs.iter().enumerate() {
        let mut cluster = cluster.clone();
        match &mut cluster.election {
            ElectionSettings::Vrrp(v) => v.priority = k.priority,
            ElectionSettings::Etcd(e) => {
                e.priority = k.priority;
                if k.no_drift_margin {
                    e.max_drift_ppm = 0;
                    e.fence_margin = vip_core::Duration::ZERO;
                }
            }
            ElectionSettings::Quorum(q) => {
                q.priority = k.priority;
                if k.no_drift_margin {
                    q.max_drift_ppm = 0;
                    q.fence_margin = vip_core::Duration::ZERO;
                }
            }
        }
        let settings = NodeSettings {
            host: host_facts(i),
            cluster,
        };
        configs.push(Config::new(settings).map_err(|errors| keyed(&errors, i))?);
    }
    Ok(configs)
}

/// A core finding about node `node`, keyed like the scenario file: the
/// core's key, except the node's own priority, which the file lists per
/// node (`election.priority` becomes `election.priorities[node]`), and the
/// VIP MAC, which the file writes in `[dhcp]` (`vip.hwaddr` becomes
/// `dhcp.hwaddr`).
pub fn scenario_error(e: &ConfigError, node: usize) -> ScenarioError {
    let field = match (e.key.member, e.key.name) {
        (None, "election.priority") => format!("election.priorities[{node}]"),
        (None, "vip.hwaddr") => "dhcp.hwaddr".to_string(),
        _ => e.key.to_string(),
    };
    ScenarioError {
        field,
        message: e.message().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use vip_core::config::limits::PRIORITY;
    use vip_core::config::{Key, Rule, Value};

    use super::*;

    #[test]
    fn members_list_every_node_up_to_the_core_limit() {
        let three = members(3, &[false, false, true]);
        assert_eq!(three.len(), 3);
        assert_eq!(three[2].name.as_str(), "n2");
        assert_eq!(three[2].address, Ipv4Addr::new(192, 0, 2, 3));
        assert!(three[2].witness && !three[1].witness);
        assert_eq!(members(MAX_MEMBERS, &[]).len(), MAX_MEMBERS);
        assert!(members(MAX_MEMBERS + 1, &[]).is_empty());
    }

    #[test]
    fn a_core_priority_finding_names_the_nodes_entry() {
        let e = ConfigError {
            key: Key::new("election.priority"),
            rule: Rule::Range(PRIORITY),
            value: Some(Value::Int(0)),
        };
        let s = scenario_error(&e, 3);
        assert_eq!(s.field, "election.priorities[3]");
        assert_eq!(s.message, format!("{PRIORITY}, not 0"));
        let e = ConfigError {
            key: Key::new("announce.garp_interval"),
            ..e
        };
        assert_eq!(scenario_error(&e, 3).field, "announce.garp_interval");
    }
}
