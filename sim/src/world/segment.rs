//! The segment as the world drives it: frames entering and crossing the
//! switch, what each NIC accepts, and the clients' traffic and timers.

use std::rc::Rc;

use vip_core::Instant;

use super::queue::WorldEvent;
use super::World;
use crate::net::Frame;

impl World {
    /// A frame enters the world on `port`'s uplink.
    pub(super) fn send(&mut self, port: u16, bytes: &[u8], tag: Option<(u16, u32)>) {
        self.next_frame += 1;
        let id = self.next_frame;
        self.hash.word(self.now.total_micros());
        self.hash.word(0x20 << 32 | u64::from(port));
        self.hash.bytes(bytes);
        let frame = Frame {
            id,
            bytes: Rc::from(bytes),
            tag,
        };
        let arrivals = self.switch.traverse(port, self.now);
        if arrivals == [None, None] {
            self.dhcp_frame_lost(port, true, &frame.bytes);
        }
        self.schedule(arrivals, |f| WorldEvent::AtSwitch(port, f), frame);
    }

    fn schedule(
        &mut self,
        arrivals: [Option<Instant>; 2],
        event: impl Fn(Frame) -> WorldEvent,
        frame: Frame,
    ) {
        match arrivals {
            [Some(a), Some(b)] => {
                self.push(a, event(frame.clone()));
                self.push(b, event(frame));
            }
            [Some(a), None] | [None, Some(a)] => self.push(a, event(frame)),
            [None, None] => {}
        }
    }

    pub(super) fn at_switch(&mut self, ingress: u16, frame: Frame) {
        self.hash.word(self.now.total_micros());
        self.hash
            .word(0x21 << 32 | u64::from(ingress) << 32 | frame.id);
        if self.send_to_tap(ingress, &frame.bytes) {
            return;
        }
        if let Some(p) = &mut self.rec.pcap {
            // A capture that cannot be written is reported by the CLI at the end.
            let _ = p.frame(self.now.total_micros(), &frame.bytes);
        }
        let mut egress = std::mem::take(&mut self.egress);
        self.switch.forward(ingress, &frame.bytes, &mut egress);
        for &port in &egress {
            let arrivals = self.switch.traverse(port, self.now);
            if arrivals == [None, None] {
                self.dhcp_frame_lost(port, false, &frame.bytes);
            }
            self.schedule(arrivals, |f| WorldEvent::AtPort(port, f), frame.clone());
        }
        self.egress = egress;
    }

    pub(super) fn at_port(&mut self, port: u16, frame: Frame) {
        let now = self.now;
        self.hash.word(now.total_micros());
        self.hash
            .word(0x22 << 48 | u64::from(port) << 40 | frame.id);
        if !self.switch.ports[port as usize].up {
            self.dhcp_frame_lost(port, false, &frame.bytes);
            return;
        }
        if self.dhcp.as_ref().is_some_and(|s| s.port == port) {
            self.serve(&frame);
            return;
        }
        let n = self.nodes.len();
        let p = port as usize;
        if p >= n {
            let c = p - n;
            if frame.bytes.get(12..14) == Some(&[0x08, 0x06]) {
                self.clients[c].handle_frame(now, &frame.bytes);
                self.arm_client(c);
            }
            return;
        }
        let node = &self.nodes[p];
        if !node.awake() {
            self.dhcp_frame_lost(port, false, &frame.bytes);
            return;
        }
        let dst = &frame.bytes[0..6];
        let config = &self.scenario.nodes[p].config;
        let vip_mac = config.vip_mac();
        let holds = node.holds(now);
        let for_us = dst[0] & 1 == 1 || dst == config.mac().0 || (holds && dst == vip_mac.0);
        if !for_us {
            return;
        }
        if frame.tag.is_none() && self.echo(p, &frame.bytes) {
            return;
        }
        let node = &self.nodes[p];
        if let Some((c, seq)) = frame.tag {
            // The host takes the packet only at an address it has configured.
            let to = frame.bytes.get(30..34);
            let configured = node.vip_address.map(|a| a.octets());
            if holds && dst == vip_mac.0 && to == configured.as_ref().map(|a| &a[..]) {
                let slot = &mut self.clients[c as usize].outcomes[seq as usize];
                if *slot == 0 {
                    *slot = p as u32 + 1;
                }
            }
            return;
        }
        let watch = self.attacker.is_some() && node.quorum;
        let heard = node.core.as_ref().map_or(0, |c| c.counters().adverts_in);
        self.offer_lease_copy(p, &frame.bytes);
        self.node_input(p, |core, local| core.handle_frame(local, &frame.bytes));
        self.nodes[p].copy.offered = None;
        if watch
            && self.nodes[p]
                .core
                .as_ref()
                .is_some_and(|c| c.counters().adverts_in > heard)
        {
            self.seen(p, frame.bytes.clone());
        }
    }

    // ---- clients ----

    pub(super) fn arm_client(&mut self, c: usize) {
        if let Some(at) = self.clients[c].poll_timeout() {
            let at = at.max(self.now);
            if self.client_armed[c].is_none_or(|a| at < a) {
                self.client_armed[c] = Some(at);
                self.push(at, WorldEvent::ClientTimer(c));
            }
        }
    }

    pub(super) fn client_wake(&mut self, c: usize) {
        let now = self.now;
        let mut out = std::mem::take(&mut self.client_out);
        out.clear();
        self.clients[c].handle_timeout(now, &mut out);
        let port = (self.nodes.len() + c) as u16;
        let mut sent_packet = false;
        for tx in &out {
            sent_packet |= tx.seq.is_some();
            self.send(port, &tx.bytes, tx.seq.map(|s| (c as u16, s)));
        }
        self.client_out = out;
        if sent_packet {
            // Following the holder: the entry names the holder's VIP MAC, and
            // the switch takes that MAC to the holder (the MAC may be shared:
            // VRRP's virtual MAC, the DHCP VIP MAC).
            let ok = self.group_holder(self.client_group).map(|h| {
                let mac = self.scenario.nodes[h].config.vip_mac();
                self.clients[c].entry().mac() == Some(mac)
                    && self.switch.port_of(mac).is_none_or(|p| usize::from(p) == h)
            });
            self.monitor.arp_sample(c, now, ok);
        }
        self.arm_client(c);
    }

    /// The single holder among nodes in `group`, if exactly one.
    pub(super) fn group_holder(&self, group: u16) -> Option<usize> {
        let mut found = None;
        for (i, node) in self.nodes.iter().enumerate() {
            if node.holds(self.now) && self.switch.ports[i].group == group && node.link_up {
                if found.is_some() {
                    return None;
                }
                found = Some(i);
            }
        }
        found
    }
}
