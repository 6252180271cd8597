//! The quorum election on real kernels: the `vipd` binary in network
//! namespaces with a real Linux client (see docs/testbed.md).
//!
//! Three vipd nodes with `protocol = "quorum"` renewing every 10 ms (lease
//! 50 ms, the default 5 intervals) and a client pinging the VIP 500 times a
//! second. Each test makes one fault and asserts what the issue asks; the
//! frozen-holder and partition tests also watch the segment for any frame
//! that speaks for the VIP from a node that must not.
//!
//! Needs root, ip, sysctl and tcpdump (skips otherwise; fails if CI
//! is set). Tests take a global lock so that timing is measured on an
//! otherwise idle testbed.

mod netns;
mod testbed;

use std::path::Path;
use std::time::Duration;

use rustix::process::Signal;
use testbed::scenario::{self, assert_failover, Expect};
use testbed::{Peer, Testbed, SETUP};

const A: usize = 0;
const B: usize = 1;
const C: usize = 2;
/// The renewal interval of these tests.
const RENEW_MS: u32 = 10;

fn vipd() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_vipd"))
}

/// The tools these tests run.
const TOOLS: &[&str] = &["ip", "sysctl", "tcpdump"];

macro_rules! require_root {
    () => {
        if !testbed::can_run("the quorum testbed", TOOLS) {
            return;
        }
    };
}

fn loss_bound() -> Duration {
    testbed::quorum_loss_bound(RENEW_MS)
}

/// A testbed of quorum nodes at these priorities (0: a witness), started.
fn bed(priorities: &[u8]) -> Result<Testbed, String> {
    let peers: Vec<Peer> = priorities
        .iter()
        .map(|&p| {
            if p == 0 {
                Peer::witness()
            } else {
                Peer::quorum(p)
            }
        })
        .collect();
    let mut bed = Testbed::new(vipd(), &peers, RENEW_MS)?;
    bed.start_all()?;
    Ok(bed)
}

/// Power-off of the holder: the promises to it run out, the next priority
/// is elected and announces.
#[test]
fn power_off_holder() {
    require_root!();
    let _serial = testbed::serial();
    for run in 0..scenario::repeat() {
        let (bed, m) = scenario::retry_setup("quorum power_off_holder", || {
            let mut bed = bed(&[200, 150, 100])?;
            let m = scenario::measure_fault(&mut bed, scenario::WINDOW, |b, h| b.power_off(h))?;
            Ok((bed, m))
        });
        assert_eq!(m.old_holder, A, "node-a (priority 200) held first");
        let what = format!("quorum power_off_holder #{run}");
        assert_failover(&bed, &what, &m, Expect::node(B, loss_bound()));
    }
}

/// SIGTERM on the holder: it releases and names the best other member,
/// which is elected in one round trip.
#[test]
fn sigterm_hands_over() {
    require_root!();
    let _serial = testbed::serial();
    let (mut bed, m) = scenario::retry_setup("quorum sigterm_hands_over", || {
        let mut bed = bed(&[200, 150, 100])?;
        let m = scenario::measure_fault(&mut bed, scenario::WINDOW, |b, h| {
            let t = testbed::wall_now();
            b.signal(h, Signal::TERM);
            Ok(t)
        })?;
        Ok((bed, m))
    });
    assert_eq!(
        bed.wait_exit(A, Duration::from_secs(5)).map(|s| s.code()),
        Some(Some(0))
    );
    bed.nodes[A].off = true;
    let s = assert_failover(
        &bed,
        "quorum sigterm_hands_over",
        &m,
        Expect::node(B, Duration::from_millis(20)),
    );
    println!("{s}");
}

