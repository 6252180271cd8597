//! The modelled etcd's data: one linearizable key space with revisions, and
//! a lessor.
//!
//! One logical store, as a client of a healthy etcd cluster sees it: every
//! change is one revision, applied at once, in one order for everyone
//! (there is no raft inside; a leader election of the cluster is the
//! world's `etcd_stall`). A key keeps its create revision across puts and
//! carries the revision of its last change; a lease counts its TTL on the
//! service's own clock from when it processed the grant or the latest
//! keep-alive, and its expiry deletes every key attached to it in one
//! revision. Time is handed in (`now`, the service's clock); nothing here
//! reads one.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use vip_core::election::etcd::{LeaderRecord, MoveOrder, PostedMove};
use vip_core::wire::EthernetAddress;
use vip_core::{Duration, Instant};

/// A lease's id (0 is never one, as in etcd).
pub type LeaseId = u64;

/// A key under the cluster's prefix `P`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Key {
    /// `P/election/n<i>`: node `i`'s election key.
    Election(usize),
    /// `P/move`: the move order.
    Move,
}

/// A node's election key's value (the daemon writes it as JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    /// The node's index (its name is `n<i>`).
    pub node: usize,
    /// Its address.
    pub address: Ipv4Addr,
    /// The MAC that answers for the VIP while it holds.
    pub hwaddr: EthernetAddress,
    /// Its priority (reported only).
    pub priority: u8,
    /// The VIP it names: the fixed one, or its leased address.
    pub vip: Option<Ipv4Addr>,
}

/// What a key holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value {
    /// An election key's record.
    Record(Record),
    /// The move order.
    Order(MoveOrder),
}

/// A key as etcd keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// The revision that created it (kept across puts).
    pub create: u64,
    /// The revision of its last change.
    pub modified: u64,
    /// The lease it is attached to.
    pub lease: LeaseId,
    /// Its value.
    pub value: Value,
}

/// One change of a revision: a key put (`Some`) or deleted (`None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    /// The key.
    pub key: Key,
    /// The key as it now is; `None` once deleted.
    pub entry: Option<Entry>,
}

/// One revision: the changes one request (or one lease's expiry) made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revision {
    /// Its number.
    pub revision: u64,
    /// What changed.
    pub changes: Vec<Change>,
}

/// Every key under the prefix at one revision (a linearizable read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The store's revision when read.
    pub revision: u64,
    /// Every key.
    pub keys: Vec<(Key, Entry)>,
}

/// A lease as the lessor keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    /// Its TTL.
    pub ttl: Duration,
    /// When it expires, on the service's clock.
    pub expires: Instant,
}

/// Why a campaign was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The lease named is unknown (expired or revoked): etcd's
    /// "requested lease not found".
    LeaseNotFound,
}

/// The key space and the lessor.
#[derive(Debug, Clone)]
pub struct Store {
    revision: u64,
    keys: BTreeMap<Key, Entry>,
    leases: BTreeMap<LeaseId, Lease>,
    next_lease: LeaseId,
}

impl Default for Store {
    fn default() -> Store {
        Store::new()
    }
}

impl Store {
    /// An empty store at revision 1 (etcd's first).
    pub fn new() -> Store {
        Store {
            revision: 1,
            keys: BTreeMap::new(),
            leases: BTreeMap::new(),
            next_lease: 1,
        }
    }

    // ---- getters ----

    /// The current revision.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// Lease `id`, if it lives.
    pub fn lease(&self, id: LeaseId) -> Option<Lease> {
        self.leases.get(&id).copied()
    }

    /// Key `key`, if it exists.
    pub fn get(&self, key: Key) -> Option<Entry> {
        self.keys.get(&key).copied()
    }

    /// The election's leader: the node whose key has the lowest create
    /// revision, with that key.
    pub fn leader(&self) -> Option<(usize, Entry)> {
        self.keys
            .iter()
            .filter_map(|(k, e)| match k {
                Key::Election(i) => Some((*i, *e)),
                Key::Move => None,
            })
            .min_by_key(|(_, e)| e.create)
    }

    /// The earliest expiry of any lease, on the service's clock.
    pub fn next_expiry(&self) -> Option<Instant> {
        self.leases.values().map(|l| l.expires).min()
    }

