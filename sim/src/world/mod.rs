//! The discrete-event world: nodes, clients, the switch, faults and the clock.
//!
//! Virtual time jumps to the earliest queued event; ties break by the order
//! events were queued (a global sequence number), so one scenario and one seed
//! replay exactly. Every PRNG (nodes, links, clients, paths to etcd) is
//! derived from the root seed with [`vip_core::rand::derive_seed`].
//!
//! One job a file: `queue` orders events, `host` runs each node's
//! core as its host would, `segment` carries frames and client traffic,
//! `faults` applies the scenario's faults, `etcd` runs the modelled etcd
//! and each node's adapter (`protocol = "etcd"`), and `observe` reports the
//! holder picture to the invariant monitor and closes the run.

use std::io::Write;
use std::net::Ipv4Addr;

use vip_core::rand::derive_seed;
use vip_core::{Duration, Event, FrameBuf, FrameKind, Instant};

use crate::check::{bounds, Monitor, QuorumLog};
use crate::client::{Client, ClientTx};
use crate::net::Switch;
use crate::report::Report;
use crate::scenario::{Scenario, VIP};
use crate::trace::{PcapWriter, TraceHash};

mod attack;
mod clock;
mod dhcp;
mod etcd;
mod faults;
mod host;
mod observe;
mod queue;
mod quorum;
mod segment;
mod tap;

use attack::Attacker;
use dhcp::Server;
use host::Host;
use queue::{EventQueue, WorldEvent};
pub use tap::{BridgeOp, TapOut};

/// Options that do not change what happens, only what is recorded.
#[derive(Default)]
pub struct Recording {
    /// Print a text line per node event, transmit and fault.
    pub trace: Option<Box<dyn Write>>,
    /// Capture every frame that reaches the switch.
    pub pcap: Option<PcapWriter<Box<dyn Write>>>,
}

impl std::fmt::Debug for Recording {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recording")
            .field("trace", &self.trace.is_some())
            .field("pcap", &self.pcap.is_some())
            .finish()
    }
}

/// A failover in progress: the holder a fault took away, and when.
#[derive(Debug, Clone, Copy)]
struct OpenFailover {
    at: Instant,
    holder: usize,
}

/// The world of one scenario run.
#[derive(Debug)]
pub struct World {
    scenario: Scenario,
    now: Instant,
    queue: EventQueue,
    nodes: Vec<Host>,
    clients: Vec<Client>,
    client_armed: Vec<Option<Instant>>,
    client_group: u16,
    switch: Switch,
    next_frame: u64,
    hash: TraceHash,
    rec: Recording,
    monitor: Monitor,
    buf: Box<FrameBuf>,
    outputs: Vec<(Option<FrameKind>, Option<Event>, Vec<u8>)>,
    client_out: Vec<ClientTx>,
    egress: Vec<u16>,
    picture_dirty: bool,
    failovers: Vec<OpenFailover>,
    detections: Vec<Duration>,
    /// Events processed so far.
    pub events: u64,
    adverts: u64,
    garps: u64,
    /// VIP frames the quorum fence kept from leaving.
    fenced_frames: u64,
    /// The quorum election's records.
    quorum: QuorumLog,
    attacker: Option<Attacker>,
    /// The DHCP server (`[dhcp]`), on the port after the clients'.
    dhcp: Option<Server>,
    /// The modelled etcd and every node's adapter (`protocol = "etcd"`).
    etcd: Option<Box<etcd::EtcdSide>>,
    /// DHCP frames the nodes' cores sent.
    dhcp_frames: u64,
    /// Every address a node acquired, in the order of its first acquisition.
    addresses: Vec<Ipv4Addr>,
    /// When a node first configured the VIP.
    first_acquired: Option<Instant>,
    /// Every fault that took the VIP from its holder, when it happened.
    failover_faults: Vec<Instant>,
    /// TAP mode (`sim tap`): the runner's side of the world.
    tap: Option<tap::TapSide>,
    /// The run's end has been reached.
    ended: bool,
}

