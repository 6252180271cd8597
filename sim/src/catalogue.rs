//! The built-in catalogue: the scenario files in sim/scenarios/, compiled in.

use crate::scenario::Scenario;

/// `(file name, text)` of every catalogue scenario, in table order.
pub const FILES: &[(&str, &str)] = &[
    (
        "crash-holder-3.toml",
        include_str!("../scenarios/crash-holder-3.toml"),
    ),
    (
        "stop-holder-3.toml",
        include_str!("../scenarios/stop-holder-3.toml"),
    ),
    (
        "pause-holder-3.toml",
        include_str!("../scenarios/pause-holder-3.toml"),
    ),
    (
        "link-down-holder-3.toml",
        include_str!("../scenarios/link-down-holder-3.toml"),
    ),
    (
        "vip-fail-3.toml",
        include_str!("../scenarios/vip-fail-3.toml"),
    ),
    (
        "vmac-crash-3.toml",
        include_str!("../scenarios/vmac-crash-3.toml"),
    ),
    (
        "restart-holder-5.toml",
        include_str!("../scenarios/restart-holder-5.toml"),
    ),
    (
        "partition-minority-5.toml",
        include_str!("../scenarios/partition-minority-5.toml"),
    ),
    (
        "loss-burst-5.toml",
        include_str!("../scenarios/loss-burst-5.toml"),
    ),
    (
        "priority-drop-5.toml",
        include_str!("../scenarios/priority-drop-5.toml"),
    ),
    (
        "lossy-crash-5.toml",
        include_str!("../scenarios/lossy-crash-5.toml"),
    ),
    (
        "slow-adverts-5.toml",
        include_str!("../scenarios/slow-adverts-5.toml"),
    ),
    (
        "partition-split-7.toml",
        include_str!("../scenarios/partition-split-7.toml"),
    ),
    (
        "drift-crash-7.toml",
        include_str!("../scenarios/drift-crash-7.toml"),
    ),
    (
        "cascade-7.toml",
        include_str!("../scenarios/cascade-7.toml"),
    ),
    (
        "q-crash-holder-3.toml",
        include_str!("../scenarios/q-crash-holder-3.toml"),
    ),
    (
        "q-health-holder-3.toml",
        include_str!("../scenarios/q-health-holder-3.toml"),
    ),
    (
        "q-pause-holder-3.toml",
        include_str!("../scenarios/q-pause-holder-3.toml"),
    ),
    (
        "q-freeze-holder-3.toml",
        include_str!("../scenarios/q-freeze-holder-3.toml"),
    ),
    ("q-move-4.toml", include_str!("../scenarios/q-move-4.toml")),
    (
        "q-witness-3.toml",
        include_str!("../scenarios/q-witness-3.toml"),
    ),
    (
        "q-drift-bound-3.toml",
        include_str!("../scenarios/q-drift-bound-3.toml"),
    ),
    (
        "q-partition-minority-5.toml",
        include_str!("../scenarios/q-partition-minority-5.toml"),
    ),
    (
        "q-partition-majority-5.toml",
        include_str!("../scenarios/q-partition-majority-5.toml"),
    ),
    (
        "q-restart-election-5.toml",
        include_str!("../scenarios/q-restart-election-5.toml"),
    ),
    (
        "q-lossy-5.toml",
        include_str!("../scenarios/q-lossy-5.toml"),
    ),
    (
        "q-cascade-7.toml",
        include_str!("../scenarios/q-cascade-7.toml"),
    ),
    (
        "d-crash-holder-3.toml",
        include_str!("../scenarios/d-crash-holder-3.toml"),
    ),
    (
        "d-server-down-failover-3.toml",
        include_str!("../scenarios/d-server-down-failover-3.toml"),
    ),
    (
        "d-nak-remap-3.toml",
        include_str!("../scenarios/d-nak-remap-3.toml"),
    ),
    (
        "d-vrrp-crash-3.toml",
        include_str!("../scenarios/d-vrrp-crash-3.toml"),
    ),
    (
        "d-etcd-crash-3.toml",
        include_str!("../scenarios/d-etcd-crash-3.toml"),
    ),
    (
        "e-crash-holder-3.toml",
        include_str!("../scenarios/e-crash-holder-3.toml"),
    ),
    (
        "e-cut-holder-3.toml",
        include_str!("../scenarios/e-cut-holder-3.toml"),
    ),
    (
        "e-stop-holder-3.toml",
        include_str!("../scenarios/e-stop-holder-3.toml"),
    ),
    (
        "e-restart-holder-3.toml",
        include_str!("../scenarios/e-restart-holder-3.toml"),
    ),
    ("e-move-4.toml", include_str!("../scenarios/e-move-4.toml")),
    (
        "e-stall-3.toml",
        include_str!("../scenarios/e-stall-3.toml"),
    ),
    ("e-down-3.toml", include_str!("../scenarios/e-down-3.toml")),
    (
        "e-drift-bound-3.toml",
        include_str!("../scenarios/e-drift-bound-3.toml"),
    ),
    (
        "e-lossy-5.toml",
        include_str!("../scenarios/e-lossy-5.toml"),
    ),
];

/// Every catalogue scenario, parsed.
///
/// # Panics
/// If a compiled-in file is invalid; a test parses them all.
pub fn scenarios() -> Vec<Scenario> {
    FILES
        .iter()
        .map(|(file, text)| match Scenario::from_toml(text) {
            Ok(s) => s,
            Err(errors) => panic!("catalogue file {file} is invalid: {errors:?}"),
        })
        .collect()
}
