//! What one run measured and whether its invariants held, and the table.

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use vip_core::{Duration, Instant};

use crate::check::etcd::HandoverResult;
use crate::check::quorum::{AttackTally, MoveResult};
use crate::check::{Bounds, Violation};
use crate::scenario::Protocol;
use crate::units::ms;

/// What a quorum run adds to its report.
#[derive(Debug, Clone)]
pub struct QuorumFigures {
    /// How long a promise lasts, P.
    pub lease: Duration,
    /// The holder's lease, L (the core's formula, node 0's config).
    pub holder_lease: Duration,
    /// Rounds the liveness bound allows for lost frames and split votes.
    pub rounds: u64,
    /// Every move and what became of it.
    pub moves: Vec<MoveResult>,
    /// VIP frames the fence kept from leaving (past the lease's end).
    pub fenced: u64,
    /// Two-holder time allowed after freezes.
    pub excused: Duration,
    /// Acquisitions, and how many of them had a term not above an earlier
    /// holder's (allowed: too few members remembered it).
    pub acquisitions: usize,
    /// See `acquisitions`.
    pub forgotten_terms: u64,
    /// The attacker's frames and the drops they met.
    pub attack: AttackTally,
}

/// What an etcd run adds to its report.
#[derive(Debug, Clone)]
pub struct EtcdFigures {
    /// The lease's TTL (node 0's config).
    pub ttl: Duration,
    /// The holder's lease L the core computes from it.
    pub holder_lease: Duration,
    /// Keep-alive round trips the liveness bound allows frame loss to cost.
    pub rounds: u64,
    /// Every move and what became of it.
    pub moves: Vec<MoveResult>,
    /// Every time the holder was taken away (a clean stop, a crash, a cut
    /// from etcd, a pause, a freeze) and who followed it.
    pub handovers: Vec<HandoverResult>,
    /// Calls the adapters sent, keep-alives and grants among them.
    pub calls: u64,
    /// See `calls`.
    pub keepalives: u64,
    /// Requests tried again after a failure.
    pub retries: u64,
    /// Watches started (every node's first included).
    pub watch_starts: u64,
    /// Messages lost on the paths to etcd.
    pub lost: u64,
    /// Revisions etcd committed, and how many were a lease's expiry.
    pub revisions: u64,
    /// See `revisions`.
    pub expiries: u64,
    /// VIP frames the fence kept from leaving (past the lease's end).
    pub fenced: u64,
    /// Two-holder time allowed after freezes.
    pub excused: Duration,
    /// Acquisitions.
    pub acquisitions: usize,
}

/// What a run with a DHCP server (`[dhcp]`) adds to its report.
#[derive(Debug, Clone)]
pub struct DhcpFigures {
    /// The lease the server grants, seconds.
    pub lease_secs: u32,
    /// The server maps the VIP MAC to the scenario's VIP.
    pub mapped: bool,
    /// DHCP frames the nodes' cores sent.
    pub frames: u64,
    /// The server's answers: offers, ACKs, NAKs.
    pub answered: [u64; 3],
    /// DHCP client messages that reached the server while it was down.
    pub unanswered: u64,
}

