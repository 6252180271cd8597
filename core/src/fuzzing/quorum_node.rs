//! The `quorum_node` target: a quorum member fed frames that carry a valid
//! tag (signed with the cluster key, as a member or a compromised member
//! would send them) and fuzzer-chosen fields, with time, commands and the
//! answers to its own challenges in between.
//!
//! Random bytes almost never carry a valid tag, so a plain byte fuzzer stops
//! at the tag check; this target seals what it builds, and answers the
//! node's challenges with their nonces, so it reaches every message handler
//! with every field value. After every input it checks the contract: the
//! VIP's acquire and release alternate and match the role, gratuitous ARPs
//! and ARP replies leave only while holding, every frame sent parses and
//! verifies, and time can always move on (no deadline in the past after a
//! timeout was handled).

use core::net::Ipv4Addr;

use super::take;
use crate::config::{
    ClusterSettings, Config, ElectionSettings, HostFacts, Member, Members, Name, NodeSettings,
    QuorumSettings,
};
use crate::election::quorum::auth::{AuthKey, Signer};
use crate::election::quorum::Quorum;
use crate::election::Election;
use crate::node::{Command, Conditions, Event, FrameBuf, FrameKind, Node, Output};
use crate::time::{Duration, Instant};
use crate::wire::quorum::{Flags, MessageType, Packet, Repr, ETHERTYPE, PAYLOAD_LEN, SIGNED_LEN};
use crate::wire::{EthernetAddress, EthernetFrame, EthernetProtocol, EthernetRepr};

/// The cluster key of every run.
const KEY: [u8; 32] = [0x5a; 32];
/// This node's member index (of three).
const ME: u8 = 1;
/// The renewal period.
const INTERVAL: Duration = Duration::from_millis(10);
/// Timeouts one wait may deliver before the node counts as spinning.
const MAX_TIMEOUTS_PER_WAIT: u32 = 10_000;

fn mac(i: u8) -> EthernetAddress {
    EthernetAddress([0x02, 0, 0, 0, 0, 0x10 + i])
}

fn address(i: u8) -> Ipv4Addr {
    Ipv4Addr::new(192, 0, 2, 11 + i)
}

fn name(text: &str) -> Name {
    Name::new(text).expect("a valid name")
}

fn key() -> AuthKey {
    AuthKey::new(&KEY).expect("32 bytes")
}

fn config(priority: u8, witness_third: bool) -> Config {
    let mut members = Members::new();
    for (i, n) in ["n0", "n1", "n2"].into_iter().enumerate() {
        let i = i as u8;
        let member = Member {
            name: name(n),
            address: address(i),
            witness: witness_third && i == 2,
        };
        members.push(member).expect("three members fit");
    }
    let mut q = QuorumSettings::with_defaults(INTERVAL, key());
    q.priority = priority.max(1);
    let settings = NodeSettings {
        host: HostFacts {
            name: name("n1"),
            mac: mac(ME),
            address: address(ME),
            prefix_len: 24,
        },
        cluster: ClusterSettings {
            cluster: name("fuzz"),
            vip: Ipv4Addr::new(192, 0, 2, 100).into(),
            members,
            announce: Default::default(),
            election: ElectionSettings::Quorum(q),
        },
    };
    Config::new(settings).expect("fuzz config is valid")
}

fn u64_of(b: [u8; 8]) -> u64 {
    u64::from_be_bytes(b)
}

/// The node, what its caller knows, and the checks.
struct Run {
    node: Node,
    now: Instant,
    signer: Signer,
    buf: FrameBuf,
    holding: bool,
    /// The last challenge the node sent: (to, nonce).
    challenge: Option<(u8, u64)>,
    /// Our sequence number per peer (0 and 2), so frames are fresh.
    seq: [u64; 3],
    /// The last frame handed in, for replays.
    last: [u8; 14 + PAYLOAD_LEN],
}

impl Run {
    fn quorum(&self) -> &Quorum {
        match self.node.election() {
            Election::Quorum(q) => q,
            Election::Vrrp(_) | Election::Etcd(_) => {
                unreachable!("the fuzz config runs the quorum election")
            }
        }
    }

    fn seal(&self, repr: &Repr, src: EthernetAddress) -> [u8; 14 + PAYLOAD_LEN] {
        let mut frame = [0u8; 14 + PAYLOAD_LEN];
        let eth = EthernetRepr {
            src_addr: src,
            dst_addr: EthernetAddress::BROADCAST,
            ethertype: EthernetProtocol::from(ETHERTYPE),
        };
        eth.emit(&mut EthernetFrame::new_unchecked(&mut frame[..]));
        let payload = &mut frame[14..];
        repr.emit(&mut Packet::new_unchecked(&mut *payload));
        let tag = self.signer.tag(src, ETHERTYPE, &payload[..SIGNED_LEN]);
        Packet::new_unchecked(payload).set_tag(&tag);
        frame
    }

    fn hand_in(&mut self, frame: [u8; 14 + PAYLOAD_LEN]) {
        self.last = frame;
        self.node.handle_frame(self.now, &frame);
        self.drain();
    }

