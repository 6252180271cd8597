//! The VIP's DHCP lease client (RFC 2131 §4.4), run by the holder only.
//!
//! The client's hardware address and identifier are the VIP MAC, which
//! every node shares, so the server sees one client whichever node holds:
//! a new holder continues the lease the old one had. While this node does
//! not hold, the client runs no exchange; it keeps the lease it last held
//! or learned from the holder ([`DhcpClient::learn`]), and the VIP's
//! address is that lease's until it expires.
//!
//! Timing, all on this node's clock:
//! * a lease runs from the first transmission of the REQUEST that the ACK
//!   answers (the server cannot have granted it earlier; a renewal sent
//!   again takes a new transaction id, so that is the retry's own sending,
//!   not the first try's); T1 and T2 default
//!   to 1/2 and 7/8 of it, and a T1 or T2 beyond the lease is ignored;
//! * DISCOVER is retransmitted after 4 s, 8 s, … up to 64 s, each ±1 s
//!   (RFC 2131 §4.1), forever; a REQUEST for an offer up to
//!   [`REQUEST_ATTEMPTS`] times, then the client discovers again;
//! * renewing starts at T1 (or at once on a new holder) with a unicast
//!   REQUEST to the server; every retransmission after the first, and
//!   every rebinding REQUEST from T2 on, is broadcast and asks for a
//!   broadcast answer, so a path that drops unicast replies (kube-vip #871)
//!   costs one retry, not the lease; retransmissions wait half the time
//!   left to T2 (rebinding: to the lease's end), at least [`RETRY_MIN`] and
//!   at most [`RETRY_MAX`];
//! * at the lease's end, or on a NAK, the address is released at once and
//!   the client discovers again (after a NAK without asking for the
//!   address the server refused).
//!
//! Every address offered is checked against the rules a fixed VIP is held
//! to ([`Config::leased_vip_rule`]); an offer that breaks one is refused,
//! reported, and the client waits for another.

use core::net::Ipv4Addr;

use crate::config::{Config, VipRule};
use crate::output::{DropReason, Event, Outbox, Tx, Vip};
use crate::rand::Prng;
use crate::time::{soonest, Duration, Instant};
use crate::wire::dhcp::{Datagram, Message, MessageType};
use crate::wire::EthernetAddress;

pub mod server;
#[cfg(test)]
mod tests;

/// The first DISCOVER retransmission's delay (RFC 2131 §4.1).
pub const DISCOVER_RETRY: Duration = Duration::from_secs(4);

/// The longest DISCOVER retransmission delay.
pub const DISCOVER_RETRY_MAX: Duration = Duration::from_secs(64);

/// The random spread of DISCOVER retransmissions, either way.
pub const DISCOVER_JITTER: Duration = Duration::from_secs(1);

/// How long the client waits for an answer to a REQUEST for an offer.
pub const REQUEST_RETRY: Duration = Duration::from_secs(2);

/// REQUESTs sent for one offer before the client discovers again.
pub const REQUEST_ATTEMPTS: u8 = 4;

/// The shortest wait between renewing or rebinding retransmissions.
pub const RETRY_MIN: Duration = Duration::from_secs(1);

/// The longest wait between renewing or rebinding retransmissions.
pub const RETRY_MAX: Duration = Duration::from_secs(60);

/// The phase of the lease client, as status shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LeaseState {
    /// Not the holder: no exchange runs.
    Stopped,
    /// Broadcasting DISCOVER, waiting for an offer.
    Selecting,
    /// Asking for an offered address.
    Requesting,
    /// Holding a lease; renewing at T1.
    Bound,
    /// Renewing with the server that granted the lease.
    Renewing,
    /// Asking any server to extend the lease.
    Rebinding,
}

impl LeaseState {
    /// Every state, in metrics order.
    pub const ALL: [LeaseState; 6] = [
        LeaseState::Stopped,
        LeaseState::Selecting,
        LeaseState::Requesting,
        LeaseState::Bound,
        LeaseState::Renewing,
        LeaseState::Rebinding,
    ];

