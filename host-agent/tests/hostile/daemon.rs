//! The running daemon against hostile neighbours: hooks that hang or fail, a
//! flooded status socket, clients that trickle, a backup that is paused.

use std::path::Path;
use std::time::{Duration, Instant};

use rustix::process::Signal;

use crate::hostile::lab::{config, serial, wait_until, Lab};
use crate::{assert_no_panic, get, pair, stderr, SETUP};

/// Whether process `pid` is gone (or a zombie waiting for its reaper).
fn process_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // "PID (comm) STATE …": the state follows the last ')'.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

/// Process ids the hooks wrote, one a line, to `file`.
fn pids_in(file: &Path) -> Vec<u32> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// Kills, when dropped, every hook process whose pid was written to one of
/// its files and that still runs `sleep` (a hook outlives a daemon killed
/// with SIGKILL, since hooks lead their own process groups).
struct HookReaper(Vec<std::path::PathBuf>);

impl Drop for HookReaper {
    fn drop(&mut self) {
        for pid in self.0.iter().flat_map(|f| pids_in(f)) {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if comm.trim() == "sleep" {
                if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
                    let _ = rustix::process::kill_process(pid, Signal::KILL);
                }
            }
        }
    }
}

/// The acquire hook hangs (it and a child it forked sleep 60 s) and the
/// release hook fails; the VIP still comes and goes at once, the hanging
/// hook's whole process group is killed at the 1 s timeout, and both
/// failures are logged and counted.
#[test]
fn hooks_that_hang_or_fail_do_not_hold_up_the_vip() {
    require_root!();
    let _serial = serial();
    let lab = Lab::new(1).expect("lab");
    let acquired = lab.path("acquire.pids");
    let released = lab.path("release.pids");
    let _reaper = HookReaper(vec![acquired.clone(), released.clone()]);
    let hooks = format!(
        "\n[hooks]\n\
         on_acquire = \"sleep 61 & echo $! >> {a}; echo $$ >> {a}; exec sleep 60\"\n\
         on_release = \"echo $$ >> {r}; echo release hook fails >&2; exit 1\"\n\
         timeout = \"1s\"\n",
        a = acquired.display(),
        r = released.display()
    );
    let file = lab.write(
        "node-a.toml",
        config(&lab, 0, "node-a", 100, "100ms", &hooks),
    );
    let mut daemon = lab.start(0, "node-a", &file, &lab.path("node-a.sock"));

    // Acquire: the VIP appears while the hook hangs.
    assert!(
        wait_until(SETUP, || lab.has_vip(0)),
        "no VIP:\n{}",
        daemon.log()
    );
    assert!(wait_until(SETUP, || pids_in(&acquired).len() == 2));
    let hung_at = Instant::now();
    let hung = pids_in(&acquired);
    assert_eq!(get(&daemon, "state"), "master");
    assert!(
        hung.iter().all(|&p| !process_gone(p)),
        "the hook ended early"
    );
    assert!(
        wait_until(Duration::from_secs(5), || hung
            .iter()
            .all(|&p| process_gone(p))),
        "the hanging hook (pids {hung:?}) outlived its 1 s timeout"
    );
    let killed_after = hung_at.elapsed();
    assert!(
        wait_until(Duration::from_secs(2), || daemon
            .log()
            .contains("hook timed out and was killed")),
        "no timeout logged:\n{}",
        daemon.log()
    );

    // Release (carrier lost): the VIP goes at once, the failing hook is logged.
    lab.set_port(0, false).expect("port down");
    assert!(
        wait_until(Duration::from_secs(2), || !lab.has_vip(0)),
        "the VIP stayed after carrier loss"
    );
    assert_eq!(get(&daemon, "state"), "fault");
    assert!(
        wait_until(Duration::from_secs(5), || daemon
            .log()
            .contains("hook failed")),
        "no failed hook logged:\n{}",
        daemon.log()
    );
    assert_eq!(pids_in(&released).len(), 1);

    // Carrier back: the VIP comes back although the acquire hook hangs again.
    lab.set_port(0, true).expect("port up");
    assert!(
        wait_until(SETUP, || lab.has_vip(0)),
        "no VIP after carrier came back:\n{}",
        daemon.log()
    );
    assert_eq!(get(&daemon, "state"), "master");
    assert!(wait_until(SETUP, || {
        daemon
            .metrics()
            .is_ok_and(|m| m.get("vipd_hook_failures_total") >= 3)
    }));

    // SIGTERM: the VIP goes, the failing release hook runs, vipd exits 0.
    let stopping = Instant::now();
    daemon.signal(Signal::TERM);
    let status = daemon.wait_exit(Duration::from_secs(10));
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "{status:?}\n{}",
        daemon.log()
    );
    let stop_took = stopping.elapsed();
    assert!(!lab.has_vip(0), "the VIP stayed after SIGTERM");
    assert_eq!(
        pids_in(&released).len(),
        2,
        "on_release did not run on stop"
    );
    let log = daemon.log();
    assert!(!log.contains("panicked"), "{log}");
    assert!(
        pids_in(&acquired).iter().all(|&p| process_gone(p)),
        "a hook outlived the daemon"
    );
    println!(
        "hanging hook killed {killed_after:.2?} after it started (timeout 1s); stop took {stop_took:.2?}"
    );
}