/// `vipd move --to NODE` between every ordered pair of the three nodes,
/// asked on a node that is neither (or on the holder): exits 0 once the
/// target holds, and the client follows at once.
#[test]
fn move_between_every_pair() {
    require_root!();
    let _serial = testbed::serial();
    let bed = scenario::retry_setup("quorum move", || {
        let mut bed = bed(&[200, 150, 100])?;
        bed.start_stream()?;
        bed.settle(SETUP)?;
        Ok(bed)
    });
    let names: Vec<String> = bed.nodes.iter().map(|n| n.id.name.clone()).collect();
    let mut holder = A;
    for to in [B, C, A, C, B, A] {
        let asker = (0..3).find(|&i| i != holder && i != to).unwrap_or(holder);
        let start = testbed::wall_now();
        let out = bed
            .vipd_cmd(asker, &["move", "--to", &names[to]])
            .expect("run vipd move");
        assert!(
            out.status.success(),
            "vipd move --to {} on {} failed: {}\n{}",
            names[to],
            names[asker],
            String::from_utf8_lossy(&out.stderr),
            bed.logs_tail(30)
        );
        let took = testbed::wall_now() - start;
        assert_eq!(
            bed.holders(),
            vec![to],
            "{} holds after the move",
            names[to]
        );
        assert!(
            bed.wait_client_points_at(to, Duration::from_secs(1)),
            "client follows {}",
            names[to]
        );
        println!(
            "move {} -> {} asked on {}: {:.1} ms, says {:?}",
            names[holder],
            names[to],
            names[asker],
            took * 1000.0,
            String::from_utf8_lossy(&out.stdout).trim()
        );
        holder = to;
    }
    // A witness, an unknown node: refused with a reason, nothing moves.
    let out = bed.vipd_cmd(B, &["move", "--to", "node-z"]).unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a member"));
    assert_eq!(bed.holders(), vec![holder]);
}

/// A witness and two nodes: either node's power-off is survived, and the
/// witness never lists the VIP.
#[test]
fn two_nodes_and_a_witness_survive_either_loss() {
    require_root!();
    let _serial = testbed::serial();
    for lost in [A, B] {
        let (bed, m) = scenario::retry_setup("quorum witness", || {
            let mut bed = bed(&[200, 150, 0])?;
            if lost == B {
                bed.start_stream()?;
                bed.settle(SETUP)?;
                // Make node-b the holder first.
                let out = bed.vipd_cmd(A, &["move", "--to", "node-b"])?;
                if !out.status.success() {
                    return Err(String::from_utf8_lossy(&out.stderr).into_owned());
                }
            }
            let m = scenario::measure_fault(&mut bed, scenario::WINDOW, |b, h| b.power_off(h))?;
            Ok((bed, m))
        });
        assert_eq!(m.old_holder, lost);
        let what = format!("quorum witness, {} lost", bed.nodes[lost].id.name);
        assert_failover(&bed, &what, &m, Expect::node(1 - lost, loss_bound()));
        assert!(!bed.has_vip(C), "the witness never holds");
    }
}

/// SIGSTOP of the holder's daemon: its kernel keeps the VIP configured, but
/// the fence closes at the lease's end, so after another node took over the
/// client never gets an ARP reply or an echo reply for the VIP from it —
/// not when it asks for the VIP again, not even when its neighbour entry is
/// forced to the frozen node. SIGCONT: the frozen node gives the VIP up.
#[test]
fn a_frozen_holder_stops_answering_for_the_vip_when_its_lease_ends() {
    require_root!();
    let _serial = testbed::serial();
    let bed = scenario::retry_setup("quorum frozen", || {
        let mut bed = bed(&[200, 150, 100])?;
        bed.start_stream()?;
        bed.settle(SETUP)?;
        Ok(bed)
    });
    assert_eq!(bed.holders(), vec![A]);
    scenario::frozen_holder(&bed, A, B, Duration::from_secs(2));
}