    /// Lower-case name, as status shows it.
    pub const fn as_str(self) -> &'static str {
        match self {
            LeaseState::Stopped => "stopped",
            LeaseState::Selecting => "selecting",
            LeaseState::Requesting => "requesting",
            LeaseState::Bound => "bound",
            LeaseState::Renewing => "renewing",
            LeaseState::Rebinding => "rebinding",
        }
    }
}

/// Why the holder has no lease, or what last went wrong with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LeaseProblem {
    /// DISCOVER went unanswered.
    NoOffer,
    /// The server refused the address.
    Nak {
        /// The refusing server.
        server: Option<Ipv4Addr>,
    },
    /// No server answered renewing or rebinding before the lease ended.
    NoServer,
    /// An offer or ACK broke a VIP rule and was refused.
    Refused {
        /// The address offered.
        address: Ipv4Addr,
        /// The rule it broke.
        rule: VipRule,
    },
}

impl LeaseProblem {
    /// Snake-case name, as status and metrics show it.
    pub const fn as_str(self) -> &'static str {
        match self {
            LeaseProblem::NoOffer => "no_offer",
            LeaseProblem::Nak { .. } => "nak",
            LeaseProblem::NoServer => "no_server",
            LeaseProblem::Refused { .. } => "offer_refused",
        }
    }
}

/// What status shows of the lease, on every node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LeaseStatus {
    /// The client's phase (`Stopped` on a node that does not hold).
    pub state: LeaseState,
    /// The leased address, held or learned, while the lease lasts.
    pub address: Option<Ipv4Addr>,
    /// The address the client asks for (or would ask for).
    pub requested: Option<Ipv4Addr>,
    /// The server that granted the lease.
    pub server: Option<Ipv4Addr>,
    /// When the lease ends, on this node's clock.
    pub expires_at: Option<Instant>,
    /// What last went wrong, until a lease binds.
    pub problem: Option<LeaseProblem>,
    /// The address the holder last said the VIP has, on a node that does
    /// not hold (VRRP adverts carry the address without the lease's term,
    /// so a VRRP member knows this and no [`LeaseStatus::address`]).
    pub holder_address: Option<Ipv4Addr>,
}

/// A lease this node holds or learned from the holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    /// The address.
    pub address: Ipv4Addr,
    /// The server that granted it (option 54).
    pub server: Ipv4Addr,
    /// Where a unicast renewal goes: the MAC the ACK came from (`None` for
    /// a learned lease: the first renewal is broadcast).
    pub server_hwaddr: Option<EthernetAddress>,
    /// T1.
    pub renew_at: Instant,
    /// T2.
    pub rebind_at: Instant,
    /// The lease's end.
    pub expires_at: Instant,
}

/// A lease as the holder tells the members (in its renewals or adverts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedLease {
    /// The address.
    pub address: Ipv4Addr,
    /// The granting server, if the protocol carries it.
    pub server: Option<Ipv4Addr>,
    /// When it ends on the receiver's clock, if the protocol carries it.
    pub expires_at: Option<Instant>,
}

impl SharedLease {
    /// The lease as a quorum renewal carries it in its two echo fields
    /// (docs/protocol.md): address and server in the first, the
    /// milliseconds left at `now` in the upper half of the second. A lease
    /// without server or end is not carried (`(0, 0)`).
    pub(crate) fn to_echo(self, now: Instant) -> (u64, u64) {
        let (Some(server), Some(expires_at)) = (self.server, self.expires_at) else {
            return (0, 0);
        };
        let left = expires_at.saturating_since(now).total_millis();
        let left = u32::try_from(left).unwrap_or(u32::MAX);
        let first = u64::from(u32::from(self.address)) << 32 | u64::from(u32::from(server));
        (first, u64::from(left) << 32)
    }

