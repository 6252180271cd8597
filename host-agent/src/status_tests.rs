//! Status document tests: shape, names and the roster.

use super::*;
use std::path::PathBuf;

use vip_core::{
    AnnounceConfig, ClusterSettings, Config, Duration, ElectionSettings, Event, FrameBuf,
    FrameKind, HostFacts, Member, Members, Name, NodeSettings, Output, VrrpSettings,
};

use crate::config::{HookSettings, StatusSettings};

fn name(text: &str) -> Name {
    Name::new(text).unwrap()
}

/// The cluster's settings with `members` (name, last octet).
fn cluster(members: &[(&str, u8)]) -> ClusterSettings {
    let mut list = Members::new();
    for (n, last) in members {
        let m = Member {
            witness: false,
            name: name(n),
            address: Ipv4Addr::new(192, 0, 2, *last),
        };
        list.push(m).unwrap();
    }
    ClusterSettings {
        cluster: name("mgmt"),
        vip: Ipv4Addr::new(192, 0, 2, 100).into(),
        members: list,
        announce: AnnounceConfig::default(),
        election: ElectionSettings::Vrrp(VrrpSettings {
            advert_interval: Duration::from_millis(10),
            ..VrrpSettings::default()
        }),
    }
}

fn agent_config(node: &str, members: &[(&str, u8)]) -> AgentConfig {
    AgentConfig {
        file: PathBuf::from("/etc/vipd/vipd.toml"),
        node: name(node),
        interface: "mgmt-br".into(),
        key_file: None,
        settings: cluster(members),
        status: StatusSettings {
            socket: "/run/vipd/vipd.sock".into(),
            http: None,
        },
        hooks: HookSettings {
            on_acquire: None,
            on_release: None,
            timeout: Duration::from_secs(10),
        },
        health: None,
        etcd: None,
    }
}

/// The core config of the node at 192.0.2.`last` running `agent`'s settings.
fn core_config(agent: &AgentConfig, last: u8, priority: u8) -> Config {
    let mut cluster = agent.settings.clone();
    if let ElectionSettings::Vrrp(v) = &mut cluster.election {
        v.priority = priority;
    }
    Config::new(NodeSettings {
        host: HostFacts {
            name: agent.node.clone(),
            mac: EthernetAddress([0x02, 0, 0, 0, 0, last]),
            address: Ipv4Addr::new(192, 0, 2, last),
            prefix_len: 24,
        },
        cluster,
    })
    .unwrap()
}

/// A node at 192.0.2.`last` that knows no member names.
fn bare_node(node: &str, last: u8, priority: u8) -> Node {
    let mut n = Node::new(
        core_config(&agent_config(node, &[]), last, priority),
        u64::from(last),
        Instant::ZERO,
    );
    drain(&mut n);
    n
}

/// Drives `node` alone until it holds the VIP; returns its last advert and the time.
fn until_master(node: &mut Node) -> (Vec<u8>, Instant) {
    let mut buf: FrameBuf = [0; 1514];
    let mut advert = Vec::new();
    for _ in 0..10_000 {
        let now = node.poll_timeout().expect("a deadline");
        node.handle_timeout(now);
        while let Some(out) = node.poll_output(&mut buf) {
            if let Output::Transmit {
                len,
                kind: FrameKind::Advert,
            } = out
            {
                advert = buf[..len].to_vec();
            }
        }
        if node.is_holder() && !advert.is_empty() {
            return (advert, now);
        }
    }
    panic!("never became master");
}

fn drain(node: &mut Node) {
    let mut buf: FrameBuf = [0; 1514];
    while node.poll_output(&mut buf).is_some() {}
}

/// Drains `node`, noting every peer advert it reports in `roster`, as the daemon does.
fn drain_into(node: &mut Node, roster: &mut Roster, now: Instant) {
    let mut buf: FrameBuf = [0; 1514];
    while let Some(out) = node.poll_output(&mut buf) {
        if let Output::Event(Event::PeerHeard(peer)) = out {
            roster.heard(now, peer);
        }
    }
}

