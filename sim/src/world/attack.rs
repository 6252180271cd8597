//! The attacker on the segment (quorum): it injects, straight into one
//! node's NIC, replays of frames that node accepted, frames with one bit
//! flipped, and frames a member with another configuration signed with the
//! cluster key. Each must be dropped with its reason and leave the node's
//! election exactly as it was (a replay from a sender's earlier run may
//! only start a challenge).
//!
//! It bypasses the switch so the MAC table learns nothing from it: what is
//! tested is the frame check, not MAC spoofing.

use std::rc::Rc;

use vip_core::rand::{derive_seed, Prng};
use vip_core::{Config, Counters, DropReason, Duration, FrameBuf, NodeSettings, Output};

use super::queue::WorldEvent;
use super::World;

/// How many frames each node's accepted ring keeps.
pub(super) const SEEN: usize = 16;

/// What the attacker sends next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    Replay,
    Forged,
    Foreign,
}

/// The attacker: its PRNG and when it strikes next.
#[derive(Debug)]
pub(super) struct Attacker {
    prng: Prng,
    period_us: u64,
}

impl Attacker {
    /// An attacker sending `rate` frames a second, seeded from `root`.
    pub(super) fn new(root: u64, rate: u32) -> Option<Attacker> {
        (rate > 0).then(|| Attacker {
            prng: Prng::new(derive_seed(root, 0x4_0000_0000)),
            period_us: 1_000_000 / u64::from(rate),
        })
    }

    /// How long until the next frame.
    fn gap(&mut self) -> Duration {
        Duration::from_micros(1 + self.prng.below(2 * self.period_us))
    }
}

/// A snapshot of what a frame may not change.
fn state(core: &vip_core::Node) -> String {
    format!("{:?}", core.election())
}

impl World {
    /// Queues the attacker's first frame.
    pub(super) fn arm_attacker(&mut self) {
        if let Some(a) = &mut self.attacker {
            let at = self.now + a.gap();
            self.push(at, WorldEvent::Attack);
        }
    }

    /// Remembers a frame node `p` accepted, for replays.
    pub(super) fn seen(&mut self, p: usize, frame: Rc<[u8]>) {
        let ring = &mut self.nodes[p].seen;
        if ring.len() == SEEN {
            ring.remove(0);
        }
        ring.push(frame);
    }

