//! The error type of the system layer: every message names the interface and
//! the operation.

use std::fmt;
use std::io;
use std::net::Ipv4Addr;

use super::fd;
use super::netlink::KernelError;

/// What the system layer was doing when it failed; shown in error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Operation {
    /// Opening, configuring or binding the AF_PACKET socket.
    OpenPacketSocket,
    /// Attaching the classic BPF filter to the AF_PACKET socket.
    AttachFilter,
    /// Joining a link-layer multicast group on the AF_PACKET socket.
    JoinGroup([u8; 6]),
    /// Reading the interface's link attributes (index, hwaddr, MTU, carrier).
    QueryLink,
    /// Listing the interface's IPv4 addresses.
    ListAddresses,
    /// Adding the VIP as a /32.
    AddVip(Ipv4Addr),
    /// Removing the VIP's /32.
    RemoveVip(Ipv4Addr),
    /// Subscribing to or reading link change notifications.
    WatchLink,
    /// Loading and attaching the quorum election's kernel fence.
    InstallFence,
    /// Detaching the kernel fence.
    RemoveFence,
    /// Creating the macvlan that carries the VIP MAC.
    CreateVipLink([u8; 6]),
    /// Removing the VIP MAC's macvlan.
    RemoveVipLink,
    /// Bringing an interface up (true) or down.
    SetLinkUp(bool),
    /// Writing the interface's sysctl of this name.
    Sysctl(&'static str),
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OpenPacketSocket => f.write_str("open AF_PACKET socket"),
            Self::AttachFilter => f.write_str("attach BPF filter to AF_PACKET socket"),
            Self::JoinGroup(m) => write!(
                f,
                "join multicast group {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
                m[0], m[1], m[2], m[3], m[4], m[5]
            ),
            Self::QueryLink => f.write_str("query link"),
            Self::ListAddresses => f.write_str("list IPv4 addresses"),
            Self::AddVip(a) => write!(f, "add VIP {a}/32"),
            Self::RemoveVip(a) => write!(f, "remove VIP {a}/32"),
            Self::WatchLink => f.write_str("watch link changes"),
            Self::InstallFence => f.write_str("install the VIP fence (tc clsact + eBPF)"),
            Self::RemoveFence => f.write_str("remove the VIP fence"),
            Self::CreateVipLink(m) => write!(
                f,
                "create the macvlan for VIP MAC {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
                m[0], m[1], m[2], m[3], m[4], m[5]
            ),
            Self::RemoveVipLink => f.write_str("remove the VIP MAC's macvlan"),
            Self::SetLinkUp(true) => f.write_str("set link up"),
            Self::SetLinkUp(false) => f.write_str("set link down"),
            Self::Sysctl(key) => write!(f, "write sysctl {key}"),
        }
    }
}

/// A failure of the system layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SysError {
    /// The named interface does not exist in this network namespace.
    #[error("interface {name}: no such interface")]
    NoSuchInterface {
        /// The name asked for.
        name: String,
    },
    /// The name can never be an interface name (empty, too long, NUL).
    #[error("interface {name:?}: invalid interface name ({reason})")]
    InvalidInterfaceName {
        /// The name given.
        name: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// The interface exists but is not Ethernet (no 6-byte hwaddr).
    #[error("interface {name}: not an Ethernet interface (link type {link_type})")]
    NotEthernet {
        /// The interface's name.
        name: String,
        /// Its ARPHRD_* link type.
        link_type: u16,
    },
    /// A system call failed.
    #[error("{op} on {iface}: {source}")]
    Io {
        /// What was being done.
        op: Operation,
        /// The interface, as `NAME (index N)` where the name is known.
        iface: String,
        /// The kernel's error.
        #[source]
        source: io::Error,
    },
    /// The kernel answered with something this layer cannot read.
    #[error("{op} on {iface}: malformed netlink reply: {detail}")]
    Malformed {
        /// What was being done.
        op: Operation,
        /// The interface, as `NAME (index N)` where the name is known.
        iface: String,
        /// What was wrong with the reply.
        detail: &'static str,
    },
}

impl SysError {
    /// An I/O failure of `op` on the interface with index `ifindex`.
    pub(crate) fn io(op: Operation, ifindex: u32, source: io::Error) -> Self {
        Self::Io {
            op,
            iface: iface_label(ifindex),
            source,
        }
    }

    /// The raw OS error number, where the failure came from a system call.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            Self::Io { source, .. } => source.raw_os_error().or_else(|| {
                let inner = source.get_ref()?;
                inner.downcast_ref::<KernelError>().map(|k| k.errno)
            }),
            _ => None,
        }
    }
}

/// Names an interface index for messages: `eth0 (index 2)`, or `index 2`
/// when the index does not resolve (any more) in this namespace.
pub(crate) fn iface_label(ifindex: u32) -> String {
    match fd::index_to_name(ifindex) {
        Some(name) => format!("{name} (index {ifindex})"),
        None => format!("index {ifindex}"),
    }
}
