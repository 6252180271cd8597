//! Linux system layer: the AF_PACKET socket and its filter, NETLINK_ROUTE
//! requests, the link watch, CLOCK_BOOTTIME and its timerfd, the event
//! loop's epoll set and doorbell, the quorum election's kernel fence (eBPF
//! on tc clsact), and the privilege check.
//!
//! This module is the only place in the daemon that holds `unsafe` or calls
//! libc; each `unsafe` block carries a `// SAFETY:` comment. It holds no
//! protocol logic: frames go in and out as opaque bytes (filtered as the
//! core's `FrameFilter` says), addresses are added and removed when the
//! caller says so.
//!
//! Every call acts in the network namespace of the calling thread at the time
//! of the call (sockets keep the namespace they were opened in). No call
//! blocks for long: netlink requests return within [`REQUEST_BOUND`], the
//! rest is non-blocking, waits in the tokio reactor (the link watch), or in
//! the event loop's [`Poller`] (the packet socket and the timerfd).

mod bpf;
mod caps;
mod error;
mod fd;
mod fence;
mod netlink;
mod packet;
mod poll;
mod route;
mod rtnl_worker;
mod time;
mod vip_link;

pub use caps::{check_privileges, Capability, PrivilegeError};
pub use error::{Operation, SysError};
pub use fence::{remove as remove_fence, Direction, Fence};
pub use packet::{PacketOptions, PacketSocket, DEFAULT_RECV_BUFFER};
pub use poll::{wait_readable, Doorbell, Poller};
pub use route::{
    add_vip, has_address, interface_info, remove_vip, InterfaceInfo, LinkEvent, LinkWatch,
};
pub use rtnl_worker::REQUEST_BOUND;
pub use time::{boottime, TimerFd};
pub use vip_link::{
    create_vip_link, quiet_parent_arp, remove_vip_link, set_link_up, vip_link_name, VipLink,
};
