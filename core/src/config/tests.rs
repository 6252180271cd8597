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
            vip: Ipv4Addr::new(192, 0, 2, 100).into(),
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
    s.cluster.vip = s.host.address.into();
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
    s.cluster.vip = Ipv4Addr::new(198, 51, 100, 7).into();
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
    s.cluster.vip = Ipv4Addr::new(192, 0, 2, 255).into();
    assert_eq!(only_error(s.clone()).rule, Rule::VipSubnetEdge);
    s.cluster.vip = Ipv4Addr::new(224, 0, 0, 18).into();
    assert_eq!(only_error(s.clone()).rule, Rule::VipNotUnicast);
    // Without host facts only the unicast rule applies.
    s.cluster.vip = Ipv4Addr::new(198, 51, 100, 7).into();
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
    s.cluster.vip = s.host.address.into();
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
    member(&mut s, "c", Ipv4Addr::new(192, 0, 2, 100));
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

fn dhcp(hwaddr: [u8; 6]) -> NodeSettings {
    let mut s = settings();
    s.cluster.vip = VipSettings::Dhcp(DhcpSettings {
        hwaddr: EthernetAddress(hwaddr),
    });
    s
}

#[test]
fn a_dhcp_vip_mac_is_the_vip_mac_and_must_be_local_unicast() {
    let c = Config::new(dhcp([0x02, 0, 0, 0x09, 0x7f, 0x3f])).unwrap();
    assert_eq!(c.vip_mac(), EthernetAddress([0x02, 0, 0, 0x09, 0x7f, 0x3f]));
    assert_eq!(c.static_vip(), None);
    // Group bit, then a universally administered (vendor) address.
    for mac in [[0x03, 0, 0, 0, 0, 1], [0x00, 0x16, 0x3e, 0, 0, 1]] {
        let e = only_error(dhcp(mac));
        assert_eq!(e.key.name, "vip.hwaddr");
        assert!(text(&e.rule).contains("locally administered"));
        assert_eq!(e.rule, Rule::HwaddrNotLocal);
    }
    // The node's own MAC cannot be shared.
    let own = settings().host.mac.0;
    assert_eq!(only_error(dhcp(own)).rule, Rule::HwaddrIsNodeMac);
}

#[test]
fn vrrp_virtual_mac_beside_a_dhcp_vip_is_refused() {
    let mut s = dhcp([0x02, 0, 0, 0x09, 0x7f, 0x3f]);
    let ElectionSettings::Vrrp(v) = &mut s.cluster.election else {
        panic!("settings() runs VRRP");
    };
    v.virtual_mac = true;
    let e = only_error(s);
    assert_eq!(e.key.name, "election.virtual_mac");
    assert_eq!(e.rule, Rule::VirtualMacWithDhcp);
}

#[test]
fn the_derived_vip_mac_is_stable_local_unicast_and_differs_per_cluster() {
    let a = derived_hwaddr(&name("harvester"));
    assert_eq!(a, derived_hwaddr(&name("harvester")));
    assert!(hwaddr_allowed(a), "{a}");
    assert_ne!(a, derived_hwaddr(&name("harvester-2")));
    // Pinned: an operator writes this into the DHCP server once.
    assert_eq!(DhcpSettings::derived(&name("harvester")).hwaddr, a);
    assert_eq!(text(text::MacText(a)).as_str(), "8a:f5:f5:e1:40:7f");
}

#[test]
fn a_leased_address_is_held_to_the_static_vip_rules() {
    let mut s = dhcp([0x02, 0, 0, 0x09, 0x7f, 0x3f]);
    member(&mut s, "node-b", Ipv4Addr::new(192, 0, 2, 12));
    let c = Config::new(s).unwrap();
    let rule = |a: [u8; 4]| c.leased_vip_rule(Ipv4Addr::from(a));
    assert_eq!(rule([192, 0, 2, 100]), None);
    assert_eq!(rule([192, 0, 2, 11]), Some(VipRule::NodeAddress));
    assert_eq!(rule([192, 0, 2, 12]), Some(VipRule::MemberAddress));
    assert_eq!(rule([198, 51, 100, 1]), Some(VipRule::OutsideSubnet));
    assert_eq!(rule([192, 0, 2, 0]), Some(VipRule::SubnetEdge));
    assert_eq!(rule([0, 0, 0, 0]), Some(VipRule::NotUnicast));
}
