//! A small multi-node harness (quinn's test `Pair`, for N nodes): lossless
//! links with a fixed delay on one segment, virtual time, and a log of every
//! output so tests read as timelines.
#![allow(dead_code)]

use std::net::Ipv4Addr;

use vip_core::config::{
    DhcpSettings, ElectionSettings, Member, NodeSettings, QuorumSettings, VipSettings, VrrpSettings,
};
use vip_core::dhcp::server::StaticServer;
use vip_core::election::quorum::auth::AuthKey;
use vip_core::election::quorum::Quorum;
use vip_core::election::vrrp::Vrrp;
use vip_core::wire::EthernetAddress;
use vip_core::{
    AnnounceConfig, ClusterSettings, Conditions, Config, Duration, Event, FrameBuf, FrameKind,
    HostFacts, Instant, Members, Name, Node, Output, Vip,
};

pub const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 100);

/// Node `i`'s address: 192.0.2.(11 + i).
pub fn address(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(192, 0, 2, 11 + i as u8)
}

/// Node `i`'s MAC: 02:00:00:00:00:(11 + i).
pub fn mac(i: usize) -> EthernetAddress {
    EthernetAddress([0x02, 0, 0, 0, 0, 11 + i as u8])
}

/// The event that puts the test VIP on a node.
pub fn acquire() -> Event {
    Event::AcquireVip(Vip::host(VIP))
}

/// The event that takes the test VIP off a node.
pub fn release() -> Event {
    Event::ReleaseVip(Vip::host(VIP))
}

/// Node `i`'s name: n0, n1, ...
pub fn name(i: usize) -> Name {
    Name::new(&format!("n{i}")).expect("a short name")
}

pub fn settings(i: usize, priority: u8, interval_ms: u64) -> NodeSettings {
    NodeSettings {
        host: HostFacts {
            name: name(i),
            mac: mac(i),
            address: address(i),
            prefix_len: 24,
        },
        cluster: ClusterSettings {
            cluster: Name::new("test").expect("a short name"),
            vip: VIP.into(),
            members: Members::new(),
            announce: AnnounceConfig::default(),
            election: ElectionSettings::Vrrp(VrrpSettings {
                priority,
                advert_interval: Duration::from_millis(interval_ms),
                ..VrrpSettings::default()
            }),
        },
    }
}

pub fn vrrp_mut(s: &mut NodeSettings) -> &mut VrrpSettings {
    let ElectionSettings::Vrrp(v) = &mut s.cluster.election else {
        panic!("not a VRRP node");
    };
    v
}

/// The cluster key every quorum test node shares.
pub const KEY: [u8; 32] = [0x5a; 32];

/// Node `i` of `n` quorum members (the last `witnesses` are witnesses),
/// renewing every `interval_ms` with the default lease (5 intervals).
pub fn quorum_settings(
    i: usize,
    n: usize,
    witnesses: usize,
    priority: u8,
    interval_ms: u64,
) -> NodeSettings {
    let mut members = Members::new();
    for m in 0..n {
        let member = Member {
            name: name(m),
            address: address(m),
            witness: m >= n - witnesses,
        };
        members.push(member).expect("at most 16 members");
    }
    let mut q = QuorumSettings::with_defaults(
        Duration::from_millis(interval_ms),
        AuthKey::new(&KEY).expect("a 32-byte key"),
    );
    q.priority = priority;
    let mut s = settings(i, priority, 10);
    s.cluster.members = members;
    s.cluster.election = ElectionSettings::Quorum(q);
    s
}

/// The quorum settings of `s`.
pub fn quorum_mut(s: &mut NodeSettings) -> &mut QuorumSettings {
    let ElectionSettings::Quorum(q) = &mut s.cluster.election else {
        panic!("not a quorum node");
    };
    q
}

/// The quorum machine of a node that runs it.
pub fn quorum(node: &Node) -> &Quorum {
    node.election().as_quorum().expect("a quorum node")
}

/// The VRRP machine of a node that runs VRRP.
pub fn vrrp(node: &Node) -> &Vrrp {
    node.election().as_vrrp().expect("a VRRP node")
}

/// The VIP MAC of the DHCP tests.
pub const VIP_MAC: EthernetAddress = EthernetAddress([0x02, 0x00, 0x00, 0x09, 0x7f, 0x3f]);

/// The DHCP server's address and MAC.
pub const SERVER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
pub const SERVER_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x01]);

/// `s` with its VIP leased by DHCP for [`VIP_MAC`].
pub fn leased(mut s: NodeSettings) -> NodeSettings {
    s.cluster.vip = VipSettings::Dhcp(DhcpSettings { hwaddr: VIP_MAC });
    s
}

/// A server that maps [`VIP_MAC`] to [`VIP`] with `lease_secs` leases.
pub fn server(lease_secs: u32) -> StaticServer {
    let mask = Ipv4Addr::new(255, 255, 255, 0);
    let mut s = StaticServer::new(SERVER, SERVER_MAC, mask, lease_secs);
    s.map(VIP_MAC, VIP);
    s.set_pool(Ipv4Addr::new(192, 0, 2, 150), Ipv4Addr::new(192, 0, 2, 199));
    s
}

