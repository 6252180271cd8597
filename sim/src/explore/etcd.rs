//! Random etcd fault schedules: TTLs of 2 to 5 s, clock drift up to the
//! configured bound (each node and etcd anywhere within it, or all at the
//! bound against the rule: every node slow, etcd fast), a fence margin up
//! to 5 ms, paths to etcd of 20 µs to 2 ms with jitter and sometimes
//! loss (1 %, 10 % or 30 %), and two to eight faults among crashes, stops
//! and restarts (also alone), cuts from etcd, etcd leader elections
//! (stalls) and outages, pauses, VM freezes, moves (to a node, or to any),
//! link and health flaps, VIP failures, partitions of the segment and
//! loss bursts on it.
//!
//! Every time is in TTLs T: faults start between 2 T and 12 T and last up
//! to 3 T (so cuts, stalls and outages often outlast the lease), and the
//! run ends at 16 T.

use std::fmt::Write as _;

use vip_core::rand::{derive_seed, Prng};

/// TTLs to draw from, seconds (etcd's unit; the core's least is 2 s).
const TTLS: [u64; 5] = [2, 2, 2, 3, 5];
/// Clock-rate bounds, ppm.
const DRIFTS: [u32; 6] = [0, 100, 500, 500, 2_000, 10_000];
/// Loss on the paths to etcd, thousandths.
const LOSSES: [u64; 8] = [0, 0, 0, 0, 0, 10, 100, 300];

/// The etcd scenario text explore runs for `seed` with `nodes` nodes.
pub fn scenario_text(seed: u64, nodes: usize) -> String {
    schedule(seed, nodes).0
}

/// [`scenario_text`], and the keep-alive interval (TTL/4) in µs: the tick
/// the DHCP server's faults are timed in.
pub(super) fn schedule(seed: u64, nodes: usize) -> (String, u64) {
    let mut r = Prng::new(derive_seed(seed, 0xe_2000_0000));
    let mut s = String::new();
    let ttl = TTLS[r.below(TTLS.len() as u64) as usize] * 1_000_000;
    let rho = DRIFTS[r.below(DRIFTS.len() as u64) as usize];
    let margin = r.below(5_001);
    let at_bound = r.below(2) == 0;
    let _ = writeln!(
        s,
        "name = \"explore-etcd-{seed}\"\nprotocol = \"etcd\"\nnodes = {nodes}\n\
         duration = \"{}us\"\nseed = {seed}\n",
        ttl * 16,
    );
    let _ = writeln!(
        s,
        "[election]\nmax_drift = {rho}\nfence_margin = \"{margin}us\"\n"
    );
    let delay = 20 + r.below(2_000);
    let loss = LOSSES[r.below(LOSSES.len() as u64) as usize];
    let etcd_drift = if at_bound {
        i64::from(rho)
    } else {
        drift(&mut r, rho)
    };
    let _ = writeln!(
        s,
        "[etcd]\nlease_ttl = \"{}s\"\ndelay = \"{delay}us\"\njitter = \"{}us\"\nloss = {}\n\
         drift_ppm = {etcd_drift}\n",
        ttl / 1_000_000,
        r.below(delay + 1),
        loss as f64 / 1000.0,
    );
    let lan = 10 + r.below(200);
    let _ = writeln!(
        s,
        "[network]\ndelay = \"{lan}us\"\njitter = \"{}us\"\nloss = {}\n",
        r.below(lan + 1),
        r.below(2) as f64 / 1000.0,
    );
    let _ = writeln!(s, "[clients]\ncount = 1\nrate = 200\n");
    for i in 0..nodes {
        let ppm = if at_bound {
            -i64::from(rho)
        } else {
            drift(&mut r, rho)
        };
        if ppm != 0 {
            let _ = writeln!(s, "[[node]]\nindex = {i}\ndrift_ppm = {ppm}\n");
        }
    }
    let faults = 2 + r.below(7);
    for _ in 0..faults {
        fault(&mut s, &mut r, nodes, ttl);
    }
    (s, ttl / vip_core::election::etcd::KEEPALIVES_PER_TTL)
}

/// A drift within ±`rho` ppm, or none (half the time).
fn drift(r: &mut Prng, rho: u32) -> i64 {
    if r.below(2) == 0 {
        return 0;
    }
    r.below(2 * u64::from(rho) + 1) as i64 - i64::from(rho)
}

/// One fault, and its undoing, at a random time.
fn fault(s: &mut String, r: &mut Prng, nodes: usize, ttl: u64) {
    let at = 2 * ttl + r.below(10 * ttl);
    let len = ttl / 10 + r.below(3 * ttl);
    let node = r.below(nodes as u64);
    let put = |s: &mut String, at: u64, body: &str| {
        let _ = writeln!(s, "[[fault]]\nat = \"{at}us\"\n{body}\n");
    };
    let pair = |s: &mut String, on: &str, off: &str| {
        put(s, at, &format!("kind = \"{on}\"\nnode = {node}"));
        put(s, at + len, &format!("kind = \"{off}\"\nnode = {node}"));
    };
    match r.below(14) {
        0 => pair(s, "crash", "restart"),
        1 => pair(s, "stop", "restart"),
        // A restart alone: the daemon restarts at once, its old key there.
        2 => put(s, at, &format!("kind = \"restart\"\nnode = {node}")),
        3 | 4 => pair(s, "etcd_cut", "etcd_heal"),
        5 => put(
            s,
            at,
            &format!("kind = \"etcd_stall\"\nduration = \"{len}us\""),
        ),
        6 => {
            put(s, at, "kind = \"etcd_down\"");
            put(s, at + len, "kind = \"etcd_up\"");
        }
        7 => pair(s, "pause", "resume"),
        8 => pair(s, "freeze", "thaw"),
        9 => {
            let to = if r.below(3) == 0 {
                String::new()
            } else {
                format!("\nto = {}", r.below(nodes as u64))
            };
            put(s, at, &format!("kind = \"move\"\nnode = {node}{to}"));
        }
        10 => pair(s, "link_down", "link_up"),
        11 => pair(s, "health_down", "health_up"),
        12 => put(s, at, &format!("kind = \"vip_fail\"\nnode = {node}")),
        _ => {
            if r.below(2) == 0 {
                let Some((a, b)) = super::two_groups(r, nodes) else {
                    return;
                };
                let body = format!(
                    "kind = \"partition\"\ngroups = [{a:?}, {b:?}]\nclients_group = {}",
                    r.below(2)
                );
                put(s, at, &body);
                put(s, at + len, "kind = \"heal\"");
            } else {
                let body = format!("kind = \"loss_burst\"\nduration = \"{len}us\"\nloss = 1.0");
                put(s, at, &body);
            }
        }
    }
}
