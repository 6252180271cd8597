//! Client-visible failover gaps of vipd (quorum and VRRP) and keepalived,
//! measured the same way on the same testbed, in one run (docs/testbed.md).
//!
//! Three nodes (priorities 200, 150, 100) and a client sending an echo
//! request to the VIP every millisecond, all in network namespaces. Every
//! node also serves HTTPS on the VIP (`openssl s_server`), polled by the
//! client with curl, the way the management UI is used. Every daemon runs
//! under SCHED_RR priority 10, as dist/vipd.service runs vipd.
//!
//! 1. Power-offs (switch port down and kill -9 at once) of the holder, N
//!    each, for: quorum at 2 ms renewals, quorum at 10 ms, vipd VRRP at 10 ms
//!    adverts, keepalived at 10 ms adverts, and vipd VRRP at 10 ms with
//!    `virtual_mac = true` (the client's entry keeps the virtual router MAC;
//!    only the switch re-learns it), and vipd with `protocol = "etcd"` on a
//!    three-member etcd (Debian's etcd-server) at its 2 s lease TTL, node-a
//!    moved back with `vipd move` after each round. Gap = largest interval between
//!    the client's echo replies around the fault; HTTPS = longest time
//!    without a successful request around it.
//! 2. `vipd move` gaps at 2 ms renewals, N moves between the three nodes.
//! 3. A steady state at 2 ms renewals (60 s): holder changes, and each
//!    daemon's CPU, user and system apart; the same for vipd VRRP and
//!    keepalived at 10 ms adverts.
//!
//! ```text
//! cargo build --release -p host-agent --bin vipd --example failover-bench
//! sudo target/release/examples/failover-bench [--crashes 20] [--steady 60] [--vipd PATH]
//! ```
//!
//! Needs root, ip, sysctl, chrt, tcpdump, keepalived, openssl, curl, etcd,
//! etcdctl and nft (exit 2 naming what is missing).

#[path = "../tests/netns/mod.rs"]
mod netns;
#[path = "../tests/testbed/mod.rs"]
mod testbed;

use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use testbed::etcd::EtcdCluster;
use testbed::scenario::{self, ms};
use testbed::{Peer, Testbed};

/// Clock ticks per second in /proc (USER_HZ, 100 on Linux).
const USER_HZ: f64 = 100.0;

/// How long each round watches the stream after the fault.
const WINDOW: Duration = Duration::from_millis(600);

#[derive(Debug)]
struct Options {
    crashes: usize,
    steady: u64,
    vipd: PathBuf,
    /// Run only the subjects whose name contains this (and no moves or
    /// steady state unless it matches "quorum 2ms").
    only: Option<String>,
}

