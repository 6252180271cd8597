//! Random quorum fault schedules, short and dense: renewals every 2 ms to
//! 100 ms, promises of 3 to 8 renewals, clock drift up to the configured
//! bound (fixed per node, or adversarial: the holder slow and every member
//! fast), and two to seven faults among crashes, stops, restarts (also
//! alone, in an election), pauses and VM freezes (often longer than the
//! lease), partitions, loss bursts, link flaps, health flaps, priority
//! changes, VIP failures and moves; sometimes a witness, sometimes an
//! attacker replaying and forging frames.
//!
//! Every time is in renewal intervals R: faults start between 10 R and 50 R,
//! last up to 12 R, and the run ends at 80 R, so a schedule is a few
//! thousand events and 100,000 of them take minutes.
//!
//! [`dhcp_scenario_text`] runs the same schedules with the VIP leased by
//! DHCP and the server's outages besides.

use std::fmt::Write as _;

use vip_core::election::quorum::timing;
use vip_core::rand::{derive_seed, Prng};
use vip_core::Duration;

/// Renewal intervals to draw from, in milliseconds.
const INTERVALS_MS: [u64; 8] = [2, 3, 5, 10, 20, 30, 50, 100];
/// Promise lengths, in renewal intervals.
const LEASES: [u64; 4] = [3, 4, 5, 8];
/// Clock-rate bounds, ppm.
const DRIFTS: [u32; 6] = [0, 100, 500, 500, 2_000, 10_000];

/// The quorum scenario text explore runs for `seed` with `nodes` members.
pub fn scenario_text(seed: u64, nodes: usize) -> String {
    schedule(seed, nodes).0
}

/// [`scenario_text`], and its renewal interval in microseconds.
fn schedule(seed: u64, nodes: usize) -> (String, u64) {
    let mut r = Prng::new(derive_seed(seed, 0xe_1000_0000));
    let mut s = String::new();
    let base = INTERVALS_MS[r.below(INTERVALS_MS.len() as u64) as usize] * 1000;
    // Not only round numbers: up to half an interval more, at most 100 ms.
    let interval = base + r.below((base / 2).min(100_000 - base) + 1);
    let lease = interval * LEASES[r.below(LEASES.len() as u64) as usize];
    let rho = DRIFTS[r.below(DRIFTS.len() as u64) as usize];
    let margin = fence_margin(&mut r, interval, lease, rho);
    let adversarial = r.below(2) == 0;
    let _ = writeln!(
        s,
        "name = \"explore-quorum-{seed}\"\nprotocol = \"quorum\"\nnodes = {nodes}\n\
         duration = \"{}us\"\nseed = {seed}\n{}",
        interval * 80,
        if adversarial {
            "drift = \"adversarial\"\n"
        } else {
            ""
        }
    );
    let _ = writeln!(
        s,
        "[election]\nadvert_interval = \"{interval}us\"\nlease = \"{lease}us\"\n\
         max_drift = {rho}\nfence_margin = \"{margin}us\"\npreempt = {}\n",
        r.below(4) != 0
    );
    // A LAN's latency, well under the renewal interval.
    let delay = 10 + r.below((interval / 20).min(200));
    let loss = [0u64, 0, 1, 10][r.below(4) as usize];
    let reorder = [0u64, 0, 2][r.below(3) as usize];
    let _ = writeln!(
        s,
        "[network]\ndelay = \"{delay}us\"\njitter = \"{}us\"\nloss = {}\nduplicate = {}\n\
         reorder = {}\nreorder_delay = \"{}us\"\n",
        r.below(delay + 1),
        loss as f64 / 1000.0,
        r.below(2) as f64 / 1000.0,
        reorder as f64 / 1000.0,
        1 + r.below(interval / 2),
    );
    let _ = writeln!(s, "[clients]\ncount = 1\nrate = 500\n");
    if r.below(3) == 0 {
        let _ = writeln!(s, "[attack]\nrate = {}\n", 20 + r.below(200));
    }
    let witness = r.below(4) == 0;
    for i in 0..nodes {
        let is_witness = witness && i == nodes - 1;
        let drift = (!adversarial && r.below(2) == 1)
            .then(|| r.below(2 * u64::from(rho) + 1) as i64 - i64::from(rho));
        if is_witness || drift.is_some() {
            let _ = write!(s, "[[node]]\nindex = {i}\n");
            if is_witness {
                let _ = writeln!(s, "witness = true");
            }
            if let Some(ppm) = drift {
                let _ = writeln!(s, "drift_ppm = {ppm}");
            }
            let _ = writeln!(s);
        }
    }
    let faults = 2 + r.below(6);
    for _ in 0..faults {
        fault(&mut s, &mut r, nodes, interval);
    }
    (s, interval)
}

