//! vipd beside Debian's keepalived and beside RFC 9568 peers, on the
//! failover testbed (see docs/testbed.md).
//!
//! keepalived 2.2.x checksums IPv4 VRRPv3 adverts over a pseudo-header and
//! rejects the RFC 9568 form; RFC 9568 peers (routers, keepalived 2.4 with
//! `v3_checksum_as_v2`) send the form without one. vipd accepts both and,
//! with `checksum = "auto"` (the default), answers in the form it hears,
//! starting with the pseudo-header form. Each test checks that the higher
//! priority wins whichever implementation has it, and that failover works in
//! both directions. An RFC 9568 peer is played by vipd with
//! `checksum = "rfc9568"`.
//!
//! Needs root, ip, sysctl, tcpdump and keepalived (skips otherwise;
//! fails if CI is set).

mod netns;
mod testbed;

use std::path::Path;
use std::process::Command;

use std::net::Ipv4Addr;

use testbed::capture::{Advert, Capture, Form};
use testbed::scenario::{self, assert_failover, Expect, Measured};
use testbed::{gap_bound, Peer, Testbed};

/// Interop runs at 50 ms adverts, not the failover suite's 10 ms: keepalived
/// 2.2.7 misses 10 ms deadlines when the CPU is contended (a development run
/// saw it fall silent for over 36 ms and a vipd backup flap to master), and
/// what these tests prove (who wins, in both directions, and the checksum
/// forms) does not depend on the interval. The 10 ms comparison is the
/// failover-bench example's job.
const ADVERT_MS: u32 = 50;

const A: usize = 0;
const B: usize = 1;

/// Bound for a transition that keepalived performs (its timers, its
/// gratuitous ARP): that it works is checked here, how fast it is is the
/// bench's business.
const KEEPALIVED_BOUND: std::time::Duration = std::time::Duration::from_secs(1);

fn vipd() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_vipd"))
}

/// What the test without keepalived runs: the testbed, and tcpdump for
/// the advert capture.
const CAPTURE_TOOLS: &[&str] = &["ip", "sysctl", "tcpdump"];

macro_rules! require_root {
    ($tools:expr) => {
        if !testbed::can_run("the interop testbed", $tools) {
            return;
        }
    };
}

macro_rules! require_root_and_keepalived {
    () => {
        require_root!(testbed::KEEPALIVED_TOOLS);
        // On PATH is not enough: it must run (a broken package, a missing
        // library), or the interop tests would fail for the wrong reason.
        let runs = Command::new("keepalived")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            runs,
            "keepalived is on PATH but `keepalived --version` fails"
        );
    };
}

fn expect(holder: usize, bound: std::time::Duration) -> Expect {
    Expect::node(holder, bound)
}

/// Asserts that keepalived (node `i`) never refused one of vipd's adverts.
fn assert_keepalived_accepted(bed: &Testbed, i: usize) {
    let log = bed.log(i);
    for bad in [
        "Invalid VRRPv3 checksum",
        "bad checksum",
        "ip/vrrp header check failed",
    ] {
        assert!(
            !log.contains(bad),
            "keepalived on {} logged {bad:?}:\n{log}",
            bed.nodes[i].id.name
        );
    }
}

/// Counts adverts per checksum form, per source, for failure messages.
fn tally(adverts: &[Advert]) -> String {
    let mut t = std::collections::BTreeMap::<(Ipv4Addr, String), usize>::new();
    for a in adverts {
        *t.entry((a.source, format!("{:?}", a.form))).or_default() += 1;
    }
    format!("{t:?}")
}

/// Asserts that every advert from `source` (all sources if `None`) sent
/// after wall time `after` has checksum form `form`, and that there was one.
fn assert_forms(adverts: &[Advert], source: Option<Ipv4Addr>, after: f64, form: Form) {
    let chosen: Vec<&Advert> = adverts
        .iter()
        .filter(|a| a.at > after && source.is_none_or(|s| a.source == s))
        .collect();
    assert!(
        !chosen.is_empty(),
        "no adverts from {source:?} after {after}: {}",
        tally(adverts)
    );
    assert!(
        chosen.iter().all(|a| a.form == form),
        "adverts from {source:?} after {after} are not all {form:?}: {}",
        tally(adverts)
    );
}

/// Builds a testbed of `peers`, starts them and powers node-a (which must
/// hold) off, measured.
fn power_off_a(peers: &[Peer]) -> Result<(Testbed, Capture, Measured), String> {
    let mut bed = Testbed::new(vipd(), peers, ADVERT_MS)?;
    let capture = bed.capture()?;
    bed.start_all()?;
    let m = scenario::measure_fault(&mut bed, scenario::WINDOW, |b, h| {
        if h != A {
            return Err(format!("{} held first, not node-a", b.nodes[h].id.name));
        }
        b.power_off(h)
    })?;
    Ok((bed, capture, m))
}

/// Powers node-a back on (its daemon restarts), measured.
fn power_on_a(bed: &mut Testbed) -> Measured {
    scenario::measure_fault(bed, scenario::WINDOW, |b, _| {
        let t = testbed::wall_now();
        b.power_on(A)?;
        Ok(t)
    })
    .unwrap_or_else(|e| panic!("power node-a back on: {e}"))
}

