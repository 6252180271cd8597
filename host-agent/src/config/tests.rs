//! Config layer tests: every rule, and every message names the file and key.

use super::*;
use vip_core::{AnnounceConfig, ChecksumMode, GarpForm};

const FULL: &str = r#"
cluster = "mgmt"
node = "node-a"
interface = "mgmt-br"
[vip]
address = "192.0.2.100"
[election]
protocol = "vrrp"
priority = 150
advert_interval = "10ms"
vrid = 52
preempt = false
preempt_delay = "1.5s"
checksum = "pseudo-header"
virtual_mac = false
[announce]
garp_count = 5
garp_interval = "20ms"
refresh_interval = "30s"
form = "reply"
answer_arp = false
[status]
socket = "/run/vipd/test.sock"
http = "127.0.0.1:9405"
[hooks]
on_acquire = "/usr/local/lib/vipd/acquire"
on_release = "/usr/local/lib/vipd/release"
timeout = "2s"
[health]
command = "/usr/local/bin/check --quick"
interval = "500ms"
[[member]]
name = "node-a"
address = "192.0.2.11"
[[member]]
name = "node-b"
address = "192.0.2.12"
"#;

const MINIMAL: &str = r#"
cluster = "mgmt"
interface = "eth0"
[vip]
address = "192.0.2.100"
"#;

fn file() -> &'static Path {
    Path::new("/etc/vipd/vipd.toml")
}

fn checked(text: &str) -> Result<AgentConfig, Vec<Problem>> {
    let raw = parse(text).map_err(|p| vec![p])?;
    validate(file(), raw, || Some("host-1".into()))
}

/// The problems of `text` with `line` added to section `[section]` (or the top).
fn problems_with(section: &str, line: &str) -> Vec<Problem> {
    let text = if section.is_empty() {
        format!("{line}\n{MINIMAL}")
    } else {
        format!("{MINIMAL}[{section}]\n{line}\n")
    };
    match checked(&text) {
        Ok(_) => panic!("accepted: {text}"),
        Err(p) => p,
    }
}

fn only(section: &str, line: &str) -> Problem {
    let p = problems_with(section, line);
    assert_eq!(p.len(), 1, "{p:?}");
    p.into_iter().next().unwrap()
}

#[test]
fn full_example_is_read_exactly() {
    let c = checked(FULL).unwrap();
    assert_eq!(c.cluster(), "mgmt");
    assert_eq!(c.node.as_str(), "node-a");
    assert_eq!(c.interface, "mgmt-br");
    assert_eq!(c.vip(), Some(Ipv4Addr::new(192, 0, 2, 100)));
    assert_eq!(c.protocol(), Protocol::Vrrp);
    assert_eq!(c.vrrp().unwrap().priority, 150);
    assert_eq!(c.vrrp().unwrap().vrid, 52);
    assert_eq!(c.vrrp().unwrap().advert_interval, Duration::from_millis(10));
    assert!(!c.vrrp().unwrap().preempt);
    assert_eq!(c.vrrp().unwrap().preempt_delay, Duration::from_millis(1500));
    assert_eq!(c.vrrp().unwrap().checksum, ChecksumMode::PseudoHeader);
    assert!(!c.vrrp().unwrap().virtual_mac);
    assert_eq!(c.settings.announce.garp_count, 5);
    assert_eq!(c.settings.announce.garp_interval, Duration::from_millis(20));
    assert_eq!(
        c.settings.announce.refresh_interval,
        Duration::from_secs(30)
    );
    assert_eq!(c.settings.announce.form, GarpForm::Reply);
    assert!(!c.settings.announce.answer_arp);
    assert_eq!(c.status.socket, PathBuf::from("/run/vipd/test.sock"));
    assert_eq!(c.status.http, Some("127.0.0.1:9405".parse().unwrap()));
    assert_eq!(
        c.hooks.on_acquire.as_deref(),
        Some("/usr/local/lib/vipd/acquire")
    );
    assert_eq!(c.hooks.timeout, Duration::from_secs(2));
    let h = c.health.as_ref().unwrap();
    assert_eq!(h.interval, Duration::from_millis(500));
    assert_eq!(
        h.timeout, h.interval,
        "health timeout defaults to the interval"
    );
    assert_eq!(c.members().len(), 2);
    assert_eq!(c.member_name(Ipv4Addr::new(192, 0, 2, 12)), Some("node-b"));
    assert_eq!(c.member_name(Ipv4Addr::new(192, 0, 2, 13)), None);
}

