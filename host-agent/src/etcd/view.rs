//! What the adapter knows of the keys under the prefix, and what it tells
//! the core when they change (docs/architecture.md, "The etcd adapter").
//!
//! Pure: it is fed keys as etcd reports them (an initial read, then the
//! watch's events in revision order) and returns the core inputs each
//! change calls for, so it is tested without an etcd.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};
use vip_core::config::text::{parse_mac, MacText};
use vip_core::election::etcd::{EtcdInput, LeaderRecord, MoveOrder, PostedMove};
use vip_core::wire::EthernetAddress;

/// A node's election key's value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The node's name.
    pub node: String,
    /// Its address on the management subnet.
    pub address: Ipv4Addr,
    /// The VIP (absent while a DHCP VIP is not yet leased).
    pub vip: Option<Ipv4Addr>,
    /// The MAC that answers for the VIP while it holds.
    pub hwaddr: String,
    /// Its priority (reported; etcd elects the oldest key).
    pub priority: u8,
}

impl Record {
    /// The record of a node.
    pub fn new(
        node: &str,
        address: Ipv4Addr,
        vip: Option<Ipv4Addr>,
        hwaddr: EthernetAddress,
        priority: u8,
    ) -> Record {
        Record {
            node: node.to_owned(),
            address,
            vip,
            hwaddr: MacText(hwaddr).to_string(),
            priority,
        }
    }
}

/// The move order's value: addresses for the core, names for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderText {
    /// The target's name, or `None` for "any member but `from`".
    pub to: Option<String>,
    /// The target's address.
    pub to_address: Option<Ipv4Addr>,
    /// The holder moved away from.
    pub from: String,
    /// Its address.
    pub from_address: Ipv4Addr,
}

impl OrderText {
    /// The core's order.
    pub fn order(&self) -> MoveOrder {
        MoveOrder {
            to: self.to_address,
            from: self.from_address,
        }
    }
}

/// An election key as last read.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Candidate {
    create_revision: i64,
    lease: i64,
    /// `None`: a value that is not a record (written by someone else).
    record: Option<Record>,
}

/// A key's change, as etcd reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyChange<'a> {
    /// The whole key.
    pub key: &'a str,
    /// The value (empty for a deletion).
    pub value: &'a [u8],
    /// Its create revision (0 for a deletion).
    pub create_revision: i64,
    /// The revision of this change.
    pub mod_revision: i64,
    /// Its lease (0: none).
    pub lease: i64,
    /// A deletion.
    pub deleted: bool,
}

/// What was last said to the core about the leader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Said {
    Nothing,
    NoLeader,
    Leader(LeaderRecord),
}

/// The keys under the prefix as this node last read them.
#[derive(Debug, Clone)]
pub struct View {
    prefix: String,
    election: String,
    move_key: String,
    me: String,
    /// This node's lease: its key counts as its own only under it.
    lease: Option<i64>,
    candidates: BTreeMap<String, Candidate>,
    order: Option<PostedMove>,
    said_order: Option<Option<PostedMove>>,
    said_leader: Said,
}

impl View {
    /// An empty view of `prefix` for node `me`.
    pub fn new(prefix: &str, me: &str) -> View {
        View {
            prefix: prefix.to_owned(),
            election: format!("{prefix}election/"),
            move_key: format!("{prefix}move"),
            me: me.to_owned(),
            lease: None,
            candidates: BTreeMap::new(),
            order: None,
            said_order: None,
            said_leader: Said::Nothing,
        }
    }

    /// The whole prefix `P`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// This node's election key.
    pub fn my_key(&self) -> String {
        format!("{}{}", self.election, self.me)
    }

    /// The move order's key.
    pub fn move_key(&self) -> &str {
        &self.move_key
    }

    /// The node names with an election key, oldest key first.
    pub fn line(&self) -> Vec<String> {
        let mut line: Vec<(&String, &Candidate)> = self.candidates.iter().collect();
        line.sort_by_key(|(_, c)| c.create_revision);
        line.into_iter().map(|(n, _)| n.clone()).collect()
    }

