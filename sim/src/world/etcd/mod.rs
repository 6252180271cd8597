//! The modelled etcd in the world: the service (a [`Store`] on its own
//! clock), each node's path to it, each node's adapter, and the faults
//! that act on them (docs/simulator.md, "The etcd election").
//!
//! A node's core raises requests; the host hands them to its adapter,
//! whose calls cross the node's path ([`path`]) to the service, which
//! answers at once (or, while it elects a leader, when it is done) and
//! sends every revision to every live watch. Answers and events cross the
//! path back to the adapter, whose reports go to the core one input each,
//! in order, drained after each as every input is. The adapter keeps the
//! node's clock, stops with the process (a paused or frozen daemon's
//! adapter does nothing, and a watch event that finds it so breaks its
//! watch), and outlives a clean stop by at most [`STOP_WITHIN`] to carry
//! its last requests (the revocation) out, as the daemon's does.

use std::collections::VecDeque;
use std::rc::Rc;

use vip_core::election::etcd::EtcdRequest;
use vip_core::rand::derive_seed;
use vip_core::{Duration, ElectionSettings, Instant};

use super::clock::Clock;
use super::queue::WorldEvent;
use super::World;
use crate::check::EtcdLog;
use crate::etcd::{
    Adapter, AdapterDefect, AdapterSettings, Call, Counters, Key, LeaseId, Record, Reply, Report,
    Revision, Store,
};
use crate::scenario::{Defect, EtcdSpec, Scenario};

mod check;
mod faults;
mod path;

use path::{Path, Way};

/// How long a stopping daemon's adapter may run its last requests (the
/// daemon's `ETCD_STOP_WITHIN`).
pub const STOP_WITHIN: Duration = Duration::from_secs(2);

/// A message on its way to etcd, with what it was sent on.
#[derive(Debug)]
pub(super) struct Up {
    id: u64,
    call: Call,
    incarnation: u32,
    cuts: u64,
    outages: u64,
}

/// A message on its way from etcd to a node.
#[derive(Debug)]
pub(super) struct Down {
    incarnation: u32,
    cuts: u64,
    outages: u64,
    what: DownWhat,
}

#[derive(Debug)]
enum DownWhat {
    Answer { id: u64, reply: Reply },
    Event { watch: u64, revision: Rc<Revision> },
}

/// A node's live watch, as etcd keeps it.
#[derive(Debug, Clone, Copy)]
struct Watcher {
    id: u64,
    incarnation: u32,
}

/// One node's side: its adapter, its path, its watch at etcd.
#[derive(Debug)]
struct EtcdNode {
    adapter: Option<Adapter>,
    path: Path,
    watcher: Option<Watcher>,
    /// The adapter's timer event queued, virtual time.
    armed: Option<Instant>,
    /// Its watch broke while the process was paused or frozen: told at wake.
    broken_asleep: bool,
    /// A stopping adapter's end (virtual time).
    stop_by: Option<Instant>,
    /// Reports waiting to be handed to the core, in order.
    inbox: VecDeque<Report>,
    feeding: bool,
    /// The lease of the report being handed to the core.
    report_lease: Option<LeaseId>,
    /// The reading the node's clock last stood still at (a VM freeze): a
    /// lease asked for before it was counted across the freeze.
    frozen_at: Option<Instant>,
}

/// The modelled etcd and every node's side of it.
#[derive(Debug)]
pub(super) struct EtcdSide {
    spec: EtcdSpec,
    store: Store,
    /// The etcd leader's clock.
    clock: Clock,
    down: bool,
    /// Outages so far: a message sent before one is lost with it.
    outages: u64,
    stall_until: Option<Instant>,
    /// Calls that arrived during a stall, in arrival order.
    held: Vec<(usize, Up)>,
    expiry_armed: Option<Instant>,
    nodes: Vec<EtcdNode>,
    /// The checker's records.
    pub(super) log: EtcdLog,
    /// Adapters' counts, of those gone.
    counters: Counters,
    /// Messages lost on the paths (loss, cuts, outages, a process asleep).
    pub(super) lost: u64,
    /// Revisions committed, and those that were a lease's expiry.
    pub(super) revisions: u64,
    pub(super) expiries: u64,
}

