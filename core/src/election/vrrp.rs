//! VRRPv3 state machine (RFC 9568 §6.4): Initialize, Backup, Master, plus
//! Fault for link or health loss.
//!
//! Timers live in the state that owns them, so leaving a state drops its timer.
//! The machine pushes its events and adverts into the [`Outbox`] in the order
//! the contract requires: `ReleaseVip` before the priority-0 advert that lets
//! a backup take over; `AcquireVip` before the first advert as master.

use core::net::Ipv4Addr;

use super::ElectionTx;
use crate::config::VrrpSettings;
use crate::dhcp::{Heard, SharedLease};
use crate::output::{DropReason, Event, Holder, Outbox, Peer, Role, Tx, Vip};
use crate::time::{Duration, Instant};
use crate::wire::vrrp::{self, Advert, ChecksumKind, Repr};
use crate::wire::{EthernetAddress, EthernetFrame, EthernetProtocol};

/// Skew_Time = (256 − priority) × interval / 256 (RFC 9568 §6.1).
pub const fn skew_time(interval: Duration, priority: u8) -> Duration {
    interval.saturating_mul(256 - priority as u64).div(256)
}

/// Master_Down_Interval = 3 × interval + Skew_Time (RFC 9568 §6.1): how
/// long a backup of `priority` waits after the master's last advert.
pub const fn master_down_interval(interval: Duration, priority: u8) -> Duration {
    interval
        .saturating_mul(3)
        .saturating_add(skew_time(interval, priority))
}

/// True if an IPv4 payload says IP protocol 112; the cheap pre-filter that
/// decides whether a frame is VRRP's to judge.
pub(crate) fn claims(eth: &EthernetFrame<&[u8]>) -> bool {
    eth.ethertype() == EthernetProtocol::Ipv4 && eth.payload().get(9) == Some(&vrrp::PROTOCOL)
}

/// An advert to build at poll time, with what must be fixed when queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AdvertTx {
    priority: u8,
    checksum: ChecksumKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Initialize,
    Backup {
        master_down_at: Instant,
        /// Set while a higher-priority node waits out its preempt delay.
        preempt_at: Option<Instant>,
    },
    Master {
        advert_at: Instant,
    },
    Fault,
}

/// One VRRPv3 virtual router instance.
#[derive(Debug, Clone)]
pub struct Vrrp {
    settings: VrrpSettings,
    address: Ipv4Addr,
    hwaddr: EthernetAddress,
    state: State,
    /// The interval learned from the master (RFC: Master_Adver_Interval).
    master_adver_interval: Duration,
    /// Checksum form last seen from a peer, for `ChecksumMode::Auto`.
    learned_checksum: Option<ChecksumKind>,
    holder: Option<Holder>,
    /// Set when this master has reason to think clients follow another
    /// node's MAC (a split brain healed, or it was silent too long); the
    /// node answers with a fresh gratuitous-ARP burst.
    reassert: bool,
    /// Set when this master yielded to another MAC: the node announces the
    /// VIP at that MAC once, on the winner's behalf.
    handover_to: Option<EthernetAddress>,
    /// The VIP is leased by DHCP: adverts carry the holder's lease address,
    /// which the members learn rather than check.
    leased: bool,
    /// What the master's last advert said of the lease, not yet taken:
    /// the address it lists, or `None` when it lists none (0.0.0.0).
    heard_lease: Option<Option<Ipv4Addr>>,
}

impl Vrrp {
    /// A machine in Initialize; call [`Vrrp::startup`] to run it.
    pub(crate) fn new(
        settings: VrrpSettings,
        address: Ipv4Addr,
        hwaddr: EthernetAddress,
        leased: bool,
    ) -> Self {
        Vrrp {
            leased,
            heard_lease: None,
            master_adver_interval: settings.advert_interval,
            settings,
            address,
            hwaddr,
            state: State::Initialize,
            learned_checksum: None,
            holder: None,
            reassert: false,
            handover_to: None,
        }
    }

    // ---- getters ----

    /// The current role.
    pub fn role(&self) -> Role {
        match self.state {
            State::Initialize => Role::Initialize,
            State::Backup { .. } => Role::Backup,
            State::Master { .. } => Role::Holder,
            State::Fault => Role::Fault,
        }
    }

