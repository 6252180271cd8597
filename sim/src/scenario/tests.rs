//! The scenario reader: keys, the core's words and ranges, defaults.

use vip_core::config::limits;
use vip_core::{AnnounceConfig, Duration, GarpForm};

use super::fault::FAULT_KINDS;
use super::read::ADVERT_INTERVAL;
use super::{Scenario, ScenarioError};

fn scenario(body: &str) -> Result<Scenario, Vec<ScenarioError>> {
    let head = "name = \"x\"\nprotocol = \"vrrp\"\nnodes = 3\nduration = \"10s\"\n";
    Scenario::from_toml(&format!("{head}{body}"))
}

fn fields(body: &str) -> Vec<String> {
    scenario(body)
        .unwrap_err()
        .into_iter()
        .map(|e| e.field)
        .collect()
}

#[test]
fn errors_name_the_key() {
    let text = r#"
        name = "x"
        protocol = "carp"
        nodes = 3
        duration = "10s"
        [[fault]]
        at = "1s"
        kind = "crash"
        node = 7
    "#;
    let errors = Scenario::from_toml(text).unwrap_err();
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["protocol", "fault[0].node"]);
    assert_eq!(
        errors[0].message,
        "must be \"vrrp\", \"quorum\" or \"etcd\", not \"carp\""
    );
}

fn quorum(body: &str) -> Result<Scenario, Vec<ScenarioError>> {
    let head = "name = \"x\"\nprotocol = \"quorum\"\nnodes = 3\nduration = \"10s\"\n";
    Scenario::from_toml(&format!("{head}{body}"))
}

#[test]
fn quorum_defaults_are_the_cores_and_its_keys_read() {
    use vip_core::QuorumSettings;
    let s = quorum("").unwrap();
    let q = s.nodes[1].config.quorum().unwrap();
    let d = QuorumSettings::with_defaults(ADVERT_INTERVAL, crate::scenario::cluster_key());
    assert_eq!(q.advert_interval, ADVERT_INTERVAL);
    assert_eq!(q.lease, QuorumSettings::default_lease(ADVERT_INTERVAL));
    assert_eq!(
        (q.max_drift_ppm, q.fence_margin),
        (d.max_drift_ppm, d.fence_margin)
    );
    assert_eq!(q.priority, 249);
    assert_eq!(s.host_uptime, super::HOST_UPTIME);
    assert_eq!(s.bound.drift_ppm, d.max_drift_ppm);
    let s = quorum(
        "host_uptime = \"10s\"\ndrift = \"adversarial\"\n[election]\nlease = \"1s\"\nmax_drift = 100\n\
         fence_margin = \"2ms\"\nreannounce_after = \"0\"\npreempt_delay = \"1s\"\n\
         [[node]]\nindex = 2\nwitness = true\n[attack]\nrate = 5\n",
    )
    .unwrap();
    let q = s.nodes[0].config.quorum().unwrap();
    assert_eq!(q.lease, Duration::from_secs(1));
    assert_eq!(
        (q.max_drift_ppm, q.fence_margin),
        (100, Duration::from_millis(2))
    );
    assert_eq!(q.reannounce_after, Duration::ZERO);
    assert_eq!(q.preempt_delay, Duration::from_secs(1));
    assert!(s.nodes[2].witness && s.nodes[0].config.members()[2].witness);
    assert_eq!(s.attack.rate, 5);
    assert_eq!(s.host_uptime, Duration::from_secs(10));
}

#[test]
fn quorum_rules_name_the_files_key() {
    // The core's: too few members, a short lease.
    let few =
        Scenario::from_toml("name = \"x\"\nprotocol = \"quorum\"\nnodes = 2\nduration = \"1s\"\n")
            .unwrap_err();
    assert_eq!(few[0].field, "member");
    let errors = quorum("[election]\nlease = \"150ms\"\n").unwrap_err();
    assert_eq!(errors[0].field, "election.lease");
    // The simulator's: drift beyond the bound, the digest defect on some nodes only.
    let errors = quorum("[[node]]\nindex = 1\ndrift_ppm = 600\n").unwrap_err();
    assert_eq!(errors[0].field, "node[0].drift_ppm");
    assert!(
        errors[0].message.contains("beyond election.max_drift"),
        "{errors:?}"
    );
    let errors = quorum("[[node]]\nindex = 1\ndefect = \"no_drift_margin\"\n").unwrap_err();
    assert_eq!(errors[0].field, "node.defect");
    // Keys of the other protocol.
    let errors =
        scenario("[election]\nlease = \"1s\"\n[[node]]\nindex = 0\nwitness = true\n").unwrap_err();
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["election.lease", "node[0].witness"]);
    let errors = quorum("[election]\nvirtual_mac = true\n").unwrap_err();
    assert_eq!(errors[0].field, "election.virtual_mac");
    let errors = scenario("[[fault]]\nat = \"1s\"\nkind = \"move\"\nnode = 0\n").unwrap_err();
    assert_eq!(errors[0].field, "fault.kind");
}

