//! The scenario's faults, applied to the world at their instants.

use vip_core::Command;

use super::host::Run;
use super::queue::WorldEvent;
use super::{BridgeOp, OpenFailover, World};
use crate::net::Burst;
use crate::scenario::{Defect, FaultKind};

const PAUSE_KEY: u64 = 1 << 40;
const BURST_KEY: u64 = 2 << 40;
const FREEZE_KEY: u64 = 3 << 40;
const ETCD_CUT_KEY: u64 = 4 << 40;
const ETCD_DOWN_KEY: u64 = 5 << 40;

impl World {
    pub(super) fn apply_fault(&mut self, f: usize) {
        let now = self.now;
        let kind = self.scenario.faults[f].kind.clone();
        self.hash.word(now.total_micros());
        self.hash.word(0x30 << 32 | f as u64);
        self.note(format_args!("fault {kind:?}"));
        let holder = self.group_holder(self.client_group);
        let etcd = self.etcd.is_some();
        let takes_holder = |h: usize| match &kind {
            FaultKind::Crash(i)
            | FaultKind::Stop(i)
            | FaultKind::Pause(i)
            | FaultKind::Freeze(i)
            | FaultKind::LinkDown(i)
            | FaultKind::HealthDown(i)
            | FaultKind::VipFail(i)
            | FaultKind::EtcdCut(i) => *i == h,
            // Under etcd the oldest key leads, whatever the priorities.
            FaultKind::Priority { node: i, .. } => *i == h && !etcd,
            FaultKind::EtcdDown | FaultKind::EtcdStall(_) => true,
            // Any move, wherever asked, takes the VIP from the holder.
            FaultKind::Move { .. } => true,
            FaultKind::Partition {
                groups,
                clients_group,
            } => groups.get(*clients_group).is_some_and(|g| !g.contains(&h)),
            FaultKind::LossBurst { nodes, .. } => nodes.is_empty() || nodes.contains(&h),
            _ => false,
        };
        if let Some(h) = holder.filter(|&h| takes_holder(h)) {
            self.failovers.push(OpenFailover { at: now, holder: h });
            self.failover_faults.push(now);
        }
        self.picture_dirty = true;
        self.etcd_handover_asked(&kind);
        match kind {
            FaultKind::Crash(i) => {
                self.monitor.fault(now);
                self.crash(i);
            }
            FaultKind::Stop(i) => {
                self.monitor.fault(now);
                if self.nodes[i].awake() {
                    self.node_input(i, |core, local| core.command(local, Command::Shutdown));
                    self.forget_core(i);
                    let node = &mut self.nodes[i];
                    node.run = Run::Down;
                    node.armed = None;
                    // A host that never releases leaves the VIP on its interface.
                    if node.defect != Some(Defect::NeverRelease) {
                        node.vip_on = false;
                        node.fence = None;
                    }
                    self.etcd_stopping(i);
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
                    self.wake(i);
                }
            }
            FaultKind::Freeze(i) => {
                if self.nodes[i].run != Run::Down && !self.nodes[i].clock.is_frozen() {
                    self.monitor.fault_begin(FREEZE_KEY | i as u64, now);
                    self.freeze(i);
                }
            }
            FaultKind::Thaw(i) => {
                if self.nodes[i].clock.is_frozen() {
                    self.monitor.fault_end(FREEZE_KEY | i as u64, now);
                    self.thaw(i);
                    self.wake(i);
                }
            }
            FaultKind::Move { node, to } => {
                self.monitor.fault(now);
                self.ask_move(node, to);
            }
            FaultKind::HealthDown(i) | FaultKind::HealthUp(i) => {
                self.monitor.fault(now);
                self.nodes[i].healthy = matches!(kind, FaultKind::HealthUp(_));
                if self.nodes[i].awake() {
                    self.sync_conditions(i);
                }
            }
            FaultKind::Partition {
                groups,
                clients_group,
            } => {
                self.monitor.fault(now);
                // Clients and the DHCP server join the clients' group.
                let mut group_of = vec![clients_group as u16; self.switch.ports.len()];
                for (g, members) in groups.iter().enumerate() {
                    for &i in members {
                        group_of[i] = g as u16;
                    }
                }
                self.switch.partition(&group_of);
                self.client_group = clients_group as u16;
                self.bridge_op(BridgeOp::Groups {
                    group_of_port: group_of,
                    clients_group: clients_group as u16,
                });
            }
            FaultKind::Heal => {
                self.monitor.fault(now);
                self.switch.heal();
                self.client_group = 0;
                let ports = self.switch.ports.len();
                self.bridge_op(BridgeOp::Groups {
                    group_of_port: vec![0; ports],
                    clients_group: 0,
                });
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
                self.bridge_op(BridgeOp::Carrier { port: i as u16, up });
                self.nodes[i].link_up = up;
                if up {
                    self.nodes[i].flagged_link_holder = false;
                }
                if self.nodes[i].awake() {
                    self.sync_conditions(i);
                }
            }
            FaultKind::VipFail(i) => {
                self.monitor.fault(now);
                let node = &mut self.nodes[i];
                if node.awake() && node.holds(now) {
                    self.lose_vip(i);
                } else {
                    // A paused or down node's host fails at its next AcquireVip.
                    node.vip_fails = true;
                }
            }
            FaultKind::DhcpDown | FaultKind::DhcpUp | FaultKind::DhcpRemap(_) => {
                self.dhcp_fault(&kind);
            }
            FaultKind::EtcdCut(i) => {
                self.monitor.fault_begin(ETCD_CUT_KEY | i as u64, now);
                self.etcd_fault(&kind);
            }
            FaultKind::EtcdHeal(i) => {
                self.monitor.fault_end(ETCD_CUT_KEY | i as u64, now);
                self.etcd_fault(&kind);
            }
            FaultKind::EtcdDown => {
                self.monitor.fault_begin(ETCD_DOWN_KEY, now);
                self.etcd_fault(&kind);
            }
            FaultKind::EtcdUp => {
                self.monitor.fault_end(ETCD_DOWN_KEY, now);
                self.etcd_fault(&kind);
            }
            FaultKind::EtcdStall(duration) => {
                self.monitor.allow(now, now + duration);
                self.etcd_fault(&kind);
            }
            FaultKind::Priority { node, priority } => {
                self.monitor.fault(now);
                if self.nodes[node].awake() {
                    self.node_input(node, |core, local| {
                        core.command(local, Command::SetPriority(priority))
                    });
                }
            }
        }
    }

