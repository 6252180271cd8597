//! The simulator's etcd: a modelled service ([`store`]) and each node's
//! adapter ([`adapter`]), which keeps the contract of docs/architecture.md
//! ("The etcd adapter") that the daemon's adapter keeps too.
//!
//! Both are sans-IO and clockless, like the core: the world hands them
//! their time (the service's clock, each node's clock) and carries the
//! messages between them over each node's path ([`Call`] up, [`Reply`]
//! and watch events down). See docs/simulator.md, "The etcd election".

use vip_core::election::etcd::MoveOrder;
use vip_core::Duration;

pub mod adapter;
pub mod store;
mod view;

pub use adapter::{Adapter, AdapterDefect, AdapterSettings, Counters, Report};
pub use store::{Change, Entry, Key, Lease, LeaseId, Record, Refused, Revision, Snapshot, Store};

/// What a lost watch event costs: Linux's smallest TCP retransmission
/// timeout (the watch runs over TCP, which sends it again).
pub const WATCH_RTO: Duration = Duration::from_millis(200);

/// The TTL of a move order's own lease, as the daemon's adapter grants it:
/// long enough for any move, gone by itself if nobody carries it out.
pub const ORDER_TTL: Duration = Duration::from_secs(30);

/// What an adapter asks of etcd: one message up its node's path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// Grant a lease of this TTL.
    Grant {
        /// The TTL asked.
        ttl: Duration,
    },
    /// Keep a lease alive.
    KeepAlive {
        /// The lease.
        lease: LeaseId,
    },
    /// Put the node's election key on `lease` if absent, or take a key of
    /// its own under another lease over (one transaction in the model).
    Campaign {
        /// The lease to attach it to.
        lease: LeaseId,
        /// Its value.
        record: Record,
    },
    /// Delete the node's election key.
    Resign,
    /// Revoke a lease (its keys go with it).
    Revoke {
        /// The lease.
        lease: LeaseId,
    },
    /// Grant the order a lease of its own and put it.
    Move {
        /// The order.
        order: MoveOrder,
        /// Its lease's TTL.
        ttl: Duration,
    },
    /// Put the node's record anew on its key, if the key is on `lease`.
    Publish {
        /// The lease the key must be on.
        lease: LeaseId,
        /// The record.
        record: Record,
    },
    /// Delete the order if its last change is still `revision`.
    ClearMove {
        /// The order's revision.
        revision: u64,
    },
    /// Read every key under the prefix (linearizable) and watch from the
    /// revision after it: the start of a watch.
    Read,
}

impl Call {
    /// A short word for traces and counts.
    pub fn word(&self) -> &'static str {
        match self {
            Call::Grant { .. } => "grant",
            Call::KeepAlive { .. } => "keepalive",
            Call::Campaign { .. } => "campaign",
            Call::Resign => "resign",
            Call::Revoke { .. } => "revoke",
            Call::Move { .. } => "move",
            Call::ClearMove { .. } => "clear-move",
            Call::Publish { .. } => "publish",
            Call::Read => "read",
        }
    }
}

/// etcd's answer to one [`Call`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// A lease was granted.
    Granted {
        /// Its id.
        lease: LeaseId,
        /// Its TTL.
        ttl: Duration,
    },
    /// A keep-alive's answer: the TTL, zero if the lease is gone.
    KeptAlive {
        /// The lease's TTL from now, or zero.
        ttl: Duration,
    },
    /// Done (a put, delete, revocation or compare that may have changed
    /// nothing), at etcd's revision then (the response header's).
    Done {
        /// The store's revision after the call.
        revision: u64,
    },
    /// The lease named is gone.
    LeaseNotFound,
    /// The read that starts a watch: every key, and the watch's id for the
    /// events that follow (each revision after the read, in order).
    Snapshot {
        /// The watch's id.
        watch: u64,
        /// Every key as read.
        snapshot: Snapshot,
    },
}
