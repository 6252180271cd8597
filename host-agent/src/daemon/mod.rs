//! `vipd run`: the async shell around one core node.
//!
//! The loop turns the packet socket, the node's deadline, carrier changes,
//! health results, status requests and signals into core inputs, and the
//! core's outputs, in order, into sends, netlink calls, hook runs, logs and
//! status. It takes no protocol decision of its own.

use std::net::Ipv4Addr;
use std::sync::mpsc as std_mpsc;
use std::sync::Arc;
use std::time::Duration as StdDuration;

mod event_loop;
mod moves;

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;
use tokio::sync::oneshot;
use vip_core::election::etcd::{EtcdInput, EtcdRequest};
use vip_core::{
    Command, Conditions, Event, FrameBuf, FrameFilter, FrameKind, Holder, Instant, Node, Output,
    Vip,
};

use crate::clock::{Alarm, Clock};
use crate::config::{AgentConfig, Resolved};
use crate::control::{self, LoopRequest};
use crate::duration::to_std;
use crate::etcd::{self as etcd_adapter, SharedStatus};
use crate::hooks::{HookJob, HookKind, HookReport, HookRunner, Outcome};
use crate::lease::{self, LeaseFence};
use crate::metrics::{self, MetricsInput};
use crate::setup::Failure;
use crate::status::{self, Roster};
use crate::sys::{
    self, Doorbell, InterfaceInfo, LinkEvent, LinkWatch, PacketOptions, PacketSocket,
};
use crate::{health, http};
use event_loop::{event_loop, Cold, End, Wires, RETRY_AFTER};

/// The node plus what the agent keeps beside it for status and metrics.
struct Agent {
    config: AgentConfig,
    ifindex: u32,
    /// Where the VIP's address goes: the VIP MAC's macvlan in the DHCP
    /// mode, else the management interface.
    vip_ifindex: u32,
    /// The VIP MAC's macvlan (DHCP mode), removed at a clean stop.
    vip_link: Option<sys::VipLink>,
    node: Node,
    clock: Clock,
    roster: Roster,
    state_since: Instant,
    holder: Option<Ipv4Addr>,
    holder_changes: u64,
    hook_failures: u64,
    send_errors: u64,
    /// Netlink calls that could not add or remove the VIP.
    vip_failures: u64,
    hooks: HookRunner,
    buf: Box<FrameBuf>,
    /// The health check's last verdict (true when none is configured).
    health_ok: bool,
    /// The VIP could not be added: the core is told once the drain is done.
    vip_failed: bool,
    /// The kernel fence (quorum and etcd; in the DHCP mode installed for
    /// each leased address before the address is added).
    fence: Option<LeaseFence>,
    /// A lease election runs: no VIP address without a fence for it.
    fenced: bool,
    /// Fence updates that failed.
    fence_failures: u64,
    /// Frames that speak for the VIP held back because the lease had ended.
    held_frames: u64,
    /// A `vipd move` waiting for its target to hold.
    pending_move: Option<PendingMove>,
    /// The etcd adapter (`protocol = "etcd"`).
    etcd: Option<EtcdLink>,
}

/// The event loop's end of the etcd adapter.
struct EtcdLink {
    /// The core's requests, in the order raised.
    requests: mpsc::UnboundedSender<EtcdRequest>,
    /// What the adapter shows status and `vipd move`.
    status: SharedStatus,
}

/// A move asked through the status socket, waiting for its target.
#[derive(Debug)]
struct PendingMove {
    /// The target's address, or `None` for "the best other member".
    target: Option<Ipv4Addr>,
    /// The holder when the move was asked.
    from: Ipv4Addr,
    deadline: Instant,
    reply: oneshot::Sender<Result<String, String>>,
}

/// Sends a frame, retrying briefly if the transmit queue is full: a lost
/// priority-0 advert would cost the backups Master_Down_Interval instead
/// of Skew_Time. Bounded to about a millisecond of yielding.
fn send_frame(socket: &PacketSocket, frame: &[u8]) -> std::io::Result<()> {
    let mut tries = 0;
    loop {
        match socket.send(frame) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && tries < 100 => {
                tries += 1;
                std::thread::yield_now();
            }
            other => return other,
        }
    }
}

