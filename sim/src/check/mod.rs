//! Invariants and their bounds, checked over the whole run.
//!
//! The world reports the holder picture after every change and each client's
//! ARP entry at each packet it sends; the [`Monitor`] turns those into "bad"
//! intervals and, at the end, forgives the parts that fall inside an
//! allowance window. Every fault opens one: `[start, end + settle]`, where
//! `end` is the fault's end for faults that last (pause until resume, loss
//! burst) and its start otherwise. See docs/simulator.md for the bounds.

use std::fmt;

use vip_core::{Duration, Instant};

use crate::units::ms;

pub mod bounds;
pub mod etcd;
pub mod quorum;

pub use bounds::bounds;
pub use etcd::EtcdLog;
pub use quorum::QuorumLog;

/// The most immediate violations a run keeps word for word.
const KEPT: usize = 50;

/// One broken invariant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// When it was first seen broken beyond its bound.
    pub at: Instant,
    /// What broke.
    pub what: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at {}: {}", self.at, self.what)
    }
}

/// Which holder invariant an interval broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bad {
    /// Two or more holders inside one connected group.
    TwoHolders,
    /// A connected group with an eligible node has no holder.
    NoHolder,
}

/// Bounds the monitor applies.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// How long after a fault (or its end) the holder picture may be wrong.
    pub settle: Duration,
    /// How long after a fault a client's ARP entry may point elsewhere.
    pub arp_settle: Duration,
    /// With steady random loss: a two-holder episode no longer than this is a
    /// transient partition (lost adverts), not a violation.
    pub transient: Option<Duration>,
    /// Two holders at any instant are a violation, whatever the faults,
    /// by the claim of the election named (quorum, etcd); `None`: only
    /// outside the allowance windows (vrrp).
    pub zero_tolerance: Option<&'static str>,
    /// A no-holder episode is allowed `settle` from its own start, not only
    /// from a fault (quorum: a holder may lose its lease to loss at any time).
    pub own_window: bool,
    /// Each acquisition lets clients' entries point elsewhere for this long
    /// (quorum: the re-announcement `Q` plus the latency); `None` for vrrp.
    pub arp_after_acquire: Option<Duration>,
}

/// The holder picture the world reports.
#[derive(Debug, Clone, Copy, Default)]
pub struct Picture {
    /// Nodes holding the VIP.
    pub holders: usize,
    /// Some group has two or more holders.
    pub two_in_a_group: bool,
    /// Some group with an eligible node has none.
    pub group_without_holder: bool,
    /// Two or more hold, allowed because all but one of them were frozen
    /// (quorum: a thawed VM still under its old lease).
    pub excused_overlap: bool,
}

/// The invariant monitor: collects evidence during a run and judges it at
/// the end.
#[derive(Debug)]
pub struct Monitor {
    bounds: Bounds,
    allowances: Vec<(Instant, Instant)>,
    open_allowances: Vec<(u64, Instant)>,
    open_bad: [Option<Instant>; 2],
    bad: Vec<(Bad, Instant, Instant)>,
    arp_open: Vec<Option<Instant>>,
    arp_bad: Vec<(usize, Instant, Instant)>,
    unreached: Vec<(usize, Instant, Instant)>,
    immediate: Vec<Violation>,
    last: Option<(Instant, Picture)>,
    acquired_once: bool,
    acquisitions: Vec<(Instant, Instant)>,
    overflow: usize,
    /// Time with two or more holders.
    pub two_holder_time: Duration,
    /// Part of `two_holder_time` allowed after a freeze.
    pub excused_time: Duration,
    /// Time with no holder, after the first acquisition.
    pub no_holder_time: Duration,
}

impl Monitor {
    /// A monitor for `clients` clients.
    pub fn new(bounds: Bounds, clients: usize) -> Monitor {
        Monitor {
            bounds,
            allowances: Vec::new(),
            open_allowances: Vec::new(),
            open_bad: [None; 2],
            bad: Vec::new(),
            arp_open: vec![None; clients],
            arp_bad: Vec::new(),
            unreached: Vec::new(),
            immediate: Vec::new(),
            last: None,
            acquired_once: false,
            acquisitions: Vec::new(),
            overflow: 0,
            two_holder_time: Duration::ZERO,
            excused_time: Duration::ZERO,
            no_holder_time: Duration::ZERO,
        }
    }

    /// The bounds in force.
    pub fn bounds(&self) -> Bounds {
        self.bounds
    }

    /// A fault that happens at one instant (now, or one already known to
    /// come, such as a node rejoining by itself).
    pub fn fault(&mut self, at: Instant) {
        self.allowances.push((at, at));
    }

    /// A fault that lasts from `at` until [`Monitor::fault_end`] with the same key.
    pub fn fault_begin(&mut self, key: u64, at: Instant) {
        self.open_allowances.push((key, at));
    }

    /// Something the invariants allow for from `from` to `until` (plus the
    /// settle bounds, as after a fault).
    pub fn allow(&mut self, from: Instant, until: Instant) {
        self.allowances.push((from, until));
    }