/// The figures the report takes from the etcd side.
#[derive(Debug, Clone, Copy)]
pub(super) struct EtcdTally {
    pub(super) counters: Counters,
    pub(super) lost: u64,
    pub(super) revisions: u64,
    pub(super) expiries: u64,
}

impl EtcdSide {
    /// The etcd side of `s`, if it runs the etcd election.
    pub(super) fn new(s: &Scenario) -> Option<Box<EtcdSide>> {
        let spec = s.etcd?;
        let nodes = (0..s.nodes.len())
            .map(|i| EtcdNode {
                adapter: None,
                path: Path::new(derive_seed(s.seed, 0x4_0000_0000 | i as u64)),
                watcher: None,
                armed: None,
                broken_asleep: false,
                stop_by: None,
                inbox: VecDeque::new(),
                feeding: false,
                report_lease: None,
                frozen_at: None,
            })
            .collect();
        Some(Box::new(EtcdSide {
            spec,
            store: Store::new(),
            clock: Clock::new(i64::from(spec.drift_ppm)),
            down: false,
            outages: 0,
            stall_until: None,
            held: Vec::new(),
            expiry_armed: None,
            nodes,
            log: EtcdLog::default(),
            counters: Counters::default(),
            lost: 0,
            revisions: 0,
            expiries: 0,
        }))
    }

    /// The counts so far, live adapters' included.
    pub(super) fn tally(&self) -> EtcdTally {
        let mut c = self.counters;
        for a in self.nodes.iter().filter_map(|n| n.adapter.as_ref()) {
            add(&mut c, a.counters());
        }
        EtcdTally {
            counters: c,
            lost: self.lost,
            revisions: self.revisions,
            expiries: self.expiries,
        }
    }

    /// True while etcd answers (up, not electing a leader).
    fn serving(&self) -> bool {
        !self.down && self.stall_until.is_none()
    }

    /// Drops node `i`'s adapter, keeping its counts.
    fn drop_adapter(&mut self, i: usize) {
        if let Some(a) = self.nodes[i].adapter.take() {
            add(&mut self.counters, a.counters());
        }
        let n = &mut self.nodes[i];
        n.armed = None;
        n.stop_by = None;
        n.inbox.clear();
        n.broken_asleep = false;
    }
}

fn add(total: &mut Counters, c: Counters) {
    total.calls += c.calls;
    total.keepalives += c.keepalives;
    total.retries += c.retries;
    total.watch_starts += c.watch_starts;
}

/// A revision in a trace line: `5: n0 put (created 2, lease 3), move deleted`.
fn describe(r: &Revision) -> String {
    let changes: Vec<String> = r
        .changes
        .iter()
        .map(|c| {
            let key = match c.key {
                Key::Election(i) => format!("n{i}"),
                Key::Move => "move".to_string(),
            };
            match c.entry {
                Some(e) => format!("{key} put (created {}, lease {})", e.create, e.lease),
                None => format!("{key} deleted"),
            }
        })
        .collect();
    format!("{}: {}", r.revision, changes.join(", "))
}

/// The trace hash's code of a call (keep them stable).
fn call_code(call: &Call) -> u64 {
    match call {
        Call::Grant { .. } => 1,
        Call::KeepAlive { .. } => 2,
        Call::Campaign { .. } => 3,
        Call::Resign => 4,
        Call::Revoke { .. } => 5,
        Call::Move { .. } => 6,
        Call::ClearMove { .. } => 7,
        Call::Publish { .. } => 9,
        Call::Read => 8,
    }
}

