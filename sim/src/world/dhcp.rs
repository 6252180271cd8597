//! The DHCP server on the segment (`[dhcp]`) and what the world allows a
//! leased VIP.
//!
//! The server is the core's sans-IO [`StaticServer`] behind one more switch
//! port (after the clients'), with its own link like every other: it
//! answers a frame in the step it arrives, through [`World::send`], so its
//! frames cross the switch, are learned, impaired and hashed like the
//! others. It maps the VIP MAC to [`VIP`] (or, unmapped, leases from
//! [`DHCP_POOL`] only) and keeps no time.
//!
//! Two things the election does not decide take the VIP's address away
//! from an elected node, and the monitor is told of both:
//! * a lease lost (NAK or end) while the node stays elected is a fault at
//!   that instant (the client asks again at once: two exchanges, inside
//!   the settle bound);
//! * an elected node without a lease while the server is out of its reach
//!   (down, or across a partition) waits for the server, not for the
//!   election: that wait is allowed until the server is back in reach,
//!   plus the client's longest silence between two attempts;
//! * a DHCP frame lost (on a link, or at a port that is down or a node
//!   that does not run) costs the client a retry, after up to that
//!   silence: allowed from the loss for as long.
//!
//! Two claims are checked as they happen. Every address a node configures
//! is one the server granted the VIP MAC (an ACK) and has not refused
//! since (a NAK that made its holder let go of it).
//! And (quorum, docs/protocol.md "The DHCP VIP", Failover) a member that
//! acked a renewal carrying the lease
//! holds a copy until its receipt plus the milliseconds left, shortened by
//! ρ; if it wins while that copy runs, it configures the address in the
//! same step, with no DHCP round trip. The world keeps that copy from the
//! frames (the echo fields), not from the core.

use std::net::Ipv4Addr;
use vip_core::dhcp::server::StaticServer;
use vip_core::dhcp::{LeaseProblem, LeaseState};
use vip_core::dhcp::{DISCOVER_JITTER, DISCOVER_RETRY_MAX, RETRY_MAX};
use vip_core::wire::dhcp::{Datagram, Message};
use vip_core::wire::{EthernetFrame, EthernetProtocol};

use vip_core::wire::quorum::MessageType;
use vip_core::{Duration, Instant, Role};

use super::World;
use crate::net::Frame;
use crate::scenario::settings::PREFIX_LEN;
use crate::scenario::{DhcpSpec, FaultKind, DHCP_POOL, DHCP_SERVER, DHCP_SERVER_MAC, VIP};

/// The monitor's key for the allowance of a wait for the server.
const WAIT_KEY: u64 = 4 << 40;

/// The longest the lease client stays silent between two attempts: a
/// DISCOVER backed off to its longest, with its spread, or a renewing or
/// rebinding retry at its longest.
pub(super) fn client_silence() -> Duration {
    let discover = DISCOVER_RETRY_MAX + DISCOVER_JITTER;
    if discover > RETRY_MAX {
        discover
    } else {
        RETRY_MAX
    }
}

/// What the world knows of one run's copy of the holder's lease (quorum).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct LeaseCopy {
    /// The lease the renewal being handled carries: (sender, address, ms left).
    pub(super) offered: Option<(u8, Ipv4Addr, u64)>,
    /// The copy from the last renewal this run acked: address, end on its clock.
    pub(super) runs: Option<(Ipv4Addr, Instant)>,
    /// The core won the election in the current drain.
    pub(super) won: bool,
    /// The core raised `AcquireVip` in the current drain.
    pub(super) asked: bool,
}

/// The DHCP server and its port.
#[derive(Debug)]
pub(super) struct Server {
    pub(super) server: StaticServer,
    /// It answers (`dhcp_down` / `dhcp_up`).
    pub(super) up: bool,
    /// Its switch port.
    pub(super) port: u16,
    /// Client messages that reached it while it was down.
    pub(super) unanswered: u64,
    /// Since when an elected node has waited for a lease out of the
    /// server's reach (the monitor's allowance is open).
    waiting_since: Option<Instant>,
    /// Addresses the server ACKed to the VIP MAC, less those it refused since.
    granted: Vec<Ipv4Addr>,
    /// Addresses a holder let go of on a NAK: (address, node, when).
    refused: Vec<(Ipv4Addr, usize, Instant)>,
}

