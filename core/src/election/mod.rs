//! The VIP election: one enum over the protocols.
//!
//! Today VRRPv3 ([`vrrp`]); the quorum-lease election joins as a second
//! variant with the same inputs (adverts or election messages, timeouts,
//! commands) and the same duty: push `AcquireVip`/`ReleaseVip` into the
//! outbox before any frame that lets another node take over.

pub mod vrrp;