#[test]
fn defaults_fill_what_is_left_out() {
    let c = checked(MINIMAL).unwrap();
    assert_eq!(c.node.as_str(), "host-1", "node defaults to the host name");
    assert_eq!(*c.vrrp().unwrap(), VrrpSettings::default());
    assert_eq!(c.settings.announce, AnnounceConfig::default());
    assert_eq!(c.status.socket, PathBuf::from(DEFAULT_SOCKET));
    assert_eq!(c.status.http, None);
    assert_eq!(c.hooks.on_acquire, None);
    assert_eq!(c.hooks.timeout, Duration::from_secs(10));
    assert_eq!(c.health, None);
    assert!(c.members().is_empty());
    let raw = parse(MINIMAL).unwrap();
    let e = validate(file(), raw, || None).unwrap_err();
    assert_eq!(
        e,
        vec![Problem::new(
            "node",
            "is required: the host name could not be read"
        )]
    );
}

#[test]
fn misspelt_keys_are_named_with_their_path() {
    let p = only("election", "prioirty = 5");
    assert_eq!(p.key, "election.prioirty");
    assert!(
        p.rule
            .starts_with("unknown key (known keys: protocol, priority,"),
        "{}",
        p.rule
    );
    assert_eq!(only("", "clutser = \"x\"").key, "clutser");
    assert_eq!(only("announce", "garps = 1").key, "announce.garps");
    assert_eq!(only("status", "port = 1").key, "status.port");
    let p = checked(&format!(
        "{MINIMAL}[[member]]\nname = \"a\"\naddress = \"192.0.2.1\"\nfoo = 1\n"
    ))
    .unwrap_err();
    assert_eq!(p[0].key, "member[1].foo");
}

#[test]
fn wrong_types_say_what_is_expected() {
    assert_eq!(
        only("election", "priority = \"high\""),
        Problem::new(
            "election.priority",
            "must be an integer, not string \"high\""
        )
    );
    assert_eq!(
        only("election", "preempt = 1"),
        Problem::new("election.preempt", "must be true or false, not integer 1")
    );
    assert_eq!(
        only("election", "advert_interval = 10").key,
        "election.advert_interval"
    );
    let p = checked("cluster = \"c\"\ninterface = \"eth0\"\nvip = \"192.0.2.1\"\n").unwrap_err();
    assert_eq!(p[0].key, "vip");
    assert!(p[0].rule.starts_with("must be a table"), "{}", p[0].rule);
}

#[test]
fn missing_keys_are_required() {
    let p = checked("interface = \"eth0\"\n[vip]\naddress = \"192.0.2.1\"\n").unwrap_err();
    assert_eq!(p, vec![Problem::new("cluster", "is required")]);
    let p = checked("cluster = \"c\"\ninterface = \"eth0\"\n").unwrap_err();
    assert_eq!(p, vec![Problem::new("vip", "is required")]);
    let p = checked(&format!("{MINIMAL}[health]\ninterval = \"1s\"\n")).unwrap_err();
    assert_eq!(p, vec![Problem::new("health.command", "is required")]);
    let p = checked(&format!(
        "{MINIMAL}[[member]]\nname = \"a\"\naddress = \"192.0.2.1\"\n[[member]]\nname = \"b\"\n"
    ))
    .unwrap_err();
    assert_eq!(p, vec![Problem::new("member[2].address", "is required")]);
}

#[test]
fn syntax_errors_name_line_and_column() {
    let p = checked(&format!("{MINIMAL}[election\n")).unwrap_err();
    assert_eq!(p[0].key, "line 6, column 10");
    assert!(p[0].rule.starts_with("invalid TOML: "), "{}", p[0].rule);
}