impl Server {
    /// The server `spec` describes, on switch port `port`.
    pub(super) fn new(spec: &DhcpSpec, port: u16) -> Server {
        let mask = u32::MAX << (32 - u32::from(PREFIX_LEN));
        let mut server =
            StaticServer::new(DHCP_SERVER, DHCP_SERVER_MAC, mask.into(), spec.lease_secs);
        if spec.mapped {
            server.map(spec.hwaddr, VIP);
        }
        server.set_pool(DHCP_POOL.0, DHCP_POOL.1);
        if let Some((t1, t2)) = spec.times {
            server.set_times(t1, t2);
        }
        Server {
            server,
            up: true,
            port,
            unanswered: 0,
            waiting_since: None,
            granted: Vec::new(),
            refused: Vec::new(),
        }
    }
}

impl World {
    /// A frame reached the server's port: its NIC takes broadcast,
    /// multicast and its own MAC; if it is up and the frame asks something
    /// of it, the answer leaves at once.
    pub(super) fn serve(&mut self, frame: &Frame) {
        let Some(s) = &mut self.dhcp else { return };
        let dst = &frame.bytes[0..6];
        if dst[0] & 1 == 0 && dst != DHCP_SERVER_MAC.0 {
            return;
        }
        if !s.up {
            if asks(&frame.bytes) {
                s.unanswered += 1;
            }
            return;
        }
        let answered = s.server.answered;
        let Some(len) = s.server.handle_frame(&frame.bytes, &mut self.buf[..]) else {
            return;
        };
        let port = s.port;
        let what = match s.server.answered {
            a if a[0] > answered[0] => "offer",
            a if a[1] > answered[1] => "ack",
            _ => "nak",
        };
        let reply = self.buf[..len].to_vec();
        if what == "ack" {
            if let Some(address) = yiaddr(&reply) {
                if !s.granted.contains(&address) {
                    s.granted.push(address);
                }
                s.refused.retain(|&(a, _, _)| a != address);
            }
        }
        self.note(format_args!("dhcp-server send {what}"));
        self.send(port, &reply, None);
    }

    /// `dhcp_down`, `dhcp_up` or `dhcp_remap`.
    pub(super) fn dhcp_fault(&mut self, kind: &FaultKind) {
        let Some(s) = &mut self.dhcp else { return };
        match *kind {
            FaultKind::DhcpDown => s.up = false,
            FaultKind::DhcpUp => s.up = true,
            FaultKind::DhcpRemap(address) => {
                if let Some(d) = self.scenario.dhcp {
                    s.server.map(d.hwaddr, address);
                }
            }
            _ => {}
        }
    }

    /// Node `i` released `address`: if it is still elected, its lease went
    /// (a NAK, or its end), which the monitor allows for as a fault; a NAK
    /// revokes the server's grant of the address.
    pub(super) fn lease_lost(&mut self, i: usize, address: Ipv4Addr) {
        if self.dhcp.is_none() {
            return;
        }
        let Some(core) = self.nodes[i].core.as_ref() else {
            return;
        };
        let naked = core
            .lease()
            .and_then(|l| l.problem)
            .is_some_and(|p| matches!(p, LeaseProblem::Nak { .. }));
        if core.role() == Role::Holder {
            self.note(format_args!("n{i} lease lost while elected"));
            self.monitor.fault(self.now);
        }
        if let Some(s) = self.dhcp.as_mut().filter(|_| naked) {
            s.granted.retain(|&a| a != address);
            s.refused.push((address, i, self.now));
        }
    }

    /// Node `i` configures `address`: the server must have granted it and
    /// not refused it since.
    pub(super) fn check_granted(&mut self, i: usize, address: Ipv4Addr) {
        let Some(s) = &self.dhcp else { return };
        if s.granted.contains(&address) {
            return;
        }
        let what = match s.refused.iter().rev().find(|&&(a, _, _)| a == address) {
            Some(&(_, j, at)) => format!(
                "n{i} configured {address}, which the server refused (n{j} let go of it on a NAK \
                 at {at}) and has not granted since"
            ),
            None => format!("n{i} configured {address}, which the server never granted"),
        };
        self.monitor.violation(self.now, what);
    }

    /// A frame lost at `port` (on its `uplink` to the switch, else on its
    /// way out to the port: a link, a port down, a node not running): if
    /// it was DHCP and mattered (to or from the server, or to a node whose
    /// lease client runs), the client's retry may come as late as its
    /// longest silence, which the monitor allows for.
    pub(super) fn dhcp_frame_lost(&mut self, port: u16, uplink: bool, frame: &[u8]) {
        let Some(s) = &self.dhcp else { return };
        let Some(m) = message(frame) else { return };
        let asking = self.nodes.get(usize::from(port)).is_some_and(|n| {
            n.core
                .as_ref()
                .and_then(|c| c.lease())
                .is_some_and(|l| l.state != LeaseState::Stopped)
        });
        let mattered = port == s.port || if m.from_client() { uplink } else { asking };
        if mattered {
            let now = self.now;
            self.monitor.allow(now, now + client_silence());
        }
    }

