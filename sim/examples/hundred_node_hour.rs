//! Wall time for a 100-node cluster over one virtual hour with 10 ms adverts.
//!
//! `cargo run --release -p sim --example hundred_node_hour [-- NODES SECONDS]`
//! Target: under 60 s on one core.

use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let nodes: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100);
    let secs: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(3600);
    let text = format!(
        "name = \"hour\"\nprotocol = \"vrrp\"\nnodes = {nodes}\nduration = \"{secs}s\"\nseed = 1\n\
         [election]\nadvert_interval = \"10ms\"\n[clients]\ncount = 1\nrate = 100\n\
         [[fault]]\nat = \"{}s\"\nkind = \"crash\"\nnode = 0\n",
        secs / 2
    );
    let scenario = sim::Scenario::from_toml(&text).expect("valid scenario");
    let started = Instant::now();
    let report = sim::run(scenario);
    let wall = started.elapsed();
    println!(
        "{nodes} nodes, {secs} s virtual, 10ms adverts: {:.2} s wall, {} events, {:.2} M events/s, verdict {}",
        wall.as_secs_f64(),
        report.events,
        report.events as f64 / wall.as_secs_f64() / 1e6,
        if report.passed() { "pass" } else { "FAIL" }
    );
}