    /// A frame from member `sender % 3` (this node's own index included: a
    /// loop) with the fuzzer's fields; the digest is the node's unless told.
    fn frame(&mut self, data: &mut &[u8]) {
        let [kind, sender, flags, priority, subject, shape] = take::<6>(data);
        let sender = sender % 3;
        let i = usize::from(sender);
        let digest = self.quorum().digest();
        self.seq[i] += 1;
        let seq = if shape & 1 == 0 {
            self.seq[i]
        } else {
            u64_of(take::<8>(data))
        };
        let repr = Repr {
            msg_type: MessageType::from(kind % 9),
            sender,
            flags: Flags::from_byte(flags),
            priority,
            subject: if shape & 2 == 0 { subject % 4 } else { subject },
            digest: if shape & 4 == 0 {
                digest
            } else {
                take::<8>(data)
            },
            // A few epochs, so that some become confirmed.
            epoch: u64::from(shape >> 5) + 1,
            seq,
            term: u64_of(take::<8>(data)) >> (shape & 0x18),
            echo_epoch: if shape & 8 == 0 {
                self.quorum().epoch()
            } else {
                u64_of(take::<8>(data))
            },
            echo_seq: u64_of(take::<8>(data)),
        };
        let frame = self.seal(&repr, mac(sender));
        self.hand_in(frame);
    }

    /// Answers the node's last challenge, as its subject would.
    fn answer(&mut self, epoch: u8) {
        let Some((to, nonce)) = self.challenge.take() else {
            return;
        };
        let i = usize::from(to % 3);
        self.seq[i] += 1;
        let repr = Repr {
            msg_type: MessageType::Response,
            sender: to % 3,
            flags: Flags::default(),
            priority: 100,
            subject: ME,
            digest: self.quorum().digest(),
            epoch: u64::from(epoch >> 5) + 1,
            seq: self.seq[i],
            term: 0,
            echo_epoch: 0,
            echo_seq: nonce,
        };
        let frame = self.seal(&repr, mac(to % 3));
        self.hand_in(frame);
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
            // Handled, yet still due: only a deadline it did not act on.
            assert!(
                self.node.poll_timeout().is_none_or(|next| next > self.now),
                "a deadline at {:?} is still due after handle_timeout({:?})",
                self.node.poll_timeout(),
                self.now
            );
        }
        self.now = until;
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

    /// Takes every output, checking the contract.
    fn drain(&mut self) {
        while let Some(output) = self.node.poll_output(&mut self.buf) {
            match output {
                Output::Transmit { len, kind } => self.check_frame(len, kind),
                Output::Event(Event::AcquireVip(_)) => {
                    assert!(!self.holding, "AcquireVip twice");
                    self.holding = true;
                }
                Output::Event(Event::ReleaseVip(_)) => {
                    assert!(self.holding, "ReleaseVip without AcquireVip");
                    self.holding = false;
                }
                Output::Event(_) => {}
            }
        }
        assert_eq!(
            self.holding,
            self.node.is_holder(),
            "the VIP and the role disagree"
        );
    }

    fn check_frame(&mut self, len: usize, kind: FrameKind) {
        let frame = &self.buf[..len];
        let eth = EthernetFrame::new_checked(frame).expect("a whole Ethernet frame");
        if matches!(kind, FrameKind::Garp | FrameKind::ArpReply) {
            assert!(self.holding, "{kind:?} sent without holding the VIP");
            return;
        }
        if u16::from(eth.ethertype()) != ETHERTYPE {
            return;
        }
        let payload = eth.payload();
        let packet = Packet::new_checked(payload).expect("a whole quorum payload");
        assert!(
            self.signer
                .verify(mac(ME), ETHERTYPE, &payload[..SIGNED_LEN], packet.tag()),
            "a frame sent with a bad tag"
        );
        let repr = Repr::parse(&packet).expect("a frame sent parses");
        assert_eq!(repr.sender, ME);
        if repr.msg_type == MessageType::Challenge {
            self.challenge = Some((repr.subject, repr.echo_seq));
        }
    }
}

/// Drives one quorum member through the ops in `data`: byte 0 its priority,
/// byte 1 bit 0 makes the third member a witness, bytes 2..10 the seed; then
/// ops (opcode byte modulo 6, then operands).
pub fn quorum_node(data: &[u8]) {
    let mut data = data;
    let [priority, shape] = take::<2>(&mut data);
    let seed = u64_of(take::<8>(&mut data));
    let conditions = Conditions {
        link_up: shape & 2 == 0,
        healthy: shape & 4 == 0,
        ..Conditions::default()
    };
    let now = Instant::ZERO;
    let mut run = Run {
        node: Node::starting(config(priority, shape & 1 != 0), seed, now, conditions),
        now,
        signer: Signer::new(&key()),
        buf: [0; crate::wire::MAX_FRAME_LEN],
        holding: false,
        challenge: None,
        seq: [0; 3],
        last: [0; 14 + PAYLOAD_LEN],
    };
    run.drain();
    while let Some((&op, rest)) = data.split_first() {
        data = rest;
        match op % 6 {
            0 => run.frame(&mut data),
            1 => {
                let [a] = take::<1>(&mut data);
                run.answer(a);
            }
            2 => {
                let [t] = take::<1>(&mut data);
                run.wait(u64::from(t) * 250);
            }
            3 => {
                let [t] = take::<1>(&mut data);
                run.wait(u64::from(t) * 20_000);
            }
            4 => {
                let [which, value] = take::<2>(&mut data);
                run.command(which, value);
            }
            _ => {
                let last = run.last;
                run.hand_in(last);
            }
        }
    }
}
