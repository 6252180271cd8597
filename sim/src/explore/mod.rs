//! Random fault schedules, one scenario file's text per seed, so a failing
//! schedule can be saved and replayed with `run`: [`vrrp`], [`quorum`] and
//! [`etcd`] generate them (quorum also with the VIP leased by DHCP),
//! [`run_seeds`] and [`run_schedules`] run a range on several threads.
//!
//! Each seed's run is independent and deterministic, so the threads only
//! share out the seeds; the outcome reported is the same whatever the
//! thread count: every seed below the lowest failing one ran and passed.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use std::fmt::Write as _;

use vip_core::rand::{derive_seed, Prng};

use crate::scenario::{Protocol, Scenario};
use crate::Report;

pub mod etcd;
pub mod quorum;
pub mod vrrp;

pub use vrrp::scenario_text;

/// Splits `nodes` nodes into two groups at random, a coin per node;
/// `None` if one came out empty.
pub(crate) fn two_groups(
    r: &mut vip_core::rand::Prng,
    nodes: usize,
) -> Option<(Vec<usize>, Vec<usize>)> {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for i in 0..nodes {
        if r.below(2) == 0 {
            a.push(i);
        } else {
            b.push(i);
        }
    }
    (!a.is_empty() && !b.is_empty()).then_some((a, b))
}

/// What a range of generated schedules runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedules {
    /// The election.
    pub protocol: Protocol,
    /// Nodes per cluster.
    pub nodes: usize,
    /// The VIP leased by DHCP, with server outages (quorum and etcd).
    pub dhcp: bool,
}

impl Schedules {
    /// The schedules of `protocol` on `nodes` nodes, with a fixed VIP.
    pub fn new(protocol: Protocol, nodes: usize) -> Schedules {
        Schedules {
            protocol,
            nodes,
            dhcp: false,
        }
    }

    /// The scenario text for `seed`.
    pub fn text(&self, seed: u64) -> String {
        match self.protocol {
            Protocol::Vrrp => vrrp::scenario_text(seed, self.nodes),
            Protocol::Etcd if self.dhcp => {
                let (s, keepalive) = etcd::schedule(seed, self.nodes);
                with_dhcp(s, seed, keepalive)
            }
            Protocol::Etcd => etcd::scenario_text(seed, self.nodes),
            Protocol::Quorum if self.dhcp => quorum::dhcp_scenario_text(seed, self.nodes),
            Protocol::Quorum => quorum::scenario_text(seed, self.nodes),
        }
    }
}

/// `s` (a schedule whose election ticks every `interval` µs) with the VIP
/// leased by DHCP: a `[dhcp]` server (mapped, 30 s leases: longer than any
/// run of quorum, so a failover always finds the lease running) that goes
/// down and comes back one to three times, from its own stream. The server
/// grants only the mapped address, so the invariant that every address
/// configured was granted says every one is [`crate::scenario::VIP`].
fn with_dhcp(mut s: String, seed: u64, interval: u64) -> String {
    let mut r = Prng::new(derive_seed(seed, 0xe_1100_0000));
    let _ = writeln!(s, "[dhcp]\nlease = \"30s\"\n");
    for _ in 0..1 + r.below(3) {
        let at = interval * (5 + r.below(45)) + r.below(interval);
        let _ = writeln!(s, "[[fault]]\nat = \"{at}us\"\nkind = \"dhcp_down\"\n");
        // One outage in four lasts to the end.
        if r.below(4) != 0 {
            let up = at + interval / 2 + r.below(interval * 30);
            let _ = writeln!(s, "[[fault]]\nat = \"{up}us\"\nkind = \"dhcp_up\"\n");
        }
    }
    s
}

/// The scenario text for `seed` with `nodes` nodes under `protocol`.
pub fn text(protocol: Protocol, seed: u64, nodes: usize) -> String {
    Schedules::new(protocol, nodes).text(seed)
}

/// A seed whose schedule broke something.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The seed.
    pub seed: u64,
    /// Its report (or `None` if the generated text did not read).
    pub report: Option<Report>,
    /// The generator's text could not be read: why.
    pub bad_text: Option<String>,
}

/// What a range of seeds came to.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Seeds that ran.
    pub ran: u64,
    /// Events simulated over all of them.
    pub events: u64,
    /// The lowest failing seed, if any (the run stops handing out seeds
    /// after a failure).
    pub failure: Option<Failure>,
}

/// Runs `count` seeds from `start` on `threads` threads, stopping after
/// the first failure; every seed below the reported one passed.
pub fn run_seeds(
    protocol: Protocol,
    nodes: usize,
    start: u64,
    count: u64,
    threads: usize,
) -> Outcome {
    run_schedules(Schedules::new(protocol, nodes), start, count, threads)
}

/// [`run_seeds`] for `schedules`.
pub fn run_schedules(schedules: Schedules, start: u64, count: u64, threads: usize) -> Outcome {
    let next = AtomicU64::new(start);
    let end = start.saturating_add(count);
    let stop = AtomicBool::new(false);
    let ran = AtomicU64::new(0);
    let events = AtomicU64::new(0);
    let failures: Mutex<Vec<Failure>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| loop {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                let seed = next.fetch_add(1, Ordering::SeqCst);
                if seed >= end {
                    return;
                }
                let failure = match Scenario::from_toml(&schedules.text(seed)) {
                    Err(e) => Some(Failure {
                        seed,
                        report: None,
                        bad_text: Some(format!("{e:?}")),
                    }),
                    Ok(s) => {
                        let report = crate::run(s);
                        events.fetch_add(report.events, Ordering::Relaxed);
                        (!report.passed()).then_some(Failure {
                            seed,
                            report: Some(report),
                            bad_text: None,
                        })
                    }
                };
                ran.fetch_add(1, Ordering::Relaxed);
                if let Some(f) = failure {
                    stop.store(true, Ordering::SeqCst);
                    // A poisoned lock only means another thread panicked.
                    failures.lock().unwrap_or_else(|p| p.into_inner()).push(f);
                }
            });
        }
    });
    let mut failures = failures.into_inner().unwrap_or_else(|p| p.into_inner());
    failures.sort_by_key(|f| f.seed);
    Outcome {
        ran: ran.into_inner(),
        events: events.into_inner(),
        failure: failures.into_iter().next(),
    }
}
