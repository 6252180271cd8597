//! Each node's simulated host: its drifting clock, its core, and the glue
//! that acts on the core's outputs as the daemon does.
//!
//! The host boots the core through [`vip_core::Node::starting`] with what
//! it knows of its link, drains the core after every input, configures the
//! VIP on `AcquireVip` (or fails to, for a `vip_fail` fault, and then tells
//! the core `Command::VipFailed` once the drain is done, as the daemon does)
//! and removes it on `ReleaseVip`.

use vip_core::node::VIP_RETRY;
use vip_core::rand::derive_seed;
use vip_core::{Command, Conditions, Duration, Event, FrameKind, Instant, Output};

use super::queue::WorldEvent;
use super::World;
use crate::scenario::{Defect, NodeSpec};

/// Whether a node's process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Run {
    Down,
    Running,
    Paused,
}

/// One node's host.
#[derive(Debug)]
pub(super) struct Host {
    drift_ppm: i64,
    pub(super) defect: Option<Defect>,
    pub(super) run: Run,
    pub(super) core: Option<vip_core::Node>,
    incarnation: u32,
    /// Virtual time of the outstanding timer event, if any.
    pub(super) armed: Option<Instant>,
    /// The core's deadline, in virtual time.
    deadline: Option<Instant>,
    /// The VIP is on this host's interface.
    pub(super) holding: bool,
    /// The host's next attempt to configure the VIP fails (`vip_fail`).
    pub(super) vip_fails: bool,
    /// An attempt failed during this drain: tell the core when it is done.
    vip_failed: bool,
    /// The switch port has carrier.
    pub(super) link_up: bool,
    /// What the core was last told of the carrier.
    pub(super) told_link_up: bool,
    pub(super) flagged_link_holder: bool,
}

impl Host {
    /// The host of a node that has not booted yet.
    pub(super) fn new(spec: &NodeSpec) -> Host {
        Host {
            drift_ppm: i64::from(spec.drift_ppm),
            defect: spec.defect,
            run: Run::Down,
            core: None,
            incarnation: 0,
            armed: None,
            deadline: None,
            holding: false,
            vip_fails: false,
            vip_failed: false,
            link_up: true,
            told_link_up: true,
            flagged_link_holder: false,
        }
    }

    /// The node's own clock reading at virtual `t`.
    fn local(&self, t: Instant) -> Instant {
        if self.drift_ppm == 0 {
            return t;
        }
        let v = i128::from(t.total_micros());
        let skew = (v * i128::from(self.drift_ppm)).div_euclid(1_000_000);
        Instant::from_micros((v + skew).max(0) as u64)
    }

    /// The earliest virtual time at which the local clock reads `local` or later.
    fn virtual_of(&self, local: Instant) -> Instant {
        if self.drift_ppm == 0 {
            return local;
        }
        let l = i128::from(local.total_micros());
        let rate = 1_000_000 + i128::from(self.drift_ppm);
        let mut t = ((l * 1_000_000 + rate - 1) / rate).max(0) as u64;
        while self.local(Instant::from_micros(t)) < local {
            t += 1;
        }
        while t > 0 && self.local(Instant::from_micros(t - 1)) >= local {
            t -= 1;
        }
        Instant::from_micros(t)
    }
}

impl World {
    /// Boots node `i` with a fresh seed stream, as the daemon starts: the
    /// core learns the link's state at once, in [`Conditions`].
    pub(super) fn boot(&mut self, i: usize) {
        let now = self.now;
        let config = self.scenario.nodes[i].config.clone();
        let node = &mut self.nodes[i];
        node.incarnation += 1;
        let stream = 0x1_0000_0000 | (i as u64) << 16 | u64::from(node.incarnation);
        let seed = derive_seed(self.scenario.seed, stream);
        let local = node.local(now);
        let conditions = Conditions {
            link_up: node.link_up,
            healthy: true,
        };
        node.core = Some(vip_core::Node::starting(config, seed, local, conditions));
        node.run = Run::Running;
        node.armed = None;
        node.told_link_up = node.link_up;
        self.note(format_args!("n{i} boot"));
        self.node_input(i, |_, _| {});
    }

    /// Node `i`'s timer event from incarnation `incarnation`.
    pub(super) fn node_timer(&mut self, i: usize, incarnation: u32) {
        let now = self.now;
        let node = &mut self.nodes[i];
        if node.incarnation != incarnation || node.armed != Some(now) {
            return;
        }
        node.armed = None;
        if node.run != Run::Running {
            return;
        }
        if node.deadline.is_some_and(|d| d <= now) {
            self.hash.word(now.total_micros());
            self.hash.word(0x11 << 32 | i as u64);
            self.node_input(i, |core, local| core.handle_timeout(local));
        } else {
            self.arm_node(i);
        }
    }