fn options() -> Result<Options, String> {
    let mut crashes = 20;
    let mut steady = 60;
    let mut vipd = std::env::var_os("VIPD").map(PathBuf::from);
    let mut only = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--crashes" => crashes = value()?.parse().map_err(|e| format!("--crashes: {e}"))?,
            "--steady" => steady = value()?.parse().map_err(|e| format!("--steady: {e}"))?,
            "--vipd" => vipd = Some(PathBuf::from(value()?)),
            "--only" => only = Some(value()?),
            "-h" | "--help" => {
                return Err(
                    "usage: failover-bench [--crashes N] [--steady SECONDS] [--vipd PATH] [--only SUBJECT]".into(),
                )
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let vipd = match vipd {
        Some(p) => p,
        None => std::env::current_exe()
            .map_err(|e| e.to_string())?
            .parent()
            .and_then(|examples| examples.parent())
            .map(|profile| profile.join("vipd"))
            .ok_or("cannot locate vipd; pass --vipd")?,
    };
    if !vipd.is_file() {
        return Err(format!(
            "{} not found: build it first (cargo build -p host-agent --bin vipd) or pass --vipd",
            vipd.display()
        ));
    }
    Ok(Options {
        crashes,
        steady,
        vipd,
        only,
    })
}

/// One implementation under test.
#[derive(Clone, Copy)]
struct Subject {
    name: &'static str,
    make: fn(u8) -> Peer,
    interval_ms: u32,
    /// `virtual_mac = true`: the holder answers with the virtual router MAC.
    virtual_mac: bool,
    /// The nodes elect through the testbed's etcd cluster.
    etcd: bool,
    /// How long a round watches the stream after the fault.
    window: Duration,
}

/// The etcd subject's lease TTL, seconds (the default).
const ETCD_TTL_S: u32 = 2;

fn etcd_peer(priority: u8) -> Peer {
    Peer::Etcd {
        priority,
        ttl_s: ETCD_TTL_S,
    }
}

const SUBJECTS: [Subject; 6] = [
    Subject {
        name: "quorum 2ms",
        make: Peer::quorum,
        interval_ms: 2,
        virtual_mac: false,
        etcd: false,
        window: WINDOW,
    },
    Subject {
        name: "quorum 10ms",
        make: Peer::quorum,
        interval_ms: 10,
        virtual_mac: false,
        etcd: false,
        window: WINDOW,
    },
    Subject {
        name: "vipd-vrrp 10ms",
        make: Peer::vipd,
        interval_ms: 10,
        virtual_mac: false,
        etcd: false,
        window: WINDOW,
    },
    Subject {
        name: "keepalived 10ms",
        make: Peer::keepalived,
        interval_ms: 10,
        virtual_mac: false,
        etcd: false,
        window: WINDOW,
    },
    Subject {
        name: "vipd-vrrp vmac 10ms",
        make: Peer::vipd,
        interval_ms: 10,
        virtual_mac: true,
        etcd: false,
        window: WINDOW,
    },
    Subject {
        name: "vipd-etcd 2s ttl",
        make: etcd_peer,
        interval_ms: 10,
        virtual_mac: false,
        etcd: true,
        // etcd lets a dead holder's key go a TTL after its last keep-alive.
        window: Duration::from_millis(ETCD_TTL_S as u64 * 1000 + 1500),
    },
];

/// A testbed and, for etcd, its cluster (kept for its drop, a field
/// before the testbed, so it is dropped first).
struct Bench {
    _etcd: Option<EtcdCluster>,
    bed: Testbed,
}

/// A testbed for `s`, every daemon started, HTTPS served on every node.
fn testbed(o: &Options, s: Subject, https: &Https) -> Result<Bench, String> {
    let peers = [(s.make)(200), (s.make)(150), (s.make)(100)];
    let mut bed = Testbed::new(&o.vipd, &peers, s.interval_ms)?;
    bed.ping_interval = Duration::from_millis(1);
    // As dist/vipd.service runs vipd; keepalived gets the same policy.
    bed.realtime = true;
    if s.virtual_mac {
        bed.use_virtual_mac()?;
    }
    let etcd = if s.etcd {
        let etcd = EtcdCluster::start(&mut bed)?;
        // etcd elects the oldest key: node-a first, holding, then the others.
        bed.start(0)?;
        if !testbed::wait_until(testbed::SETUP, || bed.holders() == [0]) {
            return Err("node-a did not take the VIP through etcd".into());
        }
        bed.start(1)?;
        bed.start(2)?;
        Some(etcd)
    } else {
        bed.start_all()?;
        None
    };
    https.serve(&bed)?;
    Ok(Bench { _etcd: etcd, bed })
}

/// Self-signed certificate and the HTTPS servers and poller.
struct Https {
    cert: PathBuf,
    key: PathBuf,
    servers: Mutex<Vec<Option<std::process::Child>>>,
}

impl Https {
    fn new(dir: &Path) -> Result<Https, String> {
        let cert = dir.join("vip.pem");
        let key = dir.join("vip.key");
        let out = std::process::Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
            ])
            .args(["-nodes", "-days", "1", "-subj", "/CN=vip"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .map_err(|e| format!("openssl req: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "openssl req: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(Https {
            cert,
            key,
            servers: Mutex::new(Vec::new()),
        })
    }

    /// `openssl s_server` on port 8443 in every node's namespace (it answers
    /// on the VIP whenever the node holds it).
    fn serve(&self, bed: &Testbed) -> Result<(), String> {
        (0..bed.nodes.len()).try_for_each(|i| self.restart(bed, i))
    }

    /// (Re)starts node `i`'s server. A power-off ends every process of the
    /// node, so the bench restarts the server when the node comes back: an
    /// `s_server` serves one connection at a time, and one that outlived the
    /// power-off would wait forever on the connection the client abandoned
    /// when the VIP moved (its FIN reached the new holder, never this node).
    fn restart(&self, bed: &Testbed, i: usize) -> Result<(), String> {
        let mut servers = self.servers.lock().map_err(|_| "poisoned")?;
        if let Some(old) = servers.get_mut(i).and_then(Option::take) {
            netns::kill_group(old);
        }
        let child = netns::group_in(&bed.nodes[i].ns)
            .args([
                "openssl", "s_server", "-quiet", "-www", "-accept", "8443", "-cert",
            ])
            .arg(&self.cert)
            .arg("-key")
            .arg(&self.key)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("spawn s_server: {e}"))?;
        if servers.len() <= i {
            servers.resize_with(i + 1, || None);
        }
        servers[i] = Some(child);
        Ok(())
    }

    fn stop(&self) {
        if let Ok(mut servers) = self.servers.lock() {
            for c in servers.drain(..).flatten() {
                netns::kill_group(c);
            }
        }
    }
}

/// Curl against the VIP from the client, back to back, while it runs:
/// the wall times of successful requests.
struct Poller {
    stop: Arc<AtomicBool>,
    ok: Arc<Mutex<Vec<f64>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Poller {
    fn start(client_ns: &str) -> Poller {
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(Mutex::new(Vec::new()));
        let (s, o, ns) = (stop.clone(), ok.clone(), client_ns.to_owned());
        let url = format!("https://{}:8443/", testbed::VIP);
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let out = netns::exec_in(&ns)
                    .args([
                        "curl",
                        "-sk",
                        "-o",
                        "/dev/null",
                        "--max-time",
                        "0.1",
                        "-w",
                        "%{http_code}",
                    ])
                    .arg(&url)
                    .output();
                if out.is_ok_and(|o| o.stdout.starts_with(b"200")) {
                    if let Ok(mut v) = o.lock() {
                        v.push(testbed::wall_now());
                    }
                }
            }
        });
        Poller {
            stop,
            ok,
            thread: Some(thread),
        }
    }

    /// Stops and returns the longest time without a success in `[from, to]`.
    fn outage(mut self, from: f64, to: f64) -> Option<f64> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let v = self.ok.lock().ok()?.clone();
        let mut inside: Vec<f64> = v
            .into_iter()
            .filter(|&t| t >= from - 0.5 && t <= to)
            .collect();
        inside.sort_by(f64::total_cmp);
        let before = inside.iter().rposition(|&t| t <= from)?;
        let gap = inside[before..]
            .windows(2)
            .map(|w| w[1] - w[0])
            .fold(0.0, f64::max);
        Some(gap * 1000.0)
    }
}

