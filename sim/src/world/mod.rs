//! The discrete-event world: nodes, clients, the switch, faults and the clock.
//!
//! Virtual time jumps to the earliest queued event; ties break by the order
//! events were queued (a global sequence number), so one scenario and one seed
//! replay exactly. Every PRNG (nodes, links, clients) is derived from the root
//! seed with [`vip_core::rand::derive_seed`].

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::io::Write;
use std::net::Ipv4Addr;
use std::rc::Rc;

use vip_core::rand::derive_seed;
use vip_core::wire::EthernetAddress;
use vip_core::{
    Command, Config, Duration, ElectionSettings, Event, FrameBuf, FrameKind, Instant, NodeSettings,
    Output, VrrpSettings,
};

use crate::check::{Checker, Picture};
use crate::client::{Client, ClientTx};
use crate::net::{Frame, Switch};
use crate::report::Report;
use crate::scenario::{Defect, Scenario, ScenarioError};
use crate::trace::{PcapWriter, TraceHash};

mod faults;

use faults::bounds;

/// The VIP every scenario uses.
pub const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 250);

/// The MAC of node `i`.
pub fn node_mac(i: usize) -> EthernetAddress {
    EthernetAddress([0x02, 0, 0, 0, 0, (i + 1) as u8])
}

/// The core configuration of node `i` in `scenario`.
///
/// # Errors
/// The core's validation errors, keyed like the scenario file.
pub fn node_config(scenario: &Scenario, i: usize) -> Result<Config, Vec<ScenarioError>> {
    let settings = NodeSettings {
        mac: node_mac(i),
        address: Ipv4Addr::new(192, 0, 2, (i + 1) as u8),
        prefix_len: 24,
        vip: VIP,
        announce: scenario.announce,
        election: ElectionSettings::Vrrp(VrrpSettings {
            priority: scenario.nodes[i].priority,
            advert_interval: scenario.advert_interval,
            preempt: scenario.preempt,
            virtual_mac: scenario.virtual_mac,
            ..VrrpSettings::default()
        }),
    };
    Config::new(settings).map_err(|errors| {
        errors
            .iter()
            .map(|e| ScenarioError {
                field: e.field.to_string(),
                message: format!("{}", e.rule),
            })
            .collect()
    })
}

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Run {
    Down,
    Running,
    Paused,
}

#[derive(Debug)]
struct SimNode {
    config: Config,
    drift_ppm: i64,
    defect: Option<Defect>,
    run: Run,
    core: Option<vip_core::Node>,
    incarnation: u32,
    /// Virtual time of the outstanding timer event, if any.
    armed: Option<Instant>,
    /// The core's deadline, in virtual time.
    deadline: Option<Instant>,
    holding: bool,
    link_up: bool,
    told_link_up: bool,
    flagged_link_holder: bool,
}

