//! The layer-2 segment: one switch with MAC learning and flooding, and one
//! impaired link per port (node, client or DHCP server).
//!
//! A frame crosses two links: the sender's uplink to the switch and the
//! receiver's downlink from it. Each traversal draws, from the port's own
//! seeded PRNG: loss (`loss_ppm` plus any loss burst on that port), latency
//! `delay + uniform(0..=jitter)`, with `reorder_ppm` chance of an extra
//! `reorder_delay`, and `duplicate_ppm` chance of a second copy (its own
//! latency draw). A partition splits the switch: it forwards a frame only to
//! ports in the ingress port's group. A port that is down neither sends nor
//! receives. The MAC table never ages out (a dead host's MAC keeps its port),
//! as with a switch whose ageing time is longer than the run.

use std::collections::BTreeMap;
use std::rc::Rc;

use vip_core::rand::Prng;
use vip_core::wire::EthernetAddress;
use vip_core::{Duration, Instant};

use crate::scenario::LinkSpec;

/// A frame in flight: shared bytes plus a simulator tag for client traffic.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Unique per frame entering the world (copies share it).
    pub id: u64,
    /// The whole Ethernet frame.
    pub bytes: Rc<[u8]>,
    /// `(client, seq)` for a client's traffic packet.
    pub tag: Option<(u16, u32)>,
}

/// A loss burst currently in force.
#[derive(Debug, Clone)]
pub struct Burst {
    /// When it ends.
    pub until: Instant,
    /// Extra loss, parts per million.
    pub loss_ppm: u32,
    /// Affected ports; empty: all.
    pub ports: Vec<u16>,
}

/// One switch port and the link behind it.
#[derive(Debug)]
pub struct Port {
    /// Carrier.
    pub up: bool,
    /// Partition group (0 when whole).
    pub group: u16,
    /// Impairment draws.
    pub prng: Prng,
}

/// The switch: ports, MAC table, partition state and bursts.
#[derive(Debug)]
pub struct Switch {
    /// Ports: nodes first, then clients, then the DHCP server (if any).
    pub ports: Vec<Port>,
    link: LinkSpec,
    table: BTreeMap<[u8; 6], u16>,
    /// Loss bursts in force.
    pub bursts: Vec<Burst>,
    /// Frames lost on links (all causes).
    pub lost: u64,
}

/// Outcome of one link traversal: up to two arrival times.
pub type Arrivals = [Option<Instant>; 2];

impl Switch {
    /// A switch with one port per seed.
    pub fn new(link: LinkSpec, seeds: impl Iterator<Item = u64>) -> Switch {
        Switch {
            ports: seeds
                .map(|s| Port {
                    up: true,
                    group: 0,
                    prng: Prng::new(s),
                })
                .collect(),
            link,
            table: BTreeMap::new(),
            bursts: Vec::new(),
            lost: 0,
        }
    }

    /// Draws one traversal of `port`'s link starting at `now`.
    pub fn traverse(&mut self, port: u16, now: Instant) -> Arrivals {
        let link = self.link;
        let mut loss = link.loss_ppm;
        for b in &self.bursts {
            if now < b.until && (b.ports.is_empty() || b.ports.contains(&port)) {
                loss = loss.max(b.loss_ppm);
            }
        }
        let p = &mut self.ports[port as usize];
        if !p.up {
            self.lost += 1;
            return [None, None];
        }
        if loss > 0 && p.prng.chance_ppm(loss) {
            self.lost += 1;
            return [None, None];
        }
        let latency = |prng: &mut Prng| {
            let mut d = link.delay;
            if link.jitter > Duration::ZERO {
                d = d + Duration::from_micros(prng.below(link.jitter.total_micros() + 1));
            }
            if link.reorder_ppm > 0 && prng.chance_ppm(link.reorder_ppm) {
                d = d + link.reorder_delay;
            }
            now + d
        };
        let first = latency(&mut p.prng);
        let dup = link.duplicate_ppm > 0 && p.prng.chance_ppm(link.duplicate_ppm);
        let second = dup.then(|| latency(&mut p.prng));
        [Some(first), second]
    }

    /// Learns the source MAC and returns the egress ports for a frame that
    /// reached the switch on `ingress`, into `out`.
    pub fn forward(&mut self, ingress: u16, frame: &[u8], out: &mut Vec<u16>) {
        out.clear();
        if frame.len() < 14 || !self.ports[ingress as usize].up {
            return;
        }
        let mut dst = [0u8; 6];
        dst.copy_from_slice(&frame[0..6]);
        let mut src = [0u8; 6];
        src.copy_from_slice(&frame[6..12]);
        if src[0] & 1 == 0 {
            self.table.insert(src, ingress);
        }
        let group = self.ports[ingress as usize].group;
        if dst[0] & 1 == 0 {
            if let Some(&p) = self.table.get(&dst) {
                if p != ingress && self.ports[p as usize].group == group {
                    out.push(p);
                }
                return;
            }
        }
        for (i, p) in self.ports.iter().enumerate() {
            let i = i as u16;
            if i != ingress && p.group == group {
                out.push(i);
            }
        }
    }

    /// The port the switch learned `mac` on, if it has.
    pub fn port_of(&self, mac: EthernetAddress) -> Option<u16> {
        self.table.get(&mac.0).copied()
    }

    /// Puts each port in its group.
    pub fn partition(&mut self, group_of_port: &[u16]) {
        for (p, &g) in self.ports.iter_mut().zip(group_of_port) {
            p.group = g;
        }
    }

    /// Makes the segment whole.
    pub fn heal(&mut self) {
        for p in &mut self.ports {
            p.group = 0;
        }
    }

    /// Drops bursts that ended by `now`.
    pub fn expire_bursts(&mut self, now: Instant) {
        self.bursts.retain(|b| b.until > now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link() -> LinkSpec {
        LinkSpec {
            delay: Duration::from_micros(100),
            jitter: Duration::ZERO,
            loss_ppm: 0,
            duplicate_ppm: 0,
            reorder_ppm: 0,
            reorder_delay: Duration::ZERO,
        }
    }

    fn frame(dst: [u8; 6], src: [u8; 6]) -> Vec<u8> {
        let mut f = vec![0u8; 60];
        f[0..6].copy_from_slice(&dst);
        f[6..12].copy_from_slice(&src);
        f
    }

    #[test]
    fn learns_floods_and_respects_partitions() {
        let mut s = Switch::new(link(), 0..4);
        let mut out = Vec::new();
        let a = [2, 0, 0, 0, 0, 1];
        let b = [2, 0, 0, 0, 0, 2];
        s.forward(0, &frame(b, a), &mut out);
        assert_eq!(out, [1, 2, 3], "unknown unicast floods");
        s.forward(1, &frame(a, b), &mut out);
        assert_eq!(out, [0], "learned");
        s.partition(&[0, 1, 1, 0]);
        s.forward(1, &frame(a, b), &mut out);
        assert!(out.is_empty(), "a is across the partition");
        s.forward(3, &frame([0xff; 6], [2, 0, 0, 0, 0, 4]), &mut out);
        assert_eq!(out, [0]);
    }

    #[test]
    fn down_ports_lose_frames() {
        let mut s = Switch::new(link(), 0..2);
        assert_eq!(
            s.traverse(0, Instant::ZERO)[0],
            Some(Instant::from_micros(100))
        );
        s.ports[0].up = false;
        assert_eq!(s.traverse(0, Instant::ZERO), [None, None]);
    }
}