    /// Every key, read at the current revision.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            revision: self.revision,
            keys: self.keys.iter().map(|(k, e)| (*k, *e)).collect(),
        }
    }

    // ---- requests ----

    /// Grants a lease of `ttl` at `now`.
    pub fn grant(&mut self, ttl: Duration, now: Instant) -> LeaseId {
        let id = self.next_lease;
        self.next_lease += 1;
        self.leases.insert(
            id,
            Lease {
                ttl,
                expires: now + ttl,
            },
        );
        id
    }

    /// Keeps lease `id` alive from `now`: its TTL, or `None` if it is gone.
    pub fn keep_alive(&mut self, id: LeaseId, now: Instant) -> Option<Duration> {
        let lease = self.leases.get_mut(&id)?;
        lease.expires = now + lease.ttl;
        Some(lease.ttl)
    }

    /// Node `node` campaigns with lease `lease`: its key is put if absent;
    /// a key of its own under another lease (an earlier run's) is taken
    /// over with a put on this one, which keeps its create revision.
    ///
    /// # Errors
    /// [`Refused::LeaseNotFound`] if `lease` does not live.
    pub fn campaign(
        &mut self,
        node: usize,
        lease: LeaseId,
        record: Record,
    ) -> Result<Option<Revision>, Refused> {
        if !self.leases.contains_key(&lease) {
            return Err(Refused::LeaseNotFound);
        }
        let key = Key::Election(node);
        match self.keys.get(&key) {
            Some(e) if e.lease == lease => Ok(None),
            _ => Ok(Some(self.put(key, lease, Value::Record(record)))),
        }
    }

    /// Puts `record` on node `node`'s election key if the key is on
    /// `lease` (its place in line kept); nothing otherwise.
    pub fn republish(&mut self, node: usize, lease: LeaseId, record: Record) -> Option<Revision> {
        let key = Key::Election(node);
        match self.keys.get(&key) {
            Some(e) if e.lease == lease => Some(self.put(key, lease, Value::Record(record))),
            _ => None,
        }
    }

    /// Deletes `key` (nothing if it is absent: no revision).
    pub fn delete(&mut self, key: Key) -> Option<Revision> {
        self.keys.remove(&key)?;
        Some(self.commit(vec![Change { key, entry: None }]))
    }

    /// Revokes lease `id`: it and every key attached to it go, in one
    /// revision (none if no key was attached, or the lease is gone).
    pub fn revoke(&mut self, id: LeaseId) -> Option<Revision> {
        self.leases.remove(&id)?;
        self.drop_keys_of(id)
    }

    /// Writes the move order with a lease of its own (`ttl`), granted at `now`.
    pub fn put_order(&mut self, order: MoveOrder, ttl: Duration, now: Instant) -> Revision {
        let lease = self.grant(ttl, now);
        self.put(Key::Move, lease, Value::Order(order))
    }

    /// Deletes the move order if its last change is still `revision`.
    pub fn clear_order(&mut self, revision: u64) -> Option<Revision> {
        match self.keys.get(&Key::Move) {
            Some(e) if e.modified == revision => self.delete(Key::Move),
            _ => None,
        }
    }

    // ---- the lessor ----

    /// Expires every lease whose end is at or before `now`, earliest first
    /// (ties by id): one revision per lease that had keys.
    pub fn expire(&mut self, now: Instant) -> Vec<Revision> {
        let mut due: Vec<(Instant, LeaseId)> = self
            .leases
            .iter()
            .filter(|(_, l)| l.expires <= now)
            .map(|(&id, l)| (l.expires, id))
            .collect();
        due.sort();
        let mut out = Vec::new();
        for (_, id) in due {
            self.leases.remove(&id);
            out.extend(self.drop_keys_of(id));
        }
        out
    }

    /// A new etcd leader took over at `now`: every lease lives a whole TTL
    /// from now (etcd's lessor does this on promotion, so leases only
    /// lengthen across leader changes).
    pub fn refresh_all(&mut self, now: Instant) {
        for lease in self.leases.values_mut() {
            lease.expires = now + lease.ttl;
        }
    }

    // ---- inside ----

    fn put(&mut self, key: Key, lease: LeaseId, value: Value) -> Revision {
        let revision = self.revision + 1;
        let create = self.keys.get(&key).map_or(revision, |e| e.create);
        let entry = Entry {
            create,
            modified: revision,
            lease,
            value,
        };
        self.keys.insert(key, entry);
        self.commit(vec![Change {
            key,
            entry: Some(entry),
        }])
    }

    fn drop_keys_of(&mut self, id: LeaseId) -> Option<Revision> {
        let gone: Vec<Key> = self
            .keys
            .iter()
            .filter(|(_, e)| e.lease == id)
            .map(|(k, _)| *k)
            .collect();
        if gone.is_empty() {
            return None;
        }
        for k in &gone {
            self.keys.remove(k);
        }
        let changes = gone
            .into_iter()
            .map(|key| Change { key, entry: None })
            .collect();
        Some(self.commit(changes))
    }

    fn commit(&mut self, changes: Vec<Change>) -> Revision {
        self.revision += 1;
        Revision {
            revision: self.revision,
            changes,
        }
    }
}