impl World {
    /// Builds the world; nothing runs until [`World::run`].
    pub fn new(scenario: Scenario, rec: Recording) -> World {
        let root = scenario.seed;
        let nodes = scenario
            .nodes
            .iter()
            .map(|n| Host::new(n, scenario.drift, scenario.bound.drift_ppm))
            .collect();
        let cs = scenario.clients;
        let clients = (0..cs.count)
            .map(|c| {
                Client::new(
                    c as u32,
                    VIP,
                    cs.rate,
                    cs.base_reachable_time,
                    derive_seed(root, 0x3_0000_0000 | c as u64),
                    Instant::from_micros(1 + c as u64 * 731),
                )
            })
            .collect();
        let server_port = scenario.nodes.len() + cs.count;
        let ports = server_port + usize::from(scenario.dhcp.is_some());
        let switch = Switch::new(
            scenario.network,
            (0..ports).map(|p| derive_seed(root, 0x2_0000_0000 | p as u64)),
        );
        let monitor = Monitor::new(bounds(&scenario), cs.count);
        let mut world = World {
            now: Instant::ZERO,
            queue: EventQueue::default(),
            nodes,
            clients,
            client_armed: vec![None; cs.count],
            client_group: 0,
            switch,
            next_frame: 0,
            hash: TraceHash::default(),
            rec,
            monitor,
            buf: Box::new([0u8; vip_core::wire::MAX_FRAME_LEN]),
            outputs: Vec::new(),
            client_out: Vec::new(),
            egress: Vec::new(),
            picture_dirty: true,
            failovers: Vec::new(),
            detections: Vec::new(),
            events: 0,
            adverts: 0,
            garps: 0,
            fenced_frames: 0,
            quorum: QuorumLog::default(),
            attacker: Attacker::new(root, scenario.attack.rate),
            dhcp: scenario
                .dhcp
                .as_ref()
                .map(|d| Server::new(d, server_port as u16)),
            dhcp_frames: 0,
            etcd: etcd::EtcdSide::new(&scenario),
            addresses: Vec::new(),
            first_acquired: None,
            failover_faults: Vec::new(),
            tap: None,
            ended: false,
            scenario,
        };
        world.hash.word(root);
        for i in 0..world.nodes.len() {
            let at = Instant::ZERO + world.scenario.nodes[i].start_at;
            world.push(at, WorldEvent::Start(i));
        }
        for f in 0..world.scenario.faults.len() {
            let at = Instant::ZERO + world.scenario.faults[f].at;
            world.push(at, WorldEvent::Fault(f));
        }
        for c in 0..cs.count {
            world.arm_client(c);
        }
        world.arm_attacker();
        let end = Instant::ZERO + world.scenario.duration;
        world.push(end, WorldEvent::End);
        world
    }

    /// Runs to the scenario's end and reports.
    pub fn run(self) -> Report {
        self.run_keeping_recording().0
    }

    /// Runs to the scenario's end; returns the report and the recording (to
    /// flush a capture).
    pub fn run_keeping_recording(mut self) -> (Report, Recording) {
        while let Some((at, event)) = self.queue.pop() {
            self.now = at;
            self.events += 1;
            if let WorldEvent::End = event {
                break;
            }
            self.dispatch(event);
            if self.picture_dirty {
                self.picture_dirty = false;
                self.observe();
            }
        }
        let rec = std::mem::take(&mut self.rec);
        (self.finish(), rec)
    }

    fn push(&mut self, at: Instant, event: WorldEvent) {
        self.queue.push(at, event);
    }

    fn note(&mut self, text: std::fmt::Arguments<'_>) {
        if let Some(t) = &mut self.rec.trace {
            // A trace that cannot be written is not worth stopping the run for.
            let _ = writeln!(t, "{} {}", self.now, text);
        }
    }

    fn dispatch(&mut self, event: WorldEvent) {
        let now = self.now;
        match event {
            WorldEvent::Start(i) => {
                self.hash.word(now.total_micros());
                self.hash.word(0x10 << 32 | i as u64);
                self.monitor.fault(now);
                self.boot(i);
            }
            WorldEvent::NodeTimer(i, incarnation) => self.node_timer(i, incarnation),
            WorldEvent::ClientTimer(c) => {
                if self.client_armed[c] != Some(now) {
                    return;
                }
                self.client_armed[c] = None;
                self.client_wake(c);
            }
            WorldEvent::AtSwitch(ingress, frame) => self.at_switch(ingress, frame),
            WorldEvent::AtPort(port, frame) => self.at_port(port, frame),
            WorldEvent::Fault(f) => self.apply_fault(f),
            WorldEvent::BurstEnd(key) => {
                self.switch.expire_bursts(now);
                self.monitor.fault_end(key, now);
            }
            WorldEvent::Recheck => self.picture_dirty = true,
            WorldEvent::Attack => self.attack(),
            WorldEvent::AtEtcd(i, up) => self.at_etcd(i, *up),
            WorldEvent::FromEtcd(i, down) => self.etcd_delivered(i, *down),
            WorldEvent::EtcdTimer(i, incarnation) => self.etcd_timer(i, incarnation),
            WorldEvent::EtcdExpiry => self.etcd_expiry(),
            WorldEvent::EtcdResume => self.etcd_resume(),
            WorldEvent::End => {}
        }
    }
}
