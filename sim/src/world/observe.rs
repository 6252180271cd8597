//! What the world tells the invariant monitor, and the closing report.

use vip_core::{Duration, Instant};

use super::host::Run;
use super::World;
use crate::check::Picture;
use crate::report::Report;

impl World {
    /// Reports the holder picture to the monitor; flags a running holder
    /// whose link is down at once.
    pub(super) fn observe(&mut self) {
        let n = self.nodes.len();
        let groups = self.switch.ports[..n]
            .iter()
            .map(|p| p.group as usize)
            .max()
            .unwrap_or(0)
            + 1;
        let mut holders = vec![0usize; groups];
        let mut eligible = vec![false; groups];
        let mut total = 0;
        for i in 0..n {
            let node = &self.nodes[i];
            let g = self.switch.ports[i].group as usize;
            if node.holding {
                total += 1;
                if node.link_up {
                    holders[g] += 1;
                } else if node.run == Run::Running && !node.flagged_link_holder {
                    // A paused process learns of the carrier loss when it resumes.
                    self.nodes[i].flagged_link_holder = true;
                    self.monitor
                        .violation(self.now, format!("n{i} holds the VIP with its link down"));
                }
            }
            let node = &self.nodes[i];
            if node.run == Run::Running && node.link_up {
                eligible[g] = true;
            }
        }
        let picture = Picture {
            holders: total,
            two_in_a_group: if self.scenario.protocol.holder_per_partition() {
                holders.iter().any(|&h| h >= 2)
            } else {
                total >= 2
            },
            group_without_holder: (0..groups).any(|g| eligible[g] && holders[g] == 0),
        };
        self.monitor.observe(self.now, picture);
    }

    /// Closes the run and builds the report.
    pub(super) fn finish(mut self) -> Report {
        let end = self.now;
        self.observe();
        let violations = self.monitor.finish(end);
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
            two_holder_time: self.monitor.two_holder_time,
            no_holder_time: self.monitor.no_holder_time,
            adverts: self.adverts,
            garps: self.garps,
            final_holders,
            violations,
            expectation_failures,
            trace_hash: self.hash.value(),
            events: self.events,
            bounds: self.monitor.bounds(),
        }
    }
}
