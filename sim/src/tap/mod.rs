//! TAP mode, `sim tap SCENARIO`: the simulated nodes on real TAP devices,
//! real Linux kernels as their clients, in real time (docs/simulator.md,
//! "TAP mode").
//!
//! The same [`World`] as virtual time runs the same scenario: the real
//! vip-core in every node, the same hosts, links and faults. The runner
//! here owns everything real: the clock (the one place in the simulator
//! that reads it), the TAP devices, the bridge and the client namespaces
//! ([`segment`]), and the clients' traffic ([`prober`]). At the end it
//! runs the scenario once more in virtual time and prints, per failover,
//! the gap each real client saw beside the virtual prediction and the
//! bound, and what the client's kernel held for the VIP before and after.

pub mod prober;
pub mod segment;

use std::fmt::Write as _;
use std::os::fd::AsFd;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rustix::event::{poll, PollFd, PollFlags};
use tun_rs::{DeviceBuilder, Layer, SyncDevice};
use vip_core::{Duration, Instant};

use crate::client::{client_address, client_mac};
use crate::report::{failover_outages, worst_outages, Sent};
use crate::scenario::{FaultKind, Scenario, VIP};
use crate::units::ms;
use crate::world::{BridgeOp, Recording, TapOut, World};
use crate::Report;
use prober::{Prober, Probes};
use segment::{bridge_of, ClientAddr, Segment, NAMESPACE};

/// How far apart the real and the virtual gap may be, besides the
/// scenario's jitter (the tolerance).
pub const AGREEMENT: Duration = Duration::from_millis(20);

/// What TAP mode allows per host-to-host trip beyond the scenario's link
/// model, in every bound and judgement: the kernel's bridge takes tens of
/// microseconds, but the runner's loop wakes late when the machine is
/// busy (on a shared VM, by milliseconds).
pub const REAL_PATH: Duration = Duration::from_millis(5);

/// The longest the loop sleeps, so an interrupt is seen promptly.
const MAX_SLEEP: Duration = Duration::from_millis(20);

/// How long a datagram may be on its way when the clients stop.
const IN_FLIGHT: std::time::Duration = std::time::Duration::from_millis(100);

/// How long before a fault (and before the next fault or the end) the
/// client's neighbour entry is read.
const NEIGH_LEAD: Duration = Duration::from_millis(100);

/// What went wrong before a run could be judged.
#[derive(Debug)]
pub enum TapError {
    /// Not root, a tool missing, or another run going: nothing was made.
    Refused(String),
    /// Setting up or running failed; everything made was removed.
    Failed(String),
}

/// One failover as the real clients saw it.
#[derive(Debug, Clone)]
pub struct Failover {
    /// When the fault was (since the start).
    pub at: Instant,
    /// The worst real client gap (`None`: traffic never came back).
    pub real: Option<Duration>,
    /// The virtual-time prediction for the same fault.
    pub virtual_gap: Option<Duration>,
    /// The bound the virtual mode checks clients against (`arp_settle`).
    pub bound: Duration,
    /// Each client's neighbour entry for the VIP, before and after.
    pub neigh: Vec<(String, String)>,
}

impl Failover {
    /// The real gap is within the bound.
    pub fn within_bound(&self) -> bool {
        self.real.is_some_and(|g| g <= self.bound)
    }

    /// The real and virtual gaps agree within [`AGREEMENT`] plus `jitter`.
    pub fn agrees(&self, jitter: Duration) -> bool {
        match (self.real, self.virtual_gap) {
            (Some(r), Some(v)) => {
                let diff = r.total_micros().abs_diff(v.total_micros());
                diff <= (AGREEMENT + jitter).total_micros()
            }
            (None, None) => true,
            _ => false,
        }
    }
}

/// The outcome of a TAP run.
#[derive(Debug)]
pub struct TapRun {
    /// The world's own report (invariants, expectations, detections).
    pub report: Report,
    /// Per failover fault.
    pub failovers: Vec<Failover>,
    /// Datagrams the real clients sent and got back.
    pub sent: u64,
    /// See `sent`.
    pub answered: u64,
    /// Frames written to TAP devices, and writes that failed.
    pub frames_out: u64,
    /// See `frames_out`.
    pub write_errors: u64,
    /// Frames read from the TAP devices.
    pub frames_in: u64,
    /// The run was cut short by SIGINT or SIGTERM.
    pub interrupted: bool,
    /// The scenario's jitter (for the agreement check).
    pub jitter: Duration,
}