/// The outcome of one scenario run.
#[derive(Debug, Clone)]
pub struct Report {
    /// Scenario name.
    pub name: String,
    /// Election protocol.
    pub protocol: Protocol,
    /// Node count.
    pub nodes: usize,
    /// Root seed.
    pub seed: u64,
    /// Per failover: from the fault that took the holder away to the first
    /// acquisition by another node.
    pub detections: Vec<Duration>,
    /// Longest client-visible gap: from the first lost packet to the first
    /// packet delivered at a different node (send times), over all clients.
    pub gap: Option<Duration>,
    /// Client packets lost after each client's first delivery.
    pub lost: u64,
    /// Client packets delivered.
    pub delivered: u64,
    /// Time with two or more holders.
    pub two_holder_time: Duration,
    /// Time with no holder after the first acquisition.
    pub no_holder_time: Duration,
    /// VRRP adverts sent.
    pub adverts: u64,
    /// Gratuitous ARPs sent.
    pub garps: u64,
    /// Nodes holding the VIP at the end.
    pub final_holders: Vec<usize>,
    /// Broken invariants.
    pub violations: Vec<Violation>,
    /// Broken `[expect]` entries.
    pub expectation_failures: Vec<String>,
    /// Hash of the whole event trace.
    pub trace_hash: u64,
    /// Events processed.
    pub events: u64,
    /// The bounds the invariants were checked with.
    pub bounds: Bounds,
    /// Quorum figures, for a quorum run.
    pub quorum: Option<QuorumFigures>,
    /// Every address a node acquired, in the order of its first acquisition.
    pub addresses: Vec<Ipv4Addr>,
    /// DHCP figures, for a run with a DHCP server.
    pub dhcp: Option<DhcpFigures>,
    /// etcd figures, for an etcd run.
    pub etcd: Option<EtcdFigures>,
    /// When each fault that took the VIP from its holder happened.
    pub failover_faults: Vec<Instant>,
    /// Per failover fault, the longest outage any client saw
    /// ([`failover_outages`]); `None` if traffic never came back.
    pub failover_gaps: Vec<Option<Duration>>,
}

/// One client packet: when it was sent, and whether it was delivered (in
/// TAP mode: answered).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    /// Send time.
    pub at: Instant,
    /// Delivered.
    pub delivered: bool,
}

/// Per failover fault, the longest outage one client saw after it: from
/// the send time of the first packet lost to the send time of the next one
/// delivered, over the outages that begin from `LEAD` before the fault
/// until the next fault of the list (the run's last packet for the last);
/// zero if none was lost, `None` if none was delivered after the loss.
/// Virtual time and TAP mode measure with this one rule, so their figures
/// compare.
pub fn failover_outages(faults: &[Instant], packets: &[Sent]) -> Vec<Option<Duration>> {
    /// A packet in flight at the fault is lost with it.
    const LEAD: Duration = Duration::from_millis(10);
    let mut out = Vec::with_capacity(faults.len());
    for (k, &fault) in faults.iter().enumerate() {
        let from = if fault.total_micros() > LEAD.total_micros() {
            fault - LEAD
        } else {
            Instant::ZERO
        };
        let until = faults.get(k + 1).copied();
        let mut worst = Some(Duration::ZERO);
        let mut lost_since: Option<Instant> = None;
        let mut seen_delivery = false;
        for p in packets {
            if p.at < from {
                seen_delivery |= p.delivered;
                continue;
            }
            if p.delivered {
                seen_delivery = true;
                if let Some(start) = lost_since.take() {
                    let g = p.at - start;
                    worst = worst.map(|w| w.max(g));
                }
                if until.is_some_and(|u| p.at >= u) {
                    break;
                }
            } else if seen_delivery && lost_since.is_none() {
                if until.is_some_and(|u| p.at >= u) {
                    break;
                }
                lost_since = Some(p.at);
            }
        }
        if lost_since.is_some() {
            worst = None;
        }
        out.push(worst);
    }
    out
}

/// The per-failover outages of several clients: the worst of them for
/// each fault (`None` if any client's traffic never came back).
pub fn worst_outages(per_client: &[Vec<Option<Duration>>], faults: usize) -> Vec<Option<Duration>> {
    (0..faults)
        .map(|k| {
            per_client
                .iter()
                .map(|c| c[k])
                .try_fold(Duration::ZERO, |w, g| g.map(|g| w.max(g)))
        })
        .collect()
}

impl Report {
    /// True if every invariant and expectation held.
    pub fn passed(&self) -> bool {
        self.violations.is_empty() && self.expectation_failures.is_empty()
    }

    /// The longest detection time.
    pub fn detection(&self) -> Option<Duration> {
        self.detections.iter().copied().max()
    }