/// Power-offs of node-a: (echo gap ms, HTTPS outage ms) per round.
fn power_offs(o: &Options, s: Subject, https: &Https) -> Result<Vec<(f64, Option<f64>)>, String> {
    let mut bench = testbed(o, s, https)?;
    let bed = &mut bench.bed;
    let mut out = Vec::new();
    let mut setup_failures = 0;
    while out.len() < o.crashes {
        let poller = Poller::start(&bed.client_ns);
        let m = match scenario::measure_fault(bed, s.window, |b, h| {
            if h != 0 {
                return Err(format!("{} held, not node-a", b.nodes[h].id.name));
            }
            b.power_off(h)
        }) {
            Ok(m) => m,
            Err(e) => {
                let _ = poller.outage(0.0, 0.0);
                setup_failures += 1;
                eprintln!("{}: round {} setup failed: {e}", s.name, out.len() + 1);
                if setup_failures > 10 {
                    return Err(format!("{}: setup failed {setup_failures} times", s.name));
                }
                // Let node-a (powered on at the end of the last round) take
                // the VIP back before the next round.
                back_to_a(bed, s);
                continue;
            }
        };
        let https_gap = poller.outage(m.fault_at, m.fault_at + s.window.as_secs_f64());
        let gap = ms(m.outcome.gap);
        eprintln!(
            "{}: power-off {:>2}: gap {gap:6.1} ms, HTTPS {:>7} (resume {:5.1} ms, later {:5.1} ms, stall {:4.1} ms)",
            s.name,
            out.len() + 1,
            https_gap.map_or("-".into(), |g| format!("{g:.1} ms")),
            ms(m.outcome.resume),
            ms(m.outcome.later_gap),
            ms(m.outcome.client_stall),
        );
        out.push((gap, https_gap));
        bed.power_on(m.old_holder)?;
        https.restart(bed, m.old_holder)?;
        back_to_a(bed, s);
    }
    Ok(out)
}

