//! vipd, the host agent: the config file, the daemon's async shell around a
//! `vip-core` node, and its status endpoints. `sys` holds every syscall and
//! is the only module allowed `unsafe`.
#![deny(unsafe_code)]

#[allow(unsafe_code)]
pub mod sys;

pub mod clock;
pub mod config;
pub mod control;
pub mod daemon;
pub mod duration;
pub mod etcd;
pub mod health;
pub mod hooks;
pub mod http;
pub mod lease;
pub mod metrics;
pub mod setup;
pub mod status;
