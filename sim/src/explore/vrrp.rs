//! Random VRRP fault schedules: crashes, pauses, partitions, loss and drift.
//!
//! Each seed yields one scenario file's text (so a failing schedule can be
//! saved and replayed with `run`); every fault is undone at least 5 s before
//! the end, so the run finishes in a quiet period the invariants cover.

use std::fmt::Write as _;

use vip_core::rand::{derive_seed, Prng};

/// The scenario text explore runs for `seed` with `nodes` nodes.
pub fn scenario_text(seed: u64, nodes: usize) -> String {
    let mut r = Prng::new(derive_seed(seed, 0xe_0000_0000));
    let mut s = String::new();
    let interval = [50u64, 100, 200][r.below(3) as usize];
    let loss = [0u64, 0, 1, 5][r.below(4) as usize];
    let _ = writeln!(
        s,
        "name = \"explore-{seed}\"\nprotocol = \"vrrp\"\nnodes = {nodes}\nduration = \"30s\"\nseed = {seed}\n"
    );
    let _ = writeln!(s, "[election]\nadvert_interval = \"{interval}ms\"\n");
    // Re-announcing is what brings clients back after a split heals; see
    // docs/simulator.md (known behaviour of the core).
    let _ = writeln!(s, "[announce]\nrefresh_interval = \"1s\"\n");
    let _ = writeln!(
        s,
        "[network]\ndelay = \"{}us\"\njitter = \"{}us\"\nloss = {}\nduplicate = {}\nreorder = {}\n",
        50 + r.below(200),
        r.below(100),
        loss as f64 / 1000.0,
        r.below(3) as f64 / 1000.0,
        r.below(3) as f64 / 1000.0,
    );
    for i in 0..nodes {
        if r.below(2) == 1 {
            let ppm = r.below(1001) as i64 - 500;
            let _ = writeln!(s, "[[node]]\nindex = {i}\ndrift_ppm = {ppm}\n");
        }
    }
    let faults = 2 + r.below(5);
    for _ in 0..faults {
        let at = 2_000 + r.below(20_000);
        let last = 25_000 - at;
        let len = 200 + r.below(last.min(5_000) - 199);
        let node = r.below(nodes as u64);
        let fault = |s: &mut String, at: u64, body: &str| {
            let _ = writeln!(s, "[[fault]]\nat = \"{at}ms\"\n{body}\n");
        };
        match r.below(6) {
            0 => {
                fault(&mut s, at, &format!("kind = \"crash\"\nnode = {node}"));
                fault(
                    &mut s,
                    at + len,
                    &format!("kind = \"restart\"\nnode = {node}"),
                );
            }
            1 => {
                fault(&mut s, at, &format!("kind = \"pause\"\nnode = {node}"));
                fault(
                    &mut s,
                    at + len,
                    &format!("kind = \"resume\"\nnode = {node}"),
                );
            }
            2 => {
                let Some((a, b)) = super::two_groups(&mut r, nodes) else {
                    continue;
                };
                fault(
                    &mut s,
                    at,
                    &format!(
                        "kind = \"partition\"\ngroups = [{a:?}, {b:?}]\nclients_group = {}",
                        r.below(2)
                    ),
                );
                fault(&mut s, at + len, "kind = \"heal\"");
            }
            3 => {
                let loss = [0.3, 0.7, 1.0][r.below(3) as usize];
                let nodes = if r.below(2) == 0 {
                    String::new()
                } else {
                    format!("\nnodes = [{node}]")
                };
                fault(
                    &mut s,
                    at,
                    &format!("kind = \"loss_burst\"\nduration = \"{len}ms\"\nloss = {loss}{nodes}"),
                );
            }
            4 => {
                fault(&mut s, at, &format!("kind = \"link_down\"\nnode = {node}"));
                fault(
                    &mut s,
                    at + len,
                    &format!("kind = \"link_up\"\nnode = {node}"),
                );
            }
            _ => {
                fault(&mut s, at, &format!("kind = \"stop\"\nnode = {node}"));
                fault(
                    &mut s,
                    at + len,
                    &format!("kind = \"restart\"\nnode = {node}"),
                );
            }
        }
    }
    s
}
