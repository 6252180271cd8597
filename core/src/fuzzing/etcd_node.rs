//! The `etcd_node` target: an etcd member fed what an adapter may report
//! (answers to its keep-alives, lost leases, leaders, move orders, from an
//! etcd anyone with access to the prefix can write to), with time and
//! commands in between.
//!
//! After every input it checks the contract: the VIP's acquire and release
//! alternate and match the role; a holder's lease, by its own clock, has
//! not ended; a resignation or revocation leaves only after the VIP was
//! released; keep-alives are numbered in order; and time can always move on
//! (no deadline in the past after a timeout was handled).

use core::net::Ipv4Addr;

use super::take;
use crate::config::{
    ClusterSettings, Config, ElectionSettings, EtcdSettings, HostFacts, Member, Members, Name,
    NodeSettings,
};
use crate::election::etcd::{EtcdInput, EtcdRequest, LeaderRecord, MoveOrder, PostedMove};
use crate::election::Election;
use crate::node::{Command, Conditions, Event, FrameBuf, Node, Output};
use crate::time::{Duration, Instant};
use crate::wire::EthernetAddress;

/// This node's member index (of three).
const ME: u8 = 1;
/// Timeouts one wait may deliver before the node counts as spinning.
const MAX_TIMEOUTS_PER_WAIT: u32 = 10_000;

fn address(i: u8) -> Ipv4Addr {
    Ipv4Addr::new(192, 0, 2, 11 + i)
}

fn name(text: &str) -> Name {
    Name::new(text).expect("a valid name")
}

fn config(priority: u8, ttl_s: u8) -> Config {
    let mut members = Members::new();
    for (i, n) in ["n0", "n1", "n2"].into_iter().enumerate() {
        let member = Member {
            name: name(n),
            address: address(i as u8),
            witness: false,
        };
        members.push(member).expect("three members fit");
    }
    let e = EtcdSettings {
        priority: priority.max(1),
        lease_ttl: Duration::from_secs(u64::from(2 + ttl_s % 10)),
        ..EtcdSettings::with_defaults(100)
    };
    let settings = NodeSettings {
        host: HostFacts {
            name: name("n1"),
            mac: EthernetAddress([0x02, 0, 0, 0, 0, 0x11]),
            address: address(ME),
            prefix_len: 24,
        },
        cluster: ClusterSettings {
            cluster: name("fuzz"),
            vip: Ipv4Addr::new(192, 0, 2, 100).into(),
            members,
            announce: Default::default(),
            election: ElectionSettings::Etcd(e),
        },
    };
    Config::new(settings).expect("fuzz config is valid")
}

/// The node and what its caller knows.
struct Run {
    node: Node,
    now: Instant,
    buf: FrameBuf,
    holding: bool,
    /// Keep-alives asked, most recent last (at most 8 remembered).
    asked: [u32; 8],
    asked_len: usize,
    next_seq: Option<u32>,
}

impl Run {
    fn lease_end(&self) -> Option<Instant> {
        match self.node.election() {
            Election::Etcd(e) => e.lease_end(),
            Election::Vrrp(_) | Election::Quorum(_) => {
                unreachable!("the fuzz config runs the etcd election")
            }
        }
    }

    fn input(&mut self, input: EtcdInput) {
        self.node.handle_etcd(self.now, input);
        self.drain();
    }

    /// A member's address, or (for the high values) one that is none.
    fn someone(pick: u8) -> Ipv4Addr {
        match pick % 5 {
            i @ 0..=2 => address(i),
            3 => Ipv4Addr::UNSPECIFIED,
            _ => Ipv4Addr::new(203, 0, 113, pick),
        }
    }

    fn op(&mut self, op: u8, data: &mut &[u8]) {
        match op % 10 {
            0 => {
                let [pick, ttl] = take::<2>(data);
                let seq = if self.asked_len > 0 && pick & 0x80 == 0 {
                    self.asked[usize::from(pick) % self.asked_len]
                } else {
                    u32::from(pick)
                };
                let ttl = Duration::from_secs(u64::from(ttl % 8));
                self.input(EtcdInput::KeptAlive { seq, ttl });
            }
            1 => self.input(EtcdInput::LeaseLost),
            2 => {
                let [who, term] = take::<2>(data);
                let address = Self::someone(who);
                self.input(EtcdInput::Leader(LeaderRecord {
                    me: who & 0x40 != 0,
                    address,
                    hwaddr: EthernetAddress([0x02, 0, 0, 0, 0, who]),
                    term: u64::from(term),
                    priority: term,
                    vip: (who & 0x20 == 0).then(|| Self::someone(who >> 1)),
                }));
            }
            3 => self.input(EtcdInput::NoLeader),
            4 => {
                let [to, from, revision] = take::<3>(data);
                let posted = (to != 0xff).then(|| PostedMove {
                    order: MoveOrder {
                        to: (to & 0x80 == 0).then(|| Self::someone(to)),
                        from: Self::someone(from),
                    },
                    revision: u64::from(revision),
                });
                self.input(EtcdInput::Move(posted));
            }
            5 => {
                let [t] = take::<1>(data);
                self.wait(u64::from(t) * 2_000);
            }
            6 => {
                let [t] = take::<1>(data);
                self.wait(u64::from(t) * 100_000);
            }
            7 => {
                let [which, value] = take::<2>(data);
                self.command(which, value);
            }
            8 => {
                let [revision] = take::<1>(data);
                self.input(EtcdInput::Resigned {
                    revision: u64::from(revision),
                });
            }
            _ => {
                // An answer to the newest keep-alive, at once.
                if let Some(seq) = self.next_seq.map(|s| s.wrapping_sub(1)) {
                    let ttl = match self.node.config().election() {
                        ElectionSettings::Etcd(e) => e.lease_ttl,
                        _ => Duration::ZERO,
                    };
                    self.input(EtcdInput::KeptAlive { seq, ttl });
                }
            }
        }
    }