/// [`scenario_text`] with the VIP leased by DHCP: the same schedule for
/// the seed, plus [`super::with_dhcp`]'s server.
pub fn dhcp_scenario_text(seed: u64, nodes: usize) -> String {
    let (s, interval) = schedule(seed, nodes);
    super::with_dhcp(s, seed, interval)
}

/// A fence margin that keeps the holder's lease above two renewals:
/// uniform up to the most the config allows (at most 5 ms).
fn fence_margin(r: &mut Prng, interval: u64, lease: u64, rho: u32) -> u64 {
    let us = Duration::from_micros;
    let mut most = 5_000u64.min(lease);
    while most > 0 && timing::lease(us(lease), rho, us(most)) <= us(2 * interval) {
        most /= 2;
    }
    if most == 0 {
        return 0;
    }
    r.below(most + 1)
}

/// One fault, and its undoing, at a random time.
fn fault(s: &mut String, r: &mut Prng, nodes: usize, interval: u64) {
    let at = interval * (10 + r.below(40)) + r.below(interval);
    let len = interval / 2 + r.below(interval * 12);
    let node = r.below(nodes as u64);
    let put = |s: &mut String, at: u64, body: &str| {
        let _ = writeln!(s, "[[fault]]\nat = \"{at}us\"\n{body}\n");
    };
    let pair = |s: &mut String, on: &str, off: &str| {
        put(s, at, &format!("kind = \"{on}\"\nnode = {node}"));
        put(s, at + len, &format!("kind = \"{off}\"\nnode = {node}"));
    };
    match r.below(12) {
        0 => pair(s, "crash", "restart"),
        1 => pair(s, "stop", "restart"),
        2 => pair(s, "pause", "resume"),
        3 => pair(s, "freeze", "thaw"),
        4 => {
            let Some((a, b)) = super::two_groups(r, nodes) else {
                return;
            };
            let body = format!(
                "kind = \"partition\"\ngroups = [{a:?}, {b:?}]\nclients_group = {}",
                r.below(2)
            );
            put(s, at, &body);
            put(s, at + len, "kind = \"heal\"");
        }
        5 => {
            let loss = [0.3, 0.7, 1.0][r.below(3) as usize];
            let only = if r.below(2) == 0 {
                String::new()
            } else {
                format!("\nnodes = [{node}]")
            };
            let body =
                format!("kind = \"loss_burst\"\nduration = \"{len}us\"\nloss = {loss}{only}");
            put(s, at, &body);
        }
        6 => pair(s, "link_down", "link_up"),
        7 => {
            let to = if r.below(3) == 0 {
                String::new()
            } else {
                format!("\nto = {}", r.below(nodes as u64))
            };
            put(s, at, &format!("kind = \"move\"\nnode = {node}{to}"));
        }
        // A restart alone: the daemon restarts at once, often mid-election.
        8 => put(s, at, &format!("kind = \"restart\"\nnode = {node}")),
        9 => pair(s, "health_down", "health_up"),
        10 => {
            let priority = 1 + r.below(255);
            put(
                s,
                at,
                &format!("kind = \"priority\"\nnode = {node}\npriority = {priority}"),
            );
        }
        _ => put(s, at, &format!("kind = \"vip_fail\"\nnode = {node}")),
    }
}
