//! Reading `[dhcp]`: the DHCP server on the segment and the VIP MAC its
//! lease client uses, every value typed once, each refusal naming its key.
//!
//! The VIP MAC's own rules (unicast, locally administered, not the node's
//! MAC) are the core's, judged with the rest of the settings; the reader
//! adds what only the world knows: the MAC is no client's and not the
//! server's, leases count whole seconds (the DHCP options do), and an
//! unmapped pool stays clear of the nodes' addresses.

use std::net::Ipv4Addr;

use vip_core::config::limits::IntRange;
use vip_core::config::text::{parse_mac, Refusals};
use vip_core::{DhcpSettings, Duration};

use super::raw::RawDhcp;
use super::settings::{cluster_name, node_address, DHCP_SERVER_MAC};
use super::DhcpSpec;
use crate::client::client_mac;

/// The lease the server grants when `[dhcp]` names none.
pub const DHCP_LEASE: Duration = Duration::from_secs(30);

/// The addresses an unmapped server hands out (`mapped = false`), first
/// and last.
pub const DHCP_POOL: (Ipv4Addr, Ipv4Addr) =
    (Ipv4Addr::new(192, 0, 2, 150), Ipv4Addr::new(192, 0, 2, 199));

/// `dhcp.lease`, seconds: at least one (a lease of zero ends as it binds),
/// at most a day (a scenario runs minutes).
const LEASE_SECS: IntRange = IntRange {
    min: 1,
    max: 86_400,
};

/// Reads `[dhcp]` (`None`: the table is absent, the VIP is fixed) for
/// `nodes` nodes and `clients` clients.
pub(super) fn read(
    raw: Option<&RawDhcp>,
    nodes: usize,
    clients: usize,
    r: &mut impl Refusals,
) -> Option<DhcpSpec> {
    let raw = raw?;
    let hwaddr = match raw.hwaddr.as_deref() {
        None => DhcpSettings::derived(&cluster_name()).hwaddr,
        Some(text) => parse_mac(text).unwrap_or_else(|| {
            r.refuse(
                "dhcp.hwaddr",
                format_args!("must be a MAC address such as 02:00:00:09:7f:3f, not {text:?}"),
            );
            DhcpSettings::derived(&cluster_name()).hwaddr
        }),
    };
    if hwaddr == DHCP_SERVER_MAC {
        r.refuse(
            "dhcp.hwaddr",
            format_args!("is the DHCP server's MAC ({DHCP_SERVER_MAC})"),
        );
    }
    if let Some(c) = (0..clients).find(|&c| client_mac(c as u32) == hwaddr) {
        r.refuse("dhcp.hwaddr", format_args!("is client {c}'s MAC"));
    }
    let lease = match secs(r, "dhcp.lease", raw.lease.as_deref()) {
        None => (DHCP_LEASE.total_micros() / 1_000_000) as u32,
        Some(s) if LEASE_SECS.contains(i64::from(s)) => s,
        Some(s) => {
            r.refuse("dhcp.lease", format_args!("{LEASE_SECS} s, not {s} s"));
            LEASE_SECS.max as u32
        }
    };
    let mut time = |key: &str, text: Option<&str>| {
        let s = secs(r, key, text)?;
        if s == 0 || s > lease {
            r.refuse(
                key,
                format_args!("must be from 1 s to the lease ({lease} s), not {s} s"),
            );
            return None;
        }
        Some(s)
    };
    let t1 = time("dhcp.t1", raw.t1.as_deref());
    let t2 = time("dhcp.t2", raw.t2.as_deref());
    // The server sends both options or neither: one named alone keeps the
    // client's default for the other (½ or ⅞ of the lease, in seconds).
    let times = match (t1, t2, raw.t1.is_some() || raw.t2.is_some()) {
        (_, _, false) => None,
        (t1, t2, true) => Some((
            t1.unwrap_or(lease / 2),
            t2.unwrap_or((u64::from(lease) * 7 / 8) as u32),
        )),
    };
    let mapped = raw.mapped.unwrap_or(true);
    let pool_first = u32::from(DHCP_POOL.0);
    if !mapped && u32::from(node_address(nodes.saturating_sub(1))) >= pool_first {
        r.refuse(
            "dhcp.mapped",
            format_args!(
                "false leases from the pool {} to {}, node addresses from n{} on: at most {} nodes",
                DHCP_POOL.0,
                DHCP_POOL.1,
                pool_first - u32::from(node_address(0)),
                pool_first - u32::from(node_address(0)),
            ),
        );
    }
    Some(DhcpSpec {
        hwaddr,
        lease_secs: lease,
        mapped,
        times,
    })
}

/// A duration key in whole seconds; `None` when absent or refused.
fn secs(r: &mut impl Refusals, key: &str, text: Option<&str>) -> Option<u32> {
    let text = text?;
    let d = match Duration::parse(text) {
        Ok(d) => d,
        Err(e) => {
            r.refuse(key, format_args!("{e}, not {text:?}"));
            return None;
        }
    };
    let s = seconds(d);
    if s.is_none() {
        r.refuse(
            key,
            format_args!("must be whole seconds (DHCP counts them), not {text:?}"),
        );
    }
    s
}

/// `d` in seconds, if it is a whole number of them that fits the option.
fn seconds(d: Duration) -> Option<u32> {
    let us = d.total_micros();
    (us % 1_000_000 == 0)
        .then(|| u32::try_from(us / 1_000_000).ok())
        .flatten()
}
