//! What runs on a node: vipd or keepalived, and the config file each reads.

use std::fmt::Write as _;
use std::path::Path;

use super::{NodeAddr, VIP, VRID};

/// The VRRP implementation a node runs, with its settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// vipd with this priority and `election.checksum` (`auto`, `rfc9568`,
    /// `pseudo-header`).
    Vipd {
        priority: u8,
        checksum: &'static str,
    },
    /// Debian's keepalived (2.2.x) with this priority, `vrrp_version 3`.
    Keepalived { priority: u8 },
    /// vipd with `protocol = "quorum"` at this priority; a witness votes
    /// and never holds. Every quorum node of a testbed lists every node.
    Quorum { priority: u8, witness: bool },
    /// vipd with `protocol = "etcd"` at this priority and lease TTL
    /// (seconds), on the testbed's etcd cluster (`testbed::etcd`, started
    /// separately).
    Etcd { priority: u8, ttl_s: u32 },
}

impl Peer {
    /// vipd with `checksum = "auto"` (the default).
    pub const fn vipd(priority: u8) -> Self {
        Peer::Vipd {
            priority,
            checksum: "auto",
        }
    }

    /// keepalived.
    pub const fn keepalived(priority: u8) -> Self {
        Peer::Keepalived { priority }
    }

    /// A quorum member that may hold.
    pub const fn quorum(priority: u8) -> Self {
        Peer::Quorum {
            priority,
            witness: false,
        }
    }

    /// A quorum witness.
    pub const fn witness() -> Self {
        Peer::Quorum {
            priority: 1,
            witness: true,
        }
    }

    /// The configured priority.
    pub fn priority(&self) -> u8 {
        match *self {
            Peer::Vipd { priority, .. }
            | Peer::Keepalived { priority }
            | Peer::Quorum { priority, .. }
            | Peer::Etcd { priority, .. } => priority,
        }
    }

    /// Whether this is a vipd node.
    pub fn is_vipd(&self) -> bool {
        matches!(
            self,
            Peer::Vipd { .. } | Peer::Quorum { .. } | Peer::Etcd { .. }
        )
    }
}

/// The vipd config for `me` among `all`, its status socket at `socket`.
pub fn vipd_config(
    me: &NodeAddr,
    all: &[NodeAddr],
    priority: u8,
    checksum: &str,
    advert_ms: u32,
    socket: &Path,
) -> String {
    let mut s = format!(
        "cluster = \"testbed\"\n\
         node = \"{name}\"\n\
         interface = \"eth0\"\n\
         [vip]\n\
         address = \"{VIP}\"\n\
         [election]\n\
         protocol = \"vrrp\"\n\
         priority = {priority}\n\
         advert_interval = \"{advert_ms}ms\"\n\
         vrid = {VRID}\n\
         checksum = \"{checksum}\"\n\
         [announce]\n\
         garp_count = 3\n\
         garp_interval = \"100ms\"\n\
         refresh_interval = \"0s\"\n\
         [status]\n\
         socket = \"{socket}\"\n",
        name = me.name,
        socket = socket.display(),
    );
    for other in all.iter().filter(|o| o.name != me.name) {
        let _ = write!(
            s,
            "[[member]]\nname = \"{}\"\naddress = \"{}\"\n",
            other.name, other.addr
        );
    }
    s
}

/// The quorum config for `me` among `all` (`peers[i]` says which are
/// witnesses), renewing every `advert_ms`, with the key at `key`.
pub fn quorum_config(
    me: &NodeAddr,
    all: &[NodeAddr],
    peers: &[Peer],
    priority: u8,
    advert_ms: u32,
    socket: &Path,
    key: &Path,
) -> String {
    let mut s = format!(
        "cluster = \"testbed\"\n\
         node = \"{name}\"\n\
         interface = \"eth0\"\n\
         [vip]\n\
         address = \"{VIP}\"\n\
         [election]\n\
         protocol = \"quorum\"\n\
         priority = {priority}\n\
         advert_interval = \"{advert_ms}ms\"\n\
         key_file = \"{key}\"\n\
         [announce]\n\
         garp_count = 3\n\
         garp_interval = \"100ms\"\n\
         [status]\n\
         socket = \"{socket}\"\n",
        name = me.name,
        socket = socket.display(),
        key = key.display(),
    );
    for (other, peer) in all.iter().zip(peers) {
        let witness = matches!(peer, Peer::Quorum { witness: true, .. });
        let _ = write!(
            s,
            "[[member]]\nname = \"{}\"\naddress = \"{}\"\nwitness = {witness}\n",
            other.name, other.addr
        );
    }
    s
}

/// The etcd config for `me` among `all`: the testbed's etcd members as
/// endpoints (plain http inside the testbed), a lease of `ttl_s` seconds.
pub fn etcd_config(
    me: &NodeAddr,
    all: &[NodeAddr],
    priority: u8,
    ttl_s: u32,
    socket: &Path,
) -> String {
    let endpoints: Vec<String> = (0..super::etcd::MEMBERS)
        .map(|i| {
            format!(
                "\"http://{}:{}\"",
                super::etcd::member_addr(i),
                super::etcd::CLIENT_PORT
            )
        })
        .collect();
    let mut s = format!(
        "cluster = \"testbed\"\n\
         node = \"{name}\"\n\
         interface = \"eth0\"\n\
         [vip]\n\
         address = \"{VIP}\"\n\
         [election]\n\
         protocol = \"etcd\"\n\
         priority = {priority}\n\
         [etcd]\n\
         endpoints = [{endpoints}]\n\
         allow_insecure = true\n\
         lease_ttl = \"{ttl_s}s\"\n\
         [announce]\n\
         garp_count = 3\n\
         garp_interval = \"100ms\"\n\
         [status]\n\
         socket = \"{socket}\"\n",
        name = me.name,
        endpoints = endpoints.join(", "),
        socket = socket.display(),
    );
    for other in all {
        let _ = write!(
            s,
            "[[member]]\nname = \"{}\"\naddress = \"{}\"\n",
            other.name, other.addr
        );
    }
    s
}

/// The keepalived config for `me`: one VRRPv3 instance, no virtual MAC,
/// preemption on (keepalived's default), the VIP as a /32 like vipd's.
///
/// keepalived counts `advert_int` in seconds; VRRPv3 allows centiseconds, so
/// 10 ms is `0.01`.
pub fn keepalived_config(me: &NodeAddr, priority: u8, advert_ms: u32) -> String {
    let secs = f64::from(advert_ms) / 1000.0;
    format!(
        "global_defs {{\n\
         \trouter_id {name}\n\
         \tvrrp_version 3\n\
         \tvrrp_garp_master_delay 0\n\
         \tvrrp_garp_master_repeat 3\n\
         \tenable_script_security\n\
         \tscript_user root\n\
         }}\n\
         vrrp_instance VI_testbed {{\n\
         \tstate BACKUP\n\
         \tinterface eth0\n\
         \tvirtual_router_id {VRID}\n\
         \tpriority {priority}\n\
         \tadvert_int {secs}\n\
         \tvirtual_ipaddress {{\n\
         \t\t{VIP}/32 dev eth0\n\
         \t}}\n\
         }}\n",
        name = me.name,
    )
}