impl World {
    /// Node `i` boots: a new adapter, which starts its watch.
    pub(super) fn etcd_boot(&mut self, i: usize) {
        let now = self.now;
        let spec = &self.scenario.nodes[i];
        let ElectionSettings::Etcd(settings) = spec.config.election() else {
            return;
        };
        let Some(e) = self.etcd.as_deref_mut() else {
            return;
        };
        let settings = AdapterSettings {
            record: Record {
                node: i,
                address: spec.config.address(),
                hwaddr: spec.config.vip_mac(),
                priority: settings.priority,
                vip: spec.config.static_vip(),
            },
            ttl: settings.lease_ttl,
            timeout: settings.lease_ttl.div(2),
            defect: match spec.defect {
                Some(Defect::KeepaliveBeforeAsked) => Some(AdapterDefect::KeepaliveBeforeAsked),
                Some(Defect::ResignedWhenSent) => Some(AdapterDefect::ResignedWhenSent),
                _ => None,
            },
        };
        e.drop_adapter(i);
        e.nodes[i].watcher = None;
        let node = &self.nodes[i];
        let first_id = u64::from(node.incarnation) << 40 | (i as u64) << 48;
        let local = node.clock.local(now);
        e.nodes[i].adapter = Some(Adapter::new(settings, first_id, local));
        self.etcd_turn(i, Vec::new());
    }

    /// Node `i`'s process is gone (crash, restart): its adapter with it.
    pub(super) fn etcd_gone(&mut self, i: usize) {
        if let Some(e) = self.etcd.as_deref_mut() {
            e.drop_adapter(i);
            e.nodes[i].watcher = None;
        }
    }

    /// Node `i` stopped cleanly: its adapter runs its queue out (the
    /// revocation last) for at most [`STOP_WITHIN`], reporting to nobody.
    pub(super) fn etcd_stopping(&mut self, i: usize) {
        let now = self.now;
        let local = self.nodes[i].clock.local(now);
        let by = self.nodes[i]
            .clock
            .virtual_of(local + STOP_WITHIN)
            .unwrap_or(now + STOP_WITHIN);
        let Some(e) = self.etcd.as_deref_mut() else {
            return;
        };
        let n = &mut e.nodes[i];
        n.watcher = None;
        n.inbox.clear();
        let Some(a) = n.adapter.as_mut() else {
            return;
        };
        a.stop();
        n.stop_by = Some(by);
        self.etcd_turn(i, Vec::new());
    }

    /// Node `i` runs again after a pause or a freeze: a watch that broke
    /// meanwhile is noticed now, and the adapter's late deadlines run.
    pub(super) fn etcd_wake(&mut self, i: usize) {
        let local = self.nodes[i].clock.local(self.now);
        let Some(e) = self.etcd.as_deref_mut() else {
            return;
        };
        let n = &mut e.nodes[i];
        let Some(a) = n.adapter.as_mut() else {
            return;
        };
        if std::mem::take(&mut n.broken_asleep) {
            a.connection_broken(local);
        }
        a.handle_timeout(local);
        self.etcd_turn(i, Vec::new());
    }

    /// Node `i`'s core raised `requests` (in order) during an input.
    pub(super) fn etcd_requests(&mut self, i: usize, requests: Vec<EtcdRequest>) {
        if let Some(e) = self.etcd.as_deref_mut() {
            for r in &requests {
                if matches!(r, EtcdRequest::Move(_)) {
                    e.log.ordered.push((self.now, i));
                }
            }
            self.etcd_turn(i, requests);
        }
    }

    /// Hands `requests` to node `i`'s adapter, sends its calls, queues its
    /// reports for the core (or drops them, the core being gone), re-arms
    /// its timer, and hands the reports over in order.
    fn etcd_turn(&mut self, i: usize, requests: Vec<EtcdRequest>) {
        let now = self.now;
        let local = self.nodes[i].clock.local(now);
        let incarnation = self.nodes[i].incarnation;
        let awake = self.nodes[i].awake();
        let Some(e) = self.etcd.as_deref_mut() else {
            return;
        };
        let n = &mut e.nodes[i];
        let Some(a) = n.adapter.as_mut() else {
            return;
        };
        for r in requests {
            a.request(local, r);
        }
        let calls: Vec<(u64, Call)> = std::iter::from_fn(|| a.poll_call()).collect();
        let reports = a.take_reports();
        let stopping = n.stop_by.is_some();
        if stopping && a.is_done() {
            e.drop_adapter(i);
        } else if awake && !stopping {
            n.inbox.extend(reports);
        }
        for (id, call) in calls {
            self.etcd_send_up(i, id, call, incarnation);
        }
        self.etcd_arm(i);
        self.etcd_feed(i);
    }

