//! What the world tells the invariant monitor, and the closing report.

use vip_core::{Duration, Instant};

use super::World;
use vip_core::election::quorum::timing;

use crate::check::{bounds, Picture};
use crate::report::{DhcpFigures, QuorumFigures, Report};
use crate::scenario::FaultKind;

impl World {
    /// Reports the holder picture to the monitor; flags a running holder
    /// whose link is down at once.
    pub(super) fn observe(&mut self) {
        self.watch_lease_wait();
        let now = self.now;
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
            if node.holds(now) {
                total += 1;
                if node.link_up {
                    holders[g] += 1;
                } else if node.awake() && !node.flagged_link_holder {
                    // A paused process learns of the carrier loss when it resumes.
                    self.nodes[i].flagged_link_holder = true;
                    self.monitor
                        .violation(now, format!("n{i} holds the VIP with its link down"));
                }
            }
            let node = &self.nodes[i];
            if node.awake() && node.link_up {
                eligible[g] = true;
            }
        }
        let picture = if self.scenario.protocol.holder_per_partition() {
            Picture {
                holders: total,
                two_in_a_group: holders.iter().any(|&h| h >= 2),
                group_without_holder: (0..groups).any(|g| eligible[g] && holders[g] == 0),
                excused_overlap: false,
            }
        } else if self.etcd.is_some() {
            self.etcd_picture(total, &holders)
        } else {
            self.quorum_picture(total, &holders)
        };
        self.monitor.observe(now, picture);
    }

    /// The quorum picture: two holders not excused by a freeze; a group
    /// with a live majority, one of them able to hold, and no holder.
    fn quorum_picture(&self, total: usize, holders: &[usize]) -> Picture {
        let now = self.now;
        let n = self.nodes.len();
        let mut clean = 0;
        let mut live = vec![0usize; holders.len()];
        let mut able = vec![false; holders.len()];
        for i in 0..n {
            let node = &self.nodes[i];
            let excused = node.clock.is_frozen() || node.excused_until.is_some_and(|u| now < u);
            if node.holds(now) && !excused {
                clean += 1;
            }
            let local = node.clock.local(now);
            if node.awake() && node.link_up && local >= node.wait_until {
                let g = self.switch.ports[i].group as usize;
                live[g] += 1;
                let retrying = node.retry_until.is_some_and(|r| local < r);
                if !self.scenario.nodes[i].witness && node.healthy && !retrying {
                    able[g] = true;
                }
            }
        }
        let majority = n / 2 + 1;
        Picture {
            holders: total,
            two_in_a_group: clean >= 2,
            group_without_holder: (0..holders.len())
                .any(|g| live[g] >= majority && able[g] && holders[g] == 0),
            excused_overlap: total >= 2 && clean < 2,
        }
    }

    /// Closes the run and builds the report.
    pub(super) fn finish(mut self) -> Report {
        let end = self.now;
        self.observe();
        let quorum = self.quorum_figures();
        let etcd = self.etcd_figures();
        // A client none of whose packets was delivered, from the first
        // acquisition on (the last 10 ms may still be in flight).
        if let Some(first) = self.first_acquired {
            for (i, c) in self.clients.iter().enumerate() {
                if c.outcomes.iter().all(|&o| o == 0) {
                    let sent = c.sent_at.iter().copied();
                    let last = sent.filter(|&t| t + Duration::from_millis(10) <= end).max();
                    if let Some(last) = last {
                        self.monitor.never_reached(i, first, last);
                    }
                }
            }
        }
        let mut violations = self.monitor.finish(end);
        if let Some(q) = &quorum {
            for m in q.moves.iter().filter(|m| m.broken) {
                violations.push(crate::check::Violation {
                    at: m.at,
                    what: m.detail.clone(),
                });
            }
        }
        if let Some(e) = &etcd {
            let moves = e
                .moves
                .iter()
                .filter(|m| m.broken)
                .map(|m| (m.at, &m.detail));
            let stops = e
                .handovers
                .iter()
                .filter(|t| t.broken)
                .map(|t| (t.at, &t.detail));
            for (at, what) in moves.chain(stops) {
                violations.push(crate::check::Violation {
                    at,
                    what: what.clone(),
                });
            }
            violations.sort_by_key(|v| v.at);
        }
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
            .filter(|&i| self.nodes[i].holds(end))
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
        let moves: Vec<_> = quorum
            .iter()
            .flat_map(|q| q.moves.iter())
            .chain(etcd.iter().flat_map(|e| e.moves.iter()))
            .map(|m| m.outcome)
            .collect();
        if !self.scenario.expect.moves.is_empty() && moves != self.scenario.expect.moves {
            let word = |m: &[crate::scenario::MoveOutcome]| {
                m.iter().map(|o| o.as_str()).collect::<Vec<_>>().join(", ")
            };
            expectation_failures.push(format!(
                "expected the moves to be [{}], they were [{}]",
                word(&self.scenario.expect.moves),
                word(&moves)
            ));
        }
        if let Some(want) = &self.scenario.expect.addresses {
            if *want != self.addresses {
                let list = |a: &[std::net::Ipv4Addr]| {
                    a.iter()
                        .map(|a| a.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                expectation_failures.push(format!(
                    "expected the addresses acquired to be [{}], they were [{}]",
                    list(want),
                    list(&self.addresses)
                ));
            }
        }
        let dhcp = self
            .dhcp
            .as_ref()
            .zip(self.scenario.dhcp)
            .map(|(s, d)| DhcpFigures {
                lease_secs: d.lease_secs,
                mapped: d.mapped,
                frames: self.dhcp_frames,
                answered: s.server.answered,
                unanswered: s.unanswered,
            });
        let per_client: Vec<_> = self
            .clients
            .iter()
            .map(|c| {
                let packets: Vec<crate::report::Sent> = c
                    .sent_at
                    .iter()
                    .zip(&c.outcomes)
                    // Packets still in flight at the end are left out.
                    .filter(|(&at, _)| at + Duration::from_millis(10) <= end)
                    .map(|(&at, &o)| crate::report::Sent {
                        at,
                        delivered: o != 0,
                    })
                    .collect();
                crate::report::failover_outages(&self.failover_faults, &packets)
            })
            .collect();
        let failover_gaps = crate::report::worst_outages(&per_client, self.failover_faults.len());
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
            quorum,
            addresses: self.addresses,
            dhcp,
            etcd,
            failover_faults: self.failover_faults,
            failover_gaps,
        }
    }

    /// The quorum figures, with every move judged.
    fn quorum_figures(&self) -> Option<QuorumFigures> {
        let q = self.scenario.nodes.first()?.config.quorum()?;
        let one_way = bounds::one_way(&self.scenario);
        let settle = self.monitor.bounds().settle;
        let n = &self.scenario.network;
        let steady = n.loss_ppm == 0 && n.reorder_ppm == 0;
        // Quiet: no steady loss or reordering, no fault but this move from a
        // liveness bound before it until its deadline, and no election for
        // a promise before it (a voter stays bound to its candidate that long).
        let bound = timing::outlast(q.lease, self.scenario.bound.drift_ppm) + one_way;
        let quiet = |at: Instant, by: Instant| {
            let from = at - settle;
            let near = self.scenario.faults.iter().filter(|f| {
                let start = Instant::ZERO + f.at;
                let stop = match &f.kind {
                    FaultKind::LossBurst { duration, .. } => start + *duration,
                    _ => start,
                };
                stop >= from && start <= by
            });
            let electing = self
                .quorum
                .requests
                .iter()
                .any(|&r| r + bound >= at && r <= by);
            steady && near.count() == 1 && !electing
        };
        Some(QuorumFigures {
            lease: q.lease,
            holder_lease: q.holder_lease(),
            rounds: bounds::rounds(n.loss_ppm, self.nodes.len()),
            moves: self.quorum.judge_moves(one_way, quiet),
            fenced: self.fenced_frames,
            excused: self.monitor.excused_time,
            acquisitions: self.quorum.acquisitions.len(),
            forgotten_terms: self.quorum.forgotten_terms,
            attack: self.quorum.attack,
        })
    }
}
