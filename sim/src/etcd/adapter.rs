//! One node's simulated etcd adapter: the core's [`EtcdRequest`]s out as
//! [`Call`]s, etcd's [`Reply`]s and watch events back as [`EtcdInput`]s,
//! under the contract of docs/architecture.md ("The etcd adapter"), in the
//! shape of the daemon's adapter (`host-agent/src/etcd/`):
//!
//! * `KeepAlive { seq }` is a call sent when the core asks, never before,
//!   and never behind another request: with no lease a grant (none while
//!   one is in flight: that keep-alive goes unanswered), else a keep-alive
//!   on the lease. Its answer is reported as `KeptAlive { seq, ttl }`, a
//!   zero TTL as `LeaseLost` (the lease forgotten); no answer, no report.
//! * The other requests run one at a time, in order: `Campaign` waits for
//!   a lease; a call unanswered within [`AdapterSettings::timeout`] or
//!   refused is tried again after a pause (50 ms, doubled up to 1 s).
//!   `Resign` done (its answer in) is reported as `Resigned { revision }`,
//!   etcd's revision after the deletion: one per resignation, in order,
//!   after every watch report that came in before the answer.
//! * One watch: a read of every key, then each revision after it, in
//!   order; the view (`etcd::view`) says what changed. A connection
//!   that breaks is noticed [`DEAD_AFTER`] later (the daemon's gRPC
//!   keep-alive pings), and the watch starts again after a pause.
//!
//! Every time is the node's clock (the daemon's timers); the world maps
//! them to virtual time. A [`AdapterDefect`] breaks the contract on
//! purpose, to show the checker catches it.

use std::collections::VecDeque;

use vip_core::election::etcd::{EtcdInput, EtcdRequest};
use vip_core::{Duration, Instant};

use super::store::{LeaseId, Record, Revision};
use super::view::View;
use super::{Call, Reply, ORDER_TTL};

/// The first pause after a failed request (the daemon's `RETRY_FIRST`).
pub const RETRY_FIRST: Duration = Duration::from_millis(50);
/// The longest pause between two tries of one request (`RETRY_MAX`).
pub const RETRY_MAX: Duration = Duration::from_secs(1);
/// The pause before a watch is started again (the daemon's `RETRY_FIRST × 4`).
pub const WATCH_RETRY: Duration = Duration::from_millis(200);
/// How long a broken connection goes unnoticed: the daemon's gRPC
/// keep-alive ping every 1 s, given up after 1 s.
pub const DEAD_AFTER: Duration = Duration::from_secs(2);
/// Keep-alives remembered unanswered (the daemon's `UNANSWERED_MAX`).
const UNANSWERED_MAX: usize = 16;

/// A contract broken on purpose (a scenario's `defect`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdapterDefect {
    /// Keeps the lease alive on its own, every TTL/3 (etcd clientv3's
    /// `KeepAlive` helper does), and answers each keep-alive the core asks
    /// at once with the newest answer it has: the core counts its lease
    /// from its asking, later than etcd's processing.
    KeepaliveBeforeAsked,
    /// Reports `Resigned` as soon as it sends the deletion (its first
    /// try), with the newest revision its watch has shown, rather than
    /// when etcd has done it, with etcd's revision after it (a delete
    /// fired and not waited for).
    ResignedWhenSent,
}

/// What one node's adapter is configured with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdapterSettings {
    /// The node's election key's value (its name is `n<record.node>`).
    pub record: Record,
    /// The TTL it asks for its lease (`etcd.lease_ttl`).
    pub ttl: Duration,
    /// How long a request waits for its answer (the daemon's client:
    /// half the TTL).
    pub timeout: Duration,
    /// A defect, if any.
    pub defect: Option<AdapterDefect>,
}

/// One report for the core, with the lease the adapter held when it made
/// it (the world checks each lease extension against that lease at etcd).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    /// What the core is told.
    pub input: EtcdInput,
    /// The adapter's lease then.
    pub lease: Option<LeaseId>,
}

/// What the adapter did, for the report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Calls sent (keep-alives and grants included).
    pub calls: u64,
    /// Keep-alives and grants sent.
    pub keepalives: u64,
    /// Requests tried again after a failure.
    pub retries: u64,
    /// Watches started (the first one included).
    pub watch_starts: u64,
}

