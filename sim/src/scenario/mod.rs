//! Scenario files: what a simulated run contains, as TOML, parsed once into
//! typed values.
//!
//! Three layers, one file each: `raw` mirrors the file for serde, `read`
//! ([`Scenario::from_toml`]) turns it into the typed values below and checks
//! every rule only the simulator has, and [`settings`] builds each node's
//! core settings and lets the core judge them. Every error names the key as the
//! file writes it (`fault[2].node`, `election.priorities[1]`, ...), so the
//! world never sees a bad value. See docs/simulator.md for the format.

use std::net::Ipv4Addr;

use vip_core::config::{Named, OneOf};
use vip_core::wire::EthernetAddress;
use vip_core::{Config, Duration};

pub use vip_core::Protocol;

/// A word enum of the scenario format: `ALL` (the order messages list the
/// words in), `as_str` (the word a file or a report writes) and the core's
/// `Named`, so the core's readers and messages serve it.
macro_rules! words {
    ($ty:ident { $($variant:ident => $word:literal),+ $(,)? }) => {
        impl $ty {
            /// Every value, in the order messages list them.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// The word a scenario file or a report writes.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $word),+
                }
            }
        }

        impl Named for $ty {
            fn name(&self) -> &'static str {
                self.as_str()
            }

            fn all() -> &'static [$ty] {
                $ty::ALL
            }
        }
    };
}

mod dhcp;
mod etcd;
mod fault;
mod raw;
mod read;
pub mod settings;
#[cfg(test)]
mod tests;

pub use dhcp::{DHCP_LEASE, DHCP_POOL};
pub use etcd::{ETCD_DELAY, ETCD_JITTER};
pub use read::{ADVERT_INTERVAL, HOST_UPTIME};
pub use settings::{
    cluster_key, members, node_address, node_mac, node_name, CLUSTER_KEY, DHCP_SERVER,
    DHCP_SERVER_MAC, VIP,
};

/// A defect injected into one node's host glue, to prove the checker bites.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Defect {
    /// The host never takes the VIP off its interface (ignores `ReleaseVip`).
    NeverRelease,
    /// The host drops every gratuitous ARP the core asks it to send.
    DropGarp,
    /// The host hands its core `max_drift = 0` and `fence_margin = 0`
    /// (quorum): the build without the drift and fence margins, while the
    /// world's clocks still drift and its fence still leaks by the
    /// scenario's bounds. It changes the config digest, so every node has it
    /// or none.
    NoDriftMargin,
    /// The host boots a restarted core with `PriorRuns` that claim no
    /// earlier run (quorum): the build without the restart wait.
    SkipRestartWait,
    /// The node's etcd adapter keeps its lease alive on its own and answers
    /// each keep-alive the core asks with the newest answer it has (etcd):
    /// the core counts its lease from a later time than etcd did.
    KeepaliveBeforeAsked,
    /// The node's etcd adapter reports a resignation done as soon as it
    /// sends the deletion, before etcd has done it (etcd).
    ResignedWhenSent,
}

words!(Defect {
    NeverRelease => "never_release",
    DropGarp => "drop_garp",
    NoDriftMargin => "no_drift_margin",
    SkipRestartWait => "skip_restart_wait",
    KeepaliveBeforeAsked => "keepalive_before_asked",
    ResignedWhenSent => "resigned_when_sent",
});

impl Defect {
    /// The defect called `name`, if any.
    pub fn from_name(name: &str) -> Option<Defect> {
        Defect::ALL.iter().copied().find(|d| d.as_str() == name)
    }

    /// Every word, for messages.
    pub fn one_of() -> OneOf<Defect> {
        OneOf(Defect::ALL)
    }
}

/// One node: its validated core configuration and what the simulator does
/// to its host.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeSpec {
    /// The core's configuration (host facts from [`settings`], the
    /// scenario's cluster settings, this node's priority).
    pub config: Config,
    /// Clock-rate error in parts per million (negative: slow).
    pub drift_ppm: i32,
    /// When the node starts (virtual time).
    pub start_at: Duration,
    /// An injected defect, if any.
    pub defect: Option<Defect>,
    /// A quorum witness: votes, never holds (also in `config`'s members).
    pub witness: bool,
}

/// How the nodes' clocks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriftMode {
    /// Each node at its own `drift_ppm`, all run long.
    Fixed,
    /// At the bound and against the quorum election: the holder's clock
    /// runs `bound.drift_ppm` slow while it holds, every other clock that
    /// much fast.
    Adversarial,
}

words!(DriftMode {
    Fixed => "fixed",
    Adversarial => "adversarial",
});

/// What the world guarantees the nodes, whatever their configs say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorldBound {
    /// The largest clock-rate error of any node, ppm (quorum and etcd: the
    /// file's `election.max_drift`; every `drift_ppm` is within it, and so
    /// is etcd's).
    pub drift_ppm: u32,
    /// How long a holder's kernel fence lets VIP traffic pass after its
    /// lease's end (the file's `election.fence_margin`); zero for VRRP.
    pub fence_leak: Duration,
    /// Latency of the real path added to every host-to-host trip: zero in
    /// virtual time; in TAP mode the bridge, the kernel and the runner's
    /// own scheduling ([`crate::tap::REAL_PATH`]).
    pub real_path: Duration,
}

/// The attacker on the segment (quorum): replays and forged frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AttackSpec {
    /// Frames injected per second (0: no attacker).
    pub rate: u32,
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