impl Agent {
    /// Applies every queued output in order (the drain rule).
    fn drain(&mut self, socket: &PacketSocket) {
        let mut hooks = Vec::new();
        while let Some(output) = self.node.poll_output(&mut self.buf) {
            match output {
                Output::Transmit { len, kind } => {
                    let speaks_for_vip = matches!(kind, FrameKind::Garp | FrameKind::ArpReply);
                    if speaks_for_vip
                        && self
                            .fence
                            .as_ref()
                            .is_some_and(|f| !f.open_at(self.clock.now()))
                    {
                        // Past the lease: the kernel fence would drop it too.
                        self.held_frames += 1;
                        continue;
                    }
                    if let Err(e) = send_frame(socket, &self.buf[..len]) {
                        self.send_errors += 1;
                        tracing::warn!(kind = kind.as_str(), error = %e, "send failed");
                    }
                }
                Output::Event(event) => {
                    if let Some(kind) = self.apply(event) {
                        hooks.push(kind);
                    }
                }
            }
        }
        if let Some(etcd) = &self.etcd {
            // Handed over only now, after this input's outputs: a
            // keep-alive is sent after the core asked, never before.
            while let Some(request) = self.node.poll_etcd_request() {
                let _ = etcd.requests.send(request);
            }
        }
        for (kind, vip) in hooks {
            self.queue_hook(kind, vip);
        }
        if std::mem::take(&mut self.vip_failed) {
            // Holding a VIP we could not configure would keep the others out
            // while nobody answers: the core steps aside and retries.
            self.command(socket, Command::VipFailed);
        }
    }

    /// Makes sure a lease holder's fence guards `address` before the
    /// address is added: in the DHCP mode the address is known only now, so
    /// the fence is (re)installed for it, closed; the core's `LeaseExtended`
    /// that follows every `AcquireVip` of a tenure opens it.
    fn fence_for(&mut self, address: Ipv4Addr) -> Result<(), sys::SysError> {
        if !self.fenced || self.fence.as_ref().is_some_and(|f| f.vip() == address) {
            return Ok(());
        }
        let fence = LeaseFence::install(self.ifindex, address)?;
        tracing::info!(vip = %address, "fence installed for the leased address");
        self.fence = Some(fence);
        Ok(())
    }

    /// Acts on one event; returns the hook it calls for, with its VIP.
    fn apply(&mut self, event: Event) -> Option<(HookKind, Vip)> {
        match event {
            Event::AcquireVip(vip) => match self
                .fence_for(vip.address)
                .and_then(|()| sys::add_vip(self.vip_ifindex, vip.address))
            {
                Ok(()) => {
                    tracing::info!(vip = %vip.address, interface = %self.config.interface, "VIP acquired");
                    Some((HookKind::Acquire, vip))
                }
                Err(e) => {
                    tracing::error!(error = %e, retry_in = %vip_core::node::VIP_RETRY, "could not add the VIP; giving it up");
                    self.vip_failures += 1;
                    self.vip_failed = true;
                    None
                }
            },
            Event::ReleaseVip(vip) => {
                // The fence first: it stops the VIP's traffic at once.
                if let Some(fence) = &mut self.fence {
                    if let Err(e) = fence.close() {
                        self.fence_failures += 1;
                        tracing::error!(error = %e, "could not close the VIP fence");
                    }
                }
                // A VIP left behind splits its traffic: try hard to remove it.
                // Each netlink call is bounded, so the three stay under a second.
                let mut result = sys::remove_vip(self.vip_ifindex, vip.address);
                for _ in 0..2 {
                    if result.is_ok() {
                        break;
                    }
                    result = sys::remove_vip(self.vip_ifindex, vip.address);
                }
                match result {
                    Ok(()) => {
                        tracing::info!(vip = %vip.address, interface = %self.config.interface, "VIP released")
                    }
                    Err(e) => {
                        self.vip_failures += 1;
                        tracing::error!(error = %e, "could not remove the VIP after 3 tries");
                    }
                }
                Some((HookKind::Release, vip))
            }
            Event::RoleChanged { from, to } => {
                self.state_since = self.clock.now();
                tracing::info!(from = from.as_str(), to = to.as_str(), "role changed");
                None
            }
            Event::HolderLearned(holder) => {
                self.learn_holder(holder);
                if let Some(h) = &holder {
                    self.finish_move(h);
                }
                None
            }
            Event::Conflict { hwaddr } => {
                let vip = self.node.vip().map(|v| v.address);
                tracing::warn!(hwaddr = %status::format_mac(hwaddr), ?vip, "another host claims the VIP; re-announcing (rate-limited)");
                None
            }
            Event::LeaseExtended { until } => {
                if let Some(fence) = &mut self.fence {
                    if let Err(e) = fence.extend(&self.clock, until) {
                        // The fence stays closed at its last deadline: safe,
                        // but the VIP's traffic stops early. Said and counted.
                        self.fence_failures += 1;
                        tracing::error!(error = %e, "could not extend the VIP fence");
                    }
                }
                None
            }
            Event::LeaseChanged(lease) => {
                tracing::info!(state = lease.state.as_str(), address = ?lease.address, problem = lease.problem.map(|p| p.as_str()), "VIP lease");
                None
            }
            Event::FrameDropped(reason) => {
                tracing::debug!(reason = reason.as_str(), "frame dropped");
                None
            }
            Event::PeerHeard(peer) => {
                self.roster.heard(self.clock.now(), peer);
                None
            }
        }
    }