/// A key file of `len` bytes with `mode`, in `dir`.
fn key_file(dir: &Path, len: usize, mode: u32) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let path = dir.join("cluster.key");
    std::fs::write(&path, vec![7u8; len]).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

/// A quorum config with three members and `extra` lines in `[election]`.
fn quorum_text(key: &Path, extra: &str) -> String {
    format!(
        "{MINIMAL}[election]\nkey_file = \"{}\"\n{extra}\n\
         [[member]]\nname = \"a\"\naddress = \"192.0.2.11\"\n\
         [[member]]\nname = \"b\"\naddress = \"192.0.2.12\"\n\
         [[member]]\nname = \"w\"\naddress = \"192.0.2.13\"\nwitness = true\n",
        key.display()
    )
}

#[test]
fn three_members_default_to_quorum_with_the_cores_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let key = key_file(dir.path(), 32, 0o600);
    let c = checked(&quorum_text(&key, "")).unwrap();
    assert_eq!(c.protocol(), Protocol::Quorum);
    let q = c.quorum().unwrap();
    assert_eq!(
        q.advert_interval,
        vip_core::QuorumSettings::DEFAULT_ADVERT_INTERVAL
    );
    assert_eq!(
        q.lease,
        vip_core::QuorumSettings::default_lease(q.advert_interval)
    );
    assert_eq!(q.key.len(), 32);
    assert!(c.members()[2].witness);
    let f = facts(&[("192.0.2.11", 24)]);
    let text = format!("node = \"a\"\n{}", quorum_text(&key, ""));
    let config = checked(&text).unwrap();
    let r = resolve(&config, &f).unwrap();
    let printed = effective::render(&config, &r, 7);
    assert!(printed.contains("config digest"), "{printed}");
    let again = checked(&printed).unwrap_or_else(|p| panic!("{p:?}\n{printed}"));
    assert_eq!(again, config, "{printed}");
}

#[test]
fn the_key_file_must_exist_be_private_and_hold_32_to_64_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let public = key_file(dir.path(), 32, 0o644);
    let p = checked(&quorum_text(&public, "")).unwrap_err();
    assert_eq!(p[0].key, "election.key_file");
    assert!(
        p[0].rule.contains("readable by its owner only (mode 644"),
        "{}",
        p[0].rule
    );
    let short = key_file(dir.path(), 16, 0o600);
    let p = checked(&quorum_text(&short, "")).unwrap_err();
    assert!(p[0].rule.contains("holds 16 bytes"), "{}", p[0].rule);
    let missing = dir.path().join("nope.key");
    let p = checked(&quorum_text(&missing, "")).unwrap_err();
    assert!(p[0].rule.contains("cannot be read"), "{}", p[0].rule);
    let text = format!("{MINIMAL}[election]\nprotocol = \"quorum\"\n");
    let p = checked(&text).unwrap_err();
    assert!(
        p.iter()
            .any(|p| p.key == "election.key_file" && p.rule.contains("is required")),
        "{p:?}"
    );
}

#[test]
fn quorum_refuses_two_members_and_keys_of_the_other_protocol() {
    let dir = tempfile::tempdir().unwrap();
    let key = key_file(dir.path(), 32, 0o600);
    let two = format!(
        "{MINIMAL}[election]\nprotocol = \"quorum\"\nkey_file = \"{}\"\n\
         [[member]]\nname = \"a\"\naddress = \"192.0.2.11\"\n\
         [[member]]\nname = \"b\"\naddress = \"192.0.2.12\"\n",
        key.display()
    );
    let p = checked(&two).unwrap_err();
    assert_eq!(p[0].key, "member");
    assert!(
        p[0].rule.contains("add a third member with witness = true"),
        "{}",
        p[0].rule
    );
    let p = checked(&quorum_text(&key, "vrid = 7")).unwrap_err();
    assert_eq!(p[0].key, "election.vrid");
    assert!(
        p[0].rule.contains("applies only to another protocol"),
        "{}",
        p[0].rule
    );
    let p = checked(&quorum_text(
        &key,
        "lease = \"20ms\"\nadvert_interval = \"10ms\"",
    ))
    .unwrap_err();
    assert_eq!(p[0].key, "election.lease");
    assert!(
        p[0].rule.contains("at least 3 advert intervals"),
        "{}",
        p[0].rule
    );
    assert_eq!(
        only("election", "protocol = \"carp\""),
        Problem::new(
            "election.protocol",
            "must be \"vrrp\", \"quorum\" or \"etcd\", not \"carp\""
        )
    );
    // etcd without its [etcd] table: the endpoints are asked for.
    let p = problems_with("election", "protocol = \"etcd\"");
    assert_eq!(p[0].key, "etcd.endpoints");
    let text = format!("{MINIMAL}[election]\nlease = \"1s\"\n");
    assert_eq!(
        checked(&text).unwrap_err()[0].key,
        "election.lease",
        "a VRRP config"
    );
}