/// The DHCP server on the segment and the VIP it leases (`[dhcp]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DhcpSpec {
    /// The VIP MAC every node's lease client uses (and the server maps).
    pub hwaddr: EthernetAddress,
    /// The lease the server grants, whole seconds.
    pub lease_secs: u32,
    /// The server maps the VIP MAC to [`VIP`] (else it leases from
    /// [`DHCP_POOL`] only).
    pub mapped: bool,
    /// T1 and T2 the server sends (options 58, 59), seconds; `None`: it
    /// sends neither and the client takes ½ and ⅞ of the lease.
    pub times: Option<(u32, u32)>,
}

/// The modelled etcd (`protocol = "etcd"`, the `[etcd]` table): each
/// node's path to it and its clock. The lease's TTL is the nodes' own
/// `etcd.lease_ttl` (in their configs); the service grants what is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EtcdSpec {
    /// One-way latency of a node's path to etcd, each way.
    pub delay: Duration,
    /// Extra latency, uniform in `0..=jitter`, per message.
    pub jitter: Duration,
    /// Chance a message on a path is lost, parts per million (a watch
    /// event is sent again instead, one retransmission later).
    pub loss_ppm: u32,
    /// The etcd leader's clock-rate error, ppm (within `election.max_drift`).
    pub drift_ppm: i32,
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
    /// `Command::MoveTo`, given to `node`'s daemon (quorum).
    Move {
        /// The node whose daemon is asked.
        node: usize,
        /// The target member, or `None` for the best other one.
        to: Option<usize>,
    },
    /// A VM pause that freezes the node's clock: no input, no time passes
    /// on its clock (nor on its kernel fence's) until thawed.
    Freeze(usize),
    /// The frozen node runs on from where its clock stopped: one late timeout.
    Thaw(usize),
    /// The node's health check fails: `Command::HealthDown`.
    HealthDown(usize),
    /// The health check passes again: `Command::HealthUp`.
    HealthUp(usize),
    /// `Command::SetPriority`.
    Priority {
        /// Which node.
        node: usize,
        /// New priority.
        priority: u8,
    },
    /// The node's host cannot configure the VIP the next time the core
    /// asks (at once if the node holds it): it tells the core
    /// `Command::VipFailed`, as the daemon does after a failed add.
    VipFail(usize),
    /// The DHCP server stops answering (frames to it are dropped).
    DhcpDown,
    /// The DHCP server answers again, its bindings kept.
    DhcpUp,
    /// The server maps the VIP MAC to this address from now on: the next
    /// renewal of the old one is refused (NAK).
    DhcpRemap(Ipv4Addr),
    /// The node's path to etcd is cut (both ways); its segment link and
    /// its clients are not touched.
    EtcdCut(usize),
    /// The node's path to etcd is whole again.
    EtcdHeal(usize),
    /// The etcd service stops: nothing is answered, every connection breaks.
    EtcdDown,
    /// The etcd service runs again; a new etcd leader gives every lease a
    /// whole TTL.
    EtcdUp,
    /// etcd elects a new leader for this long: requests wait, then the new
    /// leader gives every lease a whole TTL and answers them in order.
    EtcdStall(Duration),
}

/// A fault at a virtual time.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    /// When, from the start of the run.
    pub at: Duration,
    /// What.
    pub kind: FaultKind,
}

/// What became of a `move` fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoveOutcome {
    /// The target held within one round trip plus ε of the holder's release.
    Moved,
    /// The holder did not release (no holder, an invalid or ineligible target).
    Refused,
    /// The holder released but the target did not hold in time.
    Late,
}

words!(MoveOutcome {
    Moved => "moved",
    Refused => "refused",
    Late => "late",
});

/// What the scenario's author expects beyond the invariants.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Expect {
    /// The node that must hold the VIP at the end.
    pub final_holder: Option<usize>,
    /// Expect no holder at all at the end (every node down).
    pub no_final_holder: bool,
    /// The outcome of each `move` fault, in time order (empty: not checked).
    pub moves: Vec<MoveOutcome>,
    /// The distinct addresses the nodes acquired (`AcquireVip`), in the
    /// order of their first acquisition (`None`: not checked).
    pub addresses: Option<Vec<Ipv4Addr>>,
}

/// A validated scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// Short name (the table's first column).
    pub name: String,
    /// One line on what it shows.
    pub description: String,
    /// Election protocol (every node's configuration runs it).
    pub protocol: Protocol,
    /// Per node, index = node number.
    pub nodes: Vec<NodeSpec>,
    /// Virtual length of the run.
    pub duration: Duration,
    /// Root seed.
    pub seed: u64,
    /// Link impairments, every link.
    pub network: LinkSpec,
    /// Clients.
    pub clients: ClientSpec,
    /// Faults, in time order (ties keep file order).
    pub faults: Vec<Fault>,
    /// Extra expectations.
    pub expect: Expect,
    /// How the clocks run.
    pub drift: DriftMode,
    /// What the world guarantees (clock rates, the fence's leak).
    pub bound: WorldBound,
    /// The host's uptime a node's first boot reports (quorum's restart wait).
    pub host_uptime: Duration,
    /// The attacker, if any.
    pub attack: AttackSpec,
    /// The DHCP server and the leased VIP (`None`: the fixed [`VIP`]).
    pub dhcp: Option<DhcpSpec>,
    /// The modelled etcd (`protocol = "etcd"` only).
    pub etcd: Option<EtcdSpec>,
}

/// A scenario rule broken, naming the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    /// The key, as in the file.
    pub field: String,
    /// What is wrong: the rule, and the value where it helps.
    pub message: String,
}

impl std::fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for ScenarioError {}
