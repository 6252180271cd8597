//! The DHCP targets: `dhcp_ipv4`, the parser on any IPv4 packet, and
//! `dhcp_node`, a VRRP node that holds at once (priority 255) with its VIP
//! leased by DHCP, fed server answers built from the fuzzer's bytes (the
//! right transaction id or not, any address, kind and times, unicast or
//! broadcast), raw frames, time and commands.
//!
//! After every input `dhcp_node` checks the contract: `AcquireVip` and
//! `ReleaseVip` alternate; an address is acquired only while the node
//! holds, only when it breaks no VIP rule, and it is the node's VIP; every
//! DHCP frame sent parses, comes from the client and carries the VIP MAC;
//! gratuitous ARPs name the address configured; time can always move on.

use core::net::Ipv4Addr;

use super::take;
use crate::config::{
    ClusterSettings, Config, DhcpSettings, ElectionSettings, HostFacts, Members, Name,
    NodeSettings, VipSettings, VrrpSettings,
};
use crate::node::{Command, Event, FrameBuf, FrameKind, Node, Output, Vip};
use crate::time::{Duration, Instant};
use crate::wire::dhcp::{Datagram, Message, MessageType};
use crate::wire::{
    EthernetAddress, EthernetFrame, EthernetProtocol, EthernetRepr, ARP_LEN, ETHERNET_HEADER_LEN,
    MAX_FRAME_LEN,
};

/// The VIP MAC of every run.
const VIP_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0x09, 0x7f, 0x3f]);
/// The server the answers come from.
const SERVER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const SERVER_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x01]);
/// Timeouts one wait may deliver before the node counts as spinning.
const MAX_TIMEOUTS_PER_WAIT: u32 = 10_000;

/// An IPv4 packet holding a DHCP message: as given and with its IPv4 and
/// UDP checksums fixed (so the fuzzer reaches the BOOTP parser); what
/// parses emits and parses back to the same message.
pub fn dhcp_ipv4(data: &[u8]) {
    dhcp_ipv4_once(data);
    if data.len() > MAX_FRAME_LEN {
        return;
    }
    let mut buf = [0u8; MAX_FRAME_LEN];
    let fixed = &mut buf[..data.len()];
    fixed.copy_from_slice(data);
    crate::wire::dhcp::fill_checksums(fixed);
    dhcp_ipv4_once(fixed);
}

fn dhcp_ipv4_once(data: &[u8]) {
    let Ok(d) = Datagram::parse(data) else {
        return;
    };
    let ip = etherparse::Ipv4Slice::from_slice(data).expect("etherparse refuses what we took");
    assert_eq!(ip.header().source_addr(), d.src);
    assert_eq!(ip.header().destination_addr(), d.dst);
    let mut buf = [0u8; MAX_FRAME_LEN];
    let len = d.buffer_len();
    assert!(len <= MAX_FRAME_LEN);
    assert_eq!(d.emit(&mut buf[..len]), len);
    let again = Datagram::parse(&buf[..len]).expect("what we emit parses");
    assert_eq!(again, d, "emitted {:02x?}", &buf[..len]);
}

fn config() -> Config {
    let name = |t: &str| Name::new(t).expect("a valid name");
    let settings = NodeSettings {
        host: HostFacts {
            name: name("n0"),
            mac: EthernetAddress([0x02, 0, 0, 0, 0, 0x0b]),
            address: Ipv4Addr::new(192, 0, 2, 11),
            prefix_len: 24,
        },
        cluster: ClusterSettings {
            cluster: name("fuzz"),
            vip: VipSettings::Dhcp(DhcpSettings { hwaddr: VIP_MAC }),
            members: Members::new(),
            announce: Default::default(),
            election: ElectionSettings::Vrrp(VrrpSettings {
                priority: 255,
                advert_interval: Duration::from_millis(100),
                ..VrrpSettings::default()
            }),
        },
    };
    Config::new(settings).expect("fuzz config is valid")
}

struct Run {
    node: Node,
    now: Instant,
    buf: FrameBuf,
    /// The VIP configured by the events so far.
    configured: Option<Vip>,
    /// The transaction id of the node's last DHCP message.
    xid: u32,
}

impl Run {
    fn drain(&mut self) {
        while let Some(out) = self.node.poll_output(&mut self.buf) {
            match out {
                Output::Event(e) => self.event(e),
                Output::Transmit { len, kind } => self.frame(len, kind),
            }
        }
        if let Some(vip) = self.configured {
            assert_eq!(self.node.vip(), Some(vip), "configured the node's VIP");
        }
    }

    fn event(&mut self, e: Event) {
        match e {
            Event::AcquireVip(vip) => {
                assert!(self.configured.is_none(), "AcquireVip twice");
                assert!(self.node.is_holder(), "acquired while not holding");
                let rule = self.node.config().leased_vip_rule(vip.address);
                assert_eq!(rule, None, "acquired {} against a rule", vip.address);
                self.configured = Some(vip);
            }
            Event::ReleaseVip(vip) => {
                assert_eq!(self.configured, Some(vip), "releases what it acquired");
                self.configured = None;
            }
            _ => {}
        }
    }

