//! Faults applied to the world, the checker's bounds, and the closing report.

use vip_core::{Command, Duration, Instant};

use super::{Pending, Run, World};
use crate::check::Bounds;
use crate::client::{DELAY_FIRST_PROBE, RETRANS_TIME, SOLICIT};
use crate::net::Burst;
use crate::report::Report;
use crate::scenario::{Defect, FaultKind, Scenario};

const PAUSE_KEY: u64 = 1 << 40;
const BURST_KEY: u64 = 2 << 40;

/// The bounds the invariants are checked with (docs/simulator.md derives them).
///
/// * `settle` = (Master_Down_Interval + interval) × (1 + max drift) + 2 × D +
///   1 ms, plus 2 × interval with steady loss, where Master_Down_Interval =
///   3 × interval + Skew_Time of the lowest priority in the scenario and D is
///   the worst host-to-host latency (2 × (delay + jitter), plus
///   reorder_delay when reordering is on).
/// * `arp_settle` = settle + the acquire burst ((garp_count − 1) ×
///   garp_interval) + refresh_interval + D + 1 ms; when frames can be lost
///   (steady loss or a loss burst) plus the Linux recovery path:
///   1.5 × base_reachable_time + delay_first_probe + 3 probes + 3 broadcast
///   requests + one client period.
pub fn bounds(s: &Scenario) -> Bounds {
    let i = s.advert_interval;
    let mut min_priority = s.nodes.iter().map(|n| n.priority).min().unwrap_or(1);
    for f in &s.faults {
        if let FaultKind::Priority { priority, .. } = f.kind {
            min_priority = min_priority.min(priority);
        }
    }
    let skew = i.saturating_mul(256 - u64::from(min_priority)).div(256);
    let mdi = i.saturating_mul(3) + skew;
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
    let a = &s.announce;
    let burst = a
        .garp_interval
        .saturating_mul(u64::from(a.garp_count.saturating_sub(1)));
    let mut arp = settle + burst + a.refresh_interval + d + Duration::from_millis(1);
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

impl World {
    pub(super) fn apply_fault(&mut self, f: usize) {
        let now = self.now;
        let kind = self.scenario.faults[f].kind.clone();
        self.hash.word(now.total_micros());
        self.hash.word(0x30 << 32 | f as u64);
        self.note(format_args!("fault {kind:?}"));
        let holder = self.group_holder(self.client_group);
        let takes_holder = |h: usize| match &kind {
            FaultKind::Crash(i)
            | FaultKind::Stop(i)
            | FaultKind::Pause(i)
            | FaultKind::LinkDown(i)
            | FaultKind::Priority { node: i, .. } => *i == h,
            FaultKind::Partition {
                groups,
                clients_group,
            } => groups.get(*clients_group).is_some_and(|g| !g.contains(&h)),
            FaultKind::LossBurst { nodes, .. } => nodes.is_empty() || nodes.contains(&h),
            _ => false,
        };
        if let Some(h) = holder.filter(|&h| takes_holder(h)) {
            self.pending.push(Pending { at: now, holder: h });
        }
        self.picture_dirty = true;
        match kind {
            FaultKind::Crash(i) => {
                self.checker.fault(now);
                self.crash(i);
            }
            FaultKind::Stop(i) => {
                self.checker.fault(now);
                if self.nodes[i].run == Run::Running {
                    self.node_input(i, |core, local| core.command(local, Command::Shutdown));
                    let node = &mut self.nodes[i];
                    node.core = None;
                    node.run = Run::Down;
                    node.armed = None;
                    // A host that never releases leaves the VIP on its interface.
                    if node.defect != Some(Defect::NeverRelease) {
                        node.holding = false;
                    }
                } else {
                    self.crash(i);
                }
            }
            FaultKind::Restart(i) => {
                self.checker.fault(now);
                self.crash(i);
                self.boot(i);
            }
            FaultKind::Pause(i) => {
                if self.nodes[i].run == Run::Running {
                    self.checker.fault_begin(PAUSE_KEY | i as u64, now);
                    self.nodes[i].run = Run::Paused;
                    self.nodes[i].armed = None;
                }
            }
            FaultKind::Resume(i) => {
                if self.nodes[i].run == Run::Paused {
                    self.checker.fault_end(PAUSE_KEY | i as u64, now);
                    self.nodes[i].run = Run::Running;
                    self.sync_link(i);
                    self.node_input(i, |core, local| core.handle_timeout(local));
                }
            }
            FaultKind::Partition {
                groups,
                clients_group,
            } => {
                self.checker.fault(now);
                let n = self.nodes.len();
                let mut group_of = vec![clients_group as u16; n + self.clients.len()];
                for (g, members) in groups.iter().enumerate() {
                    for &i in members {
                        group_of[i] = g as u16;
                    }
                }
                self.switch.partition(&group_of);
                self.client_group = clients_group as u16;
            }
            FaultKind::Heal => {
                self.checker.fault(now);
                self.switch.heal();
                self.client_group = 0;
            }
            FaultKind::LossBurst {
                duration,
                loss_ppm,
                nodes,
            } => {
                let key = BURST_KEY | f as u64;
                self.checker.fault_begin(key, now);
                self.switch.bursts.push(Burst {
                    until: now + duration,
                    loss_ppm,
                    ports: nodes.iter().map(|&i| i as u16).collect(),
                });
                self.push(now + duration, super::What::BurstEnd(key));
            }
            FaultKind::LinkDown(i) | FaultKind::LinkUp(i) => {
                self.checker.fault(now);
                let up = matches!(kind, FaultKind::LinkUp(_));
                self.switch.ports[i].up = up;
                self.nodes[i].link_up = up;
                if up {
                    self.nodes[i].flagged_link_holder = false;
                }
                if self.nodes[i].run == Run::Running {
                    self.sync_link(i);
                }
            }
            FaultKind::Priority { node, priority } => {
                self.checker.fault(now);
                if self.nodes[node].run == Run::Running {
                    self.node_input(node, |core, local| {
                        core.command(local, Command::SetPriority(priority))
                    });
                }
            }
        }
    }

    /// The node vanishes; the VIP goes with the machine.
    fn crash(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        if node.run != Run::Down {
            self.note(format_args!("n{i} down"));
        }
        let node = &mut self.nodes[i];
        node.core = None;
        node.run = Run::Down;
        node.armed = None;
        node.holding = false;
    }

    /// Tells a running node about a carrier change it has not heard of.
    fn sync_link(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        if node.told_link_up == node.link_up {
            return;
        }
        node.told_link_up = node.link_up;
        let command = if node.link_up {
            Command::LinkUp
        } else {
            Command::LinkDown
        };
        self.node_input(i, |core, local| core.command(local, command));
    }

    /// Closes the run and builds the report.
    pub(super) fn finish(mut self) -> Report {
        let end = self.now;
        self.observe();
        let violations = self.checker.finish(end);
        let mut gap = None::<Duration>;
        let (mut lost, mut delivered) = (0u64, 0u64);
        for c in &self.clients {
            let mut last_node = 0u32;
            let mut gap_start: Option<Instant> = None;
            for (seq, &o) in c.outcomes.iter().enumerate() {
                // Packets still in flight at the end are neither lost nor delivered.
                if c.sent_at[seq] + Duration::from_millis(10) > end {
                    break;
                }
                if o == 0 {
                    if last_node != 0 {
                        lost += 1;
                        gap_start.get_or_insert(c.sent_at[seq]);
                    }
                    continue;
                }
                delivered += 1;
                if let Some(start) = gap_start.take() {
                    if o != last_node {
                        let g = c.sent_at[seq] - start;
                        gap = Some(gap.map_or(g, |x| x.max(g)));
                    }
                }
                last_node = o;
            }
        }
        let final_holders: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| self.nodes[i].holding)
            .collect();
        let mut expectation_failures = Vec::new();
        if let Some(h) = self.scenario.expect.final_holder {
            if final_holders != [h] {
                expectation_failures.push(format!(
                    "expected n{h} to hold the VIP at the end, holders are {final_holders:?}"
                ));
            }
        }
        if self.scenario.expect.no_final_holder && !final_holders.is_empty() {
            expectation_failures.push(format!(
                "expected no holder at the end, holders are {final_holders:?}"
            ));
        }
        Report {
            name: self.scenario.name.clone(),
            protocol: self.scenario.protocol,
            nodes: self.nodes.len(),
            seed: self.scenario.seed,
            detections: self.detections,
            gap,
            lost,
            delivered,
            two_holder_time: self.checker.two_holder_time,
            no_holder_time: self.checker.no_holder_time,
            adverts: self.adverts,
            garps: self.garps,
            final_holders,
            violations,
            expectation_failures,
            trace_hash: self.hash.value(),
            events: self.events,
            bounds: self.checker.bounds(),
        }
    }
}
