//! Gratuitous ARP announcer and the VIP's ARP responder decisions.
//!
//! On acquiring, the first announcement leaves in the same step (no tick of
//! delay), then `garp_count - 1` more at `garp_interval`, then, if configured,
//! one every `refresh_interval` (with up to 1/16 seeded jitter so that many
//! nodes do not refresh in lockstep). Another MAC claiming the VIP while we
//! hold it triggers an immediate re-announce, at most one such defence per
//! `garp_interval` so two claimants cannot start an ARP storm.

use core::net::Ipv4Addr;

use crate::config::{AnnounceConfig, GarpForm};
use crate::output::{Event, Outbox, Tx};
use crate::rand::Prng;
use crate::time::{Duration, Instant};
use crate::wire::{ArpOperation, ArpRepr, EthernetAddress};

/// What the responder should do with one valid ARP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArpVerdict {
    /// Not about the VIP, or we do not hold it.
    Ignore,
    /// Answer this request for the VIP.
    Answer {
        /// The requester's MAC.
        hwaddr: EthernetAddress,
        /// The requester's IPv4 address.
        address: Ipv4Addr,
    },
    /// Another MAC claims the VIP.
    Conflict(EthernetAddress),
}

/// Decides what a holder does with an ARP packet; `vip_mac` answers for `vip`.
pub fn classify(
    arp: &ArpRepr,
    vip: Ipv4Addr,
    vip_mac: EthernetAddress,
    answer_requests: bool,
) -> ArpVerdict {
    let ArpRepr::EthernetIpv4 {
        operation,
        source_hardware_addr,
        source_protocol_addr,
        target_protocol_addr,
        ..
    } = *arp
    else {
        return ArpVerdict::Ignore;
    };
    if source_protocol_addr == vip {
        return if source_hardware_addr == vip_mac {
            ArpVerdict::Ignore // our own announcement, looped back
        } else {
            ArpVerdict::Conflict(source_hardware_addr)
        };
    }
    if answer_requests
        && operation == ArpOperation::Request
        && target_protocol_addr == vip
        && !source_protocol_addr.is_unspecified()
    {
        return ArpVerdict::Answer {
            hwaddr: source_hardware_addr,
            address: source_protocol_addr,
        };
    }
    // RFC 5227 probes (sender 0.0.0.0) for the VIP: another host wants it.
    if source_protocol_addr.is_unspecified()
        && target_protocol_addr == vip
        && source_hardware_addr != vip_mac
    {
        // Answering defends the address, as RFC 5227 §2.4 asks.
        if answer_requests {
            return ArpVerdict::Answer {
                hwaddr: source_hardware_addr,
                address: Ipv4Addr::UNSPECIFIED,
            };
        }
    }
    ArpVerdict::Ignore
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Announcing {
    next_at: Option<Instant>,
    burst_left: u8,
}

/// Schedules gratuitous ARPs while this node holds the VIP.
#[derive(Debug, Clone)]
pub(crate) struct Announcer {
    config: AnnounceConfig,
    active: Option<Announcing>,
    /// When a conflict last made us re-announce (the rate limit's anchor).
    last_defence: Option<Instant>,
}

impl Announcer {
    pub(crate) fn new(config: AnnounceConfig) -> Self {
        Announcer {
            config,
            active: None,
            last_defence: None,
        }
    }

    pub(crate) fn is_active(&self) -> bool {
        self.active.is_some()
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.active.and_then(|a| a.next_at)
    }

    /// Starts announcing: the first announcement is queued now.
    pub(crate) fn start(&mut self, now: Instant, prng: &mut Prng, out: &mut Outbox) {
        self.announce(out);
        let burst_left = self.config.garp_count.saturating_sub(1);
        self.active = Some(Announcing {
            next_at: None,
            burst_left,
        });
        self.schedule(now, prng);
    }

    pub(crate) fn stop(&mut self) {
        self.active = None;
        self.last_defence = None;
    }

    pub(crate) fn handle_timeout(&mut self, now: Instant, prng: &mut Prng, out: &mut Outbox) {
        let Some(a) = self.active else { return };
        if a.next_at.is_some_and(|at| now >= at) {
            self.announce(out);
            if let Some(a) = &mut self.active {
                a.burst_left = a.burst_left.saturating_sub(1);
            }
            self.schedule(now, prng);
        }
    }

    /// Another MAC claims the VIP: report it and re-announce (rate-limited).
    pub(crate) fn conflict(&mut self, now: Instant, hwaddr: EthernetAddress, out: &mut Outbox) {
        out.event(Event::Conflict { hwaddr });
        if self.defence_allowed(now) {
            self.announce(out);
        }
    }

    /// Clients may follow another MAC: send a whole new burst (rate-limited
    /// like a conflict's defence).
    pub(crate) fn reassert(&mut self, now: Instant, prng: &mut Prng, out: &mut Outbox) {
        if self.defence_allowed(now) {
            self.announce(out);
            if let Some(a) = &mut self.active {
                a.burst_left = self.config.garp_count.saturating_sub(1);
            }
            self.schedule(now, prng);
        }
    }

    fn defence_allowed(&mut self, now: Instant) -> bool {
        let recent = self
            .last_defence
            .is_some_and(|t| now.saturating_since(t) < self.config.garp_interval);
        let allowed = self.is_active() && !recent;
        if allowed {
            self.last_defence = Some(now);
        }
        allowed
    }

    fn schedule(&mut self, now: Instant, prng: &mut Prng) {
        let Some(a) = &mut self.active else { return };
        a.next_at = if a.burst_left > 0 {
            Some(now + self.config.garp_interval)
        } else if self.config.refresh_interval > Duration::ZERO {
            let r = self.config.refresh_interval;
            let jitter = Duration::from_micros(prng.below(r.total_micros() / 16 + 1));
            Some(now + r.saturating_sub(jitter))
        } else {
            None
        };
    }

    /// Announces the VIP at `to_hwaddr` on behalf of the holder we yielded to.
    pub(crate) fn handover(&self, to_hwaddr: EthernetAddress, out: &mut Outbox) {
        self.each_form(|reply| out.transmit(Tx::Handover { reply, to_hwaddr }));
    }

    fn announce(&mut self, out: &mut Outbox) {
        self.each_form(|reply| out.transmit(Tx::Garp { reply }));
    }

    /// Calls `f(reply)` for each configured form, request first.
    fn each_form(&self, mut f: impl FnMut(bool)) {
        match self.config.form {
            GarpForm::Request => f(false),
            GarpForm::Reply => f(true),
            GarpForm::Both => {
                f(false);
                f(true);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 100);
    const OURS: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 1]);
    const OTHER: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 2]);

    fn arp(op: ArpOperation, sha: EthernetAddress, spa: Ipv4Addr, tpa: Ipv4Addr) -> ArpRepr {
        ArpRepr::EthernetIpv4 {
            operation: op,
            source_hardware_addr: sha,
            source_protocol_addr: spa,
            target_hardware_addr: EthernetAddress([0; 6]),
            target_protocol_addr: tpa,
        }
    }

    #[test]
    fn requests_for_the_vip_are_answered() {
        let client = Ipv4Addr::new(192, 0, 2, 50);
        let a = arp(ArpOperation::Request, OTHER, client, VIP);
        assert_eq!(
            classify(&a, VIP, OURS, true),
            ArpVerdict::Answer {
                hwaddr: OTHER,
                address: client
            }
        );
        assert_eq!(classify(&a, VIP, OURS, false), ArpVerdict::Ignore);
        let b = arp(
            ArpOperation::Request,
            OTHER,
            client,
            Ipv4Addr::new(192, 0, 2, 1),
        );
        assert_eq!(classify(&b, VIP, OURS, true), ArpVerdict::Ignore);
    }

    #[test]
    fn another_claimant_is_a_conflict_and_our_echo_is_not() {
        let garp = arp(ArpOperation::Request, OTHER, VIP, VIP);
        assert_eq!(
            classify(&garp, VIP, OURS, true),
            ArpVerdict::Conflict(OTHER)
        );
        let echo = arp(ArpOperation::Reply, OURS, VIP, VIP);
        assert_eq!(classify(&echo, VIP, OURS, true), ArpVerdict::Ignore);
    }
}