/// Waits until node-a (priority 200) holds again: preemption after its
/// restart (and, with quorum, its restart wait). Under etcd, where the
/// oldest key leads whatever the priority, node-a is moved back.
fn back_to_a(bed: &Testbed, s: Subject) {
    if s.etcd {
        let a = bed.nodes[0].id.name.clone();
        testbed::wait_until(testbed::SETUP, || {
            bed.holders() == [0]
                || bed
                    .vipd_cmd(1, &["move", "--to", &a])
                    .is_ok_and(|out| out.status.success())
        });
    }
    testbed::wait_until(testbed::SETUP, || bed.holders() == [0]);
}

/// `vipd move` gaps at 2 ms renewals: node-a -> b -> c -> a ...
fn moves(o: &Options, https: &Https) -> Result<Vec<f64>, String> {
    let s = SUBJECTS[0];
    let mut bench = testbed(o, s, https)?;
    let bed = &mut bench.bed;
    let names: Vec<String> = bed.nodes.iter().map(|n| n.id.name.clone()).collect();
    let mut gaps = Vec::new();
    bed.start_stream()?;
    let mut holder = bed.settle(testbed::SETUP)?;
    while gaps.len() < o.crashes {
        let to = (holder + 1) % 3;
        let m = scenario::measure_fault(bed, WINDOW, |b, h| {
            let t = testbed::wall_now();
            let out = b.vipd_cmd((h + 2) % 3, &["move", "--to", &names[to]])?;
            if !out.status.success() {
                return Err(String::from_utf8_lossy(&out.stderr).into_owned());
            }
            Ok(t)
        })?;
        eprintln!(
            "move {} -> {}: gap {:.1} ms",
            names[m.old_holder],
            names[to],
            ms(m.outcome.gap)
        );
        gaps.push(ms(m.outcome.gap));
        holder = to;
    }
    Ok(gaps)
}

/// CPU seconds (user, system) of every process in `pgid`'s group.
fn cpu(pgid: u32) -> (f64, f64) {
    let tick = USER_HZ;
    let mut total = (0.0, 0.0);
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return total;
    };
    for entry in dir.flatten() {
        let Ok(text) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // Fields after the command's closing parenthesis: state ppid pgrp ...
        let Some((_, rest)) = text.rsplit_once(')') else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.get(2).and_then(|p| p.parse::<u32>().ok()) != Some(pgid) {
            continue;
        }
        let (u, s) = (f.get(11), f.get(12));
        if let (Some(u), Some(s)) = (
            u.and_then(|v| v.parse::<f64>().ok()),
            s.and_then(|v| v.parse::<f64>().ok()),
        ) {
            total.0 += u / tick;
            total.1 += s / tick;
        }
    }
    total
}

/// What a steady state showed.
struct Steady {
    /// Holder changes counted by the holder (vipd only).
    holder_changes: Option<u64>,
    /// Each daemon's CPU, user and system, in % of a core.
    cpu: Vec<(f64, f64)>,
    /// CPU time the hypervisor took from this machine during the window,
    /// in % of one core (`steal` in /proc/stat; 0 on bare metal).
    steal: f64,
}

/// The machine's steal time so far, in seconds (/proc/stat, all CPUs).
fn steal_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks = stat
        .lines()
        .find_map(|l| l.strip_prefix("cpu "))
        .and_then(|l| l.split_whitespace().nth(7)?.parse::<f64>().ok())
        .unwrap_or(0.0);
    ticks / USER_HZ
}

