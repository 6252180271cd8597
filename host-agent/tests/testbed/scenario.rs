//! One fault under a running client stream, measured the same way for every
//! test and for the bench.

use std::time::Duration;

use super::{wait_until, wall_now, Outcome, Record, Testbed, SETUP};

/// How long the stream must have flowed through the settled holder before
/// the fault: long enough for every backup to have heard many adverts.
pub const LEAD_IN: Duration = Duration::from_millis(400);

/// How long the stream is watched after the fault: the gap must close and
/// then no silence may follow for the rest of it.
pub const WINDOW: Duration = Duration::from_millis(1500);

/// The result of one measured fault.
#[derive(Debug, Clone)]
pub struct Measured {
    /// The holder before the fault.
    pub old_holder: usize,
    /// The stream around the fault.
    pub outcome: Outcome,
    /// The raw record, for a failure message.
    pub record: Record,
    /// Wall time of the fault.
    pub fault_at: f64,
}

/// Starts the stream (unless it runs), waits for one settled holder, lets it
/// flow for [`LEAD_IN`], runs `fault` (which returns its wall time), watches
/// for `window` and stops the stream.
///
/// Errors only for a broken setup (no settled holder, no stream before the
/// fault): a caller may retry those, never a measurement.
pub fn measure_fault(
    bed: &mut Testbed,
    window: Duration,
    fault: impl FnOnce(&mut Testbed, usize) -> Result<f64, String>,
) -> Result<Measured, String> {
    if bed.stream().is_none() {
        bed.start_stream()?;
    }
    let old_holder = bed.settle(SETUP)?;
    std::thread::sleep(LEAD_IN);
    let fault_at = fault(bed, old_holder)?;
    std::thread::sleep(window);
    let end = wall_now();
    let record = bed.stop_stream().ok_or("no stream")?;
    let outcome = Outcome::measure(&record, fault_at, end - 0.05)
        .ok_or_else(|| "the stream was not flowing before the fault".to_string())?;
    Ok(Measured {
        old_holder,
        outcome,
        record,
        fault_at,
    })
}

/// Waits until exactly one live node lists the VIP and returns it.
pub fn single_holder(bed: &Testbed, timeout: Duration) -> Option<usize> {
    let mut h = Vec::new();
    wait_until(timeout, || {
        h = bed.holders();
        h.len() == 1
    });
    (h.len() == 1).then(|| h[0])
}

/// How many times each scenario runs in one test: `VIPD_TESTBED_REPEAT`
/// (default 1). Loop the failover tests with it while changing the daemon.
pub fn repeat() -> usize {
    std::env::var("VIPD_TESTBED_REPEAT")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(1)
}

/// Runs `attempt` until it returns `Ok`, at most three times; it returns
/// `Err` only for a broken setup, never for a failed measurement (those
/// panic inside it).
pub fn retry_setup<T>(what: &str, mut attempt: impl FnMut() -> Result<T, String>) -> T {
    let mut last = String::new();
    for n in 1..=3 {
        match attempt() {
            Ok(v) => return v,
            Err(e) => {
                eprintln!("{what}: setup attempt {n} failed: {e}");
                last = e;
            }
        }
    }
    panic!("{what}: setup failed three times; last: {last}");
}

/// What every failover must leave behind, checked after a measured fault.
#[derive(Debug, Clone)]
pub struct Expect {
    /// The nodes of which exactly one must hold the VIP now.
    pub one_of: Vec<usize>,
    /// The largest client-visible gap allowed.
    pub bound: Duration,
}

impl Expect {
    /// Node `holder` must hold.
    pub fn node(holder: usize, bound: Duration) -> Self {
        Expect {
            one_of: vec![holder],
            bound,
        }
    }

    /// One of `nodes` must hold (a tie VRRP may settle either way).
    pub fn one_of(nodes: &[usize], bound: Duration) -> Self {
        Expect {
            one_of: nodes.to_vec(),
            bound,
        }
    }
}

/// Asserts the checks for `m`: the gap closed within the bound and
/// no later silence exceeded it; exactly one live node lists the VIP and it
/// is an expected one; the client's neighbour entry shows the MAC that
/// answers for it (with a shared VIP MAC, learned on its switch port); `vipd
/// status --get vipHost` on every live, connected vipd node names it.
/// Panics with the daemon logs on failure; returns a one-line summary.
pub fn assert_failover(bed: &Testbed, what: &str, m: &Measured, expect: Expect) -> String {
    let o = &m.outcome;
    let holders = bed.holders();
    let names =
        |v: &[usize]| -> Vec<String> { v.iter().map(|&i| bed.nodes[i].id.name.clone()).collect() };
    let summary = format!(
        "{what}: gap {:.1} ms (resume {:.1} ms, later max {:.1} ms, client stall {:.1} ms, {:.0} pps before, {} replies after, {} dup), {} -> {:?}",
        ms(o.gap),
        ms(o.resume),
        ms(o.later_gap),
        ms(o.client_stall),
        o.rate_before,
        o.replies,
        o.duplicates,
        bed.nodes[m.old_holder].id.name,
        names(&holders),
    );
    println!("{summary}");
    assert!(
        o.rate_before >= 200.0,
        "{summary}\nthe client stream ran below 200 pps before the fault"
    );
    assert!(
        o.gap <= expect.bound,
        "{summary}\nclient-visible gap {:?} exceeds the bound {:?}\n{}",
        o.gap,
        expect.bound,
        bed.logs_tail(40)
    );
    assert!(
        o.later_gap <= expect.bound,
        "{summary}\ntraffic resumed, then went silent for {:?} (bound {:?})\n{}",
        o.later_gap,
        expect.bound,
        bed.logs_tail(40)
    );
    assert!(
        holders.len() == 1 && expect.one_of.contains(&holders[0]),
        "{summary}\nlive nodes listing the VIP: {:?}, want exactly one of {:?}\n{}",
        names(&holders),
        names(&expect.one_of),
        bed.logs_tail(40)
    );
    let holder = holders[0];
    let want = &bed.nodes[holder].id;
    let mac = bed.answering_mac(holder);
    let neigh = bed.client_neigh();
    assert_eq!(
        neigh.as_ref().map(|(mac, _)| mac.as_str()),
        Some(mac),
        "{summary}\nthe client's neighbour entry for the VIP is {neigh:?}, want {mac} for {}",
        want.name,
    );
    if bed.vip_mac.is_some() {
        assert_eq!(
            bed.switch_port_of(mac).as_deref(),
            Some(bed.nodes[holder].port.as_str()),
            "{summary}\nthe switch has not learned {mac} on {}'s port",
            want.name
        );
    }
    assert_status_names(bed, holder, &summary);
    summary
}

