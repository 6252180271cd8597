//! The world's side of TAP mode (`sim tap`): the same hosts, cores, links
//! and faults, with the real Linux bridge for the switch and real time
//! for the clock.
//!
//! Sans-IO, like the core: the world never touches a device. The runner in
//! [`crate::tap`] reads the clock, calls [`World::advance`] with the time,
//! hands in each frame a TAP device delivered ([`World::bridge_frame`]), and
//! carries out what [`World::take_tap`] gives back: frames to write to the
//! TAP devices and changes to make on the bridge.
//!
//! What changes from virtual time: a frame a host sends still crosses its
//! uplink (loss, delay, jitter, bursts, a down port), and then goes to its
//! TAP device instead of the virtual switch; the bridge forwards it, and a
//! frame the bridge delivers to a host's TAP crosses that host's downlink.
//! Partitions and carrier changes are made on the bridge as well as on the
//! virtual ports. The virtual clients are left out: real client namespaces
//! replace them, and a holder's host answers their UDP (and ICMP echo)
//! packets to the VIP as the kernel's echo service would.

use std::collections::VecDeque;
use std::rc::Rc;

use vip_core::{Duration, Instant};

use super::queue::WorldEvent;
use super::World;
use crate::client::TRAFFIC_PORT;
use crate::net::Frame;
use crate::scenario::{Scenario, DHCP_SERVER_MAC};

/// A change the runner makes on the bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BridgeOp {
    /// Port `port`'s TAP device loses or regains its carrier.
    Carrier {
        /// The port (its TAP device is `tap<port>`).
        port: u16,
        /// Up again.
        up: bool,
    },
    /// The segment splits: each port joins its group's bridge; the real
    /// clients stay on the bridge of group `clients_group`.
    Groups {
        /// The group of every simulated port (nodes, then the DHCP server).
        group_of_port: Vec<u16>,
        /// The clients' group.
        clients_group: u16,
    },
}

/// What the world owes the runner.
#[derive(Debug, Default)]
pub struct TapOut {
    /// Frames for the TAP devices, in order: (port, bytes).
    pub frames: Vec<(u16, Vec<u8>)>,
    /// Changes to make on the bridge, in order.
    pub ops: Vec<BridgeOp>,
}

/// The world's TAP-mode state.
#[derive(Debug, Default)]
pub(super) struct TapSide {
    out: TapOut,
    /// Frames from real hosts recorded lately (a broadcast reaches every
    /// TAP device; the capture keeps one copy).
    recent: VecDeque<(Instant, Rc<[u8]>)>,
    /// Echo replies sent for real clients.
    pub(super) echoes: u64,
}

/// How long a frame from a real host counts as the same frame for the
/// capture when another TAP device delivers it again.
const SAME_FRAME: Duration = Duration::from_millis(20);

impl World {
    /// A world for TAP mode: the scenario's virtual clients are left out
    /// (the runner's real clients replace them), and every bound allows
    /// `real_path` more per host-to-host trip.
    pub fn new_tap(mut scenario: Scenario, rec: super::Recording, real_path: Duration) -> World {
        scenario.clients.count = 0;
        scenario.bound.real_path = real_path;
        let mut world = World::new(scenario, rec);
        world.tap = Some(TapSide::default());
        world
    }

    /// The instant of the next queued event, if any.
    pub fn next_event_at(&self) -> Option<Instant> {
        self.queue.peek_at()
    }

    /// Runs every event due by `now`; false once the run has ended.
    pub fn advance(&mut self, now: Instant) -> bool {
        while let Some(at) = self.queue.peek_at() {
            if at > now {
                break;
            }
            let Some((at, event)) = self.queue.pop() else {
                break;
            };
            self.now = at;
            self.events += 1;
            if let WorldEvent::End = event {
                self.ended = true;
                return false;
            }
            self.dispatch(event);
            if self.picture_dirty {
                self.picture_dirty = false;
                self.observe();
            }
        }
        // Frames handed in next happen at `now`: the world's time is monotone.
        self.now = self.now.max(now);
        !self.ended
    }

    /// A frame the bridge delivered to port `port`'s TAP device at `now`
    /// (call [`World::advance`] with `now` first): it crosses the port's
    /// downlink, then reaches the host.
    pub fn bridge_frame(&mut self, port: u16, bytes: &[u8]) {
        if bytes.len() < 14 || usize::from(port) >= self.switch.ports.len() {
            return;
        }
        if !self.simulated_source(bytes) {
            self.record_real(bytes);
        }
        self.next_frame += 1;
        let frame = Frame {
            id: self.next_frame,
            bytes: Rc::from(bytes),
            tag: None,
        };
        let arrivals = self.switch.traverse(port, self.now);
        for at in arrivals.into_iter().flatten() {
            self.push(at, WorldEvent::AtPort(port, frame.clone()));
        }
    }