#[test]
fn backup_names_the_holder_by_member_name() {
    let clock = Clock::start();
    let mut b = bare_node("node-b", 12, 200);
    let (advert, now) = until_master(&mut b);
    let config = agent_config("node-a", &[("node-a", 11), ("node-b", 12), ("node-c", 13)]);
    let mut a = Node::new(core_config(&config, 11, 100), 1, Instant::ZERO);
    drain(&mut a);
    let mut roster = Roster::default();
    a.handle_frame(now, &advert);
    drain_into(&mut a, &mut roster, now);

    let s = build(&config, &a, &roster, &clock, Instant::ZERO);
    assert_eq!(s.vip_host.as_deref(), Some("node-b"));
    assert_eq!(s.hwaddr.as_deref(), Some("02:00:00:00:00:0c"));
    assert_eq!(s.state, "backup");
    assert_eq!(s.priority, 100);
    assert!(s.since.is_some());
    let names: Vec<_> = s.members.iter().map(|m| m.name.as_deref()).collect();
    assert_eq!(names, [Some("node-a"), Some("node-b"), Some("node-c")]);
    assert!(s.members[0].is_self);
    assert!(s.members[1].holder);
    assert_eq!(s.members[1].priority, Some(200));
    assert!(s.members[1].last_heard.is_some());
    assert_eq!(s.members[2].last_heard, None, "node-c was never heard");

    // Without member names, the holder is shown by address and listed as heard.
    let mut a = bare_node("node-a", 11, 100);
    let mut roster = Roster::default();
    a.handle_frame(now, &advert);
    drain_into(&mut a, &mut roster, now);
    let s = build(
        &agent_config("node-a", &[]),
        &a,
        &roster,
        &clock,
        Instant::ZERO,
    );
    assert_eq!(s.vip_host.as_deref(), Some("192.0.2.12"));
    assert_eq!(s.members.len(), 2);
    assert_eq!(s.members[1].name, None);
    assert_eq!(s.members[1].address, Ipv4Addr::new(192, 0, 2, 12));
}

#[test]
fn holder_shows_its_own_name() {
    let clock = Clock::start();
    let config = agent_config("node-b", &[("b-by-member-name", 12)]);
    let mut b = Node::new(core_config(&config, 12, 200), 2, Instant::ZERO);
    drain(&mut b);
    until_master(&mut b);
    let s = build(&config, &b, &Roster::default(), &clock, Instant::ZERO);
    assert_eq!(s.vip_host.as_deref(), Some("node-b"));
    assert_eq!(s.state, "master");
    assert_eq!(s.members.len(), 1, "own member entry is merged into self");
    assert!(s.members[0].holder);
}

#[test]
fn json_has_the_documented_shape() {
    let clock = Clock::start();
    let a = bare_node("node-a", 11, 100);
    let s = build(
        &agent_config("node-a", &[]),
        &a,
        &Roster::default(),
        &clock,
        Instant::ZERO,
    );
    let v = serde_json::to_value(&s).unwrap();
    for key in [
        "cluster",
        "node",
        "interface",
        "address",
        "vip",
        "vipHost",
        "hwaddr",
        "requestedIP",
        "state",
        "stateSince",
        "protocol",
        "priority",
        "since",
        "term",
        "members",
    ] {
        assert!(v.get(key).is_some(), "missing {key} in {v}");
    }
    assert_eq!(v["vip"], "192.0.2.100");
    assert_eq!(v["vipHost"], serde_json::Value::Null);
    assert_eq!(v["requestedIP"], serde_json::Value::Null);
    assert_eq!(v["term"], serde_json::Value::Null);
    assert_eq!(v["protocol"], "vrrp");
    assert_eq!(v["priority"], 100);
    let member = &v["members"][0];
    for key in ["name", "address", "self", "holder", "lastHeard", "priority"] {
        assert!(member.get(key).is_some(), "missing members[].{key}");
    }
    assert!(v["stateSince"].as_str().unwrap().ends_with('Z'));
    let back: Status = serde_json::from_value(v).unwrap();
    assert_eq!(back, s);
    assert!(render_table(&s).contains("vipHost    -"));
}

#[test]
fn roster_hears_only_peers_adverts_and_stays_bounded() {
    let mut b = bare_node("node-b", 12, 200);
    let (advert, now) = until_master(&mut b);
    let mut roster = Roster::default();
    // The core reports no advert of its own, of another VRID, or malformed.
    b.handle_frame(now, &advert);
    drain_into(&mut b, &mut roster, now);
    let mut other = bare_node("node-a", 11, 100);
    let mut wrong_vrid = advert.clone();
    wrong_vrid[14 + 20 + 1] = 52;
    for frame in [&wrong_vrid[..], &advert[..20], b"garbage"] {
        other.handle_frame(now, frame);
        drain_into(&mut other, &mut roster, now);
    }
    assert_eq!(roster.iter().count(), 0);
    other.handle_frame(now, &advert);
    drain_into(&mut other, &mut roster, now);
    let heard = roster
        .get(Ipv4Addr::new(192, 0, 2, 12))
        .expect("peer heard");
    assert_eq!(heard.peer.priority, 200);
    let mut roster = Roster::default();
    for i in 0..200u32 {
        let peer = Peer {
            address: Ipv4Addr::from(0x0a00_0000 + i),
            hwaddr: EthernetAddress([2, 0, 0, 0, 0, 1]),
            priority: 1,
            term: None,
        };
        roster.heard(Instant::from_micros(u64::from(i)), peer);
    }
    assert_eq!(roster.iter().count(), ROSTER_CAPACITY);
    assert!(
        roster.get(Ipv4Addr::from(0x0a00_0000 + 199)).is_some(),
        "newest kept"
    );
    assert!(
        roster.get(Ipv4Addr::from(0x0a00_0000)).is_none(),
        "oldest evicted"
    );
}