impl Entry {
    /// The election key's record as the core takes it (`me` from the
    /// reader's own name and lease).
    pub fn leader_record(&self, me: bool) -> Option<LeaderRecord> {
        match self.value {
            Value::Record(r) => Some(LeaderRecord {
                me,
                address: r.address,
                hwaddr: r.hwaddr,
                term: self.create,
                priority: r.priority,
                vip: r.vip,
            }),
            Value::Order(_) => None,
        }
    }

    /// The move order as the core takes it.
    pub fn posted_move(&self) -> Option<PostedMove> {
        match self.value {
            Value::Order(order) => Some(PostedMove {
                order,
                revision: self.modified,
            }),
            Value::Record(_) => None,
        }
    }
}

impl Record {
    /// Node `node`'s record in the model's unit tests: 192.0.2.(node + 1),
    /// 02:00:00:00:00:(node + 1), priority 100, VIP 192.0.2.100.
    #[cfg(test)]
    pub(crate) fn for_test(node: usize) -> Record {
        Record {
            node,
            address: Ipv4Addr::new(192, 0, 2, node as u8 + 1),
            hwaddr: EthernetAddress([2, 0, 0, 0, 0, node as u8 + 1]),
            priority: 100,
            vip: Some(Ipv4Addr::new(192, 0, 2, 100)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(node: usize) -> Record {
        Record::for_test(node)
    }

    fn at(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    const TTL: Duration = Duration::from_secs(2);

    #[test]
    fn the_oldest_key_leads_and_a_takeover_keeps_its_place() {
        let mut s = Store::new();
        let (a, b) = (s.grant(TTL, at(0)), s.grant(TTL, at(0)));
        let first = s.campaign(0, a, record(0)).unwrap().unwrap();
        s.campaign(1, b, record(1)).unwrap().unwrap();
        assert_eq!(s.leader().map(|(n, _)| n), Some(0));
        assert_eq!(s.campaign(0, a, record(0)), Ok(None), "already campaigned");
        // n0 restarts: a new lease takes its key over in place.
        let a2 = s.grant(TTL, at(100));
        let over = s.campaign(0, a2, record(0)).unwrap().unwrap();
        let e = over.changes[0].entry.unwrap();
        assert_eq!((e.create, e.lease), (first.revision, a2));
        assert!(e.modified > e.create);
        // The old lease expires with no key left on it: no revision.
        assert!(s.revoke(a).is_none());
        assert_eq!(s.leader().map(|(n, e)| (n, e.lease)), Some((0, a2)));
        assert_eq!(
            s.campaign(2, 99, record(2)),
            Err(Refused::LeaseNotFound),
            "an unknown lease"
        );
    }

    #[test]
    fn a_lease_counts_from_its_latest_keepalive_and_its_expiry_deletes_its_key() {
        let mut s = Store::new();
        let a = s.grant(TTL, at(0));
        s.campaign(0, a, record(0)).unwrap();
        assert_eq!(s.keep_alive(a, at(500)), Some(TTL));
        assert!(s.expire(at(2_499)).is_empty());
        assert_eq!(s.next_expiry(), Some(at(2_500)));
        let gone = s.expire(at(2_500));
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].changes[0].entry, None);
        assert_eq!(s.keep_alive(a, at(2_600)), None, "not found");
        assert!(s.leader().is_none());
    }

    #[test]
    fn a_new_etcd_leader_gives_every_lease_a_whole_ttl() {
        let mut s = Store::new();
        let a = s.grant(TTL, at(0));
        s.refresh_all(at(1_900));
        assert_eq!(s.lease(a).map(|l| l.expires), Some(at(3_900)));
    }

    #[test]
    fn an_order_is_cleared_only_at_its_own_revision() {
        let mut s = Store::new();
        let order = MoveOrder {
            to: None,
            from: Ipv4Addr::new(192, 0, 2, 1),
        };
        let r1 = s.put_order(order, Duration::from_secs(30), at(0)).revision;
        let r2 = s.put_order(order, Duration::from_secs(30), at(1)).revision;
        assert!(s.clear_order(r1).is_none(), "a newer order stays");
        let e = s.get(Key::Move).unwrap();
        assert_eq!(e.posted_move().map(|p| p.revision), Some(r2));
        assert!(s.clear_order(r2).is_some());
        assert!(s.get(Key::Move).is_none());
    }
}
