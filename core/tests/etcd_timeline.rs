//! The etcd election through the Node: what the host's adapter is asked,
//! what it reports, and the VIP following the fencing rule
//! (docs/protocol.md, "The etcd election"). The rule's own timeline tests
//! are beside it, in core/src/election/etcd/tests.rs.

mod common;

use common::*;
use vip_core::election::etcd::{EtcdInput, EtcdRequest, LeaderRecord, LEASE_TTL_MIN};
use vip_core::{
    Command, Config, Duration, ElectionSettings, EtcdSettings, Event, FrameBuf, Instant, Node,
    Output, Role, Vip,
};

fn etcd_settings(ttl: Duration) -> vip_core::NodeSettings {
    let mut s = settings(0, 100, 100);
    s.cluster.election = ElectionSettings::Etcd(EtcdSettings {
        lease_ttl: ttl,
        ..EtcdSettings::with_defaults(100)
    });
    s
}

fn node() -> Node {
    let config = Config::new(etcd_settings(Duration::from_secs(2))).expect("a valid etcd config");
    Node::new(config, 1, Instant::ZERO)
}

fn drain(n: &mut Node) -> (Vec<Event>, Vec<EtcdRequest>) {
    let mut buf: Box<FrameBuf> = Box::new([0; vip_core::wire::MAX_FRAME_LEN]);
    let mut events = Vec::new();
    while let Some(o) = n.poll_output(&mut buf) {
        match o {
            Output::Event(e) => events.push(e),
            Output::Transmit { kind, .. } => assert!(
                !matches!(kind, vip_core::FrameKind::Advert),
                "etcd sends no election frames"
            ),
        }
    }
    let requests = std::iter::from_fn(|| n.poll_etcd_request()).collect();
    (events, requests)
}

fn me(term: u64) -> EtcdInput {
    EtcdInput::Leader(LeaderRecord {
        me: true,
        address: address(0),
        hwaddr: mac(0),
        term,
    })
}

#[test]
fn the_node_asks_the_adapter_then_holds_and_lets_go_on_its_own_clock() {
    let mut n = node();
    let (_, requests) = drain(&mut n);
    assert_eq!(
        requests,
        [EtcdRequest::KeepAlive { seq: 0 }, EtcdRequest::Campaign]
    );
    let t = Instant::ZERO + Duration::from_millis(5);
    n.handle_etcd(
        t,
        EtcdInput::KeptAlive {
            seq: 0,
            ttl: Duration::from_secs(2),
        },
    );
    n.handle_etcd(t, me(42));
    let (events, _) = drain(&mut n);
    assert_eq!(n.role(), Role::Holder);
    assert!(
        events.contains(&Event::AcquireVip(Vip::host(VIP))),
        "{events:?}"
    );
    let until = events.iter().find_map(|e| match e {
        Event::LeaseExtended { until } => Some(*until),
        _ => None,
    });
    let l = n.config().settings().cluster.election.clone();
    let ElectionSettings::Etcd(e) = l else {
        unreachable!()
    };
    assert_eq!(
        until,
        Some(Instant::ZERO + e.holder_lease()),
        "from the asking at 0"
    );
    assert_eq!(n.holder().and_then(|h| h.term), Some(42));
    // No answer to any later keep-alive: the VIP goes at the lease's end,
    // and the keep-alives go on being asked every TTL/4.
    let mut asked = 0;
    while let Some(at) = n
        .poll_timeout()
        .filter(|&at| at <= Instant::ZERO + Duration::from_secs(3))
    {
        n.handle_timeout(at);
        let (events, requests) = drain(&mut n);
        asked += requests.len();
        if events.iter().any(|e| matches!(e, Event::ReleaseVip(_))) {
            assert_eq!(
                at,
                Instant::ZERO + e.holder_lease(),
                "released at the end, not later"
            );
        }
    }
    assert_eq!(n.role(), Role::Backup);
    assert!(asked >= 4, "{asked} keep-alives asked");
}

#[test]
fn a_clean_stop_releases_then_revokes() {
    let mut n = node();
    drain(&mut n);
    n.handle_etcd(
        Instant::ZERO,
        EtcdInput::KeptAlive {
            seq: 0,
            ttl: Duration::from_secs(2),
        },
    );
    n.handle_etcd(Instant::ZERO, me(1));
    drain(&mut n);
    n.command(Instant::ZERO + Duration::from_millis(10), Command::Shutdown);
    let (events, requests) = drain(&mut n);
    assert!(events.iter().any(|e| matches!(e, Event::ReleaseVip(_))));
    assert_eq!(requests, [EtcdRequest::Revoke]);
    // After the stop nothing more: no hold on a late leader report.
    n.handle_etcd(Instant::ZERO + Duration::from_millis(20), me(1));
    assert_eq!(n.role(), Role::Initialize);
}

#[test]
fn a_ttl_below_what_etcd_grants_is_refused_with_the_reason() {
    let errors = Config::new(etcd_settings(Duration::from_secs(1))).expect_err("1 s refused");
    let text = errors
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(text.contains("etcd.lease_ttl"), "{text}");
    assert!(
        text.contains(&format!("at least {LEASE_TTL_MIN}")) && text.contains("raises"),
        "{text}"
    );
    assert!(Config::new(etcd_settings(LEASE_TTL_MIN)).is_ok());
}
