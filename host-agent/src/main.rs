//! vipd: floating-IP failover daemon and its command-line client.
//!
//! Exit codes: 0 success; 1 a run-time failure (missing capability, a
//! system call refused, the daemon not reachable); 2 a config or
//! command-line error, printed one line per problem as `FILE: KEY: RULE`.
#![deny(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use host_agent::config::{effective, DEFAULT_SOCKET};
use host_agent::control::{self, Request};
use host_agent::setup::{self, Failure};
use host_agent::status::{render_table, Status};
use tracing_subscriber::EnvFilter;

/// Keeps one virtual IP on exactly one node of a cluster (quorum leases or VRRPv3).
#[derive(Debug, Parser)]
#[command(name = "vipd", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run the daemon (needs CAP_NET_RAW and CAP_NET_ADMIN).
    Run {
        /// The config file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Check a config file against this host's interface and print the
    /// effective config, defaults included.
    Check {
        /// The config file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Ask the running daemon where the VIP is.
    Status {
        #[command(flatten)]
        target: Target,
        /// Print the status as JSON.
        #[arg(long, conflicts_with = "get")]
        json: bool,
        /// Print one top-level field's value (e.g. vipHost); null prints nothing.
        #[arg(long, value_name = "FIELD")]
        get: Option<String>,
    },
    /// Change the running daemon's priority (not saved to the config).
    Priority {
        /// The new priority, 1 to 255.
        #[arg(value_parser = clap::value_parser!(u8).range(1..=255))]
        priority: u8,
        #[command(flatten)]
        target: Target,
    },
    /// Move the VIP to another node and wait until it holds (quorum).
    Move {
        /// The member to move it to; without it, the best other member.
        #[arg(long, value_name = "NODE")]
        to: Option<String>,
        #[command(flatten)]
        target: Target,
    },
    /// Remove this node's VIP from its interface if present (systemd ExecStopPost).
    Cleanup {
        /// The config file.
        #[arg(long, short)]
        config: PathBuf,
    },
}

/// Where the running daemon's status socket is.
#[derive(Debug, Args)]
#[group(multiple = false)]
struct Target {
    /// Read the socket path from this config file ([status] socket).
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// The status socket path.
    #[arg(long)]
    socket: Option<PathBuf>,
}

impl Target {
    fn socket(&self) -> Result<PathBuf, Failure> {
        match (&self.socket, &self.config) {
            (Some(s), _) => Ok(s.clone()),
            (None, Some(c)) => Ok(setup::load(c)?.status.socket),
            (None, None) => Ok(PathBuf::from(DEFAULT_SOCKET)),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Cmd::Run { config } => run(&config),
        Cmd::Check { config } => check(&config),
        Cmd::Status { target, json, get } => status(&target, json, get.as_deref()),
        Cmd::Priority { priority, target } => set_priority(&target, priority),
        Cmd::Move { to, target } => move_vip(&target, to),
        Cmd::Cleanup { config } => cleanup(&config),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("{failure}");
            ExitCode::from(failure.exit_code())
        }
    }
}

fn run(path: &Path) -> Result<(), Failure> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let (config, info, resolved) = setup::prepare(path)?;
    // One runtime thread: the event loop is the only busy task, and netlink
    // calls are short; a second worker would only add wake-ups.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::System(format!("tokio runtime: {e}")))?;
    // The event loop runs on this, the process's first thread, and tokio on
    // a new one: the unit starts vipd under SCHED_RR with reset-on-fork,
    // which every thread created later (tokio, netlink, hooks) drops, so
    // only this thread keeps the real-time policy, and the loop, whose
    // renewals are due every few milliseconds, is what needs it.
    let (run_loop, job) = std::sync::mpsc::channel::<host_agent::daemon::LoopJob>();
    let daemon = std::thread::Builder::new()
        .name("vipd-runtime".into())
        .spawn(move || runtime.block_on(host_agent::daemon::run(config, info, resolved, run_loop)))
        .map_err(|e| Failure::System(format!("runtime thread: {e}")))?;
    // Nothing comes when the daemon fails before its loop starts.
    if let Ok(event_loop) = job.recv() {
        event_loop();
    }
    daemon
        .join()
        .unwrap_or_else(|_| Err(Failure::System("the runtime thread panicked".into())))
}

fn check(path: &Path) -> Result<(), Failure> {
    let (config, info, resolved) = setup::prepare(path)?;
    print!("{}", effective::render(&config, &resolved, info.index));
    Ok(())
}

fn status(target: &Target, json: bool, get: Option<&str>) -> Result<(), Failure> {
    let socket = target.socket()?;
    let reply =
        control::call(&socket, &Request::Status).map_err(|e| Failure::System(e.to_string()))?;
    let value = &reply["status"];
    if let Some(field) = get {
        match value.get(field) {
            None => {
                return Err(Failure::Usage(format!(
                    "no status field {field:?} (try --json to see them all)"
                )))
            }
            Some(serde_json::Value::Null) => println!(),
            Some(serde_json::Value::String(s)) => println!("{s}"),
            Some(other) => println!("{other}"),
        }
    } else if json {
        println!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_default()
        );
    } else {
        let s: Status = serde_json::from_value(value.clone())
            .map_err(|e| Failure::System(format!("unexpected status from vipd: {e}")))?;
        print!("{}", render_table(&s));
    }
    Ok(())
}

fn set_priority(target: &Target, priority: u8) -> Result<(), Failure> {
    let socket = target.socket()?;
    let reply = control::call(&socket, &Request::Priority { priority })
        .map_err(|e| Failure::System(e.to_string()))?;
    println!("priority {} (was {})", reply["priority"], reply["previous"]);
    Ok(())
}

fn move_vip(target: &Target, to: Option<String>) -> Result<(), Failure> {
    let socket = target.socket()?;
    let reply = control::call(&socket, &Request::Move { to })
        .map_err(|e| Failure::System(e.to_string()))?;
    println!("{}", reply["moved"].as_str().unwrap_or("moved"));
    Ok(())
}

fn cleanup(path: &Path) -> Result<(), Failure> {
    if setup::cleanup(path)? {
        eprintln!("vipd: removed the VIP from its interface");
    }
    Ok(())
}