    /// Hands node `i`'s queued reports to its core, one input each (the
    /// outermost turn does it, so they keep their order).
    fn etcd_feed(&mut self, i: usize) {
        let Some(e) = self.etcd.as_deref_mut() else {
            return;
        };
        if std::mem::replace(&mut e.nodes[i].feeding, true) {
            return;
        }
        loop {
            let Some(e) = self.etcd.as_deref_mut() else {
                return;
            };
            let Some(report) = e.nodes[i].inbox.pop_front() else {
                break;
            };
            e.nodes[i].report_lease = report.lease;
            let input = report.input;
            self.hash.word(self.now.total_micros());
            self.hash.word(0x45 << 32 | i as u64);
            self.note(format_args!("n{i} etcd says {input:?}"));
            self.node_input(i, |core, local| core.handle_etcd(local, input));
        }
        if let Some(e) = self.etcd.as_deref_mut() {
            e.nodes[i].feeding = false;
            e.nodes[i].report_lease = None;
        }
    }

    /// Queues node `i`'s adapter timer for its deadline (or a stopping
    /// adapter's end), unless one as early is queued.
    fn etcd_arm(&mut self, i: usize) {
        let now = self.now;
        let awake = self.nodes[i].awake();
        let clock = self.nodes[i].clock;
        let incarnation = self.nodes[i].incarnation;
        let Some(e) = self.etcd.as_deref_mut() else {
            return;
        };
        let n = &mut e.nodes[i];
        let Some(a) = n.adapter.as_ref() else {
            return;
        };
        if !awake && n.stop_by.is_none() {
            return;
        }
        let deadline = a.poll_timeout().and_then(|d| clock.virtual_of(d));
        let Some(mut at) = vip_core::time::soonest([deadline, n.stop_by]) else {
            return;
        };
        if at <= now {
            at = now + Duration::from_micros(1);
        }
        if n.armed.is_none_or(|a| at < a) {
            n.armed = Some(at);
            self.push(at, WorldEvent::EtcdTimer(i, incarnation));
        }
    }

    /// Node `i`'s adapter timer from incarnation `incarnation`.
    pub(super) fn etcd_timer(&mut self, i: usize, incarnation: u32) {
        let now = self.now;
        let awake = self.nodes[i].awake();
        let local = self.nodes[i].clock.local(now);
        if self.nodes[i].incarnation != incarnation {
            return;
        }
        let Some(e) = self.etcd.as_deref_mut() else {
            return;
        };
        let n = &mut e.nodes[i];
        if n.armed != Some(now) {
            return;
        }
        n.armed = None;
        if n.stop_by.is_some_and(|by| now >= by) {
            e.drop_adapter(i);
            return;
        }
        let Some(a) = n.adapter.as_mut() else {
            return;
        };
        if !awake && n.stop_by.is_none() {
            return;
        }
        self.hash.word(now.total_micros());
        self.hash.word(0x44 << 32 | i as u64);
        a.handle_timeout(local);
        self.etcd_turn(i, Vec::new());
    }

    fn etcd_send_up(&mut self, i: usize, id: u64, call: Call, incarnation: u32) {
        let now = self.now;
        self.hash.word(now.total_micros());
        self.hash
            .word(0x40 << 32 | (i as u64) << 8 | call_code(&call));
        self.hash.word(id);
        self.note(format_args!("n{i} etcd {} #{id:x}", call.word()));
        let Some(e) = self.etcd.as_deref_mut() else {
            return;
        };
        let spec = e.spec;
        let up = Up {
            id,
            call,
            incarnation,
            cuts: e.nodes[i].path.cuts,
            outages: e.outages,
        };
        match e.nodes[i].path.transit(&spec, Way::Up, false, now) {
            Some(at) => self.push(at, WorldEvent::AtEtcd(i, Box::new(up))),
            None => e.lost += 1,
        }
    }