impl TapRun {
    /// Invariants and expectations held and every gap is within its bound.
    pub fn passed(&self) -> bool {
        !self.interrupted
            && self.report.passed()
            && self.failovers.iter().all(Failover::within_bound)
    }

    /// The printed summary: the world's report, then one line per failover.
    pub fn summary(&self) -> String {
        let mut s = self.report.summary();
        let _ = writeln!(
            s,
            "tap:             {} frames to TAP devices ({} failed), {} from them; clients sent {}, {} answered",
            self.frames_out, self.write_errors, self.frames_in, self.sent, self.answered
        );
        for (k, f) in self.failovers.iter().enumerate() {
            let gap = |g: Option<Duration>| g.map_or("never resumed".into(), ms);
            let _ = writeln!(
                s,
                "failover {} at {:.3} s: real gap {}, virtual {}, bound {}{}{}",
                k + 1,
                f.at.total_micros() as f64 / 1e6,
                gap(f.real),
                gap(f.virtual_gap),
                ms(f.bound),
                if f.within_bound() {
                    ""
                } else {
                    "  OVER THE BOUND"
                },
                if f.agrees(self.jitter) {
                    ""
                } else {
                    "  (disagrees with virtual time)"
                },
            );
            for (c, (before, after)) in f.neigh.iter().enumerate() {
                let _ = writeln!(
                    s,
                    "  client {c} neighbour entry for {VIP}: before {before}; after {after}"
                );
            }
        }
        if self.interrupted {
            let _ = writeln!(s, "interrupted: the run was cut short");
        }
        s
    }
}

/// Options of one TAP run.
#[derive(Debug)]
pub struct TapOptions {
    /// Where the capture goes and the trace, as in virtual time.
    pub recording: Recording,
}

/// Runs `scenario` in TAP mode; everything it makes is gone when it returns.
pub fn run(scenario: Scenario, options: TapOptions) -> Result<TapRun, TapError> {
    if !rustix::process::geteuid().is_root() {
        return Err(TapError::Refused(
            "sim tap needs root (it makes network namespaces and TAP devices): run it with sudo"
                .into(),
        ));
    }
    for tool in ["ip", "sysctl"] {
        let found = Command::new(tool).arg("-V").output().is_ok();
        if !found {
            return Err(TapError::Refused(format!(
                "sim tap needs `{tool}` (Debian: iproute2, procps)"
            )));
        }
    }
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, stop.clone())
            .map_err(|e| TapError::Failed(format!("signal handler: {e}")))?;
    }
    let clients: Vec<ClientAddr> = (0..scenario.clients.count as u32)
        .map(|c| ClientAddr {
            mac: client_mac(c),
            address: client_address(c),
        })
        .collect();
    let groups = scenario
        .faults
        .iter()
        .filter_map(|f| match &f.kind {
            FaultKind::Partition { groups, .. } => Some(groups.len() as u16),
            _ => None,
        })
        .max()
        .unwrap_or(1);
    let reachable = scenario.clients.base_reachable_time.total_micros() / 1000;
    let segment = Segment::create(&clients, groups, reachable).map_err(|e| {
        if e.contains("another `sim tap`") {
            TapError::Refused(e)
        } else {
            TapError::Failed(e)
        }
    })?;
    // The segment is removed when this returns, whatever happens here.
    let outcome = run_on(&scenario, options, segment, &stop);
    outcome.map_err(TapError::Failed)
}

