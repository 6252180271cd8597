//! Reading a scenario file: every value turned into its type once, every
//! problem found at once, each naming its key.
//!
//! Ranges, defaults, enum words and the duration grammar of the core's
//! settings come from vip-core; the rules here are the simulator's own
//! (node count, probabilities, fault node indices, drift) and what the core
//! cannot see (a number too big for its type, quoted in the core's range).

use std::net::Ipv4Addr;

use vip_core::config::limits::{self, IntRange};
use vip_core::config::text::{AnnounceText, EtcdText, QuorumText, Refusals};
use vip_core::{
    AnnounceConfig, DhcpSettings, Duration, ElectionSettings, EtcdSettings, Protocol,
    QuorumSettings, VipSettings, VrrpSettings,
};

use super::fault::Shape;
use super::raw::{RawAnnounce, RawClients, RawElection, RawNetwork, RawNode, RawScenario};
use super::settings::NodeKnobs;
use super::{
    dhcp, etcd, settings, AttackSpec, ClientSpec, Defect, DriftMode, Expect, Fault, FaultKind,
    LinkSpec, MoveOutcome, NodeSpec, Scenario, ScenarioError, WorldBound, VIP,
};

/// The advert (renewal) interval when a file names none: 100 ms, for both
/// protocols. The scenario format's own default, not the core's
/// (`VrrpSettings::default()`, 1 s; `QuorumSettings::DEFAULT_ADVERT_INTERVAL`,
/// 50 ms), so the catalogue's runs stay short and compare across protocols.
pub const ADVERT_INTERVAL: Duration = Duration::from_millis(100);

/// The uptime a node's first boot reports when the file names none: an hour,
/// longer than any restart wait, so a first boot waits nothing.
pub const HOST_UPTIME: Duration = Duration::from_secs(3600);

/// `attack.rate`, frames per second.
const ATTACK_RATE: IntRange = IntRange {
    min: 0,
    max: 10_000,
};