    fn etcd_send_down(&mut self, i: usize, incarnation: u32, what: DownWhat) {
        let now = self.now;
        let Some(e) = self.etcd.as_deref_mut() else {
            return;
        };
        let spec = e.spec;
        let stream = matches!(what, DownWhat::Event { .. });
        let down = Down {
            incarnation,
            cuts: e.nodes[i].path.cuts,
            outages: e.outages,
            what,
        };
        match e.nodes[i].path.transit(&spec, Way::Down, stream, now) {
            Some(at) => self.push(at, WorldEvent::FromEtcd(i, Box::new(down))),
            None => e.lost += 1,
        }
    }

    /// A call from node `i` reaches etcd.
    pub(super) fn at_etcd(&mut self, i: usize, up: Up) {
        self.hash.word(self.now.total_micros());
        self.hash.word(0x41 << 32 | i as u64);
        self.hash.word(up.id);
        let Some(e) = self.etcd.as_deref_mut() else {
            return;
        };
        let path = &e.nodes[i].path;
        if path.cut || path.cuts != up.cuts || e.down || e.outages != up.outages {
            e.lost += 1;
            return;
        }
        if e.stall_until.is_some() {
            e.held.push((i, up));
            return;
        }
        self.etcd_process(i, up);
    }

    /// etcd carries out a call from node `i` and answers it.
    fn etcd_process(&mut self, i: usize, up: Up) {
        let now = self.now;
        let current = self.nodes[i].incarnation == up.incarnation;
        let Some(e) = self.etcd.as_deref_mut() else {
            return;
        };
        let local = e.clock.local(now);
        let mut revisions = Vec::new();
        let reply = match up.call {
            Call::Grant { ttl } => Reply::Granted {
                lease: e.store.grant(ttl, local),
                ttl,
            },
            Call::KeepAlive { lease } => Reply::KeptAlive {
                ttl: e.store.keep_alive(lease, local).unwrap_or(Duration::ZERO),
            },
            Call::Campaign { lease, record } => match e.store.campaign(i, lease, record) {
                Ok(r) => {
                    revisions.extend(r);
                    Reply::Done {
                        revision: e.store.revision(),
                    }
                }
                Err(_) => Reply::LeaseNotFound,
            },
            Call::Resign => {
                revisions.extend(e.store.delete(Key::Election(i)));
                Reply::Done {
                    revision: e.store.revision(),
                }
            }
            Call::Revoke { lease } => {
                revisions.extend(e.store.revoke(lease));
                Reply::Done {
                    revision: e.store.revision(),
                }
            }
            Call::Move { order, ttl } => {
                revisions.push(e.store.put_order(order, ttl, local));
                Reply::Done {
                    revision: e.store.revision(),
                }
            }
            Call::Publish { lease, record } => {
                revisions.extend(e.store.republish(i, lease, record));
                Reply::Done {
                    revision: e.store.revision(),
                }
            }
            Call::ClearMove { revision } => {
                revisions.extend(e.store.clear_order(revision));
                Reply::Done {
                    revision: e.store.revision(),
                }
            }
            Call::Read => {
                // A read from a process that is gone starts no watch.
                if current {
                    e.nodes[i].watcher = Some(Watcher {
                        id: up.id,
                        incarnation: up.incarnation,
                    });
                }
                Reply::Snapshot {
                    watch: up.id,
                    snapshot: e.store.snapshot(),
                }
            }
        };
        let answer = DownWhat::Answer { id: up.id, reply };
        self.etcd_send_down(i, up.incarnation, answer);
        for r in revisions {
            self.etcd_commit(r, false);
        }
    }

