//! The status document: what this node knows about the VIP and the members,
//! as the Unix socket, `GET /status` and `vipd status` show it.
//!
//! Times (`since`, `stateSince`, `lastHeard`) are RFC 3339 UTC strings with
//! milliseconds, computed from the daemon's monotonic clock and the wall
//! clock read once at start. `since` is when this node learned of the
//! current holder (for the holder itself: when it took the VIP).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};
use vip_core::dhcp::{LeaseProblem, LeaseStatus};
use vip_core::wire::EthernetAddress;
use vip_core::{Instant, Node, Peer};

use crate::clock::Clock;
use crate::config::AgentConfig;

/// The status document (field names in camelCase on the wire).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// Cluster name.
    pub cluster: String,
    /// This node's name.
    pub node: String,
    /// The management interface.
    pub interface: String,
    /// This node's own address on it.
    pub address: Ipv4Addr,
    /// The VIP.
    pub vip: Option<Ipv4Addr>,
    /// The holder: its member name if known by address, else its address;
    /// this node's name on the holder itself; null when no holder is known.
    pub vip_host: Option<String>,
    /// The MAC that answers for the VIP (`aa:bb:cc:dd:ee:ff`), null when unknown.
    pub hwaddr: Option<String>,
    /// The address the VIP's DHCP client asks for; null for a fixed VIP.
    #[serde(rename = "requestedIP")]
    pub requested_ip: Option<Ipv4Addr>,
    /// The VIP's DHCP lease as this node knows it; null for a fixed VIP.
    #[serde(default)]
    pub lease: Option<LeaseView>,
    /// This node's role: initialize, backup, master, fault.
    pub state: String,
    /// When this node entered its current state.
    pub state_since: String,
    /// The election protocol.
    pub protocol: String,
    /// This node's current priority.
    pub priority: u8,
    /// When this node learned of the current holder; null when none is known.
    pub since: Option<String>,
    /// The holder's term; null for VRRP, which has none.
    pub term: Option<u64>,
    /// The quorum election's config digest (hex): every member must show
    /// the same one; null for VRRP.
    pub config_digest: Option<String>,
    /// Members: this node, configured members, and peers heard by address.
    pub members: Vec<MemberStatus>,
    /// The etcd election as this node's adapter sees it; absent for the
    /// other protocols.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etcd: Option<EtcdView>,
}

/// The etcd election, for status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EtcdView {
    /// The nodes with an election key, oldest first: the first leads.
    pub line: Vec<String>,
    /// This node's lease (hex, as `etcdctl lease list` shows it).
    pub lease: Option<String>,
    /// What last went wrong talking to etcd, until a request succeeds.
    pub problem: Option<String>,
}

/// The DHCP lease, for status: why there is no address, when there is none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LeaseView {
    /// stopped (not the holder), selecting, requesting, bound, renewing, rebinding.
    pub state: String,
    /// The leased address while the lease lasts.
    pub address: Option<Ipv4Addr>,
    /// The server that granted it.
    pub server: Option<Ipv4Addr>,
    /// When the lease ends.
    pub expires: Option<String>,
    /// What last went wrong, until a lease binds: no_offer, nak, no_server,
    /// offer_refused.
    pub problem: Option<String>,
    /// The problem in words (the refused address and the rule it breaks,
    /// the server that said no).
    pub detail: Option<String>,
}

/// One member as this node knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberStatus {
    /// Its name, if configured (or this node's own).
    pub name: Option<String>,
    /// Its address.
    pub address: Ipv4Addr,
    /// True for this node's own entry.
    #[serde(rename = "self")]
    pub is_self: bool,
    /// True if it holds the VIP, as this node knows it.
    pub holder: bool,
    /// A witness: votes in the quorum election, never holds.
    #[serde(default)]
    pub witness: bool,
    /// When its last advert arrived; null if never (or for this node).
    pub last_heard: Option<String>,
    /// The priority it last advertised (this node: its current priority).
    pub priority: Option<u8>,
}

/// What this node last heard from one peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heard {
    /// When.
    pub at: Instant,
    /// What the peer's message said of it.
    pub peer: Peer,
}

/// The peers heard on the segment, for status only (the election keeps its
/// own state in the core).
#[derive(Debug, Clone, Default)]
pub struct Roster {
    heard: BTreeMap<Ipv4Addr, Heard>,
}

/// Most peers remembered: spoofed sources cannot grow the roster further.
pub const ROSTER_CAPACITY: usize = 64;

impl Roster {
    /// Records a message from `peer` at `now`.
    pub fn heard(&mut self, now: Instant, peer: Peer) {
        let address = peer.address;
        if !self.heard.contains_key(&address) && self.heard.len() >= ROSTER_CAPACITY {
            if let Some(oldest) = self.heard.iter().min_by_key(|(_, h)| h.at).map(|(a, _)| *a) {
                self.heard.remove(&oldest);
            }
        }
        self.heard.insert(address, Heard { at: now, peer });
    }

    /// What was last heard from `address`.
    pub fn get(&self, address: Ipv4Addr) -> Option<Heard> {
        self.heard.get(&address).copied()
    }

    /// Every peer heard, by address.
    pub fn iter(&self) -> impl Iterator<Item = (Ipv4Addr, Heard)> + '_ {
        self.heard.iter().map(|(a, h)| (*a, *h))
    }
}