    /// The end of a lasting fault.
    pub fn fault_end(&mut self, key: u64, at: Instant) {
        if let Some(i) = self.open_allowances.iter().position(|&(k, _)| k == key) {
            let (_, start) = self.open_allowances.remove(i);
            self.allowances.push((start, at));
        }
    }

    /// A rule that holds at every instant broke.
    pub fn violation(&mut self, at: Instant, what: String) {
        if self.immediate.len() < KEPT {
            self.immediate.push(Violation { at, what });
        } else {
            self.overflow += 1;
        }
    }

    /// A node acquired at `at` (opens an ARP allowance with `arp_after_acquire`).
    pub fn acquired(&mut self, at: Instant) {
        self.arp_allow(at, at);
    }

    /// Clients' entries may point elsewhere from `from` to `until`, plus
    /// `arp_after_acquire` (quorum: a thawed holder may announce until it
    /// steps down, and the holder's answer is rate-limited).
    pub fn arp_allow(&mut self, from: Instant, until: Instant) {
        if self.bounds.arp_after_acquire.is_some() {
            self.acquisitions.push((from, until));
        }
    }

    /// The holder picture from `at` on.
    pub fn observe(&mut self, at: Instant, picture: Picture) {
        if let Some((since, before)) = self.last {
            let span = at - since;
            if before.holders >= 2 {
                self.two_holder_time = self.two_holder_time + span;
            }
            if before.excused_overlap {
                self.excused_time = self.excused_time + span;
            }
            if before.holders == 0 && self.acquired_once {
                self.no_holder_time = self.no_holder_time + span;
            }
        }
        if picture.holders > 0 {
            self.acquired_once = true;
        }
        self.last = Some((at, picture));
        for (slot, kind, now_bad) in [
            (0, Bad::TwoHolders, picture.two_in_a_group),
            (1, Bad::NoHolder, picture.group_without_holder),
        ] {
            match (self.open_bad[slot], now_bad) {
                (None, true) => self.open_bad[slot] = Some(at),
                (Some(start), false) => {
                    self.open_bad[slot] = None;
                    // With zero tolerance even an instant counts.
                    let instant = self.bounds.zero_tolerance.is_some() && kind == Bad::TwoHolders;
                    if at > start || instant {
                        self.bad.push((kind, start, at));
                    }
                }
                _ => {}
            }
        }
    }

    /// Client `client`'s entry at `at`: `Some(true)` if it points to the
    /// holder of its group, `Some(false)` if not, `None` when that group has
    /// no single holder (the holder invariants cover it).
    pub fn arp_sample(&mut self, client: usize, at: Instant, ok: Option<bool>) {
        let Some(slot) = self.arp_open.get_mut(client) else {
            return;
        };
        match (*slot, ok) {
            (None, Some(false)) => *slot = Some(at),
            (Some(start), Some(true) | None) => {
                *slot = None;
                self.arp_bad.push((client, start, at));
            }
            _ => {}
        }
    }

    /// Client `client` sent from `from` to `to` and none of its packets was
    /// ever delivered: no check above sampled it (it never had an entry to
    /// judge), so that span must lie inside the ARP bound's windows.
    pub fn never_reached(&mut self, client: usize, from: Instant, to: Instant) {
        if from < to {
            self.unreached.push((client, from, to));
        }
    }