    fn wait(&mut self, micros: u64) {
        let until = self.now + Duration::from_micros(micros);
        let mut delivered = 0;
        while let Some(at) = self.node.poll_timeout().filter(|&at| at <= until) {
            self.now = self.now.max(at);
            self.node.handle_timeout(self.now);
            self.drain();
            delivered += 1;
            assert!(
                delivered < MAX_TIMEOUTS_PER_WAIT,
                "the node keeps asking for a deadline at or before {:?}",
                self.now
            );
            assert!(
                self.node.poll_timeout().is_none_or(|next| next > self.now),
                "a deadline at {:?} is still due after handle_timeout({:?})",
                self.node.poll_timeout(),
                self.now
            );
        }
        self.now = until;
        self.drain();
    }

    fn command(&mut self, which: u8, value: u8) {
        let command = match which % 9 {
            0 => Command::LinkDown,
            1 => Command::LinkUp,
            2 => Command::HealthDown,
            3 => Command::HealthUp,
            4 => Command::MoveTo(Some(value % 4)),
            5 => Command::MoveTo(None),
            6 => Command::SetPriority(value),
            7 => Command::VipFailed,
            _ => Command::Shutdown,
        };
        self.node.command(self.now, command);
        self.drain();
    }

    /// Takes every output and request, checking the contract.
    fn drain(&mut self) {
        while let Some(output) = self.node.poll_output(&mut self.buf) {
            match output {
                Output::Event(Event::AcquireVip(_)) => {
                    assert!(!self.holding, "AcquireVip twice");
                    self.holding = true;
                }
                Output::Event(Event::ReleaseVip(_)) => {
                    assert!(self.holding, "ReleaseVip without AcquireVip");
                    self.holding = false;
                }
                Output::Event(_) | Output::Transmit { .. } => {}
            }
        }
        while let Some(request) = self.node.poll_etcd_request() {
            match request {
                EtcdRequest::Resign | EtcdRequest::Revoke => {
                    assert!(!self.holding, "{request:?} while still holding the VIP");
                }
                EtcdRequest::KeepAlive { seq } => {
                    if let Some(next) = self.next_seq {
                        assert_eq!(seq, next, "keep-alives numbered in order");
                    }
                    self.next_seq = Some(seq.wrapping_add(1));
                    if self.asked_len < self.asked.len() {
                        self.asked_len += 1;
                    }
                    self.asked.rotate_right(1);
                    self.asked[0] = seq;
                }
                EtcdRequest::Campaign
                | EtcdRequest::Move(_)
                | EtcdRequest::ClearMove { .. }
                | EtcdRequest::Publish { .. } => {}
            }
        }
        assert_eq!(
            self.holding,
            self.node.is_holder(),
            "the VIP and the role disagree"
        );
        if self.holding {
            assert!(
                self.lease_end().is_some_and(|end| end > self.now),
                "holding at {:?} with the lease ended at {:?}",
                self.now,
                self.lease_end()
            );
        }
    }
}

/// Drives one etcd member through the ops in `data`: byte 0 its priority,
/// byte 1 its TTL (2 + n % 10 s) and start conditions, bytes 2..10 the
/// seed; then ops (opcode byte modulo 10, then operands).
pub fn etcd_node(data: &[u8]) {
    let mut data = data;
    let [priority, shape] = take::<2>(&mut data);
    let seed = u64::from_be_bytes(take::<8>(&mut data));
    let conditions = Conditions {
        link_up: shape & 0x40 == 0,
        healthy: shape & 0x80 == 0,
        ..Conditions::default()
    };
    let now = Instant::ZERO;
    let mut run = Run {
        node: Node::starting(config(priority, shape & 0x3f), seed, now, conditions),
        now,
        buf: [0; crate::wire::MAX_FRAME_LEN],
        holding: false,
        asked: [0; 8],
        asked_len: 0,
        next_seq: None,
    };
    run.drain();
    while let Some((&op, rest)) = data.split_first() {
        data = rest;
        run.op(op, &mut data);
    }
}