#[test]
fn numbers_are_range_checked() {
    for (line, key, rule) in [
        (
            "priority = 0",
            "election.priority",
            "must be from 1 to 255, not 0",
        ),
        (
            "priority = 256",
            "election.priority",
            "must be from 1 to 255, not 256",
        ),
        (
            "priority = -1",
            "election.priority",
            "must be from 1 to 255, not -1",
        ),
        ("vrid = 0", "election.vrid", "must be from 1 to 255, not 0"),
        (
            "vrid = 1000",
            "election.vrid",
            "must be from 1 to 255, not 1000",
        ),
    ] {
        assert_eq!(only("election", line), Problem::new(key, rule));
    }
    assert_eq!(
        only("announce", "garp_count = 0"),
        Problem::new("announce.garp_count", "must be from 1 to 100, not 0")
    );
    assert_eq!(
        only("announce", "garp_count = 101"),
        Problem::new("announce.garp_count", "must be from 1 to 100, not 101")
    );
}

#[test]
fn durations_are_parsed_and_range_checked() {
    assert_eq!(
        only("election", "advert_interval = \"fast\""),
        Problem::new(
            "election.advert_interval",
            "must be a duration such as \"10ms\", \"1.5s\" or \"250us\", not \"fast\""
        )
    );
    assert_eq!(
        only("election", "advert_interval = \"5ms\""),
        Problem::new(
            "election.advert_interval",
            "must be from 10ms to 40950ms, not \"5ms\""
        )
    );
    assert_eq!(
        only("election", "advert_interval = \"15ms\""),
        Problem::new(
            "election.advert_interval",
            "must be a multiple of 10ms (VRRP counts centiseconds), not \"15ms\""
        )
    );
    assert_eq!(
        only("election", "preempt_delay = \"2h\"").key,
        "election.preempt_delay"
    );
    assert_eq!(
        only("announce", "garp_interval = \"0s\"").key,
        "announce.garp_interval"
    );
    assert_eq!(
        only("announce", "garp_interval = \"2m\"").key,
        "announce.garp_interval"
    );
    assert_eq!(
        only("announce", "refresh_interval = \"1ms\"").key,
        "announce.refresh_interval"
    );
    assert!(checked(&format!("{MINIMAL}[announce]\nrefresh_interval = \"0\"\n")).is_ok());
    assert_eq!(
        only("hooks", "timeout = \"10 sec\""),
        Problem::new(
            "hooks.timeout",
            "must be a duration such as \"10ms\", \"1.5s\" or \"250us\", not \"10 sec\""
        )
    );
    let p = problems_with(
        "health",
        "command = \"true\"\ninterval = \"1ms\"\ntimeout = \"x\"",
    );
    let keys: Vec<&str> = p.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(keys, ["health.interval", "health.timeout"]);
}

#[test]
fn enumerations_list_their_values() {
    assert_eq!(
        only("election", "checksum = \"crc\""),
        Problem::new(
            "election.checksum",
            "must be \"auto\", \"rfc9568\" or \"pseudo-header\", not \"crc\""
        )
    );
    assert_eq!(
        only("announce", "form = \"all\""),
        Problem::new(
            "announce.form",
            "must be \"request\", \"reply\" or \"both\", not \"all\""
        )
    );
}