/// Powers node-a off and then back on, with `peers` as nodes a, b, c:
/// node-b must hold within `off` of the power-off, node-a again within
/// `back` of its return. Returns the testbed and its capture for checks.
fn off_and_back(
    label: &str,
    run: usize,
    peers: &[Peer],
    off: std::time::Duration,
    back: std::time::Duration,
) -> (Testbed, Capture) {
    let (mut bed, capture, down) = scenario::retry_setup(label, || power_off_a(peers));
    assert_failover(&bed, &format!("{label}: off #{run}"), &down, expect(B, off));
    let up = power_on_a(&mut bed);
    assert_failover(&bed, &format!("{label}: back #{run}"), &up, expect(A, back));
    (bed, capture)
}

/// keepalived has the higher priority: it holds with vipd nodes as backups
/// (so it accepts their adverts and they accept its); when it powers off a
/// vipd node takes over within vipd's bound; when it comes back it preempts
/// the vipd holder.
#[test]
fn keepalived_higher_priority() {
    require_root_and_keepalived!();
    let _serial = testbed::serial();
    for run in 0..scenario::repeat() {
        let (bed, capture) = off_and_back(
            "keepalived 200 / vipd 150",
            run,
            &[Peer::keepalived(200), Peer::vipd(150), Peer::vipd(100)],
            gap_bound(ADVERT_MS),
            KEEPALIVED_BOUND,
        );
        assert_keepalived_accepted(&bed, A);
        // vipd (node-b, master while keepalived was off) spoke keepalived's form.
        let adverts = capture.adverts();
        assert_forms(&adverts, None, 0.0, Form::PseudoHeader);
        assert_forms(
            &adverts,
            Some(bed.nodes[B].id.addr),
            0.0,
            Form::PseudoHeader,
        );
    }
}

/// vipd has the higher priority: keepalived stays backup (it accepts vipd's
/// pseudo-header-checksummed adverts); when vipd powers off keepalived takes
/// over; when vipd comes back it preempts keepalived within vipd's bound.
#[test]
fn vipd_higher_priority() {
    require_root_and_keepalived!();
    let _serial = testbed::serial();
    for run in 0..scenario::repeat() {
        let (bed, capture) = off_and_back(
            "vipd 200 / keepalived 150",
            run,
            &[Peer::vipd(200), Peer::keepalived(150), Peer::vipd(100)],
            KEEPALIVED_BOUND,
            gap_bound(ADVERT_MS),
        );
        assert_keepalived_accepted(&bed, B);
        let adverts = capture.adverts();
        assert_forms(&adverts, None, 0.0, Form::PseudoHeader);
        assert_forms(
            &adverts,
            Some(bed.nodes[A].id.addr),
            0.0,
            Form::PseudoHeader,
        );
    }
}

/// An RFC 9568 peer (vipd with `checksum = "rfc9568"`) beside vipd with
/// the default `auto`, each in turn the higher priority: the higher wins,
/// failover and preemption work both ways, within the bound. On the wire,
/// an `auto` node that has heard the RFC peer sends the RFC 9568 form; one
/// that has heard nobody yet sends the pseudo-header form.
#[test]
fn rfc9568_peer() {
    require_root!(CAPTURE_TOOLS);
    let _serial = testbed::serial();
    let rfc = |priority| Peer::Vipd {
        priority,
        checksum: "rfc9568",
    };
    let bound = gap_bound(ADVERT_MS);
    for run in 0..scenario::repeat() {
        // The RFC peer holds first; the auto node learns its form as backup.
        let (bed, capture) = off_and_back(
            "rfc9568 200 / auto 150",
            run,
            &[rfc(200), Peer::vipd(150), Peer::vipd(100)],
            bound,
            bound,
        );
        let adverts = capture.adverts();
        // node-a speaks RFC 9568 always; node-b (auto) once it has heard
        // node-a (on a slow start it may time out first and speak the
        // pseudo-header form before node-a's first advert).
        let a = bed.nodes[A].id.addr;
        let first_a = adverts
            .iter()
            .find(|x| x.source == a)
            .map(|x| x.at)
            .expect("the RFC peer node-a never advertised");
        assert_forms(&adverts, Some(a), 0.0, Form::Rfc9568);
        assert_forms(
            &adverts,
            Some(bed.nodes[B].id.addr),
            first_a + 0.02,
            Form::Rfc9568,
        );
        drop(capture);
        drop(bed);

        // The auto node holds first, before any peer has spoken: it sends
        // the pseudo-header form until the RFC peer becomes master; after
        // its restart it has heard the RFC peer and preempts in its form.
        let (bed, capture) = off_and_back(
            "auto 200 / rfc9568 150",
            run,
            &[Peer::vipd(200), rfc(150), rfc(100)],
            bound,
            bound,
        );
        let adverts = capture.adverts();
        let a = bed.nodes[A].id.addr;
        let b = bed.nodes[B].id.addr;
        let first_rfc = adverts
            .iter()
            .find(|x| x.source != a)
            .map(|x| x.at)
            .expect("no RFC peer ever advertised");
        let before: Vec<Advert> = adverts
            .iter()
            .copied()
            .filter(|x| x.at < first_rfc)
            .collect();
        // On a slow start an RFC peer may time out first and speak before
        // node-a ever advertised; then there is nothing to check here.
        if before.iter().any(|x| x.source == a) {
            assert_forms(&before, Some(a), 0.0, Form::PseudoHeader);
        }
        // An advert already on its way when the RFC peer first spoke may
        // still carry the old form: allow one advert interval and a margin.
        assert_forms(&adverts, Some(a), first_rfc + 0.02, Form::Rfc9568);
        assert_forms(&adverts, Some(b), 0.0, Form::Rfc9568);
    }
}
