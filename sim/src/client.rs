//! A client host: a Linux-like neighbour entry for the VIP and a steady
//! stream of UDP packets to it.
//!
//! The entry follows the kernel's states (`ip neigh`): INCOMPLETE (broadcast
//! requests every `retrans_time` = 1 s, FAILED after 3 unanswered), REACHABLE
//! for a random `[0.5, 1.5] × base_reachable_time`, then STALE; the first
//! packet sent while STALE starts DELAY (5 s), then PROBE (3 unicast requests
//! 1 s apart, FAILED if none is answered). A packet sent with no usable entry
//! is dropped (the kernel's unresolved queue is not modelled). Gratuitous ARP
//! (any ARP with sender address = VIP that is not a reply addressed to us)
//! updates an entry that exists and never creates one (`arp_accept = 0`).

use std::net::Ipv4Addr;

use vip_core::rand::Prng;
use vip_core::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
};
use vip_core::{Duration, Instant};

/// Linux `retrans_time`.
pub const RETRANS_TIME: Duration = Duration::from_secs(1);
/// Linux `delay_first_probe_time`.
pub const DELAY_FIRST_PROBE: Duration = Duration::from_secs(5);
/// Linux `mcast_solicit` and `ucast_solicit`.
pub const SOLICIT: u8 = 3;
/// UDP destination port of client traffic.
pub const TRAFFIC_PORT: u16 = 9000;

/// The state of the client's neighbour entry for the VIP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Neigh {
    /// No entry.
    None,
    /// Resolving by broadcast.
    Incomplete {
        /// Requests sent so far.
        sent: u8,
        /// When the next is due.
        next_at: Instant,
    },
    /// Confirmed recently.
    Reachable {
        /// The VIP's MAC.
        mac: EthernetAddress,
        /// When it turns stale.
        until: Instant,
    },
    /// Usable, unconfirmed.
    Stale {
        /// The VIP's MAC.
        mac: EthernetAddress,
    },
    /// Used while stale; probing starts at `until`.
    Delay {
        /// The VIP's MAC.
        mac: EthernetAddress,
        /// When probing starts.
        until: Instant,
    },
    /// Unicast probing.
    Probe {
        /// The VIP's MAC.
        mac: EthernetAddress,
        /// Probes sent.
        sent: u8,
        /// When the next is due.
        next_at: Instant,
    },
    /// Resolution failed; the next packet starts over.
    Failed,
}

impl Neigh {
    /// The MAC packets go to, if the entry has one.
    pub fn mac(&self) -> Option<EthernetAddress> {
        match *self {
            Neigh::Reachable { mac, .. }
            | Neigh::Stale { mac }
            | Neigh::Delay { mac, .. }
            | Neigh::Probe { mac, .. } => Some(mac),
            Neigh::None | Neigh::Incomplete { .. } | Neigh::Failed => None,
        }
    }
}

/// A frame a client sends: bytes plus, for traffic, its sequence number.
#[derive(Debug, Clone, Copy)]
pub struct ClientTx {
    /// The frame (always the 60-byte minimum).
    pub bytes: [u8; 60],
    /// `Some(seq)` for a traffic packet.
    pub seq: Option<u32>,
}

/// One client host.
#[derive(Debug)]
pub struct Client {
    /// Its MAC.
    pub mac: EthernetAddress,
    /// Its IPv4 address.
    pub address: Ipv4Addr,
    vip: Ipv4Addr,
    index: u32,
    entry: Neigh,
    prng: Prng,
    period: Option<Duration>,
    next_send: Instant,
    base_reachable: Duration,
    /// Per sequence number: 0 = lost, k + 1 = first delivered at node k.
    pub outcomes: Vec<u32>,
    /// When each packet was sent, by sequence number.
    pub sent_at: Vec<Instant>,
}

impl Client {
    /// A client that starts sending at `start`, `rate` packets per second.
    pub fn new(
        index: u32,
        vip: Ipv4Addr,
        rate: u32,
        base_reachable: Duration,
        seed: u64,
        start: Instant,
    ) -> Client {
        Client {
            mac: client_mac(index),
            address: client_address(index),
            vip,
            index,
            entry: Neigh::None,
            prng: Prng::new(seed),
            period: (rate > 0).then(|| Duration::from_micros(1_000_000 / u64::from(rate))),
            next_send: start,
            base_reachable,
            outcomes: Vec::new(),
            sent_at: Vec::new(),
        }
    }

    /// The neighbour entry for the VIP.
    pub fn entry(&self) -> Neigh {
        self.entry
    }