    /// Every problem, one line each.
    pub fn problems(&self) -> Vec<String> {
        self.violations
            .iter()
            .map(|v| v.to_string())
            .chain(self.expectation_failures.iter().cloned())
            .collect()
    }

    /// A multi-line summary of one run.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "scenario:        {} ({}, {} nodes, seed {})",
            self.name,
            self.protocol.as_str(),
            self.nodes,
            self.seed
        );
        let _ = writeln!(s, "detection:       {}", list(&self.detections));
        let _ = writeln!(s, "traffic gap:     {}", opt(self.gap));
        let _ = writeln!(
            s,
            "client packets:  {} delivered, {} lost",
            self.delivered, self.lost
        );
        let _ = writeln!(s, "two holders:     {}", ms(self.two_holder_time));
        let _ = writeln!(s, "no holder:       {}", ms(self.no_holder_time));
        let _ = writeln!(
            s,
            "frames sent:     {} adverts, {} gratuitous ARPs",
            self.adverts, self.garps
        );
        let _ = writeln!(s, "final holder:    {}", holders(&self.final_holders));
        let _ = writeln!(
            s,
            "bounds:          settle {}, arp {}",
            ms(self.bounds.settle),
            ms(self.bounds.arp_settle)
        );
        if let Some(q) = &self.quorum {
            let _ = writeln!(
                s,
                "quorum:          P {}, L {}, liveness bound {} ({} rounds), {} acquisitions ({} with a forgotten term)",
                ms(q.lease),
                ms(q.holder_lease),
                ms(self.bounds.settle),
                q.rounds,
                q.acquisitions,
                q.forgotten_terms
            );
            let _ = writeln!(
                s,
                "fence:           {} VIP frames held back, {} of two holders allowed after a freeze",
                q.fenced,
                ms(q.excused)
            );
            for m in &q.moves {
                let _ = writeln!(s, "move:            {}", m.detail);
            }
            let a = &q.attack;
            if a.replays + a.forged + a.foreign > 0 {
                let _ = writeln!(
                    s,
                    "attacker:        {} replays, {} forged, {} foreign-digest; dropped {} replay, {} epoch, {} auth, {} digest",
                    a.replays, a.forged, a.foreign, a.dropped_replay, a.dropped_epoch, a.dropped_auth, a.dropped_digest
                );
            }
        }
        if let Some(e) = &self.etcd {
            let _ = writeln!(
                s,
                "etcd:            TTL {}, L {}, liveness bound {} ({} rounds), {} acquisitions",
                ms(e.ttl),
                ms(e.holder_lease),
                ms(self.bounds.settle),
                e.rounds,
                e.acquisitions
            );
            let _ = writeln!(
                s,
                "etcd calls:      {} ({} keep-alives), {} retries, {} watches started, {} lost; {} revisions, {} leases expired",
                e.calls, e.keepalives, e.retries, e.watch_starts, e.lost, e.revisions, e.expiries
            );
            let _ = writeln!(
                s,
                "fence:           {} VIP frames held back, {} of two holders allowed after a freeze",
                e.fenced,
                ms(e.excused)
            );
            for m in &e.moves {
                let _ = writeln!(s, "move:            {}", m.detail);
            }
            for t in &e.handovers {
                let _ = writeln!(s, "handover:        {}", t.detail);
            }
        }
        if let Some(d) = &self.dhcp {
            let [offers, acks, naks] = d.answered;
            let _ = writeln!(
                s,
                "dhcp:            {} s leases, {}; {} DHCP frames from the nodes; the server sent {offers} offers, {acks} ACKs, {naks} NAKs ({} requests unanswered while down)",
                d.lease_secs,
                if d.mapped { "mapped" } else { "from the pool" },
                d.frames,
                d.unanswered
            );
            let _ = writeln!(s, "addresses:       {}", addresses(&self.addresses));
        }
        let _ = writeln!(s, "events:          {}", self.events);
        let _ = writeln!(
            s,
            "verdict:         {}",
            if self.passed() { "pass" } else { "FAIL" }
        );
        for p in self.problems() {
            let _ = writeln!(s, "  broken: {p}");
        }
        s
    }
}