#[test]
fn every_duration_the_daemon_accepts_is_accepted() {
    let s = scenario("[election]\nadvert_interval = \"0.25s\"\n[network]\ndelay = \"1.5ms\"\n")
        .unwrap();
    let Some(v) = s.nodes[0].config.vrrp() else {
        panic!("a vrrp scenario");
    };
    assert_eq!(v.advert_interval, Duration::from_millis(250));
    assert_eq!(s.network.delay, Duration::from_micros(1500));
    let errors = scenario("[network]\njitter = \"10sec\"\n").unwrap_err();
    assert_eq!(errors[0].field, "network.jitter");
    assert!(
        errors[0].message.starts_with("unknown unit \"sec\""),
        "{errors:?}"
    );
}

#[test]
fn defaults_are_the_formats_and_the_cores() {
    let s = scenario("").unwrap();
    let c = &s.nodes[1].config;
    assert_eq!(c.vrrp().map(|v| v.advert_interval), Some(ADVERT_INTERVAL));
    assert_eq!(c.vrrp().map(|v| v.priority), Some(249));
    assert_eq!(*c.announce(), AnnounceConfig::default());
    assert_eq!(c.members().len(), 3);
    assert_eq!(c.name().as_str(), "n1");
}

#[test]
fn numbers_out_of_the_cores_range_quote_it() {
    let errors = scenario("[election]\npriorities = [300, 0, 9]\n").unwrap_err();
    assert_eq!(errors[0].field, "election.priorities[0]");
    assert_eq!(errors[0].message, format!("{}, not 300", limits::PRIORITY));
    assert_eq!(errors[1].field, "election.priorities[1]");
    let errors = scenario("[announce]\ngarp_count = 0\n").unwrap_err();
    assert_eq!(errors[0].message, format!("{}, not 0", limits::GARP_COUNT));
}

#[test]
fn the_cores_rules_name_the_files_key() {
    assert_eq!(
        fields("[election]\nadvert_interval = \"15ms\"\n"),
        ["election.advert_interval"]
    );
    assert_eq!(
        fields("[announce]\ngarp_interval = \"2m\"\n"),
        ["announce.garp_interval"]
    );
    let errors = scenario("[announce]\nform = \"loud\"\n").unwrap_err();
    let form = format!("must be {}, not \"loud\"", GarpForm::one_of());
    assert_eq!(errors[0].message, form);
}

#[test]
fn every_listed_fault_word_reads() {
    for word in FAULT_KINDS {
        let extra = match word.0 {
            "partition" => "groups = [[0], [1, 2]]\n",
            "priority" => "node = 0\npriority = 9\n",
            "heal" | "loss_burst" | "dhcp_down" | "dhcp_up" => "",
            "etcd_down" | "etcd_up" | "etcd_stall" => "",
            "dhcp_remap" => "address = \"192.0.2.250\"\n",
            "move" => "node = 0\nto = 2\n",
            _ => "node = 0\n",
        };
        let fault = format!("[[fault]]\nat = \"1s\"\nkind = \"{}\"\n{extra}", word.0);
        let read = if word.0.starts_with("etcd_") {
            let head = "name = \"x\"\nprotocol = \"etcd\"\nnodes = 3\nduration = \"10s\"\n";
            Scenario::from_toml(&format!("{head}{fault}"))
        } else {
            quorum(&format!("[dhcp]\n{fault}"))
        };
        assert!(read.is_ok(), "{}: {:?}", word.0, read);
    }
    let errors = scenario("[[fault]]\nat = \"1s\"\nkind = \"melt\"\n").unwrap_err();
    assert!(errors[0].message.contains("\"vip_fail\""), "{errors:?}");
}

#[test]
fn a_large_cluster_lists_no_members() {
    let s =
        Scenario::from_toml("name = \"x\"\nprotocol = \"vrrp\"\nnodes = 17\nduration = \"1s\"\n")
            .unwrap();
    assert!(s.nodes[16].config.members().is_empty());
}

