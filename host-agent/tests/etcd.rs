//! The etcd election on real kernels and a real etcd: the `vipd` binary in
//! network namespaces, Debian's etcd-server as a three-member cluster on
//! the same bridge (`testbed::etcd`), a real Linux client (docs/testbed.md).
//!
//! Three vipd nodes with `protocol = "etcd"` and a 2 s lease TTL, started
//! one after the other so that etcd's line of keys is node-a, node-b,
//! node-c. Each test makes one fault and asserts what issue 12 asks:
//! another node holds within lease_ttl + 1 s of a power-off, a holder cut
//! off from etcd lets go before anyone else takes over, one etcd member
//! dying moves nothing, etcd's leader dying with the holder costs one etcd
//! election more, a clean stop hands over in under 100 ms, `vipd
//! move` goes through etcd, and `etcdctl` shows the same holder as every
//! node's `vipd status`.
//!
//! Needs root, ip, sysctl, nft, etcd and etcdctl (skips otherwise; fails
//! if CI is set). Tests take the testbed's global lock.

mod netns;
mod testbed;

use std::path::Path;
use std::time::Duration;

use rustix::process::Signal;
use testbed::etcd::{member_name, EtcdBed, EtcdCluster, Tuning};
use testbed::scenario::{self, assert_failover, Expect};
use testbed::{Peer, Testbed, SETUP};

const A: usize = 0;
const B: usize = 1;
const C: usize = 2;
/// The lease TTL of these tests, seconds (the default, and etcd's least).
const TTL_S: u32 = 2;
/// The tools these tests run.
const TOOLS: &[&str] = &["ip", "sysctl", "nft", "etcd", "etcdctl"];

fn vipd() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_vipd"))
}

macro_rules! require_root {
    () => {
        if !testbed::can_run("the etcd testbed", TOOLS) {
            return;
        }
    };
}

/// Three etcd nodes, started so that etcd's line is node-a, node-b, node-c,
/// with node-a holding.
fn setup() -> Result<EtcdBed, String> {
    let peers = [Peer::Etcd {
        priority: 100,
        ttl_s: TTL_S,
    }; 3];
    let mut bed = Testbed::new(vipd(), &peers, 10)?;
    let etcd = EtcdCluster::start(&mut bed)?;
    let mut eb = EtcdBed { etcd, bed };
    eb.start_all_in_line()?;
    Ok(eb)
}

/// [`setup`], the client's stream flowing to node-a (set up again if
/// anything in it fails, up to three times).
fn settled(what: &str) -> EtcdBed {
    scenario::retry_setup(what, || {
        let mut eb = setup()?;
        eb.bed.start_stream()?;
        eb.bed.settle(SETUP)?;
        Ok(eb)
    })
}

/// The bound on a power-off's gap: etcd lets the holder's key go a TTL
/// after its last keep-alive (plus its lessor's half-second sweep), the
/// issue's lease_ttl + 1 s.
fn power_off_bound() -> Duration {
    Duration::from_secs(u64::from(TTL_S) + 1)
}

/// Power-off of the holder (switch port down and kill -9 at once): etcd
/// expires its lease, node-b's key is the oldest, node-b holds.
#[test]
fn power_off_holder_another_holds_within_the_ttl_and_a_second() {
    require_root!();
    let _serial = testbed::serial();
    let (eb, m) = scenario::retry_setup("etcd power_off_holder", || {
        let mut eb = setup()?;
        let window = power_off_bound() + Duration::from_millis(1500);
        let m = scenario::measure_fault(&mut eb.bed, window, |b, h| b.power_off(h))?;
        Ok((eb, m))
    });
    assert_eq!(m.old_holder, A, "node-a's key is the oldest");
    assert_failover(
        &eb.bed,
        "etcd power_off_holder",
        &m,
        Expect::node(B, power_off_bound()),
    );
    assert_eq!(eb.etcd.line(), ["node-b", "node-c"], "node-a's key expired");
}