    /// This node's priority now.
    pub fn priority(&self) -> u8 {
        self.settings.priority
    }

    /// The holder as this node knows it.
    pub fn holder(&self) -> Option<Holder> {
        self.holder
    }

    /// What the master's last advert said of the lease, once.
    pub(crate) fn take_heard_lease(&mut self) -> Option<Heard> {
        Some(match self.heard_lease.take()? {
            Some(address) => Heard::Lease(SharedLease {
                address,
                server: None,
                expires_at: None,
            }),
            None => Heard::NoLease,
        })
    }

    /// The checksum form adverts are sent with now.
    pub fn checksum_to_send(&self) -> ChecksumKind {
        self.settings.checksum.to_send(self.learned_checksum)
    }

    /// Master_Down_Interval for the interval learned from the master.
    pub fn master_down_interval(&self) -> Duration {
        master_down_interval(self.master_adver_interval, self.settings.priority)
    }

    /// Skew_Time for the interval learned from the master.
    pub fn skew_time(&self) -> Duration {
        skew_time(self.master_adver_interval, self.settings.priority)
    }

    /// The next deadline, if any.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Backup {
                master_down_at,
                preempt_at,
            } => Some(match preempt_at {
                Some(at) => at.min(master_down_at),
                None => master_down_at,
            }),
            State::Master { advert_at } => Some(advert_at),
            State::Initialize | State::Fault => None,
        }
    }

    // ---- inputs ----

    /// RFC 9568 Startup: Master at once for priority 255, else Backup.
    pub(crate) fn startup(&mut self, now: Instant, out: &mut Outbox) {
        if self.settings.priority == 255 {
            self.become_master(now, out);
        } else {
            self.master_adver_interval = self.settings.advert_interval;
            self.enter(
                out,
                State::Backup {
                    master_down_at: now + self.master_down_interval(),
                    preempt_at: None,
                },
            );
        }
    }

    /// A frame [`claims`] passed: parsed, checked and acted on, or dropped
    /// with its reason.
    pub(crate) fn handle_frame(
        &mut self,
        now: Instant,
        eth: &EthernetFrame<&[u8]>,
        out: &mut Outbox,
    ) {
        let advert = match Advert::parse(eth.payload()) {
            Ok(a) => a,
            Err(e) => {
                out.drop_frame(match e {
                    vrrp::Error::Truncated => DropReason::Truncated,
                    vrrp::Error::Unsupported => DropReason::Unsupported,
                    vrrp::Error::Checksum => DropReason::Checksum,
                    vrrp::Error::Ttl => DropReason::Ttl,
                    vrrp::Error::Ipv4 | vrrp::Error::NotVrrp => DropReason::Ipv4Header,
                    vrrp::Error::TooManyAddresses => DropReason::AddressList,
                });
                return;
            }
        };
        if advert.src == self.address {
            out.drop_frame(DropReason::Looped);
            return;
        }
        if advert.vrrp.vrid != self.settings.vrid {
            out.drop_frame(DropReason::Vrid);
            return;
        }
        self.handle_advert(now, &advert, eth.src_addr(), out);
    }

    /// Writes the IPv4 advert `tx` describes into `payload`; returns its length.
    /// Without a VIP (a DHCP VIP not yet leased) the advert lists 0.0.0.0.
    pub(crate) fn emit(&self, tx: AdvertTx, vip: Option<Vip>, payload: &mut [u8]) -> usize {
        let mut addresses = heapless::Vec::new();
        // Cannot fail: capacity MAX_ADDRESSES >= 1.
        let _ = addresses.push(vip.map_or(Ipv4Addr::UNSPECIFIED, |v| v.address));
        let advert = Advert {
            src: self.address,
            checksum: tx.checksum,
            vrrp: Repr {
                vrid: self.settings.vrid,
                priority: tx.priority,
                max_advert_interval: self.settings.advert_interval.total_centis() as u16,
                addresses,
            },
        };
        advert.emit(payload);
        advert.buffer_len()
    }

    /// A valid advert for our VRID from `hwaddr`.
    fn handle_advert(
        &mut self,
        now: Instant,
        advert: &Advert,
        hwaddr: EthernetAddress,
        out: &mut Outbox,
    ) {
        // RFC 9568 §7.1: a list that does not match is dropped unless the
        // address owner (priority 255) sent it.
        // A leased VIP is learned from the master's list, not checked.
        let listed = out
            .vip()
            .is_some_and(|v| advert.vrrp.addresses.contains(&v.address));
        if !self.leased && advert.vrrp.priority != 255 && !listed {
            out.drop_frame(DropReason::AddressList);
            return;
        }
        if advert.vrrp.max_advert_interval == 0 {
            out.drop_frame(DropReason::Interval);
            return;
        }
        out.counters.adverts_in += 1;
        self.learned_checksum = Some(advert.checksum);
        let theirs = advert.vrrp.priority;
        if self.leased && theirs > 0 && self.role() != Role::Holder {
            let listed = advert.vrrp.addresses.first().copied();
            self.heard_lease = Some(listed.filter(|a| !a.is_unspecified()));
        }
        out.event(Event::PeerHeard(Peer {
            address: advert.src,
            hwaddr,
            priority: theirs,
            term: None,
        }));
        let interval = Duration::from_centis(u64::from(advert.vrrp.max_advert_interval));
        match self.state {
            State::Initialize => {}
            State::Fault => {
                if theirs > 0 {
                    self.learn_holder(now, advert.src, hwaddr, theirs, out);
                }
            }
            State::Backup { preempt_at, .. } => {
                if theirs == 0 {
                    // The master is stepping down: take over after Skew_Time.
                    self.forget_holder(advert.src, out);
                    self.state = State::Backup {
                        master_down_at: now + self.skew_time(),
                        preempt_at: None,
                    };
                    return;
                }
                self.learn_holder(now, advert.src, hwaddr, theirs, out);
                let defer = !self.settings.preempt || theirs >= self.settings.priority;
                let preempt_at = if defer {
                    None
                } else if self.settings.preempt_delay == Duration::ZERO {
                    // Preempt: discard, and the down timer runs out.
                    return;
                } else {
                    let at = preempt_at.unwrap_or(now + self.settings.preempt_delay);
                    if now >= at {
                        return;
                    }
                    Some(at)
                };
                self.master_adver_interval = interval;
                self.state = State::Backup {
                    master_down_at: now + self.master_down_interval(),
                    preempt_at,
                };
            }
            State::Master { .. } => {
                if theirs == 0 {
                    // Another master is stopping: assert ourselves at once.
                    self.send_advert(out);
                    self.state = State::Master {
                        advert_at: now + self.settings.advert_interval,
                    };
                } else if theirs > self.settings.priority
                    || (theirs == self.settings.priority && advert.src > self.address)
                {
                    self.master_adver_interval = interval;
                    self.enter(
                        out,
                        State::Backup {
                            master_down_at: now + self.master_down_interval(),
                            preempt_at: None,
                        },
                    );
                    // Clients that followed us (say, on our side of a healed
                    // partition) would keep our MAC until their entry fails;
                    // the winner does not know they exist. Point them at it.
                    if hwaddr != self.hwaddr && hwaddr.is_unicast() && hwaddr.0 != [0; 6] {
                        self.handover_to = Some(hwaddr);
                    }
                    self.learn_holder(now, advert.src, hwaddr, theirs, out);
                } else {
                    // A lower (or losing) master, e.g. after a partition heals:
                    // advertise now rather than at the next tick so it steps
                    // down one round trip later (keepalived does the same).
                    // Clients on its side follow its MAC: win them back.
                    self.reassert = true;
                    self.send_advert(out);
                    self.state = State::Master {
                        advert_at: now + self.settings.advert_interval,
                    };
                }
            }
        }
    }

    /// Timer expiry.
    pub(crate) fn handle_timeout(&mut self, now: Instant, out: &mut Outbox) {
        match self.state {
            State::Backup {
                master_down_at,
                preempt_at,
            } => {
                let preempt_due = preempt_at.is_some_and(|at| now >= at);
                if now >= master_down_at || preempt_due {
                    self.become_master(now, out);
                }
            }
            State::Master { advert_at } if now >= advert_at => {
                // Silent for three intervals or more (paused, starved): the
                // backups may have taken over meanwhile.
                let late = now.saturating_since(advert_at);
                if late >= self.settings.advert_interval.saturating_mul(2) {
                    self.reassert = true;
                }
                self.send_advert(out);
                self.state = State::Master {
                    advert_at: now + self.settings.advert_interval,
                };
            }
            _ => {}
        }
    }

    /// The MAC this former master yielded to, once.
    pub(crate) fn take_handover(&mut self) -> Option<EthernetAddress> {
        self.handover_to.take()
    }

    /// True once after this master decided to re-announce the VIP.
    pub(crate) fn take_reassert(&mut self) -> bool {
        core::mem::take(&mut self.reassert)
    }

    // ---- commands ----

    /// Shutdown: a master releases the VIP, then sends priority 0.
    pub(crate) fn shutdown(&mut self, out: &mut Outbox) {
        let was_master = matches!(self.state, State::Master { .. });
        self.enter(out, State::Initialize);
        if was_master {
            self.send_advert_at(0, out);
        }
    }

    /// Link lost or health failing: give the VIP up at once. With the link
    /// still up (`can_send`), a master says priority 0 so backups take over
    /// after Skew_Time instead of Master_Down_Interval.
    pub(crate) fn fault(&mut self, can_send: bool, out: &mut Outbox) {
        let was_master = matches!(self.state, State::Master { .. });
        self.enter(out, State::Fault);
        if was_master && can_send {
            self.send_advert_at(0, out);
        }
    }

    /// Leaves Fault (or Initialize) through Startup.
    pub(crate) fn recover(&mut self, now: Instant, out: &mut Outbox) {
        if matches!(self.state, State::Fault | State::Initialize) {
            self.startup(now, out);
        }
    }

    /// Changes this node's priority. A master advertises the new priority at
    /// once, so a higher backup can preempt without waiting an interval.
    pub(crate) fn set_priority(&mut self, now: Instant, priority: u8, out: &mut Outbox) {
        self.settings.priority = priority;
        if let State::Master { .. } = self.state {
            self.send_advert(out);
            self.state = State::Master {
                advert_at: now + self.settings.advert_interval,
            };
            self.learn_holder(now, self.address, self.hwaddr, priority, out);
        }
    }

    // ---- transitions ----

    fn become_master(&mut self, now: Instant, out: &mut Outbox) {
        self.enter(
            out,
            State::Master {
                advert_at: now + self.settings.advert_interval,
            },
        );
        self.send_advert(out);
        self.learn_holder(now, self.address, self.hwaddr, self.settings.priority, out);
    }

    /// Moves to `next`, pushing RoleChanged and Acquire/Release in contract order.
    fn enter(&mut self, out: &mut Outbox, next: State) {
        let from = self.role();
        self.state = next;
        let to = self.role();
        if from == to {
            return;
        }
        if from == Role::Holder {
            out.release_vip();
        }
        out.event(Event::RoleChanged { from, to });
        if to == Role::Holder {
            out.acquire_vip();
        }
        if from == Role::Holder {
            // We no longer hold it and do not yet know who does.
            self.holder = None;
            out.event(Event::HolderLearned(None));
        }
    }

    fn send_advert(&mut self, out: &mut Outbox) {
        self.send_advert_at(self.settings.priority, out);
    }

    fn send_advert_at(&self, priority: u8, out: &mut Outbox) {
        out.transmit(Tx::Election(ElectionTx::Vrrp(AdvertTx {
            priority,
            checksum: self.checksum_to_send(),
        })));
    }

    fn learn_holder(
        &mut self,
        now: Instant,
        address: Ipv4Addr,
        hwaddr: EthernetAddress,
        priority: u8,
        out: &mut Outbox,
    ) {
        let seen = Holder {
            address,
            hwaddr,
            priority,
            term: None,
            since: now,
        };
        super::learn_holder(&mut self.holder, seen, out);
    }

    fn forget_holder(&mut self, address: Ipv4Addr, out: &mut Outbox) {
        if self.holder.is_some_and(|h| h.address == address) {
            self.holder = None;
            out.event(Event::HolderLearned(None));
        }
    }
}