    /// The etcd adapter's figures, when it runs.
    fn etcd_status(&self) -> Option<crate::etcd::EtcdStatus> {
        let etcd = self.etcd.as_ref()?;
        etcd.status.lock().ok().map(|s| s.clone())
    }

    fn learn_holder(&mut self, holder: Option<Holder>) {
        let address = holder.map(|h| h.address);
        if address != self.holder {
            if address.is_some() {
                self.holder_changes += 1;
            }
            self.holder = address;
            match holder {
                Some(h) => {
                    let name = self.node.config().member_name(h.address);
                    tracing::info!(holder = %h.address, name = name.map_or("?", |n| n.as_str()), priority = h.priority, term = ?h.term, hwaddr = %status::format_mac(h.hwaddr), "holder learned");
                }
                None => tracing::info!("no holder known"),
            }
        }
    }

    fn queue_hook(&mut self, kind: HookKind, vip: Vip) {
        let command = match kind {
            HookKind::Acquire => self.config.hooks.on_acquire.clone(),
            HookKind::Release => self.config.hooks.on_release.clone(),
        };
        let Some(command) = command else { return };
        let c = &self.config;
        let mut env = vec![
            ("VIPD_VIP", vip.address.to_string()),
            ("VIPD_INTERFACE", c.interface.clone()),
            ("VIPD_NODE", c.node.to_string()),
            ("VIPD_STATE", self.node.role().as_str().to_owned()),
            ("VIPD_CLUSTER", c.cluster().to_owned()),
            (
                "VIPD_HWADDR",
                status::format_mac(self.node.config().vip_mac()),
            ),
        ];
        // A leased VIP: what the lease is now, and why it went, if it did.
        if let Some(lease) = self.node.lease() {
            env.push(("VIPD_LEASE_STATE", lease.state.as_str().to_owned()));
            let problem = lease.problem.map_or("", |p| p.as_str());
            env.push(("VIPD_LEASE_PROBLEM", problem.to_owned()));
        }
        let job = HookJob { kind, command, env };
        if !self.hooks.queue(job) {
            self.hook_failures += 1;
            tracing::warn!(hook = kind.as_str(), "hook queue full: run skipped");
        }
    }

    fn hook_done(&mut self, report: HookReport) {
        let hook = report.kind.as_str();
        match report.outcome {
            Outcome::Exited(s) if s.success() => tracing::info!(hook, "hook succeeded"),
            Outcome::Exited(s) => {
                self.hook_failures += 1;
                tracing::warn!(hook, status = %s, "hook failed");
            }
            Outcome::SpawnFailed(e) => {
                self.hook_failures += 1;
                tracing::warn!(hook, error = %e, "hook could not be run");
            }
            Outcome::TimedOut => {
                self.hook_failures += 1;
                tracing::warn!(hook, timeout = %self.config.hooks.timeout, "hook timed out and was killed");
            }
        }
    }

