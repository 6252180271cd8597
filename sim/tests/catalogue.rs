//! Every catalogue scenario keeps its invariants and expectations, and the
//! catalogue lists every file in sim/scenarios/.

use sim::catalogue;

#[test]
fn every_catalogue_scenario_passes() {
    let mut failures = Vec::new();
    for scenario in catalogue::scenarios() {
        let name = scenario.name.clone();
        let report = sim::run(scenario);
        if !report.passed() {
            failures.push(format!("{name}:\n{}", report.summary()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_catalogue_covers_three_five_and_seven_nodes_and_every_fault() {
    let scenarios = catalogue::scenarios();
    assert!(scenarios.len() >= 12);
    for n in [3, 5, 7] {
        assert!(scenarios.iter().any(|s| s.nodes.len() == n), "{n} nodes");
    }
    let text: String = catalogue::FILES.iter().map(|(_, t)| *t).collect();
    for kind in [
        "crash",
        "stop",
        "restart",
        "pause",
        "resume",
        "partition",
        "heal",
        "loss_burst",
        "link_down",
        "link_up",
        "priority",
    ] {
        assert!(text.contains(&format!("kind = \"{kind}\"")), "{kind}");
    }
    assert!(text.contains("drift_ppm"));
}

#[test]
fn the_catalogue_lists_every_scenario_file() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios");
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|f| f.ends_with(".toml"))
        .collect();
    files.sort();
    let mut listed: Vec<String> = catalogue::FILES
        .iter()
        .map(|(f, _)| f.to_string())
        .collect();
    listed.sort();
    assert_eq!(files, listed);
}