/// What one junk client does to the status socket.
#[derive(Debug, Clone, Copy)]
enum Abuse {
    /// Random bytes with newlines in them, then read what comes back.
    Binary,
    /// 64 KiB without a newline.
    Oversize,
    /// JSON that is not a request: wrong names, types, ranges, deep nesting.
    BadJson,
    /// Connect, shut the write side, keep the socket open.
    HalfOpen,
    /// Connect and say nothing.
    Silent,
    /// 2000 status requests without reading one reply.
    NoReader,
}

const ABUSES: [Abuse; 6] = [
    Abuse::Binary,
    Abuse::Oversize,
    Abuse::BadJson,
    Abuse::HalfOpen,
    Abuse::Silent,
    Abuse::NoReader,
];

/// Abuses the socket at `path` until `stop`; returns connections made.
fn abuse(path: &Path, how: Abuse, seed: u64, stop: &std::sync::atomic::AtomicBool) -> u64 {
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;
    use std::sync::atomic::Ordering;
    let mut rng = crate::hostile::junk::Rng::new(seed);
    let mut connections = 0;
    let mut held = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut s) = UnixStream::connect(path) else {
            std::thread::sleep(Duration::from_millis(5));
            continue;
        };
        connections += 1;
        let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
        let _ = s.set_write_timeout(Some(Duration::from_millis(500)));
        let mut sink = [0u8; 4096];
        match how {
            Abuse::Binary => {
                let len = rng.range(1, 8192);
                let junk = rng.bytes(len);
                let _ = s.write_all(&junk);
                let _ = s.write_all(b"\n");
                let _ = s.read(&mut sink);
            }
            Abuse::Oversize => {
                let _ = s.write_all(&vec![b'{'; 64 << 10]);
                let _ = s.read(&mut sink);
            }
            Abuse::BadJson => {
                let deep = "[".repeat(3000);
                let lines = [
                    "{\"request\":\"priority\",\"priority\":300}",
                    "{\"request\":\"priority\",\"priority\":-1}",
                    "{\"request\":\"status\",\"extra\":1}",
                    "{\"request\":\"STATUS\"}",
                    "{\"request\":null}",
                    "null",
                    "[]",
                    "\"\\ud800\"",
                    "{\"request\":\"status\"",
                    deep.as_str(),
                ];
                for line in lines {
                    let _ = s.write_all(format!("{line}\r\n").as_bytes());
                }
                let _ = s.read(&mut sink);
            }
            Abuse::HalfOpen => {
                let _ = s.shutdown(std::net::Shutdown::Write);
                held.push(s);
            }
            Abuse::Silent => held.push(s),
            Abuse::NoReader => {
                for _ in 0..2000 {
                    if s.write_all(b"{\"request\":\"status\"}\n").is_err() {
                        break;
                    }
                }
                held.push(s);
            }
        }
        // Hold a few connections at a time; drop the oldest beyond that.
        if held.len() > 4 {
            held.remove(0);
        }
    }
    connections
}

