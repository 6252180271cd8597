//! What the world checks of quorum nodes as they act, from facts no node
//! has: every clock, every promise, every run of a machine.
//!
//! * A promise (an ack or a vote) is checked against what the node had
//!   promised before, its restart wait, and what its earlier runs promised.
//! * A lease extension is checked against the promises that back it, with
//!   the world's worst rates from now on (the lease formula, directly).
//! * An acquisition is checked for the term order the protocol gives, and a
//!   witness never acquires.
//! * With adversarial drift, each acquisition and release sets the clocks:
//!   the holder slow, everyone else fast.

use vip_core::wire::quorum::{MessageType, Packet, Repr};
use vip_core::wire::ETHERNET_HEADER_LEN;
use vip_core::{Duration, ElectionSettings, Instant};

use super::queue::WorldEvent;
use super::World;
use crate::scenario::DriftMode;

/// Parts per million.
const PPM: u128 = 1_000_000;

/// How much the sim's whole-microsecond clocks may round a comparison of
/// two of them.
pub(super) const ROUNDING: Duration = Duration::from_micros(2);

/// The quorum payload of a frame, if it is one.
pub(super) fn quorum_repr(frame: &[u8]) -> Option<Repr> {
    let packet = Packet::new_checked(frame.get(ETHERNET_HEADER_LEN..)?).ok()?;
    Repr::parse(&packet).ok()
}

/// `d` in real time at the slowest rate `rho` allows (the longest), rounded up.
pub(super) fn longest(d: Duration, rho: u32) -> Duration {
    let us = u128::from(d.total_micros()) * PPM;
    let rate = PPM - u128::from(rho).min(PPM - 1);
    Duration::from_micros(u64::try_from(us.div_ceil(rate)).unwrap_or(u64::MAX))
}

/// `d` in real time at the fastest rate `rho` allows (the shortest), rounded down.
pub(super) fn shortest(d: Duration, rho: u32) -> Duration {
    let us = u128::from(d.total_micros()) * PPM;
    let rate = PPM + u128::from(rho);
    Duration::from_micros(u64::try_from(us / rate).unwrap_or(u64::MAX))
}

impl World {
    /// The members' majority.
    fn majority(&self) -> usize {
        self.nodes.len() / 2 + 1
    }

    /// A quorum frame node `i` sends, with what it had promised before the
    /// input: an ack or a vote is a promise, and must be allowed.
    pub(super) fn quorum_sent(&mut self, i: usize, bytes: &[u8], before: Option<(u8, Instant)>) {
        let Some(repr) = quorum_repr(bytes) else {
            return;
        };
        if self.rec.trace.is_some() {
            self.note(format_args!(
                "n{i} says {:?} subject {} term {:#x} seq {}",
                repr.msg_type, repr.subject, repr.term, repr.seq
            ));
        }
        if repr.msg_type == MessageType::VoteRequest {
            self.quorum.requests.push(self.now);
        }
        if !matches!(repr.msg_type, MessageType::Ack | MessageType::Vote) {
            return;
        }
        if repr.msg_type == MessageType::Ack {
            self.lease_copy_acked(i, repr.subject);
        }
        let now = self.now;
        let node = &self.nodes[i];
        let local = node.clock.local(now);
        let s = repr.subject;
        let what = if repr.msg_type == MessageType::Ack {
            "acked"
        } else {
            "voted for"
        };
        let mut broken = Vec::new();
        if let Some((to, until)) = before.filter(|&(to, until)| to != s && local < until) {
            broken.push(format!(
                "n{i} {what} n{s} while promised to n{to} until {until} on its clock"
            ));
        }
        if local < node.wait_until {
            broken.push(format!(
                "n{i} {what} n{s} during its restart wait (until {} on its clock)",
                node.wait_until
            ));
        }
        for &(to, until) in &node.prior_promises {
            if to != s && local < until {
                broken.push(format!(
                    "n{i} {what} n{s} while its previous run's promise to n{to} runs until {until} \
                     on its clock (the restart wait did not outlast it)"
                ));
            }
        }
        let incarnation = node.incarnation;
        for b in broken {
            self.monitor.violation(now, b);
        }
        self.quorum
            .promise(repr.term, repr.echo_epoch, s, i, incarnation);
    }

    /// Holder `h` extended its lease to `until` (its clock): a majority must
    /// be promised to it until its fence closes, at the world's worst rates.
    pub(super) fn check_lease_backing(&mut self, h: usize, until: Instant) {
        let now = self.now;
        let rho = self.scenario.bound.drift_ppm;
        let leak = self.scenario.bound.fence_leak;
        let left = until.saturating_since(self.nodes[h].clock.local(now));
        let fence_closes = now + longest(left, rho) + leak;
        let mut backed = 0;
        for node in &self.nodes {
            let current = node
                .core
                .as_ref()
                .and_then(|c| c.election().as_quorum())
                .and_then(|q| q.promised());
            let end = current
                .into_iter()
                .chain(node.prior_promises.iter().copied())
                .filter(|&(to, _)| usize::from(to) == h)
                .map(|(_, end)| end)
                .max();
            let Some(end) = end else { continue };
            let lasts = now + shortest(end.saturating_since(node.clock.local(now)), rho);
            if lasts + ROUNDING >= fence_closes {
                backed += 1;
            }
        }
        if backed < self.majority() {
            let what = format!(
                "n{h}'s lease to {until} (its fence closes by {fence_closes} at the worst rates) \
                 is backed by {backed} promises lasting as long, fewer than a majority ({})",
                self.majority()
            );
            self.monitor.violation(now, what);
        }
    }

