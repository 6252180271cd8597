//! `vipd run`: the async shell around one core node.
//!
//! The loop turns the packet socket, the node's deadline, carrier changes,
//! health results, status requests and signals into core inputs, and the
//! core's outputs, in order, into sends, netlink calls, hook runs, logs and
//! status. It takes no protocol decision of its own.

use std::net::Ipv4Addr;
use std::time::Duration as StdDuration;

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;
use vip_core::{
    Command, Conditions, Event, FrameBuf, FrameFilter, Holder, Instant, Node, Output, Vip,
};

use crate::clock::{Alarm, Clock};
use crate::config::{AgentConfig, Resolved};
use crate::control::{self, LoopRequest};
use crate::duration::to_std;
use crate::hooks::{HookJob, HookKind, HookReport, HookRunner, Outcome};
use crate::metrics::{self, MetricsInput};
use crate::setup::Failure;
use crate::status::{self, Roster};
use crate::sys::{self, InterfaceInfo, LinkEvent, LinkWatch, PacketOptions, PacketSocket};
use crate::{health, http};

/// The node plus what the agent keeps beside it for status and metrics.
struct Agent {
    config: AgentConfig,
    ifindex: u32,
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
        for (kind, vip) in hooks {
            self.queue_hook(kind, vip);
        }
        if std::mem::take(&mut self.vip_failed) {
            // Holding a VIP we could not configure would keep the others out
            // while nobody answers: the core steps aside and retries.
            self.command(socket, Command::VipFailed);
        }
    }

    /// Acts on one event; returns the hook it calls for, with its VIP.
    fn apply(&mut self, event: Event) -> Option<(HookKind, Vip)> {
        match event {
            Event::AcquireVip(vip) => match sys::add_vip(self.ifindex, vip.address) {
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
                // A VIP left behind splits its traffic: try hard to remove it.
                // Each netlink call is bounded, so the three stay under a second.
                let mut result = sys::remove_vip(self.ifindex, vip.address);
                for _ in 0..2 {
                    if result.is_ok() {
                        break;
                    }
                    result = sys::remove_vip(self.ifindex, vip.address);
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
                None
            }
            Event::Conflict { hwaddr } => {
                let vip = self.node.vip().address;
                tracing::warn!(hwaddr = %status::format_mac(hwaddr), %vip, "another host claims the VIP; re-announcing (rate-limited)");
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
        let job = HookJob {
            kind,
            command,
            env: vec![
                ("VIPD_VIP", vip.address.to_string()),
                ("VIPD_INTERFACE", c.interface.clone()),
                ("VIPD_NODE", c.node.to_string()),
                ("VIPD_STATE", self.node.role().as_str().to_owned()),
                ("VIPD_CLUSTER", c.cluster().to_owned()),
            ],
        };
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
                let s = status::build(
                    &self.config,
                    &self.node,
                    &self.roster,
                    &self.clock,
                    self.state_since,
                );
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

/// Most queued frames read before a deadline is handled: bounds how long a
/// flood can hold a timer back (a few milliseconds of work).
const QUEUED_BEFORE_TIMEOUT: usize = 1024;

/// Runs the daemon until SIGTERM or SIGINT; the VIP is released before it returns.
pub async fn run(
    config: AgentConfig,
    info: InterfaceInfo,
    resolved: Resolved,
) -> Result<(), Failure> {
    sys::check_privileges(&config.interface).map_err(|e| Failure::Privilege(e.to_string()))?;
    let ifindex = info.index;
    // The kernel filter passes what the core says it wants, nothing else.
    let options = PacketOptions::new(FrameFilter::for_config(&resolved.core));
    let socket =
        PacketSocket::open(ifindex, &options).map_err(|e| Failure::System(e.to_string()))?;
    let mut link = LinkWatch::new(ifindex).map_err(|e| Failure::System(e.to_string()))?;

    // A VIP left by an earlier run (crash, kill -9) must go before this node
    // may decide anything: the core starts believing it holds nothing.
    let stale = config.vip();
    if sys::has_address(ifindex, stale).map_err(|e| Failure::System(e.to_string()))? {
        sys::remove_vip(ifindex, stale).map_err(|e| Failure::System(e.to_string()))?;
        tracing::warn!(vip = %stale, interface = %config.interface, "removed a VIP left by an earlier run");
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
    let mut alarm = Alarm::new(&clock).map_err(system("timerfd"))?;
    let seed = seed();
    // Carrier and health as known now: a node without them starts in Fault
    // and never claims the VIP, not even for one step. With a health check
    // configured, the node is unhealthy until the check first passes.
    let health_ok = config.health.is_none();
    let conditions = Conditions {
        link_up: link.carrier_up(),
        healthy: health_ok,
    };
    if !conditions.link_up {
        tracing::warn!(interface = %config.interface, "no carrier at start");
    }
    let node = Node::starting(resolved.core, seed, clock.now(), conditions);
    tracing::info!(
        cluster = %config.cluster(), node = %config.node, interface = %config.interface,
        address = %resolved.address, vip = %node.vip().address, protocol = node.election().protocol().as_str(),
        priority = node.priority(), seed,
        "vipd started"
    );
    let mut agent = Agent {
        ifindex,
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
        config,
    };
    agent.drain(&socket);

    let mut rx = vec![0u8; (info.mtu as usize + 18).max(vip_core::wire::MAX_FRAME_LEN)];
    let mut recv_pause: Option<tokio::time::Instant> = None;
    let mut link_pause: Option<tokio::time::Instant> = None;
    let mut link_gone = false;
    loop {
        alarm.set(agent.node.poll_timeout());
        tokio::select! {
            received = socket.recv(&mut rx), if recv_pause.is_none() => match received {
                Ok(len) => agent.receive(&socket, &rx[..len]),
                Err(e) => {
                    tracing::warn!(error = %e, "receive failed; pausing 1s");
                    recv_pause = Some(tokio::time::Instant::now() + StdDuration::from_secs(1));
                }
            },
            () = sleep_until(recv_pause) => recv_pause = None,
            () = alarm.fired() => {
                // Frames queued while the loop was busy or paused arrived
                // before this deadline: they go first (bounded), so that a
                // waiting advert, not an expired timer, decides.
                for _ in 0..QUEUED_BEFORE_TIMEOUT {
                    match socket.try_recv(&mut rx) {
                        Ok(Some(len)) => agent.receive(&socket, &rx[..len]),
                        _ => break,
                    }
                }
                agent.node.handle_timeout(agent.clock.now());
                agent.drain(&socket);
            }
            () = sleep_until(link_pause), if !link_gone => link_pause = None,
            event = link.next(), if link_pause.is_none() && !link_gone => match event {
                Ok(LinkEvent::CarrierUp) => {
                    tracing::info!(interface = %agent.config.interface, "carrier up");
                    agent.command(&socket, Command::LinkUp);
                }
                Ok(LinkEvent::CarrierDown) => {
                    tracing::warn!(interface = %agent.config.interface, "carrier down");
                    agent.command(&socket, Command::LinkDown);
                }
                Ok(LinkEvent::Removed) => {
                    // Its index is gone for good: release, stop, and let the
                    // service manager restart vipd on the new interface.
                    tracing::error!(interface = %agent.config.interface, "interface removed; stopping");
                    agent.command(&socket, Command::LinkDown);
                    link_gone = true;
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "link watch failed; retrying in 1s");
                    link_pause = Some(tokio::time::Instant::now() + StdDuration::from_secs(1));
                }
            },
            Some(ok) = health_rx.recv() => {
                if ok != agent.health_ok {
                    agent.health_ok = ok;
                    if ok {
                        tracing::info!("health check passes");
                        agent.command(&socket, Command::HealthUp);
                    } else {
                        tracing::warn!("health check failed");
                        agent.command(&socket, Command::HealthDown);
                    }
                }
            }
            Some(request) = requests.recv() => agent.answer(&socket, request),
            Some(report) = reports.recv() => agent.hook_done(report),
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }

    tracing::info!("shutting down: releasing the VIP");
    agent.command(&socket, Command::Shutdown);
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
    let Agent { hooks, .. } = agent;
    drop(hooks);
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

/// Sleeps until `at`, or forever for `None`.
async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