/// Asserts that `vipd status --get vipHost` names `holder` on every live
/// vipd node still on the segment and running (waiting up to 2 s for the status to catch up).
pub fn assert_status_names(bed: &Testbed, holder: usize, context: &str) {
    let want = &bed.nodes[holder].id.name;
    for (i, node) in bed.nodes.iter().enumerate() {
        if node.off || node.unplugged || !node.peer.is_vipd() || !bed.has_daemon(i) {
            continue;
        }
        let mut got = Err(String::new());
        wait_until(Duration::from_secs(2), || {
            got = bed.vip_host(i);
            got.as_ref().is_ok_and(|h| h == want)
        });
        assert_eq!(
            got.as_deref(),
            Ok(want.as_str()),
            "{context}\n`vipd status --get vipHost` on {}",
            node.id.name
        );
    }
}

/// Milliseconds as a float, for printing.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The MAC of node `i` as bytes.
pub fn mac_of(bed: &Testbed, i: usize) -> [u8; 6] {
    let mut mac = [0u8; 6];
    for (b, part) in mac.iter_mut().zip(bed.nodes[i].id.mac.split(':')) {
        *b = u8::from_str_radix(part, 16).unwrap_or(0);
    }
    mac
}

/// SIGSTOP of holder `a`'s daemon: its kernel keeps the VIP configured, but
/// the fence closes at the lease's end, so after `b` took over (within
/// `takeover`) the client never gets an ARP reply or an echo reply for the
/// VIP from `a`: not when it asks for the VIP again, not even when its
/// neighbour entry is forced to `a`'s MAC. SIGCONT: `a` gives the VIP up
/// (its log says so). Panics with the logs on failure; returns a summary.
pub fn frozen_holder(bed: &Testbed, a: usize, b: usize, takeover: Duration) -> String {
    use rustix::process::Signal;
    let capture = bed.capture_answers().expect("client capture");
    std::thread::sleep(Duration::from_millis(200));
    let stopped = wall_now();
    bed.signal(a, Signal::STOP);
    assert!(
        wait_until(takeover, || bed.has_vip(b)),
        "node {b} takes over from the frozen node {a}\n{}",
        bed.logs_tail(20)
    );
    let took_over = bed
        .log_time(b, "VIP acquired", stopped)
        .expect("the new holder logged its acquisition");
    assert!(
        bed.has_vip(a),
        "the frozen daemon removed nothing: the address stays"
    );
    let client = bed.client_ns.clone();
    let vip = super::VIP.to_string();
    // Ask again (the client's ARP), then force the frozen node's MAC.
    super::ip(&["-n", &client, "neigh", "flush", &vip, "dev", "eth0"]).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let a_mac = bed.nodes[a].id.mac.clone();
    super::ip(&[
        "-n",
        &client,
        "neigh",
        "replace",
        &vip,
        "lladdr",
        &a_mac,
        "dev",
        "eth0",
        "nud",
        "permanent",
    ])
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    super::ip(&["-n", &client, "neigh", "del", &vip, "dev", "eth0"]).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let resumed = wall_now();
    bed.signal(a, Signal::CONT);
    // Its log, not a poll of its addresses: a node that preempts takes the
    // VIP back a few milliseconds later, which a poll can straddle.
    assert!(
        wait_until(Duration::from_secs(2), || bed
            .log_time(a, "VIP released", resumed)
            .is_some()),
        "node {a} gave the VIP up once it ran again\n{}",
        bed.logs_tail(20)
    );
    std::thread::sleep(Duration::from_millis(300));
    let answers = capture.answers();
    drop(capture);
    let vip_addr = super::VIP;
    let from = |i: usize| mac_of(bed, i);
    let from_a: Vec<_> = answers
        .iter()
        .filter(|x| x.from_mac == from(a) && x.for_addr == vip_addr && x.at > took_over)
        .collect();
    let from_b = answers
        .iter()
        .filter(|x| x.from_mac == from(b) && x.for_addr == vip_addr && x.at > took_over)
        .count();
    let a_before = answers
        .iter()
        .filter(|x| x.from_mac == from(a) && x.for_addr == vip_addr && x.at < stopped)
        .count();
    let summary = format!(
        "frozen holder: {} acquired {:.1} ms after SIGSTOP; answers for the VIP from {} before the stop {a_before}, after the takeover {}; from the new holder after {from_b}",
        bed.nodes[b].id.name,
        (took_over - stopped) * 1000.0,
        bed.nodes[a].id.name,
        from_a.len()
    );
    println!("{summary}");
    assert!(a_before > 0 && from_b > 0, "the capture saw answers at all");
    assert!(
        from_a.is_empty(),
        "the frozen node answered for the VIP after the takeover: {from_a:?}"
    );
    summary
}