    /// The attacker strikes once and queues its next frame.
    pub(super) fn attack(&mut self) {
        let Some(a) = &mut self.attacker else { return };
        let at = self.now + a.gap();
        let pick = a.prng.next_u64();
        let variant = [Variant::Replay, Variant::Forged, Variant::Foreign][(pick % 3) as usize];
        let bit = a.prng.next_u64();
        self.push(at, WorldEvent::Attack);
        let now = self.now;
        let targets: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| {
                let n = &self.nodes[i];
                // A node with a timer due would act on it first: judge the frame alone.
                n.awake()
                    && !n.seen.is_empty()
                    && n.core
                        .as_ref()
                        .and_then(|c| c.poll_timeout())
                        .is_none_or(|d| d > n.clock.local(now))
            })
            .collect();
        if targets.is_empty() {
            return;
        }
        let t = targets[((pick >> 8) % targets.len() as u64) as usize];
        let ring = &self.nodes[t].seen;
        let original = ring[((pick >> 16) % ring.len() as u64) as usize].clone();
        let frame: Vec<u8> = match variant {
            Variant::Replay => original.to_vec(),
            Variant::Forged => {
                let mut f = original.to_vec();
                // One bit of the source MAC or of bytes 2.. of the payload:
                // all signed or the tag itself.
                let bits: Vec<usize> = (6 * 8..12 * 8).chain((16 * 8)..(86 * 8)).collect();
                let b = bits[(bit % bits.len() as u64) as usize];
                f[b / 8] ^= 1 << (b % 8);
                f
            }
            Variant::Foreign => match self.foreign_frame(&original) {
                Some(f) => f,
                None => return,
            },
        };
        self.hash.word(now.total_micros());
        self.hash
            .word(0x40 << 32 | (t as u64) << 8 | variant as u64);
        self.judge_attack(t, variant, &frame);
    }

    /// A frame from the sender of `original` as a member with another
    /// lease would sign it: the key is right, the digest is not.
    fn foreign_frame(&mut self, original: &[u8]) -> Option<Vec<u8>> {
        let sender = usize::from(super::quorum::quorum_repr(original)?.sender);
        let spec = self.scenario.nodes.get(sender)?;
        let mut settings: NodeSettings = spec.config.settings().clone();
        if let vip_core::ElectionSettings::Quorum(q) = &mut settings.cluster.election {
            q.lease = q.lease + Duration::from_micros(1);
        }
        let config = Config::new(settings).ok()?;
        let seed = derive_seed(self.scenario.seed, 0x4_1000_0000 | self.now.total_micros());
        let mut shadow =
            vip_core::Node::new(config, seed, self.nodes[sender].clock.local(self.now));
        let mut buf: FrameBuf = [0; vip_core::wire::MAX_FRAME_LEN];
        while let Some(out) = shadow.poll_output(&mut buf) {
            if let Output::Transmit { len, .. } = out {
                return Some(buf[..len].to_vec());
            }
        }
        None
    }

    /// Delivers `frame` to node `t` and checks what it did.
    fn judge_attack(&mut self, t: usize, variant: Variant, frame: &[u8]) {
        let now = self.now;
        let Some(core) = self.nodes[t].core.as_ref() else {
            return;
        };
        let before = state(core);
        let facts = (
            core.role(),
            core.holder(),
            core.election()
                .as_quorum()
                .map(|q| (q.promised(), q.lease_end())),
        );
        let counters = core.counters().clone();
        self.node_input(t, |core, local| core.handle_frame(local, frame));
        let Some(core) = self.nodes[t].core.as_ref() else {
            return;
        };
        let after = core.counters();
        let dropped = |r: DropReason| after.dropped(r) - counters.dropped(r);
        let tally = &mut self.quorum.attack;
        match variant {
            Variant::Replay => tally.replays += 1,
            Variant::Forged => tally.forged += 1,
            Variant::Foreign => tally.foreign += 1,
        }
        tally.dropped_auth += dropped(DropReason::Auth);
        tally.dropped_replay += dropped(DropReason::Replay);
        tally.dropped_epoch += dropped(DropReason::Epoch);
        tally.dropped_digest += dropped(DropReason::Digest);
        let expected = match variant {
            Variant::Replay => DropReason::Replay,
            Variant::Forged => DropReason::Auth,
            Variant::Foreign => DropReason::Digest,
        };
        let unchanged = state(core) == before;
        let facts_kept = facts
            == (
                core.role(),
                core.holder(),
                core.election()
                    .as_quorum()
                    .map(|q| (q.promised(), q.lease_end())),
            );
        let accepted = after.adverts_in != counters.adverts_in;
        let broken = match variant {
            // A replay of a sender's earlier run is challenged: that may
            // change the challenge state, nothing the election decides.
            Variant::Replay if dropped(DropReason::Epoch) == 1 => !facts_kept || accepted,
            _ => dropped(expected) != 1 || !unchanged || accepted,
        };
        if broken {
            let what = format!(
                "n{t} took an attacker's {} frame: {} (expected a {} drop and no change)",
                match variant {
                    Variant::Replay => "replayed",
                    Variant::Forged => "forged",
                    Variant::Foreign => "foreign-digest",
                },
                outcome(&counters, after, accepted),
                expected.as_str()
            );
            self.monitor.violation(now, what);
        }
    }
}

/// What the counters say a frame came to.
fn outcome(before: &Counters, after: &Counters, accepted: bool) -> String {
    if accepted {
        return "accepted as fresh".to_string();
    }
    DropReason::ALL
        .iter()
        .find(|&&r| after.dropped(r) > before.dropped(r))
        .map_or(
            "neither accepted nor dropped, but the state changed".to_string(),
            |r| format!("dropped as {}", r.as_str()),
        )
}
