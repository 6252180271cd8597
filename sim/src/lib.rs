//! sim: a deterministic, discrete-event failover simulator for vipd.
//!
//! Many [`vip_core::Node`]s share one simulated layer-2 segment (a learning
//! switch with impaired links), clients with Linux-like ARP caches send
//! traffic to the VIP, faults are injected at chosen virtual times, and every
//! failover is measured and checked by the invariant monitor in [`check`].
//! Under `protocol = "etcd"` the nodes reach a modelled etcd through
//! adapters of their own ([`etcd`]). One root seed fixes the whole run;
//! [`Report::trace_hash`] proves it.
//!
//! Entry points: [`Scenario::from_toml`], then [`run`]; on Linux, `tap::run`
//! runs the same scenario in real time on TAP devices with real clients.

pub mod catalogue;
pub mod check;
pub mod client;
pub mod etcd;
pub mod explore;
pub mod net;
pub mod report;
pub mod scenario;
#[cfg(target_os = "linux")]
pub mod tap;
pub mod trace;
pub mod units;
pub mod world;

pub use report::Report;
pub use scenario::Scenario;
pub use world::{Recording, World};

/// Runs `scenario` without recording and returns its report.
pub fn run(scenario: Scenario) -> Report {
    World::new(scenario, Recording::default()).run()
}