    /// A revision is committed: every live watch gets it, in order.
    fn etcd_commit(&mut self, revision: Revision, expiry: bool) {
        self.hash.word(self.now.total_micros());
        self.hash.word(0x42 << 32 | revision.revision);
        if self.rec.trace.is_some() {
            self.note(format_args!("etcd revision {}", describe(&revision)));
        }
        let Some(e) = self.etcd.as_deref_mut() else {
            return;
        };
        e.revisions += 1;
        e.expiries += u64::from(expiry);
        let watchers: Vec<(usize, Watcher)> = e
            .nodes
            .iter()
            .enumerate()
            .filter_map(|(j, n)| n.watcher.map(|w| (j, w)))
            .collect();
        let revision = Rc::new(revision);
        for (j, w) in watchers {
            let event = DownWhat::Event {
                watch: w.id,
                revision: Rc::clone(&revision),
            };
            self.etcd_send_down(j, w.incarnation, event);
        }
        self.etcd_arm_expiry();
        self.picture_dirty = true;
    }

    /// Queues the lessor's next check, unless one as early is queued.
    fn etcd_arm_expiry(&mut self) {
        let Some(e) = self.etcd.as_deref_mut() else {
            return;
        };
        let Some(at) = e.store.next_expiry().and_then(|t| e.clock.virtual_of(t)) else {
            return;
        };
        let at = at.max(self.now);
        if e.expiry_armed.is_none_or(|a| at < a) {
            e.expiry_armed = Some(at);
            self.push(at, WorldEvent::EtcdExpiry);
        }
    }

    /// The lessor's check: expired leases go, with their keys.
    pub(super) fn etcd_expiry(&mut self) {
        let now = self.now;
        let Some(e) = self.etcd.as_deref_mut() else {
            return;
        };
        if e.expiry_armed != Some(now) {
            return;
        }
        e.expiry_armed = None;
        if !e.serving() {
            // Leases are given a whole TTL when etcd serves again.
            return;
        }
        let local = e.clock.local(now);
        for r in e.store.expire(local) {
            self.etcd_commit(r, true);
        }
        self.etcd_arm_expiry();
    }

    /// A message from etcd reaches node `i`.
    pub(super) fn etcd_delivered(&mut self, i: usize, down: Down) {
        let now = self.now;
        self.hash.word(now.total_micros());
        self.hash.word(0x43 << 32 | i as u64);
        let node = &self.nodes[i];
        let (awake, running) = (node.awake(), node.run != super::host::Run::Down);
        let local = node.clock.local(now);
        let current = node.incarnation == down.incarnation;
        let Some(e) = self.etcd.as_deref_mut() else {
            return;
        };
        let outages = e.outages;
        let n = &mut e.nodes[i];
        let path_broke = n.path.cut || n.path.cuts != down.cuts || outages != down.outages;
        let Some(a) = n.adapter.as_mut().filter(|_| current && !path_broke) else {
            e.lost += 1;
            return;
        };
        let stopping = n.stop_by.is_some();
        if !awake && !stopping {
            // A process asleep reads nothing; its watch's connection goes.
            e.lost += 1;
            let ours = matches!(&down.what, DownWhat::Event { watch, .. }
                if n.watcher.is_some_and(|w| w.id == *watch));
            if ours && running {
                n.watcher = None;
                n.broken_asleep = true;
            }
            return;
        }
        match &down.what {
            DownWhat::Answer { id, reply } => a.answer(local, *id, reply),
            DownWhat::Event { watch, revision } => a.event(*watch, revision),
        }
        self.etcd_turn(i, Vec::new());
    }

    /// Node `i`'s watch is gone at etcd: its adapter notices in time, or
    /// when it wakes.
    fn etcd_break(&mut self, i: usize) {
        let awake = self.nodes[i].awake();
        let running = self.nodes[i].run != super::host::Run::Down;
        let local = self.nodes[i].clock.local(self.now);
        let Some(e) = self.etcd.as_deref_mut() else {
            return;
        };
        let n = &mut e.nodes[i];
        n.watcher = None;
        let Some(a) = n.adapter.as_mut() else {
            return;
        };
        if awake {
            a.connection_broken(local);
            self.etcd_turn(i, Vec::new());
        } else if running {
            n.broken_asleep = true;
        }
    }
}