/// The holder cut off at the bridge (carrier stays up): it releases at its
/// lease's end, before the majority side elects a new holder; on healing it
/// follows the new holder. No instant with two holders (from the daemons'
/// own logs, one clock).
#[test]
fn an_isolated_holder_lets_go_before_the_majority_takes_over() {
    require_root!();
    let _serial = testbed::serial();
    let mut bed = scenario::retry_setup("quorum partition", || {
        let mut bed = bed(&[200, 150, 100])?;
        bed.start_stream()?;
        bed.settle(SETUP)?;
        Ok(bed)
    });
    let cut = bed.isolate(A).unwrap();
    assert!(testbed::wait_until(Duration::from_secs(2), || bed
        .has_vip(B)
        && !bed.has_vip(A)));
    let released = bed
        .log_time(A, "VIP released", cut)
        .expect("node-a released");
    let acquired = bed
        .log_time(B, "VIP acquired", cut)
        .expect("node-b acquired");
    println!(
        "partition: node-a released {:.1} ms after the cut, node-b acquired {:.1} ms after it",
        (released - cut) * 1000.0,
        (acquired - cut) * 1000.0
    );
    assert!(
        released < acquired,
        "two holders from {acquired} to {released}"
    );
    // Healed, node-a (priority 200, preempt on) is handed the VIP back.
    bed.heal(A).unwrap();
    assert!(testbed::wait_until(Duration::from_secs(2), || bed
        .holders()
        == vec![A]));
    scenario::assert_status_names(&bed, A, "after healing");
}

/// Frames injected from a namespace without the key — recorded frames
/// replayed, the same with bits flipped, random payloads behind the quorum
/// EtherType — are dropped and counted, and change nothing.
#[test]
fn spoofed_and_replayed_frames_change_nothing() {
    require_root!();
    let _serial = testbed::serial();
    let mut bed = scenario::retry_setup("quorum spoof", || {
        let mut bed = bed(&[200, 150, 100])?;
        bed.start_stream()?;
        bed.settle(SETUP)?;
        Ok(bed)
    });
    let ns = bed
        .add_host(
            "ev",
            "02:00:00:00:00:66",
            std::net::Ipv4Addr::new(192, 0, 2, 66),
        )
        .unwrap();
    // Record the segment's quorum frames for a while, as an attacker would.
    let file = bed.dir().join("recorded.pcap");
    let tcpdump = netns::exec_in(&ns)
        .args(["tcpdump", "--immediate-mode", "-i", "eth0", "-U", "-w"])
        .arg(&file)
        .args(["ether", "proto", "0x88b5"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    testbed::wait_until(Duration::from_secs(5), || {
        std::fs::metadata(&file).is_ok_and(|m| m.len() >= 24)
    });
    std::thread::sleep(Duration::from_millis(600));
    netns::interrupt(tcpdump, Duration::from_secs(1));
    let recorded = testbed::capture::pcap_frames(&std::fs::read(&file).unwrap());
    let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
    assert!(
        recorded.len() > 50,
        "recorded {} frames ({size} bytes)",
        recorded.len()
    );
    let before = metrics(&bed, B);
    let mut frames = Vec::new();
    let mut seed = 0x5eed_u64;
    for f in &recorded {
        frames.push(f.clone()); // a replay
        let mut flipped = f.clone();
        let at = 14 + (seed as usize % 56);
        flipped[at] ^= 0x20; // a forgery
        frames.push(flipped);
        let mut random = f.clone();
        for b in random[14..].iter_mut() {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            *b = (seed >> 56) as u8;
        }
        frames.push(random);
    }
    let holder_changes = before
        .get("vipd_holder_changes_total")
        .copied()
        .unwrap_or(0);
    let injected = testbed::wall_now();
    let sent = testbed::inject::send(&ns, "eth0", frames, Duration::from_micros(200)).unwrap();
    let done = testbed::wall_now();
    std::thread::sleep(Duration::from_millis(300));
    let after = metrics(&bed, B);
    let delta = |k: &str| after.get(k).copied().unwrap_or(0) - before.get(k).copied().unwrap_or(0);
    let auth = delta("vipd_frames_dropped_total{reason=\"auth\"}");
    let replay = delta("vipd_frames_dropped_total{reason=\"replay\"}");
    let other = delta("vipd_frames_dropped_total{reason=\"unsupported\"}")
        + delta("vipd_frames_dropped_total{reason=\"digest\"}")
        + delta("vipd_frames_dropped_total{reason=\"epoch\"}")
        + delta("vipd_frames_dropped_total{reason=\"looped\"}");
    println!(
        "spoof: sent {sent} frames; node-b dropped auth {auth}, replay {replay}, other {other}"
    );
    assert_eq!(sent, recorded.len() * 3);
    assert!(
        auth + replay + other >= sent as u64 * 99 / 100,
        "every frame dropped and counted"
    );
    // node-b's own frames, replayed, are counted as looped, not as replays.
    let others = recorded
        .iter()
        .filter(|f| f[6..12] != scenario::mac_of(&bed, B))
        .count();
    assert!(
        replay as usize >= others * 9 / 10,
        "replays counted as replays: {replay} of {others}"
    );
    assert_eq!(
        after.get("vipd_holder_changes_total").copied().unwrap_or(0),
        holder_changes
    );
    assert_eq!(bed.holders(), vec![A], "the holder is unchanged");
    // The holder never let go. (The client may lose pings meanwhile: the
    // replays carry the members' source MACs, so the switch learns those
    // MACs on the attacker's port for a moment; any host on a segment can
    // do that, vipd or not.)
    assert_eq!(
        bed.log_time(A, "VIP released", injected),
        None,
        "node-a kept its lease"
    );
    let _ = bed.stop_stream();
    let _ = done;
}

/// Node `i`'s metrics as name{labels} -> value.
fn metrics(bed: &Testbed, i: usize) -> std::collections::BTreeMap<String, u64> {
    let socket = bed.nodes[i].socket.clone();
    let reply = host_agent::control::call(&socket, &host_agent::control::Request::Metrics).unwrap();
    reply["metrics"]
        .as_str()
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_owned(), v.parse().ok()?))
        })
        .collect()
}

