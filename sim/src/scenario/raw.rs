//! The scenario file as serde reads it: text and numbers, not yet judged.

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawScenario {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub protocol: String,
    pub nodes: usize,
    pub duration: String,
    #[serde(default)]
    pub seed: u64,
    pub drift: Option<String>,
    pub host_uptime: Option<String>,
    #[serde(default)]
    pub election: RawElection,
    #[serde(default)]
    pub announce: RawAnnounce,
    #[serde(default)]
    pub network: RawNetwork,
    #[serde(default)]
    pub clients: RawClients,
    #[serde(default)]
    pub node: Vec<RawNode>,
    #[serde(default)]
    pub fault: Vec<RawFault>,
    #[serde(default)]
    pub expect: RawExpect,
    pub attack: Option<RawAttack>,
    pub dhcp: Option<RawDhcp>,
    pub etcd: Option<RawEtcd>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEtcd {
    pub lease_ttl: Option<String>,
    pub delay: Option<String>,
    pub jitter: Option<String>,
    pub loss: Option<f64>,
    pub drift_ppm: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDhcp {
    pub hwaddr: Option<String>,
    pub lease: Option<String>,
    pub mapped: Option<bool>,
    pub t1: Option<String>,
    pub t2: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAttack {
    pub rate: Option<u32>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawElection {
    pub advert_interval: Option<String>,
    pub priorities: Option<Vec<i64>>,
    pub preempt: Option<bool>,
    pub preempt_delay: Option<String>,
    pub virtual_mac: Option<bool>,
    pub lease: Option<String>,
    pub max_drift: Option<i64>,
    pub fence_margin: Option<String>,
    pub reannounce_after: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAnnounce {
    pub garp_count: Option<i64>,
    pub garp_interval: Option<String>,
    pub refresh_interval: Option<String>,
    pub form: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNetwork {
    pub delay: Option<String>,
    pub jitter: Option<String>,
    pub loss: Option<f64>,
    pub duplicate: Option<f64>,
    pub reorder: Option<f64>,
    pub reorder_delay: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawClients {
    pub count: Option<usize>,
    pub rate: Option<u32>,
    pub base_reachable_time: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNode {
    pub index: usize,
    pub drift_ppm: Option<i32>,
    pub start_at: Option<String>,
    pub defect: Option<String>,
    pub witness: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFault {
    pub at: String,
    pub kind: String,
    pub node: Option<usize>,
    pub nodes: Option<Vec<usize>>,
    pub groups: Option<Vec<Vec<usize>>>,
    pub clients_group: Option<usize>,
    pub duration: Option<String>,
    pub loss: Option<f64>,
    pub priority: Option<i64>,
    pub to: Option<usize>,
    pub address: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawExpect {
    pub final_holder: Option<usize>,
    pub no_final_holder: Option<bool>,
    pub moves: Option<Vec<String>>,
    pub addresses: Option<Vec<String>>,
}
