//! Every catalogue scenario keeps its invariants and expectations, and the
//! catalogue lists every file in sim/scenarios/.

use sim::catalogue;
use sim::scenario::FaultKind;

#[test]
fn every_catalogue_scenario_passes() {
    let mut failures = Vec::new();
    for scenario in catalogue::scenarios() {
        let name = scenario.name.clone();
        let report = sim::run(scenario);
        if !report.passed() {
            failures.push(format!("{name}:\n{}", report.summary()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every fault kind, numbered for the coverage test; a new kind fails to
/// compile here until it is given a slot (and then a catalogue scenario).
fn slot(kind: &FaultKind) -> (usize, &'static str) {
    match kind {
        FaultKind::Crash(_) => (0, "crash"),
        FaultKind::Stop(_) => (1, "stop"),
        FaultKind::Restart(_) => (2, "restart"),
        FaultKind::Pause(_) => (3, "pause"),
        FaultKind::Resume(_) => (4, "resume"),
        FaultKind::Partition { .. } => (5, "partition"),
        FaultKind::Heal => (6, "heal"),
        FaultKind::LossBurst { .. } => (7, "loss_burst"),
        FaultKind::LinkDown(_) => (8, "link_down"),
        FaultKind::LinkUp(_) => (9, "link_up"),
        FaultKind::Priority { .. } => (10, "priority"),
        FaultKind::VipFail(_) => (11, "vip_fail"),
        FaultKind::Move { .. } => (12, "move"),
        FaultKind::Freeze(_) => (13, "freeze"),
        FaultKind::Thaw(_) => (14, "thaw"),
        FaultKind::HealthDown(_) => (15, "health_down"),
        FaultKind::HealthUp(_) => (16, "health_up"),
        FaultKind::DhcpDown => (17, "dhcp_down"),
        FaultKind::DhcpUp => (18, "dhcp_up"),
        FaultKind::DhcpRemap(_) => (19, "dhcp_remap"),
        FaultKind::EtcdCut(_) => (20, "etcd_cut"),
        FaultKind::EtcdHeal(_) => (21, "etcd_heal"),
        FaultKind::EtcdDown => (22, "etcd_down"),
        FaultKind::EtcdUp => (23, "etcd_up"),
        FaultKind::EtcdStall(_) => (24, "etcd_stall"),
    }
}

/// How many slots [`slot`] hands out.
const FAULT_KINDS: usize = 25;

#[test]
fn the_catalogue_covers_three_five_and_seven_nodes_and_every_fault() {
    let scenarios = catalogue::scenarios();
    assert!(scenarios.len() >= 12);
    for n in [3, 5, 7] {
        assert!(scenarios.iter().any(|s| s.nodes.len() == n), "{n} nodes");
    }
    let mut covered = [None; FAULT_KINDS];
    for f in scenarios.iter().flat_map(|s| &s.faults) {
        let (i, word) = slot(&f.kind);
        covered[i] = Some(word);
    }
    let missing: Vec<usize> = (0..FAULT_KINDS).filter(|&i| covered[i].is_none()).collect();
    assert!(
        missing.is_empty(),
        "no catalogue scenario has fault slots {missing:?}; covered: {covered:?}"
    );
    let drifting = scenarios
        .iter()
        .flat_map(|s| &s.nodes)
        .any(|n| n.drift_ppm != 0);
    assert!(drifting, "drift_ppm");
}

#[test]
fn the_quorum_catalogue_covers_what_the_issue_asks() {
    use sim::scenario::{DriftMode, Protocol};
    let quorum: Vec<_> = catalogue::scenarios()
        .into_iter()
        .filter(|s| s.protocol == Protocol::Quorum)
        .collect();
    for n in [3, 5, 7] {
        assert!(quorum.iter().any(|s| s.nodes.len() == n), "{n} members");
    }
    let has =
        |f: &dyn Fn(&FaultKind) -> bool| quorum.iter().flat_map(|s| &s.faults).any(|x| f(&x.kind));
    assert!(has(&|k| matches!(k, FaultKind::Freeze(_))), "freeze");
    assert!(has(&|k| matches!(k, FaultKind::Move { .. })), "move");
    assert!(has(&|k| matches!(k, FaultKind::Pause(_))), "pause");
    assert!(
        quorum.iter().any(|s| s.drift == DriftMode::Adversarial),
        "adversarial drift"
    );
    assert!(
        quorum.iter().any(|s| s.nodes.iter().any(|n| n.witness)),
        "witness"
    );
    assert!(quorum.iter().any(|s| s.attack.rate > 0), "attacker");
    assert!(
        quorum.iter().any(|s| s.network.loss_ppm > 100_000),
        "heavy loss"
    );
}

#[test]
fn the_dhcp_catalogue_covers_every_election_and_an_address_change() {
    use sim::scenario::{Protocol, VIP};
    let dhcp: Vec<_> = catalogue::scenarios()
        .into_iter()
        .filter(|s| s.dhcp.is_some())
        .collect();
    for p in [Protocol::Vrrp, Protocol::Quorum, Protocol::Etcd] {
        assert!(dhcp.iter().any(|s| s.protocol == p), "{}", p.as_str());
    }
    // Every one says which addresses it leases; one leases a second.
    assert!(dhcp.iter().all(|s| s.expect.addresses.is_some()));
    let moved = dhcp
        .iter()
        .flat_map(|s| s.expect.addresses.iter().flatten())
        .any(|&a| a != VIP);
    assert!(moved, "an address other than {VIP}");
    // Every node of a DHCP scenario shares the VIP MAC.
    for s in &dhcp {
        let mac = s.nodes[0].config.vip_mac();
        assert!(
            s.nodes.iter().all(|n| n.config.vip_mac() == mac),
            "{}",
            s.name
        );
    }
}

#[test]
fn the_etcd_catalogue_covers_what_the_issue_asks() {
    use sim::scenario::Protocol;
    let etcd: Vec<_> = catalogue::scenarios()
        .into_iter()
        .filter(|s| s.protocol == Protocol::Etcd)
        .collect();
    // `e-` files, and the DHCP VIP under etcd among the `d-` ones.
    assert!(etcd
        .iter()
        .all(|s| s.name.starts_with("e-") || (s.name.starts_with("d-") && s.dhcp.is_some())));
    let has =
        |f: &dyn Fn(&FaultKind) -> bool| etcd.iter().flat_map(|s| &s.faults).any(|x| f(&x.kind));
    assert!(has(&|k| matches!(k, FaultKind::Crash(_))), "crash");
    assert!(has(&|k| matches!(k, FaultKind::Stop(_))), "clean stop");
    assert!(has(&|k| matches!(k, FaultKind::Restart(_))), "restart");
    assert!(
        has(&|k| matches!(k, FaultKind::EtcdCut(_))),
        "cut from etcd"
    );
    assert!(has(&|k| matches!(k, FaultKind::EtcdStall(_))), "etcd stall");
    assert!(has(&|k| matches!(k, FaultKind::EtcdDown)), "etcd down");
    let moves = etcd.iter().flat_map(|s| &s.faults);
    let targets: Vec<_> = moves
        .filter_map(|f| match f.kind {
            FaultKind::Move { to, .. } => Some(to.is_some()),
            _ => None,
        })
        .collect();
    assert!(
        targets.contains(&true) && targets.contains(&false),
        "moves with and without a target"
    );
    // A stall longer than the lease, clocks at the bound, heavy loss.
    let longest_stall = etcd
        .iter()
        .flat_map(|s| &s.faults)
        .filter_map(|f| match f.kind {
            FaultKind::EtcdStall(d) => Some(d),
            _ => None,
        })
        .max();
    let lease = etcd[0].nodes[0].config.election();
    let vip_core::ElectionSettings::Etcd(e) = lease else {
        panic!("an etcd config");
    };
    assert!(
        longest_stall > Some(e.holder_lease()),
        "a stall outlasts the lease"
    );
    assert!(etcd.iter().any(|s| s.etcd.is_some_and(|e| e.drift_ppm != 0)
        && s.nodes
            .iter()
            .all(|n| n.drift_ppm.unsigned_abs() == s.bound.drift_ppm)));
    assert!(etcd
        .iter()
        .any(|s| s.etcd.is_some_and(|e| e.loss_ppm >= 300_000)));
}

#[test]
fn the_catalogue_lists_every_scenario_file() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios");
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|f| f.ends_with(".toml"))
        .collect();
    files.sort();
    let mut listed: Vec<String> = catalogue::FILES
        .iter()
        .map(|(f, _)| f.to_string())
        .collect();
    listed.sort();
    assert_eq!(files, listed);
}