/// The highest priority, back after a power cycle (and its restart wait),
/// is handed the VIP through the move path (preempt is on by default).
#[test]
fn a_returning_higher_priority_is_handed_the_vip() {
    require_root!();
    let _serial = testbed::serial();
    let mut bed = scenario::retry_setup("quorum preempt", || {
        let mut bed = bed(&[200, 150, 100])?;
        bed.start_stream()?;
        bed.settle(SETUP)?;
        Ok(bed)
    });
    bed.power_off(A).unwrap();
    assert!(testbed::wait_until(Duration::from_secs(2), || bed
        .holders()
        == vec![B]));
    let back = testbed::wall_now();
    bed.power_on(A).unwrap();
    assert!(
        testbed::wait_until(Duration::from_secs(5), || bed.holders() == vec![A]),
        "node-a takes the VIP back\n{}",
        bed.logs_tail(30)
    );
    let acquired = bed.log_time(A, "VIP acquired", back).unwrap();
    println!(
        "preemption: node-a holds {:.1} ms after its restart",
        (acquired - back) * 1000.0
    );
}

/// Not a test: runs a VRRP (`VIPD_PROFILE=vrrp`) or quorum testbed for
/// `VIPD_PROFILE_SECS` and prints the holder's pid, for `perf`/`strace`.
#[test]
#[ignore = "a profiling aid"]
fn profile_holder() {
    require_root!();
    let vrrp = std::env::var("VIPD_PROFILE").is_ok_and(|v| v == "vrrp");
    let secs: u64 = std::env::var("VIPD_PROFILE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let make = if vrrp { Peer::vipd } else { Peer::quorum };
    let interval = if vrrp { 10 } else { 2 };
    let peers = [make(200), make(150), make(100)];
    let mut bed = Testbed::new(vipd(), &peers, interval).unwrap();
    bed.start_all().unwrap();
    bed.start_stream().unwrap();
    let h = bed.settle(SETUP).unwrap();
    println!("PROFILE holder pid {}", bed.daemon_pid(h).unwrap());
    std::thread::sleep(Duration::from_secs(secs));
}