fn run_on(
    scenario: &Scenario,
    options: TapOptions,
    mut segment: Segment,
    stop: &AtomicBool,
) -> Result<TapRun, String> {
    // TAP devices belong to the namespace of the thread that makes them:
    // this thread moves into the segment's for the rest of the run.
    prober::enter(NAMESPACE)?;
    let ports = scenario.nodes.len() + usize::from(scenario.dhcp.is_some());
    let mut taps = Vec::with_capacity(ports);
    for p in 0..ports {
        let name = format!("tap{p}");
        let dev = DeviceBuilder::new()
            .name(&name)
            .layer(Layer::L2)
            .build_sync()
            .map_err(|e| format!("TAP device {name}: {e}"))?;
        dev.set_nonblocking(true)
            .map_err(|e| format!("{name}: {e}"))?;
        segment.attach(&name)?;
        taps.push(dev);
    }
    let epoch = std::time::Instant::now();
    let probers: Vec<Prober> = segment
        .clients
        .iter()
        .map(|ns| Prober::start(ns, VIP, scenario.clients.rate, epoch))
        .collect();
    let watcher = NeighWatcher::start(scenario, &segment.clients, epoch);
    let mut world = World::new_tap(scenario.clone(), options.recording, REAL_PATH);
    let mut counts = Counts::default();
    let mut buf = vec![0u8; 2048];
    let clock = || Instant::ZERO + Duration::from_micros(epoch.elapsed().as_micros() as u64);
    let mut interrupted = false;
    // Made once: poll(2) rewrites only the returned events.
    let mut fds: Vec<PollFd<'_>> = taps
        .iter()
        .map(|t| PollFd::from_borrowed_fd(t.as_fd(), PollFlags::IN))
        .collect();
    loop {
        if stop.load(Ordering::Relaxed) {
            interrupted = true;
            break;
        }
        if !world.advance(clock()) {
            break;
        }
        carry_out(world.take_tap(), &taps, &mut segment, &mut counts)?;
        let wait = world
            .next_event_at()
            .map_or(MAX_SLEEP, |at| {
                Duration::from_micros(at.total_micros().saturating_sub(clock().total_micros()))
            })
            .min(MAX_SLEEP);
        let timeout = rustix::time::Timespec {
            tv_sec: 0,
            tv_nsec: (wait.total_micros() * 1000) as _,
        };
        match poll(&mut fds, Some(&timeout)) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(format!("poll: {e}")),
        }
        for (p, (tap, fd)) in taps.iter().zip(&fds).enumerate() {
            if fd.revents().is_empty() {
                continue;
            }
            while let Ok(n) = tap.recv(&mut buf) {
                counts.frames_in += 1;
                world.advance(clock());
                world.bridge_frame(p as u16, &buf[..n]);
            }
        }
        carry_out(world.take_tap(), &taps, &mut segment, &mut counts)?;
    }
    let probes: Vec<Probes> = probers
        .into_iter()
        .map(Prober::finish)
        .collect::<Result<_, _>>()?;
    let neigh = watcher.finish();
    let jitter = scenario.network.jitter;
    let (report, rec) = world.finish_tap();
    if let Some(w) = rec.pcap {
        w.finish().map_err(|e| format!("pcap: {e}"))?;
    }
    let prediction = crate::run(scenario.clone());
    let failovers = judge(&report, &prediction, &probes, &neigh);
    Ok(TapRun {
        sent: probes.iter().map(|p| p.sent.len() as u64).sum(),
        answered: probes
            .iter()
            .map(|p| p.replied.iter().filter(|r| r.is_some()).count() as u64)
            .sum(),
        frames_out: counts.frames_out,
        write_errors: counts.write_errors,
        frames_in: counts.frames_in,
        report,
        failovers,
        interrupted,
        jitter,
    })
}

#[derive(Debug, Default)]
struct Counts {
    frames_out: u64,
    write_errors: u64,
    frames_in: u64,
}

/// Writes the world's frames to their TAP devices and makes its bridge changes.
fn carry_out(
    out: TapOut,
    taps: &[SyncDevice],
    segment: &mut Segment,
    counts: &mut Counts,
) -> Result<(), String> {
    for op in out.ops {
        match op {
            BridgeOp::Carrier { port, up } => {
                let state = if up { "up" } else { "down" };
                segment.batch(&format!("link set tap{port} {state}"))?;
            }
            BridgeOp::Groups {
                group_of_port,
                clients_group,
            } => {
                for (p, &g) in group_of_port.iter().enumerate().take(taps.len()) {
                    let bridge = bridge_of(g, clients_group);
                    segment.batch(&format!("link set tap{p} master {bridge}"))?;
                }
            }
        }
    }
    for (port, bytes) in out.frames {
        counts.frames_out += 1;
        if taps[usize::from(port)].send(&bytes).is_err() {
            // A TAP device whose carrier is down refuses writes.
            counts.write_errors += 1;
        }
    }
    Ok(())
}