    /// The frames and bridge changes due since the last call.
    pub fn take_tap(&mut self) -> TapOut {
        self.tap
            .as_mut()
            .map(|t| std::mem::take(&mut t.out))
            .unwrap_or_default()
    }

    /// Closes a TAP run (at its end or when interrupted) and reports.
    pub fn finish_tap(mut self) -> (crate::Report, super::Recording) {
        let rec = std::mem::take(&mut self.rec);
        (self.finish(), rec)
    }

    /// Echo replies the holders sent to real clients.
    pub fn echoes(&self) -> u64 {
        self.tap.as_ref().map_or(0, |t| t.echoes)
    }

    /// In TAP mode, a frame that crossed `ingress`'s uplink goes to its TAP
    /// device (and the capture) instead of the virtual switch; true if so.
    pub(super) fn send_to_tap(&mut self, ingress: u16, bytes: &[u8]) -> bool {
        let Some(tap) = &mut self.tap else {
            return false;
        };
        tap.out.frames.push((ingress, bytes.to_vec()));
        if let Some(p) = &mut self.rec.pcap {
            // A capture that cannot be written is reported by the CLI at the end.
            let _ = p.frame(self.now.total_micros(), bytes);
        }
        true
    }

    /// In TAP mode, tells the runner of a bridge change.
    pub(super) fn bridge_op(&mut self, op: BridgeOp) {
        if let Some(tap) = &mut self.tap {
            tap.out.ops.push(op);
        }
    }

    /// In TAP mode, node `p`'s host answers a real client's packet to the
    /// address it holds: UDP to the traffic port comes back to its sender,
    /// an ICMP echo request gets its reply. True if `bytes` was one.
    pub(super) fn echo(&mut self, p: usize, bytes: &[u8]) -> bool {
        if self.tap.is_none() {
            return false;
        }
        let node = &self.nodes[p];
        let vip_mac = self.scenario.nodes[p].config.vip_mac();
        let Some(address) = node.vip_address.filter(|_| node.holds(self.now)) else {
            return false;
        };
        if bytes.get(0..6) != Some(&vip_mac.0[..]) {
            return false;
        }
        let Some(reply) = echo_reply(bytes, address.octets(), vip_mac.0) else {
            return false;
        };
        if let Some(t) = &mut self.tap {
            t.echoes += 1;
        }
        self.send(p as u16, &reply, None);
        true
    }

    /// Whether a frame's source is one of the simulated hosts.
    fn simulated_source(&self, bytes: &[u8]) -> bool {
        let src = &bytes[6..12];
        src == DHCP_SERVER_MAC.0
            || self
                .scenario
                .nodes
                .iter()
                .any(|n| src == n.config.mac().0 || src == n.config.vip_mac().0)
    }

    /// Records a real host's frame in the capture once, however many TAP
    /// devices deliver it.
    fn record_real(&mut self, bytes: &[u8]) {
        let now = self.now;
        let Some(tap) = &mut self.tap else {
            return;
        };
        while tap
            .recent
            .front()
            .is_some_and(|(t, _)| *t + SAME_FRAME < now)
        {
            tap.recent.pop_front();
        }
        if tap.recent.iter().any(|(_, b)| &b[..] == bytes) {
            return;
        }
        tap.recent.push_back((now, Rc::from(bytes)));
        if let Some(p) = &mut self.rec.pcap {
            let _ = p.frame(now.total_micros(), bytes);
        }
    }
}

/// Ethernet + IPv4 offsets the echo service reads.
mod field {
    pub const ETHERTYPE: core::ops::Range<usize> = 12..14;
    pub const IP: usize = 14;
    pub const IP_PROTO: usize = IP + 9;
    pub const IP_SRC: core::ops::Range<usize> = IP + 12..IP + 16;
    pub const IP_DST: core::ops::Range<usize> = IP + 16..IP + 20;
}

const PROTO_ICMP: u8 = 1;
const PROTO_UDP: u8 = 17;
const ICMP_ECHO_REQUEST: u8 = 8;

