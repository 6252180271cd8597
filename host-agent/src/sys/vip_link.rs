//! The VIP MAC's own interface: a macvlan of the management interface that
//! carries the VIP MAC, so the NIC accepts frames for it without
//! promiscuous mode and the kernel's answers for the VIP leave from it.
//!
//! The link message is built with `netlink-packet-route` (the nested
//! IFLA_LINKINFO / IFLA_INFO_DATA / IFLA_MACVLAN_MODE attributes are where a
//! hand-rolled encoder goes wrong) and sent over this module's own
//! NETLINK_ROUTE socket, so replies, errno and the request bound stay as
//! for every other request. The macvlan gets no IPv6 (no link-local, no
//! DAD or MLD from the VIP MAC on every node: a switch would see the MAC
//! move), and the management interface is told to answer ARP only for its
//! own addresses (`arp_ignore = 1`) and to announce them (`arp_announce =
//! 2`), so no neighbour entry for the VIP ever holds a node's own MAC.

use std::path::PathBuf;

use netlink_packet_core::Emitable;
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoMacVlan, LinkAttribute, LinkFlags, LinkHeader, LinkInfo, LinkMessage,
    MacVlanMode,
};

use super::error::{iface_label, Operation, SysError};
use super::netlink::{Request, RequestError, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST};
use super::route::{interface_info, one_request, request_failed};

const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;

/// The VIP MAC's interface: its name and index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VipLink {
    /// `vip` and the VIP MAC's last four bytes in hex (`vip00097f3f`).
    pub name: String,
    /// The kernel's index for it.
    pub index: u32,
}

/// The name of the VIP MAC's interface: fixed by the MAC, so a later run
/// (and `vipd cleanup`) finds what an earlier one left.
pub fn vip_link_name(hwaddr: [u8; 6]) -> String {
    format!(
        "vip{:02x}{:02x}{:02x}{:02x}",
        hwaddr[2], hwaddr[3], hwaddr[4], hwaddr[5]
    )
}

/// Creates the macvlan for `hwaddr` on interface `parent`, down, in
/// private mode, without IPv6; returns it. An interface of that name left
/// by an earlier run is removed first.
///
/// Needs CAP_NET_ADMIN. Each request returns within
/// [`REQUEST_BOUND`](super::REQUEST_BOUND).
pub fn create_vip_link(parent: u32, hwaddr: [u8; 6]) -> Result<VipLink, SysError> {
    let name = vip_link_name(hwaddr);
    remove_vip_link(&name)?;
    let op = Operation::CreateVipLink(hwaddr);
    let mut message = LinkMessage::default();
    message.attributes = vec![
        LinkAttribute::IfName(name.clone()),
        LinkAttribute::Link(parent),
        LinkAttribute::Address(hwaddr.to_vec()),
        LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::MacVlan),
            LinkInfo::Data(InfoData::MacVlan(vec![InfoMacVlan::Mode(
                MacVlanMode::Private,
            )])),
        ]),
    ];
    let request = Request::new(
        RTM_NEWLINK,
        NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL,
        &emitted(&message),
    );
    one_request(request).map_err(|e| request_failed(op, iface_label(parent), e))?;
    let index = interface_info(&name)?.index;
    // No IPv6 on it at all, before it first comes up. A host without IPv6
    // has no such file and needs nothing.
    if sysctl_path("ipv6", &name, "disable_ipv6").exists() {
        write_sysctl("ipv6", &name, index, "disable_ipv6", 1)?;
    }
    Ok(VipLink { name, index })
}

/// Removes the interface `name` if it exists; true if it did.
pub fn remove_vip_link(name: &str) -> Result<bool, SysError> {
    let index = match interface_info(name) {
        Ok(info) => info.index,
        Err(SysError::NoSuchInterface { .. }) => return Ok(false),
        Err(e) => return Err(e),
    };
    let mut message = LinkMessage::default();
    message.header.index = index;
    let request = Request::new(RTM_DELLINK, NLM_F_REQUEST, &emitted(&message));
    match one_request(request) {
        Ok(()) => Ok(true),
        Err(RequestError::Kernel { errno, .. }) if errno == libc::ENODEV => Ok(false),
        Err(e) => Err(request_failed(
            Operation::RemoveVipLink,
            format!("{name} (index {index})"),
            e,
        )),
    }
}

/// Brings interface `index` up or down.
pub fn set_link_up(index: u32, up: bool) -> Result<(), SysError> {
    let mut message = LinkMessage::default();
    message.header = LinkHeader {
        index,
        flags: if up {
            LinkFlags::Up
        } else {
            LinkFlags::empty()
        },
        change_mask: LinkFlags::Up,
        ..LinkHeader::default()
    };
    let request = Request::new(RTM_NEWLINK, NLM_F_REQUEST, &emitted(&message));
    one_request(request)
        .map_err(|e| request_failed(Operation::SetLinkUp(up), iface_label(index), e))
}

/// Keeps the kernel from answering ARP for the VIP with `parent`'s own MAC:
/// on `parent`, answer only for addresses configured on it, and announce
/// only its own addresses.
pub fn quiet_parent_arp(parent: &str, index: u32) -> Result<(), SysError> {
    write_sysctl("ipv4", parent, index, "arp_ignore", 1)?;
    write_sysctl("ipv4", parent, index, "arp_announce", 2)
}

fn sysctl_path(family: &str, iface: &str, key: &str) -> PathBuf {
    PathBuf::from(format!("/proc/sys/net/{family}/conf/{iface}/{key}"))
}

/// Writes `value` to interface `iface`'s sysctl `key` (in the calling
/// thread's network namespace).
fn write_sysctl(
    family: &str,
    iface: &str,
    index: u32,
    key: &'static str,
    value: u8,
) -> Result<(), SysError> {
    std::fs::write(sysctl_path(family, iface, key), format!("{value}\n"))
        .map_err(|e| SysError::io(Operation::Sysctl(key), index, e))
}

/// The bytes of a link message after the netlink header.
fn emitted(message: &LinkMessage) -> Vec<u8> {
    let mut buf = vec![0u8; message.buffer_len()];
    message.emit(&mut buf);
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_link_name_fits_and_follows_the_mac() {
        let name = vip_link_name([0x02, 0, 0, 0x09, 0x7f, 0x3f]);
        assert_eq!(name, "vip00097f3f");
        assert!(name.len() < libc::IFNAMSIZ);
    }

    #[test]
    fn a_macvlan_request_nests_kind_and_private_mode() {
        let mut message = LinkMessage::default();
        message.attributes = vec![LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::MacVlan),
            LinkInfo::Data(InfoData::MacVlan(vec![InfoMacVlan::Mode(
                MacVlanMode::Private,
            )])),
        ])];
        let bytes = emitted(&message);
        // ifinfomsg (16), IFLA_LINKINFO (18) { IFLA_INFO_KIND (1) "macvlan\0",
        // IFLA_INFO_DATA (2) { IFLA_MACVLAN_MODE (1) = 1 } }.
        let linkinfo = &bytes[16..];
        assert_eq!(u16::from_ne_bytes([linkinfo[2], linkinfo[3]]), 18);
        assert_eq!(&linkinfo[4..8], &[12, 0, 1, 0]);
        assert_eq!(&linkinfo[8..16], b"macvlan\0");
        assert_eq!(&linkinfo[16..20], &[12, 0, 2, 0]);
        assert_eq!(&linkinfo[20..24], &[8, 0, 1, 0]);
        assert_eq!(u32::from_ne_bytes(linkinfo[24..28].try_into().unwrap()), 1);
    }
}