/// The holder cut off from etcd but not from the client or the other
/// nodes: its keep-alives go unanswered, it lets go at its lease's end by
/// its own clock, and only then does etcd let its key go and node-b take
/// over. From the daemons' own logs (one clock): no instant with two
/// holders. Healed, node-a campaigns again at the back of the line.
#[test]
fn a_holder_cut_off_from_etcd_lets_go_before_another_takes_over() {
    require_root!();
    let _serial = testbed::serial();
    let mut eb = settled("etcd cut-off");
    let EtcdBed { etcd, bed } = &mut eb;
    let cut = etcd.cut_node(bed, A).expect("cut node-a off etcd");
    assert!(
        testbed::wait_until(power_off_bound() * 2, || bed.has_vip(B) && !bed.has_vip(A)),
        "node-b takes over\n{}",
        bed.logs_tail(30)
    );
    let released = bed
        .log_time(A, "VIP released", cut)
        .expect("node-a released");
    let acquired = bed
        .log_time(B, "VIP acquired", cut)
        .expect("node-b acquired");
    println!(
        "etcd cut-off: node-a released {:.1} ms after the cut, node-b acquired {:.1} ms after it ({:.1} ms later)",
        (released - cut) * 1000.0,
        (acquired - cut) * 1000.0,
        (acquired - released) * 1000.0
    );
    assert!(
        released < acquired,
        "two holders from {acquired} to {released}"
    );
    assert!(
        released - cut < f64::from(TTL_S),
        "node-a let go within a TTL of its last answered keep-alive"
    );
    etcd.heal_node(bed, A).expect("heal");
    let names = ["node-b", "node-c", "node-a"];
    assert!(
        testbed::wait_until(SETUP, || etcd.line() == names),
        "node-a campaigns again, behind the others: {:?}",
        etcd.line()
    );
    assert_eq!(bed.holders(), vec![B], "the VIP stays where it is");
    scenario::assert_status_names(bed, B, "after healing");
}

/// One etcd member (not etcd's leader) killed: the others keep serving,
/// the holder's keep-alives go on through them, nothing moves.
#[test]
fn one_etcd_member_dying_moves_nothing() {
    require_root!();
    let _serial = testbed::serial();
    let mut eb = settled("etcd member dies");
    let leader = wait_for_etcd_leader(&eb.etcd).expect("etcd has a leader");
    let victim = (0..3).find(|&i| i != leader).unwrap_or(0);
    let killed = eb.etcd.kill(victim);
    std::thread::sleep(Duration::from_secs(u64::from(TTL_S) * 3));
    assert_eq!(eb.bed.holders(), vec![A], "node-a still holds");
    assert_eq!(
        eb.bed.log_time(A, "VIP released", killed),
        None,
        "node-a never let go\n{}",
        eb.bed.logs_tail(20)
    );
    scenario::assert_status_names(&eb.bed, A, "one etcd member down");
}

/// etcd's leader killed with the holder (node-a powered off and the etcd
/// member that leads SIGKILLed at once): the surviving members elect a new
/// leader, whose lessor extends every lease by an election timeout when it
/// takes over (etcd's `Promote`), and only then lets node-a's key expire.
/// node-b holds within one etcd election, the extension, the TTL and the
/// issue's second; node-c never holds, and node-b's own lease, unanswered
/// during etcd's election, is not lost for good.
#[test]
fn the_etcd_leader_dying_with_the_holder_costs_one_etcd_election_more() {
    require_root!();
    let _serial = testbed::serial();
    let tuning = Tuning::default();
    // A randomised election timeout is at most twice the configured one,
    // and the new leader's lessor adds one more to every lease.
    let election = Duration::from_millis(u64::from(tuning.election_ms));
    let bound = 3 * election + power_off_bound();
    let (eb, m, leader) = scenario::retry_setup("etcd leader dies with the holder", || {
        let mut eb = setup()?;
        let leader = wait_for_etcd_leader(&eb.etcd)?;
        let EtcdBed { etcd, bed } = &mut eb;
        let window = bound + Duration::from_millis(1500);
        let m = scenario::measure_fault(bed, window, |b, h| {
            let t = b.power_off(h)?;
            etcd.kill(leader);
            Ok(t)
        })?;
        Ok((eb, m, leader))
    });
    assert_eq!(m.old_holder, A, "node-a's key is the oldest");
    assert_failover(
        &eb.bed,
        "etcd leader dies with the holder",
        &m,
        Expect::node(B, bound),
    );
    assert_eq!(eb.etcd.line(), ["node-b", "node-c"], "node-a's key expired");
    assert_eq!(
        eb.bed.log_time(C, "VIP acquired", m.fault_at),
        None,
        "node-c never held"
    );
    println!(
        "etcd leader {} killed with the holder: gap {:.1} ms (bound {bound:?})",
        member_name(leader),
        m.outcome.gap.as_secs_f64() * 1000.0
    );
    scenario::assert_status_names(&eb.bed, B, "after etcd's new leader");
}

