//! Simulator throughput: simulated events per second on one core.
//!
//! * `sim/5-nodes-10ms-adverts-2-clients-60s`: a 5-node cluster with two
//!   clients at 200 packets/s, one crash; throughput in events.
//! * `sim/100-nodes-10ms-adverts-60s`: one virtual minute of a 100-node
//!   cluster (the hour is `cargo run --release -p sim --example
//!   hundred_node_hour`, which prints its wall time).
//! * `sim/quorum-5-members-10ms-renewals-2-clients-60s`: the 5-node run with
//!   the quorum election (every frame signed and checked, every lease
//!   checked against its promises).
//!
//! Targets: at least 2 million events per second; the 100-node hour in under 60 s.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use sim::Scenario;

fn scenario(nodes: usize, secs: u64, clients: usize) -> Scenario {
    scenario_of("vrrp", nodes, secs, clients)
}

fn scenario_of(protocol: &str, nodes: usize, secs: u64, clients: usize) -> Scenario {
    let text = format!(
        "name = \"bench\"\nprotocol = \"{protocol}\"\nnodes = {nodes}\nduration = \"{secs}s\"\nseed = 1\n\
         [election]\nadvert_interval = \"10ms\"\n[clients]\ncount = {clients}\nrate = 200\n\
         [[fault]]\nat = \"{}s\"\nkind = \"crash\"\nnode = 0\n",
        secs / 2
    );
    Scenario::from_toml(&text).expect("valid bench scenario")
}

fn bench(c: &mut Criterion, name: &str, s: Scenario) {
    let events = sim::run(s.clone()).events;
    let mut g = c.benchmark_group("sim");
    g.sample_size(10);
    g.measurement_time(std::time::Duration::from_secs(10));
    g.throughput(Throughput::Elements(events));
    g.bench_function(name, |b| {
        b.iter_batched(|| s.clone(), sim::run, BatchSize::LargeInput)
    });
    g.finish();
}

fn five_nodes(c: &mut Criterion) {
    bench(c, "5-nodes-10ms-adverts-2-clients-60s", scenario(5, 60, 2));
}

fn hundred_nodes(c: &mut Criterion) {
    bench(c, "100-nodes-10ms-adverts-60s", scenario(100, 60, 1));
}

fn five_quorum_members(c: &mut Criterion) {
    bench(
        c,
        "quorum-5-members-10ms-renewals-2-clients-60s",
        scenario_of("quorum", 5, 60, 2),
    );
}

criterion_group!(benches, five_nodes, hundred_nodes, five_quorum_members);
criterion_main!(benches);
