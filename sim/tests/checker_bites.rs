//! Deliberately broken nodes make the checker fail: it is shown to bite.

use sim::Scenario;

fn scenario(extra: &str) -> Scenario {
    let text = format!(
        r#"
name = "broken"
protocol = "vrrp"
nodes = 3
duration = "12s"
seed = 5

[election]
advert_interval = "100ms"
{extra}
"#
    );
    Scenario::from_toml(&text).unwrap()
}

#[test]
fn a_node_that_never_releases_breaks_the_single_holder_invariant() {
    let healthy = sim::run(scenario(
        "[[fault]]\nat = \"4s\"\nkind = \"priority\"\nnode = 0\npriority = 1\n",
    ));
    assert!(healthy.passed(), "{}", healthy.summary());
    let broken = sim::run(scenario(
        "[[node]]\nindex = 0\ndefect = \"never_release\"\n\
         [[fault]]\nat = \"4s\"\nkind = \"priority\"\nnode = 0\npriority = 1\n",
    ));
    assert!(!broken.passed());
    assert!(
        broken
            .violations
            .iter()
            .any(|v| v.what.contains("two holders")),
        "{}",
        broken.summary()
    );
}

#[test]
fn a_holder_that_keeps_the_vip_with_its_link_down_is_caught() {
    let broken = sim::run(scenario(
        "[[node]]\nindex = 0\ndefect = \"never_release\"\n\
         [[fault]]\nat = \"4s\"\nkind = \"link_down\"\nnode = 0\n",
    ));
    assert!(
        broken
            .violations
            .iter()
            .any(|v| v.what.contains("link down")),
        "{}",
        broken.summary()
    );
}

#[test]
fn a_holder_that_never_announces_leaves_clients_behind() {
    let healthy = sim::run(scenario(
        "[[fault]]\nat = \"4s\"\nkind = \"crash\"\nnode = 0\n",
    ));
    assert!(healthy.passed(), "{}", healthy.summary());
    let broken = sim::run(scenario(
        "[[node]]\nindex = 1\ndefect = \"drop_garp\"\n\
         [[fault]]\nat = \"4s\"\nkind = \"crash\"\nnode = 0\n",
    ));
    assert!(
        broken
            .violations
            .iter()
            .any(|v| v.what.contains("ARP entry")),
        "{}",
        broken.summary()
    );
    assert!(broken.lost > healthy.lost);
}

#[test]
fn an_unexpected_final_holder_fails_the_verdict() {
    let r = sim::run(scenario(
        "[[fault]]\nat = \"4s\"\nkind = \"crash\"\nnode = 0\n[expect]\nfinal_holder = 2\n",
    ));
    assert!(r.violations.is_empty());
    assert!(!r.passed());
}

/// A quorum scenario of three nodes: `extra` adds keys, tables and faults.
fn quorum(head: &str, extra: &str) -> Scenario {
    let text = format!(
        "name = \"broken-quorum\"\nprotocol = \"quorum\"\nnodes = 3\nseed = 7\n{head}\n{extra}"
    );
    Scenario::from_toml(&text).unwrap()
}

fn two_holders(r: &sim::Report) -> bool {
    r.violations.iter().any(|v| v.what.contains("two holders"))
}

/// The holder is cut off right after a renewal; the clocks run at the
/// bound against the protocol (the holder 500 ppm slow, the others fast).
/// With 10 s promises the drift margin alone is 2ρP = 10 ms.
const DRIFT_HEAD: &str = "duration = \"40s\"\ndrift = \"adversarial\"\n\
    [election]\nadvert_interval = \"20ms\"\nlease = \"10s\"\nmax_drift = 500\n";
const DRIFT_FAULTS: &str = "[[fault]]\nat = \"12.0005s\"\nkind = \"partition\"\n\
    groups = [[1, 2], [0]]\nclients_group = 0\n";

#[test]
fn the_drift_margin_removed_gives_two_holders() {
    let healthy = sim::run(quorum(DRIFT_HEAD, DRIFT_FAULTS));
    assert!(healthy.passed(), "{}", healthy.summary());
    assert_eq!(healthy.two_holder_time, vip_core::Duration::ZERO);
    // Every node's core is told max_drift = 0 and fence_margin = 0: the
    // same as deleting the margins from the lease formula. The world's
    // clocks and fence still drift and leak by the scenario's bounds.
    let defect: String = (0..3)
        .map(|i| format!("[[node]]\nindex = {i}\ndefect = \"no_drift_margin\"\n"))
        .collect();
    let broken = sim::run(quorum(DRIFT_HEAD, &format!("{defect}{DRIFT_FAULTS}")));
    assert!(two_holders(&broken), "{}", broken.summary());
    assert!(
        broken.two_holder_time > vip_core::Duration::from_millis(2),
        "well above the 1 µs resolution: {}",
        broken.summary()
    );
    assert!(
        broken
            .violations
            .iter()
            .any(|v| v.what.contains("backed by")),
        "the lease check names the formula: {}",
        broken.summary()
    );
}

