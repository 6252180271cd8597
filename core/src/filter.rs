//! Which frames a node wants: what the host's kernel filter should pass.
//!
//! The core publishes this so the daemon compiles its packet filter from it
//! rather than repeating the protocol set: ARP always, plus whatever the
//! election and, in the DHCP mode, the VIP's lease client receive (IPv4 UDP
//! to the DHCP client port, not the host's other UDP). Frames carrying a
//! VLAN tag are never wanted: the management segment is untagged.

use heapless::Vec;

use crate::config::Config;
use crate::election::Election;
use crate::wire::{EthernetAddress, EthernetFrame, EthernetProtocol};

/// Most entries of each list; more is a bug in the core, not an input.
pub const FILTER_CAPACITY: usize = 4;

/// The frames a node wants, by EtherType, IPv4 protocol and multicast group.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FrameFilter {
    /// EtherTypes accepted whole (ARP; an election's own EtherType).
    pub ethertypes: Vec<u16, FILTER_CAPACITY>,
    /// IPv4 protocols accepted (VRRP's 112).
    pub ipv4_protocols: Vec<u8, FILTER_CAPACITY>,
    /// IPv4 UDP destination ports accepted (DHCP's client port 68), in the
    /// first or only fragment.
    pub udp_ports: Vec<u16, FILTER_CAPACITY>,
    /// Link-layer multicast groups the host must join to receive them.
    pub groups: Vec<EthernetAddress, FILTER_CAPACITY>,
}

impl FrameFilter {
    /// The frames a node running `config` wants.
    pub fn for_config(config: &Config) -> FrameFilter {
        let mut f = FrameFilter::default();
        f.ethertype(EthernetProtocol::Arp.into());
        Election::want(config.election(), &mut f);
        if config.dhcp().is_some() {
            f.udp_port(crate::wire::dhcp::DHCP_CLIENT_PORT);
        }
        f
    }

    /// Accepts every frame of `ethertype`.
    pub fn ethertype(&mut self, ethertype: u16) {
        push_new(&mut self.ethertypes, ethertype);
    }

    /// Accepts IPv4 packets of `protocol`.
    pub fn ipv4_protocol(&mut self, protocol: u8) {
        push_new(&mut self.ipv4_protocols, protocol);
    }

    /// Accepts IPv4 UDP datagrams to `port`.
    pub fn udp_port(&mut self, port: u16) {
        push_new(&mut self.udp_ports, port);
    }

    /// Joins `group`.
    pub fn group(&mut self, group: EthernetAddress) {
        push_new(&mut self.groups, group);
    }

    /// True if the filter passes `frame` (a whole untagged Ethernet frame):
    /// the reference the daemon's compiled kernel filter is tested against.
    pub fn accepts(&self, frame: &[u8]) -> bool {
        let Ok(eth) = EthernetFrame::new_checked(frame) else {
            return false;
        };
        let ethertype = u16::from(eth.ethertype());
        if self.ethertypes.contains(&ethertype) {
            return true;
        }
        if ethertype != u16::from(EthernetProtocol::Ipv4) {
            return false;
        }
        let ip = eth.payload();
        let Some(&protocol) = ip.get(9) else {
            return false;
        };
        if self.ipv4_protocols.contains(&protocol) {
            return true;
        }
        if protocol != u8::from(smoltcp::wire::IpProtocol::Udp) || self.udp_ports.is_empty() {
            return false;
        }
        // Not a later fragment (no UDP header there), then the destination
        // port after a header of IHL words.
        let later_fragment = ip
            .get(6..8)
            .is_none_or(|f| u16::from_be_bytes([f[0], f[1]]) & 0x1fff != 0);
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        let port = ip
            .get(ihl + 2..ihl + 4)
            .map(|p| u16::from_be_bytes([p[0], p[1]]));
        !later_fragment && ihl >= 20 && port.is_some_and(|p| self.udp_ports.contains(&p))
    }
}

fn push_new<T: PartialEq, const N: usize>(list: &mut Vec<T, N>, value: T) {
    if !list.contains(&value) {
        // Capacity covers every protocol the core speaks (a unit test fills it).
        let _ = list.push(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::settings;

    fn frame(ethertype: [u8; 2], ip_protocol: u8) -> [u8; 60] {
        let mut f = [0u8; 60];
        f[..6].copy_from_slice(&[0xff; 6]);
        f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 9]);
        f[12..14].copy_from_slice(&ethertype);
        f[14 + 9] = ip_protocol;
        f
    }

    #[test]
    fn a_vrrp_node_wants_arp_vrrp_and_the_vrrp_group() {
        let config = Config::new(settings()).unwrap();
        let f = FrameFilter::for_config(&config);
        assert_eq!(f.ethertypes.as_slice(), [0x0806]);
        assert_eq!(f.ipv4_protocols.as_slice(), [112]);
        assert_eq!(
            f.groups.as_slice(),
            [EthernetAddress([0x01, 0, 0x5e, 0, 0, 0x12])]
        );
        assert!(f.accepts(&frame([0x08, 0x06], 0)));
        assert!(f.accepts(&frame([0x08, 0x00], 112)));
        assert!(!f.accepts(&frame([0x08, 0x00], 17)), "UDP");
        assert!(!f.accepts(&frame([0x86, 0xdd], 112)), "IPv6");
        assert!(
            !f.accepts(&frame([0x88, 0xb5], 0)),
            "no quorum EtherType for VRRP"
        );
        assert!(!f.accepts(&[0u8; 10]), "runt");
    }

    #[test]
    fn a_dhcp_vip_adds_udp_to_port_68_for_its_lease_client() {
        let mut s = settings();
        s.cluster.vip = crate::config::VipSettings::Dhcp(crate::config::DhcpSettings {
            hwaddr: EthernetAddress([0x02, 0, 0, 0x09, 0x7f, 0x3f]),
        });
        let f = FrameFilter::for_config(&Config::new(s).unwrap());
        assert_eq!(f.ipv4_protocols.as_slice(), [112]);
        assert_eq!(f.udp_ports.as_slice(), [68]);
        let udp = |ihl: u8, port: u16, fragment: u16| {
            let mut f = frame([0x08, 0x00], 17);
            f[14] = 0x40 | ihl;
            f[14 + 6..14 + 8].copy_from_slice(&fragment.to_be_bytes());
            let at = 14 + usize::from(ihl) * 4 + 2;
            f[at..at + 2].copy_from_slice(&port.to_be_bytes());
            f
        };
        assert!(f.accepts(&udp(5, 68, 0)), "DHCP to the client port");
        assert!(f.accepts(&udp(6, 68, 0x4000)), "with an option, DF set");
        assert!(!f.accepts(&udp(5, 67, 0)), "to the server port");
        assert!(!f.accepts(&udp(5, 53, 0)), "the host's DNS");
        assert!(!f.accepts(&udp(5, 68, 0x0010)), "a later fragment");
        assert!(!f.accepts(&udp(4, 68, 0)), "a header shorter than 20 bytes");
        assert!(!f.accepts(&frame([0x08, 0x00], 6)), "TCP");
    }

    #[test]
    fn lists_keep_one_entry_per_value_up_to_capacity() {
        let mut f = FrameFilter::default();
        for _ in 0..3 {
            f.ethertype(0x88b5);
        }
        assert_eq!(f.ethertypes.len(), 1);
        for p in 0..10 {
            f.ipv4_protocol(p);
        }
        assert_eq!(f.ipv4_protocols.len(), FILTER_CAPACITY);
    }
}
