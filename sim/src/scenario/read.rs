//! Reading a scenario file: every value turned into its type once, every
//! problem found at once, each naming its key.
//!
//! Ranges, defaults, enum words and the duration grammar of the core's
//! settings come from vip-core; the rules here are the simulator's own
//! (node count, probabilities, fault node indices, drift) and what the core
//! cannot see (a number too big for its type, quoted in the core's range).

use vip_core::config::limits::{self, IntRange};
use vip_core::config::text::{AnnounceText, Refusals};
use vip_core::config::{Named, OneOf};
use vip_core::{AnnounceConfig, Duration, ElectionSettings, Protocol, VrrpSettings};

use super::raw::{
    RawAnnounce, RawClients, RawElection, RawFault, RawNetwork, RawNode, RawScenario,
};
use super::{
    settings, ClientSpec, Defect, Expect, Fault, FaultKind, LinkSpec, NodeSpec, Scenario,
    ScenarioError,
};

/// The advert interval when a file names none: 100 ms. The scenario
/// format's own default, not the core's (`VrrpSettings::default()`, 1 s),
/// so the catalogue's runs stay short.
pub const ADVERT_INTERVAL: Duration = Duration::from_millis(100);

/// `nodes`.
const NODES: IntRange = IntRange { min: 1, max: 200 };
/// `node[k].drift_ppm`.
const DRIFT_PPM: IntRange = IntRange {
    min: -100_000,
    max: 100_000,
};
/// `clients.count`.
const CLIENTS: IntRange = IntRange { min: 0, max: 40 };
/// `clients.rate`, packets per second.
const CLIENT_RATE: IntRange = IntRange {
    min: 0,
    max: 100_000,
};

/// A fault kind as a file names it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Word(pub(super) &'static str);

impl Named for Word {
    fn name(&self) -> &'static str {
        self.0
    }

    fn all() -> &'static [Word] {
        FAULT_KINDS
    }
}

/// Every fault kind's word, in the order messages list them; [`Problems::fault`] reads each.
pub(super) const FAULT_KINDS: &[Word] = &[
    Word("crash"),
    Word("stop"),
    Word("restart"),
    Word("pause"),
    Word("resume"),
    Word("partition"),
    Word("heal"),
    Word("loss_burst"),
    Word("link_down"),
    Word("link_up"),
    Word("priority"),
    Word("vip_fail"),
];

/// What the file says of one node's host, before its configuration is built.
struct HostSpec {
    drift_ppm: i32,
    start_at: Duration,
    defect: Option<Defect>,
}

/// The problems found so far while reading a file.
#[derive(Default)]
struct Problems {
    list: Vec<ScenarioError>,
}

impl Refusals for Problems {
    fn refuse(&mut self, key: &str, why: std::fmt::Arguments<'_>) {
        self.fail(key, why.to_string());
    }
}

impl Problems {
    fn fail(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.list.push(ScenarioError {
            field: field.into(),
            message: message.into(),
        });
    }

    /// A chance from 0 to 1, in parts per million; absent is 0.
    fn probability(&mut self, field: &str, p: Option<f64>) -> u32 {
        match p {
            None => 0,
            Some(p) if (0.0..=1.0).contains(&p) => (p * 1e6).round() as u32,
            Some(p) => {
                self.fail(field, format!("must be a probability from 0 to 1, not {p}"));
                0
            }
        }
    }

    /// The index of an existing node, of `n`.
    fn node(&mut self, field: &str, node: Option<usize>, n: usize) -> usize {
        match node {
            Some(i) if i < n => i,
            Some(i) => {
                self.fail(field, format!("node {i} does not exist (0 to {})", n - 1));
                0
            }
            None => {
                self.fail(field, "this fault needs a node");
                0
            }
        }
    }

    /// True if `value` keeps a rule only the simulator has.
    fn within(&mut self, field: &str, value: i64, range: IntRange) -> bool {
        let ok = range.contains(value);
        if !ok {
            self.fail(field, format!("{range}, not {value}"));
        }
        ok
    }

    /// Each node's priority: the file's list, or `250 - i` (at least 1).
    fn priorities(&mut self, e: &RawElection, n: usize) -> Vec<u8> {
        let mut priorities: Vec<u8> = (0..n)
            .map(|i| {
                250u8
                    .saturating_sub(u8::try_from(i).unwrap_or(u8::MAX))
                    .max(1)
            })
            .collect();
        let Some(listed) = &e.priorities else {
            return priorities;
        };
        if listed.len() != n {
            let message = format!("lists {} priorities for {n} nodes", listed.len());
            self.fail("election.priorities", message);
        }
        for (i, (&p, slot)) in listed.iter().zip(priorities.iter_mut()).enumerate() {
            let field = format!("election.priorities[{i}]");
            *slot = self.int_u8(&field, Some(p), limits::PRIORITY, *slot);
        }
        priorities
    }