/// `nodes`.
const NODES: IntRange = IntRange { min: 1, max: 200 };
/// `node[k].drift_ppm` and `etcd.drift_ppm`.
pub(super) const DRIFT_PPM: IntRange = IntRange {
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

/// Why a scenario whose leased address may leave [`VIP`] (an unmapped
/// server, a remap) has no clients: they aim at [`VIP`], and traffic to an
/// address nobody holds would be judged lost for good.
pub(super) fn clients_aim() -> String {
    format!("the clients aim at {VIP}, and the leased VIP may be another address: give [clients] count = 0")
}

/// What the file says of one node's host, before its configuration is built.
struct HostSpec {
    drift_ppm: i32,
    /// The `[[node]]` entry that set `drift_ppm`, for messages.
    drift_entry: Option<usize>,
    start_at: Duration,
    defect: Option<Defect>,
    witness: bool,
}

/// The problems found so far while reading a file.
#[derive(Default)]
pub(super) struct Problems {
    list: Vec<ScenarioError>,
}

impl Refusals for Problems {
    fn refuse(&mut self, key: &str, why: std::fmt::Arguments<'_>) {
        self.fail(key, why.to_string());
    }
}

impl Problems {
    pub(super) fn fail(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.list.push(ScenarioError {
            field: field.into(),
            message: message.into(),
        });
    }

    /// A chance from 0 to 1, in parts per million; absent is 0.
    pub(super) fn probability(&mut self, field: &str, p: Option<f64>) -> u32 {
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
    pub(super) fn node(&mut self, field: &str, node: Option<usize>, n: usize) -> usize {
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
    pub(super) fn within(&mut self, field: &str, value: i64, range: IntRange) -> bool {
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

    /// The election every node runs, with node 0's priority (and, for
    /// etcd, `[etcd] lease_ttl`). A key of the other protocol is refused,
    /// as the daemon's reader does.
    fn election(
        &mut self,
        protocol: Protocol,
        e: &RawElection,
        lease_ttl: Option<&str>,
        priority: u8,
    ) -> ElectionSettings {
        let foreign: &[(&str, bool)] = match protocol {
            Protocol::Vrrp => &[
                ("lease", e.lease.is_some()),
                ("max_drift", e.max_drift.is_some()),
                ("fence_margin", e.fence_margin.is_some()),
                ("reannounce_after", e.reannounce_after.is_some()),
            ],
            Protocol::Quorum => &[("virtual_mac", e.virtual_mac.is_some())],
            Protocol::Etcd => &[
                ("advert_interval", e.advert_interval.is_some()),
                ("lease", e.lease.is_some()),
                ("preempt", e.preempt.is_some()),
                ("preempt_delay", e.preempt_delay.is_some()),
                ("virtual_mac", e.virtual_mac.is_some()),
                ("reannounce_after", e.reannounce_after.is_some()),
            ],
        };
        for (key, set) in foreign {
            if *set {
                self.foreign(&format!("election.{key}"), protocol);
            }
        }
        let interval = self.duration(
            "election.advert_interval",
            e.advert_interval.as_deref(),
            ADVERT_INTERVAL,
        );
        match protocol {
            Protocol::Vrrp => {
                let d = VrrpSettings::default();
                ElectionSettings::Vrrp(VrrpSettings {
                    priority,
                    advert_interval: interval,
                    preempt: e.preempt.unwrap_or(d.preempt),
                    preempt_delay: self.duration(
                        "election.preempt_delay",
                        e.preempt_delay.as_deref(),
                        d.preempt_delay,
                    ),
                    virtual_mac: e.virtual_mac.unwrap_or(d.virtual_mac),
                    ..d
                })
            }
            Protocol::Etcd => {
                let text = EtcdText {
                    lease_ttl,
                    max_drift: e.max_drift,
                    fence_margin: e.fence_margin.as_deref(),
                };
                let d = EtcdSettings::with_defaults(priority);
                ElectionSettings::Etcd(EtcdSettings::read(text, d, self))
            }
            Protocol::Quorum => {
                let d = QuorumSettings::with_defaults(interval, settings::cluster_key());
                let text = QuorumText {
                    lease: e.lease.as_deref(),
                    max_drift: e.max_drift,
                    fence_margin: e.fence_margin.as_deref(),
                    preempt: e.preempt,
                    preempt_delay: e.preempt_delay.as_deref(),
                    reannounce_after: e.reannounce_after.as_deref(),
                };
                ElectionSettings::Quorum(QuorumSettings {
                    priority,
                    ..QuorumSettings::read(text, d, self)
                })
            }
        }
    }

    /// `key` belongs to the other protocol.
    fn foreign(&mut self, key: &str, protocol: Protocol) {
        let message = format!(
            "applies only to the other protocol, not to protocol = \"{}\"; remove it",
            protocol.as_str()
        );
        self.fail(key, message);
    }

    /// Every node's host: drift, start time, defect and witness flag from `[[node]]`.
    fn hosts(&mut self, raw: &[RawNode], n: usize) -> Vec<HostSpec> {
        let mut hosts: Vec<HostSpec> = (0..n)
            .map(|_| HostSpec {
                drift_ppm: 0,
                drift_entry: None,
                start_at: Duration::ZERO,
                defect: None,
                witness: false,
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
                    hosts[i].drift_entry = Some(k);
                }
            }
            hosts[i].defect =
                self.optional_word(&format!("node[{k}].defect"), rn.defect.as_deref());
            hosts[i].witness = rn.witness.unwrap_or(false);
        }
        hosts
    }

    /// The clocks and what the world guarantees: quorum and etcd nodes
    /// drift within `election.max_drift` (the bound the protocol assumes),
    /// and the fence leaks `election.fence_margin`, whatever a defect tells
    /// the cores.
    fn world(
        &mut self,
        raw: &RawScenario,
        election: &ElectionSettings,
        hosts: &[HostSpec],
    ) -> (DriftMode, WorldBound) {
        let drift = self.word("drift", raw.drift.as_deref(), DriftMode::Fixed);
        let widest = hosts
            .iter()
            .map(|h| h.drift_ppm.unsigned_abs())
            .max()
            .unwrap_or(0);
        let quorum = matches!(election, ElectionSettings::Quorum(_));
        if drift != DriftMode::Fixed && !quorum {
            self.fail(
                "drift",
                "\"adversarial\" applies only to protocol = \"quorum\"",
            );
        }
        let (max_drift_ppm, fence_margin) = match election {
            ElectionSettings::Quorum(q) => (q.max_drift_ppm, q.fence_margin),
            ElectionSettings::Etcd(e) => (e.max_drift_ppm, e.fence_margin),
            ElectionSettings::Vrrp(_) => {
                let bound = WorldBound {
                    drift_ppm: widest,
                    fence_leak: Duration::ZERO,
                    real_path: Duration::ZERO,
                };
                return (drift, bound);
            }
        };
        let protocol = election.protocol().as_str();
        for h in hosts {
            let Some(k) = h.drift_entry else { continue };
            if drift == DriftMode::Adversarial {
                let message = "drift = \"adversarial\" sets every clock; remove it";
                self.fail(format!("node[{k}].drift_ppm"), message);
            } else if h.drift_ppm.unsigned_abs() > max_drift_ppm {
                let message = format!(
                    "{} ppm is beyond election.max_drift ({} ppm), the clock-rate bound the \
                     {protocol} election assumes",
                    h.drift_ppm, max_drift_ppm
                );
                self.fail(format!("node[{k}].drift_ppm"), message);
            }
        }
        let bound = WorldBound {
            drift_ppm: max_drift_ppm,
            fence_leak: fence_margin,
            real_path: Duration::ZERO,
        };
        (drift, bound)
    }

    /// Each node's knobs; with quorum `no_drift_margin` only on every node
    /// or none (it changes the config digest), and each protocol's
    /// defects only there.
    fn knobs(
        &mut self,
        raw: &[RawNode],
        protocol: Protocol,
        priorities: &[u8],
        hosts: &[HostSpec],
    ) -> Vec<NodeKnobs> {
        for (k, rn) in raw.iter().enumerate() {
            let Some(h) = hosts.get(rn.index) else {
                continue;
            };
            let only = match h.defect {
                Some(Defect::NoDriftMargin) if protocol == Protocol::Vrrp => {
                    Some("protocol = \"quorum\" or \"etcd\"")
                }
                Some(Defect::SkipRestartWait) if protocol != Protocol::Quorum => {
                    Some("protocol = \"quorum\"")
                }
                Some(Defect::KeepaliveBeforeAsked | Defect::ResignedWhenSent)
                    if protocol != Protocol::Etcd =>
                {
                    Some("protocol = \"etcd\"")
                }
                _ => None,
            };
            if let Some(only) = only {
                self.fail(
                    format!("node[{k}].defect"),
                    format!("applies only to {only}"),
                );
            }
            if protocol == Protocol::Vrrp && rn.witness.is_some() {
                self.foreign(&format!("node[{k}].witness"), protocol);
            }
        }
        let unmargined = hosts
            .iter()
            .filter(|h| h.defect == Some(Defect::NoDriftMargin))
            .count();
        if protocol == Protocol::Quorum && unmargined != 0 && unmargined != hosts.len() {
            let message =
                "no_drift_margin changes the config digest: give it to every node or none";
            self.fail("node.defect", message);
        }
        priorities
            .iter()
            .zip(hosts)
            .map(|(&priority, h)| NodeKnobs {
                priority,
                no_drift_margin: h.defect == Some(Defect::NoDriftMargin),
            })
            .collect()
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

    /// An IPv4 address `field`; `None` when absent or refused.
    pub(super) fn address(&mut self, field: &str, text: Option<&str>) -> Option<Ipv4Addr> {
        let text = text?;
        let address = text.parse().ok();
        if address.is_none() {
            self.fail(
                field,
                format!("must be an IPv4 address such as 192.0.2.251, not {text:?}"),
            );
        }
        address
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
        let lease_ttl = raw.etcd.as_ref().and_then(|e| e.lease_ttl.as_deref());
        let election = p.election(protocol, &raw.election, lease_ttl, priorities[0]);
        let hosts = p.hosts(&raw.node, n);
        let (drift, bound) = p.world(&raw, &election, &hosts);
        let etcd = etcd::read(raw.etcd.as_ref(), protocol, bound.drift_ppm, &mut p);
        let knobs = p.knobs(&raw.node, protocol, &priorities, &hosts);
        let quorum_only = protocol == Protocol::Quorum;
        if !quorum_only && raw.host_uptime.is_some() {
            p.foreign("host_uptime", protocol);
        }
        if !quorum_only && raw.attack.is_some() {
            p.foreign("attack", protocol);
        }
        let host_uptime = p.duration("host_uptime", raw.host_uptime.as_deref(), HOST_UPTIME);
        let attack = AttackSpec {
            rate: raw.attack.as_ref().and_then(|a| a.rate).unwrap_or(0),
        };
        p.within("attack.rate", i64::from(attack.rate), ATTACK_RATE);
        let announce = p.announce(&raw.announce);
        let network = p.network(&raw.network);
        let clients = p.clients(&raw.clients);
        let dhcp = dhcp::read(raw.dhcp.as_ref(), n, clients.count, &mut p);
        let shape = Shape {
            nodes: n,
            clients: clients.count,
            dhcp: dhcp.is_some(),
            etcd: etcd.is_some(),
        };
        let mut faults: Vec<Fault> = raw
            .fault
            .iter()
            .enumerate()
            .filter_map(|(k, f)| p.fault(k, f, shape))
            .collect();
        if dhcp.is_some_and(|d| !d.mapped) && clients.count > 0 {
            p.fail("clients.count", clients_aim());
        }
        faults.sort_by_key(|f| f.at);
        if raw.expect.final_holder.is_some_and(|h| h >= n) {
            p.fail("expect.final_holder", "names a node that does not exist");
        }
        if protocol == Protocol::Vrrp
            && faults
                .iter()
                .any(|f| matches!(f.kind, FaultKind::Move { .. }))
        {
            p.fail(
                "fault.kind",
                "move applies only to protocol = \"quorum\" or \"etcd\" (with vrrp, raise the target's priority)",
            );
        }
        let moves = raw.expect.moves.clone().unwrap_or_default();
        let moves = moves
            .iter()
            .enumerate()
            .filter_map(|(k, m)| {
                p.optional_word::<MoveOutcome>(&format!("expect.moves[{k}]"), Some(m))
            })
            .collect();
        let addresses = raw.expect.addresses.as_ref().map(|list| {
            list.iter()
                .enumerate()
                .filter_map(|(k, a)| p.address(&format!("expect.addresses[{k}]"), Some(a)))
                .collect()
        });
        let expect = Expect {
            final_holder: raw.expect.final_holder,
            no_final_holder: raw.expect.no_final_holder.unwrap_or(false),
            moves,
            addresses,
        };
        let witnesses: Vec<bool> = hosts.iter().map(|h| h.witness).collect();
        let vip = match dhcp {
            Some(d) => VipSettings::Dhcp(DhcpSettings { hwaddr: d.hwaddr }),
            None => VipSettings::Static(VIP),
        };
        let cluster = settings::cluster(n, &witnesses, vip, announce, election);
        let configs = settings::node_configs(&cluster, &knobs).unwrap_or_else(|errors| {
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
                witness: h.witness,
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
            drift,
            bound,
            host_uptime,
            attack,
            dhcp,
            etcd,
        })
    }
}