    /// The lease a renewal's echo fields carry, received at `now`: its end
    /// moved earlier by the drift bound, as a promise is (`None`: no lease).
    pub(crate) fn from_echo(
        now: Instant,
        first: u64,
        second: u64,
        max_drift_ppm: u32,
    ) -> Option<SharedLease> {
        let address = Ipv4Addr::from((first >> 32) as u32);
        if address.is_unspecified() {
            return None;
        }
        let left = Duration::from_millis(second >> 32);
        let slow = u128::from(left.total_micros())
            * u128::from(1_000_000 - max_drift_ppm.min(1_000_000))
            / 1_000_000;
        Some(SharedLease {
            address,
            server: Some(Ipv4Addr::from(first as u32)),
            expires_at: Some(now + Duration::from_micros(slow as u64)),
        })
    }
}

/// What a holder's message says of its lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Heard {
    /// It holds this lease (or, for VRRP, this address).
    Lease(SharedLease),
    /// It holds none (quorum renewals say so): a copy a member kept ends.
    NoLease,
}

/// A DHCP message to build when the caller polls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DhcpTx {
    message: Message,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    dst_hwaddr: EthernetAddress,
}

/// One exchange in flight: its transaction id, when it began, when the
/// lease it may win would start, when its message will next be sent, and
/// how often it was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Exchange {
    xid: u32,
    started_at: Instant,
    /// The first REQUEST's sending (the exchange's start until one is sent).
    lease_from: Instant,
    send_at: Instant,
    attempts: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Stopped,
    Selecting(Exchange),
    Requesting {
        exchange: Exchange,
        address: Ipv4Addr,
        server: Ipv4Addr,
    },
    Bound,
    Renewing(Exchange),
    Rebinding(Exchange),
}

/// The VIP's lease client.
#[derive(Debug, Clone)]
pub struct DhcpClient {
    hwaddr: EthernetAddress,
    state: State,
    lease: Option<Lease>,
    requested: Option<Ipv4Addr>,
    problem: Option<LeaseProblem>,
    /// The address the holder last said it holds (`None` once it says none).
    holder_address: Option<Ipv4Addr>,
    /// The status last reported, so that only changes are.
    reported: Option<LeaseStatus>,
}

impl DhcpClient {
    /// A stopped client for the VIP MAC `hwaddr`.
    pub fn new(hwaddr: EthernetAddress) -> DhcpClient {
        DhcpClient {
            hwaddr,
            state: State::Stopped,
            lease: None,
            requested: None,
            problem: None,
            holder_address: None,
            reported: None,
        }
    }

    // ---- getters ----

    /// The VIP MAC.
    pub fn hwaddr(&self) -> EthernetAddress {
        self.hwaddr
    }

    /// True while an exchange may run (this node holds).
    pub fn is_running(&self) -> bool {
        self.state != State::Stopped
    }

    /// The lease held or learned, if it has not ended.
    pub fn lease(&self) -> Option<Lease> {
        self.lease
    }

    /// What status shows.
    pub fn status(&self) -> LeaseStatus {
        let state = match self.state {
            State::Stopped => LeaseState::Stopped,
            State::Selecting(_) => LeaseState::Selecting,
            State::Requesting { .. } => LeaseState::Requesting,
            State::Bound => LeaseState::Bound,
            State::Renewing(_) => LeaseState::Renewing,
            State::Rebinding(_) => LeaseState::Rebinding,
        };
        let requested = match self.state {
            State::Requesting { address, .. } => Some(address),
            _ => self.requested,
        };
        LeaseStatus {
            state,
            address: self.lease.map(|l| l.address),
            requested,
            server: self.lease.map(|l| l.server),
            expires_at: self.lease.map(|l| l.expires_at),
            problem: self.problem,
            holder_address: match self.state {
                State::Stopped => self.holder_address,
                _ => None,
            },
        }
    }

    /// The VIP the lease gives, if any.
    pub fn vip(&self) -> Option<Vip> {
        self.lease.map(|l| Vip::host(l.address))
    }

    /// The lease to tell the members, while this node holds one.
    pub fn shared(&self) -> Option<SharedLease> {
        let l = self.lease?;
        Some(SharedLease {
            address: l.address,
            server: Some(l.server),
            expires_at: Some(l.expires_at),
        })
    }