    /// The election every node runs, with node 0's priority.
    fn election(&mut self, protocol: Protocol, e: &RawElection, priority: u8) -> ElectionSettings {
        match protocol {
            Protocol::Vrrp => {
                let d = VrrpSettings::default();
                let field = "election.advert_interval";
                ElectionSettings::Vrrp(VrrpSettings {
                    priority,
                    advert_interval: self.duration(
                        field,
                        e.advert_interval.as_deref(),
                        ADVERT_INTERVAL,
                    ),
                    preempt: e.preempt.unwrap_or(d.preempt),
                    virtual_mac: e.virtual_mac.unwrap_or(d.virtual_mac),
                    ..d
                })
            }
        }
    }

    /// Every node's host: drift, start time and defect from `[[node]]`.
    fn hosts(&mut self, raw: &[RawNode], n: usize) -> Vec<HostSpec> {
        let mut hosts: Vec<HostSpec> = (0..n)
            .map(|_| HostSpec {
                drift_ppm: 0,
                start_at: Duration::ZERO,
                defect: None,
            })
            .collect();
        for (k, rn) in raw.iter().enumerate() {
            let i = self.node(&format!("node[{k}].index"), Some(rn.index), n);
            let start_at = self.duration(
                &format!("node[{k}].start_at"),
                rn.start_at.as_deref(),
                Duration::ZERO,
            );
            hosts[i].start_at = start_at;
            if let Some(d) = rn.drift_ppm {
                if self.within(&format!("node[{k}].drift_ppm"), i64::from(d), DRIFT_PPM) {
                    hosts[i].drift_ppm = d;
                }
            }
            hosts[i].defect =
                self.optional_word(&format!("node[{k}].defect"), rn.defect.as_deref());
        }
        hosts
    }

    /// The announcer settings: the core reads them (defaults, words).
    fn announce(&mut self, a: &RawAnnounce) -> AnnounceConfig {
        let text = AnnounceText {
            garp_count: a.garp_count,
            garp_interval: a.garp_interval.as_deref(),
            refresh_interval: a.refresh_interval.as_deref(),
            form: a.form.as_deref(),
            answer_arp: None,
        };
        AnnounceConfig::read(text, self)
    }

    fn network(&mut self, nw: &RawNetwork) -> LinkSpec {
        LinkSpec {
            delay: self.duration(
                "network.delay",
                nw.delay.as_deref(),
                Duration::from_micros(100),
            ),
            jitter: self.duration(
                "network.jitter",
                nw.jitter.as_deref(),
                Duration::from_micros(20),
            ),
            loss_ppm: self.probability("network.loss", nw.loss),
            duplicate_ppm: self.probability("network.duplicate", nw.duplicate),
            reorder_ppm: self.probability("network.reorder", nw.reorder),
            reorder_delay: self.duration(
                "network.reorder_delay",
                nw.reorder_delay.as_deref(),
                Duration::from_millis(1),
            ),
        }
    }

    fn clients(&mut self, cl: &RawClients) -> ClientSpec {
        let clients = ClientSpec {
            count: cl.count.unwrap_or(2),
            rate: cl.rate.unwrap_or(200),
            base_reachable_time: self.duration(
                "clients.base_reachable_time",
                cl.base_reachable_time.as_deref(),
                Duration::from_secs(30),
            ),
        };
        let count = i64::try_from(clients.count).unwrap_or(i64::MAX);
        self.within("clients.count", count, CLIENTS);
        self.within("clients.rate", i64::from(clients.rate), CLIENT_RATE);
        clients
    }