#[test]
fn a_dhcp_table_leases_the_vip_for_a_mac_every_node_shares() {
    use vip_core::{DhcpSettings, VipSettings};
    let s = quorum("").unwrap();
    assert_eq!(s.dhcp, None);
    assert_eq!(s.nodes[0].config.static_vip(), Some(super::VIP));
    let s = quorum("[dhcp]\n").unwrap();
    let derived = DhcpSettings::derived(&super::settings::cluster_name()).hwaddr;
    let d = s.dhcp.unwrap();
    assert_eq!(
        (d.hwaddr, d.lease_secs, d.mapped, d.times),
        (derived, 30, true, None)
    );
    for n in &s.nodes {
        assert_eq!(
            n.config.vip_settings(),
            VipSettings::Dhcp(DhcpSettings { hwaddr: derived })
        );
        assert_eq!(n.config.vip_mac(), derived);
    }
    let s = quorum(
        "[dhcp]\nhwaddr = \"02:00:00:09:7f:3f\"\nlease = \"2m\"\nt1 = \"10s\"\n\
         mapped = false\n[clients]\ncount = 0\n",
    )
    .unwrap();
    let d = s.dhcp.unwrap();
    assert_eq!(d.hwaddr.0, [0x02, 0, 0, 0x09, 0x7f, 0x3f]);
    assert_eq!((d.lease_secs, d.mapped), (120, false));
    assert_eq!(d.times, Some((10, 105)), "T2 keeps the client's 7/8");
}

#[test]
fn dhcp_rules_name_the_files_key() {
    let dhcp = |body: &str| -> Vec<String> {
        quorum(body)
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect()
    };
    assert_eq!(dhcp("[dhcp]\nhwaddr = \"02:00\"\n"), ["dhcp.hwaddr"]);
    // The core's rule (local unicast), keyed as the file writes it.
    let errors = quorum("[dhcp]\nhwaddr = \"01:00:5e:00:00:01\"\n").unwrap_err();
    assert_eq!(errors[0].field, "dhcp.hwaddr");
    assert!(
        errors[0].message.contains("locally administered"),
        "{errors:?}"
    );
    // The world's: a node's, a client's or the server's MAC.
    assert_eq!(
        dhcp("[dhcp]\nhwaddr = \"02:00:00:00:00:02\"\n"),
        ["dhcp.hwaddr"]
    );
    assert_eq!(
        dhcp("[dhcp]\nhwaddr = \"02:00:00:00:01:01\"\n"),
        ["dhcp.hwaddr"]
    );
    let server = super::DHCP_SERVER_MAC.to_string();
    assert_eq!(
        dhcp(&format!("[dhcp]\nhwaddr = \"{server}\"\n")),
        ["dhcp.hwaddr"]
    );
    assert_eq!(dhcp("[dhcp]\nlease = \"1500ms\"\n"), ["dhcp.lease"]);
    assert_eq!(dhcp("[dhcp]\nlease = \"0s\"\n"), ["dhcp.lease"]);
    assert_eq!(
        dhcp("[dhcp]\nlease = \"10s\"\nt1 = \"11s\"\nt2 = \"0s\"\n"),
        ["dhcp.t1", "dhcp.t2"]
    );
    assert_eq!(dhcp("[dhcp]\nmapped = false\n"), ["clients.count"]);
    let errors = quorum("[dhcp]\nwhat = 1\n").unwrap_err();
    assert_eq!(errors[0].field, "file");
    // The server's faults need a server; a remap needs an address and,
    // off the VIP, no clients.
    assert_eq!(
        dhcp("[[fault]]\nat = \"1s\"\nkind = \"dhcp_down\"\n"),
        ["fault[0].kind"]
    );
    assert_eq!(
        dhcp("[dhcp]\n[[fault]]\nat = \"1s\"\nkind = \"dhcp_remap\"\n"),
        ["fault[0].address"]
    );
    assert_eq!(
        dhcp("[dhcp]\n[[fault]]\nat = \"1s\"\nkind = \"dhcp_remap\"\naddress = \"192.0.2\"\n"),
        ["fault[0].address"]
    );
    assert_eq!(
        dhcp("[dhcp]\n[[fault]]\nat = \"1s\"\nkind = \"dhcp_remap\"\naddress = \"192.0.2.251\"\n"),
        ["fault[0].address"]
    );
    let remap = "[dhcp]\n[clients]\ncount = 0\n[[fault]]\nat = \"1s\"\nkind = \"dhcp_remap\"\n\
                 address = \"192.0.2.251\"\n[expect]\naddresses = [\"192.0.2.250\", \"192.0.2.251\"]\n";
    let s = quorum(remap).unwrap();
    let to = std::net::Ipv4Addr::new(192, 0, 2, 251);
    assert_eq!(s.faults[0].kind, super::FaultKind::DhcpRemap(to));
    assert_eq!(s.expect.addresses, Some(vec![super::VIP, to]));
    assert_eq!(
        dhcp("[expect]\naddresses = [\"192.0.2.250\", \"x\"]\n"),
        ["expect.addresses[1]"]
    );
    // VRRP's virtual MAC is the core's to refuse beside a VIP MAC.
    let errors = scenario("[dhcp]\n[election]\nvirtual_mac = true\n").unwrap_err();
    assert_eq!(errors[0].field, "election.virtual_mac");
}
