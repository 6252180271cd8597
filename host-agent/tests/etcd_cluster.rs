//! The etcd testbed itself (`testbed::etcd`): a real three-member etcd
//! cluster (Debian's etcd-server) in namespaces on the testbed's bridge.
//! These tests check the harness and record what etcd 3.4 does here (lease
//! TTL rounding, start-up time, put latency), before vipd's etcd mode runs
//! on it.
//!
//! Needs root, ip, sysctl, etcd, etcdctl, nft and ping (skips otherwise;
//! fails if CI is set). Tests take the testbed's global lock, so the
//! timings are taken one cluster at a time.

mod netns;
mod testbed;

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use testbed::etcd::{self, EtcdCluster, Tuning};
use testbed::{Peer, Testbed, CLIENT_ADDR, SETUP};

fn vipd() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_vipd"))
}

/// The tools these tests run: the cluster's and ping.
const TOOLS: &[&str] = &["ip", "sysctl", "etcd", "etcdctl", "nft", "ping"];

macro_rules! require_root {
    () => {
        if !testbed::can_run("the etcd testbed", TOOLS) {
            return;
        }
    };
}

/// A testbed of `nodes` vipd nodes (configs written, nothing started) and
/// the client, with an etcd cluster on its bridge.
fn setup(nodes: usize, tuning: Tuning) -> (Testbed, EtcdCluster) {
    let peers = vec![Peer::vipd(100); nodes];
    let mut bed = Testbed::new(vipd(), &peers, 100).expect("testbed");
    let cluster = EtcdCluster::start_with(&mut bed, tuning).expect("etcd cluster");
    println!(
        "etcd cluster ({} ms heartbeat, {} ms election timeout) healthy {:.0} ms after spawn",
        tuning.heartbeat_ms,
        tuning.election_ms,
        ms(cluster.startup)
    );
    (bed, cluster)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn text(out: &Output) -> String {
    format!(
        "{} stdout: {} stderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout).trim(),
        String::from_utf8_lossy(&out.stderr).trim()
    )
}

/// `ping -c1 -W1 ADDR` from namespace `ns` succeeds.
fn pings(ns: &str, addr: Ipv4Addr) -> bool {
    netns::exec_in(ns)
        .args(["ping", "-n", "-q", "-c1", "-W1", &addr.to_string()])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `etcdctl endpoint health` of one endpoint from `ns`, 1 s timeouts.
fn reaches(cluster: &EtcdCluster, ns: &str, endpoint: &str) -> Result<(), String> {
    let out = cluster.etcdctl_in(
        ns,
        &[
            "--endpoints",
            endpoint,
            "--dial-timeout=1s",
            "--command-timeout=1s",
            "endpoint",
            "health",
        ],
    )?;
    if out.status.success() {
        Ok(())
    } else {
        Err(text(&out))
    }
}

/// The TTL in `lease N granted with TTL(Ts)`.
fn granted_ttl(line: &str) -> Option<u64> {
    let rest = line.split("TTL(").nth(1)?;
    rest.split("s)").next()?.parse().ok()
}

/// The median of some durations, in ms.
fn median_ms(mut v: Vec<Duration>) -> f64 {
    v.sort();
    ms(v[v.len() / 2])
}

/// Which member leads, from `endpoint status` (`-w simple`: endpoint, id,
/// version, db size, is leader, …).
/// Endpoints that do not answer are left out (etcdctl then exits 1).
fn leader(cluster: &EtcdCluster) -> Option<usize> {
    let out = cluster
        .etcdctl(&["--command-timeout=1s", "endpoint", "status", "-w", "simple"])
        .ok()?;
    String::from_utf8_lossy(&out.stdout).lines().find_map(|l| {
        let f: Vec<&str> = l.split(", ").collect();
        (f.get(4) == Some(&"true"))
            .then(|| cluster.endpoints().iter().position(|e| e == f[0]))
            .flatten()
    })
}

/// (a) Three members form a cluster; a put and a get work through
/// etcdctl; a put costs what it costs.
#[test]
fn the_cluster_forms_and_serves_a_put_and_a_get() {
    require_root!();
    let _serial = testbed::serial();
    let (_bed, cluster) = setup(1, Tuning::default());

    let members = cluster
        .etcdctl_ok(&["member", "list", "-w", "simple"])
        .expect("member list");
    for i in 0..etcd::MEMBERS {
        let line = members
            .lines()
            .find(|l| l.contains(&format!(", {}, ", etcd::member_name(i))))
            .unwrap_or_else(|| panic!("etcd-{i} not in member list:\n{members}"));
        assert!(line.contains(", started, "), "{line}");
        assert!(line.contains(&cluster.members[i].client_url()), "{line}");
    }

    assert_eq!(
        cluster.etcdctl_ok(&["put", "/vipd/test/a", "one"]).unwrap(),
        "OK"
    );
    assert_eq!(
        cluster
            .etcdctl_ok(&["get", "--print-value-only", "/vipd/test/a"])
            .unwrap(),
        "one"
    );

    // etcdctl is a fresh Go process each time: compare a put with a
    // command that starts the same process and talks to nobody, and with
    // a linearizable get (one round of reads through the leader).
    let time = |args: &[&str]| {
        let t = Instant::now();
        cluster.etcdctl_ok(args).expect("etcdctl");
        t.elapsed()
    };
    let (mut version, mut get, mut put) = (Vec::new(), Vec::new(), Vec::new());
    for n in 0..10 {
        version.push(time(&["version"]));
        get.push(time(&["get", "/vipd/test/a"]));
        put.push(time(&["put", &format!("/vipd/test/p{n}"), "x"]));
    }
    println!(
        "etcdctl medians of 10: version {:.1} ms (no network), get {:.1} ms, put {:.1} ms",
        median_ms(version),
        median_ms(get),
        median_ms(put)
    );
    let keys = cluster
        .etcdctl_ok(&["get", "--prefix", "--keys-only", "/vipd/test/p"])
        .expect("keys");
    assert_eq!(keys.lines().filter(|l| !l.is_empty()).count(), 10, "{keys}");
}

/// (b) etcd raises a lease TTL below its minimum, ceil(1.5 × election
/// timeout) s, without a word: at the default 1 s election timeout, a
/// 1 s lease is granted for 2 s. Longer TTLs are kept.
#[test]
fn a_one_second_lease_is_granted_for_two() {
    require_root!();
    let _serial = testbed::serial();
    let tuning = Tuning::default();
    assert_eq!(tuning.min_lease_ttl(), 2);
    let (_bed, cluster) = setup(0, tuning);
    for (asked, expected) in [(1, 2), (2, 2), (3, 3), (5, 5)] {
        let line = cluster
            .etcdctl_ok(&["lease", "grant", &asked.to_string()])
            .expect("lease grant");
        println!("lease grant {asked}: {line}");
        assert_eq!(granted_ttl(&line), Some(expected), "{line}");
        if asked == 1 {
            // etcd keeps the raised TTL: timetolive reports it as granted.
            let id = line.split_whitespace().nth(1).expect("lease id");
            let ttl = cluster
                .etcdctl_ok(&["lease", "timetolive", id])
                .expect("timetolive");
            println!("lease timetolive {id}: {ttl}");
            assert!(ttl.contains("granted with TTL(2s)"), "{ttl}");
        }
    }
}

/// The minimum follows the election timeout: 1 s at 500 ms, 3 s at 2 s.
#[test]
fn the_shortest_lease_follows_the_election_timeout() {
    require_root!();
    let _serial = testbed::serial();
    for (election_ms, min) in [(500, 1), (2000, 3)] {
        let tuning = Tuning {
            heartbeat_ms: 100,
            election_ms,
        };
        assert_eq!(tuning.min_lease_ttl(), min);
        let (_bed, cluster) = setup(0, tuning);
        let line = cluster
            .etcdctl_ok(&["lease", "grant", "1"])
            .expect("lease grant");
        println!("election timeout {election_ms} ms: lease grant 1: {line}");
        assert_eq!(granted_ttl(&line), Some(min), "{line}");
    }
}

/// (c) With the leader killed (SIGKILL), the other two elect a new one and
/// serve writes, each through its own endpoint; the killed member,
/// restarted on its data directory, catches up.
#[test]
fn two_members_serve_writes_with_the_leader_killed() {
    require_root!();
    let _serial = testbed::serial();
    let (_bed, mut cluster) = setup(0, Tuning::default());
    cluster
        .etcdctl_ok(&["put", "/vipd/test/before", "1"])
        .unwrap();
    let dead = leader(&cluster).expect("a leader");
    let alive: Vec<usize> = (0..etcd::MEMBERS).filter(|&i| i != dead).collect();
    let eps = cluster.endpoints();
    let survivors = alive
        .iter()
        .map(|&i| eps[i].clone())
        .collect::<Vec<_>>()
        .join(",");

    cluster.kill(dead);
    let killed = Instant::now();
    assert!(!cluster.running(dead));
    let mut last = String::new();
    let wrote = netns::wait_until_every(SETUP, Duration::from_millis(20), || {
        match cluster.etcdctl_ok(&[
            "--endpoints",
            &survivors,
            "--command-timeout=1s",
            "put",
            "/vipd/test/during",
            "2",
        ]) {
            Ok(_) => true,
            Err(e) => {
                last = e;
                false
            }
        }
    });
    assert!(
        wrote,
        "no write within {SETUP:?} of killing the leader: {last}"
    );
    println!(
        "leader etcd-{dead} killed: first write through the survivors after {:.0} ms",
        ms(killed.elapsed())
    );
    let new_leader = leader(&cluster).expect("a new leader");
    assert_ne!(new_leader, dead);
    for &i in &alive {
        let out = cluster
            .etcdctl_ok(&[
                "--endpoints",
                &eps[i],
                "put",
                &format!("/vipd/test/via{i}"),
                "3",
            ])
            .unwrap_or_else(|e| panic!("put through etcd-{i}: {e}"));
        assert_eq!(out, "OK");
    }
    // All three endpoints: the client skips the dead one.
    assert_eq!(
        cluster.etcdctl_ok(&["put", "/vipd/test/all", "4"]).unwrap(),
        "OK"
    );
    assert!(
        cluster.health(&cluster.endpoints_arg()).is_err(),
        "health must report the dead member"
    );

    let t = Instant::now();
    cluster.restart(dead).expect("restart");
    println!(
        "etcd-{dead} restarted: healthy after {:.0} ms",
        ms(t.elapsed())
    );
    cluster.wait_healthy(SETUP).expect("all healthy again");
    let got = cluster
        .etcdctl_ok(&[
            "--endpoints",
            &eps[dead],
            "get",
            "--prefix",
            "--keys-only",
            "/vipd/test/",
        ])
        .expect("get through the restarted member");
    let mut keys: Vec<&str> = got.lines().filter(|l| !l.is_empty()).collect();
    keys.sort();
    let mut want: Vec<String> = ["before", "during", "all"]
        .iter()
        .map(|k| format!("/vipd/test/{k}"))
        .chain(alive.iter().map(|i| format!("/vipd/test/via{i}")))
        .collect();
    want.sort();
    assert_eq!(keys, want);
}

/// (d) A cut node keeps the client (and its carrier) but reaches no etcd
/// member; the client and the other node still reach etcd; heal restores
/// it.
#[test]
fn a_cut_node_reaches_the_client_but_not_etcd() {
    require_root!();
    let _serial = testbed::serial();
    let (bed, mut cluster) = setup(2, Tuning::default());
    let (a, b) = (&bed.nodes[0].ns, &bed.nodes[1].ns);
    let eps = cluster.endpoints();

    assert!(pings(a, CLIENT_ADDR), "node-a pings the client before");
    for ep in &eps {
        reaches(&cluster, a, ep).unwrap_or_else(|e| panic!("node-a to {ep} before: {e}"));
    }
    let before = cluster.dropped_frames().unwrap();
    assert_eq!(before, 0);

    cluster.cut_node(&bed, 0).expect("cut");
    assert_eq!(cluster.cut_ports(), ["p0"]);
    assert!(pings(a, CLIENT_ADDR), "node-a still pings the client");
    assert!(pings(a, bed.nodes[1].id.addr), "node-a still pings node-b");
    assert!(pings(&bed.client_ns, bed.nodes[0].id.addr), "and back");
    for (i, ep) in eps.iter().enumerate() {
        assert!(
            !pings(a, etcd::member_addr(i)),
            "node-a must not ping etcd-{i}"
        );
        assert!(
            reaches(&cluster, a, ep).is_err(),
            "node-a must not reach {ep}"
        );
        reaches(&cluster, b, ep).unwrap_or_else(|e| panic!("node-b to {ep}: {e}"));
        reaches(&cluster, &bed.client_ns, ep).unwrap_or_else(|e| panic!("the client to {ep}: {e}"));
    }
    // All endpoints at once, as vipd's client would try them.
    let all = cluster
        .etcdctl_in(
            a,
            &["--dial-timeout=1s", "--command-timeout=1s", "get", "x"],
        )
        .unwrap();
    assert!(!all.status.success(), "a get from node-a: {}", text(&all));
    let dropped = cluster.dropped_frames().unwrap();
    assert!(dropped > 0, "the filter dropped nothing");
    println!("cut: {dropped} frames dropped between p0 and the etcd ports");

    cluster.heal_node(&bed, 0).expect("heal");
    assert!(cluster.cut_ports().is_empty());
    let mut last = String::new();
    let t = Instant::now();
    let healed = netns::wait_until_every(SETUP, Duration::from_millis(50), || {
        match reaches(&cluster, a, &cluster.endpoints_arg()) {
            Ok(()) => true,
            Err(e) => {
                last = e;
                false
            }
        }
    });
    assert!(healed, "node-a reaches etcd again: {last}");
    println!(
        "healed: node-a reaches every member after {:.0} ms",
        ms(t.elapsed())
    );
    assert!(pings(a, etcd::member_addr(0)));
}

/// Dropping the testbed and its cluster while a test panics leaves no
/// process, namespace, data directory or address behind.
#[test]
fn a_panicking_test_leaves_nothing_behind() {
    require_root!();
    let _serial = testbed::serial();
    let seen = std::sync::Mutex::new(None);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let (bed, cluster) = setup(1, Tuning::default());
        let pids: Vec<u32> = (0..etcd::MEMBERS).filter_map(|i| cluster.pid(i)).collect();
        assert_eq!(pids.len(), etcd::MEMBERS);
        let data: Vec<_> = cluster.members.iter().map(|m| m.data.clone()).collect();
        assert!(data.iter().all(|d| d.is_dir()));
        *seen.lock().unwrap() = Some((bed.prefix.clone(), pids, data, bed.dir().to_path_buf()));
        panic!("deliberate panic: checking that a failing test leaves nothing behind");
    }));
    assert!(result.is_err());
    let (prefix, pids, data, dir) = seen.lock().unwrap().take().expect("setup ran");
    // The testbed keeps its temp directory (logs) after a failure; this
    // failure was on purpose.
    let _ = std::fs::remove_dir_all(&dir);
    for pid in pids {
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        assert_ne!(comm.trim(), "etcd", "etcd pid {pid} still runs");
    }
    for d in &data {
        assert!(!d.exists(), "{} is left", d.display());
    }
    let data_root = data[0].parent().unwrap();
    assert!(!data_root.exists(), "{} is left", data_root.display());
    let list = netns::ip(&["netns", "list"]).unwrap();
    let list = String::from_utf8_lossy(&list.stdout);
    assert!(
        !list.lines().any(|l| l.starts_with(&format!("{prefix}-"))),
        "namespaces left:\n{list}"
    );
    // (The machine's own eth0 may sit in 192.0.2.0/24 too: look for ours.)
    let addrs = netns::ip(&["-4", "-o", "address", "show"]).unwrap();
    let addrs = String::from_utf8_lossy(&addrs.stdout);
    let ours: Vec<Ipv4Addr> = (0..etcd::MEMBERS)
        .map(etcd::member_addr)
        .chain([Ipv4Addr::new(192, 0, 2, 11), CLIENT_ADDR])
        .collect();
    for addr in ours {
        assert!(
            !addrs.contains(&format!(" {addr}/")),
            "the root namespace has {addr}:\n{addrs}"
        );
    }
}
