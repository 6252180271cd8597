//! The bounds the invariants are checked with, from the core's own timing
//! formulas (docs/simulator.md derives them).

use vip_core::election::quorum::timing;
use vip_core::election::vrrp::master_down_interval;
use vip_core::{Config, Duration, ElectionSettings, Protocol};

use super::Bounds;
use crate::client::{DELAY_FIRST_PROBE, RETRANS_TIME, SOLICIT};
use crate::scenario::{FaultKind, Scenario};

/// The chance, per election, that the liveness bound's rounds are not
/// enough (frame loss): the `k` of the bound is chosen to keep below it.
pub const ROUNDS_MISSED: f64 = 1e-6;

/// Rounds of the liveness bound beyond those frame loss can cost: one for a
/// split vote (two candidates within a frame's latency), one for the epoch
/// challenge a restarted member's first request meets.
pub const EXTRA_ROUNDS: u64 = 2;

/// The bounds for `s`.
///
/// * `settle` = (Master_Down_Interval + interval) × (1 + max drift) + 2 × D +
///   1 ms (+ 4 × D with `[dhcp]`: [`lease_exchanges`]), plus 2 × interval
///   with steady loss, where Master_Down_Interval is
///   the core's ([`master_down_interval`]) for the lowest priority the
///   scenario ever sets and D is the worst host-to-host latency
///   (2 × (delay + jitter), plus reorder_delay when reordering is on).
/// * `arp_settle` = settle + the acquire burst ((garp_count − 1) ×
///   garp_interval) + refresh_interval + D + 1 ms; when frames can be lost
///   (steady loss or a loss burst) plus the Linux recovery path:
///   1.5 × base_reachable_time + delay_first_probe + 3 probes + 3 broadcast
///   requests + one client period.
pub fn bounds(s: &Scenario) -> Bounds {
    if s.protocol == Protocol::Quorum {
        return quorum_bounds(s);
    }
    if s.protocol == Protocol::Etcd {
        return super::etcd::etcd_bounds(s);
    }
    let mut min_priority = s
        .nodes
        .iter()
        .map(|n| n.config.election().priority())
        .min()
        .unwrap_or(1);
    for f in &s.faults {
        if let FaultKind::Priority { priority, .. } = f.kind {
            min_priority = min_priority.min(priority);
        }
    }
    let (i, mdi) = s
        .nodes
        .iter()
        .map(|n| detection(&n.config, min_priority))
        .max()
        .unwrap_or_default();
    let n = &s.network;
    let d = one_way(s);
    let drift = s
        .nodes
        .iter()
        .map(|n| u64::from(n.drift_ppm.unsigned_abs()))
        .max()
        .unwrap_or(0);
    let base = mdi + i;
    let stretched = base + Duration::from_micros((base.total_micros() * drift).div_ceil(1_000_000));
    let lossy = n.loss_ppm > 0;
    let mut settle =
        stretched + d.saturating_mul(2) + Duration::from_millis(1) + lease_exchanges(s);
    if lossy {
        settle = settle + i.saturating_mul(2);
    }
    let announcing = s
        .nodes
        .iter()
        .map(|n| {
            let a = n.config.announce();
            let burst = a
                .garp_interval
                .saturating_mul(u64::from(a.garp_count.saturating_sub(1)));
            burst + a.refresh_interval
        })
        .max()
        .unwrap_or_default();
    let mut arp = settle + announcing + d + Duration::from_millis(1);
    if lossy || has_bursts(s) {
        arp = arp + recovery(s);
    }
    Bounds {
        settle,
        arp_settle: arp,
        transient: lossy.then_some(settle),
        zero_tolerance: None,
        own_window: false,
        arp_after_acquire: None,
    }
}

/// The worst host-to-host latency: two link traversals, each `delay +
/// jitter`, plus `reorder_delay` when reordering is on, plus the real
/// path's allowance in TAP mode.
pub fn one_way(s: &Scenario) -> Duration {
    let n = &s.network;
    let mut hop = n.delay + n.jitter;
    if n.reorder_ppm > 0 {
        hop = hop + n.reorder_delay;
    }
    hop.saturating_mul(2) + s.bound.real_path
}

/// How much later than the election a new holder may configure a leased
/// VIP (`[dhcp]`): two DHCP exchanges with the server, DISCOVER and OFFER,
/// REQUEST and ACK, each a worst host-to-host latency there and back;
/// nothing for a fixed VIP.
pub fn lease_exchanges(s: &Scenario) -> Duration {
    if s.dhcp.is_some() {
        one_way(s).saturating_mul(4)
    } else {
        Duration::ZERO
    }
}