/// n1 is alone from the start; n0 holds with n2's acks. At 5 s n2's daemon
/// restarts at once while the partition moves it to n1's side: it must
/// wait out its previous run's promise to n0 before it votes for n1.
const WAIT_HEAD: &str = "duration = \"12s\"\n[election]\nadvert_interval = \"100ms\"\n";
const WAIT_FAULTS: &str = "[[fault]]\nat = \"0s\"\nkind = \"partition\"\n\
    groups = [[0, 2], [1]]\nclients_group = 0\n\
    [[fault]]\nat = \"5s\"\nkind = \"restart\"\nnode = 2\n\
    [[fault]]\nat = \"5s\"\nkind = \"partition\"\ngroups = [[0], [1, 2]]\nclients_group = 1\n";

#[test]
fn the_restart_wait_skipped_gives_two_holders() {
    let healthy = sim::run(quorum(WAIT_HEAD, WAIT_FAULTS));
    assert!(healthy.passed(), "{}", healthy.summary());
    assert_eq!(healthy.final_holders.len(), 1);
    // n2's host boots its restarted core with PriorRuns that claim no
    // earlier run: the same as deleting the restart wait.
    let defect = "[[node]]\nindex = 2\ndefect = \"skip_restart_wait\"\n";
    let broken = sim::run(quorum(WAIT_HEAD, &format!("{defect}{WAIT_FAULTS}")));
    assert!(two_holders(&broken), "{}", broken.summary());
    assert!(
        broken
            .violations
            .iter()
            .any(|v| v.what.contains("previous run's promise")),
        "the promise check names the wait: {}",
        broken.summary()
    );
}

/// An etcd scenario of three nodes with `seed` (with seeds 1 and 10 n0
/// campaigns first and holds): `extra` adds keys, tables and faults.
fn etcd(seed: u64, extra: &str) -> Scenario {
    let text =
        format!("name = \"broken-etcd\"\nprotocol = \"etcd\"\nnodes = 3\nseed = {seed}\n{extra}");
    Scenario::from_toml(&text).unwrap()
}

/// Clocks at the bound against the rule (every node 500 ppm slow, etcd
/// 500 ppm fast), 10 s leases, the holder cut off from etcd: the drift
/// margin alone is about 2ρ × TTL = 10 ms.
const ETCD_DRIFT: &str = "duration = \"30s\"\n\
    [election]\nmax_drift = 500\n[etcd]\nlease_ttl = \"10s\"\ndrift_ppm = 500\n\
    [[fault]]\nat = \"12.0003s\"\nkind = \"etcd_cut\"\nnode = 0\n";

#[test]
fn the_drift_margin_removed_gives_two_holders_under_etcd() {
    let clocks: String = (0..3)
        .map(|i| format!("[[node]]\nindex = {i}\ndrift_ppm = -500\n"))
        .collect();
    let healthy = sim::run(etcd(1, &format!("{ETCD_DRIFT}{clocks}")));
    assert!(healthy.passed(), "{}", healthy.summary());
    assert_eq!(healthy.two_holder_time, vip_core::Duration::ZERO);
    // Every core is told max_drift = 0 and fence_margin = 0: L = TTL. The
    // clocks still drift and the fence still leaks by the file's bounds.
    let defect: String = (0..3)
        .map(|i| format!("[[node]]\nindex = {i}\ndrift_ppm = -500\ndefect = \"no_drift_margin\"\n"))
        .collect();
    let broken = sim::run(etcd(1, &format!("{ETCD_DRIFT}{defect}")));
    assert!(two_holders(&broken), "{}", broken.summary());
    assert!(
        broken.two_holder_time > vip_core::Duration::from_millis(5),
        "{}",
        broken.summary()
    );
    assert!(
        broken
            .violations
            .iter()
            .any(|v| v.what.contains("outlasts etcd lease")),
        "the lease check names etcd's lease: {}",
        broken.summary()
    );
}

/// The holder is cut off from etcd at 5.2 s, its clients kept.
const ETCD_CUT: &str = "duration = \"12s\"\n\
    [[fault]]\nat = \"5.2s\"\nkind = \"etcd_cut\"\nnode = 0\n";