    /// Hands one received frame to the node and applies its outputs.
    fn receive(&mut self, socket: &PacketSocket, frame: &[u8]) {
        self.node.handle_frame(self.clock.now(), frame);
        self.drain(socket);
    }

    fn command(&mut self, socket: &PacketSocket, command: Command) {
        self.node.command(self.clock.now(), command);
        self.drain(socket);
    }

    fn answer(&mut self, socket: &PacketSocket, request: LoopRequest) {
        match request {
            LoopRequest::Status(reply) => {
                let mut s = status::build(
                    &self.config,
                    &self.node,
                    &self.roster,
                    &self.clock,
                    self.state_since,
                );
                s.etcd = self.etcd_status().map(|e| status::EtcdView {
                    line: e.line,
                    lease: e.lease.map(|l| format!("{l:x}")),
                    problem: e.problem,
                });
                let _ = reply.send(s);
            }
            LoopRequest::Metrics(reply) => {
                let _ = reply.send(metrics::render(&MetricsInput {
                    counters: self.node.counters().clone(),
                    role: self.node.role(),
                    priority: self.node.priority(),
                    holder_changes: self.holder_changes,
                    hook_failures: self.hook_failures,
                    send_errors: self.send_errors,
                    vip_failures: self.vip_failures,
                    truncated_frames: socket.truncated_frames(),
                    fence_failures: self.fence_failures,
                    held_frames: self.held_frames,
                    etcd: self.etcd_status(),
                }));
            }
            LoopRequest::SetPriority(priority, reply) => {
                let previous = self.node.priority();
                self.command(socket, Command::SetPriority(priority));
                tracing::info!(
                    previous,
                    priority = self.node.priority(),
                    "priority set by status socket"
                );
                let _ = reply.send(Ok((self.node.priority(), previous)));
            }
            LoopRequest::Move(to, reply) => {
                if self.pending_move.is_some() {
                    let _ = reply.send(Err("another move is under way".into()));
                } else {
                    self.start_move(socket, to, reply);
                }
            }
        }
    }
}

fn seed() -> u64 {
    getrandom::u64().unwrap_or_else(|e| {
        tracing::warn!(error = %e, "OS RNG unavailable; seeding from the clock");
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    })
}

fn system(what: &str) -> impl FnOnce(std::io::Error) -> Failure + '_ {
    move |e| Failure::System(format!("{what}: {e}"))
}

/// Runs the daemon until SIGTERM or SIGINT; the VIP is released before it returns.
/// Rings the doorbell when dropped.
struct RingOnDrop(Arc<Doorbell>);

impl Drop for RingOnDrop {
    fn drop(&mut self) {
        self.0.ring();
    }
}

/// Work for the thread the daemon was started on: the event loop.
pub type LoopJob = Box<dyn FnOnce() + Send>;

