//! Each node's simulated host: its clock, its core, its kernel fence, and
//! the glue that acts on the core's outputs as the daemon does.
//!
//! The host boots the core through [`vip_core::Node::starting`] with what
//! it knows of its link, health and earlier runs, drains the core after
//! every input, configures the VIP on `AcquireVip` (or fails to, for a
//! `vip_fail` fault, and then tells the core `Command::VipFailed` once the
//! drain is done, as the daemon does) and removes it on `ReleaseVip`.
//!
//! A quorum or etcd host also keeps the kernel fence: each
//! `LeaseExtended { until }` arms it to close by itself when the node's
//! clock reaches `until`, plus the world's leak (the fence's granularity);
//! `ReleaseVip` closes it at once. The VIP counts as held only while it is
//! configured and the fence is open, and a VIP frame (gratuitous ARP, ARP
//! reply) leaves only while the node's clock is before the lease's end, as
//! the daemon checks. An etcd host hands the etcd requests its core raised
//! to its adapter once the outputs of that input are acted on
//! ([`super::etcd`]).

use vip_core::election::etcd::EtcdRequest;
use vip_core::election::quorum::timing::PriorRuns;
use vip_core::node::VIP_RETRY;
use vip_core::rand::derive_seed;
use vip_core::{Command, Conditions, Duration, Event, FrameKind, Instant, Output, Protocol};

use super::clock::Clock;
use super::queue::WorldEvent;
use super::World;
use crate::scenario::{Defect, DriftMode, NodeSpec};

/// Whether a node's process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Run {
    Down,
    Running,
    Paused,
}

/// A quorum holder's kernel fence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Fence {
    /// The lease's end on the node's clock.
    pub(super) lease_end: Instant,
    /// When it closes by itself (virtual time): the clock reaching
    /// `lease_end`, plus the leak; `None` while the clock is frozen short of it.
    pub(super) closes_at: Option<Instant>,
}

/// One node's host.
#[derive(Debug)]
pub(super) struct Host {
    pub(super) clock: Clock,
    pub(super) defect: Option<Defect>,
    pub(super) run: Run,
    pub(super) core: Option<vip_core::Node>,
    pub(super) incarnation: u32,
    /// Virtual time of the outstanding timer event, if any.
    pub(super) armed: Option<Instant>,
    /// The core's deadline, on its clock and in virtual time.
    deadline_local: Option<Instant>,
    deadline: Option<Instant>,
    /// The VIP is on this host's interface.
    pub(super) vip_on: bool,
    /// The address last configured (with `vip_on`): the fixed VIP, or the lease's.
    pub(super) vip_address: Option<std::net::Ipv4Addr>,
    /// The host runs the quorum election.
    pub(super) quorum: bool,
    /// The host keeps a kernel fence (quorum, etcd).
    pub(super) fenced: bool,
    /// The kernel fence (quorum, etcd), while armed.
    pub(super) fence: Option<Fence>,
    /// The host's next attempt to configure the VIP fails (`vip_fail`).
    pub(super) vip_fails: bool,
    /// An attempt failed during this drain: tell the core when it is done.
    vip_failed: bool,
    /// The switch port has carrier.
    pub(super) link_up: bool,
    /// What the core was last told of the carrier.
    pub(super) told_link_up: bool,
    /// The health check passes.
    pub(super) healthy: bool,
    /// What the core was last told of its health.
    pub(super) told_healthy: bool,
    pub(super) flagged_link_holder: bool,
    /// Until when (virtual) a holder that was frozen may overlap another.
    pub(super) excused_until: Option<Instant>,
    /// The core's restart wait ends at this reading of its clock.
    pub(super) wait_until: Instant,
    /// The core may not hold before this reading (`VIP_RETRY` after a failure).
    pub(super) retry_until: Option<Instant>,
    /// Promises of earlier runs (member, end on this clock): the restart
    /// wait must outlast them.
    pub(super) prior_promises: Vec<(u8, Instant)>,
    /// The core acquired during the current drain.
    pub(super) acquired_now: bool,
    /// The DHCP lease copy this run of the core must have (`[dhcp]`,
    /// quorum): see [`super::dhcp`].
    pub(super) copy: super::dhcp::LeaseCopy,
    /// Quorum frames this run of the core accepted (the attacker replays them).
    pub(super) seen: Vec<std::rc::Rc<[u8]>>,
}