    /// When the client next needs a wake-up.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let timer = match self.entry {
            Neigh::Incomplete { next_at, .. } | Neigh::Probe { next_at, .. } => Some(next_at),
            Neigh::Delay { until, .. } => Some(until),
            _ => None,
        };
        let send = self.period.map(|_| self.next_send);
        match (timer, send) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Runs timers and sends what is due at `now`; frames go to `out`.
    pub fn handle_timeout(&mut self, now: Instant, out: &mut Vec<ClientTx>) {
        match self.entry {
            Neigh::Incomplete { sent, next_at } if now >= next_at => {
                if sent >= SOLICIT {
                    self.entry = Neigh::Failed;
                } else {
                    out.push(self.arp_request(None));
                    self.entry = Neigh::Incomplete {
                        sent: sent + 1,
                        next_at: now + RETRANS_TIME,
                    };
                }
            }
            Neigh::Delay { mac, until } if now >= until => {
                out.push(self.arp_request(Some(mac)));
                self.entry = Neigh::Probe {
                    mac,
                    sent: 1,
                    next_at: now + RETRANS_TIME,
                };
            }
            Neigh::Probe { mac, sent, next_at } if now >= next_at => {
                if sent >= SOLICIT {
                    self.entry = Neigh::Failed;
                } else {
                    out.push(self.arp_request(Some(mac)));
                    self.entry = Neigh::Probe {
                        mac,
                        sent: sent + 1,
                        next_at: now + RETRANS_TIME,
                    };
                }
            }
            _ => {}
        }
        if let Some(period) = self.period {
            if now >= self.next_send {
                self.send_packet(now, out);
                self.next_send += period;
            }
        }
    }

    /// Handles a frame the switch delivered.
    pub fn handle_frame(&mut self, now: Instant, frame: &[u8]) {
        let Ok(eth) = EthernetFrame::new_checked(frame) else {
            return;
        };
        if eth.ethertype() != EthernetProtocol::Arp {
            return;
        }
        let Ok(ArpRepr::EthernetIpv4 {
            operation,
            source_hardware_addr: sha,
            source_protocol_addr: spa,
            target_hardware_addr: tha,
            ..
        }) = ArpPacket::new_checked(eth.payload()).and_then(|p| ArpRepr::parse(&p))
        else {
            return;
        };
        if spa != self.vip {
            return;
        }
        let to_us =
            operation == ArpOperation::Reply && tha == self.mac && eth.dst_addr() == self.mac;
        if to_us {
            if self.entry != Neigh::None {
                self.entry = Neigh::Reachable {
                    mac: sha,
                    until: now + self.reachable_time(),
                };
            }
            return;
        }
        // Gratuitous: update an existing entry, never create one.
        self.entry = match self.entry {
            Neigh::None => Neigh::None,
            e if e.mac() == Some(sha) => e,
            _ => Neigh::Stale { mac: sha },
        };
    }

    fn reachable_time(&mut self) -> Duration {
        let base = self.base_reachable.total_micros();
        Duration::from_micros(base / 2 + self.prng.below(base + 1))
    }

    fn send_packet(&mut self, now: Instant, out: &mut Vec<ClientTx>) {
        let seq = self.outcomes.len() as u32;
        self.outcomes.push(0);
        self.sent_at.push(now);
        if let Neigh::Reachable { mac, until } = self.entry {
            if now >= until {
                self.entry = Neigh::Stale { mac };
            }
        }
        let mac = match self.entry {
            Neigh::Reachable { mac, .. } | Neigh::Delay { mac, .. } | Neigh::Probe { mac, .. } => {
                mac
            }
            Neigh::Stale { mac } => {
                self.entry = Neigh::Delay {
                    mac,
                    until: now + DELAY_FIRST_PROBE,
                };
                mac
            }
            Neigh::None | Neigh::Failed => {
                out.push(self.arp_request(None));
                self.entry = Neigh::Incomplete {
                    sent: 1,
                    next_at: now + RETRANS_TIME,
                };
                return;
            }
            Neigh::Incomplete { .. } => return,
        };
        out.push(ClientTx {
            bytes: self.udp_frame(mac, seq),
            seq: Some(seq),
        });
    }

    /// An ARP request for the VIP: broadcast, or unicast to `probe`.
    fn arp_request(&self, probe: Option<EthernetAddress>) -> ClientTx {
        let mut bytes = [0u8; 60];
        let dst = probe.unwrap_or(EthernetAddress::BROADCAST);
        bytes[0..6].copy_from_slice(&dst.0);
        bytes[6..12].copy_from_slice(&self.mac.0);
        bytes[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
        let repr = ArpRepr::EthernetIpv4 {
            operation: ArpOperation::Request,
            source_hardware_addr: self.mac,
            source_protocol_addr: self.address,
            target_hardware_addr: EthernetAddress([0; 6]),
            target_protocol_addr: self.vip,
        };
        repr.emit(&mut ArpPacket::new_unchecked(&mut bytes[14..42]));
        ClientTx { bytes, seq: None }
    }

    /// An IPv4/UDP packet to the VIP carrying (client, seq); UDP checksum 0.
    fn udp_frame(&self, mac: EthernetAddress, seq: u32) -> [u8; 60] {
        let mut b = [0u8; 60];
        b[0..6].copy_from_slice(&mac.0);
        b[6..12].copy_from_slice(&self.mac.0);
        b[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
        let ip = &mut b[14..34];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&36u16.to_be_bytes());
        ip[4..6].copy_from_slice(&(seq as u16).to_be_bytes());
        ip[6] = 0x40; // don't fragment
        ip[8] = 64;
        ip[9] = 17;
        ip[12..16].copy_from_slice(&self.address.octets());
        ip[16..20].copy_from_slice(&self.vip.octets());
        let sum = ipv4_checksum(ip);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        let udp = &mut b[34..50];
        udp[0..2].copy_from_slice(&(40_000 + self.index as u16).to_be_bytes());
        udp[2..4].copy_from_slice(&TRAFFIC_PORT.to_be_bytes());
        udp[4..6].copy_from_slice(&16u16.to_be_bytes());
        udp[8..12].copy_from_slice(&self.index.to_be_bytes());
        udp[12..16].copy_from_slice(&seq.to_be_bytes());
        b
    }
}