/// Waits up to [`SETUP`] until etcd names its leader (once every member
/// answers the status request).
fn wait_for_etcd_leader(etcd: &EtcdCluster) -> Result<usize, String> {
    let mut leader = None;
    testbed::wait_until(SETUP, || {
        leader = etcd_leader(etcd);
        leader.is_some()
    });
    leader.ok_or_else(|| "etcd names no leader".to_string())
}

/// The index of etcd's leader, from `etcdctl endpoint status -w json`
/// (per endpoint: `Endpoint`, `Status.header.member_id`, `Status.leader`).
fn etcd_leader(etcd: &EtcdCluster) -> Option<usize> {
    let out = etcd
        .etcdctl(&["endpoint", "status", "-w", "json", "--command-timeout=2s"])
        .ok()?;
    let all: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    let endpoints = etcd.endpoints();
    all.as_array()?.iter().find_map(|e| {
        let status = &e["Status"];
        let member = status["header"]["member_id"].as_u64()?;
        (status["leader"].as_u64()? == member)
            .then(|| endpoints.iter().position(|x| e["Endpoint"] == x.as_str()))
            .flatten()
    })
}

/// SIGTERM on the holder: it releases, revokes its lease (its key goes
/// with it), node-b's key is the oldest at once: the client's gap stays
/// under 100 ms.
#[test]
fn a_clean_stop_hands_over_in_under_100_ms() {
    require_root!();
    let _serial = testbed::serial();
    let (mut eb, m) = scenario::retry_setup("etcd sigterm", || {
        let mut eb = setup()?;
        let m = scenario::measure_fault(&mut eb.bed, scenario::WINDOW, |b, h| {
            let t = testbed::wall_now();
            b.signal(h, Signal::TERM);
            Ok(t)
        })?;
        Ok((eb, m))
    });
    assert_eq!(
        eb.bed
            .wait_exit(A, Duration::from_secs(5))
            .map(|s| s.code()),
        Some(Some(0))
    );
    eb.bed.nodes[A].off = true;
    let s = assert_failover(
        &eb.bed,
        "etcd sigterm_hands_over",
        &m,
        Expect::node(B, Duration::from_millis(100)),
    );
    println!("{s}");
    assert_eq!(
        eb.etcd.line(),
        ["node-b", "node-c"],
        "node-a's key was revoked"
    );
}

/// SIGSTOP of the holder's daemon: etcd lets its key go a TTL after its
/// last keep-alive and node-b takes over; the frozen node's kernel fence
/// closed at its lease's end by its own clock before that, so the client
/// never gets an ARP or echo reply for the VIP from it afterwards (the
/// quorum election's fence, fed by the etcd lease).
#[test]
fn a_frozen_holder_stops_answering_for_the_vip_when_its_lease_ends() {
    require_root!();
    let _serial = testbed::serial();
    let eb = settled("etcd frozen");
    assert_eq!(eb.bed.holders(), vec![A]);
    scenario::frozen_holder(&eb.bed, A, B, power_off_bound() * 2);
}