fn opt(d: Option<Duration>) -> String {
    d.map_or_else(|| "-".to_string(), ms)
}

fn list(ds: &[Duration]) -> String {
    if ds.is_empty() {
        return "-".to_string();
    }
    ds.iter().map(|&d| ms(d)).collect::<Vec<_>>().join(", ")
}

fn holders(h: &[usize]) -> String {
    if h.is_empty() {
        return "none".to_string();
    }
    h.iter()
        .map(|i| format!("n{i}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn addresses(a: &[Ipv4Addr]) -> String {
    if a.is_empty() {
        return "none".to_string();
    }
    a.iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The catalogue table: one row per report.
pub fn table(reports: &[Report]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<26} {:<8} {:>5} {:>12} {:>12} {:>12} {:>12} {:>8} {:>6} {:>6} {:<7}",
        "scenario",
        "protocol",
        "nodes",
        "detection",
        "gap",
        "dual-holder",
        "no-holder",
        "adverts",
        "garps",
        "final",
        "verdict"
    );
    for r in reports {
        let _ = writeln!(
            s,
            "{:<26} {:<8} {:>5} {:>12} {:>12} {:>12} {:>12} {:>8} {:>6} {:>6} {:<7}",
            r.name,
            r.protocol.as_str(),
            r.nodes,
            opt(r.detection()),
            opt(r.gap),
            ms(r.two_holder_time),
            ms(r.no_holder_time),
            r.adverts,
            r.garps,
            holders(&r.final_holders),
            if r.passed() { "pass" } else { "FAIL" }
        );
    }
    quorum_table(&mut s, reports);
    etcd_table(&mut s, reports);
    dhcp_table(&mut s, reports);
    s
}

/// The table's etcd part: one row per etcd run.
fn etcd_table(s: &mut String, reports: &[Report]) {
    let etcd: Vec<(&Report, &EtcdFigures)> = reports
        .iter()
        .filter_map(|r| r.etcd.as_ref().map(|e| (r, e)))
        .collect();
    if etcd.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "\n{:<26} {:>11} {:>11} {:>18} {:>6} {:>7} {:>7} {:>7} {:>6} {:<20} {:<10}",
        "etcd",
        "TTL",
        "L",
        "B (k rounds)",
        "calls",
        "retries",
        "watches",
        "expired",
        "terms",
        "moves",
        "handovers (stop/loss)"
    );
    for (r, e) in etcd {
        let moves = if e.moves.is_empty() {
            "-".to_string()
        } else {
            e.moves
                .iter()
                .map(|m| m.outcome.as_str())
                .collect::<Vec<_>>()
                .join(",")
        };
        let stops = if e.handovers.is_empty() {
            "-".to_string()
        } else {
            e.handovers
                .iter()
                .map(|t| {
                    let word = if t.clean { "stop" } else { "loss" };
                    format!("{word} {}", t.handed.map_or("-".to_string(), ms))
                })
                .collect::<Vec<_>>()
                .join(",")
        };
        let _ = writeln!(
            s,
            "{:<26} {:>11} {:>11} {:>18} {:>6} {:>7} {:>7} {:>7} {:>6} {:<20} {:<10}",
            r.name,
            ms(e.ttl),
            ms(e.holder_lease),
            format!("{} ({})", ms(r.bounds.settle), e.rounds),
            e.calls,
            e.retries,
            e.watch_starts,
            e.expiries,
            e.acquisitions,
            moves,
            stops
        );
    }
}