/// The MAC of client `index`: `02:00:00:00:01:xx`.
pub fn client_mac(index: u32) -> EthernetAddress {
    EthernetAddress([0x02, 0, 0, 0, 1, index as u8])
}

/// The IPv4 address of client `index`.
pub fn client_address(index: u32) -> Ipv4Addr {
    Ipv4Addr::new(192, 0, 2, 201 + index as u8)
}

fn ipv4_checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header
        .chunks_exact(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 250);
    const A: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 1]);
    const B: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 2]);

    fn arp(
        op: ArpOperation,
        sha: EthernetAddress,
        dst: EthernetAddress,
        tha: EthernetAddress,
    ) -> [u8; 60] {
        let mut bytes = [0u8; 60];
        bytes[0..6].copy_from_slice(&dst.0);
        bytes[6..12].copy_from_slice(&sha.0);
        bytes[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
        ArpRepr::EthernetIpv4 {
            operation: op,
            source_hardware_addr: sha,
            source_protocol_addr: VIP,
            target_hardware_addr: tha,
            target_protocol_addr: VIP,
        }
        .emit(&mut ArpPacket::new_unchecked(&mut bytes[14..42]));
        bytes
    }

    #[test]
    fn resolves_then_follows_gratuitous_arp_and_ages() {
        let t0 = Instant::ZERO;
        let mut c = Client::new(0, VIP, 100, Duration::from_secs(30), 1, t0);
        let mut out = Vec::new();
        c.handle_timeout(t0, &mut out);
        assert!(matches!(c.entry(), Neigh::Incomplete { sent: 1, .. }));
        assert_eq!(out.len(), 1);
        // A gratuitous ARP does not create... but the entry exists (INCOMPLETE): it updates.
        let reply = arp(ArpOperation::Reply, A, c.mac, c.mac);
        c.handle_frame(t0 + Duration::from_millis(1), &reply);
        assert!(matches!(c.entry(), Neigh::Reachable { mac: A, .. }));
        let garp = arp(
            ArpOperation::Request,
            B,
            EthernetAddress::BROADCAST,
            EthernetAddress([0; 6]),
        );
        c.handle_frame(t0 + Duration::from_millis(2), &garp);
        assert_eq!(c.entry(), Neigh::Stale { mac: B });
        out.clear();
        c.handle_timeout(t0 + Duration::from_millis(10), &mut out);
        assert!(matches!(c.entry(), Neigh::Delay { mac: B, .. }));
        assert_eq!(out.len(), 1, "the packet went out to B");
        assert_eq!(&out[0].bytes[0..6], &B.0);
    }

    #[test]
    fn gratuitous_arp_does_not_create_an_entry() {
        let mut c = Client::new(0, VIP, 0, Duration::from_secs(30), 1, Instant::ZERO);
        let garp = arp(
            ArpOperation::Request,
            B,
            EthernetAddress::BROADCAST,
            EthernetAddress([0; 6]),
        );
        c.handle_frame(Instant::ZERO, &garp);
        assert_eq!(c.entry(), Neigh::None);
    }

    #[test]
    fn unanswered_resolution_fails_after_three_requests_then_restarts() {
        let mut c = Client::new(0, VIP, 1, Duration::from_secs(30), 1, Instant::ZERO);
        let mut out = Vec::new();
        let mut t = Instant::ZERO;
        c.handle_timeout(t, &mut out);
        for _ in 0..2 {
            t += RETRANS_TIME;
            c.handle_timeout(t, &mut out);
        }
        assert_eq!(out.iter().filter(|f| f.seq.is_none()).count(), 3);
        assert!(matches!(c.entry(), Neigh::Incomplete { sent: 3, .. }));
        // The third request goes unanswered: FAILED, and the packet due at
        // the same instant starts a new resolution, as Linux does.
        t += RETRANS_TIME;
        c.handle_timeout(t, &mut out);
        assert_eq!(out.iter().filter(|f| f.seq.is_none()).count(), 4);
        assert!(matches!(c.entry(), Neigh::Incomplete { sent: 1, .. }));
        assert!(c.outcomes.iter().all(|&o| o == 0));
    }
}
