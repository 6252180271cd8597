//! The event queue: world events ordered by (virtual time, sequence), so
//! ties pop in the order they were queued and a run replays exactly.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use vip_core::Instant;

use super::etcd::{Down, Up};
use crate::net::Frame;

/// What a queued event does when its time comes.
#[derive(Debug)]
pub(super) enum WorldEvent {
    /// Node `i` boots for the first time.
    Start(usize),
    /// Node `i`'s timer, armed in incarnation `u32`.
    NodeTimer(usize, u32),
    /// Client `c`'s timer.
    ClientTimer(usize),
    /// A frame from port `u16` reaches the switch.
    AtSwitch(u16, Frame),
    /// A frame from the switch reaches port `u16`.
    AtPort(u16, Frame),
    /// The scenario's fault at this index.
    Fault(usize),
    /// A loss burst with this key ends.
    BurstEnd(u64),
    /// Something the holder picture depends on may have changed by itself
    /// (a fence closing, a restart wait or an allowance ending).
    Recheck,
    /// The attacker sends a frame.
    Attack,
    /// A call from node `usize` reaches etcd.
    AtEtcd(usize, Box<Up>),
    /// A message from etcd reaches node `usize`.
    FromEtcd(usize, Box<Down>),
    /// Node `i`'s etcd adapter's timer, armed in incarnation `u32`.
    EtcdTimer(usize, u32),
    /// etcd's lessor checks for expired leases.
    EtcdExpiry,
    /// An etcd leader election (a stall) may be over.
    EtcdResume,
    /// The run ends.
    End,
}

#[derive(Debug)]
struct Queued {
    at: Instant,
    seq: u64,
    event: WorldEvent,
}

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Queued {
    /// Reversed, so the max-heap pops the earliest (time, sequence).
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// The queue of world events still to happen.
#[derive(Debug, Default)]
pub(super) struct EventQueue {
    heap: BinaryHeap<Queued>,
    /// Events queued so far: the tie-breaker.
    seq: u64,
}

impl EventQueue {
    /// Queues `event` at `at`, after every event already queued for `at`.
    pub(super) fn push(&mut self, at: Instant, event: WorldEvent) {
        self.seq += 1;
        self.heap.push(Queued {
            at,
            seq: self.seq,
            event,
        });
    }

    /// The time of the earliest event.
    pub(super) fn peek_at(&self) -> Option<Instant> {
        self.heap.peek().map(|q| q.at)
    }

    /// The earliest event and its time.
    pub(super) fn pop(&mut self) -> Option<(Instant, WorldEvent)> {
        self.heap.pop().map(|q| (q.at, q.event))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_pop_in_queuing_order() {
        let mut q = EventQueue::default();
        let at = Instant::from_millis;
        q.push(at(5), WorldEvent::Fault(0));
        q.push(at(1), WorldEvent::Fault(1));
        q.push(at(5), WorldEvent::Fault(2));
        let order: Vec<_> = std::iter::from_fn(|| q.pop())
            .map(|(t, e)| match e {
                WorldEvent::Fault(f) => (t, f),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(order, [(at(1), 1), (at(5), 0), (at(5), 2)]);
    }
}