    fn frame(&mut self, len: usize, kind: FrameKind) {
        let frame = &self.buf[..len];
        let eth = EthernetFrame::new_checked(frame).expect("we emit whole frames");
        match kind {
            FrameKind::Dhcp => {
                assert_eq!(eth.src_addr(), VIP_MAC);
                let d = Datagram::parse(eth.payload()).expect("our DHCP parses");
                assert!(d.message.from_client());
                assert_eq!(d.message.chaddr, VIP_MAC);
                assert_eq!(d.message.client_id, Some(VIP_MAC));
                self.xid = d.message.xid;
            }
            FrameKind::Garp | FrameKind::ArpReply => {
                let vip = self
                    .configured
                    .expect("ARP for the VIP only while configured");
                let sender = &eth.payload()[14..18];
                assert!(eth.payload().len() >= ARP_LEN);
                assert_eq!(sender, vip.address.octets());
            }
            FrameKind::Advert => {}
        }
    }

    fn wait(&mut self, until: Instant) {
        let mut fired = 0;
        while let Some(at) = self.node.poll_timeout().filter(|at| *at <= until) {
            self.now = self.now.max(at);
            self.node.handle_timeout(self.now);
            self.drain();
            fired += 1;
            assert!(fired < MAX_TIMEOUTS_PER_WAIT, "spins at {:?}", self.now);
            assert!(
                self.node
                    .poll_timeout()
                    .is_none_or(|t| t > at || t >= self.now),
                "a deadline stays in the past"
            );
        }
        self.now = self.now.max(until);
    }

    /// A server answer from the fuzzer's bytes.
    fn answer(&mut self, data: &mut &[u8]) {
        let [kind, flags, last, lease, t1, t2, xid_noise, mask] = take::<8>(data);
        let kind = match kind % 3 {
            0 => MessageType::Offer,
            1 => MessageType::Ack,
            _ => MessageType::Nak,
        };
        let xid = if flags & 1 == 0 {
            self.xid
        } else {
            self.xid ^ u32::from(xid_noise)
        };
        let chaddr = if flags & 2 == 0 {
            VIP_MAC
        } else {
            EthernetAddress([0x02, 0, 0, 0, 0, last])
        };
        let mut m = Message::new(kind, xid, chaddr);
        m.yiaddr = if flags & 4 == 0 {
            Ipv4Addr::new(192, 0, 2, last)
        } else {
            Ipv4Addr::new(198, 51, 100, last)
        };
        m.server_id = (flags & 8 == 0).then_some(SERVER);
        m.lease_secs = (flags & 16 == 0).then_some(u32::from(lease));
        m.renew_secs = (flags & 32 == 0).then_some(u32::from(t1));
        m.rebind_secs = (flags & 64 == 0).then_some(u32::from(t2));
        m.subnet_mask = (mask & 1 == 0).then_some(Ipv4Addr::new(255, 255, 255, 0));
        m.broadcast = flags & 128 != 0;
        let (dst, dst_mac) = if m.broadcast {
            (Ipv4Addr::BROADCAST, EthernetAddress::BROADCAST)
        } else {
            (m.yiaddr, chaddr)
        };
        let d = Datagram {
            src: SERVER,
            dst,
            message: m,
            host_name: None,
        };
        let mut frame = [0u8; MAX_FRAME_LEN];
        let eth = EthernetRepr {
            src_addr: SERVER_MAC,
            dst_addr: dst_mac,
            ethertype: EthernetProtocol::Ipv4,
        };
        eth.emit(&mut EthernetFrame::new_unchecked(&mut frame[..]));
        let len = ETHERNET_HEADER_LEN + d.emit(&mut frame[ETHERNET_HEADER_LEN..]);
        self.node.handle_frame(self.now, &frame[..len]);
        self.drain();
    }
}

/// A DHCP-mode holder under fuzzer-chosen answers, time and commands.
pub fn dhcp_node(data: &[u8]) {
    let mut data = data;
    let mut run = Run {
        node: Node::new(config(), 7, Instant::ZERO),
        now: Instant::ZERO,
        buf: [0u8; MAX_FRAME_LEN],
        configured: None,
        xid: 0,
    };
    run.drain();
    let mut steps = 0;
    while !data.is_empty() && steps < 256 {
        steps += 1;
        let [op] = take::<1>(&mut data);
        match op % 6 {
            0 | 1 => run.answer(&mut data),
            2 => {
                let [tenths] = take::<1>(&mut data);
                let until = run.now + Duration::from_millis(100 * u64::from(tenths));
                run.wait(until);
            }
            3 => {
                if let Some(at) = run.node.poll_timeout() {
                    run.wait(at);
                }
            }
            4 => {
                let [len] = take::<1>(&mut data);
                let n = usize::from(len).min(data.len());
                let (frame, rest) = data.split_at(n);
                data = rest;
                run.node.handle_frame(run.now, frame);
                run.drain();
            }
            _ => {
                let [which] = take::<1>(&mut data);
                let command = match which % 5 {
                    0 => Command::LinkDown,
                    1 => Command::LinkUp,
                    2 => Command::HealthDown,
                    3 => Command::HealthUp,
                    _ => Command::VipFailed,
                };
                run.node.command(run.now, command);
                run.drain();
            }
        }
        if run.configured.is_some() {
            assert!(run.node.is_holder(), "configured while not holding");
        }
    }
}