    /// Gives node `i` one input at the current time, then drains and acts on its outputs.
    pub(super) fn node_input(
        &mut self,
        i: usize,
        input: impl FnOnce(&mut vip_core::Node, Instant),
    ) {
        let now = self.now;
        let node = &mut self.nodes[i];
        let local = node.local(now);
        let Some(core) = node.core.as_mut() else {
            return;
        };
        input(core, local);
        while let Some(out) = core.poll_output(&mut self.buf) {
            match out {
                Output::Transmit { len, kind } => {
                    self.outputs
                        .push((Some(kind), None, self.buf[..len].to_vec()));
                }
                Output::Event(e) => self.outputs.push((None, Some(e), Vec::new())),
            }
        }
        node.deadline = core.poll_timeout().map(|d| node.virtual_of(d));
        let outputs = std::mem::take(&mut self.outputs);
        for (kind, event, bytes) in &outputs {
            if let Some(kind) = kind {
                self.node_transmit(i, *kind, bytes);
            }
            if let Some(e) = event {
                self.node_event(i, *e);
            }
        }
        self.outputs = outputs;
        self.outputs.clear();
        self.arm_node(i);
        if std::mem::take(&mut self.nodes[i].vip_failed) {
            self.vip_failed(i);
        }
    }

    /// Queues node `i`'s timer for its core's deadline, unless one as early is queued.
    pub(super) fn arm_node(&mut self, i: usize) {
        let now = self.now;
        let node = &mut self.nodes[i];
        if node.run != Run::Running {
            return;
        }
        let Some(mut d) = node.deadline else {
            return;
        };
        if d <= now {
            // Never spin at one instant: a past deadline is retried a tick later.
            d = now + Duration::from_micros(1);
        }
        if node.armed.is_none_or(|a| d < a) {
            node.armed = Some(d);
            let incarnation = node.incarnation;
            self.push(d, WorldEvent::NodeTimer(i, incarnation));
        }
    }

    fn node_transmit(&mut self, i: usize, kind: FrameKind, bytes: &[u8]) {
        match kind {
            FrameKind::Advert => self.adverts += 1,
            FrameKind::Garp => self.garps += 1,
            FrameKind::ArpReply => {}
        }
        if kind == FrameKind::Garp && self.nodes[i].defect == Some(Defect::DropGarp) {
            return;
        }
        self.note(format_args!("n{i} send {}", kind.as_str()));
        self.send(i as u16, bytes, None);
    }

    fn node_event(&mut self, i: usize, e: Event) {
        // The trace hash's event codes; keep them stable so hashes compare
        // across core versions.
        let code = match e {
            Event::AcquireVip(_) => 1,
            Event::ReleaseVip(_) => 2,
            Event::RoleChanged { .. } => 3,
            Event::HolderLearned(_) => 4,
            Event::Conflict { .. } => 5,
            Event::FrameDropped(_) => 6,
            Event::PeerHeard(_) => 7,
        };
        self.hash.word(self.now.total_micros());
        self.hash.word(0x12 << 32 | (i as u64) << 8 | code);
        match e {
            Event::AcquireVip(_) if std::mem::take(&mut self.nodes[i].vip_fails) => {
                self.note(format_args!("n{i} acquire: the host cannot add the VIP"));
                self.hash_vip_failure(i);
                self.nodes[i].vip_failed = true;
            }
            Event::AcquireVip(_) => {
                self.note(format_args!("n{i} acquire"));
                self.nodes[i].holding = true;
                self.picture_dirty = true;
                let now = self.now;
                let mut found = Vec::new();
                self.failovers.retain(|p| {
                    if p.holder != i {
                        found.push(now - p.at);
                    }
                    false
                });
                self.detections.extend(found);
            }
            Event::ReleaseVip(_) => {
                self.note(format_args!("n{i} release"));
                if self.nodes[i].defect != Some(Defect::NeverRelease) {
                    self.nodes[i].holding = false;
                    self.picture_dirty = true;
                }
            }
            Event::RoleChanged { from, to } => {
                self.note(format_args!(
                    "n{i} role {} -> {}",
                    from.as_str(),
                    to.as_str()
                ));
            }
            Event::Conflict { hwaddr } => self.note(format_args!("n{i} conflict {hwaddr}")),
            Event::HolderLearned(_) | Event::FrameDropped(_) | Event::PeerHeard(_) => {}
        }
    }

    /// The VIP on holding node `i`'s interface is gone and cannot be put
    /// back (`vip_fail` on a holder): the host reports it as after a failed add.
    pub(super) fn lose_vip(&mut self, i: usize) {
        self.note(format_args!("n{i} the host cannot keep the VIP"));
        self.hash_vip_failure(i);
        self.nodes[i].holding = false;
        self.picture_dirty = true;
        self.vip_failed(i);
    }

    fn hash_vip_failure(&mut self, i: usize) {
        self.hash.word(self.now.total_micros());
        self.hash.word(0x13 << 32 | i as u64);
    }

    /// Tells node `i`'s core the VIP could not be configured. Its giving up
    /// and its rejoining [`VIP_RETRY`] later (on its own clock) are changes
    /// the monitor allows for.
    fn vip_failed(&mut self, i: usize) {
        let now = self.now;
        self.monitor.fault(now);
        self.node_input(i, |core, local| core.command(local, Command::VipFailed));
        let node = &self.nodes[i];
        let rejoin = node.virtual_of(node.local(now) + VIP_RETRY);
        self.monitor.fault(rejoin);
    }
}
