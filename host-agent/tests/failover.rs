//! Failover of the real `vipd` binary between network namespaces, seen by a
//! real Linux client (see docs/testbed.md).
//!
//! Three vipd nodes and a client on one bridge; the client pings the VIP
//! 500 times a second. Each test makes one fault and asserts what the issue
//! asks: the client's traffic resumes within 3 × advert_interval + 50 ms
//! (80 ms at 10 ms adverts) and then keeps flowing, the client's neighbour
//! entry shows the new holder's MAC, exactly one live node lists the VIP,
//! and `vipd status --get vipHost` on every live node names the new holder.
//!
//! Needs root, ip and sysctl (skips otherwise; fails if CI is set). Tests take a global lock so that timing is
//! measured on an otherwise idle testbed. `VIPD_TESTBED_REPEAT=N` runs each
//! scenario N times (a fresh testbed each time): timer races show up only
//! in loops.

mod netns;
mod testbed;

use std::path::Path;
use std::time::Duration;

use rustix::process::Signal;
use testbed::scenario::{self, assert_failover, Expect, Measured};
use testbed::{gap_bound, Peer, Testbed, ADVERT_MS, SETUP};

const A: usize = 0;
const B: usize = 1;
const C: usize = 2;

fn vipd() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_vipd"))
}

macro_rules! require_root {
    () => {
        if !testbed::can_run("the failover testbed", testbed::TOOLS) {
            return;
        }
    };
}

/// A testbed with vipd at these priorities, every daemon started.
fn bed(priorities: &[u8]) -> Result<Testbed, String> {
    let peers: Vec<Peer> = priorities.iter().map(|&p| Peer::vipd(p)).collect();
    let mut bed = Testbed::new(vipd(), &peers, ADVERT_MS)?;
    bed.start_all()?;
    Ok(bed)
}

fn expect(holder: usize) -> Expect {
    Expect::node(holder, gap_bound(ADVERT_MS))
}

/// Power-off of the holder (switch port down and kill -9 at once). The two
/// backups have equal priority, so their Master_Down timers expire
/// together: both may claim the VIP. Either may win (a backup accepts an
/// equal-priority master; two masters break the tie by address), but only
/// one may end up holding, with the client pointing at it.
#[test]
fn power_off_holder() {
    require_root!();
    let _serial = testbed::serial();
    for run in 0..scenario::repeat() {
        let (bed, m) = scenario::retry_setup("power_off_holder", || {
            let mut bed = bed(&[200, 100, 100])?;
            let m = scenario::measure_fault(&mut bed, scenario::WINDOW, |b, h| b.power_off(h))?;
            Ok((bed, m))
        });
        assert_eq!(m.old_holder, A, "node-a (priority 200) held first");
        let either = Expect::one_of(&[B, C], gap_bound(ADVERT_MS));
        assert_failover(&bed, &format!("power_off_holder #{run}"), &m, either);
    }
}

/// SIGTERM on the holder: it sends priority 0, removes its VIP and exits 0;
/// the next priority takes over after only its skew time.
#[test]
fn sigterm_hands_over() {
    require_root!();
    let _serial = testbed::serial();
    for run in 0..scenario::repeat() {
        let (mut bed, m) = scenario::retry_setup("sigterm_hands_over", || {
            let mut bed = bed(&[200, 150, 100])?;
            let m = scenario::measure_fault(&mut bed, scenario::WINDOW, |b, h| {
                let t = testbed::wall_now();
                b.signal(h, Signal::TERM);
                Ok(t)
            })?;
            Ok((bed, m))
        });
        let status = bed.wait_exit(A, Duration::from_secs(5));
        assert!(
            status.is_some_and(|s| s.success()),
            "vipd on node-a after SIGTERM: {status:?}\n{}",
            bed.log(A)
        );
        bed.nodes[A].off = true;
        assert!(!bed.has_vip(A), "node-a kept its VIP after SIGTERM");
        assert_failover(&bed, &format!("sigterm_hands_over #{run}"), &m, expect(B));
    }
}

/// Carrier loss on the holder: it must give the VIP up (its own `ip
/// address show` no longer lists it) while the others take over; when the
/// link returns it preempts back, again within the bound.
#[test]
fn link_down_on_holder() {
    require_root!();
    let _serial = testbed::serial();
    for run in 0..scenario::repeat() {
        let (mut bed, m) = scenario::retry_setup("link_down_on_holder", || {
            let mut bed = bed(&[200, 150, 100])?;
            let m = scenario::measure_fault(&mut bed, scenario::WINDOW, |b, h| b.link_down(h))?;
            Ok((bed, m))
        });
        // holders() counts node-a: it is live, only cut off.
        assert_failover(&bed, &format!("link_down_on_holder #{run}"), &m, expect(B));
        let back = scenario::measure_fault(&mut bed, scenario::WINDOW, |b, _| b.link_up(A))
            .unwrap_or_else(|e| panic!("link back up: {e}"));
        assert_failover(
            &bed,
            &format!("link_up_preempts_back #{run}"),
            &back,
            expect(A),
        );
    }
}

