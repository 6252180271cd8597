//! What an adapter knows of the keys under the prefix, and what it tells
//! its core when they change (docs/architecture.md, "The etcd adapter").
//!
//! Fed a read, then the watch's revisions in order; returns the core
//! inputs each calls for: per revision the move order if it changed, then
//! the leader if it changed; after a (re)started watch, both as read. A key
//! of this node's counts as its own (`me`) only under its current lease,
//! as the daemon's view has it: an earlier run's key, not yet taken over,
//! is not one to hold on (its lease ends by itself, and with it the key).
//! A key this node asked to delete is still reported as its own: the core
//! keeps it from holding on it (`EtcdInput::Resigned`, docs/protocol.md
//! "Resigning"), not the view.

use std::collections::BTreeMap;

use vip_core::election::etcd::{EtcdInput, LeaderRecord, PostedMove};

use super::store::{Entry, Key, LeaseId, Revision};

/// The keys as this node last read them.
#[derive(Debug, Clone)]
pub(super) struct View {
    me: usize,
    lease: Option<LeaseId>,
    keys: BTreeMap<Key, Entry>,
    /// What was last said: `None` before anything (and after a reset).
    said_order: Option<Option<PostedMove>>,
    said_leader: Option<Option<LeaderRecord>>,
}

impl View {
    /// An empty view for node `me`.
    pub(super) fn new(me: usize) -> View {
        View {
            me,
            lease: None,
            keys: BTreeMap::new(),
            said_order: None,
            said_leader: None,
        }
    }

    /// A fresh read (a (re)started watch): the order, then the leader,
    /// said again whatever was said before.
    pub(super) fn reset(&mut self, keys: &[(Key, Entry)], out: &mut Vec<EtcdInput>) {
        self.keys = keys.iter().copied().collect();
        self.said_order = None;
        self.said_leader = None;
        self.changes(out);
    }

    /// One revision from the watch.
    pub(super) fn change(&mut self, revision: &Revision, out: &mut Vec<EtcdInput>) {
        for c in &revision.changes {
            match c.entry {
                Some(e) => self.keys.insert(c.key, e),
                None => self.keys.remove(&c.key),
            };
        }
        self.changes(out);
    }

    /// This node's lease changed (granted, lost, revoked).
    pub(super) fn set_lease(&mut self, lease: Option<LeaseId>, out: &mut Vec<EtcdInput>) {
        self.lease = lease;
        self.changes(out);
    }

    /// The leader as the core should know it.
    fn leader(&self) -> Option<LeaderRecord> {
        let (node, entry) = self
            .keys
            .iter()
            .filter_map(|(k, e)| match k {
                Key::Election(i) => Some((*i, e)),
                Key::Move => None,
            })
            .min_by_key(|(_, e)| e.create)?;
        let me = node == self.me && self.lease == Some(entry.lease);
        entry.leader_record(me)
    }

    /// What changed since last said: the order first, then the leader.
    fn changes(&mut self, out: &mut Vec<EtcdInput>) {
        let order = self.keys.get(&Key::Move).and_then(Entry::posted_move);
        if self.said_order != Some(order) {
            self.said_order = Some(order);
            out.push(EtcdInput::Move(order));
        }
        let leader = self.leader();
        if self.said_leader != Some(leader) {
            self.said_leader = Some(leader);
            out.push(match leader {
                Some(r) => EtcdInput::Leader(r),
                None => EtcdInput::NoLeader,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use vip_core::election::etcd::MoveOrder;

    use super::super::store::{Change, Record, Value};
    use super::*;

    fn key(node: usize, create: u64, lease: LeaseId) -> (Key, Entry) {
        let record = Record::for_test(node);
        let entry = Entry {
            create,
            modified: create,
            lease,
            value: Value::Record(record),
        };
        (Key::Election(node), entry)
    }

    fn leader(out: &[EtcdInput]) -> Option<(bool, u64)> {
        out.iter().rev().find_map(|i| match i {
            EtcdInput::Leader(r) => Some((r.me, r.term)),
            _ => None,
        })
    }

    #[test]
    fn a_reset_says_the_order_then_the_leader_and_mine_needs_my_lease() {
        let mut v = View::new(1);
        let mut out = Vec::new();
        v.reset(&[key(0, 7, 66), key(1, 5, 77)], &mut out);
        assert_eq!(out[0], EtcdInput::Move(None), "the order first");
        assert_eq!(leader(&out), Some((false, 5)), "no lease of mine yet");
        out.clear();
        v.set_lease(Some(77), &mut out);
        assert_eq!(leader(&out), Some((true, 5)));
        out.clear();
        v.set_lease(Some(77), &mut out);
        assert!(out.is_empty(), "nothing new, nothing said");
    }

    #[test]
    fn per_revision_the_order_comes_before_the_leader() {
        let mut v = View::new(0);
        let mut out = Vec::new();
        v.reset(&[key(0, 3, 1), key(1, 4, 2)], &mut out);
        out.clear();
        let order = Entry {
            create: 9,
            modified: 9,
            lease: 5,
            value: Value::Order(MoveOrder {
                to: None,
                from: Ipv4Addr::new(192, 0, 2, 1),
            }),
        };
        let rev = Revision {
            revision: 9,
            changes: vec![
                Change {
                    key: Key::Election(0),
                    entry: None,
                },
                Change {
                    key: Key::Move,
                    entry: Some(order),
                },
            ],
        };
        v.change(&rev, &mut out);
        assert!(matches!(out[0], EtcdInput::Move(Some(p)) if p.revision == 9));
        assert_eq!(leader(&out), Some((false, 4)));
        assert_eq!(out.len(), 2);
    }
}