/// Formats a MAC as `aa:bb:cc:dd:ee:ff`.
pub fn format_mac(mac: EthernetAddress) -> String {
    vip_core::config::text::MacText(mac).to_string()
}

/// Builds the status document from the node and what the agent knows.
///
/// Names, the VIP, the protocol and the role's word come from the node's
/// own config and state; the agent adds only its interface and the roster.
pub fn build(
    config: &AgentConfig,
    node: &Node,
    roster: &Roster,
    clock: &Clock,
    state_since: Instant,
) -> Status {
    let core = node.config();
    let own = core.address();
    let holder = node.holder();
    let name_of = |address: Ipv4Addr| core.member_name(address).map(|n| n.to_string());
    let vip_host = holder.map(|h| name_of(h.address).unwrap_or_else(|| h.address.to_string()));
    let mut members = vec![MemberStatus {
        name: Some(core.name().to_string()),
        address: own,
        is_self: true,
        holder: holder.is_some_and(|h| h.address == own),
        witness: core.members().iter().any(|m| m.address == own && m.witness),
        last_heard: None,
        priority: Some(node.priority()),
    }];
    let peer = |name: Option<String>, address: Ipv4Addr| {
        let heard = roster.get(address);
        MemberStatus {
            name,
            address,
            is_self: false,
            holder: holder.is_some_and(|h| h.address == address),
            witness: core
                .members()
                .iter()
                .any(|m| m.address == address && m.witness),
            last_heard: heard.map(|h| clock.rfc3339(h.at)),
            priority: heard.map(|h| h.peer.priority),
        }
    };
    for m in core.members().iter().filter(|m| m.address != own) {
        members.push(peer(Some(m.name.to_string()), m.address));
    }
    for (address, _) in roster.iter() {
        if address != own && core.member_name(address).is_none() {
            members.push(peer(None, address));
        }
    }
    Status {
        cluster: core.cluster().to_string(),
        node: core.name().to_string(),
        interface: config.interface.clone(),
        address: own,
        // A VRRP member knows the leased address from the adverts, not the
        // lease: it names the address all the same.
        vip: node
            .vip()
            .map(|v| v.address)
            .or_else(|| node.lease().and_then(|l| l.holder_address)),
        vip_host,
        hwaddr: node.vip_hwaddr().map(format_mac),
        requested_ip: node.lease().and_then(|l| l.requested),
        lease: node.lease().map(|l| lease_view(&l, clock)),
        state: node.role().as_str().to_owned(),
        state_since: clock.rfc3339(state_since),
        protocol: node.election().protocol().as_str().to_owned(),
        priority: node.priority(),
        since: holder.map(|h| clock.rfc3339(h.since)),
        term: holder.and_then(|h| h.term),
        config_digest: node
            .election()
            .as_quorum()
            .map(|q| crate::config::effective::hex(&q.digest())),
        members,
        etcd: None,
    }
}

fn lease_view(l: &LeaseStatus, clock: &Clock) -> LeaseView {
    let detail = l.problem.map(|p| match p {
        LeaseProblem::NoOffer => "no DHCP server answered DISCOVER".to_owned(),
        LeaseProblem::Nak { server: Some(s) } => format!("server {s} refused the address"),
        LeaseProblem::Nak { server: None } => "a server refused the address".to_owned(),
        LeaseProblem::NoServer => "no server renewed the lease before it ended".to_owned(),
        LeaseProblem::Refused { address, rule } => format!("offer of {address} refused: it {rule}"),
    });
    LeaseView {
        state: l.state.as_str().to_owned(),
        address: l.address,
        server: l.server,
        expires: l.expires_at.map(|at| clock.rfc3339(at)),
        problem: l.problem.map(|p| p.as_str().to_owned()),
        detail,
    }
}

/// The status as a short table for people (`vipd status`).
pub fn render_table(s: &Status) -> String {
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let mut out = String::new();
    let mut line = |k: &str, v: String| out.push_str(&format!("{k:<10} {v}\n"));
    line("cluster", s.cluster.clone());
    line(
        "node",
        format!("{} ({} on {})", s.node, s.address, s.interface),
    );
    line(
        "vip",
        s.vip.map_or_else(|| "-".to_string(), |v| v.to_string()),
    );
    line("vipHost", dash(&s.vip_host));
    line("hwaddr", dash(&s.hwaddr));
    if let Some(l) = &s.lease {
        let why = l
            .detail
            .as_ref()
            .map_or_else(String::new, |d| format!(" ({d})"));
        line("lease", format!("{}{why}", l.state));
    }
    line("state", format!("{} since {}", s.state, s.state_since));
    line("protocol", s.protocol.clone());
    line("priority", s.priority.to_string());
    line("since", dash(&s.since));
    out.push_str("\nMEMBER           ADDRESS          PRIO  HOLDER  LAST HEARD\n");
    for m in &s.members {
        let name = match (&m.name, m.is_self) {
            (Some(n), true) => format!("{n} (self)"),
            (Some(n), false) => n.clone(),
            (None, _) => "?".into(),
        };
        out.push_str(&format!(
            "{name:<16} {:<16} {:<5} {:<7} {}\n",
            m.address.to_string(),
            m.priority.map_or_else(|| "-".into(), |p| p.to_string()),
            if m.holder { "yes" } else { "" },
            dash(&m.last_heard),
        ));
    }
    out
}

#[cfg(test)]
#[path = "status_tests.rs"]
mod tests;