    /// Node `i` is handed `frame`: a quorum renewal carrying a lease is
    /// what its copy becomes if it acks it.
    pub(super) fn offer_lease_copy(&mut self, i: usize, frame: &[u8]) {
        if self.dhcp.is_none() || !self.nodes[i].quorum {
            return;
        }
        let Some(repr) = super::quorum::quorum_repr(frame) else {
            return;
        };
        if repr.msg_type == MessageType::Renew {
            let address = Ipv4Addr::from((repr.echo_epoch >> 32) as u32);
            self.nodes[i].copy.offered = Some((repr.sender, address, repr.echo_seq >> 32));
        }
    }

    /// Node `i` acked a renewal from `subject`: its copy of the lease is
    /// the renewal's (none if it carried none), as the core takes it.
    pub(super) fn lease_copy_acked(&mut self, i: usize, subject: u8) {
        let Some((from, address, left_ms)) = self.nodes[i].copy.offered else {
            return;
        };
        if from != subject {
            return;
        }
        let rho = self.scenario.nodes[i]
            .config
            .quorum()
            .map_or(0, |q| q.max_drift_ppm.min(1_000_000));
        let left = u128::from(left_ms) * 1000 * u128::from(1_000_000 - rho) / 1_000_000;
        let local = self.nodes[i].clock.local(self.now);
        self.nodes[i].copy.runs = (!address.is_unspecified())
            .then(|| (address, local + Duration::from_micros(left as u64)));
    }

    /// After node `i`'s drain: if it won while its copy of the lease runs,
    /// it must have configured the address in the same step.
    pub(super) fn check_lease_copy(&mut self, i: usize) {
        let copy = &mut self.nodes[i].copy;
        let (won, asked) = (
            std::mem::take(&mut copy.won),
            std::mem::take(&mut copy.asked),
        );
        if !won {
            return;
        }
        // A holder's lease is its own from now on.
        let Some((address, end)) = copy.runs.take() else {
            return;
        };
        let local = self.nodes[i].clock.local(self.now);
        // A millisecond of slack for the echo's whole milliseconds.
        if asked || local + Duration::from_millis(1) >= end {
            return;
        }
        let what = format!(
            "n{i} won with its copy of the lease on {address} running (to {end} on its clock) \
             but configured no address at once"
        );
        self.monitor.violation(self.now, what);
    }

    /// Opens or closes the allowance for an elected node that waits for a
    /// lease the server cannot give it now (see the module's doc).
    pub(super) fn watch_lease_wait(&mut self) {
        let Some(s) = &self.dhcp else { return };
        let now = self.now;
        let server = &self.switch.ports[usize::from(s.port)];
        let (up, group) = (s.up, server.group);
        let waiting = self.nodes.iter().enumerate().any(|(i, node)| {
            let elected = node.awake()
                && !node.vip_on
                && node.core.as_ref().is_some_and(|c| c.role() == Role::Holder);
            elected && (!up || self.switch.ports[i].group != group)
        });
        let since = s.waiting_since;
        match (waiting, since) {
            (true, None) => {
                self.monitor.fault_begin(WAIT_KEY, now);
                if let Some(s) = &mut self.dhcp {
                    s.waiting_since = Some(now);
                }
            }
            (false, Some(_)) => {
                self.monitor.fault_end(WAIT_KEY, now + client_silence());
                if let Some(s) = &mut self.dhcp {
                    s.waiting_since = None;
                }
            }
            _ => {}
        }
    }
}

/// True if an Ethernet frame carries IPv4 from a configured address (not
/// 0.0.0.0): a DHCP renewal from the leased VIP, which the kernel fence
/// holds back after the lease's end like the VIP's other frames.
pub(super) fn from_an_address(frame: &[u8]) -> bool {
    frame.get(12..14) == Some(&[0x08, 0x00]) && frame.get(26..30).is_some_and(|a| a != [0; 4])
}

/// The DHCP message an Ethernet frame carries, if any.
fn message(frame: &[u8]) -> Option<Message> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    if eth.ethertype() != EthernetProtocol::Ipv4 {
        return None;
    }
    Datagram::parse(eth.payload()).ok().map(|d| d.message)
}

/// True if an Ethernet frame carries a DHCP client's message.
fn asks(frame: &[u8]) -> bool {
    message(frame).is_some_and(|m| m.from_client())
}

/// The address a server's answer gives (`yiaddr`).
fn yiaddr(frame: &[u8]) -> Option<Ipv4Addr> {
    message(frame).map(|m| m.yiaddr)
}
