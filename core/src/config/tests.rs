use super::limits::{GARP_COUNT, PRIORITY, VRRP_ADVERT_INTERVAL};
use super::*;

fn name(text: &str) -> Name {
    Name::new(text).unwrap()
}

fn text(v: impl core::fmt::Display) -> heapless::String<160> {
    let mut s = heapless::String::new();
    core::fmt::write(&mut s, format_args!("{v}")).unwrap();
    s
}

pub(crate) fn settings() -> NodeSettings {
    NodeSettings {
        host: HostFacts {
            name: name("node-a"),
            mac: EthernetAddress([0x02, 0, 0, 0, 0, 0x0b]),
            address: Ipv4Addr::new(192, 0, 2, 11),
            prefix_len: 24,
        },
        cluster: ClusterSettings {
            cluster: name("test"),
            vip: Ipv4Addr::new(192, 0, 2, 100),
            members: Members::new(),
            announce: AnnounceConfig::default(),
            election: ElectionSettings::Vrrp(VrrpSettings::default()),
        },
    }
}

fn vrrp(f: impl FnOnce(&mut VrrpSettings)) -> NodeSettings {
    let mut s = settings();
    let ElectionSettings::Vrrp(v) = &mut s.cluster.election else {
        panic!("settings() runs VRRP");
    };
    f(v);
    s
}

fn member(s: &mut NodeSettings, n: &str, address: Ipv4Addr) {
    let m = Member {
        name: name(n),
        address,
        witness: false,
    };
    s.cluster.members.push(m).unwrap();
}

fn only_error(s: NodeSettings) -> ConfigError {
    let errors = Config::new(s).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
    errors[0].clone()
}

#[test]
fn zero_or_group_mac_is_refused() {
    for mac in [[0u8; 6], [0xff; 6], [0x01, 0, 0x5e, 0, 0, 1]] {
        let mut s = settings();
        s.host.mac = EthernetAddress(mac);
        assert_eq!(only_error(s).rule, Rule::MacNotUnicast);
    }
}

#[test]
fn good_settings_pass() {
    let c = Config::new(settings()).unwrap();
    assert_eq!(c.vip_mac(), settings().host.mac);
    let c = Config::new(vrrp(|v| v.virtual_mac = true)).unwrap();
    assert_eq!(c.vip_mac(), EthernetAddress([0, 0, 0x5e, 0, 1, 51]));
}

#[test]
fn vip_equal_to_node_address_is_refused() {
    let mut s = settings();
    s.cluster.vip = s.host.address;
    let e = only_error(s.clone());
    assert_eq!(e.key, Key::new("vip.address"));
    assert_eq!(e.rule, Rule::VipIsNodeAddress(s.host.address));
    assert_eq!(
        text(&e),
        "vip.address: must differ from the node's own address 192.0.2.11"
    );
}

#[test]
fn vip_outside_subnet_is_refused() {
    let mut s = settings();
    s.cluster.vip = Ipv4Addr::new(198, 51, 100, 7);
    let e = only_error(s.clone());
    assert_eq!(e.key.name, "vip.address");
    assert!(matches!(
        e.rule,
        Rule::VipOutsideSubnet { prefix_len: 24, .. }
    ));
    assert_eq!(
        text(e.message()),
        "must be inside the node's subnet 192.0.2.0/24, not 198.51.100.7"
    );
    s.cluster.vip = Ipv4Addr::new(192, 0, 2, 255);
    assert_eq!(only_error(s.clone()).rule, Rule::VipSubnetEdge);
    s.cluster.vip = Ipv4Addr::new(224, 0, 0, 18);
    assert_eq!(only_error(s.clone()).rule, Rule::VipNotUnicast);
    // Without host facts only the unicast rule applies.
    s.cluster.vip = Ipv4Addr::new(198, 51, 100, 7);
    assert!(s.cluster.check().is_ok());
}

#[test]
fn interval_bounds_are_enforced() {
    for bad in [Duration::from_millis(9), Duration::from_millis(40_960)] {
        let e = only_error(vrrp(|v| v.advert_interval = bad));
        assert_eq!(e.key.name, "election.advert_interval");
        assert_eq!(e.rule, Rule::DurationRange(VRRP_ADVERT_INTERVAL));
    }
    let e = only_error(vrrp(|v| v.advert_interval = Duration::from_millis(15)));
    assert_eq!(e.rule, Rule::NotCentiseconds);
    assert_eq!(
        text(e.message()),
        "must be a multiple of 10ms (VRRP counts centiseconds), not \"15ms\""
    );
    assert!(Config::new(vrrp(|v| v.advert_interval = Duration::from_millis(10))).is_ok());
    assert!(Config::new(vrrp(|v| v.advert_interval = Duration::from_millis(40_950))).is_ok());
}

#[test]
fn priority_and_vrid_ranges_are_enforced() {
    let e = only_error(vrrp(|v| v.priority = 0));
    assert_eq!(e.key.name, "election.priority");
    assert_eq!(e.rule, Rule::Range(PRIORITY));
    assert_eq!(text(e.message()), "must be from 1 to 255, not 0");
    let e = only_error(vrrp(|v| v.vrid = 0));
    assert_eq!(e.key.name, "election.vrid");
    assert_eq!(PRIORITY.fit_u8(300), None);
    assert_eq!(PRIORITY.fit_u8(-1), None);
    assert_eq!(GARP_COUNT.fit_u8(100), Some(100));
}

#[test]
fn every_problem_is_reported() {
    let mut s = vrrp(|v| {
        v.priority = 0;
        v.vrid = 0;
    });
    s.cluster.announce.garp_count = 0;
    s.cluster.vip = s.host.address;
    let keys: heapless::Vec<&str, 8> = Config::new(s)
        .unwrap_err()
        .iter()
        .map(|e| e.key.name)
        .collect();
    assert_eq!(
        keys.as_slice(),
        [
            "vip.address",
            "announce.garp_count",
            "election.vrid",
            "election.priority"
        ]
    );
}

#[test]
fn members_are_unique_off_the_vip_and_on_the_subnet() {
    let mut s = settings();
    member(&mut s, "b", Ipv4Addr::new(192, 0, 2, 12));
    member(&mut s, "b", Ipv4Addr::new(192, 0, 2, 12));
    let vip = s.cluster.vip;
    member(&mut s, "c", vip);
    let errors = s.cluster.check().unwrap_err();
    let lines: heapless::Vec<heapless::String<160>, 4> = errors.iter().map(text).collect();
    assert_eq!(
        lines.as_slice(),
        [
            "member[2].name: \"b\" is listed twice",
            "member[2].address: 192.0.2.12 is listed twice",
            "vip.address: must differ from member c's address 192.0.2.100",
        ]
    );
    let mut s = settings();
    member(&mut s, "node-a", Ipv4Addr::new(192, 0, 2, 99));
    member(&mut s, "b", Ipv4Addr::new(198, 51, 100, 12));
    let errors = Config::new(s).unwrap_err();
    let lines: heapless::Vec<heapless::String<160>, 4> = errors.iter().map(text).collect();
    assert_eq!(
        lines.as_slice(),
        [
            "member[1].address: member node-a is this node, but its address is 192.0.2.11, not 192.0.2.99",
            "member[2].address: must be inside the node's subnet 192.0.2.0/24 (member b)",
        ]
    );
    let mut s = settings();
    member(&mut s, "node-a", Ipv4Addr::new(192, 0, 2, 11));
    let c = Config::new(s).unwrap();
    assert_eq!(
        c.member_name(Ipv4Addr::new(192, 0, 2, 11))
            .unwrap()
            .as_str(),
        "node-a"
    );
}