/// A DHCP server on the segment, with the faults a test may give it.
pub struct ServerSlot {
    pub server: StaticServer,
    /// Answers nothing while false.
    pub up: bool,
    /// Its unicast answers are lost on the way (kube-vip #871).
    pub unicast_lost: bool,
}

/// What one node put out, when.
#[derive(Debug, Clone)]
pub enum Logged {
    Event(Event),
    Frame(FrameKind, Vec<u8>),
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub at: Instant,
    pub node: usize,
    pub what: Logged,
}

struct InFlight {
    at: Instant,
    seq: u64,
    from: usize,
    frame: Vec<u8>,
}

/// N nodes on one lossless segment.
pub struct Cluster {
    pub nodes: Vec<Option<Node>>,
    pub now: Instant,
    pub delay: Duration,
    pub log: Vec<Entry>,
    /// Frames every node sent, including those it later could not deliver.
    in_flight: Vec<InFlight>,
    seq: u64,
    /// `cut[i]`: node i's link is cut (frames to and from it vanish).
    pub cut: Vec<bool>,
    /// Frames injected from outside (a client, a test) are tagged with this index.
    pub outside: usize,
    /// A DHCP server on the segment, if the test has one.
    pub dhcp: Option<ServerSlot>,
}

impl ServerSlot {
    /// [`server`] with `lease_secs` leases, up, its answers all delivered.
    pub fn up(lease_secs: u32) -> ServerSlot {
        ServerSlot {
            server: server(lease_secs),
            up: true,
            unicast_lost: false,
        }
    }
}

/// The sender index of the DHCP server's frames.
pub const SERVER_INDEX: usize = usize::MAX - 1;

impl Cluster {
    pub fn new(all: Vec<NodeSettings>) -> Cluster {
        let conditions = vec![Conditions::default(); all.len()];
        Cluster::starting(all, conditions)
    }

    /// Nodes that start under their own `conditions`.
    pub fn starting(all: Vec<NodeSettings>, conditions: Vec<Conditions>) -> Cluster {
        let n = all.len();
        let mut c = Cluster {
            nodes: Vec::new(),
            now: Instant::ZERO,
            delay: Duration::from_micros(100),
            log: Vec::new(),
            in_flight: Vec::new(),
            seq: 0,
            cut: vec![false; n],
            outside: usize::MAX,
            dhcp: None,
        };
        for (i, (s, cond)) in all.into_iter().zip(conditions).enumerate() {
            let config = Config::new(s).expect("valid test config");
            c.nodes
                .push(Some(Node::starting(config, i as u64, c.now, cond)));
            c.drain(i);
        }
        c
    }

    /// Starts node `i` again (after a crash) with `settings`, a new seed and
    /// `conditions`.
    pub fn restart(&mut self, i: usize, settings: NodeSettings, conditions: Conditions) {
        let seed = 1000 + i as u64 + self.now.total_micros();
        let config = Config::new(settings).expect("valid test config");
        self.nodes[i] = Some(Node::starting(config, seed, self.now, conditions));
        self.drain(i);
    }

    /// Runs until `until`, asserting after every event that at most one
    /// node holds the VIP.
    pub fn drive_checking(&mut self, until: Instant) {
        let mut guard = 0u64;
        while self.step(until) {
            assert!(
                self.holders().len() <= 1,
                "two holders at {:?}: {:?}",
                self.now,
                self.holders()
            );
            guard += 1;
            assert!(guard < 10_000_000, "drive_checking did not settle");
        }
        self.now = self.now.max(until);
    }

    /// The quorum cluster of `n` members (the last `witnesses` witnesses),
    /// priorities 200, 190, ..., renewing every `interval_ms`.
    pub fn quorum(n: usize, witnesses: usize, interval_ms: u64) -> Cluster {
        Cluster::new(
            (0..n)
                .map(|i| quorum_settings(i, n, witnesses, 200 - 10 * i as u8, interval_ms))
                .collect(),
        )
    }

    /// Nodes with priorities `prios`, `interval_ms` adverts.
    pub fn with_priorities(prios: &[u8], interval_ms: u64) -> Cluster {
        Cluster::new(
            prios
                .iter()
                .enumerate()
                .map(|(i, p)| settings(i, *p, interval_ms))
                .collect(),
        )
    }

    pub fn node(&self, i: usize) -> &Node {
        self.nodes[i].as_ref().expect("node is alive")
    }

    pub fn node_mut(&mut self, i: usize) -> &mut Node {
        self.nodes[i].as_mut().expect("node is alive")
    }

