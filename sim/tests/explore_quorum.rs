//! A fixed slice of the quorum explorer runs in CI: 200 seeds over 3, 5
//! and 7 members, every invariant held. `sim explore --protocol quorum`
//! runs the rest (docs/simulator.md gives the commands and the counts).

use sim::explore::{run_schedules, run_seeds, Schedules};
use sim::scenario::Protocol;

#[test]
fn two_hundred_quorum_schedules_keep_every_invariant() {
    for (nodes, seeds) in [(3, 80), (5, 70), (7, 50)] {
        let outcome = run_seeds(Protocol::Quorum, nodes, 1, seeds, 2);
        if let Some(f) = outcome.failure {
            let problems = f.report.map(|r| r.problems()).unwrap_or_default();
            panic!(
                "seed {} on {nodes} members: {problems:?} {:?}\n\
                 replay: cargo run -p sim -- explore --protocol quorum --start {} --seeds 1 --nodes {nodes} --print",
                f.seed, f.bad_text, f.seed
            );
        }
        assert_eq!(outcome.ran, seeds);
    }
}

#[test]
fn quorum_schedules_with_the_vip_leased_by_dhcp_keep_every_invariant() {
    for (nodes, seeds) in [(3, 40), (5, 30)] {
        let schedules = Schedules {
            dhcp: true,
            ..Schedules::new(Protocol::Quorum, nodes)
        };
        let outcome = run_schedules(schedules, 1, seeds, 2);
        if let Some(f) = outcome.failure {
            let problems = f.report.map(|r| r.problems()).unwrap_or_default();
            panic!(
                "seed {} on {nodes} members: {problems:?} {:?}\n\
                 replay: cargo run -p sim -- explore --protocol quorum --dhcp --start {} --seeds 1 --nodes {nodes} --print",
                f.seed, f.bad_text, f.seed
            );
        }
        assert_eq!(outcome.ran, seeds);
    }
}

#[test]
fn one_seed_gives_one_schedule_and_one_trace() {
    let text = sim::explore::text(Protocol::Quorum, 42, 5);
    assert_eq!(text, sim::explore::text(Protocol::Quorum, 42, 5));
    let run = || sim::run(sim::Scenario::from_toml(&text).unwrap()).trace_hash;
    assert_eq!(run(), run());
}
