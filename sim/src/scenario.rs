//! Scenario files: what a simulated run contains, as TOML, parsed once into
//! typed values.
//!
//! The raw serde structs mirror the file; [`Scenario::from_toml`] checks every
//! rule and names the offending key (`fault[2].node`, `network.loss`, ...), so
//! the world never sees a bad value. See docs/simulator.md for the format.

use serde::Deserialize;
use vip_core::{AnnounceConfig, Duration, GarpForm};

pub use vip_core::Protocol;

/// A defect injected into one node's host glue, to prove the checker bites.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Defect {
    /// The host never takes the VIP off its interface (ignores `ReleaseVip`).
    NeverRelease,
    /// The host drops every gratuitous ARP the core asks it to send.
    DropGarp,
}

/// One node's settings beyond the cluster defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeSpec {
    /// VRRP priority (1 to 255).
    pub priority: u8,
    /// Clock-rate error in parts per million (negative: slow).
    pub drift_ppm: i32,
    /// When the node starts (virtual time).
    pub start_at: Duration,
    /// An injected defect, if any.
    pub defect: Option<Defect>,
}

/// Per-link impairments; probabilities are in parts per million.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkSpec {
    /// One-way latency of one link (host to switch or switch to host).
    pub delay: Duration,
    /// Extra latency, uniform in `0..=jitter`, per traversal.
    pub jitter: Duration,
    /// Chance a traversal loses the frame.
    pub loss_ppm: u32,
    /// Chance a traversal delivers the frame twice.
    pub duplicate_ppm: u32,
    /// Chance a traversal holds the frame back by `reorder_delay`.
    pub reorder_ppm: u32,
    /// How long a reordered frame is held back.
    pub reorder_delay: Duration,
}

/// The clients that send traffic to the VIP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientSpec {
    /// How many.
    pub count: usize,
    /// Packets per second each sends to the VIP (0: none).
    pub rate: u32,
    /// Linux `base_reachable_time`; each entry's reachable time is uniform in
    /// `[0.5, 1.5]` times this.
    pub base_reachable_time: Duration,
}

/// What happens to the world at one instant.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultKind {
    /// The node vanishes without a word (power cut).
    Crash(usize),
    /// `Command::Shutdown`, outputs drained, then gone.
    Stop(usize),
    /// A crashed or stopped node boots again with a fresh seed stream.
    Restart(usize),
    /// The node gets no input until resumed; frames to it are lost.
    Pause(usize),
    /// The paused node runs again: one late timeout.
    Resume(usize),
    /// The segment splits: frames pass only inside a group. Clients join
    /// group `clients_group`.
    Partition {
        /// Node indices per group; every node in exactly one.
        groups: Vec<Vec<usize>>,
        /// The group the clients end up in.
        clients_group: usize,
    },
    /// The segment is whole again.
    Heal,
    /// Extra loss on some links (all if `nodes` is empty) for a while.
    LossBurst {
        /// How long.
        duration: Duration,
        /// Chance per traversal, parts per million.
        loss_ppm: u32,
        /// Affected nodes' links; empty: every link, clients' too.
        nodes: Vec<usize>,
    },
    /// The node's switch port goes down and it gets `Command::LinkDown`.
    LinkDown(usize),
    /// The port comes back and the node gets `Command::LinkUp`.
    LinkUp(usize),
    /// `Command::SetPriority`.
    Priority {
        /// Which node.
        node: usize,
        /// New priority.
        priority: u8,
    },
}

/// A fault at a virtual time.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    /// When, from the start of the run.
    pub at: Duration,
    /// What.
    pub kind: FaultKind,
}

/// What the scenario's author expects beyond the invariants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Expect {
    /// The node that must hold the VIP at the end.
    pub final_holder: Option<usize>,
    /// Expect no holder at all at the end (every node down).
    pub no_final_holder: bool,
}

/// A validated scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// Short name (the table's first column).
    pub name: String,
    /// One line on what it shows.
    pub description: String,
    /// Election protocol.
    pub protocol: Protocol,
    /// Per node, index = node number.
    pub nodes: Vec<NodeSpec>,
    /// Virtual length of the run.
    pub duration: Duration,
    /// Root seed.
    pub seed: u64,
    /// VRRP advert interval.
    pub advert_interval: Duration,
    /// VRRP preempt.
    pub preempt: bool,
    /// VRRP virtual MAC.
    pub virtual_mac: bool,
    /// Announcer settings for every node.
    pub announce: AnnounceConfig,
    /// Link impairments, every link.
    pub network: LinkSpec,
    /// Clients.
    pub clients: ClientSpec,
    /// Faults, in time order (ties keep file order).
    pub faults: Vec<Fault>,
    /// Extra expectations.
    pub expect: Expect,
}