    /// Indices of the nodes that hold the VIP.
    pub fn holders(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].as_ref().is_some_and(|n| n.is_holder()))
            .collect()
    }

    /// Drains node `i`'s outputs into the log and onto the wire.
    pub fn drain(&mut self, i: usize) {
        let mut buf: FrameBuf = [0; vip_core::wire::MAX_FRAME_LEN];
        while let Some(out) = self.nodes[i].as_mut().and_then(|n| n.poll_output(&mut buf)) {
            let what = match out {
                Output::Event(e) => Logged::Event(e),
                Output::Transmit { len, kind } => {
                    let frame = buf[..len].to_vec();
                    self.send(i, frame.clone());
                    Logged::Frame(kind, frame)
                }
            };
            self.log.push(Entry {
                at: self.now,
                node: i,
                what,
            });
        }
    }

    /// Puts a frame on the segment from `from` (a node or [`Cluster::outside`]).
    pub fn send(&mut self, from: usize, frame: Vec<u8>) {
        if from < self.cut.len() && self.cut[from] {
            return;
        }
        self.seq += 1;
        self.in_flight.push(InFlight {
            at: self.now + self.delay,
            seq: self.seq,
            from,
            frame,
        });
    }

    fn next_event(&self) -> Option<Instant> {
        let frames = self.in_flight.iter().map(|f| f.at).min();
        let timers = self
            .nodes
            .iter()
            .flatten()
            .filter_map(|n| n.poll_timeout())
            .min();
        match (frames, timers) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Runs the earliest event if it is at or before `until`; false if none.
    pub fn step(&mut self, until: Instant) -> bool {
        let Some(at) = self.next_event() else {
            return false;
        };
        if at > until {
            return false;
        }
        self.now = self.now.max(at);
        // Frames first, in send order, then timers: (time, sequence) ties.
        if let Some(pos) = self
            .in_flight
            .iter()
            .enumerate()
            .filter(|(_, f)| f.at <= self.now)
            .min_by_key(|(_, f)| (f.at, f.seq))
            .map(|(p, _)| p)
        {
            let f = self.in_flight.remove(pos);
            self.serve(&f);
            for to in 0..self.nodes.len() {
                if to == f.from || self.cut[to] || self.nodes[to].is_none() {
                    continue;
                }
                let now = self.now;
                self.node_mut(to).handle_frame(now, &f.frame);
                self.drain(to);
            }
            return true;
        }
        for i in 0..self.nodes.len() {
            let now = self.now;
            let due = self.nodes[i]
                .as_ref()
                .and_then(|n| n.poll_timeout())
                .is_some_and(|t| t <= now);
            if due {
                self.node_mut(i).handle_timeout(now);
                self.drain(i);
            }
        }
        true
    }

    /// Lets the DHCP server answer a frame on the segment.
    fn serve(&mut self, f: &InFlight) {
        let Some(slot) = self
            .dhcp
            .as_mut()
            .filter(|s| s.up && f.from != SERVER_INDEX)
        else {
            return;
        };
        let mut buf = [0u8; vip_core::wire::MAX_FRAME_LEN];
        let Some(len) = slot.server.handle_frame(&f.frame, &mut buf) else {
            return;
        };
        if slot.unicast_lost && buf[0] & 1 == 0 {
            return;
        }
        self.send(SERVER_INDEX, buf[..len].to_vec());
    }

    /// Runs every event up to and including `until`, then sets the clock there.
    pub fn drive_until(&mut self, until: Instant) {
        let mut guard = 0u64;
        while self.step(until) {
            guard += 1;
            assert!(guard < 10_000_000, "drive_until did not settle");
        }
        self.now = self.now.max(until);
    }

    /// Runs for `d` of virtual time.
    pub fn drive_for(&mut self, d: Duration) {
        let until = self.now + d;
        self.drive_until(until);
    }

    /// Crashes node `i`: it vanishes without a word.
    pub fn crash(&mut self, i: usize) {
        self.nodes[i] = None;
    }

    /// Applies a command to node `i` and drains it.
    pub fn command(&mut self, i: usize, c: vip_core::Command) {
        let now = self.now;
        self.node_mut(i).command(now, c);
        self.drain(i);
    }

    /// Delivers a frame from outside to every live node now.
    pub fn inject(&mut self, frame: &[u8]) {
        for i in 0..self.nodes.len() {
            if self.nodes[i].is_some() && !self.cut[i] {
                let now = self.now;
                self.node_mut(i).handle_frame(now, frame);
                self.drain(i);
            }
        }
    }

    /// First time at or after `from` when node `i` logged `event`.
    pub fn first_event(&self, i: usize, from: Instant, event: Event) -> Option<Instant> {
        self.log
            .iter()
            .find(|e| {
                e.node == i && e.at >= from && matches!(&e.what, Logged::Event(x) if *x == event)
            })
            .map(|e| e.at)
    }

    /// Entries of node `i` from `from` on.
    pub fn entries(&self, i: usize, from: Instant) -> Vec<&Entry> {
        self.log
            .iter()
            .filter(|e| e.node == i && e.at >= from)
            .collect()
    }

    /// Frames node `i` sent of `kind` since `from`.
    pub fn sent(&self, i: usize, from: Instant, kind: FrameKind) -> Vec<Vec<u8>> {
        self.entries(i, from)
            .into_iter()
            .filter_map(|e| match &e.what {
                Logged::Frame(k, f) if *k == kind => Some(f.clone()),
                _ => None,
            })
            .collect()
    }
}
