//! Conversions between the core's durations and the standard library's.
//!
//! The config grammar (`10ms`, `1.5s`, ...) is vip-core's
//! `Duration::parse`, shared with the simulator's scenario files.

use vip_core::Duration;

/// Converts a core duration to the standard library's.
pub fn to_std(d: Duration) -> std::time::Duration {
    std::time::Duration::from_micros(d.total_micros())
}
