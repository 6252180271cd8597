//! The faults that act on the modelled etcd: a node's path cut and
//! healed, the service down and up, and a leader election (a stall).

use super::super::queue::WorldEvent;
use super::super::World;
use crate::scenario::FaultKind;

impl World {
    /// Applies an etcd fault.
    pub(in crate::world) fn etcd_fault(&mut self, kind: &FaultKind) {
        let now = self.now;
        let Some(e) = self.etcd.as_deref_mut() else {
            return;
        };
        match *kind {
            FaultKind::EtcdCut(i) => {
                let path = &mut e.nodes[i].path;
                if !path.cut {
                    path.cut = true;
                    path.cuts += 1;
                    self.etcd_break(i);
                }
            }
            FaultKind::EtcdHeal(i) => e.nodes[i].path.cut = false,
            FaultKind::EtcdDown if !e.down => {
                e.down = true;
                e.outages += 1;
                e.lost += e.held.len() as u64;
                e.held.clear();
                for i in 0..e.nodes.len() {
                    self.etcd_break(i);
                }
            }
            FaultKind::EtcdUp if e.down => {
                e.down = false;
                self.etcd_serve_again();
            }
            FaultKind::EtcdStall(duration) => {
                let until = now + duration;
                e.stall_until = Some(e.stall_until.map_or(until, |u| u.max(until)));
                self.push(until, WorldEvent::EtcdResume);
            }
            _ => {}
        }
    }

    /// A stall's end: if no later one is on, the new etcd leader serves.
    pub(in crate::world) fn etcd_resume(&mut self) {
        let now = self.now;
        let Some(e) = self.etcd.as_deref_mut() else {
            return;
        };
        if e.stall_until.is_some_and(|u| now >= u) {
            e.stall_until = None;
            if !e.down {
                self.etcd_serve_again();
            }
        }
    }

    /// etcd serves again (up, or a new leader elected): every lease lives
    /// a whole TTL from now (the lessor's promotion), then the calls held
    /// are carried out in the order they came.
    fn etcd_serve_again(&mut self) {
        let now = self.now;
        let Some(e) = self.etcd.as_deref_mut() else {
            return;
        };
        if !e.serving() {
            return;
        }
        let local = e.clock.local(now);
        e.store.refresh_all(local);
        self.hash.word(now.total_micros());
        self.hash.word(0x46 << 32);
        let held = std::mem::take(&mut e.held);
        for (i, up) in held {
            let Some(e) = self.etcd.as_deref_mut() else {
                return;
            };
            let path = &e.nodes[i].path;
            if path.cut || path.cuts != up.cuts || e.outages != up.outages {
                e.lost += 1;
                continue;
            }
            self.etcd_process(i, up);
        }
        self.etcd_arm_expiry();
        self.picture_dirty = true;
    }

    /// True while node `i` reaches etcd and etcd serves.
    pub(in crate::world) fn etcd_reachable(&self, i: usize) -> bool {
        self.etcd
            .as_deref()
            .is_some_and(|e| e.serving() && !e.nodes[i].path.cut)
    }
}