    /// A fresh read of every key under the prefix (after a (re)started
    /// watch): the order, then the leader, said again whatever was said.
    pub fn reset<'a>(&mut self, keys: impl IntoIterator<Item = KeyChange<'a>>) -> Vec<EtcdInput> {
        self.candidates.clear();
        self.order = None;
        for k in keys {
            self.apply(k);
        }
        self.said_order = None;
        self.said_leader = Said::Nothing;
        self.changes()
    }

    /// One change from the watch, in revision order.
    pub fn change(&mut self, k: KeyChange<'_>) -> Vec<EtcdInput> {
        self.apply(k);
        self.changes()
    }

    /// This node's lease changed (granted, lost, revoked).
    pub fn set_lease(&mut self, lease: Option<i64>) -> Vec<EtcdInput> {
        self.lease = lease;
        self.changes()
    }

    fn apply(&mut self, k: KeyChange<'_>) {
        if k.key == self.move_key {
            self.order = if k.deleted {
                None
            } else {
                serde_json::from_slice::<OrderText>(k.value)
                    .ok()
                    .map(|t| PostedMove {
                        order: t.order(),
                        revision: u64::try_from(k.mod_revision).unwrap_or(0),
                    })
            };
            return;
        }
        let Some(name) = k.key.strip_prefix(&self.election) else {
            return;
        };
        if k.deleted {
            self.candidates.remove(name);
        } else {
            let record = serde_json::from_slice::<Record>(k.value).ok();
            self.candidates.insert(
                name.to_owned(),
                Candidate {
                    create_revision: k.create_revision,
                    lease: k.lease,
                    record,
                },
            );
        }
    }

    /// The leader as the core should know it.
    fn leader(&self) -> Said {
        let Some((name, c)) = self
            .candidates
            .iter()
            .min_by_key(|(_, c)| c.create_revision)
        else {
            return Said::NoLeader;
        };
        let Some(record) = &c.record else {
            // A key under the prefix that is not a record: nobody of ours
            // leads, so nobody holds.
            return Said::NoLeader;
        };
        let hwaddr = parse_mac(&record.hwaddr).unwrap_or(EthernetAddress([0; 6]));
        Said::Leader(LeaderRecord {
            me: *name == self.me && self.lease == Some(c.lease),
            address: record.address,
            hwaddr,
            term: u64::try_from(c.create_revision).unwrap_or(0),
            priority: record.priority,
            vip: record.vip,
        })
    }

    /// What changed since last said: the order first, then the leader.
    fn changes(&mut self) -> Vec<EtcdInput> {
        let mut out = Vec::new();
        if self.said_order != Some(self.order) {
            self.said_order = Some(self.order);
            out.push(EtcdInput::Move(self.order));
        }
        let leader = self.leader();
        if leader != self.said_leader {
            self.said_leader = leader;
            out.push(match leader {
                Said::Leader(r) => EtcdInput::Leader(r),
                Said::NoLeader | Said::Nothing => EtcdInput::NoLeader,
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = "/vipd/test/";

    fn record(node: &str, last: u8) -> Vec<u8> {
        serde_json::to_vec(&Record::new(
            node,
            Ipv4Addr::new(192, 0, 2, last),
            Some(Ipv4Addr::new(192, 0, 2, 100)),
            EthernetAddress([2, 0, 0, 0, 0, last]),
            100,
        ))
        .unwrap()
    }

    fn put<'a>(key: &'a str, value: &'a [u8], create: i64, rev: i64, lease: i64) -> KeyChange<'a> {
        KeyChange {
            key,
            value,
            create_revision: create,
            mod_revision: rev,
            lease,
            deleted: false,
        }
    }

    fn del(key: &str, rev: i64) -> KeyChange<'_> {
        KeyChange {
            key,
            value: b"",
            create_revision: 0,
            mod_revision: rev,
            lease: 0,
            deleted: true,
        }
    }

    fn leader(inputs: &[EtcdInput]) -> Option<(bool, u8, u64)> {
        inputs.iter().rev().find_map(|i| match i {
            EtcdInput::Leader(r) => Some((r.me, r.address.octets()[3], r.term)),
            _ => None,
        })
    }

    /// The oldest key leads; a key of this node's is its own only under
    /// its current lease (an earlier run's key is not).
    #[test]
    fn the_oldest_key_leads_and_is_mine_only_under_my_lease() {
        let mut v = View::new(P, "node-b");
        let (a, b) = (record("node-a", 11), record("node-b", 12));
        let first = v.reset([
            put("/vipd/test/election/node-b", &b, 5, 5, 77),
            put("/vipd/test/election/node-a", &a, 7, 7, 66),
        ]);
        assert_eq!(first[0], EtcdInput::Move(None), "the order first");
        assert_eq!(leader(&first), Some((false, 12, 5)), "no lease of mine yet");
        assert_eq!(leader(&v.set_lease(Some(77))), Some((true, 12, 5)));
        assert!(
            v.set_lease(Some(77)).is_empty(),
            "nothing new: nothing said"
        );
        let gone = v.change(del("/vipd/test/election/node-b", 9));
        assert_eq!(leader(&gone), Some((false, 11, 7)));
        assert_eq!(v.line(), ["node-a"]);
        let none = v.change(del("/vipd/test/election/node-a", 10));
        assert_eq!(none, [EtcdInput::NoLeader]);
    }

    /// An order is said before the leader change that follows it, with the
    /// revision that wrote it; its deletion says `Move(None)`.
    #[test]
    fn an_order_is_read_with_its_revision() {
        let mut v = View::new(P, "node-a");
        v.reset([]);
        let text = serde_json::to_vec(&OrderText {
            to: Some("node-c".into()),
            to_address: Some(Ipv4Addr::new(192, 0, 2, 13)),
            from: "node-a".into(),
            from_address: Ipv4Addr::new(192, 0, 2, 11),
        })
        .unwrap();
        let said = v.change(put("/vipd/test/move", &text, 20, 20, 5));
        assert_eq!(
            said,
            [EtcdInput::Move(Some(PostedMove {
                order: MoveOrder {
                    to: Some(Ipv4Addr::new(192, 0, 2, 13)),
                    from: Ipv4Addr::new(192, 0, 2, 11)
                },
                revision: 20
            }))]
        );
        assert_eq!(
            v.change(del("/vipd/test/move", 21)),
            [EtcdInput::Move(None)]
        );
    }

    /// Junk under the prefix never makes a leader of ours, and keys
    /// outside the election's part are ignored.
    #[test]
    fn junk_leads_nobody() {
        let mut v = View::new(P, "node-a");
        v.set_lease(Some(1));
        let a = record("node-a", 11);
        let said = v.reset([
            put("/vipd/test/election/x", b"not json", 2, 2, 9),
            put("/vipd/test/election/node-a", &a, 3, 3, 1),
            put("/vipd/test/other", b"{}", 1, 1, 0),
        ]);
        assert_eq!(said.last(), Some(&EtcdInput::NoLeader));
        let said = v.change(del("/vipd/test/election/x", 4));
        assert_eq!(leader(&said), Some((true, 11, 3)));
    }
}
