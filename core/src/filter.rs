//! Which frames a node wants: what the host's kernel filter should pass.
//!
//! The core publishes this so the daemon compiles its packet filter from it
//! rather than repeating the protocol set: ARP always, plus whatever the
//! election and, in the DHCP mode, the VIP's lease client receive (all of
//! IPv4 UDP for now: the core keeps what goes to port 68). Frames carrying a
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
            f.ipv4_protocol(u8::from(smoltcp::wire::IpProtocol::Udp));
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
        ethertype == u16::from(EthernetProtocol::Ipv4)
            && eth
                .payload()
                .get(9)
                .is_some_and(|p| self.ipv4_protocols.contains(p))
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
    fn a_dhcp_vip_adds_udp_for_its_lease_client() {
        let mut s = settings();
        s.cluster.vip = crate::config::VipSettings::Dhcp(crate::config::DhcpSettings {
            hwaddr: EthernetAddress([0x02, 0, 0, 0x09, 0x7f, 0x3f]),
        });
        let f = FrameFilter::for_config(&Config::new(s).unwrap());
        assert_eq!(f.ipv4_protocols.as_slice(), [112, 17]);
        assert!(f.accepts(&frame([0x08, 0x00], 17)));
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
