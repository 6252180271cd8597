//! The event loop: the node's own thread, blocking in epoll on the packet
//! socket, the alarm and the doorbell (docs/architecture.md, "The event
//! loop").

use std::os::fd::AsFd;
use std::sync::mpsc as std_mpsc;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use vip_core::election::etcd::EtcdInput;
use vip_core::{Command, Instant};

use super::Agent;
use crate::clock::Alarm;
use crate::control::LoopRequest;
use crate::hooks::HookReport;
use crate::sys::{Doorbell, LinkEvent, PacketSocket, Poller};

/// What the runtime side hands the event loop thread.
pub(super) enum Cold {
    Link(LinkEvent),
    Health(bool),
    Request(LoopRequest),
    Hook(HookReport),
    /// What etcd said, through the adapter.
    Etcd(EtcdInput),
    /// SIGTERM or SIGINT.
    Stop,
}

/// How the event loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum End {
    Stopped,
    /// The interface was removed.
    LinkGone,
}

/// The poller tokens of the event loop's three descriptors.
const SOCKET: u64 = 0;
const ALARM: u64 = 1;
const BELL: u64 = 2;

/// What the event loop thread owns besides the agent.
pub(super) struct Wires {
    pub(super) socket: PacketSocket,
    alarm: Alarm,
    poller: Poller,
    bell: Arc<Doorbell>,
    inbox: std_mpsc::Receiver<Cold>,
    rx: Vec<u8>,
}

impl Wires {
    pub(super) fn new(
        socket: PacketSocket,
        alarm: Alarm,
        bell: Arc<Doorbell>,
        inbox: std_mpsc::Receiver<Cold>,
        mtu: u32,
    ) -> std::io::Result<Wires> {
        let poller = Poller::new()?;
        poller.watch(socket.as_fd(), SOCKET)?;
        poller.watch(alarm.as_fd(), ALARM)?;
        poller.watch(bell.as_fd(), BELL)?;
        Ok(Wires {
            socket,
            alarm,
            poller,
            bell,
            inbox,
            rx: vec![0u8; (mtu as usize + 18).max(vip_core::wire::MAX_FRAME_LEN)],
        })
    }
}

/// The event loop, on its own thread: blocks in the poller on the packet
/// socket, the alarm and the doorbell, and turns what is ready into core
/// inputs. Everything slower (link watch, health, status requests, hook
/// reports, signals) reaches it through the doorbell.
///
/// Not tokio: a quorum holder wakes two or three times per renewal (500
/// renewals a second at 2 ms), and a wake-up through the runtime cost
/// several times the core's own work (docs/architecture.md, "The event
/// loop").
pub(super) fn event_loop(agent: &mut Agent, wires: &mut Wires) -> End {
    let Wires {
        socket,
        alarm,
        poller,
        bell,
        inbox,
        rx,
    } = wires;
    let mut ready = Vec::with_capacity(3);
    // After a failed receive the socket rests a second, sharing the alarm
    // with the node's deadline and the pending move's.
    let mut recv_pause: Option<Instant> = None;
    loop {
        alarm.set(vip_core::time::soonest([
            agent.node.poll_timeout(),
            recv_pause,
            agent.pending_move.as_ref().map(|m| m.deadline),
        ]));
        if let Err(e) = poller.wait(&mut ready, None) {
            // Only a bad descriptor or pointer fails here: nothing to fix,
            // but no reason to spin on it either.
            tracing::error!(error = %e, "epoll_wait failed; retrying in 10 ms");
            std::thread::sleep(StdDuration::from_millis(10));
            continue;
        }
        if ready.is_empty() {
            // Interrupted: after SIGSTOP and SIGCONT epoll_wait fails with
            // EINTR although frames and the alarm may both be waiting. Ask
            // again, so that the frames are seen before the deadline.
            continue;
        }
        if ready.contains(&ALARM) {
            alarm.take();
        }
        // Frames first (bounded): one queued before a deadline (while the
        // loop was busy or the process paused) decides before it. The
        // poller is level-triggered, so a frame queued before the wait
        // returned is reported with the alarm.
        if recv_pause.is_none() && ready.contains(&SOCKET) {
            for _ in 0..QUEUED_BEFORE_TIMEOUT {
                match socket.try_recv(rx) {
                    Ok(Some(len)) => agent.receive(socket, &rx[..len]),
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "receive failed; pausing 1s");
                        recv_pause = Some(agent.clock.now() + RETRY_AFTER);
                        let _ = poller.pause(socket.as_fd(), SOCKET, true);
                        break;
                    }
                }
            }
        }
        let now = agent.clock.now();
        if recv_pause.is_some_and(|t| t <= now) {
            recv_pause = None;
            let _ = poller.pause(socket.as_fd(), SOCKET, false);
        }
        if agent
            .pending_move
            .as_ref()
            .is_some_and(|m| m.deadline <= now)
        {
            agent.move_timed_out();
        }
        if agent.node.poll_timeout().is_some_and(|t| t <= now) {
            agent.node.handle_timeout(now);
            agent.drain(socket);
        }
        if !ready.contains(&BELL) {
            continue;
        }
        // Cleared before reading: a ring after the read wakes the next wait.
        bell.clear();
        loop {
            let cold = match inbox.try_recv() {
                Ok(cold) => cold,
                Err(std_mpsc::TryRecvError::Empty) => break,
                // The runtime side is gone: nobody is left to stop us.
                Err(std_mpsc::TryRecvError::Disconnected) => return End::Stopped,
            };
            match cold {
                Cold::Link(LinkEvent::CarrierUp) => {
                    tracing::info!(interface = %agent.config.interface, "carrier up");
                    agent.command(socket, Command::LinkUp);
                }
                Cold::Link(LinkEvent::CarrierDown) => {
                    tracing::warn!(interface = %agent.config.interface, "carrier down");
                    agent.command(socket, Command::LinkDown);
                }
                Cold::Link(LinkEvent::Removed) => {
                    // Its index is gone for good: release, stop, and let the
                    // service manager restart vipd on the new interface.
                    tracing::error!(interface = %agent.config.interface, "interface removed; stopping");
                    agent.command(socket, Command::LinkDown);
                    return End::LinkGone;
                }
                Cold::Health(ok) => {
                    if ok != agent.health_ok {
                        agent.health_ok = ok;
                        if ok {
                            tracing::info!("health check passes");
                            agent.command(socket, Command::HealthUp);
                        } else {
                            tracing::warn!("health check failed");
                            agent.command(socket, Command::HealthDown);
                        }
                    }
                }
                Cold::Request(request) => agent.answer(socket, request),
                Cold::Etcd(input) => {
                    agent.node.handle_etcd(agent.clock.now(), input);
                    agent.drain(socket);
                }
                Cold::Hook(report) => agent.hook_done(report),
                Cold::Stop => return End::Stopped,
            }
        }
    }
}

/// How long a failed receive or link watch rests before trying again.
pub(super) const RETRY_AFTER: vip_core::Duration = vip_core::Duration::from_secs(1);

/// Most queued frames read before a deadline is handled: bounds how long a
/// flood can hold a timer back (a few milliseconds of work).
const QUEUED_BEFORE_TIMEOUT: usize = 1024;
