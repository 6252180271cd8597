//! The adapter as timelines: at t the core asks this, at t' etcd answers
//! that, and what goes up the path and back to the core in between.

use std::net::Ipv4Addr;

use vip_core::election::etcd::{MoveOrder, PostedMove};

use super::*;
use crate::etcd::store::{Entry, Key, Snapshot, Value};

const TTL: Duration = Duration::from_secs(2);

fn at(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

fn record(node: usize) -> Record {
    Record::for_test(node)
}

fn adapter(defect: Option<AdapterDefect>) -> Adapter {
    let s = AdapterSettings {
        record: record(0),
        ttl: TTL,
        timeout: TTL.div(2),
        defect,
    };
    Adapter::new(s, 100, at(0))
}

fn calls(a: &mut Adapter) -> Vec<(u64, Call)> {
    std::iter::from_fn(|| a.poll_call()).collect()
}

fn reports(a: &mut Adapter) -> Vec<EtcdInput> {
    a.take_reports().into_iter().map(|r| r.input).collect()
}

/// The adapter's first read answered with `keys`: its watch is live.
fn watching(a: &mut Adapter, keys: Vec<(Key, Entry)>) -> Vec<EtcdInput> {
    let read = calls(a);
    assert_eq!(read, [(100, Call::Read)], "the watch starts with a read");
    let snapshot = Snapshot { revision: 1, keys };
    a.answer(at(0), 100, &Reply::Snapshot { watch: 7, snapshot });
    reports(a)
}

fn election_key(node: usize, create: u64, lease: LeaseId) -> (Key, Entry) {
    let entry = Entry {
        create,
        modified: create,
        lease,
        value: Value::Record(record(node)),
    };
    (Key::Election(node), entry)
}

#[test]
fn a_keepalive_goes_only_when_asked_and_its_answer_names_the_request() {
    let mut a = adapter(None);
    watching(&mut a, Vec::new());
    assert!(calls(&mut a).is_empty(), "nothing before the core asks");
    a.request(at(10), EtcdRequest::KeepAlive { seq: 0 });
    let grant = calls(&mut a);
    assert_eq!(grant, [(101, Call::Grant { ttl: TTL })]);
    // A keep-alive asked while the grant is out goes unanswered.
    a.request(at(20), EtcdRequest::KeepAlive { seq: 1 });
    assert!(calls(&mut a).is_empty());
    a.answer(at(30), 101, &Reply::Granted { lease: 5, ttl: TTL });
    assert_eq!(
        reports(&mut a)[0],
        EtcdInput::KeptAlive { seq: 0, ttl: TTL }
    );
    a.request(at(500), EtcdRequest::KeepAlive { seq: 2 });
    a.request(at(1000), EtcdRequest::KeepAlive { seq: 3 });
    let sent = calls(&mut a);
    assert_eq!(sent.len(), 2, "pipelined: the second does not wait");
    // Answers may come in any order; each names its own request.
    a.answer(at(1001), sent[1].0, &Reply::KeptAlive { ttl: TTL });
    a.answer(at(1002), sent[0].0, &Reply::KeptAlive { ttl: TTL });
    assert_eq!(
        reports(&mut a),
        [
            EtcdInput::KeptAlive { seq: 3, ttl: TTL },
            EtcdInput::KeptAlive { seq: 2, ttl: TTL }
        ]
    );
    // A zero TTL: the lease is gone, and forgotten.
    a.request(at(1500), EtcdRequest::KeepAlive { seq: 4 });
    let id = calls(&mut a)[0].0;
    a.answer(
        at(1501),
        id,
        &Reply::KeptAlive {
            ttl: Duration::ZERO,
        },
    );
    assert_eq!(reports(&mut a).last(), Some(&EtcdInput::LeaseLost));
    assert_eq!(a.lease(), None);
    a.request(at(2000), EtcdRequest::KeepAlive { seq: 5 });
    assert!(matches!(calls(&mut a)[..], [(_, Call::Grant { .. })]));
}

#[test]
fn other_requests_go_one_at_a_time_in_order_and_are_tried_again() {
    let mut a = adapter(None);
    watching(&mut a, Vec::new());
    a.request(at(0), EtcdRequest::KeepAlive { seq: 0 });
    a.request(at(0), EtcdRequest::Campaign);
    a.request(at(0), EtcdRequest::Resign);
    assert!(
        matches!(calls(&mut a)[..], [(101, Call::Grant { .. })]),
        "the campaign waits for the lease"
    );
    a.answer(at(5), 101, &Reply::Granted { lease: 5, ttl: TTL });
    let campaign = calls(&mut a);
    assert!(matches!(
        campaign[..],
        [(102, Call::Campaign { lease: 5, .. })]
    ));
    // Unanswered: given up at half the TTL, tried again 50 ms later.
    assert_eq!(a.poll_timeout(), Some(at(1005)));
    a.handle_timeout(at(1005));
    assert!(calls(&mut a).is_empty(), "a pause first");
    assert_eq!(a.poll_timeout(), Some(at(1055)));
    // Keep-alives do not wait behind it.
    a.request(at(1010), EtcdRequest::KeepAlive { seq: 1 });
    assert!(matches!(
        calls(&mut a)[..],
        [(_, Call::KeepAlive { lease: 5 })]
    ));
    a.handle_timeout(at(1055));
    let again = calls(&mut a);
    assert!(matches!(again[..], [(_, Call::Campaign { .. })]));
    // Refused this time: the pause doubles.
    a.answer(at(1060), again[0].0, &Reply::LeaseNotFound);
    assert_eq!(a.poll_timeout(), Some(at(1160)));
    a.handle_timeout(at(1160));
    let third = calls(&mut a);
    a.answer(at(1161), third[0].0, &Reply::Done { revision: 9 });
    assert!(
        matches!(calls(&mut a)[..], [(_, Call::Resign)]),
        "the resignation after the campaign"
    );
}

#[test]
fn the_watch_says_the_order_before_the_leader_and_starts_again_when_it_breaks() {
    let mut a = adapter(None);
    let order = Entry {
        create: 3,
        modified: 3,
        lease: 9,
        value: Value::Order(MoveOrder {
            to: None,
            from: Ipv4Addr::new(192, 0, 2, 2),
        }),
    };
    let first = watching(&mut a, vec![election_key(1, 2, 8), (Key::Move, order)]);
    assert_eq!(
        first[0],
        EtcdInput::Move(Some(PostedMove {
            order: MoveOrder {
                to: None,
                from: Ipv4Addr::new(192, 0, 2, 2)
            },
            revision: 3
        }))
    );
    assert!(matches!(first[1], EtcdInput::Leader(r) if !r.me && r.term == 2));
    // n1's key goes: no leader, said once.
    let gone = Revision {
        revision: 4,
        changes: vec![crate::etcd::Change {
            key: Key::Election(1),
            entry: None,
        }],
    };
    a.event(7, &gone);
    assert_eq!(reports(&mut a), [EtcdInput::NoLeader]);
    a.event(6, &gone);
    assert!(reports(&mut a).is_empty(), "another watch's events");
    // The connection breaks at 1 s: noticed 2 s later, read 200 ms after.
    a.connection_broken(at(1000));
    assert_eq!(a.poll_timeout(), Some(at(3000)));
    a.handle_timeout(at(3000));
    a.handle_timeout(at(3200));
    let read = calls(&mut a);
    assert!(matches!(read[..], [(_, Call::Read)]));
    let snapshot = Snapshot {
        revision: 4,
        keys: Vec::new(),
    };
    a.answer(at(3201), read[0].0, &Reply::Snapshot { watch: 8, snapshot });
    assert_eq!(
        reports(&mut a),
        [EtcdInput::Move(None), EtcdInput::NoLeader],
        "both said again after a restarted watch"
    );
    assert_eq!(a.counters().watch_starts, 2);
}

#[test]
fn the_defect_answers_the_core_with_an_older_keepalive() {
    let mut a = adapter(Some(AdapterDefect::KeepaliveBeforeAsked));
    watching(&mut a, Vec::new());
    a.request(at(0), EtcdRequest::KeepAlive { seq: 0 });
    a.answer(at(1), 101, &Reply::Granted { lease: 5, ttl: TTL });
    reports(&mut a);
    calls(&mut a);
    // Its own keep-alive at TTL/3, answered.
    let own_at = at(1) + TTL.div(3);
    assert_eq!(a.poll_timeout(), Some(own_at));
    a.handle_timeout(own_at);
    let own = calls(&mut a);
    assert!(matches!(own[..], [(_, Call::KeepAlive { lease: 5 })]));
    a.answer(at(668), own[0].0, &Reply::KeptAlive { ttl: TTL });
    assert!(reports(&mut a).is_empty(), "nobody asked");
    // The core asks 400 ms later: answered at once, nothing sent.
    a.request(at(1068), EtcdRequest::KeepAlive { seq: 1 });
    assert!(calls(&mut a).is_empty());
    assert_eq!(reports(&mut a), [EtcdInput::KeptAlive { seq: 1, ttl: TTL }]);
}

#[test]
fn a_stopping_adapter_runs_its_queue_out_with_the_revocation_last() {
    let mut a = adapter(None);
    watching(&mut a, Vec::new());
    a.request(at(0), EtcdRequest::KeepAlive { seq: 0 });
    a.answer(at(1), 101, &Reply::Granted { lease: 5, ttl: TTL });
    calls(&mut a);
    a.request(at(2), EtcdRequest::ClearMove { revision: 9 });
    a.request(at(2), EtcdRequest::Revoke);
    a.stop();
    let first = calls(&mut a);
    assert!(matches!(first[..], [(_, Call::ClearMove { revision: 9 })]));
    assert!(!a.is_done());
    a.answer(at(3), first[0].0, &Reply::Done { revision: 9 });
    let revoke = calls(&mut a);
    assert!(matches!(revoke[..], [(_, Call::Revoke { lease: 5 })]));
    a.answer(at(4), revoke[0].0, &Reply::Done { revision: 9 });
    assert!(a.is_done());
    assert_eq!(a.lease(), None);
}

#[test]
fn a_resignation_done_is_reported_once_with_the_revision_after_the_deletion() {
    let mut a = adapter(None);
    watching(&mut a, vec![election_key(0, 2, 5)]);
    a.request(at(0), EtcdRequest::KeepAlive { seq: 0 });
    a.answer(at(1), 101, &Reply::Granted { lease: 5, ttl: TTL });
    calls(&mut a);
    assert!(
        matches!(reports(&mut a)[..], [EtcdInput::KeptAlive { .. }, EtcdInput::Leader(r)] if r.me),
        "its key under its lease: its own"
    );
    a.request(at(10), EtcdRequest::Resign);
    a.request(at(10), EtcdRequest::Campaign);
    let first = calls(&mut a);
    assert!(matches!(first[..], [(_, Call::Resign)]));
    assert!(reports(&mut a).is_empty(), "nothing until etcd has done it");
    // The answer is lost: given up at half the TTL, sent again.
    a.handle_timeout(at(1010));
    a.handle_timeout(at(1060));
    let again = calls(&mut a);
    assert!(matches!(again[..], [(_, Call::Resign)]));
    assert!(reports(&mut a).is_empty(), "a failed try reports nothing");
    // A watch event that came in before the answer is reported before it.
    let gone = Revision {
        revision: 3,
        changes: vec![crate::etcd::Change {
            key: Key::Election(0),
            entry: None,
        }],
    };
    a.event(7, &gone);
    // The retry finds the key gone: done at the store's revision then.
    a.answer(at(1061), again[0].0, &Reply::Done { revision: 4 });
    assert_eq!(
        reports(&mut a),
        [EtcdInput::NoLeader, EtcdInput::Resigned { revision: 4 }]
    );
    assert!(
        matches!(calls(&mut a)[..], [(_, Call::Campaign { lease: 5, .. })]),
        "the campaign after it"
    );
    // The first try's answer, late: not a second report.
    a.answer(at(1070), first[0].0, &Reply::Done { revision: 3 });
    assert!(reports(&mut a).is_empty());
}

#[test]
fn the_defect_reports_a_resignation_when_it_sends_it_with_the_watchs_revision() {
    let mut a = adapter(Some(AdapterDefect::ResignedWhenSent));
    watching(&mut a, vec![election_key(0, 1, 5)]);
    a.request(at(0), EtcdRequest::Resign);
    let first = calls(&mut a);
    assert!(matches!(first[..], [(_, Call::Resign)]));
    assert_eq!(
        reports(&mut a),
        [EtcdInput::Resigned { revision: 1 }],
        "at once, with the read's revision"
    );
    // Lost, sent again: not told twice; nor when it is done.
    a.handle_timeout(at(1000));
    a.handle_timeout(at(1050));
    let again = calls(&mut a);
    assert!(matches!(again[..], [(_, Call::Resign)]));
    a.answer(at(1051), again[0].0, &Reply::Done { revision: 2 });
    assert!(reports(&mut a).is_empty());
    // The next resignation is told when it goes, too.
    a.request(at(1100), EtcdRequest::Resign);
    calls(&mut a);
    assert_eq!(reports(&mut a), [EtcdInput::Resigned { revision: 1 }]);
}