/// A scenario rule broken, naming the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    /// The key, as in the file.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for ScenarioError {}

fn err(field: impl Into<String>, message: impl Into<String>) -> ScenarioError {
    ScenarioError {
        field: field.into(),
        message: message.into(),
    }
}

/// Parses `"250us"`, `"100ms"`, `"5s"` or `"2m"`.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits.parse().ok()?;
    let micros = match unit {
        "us" => Some(n),
        "ms" => n.checked_mul(1_000),
        "s" => n.checked_mul(1_000_000),
        "m" => n.checked_mul(60_000_000),
        _ => None,
    }?;
    Some(Duration::from_micros(micros))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: String,
    #[serde(default)]
    description: String,
    protocol: String,
    nodes: usize,
    duration: String,
    #[serde(default)]
    seed: u64,
    #[serde(default)]
    election: RawElection,
    #[serde(default)]
    announce: RawAnnounce,
    #[serde(default)]
    network: RawNetwork,
    #[serde(default)]
    clients: RawClients,
    #[serde(default)]
    node: Vec<RawNode>,
    #[serde(default)]
    fault: Vec<RawFault>,
    #[serde(default)]
    expect: RawExpect,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawElection {
    advert_interval: Option<String>,
    priorities: Option<Vec<i64>>,
    preempt: Option<bool>,
    virtual_mac: Option<bool>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawAnnounce {
    garp_count: Option<i64>,
    garp_interval: Option<String>,
    refresh_interval: Option<String>,
    form: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawNetwork {
    delay: Option<String>,
    jitter: Option<String>,
    loss: Option<f64>,
    duplicate: Option<f64>,
    reorder: Option<f64>,
    reorder_delay: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawClients {
    count: Option<usize>,
    rate: Option<u32>,
    base_reachable_time: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNode {
    index: usize,
    drift_ppm: Option<i32>,
    start_at: Option<String>,
    defect: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFault {
    at: String,
    kind: String,
    node: Option<usize>,
    nodes: Option<Vec<usize>>,
    groups: Option<Vec<Vec<usize>>>,
    clients_group: Option<usize>,
    duration: Option<String>,
    loss: Option<f64>,
    priority: Option<i64>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawExpect {
    final_holder: Option<usize>,
    no_final_holder: Option<bool>,
}

struct Checker {
    errors: Vec<ScenarioError>,
}

impl Checker {
    fn duration(&mut self, field: &str, text: Option<&str>, default: Duration) -> Duration {
        match text {
            None => default,
            Some(t) => parse_duration(t).unwrap_or_else(|| {
                self.errors.push(err(
                    field,
                    format!("'{t}' is not a duration like 250us, 100ms, 5s or 2m"),
                ));
                default
            }),
        }
    }

    fn probability(&mut self, field: &str, p: Option<f64>) -> u32 {
        match p {
            None => 0,
            Some(p) if (0.0..=1.0).contains(&p) => (p * 1e6).round() as u32,
            Some(p) => {
                self.errors
                    .push(err(field, format!("{p} must be a probability from 0 to 1")));
                0
            }
        }
    }

    fn node(&mut self, field: &str, node: Option<usize>, n: usize) -> usize {
        match node {
            Some(i) if i < n => i,
            Some(i) => {
                self.errors.push(err(
                    field,
                    format!("node {i} does not exist (0 to {})", n - 1),
                ));
                0
            }
            None => {
                self.errors.push(err(field, "this fault needs a node"));
                0
            }
        }
    }
}

impl Scenario {
    /// Parses and validates a scenario file's text.
    ///
    /// # Errors
    /// Every broken rule, each naming its key.
    pub fn from_toml(text: &str) -> Result<Scenario, Vec<ScenarioError>> {
        let raw: RawScenario =
            toml::from_str(text).map_err(|e| vec![err("file", e.to_string().trim_end())])?;
        let mut c = Checker { errors: Vec::new() };
        let protocol = Protocol::from_name(&raw.protocol).unwrap_or_else(|| {
            c.errors.push(err(
                "protocol",
                format!(
                    "'{}' is not available; the only protocol so far is \"vrrp\"",
                    raw.protocol
                ),
            ));
            Protocol::Vrrp
        });
        let n = raw.nodes;
        if !(1..=200).contains(&n) {
            c.errors.push(err("nodes", "must be from 1 to 200"));
            return Err(c.errors);
        }
        let duration = c.duration("duration", Some(&raw.duration), Duration::from_secs(10));
        let e = &raw.election;
        let advert_interval = c.duration(
            "election.advert_interval",
            e.advert_interval.as_deref(),
            Duration::from_millis(100),
        );
        let mut nodes: Vec<NodeSpec> = (0..n)
            .map(|i| NodeSpec {
                priority: 250u8
                    .saturating_sub(u8::try_from(i).unwrap_or(u8::MAX))
                    .max(1),
                drift_ppm: 0,
                start_at: Duration::ZERO,
                defect: None,
            })
            .collect();
        if let Some(ps) = &e.priorities {
            if ps.len() != n {
                c.errors.push(err(
                    "election.priorities",
                    format!("lists {} priorities for {n} nodes", ps.len()),
                ));
            }
            for (i, (&p, spec)) in ps.iter().zip(nodes.iter_mut()).enumerate() {
                match u8::try_from(p) {
                    Ok(p) if p >= 1 => spec.priority = p,
                    _ => c.errors.push(err(
                        format!("election.priorities[{i}]"),
                        "must be from 1 to 255",
                    )),
                }
            }
        }
        for (k, rn) in raw.node.iter().enumerate() {
            let i = c.node(&format!("node[{k}].index"), Some(rn.index), n);
            let start_at = c.duration(
                &format!("node[{k}].start_at"),
                rn.start_at.as_deref(),
                Duration::ZERO,
            );
            let spec = &mut nodes[i];
            spec.start_at = start_at;
            if let Some(d) = rn.drift_ppm {
                if d.unsigned_abs() > 100_000 {
                    c.errors.push(err(
                        format!("node[{k}].drift_ppm"),
                        "must be within ±100000",
                    ));
                } else {
                    spec.drift_ppm = d;
                }
            }
            spec.defect = match rn.defect.as_deref() {
                None => None,
                Some("never_release") => Some(Defect::NeverRelease),
                Some("drop_garp") => Some(Defect::DropGarp),
                Some(o) => {
                    c.errors.push(err(
                        format!("node[{k}].defect"),
                        format!("'{o}' is not one of never_release, drop_garp"),
                    ));
                    None
                }
            };
        }
        let a = &raw.announce;
        let defaults = AnnounceConfig::default();
        let announce = AnnounceConfig {
            garp_count: match a.garp_count.map(u8::try_from) {
                None => defaults.garp_count,
                Some(Ok(v)) => v,
                Some(Err(_)) => {
                    c.errors
                        .push(err("announce.garp_count", "must be from 1 to 100"));
                    defaults.garp_count
                }
            },
            garp_interval: c.duration(
                "announce.garp_interval",
                a.garp_interval.as_deref(),
                defaults.garp_interval,
            ),
            refresh_interval: c.duration(
                "announce.refresh_interval",
                a.refresh_interval.as_deref(),
                defaults.refresh_interval,
            ),
            form: match a.form.as_deref() {
                None | Some("both") => GarpForm::Both,
                Some("request") => GarpForm::Request,
                Some("reply") => GarpForm::Reply,
                Some(o) => {
                    c.errors.push(err(
                        "announce.form",
                        format!("'{o}' is not one of request, reply, both"),
                    ));
                    GarpForm::Both
                }
            },
            answer_arp: true,
        };
        let nw = &raw.network;
        let network = LinkSpec {
            delay: c.duration(
                "network.delay",
                nw.delay.as_deref(),
                Duration::from_micros(100),
            ),
            jitter: c.duration(
                "network.jitter",
                nw.jitter.as_deref(),
                Duration::from_micros(20),
            ),
            loss_ppm: c.probability("network.loss", nw.loss),
            duplicate_ppm: c.probability("network.duplicate", nw.duplicate),
            reorder_ppm: c.probability("network.reorder", nw.reorder),
            reorder_delay: c.duration(
                "network.reorder_delay",
                nw.reorder_delay.as_deref(),
                Duration::from_millis(1),
            ),
        };
        let cl = &raw.clients;
        let clients = ClientSpec {
            count: cl.count.unwrap_or(2),
            rate: cl.rate.unwrap_or(200),
            base_reachable_time: c.duration(
                "clients.base_reachable_time",
                cl.base_reachable_time.as_deref(),
                Duration::from_secs(30),
            ),
        };
        if clients.count > 40 {
            c.errors.push(err("clients.count", "must be from 0 to 40"));
        }
        if clients.rate > 100_000 {
            c.errors.push(err("clients.rate", "must be at most 100000"));
        }
        let mut faults = Vec::new();
        for (k, f) in raw.fault.iter().enumerate() {
            let at = c.duration(&format!("fault[{k}].at"), Some(&f.at), Duration::ZERO);
            let field = format!("fault[{k}].node");
            let kind = match f.kind.as_str() {
                "crash" => FaultKind::Crash(c.node(&field, f.node, n)),
                "stop" => FaultKind::Stop(c.node(&field, f.node, n)),
                "restart" => FaultKind::Restart(c.node(&field, f.node, n)),
                "pause" => FaultKind::Pause(c.node(&field, f.node, n)),
                "resume" => FaultKind::Resume(c.node(&field, f.node, n)),
                "link_down" => FaultKind::LinkDown(c.node(&field, f.node, n)),
                "link_up" => FaultKind::LinkUp(c.node(&field, f.node, n)),
                "priority" => FaultKind::Priority {
                    node: c.node(&field, f.node, n),
                    priority: match f.priority.map(u8::try_from) {
                        Some(Ok(p)) if p >= 1 => p,
                        _ => {
                            c.errors.push(err(
                                format!("fault[{k}].priority"),
                                "needs a priority from 1 to 255",
                            ));
                            1
                        }
                    },
                },
                "partition" => {
                    let groups = f.groups.clone().unwrap_or_default();
                    let mut seen = vec![0u32; n];
                    for g in &groups {
                        for &i in g {
                            if let Some(s) = seen.get_mut(i) {
                                *s += 1;
                            }
                        }
                    }
                    if groups.len() < 2 || groups.iter().flatten().any(|&i| i >= n) {
                        c.errors.push(err(
                            format!("fault[{k}].groups"),
                            "needs two or more groups of existing node indices",
                        ));
                    } else if seen.iter().any(|&s| s != 1) {
                        c.errors.push(err(
                            format!("fault[{k}].groups"),
                            "must list every node exactly once",
                        ));
                    }
                    let clients_group = f.clients_group.unwrap_or(0);
                    if clients_group >= groups.len().max(1) {
                        c.errors.push(err(
                            format!("fault[{k}].clients_group"),
                            "must index one of the groups",
                        ));
                    }
                    FaultKind::Partition {
                        groups,
                        clients_group,
                    }
                }
                "heal" => FaultKind::Heal,
                "loss_burst" => {
                    let nodes = f.nodes.clone().unwrap_or_default();
                    if nodes.iter().any(|&i| i >= n) {
                        c.errors.push(err(
                            format!("fault[{k}].nodes"),
                            "lists a node that does not exist",
                        ));
                    }
                    FaultKind::LossBurst {
                        duration: c.duration(
                            &format!("fault[{k}].duration"),
                            f.duration.as_deref(),
                            Duration::from_secs(1),
                        ),
                        loss_ppm: c
                            .probability(&format!("fault[{k}].loss"), Some(f.loss.unwrap_or(1.0))),
                        nodes,
                    }
                }
                other => {
                    c.errors.push(err(
                        format!("fault[{k}].kind"),
                        format!(
                            "'{other}' is not one of crash, stop, restart, pause, resume, \
                             partition, heal, loss_burst, link_down, link_up, priority"
                        ),
                    ));
                    continue;
                }
            };
            faults.push(Fault { at, kind });
        }
        faults.sort_by_key(|f| f.at);
        if let Some(h) = raw.expect.final_holder {
            if h >= n {
                c.errors.push(err(
                    "expect.final_holder",
                    "names a node that does not exist",
                ));
            }
        }
        let expect = Expect {
            final_holder: raw.expect.final_holder,
            no_final_holder: raw.expect.no_final_holder.unwrap_or(false),
        };
        let scenario = Scenario {
            name: raw.name,
            description: raw.description,
            protocol,
            nodes,
            duration,
            seed: raw.seed,
            advert_interval,
            preempt: e.preempt.unwrap_or(true),
            virtual_mac: e.virtual_mac.unwrap_or(false),
            announce,
            network,
            clients,
            faults,
            expect,
        };
        if let Err(problems) = crate::world::node_config(&scenario, 0) {
            c.errors.extend(problems);
        }
        if c.errors.is_empty() {
            Ok(scenario)
        } else {
            Err(c.errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("250us"), Some(Duration::from_micros(250)));
        assert_eq!(parse_duration("100ms"), Some(Duration::from_millis(100)));
        assert_eq!(parse_duration("5s"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("ms"), None);
    }

    #[test]
    fn errors_name_the_key() {
        let text = r#"
            name = "x"
            protocol = "quorum"
            nodes = 3
            duration = "10s"
            [[fault]]
            at = "1s"
            kind = "crash"
            node = 7
        "#;
        let errors = Scenario::from_toml(text).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["protocol", "fault[0].node"]);
    }
}
