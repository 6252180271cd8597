//! `sim`: run the catalogue, one scenario file, or random fault schedules.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use sim::scenario::Protocol;
use sim::trace::PcapWriter;
use sim::{catalogue, explore, report, Recording, Scenario, World};

#[derive(Debug, Parser)]
#[command(name = "sim", about = "Deterministic failover simulator for vipd")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

/// One scenario run, in virtual time or TAP mode.
#[derive(Debug, Args)]
struct RunArgs {
    /// The scenario (TOML).
    file: PathBuf,
    /// Override the file's root seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Write the frames to this pcap file: those reaching the switch, or
    /// in TAP mode those the TAP devices carried.
    #[arg(long)]
    pcap: Option<PathBuf>,
    /// Print a line per node event, transmit and fault.
    #[arg(long)]
    trace: bool,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run the built-in catalogue and print the table; exit 1 if an invariant broke.
    Scenarios,
    /// Run one scenario file; the last line is its trace hash.
    Run(RunArgs),
    /// Run one scenario in real time on TAP devices, with real Linux
    /// clients in network namespaces (root; docs/simulator.md, "TAP mode").
    Tap(RunArgs),
    /// Run random fault schedules until one breaks an invariant.
    Explore {
        /// How many seeds to try.
        #[arg(long, default_value_t = 100)]
        seeds: u64,
        /// The first seed.
        #[arg(long, default_value_t = 1)]
        start: u64,
        /// Nodes per cluster.
        #[arg(long, default_value_t = 5)]
        nodes: usize,
        /// The election: vrrp, quorum or etcd.
        #[arg(long, default_value = "vrrp")]
        protocol: String,
        /// Threads to share the seeds out on (default: one per CPU).
        #[arg(long)]
        threads: Option<usize>,
        /// Print each generated scenario file before running it (one thread).
        #[arg(long)]
        print: bool,
        /// Lease the VIP by DHCP, with server outages (quorum only).
        #[arg(long)]
        dhcp: bool,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Cmd::Scenarios => scenarios(),
        Cmd::Run(args) => run_file(&args),
        Cmd::Tap(args) => tap(&args),
        Cmd::Explore {
            seeds,
            start,
            nodes,
            protocol,
            threads,
            print,
            dhcp,
        } => {
            let Some(protocol) = Protocol::from_name(&protocol) else {
                eprintln!(
                    "--protocol: must be {}, not {protocol:?}",
                    Protocol::one_of()
                );
                return ExitCode::from(2);
            };
            if dhcp && protocol == Protocol::Vrrp {
                eprintln!("--dhcp: only with --protocol quorum or etcd");
                return ExitCode::from(2);
            }
            let threads = threads
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            let schedules = explore::Schedules {
                protocol,
                nodes,
                dhcp,
            };
            explore(
                schedules,
                start,
                seeds,
                if print { 1 } else { threads },
                print,
            )
        }
    }
}

fn scenarios() -> ExitCode {
    let reports: Vec<_> = catalogue::scenarios().into_iter().map(sim::run).collect();
    print!("{}", report::table(&reports));
    let mut ok = true;
    for (r, (file, _)) in reports.iter().zip(catalogue::FILES) {
        if !r.passed() {
            ok = false;
            println!("\n{} broke its invariants (seed {}):", r.name, r.seed);
            for p in r.problems() {
                println!("  {p}");
            }
            println!(
                "  replay: cargo run -p sim -- run sim/scenarios/{file} --seed {} --trace",
                r.seed
            );
        }
    }
    println!(
        "\n{} scenarios, {}",
        reports.len(),
        if ok { "every invariant held" } else { "FAILED" }
    );
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Reads a scenario file, with `--seed` applied; exit 2 on a bad one.
fn read_scenario(file: &PathBuf, seed: Option<u64>) -> Result<Scenario, ExitCode> {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{}: {e}", file.display());
            return Err(ExitCode::from(2));
        }
    };
    let mut scenario = match Scenario::from_toml(&text) {
        Ok(s) => s,
        Err(errors) => {
            for e in errors {
                eprintln!("{}: {e}", file.display());
            }
            return Err(ExitCode::from(2));
        }
    };
    if let Some(seed) = seed {
        scenario.seed = seed;
    }
    Ok(scenario)
}