    // ---- inputs ----

    /// This node became the holder: continue a lease that still runs (and
    /// renew it at once, which confirms it to this node), or discover.
    pub(crate) fn start(&mut self, now: Instant, prng: &mut Prng, out: &mut Outbox) {
        if self.state != State::Stopped {
            return;
        }
        self.expire(now, prng, out);
        self.state = if self.lease.is_some() {
            State::Renewing(Exchange::new(now, prng))
        } else {
            State::Selecting(Exchange::new(now, prng))
        };
        self.handle_timeout(now, prng, out);
    }

    /// This node no longer holds: stop every exchange, keep the lease.
    pub(crate) fn stop(&mut self, out: &mut Outbox) {
        self.state = State::Stopped;
        self.report(out);
    }

    /// The holder told this node of its lease, or that it holds none (after
    /// a NAK, say: a copy kept here must not outlive the holder's lease).
    pub(crate) fn learn(&mut self, now: Instant, heard: Heard, out: &mut Outbox) {
        if self.state != State::Stopped {
            return;
        }
        let heard = match heard {
            Heard::Lease(lease) => lease,
            Heard::NoLease => {
                self.holder_address = None;
                if self.lease.take().is_some() {
                    out.set_vip(None);
                }
                self.report(out);
                return;
            }
        };
        self.requested = Some(heard.address);
        self.holder_address = Some(heard.address);
        if let (Some(server), Some(expires_at)) = (heard.server, heard.expires_at) {
            if now < expires_at {
                self.lease = Some(Lease {
                    address: heard.address,
                    server,
                    server_hwaddr: None,
                    renew_at: expires_at,
                    rebind_at: expires_at,
                    expires_at,
                });
                self.problem = None;
            }
        }
        out.set_vip(self.vip());
        self.report(out);
    }

    /// A DHCP message arrived in a frame from `src_hwaddr`.
    pub(crate) fn handle_datagram(
        &mut self,
        now: Instant,
        datagram: &Datagram<'_>,
        src_hwaddr: EthernetAddress,
        config: &Config,
        prng: &mut Prng,
        out: &mut Outbox,
    ) {
        let m = &datagram.message;
        let Some(xid) = self.exchange().map(|e| e.xid) else {
            out.counters.ignored += 1;
            return;
        };
        if m.from_client() || m.chaddr != self.hwaddr || m.xid != xid {
            out.counters.ignored += 1;
            return;
        }
        out.counters.dhcp_in += 1;
        match (self.state, m.kind) {
            (State::Selecting(exchange), MessageType::Offer) => {
                let Some(server) = m.server_id else {
                    out.drop_frame(DropReason::Dhcp);
                    return;
                };
                if let Some(rule) = config.leased_vip_rule(m.yiaddr) {
                    self.refuse(m.yiaddr, rule, out);
                    return;
                }
                let exchange = Exchange {
                    lease_from: now,
                    send_at: now,
                    attempts: 0,
                    ..exchange
                };
                self.state = State::Requesting {
                    exchange,
                    address: m.yiaddr,
                    server,
                };
                self.handle_timeout(now, prng, out);
            }
            (
                State::Requesting { exchange, .. }
                | State::Renewing(exchange)
                | State::Rebinding(exchange),
                MessageType::Ack,
            ) => self.acked(now, m, exchange, src_hwaddr, config, prng, out),
            (State::Requesting { server, .. }, MessageType::Nak)
                if m.server_id.is_none_or(|s| s == server) =>
            {
                self.naked(now, m.server_id, prng, out)
            }
            (State::Renewing(_) | State::Rebinding(_), MessageType::Nak) => {
                self.naked(now, m.server_id, prng, out)
            }
            _ => out.counters.ignored += 1,
        }
    }