/// The watch's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Watch {
    /// The read that starts it is out.
    Reading { id: u64, deadline: Instant },
    /// Waiting to read again.
    Resting { until: Instant },
    /// Events of watch `id` come in.
    Live { id: u64 },
    /// Its connection broke; the adapter notices at `at`.
    Broken { at: Instant },
    /// No watch: the core is gone.
    Off,
}

/// One node's adapter.
#[derive(Debug, Clone)]
pub struct Adapter {
    s: AdapterSettings,
    next_id: u64,
    lease: Option<LeaseId>,
    /// A grant in flight: its call, the keep-alive it answers, its deadline.
    granting: Option<(u64, u32, Instant)>,
    /// Keep-alives sent and unanswered: call, the keep-alive asked (`None`:
    /// one nobody asked for), lease.
    sent: VecDeque<(u64, Option<u32>, LeaseId)>,
    /// The other requests, in order; the first is in flight or resting.
    queue: VecDeque<EtcdRequest>,
    doing: Option<(u64, Instant)>,
    retry_at: Option<Instant>,
    retry_pause: Duration,
    watch: Watch,
    view: View,
    /// The core is gone (a clean stop): only the queue runs on.
    stopping: bool,
    /// `KeepaliveBeforeAsked`: its own next keep-alive, and the newest
    /// answer not yet handed out.
    own_at: Option<Instant>,
    fresh: Option<Duration>,
    /// `ResignedWhenSent`: the resignation at the queue's head is reported
    /// already, and the newest revision the watch has shown.
    told: bool,
    watched: u64,
    calls: VecDeque<(u64, Call)>,
    reports: Vec<Report>,
    /// The view's sayings, before they become reports.
    said: Vec<EtcdInput>,
    counters: Counters,
}

impl Adapter {
    /// An adapter started at `now` whose call ids begin at `first_id`; it
    /// starts its watch at once.
    pub fn new(s: AdapterSettings, first_id: u64, now: Instant) -> Adapter {
        let mut a = Adapter {
            s,
            next_id: first_id,
            lease: None,
            granting: None,
            sent: VecDeque::new(),
            queue: VecDeque::new(),
            doing: None,
            retry_at: None,
            retry_pause: RETRY_FIRST,
            watch: Watch::Resting { until: now },
            view: View::new(s.record.node),
            stopping: false,
            own_at: None,
            fresh: None,
            told: false,
            watched: 0,
            calls: VecDeque::new(),
            reports: Vec::new(),
            said: Vec::new(),
            counters: Counters::default(),
        };
        a.read(now);
        a
    }

    // ---- getters ----

    /// The lease it keeps, if any.
    pub fn lease(&self) -> Option<LeaseId> {
        self.lease
    }

    /// True once a stopping adapter has nothing left to do.
    pub fn is_done(&self) -> bool {
        self.stopping && self.queue.is_empty()
    }