/// The table's DHCP part: one row per run with a DHCP server.
fn dhcp_table(s: &mut String, reports: &[Report]) {
    let dhcp: Vec<(&Report, &DhcpFigures)> = reports
        .iter()
        .filter_map(|r| r.dhcp.as_ref().map(|d| (r, d)))
        .collect();
    if dhcp.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "\n{:<26} {:>7} {:<7} {:>6} {:>6} {:>5} {:>5} {:<30}",
        "dhcp", "lease", "mapped", "frames", "offers", "acks", "naks", "addresses"
    );
    for (r, d) in dhcp {
        let [offers, acks, naks] = d.answered;
        let _ = writeln!(
            s,
            "{:<26} {:>7} {:<7} {:>6} {:>6} {:>5} {:>5} {:<30}",
            r.name,
            format!("{} s", d.lease_secs),
            if d.mapped { "yes" } else { "no" },
            d.frames,
            offers,
            acks,
            naks,
            addresses(&r.addresses)
        );
    }
}

/// The table's quorum part: one row per quorum run.
fn quorum_table(s: &mut String, reports: &[Report]) {
    let quorum: Vec<(&Report, &QuorumFigures)> = reports
        .iter()
        .filter_map(|r| r.quorum.as_ref().map(|q| (r, q)))
        .collect();
    if quorum.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "\n{:<26} {:>11} {:>11} {:>17} {:>11} {:>6} {:>6} {:<20} {:<14}",
        "quorum", "P", "L", "B (k rounds)", "freeze-ok", "fenced", "terms", "moves", "attack drops"
    );
    for (r, q) in quorum {
        let moves = if q.moves.is_empty() {
            "-".to_string()
        } else {
            q.moves
                .iter()
                .map(|m| m.outcome.as_str())
                .collect::<Vec<_>>()
                .join(",")
        };
        let a = &q.attack;
        let sent = a.replays + a.forged + a.foreign;
        let attack = if sent == 0 {
            "-".to_string()
        } else {
            let dropped = a.dropped_replay + a.dropped_epoch + a.dropped_auth + a.dropped_digest;
            format!("{dropped}/{sent}")
        };
        let _ = writeln!(
            s,
            "{:<26} {:>11} {:>11} {:>17} {:>11} {:>6} {:>6} {:<20} {:<14}",
            r.name,
            ms(q.lease),
            ms(q.holder_lease),
            format!("{} ({})", ms(r.bounds.settle), q.rounds),
            ms(q.excused),
            q.fenced,
            q.acquisitions,
            moves,
            attack
        );
    }
}

#[cfg(test)]
mod outage_tests {
    use super::*;

    fn packets(every_ms: u64, lost_ms: &[(u64, u64)], until_ms: u64) -> Vec<Sent> {
        (0..until_ms / every_ms)
            .map(|k| {
                let t = k * every_ms;
                Sent {
                    at: Instant::from_millis(t),
                    delivered: !lost_ms.iter().any(|&(a, b)| t >= a && t < b),
                }
            })
            .collect()
    }

    #[test]
    fn an_outage_counts_from_the_first_lost_to_the_next_delivered() {
        let p = packets(5, &[(1000, 1300), (3000, 3020)], 5000);
        let f = [Instant::from_millis(995), Instant::from_millis(2990)];
        assert_eq!(
            failover_outages(&f, &p),
            vec![
                Some(Duration::from_millis(300)),
                Some(Duration::from_millis(20))
            ]
        );
    }

    #[test]
    fn no_loss_is_zero_and_no_return_is_none() {
        let p = packets(5, &[(4000, 5000)], 5000);
        let f = [Instant::from_millis(1000), Instant::from_millis(3990)];
        assert_eq!(failover_outages(&f, &p), vec![Some(Duration::ZERO), None]);
        let worst = worst_outages(
            &[
                failover_outages(&f, &p),
                vec![Some(Duration::from_millis(7)); 2],
            ],
            2,
        );
        assert_eq!(worst, vec![Some(Duration::from_millis(7)), None]);
    }

    #[test]
    fn losses_before_the_first_delivery_are_not_an_outage() {
        let p = packets(5, &[(0, 500)], 2000);
        assert_eq!(
            failover_outages(&[Instant::from_millis(100)], &p),
            vec![Some(Duration::ZERO)]
        );
    }
}