    /// Runs the timers due at `now`.
    pub(crate) fn handle_timeout(&mut self, now: Instant, prng: &mut Prng, out: &mut Outbox) {
        self.expire(now, prng, out);
        match self.state {
            State::Stopped => {}
            State::Bound => {
                if let Some(l) = self.lease.filter(|l| now >= l.renew_at) {
                    let next = if now >= l.rebind_at {
                        State::Rebinding(Exchange::new(now, prng))
                    } else {
                        State::Renewing(Exchange::new(now, prng))
                    };
                    self.state = next;
                    self.handle_timeout(now, prng, out);
                }
            }
            State::Selecting(mut e) if now >= e.send_at => {
                if e.attempts > 0 {
                    self.problem.get_or_insert(LeaseProblem::NoOffer);
                }
                self.send_discover(now, e, out);
                e.attempts = e.attempts.saturating_add(1);
                e.send_at = now + discover_backoff(e.attempts, prng);
                self.state = State::Selecting(e);
            }
            State::Requesting {
                mut exchange,
                address,
                server,
            } if now >= exchange.send_at => {
                if exchange.attempts >= REQUEST_ATTEMPTS {
                    self.state = State::Selecting(Exchange::new(now, prng));
                    return self.handle_timeout(now, prng, out);
                }
                self.send_request(now, exchange, address, server, out);
                exchange.attempts += 1;
                exchange.send_at = now + REQUEST_RETRY;
                self.state = State::Requesting {
                    exchange,
                    address,
                    server,
                };
            }
            State::Renewing(mut e) if now >= e.send_at => {
                let Some(l) = self.lease else { return };
                if now >= l.rebind_at && l.rebind_at < l.expires_at {
                    self.state = State::Rebinding(Exchange::new(now, prng));
                    return self.handle_timeout(now, prng, out);
                }
                // The first try goes to the server's MAC; retries are
                // broadcast in case unicast replies do not reach us.
                let unicast = if e.attempts == 0 {
                    l.server_hwaddr
                } else {
                    None
                };
                e.renew_as_new(now, prng);
                self.send_renewal(now, e, l, unicast, out);
                e.attempts = e.attempts.saturating_add(1);
                // Rebinding starts at T2 whatever the retry schedule says.
                e.send_at = (now + retry_wait(now, l.rebind_at)).min(l.rebind_at.max(now));
                if e.send_at == now {
                    e.send_at = now + RETRY_MIN;
                }
                self.state = State::Renewing(e);
            }
            State::Rebinding(mut e) if now >= e.send_at => {
                let Some(l) = self.lease else { return };
                e.renew_as_new(now, prng);
                self.send_renewal(now, e, l, None, out);
                e.attempts = e.attempts.saturating_add(1);
                e.send_at = now + retry_wait(now, l.expires_at);
                self.state = State::Rebinding(e);
            }
            State::Selecting(_)
            | State::Requesting { .. }
            | State::Renewing(_)
            | State::Rebinding(_) => {}
        }
        self.report(out);
    }

    // ---- outputs ----

