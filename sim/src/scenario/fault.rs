//! Reading `[[fault]]` entries: each kind's word and the keys it needs,
//! every problem naming `fault[k].<key>`.

use vip_core::config::limits;
use vip_core::config::text::Refusals;
use vip_core::config::{Named, OneOf};
use vip_core::Duration;

use super::raw::RawFault;
use super::read::{clients_aim, Problems};
use super::{Fault, FaultKind, VIP};

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
    Word("move"),
    Word("freeze"),
    Word("thaw"),
    Word("health_down"),
    Word("health_up"),
    Word("dhcp_down"),
    Word("dhcp_up"),
    Word("dhcp_remap"),
    Word("etcd_cut"),
    Word("etcd_heal"),
    Word("etcd_down"),
    Word("etcd_up"),
    Word("etcd_stall"),
];

/// What a fault may name: the scenario's nodes and clients, and whether
/// it has a DHCP server and the modelled etcd.
#[derive(Debug, Clone, Copy)]
pub(super) struct Shape {
    /// Nodes.
    pub nodes: usize,
    /// Clients.
    pub clients: usize,
    /// A `[dhcp]` server.
    pub dhcp: bool,
    /// `protocol = "etcd"`.
    pub etcd: bool,
}

impl Problems {
    /// Fault `k` of a scenario `s`; `None` for an unknown kind.
    pub(super) fn fault(&mut self, k: usize, f: &RawFault, s: Shape) -> Option<Fault> {
        let Shape {
            nodes: n,
            clients,
            dhcp,
            etcd,
        } = s;
        let at = self.duration(&format!("fault[{k}].at"), Some(&f.at), Duration::ZERO);
        let field = format!("fault[{k}].node");
        let known = FAULT_KINDS.iter().any(|w| w.0 == f.kind);
        if f.kind.starts_with("dhcp_") && !dhcp && known {
            let message = format!(
                "{} acts on the DHCP server, and this scenario has none: add a [dhcp] table",
                f.kind
            );
            self.fail(format!("fault[{k}].kind"), message);
        }
        if f.kind.starts_with("etcd_") && !etcd && known {
            let message = format!(
                "{} acts on the modelled etcd: only with protocol = \"etcd\"",
                f.kind
            );
            self.fail(format!("fault[{k}].kind"), message);
        }
        let kind = match f.kind.as_str() {
            "crash" => FaultKind::Crash(self.node(&field, f.node, n)),
            "stop" => FaultKind::Stop(self.node(&field, f.node, n)),
            "restart" => FaultKind::Restart(self.node(&field, f.node, n)),
            "pause" => FaultKind::Pause(self.node(&field, f.node, n)),
            "resume" => FaultKind::Resume(self.node(&field, f.node, n)),
            "link_down" => FaultKind::LinkDown(self.node(&field, f.node, n)),
            "link_up" => FaultKind::LinkUp(self.node(&field, f.node, n)),
            "vip_fail" => FaultKind::VipFail(self.node(&field, f.node, n)),
            "freeze" => FaultKind::Freeze(self.node(&field, f.node, n)),
            "thaw" => FaultKind::Thaw(self.node(&field, f.node, n)),
            "health_down" => FaultKind::HealthDown(self.node(&field, f.node, n)),
            "health_up" => FaultKind::HealthUp(self.node(&field, f.node, n)),
            "move" => FaultKind::Move {
                node: self.node(&field, f.node, n),
                to: f
                    .to
                    .map(|t| self.node(&format!("fault[{k}].to"), Some(t), n)),
            },
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
            "etcd_cut" => FaultKind::EtcdCut(self.node(&field, f.node, n)),
            "etcd_heal" => FaultKind::EtcdHeal(self.node(&field, f.node, n)),
            "etcd_down" => FaultKind::EtcdDown,
            "etcd_up" => FaultKind::EtcdUp,
            "etcd_stall" => FaultKind::EtcdStall(self.duration(
                &format!("fault[{k}].duration"),
                f.duration.as_deref(),
                Duration::from_secs(1),
            )),
            "dhcp_down" => FaultKind::DhcpDown,
            "dhcp_up" => FaultKind::DhcpUp,
            "dhcp_remap" => {
                let field = format!("fault[{k}].address");
                if f.address.is_none() {
                    self.fail(
                        &field,
                        "this fault needs an address (the VIP MAC's new mapping)",
                    );
                }
                let address = self.address(&field, f.address.as_deref()).unwrap_or(VIP);
                if dhcp && address != VIP && clients > 0 {
                    self.fail(field, clients_aim());
                }
                FaultKind::DhcpRemap(address)
            }
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