#[test]
fn an_adapter_that_keeps_alive_before_it_is_asked_gives_two_holders() {
    let healthy = sim::run(etcd(1, ETCD_CUT));
    assert!(healthy.passed(), "{}", healthy.summary());
    assert_eq!(healthy.two_holder_time, vip_core::Duration::ZERO);
    // n0's adapter keeps its lease alive on its own every TTL/3 and hands
    // each keep-alive the core asks the newest answer at once: the core
    // counts its lease from its asking, up to TTL/3 after etcd did.
    let defect = "[[node]]\nindex = 0\ndefect = \"keepalive_before_asked\"\n";
    let broken = sim::run(etcd(1, &format!("{ETCD_CUT}{defect}")));
    assert!(two_holders(&broken), "{}", broken.summary());
    assert!(
        broken.two_holder_time > vip_core::Duration::from_millis(100),
        "{}",
        broken.summary()
    );
    assert!(
        broken
            .violations
            .iter()
            .any(|v| v.what.contains("outlasts etcd lease")),
        "{}",
        broken.summary()
    );
}

/// etcd is down while the holder's link flaps: its resignation cannot go
/// out, and it is still being retried when the restarted watch reads the
/// holder's own key again at 7.2 s; it lands at 7.65 s (docs/simulator.md,
/// "What the etcd checks found").
const RESIGN_RACE: &str = "duration = \"10s\"\n\
    [[fault]]\nat = \"5s\"\nkind = \"etcd_down\"\n\
    [[fault]]\nat = \"5.5s\"\nkind = \"link_down\"\nnode = 0\n\
    [[fault]]\nat = \"6s\"\nkind = \"link_up\"\nnode = 0\n\
    [[fault]]\nat = \"6.8s\"\nkind = \"etcd_up\"\n";

/// The resign race the explorer found, now a regression test: before the
/// core's fix n0 held on its old key at 7.2 s and n1 held 7 µs before n0
/// heard of the deletion. The core holds on no key of its own while a
/// resignation is outstanding (here), and afterwards only on one created
/// after the revision `Resigned` names: an adapter that reports the
/// resignation as soon as it sends it, with its watch's revision, is
/// still held off the old key by that second half (the key is older than
/// anything the watch had shown).
#[test]
fn a_key_the_holder_asked_to_delete_is_not_held_again() {
    let r = sim::run(etcd(10, RESIGN_RACE));
    assert!(r.passed(), "{}", r.summary());
    assert_eq!(r.two_holder_time, vip_core::Duration::ZERO);
    assert_eq!(r.final_holders.len(), 1, "{}", r.summary());
    let defect = "[[node]]\nindex = 0\ndefect = \"resigned_when_sent\"\n";
    let early = sim::run(etcd(10, &format!("{RESIGN_RACE}{defect}")));
    assert!(!two_holders(&early), "{}", early.summary());
}

/// n0 stops at 1 s, n1 crashes at 3 s, so n2 holds; at 6 s n2 asks to
/// move the VIP to n0 (which has no key), and n1's daemon restarts 1 ms
/// later: its campaign puts its key just after the order, and the order
/// sends it back, so it resigns the moment the campaign is answered.
const RESIGN_EARLY: &str = "duration = \"10s\"\n\
    [etcd]\ndelay = \"1ms\"\njitter = \"500us\"\n\
    [[fault]]\nat = \"1s\"\nkind = \"stop\"\nnode = 0\n\
    [[fault]]\nat = \"3s\"\nkind = \"crash\"\nnode = 1\n\
    [[fault]]\nat = \"6s\"\nkind = \"move\"\nnode = 2\nto = 0\n\
    [[fault]]\nat = \"6.001s\"\nkind = \"restart\"\nnode = 1\n";

#[test]
fn an_adapter_that_reports_a_resignation_when_it_sends_it_gives_two_holders() {
    let healthy = sim::run(etcd(2, RESIGN_EARLY));
    assert!(healthy.passed(), "{}", healthy.summary());
    assert_eq!(healthy.two_holder_time, vip_core::Duration::ZERO);
    // n1's adapter reports Resigned when it sends the deletion, with its
    // watch's revision (8, n2's re-queue), not when etcd has done it: its
    // key (created at 9) counts as one created after the resignation, and
    // when n2's deletion leaves it the oldest n1 holds on it; the deletion
    // lands 1.5 ms later and n2, re-queued behind it, holds before n1 hears.
    let defect = "[[node]]\nindex = 1\ndefect = \"resigned_when_sent\"\n";
    let broken = sim::run(etcd(2, &format!("{RESIGN_EARLY}{defect}")));
    assert!(two_holders(&broken), "{}", broken.summary());
    assert!(
        broken.two_holder_time > vip_core::Duration::from_micros(100),
        "{}",
        broken.summary()
    );
}