pub(super) fn has_bursts(s: &Scenario) -> bool {
    s.faults
        .iter()
        .any(|f| matches!(f.kind, FaultKind::LossBurst { .. }))
}

/// How long a client whose entry names the wrong MAC, and whom no
/// announcement reaches, takes to find the right one (Linux): the entry
/// stales, is used, probed three times and fails, then resolves again.
pub fn recovery(s: &Scenario) -> Duration {
    let period = client_period(s);
    s.clients.base_reachable_time.saturating_mul(3).div(2)
        + DELAY_FIRST_PROBE
        + RETRANS_TIME.saturating_mul(2 * u64::from(SOLICIT))
        + period
}

pub(super) fn client_period(s: &Scenario) -> Duration {
    Duration::from_micros(1_000_000 / u64::from(s.clients.rate.max(1)))
}

/// The rounds `k` of the liveness bound for per-traversal loss `loss_ppm`
/// in a cluster of `members`: a round needs a vote from each of M − 1 other
/// members of a bare majority, each a request and a vote of two link
/// traversals, so it fails with p = 1 − (1 − x)^(4(M − 1)); `k` is the
/// least with p^k ≤ [`ROUNDS_MISSED`], plus [`EXTRA_ROUNDS`].
pub fn rounds(loss_ppm: u32, members: usize) -> u64 {
    let x = f64::from(loss_ppm) / 1e6;
    let others = (members / 2) as i32;
    let p = 1.0 - (1.0 - x).powi(4 * others);
    let lossy = if p <= 0.0 {
        0
    } else if p >= 1.0 {
        u64::MAX / 4
    } else {
        (ROUNDS_MISSED.ln() / p.ln()).ceil() as u64
    };
    lossy + EXTRA_ROUNDS
}

/// The quorum bounds (docs/simulator.md, "Invariants for quorum"):
///
/// * `settle` is the liveness bound B = the core's
///   [`timing::liveness_bound`] for the scenario's R, P, world drift, the
///   worst one-way latency and [`rounds`], stretched by (1 + ρ)/(1 − ρ)
///   (its timers run on drifting clocks), plus 1 ms (and
///   [`lease_exchanges`] with `[dhcp]`);
/// * `arp_after_acquire` = Q + latency + one client period + 1 ms (plus the
///   Linux recovery path with steady loss);
/// * `arp_settle` (after faults) = B + that.
fn quorum_bounds(s: &Scenario) -> Bounds {
    let rho = s.bound.drift_ppm;
    let d = one_way(s);
    let k = rounds(s.network.loss_ppm, s.nodes.len());
    let (b, q) = s
        .nodes
        .iter()
        .filter_map(|n| n.config.quorum())
        .map(|q| {
            let b = timing::liveness_bound(q.advert_interval, q.lease, rho, d, k);
            (stretch(b, rho), q.reannounce_after)
        })
        .max()
        .unwrap_or_default();
    let settle = b + Duration::from_millis(1) + lease_exchanges(s);
    let mut after = q + d + client_period(s) + Duration::from_millis(1);
    let lossy = s.network.loss_ppm > 0;
    if lossy {
        after = after + recovery(s);
    }
    let mut arp = settle + after;
    if has_bursts(s) && !lossy {
        arp = arp + recovery(s);
    }
    Bounds {
        settle,
        arp_settle: arp,
        transient: None,
        zero_tolerance: Some("quorum"),
        own_window: true,
        arp_after_acquire: Some(after),
    }
}

/// `d` as clocks up to `rho` ppm off may stretch it: d × (1 + ρ)/(1 − ρ).
fn stretch(d: Duration, rho: u32) -> Duration {
    timing::outlast(d, rho)
}

/// The election's advert interval and how long a backup of `priority`
/// waits for a silent holder, by the core's formula.
fn detection(config: &Config, priority: u8) -> (Duration, Duration) {
    match config.election() {
        ElectionSettings::Vrrp(v) => (
            v.advert_interval,
            master_down_interval(v.advert_interval, priority),
        ),
        // Quorum scenarios take `quorum_bounds`.
        ElectionSettings::Quorum(q) => (q.advert_interval, q.lease),
        // Etcd scenarios take `etcd_bounds`.
        ElectionSettings::Etcd(e) => (e.lease_ttl, e.lease_ttl),
    }
}