/// A steady state of `o.steady` seconds for `s`.
fn steady(o: &Options, s: Subject, https: &Https) -> Result<Steady, String> {
    let mut bench = testbed(o, s, https)?;
    let bed = &mut bench.bed;
    bed.start_stream()?;
    let holder = bed.settle(testbed::SETUP)?;
    let changes = |b: &Testbed| -> Option<u64> {
        let reply = host_agent::control::call(
            &b.nodes[holder].socket,
            &host_agent::control::Request::Metrics,
        )
        .ok()?;
        reply["metrics"].as_str()?.lines().find_map(|l| {
            l.strip_prefix("vipd_holder_changes_total ")?
                .trim()
                .parse()
                .ok()
        })
    };
    let before_changes = if s.name.starts_with("keepalived") {
        None
    } else {
        changes(bed)
    };
    let pids: Vec<u32> = (0..3).filter_map(|i| bed.daemon_pid(i)).collect();
    let before: Vec<(f64, f64)> = pids.iter().map(|&p| cpu(p)).collect();
    let steal_before = steal_secs();
    std::thread::sleep(Duration::from_secs(o.steady));
    let steal = steal_secs() - steal_before;
    let after: Vec<(f64, f64)> = pids.iter().map(|&p| cpu(p)).collect();
    let after_changes = if s.name.starts_with("keepalived") {
        None
    } else {
        changes(bed)
    };
    let holders = bed.holders();
    if holders != [holder] {
        eprintln!(
            "{}: holder moved during the steady state: {holders:?}",
            s.name
        );
    }
    let secs = o.steady as f64;
    let usage = before
        .iter()
        .zip(&after)
        .map(|(b, a)| ((a.0 - b.0) / secs * 100.0, (a.1 - b.1) / secs * 100.0))
        .collect();
    let _ = bed.stop_stream();
    Ok(Steady {
        holder_changes: before_changes.zip(after_changes).map(|(b, a)| a - b),
        cpu: usage,
        steal: steal / secs * 100.0,
    })
}

/// The nearest-rank percentile `p` (0–100) of sorted `v`.
fn percentile(v: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * v.len() as f64).ceil().max(1.0) as usize;
    v[rank.min(v.len()) - 1]
}

fn median(v: &[f64]) -> f64 {
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// `n median p95 min max` of `v`.
fn line(v: &[f64]) -> String {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return "no data".into();
    }
    format!(
        "n={:>2} median {:6.1} ms  p95 {:6.1} ms  min {:6.1} ms  max {:6.1} ms",
        v.len(),
        median(&v),
        percentile(&v, 95.0),
        v[0],
        v[v.len() - 1]
    )
}