/// The reply to an IPv4 packet for `address`: UDP to [`TRAFFIC_PORT`] with
/// addresses and ports swapped, or an ICMP echo request turned into its
/// reply; sent from `mac`. Swapping keeps every checksum valid (the sums
/// are over the same words); the ICMP type change is folded into its
/// checksum (RFC 1624). `None` for anything else or a malformed packet.
fn echo_reply(bytes: &[u8], address: [u8; 4], mac: [u8; 6]) -> Option<Vec<u8>> {
    use field::*;
    if bytes.get(ETHERTYPE)? != [0x08, 0x00] || bytes.get(IP_DST)? != address {
        return None;
    }
    let ihl = usize::from(bytes.get(IP)? & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([
        *bytes.get(IP + 2)?,
        *bytes.get(IP + 3)?,
    ]));
    if bytes[IP] >> 4 != 4 || ihl < 20 || total < ihl + 8 || bytes.len() < IP + total {
        return None;
    }
    let l4 = IP + ihl;
    let mut out = bytes[..IP + total].to_vec();
    out.copy_within(6..12, 0);
    out[6..12].copy_from_slice(&mac);
    let (src, dst) = (bytes[IP_SRC].to_vec(), bytes[IP_DST].to_vec());
    out[IP_SRC].copy_from_slice(&dst);
    out[IP_DST].copy_from_slice(&src);
    match bytes[IP_PROTO] {
        PROTO_UDP => {
            let dport = u16::from_be_bytes([bytes[l4 + 2], bytes[l4 + 3]]);
            if dport != TRAFFIC_PORT {
                return None;
            }
            out.copy_within(l4..l4 + 2, l4 + 2);
            out[l4..l4 + 2].copy_from_slice(&dport.to_be_bytes());
        }
        PROTO_ICMP if bytes[l4] == ICMP_ECHO_REQUEST && bytes[l4 + 1] == 0 => {
            out[l4] = 0;
            let sum = u16::from_be_bytes([out[l4 + 2], out[l4 + 3]]);
            // ~(~sum + ~old + new) with old = 0x0800, new = 0x0000.
            let mut s = u32::from(!sum) + u32::from(!0x0800u16);
            s = (s & 0xffff) + (s >> 16);
            s = (s & 0xffff) + (s >> 16);
            out[l4 + 2..l4 + 4].copy_from_slice(&(!(s as u16)).to_be_bytes());
        }
        _ => return None,
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipv4_checksum(h: &[u8]) -> u16 {
        let mut s: u32 = h
            .chunks(2)
            .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
            .sum();
        while s > 0xffff {
            s = (s & 0xffff) + (s >> 16);
        }
        !(s as u16)
    }

    fn packet(proto: u8, l4: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 14 + 20];
        f[0..6].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
        f[6..12].copy_from_slice(&[2, 0, 0, 0, 1, 0]);
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f[14] = 0x45;
        let total = (20 + l4.len()) as u16;
        f[16..18].copy_from_slice(&total.to_be_bytes());
        f[22] = 64;
        f[23] = proto;
        f[26..30].copy_from_slice(&[192, 0, 2, 201]);
        f[30..34].copy_from_slice(&[192, 0, 2, 250]);
        let c = ipv4_checksum(&f[14..34]);
        f[24..26].copy_from_slice(&c.to_be_bytes());
        f.extend_from_slice(l4);
        f
    }

    const VIP: [u8; 4] = [192, 0, 2, 250];
    const MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];

    #[test]
    fn udp_to_the_traffic_port_comes_back_swapped() {
        let mut udp = vec![0x9c, 0x40, 0x23, 0x28, 0, 12, 0, 0];
        udp.extend_from_slice(&7u32.to_be_bytes());
        let f = packet(PROTO_UDP, &udp);
        let r = echo_reply(&f, VIP, MAC).expect("a reply");
        assert_eq!(&r[0..6], &f[6..12], "back to the sender's MAC");
        assert_eq!(&r[6..12], &MAC);
        assert_eq!(&r[26..30], &VIP);
        assert_eq!(&r[30..34], &[192, 0, 2, 201]);
        assert_eq!(&r[34..36], &[0x23, 0x28], "from the traffic port");
        assert_eq!(&r[36..38], &[0x9c, 0x40], "to the client's port");
        assert_eq!(ipv4_checksum(&r[14..34]), 0, "IPv4 checksum still valid");
        assert_eq!(&r[42..46], &7u32.to_be_bytes(), "payload kept");
    }

    #[test]
    fn an_icmp_echo_request_gets_a_reply_with_a_valid_checksum() {
        let mut icmp = vec![8, 0, 0, 0, 0x12, 0x34, 0, 1, b'h', b'i'];
        let c = ipv4_checksum(&icmp);
        icmp[2..4].copy_from_slice(&c.to_be_bytes());
        let f = packet(PROTO_ICMP, &icmp);
        let r = echo_reply(&f, VIP, MAC).expect("a reply");
        assert_eq!(r[34], 0, "echo reply");
        assert_eq!(ipv4_checksum(&r[34..]), 0, "ICMP checksum valid");
    }

    #[test]
    fn other_packets_and_other_addresses_get_nothing() {
        let udp = [0x9c, 0x40, 0x00, 0x35, 0, 8, 0, 0];
        assert!(echo_reply(&packet(PROTO_UDP, &udp), VIP, MAC).is_none());
        let mut udp = udp;
        udp[2..4].copy_from_slice(&TRAFFIC_PORT.to_be_bytes());
        assert!(echo_reply(&packet(PROTO_UDP, &udp), [192, 0, 2, 9], MAC).is_none());
        let f = packet(PROTO_UDP, &udp);
        for cut in 0..f.len() {
            assert!(echo_reply(&f[..cut], VIP, MAC).is_none(), "cut at {cut}");
        }
    }
}