/// Dozens of clients send junk, oversize lines, bad JSON, and hold silent,
/// half-open and unread connections for 8 s. During it every `vipd status`
/// answers within 1 s (with the status or a refusal); after it, status
/// answers at once; the master keeps the VIP and its adverts flow, so the
/// backup never takes over.
#[test]
fn status_socket_flood_does_not_disturb_the_master() {
    use std::sync::atomic::{AtomicBool, Ordering};
    require_root!();
    let _serial = serial();
    let lab = Lab::new(2).expect("lab");
    let (master, backup) = pair(&lab);
    let before = master.metrics().expect("metrics");
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let clients: Vec<_> = (0..48u64)
        .map(|i| {
            let stop = stop.clone();
            let path = master.socket.clone();
            let how = ABUSES[i as usize % ABUSES.len()];
            std::thread::spawn(move || abuse(&path, how, i + 1, &stop))
        })
        .collect();
    let (mut answered, mut refused, mut slowest) = (0, 0, Duration::ZERO);
    while started.elapsed() < Duration::from_secs(8) {
        let (out, took) = master.status_cli(&["--json"]);
        slowest = slowest.max(took);
        assert_no_panic(&out, "vipd status during the flood");
        if out.status.success() {
            answered += 1;
        } else {
            refused += 1;
            assert!(
                stderr(&out).contains("too many clients"),
                "status failed otherwise: {}",
                stderr(&out)
            );
        }
        assert!(
            took < Duration::from_secs(1),
            "vipd status took {took:?} during the flood"
        );
        assert!(lab.has_vip(0) && !lab.has_vip(1), "the VIP moved");
        std::thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, Ordering::Relaxed);
    let connections: u64 = clients.into_iter().map(|c| c.join().unwrap_or(0)).sum();
    let flood = started.elapsed();

    // With the junk gone, status answers at once.
    let (out, took) = master.status_cli(&["--json"]);
    assert!(
        out.status.success(),
        "status after the flood: {}",
        stderr(&out)
    );
    assert!(took < Duration::from_secs(1), "status took {took:?}");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status JSON");
    assert_eq!(doc["state"], "master");
    assert_eq!(doc["vipHost"], "node-a");
    assert_eq!(backup.field("state"), "backup");
    assert_eq!(backup.field("vipHost"), "node-a");
    let after = master.metrics().expect("metrics");
    let adverts = after.get("vipd_frames_out_total{kind=\"advert\"}")
        - before.get("vipd_frames_out_total{kind=\"advert\"}");
    let expected = flood.as_millis() as u64 / 100;
    assert!(
        adverts * 10 >= expected * 8,
        "{adverts} adverts in {flood:?} (expected about {expected})"
    );
    assert_eq!(after.get("vipd_released_total"), 0);
    assert_eq!(after.get("vipd_priority"), 200, "junk changed the priority");
    assert_eq!(
        backup.metrics().expect("backup").get("vipd_acquired_total"),
        0
    );
    assert!(!master.log().contains("panicked"));
    println!(
        "status flood: {connections} junk connections in {flood:.1?}; status answered {answered}, \
         refused (too many clients) {refused}, slowest {slowest:.1?}; after: {took:.1?}; \
         {adverts} adverts sent (expected {expected})"
    );
}