/// `vipd move --to NODE` between every ordered pair, asked on a third node
/// or on the holder: exits 0 once the target holds, the client follows,
/// and etcd's line starts with the target.
#[test]
fn move_through_etcd_between_every_pair() {
    require_root!();
    let _serial = testbed::serial();
    let mut eb = settled("etcd move");
    let names: Vec<String> = eb.bed.nodes.iter().map(|n| n.id.name.clone()).collect();
    let mut holder = A;
    for to in [B, C, A, C, B, A] {
        let asker = (0..3).find(|&i| i != holder && i != to).unwrap_or(holder);
        let start = testbed::wall_now();
        let out = eb
            .bed
            .vipd_cmd(asker, &["move", "--to", &names[to]])
            .expect("run vipd move");
        let took = testbed::wall_now() - start;
        assert!(
            out.status.success(),
            "vipd move --to {} on {} failed: {}\n{}",
            names[to],
            names[asker],
            String::from_utf8_lossy(&out.stderr),
            eb.bed.logs_tail(30)
        );
        assert!(
            testbed::wait_until(Duration::from_secs(2), || eb.bed.holders() == vec![to]),
            "{} holds after the move\n{}",
            names[to],
            eb.bed.logs_tail(30)
        );
        assert!(
            eb.bed.wait_client_points_at(to, Duration::from_secs(1)),
            "the client follows to {}",
            names[to]
        );
        assert_eq!(eb.etcd.line().first(), Some(&names[to]));
        println!(
            "etcd move {} -> {} (asked on {}): vipd move returned after {:.1} ms",
            names[holder],
            names[to],
            names[asker],
            took * 1000.0
        );
        scenario::assert_status_names(&eb.bed, to, "after the move");
        holder = to;
    }
    let record = eb.bed.stop_stream().expect("stream");
    println!(
        "etcd moves: {} echoes answered, {} answered twice (two holders)",
        record.replies.len(),
        record.duplicates
    );
    assert_eq!(record.duplicates, 0, "an echo answered by two holders");
    // No move order is left behind.
    let left = eb
        .etcd
        .etcdctl_ok(&["get", "/vipd/testbed/move"])
        .unwrap_or_default();
    assert!(left.is_empty(), "move order left: {left}");
    // A move to a node whose daemon is stopped is refused before anything
    // is written, with the reason.
    eb.bed.signal(C, Signal::TERM);
    assert!(eb.bed.wait_exit(C, Duration::from_secs(5)).is_some());
    eb.bed.nodes[C].off = true;
    let out = eb.bed.vipd_cmd(A, &["move", "--to", "node-c"]).unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no election key in etcd"), "{err}");
    assert_eq!(eb.bed.holders(), vec![A]);
}

/// What `vipd status` says on every node is what etcd holds: the holder's
/// record (node, address, hwaddr) and term (its key's create revision), as
/// the documented `etcdctl` command prints them.
#[test]
fn every_status_and_etcdctl_name_the_same_holder() {
    require_root!();
    let _serial = testbed::serial();
    let eb = settled("etcd status");
    let keys = eb.etcd.election_keys().expect("etcdctl get");
    let first = keys.first().expect("an election key");
    let (record, create_revision) = (&first.record, first.create_revision);
    assert_eq!(record["node"], "node-a");
    assert_eq!(record["address"], "192.0.2.11");
    assert_eq!(record["hwaddr"], eb.bed.nodes[A].id.mac.as_str());
    for i in [A, B, C] {
        let out = eb.bed.vipd_cmd(i, &["status", "--json"]).unwrap();
        let s: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status json");
        assert_eq!(s["vipHost"], "node-a", "{}", eb.bed.nodes[i].id.name);
        assert_eq!(s["term"].as_u64(), Some(create_revision));
        assert_eq!(s["hwaddr"], eb.bed.nodes[A].id.mac.as_str());
        assert_eq!(s["protocol"], "etcd");
        assert_eq!(s["etcd"]["line"][0], "node-a");
    }
}
