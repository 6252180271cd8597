//! Timeline tests of the etcd fencing rule: the node against a model of
//! etcd's lessor (which counts a TTL from when it processes a keep-alive,
//! on its own clock).

extern crate std;
use std::vec::Vec;

use super::*;
use crate::output::{Queued, Vip};

const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 100);
const ME: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 11);
const OTHER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 12);
const THIRD: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 13);
const MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 1]);
const TTL: Duration = Duration::from_secs(2);

fn settings(drift_ppm: u32) -> EtcdSettings {
    EtcdSettings {
        priority: 100,
        lease_ttl: TTL,
        max_drift_ppm: drift_ppm,
        fence_margin: Duration::from_millis(1),
    }
}

fn members() -> Members {
    [("a", ME), ("b", OTHER), ("c", THIRD)]
        .into_iter()
        .map(|(name, address)| crate::config::Member {
            name: crate::config::Name::new(name).unwrap(),
            address,
            witness: false,
        })
        .collect()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn at(n: u64) -> Instant {
    Instant::ZERO + ms(n)
}

fn record(me: bool, term: u64) -> LeaderRecord {
    LeaderRecord {
        me,
        address: if me { ME } else { OTHER },
        hwaddr: MAC,
        term,
        priority: 100,
        vip: Some(VIP),
    }
}

struct Bench {
    etcd: Etcd,
    out: Outbox,
    events: Vec<Event>,
    requests: Vec<EtcdRequest>,
    /// When the last `ReleaseVip` came out.
    released: Option<Instant>,
}

impl Bench {
    fn new(drift_ppm: u32) -> Bench {
        Bench {
            etcd: Etcd::new(settings(drift_ppm), ME, &members()),
            out: Outbox::new(Some(Vip::host(VIP))),
            events: Vec::new(),
            requests: Vec::new(),
            released: None,
        }
    }

    fn drain_at(&mut self, now: Instant) {
        while let Some(q) = self.out.pop() {
            if let Queued::Event(e) = q {
                if matches!(e, Event::ReleaseVip(_)) {
                    self.released = Some(now);
                }
                self.events.push(e);
            }
        }
        while let Some(r) = self.etcd.poll_request() {
            self.requests.push(r);
        }
    }

    fn start(&mut self, now: Instant) {
        self.etcd.startup(now, &mut self.out);
        self.drain_at(now);
    }

    fn input(&mut self, now: Instant, i: EtcdInput) {
        self.etcd.handle_input(now, i, &mut self.out);
        self.drain_at(now);
    }

    fn timeout(&mut self, now: Instant) {
        self.etcd.handle_timeout(now, &mut self.out);
        self.drain_at(now);
    }

    /// Runs every timer up to `until`; returns the keep-alives asked, with
    /// when.
    fn run_to(&mut self, until: Instant) -> Vec<(u32, Instant)> {
        let mut asked = Vec::new();
        while let Some(t) = self.etcd.poll_timeout().filter(|&t| t <= until) {
            let before = self.requests.len();
            self.timeout(t);
            for r in &self.requests[before..] {
                if let EtcdRequest::KeepAlive { seq } = r {
                    asked.push((*seq, t));
                }
            }
        }
        asked
    }

    /// The sequence number of the last request, a keep-alive.
    fn last_keepalive(&self) -> u32 {
        match self.requests.last() {
            Some(EtcdRequest::KeepAlive { seq }) => *seq,
            other => panic!("a keep-alive, not {other:?}"),
        }
    }

    fn holds(&self) -> bool {
        self.etcd.role() == Role::Holder
    }

    fn released_at(&self) -> usize {
        self.events
            .iter()
            .filter(|e| matches!(e, Event::ReleaseVip(_)))
            .count()
    }
}

/// Started, answered and named leader: it holds until the asking time of
/// the keep-alive answered plus L, and tells the fence so.
#[test]
fn it_holds_only_once_etcd_names_it_and_its_lease_lives() {
    let mut b = Bench::new(500);
    b.start(at(0));
    assert_eq!(
        b.requests,
        [EtcdRequest::KeepAlive { seq: 0 }, EtcdRequest::Campaign]
    );
    b.input(at(0), EtcdInput::Leader(record(true, 7)));
    assert!(!b.holds(), "no lease answered yet: it may not hold");
    b.input(at(3), EtcdInput::KeptAlive { seq: 0, ttl: TTL });
    assert!(b.holds());
    let l = settings(500).holder_lease();
    assert!(b.events.contains(&Event::AcquireVip(Vip::host(VIP))));
    assert!(
        b.events
            .contains(&Event::LeaseExtended { until: at(0) + l }),
        "counted from the asking (0 ms), not the answer (3 ms): {:?}",
        b.events
    );
    assert_eq!(
        b.etcd.holder().map(|h| (h.address, h.term)),
        Some((ME, Some(7)))
    );
}

/// etcd stops answering (partitioned from the holder): the VIP goes at
/// the lease's end by the node's own clock, before etcd's lessor lets the
/// key go, with every keep-alive unanswered; answers that come after the
/// end change nothing.
#[test]
fn unanswered_keepalives_release_before_etcd_expires_the_key() {
    let mut b = Bench::new(500);
    b.start(at(0));
    b.input(at(0), EtcdInput::Leader(record(true, 7)));
    // etcd processes keep-alive 0 at 2 ms: its key lives until 2002 ms.
    b.input(at(4), EtcdInput::KeptAlive { seq: 0, ttl: TTL });
    let etcd_expiry = at(2) + TTL;
    let asked = b.run_to(at(5000));
    assert!(asked.len() >= 3, "it kept asking: {asked:?}");
    assert!(!b.holds(), "released with no answer");
    let end = at(0) + settings(500).holder_lease();
    assert_eq!(b.released, Some(end), "released at the asking of 0 plus L");
    assert!(end < etcd_expiry, "{end} before etcd's {etcd_expiry}");
    assert_eq!(b.released_at(), 1);
    assert!(b.etcd.lease_end().is_none());
    // The answer to a keep-alive asked long ago comes now: its lease would
    // have ended already, so it is no extension.
    let (seq, _) = asked[0];
    b.input(at(5001), EtcdInput::KeptAlive { seq, ttl: TTL });
    assert!(!b.holds(), "a late answer does not bring the VIP back");
}

/// The release instant is a timer of the node's own: it fires at the end
/// whatever else is pending, and an answer to a keep-alive asked before
/// the end but arriving after it still counts from its asking.
#[test]
fn an_answer_in_time_extends_from_its_asking() {
    let mut b = Bench::new(0);
    b.start(at(0));
    b.input(at(0), EtcdInput::Leader(record(true, 1)));
    b.input(at(1), EtcdInput::KeptAlive { seq: 0, ttl: TTL });
    let asked = b.run_to(at(600));
    let (seq, asked_at) = *asked.last().unwrap();
    assert_eq!(asked_at, at(500), "every TTL/4");
    b.input(at(700), EtcdInput::KeptAlive { seq, ttl: TTL });
    let l = settings(0).holder_lease();
    assert_eq!(b.etcd.lease_end(), Some(asked_at + l));
    assert!(b.events.contains(&Event::LeaseExtended {
        until: asked_at + l
    }));
    // An older answer arriving after a newer one never shortens the lease.
    b.input(at(701), EtcdInput::KeptAlive { seq: 0, ttl: TTL });
    assert_eq!(b.etcd.lease_end(), Some(asked_at + l));
}

/// The drift margin: with the node's clock slow and etcd's fast, both by
/// ρ, the node's end (on real time) still comes before etcd's expiry,
/// for any delay of the request on its way.
#[test]
fn the_holder_lease_formula_ends_before_etcd_on_clocks_within_rho() {
    let rho = 10_000u32; // 1 %
    let l = settings(rho).holder_lease();
    for transit_ms in [0u64, 1, 10, 300] {
        // Real time of asking: 0. The node's clock runs slow by ρ, so its
        // L on its clock lasts L·(1 + ρ) real... (rounded up).
        let node_end_real = l.total_micros() * (1_000_000 + u64::from(rho)) / 1_000_000 + 1;
        // etcd's clock runs fast by ρ: TTL on it lasts TTL·(1 − ρ) real,
        // from processing at `transit`.
        let etcd_end_real =
            transit_ms * 1000 + TTL.total_micros() * (1_000_000 - u64::from(rho)) / 1_000_000;
        assert!(
            node_end_real < etcd_end_real,
            "transit {transit_ms} ms: node lets go at {node_end_real} µs, etcd at {etcd_end_real} µs"
        );
    }
    // And without the margin the same clocks would break it.
    let naive = TTL.total_micros() * (1_000_000 + u64::from(rho)) / 1_000_000;
    assert!(naive > TTL.total_micros() * (1_000_000 - u64::from(rho)) / 1_000_000);
}

/// etcd says the lease is gone, or names another leader: the VIP goes at
/// once, and the node campaigns again on a new lease.
#[test]
fn a_lost_lease_or_another_leader_releases_at_once() {
    let mut b = Bench::new(500);
    b.start(at(0));
    b.input(at(0), EtcdInput::Leader(record(true, 3)));
    b.input(at(1), EtcdInput::KeptAlive { seq: 0, ttl: TTL });
    assert!(b.holds());
    b.requests.clear();
    b.input(at(10), EtcdInput::LeaseLost);
    assert!(!b.holds());
    assert_eq!(b.released_at(), 1);
    assert_eq!(
        b.requests,
        [EtcdRequest::KeepAlive { seq: 1 }, EtcdRequest::Campaign],
        "a new lease first (the adapter grants one), then a campaign on it"
    );
    // A new lease and leadership: holds again; then another is named.
    b.input(at(501), EtcdInput::KeptAlive { seq: 1, ttl: TTL });
    assert!(
        !b.holds(),
        "leadership of the old key went with the old lease"
    );
    b.input(at(502), EtcdInput::Leader(record(true, 9)));
    assert!(b.holds());
    b.input(at(600), EtcdInput::Leader(record(false, 12)));
    assert!(!b.holds());
    assert_eq!(b.released_at(), 2);
    assert_eq!(b.etcd.holder().map(|h| h.address), Some(OTHER));
    // A zero TTL in an answer is a lost lease too.
    b.input(at(700), EtcdInput::Leader(record(true, 13)));
    assert!(b.holds());
    b.run_to(at(1000));
    let seq = b.last_keepalive();
    b.input(
        at(1001),
        EtcdInput::KeptAlive {
            seq,
            ttl: Duration::ZERO,
        },
    );
    assert!(!b.holds());
}

/// A clean stop releases first, then revokes, so the next candidate wins
/// at once; a fault releases and resigns but keeps the lease.
#[test]
fn a_stop_revokes_after_releasing_and_a_fault_resigns() {
    let mut b = Bench::new(500);
    b.start(at(0));
    b.input(at(0), EtcdInput::Leader(record(true, 3)));
    b.input(at(1), EtcdInput::KeptAlive { seq: 0, ttl: TTL });
    b.requests.clear();
    b.etcd.fault(&mut b.out);
    b.drain_at(at(30));
    assert_eq!(b.etcd.role(), Role::Fault);
    assert_eq!(b.released_at(), 1);
    assert_eq!(b.requests, [EtcdRequest::Resign]);
    assert!(b.etcd.lease_end().is_some(), "the lease is kept");
    b.etcd.recover(&mut b.out);
    b.drain_at(at(30));
    assert_eq!(b.requests.last(), Some(&EtcdRequest::Campaign));
    b.input(at(20), EtcdInput::Resigned { revision: 3 });
    b.input(at(20), EtcdInput::Leader(record(true, 4)));
    assert!(b.holds());
    b.requests.clear();
    b.etcd.shutdown(&mut b.out);
    b.drain_at(at(30));
    assert_eq!(b.released_at(), 2);
    assert_eq!(b.requests, [EtcdRequest::Revoke]);
    assert_eq!(b.etcd.poll_timeout(), None, "nothing runs after a stop");
}

// ---- moves ----

fn order(to: Option<Ipv4Addr>, from: Ipv4Addr, revision: u64) -> EtcdInput {
    EtcdInput::Move(Some(PostedMove {
        order: MoveOrder { to, from },
        revision,
    }))
}

/// A holder started, answered and named leader with `term`.
fn holding(term: u64) -> Bench {
    let mut b = Bench::new(500);
    b.start(at(0));
    b.input(at(0), EtcdInput::Leader(record(true, term)));
    b.input(at(1), EtcdInput::KeptAlive { seq: 0, ttl: TTL });
    assert!(b.holds());
    b.requests.clear();
    b
}

/// `vipd move` on any node writes an order naming the holder it moves
/// away from; without a known holder, or to the holder, it writes none.
#[test]
fn a_move_command_writes_an_order_naming_the_holder() {
    let mut b = Bench::new(500);
    b.start(at(0));
    b.requests.clear();
    b.etcd.move_to(Some(2));
    b.drain_at(at(1));
    assert!(b.requests.is_empty(), "no holder known: nothing to move");
    b.input(at(2), EtcdInput::Leader(record(false, 4)));
    b.etcd.move_to(Some(2));
    b.etcd.move_to(None);
    b.etcd.move_to(Some(1));
    b.etcd.move_to(Some(9));
    b.drain_at(at(3));
    assert_eq!(
        b.requests,
        [
            EtcdRequest::Move(MoveOrder {
                to: Some(THIRD),
                from: OTHER
            }),
            EtcdRequest::Move(MoveOrder {
                to: None,
                from: OTHER
            }),
        ],
        "to the holder itself, or to no member: no order"
    );
}

/// The holder an order moves away from lets go before it resigns, and
/// re-queues; its old key, still named leader while its deletion is on
/// the way, never brings the VIP back; its new key (younger than the
/// order) may.
#[test]
fn the_holder_an_order_sends_back_releases_then_requeues() {
    let mut b = holding(3);
    b.input(at(10), order(Some(OTHER), ME, 50));
    assert!(!b.holds());
    assert_eq!(b.released_at(), 1);
    assert_eq!(b.requests, [EtcdRequest::Resign, EtcdRequest::Campaign]);
    let release = b
        .events
        .iter()
        .position(|e| matches!(e, Event::ReleaseVip(_)))
        .unwrap();
    assert!(release < b.events.len(), "released in the same input");
    b.requests.clear();
    b.input(at(11), EtcdInput::Leader(record(true, 3)));
    assert!(!b.holds(), "the key it asked to delete is not held again");
    b.input(at(12), EtcdInput::Resigned { revision: 55 });
    assert!(!b.holds(), "nor once the deletion is done, reported late");
    b.input(at(12), EtcdInput::Leader(record(false, 9)));
    b.input(at(13), EtcdInput::Move(None));
    b.input(at(900), EtcdInput::Leader(record(true, 56)));
    assert!(b.holds(), "a key made after the deletion may hold");
    assert!(b.requests.is_empty(), "{:?}", b.requests);
}

/// A backup that is not the target re-queues too, once per order, even if
/// the order is read again (a watch restarted).
#[test]
fn a_backup_an_order_passes_over_requeues_once() {
    let mut b = Bench::new(500);
    b.start(at(0));
    b.input(at(1), EtcdInput::KeptAlive { seq: 0, ttl: TTL });
    b.input(at(1), EtcdInput::Leader(record(false, 2)));
    b.requests.clear();
    b.input(at(5), order(Some(THIRD), OTHER, 40));
    assert_eq!(b.requests, [EtcdRequest::Resign, EtcdRequest::Campaign]);
    b.input(at(6), order(Some(THIRD), OTHER, 40));
    assert_eq!(b.requests.len(), 2, "the same order is followed once");
    b.input(at(7), EtcdInput::Leader(record(true, 5)));
    assert!(!b.holds(), "its old key, made before the order");
    // An order without a target sends back only the holder it names.
    let mut c = Bench::new(500);
    c.start(at(0));
    c.requests.clear();
    c.input(at(5), order(None, OTHER, 40));
    assert!(c.requests.is_empty());
}

/// The target of an order takes no step of its own: when etcd names it
/// leader (and its lease lives) it holds and clears the order; a holder
/// that is the target already clears it at once.
#[test]
fn the_target_holds_when_named_and_clears_the_order() {
    let mut b = Bench::new(500);
    b.start(at(0));
    b.input(at(1), EtcdInput::KeptAlive { seq: 0, ttl: TTL });
    b.input(at(1), EtcdInput::Leader(record(false, 2)));
    b.requests.clear();
    b.input(at(5), order(Some(ME), OTHER, 40));
    assert!(b.requests.is_empty());
    b.input(at(8), EtcdInput::Leader(record(true, 6)));
    assert!(
        b.holds(),
        "its key is older than the order, and it is the target"
    );
    assert_eq!(b.requests, [EtcdRequest::ClearMove { revision: 40 }]);
    let mut h = holding(3);
    h.input(at(10), order(Some(ME), OTHER, 41));
    assert!(h.holds());
    assert_eq!(h.requests, [EtcdRequest::ClearMove { revision: 41 }]);
    // Without a target, the next holder other than `from` clears it.
    let mut n = Bench::new(500);
    n.start(at(0));
    n.input(at(1), EtcdInput::KeptAlive { seq: 0, ttl: TTL });
    n.requests.clear();
    n.input(at(5), order(None, OTHER, 42));
    n.input(at(6), EtcdInput::Leader(record(true, 8)));
    assert!(n.holds());
    assert_eq!(n.requests, [EtcdRequest::ClearMove { revision: 42 }]);
}

/// Three machines against a model of etcd's line of keys (oldest key
/// leads; every change read by every node in revision order): a move to
/// the last in line hands the VIP straight to it, with nobody else holding
/// on the way and never two holders.
#[test]
fn a_move_to_the_youngest_key_skips_everyone_older() {
    struct Line {
        nodes: Vec<Bench>,
        /// (node, create revision), in create order.
        keys: Vec<(usize, u64)>,
        revision: u64,
        order: Option<PostedMove>,
        holders_seen: Vec<usize>,
    }
    const ADDR: [Ipv4Addr; 3] = [ME, OTHER, THIRD];
    impl Line {
        fn leader_input(&self, n: usize) -> EtcdInput {
            match self.keys.first() {
                None => EtcdInput::NoLeader,
                Some(&(k, term)) => EtcdInput::Leader(LeaderRecord {
                    me: k == n,
                    address: ADDR[k],
                    hwaddr: MAC,
                    term,
                    priority: 100,
                    vip: Some(VIP),
                }),
            }
        }
        /// Carries out node `n`'s requests, each a revision every node reads.
        fn serve(&mut self, now: Instant) {
            let mut changed = true;
            while changed {
                changed = false;
                for n in 0..self.nodes.len() {
                    let requests: Vec<_> = self.nodes[n].requests.drain(..).collect();
                    for r in requests {
                        changed = true;
                        match r {
                            EtcdRequest::KeepAlive { seq } => {
                                self.nodes[n].input(now, EtcdInput::KeptAlive { seq, ttl: TTL })
                            }
                            EtcdRequest::Campaign => {
                                if !self.keys.iter().any(|&(k, _)| k == n) {
                                    self.revision += 1;
                                    self.keys.push((n, self.revision));
                                    self.broadcast_leader(now);
                                }
                            }
                            EtcdRequest::Resign | EtcdRequest::Revoke => {
                                self.revision += 1;
                                self.keys.retain(|&(k, _)| k != n);
                                self.broadcast_leader(now);
                                if r == EtcdRequest::Resign {
                                    let revision = self.revision;
                                    self.nodes[n].input(now, EtcdInput::Resigned { revision });
                                    self.check();
                                }
                            }
                            EtcdRequest::Move(order) => {
                                self.revision += 1;
                                self.order = Some(PostedMove {
                                    order,
                                    revision: self.revision,
                                });
                                self.broadcast(now, EtcdInput::Move(self.order));
                            }
                            EtcdRequest::ClearMove { revision } => {
                                if self.order.is_some_and(|o| o.revision == revision) {
                                    self.revision += 1;
                                    self.order = None;
                                    self.broadcast(now, EtcdInput::Move(None));
                                }
                            }
                            // A fixed VIP: the record never changes.
                            EtcdRequest::Publish { .. } => {}
                        }
                    }
                }
            }
        }
        fn broadcast(&mut self, now: Instant, input: EtcdInput) {
            for node in &mut self.nodes {
                node.input(now, input);
            }
            self.check();
        }
        fn broadcast_leader(&mut self, now: Instant) {
            for n in 0..self.nodes.len() {
                let input = self.leader_input(n);
                self.nodes[n].input(now, input);
            }
            self.check();
        }
        fn check(&mut self) {
            let holders: Vec<usize> = (0..3).filter(|&n| self.nodes[n].holds()).collect();
            assert!(holders.len() <= 1, "two holders: {holders:?}");
            if let Some(&h) = holders.first() {
                if self.holders_seen.last() != Some(&h) {
                    self.holders_seen.push(h);
                }
            }
        }
    }
    let mut line = Line {
        nodes: (0..3)
            .map(|n| {
                let mut b = Bench::new(500);
                b.etcd = Etcd::new(settings(500), ADDR[n], &members());
                b
            })
            .collect(),
        keys: Vec::new(),
        revision: 0,
        order: None,
        holders_seen: Vec::new(),
    };
    for n in 0..3 {
        line.nodes[n].start(at(0));
        line.serve(at(0));
    }
    assert_eq!(line.holders_seen, [0], "the oldest key holds");
    // `vipd move --to c` asked on b.
    line.nodes[1].etcd.move_to(Some(2));
    line.nodes[1].drain_at(at(10));
    line.serve(at(10));
    assert_eq!(line.holders_seen, [0, 2], "straight to the target");
    assert!(line.order.is_none(), "the target cleared the order");
    assert_eq!(line.keys.first().map(|k| k.0), Some(2));
    // And back to the start without a target: off c, to the oldest other.
    line.nodes[0].etcd.move_to(None);
    line.nodes[0].drain_at(at(20));
    line.serve(at(20));
    assert_eq!(line.holders_seen, [0, 2, 0]);
    assert!(line.order.is_none());
}

/// The resign race the simulator found (`sim/tests/checker_bites.rs`,
/// `RESIGN_RACE`): a node steps aside (link, health, VIP failure) and
/// recovers while its resignation has not reached etcd. etcd still names
/// its old key leader (a restarted watch reads it again): it must not hold,
/// for the next node holds the moment the deletion lands. Only the key it
/// puts after the deletion is one to hold with; named leader before the
/// deletion is reported, it holds once it is.
#[test]
fn a_key_this_node_asked_to_delete_is_never_held() {
    let mut b = holding(3);
    b.etcd.fault(&mut b.out);
    b.drain_at(at(10));
    b.etcd.recover(&mut b.out);
    b.drain_at(at(20));
    assert_eq!(b.requests, [EtcdRequest::Resign, EtcdRequest::Campaign]);
    b.input(at(30), EtcdInput::Leader(record(true, 3)));
    assert!(!b.holds(), "its resignation is still on its way");
    // The deletion lands at revision 9; a report of the old key after it.
    b.input(at(40), EtcdInput::Resigned { revision: 9 });
    b.input(at(41), EtcdInput::Leader(record(true, 3)));
    assert!(!b.holds(), "the deleted key, reported late");
    // Its new key, named while a second resignation is on its way, then
    // that one done: it holds at once.
    b.etcd.fault(&mut b.out);
    b.etcd.recover(&mut b.out);
    b.drain_at(at(50));
    b.input(at(51), EtcdInput::Leader(record(true, 12)));
    assert!(!b.holds());
    b.input(at(52), EtcdInput::Resigned { revision: 11 });
    assert!(b.holds(), "key 12 is younger than the deletion at 11");
    assert_eq!(b.etcd.holder().map(|h| h.term), Some(Some(12)));
}

/// The DHCP mode: the holder puts the address it leased in its record
/// (once per change, only while holding), and a member reads the leader's
/// record's address as its copy of the holder's lease, once per change.
#[test]
fn the_holders_leased_address_goes_into_its_record_and_members_read_it() {
    let leased = Ipv4Addr::new(192, 0, 2, 150);
    let mut h = holding(3);
    h.etcd.share_vip(Some(leased));
    h.etcd.share_vip(Some(leased));
    h.drain_at(at(5));
    assert_eq!(h.requests, [EtcdRequest::Publish { vip: Some(leased) }]);
    h.etcd.share_vip(None);
    h.drain_at(at(6));
    assert_eq!(h.requests.last(), Some(&EtcdRequest::Publish { vip: None }));
    // A backup publishes nothing: only the leader's record is read.
    let mut b = Bench::new(500);
    b.start(at(0));
    b.requests.clear();
    b.etcd.share_vip(Some(leased));
    b.drain_at(at(1));
    assert!(b.requests.is_empty());
    // It reads the leader's record's address, once per change.
    let mut r = record(false, 4);
    r.vip = Some(leased);
    b.input(at(2), EtcdInput::Leader(r));
    assert_eq!(b.etcd.take_heard_vip(), Some(Some(leased)));
    assert_eq!(b.etcd.take_heard_vip(), None);
    b.input(at(3), EtcdInput::Leader(r));
    assert_eq!(b.etcd.take_heard_vip(), None, "nothing new");
    r.vip = None;
    b.input(at(4), EtcdInput::Leader(r));
    assert_eq!(
        b.etcd.take_heard_vip(),
        Some(None),
        "the holder has none now"
    );
}