#[test]
fn names_and_addresses_are_checked() {
    assert_eq!(only("", "node = \"\"").key, "node");
    assert_eq!(only("", "node = \"node a\"").key, "node");
    let text = MINIMAL.replace("cluster = \"mgmt\"", "cluster = \"\"");
    assert_eq!(
        checked(&text).unwrap_err(),
        vec![Problem::new("cluster", "must not be empty")]
    );
    let text = MINIMAL.replace("\"eth0\"", "\"a-very-long-interface\"");
    assert_eq!(checked(&text).unwrap_err()[0].key, "interface");
    let text = MINIMAL.replace("192.0.2.100", "192.0.2");
    assert_eq!(
        checked(&text).unwrap_err(),
        vec![Problem::new(
            "vip.address",
            "must be an IPv4 address such as 192.0.2.100, not \"192.0.2\""
        )]
    );
    assert_eq!(
        only("status", "socket = \"vipd.sock\"").key,
        "status.socket"
    );
    assert_eq!(
        only("status", "http = \"localhost\""),
        Problem::new(
            "status.http",
            "must be ADDRESS:PORT such as 127.0.0.1:9405, not \"localhost\""
        )
    );
    assert_eq!(only("hooks", "on_acquire = \" \"").key, "hooks.on_acquire");
}

#[test]
fn members_are_checked() {
    let member = |name: &str, address: &str| {
        format!("[[member]]\nname = \"{name}\"\naddress = \"{address}\"\n")
    };
    let text = format!(
        "{MINIMAL}{}{}",
        member("b", "192.0.2.12"),
        member("b", "192.0.2.12")
    );
    assert_eq!(
        checked(&text).unwrap_err(),
        vec![
            Problem::new("member[2].name", "\"b\" is listed twice"),
            Problem::new("member[2].address", "192.0.2.12 is listed twice"),
        ]
    );
    let text = format!("{MINIMAL}{}", member("node-b", "192.0.2.100"));
    assert_eq!(
        checked(&text).unwrap_err(),
        vec![Problem::new(
            "vip.address",
            "must differ from member node-b's address 192.0.2.100"
        )]
    );
    let text = format!("{MINIMAL}{}", member("c", "not-an-ip"));
    assert_eq!(checked(&text).unwrap_err()[0].key, "member[1].address");
}

#[test]
fn every_problem_is_reported_at_once() {
    let text = format!(
        "{MINIMAL}[election]\npriority = 0\nvrid = 0\nadvert_interval = \"1x\"\n[announce]\nform = \"x\"\n"
    );
    let keys: Vec<String> = checked(&text)
        .unwrap_err()
        .into_iter()
        .map(|p| p.key)
        .collect();
    assert_eq!(
        keys,
        [
            "election.advert_interval",
            "election.vrid",
            "election.priority",
            "announce.form"
        ]
    );
}

#[test]
fn failure_prints_file_key_rule_lines() {
    let f = ConfigFailure {
        file: file().into(),
        problems: vec![
            Problem::new(
                "vip.address",
                "must differ from the node's own address 192.0.2.11",
            ),
            Problem::new("election.priority", "must be from 1 to 255, not 0"),
        ],
    };
    assert_eq!(
        f.to_string(),
        "/etc/vipd/vipd.toml: vip.address: must differ from the node's own address 192.0.2.11\n\
         /etc/vipd/vipd.toml: election.priority: must be from 1 to 255, not 0"
    );
}

#[test]
fn load_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vipd.toml");
    let e = load(&path, || None).unwrap_err();
    assert_eq!(e.file, path);
    assert_eq!(e.problems[0].key, "file");
    std::fs::write(&path, format!("{MINIMAL}[election]\npriority = 0\n")).unwrap();
    let e = load(&path, || Some("h".into())).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}: election.priority: must be from 1 to 255, not 0",
            path.display()
        )
    );
    std::fs::write(&path, MINIMAL).unwrap();
    assert_eq!(load(&path, || Some("h".into())).unwrap().node.as_str(), "h");
}

// ---- resolve: the interface's facts and the core's rules ----

const MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0b];

fn facts(addresses: &[(&str, u8)]) -> InterfaceFacts {
    InterfaceFacts {
        mac: MAC,
        ipv4: addresses
            .iter()
            .map(|(a, l)| (a.parse().unwrap(), *l))
            .collect(),
    }
}