    /// What it did so far.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// The next deadline, on the node's clock.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let watch = match self.watch {
            Watch::Reading { deadline, .. } => Some(deadline),
            Watch::Resting { until } => Some(until),
            Watch::Broken { at } => Some(at),
            Watch::Live { .. } | Watch::Off => None,
        };
        vip_core::time::soonest([
            self.granting.map(|g| g.2),
            self.doing.map(|d| d.1),
            self.retry_at,
            watch,
            self.own_at,
        ])
    }

    // ---- inputs ----

    /// The core raised `r` at `now`.
    pub fn request(&mut self, now: Instant, r: EtcdRequest) {
        match r {
            EtcdRequest::KeepAlive { seq } => self.keep_alive(now, seq),
            r => {
                self.queue.push_back(r);
                self.start_next(now);
            }
        }
    }

    /// etcd answered call `id`.
    pub fn answer(&mut self, now: Instant, id: u64, reply: &Reply) {
        match reply {
            Reply::Granted { lease, ttl } => self.granted(now, id, *lease, *ttl),
            Reply::KeptAlive { ttl } => self.kept_alive(id, *ttl),
            Reply::Done { revision } => self.done(now, id, Some(*revision)),
            Reply::LeaseNotFound => self.done(now, id, None),
            Reply::Snapshot { watch, snapshot } => {
                if matches!(self.watch, Watch::Reading { id: r, .. } if r == id) {
                    self.watch = Watch::Live { id: *watch };
                    self.watched = self.watched.max(snapshot.revision);
                    self.view.reset(&snapshot.keys, &mut self.said);
                    self.say();
                }
            }
        }
    }

    /// A revision from watch `watch`.
    pub fn event(&mut self, watch: u64, revision: &Revision) {
        if self.watch == (Watch::Live { id: watch }) {
            self.watched = self.watched.max(revision.revision);
            self.view.change(revision, &mut self.said);
            self.say();
        }
    }

    /// The connection under the watch broke at `now`: noticed
    /// [`DEAD_AFTER`] later.
    pub fn connection_broken(&mut self, now: Instant) {
        if matches!(self.watch, Watch::Live { .. } | Watch::Reading { .. }) {
            self.watch = Watch::Broken {
                at: now + DEAD_AFTER,
            };
        }
    }

    /// Runs the deadlines due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.granting.is_some_and(|g| now >= g.2) {
            // Failed: the next keep-alive the core asks grants again.
            self.granting = None;
        }
        if self.doing.is_some_and(|d| now >= d.1) {
            self.doing = None;
            self.failed(now);
        }
        if self.retry_at.is_some_and(|at| now >= at) {
            self.retry_at = None;
            self.counters.retries += 1;
            self.start_next(now);
        }
        match self.watch {
            Watch::Reading { deadline, .. } if now >= deadline => self.rest(now),
            Watch::Broken { at } if now >= at => self.rest(now),
            Watch::Resting { until } if now >= until => self.read(now),
            _ => {}
        }
        if let (Some(at), Some(lease)) = (self.own_at, self.lease) {
            if now >= at {
                self.own_at = Some(now + self.s.ttl.div(3));
                let id = self.call(Call::KeepAlive { lease });
                self.sent.push_back((id, None, lease));
            }
        }
    }

    // ---- commands ----

    /// The core is gone (a clean stop): no more keep-alives; the queue
    /// (its revocation last) runs on until done.
    pub fn stop(&mut self) {
        self.stopping = true;
        self.granting = None;
        self.own_at = None;
        self.watch = Watch::Off;
    }

    // ---- outputs ----

    /// The next call to send up the path, with its id.
    pub fn poll_call(&mut self) -> Option<(u64, Call)> {
        self.calls.pop_front()
    }

    /// The reports for the core, in order (drained all at once).
    pub fn take_reports(&mut self) -> Vec<Report> {
        std::mem::take(&mut self.reports)
    }

    // ---- keep-alives ----

    fn keep_alive(&mut self, now: Instant, seq: u32) {
        let Some(lease) = self.lease else {
            if self.granting.is_none() {
                let id = self.call(Call::Grant { ttl: self.s.ttl });
                self.granting = Some((id, seq, now + self.s.timeout));
            }
            // A grant is in flight: this keep-alive goes unanswered.
            return;
        };
        if self.s.defect == Some(AdapterDefect::KeepaliveBeforeAsked) {
            if let Some(ttl) = self.fresh.take() {
                self.report(EtcdInput::KeptAlive { seq, ttl });
            }
            return;
        }
        let id = self.call(Call::KeepAlive { lease });
        self.sent.push_back((id, Some(seq), lease));
        if self.sent.len() > UNANSWERED_MAX {
            self.sent.pop_front();
        }
    }

    fn granted(&mut self, now: Instant, id: u64, lease: LeaseId, ttl: Duration) {
        let Some((_, seq, _)) = self.granting.filter(|g| g.0 == id) else {
            // A grant given up on: its lease ends by itself.
            return;
        };
        self.granting = None;
        self.lease = Some(lease);
        self.report(EtcdInput::KeptAlive { seq, ttl });
        self.view.set_lease(self.lease, &mut self.said);
        self.say();
        if self.s.defect == Some(AdapterDefect::KeepaliveBeforeAsked) {
            self.own_at = Some(now + self.s.ttl.div(3));
        }
        self.start_next(now);
    }

    fn kept_alive(&mut self, id: u64, ttl: Duration) {
        let Some(k) = self.sent.iter().position(|s| s.0 == id) else {
            return;
        };
        let (_, seq, lease) = self.sent[k];
        self.sent.remove(k);
        if Some(lease) != self.lease {
            return;
        }
        if ttl == Duration::ZERO {
            self.lose_lease();
            self.report(EtcdInput::LeaseLost);
            return;
        }
        match seq {
            Some(seq) => self.report(EtcdInput::KeptAlive { seq, ttl }),
            None => self.fresh = Some(ttl),
        }
    }

    fn lose_lease(&mut self) {
        self.lease = None;
        self.sent.clear();
        self.own_at = None;
        self.fresh = None;
        self.view.set_lease(None, &mut self.said);
        self.say();
    }

    fn report(&mut self, input: EtcdInput) {
        self.reports.push(Report {
            input,
            lease: self.lease,
        });
    }

    /// The view's sayings become reports.
    fn say(&mut self) {
        let said = std::mem::take(&mut self.said);
        for input in &said {
            self.report(*input);
        }
        self.said = said;
        self.said.clear();
    }

    // ---- the other requests, one at a time ----

    /// Sends the first queued request if none is in flight or resting.
    fn start_next(&mut self, now: Instant) {
        while self.doing.is_none() && self.retry_at.is_none() {
            let Some(&request) = self.queue.front() else {
                return;
            };
            let call = match request {
                // Never queued.
                EtcdRequest::KeepAlive { .. } => None,
                EtcdRequest::Campaign => match self.lease {
                    // It waits for the lease the core asked for first.
                    None => return,
                    Some(lease) => Some(Call::Campaign {
                        lease,
                        record: self.s.record,
                    }),
                },
                EtcdRequest::Resign => Some(Call::Resign),
                EtcdRequest::Revoke => self.lease.map(|lease| Call::Revoke { lease }),
                EtcdRequest::Move(order) => Some(Call::Move {
                    order,
                    ttl: ORDER_TTL,
                }),
                EtcdRequest::ClearMove { revision } => Some(Call::ClearMove { revision }),
                EtcdRequest::Publish { vip } => {
                    // Later campaigns put the record as it is now.
                    self.s.record.vip = vip;
                    self.lease.map(|lease| Call::Publish {
                        lease,
                        record: self.s.record,
                    })
                }
            };
            match call {
                Some(call) => {
                    let id = self.call(call);
                    self.doing = Some((id, now + self.s.timeout));
                    let early = self.s.defect == Some(AdapterDefect::ResignedWhenSent);
                    if call == Call::Resign && early && !self.told {
                        self.told = true;
                        self.report(EtcdInput::Resigned {
                            revision: self.watched,
                        });
                    }
                }
                // Nothing to send (no lease to revoke): done.
                None => {
                    self.queue.pop_front();
                }
            }
        }
    }

    /// Call `id` answered: done at `revision`, or refused (`None`).
    fn done(&mut self, now: Instant, id: u64, revision: Option<u64>) {
        if self.doing.is_none_or(|d| d.0 != id) {
            return;
        }
        self.doing = None;
        let Some(revision) = revision else {
            return self.failed(now);
        };
        let request = self.queue.pop_front();
        self.retry_pause = RETRY_FIRST;
        // A resignation told already (`ResignedWhenSent`) is not told again.
        let told = request == Some(EtcdRequest::Resign) && std::mem::take(&mut self.told);
        match request {
            Some(EtcdRequest::Revoke) => self.lose_lease(),
            // Deleted, or absent: either way gone as of `revision`, the
            // store's after the call (a retry after a lost answer finds
            // the key gone and answers with the revision then).
            Some(EtcdRequest::Resign) if !told => {
                self.report(EtcdInput::Resigned { revision });
            }
            _ => {}
        }
        self.start_next(now);
    }

    fn failed(&mut self, now: Instant) {
        self.retry_at = Some(now + self.retry_pause);
        self.retry_pause = self.retry_pause.saturating_mul(2).min(RETRY_MAX);
    }

    // ---- the watch ----

    fn read(&mut self, now: Instant) {
        let id = self.call(Call::Read);
        self.counters.watch_starts += 1;
        self.watch = Watch::Reading {
            id,
            deadline: now + self.s.timeout,
        };
    }

    fn rest(&mut self, now: Instant) {
        self.watch = Watch::Resting {
            until: now + WATCH_RETRY,
        };
    }

    fn call(&mut self, call: Call) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.counters.calls += 1;
        if matches!(call, Call::KeepAlive { .. } | Call::Grant { .. }) {
            self.counters.keepalives += 1;
        }
        self.calls.push_back((id, call));
        id
    }
}

#[cfg(test)]
mod tests;