/// A higher priority joining a running cluster takes the VIP over without
/// a client-visible gap beyond the bound.
#[test]
fn preemption_by_higher_priority() {
    require_root!();
    let _serial = testbed::serial();
    for run in 0..scenario::repeat() {
        let (bed, m) = scenario::retry_setup("preemption_by_higher_priority", || {
            let peers = [Peer::vipd(200), Peer::vipd(150), Peer::vipd(100)];
            let mut bed = Testbed::new(vipd(), &peers, ADVERT_MS)?;
            bed.start(B)?;
            bed.start(C)?;
            let m = scenario::measure_fault(&mut bed, scenario::WINDOW, |b, _| {
                let t = testbed::wall_now();
                b.start(A)?;
                Ok(t)
            })?;
            Ok((bed, m))
        });
        assert_eq!(m.old_holder, B, "node-b held before node-a started");
        assert_failover(&bed, &format!("preemption #{run}"), &m, expect(A));
    }
}

/// kill -9 of vipd alone: the node stays up with the VIP still on its
/// interface, so the unit's stop step (`vipd cleanup`, ExecStopPost) runs
/// at once and removes it; the others take over within the bound.
#[test]
fn crash_then_cleanup() {
    require_root!();
    let _serial = testbed::serial();
    for run in 0..scenario::repeat() {
        let (bed, m) = scenario::retry_setup("crash_then_cleanup", || {
            let mut bed = bed(&[200, 150, 100])?;
            let m = scenario::measure_fault(&mut bed, scenario::WINDOW, |b, h| {
                let t = b.crash(h);
                let out = b.vipd_cmd(h, &["cleanup"])?;
                assert!(
                    out.status.success(),
                    "vipd cleanup failed ({}): {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                );
                Ok(t)
            })?;
            Ok((bed, m))
        });
        assert!(!bed.has_vip(A), "`vipd cleanup` left the VIP on node-a");
        assert_failover(&bed, &format!("crash_then_cleanup #{run}"), &m, expect(B));
    }
}

/// A crashed holder (kill -9, no cleanup) restarts with its stale VIP still
/// configured. Until it restarts node-b holds; on start it must drop the
/// stale address before it may hold, then preempt back cleanly.
#[test]
fn restart_with_stale_vip() {
    require_root!();
    let _serial = testbed::serial();
    for run in 0..scenario::repeat() {
        let (bed, m) = scenario::retry_setup("restart_with_stale_vip", || {
            let mut bed = bed(&[200, 150, 100])?;
            bed.start_stream()?;
            bed.settle(SETUP)?;
            bed.crash(A);
            // Crashed, not live: its stale VIP does not count as a holder.
            bed.nodes[A].off = true;
            bed.settle(SETUP)?;
            if !bed.has_vip(A) {
                return Err("node-a lost its stale VIP before the restart".into());
            }
            let m: Measured = scenario::measure_fault(&mut bed, scenario::WINDOW, |b, _| {
                let t = testbed::wall_now();
                b.start(A)?;
                Ok(t)
            })?;
            Ok((bed, m))
        });
        assert_eq!(m.old_holder, B, "node-b held while node-a was down");
        assert_failover(
            &bed,
            &format!("restart_with_stale_vip #{run}"),
            &m,
            expect(A),
        );
    }
}

/// `virtual_mac = true`: every node answers for the VIP with
/// 00:00:5e:00:01:33 from a macvlan, so a power-off of the master moves
/// the VIP without the client's neighbour entry changing at all (the
/// gratuitous ARPs only re-teach the switch, which learns the MAC on the
/// new holder's port); the gap stays within the bound, the entry never
/// holds a node's own MAC, and every node's status gives the shared MAC.
#[test]
fn virtual_mac_power_off_leaves_the_clients_entry_alone() {
    require_root!();
    let _serial = testbed::serial();
    for run in 0..scenario::repeat() {
        let (bed, m) = scenario::retry_setup("virtual_mac_power_off", || {
            let peers: Vec<Peer> = [200, 150, 100].iter().map(|&p| Peer::vipd(p)).collect();
            let mut bed = Testbed::new(vipd(), &peers, ADVERT_MS)?;
            bed.use_virtual_mac()?;
            bed.start_all()?;
            let m = scenario::measure_fault(&mut bed, scenario::WINDOW, |b, h| b.power_off(h))?;
            Ok((bed, m))
        });
        assert_eq!(m.old_holder, A, "node-a (priority 200) held first");
        let vmac = bed.vip_mac.clone().expect("a shared VIP MAC");
        assert_eq!(
            vmac, "00:00:5e:00:01:33",
            "the virtual router MAC of VRID 51"
        );
        assert_failover(
            &bed,
            &format!("virtual_mac power-off #{run}"),
            &m,
            expect(B),
        );
        for i in [B, C] {
            let out = bed
                .vipd_cmd(i, &["status", "--get", "hwaddr"])
                .expect("status");
            assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), vmac);
        }
    }
}