    /// Fault `k` of an `n`-node scenario; `None` for an unknown kind.
    fn fault(&mut self, k: usize, f: &RawFault, n: usize) -> Option<Fault> {
        let at = self.duration(&format!("fault[{k}].at"), Some(&f.at), Duration::ZERO);
        let field = format!("fault[{k}].node");
        let kind = match f.kind.as_str() {
            "crash" => FaultKind::Crash(self.node(&field, f.node, n)),
            "stop" => FaultKind::Stop(self.node(&field, f.node, n)),
            "restart" => FaultKind::Restart(self.node(&field, f.node, n)),
            "pause" => FaultKind::Pause(self.node(&field, f.node, n)),
            "resume" => FaultKind::Resume(self.node(&field, f.node, n)),
            "link_down" => FaultKind::LinkDown(self.node(&field, f.node, n)),
            "link_up" => FaultKind::LinkUp(self.node(&field, f.node, n)),
            "vip_fail" => FaultKind::VipFail(self.node(&field, f.node, n)),
            "priority" => FaultKind::Priority {
                node: self.node(&field, f.node, n),
                priority: match f.priority {
                    Some(p) => self.int_u8(
                        &format!("fault[{k}].priority"),
                        Some(p),
                        limits::PRIORITY,
                        1,
                    ),
                    None => {
                        let message = format!("this fault needs a priority ({})", limits::PRIORITY);
                        self.fail(format!("fault[{k}].priority"), message);
                        1
                    }
                },
            },
            "partition" => self.partition(k, f, n),
            "heal" => FaultKind::Heal,
            "loss_burst" => {
                let nodes = f.nodes.clone().unwrap_or_default();
                if nodes.iter().any(|&i| i >= n) {
                    self.fail(
                        format!("fault[{k}].nodes"),
                        "lists a node that does not exist",
                    );
                }
                FaultKind::LossBurst {
                    duration: self.duration(
                        &format!("fault[{k}].duration"),
                        f.duration.as_deref(),
                        Duration::from_secs(1),
                    ),
                    loss_ppm: self
                        .probability(&format!("fault[{k}].loss"), Some(f.loss.unwrap_or(1.0))),
                    nodes,
                }
            }
            other => {
                let message = format!("must be {}, not {other:?}", OneOf(FAULT_KINDS));
                self.fail(format!("fault[{k}].kind"), message);
                return None;
            }
        };
        Some(Fault { at, kind })
    }

    fn partition(&mut self, k: usize, f: &RawFault, n: usize) -> FaultKind {
        let groups = f.groups.clone().unwrap_or_default();
        let mut seen = vec![0u32; n];
        for &i in groups.iter().flatten() {
            if let Some(s) = seen.get_mut(i) {
                *s += 1;
            }
        }
        if groups.len() < 2 || groups.iter().flatten().any(|&i| i >= n) {
            self.fail(
                format!("fault[{k}].groups"),
                "needs two or more groups of existing node indices",
            );
        } else if seen.iter().any(|&s| s != 1) {
            self.fail(
                format!("fault[{k}].groups"),
                "must list every node exactly once",
            );
        }
        let clients_group = f.clients_group.unwrap_or(0);
        if clients_group >= groups.len().max(1) {
            self.fail(
                format!("fault[{k}].clients_group"),
                "must index one of the groups",
            );
        }
        FaultKind::Partition {
            groups,
            clients_group,
        }
    }
}

impl Scenario {
    /// Parses and validates a scenario file's text.
    ///
    /// # Errors
    /// Every broken rule, each naming its key: the simulator's own first,
    /// then the core's findings on the settings it was handed.
    pub fn from_toml(text: &str) -> Result<Scenario, Vec<ScenarioError>> {
        let raw: RawScenario = toml::from_str(text).map_err(|e| {
            vec![ScenarioError {
                field: "file".to_string(),
                message: e.to_string().trim_end().to_string(),
            }]
        })?;
        let mut p = Problems::default();
        let protocol = p.word("protocol", Some(&raw.protocol), Protocol::Vrrp);
        let n = raw.nodes;
        if !p.within("nodes", i64::try_from(n).unwrap_or(i64::MAX), NODES) {
            return Err(p.list);
        }
        let duration = p.duration("duration", Some(&raw.duration), Duration::from_secs(10));
        let priorities = p.priorities(&raw.election, n);
        // Node 0 exists: `nodes` is at least 1.
        let election = p.election(protocol, &raw.election, priorities[0]);
        let hosts = p.hosts(&raw.node, n);
        let announce = p.announce(&raw.announce);
        let network = p.network(&raw.network);
        let clients = p.clients(&raw.clients);
        let mut faults: Vec<Fault> = raw
            .fault
            .iter()
            .enumerate()
            .filter_map(|(k, f)| p.fault(k, f, n))
            .collect();
        faults.sort_by_key(|f| f.at);
        if raw.expect.final_holder.is_some_and(|h| h >= n) {
            p.fail("expect.final_holder", "names a node that does not exist");
        }
        let expect = Expect {
            final_holder: raw.expect.final_holder,
            no_final_holder: raw.expect.no_final_holder.unwrap_or(false),
        };
        let cluster = settings::cluster(n, announce, election);
        let configs = settings::node_configs(&cluster, &priorities).unwrap_or_else(|errors| {
            p.list.extend(errors);
            Vec::new()
        });
        if !p.list.is_empty() {
            return Err(p.list);
        }
        let nodes = configs
            .into_iter()
            .zip(hosts)
            .map(|(config, h)| NodeSpec {
                config,
                drift_ppm: h.drift_ppm,
                start_at: h.start_at,
                defect: h.defect,
            })
            .collect();
        Ok(Scenario {
            name: raw.name,
            description: raw.description,
            protocol,
            nodes,
            duration,
            seed: raw.seed,
            network,
            clients,
            faults,
            expect,
        })
    }
}
