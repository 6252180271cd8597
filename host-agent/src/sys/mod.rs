//! Linux system layer: the AF_PACKET socket, NETLINK_ROUTE requests, the link
//! watch and the privilege check.
//!
//! This module is the only place in the daemon that holds `unsafe` or calls
//! libc; each `unsafe` block carries a `// SAFETY:` comment. It holds no
//! protocol logic: frames go in and out as opaque bytes, addresses are added
//! and removed when the caller says so.
//!
//! Every call acts in the network namespace of the calling thread at the time
//! of the call (sockets keep the namespace they were opened in).

mod caps;
mod error;
mod fd;
mod netlink;
mod packet;
mod route;

pub use caps::{check_privileges, Capability, PrivilegeError};
pub use error::{Operation, SysError};
pub use packet::{PacketOptions, PacketSocket, QUORUM_ETHERTYPE, VRRP_GROUP_MAC};
pub use route::{
    add_vip, has_address, interface_info, remove_vip, InterfaceInfo, LinkEvent, LinkWatch,
};