/// The whole pipeline: a value the file alone refuses is refused before the
/// interface is read.
fn resolved(text: &str, f: &InterfaceFacts) -> Result<Resolved, Vec<Problem>> {
    checked(text).and_then(|c| resolve(&c, f))
}

#[test]
fn node_address_is_the_first_in_the_vips_subnet() {
    let f = facts(&[("198.51.100.5", 24), ("192.0.2.11", 24), ("192.0.2.12", 24)]);
    let r = resolved(MINIMAL, &f).unwrap();
    assert_eq!(r.address, Ipv4Addr::new(192, 0, 2, 11));
    assert_eq!(r.prefix_len, 24);
    assert_eq!(r.core.static_vip(), Some(Ipv4Addr::new(192, 0, 2, 100)));
    assert_eq!(r.core.mac().0, MAC);
}

#[test]
fn a_stale_vip_is_not_the_node_address() {
    let f = facts(&[("192.0.2.100", 32), ("192.0.2.11", 24)]);
    assert_eq!(
        resolved(MINIMAL, &f).unwrap().address,
        Ipv4Addr::new(192, 0, 2, 11)
    );
    let f = facts(&[("192.0.2.100", 24)]);
    assert_eq!(
        resolved(MINIMAL, &f).unwrap_err(),
        vec![Problem::new(
            "vip.address",
            "must differ from the node's own address 192.0.2.100 (configured on eth0 as 192.0.2.100/24)"
        )]
    );
}

#[test]
fn vip_outside_the_subnet_is_refused_by_the_core() {
    let f = facts(&[("198.51.100.5", 24)]);
    assert_eq!(
        resolved(MINIMAL, &f).unwrap_err(),
        vec![Problem::new(
            "vip.address",
            "must be inside the node's subnet 198.51.100.0/24, not 192.0.2.100"
        )]
    );
}

#[test]
fn interface_without_ipv4_is_refused() {
    assert_eq!(
        resolved(MINIMAL, &facts(&[])).unwrap_err(),
        vec![Problem::new(
            "interface",
            "eth0 has no IPv4 address: the node's address is read from it"
        )]
    );
}

#[test]
fn bad_hwaddr_names_the_interface() {
    let mut f = facts(&[("192.0.2.11", 24)]);
    f.mac = [0x01, 0, 0x5e, 0, 0, 0x12];
    let p = resolved(MINIMAL, &f).unwrap_err();
    assert_eq!(
        p,
        vec![Problem::new(
            "interface",
            "eth0's hwaddr 01-00-5e-00-00-12: must be a unicast MAC address"
        )]
    );
}

#[test]
fn members_must_fit_the_interface() {
    let f = facts(&[("192.0.2.11", 24)]);
    let text = format!(
        "node = \"a\"\n{MINIMAL}[[member]]\nname = \"a\"\naddress = \"192.0.2.99\"\n\
         [[member]]\nname = \"b\"\naddress = \"198.51.100.12\"\n"
    );
    assert_eq!(
        resolved(&text, &f).unwrap_err(),
        vec![
            Problem::new(
                "member[1].address",
                "member a is this node, but its address on eth0 is 192.0.2.11, not 192.0.2.99"
            ),
            Problem::new(
                "member[2].address",
                "must be inside the node's subnet 192.0.2.0/24 (member b)"
            ),
        ]
    );
    let text =
        format!("node = \"a\"\n{MINIMAL}[[member]]\nname = \"a\"\naddress = \"192.0.2.11\"\n");
    assert!(resolved(&text, &f).is_ok());
}

#[test]
fn core_rules_come_through_with_their_keys() {
    // resolve never takes the VIP as the node's address, so the core's
    // "must differ from the node's own address" cannot fire here; the
    // subnet-edge and unicast rules can.
    let f = facts(&[("192.0.2.11", 24)]);
    let text = MINIMAL.replace("192.0.2.100", "192.0.2.255");
    assert_eq!(
        resolved(&text, &f).unwrap_err(),
        vec![Problem::new(
            "vip.address",
            "must not be the subnet's network or broadcast address, not 192.0.2.255"
        )]
    );
    let text = MINIMAL.replace("192.0.2.100", "224.0.0.18");
    assert_eq!(resolved(&text, &f).unwrap_err()[0].key, "vip.address");
}

