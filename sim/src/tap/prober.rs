//! A real client's traffic: a thread in the client's namespace sends a UDP
//! datagram to the VIP's traffic port at the scenario's rate through its
//! kernel (which resolves the VIP by ARP) and notes each echo that comes
//! back. Send and reply times are on the run's one monotonic clock.

use std::net::{Ipv4Addr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::client::TRAFFIC_PORT;

/// Marks a datagram as ours, after its sequence number.
const MAGIC: &[u8; 8] = b"vipdtap1";

/// What one client sent and got back.
#[derive(Debug, Clone, Default)]
pub struct Probes {
    /// Send time of each datagram (since the run's epoch), by sequence.
    pub sent: Vec<Duration>,
    /// When its echo came back, if it did.
    pub replied: Vec<Option<Duration>>,
    /// Sends the kernel refused (no neighbour entry, say).
    pub send_errors: u64,
    /// When the client stopped (since the run's epoch).
    pub stopped: Duration,
}

/// A running client thread.
#[derive(Debug)]
pub struct Prober {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<Probes, String>>>,
}

impl Prober {
    /// Starts client traffic in namespace `ns` to `vip` at `rate` per second.
    pub fn start(ns: &str, vip: Ipv4Addr, rate: u32, epoch: Instant) -> Prober {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let ns = ns.to_string();
        let thread = std::thread::spawn(move || probe(&ns, vip, rate, epoch, &flag));
        Prober {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops the traffic and returns what it saw.
    pub fn finish(mut self) -> Result<Probes, String> {
        self.stop.store(true, Ordering::Relaxed);
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err("the client thread panicked".into()),
            None => Err("the client thread is gone".into()),
        }
    }
}

impl Drop for Prober {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Moves the calling thread into network namespace `ns` (`ip netns`).
pub fn enter(ns: &str) -> Result<(), String> {
    use rustix::thread::{move_into_link_name_space, LinkNameSpaceType};
    let path = format!("/run/netns/{ns}");
    let file = std::fs::File::open(&path).map_err(|e| format!("{path}: {e}"))?;
    move_into_link_name_space(
        std::os::fd::AsFd::as_fd(&file),
        Some(LinkNameSpaceType::Network),
    )
    .map_err(|e| format!("enter {ns}: {e}"))
}

fn probe(
    ns: &str,
    vip: Ipv4Addr,
    rate: u32,
    epoch: Instant,
    stop: &AtomicBool,
) -> Result<Probes, String> {
    enter(ns)?;
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).map_err(|e| format!("bind: {e}"))?;
    socket
        .connect((vip, TRAFFIC_PORT))
        .map_err(|e| format!("connect: {e}"))?;
    let period = Duration::from_micros(1_000_000 / u64::from(rate.max(1)));
    let mut out = Probes::default();
    let started = Instant::now();
    let mut buf = [0u8; 64];
    let mut k: u32 = 0;
    while !stop.load(Ordering::Relaxed) {
        let due = started + period * k;
        loop {
            let now = Instant::now();
            if now >= due {
                break;
            }
            // Replies until the next send is due.
            let _ = socket.set_read_timeout(Some((due - now).max(Duration::from_micros(50))));
            if let Ok(n) = socket.recv(&mut buf) {
                note_reply(&buf[..n], epoch, &mut out);
            }
        }
        let mut datagram = [0u8; 12];
        datagram[..4].copy_from_slice(&k.to_be_bytes());
        datagram[4..].copy_from_slice(MAGIC);
        out.sent.push(epoch.elapsed());
        out.replied.push(None);
        if socket.send(&datagram).is_err() {
            out.send_errors += 1;
        }
        k += 1;
    }
    out.stopped = epoch.elapsed();
    Ok(out)
}

fn note_reply(datagram: &[u8], epoch: Instant, out: &mut Probes) {
    if datagram.len() != 12 || &datagram[4..] != MAGIC {
        return;
    }
    let seq = u32::from_be_bytes([datagram[0], datagram[1], datagram[2], datagram[3]]) as usize;
    if let Some(slot) = out.replied.get_mut(seq) {
        slot.get_or_insert(epoch.elapsed());
    }
}
