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
    // The members of three, this node the first.
    let mut s = quorum_settings(0, 3, 0, 100, 10);
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
        priority: 100,
        vip: Some(VIP),
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

/// `vipd move --to` on a backup: the node writes the order naming the
/// holder it learned from etcd; the order read back sends it to the back
/// of the line (it is not the target).
#[test]
fn a_move_command_writes_the_order_and_the_order_sends_this_node_back() {
    use vip_core::election::etcd::{MoveOrder, PostedMove};
    let mut n = node();
    drain(&mut n);
    let t = Instant::ZERO + Duration::from_millis(5);
    n.command(t, Command::MoveTo(Some(2)));
    assert!(drain(&mut n).1.is_empty(), "no holder known: no order");
    n.handle_etcd(
        t,
        EtcdInput::Leader(LeaderRecord {
            me: false,
            address: address(1),
            hwaddr: mac(1),
            term: 3,
            priority: 100,
            vip: Some(VIP),
        }),
    );
    n.command(t, Command::MoveTo(Some(2)));
    let order = MoveOrder {
        to: Some(address(2)),
        from: address(1),
    };
    assert_eq!(drain(&mut n).1, [EtcdRequest::Move(order)]);
    n.handle_etcd(t, EtcdInput::Move(Some(PostedMove { order, revision: 9 })));
    assert_eq!(
        drain(&mut n).1,
        [EtcdRequest::Resign, EtcdRequest::Campaign]
    );
}

/// Under etcd every vipd member may hold: a witness is refused with the
/// reason, and the node must be listed.
#[test]
fn a_witness_or_an_unlisted_node_is_refused_under_etcd() {
    let mut s = etcd_settings(Duration::from_secs(2));
    s.cluster.members[2].witness = true;
    let text = Config::new(s)
        .unwrap_err()
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        text.contains("member[3].witness") && text.contains("etcd's own members vote"),
        "{text}"
    );
    let mut s = etcd_settings(Duration::from_secs(2));
    s.cluster.members.remove(0);
    let text = Config::new(s)
        .unwrap_err()
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(text.contains("must list this node"), "{text}");
}

/// etcd's TTLs are whole seconds: 2.5 s would be granted as something else.
#[test]
fn a_ttl_of_part_of_a_second_is_refused() {
    let e = Config::new(etcd_settings(Duration::from_millis(2500))).unwrap_err();
    let text = e
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        text.contains("etcd.lease_ttl") && text.contains("whole seconds"),
        "{text}"
    );
}

/// The DHCP VIP under etcd: the holder leases the mapped address from a
/// server on the segment (two round trips after it holds), configures it,
/// and asks for it to be put in its record; a member reading that record
/// names the address as the holder's.
#[test]
fn an_etcd_holder_leases_the_vip_and_names_it_in_its_record() {
    let config = Config::new(leased(etcd_settings(Duration::from_secs(2)))).expect("valid");
    let mut n = Node::new(config, 1, Instant::ZERO);
    let mut server = server(120);
    drain(&mut n);
    let t = Instant::ZERO + Duration::from_millis(5);
    n.handle_etcd(
        t,
        EtcdInput::KeptAlive {
            seq: 0,
            ttl: Duration::from_secs(2),
        },
    );
    n.handle_etcd(t, me(42));
    let mut buf: Box<FrameBuf> = Box::new([0; vip_core::wire::MAX_FRAME_LEN]);
    let mut answer = [0u8; vip_core::wire::MAX_FRAME_LEN];
    let (mut events, mut requests) = (Vec::new(), Vec::new());
    for _ in 0..4 {
        let mut frames = Vec::new();
        while let Some(o) = n.poll_output(&mut buf) {
            match o {
                Output::Event(e) => events.push(e),
                Output::Transmit { len, kind } => {
                    if kind == vip_core::FrameKind::Dhcp {
                        frames.push(buf[..len].to_vec());
                    }
                }
            }
        }
        requests.extend(std::iter::from_fn(|| n.poll_etcd_request()));
        for f in frames {
            if let Some(len) = server.handle_frame(&f, &mut answer) {
                n.handle_frame(t, &answer[..len]);
            }
        }
    }
    assert_eq!(n.role(), Role::Holder);
    assert!(
        events.contains(&Event::AcquireVip(Vip::host(VIP))),
        "{events:?}"
    );
    assert!(
        requests.contains(&EtcdRequest::Publish { vip: Some(VIP) }),
        "{requests:?}"
    );
    // A member: its copy of the holder's address comes from the record.
    let mut s = leased(etcd_settings(Duration::from_secs(2)));
    s.host.address = address(1);
    s.host.mac = mac(1);
    s.host.name = name(1);
    let mut m = Node::new(Config::new(s).expect("valid"), 2, Instant::ZERO);
    drain(&mut m);
    let mut leader = match me(42) {
        EtcdInput::Leader(r) => r,
        _ => unreachable!(),
    };
    leader.me = false;
    m.handle_etcd(t, EtcdInput::Leader(leader));
    drain(&mut m);
    assert_eq!(m.lease().and_then(|l| l.holder_address), Some(VIP));
}