    /// The node vanishes; the VIP goes with the machine (a frozen VM is
    /// reset: its clock runs again).
    fn crash(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        if node.run != Run::Down {
            self.note(format_args!("n{i} down"));
        }
        if self.nodes[i].clock.is_frozen() {
            self.monitor.fault_end(FREEZE_KEY | i as u64, self.now);
            let now = self.now;
            self.nodes[i].clock.thaw(now);
        }
        self.forget_core(i);
        self.etcd_gone(i);
        let node = &mut self.nodes[i];
        node.run = Run::Down;
        node.armed = None;
        node.vip_on = false;
        node.fence = None;
        node.excused_until = None;
    }

    /// A node that did not run (paused or frozen) runs again: carrier and
    /// health changes it missed first, then one late timeout.
    fn wake(&mut self, i: usize) {
        if self.nodes[i].awake() {
            self.sync_conditions(i);
            self.node_input(i, |core, local| core.handle_timeout(local));
            self.etcd_wake(i);
        }
    }

    /// `Command::MoveTo` on node `node`'s daemon; the outcome is judged at the end.
    fn ask_move(&mut self, node: usize, to: Option<usize>) {
        let now = self.now;
        let holders: Vec<usize> = (0..self.nodes.len())
            .filter(|&h| self.nodes[h].holds(now))
            .collect();
        let holder = (holders.len() == 1).then(|| holders[0]);
        if self.etcd.is_some() {
            return self.etcd_ask_move(node, to, holder);
        }
        let hopeless = to.and_then(|t| {
            let n = &self.nodes[t];
            if Some(t) == holder {
                Some("the target holds already")
            } else if self.scenario.nodes[t].witness {
                Some("the target is a witness")
            } else if !n.awake() || !n.link_up || !n.healthy {
                Some("the target is not eligible")
            } else if n.clock.local(now) < n.wait_until {
                Some("the target is in its restart wait")
            } else {
                None
            }
        });
        self.quorum.moves.push(crate::check::quorum::MoveAsk {
            at: now,
            asked: node,
            to,
            holder,
            hopeless,
        });
        if self.nodes[node].awake() {
            let target = to.map(|t| t as u8);
            self.node_input(node, |core, local| {
                core.command(local, Command::MoveTo(target))
            });
        }
    }

    /// Tells a running node about carrier and health changes it has not
    /// heard of, carrier first.
    fn sync_conditions(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        let link = (node.told_link_up != node.link_up).then_some(if node.link_up {
            Command::LinkUp
        } else {
            Command::LinkDown
        });
        let health = (node.told_healthy != node.healthy).then_some(if node.healthy {
            Command::HealthUp
        } else {
            Command::HealthDown
        });
        node.told_link_up = node.link_up;
        node.told_healthy = node.healthy;
        for command in link.into_iter().chain(health) {
            self.node_input(i, |core, local| core.command(local, command));
        }
    }
}