    /// Node `i` acquired (and the host configured the VIP).
    pub(super) fn acquired(&mut self, i: usize) {
        if !self.nodes[i].quorum {
            if self.nodes[i].fenced {
                self.etcd_acquired(i);
            }
            return;
        }
        let now = self.now;
        let address = self.scenario.nodes[i].config.address();
        let core = self.nodes[i].core.as_ref();
        let term = core
            .and_then(|c| c.holder())
            .filter(|h| h.address == address)
            .and_then(|h| h.term)
            .unwrap_or(0);
        let epoch = core
            .and_then(|c| c.election().as_quorum())
            .map_or(0, |q| q.epoch());
        if self.scenario.nodes[i].witness {
            self.monitor
                .violation(now, format!("n{i} is a witness and acquired the VIP"));
        }
        let remembering: Vec<Option<u32>> = self
            .nodes
            .iter()
            .map(|n| n.core.is_some().then_some(n.incarnation))
            .collect();
        let tolerated = self.nodes.len() - self.majority();
        if let Some(what) = self
            .quorum
            .acquire(now, i, (term, epoch), &remembering, tolerated)
        {
            self.monitor.violation(now, what);
        }
        self.monitor.acquired(now);
        self.adversarial_rates();
    }

    /// Node `i` released.
    pub(super) fn released(&mut self, i: usize) {
        if self.nodes[i].quorum {
            self.quorum.release(self.now, i);
            self.adversarial_rates();
        }
    }

    /// With adversarial drift: the holders' clocks slow, every other fast.
    fn adversarial_rates(&mut self) {
        if self.scenario.drift != DriftMode::Adversarial {
            return;
        }
        let rho = i64::from(self.scenario.bound.drift_ppm);
        for j in 0..self.nodes.len() {
            let want = if self.nodes[j].vip_on { -rho } else { rho };
            if self.nodes[j].clock.ppm() != want {
                let now = self.now;
                self.nodes[j].clock.set_rate(now, want);
                self.reclock(j);
            }
        }
    }

    /// Node `j`'s clock changed: its timer and fence follow.
    pub(super) fn reclock(&mut self, j: usize) {
        let now = self.now;
        let leak = self.scenario.bound.fence_leak;
        let before = self.nodes[j].fence.and_then(|f| f.closes_at);
        self.nodes[j].reclock(now, leak);
        let after = self.nodes[j].fence.and_then(|f| f.closes_at);
        if let Some(at) = after.filter(|&a| Some(a) != before && a > now) {
            self.push(at, WorldEvent::Recheck);
        }
        self.picture_dirty = true;
        self.arm_node(j);
    }

    /// The VM of node `i` pauses: its clock, timers and fence stop.
    pub(super) fn freeze(&mut self, i: usize) {
        let now = self.now;
        self.nodes[i].clock.freeze(now);
        self.nodes[i].armed = None;
        self.reclock(i);
    }

    /// The VM of node `i` runs again from where its clock stopped. A quorum
    /// or etcd holder may still hold under the lease it had (at most L on
    /// its clock, plus the fence's leak): that overlap is allowed until then.
    pub(super) fn thaw(&mut self, i: usize) {
        let now = self.now;
        self.etcd_thawed(i, self.nodes[i].clock.local(now));
        self.nodes[i].clock.thaw(now);
        self.reclock(i);
        let holder_lease = match self.scenario.nodes[i].config.election() {
            ElectionSettings::Quorum(q) => Some(q.holder_lease()),
            ElectionSettings::Etcd(e) => Some(e.holder_lease()),
            ElectionSettings::Vrrp(_) => None,
        };
        if let Some(lease) = holder_lease {
            let rho = self.scenario.bound.drift_ppm;
            let until = now + longest(lease, rho) + self.scenario.bound.fence_leak;
            self.nodes[i].excused_until = Some(until);
            self.push(until, WorldEvent::Recheck);
            // Until it steps down it may defend the VIP, and the holder's
            // answer waits out the announcer's rate limit. Under etcd no
            // frame tells the holder when the thawed node stepped down, so
            // a client it drew last finds the holder by its own ARP
            // (docs/simulator.md, "What the etcd checks found").
            let mut defence = self.scenario.nodes[i].config.announce().garp_interval;
            if self.etcd.is_some() {
                defence = defence + crate::check::bounds::recovery(&self.scenario);
            }
            self.monitor.arp_allow(now, until + defence);
        }
    }

    /// Node `i`'s core goes (crash, stop, restart): what it promised is
    /// kept for the checks of its next run.
    pub(super) fn forget_core(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        let promised = node
            .core
            .take()
            .and_then(|c| c.election().as_quorum().and_then(|q| q.promised()));
        let local = node.clock.local(self.now);
        node.prior_promises.retain(|&(_, end)| end > local);
        if let Some(p) = promised.filter(|&(_, end)| end > local) {
            node.prior_promises.push(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worst_rates_round_against_the_holder() {
        let d = Duration::from_micros(1_000_000);
        assert_eq!(longest(d, 500).total_micros(), 1_000_501);
        assert_eq!(shortest(d, 500).total_micros(), 999_500);
        assert_eq!(longest(d, 0), d);
        assert_eq!(shortest(d, 0), d);
    }
}