impl Host {
    /// The host of a node that has not booted yet.
    pub(super) fn new(spec: &NodeSpec, drift: DriftMode, bound_ppm: u32) -> Host {
        let ppm = match drift {
            DriftMode::Fixed => i64::from(spec.drift_ppm),
            // Until a node holds, every clock runs fast: promises end early.
            DriftMode::Adversarial => i64::from(bound_ppm),
        };
        Host {
            clock: Clock::new(ppm),
            defect: spec.defect,
            run: Run::Down,
            core: None,
            incarnation: 0,
            armed: None,
            deadline_local: None,
            deadline: None,
            vip_on: false,
            vip_address: None,
            quorum: spec.config.protocol() == Protocol::Quorum,
            fenced: spec.config.protocol() != Protocol::Vrrp,
            fence: None,
            vip_fails: false,
            vip_failed: false,
            link_up: true,
            told_link_up: true,
            healthy: true,
            told_healthy: true,
            flagged_link_holder: false,
            excused_until: None,
            wait_until: Instant::ZERO,
            retry_until: None,
            prior_promises: Vec::new(),
            acquired_now: false,
            copy: super::dhcp::LeaseCopy::default(),
            seen: Vec::new(),
        }
    }

    /// True while the process runs and its clock does: it takes input.
    pub(super) fn awake(&self) -> bool {
        self.run == Run::Running && !self.clock.is_frozen()
    }

    /// True if the node holds the VIP at `now`: configured and, for
    /// quorum and etcd, the fence open.
    pub(super) fn holds(&self, now: Instant) -> bool {
        self.vip_on
            && (!self.fenced
                || self
                    .fence
                    .is_some_and(|f| f.closes_at.is_none_or(|c| now < c)))
    }

    /// True if a VIP frame may leave at `now`: always for VRRP; for quorum
    /// and etcd only while the node's clock is before its lease's end.
    fn may_announce(&self, now: Instant) -> bool {
        !self.fenced
            || self
                .fence
                .is_some_and(|f| self.clock.local(now) < f.lease_end)
    }

    /// Maps the core's deadline and the fence's end to virtual time again
    /// (after the clock's rate changed, froze or thawed).
    pub(super) fn reclock(&mut self, now: Instant, leak: Duration) {
        self.deadline = self.deadline_local.and_then(|d| self.clock.virtual_of(d));
        let local = self.clock.local(now);
        if let Some(f) = &mut self.fence {
            if local < f.lease_end {
                f.closes_at = self.clock.virtual_of(f.lease_end).map(|t| t + leak);
            }
        }
    }

    /// What a booting core is told of earlier runs: none before the first
    /// boot (the host has been up `uptime`), else a run of this boot under
    /// this config (the sim's restart is the daemon's, on the same boot);
    /// `skip_restart_wait` claims no earlier run.
    fn prior_runs(&self, spec: &NodeSpec, uptime: Duration) -> PriorRuns {
        let first = PriorRuns::FirstSinceBoot { uptime };
        match spec.config.quorum() {
            _ if self.incarnation == 0 => first,
            _ if self.defect == Some(Defect::SkipRestartWait) => PriorRuns::FirstSinceBoot {
                uptime: Duration::MAX,
            },
            Some(q) => PriorRuns::ThisBoot {
                lease: q.lease,
                drift_ppm: q.max_drift_ppm,
            },
            None => first,
        }
    }
}