/// The recording `--trace` and `--pcap` ask for; exit 2 if the capture
/// cannot be made.
fn recording(pcap: &Option<PathBuf>, trace: bool) -> Result<Recording, ExitCode> {
    let mut rec = Recording::default();
    if trace {
        rec.trace = Some(Box::new(std::io::stdout()));
    }
    if let Some(path) = pcap {
        let out: Box<dyn Write> = match File::create(path) {
            Ok(f) => Box::new(BufWriter::new(f)),
            Err(e) => {
                eprintln!("{}: {e}", path.display());
                return Err(ExitCode::from(2));
            }
        };
        match PcapWriter::new(out) {
            Ok(w) => rec.pcap = Some(w),
            Err(e) => {
                eprintln!("{}: {e}", path.display());
                return Err(ExitCode::from(2));
            }
        }
    }
    Ok(rec)
}

fn run_file(args: &RunArgs) -> ExitCode {
    let file = &args.file;
    let scenario = match read_scenario(file, args.seed) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let rec = match recording(&args.pcap, args.trace) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let seed = scenario.seed;
    let (report, rec) = World::new(scenario, rec).run_keeping_recording();
    if let Some(w) = rec.pcap {
        if let Err(e) = w.finish() {
            eprintln!("pcap: {e}");
            return ExitCode::from(2);
        }
    }
    print!("{}", report.summary());
    if !report.passed() {
        println!(
            "replay: cargo run -p sim -- run {} --seed {seed} --trace",
            file.display()
        );
    }
    println!("trace-hash: {:016x}", report.trace_hash);
    if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(target_os = "linux")]
fn tap(args: &RunArgs) -> ExitCode {
    use sim::tap::{self, TapError, TapOptions};
    let scenario = match read_scenario(&args.file, args.seed) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let recording = match recording(&args.pcap, args.trace) {
        Ok(r) => r,
        Err(code) => return code,
    };
    eprintln!(
        "sim tap: {} in real time ({:.1} s) on TAP devices in namespace {}",
        scenario.name,
        scenario.duration.total_micros() as f64 / 1e6,
        tap::segment::NAMESPACE
    );
    match tap::run(scenario, TapOptions { recording }) {
        Ok(run) => {
            print!("{}", run.summary());
            if run.interrupted {
                ExitCode::from(130)
            } else if run.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(TapError::Refused(why)) => {
            eprintln!("sim tap: {why}");
            ExitCode::from(2)
        }
        Err(TapError::Failed(why)) => {
            eprintln!("sim tap: {why} (everything it made was removed)");
            ExitCode::FAILURE
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn tap(_: &RunArgs) -> ExitCode {
    eprintln!("sim tap: TAP mode runs on Linux only");
    ExitCode::from(2)
}

fn explore(
    schedules: explore::Schedules,
    start: u64,
    seeds: u64,
    threads: usize,
    print: bool,
) -> ExitCode {
    let explore::Schedules {
        protocol,
        nodes,
        dhcp,
    } = schedules;
    if print {
        for seed in start..start.saturating_add(seeds) {
            println!("{}", schedules.text(seed));
        }
    }
    let began = std::time::Instant::now();
    let outcome = explore::run_schedules(schedules, start, seeds, threads);
    let wall = began.elapsed().as_secs_f64();
    let flag = match (protocol, dhcp) {
        (Protocol::Vrrp, _) => String::new(),
        (Protocol::Etcd, false) => " --protocol etcd".to_string(),
        (Protocol::Etcd, true) => " --protocol etcd --dhcp".to_string(),
        (Protocol::Quorum, false) => " --protocol quorum".to_string(),
        (Protocol::Quorum, true) => " --protocol quorum --dhcp".to_string(),
    };
    if let Some(f) = outcome.failure {
        let seed = f.seed;
        match (&f.report, &f.bad_text) {
            (_, Some(errors)) => {
                eprintln!("explore seed {seed} generated a bad scenario: {errors}");
                return ExitCode::from(2);
            }
            (Some(report), None) => {
                println!("seed {seed}: invariant broken");
                for p in report.problems() {
                    println!("  {p}");
                }
            }
            (None, None) => {}
        }
        println!(
            "replay: cargo run -p sim -- explore{flag} --start {seed} --seeds 1 --nodes {nodes} --print"
        );
        return ExitCode::FAILURE;
    }
    let what = match protocol {
        Protocol::Vrrp | Protocol::Etcd => "nodes",
        Protocol::Quorum => "members",
    };
    let leased = if dhcp {
        " with the VIP leased by DHCP"
    } else {
        ""
    };
    println!("{seeds} schedules on {nodes} {what}{leased}, every invariant held");
    eprintln!(
        "{} events in {wall:.1} s wall on {threads} threads",
        outcome.events
    );
    ExitCode::SUCCESS
}
