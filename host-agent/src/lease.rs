//! The host's side of the quorum lease: the kernel fence that stops the
//! VIP's traffic by itself at the lease's end, and the record of this boot's
//! earlier runs that sizes the restart wait.
//!
//! # The fence
//! The core says how long its lease runs (`Event::LeaseExtended`); the
//! daemon writes that instant, as CLOCK_BOOTTIME nanoseconds, into the
//! eBPF fence on the interface (`sys::Fence`). `ReleaseVip` closes it
//! before the address is removed. A frame that speaks for the VIP (a
//! gratuitous ARP, an ARP reply) is not handed to the socket once the lease
//! has ended, whatever the core asked: the kernel would drop it anyway.
//!
//! # The record of earlier runs
//! A restarted member must not vote or acknowledge before every promise its
//! earlier runs made has run out (docs/protocol.md, "Restarts"). The daemon
//! keeps no state on disk; it keeps, beside its status socket (in `/run`,
//! which the kernel empties at every boot), one line naming this boot
//! (`/proc/sys/kernel/random/boot_id`) and the largest lease and drift the
//! runs of this boot used. A record of this boot gives
//! `PriorRuns::ThisBoot`; none (or another boot's) gives
//! `PriorRuns::FirstSinceBoot` with the host's uptime, and the core takes
//! the compiled-in bound less the uptime.

use std::io;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use vip_core::election::quorum::timing::PriorRuns;
use vip_core::{Duration, Instant, QuorumSettings};

use crate::clock::Clock;
use crate::sys::{self, Fence};

/// The fence and the lease end it was last set to.
#[derive(Debug)]
pub struct LeaseFence {
    fence: Fence,
    until: Option<Instant>,
}

impl LeaseFence {
    /// Installs the fence on `ifindex` for `vip`, closed.
    pub fn install(ifindex: u32, vip: Ipv4Addr) -> Result<LeaseFence, sys::SysError> {
        Ok(LeaseFence {
            fence: Fence::install(ifindex, vip)?,
            until: None,
        })
    }

    /// The address the fence guards.
    pub fn vip(&self) -> Ipv4Addr {
        self.fence.vip()
    }

    /// Opens the fence until `until` (core time on `clock`).
    pub fn extend(&mut self, clock: &Clock, until: Instant) -> io::Result<()> {
        self.until = Some(until);
        self.fence.set_deadline_ns(clock.boottime_ns(until))
    }

    /// Closes it now.
    pub fn close(&mut self) -> io::Result<()> {
        self.until = None;
        self.fence.close()
    }

    /// True while a frame that speaks for the VIP may leave at `now`.
    pub fn open_at(&self, now: Instant) -> bool {
        self.until.is_some_and(|until| now < until)
    }

    /// Detaches it (a clean stop; a crash leaves it closed in the kernel).
    pub fn remove(self) -> Result<(), sys::SysError> {
        self.fence.remove()
    }
}

/// Where the record of this boot's runs lives for node `node` of cluster
/// `cluster` whose status socket is `socket` (one file per node, so daemons
/// sharing a directory, as on a test bed, never share a record).
pub fn record_path(socket: &Path, cluster: &str, node: &str) -> PathBuf {
    let dir = socket.parent().unwrap_or(Path::new("/run/vipd"));
    dir.join(format!("vipd-{cluster}-{node}.runs"))
}

/// This boot's identity, as the kernel gives it.
fn boot_id() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// What earlier runs may have promised, from the record at `path`, and the
/// record rewritten to cover this run too (before it may promise anything).
pub fn prior_runs(path: &Path, settings: &QuorumSettings) -> io::Result<PriorRuns> {
    let boot = boot_id();
    let recorded = std::fs::read_to_string(path)
        .ok()
        .and_then(|text| parse_record(&text))
        .filter(|(b, ..)| Some(b) == boot.as_ref());
    let prior = match recorded {
        Some((_, lease, drift_ppm)) => PriorRuns::ThisBoot { lease, drift_ppm },
        None => PriorRuns::FirstSinceBoot {
            uptime: Duration::from_micros(
                u64::try_from(sys::boottime().as_micros()).unwrap_or(u64::MAX),
            ),
        },
    };
    let (lease, drift) = match recorded {
        Some((_, l, d)) => (l.max(settings.lease), d.max(settings.max_drift_ppm)),
        None => (settings.lease, settings.max_drift_ppm),
    };
    if let Some(boot) = boot {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let line = format!("{boot} {} {drift}\n", lease.total_micros());
        let tmp = path.with_extension(format!("runs.{}.tmp", std::process::id()));
        std::fs::write(&tmp, line)?;
        std::fs::rename(&tmp, path)?;
    }
    Ok(prior)
}

/// `BOOT_ID LEASE_US DRIFT_PPM`.
fn parse_record(text: &str) -> Option<(String, Duration, u32)> {
    let mut words = text.split_whitespace();
    let boot = words.next()?.to_owned();
    let lease = Duration::from_micros(words.next()?.parse().ok()?);
    let drift = words.next()?.parse().ok()?;
    Some((boot, lease, drift))
}

#[cfg(test)]
mod tests {
    use super::*;
    use vip_core::election::quorum::auth::AuthKey;

    fn settings(lease_ms: u64) -> QuorumSettings {
        let mut q = QuorumSettings::with_defaults(
            Duration::from_millis(10),
            AuthKey::new(&[1; 32]).unwrap(),
        );
        q.lease = Duration::from_millis(lease_ms);
        q
    }

    #[test]
    fn a_restart_within_a_boot_waits_for_the_longest_lease_of_this_boot() {
        let dir = tempfile::tempdir().unwrap();
        let path = record_path(&dir.path().join("vipd.sock"), "mgmt", "node-a");
        let first = prior_runs(&path, &settings(400)).unwrap();
        assert!(
            matches!(first, PriorRuns::FirstSinceBoot { .. }),
            "{first:?}"
        );
        // A restart with a shorter lease still covers the earlier, longer one.
        let second = prior_runs(&path, &settings(100)).unwrap();
        assert_eq!(
            second,
            PriorRuns::ThisBoot {
                lease: Duration::from_millis(400),
                drift_ppm: 500
            }
        );
        // Another boot's record counts as none.
        std::fs::write(&path, "another-boot 999000000 500\n").unwrap();
        assert!(matches!(
            prior_runs(&path, &settings(100)).unwrap(),
            PriorRuns::FirstSinceBoot { .. }
        ));
        assert_eq!(parse_record("junk"), None);
    }
}
