//! The scenario's faults, applied to the world at their instants.

use vip_core::Command;

use super::host::Run;
use super::queue::WorldEvent;
use super::{OpenFailover, World};
use crate::net::Burst;
use crate::scenario::{Defect, FaultKind};

const PAUSE_KEY: u64 = 1 << 40;
const BURST_KEY: u64 = 2 << 40;

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
            | FaultKind::VipFail(i)
            | FaultKind::Priority { node: i, .. } => *i == h,
            FaultKind::Partition {
                groups,
                clients_group,
            } => groups.get(*clients_group).is_some_and(|g| !g.contains(&h)),
            FaultKind::LossBurst { nodes, .. } => nodes.is_empty() || nodes.contains(&h),
            _ => false,
        };
        if let Some(h) = holder.filter(|&h| takes_holder(h)) {
            self.failovers.push(OpenFailover { at: now, holder: h });
        }
        self.picture_dirty = true;
        match kind {
            FaultKind::Crash(i) => {
                self.monitor.fault(now);
                self.crash(i);
            }
            FaultKind::Stop(i) => {
                self.monitor.fault(now);
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
                self.monitor.fault(now);
                self.crash(i);
                self.boot(i);
            }
            FaultKind::Pause(i) => {
                if self.nodes[i].run == Run::Running {
                    self.monitor.fault_begin(PAUSE_KEY | i as u64, now);
                    self.nodes[i].run = Run::Paused;
                    self.nodes[i].armed = None;
                }
            }
            FaultKind::Resume(i) => {
                if self.nodes[i].run == Run::Paused {
                    self.monitor.fault_end(PAUSE_KEY | i as u64, now);
                    self.nodes[i].run = Run::Running;
                    self.sync_link(i);
                    self.node_input(i, |core, local| core.handle_timeout(local));
                }
            }
            FaultKind::Partition {
                groups,
                clients_group,
            } => {
                self.monitor.fault(now);
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
                self.monitor.fault(now);
                self.switch.heal();
                self.client_group = 0;
            }
            FaultKind::LossBurst {
                duration,
                loss_ppm,
                nodes,
            } => {
                let key = BURST_KEY | f as u64;
                self.monitor.fault_begin(key, now);
                self.switch.bursts.push(Burst {
                    until: now + duration,
                    loss_ppm,
                    ports: nodes.iter().map(|&i| i as u16).collect(),
                });
                self.push(now + duration, WorldEvent::BurstEnd(key));
            }
            FaultKind::LinkDown(i) | FaultKind::LinkUp(i) => {
                self.monitor.fault(now);
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
            FaultKind::VipFail(i) => {
                self.monitor.fault(now);
                let node = &mut self.nodes[i];
                if node.run == Run::Running && node.holding {
                    self.lose_vip(i);
                } else {
                    // A paused or down node's host fails at its next AcquireVip.
                    node.vip_fails = true;
                }
            }
            FaultKind::Priority { node, priority } => {
                self.monitor.fault(now);
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
}
