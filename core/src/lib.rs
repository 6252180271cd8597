//! vip-core: the sans-IO packet core of vipd.
//!
//! `#![no_std]`, no heap, no clock, no global randomness. A [`Node`] is fed
//! whole Ethernet frames, timeouts and commands, each with the caller's `now`,
//! and answers through one ordered output queue: frames to transmit and
//! [`Event`]s to act on. See [`node`] for the drain rule and the ordering
//! guarantee.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod arp;
pub mod config;
pub mod dhcp;
pub mod election;
pub mod filter;
pub mod node;
mod output;
pub mod rand;
pub mod time;
pub mod wire;

pub use config::{
    AnnounceConfig, ChecksumMode, ClusterSettings, Config, ConfigError, DhcpSettings,
    ElectionSettings, EtcdSettings, GarpForm, HostFacts, Member, Members, Name, NodeSettings,
    Protocol, QuorumSettings, VipSettings, VrrpSettings,
};
pub use filter::FrameFilter;
pub use node::{
    Command, Conditions, Counters, DropReason, Event, FrameBuf, FrameKind, Holder, InKind, Node,
    Output, Peer, Role, Vip,
};
pub use time::{Duration, DurationError, Instant};

#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
