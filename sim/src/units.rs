//! How the simulator writes durations for people: milliseconds, three decimals.

use vip_core::Duration;

/// `d` in milliseconds with three decimals: `205.289ms`.
pub fn ms(d: Duration) -> String {
    let us = d.total_micros();
    format!("{}.{:03}ms", us / 1000, us % 1000)
}