#[test]
fn effective_config_reads_back_as_the_same_config() {
    let f = facts(&[("192.0.2.11", 24)]);
    for text in [FULL, MINIMAL] {
        let config = checked(text).unwrap();
        let r = resolve(&config, &f).unwrap();
        let printed = effective::render(&config, &r, 7);
        assert!(printed.contains("node address 192.0.2.11/24"), "{printed}");
        let again = checked(&printed).unwrap_or_else(|p| panic!("{p:?}\n{printed}"));
        assert_eq!(again, config, "{printed}");
    }
}

#[test]
fn virtual_mac_is_read() {
    let text = format!("{MINIMAL}[election]\nvirtual_mac = true\n");
    let c = checked(&text).expect("virtual_mac = true");
    assert!(c.vrrp().unwrap().virtual_mac);
    assert_eq!(
        c.settings.shared_vip_mac(),
        Some(vip_core::wire::EthernetAddress([0, 0, 0x5e, 0, 1, 51]))
    );
}

fn vip_problems(vip_section: &str) -> Vec<Problem> {
    let text = format!("cluster = \"harvester\"\ninterface = \"eth0\"\n[vip]\n{vip_section}\n");
    checked(&text).expect_err("refused")
}

#[test]
fn a_vip_needs_an_address_unless_it_is_leased() {
    let p = vip_problems("");
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].key, "vip.address");
    assert!(p[0].rule.contains("is required"), "{}", p[0].rule);
    let p = vip_problems("mode = \"leased\"\naddress = \"192.0.2.100\"");
    assert_eq!(p[0].key, "vip.mode");
    assert!(
        p[0].rule.contains("\"static\" or \"dhcp\""),
        "{}",
        p[0].rule
    );
}

#[test]
fn hwaddr_belongs_to_the_dhcp_mode_and_address_to_the_static_one() {
    let p = vip_problems("address = \"192.0.2.100\"\nhwaddr = \"02:00:00:09:7f:3f\"");
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].key, "vip.hwaddr");
    assert!(p[0].rule.contains("only to mode = \"dhcp\""));
    let p = vip_problems("mode = \"dhcp\"\naddress = \"192.0.2.100\"");
    assert!(p
        .iter()
        .any(|p| p.key == "vip.address" && p.rule.contains("DHCP server gives the address")));
}

#[test]
fn a_dhcp_vip_mac_is_read_given_or_derived_and_checked_by_the_core() {
    // Not a MAC at all.
    let p = vip_problems("mode = \"dhcp\"\nhwaddr = \"02:00:00:09:7f\"");
    assert!(p
        .iter()
        .any(|p| p.key == "vip.hwaddr" && p.rule.contains("must be a MAC address")));
    // A vendor (universally administered) MAC: the core's rule.
    let p = vip_problems("mode = \"dhcp\"\nhwaddr = \"00:16:3e:00:00:01\"");
    assert!(p
        .iter()
        .any(|p| p.key == "vip.hwaddr" && p.rule.contains("locally administered")));
    // Given, or derived from the cluster name; shown by `vipd check`.
    let text = "cluster = \"harvester\"\ninterface = \"eth0\"\n[vip]\nmode = \"dhcp\"\n";
    let c = checked(text).expect("a DHCP VIP");
    let VipSettings::Dhcp(d) = c.settings.vip else {
        panic!("not leased: {:?}", c.settings.vip);
    };
    assert_eq!(d.hwaddr.0, [0x8a, 0xf5, 0xf5, 0xe1, 0x40, 0x7f]);
    assert_eq!(c.vip(), None);
    let given = format!("{text}hwaddr = \"02:00:00:09:7f:3f\"\n");
    let c = checked(&given).expect("a DHCP VIP");
    assert_eq!(
        c.settings.vip,
        VipSettings::Dhcp(vip_core::DhcpSettings {
            hwaddr: vip_core::wire::EthernetAddress([2, 0, 0, 9, 0x7f, 0x3f])
        })
    );
}