impl World {
    /// Boots node `i` with a fresh seed stream, as the daemon starts: the
    /// core learns the link's state, its health and its earlier runs at
    /// once, in [`Conditions`].
    pub(super) fn boot(&mut self, i: usize) {
        let now = self.now;
        let spec = &self.scenario.nodes[i];
        let config = spec.config.clone();
        let node = &mut self.nodes[i];
        let prior_runs = node.prior_runs(spec, self.scenario.host_uptime);
        node.incarnation += 1;
        let stream = 0x1_0000_0000 | (i as u64) << 16 | u64::from(node.incarnation);
        let seed = derive_seed(self.scenario.seed, stream);
        let local = node.clock.local(now);
        let conditions = Conditions {
            link_up: node.link_up,
            healthy: node.healthy,
            prior_runs,
        };
        node.core = Some(vip_core::Node::starting(config, seed, local, conditions));
        node.wait_until = Instant::ZERO;
        node.run = Run::Running;
        node.armed = None;
        node.retry_until = None;
        node.seen.clear();
        node.told_link_up = node.link_up;
        node.told_healthy = node.healthy;
        node.copy = super::dhcp::LeaseCopy::default();
        self.note(format_args!("n{i} boot"));
        self.etcd_boot(i);
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
        if !node.awake() {
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
        let local = node.clock.local(now);
        let Some(core) = node.core.as_mut() else {
            return;
        };
        // A candidate's vote for itself is given up with its candidacy
        // (abandoning frees it at once), so only other promises bind.
        let candidate = core.role() == vip_core::Role::Candidate;
        let promised = core
            .election()
            .as_quorum()
            .and_then(|q| q.promised())
            .filter(|&(to, _)| !(candidate && usize::from(to) == i));
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
        // Raised with the outputs; handed to the adapter once they are acted on.
        let requests: Vec<EtcdRequest> = std::iter::from_fn(|| core.poll_etcd_request()).collect();
        node.deadline_local = core.poll_timeout();
        node.deadline = node.deadline_local.and_then(|d| node.clock.virtual_of(d));
        let wait = core.election().as_quorum().map(|q| q.waits_until());
        let wait_moved = wait.filter(|&w| w != node.wait_until);
        if let Some(w) = wait_moved {
            node.wait_until = w;
        }
        let outputs = std::mem::take(&mut self.outputs);
        for (kind, event, bytes) in &outputs {
            if let Some(kind) = kind {
                self.node_transmit(i, *kind, bytes, promised);
            }
            if let Some(e) = event {
                self.node_event(i, *e);
            }
        }
        self.outputs = outputs;
        self.outputs.clear();
        self.check_lease_copy(i);
        if std::mem::take(&mut self.nodes[i].acquired_now) {
            self.acquired(i);
        }
        if let Some(at) = wait_moved.and_then(|w| self.nodes[i].clock.virtual_of(w)) {
            // The picture changes when the wait ends: the node may vote.
            if at > now {
                self.push(at, WorldEvent::Recheck);
            }
        }
        self.arm_node(i);
        if !requests.is_empty() {
            self.etcd_requests(i, requests);
        }
        if std::mem::take(&mut self.nodes[i].vip_failed) {
            self.vip_failed(i);
        }
    }

    /// Queues node `i`'s timer for its core's deadline, unless one as early is queued.
    pub(super) fn arm_node(&mut self, i: usize) {
        let now = self.now;
        let node = &mut self.nodes[i];
        if !node.awake() {
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

    fn node_transmit(
        &mut self,
        i: usize,
        kind: FrameKind,
        bytes: &[u8],
        promised: Option<(u8, Instant)>,
    ) {
        match kind {
            FrameKind::Advert => self.adverts += 1,
            FrameKind::Garp => self.garps += 1,
            FrameKind::Dhcp => self.dhcp_frames += 1,
            FrameKind::ArpReply => {}
        }
        if kind == FrameKind::Garp && self.nodes[i].defect == Some(Defect::DropGarp) {
            return;
        }
        // The VIP's frames: ARP for it, and IPv4 from it (a DHCP renewal
        // from the leased address; the lease client's other frames come
        // from 0.0.0.0 and pass, as the kernel fence lets them).
        let vip_frame = match kind {
            FrameKind::Advert => false,
            FrameKind::Garp | FrameKind::ArpReply => true,
            FrameKind::Dhcp => super::dhcp::from_an_address(bytes),
        };
        if vip_frame && !self.nodes[i].may_announce(self.now) {
            // The daemon's "not after" check: past the lease, no VIP frame.
            self.fenced_frames += 1;
            self.note(format_args!("n{i} fenced {}", kind.as_str()));
            return;
        }
        if kind == FrameKind::Advert && self.nodes[i].quorum {
            self.quorum_sent(i, bytes, promised);
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
            Event::LeaseExtended { .. } => 8,
            Event::LeaseChanged(_) => 9,
        };
        self.hash.word(self.now.total_micros());
        self.hash.word(0x12 << 32 | (i as u64) << 8 | code);
        if let Event::AcquireVip(vip) = e {
            self.nodes[i].copy.asked = true;
            self.check_granted(i, vip.address);
            if !self.addresses.contains(&vip.address) {
                self.addresses.push(vip.address);
            }
        }
        match e {
            Event::AcquireVip(_) if std::mem::take(&mut self.nodes[i].vip_fails) => {
                self.note(format_args!("n{i} acquire: the host cannot add the VIP"));
                if self.nodes[i].quorum {
                    self.quorum.failed_adds.push((self.now, i));
                }
                self.etcd_failed_add(i);
                self.hash_vip_failure(i);
                self.nodes[i].vip_failed = true;
            }
            Event::AcquireVip(vip) => {
                self.note(format_args!("n{i} acquire"));
                self.nodes[i].vip_on = true;
                self.nodes[i].vip_address = Some(vip.address);
                self.first_acquired.get_or_insert(self.now);
                self.nodes[i].acquired_now = true;
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
            Event::ReleaseVip(vip) => {
                self.note(format_args!("n{i} release"));
                if self.nodes[i].defect != Some(Defect::NeverRelease) {
                    self.nodes[i].vip_on = false;
                    // Removing the VIP closes the fence at once.
                    self.nodes[i].fence = None;
                    self.picture_dirty = true;
                }
                self.released(i);
                self.lease_lost(i, vip.address);
            }
            Event::LeaseExtended { until } => self.lease_extended(i, until),
            Event::RoleChanged { from, to } => {
                // An elected node may wait for its lease (dhcp::watch_lease_wait).
                self.picture_dirty |= self.dhcp.is_some();
                self.nodes[i].copy.won |= to == vip_core::Role::Holder;
                self.note(format_args!(
                    "n{i} role {} -> {}",
                    from.as_str(),
                    to.as_str()
                ));
            }
            Event::Conflict { hwaddr } => self.note(format_args!("n{i} conflict {hwaddr}")),
            Event::FrameDropped(r) => self.note(format_args!("n{i} drop {}", r.as_str())),
            Event::HolderLearned(_) | Event::PeerHeard(_) | Event::LeaseChanged(_) => {}
        }
    }

    /// Arms node `i`'s fence to close when its clock reaches `until`, plus
    /// the world's leak.
    fn arm_fence(&mut self, i: usize, until: Instant) {
        let leak = self.scenario.bound.fence_leak;
        let now = self.now;
        let node = &mut self.nodes[i];
        // A configured VIP behind a shut fence holds again once it opens (a
        // lease-driven ReleaseVip and AcquireVip inside a tenure, `[dhcp]`).
        self.picture_dirty |= node.vip_on && !node.holds(now);
        let closes_at = node.clock.virtual_of(until).map(|t| t + leak);
        node.fence = Some(Fence {
            lease_end: until,
            closes_at,
        });
        if let Some(at) = closes_at {
            self.push(at, WorldEvent::Recheck);
        }
    }

    /// The core raised `LeaseExtended`: the fence follows, and the lease is
    /// checked against what backs it (quorum: the promises; etcd: etcd's lease).
    fn lease_extended(&mut self, i: usize, until: Instant) {
        self.note(format_args!("n{i} lease until {until}"));
        if self.nodes[i].fenced {
            self.arm_fence(i, until);
        }
        if self.nodes[i].quorum {
            self.check_lease_backing(i, until);
        } else if self.nodes[i].fenced {
            self.check_etcd_backing(i, until);
        }
    }

    /// The VIP on holding node `i`'s interface is gone and cannot be put
    /// back (`vip_fail` on a holder): the host reports it as after a failed add.
    pub(super) fn lose_vip(&mut self, i: usize) {
        self.note(format_args!("n{i} the host cannot keep the VIP"));
        self.hash_vip_failure(i);
        self.nodes[i].vip_on = false;
        self.nodes[i].fence = None;
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
        let node = &mut self.nodes[i];
        let retry = node.clock.local(now) + VIP_RETRY;
        node.retry_until = Some(retry);
        let rejoin = node.clock.virtual_of(retry).unwrap_or(now);
        self.monitor.fault(rejoin);
        if node.fenced {
            self.push(rejoin, WorldEvent::Recheck);
        }
    }
}