impl SimNode {
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

#[derive(Debug)]
enum What {
    Start(usize),
    NodeTimer(usize, u32),
    ClientTimer(usize),
    AtSwitch(u16, Frame),
    AtPort(u16, Frame),
    Fault(usize),
    BurstEnd(u64),
    End,
}

#[derive(Debug)]
struct Queued {
    at: Instant,
    seq: u64,
    what: What,
}

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Queued {
    /// Reversed, so the max-heap pops the earliest (time, sequence).
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// A failover in progress: the holder a fault took away.
#[derive(Debug, Clone, Copy)]
struct Pending {
    at: Instant,
    holder: usize,
}

/// The world of one scenario run.
#[derive(Debug)]
pub struct World {
    scenario: Scenario,
    now: Instant,
    seq: u64,
    queue: BinaryHeap<Queued>,
    nodes: Vec<SimNode>,
    clients: Vec<Client>,
    client_armed: Vec<Option<Instant>>,
    client_group: u16,
    switch: Switch,
    next_frame: u64,
    hash: TraceHash,
    rec: Recording,
    checker: Checker,
    buf: Box<FrameBuf>,
    outputs: Vec<(Option<FrameKind>, Option<Event>, Vec<u8>)>,
    client_out: Vec<ClientTx>,
    egress: Vec<u16>,
    picture_dirty: bool,
    pending: Vec<Pending>,
    detections: Vec<Duration>,
    /// Events processed so far.
    pub events: u64,
    adverts: u64,
    garps: u64,
}

impl World {
    /// Builds the world; nothing runs until [`World::run`].
    pub fn new(scenario: Scenario, rec: Recording) -> World {
        let n = scenario.nodes.len();
        let root = scenario.seed;
        let nodes = (0..n)
            .map(|i| SimNode {
                config: node_config(&scenario, i).expect("validated with the scenario"),
                drift_ppm: i64::from(scenario.nodes[i].drift_ppm),
                defect: scenario.nodes[i].defect,
                run: Run::Down,
                core: None,
                incarnation: 0,
                armed: None,
                deadline: None,
                holding: false,
                link_up: true,
                told_link_up: true,
                flagged_link_holder: false,
            })
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
        let ports = n + cs.count;
        let switch = Switch::new(
            scenario.network,
            (0..ports).map(|p| derive_seed(root, 0x2_0000_0000 | p as u64)),
        );
        let checker = Checker::new(bounds(&scenario), cs.count);
        let mut world = World {
            now: Instant::ZERO,
            seq: 0,
            queue: BinaryHeap::new(),
            nodes,
            clients,
            client_armed: vec![None; cs.count],
            client_group: 0,
            switch,
            next_frame: 0,
            hash: TraceHash::default(),
            rec,
            checker,
            buf: Box::new([0u8; vip_core::wire::MAX_FRAME_LEN]),
            outputs: Vec::new(),
            client_out: Vec::new(),
            egress: Vec::new(),
            picture_dirty: true,
            pending: Vec::new(),
            detections: Vec::new(),
            events: 0,
            adverts: 0,
            garps: 0,
            scenario,
        };
        world.hash.word(root);
        for i in 0..n {
            let at = Instant::ZERO + world.scenario.nodes[i].start_at;
            world.push(at, What::Start(i));
        }
        for f in 0..world.scenario.faults.len() {
            let at = Instant::ZERO + world.scenario.faults[f].at;
            world.push(at, What::Fault(f));
        }
        for c in 0..cs.count {
            world.arm_client(c);
        }
        let end = Instant::ZERO + world.scenario.duration;
        world.push(end, What::End);
        world
    }

    /// Runs to the scenario's end and reports.
    pub fn run(self) -> Report {
        self.run_keeping_recording().0
    }

    /// Runs to the scenario's end; returns the report and the recording (to
    /// flush a capture).
    pub fn run_keeping_recording(mut self) -> (Report, Recording) {
        while let Some(q) = self.queue.pop() {
            self.now = q.at;
            self.events += 1;
            if let What::End = q.what {
                break;
            }
            self.dispatch(q.what);
            if self.picture_dirty {
                self.picture_dirty = false;
                self.observe();
            }
        }
        let rec = std::mem::take(&mut self.rec);
        (self.finish(), rec)
    }

    fn push(&mut self, at: Instant, what: What) {
        self.seq += 1;
        self.queue.push(Queued {
            at,
            seq: self.seq,
            what,
        });
    }

    fn note(&mut self, text: std::fmt::Arguments<'_>) {
        if let Some(t) = &mut self.rec.trace {
            // A trace that cannot be written is not worth stopping the run for.
            let _ = writeln!(t, "{} {}", self.now, text);
        }
    }

    fn dispatch(&mut self, what: What) {
        let now = self.now;
        match what {
            What::Start(i) => {
                self.hash.word(now.total_micros());
                self.hash.word(0x10 << 32 | i as u64);
                self.checker.fault(now);
                self.boot(i);
            }
            What::NodeTimer(i, inc) => {
                let node = &mut self.nodes[i];
                if node.incarnation != inc || node.armed != Some(now) {
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
            What::ClientTimer(c) => {
                if self.client_armed[c] != Some(now) {
                    return;
                }
                self.client_armed[c] = None;
                self.client_wake(c);
            }
            What::AtSwitch(ingress, frame) => self.at_switch(ingress, frame),
            What::AtPort(port, frame) => self.at_port(port, frame),
            What::Fault(f) => self.apply_fault(f),
            What::BurstEnd(key) => {
                self.switch.expire_bursts(now);
                self.checker.fault_end(key, now);
            }
            What::End => {}
        }
    }

    // ---- nodes ----

    fn boot(&mut self, i: usize) {
        let now = self.now;
        let node = &mut self.nodes[i];
        node.incarnation += 1;
        let stream = 0x1_0000_0000 | (i as u64) << 16 | u64::from(node.incarnation);
        let seed = derive_seed(self.scenario.seed, stream);
        let local = node.local(now);
        node.core = Some(vip_core::Node::new(node.config, seed, local));
        node.run = Run::Running;
        node.armed = None;
        node.told_link_up = true;
        self.note(format_args!("n{i} boot"));
        self.node_input(i, |_, _| {});
        if !self.nodes[i].link_up {
            self.nodes[i].told_link_up = false;
            self.node_input(i, |core, local| core.command(local, Command::LinkDown));
        }
    }

    /// Gives node `i` one input at the current time, then drains and acts on its outputs.
    fn node_input(&mut self, i: usize, input: impl FnOnce(&mut vip_core::Node, Instant)) {
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
    }

    fn arm_node(&mut self, i: usize) {
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
            let inc = node.incarnation;
            self.push(d, What::NodeTimer(i, inc));
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
        let code = match e {
            Event::AcquireVip => 1,
            Event::ReleaseVip => 2,
            Event::RoleChanged { .. } => 3,
            Event::HolderLearned(_) => 4,
            Event::Conflict { .. } => 5,
            Event::FrameDropped(_) => 6,
            Event::AdvertHeard { .. } => 7,
        };
        self.hash.word(self.now.total_micros());
        self.hash.word(0x12 << 32 | (i as u64) << 8 | code);
        match e {
            Event::AcquireVip => {
                self.note(format_args!("n{i} acquire"));
                self.nodes[i].holding = true;
                self.picture_dirty = true;
                let now = self.now;
                let mut found = Vec::new();
                self.pending.retain(|p| {
                    if p.holder != i {
                        found.push(now - p.at);
                    }
                    false
                });
                self.detections.extend(found);
            }
            Event::ReleaseVip => {
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
            Event::HolderLearned(_) | Event::FrameDropped(_) | Event::AdvertHeard { .. } => {}
        }
    }

    // ---- the segment ----

    /// A frame enters the world on `port`'s uplink.
    fn send(&mut self, port: u16, bytes: &[u8], tag: Option<(u16, u32)>) {
        self.next_frame += 1;
        let id = self.next_frame;
        self.hash.word(self.now.total_micros());
        self.hash.word(0x20 << 32 | u64::from(port));
        self.hash.bytes(bytes);
        let frame = Frame {
            id,
            bytes: Rc::from(bytes),
            tag,
        };
        let arrivals = self.switch.traverse(port, self.now);
        self.schedule(arrivals, |f| What::AtSwitch(port, f), frame);
    }

    fn schedule(
        &mut self,
        arrivals: [Option<Instant>; 2],
        what: impl Fn(Frame) -> What,
        frame: Frame,
    ) {
        match arrivals {
            [Some(a), Some(b)] => {
                self.push(a, what(frame.clone()));
                self.push(b, what(frame));
            }
            [Some(a), None] | [None, Some(a)] => self.push(a, what(frame)),
            [None, None] => {}
        }
    }

    fn at_switch(&mut self, ingress: u16, frame: Frame) {
        self.hash.word(self.now.total_micros());
        self.hash
            .word(0x21 << 32 | u64::from(ingress) << 32 | frame.id);
        if let Some(p) = &mut self.rec.pcap {
            // A capture that cannot be written is reported by the CLI at the end.
            let _ = p.frame(self.now.total_micros(), &frame.bytes);
        }
        let mut egress = std::mem::take(&mut self.egress);
        self.switch.forward(ingress, &frame.bytes, &mut egress);
        for &port in &egress {
            let arrivals = self.switch.traverse(port, self.now);
            self.schedule(arrivals, |f| What::AtPort(port, f), frame.clone());
        }
        self.egress = egress;
    }

    fn at_port(&mut self, port: u16, frame: Frame) {
        let now = self.now;
        self.hash.word(now.total_micros());
        self.hash
            .word(0x22 << 48 | u64::from(port) << 40 | frame.id);
        if !self.switch.ports[port as usize].up {
            return;
        }
        let n = self.nodes.len();
        let p = port as usize;
        if p >= n {
            let c = p - n;
            if frame.bytes.get(12..14) == Some(&[0x08, 0x06]) {
                self.clients[c].handle_frame(now, &frame.bytes);
                self.arm_client(c);
            }
            return;
        }
        let node = &self.nodes[p];
        if node.run != Run::Running {
            return;
        }
        let dst = &frame.bytes[0..6];
        let vip_mac = node.config.vip_mac();
        let for_us = dst[0] & 1 == 1 || dst == node_mac(p).0 || (node.holding && dst == vip_mac.0);
        if !for_us {
            return;
        }
        if let Some((c, seq)) = frame.tag {
            if node.holding && dst == vip_mac.0 {
                let slot = &mut self.clients[c as usize].outcomes[seq as usize];
                if *slot == 0 {
                    *slot = p as u32 + 1;
                }
            }
            return;
        }
        self.node_input(p, |core, local| core.handle_frame(local, &frame.bytes));
    }

    // ---- clients ----

    fn arm_client(&mut self, c: usize) {
        if let Some(at) = self.clients[c].poll_timeout() {
            let at = at.max(self.now);
            if self.client_armed[c].is_none_or(|a| at < a) {
                self.client_armed[c] = Some(at);
                self.push(at, What::ClientTimer(c));
            }
        }
    }

    fn client_wake(&mut self, c: usize) {
        let now = self.now;
        let mut out = std::mem::take(&mut self.client_out);
        out.clear();
        self.clients[c].handle_timeout(now, &mut out);
        let port = (self.nodes.len() + c) as u16;
        let mut sent_packet = false;
        for tx in &out {
            sent_packet |= tx.seq.is_some();
            self.send(port, &tx.bytes, tx.seq.map(|s| (c as u16, s)));
        }
        self.client_out = out;
        if sent_packet {
            let ok = self
                .group_holder(self.client_group)
                .map(|h| self.clients[c].entry().mac() == Some(self.nodes[h].config.vip_mac()));
            self.checker.arp_sample(c, now, ok);
        }
        self.arm_client(c);
    }

    /// The single holder among nodes in `group`, if exactly one.
    fn group_holder(&self, group: u16) -> Option<usize> {
        let mut found = None;
        for (i, node) in self.nodes.iter().enumerate() {
            if node.holding && self.switch.ports[i].group == group && node.link_up {
                if found.is_some() {
                    return None;
                }
                found = Some(i);
            }
        }
        found
    }

    // ---- checking ----

    fn observe(&mut self) {
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
                    self.checker
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
        self.checker.observe(self.now, picture);
    }
}