/// Runs the daemon; the event loop is handed to `run_loop` (the caller runs
/// it on the process's first thread, see `main`).
pub async fn run(
    config: AgentConfig,
    info: InterfaceInfo,
    resolved: Resolved,
    run_loop: std_mpsc::Sender<LoopJob>,
) -> Result<(), Failure> {
    let etcd_election = match resolved.core.election() {
        vip_core::ElectionSettings::Etcd(e) => Some(*e),
        _ => None,
    };
    let fenced = resolved.core.quorum().is_some() || etcd_election.is_some();
    sys::check_privileges(&config.interface, fenced)
        .map_err(|e| Failure::Privilege(e.to_string()))?;
    let ifindex = info.index;
    // The kernel filter passes what the core says it wants, nothing else.
    let options = PacketOptions::new(FrameFilter::for_config(&resolved.core));
    let socket =
        PacketSocket::open(ifindex, &options).map_err(|e| Failure::System(e.to_string()))?;
    let mut link = LinkWatch::new(ifindex).map_err(|e| Failure::System(e.to_string()))?;

    // A VIP left by an earlier run (crash, kill -9) must go before this node
    // may decide anything: the core starts believing it holds nothing.
    if let Some(stale) = config.vip() {
        if sys::has_address(ifindex, stale).map_err(|e| Failure::System(e.to_string()))? {
            sys::remove_vip(ifindex, stale).map_err(|e| Failure::System(e.to_string()))?;
            tracing::warn!(vip = %stale, interface = %config.interface, "removed a VIP left by an earlier run");
        }
    }

    let mut term = signal(SignalKind::terminate()).map_err(system("SIGTERM handler"))?;
    let mut int = signal(SignalKind::interrupt()).map_err(system("SIGINT handler"))?;

    let (to_loop, mut requests) = mpsc::channel::<LoopRequest>(32);
    let listener = control::bind(&config.status.socket).map_err(|e| {
        Failure::System(format!(
            "status socket {}: {e}",
            config.status.socket.display()
        ))
    })?;
    let mut servers = vec![tokio::spawn(control::serve(listener, to_loop.clone()))];
    if let Some(addr) = config.status.http {
        let listener = http::bind(addr)
            .await
            .map_err(|e| Failure::System(format!("status.http {addr}: {e}")))?;
        servers.push(tokio::spawn(http::serve(listener, to_loop.clone())));
        tracing::info!(%addr, "serving /status and /metrics");
    }
    drop(to_loop);

    let (report_tx, mut reports) = mpsc::unbounded_channel();
    let (hooks, hook_task) = HookRunner::start(to_std(config.hooks.timeout), report_tx);
    let (health_tx, mut health_rx) = mpsc::channel::<bool>(4);
    let health_task = config
        .health
        .clone()
        .map(|h| tokio::spawn(health::watch(h, health_tx)));

    let clock = Clock::start();
    let alarm = Alarm::new(&clock).map_err(system("timerfd"))?;
    let seed = seed();
    // Carrier and health as known now: a node without them starts in Fault
    // and never claims the VIP, not even for one step. With a health check
    // configured, the node is unhealthy until the check first passes.
    let health_ok = config.health.is_none();
    let mut conditions = Conditions {
        link_up: link.carrier_up(),
        healthy: health_ok,
        ..Conditions::default()
    };
    // A VIP MAC other than the node's (the DHCP mode, VRRP's virtual MAC):
    // its macvlan (an earlier run's replaced, taking its address with it),
    // up for the daemon's life, and the management interface kept from
    // answering ARP for the VIP.
    let mut vip_link = None;
    if let Some(mac) = resolved.core.settings().cluster.shared_vip_mac() {
        let link = sys::create_vip_link(ifindex, mac.0)
            .and_then(|link| sys::quiet_parent_arp(&config.interface, ifindex).map(|()| link))
            .and_then(|link| sys::set_link_up(link.index, true).map(|()| link))
            .map_err(|e| {
                Failure::System(format!(
                    "{e} (a VIP MAC of its own needs a macvlan of {} carrying it)",
                    config.interface
                ))
            })?;
        tracing::info!(link = %link.name, hwaddr = %status::format_mac(mac), "VIP MAC's macvlan up");
        vip_link = Some(link);
    }
    let vip_ifindex = vip_link
        .as_ref()
        .map_or(ifindex, |l: &sys::VipLink| l.index);
    // Leases (quorum, etcd): the fence (closed) before anything may hold.
    // Quorum: what earlier runs of this boot may have promised before
    // anything may vote.
    let mut fence = None;
    if fenced {
        if let Some(q) = resolved.core.quorum() {
            let record = lease::record_path(&config.status.socket, config.cluster(), &config.node);
            conditions.prior_runs = lease::prior_runs(&record, q)
                .map_err(|e| Failure::System(format!("{}: {e}", record.display())))?;
            tracing::info!(prior_runs = ?conditions.prior_runs, record = %record.display(), "quorum: earlier runs read");
        }
        let protocol = resolved.core.protocol().as_str();
        let need = |e: sys::SysError| {
            Failure::System(format!(
                "{e} (the {protocol} election needs the kernel fence: tc clsact and eBPF with bpf_ktime_get_boot_ns, Linux 5.8 or later, and CAP_BPF with CAP_NET_ADMIN)"
            ))
        };
        match config.vip() {
            Some(vip) => {
                fence = Some(LeaseFence::install(ifindex, vip).map_err(need)?);
                tracing::info!(protocol, "fence installed (closed)");
            }
            // A leased VIP: its fence comes with its address; an earlier
            // run's goes now (it was closed, and guarded another address).
            None => sys::remove_fence(ifindex).map_err(need)?,
        }
    }
    // etcd: the adapter, on this runtime; its requests come from the loop.
    let mut etcd = None;
    let mut etcd_inputs = None;
    let mut etcd_task = None;
    if let (Some(e), Some(settings)) = (etcd_election, &config.etcd) {
        let client = etcd_adapter::connect(settings, to_std(e.lease_ttl))
            .await
            .map_err(Failure::System)?;
        let (requests, requests_rx) = mpsc::unbounded_channel();
        let (inputs_tx, inputs_rx) = mpsc::unbounded_channel();
        let status = SharedStatus::default();
        let me = etcd_adapter::Me {
            record: etcd_adapter::Record::new(
                &config.node,
                resolved.address,
                config.vip(),
                resolved.core.vip_mac(),
                e.priority,
            ),
            ttl_secs: i64::try_from(e.lease_ttl.total_micros() / 1_000_000).unwrap_or(i64::MAX),
            members: config
                .members()
                .iter()
                .map(|m| (m.name.to_string(), m.address))
                .collect(),
        };
        tracing::info!(endpoints = ?settings.endpoints, prefix = %settings.prefix, lease_ttl = %e.lease_ttl, holder_lease = %e.holder_lease(), "etcd: adapter started");
        etcd_task = Some(tokio::spawn(etcd_adapter::run(
            client,
            settings.clone(),
            me,
            requests_rx,
            inputs_tx,
            Arc::clone(&status),
            ETCD_STOP_WITHIN,
        )));
        etcd = Some(EtcdLink { requests, status });
        etcd_inputs = Some(inputs_rx);
    }
    if !conditions.link_up {
        tracing::warn!(interface = %config.interface, "no carrier at start");
    }
    let node = Node::starting(resolved.core, seed, clock.now(), conditions);
    tracing::info!(
        cluster = %config.cluster(), node = %config.node, interface = %config.interface,
        address = %resolved.address, vip = ?node.vip().map(|v| v.address), protocol = node.election().protocol().as_str(),
        priority = node.priority(), seed,
        "vipd started"
    );
    let mut agent = Agent {
        ifindex,
        vip_ifindex,
        vip_link,
        fenced,
        node,
        clock,
        roster: Roster::default(),
        state_since: Instant::ZERO,
        holder: None,
        holder_changes: 0,
        hook_failures: 0,
        send_errors: 0,
        hooks,
        buf: Box::new([0; vip_core::wire::MAX_FRAME_LEN]),
        health_ok,
        vip_failed: false,
        vip_failures: 0,
        fence,
        fence_failures: 0,
        held_frames: 0,
        pending_move: None,
        etcd,
        config,
    };
    agent.drain(&socket);

    let bell = Arc::new(Doorbell::new().map_err(system("eventfd"))?);
    // Declared before the sender, so dropped after it: however this side
    // ends (an error, a panic), the loop wakes, finds the channel closed
    // and releases the VIP, instead of holding it with nobody to stop it.
    let _wake_loop_at_exit = RingOnDrop(Arc::clone(&bell));
    let (to_loop, inbox) = std_mpsc::channel::<Cold>();
    let mut wires =
        Wires::new(socket, alarm, Arc::clone(&bell), inbox, info.mtu).map_err(system("epoll"))?;
    let (end_tx, mut end_rx) = oneshot::channel();
    run_loop
        .send(Box::new(move || {
            let end = event_loop(&mut agent, &mut wires);
            tracing::info!("shutting down: releasing the VIP");
            agent.command(&wires.socket, Command::Shutdown);
            if let Some(fence) = agent.fence.take() {
                // Closed by the release; detached so the interface is as we found it.
                if let Err(e) = fence.remove() {
                    tracing::warn!(error = %e, "could not detach the VIP fence");
                }
            }
            if let Some(link) = agent.vip_link.take() {
                if let Err(e) = sys::remove_vip_link(&link.name) {
                    tracing::warn!(error = %e, link = %link.name, "could not remove the VIP MAC's macvlan");
                }
            }
            let _ = end_tx.send((agent, end));
        }))
        .map_err(|_| Failure::System("the event loop's thread is gone".into()))?;
    let post = |cold: Cold| {
        if to_loop.send(cold).is_ok() {
            bell.ring();
        }
    };

    // The runtime side: whatever is not a frame or a deadline, handed over.
    let mut link_pause: Option<tokio::time::Instant> = None;
    let mut link_gone = false;
    let (agent, end) = loop {
        let cold = tokio::select! {
            end = &mut end_rx => match end {
                Ok(end) => break end,
                Err(_) => return Err(Failure::System(
                    "the event loop thread stopped without releasing the VIP (a bug: see the log above)".into(),
                )),
            },
            () = sleep_until(link_pause), if !link_gone => {
                link_pause = None;
                continue;
            }
            event = link.next(), if link_pause.is_none() && !link_gone => match event {
                Ok(event) => {
                    link_gone = event == LinkEvent::Removed;
                    Cold::Link(event)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "link watch failed; retrying in 1s");
                    link_pause = Some(tokio::time::Instant::now() + to_std(RETRY_AFTER));
                    continue;
                }
            },
            Some(ok) = health_rx.recv() => Cold::Health(ok),
            Some(request) = requests.recv() => Cold::Request(request),
            input = recv_etcd(&mut etcd_inputs) => match input {
                Some(input) => Cold::Etcd(input),
                None => {
                    // Its keep-alives stop with it: the core lets the VIP go
                    // when the lease runs out by its own clock.
                    tracing::error!("etcd: the adapter stopped (a bug: see the log above); the VIP goes at the lease's end");
                    etcd_inputs = None;
                    continue;
                }
            },
            Some(report) = reports.recv() => Cold::Hook(report),
            _ = term.recv() => Cold::Stop,
            _ = int.recv() => Cold::Stop,
        };
        post(cold);
    };
    let link_gone = end == End::LinkGone;

    for server in &servers {
        server.abort();
    }
    if let Some(task) = health_task {
        task.abort();
    }
    let _ = std::fs::remove_file(&agent.config.status.socket);
    // Let the queued on_release hook finish: it may wait behind an on_acquire
    // still running (SIGTERM right after acquiring), so allow two timeouts.
    // A second signal stops waiting.
    let wait = to_std(agent.config.hooks.timeout) * 2 + StdDuration::from_secs(1);
    let interface = agent.config.interface.clone();
    let Agent {
        hooks, etcd: link, ..
    } = agent;
    drop(hooks);
    drop(link);
    // The agent and its end of the adapter are gone: the adapter does what
    // is left (the revocation of a clean stop), then ends.
    if let Some(task) = etcd_task {
        if tokio::time::timeout(ETCD_STOP_WITHIN * 2, task)
            .await
            .is_err()
        {
            tracing::warn!("etcd: the adapter did not end in time");
        }
    }
    tokio::select! {
        _ = tokio::time::timeout(wait, hook_task) => {}
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    while let Ok(report) = reports.try_recv() {
        tracing::info!(hook = report.kind.as_str(), outcome = ?report.outcome, "hook finished");
    }
    tracing::info!("stopped");
    if link_gone {
        return Err(Failure::System(format!(
            "interface {} was removed",
            interface
        )));
    }
    Ok(())
}

/// How long a stopping daemon lets the etcd adapter finish its requests
/// (the revocation that lets the next node take over at once).
const ETCD_STOP_WITHIN: StdDuration = StdDuration::from_secs(2);

/// The next input from the etcd adapter; pending forever without one.
async fn recv_etcd(inputs: &mut Option<mpsc::UnboundedReceiver<EtcdInput>>) -> Option<EtcdInput> {
    match inputs {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Sleeps until `at`, or forever for `None`.
async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