fn main() -> ExitCode {
    let o = match options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("failover-bench: {e}");
            return ExitCode::from(2);
        }
    };
    // Not a test: nothing to skip. Whatever is missing, say it and stop.
    let tools = [
        "ip",
        "sysctl",
        "chrt",
        "tcpdump",
        "keepalived",
        "openssl",
        "curl",
        "etcd",
        "etcdctl",
        "nft",
    ];
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|t| !netns::have_tool(t))
        .collect();
    match netns::verdict(
        "failover-bench",
        netns::in_ci(),
        testbed::is_root(),
        &missing,
    ) {
        netns::Verdict::Run => {}
        netns::Verdict::Skip(why) | netns::Verdict::Fail(why) => {
            eprintln!("{why}");
            return ExitCode::from(2);
        }
    }
    let dir = match netns::temp_dir("failover-bench-") {
        Ok(d) => d,
        Err(e) => {
            eprintln!("failover-bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    let https = match Https::new(dir.path()) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("failover-bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "failover-bench: 3 nodes (priorities 200/150/100), {} power-offs of the holder each (switch port down + kill -9);",
        o.crashes
    );
    println!(
        "the client sends an echo request to the VIP every 1 ms (fixed rate) and polls https://VIP:8443/ with curl back to back"
    );
    let mut results = Vec::new();
    let chosen = |s: &Subject| {
        o.only
            .as_ref()
            .is_none_or(|only| s.name.contains(only.as_str()))
    };
    for s in SUBJECTS.into_iter().filter(chosen) {
        match power_offs(&o, s, &https) {
            Ok(r) => results.push((s, r)),
            Err(e) => {
                eprintln!("failover-bench: {}: {e}", s.name);
                https.stop();
                return ExitCode::FAILURE;
            }
        }
        https.stop();
    }
    println!("\npower-off of the holder: client echo gap");
    for (s, r) in &results {
        let gaps: Vec<f64> = r.iter().map(|x| x.0).collect();
        println!("  {:<20} {}", s.name, line(&gaps));
    }
    println!("power-off of the holder: HTTPS endpoint unreachable (curl back to back, --max-time 0.1: a request caught by the fault costs its 100 ms)");
    for (s, r) in &results {
        let gaps: Vec<f64> = r.iter().filter_map(|x| x.1).collect();
        println!("  {:<20} {}", s.name, line(&gaps));
    }
    // The gaps of the subject named `name`, sorted (empty if it did not run).
    let gaps = |name: &str| -> Vec<f64> {
        let mut v: Vec<f64> = results
            .iter()
            .filter(|(s, _)| s.name == name)
            .flat_map(|(_, r)| r.iter().map(|x| x.0))
            .collect();
        v.sort_by(f64::total_cmp);
        v
    };
    let q = gaps(SUBJECTS[0].name);
    let k = gaps(SUBJECTS[3].name);
    if !q.is_empty() && !k.is_empty() {
        println!(
            "  quorum 2ms / keepalived 10ms: median {:.2}, p95 {:.2}; quorum 2ms runs without traffic after the fault: {}",
            median(&q) / median(&k),
            percentile(&q, 95.0) / percentile(&k, 95.0),
            q.iter().filter(|&&g| g >= WINDOW.as_secs_f64() * 1000.0 - 60.0).count()
        );
    }
    let node_mac = gaps(SUBJECTS[2].name);
    let vmac = gaps(SUBJECTS[4].name);
    if !node_mac.is_empty() && !vmac.is_empty() {
        println!(
            "  vipd-vrrp virtual_mac / node MAC: median {:.2}, p95 {:.2}",
            median(&vmac) / median(&node_mac),
            percentile(&vmac, 95.0) / percentile(&node_mac, 95.0)
        );
    }
    let etcd = gaps(SUBJECTS[5].name);
    if !etcd.is_empty() && !k.is_empty() {
        println!(
            "  vipd-etcd / keepalived 10ms: median {:.1}; vipd-etcd median / its {ETCD_TTL_S} s TTL: {:.2}",
            median(&etcd) / median(&k),
            median(&etcd) / (f64::from(ETCD_TTL_S) * 1000.0)
        );
    }
    if !chosen(&SUBJECTS[0]) {
        return ExitCode::SUCCESS;
    }
    match moves(&o, &https) {
        Ok(m) => println!("\nvipd move at 2 ms renewals: {}", line(&m)),
        Err(e) => println!("\nvipd move: {e}"),
    }
    https.stop();
    if o.steady > 0 {
        println!("\nsteady state, {} s each: holder changes; CPU per daemon in % of one core (user / system); the hypervisor's steal in % of one core", o.steady);
        for s in [SUBJECTS[0], SUBJECTS[2], SUBJECTS[3]] {
            match steady(&o, s, &https) {
                Ok(Steady {
                    holder_changes: changes,
                    cpu: usage,
                    steal,
                }) => {
                    let cpu: Vec<String> = usage
                        .iter()
                        .enumerate()
                        .map(|(i, (u, s))| {
                            format!("node-{}: {u:.2} / {s:.2}", (b'a' + i as u8) as char)
                        })
                        .collect();
                    println!(
                        "  {:<20} holder changes {}; {}; steal {steal:.1}",
                        s.name,
                        changes.map_or("-".into(), |c| c.to_string()),
                        cpu.join(", ")
                    );
                }
                Err(e) => println!("  {}: {e}", s.name),
            }
            https.stop();
        }
        println!("  (node-a is the holder; on veth a sender's system time includes the receiving namespaces' stacks, so a daemon's own cost is its user time)");
    }
    ExitCode::SUCCESS
}