    /// The next instant [`DhcpClient::handle_timeout`] has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let expiry = self.lease.map(|l| l.expires_at);
        let phase = match self.state {
            State::Stopped => None,
            State::Bound => self.lease.map(|l| l.renew_at),
            State::Selecting(e) | State::Renewing(e) | State::Rebinding(e) => Some(e.send_at),
            State::Requesting { exchange, .. } => Some(exchange.send_at),
        };
        soonest([expiry, phase])
    }

    /// Writes `tx` as an IPv4 packet into `payload`; returns its length.
    pub(crate) fn emit(tx: DhcpTx, host_name: &str, payload: &mut [u8]) -> usize {
        let datagram = Datagram {
            src: tx.src,
            dst: tx.dst,
            message: tx.message,
            host_name: Some(host_name),
        };
        datagram.emit(payload)
    }

    /// Where `tx` goes on the segment.
    pub(crate) fn destination(tx: DhcpTx) -> EthernetAddress {
        tx.dst_hwaddr
    }

    // ---- internals ----

    fn exchange(&self) -> Option<Exchange> {
        match self.state {
            State::Stopped | State::Bound => None,
            State::Selecting(e) | State::Renewing(e) | State::Rebinding(e) => Some(e),
            State::Requesting { exchange, .. } => Some(exchange),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn acked(
        &mut self,
        now: Instant,
        m: &Message,
        exchange: Exchange,
        src_hwaddr: EthernetAddress,
        config: &Config,
        prng: &mut Prng,
        out: &mut Outbox,
    ) {
        let (Some(lease_secs), Some(server)) = (m.lease_secs, m.server_id.or(self.server())) else {
            out.drop_frame(DropReason::Dhcp);
            return;
        };
        if let Some(rule) = config.leased_vip_rule(m.yiaddr) {
            // Not ours to use: drop what we had and look for another, not
            // at once, so a server that insists cannot make us spin.
            self.lose(out);
            self.refuse(m.yiaddr, rule, out);
            let mut e = Exchange::new(now, prng);
            e.send_at = now + discover_backoff(1, prng);
            self.state = State::Selecting(e);
            self.report(out);
            return;
        }
        // The lease runs from the exchange's first REQUEST.
        let t0 = exchange.lease_from;
        let lease = Duration::from_secs(u64::from(lease_secs));
        let secs = |s: Option<u32>, default: Duration| {
            s.map(|s| Duration::from_secs(u64::from(s)))
                .filter(|d| *d <= lease)
                .unwrap_or(default)
        };
        if t0 + lease <= now {
            // Over before it began (a zero lease, or a REQUEST answered
            // late): nothing to configure.
            out.drop_frame(DropReason::Dhcp);
            return;
        }
        let t2 = secs(m.rebind_secs, lease.saturating_mul(7).div(8));
        let t1 = secs(m.renew_secs, lease.div(2)).min(t2);
        self.lease = Some(Lease {
            address: m.yiaddr,
            server,
            server_hwaddr: Some(src_hwaddr),
            renew_at: t0 + t1,
            rebind_at: t0 + t2,
            expires_at: t0 + lease,
        });
        self.requested = Some(m.yiaddr);
        self.problem = None;
        self.state = State::Bound;
        out.set_vip(self.vip());
        self.handle_timeout(now, prng, out);
    }

    fn naked(&mut self, now: Instant, server: Option<Ipv4Addr>, prng: &mut Prng, out: &mut Outbox) {
        self.lose(out);
        self.requested = None;
        self.problem = Some(LeaseProblem::Nak { server });
        self.state = State::Selecting(Exchange::new(now, prng));
        self.handle_timeout(now, prng, out);
    }

    fn refuse(&mut self, address: Ipv4Addr, rule: VipRule, out: &mut Outbox) {
        self.problem = Some(LeaseProblem::Refused { address, rule });
        if self.requested == Some(address) {
            self.requested = None;
        }
        self.report(out);
    }

    /// Ends a lease whose time ran out; a running client discovers again.
    fn expire(&mut self, now: Instant, prng: &mut Prng, out: &mut Outbox) {
        if self.lease.is_none_or(|l| now < l.expires_at) {
            return;
        }
        self.lose(out);
        if self.state != State::Stopped {
            self.problem = Some(LeaseProblem::NoServer);
            self.state = State::Selecting(Exchange::new(now, prng));
        }
    }

    /// Drops the lease and tells the outbox the address is gone.
    fn lose(&mut self, out: &mut Outbox) {
        if let Some(l) = self.lease.take() {
            self.requested = Some(l.address);
        }
        out.set_vip(None);
    }

    fn server(&self) -> Option<Ipv4Addr> {
        match self.state {
            State::Requesting { server, .. } => Some(server),
            _ => self.lease.map(|l| l.server),
        }
    }

    fn message(&self, kind: MessageType, now: Instant, e: Exchange) -> Message {
        let mut m = Message::new(kind, e.xid, self.hwaddr);
        m.client_id = Some(self.hwaddr);
        m.secs = u16::try_from(now.saturating_since(e.started_at).total_micros() / 1_000_000)
            .unwrap_or(u16::MAX);
        m
    }

    fn send_discover(&mut self, now: Instant, e: Exchange, out: &mut Outbox) {
        let mut m = self.message(MessageType::Discover, now, e);
        m.requested = self.requested;
        m.broadcast = true;
        out.transmit(Tx::Dhcp(DhcpTx::broadcast(m, Ipv4Addr::UNSPECIFIED)));
    }

    fn send_request(
        &mut self,
        now: Instant,
        e: Exchange,
        address: Ipv4Addr,
        server: Ipv4Addr,
        out: &mut Outbox,
    ) {
        let mut m = self.message(MessageType::Request, now, e);
        m.requested = Some(address);
        m.server_id = Some(server);
        m.broadcast = true;
        out.transmit(Tx::Dhcp(DhcpTx::broadcast(m, Ipv4Addr::UNSPECIFIED)));
    }

    /// A REQUEST that extends the lease: to the server at `unicast` in the
    /// renewing form (`ciaddr` set, neither option 50 nor 54), else
    /// broadcast in the INIT-REBOOT form (option 50, no `ciaddr`, the
    /// broadcast flag), which a server answers by broadcast: a server
    /// answers a `ciaddr` by unicast whatever the flag says, and unicast
    /// answers are what a broken path loses.
    fn send_renewal(
        &mut self,
        now: Instant,
        e: Exchange,
        l: Lease,
        unicast: Option<EthernetAddress>,
        out: &mut Outbox,
    ) {
        let mut m = self.message(MessageType::Request, now, e);
        let tx = match unicast {
            Some(dst_hwaddr) => {
                m.ciaddr = l.address;
                DhcpTx {
                    message: m,
                    src: l.address,
                    dst: l.server,
                    dst_hwaddr,
                }
            }
            None => {
                m.requested = Some(l.address);
                m.broadcast = true;
                DhcpTx::broadcast(m, Ipv4Addr::UNSPECIFIED)
            }
        };
        out.transmit(Tx::Dhcp(tx));
    }

    /// Emits the status if it changed since it was last reported.
    fn report(&mut self, out: &mut Outbox) {
        let status = self.status();
        if self.reported != Some(status) {
            self.reported = Some(status);
            out.event(Event::LeaseChanged(status));
        }
    }
}

impl Exchange {
    /// A renewal sent again takes a new transaction id, so the ACK names the
    /// one REQUEST it answers and the lease counts from that one's sending
    /// (with one id, a late ACK would count from the first try).
    fn renew_as_new(&mut self, now: Instant, prng: &mut Prng) {
        if self.attempts > 0 {
            self.xid = prng.next_u64() as u32;
        }
        self.lease_from = now;
    }

    fn new(now: Instant, prng: &mut Prng) -> Exchange {
        Exchange {
            xid: prng.next_u64() as u32,
            started_at: now,
            lease_from: now,
            send_at: now,
            attempts: 0,
        }
    }
}

impl DhcpTx {
    fn broadcast(message: Message, src: Ipv4Addr) -> DhcpTx {
        DhcpTx {
            message,
            src,
            dst: Ipv4Addr::BROADCAST,
            dst_hwaddr: EthernetAddress::BROADCAST,
        }
    }
}

/// How long after its `attempts`-th DISCOVER the client sends the next:
/// 4 s doubling to 64 s, ±1 s.
fn discover_backoff(attempts: u8, prng: &mut Prng) -> Duration {
    let doublings = u32::from(attempts.saturating_sub(1)).min(4);
    let base = DISCOVER_RETRY
        .saturating_mul(1 << doublings)
        .min(DISCOVER_RETRY_MAX);
    let spread = DISCOVER_JITTER.total_micros();
    let jitter = prng.below(2 * spread + 1);
    Duration::from_micros(base.total_micros() + jitter - spread)
}

/// Half the time left until `until`, within [`RETRY_MIN`] and [`RETRY_MAX`],
/// and never past `until` unless the minimum asks for it.
fn retry_wait(now: Instant, until: Instant) -> Duration {
    until
        .saturating_since(now)
        .div(2)
        .clamp(RETRY_MIN, RETRY_MAX)
}