/// The per-failover figures: each client's real gaps by the one rule
/// both modes use, the prediction, the bound and the neighbour entries.
fn judge(
    report: &Report,
    prediction: &Report,
    probes: &[Probes],
    neigh: &NeighLog,
) -> Vec<Failover> {
    let faults = &report.failover_faults;
    let per_client: Vec<_> = probes
        .iter()
        .map(|p| {
            let packets: Vec<Sent> = p
                .sent
                .iter()
                .zip(&p.replied)
                // Datagrams still in flight when the clients stopped are
                // neither lost nor delivered.
                .filter(|(&at, _)| at + IN_FLIGHT <= p.stopped)
                .map(|(&at, r)| Sent {
                    at: Instant::ZERO + Duration::from_micros(at.as_micros() as u64),
                    delivered: r.is_some(),
                })
                .collect();
            failover_outages(faults, &packets)
        })
        .collect();
    let real = worst_outages(&per_client, faults.len());
    faults
        .iter()
        .enumerate()
        .map(|(k, &at)| {
            // The same fault in virtual time: the one at the same instant.
            let virtual_gap = prediction
                .failover_faults
                .iter()
                .position(|&v| v == at)
                .and_then(|i| prediction.failover_gaps[i]);
            let until = faults.get(k + 1).copied();
            Failover {
                at,
                real: real[k],
                virtual_gap,
                bound: report.bounds.arp_settle,
                neigh: neigh.around(at, until),
            }
        })
        .collect()
}

/// The clients' neighbour entries for the VIP, read around every fault.
#[derive(Debug, Default)]
struct NeighLog {
    /// (reading time, one entry per client).
    readings: Vec<(Instant, Vec<String>)>,
}

impl NeighLog {
    /// Per client, the entry read last before `at` and the last read before
    /// `until` (the next failover, or the end).
    fn around(&self, at: Instant, until: Option<Instant>) -> Vec<(String, String)> {
        let before = self.readings.iter().rev().find(|(t, _)| *t < at);
        let after = self
            .readings
            .iter()
            .rev()
            .find(|(t, _)| *t > at && until.is_none_or(|u| *t < u));
        let clients = before.or(after).map_or(0, |r| r.1.len());
        (0..clients)
            .map(|c| {
                let pick = |r: Option<&(Instant, Vec<String>)>| {
                    r.and_then(|r| r.1.get(c).cloned())
                        .unwrap_or_else(|| "-".into())
                };
                (pick(before), pick(after))
            })
            .collect()
    }
}

/// Reads `ip neigh` in every client's namespace just before each fault and
/// just before the next fault (or the end), on a thread of its own.
struct NeighWatcher {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<NeighLog>>,
}

impl NeighWatcher {
    fn start(scenario: &Scenario, clients: &[String], epoch: std::time::Instant) -> NeighWatcher {
        let end = Instant::ZERO + scenario.duration;
        let mut at: Vec<Instant> = Vec::new();
        let mut faults: Vec<Instant> = scenario
            .faults
            .iter()
            .map(|f| Instant::ZERO + f.at)
            .collect();
        faults.push(end);
        for f in &faults {
            if f.total_micros() > NEIGH_LEAD.total_micros() {
                at.push(*f - NEIGH_LEAD);
            }
        }
        at.sort();
        at.dedup();
        let clients = clients.to_vec();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut log = NeighLog::default();
            for t in at {
                let due = epoch + std::time::Duration::from_micros(t.total_micros());
                while std::time::Instant::now() < due {
                    if flag.load(Ordering::Relaxed) {
                        return log;
                    }
                    std::thread::sleep(
                        (due - std::time::Instant::now()).min(std::time::Duration::from_millis(20)),
                    );
                }
                let entries = clients.iter().map(|ns| neigh_entry(ns)).collect();
                let now = Instant::ZERO + Duration::from_micros(epoch.elapsed().as_micros() as u64);
                log.readings.push((now, entries));
            }
            log
        });
        NeighWatcher {
            stop,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> NeighLog {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for NeighWatcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `lladdr STATE` of namespace `ns`'s entry for the VIP, or `none`.
fn neigh_entry(ns: &str) -> String {
    let out = Command::new("ip")
        .args([
            "-n",
            ns,
            "-4",
            "neigh",
            "show",
            &VIP.to_string(),
            "dev",
            "eth0",
        ])
        .output();
    let text = out
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    // "192.0.2.250 lladdr 02:00:00:00:00:01 REACHABLE"
    let words: Vec<&str> = text.split_whitespace().collect();
    match words.iter().position(|w| *w == "lladdr") {
        Some(p) => format!(
            "{} {}",
            words.get(p + 1).unwrap_or(&"?"),
            words.last().unwrap_or(&"")
        ),
        None if words.is_empty() => "none".into(),
        None => words[1..].join(" "),
    }
}
