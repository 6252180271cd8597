//! The bounds the invariants are checked with, from the core's own timing
//! formulas (docs/simulator.md derives them).

use vip_core::election::vrrp::master_down_interval;
use vip_core::{Config, Duration, ElectionSettings};

use super::Bounds;
use crate::client::{DELAY_FIRST_PROBE, RETRANS_TIME, SOLICIT};
use crate::scenario::{FaultKind, Scenario};

/// The bounds for `s`.
///
/// * `settle` = (Master_Down_Interval + interval) × (1 + max drift) + 2 × D +
///   1 ms, plus 2 × interval with steady loss, where Master_Down_Interval is
///   the core's ([`master_down_interval`]) for the lowest priority the
///   scenario ever sets and D is the worst host-to-host latency
///   (2 × (delay + jitter), plus reorder_delay when reordering is on).
/// * `arp_settle` = settle + the acquire burst ((garp_count − 1) ×
///   garp_interval) + refresh_interval + D + 1 ms; when frames can be lost
///   (steady loss or a loss burst) plus the Linux recovery path:
///   1.5 × base_reachable_time + delay_first_probe + 3 probes + 3 broadcast
///   requests + one client period.
pub fn bounds(s: &Scenario) -> Bounds {
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
    let mut hop = n.delay + n.jitter;
    if n.reorder_ppm > 0 {
        hop = hop + n.reorder_delay;
    }
    let d = hop.saturating_mul(2);
    let drift = s
        .nodes
        .iter()
        .map(|n| u64::from(n.drift_ppm.unsigned_abs()))
        .max()
        .unwrap_or(0);
    let base = mdi + i;
    let stretched = base + Duration::from_micros((base.total_micros() * drift).div_ceil(1_000_000));
    let lossy = n.loss_ppm > 0;
    let mut settle = stretched + d.saturating_mul(2) + Duration::from_millis(1);
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
    let bursts = s
        .faults
        .iter()
        .any(|f| matches!(f.kind, FaultKind::LossBurst { .. }));
    if lossy || bursts {
        let period = Duration::from_micros(1_000_000 / u64::from(s.clients.rate.max(1)));
        arp = arp
            + s.clients.base_reachable_time.saturating_mul(3).div(2)
            + DELAY_FIRST_PROBE
            + RETRANS_TIME.saturating_mul(2 * u64::from(SOLICIT))
            + period;
    }
    Bounds {
        settle,
        arp_settle: arp,
        transient: lossy.then_some(settle),
    }
}

/// The election's advert interval and how long a backup of `priority`
/// waits for a silent holder, by the core's formula.
fn detection(config: &Config, priority: u8) -> (Duration, Duration) {
    match config.election() {
        ElectionSettings::Vrrp(v) => (
            v.advert_interval,
            master_down_interval(v.advert_interval, priority),
        ),
    }
}