/// Sixteen clients that each send one byte every 5 s occupy every slot of
/// the status socket: none of them is idle for 10 s, so none is closed.
/// Status must still be reachable within the idle timeout plus a margin.
#[test]
fn trickling_clients_cannot_lock_out_status() {
    use std::io::Write;
    require_root!();
    let _serial = serial();
    let lab = Lab::new(1).expect("lab");
    let file = lab.write("node-a.toml", config(&lab, 0, "node-a", 100, "100ms", ""));
    let daemon = lab.start(0, "node-a", &file, &lab.path("node-a.sock"));
    assert!(wait_until(SETUP, || daemon.field("state") == "master"));
    let mut trickle: Vec<_> = (0..host_agent::control::MAX_CLIENTS)
        .filter_map(|_| std::os::unix::net::UnixStream::connect(&daemon.socket).ok())
        .collect();
    let started = Instant::now();
    let limit = host_agent::control::IDLE_TIMEOUT + Duration::from_secs(3);
    let mut reached = None;
    while started.elapsed() < limit + Duration::from_secs(6) {
        for s in &mut trickle {
            let _ = s.write_all(b" ");
        }
        let (out, _) = daemon.status_cli(&["--get", "state"]);
        if out.status.success() {
            reached = Some(started.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_secs(5));
    }
    drop(trickle);
    let reached = reached.expect(
        "16 clients trickling one byte every 5 s kept `vipd status` out for good \
         (see the report: a request line needs a deadline, not only each read)",
    );
    assert!(reached <= limit, "status reachable only after {reached:?}");
}

/// A backup that was paused (SIGSTOP, as under heavy load or a VM stall)
/// for longer than Master_Down_Interval wakes up with the master's adverts
/// waiting in its socket and its timer expired. The adverts were sent
/// before the deadline: they must win, so the backup must not take over.
/// Ten pauses of 600 ms (Master_Down_Interval is about 361 ms).
#[test]
fn a_paused_backup_reads_queued_adverts_before_taking_over() {
    require_root!();
    let _serial = serial();
    let lab = Lab::new(2).expect("lab");
    let (master, backup) = pair(&lab);
    let mut takeovers = 0;
    for _ in 0..10 {
        backup.signal(Signal::STOP);
        std::thread::sleep(Duration::from_millis(600));
        backup.signal(Signal::CONT);
        std::thread::sleep(Duration::from_millis(400));
    }
    if let Ok(m) = backup.metrics() {
        takeovers = m.get("vipd_acquired_total");
    }
    assert_eq!(master.field("state"), "master");
    assert_eq!(
        takeovers,
        0,
        "the backup took the VIP {takeovers} times in 10 pauses although the \
         master's adverts were queued in its socket:\n{}",
        backup.log()
    );
}

/// A configured health check that has not passed yet keeps even a
/// priority-255 node (which would start as master at once) away from the VIP;
/// the first pass brings it in, a failure takes it out again.
#[test]
fn an_unproven_health_check_keeps_the_vip_away_from_the_start() {
    require_root!();
    let _serial = serial();
    let lab = Lab::new(1).expect("lab");
    let healthy = lab.path("healthy");
    let health = format!(
        "\n[health]\ncommand = \"test -e {}\"\ninterval = \"100ms\"\n",
        healthy.display()
    );
    let file = lab.write(
        "node-a.toml",
        config(&lab, 0, "node-a", 255, "100ms", &health),
    );
    let daemon = lab.start(0, "node-a", &file, &lab.path("node-a.sock"));
    assert!(
        wait_until(SETUP, || daemon.status().is_ok()),
        "no status:\n{}",
        daemon.log()
    );
    std::thread::sleep(Duration::from_millis(800));
    assert!(
        !lab.has_vip(0),
        "held the VIP before the health check passed"
    );
    assert_eq!(get(&daemon, "state"), "fault");
    assert!(
        !daemon.log().contains("VIP acquired"),
        "acquired before the health check passed:\n{}",
        daemon.log()
    );

    std::fs::write(&healthy, b"").expect("mark healthy");
    assert!(
        wait_until(SETUP, || lab.has_vip(0)),
        "no VIP once healthy:\n{}",
        daemon.log()
    );
    assert_eq!(get(&daemon, "state"), "master");

    std::fs::remove_file(&healthy).expect("mark unhealthy");
    assert!(
        wait_until(SETUP, || !lab.has_vip(0)),
        "kept the VIP with a failing health check:\n{}",
        daemon.log()
    );
    assert_eq!(get(&daemon, "state"), "fault");
}

/// The interface vanishing (its index is gone for good) makes vipd release
/// and exit 1, so the service manager restarts it on the new interface.
#[test]
fn a_removed_interface_stops_the_daemon_with_an_error() {
    require_root!();
    let _serial = serial();
    let lab = Lab::new(1).expect("lab");
    let file = lab.write("node-a.toml", config(&lab, 0, "node-a", 100, "100ms", ""));
    let mut daemon = lab.start(0, "node-a", &file, &lab.path("node-a.sock"));
    assert!(
        wait_until(SETUP, || lab.has_vip(0)),
        "no VIP:\n{}",
        daemon.log()
    );
    let m = &lab.members[0];
    crate::hostile::lab::ip(&["-n", &m.ns, "link", "del", &m.iface]).expect("delete the interface");
    let status = daemon.wait_exit(Duration::from_secs(10));
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(1),
        "vipd did not exit 1 after its interface vanished:\n{}",
        daemon.log()
    );
    assert!(daemon.log().contains("was removed"), "{}", daemon.log());
}
