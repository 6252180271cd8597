//! Client-visible failover gap of vipd and of keepalived, measured the same
//! way on the same testbed (docs/testbed.md).
//!
//! For each implementation: three nodes (priorities 200, 150, 100) and a
//! client pinging the VIP 500 times a second on one bridge, all in network
//! namespaces. Each round powers the holder off (switch port down and
//! kill -9 at once), measures the largest interval between the client's
//! replies around the fault, then powers it back on and lets it preempt.
//! Prints the median and 95th percentile (nearest rank) for both and the
//! ratio vipd / keepalived.
//!
//! ```text
//! cargo build -p host-agent --bin vipd
//! sudo cargo run -p host-agent --example failover-bench -- [--crashes 20] [--advert-ms 10] [--vipd PATH]
//! ```
//!
//! vipd is taken from `--vipd`, `$VIPD`, or next to this example's binary
//! (`target/<profile>/vipd`). Needs root, ip, sysctl, ping, tcpdump and
//! keepalived (exit 2 naming what is missing).

#[path = "../tests/netns/mod.rs"]
mod netns;
#[path = "../tests/testbed/mod.rs"]
mod testbed;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use testbed::scenario::{self, ms};
use testbed::{Peer, Testbed};

/// How long each round watches the stream after the fault.
const WINDOW: Duration = Duration::from_millis(600);

#[derive(Debug)]
struct Options {
    crashes: usize,
    advert_ms: u32,
    vipd: PathBuf,
}

fn options() -> Result<Options, String> {
    let mut crashes = 20;
    let mut advert_ms = 10;
    let mut vipd = std::env::var_os("VIPD").map(PathBuf::from);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--crashes" => crashes = value()?.parse().map_err(|e| format!("--crashes: {e}"))?,
            "--advert-ms" => {
                advert_ms = value()?.parse().map_err(|e| format!("--advert-ms: {e}"))?
            }
            "--vipd" => vipd = Some(PathBuf::from(value()?)),
            "-h" | "--help" => {
                return Err(
                    "usage: failover-bench [--crashes N] [--advert-ms MS] [--vipd PATH]".into(),
                )
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if advert_ms == 0 || advert_ms % 10 != 0 {
        return Err(
            "--advert-ms must be a positive multiple of 10 (VRRP counts centiseconds)".into(),
        );
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
        advert_ms,
        vipd,
    })
}

/// The gaps of `crashes` power-offs of the holder, in milliseconds.
fn run(o: &Options, name: &str, make: fn(u8) -> Peer) -> Result<Vec<f64>, String> {
    let peers = [make(200), make(150), make(100)];
    let mut bed = Testbed::new(&o.vipd, &peers, o.advert_ms)?;
    bed.start_all()?;
    let mut gaps = Vec::new();
    let mut setup_failures = 0;
    while gaps.len() < o.crashes {
        // Every round crashes node-a, the highest priority, so that both
        // implementations fail over between the same pair of nodes.
        let m = match scenario::measure_fault(&mut bed, WINDOW, |b, h| {
            if h != 0 {
                return Err(format!("{} held, not node-a", b.nodes[h].id.name));
            }
            b.power_off(h)
        }) {
            Ok(m) => m,
            Err(e) => {
                // A broken setup (no settled holder, no stream), not a
                // measurement: say so and try the round again.
                setup_failures += 1;
                eprintln!("{name}: round {} setup failed: {e}", gaps.len() + 1);
                if setup_failures > 10 {
                    return Err(format!("{name}: setup failed {setup_failures} times"));
                }
                continue;
            }
        };
        let gap = ms(m.outcome.gap);
        let holders: Vec<&str> = bed
            .holders()
            .iter()
            .map(|&i| bed.nodes[i].id.name.as_str())
            .collect();
        eprintln!(
            "{name}: crash {:>2}: gap {gap:6.1} ms  (resume {:5.1} ms, later max {:5.1} ms, client stall {:5.1} ms, {} -> {:?})",
            gaps.len() + 1,
            ms(m.outcome.resume),
            ms(m.outcome.later_gap),
            ms(m.outcome.client_stall),
            bed.nodes[m.old_holder].id.name,
            holders,
        );
        gaps.push(gap);
        bed.power_on(m.old_holder)?;
    }
    if setup_failures > 0 {
        eprintln!("{name}: {setup_failures} rounds redone for a broken setup (not measured)");
    }
    Ok(gaps)
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

struct Stats {
    median: f64,
    p95: f64,
    min: f64,
    max: f64,
    n: usize,
}

fn stats(mut v: Vec<f64>) -> Stats {
    v.sort_by(f64::total_cmp);
    Stats {
        median: median(&v),
        p95: percentile(&v, 95.0),
        min: v[0],
        max: v[v.len() - 1],
        n: v.len(),
    }
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
    let missing: Vec<&str> = testbed::KEEPALIVED_TOOLS
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
    println!(
        "failover-bench: 3 nodes (priorities 200/150/100), advert interval {} ms, {} power-offs of the holder each (switch port down + kill -9),",
        o.advert_ms, o.crashes
    );
    println!(
        "client pings the VIP every 2 ms; gap = largest interval between replies around the fault (bound 3 x advert + 50 ms = {} ms)",
        3 * o.advert_ms + 50
    );
    let vipd = match run(&o, "vipd", Peer::vipd) {
        Ok(v) => stats(v),
        Err(e) => {
            eprintln!("failover-bench: vipd: {e}");
            return ExitCode::FAILURE;
        }
    };
    let keepalived = match run(&o, "keepalived", Peer::keepalived) {
        Ok(v) => stats(v),
        Err(e) => {
            eprintln!("failover-bench: keepalived: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "{:<11} {:>3} {:>10} {:>10} {:>10} {:>10}",
        "", "n", "median ms", "p95 ms", "min ms", "max ms"
    );
    for (name, s) in [("vipd", &vipd), ("keepalived", &keepalived)] {
        println!(
            "{name:<11} {:>3} {:>10.1} {:>10.1} {:>10.1} {:>10.1}",
            s.n, s.median, s.p95, s.min, s.max
        );
    }
    let r_median = vipd.median / keepalived.median;
    let r_p95 = vipd.p95 / keepalived.p95;
    println!("ratio vipd / keepalived: median {r_median:.2}, p95 {r_p95:.2}");
    println!(
        "summary: at {} ms adverts vipd median {:.1} ms / p95 {:.1} ms, keepalived median {:.1} ms / p95 {:.1} ms, ratio {r_median:.2} / {r_p95:.2} ({} crashes each)",
        o.advert_ms, vipd.median, vipd.p95, keepalived.median, keepalived.p95, o.crashes
    );
    ExitCode::SUCCESS
}