    /// Closes the run at `end` and returns every violation, in time order.
    pub fn finish(&mut self, end: Instant) -> Vec<Violation> {
        self.observe(end, self.last.map(|l| l.1).unwrap_or_default());
        for slot in 0..2 {
            if let Some(start) = self.open_bad[slot].take() {
                let kind = [Bad::TwoHolders, Bad::NoHolder][slot];
                self.bad.push((kind, start, end));
            }
        }
        for c in 0..self.arp_open.len() {
            if let Some(start) = self.arp_open[c].take() {
                self.arp_bad.push((c, start, end));
            }
        }
        for (_, start) in self.open_allowances.drain(..) {
            self.allowances.push((start, end));
        }
        let holder_windows = merged(&self.allowances, self.bounds.settle);
        let mut arp_windows = merged(&self.allowances, self.bounds.arp_settle);
        if let Some(after) = self.bounds.arp_after_acquire {
            arp_windows.extend(merged(&self.acquisitions, after));
            arp_windows = merged(&arp_windows, Duration::ZERO);
        }
        let mut out = self.immediate.clone();
        if self.overflow > 0 {
            let at = out.last().map_or(end, |v| v.at);
            let what = format!("... and {} more violations like these", self.overflow);
            out.push(Violation { at, what });
        }
        for &(kind, start, stop) in &self.bad {
            if let Some(claim) = self
                .bounds
                .zero_tolerance
                .filter(|_| kind == Bad::TwoHolders)
            {
                let what = format!(
                    "two holders from {start} to {stop} ({claim}: not even for an instant)"
                );
                out.push(Violation { at: start, what });
                continue;
            }
            let transient = self
                .bounds
                .transient
                .is_some_and(|t| kind == Bad::TwoHolders && stop - start <= t);
            if transient {
                continue;
            }
            let from = if self.bounds.own_window && kind == Bad::NoHolder {
                start + self.bounds.settle
            } else {
                start
            };
            if let Some(at) = first_uncovered(&holder_windows, from, stop) {
                let what = match kind {
                    Bad::TwoHolders => format!(
                        "two holders in one connected group from {start} to {stop}, \
                         beyond the settle bound {}",
                        ms(self.bounds.settle)
                    ),
                    Bad::NoHolder if self.bounds.zero_tolerance == Some("etcd") => format!(
                        "no holder while a node could hold (running, reaching etcd) from {start} \
                         to {stop}, beyond the liveness bound {}",
                        ms(self.bounds.settle)
                    ),
                    Bad::NoHolder if self.bounds.own_window => format!(
                        "no holder with a live majority from {start} to {stop}, \
                         beyond the liveness bound {}",
                        ms(self.bounds.settle)
                    ),
                    Bad::NoHolder => format!(
                        "no holder in a group with a live node from {start} to {stop}, \
                         beyond the settle bound {}",
                        ms(self.bounds.settle)
                    ),
                };
                out.push(Violation { at, what });
            }
        }
        for &(client, start, stop) in &self.arp_bad {
            if let Some(at) = first_uncovered(&arp_windows, start, stop) {
                out.push(Violation {
                    at,
                    what: format!(
                        "client {client}'s ARP entry for the VIP did not lead to the holder \
                         (its MAC, or the switch port that MAC is learned on) from {start} to \
                         {stop}, beyond the bound {}",
                        ms(self.bounds.arp_settle)
                    ),
                });
            }
        }
        for &(client, start, stop) in &self.unreached {
            if let Some(at) = first_uncovered(&arp_windows, start, stop) {
                out.push(Violation {
                    at,
                    what: format!(
                        "client {client} never reached the VIP: none of its packets from {start} \
                         to {stop} was delivered, beyond the bound {}",
                        ms(self.bounds.arp_settle)
                    ),
                });
            }
        }
        out.sort_by_key(|v| v.at);
        out
    }
}

/// Windows `[start, end + settle]`, sorted and merged.
fn merged(allowances: &[(Instant, Instant)], settle: Duration) -> Vec<(Instant, Instant)> {
    let mut w: Vec<(Instant, Instant)> = allowances.iter().map(|&(s, e)| (s, e + settle)).collect();
    w.sort();
    let mut out: Vec<(Instant, Instant)> = Vec::with_capacity(w.len());
    for (s, e) in w {
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

/// The first instant of `[start, stop)` outside every window, if any.
fn first_uncovered(
    windows: &[(Instant, Instant)],
    start: Instant,
    stop: Instant,
) -> Option<Instant> {
    let mut t = start;
    for &(s, e) in windows {
        if t >= stop {
            return None;
        }
        if e < t {
            continue;
        }
        if s > t {
            return Some(t);
        }
        t = e;
    }
    (t < stop).then_some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    fn monitor() -> Monitor {
        Monitor::new(
            Bounds {
                settle: Duration::from_millis(100),
                arp_settle: Duration::from_millis(500),
                transient: None,
                zero_tolerance: None,
                own_window: false,
                arp_after_acquire: None,
            },
            1,
        )
    }

    fn picture(holders: usize) -> Picture {
        Picture {
            holders,
            two_in_a_group: holders >= 2,
            group_without_holder: holders == 0,
            excused_overlap: false,
        }
    }

    #[test]
    fn a_failover_inside_the_window_passes() {
        let mut c = monitor();
        c.fault(at(0));
        c.observe(at(0), picture(0));
        c.observe(at(50), picture(1));
        c.fault(at(1000));
        c.observe(at(1000), picture(0));
        c.observe(at(1080), picture(1));
        assert!(c.finish(at(2000)).is_empty());
        assert_eq!(c.no_holder_time, Duration::from_millis(80));
    }

    #[test]
    fn two_holders_outside_any_window_fail() {
        let mut c = monitor();
        c.fault(at(0));
        c.observe(at(50), picture(1));
        c.observe(at(700), picture(2));
        c.observe(at(800), picture(1));
        let v = c.finish(at(2000));
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].at, at(700));
        assert_eq!(c.two_holder_time, Duration::from_millis(100));
    }

    #[test]
    fn coverage_finds_the_gap_between_windows() {
        let w = merged(
            &[(at(0), at(0)), (at(300), at(400))],
            Duration::from_millis(100),
        );
        assert_eq!(w, [(at(0), at(100)), (at(300), at(500))]);
        assert_eq!(first_uncovered(&w, at(50), at(350)), Some(at(100)));
        assert_eq!(first_uncovered(&w, at(320), at(450)), None);
        assert_eq!(first_uncovered(&w, at(450), at(600)), Some(at(500)));
    }
}
