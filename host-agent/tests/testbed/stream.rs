//! The client's steady stream to the VIP and what a fault did to it.
//!
//! The stream is a fixed-rate ICMP echo prober in the client namespace: one
//! thread sends an echo request every interval (1 or 2 ms) through a raw
//! ICMP socket, another reads the replies. Requests, ARP and neighbour
//! handling are the client kernel's own, the replies come from the nodes'
//! kernels, so a reply proves that the client's neighbour entry led to a
//! node that holds the VIP.
//!
//! Why not iputils ping: below 10 ms (its idea of one tick), ping does not
//! send the next request while a reply is outstanding; it waits up to
//! `MININTERVAL`, 10 ms, for it. So one lost request silences the client for
//! 10 ms, and every failover gap came out rounded up to the next 10 ms step
//! after the path was back (seen in a bridge capture: request 459 lost at
//! +1.1 ms, the next request only at +11.2 ms, though the new holder had
//! announced at +11.05 ms). This prober never waits for a reply.
//!
//! Each reply is stamped with the wall clock when it was read; fault times
//! are taken with `SystemTime::now()`, the same clock, so the two compare
//! directly.

use std::fs::File;
use std::io::Write as _;
use std::net::SocketAddrV4;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use etherparse::{
    IcmpEchoHeader, Icmpv4Header, Icmpv4Type, NetSlice, SlicedPacket, TransportSlice,
};
use rustix::net::{self as rnet, AddressFamily, RecvFlags, SendFlags, SocketType};
use rustix::thread::{move_into_link_name_space, LinkNameSpaceType};

use super::VIP;

/// Between echo requests: 2 ms, 500 a second.
pub const PING_INTERVAL: Duration = Duration::from_millis(2);

/// Bytes of payload per request (as ping's default).
const PAYLOAD: usize = 56;

/// Wall-clock seconds since the epoch.
pub fn wall_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// What the two threads share.
#[derive(Debug)]
struct Shared {
    replies: Vec<(f64, u16)>,
    duplicates: usize,
    /// Per sequence number: answered since it was last sent.
    answered: Vec<bool>,
    send_errors: usize,
}

/// A running prober in the client namespace.
#[derive(Debug)]
pub struct Stream {
    stop: Arc<AtomicBool>,
    shared: Arc<Mutex<Shared>>,
    threads: Vec<JoinHandle<()>>,
    out: PathBuf,
}

impl Stream {
    /// Starts probing the VIP from namespace `ns` every `interval`; the
    /// record is written to `out` when the stream stops (for a post-mortem).
    pub fn start(ns: &str, out: &Path, interval: Duration) -> Result<Self, String> {
        let shared = Arc::new(Mutex::new(Shared {
            replies: Vec::new(),
            duplicates: 0,
            answered: vec![false; 1 << 16],
            send_errors: 0,
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let socket = open_in(ns)?;
        let reader = socket.try_clone().map_err(|e| format!("dup: {e}"))?;
        // Distinguishes our replies from any other prober's.
        let id = (std::process::id() as u16) ^ (wall_now().fract() * 65536.0) as u16;
        let sender = {
            let (stop, shared) = (stop.clone(), shared.clone());
            std::thread::spawn(move || send_loop(&socket, id, interval, &stop, &shared))
        };
        let receiver = {
            let (stop, shared) = (stop.clone(), shared.clone());
            std::thread::spawn(move || recv_loop(&reader, id, &stop, &shared))
        };
        Ok(Stream {
            stop,
            shared,
            threads: vec![sender, receiver],
            out: out.to_path_buf(),
        })
    }

    /// The reply stamps so far.
    pub fn replies(&self) -> Vec<f64> {
        let shared = self.shared.lock().expect("stream lock");
        shared.replies.iter().map(|r| r.0).collect()
    }

    /// Waits until `count` replies arrived after `since` (wall clock), or
    /// `timeout` passed.
    pub fn wait_flowing(&self, since: f64, count: usize, timeout: Duration) -> bool {
        super::wait_until(timeout, || {
            self.replies().iter().filter(|&&t| t > since).count() >= count
        })
    }

    /// Stops the prober and returns the whole record.
    pub fn stop(mut self) -> Record {
        self.halt();
        let shared = self.shared.lock().expect("stream lock");
        let record = Record {
            replies: shared.replies.clone(),
            duplicates: shared.duplicates,
        };
        if let Ok(mut f) = File::create(&self.out) {
            let _ = writeln!(f, "# send errors: {}", shared.send_errors);
            for (t, seq) in &record.replies {
                let _ = writeln!(f, "{t:.6} {seq}");
            }
        }
        record
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.halt();
    }
}

/// A raw ICMP socket created inside namespace `ns` (by a short-lived thread
/// that enters it: a socket stays in the namespace it was made in),
/// connected to the VIP.
fn open_in(ns: &str) -> Result<OwnedFd, String> {
    let path = format!("/run/netns/{ns}");
    let file = File::open(&path).map_err(|e| format!("open {path}: {e}"))?;
    std::thread::spawn(move || {
        move_into_link_name_space(
            std::os::fd::AsFd::as_fd(&file),
            Some(LinkNameSpaceType::Network),
        )
        .map_err(|e| format!("setns {path}: {e}"))?;
        let socket = rnet::socket(
            AddressFamily::INET,
            SocketType::RAW,
            Some(rnet::ipproto::ICMP),
        )
        .map_err(|e| format!("raw ICMP socket: {e}"))?;
        rnet::connect(&socket, &SocketAddrV4::new(VIP, 0)).map_err(|e| format!("connect: {e}"))?;
        rnet::sockopt::set_socket_timeout(
            &socket,
            rnet::sockopt::Timeout::Recv,
            Some(Duration::from_millis(20)),
        )
        .map_err(|e| format!("SO_RCVTIMEO: {e}"))?;
        Ok(socket)
    })
    .join()
    .map_err(|_| "the namespace thread panicked".to_string())?
}

/// Sends request `seq` every `interval` on a fixed schedule. A send that
/// comes late (the thread was not scheduled) goes at once and the missed
/// slots are skipped, not sent in a burst: the sequence numbers stay
/// consecutive across the silence, so it shows as a client stall.
fn send_loop(
    socket: &OwnedFd,
    id: u16,
    interval: Duration,
    stop: &AtomicBool,
    shared: &Mutex<Shared>,
) {
    let mut seq: u16 = 1;
    let mut next = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        }
        next = (next + interval).max(Instant::now());
        let packet = echo_request(id, seq);
        shared.lock().expect("stream lock").answered[usize::from(seq)] = false;
        if rnet::send(socket, &packet, SendFlags::empty()).is_err() {
            // Lost like a request that found no holder.
            shared.lock().expect("stream lock").send_errors += 1;
        }
        seq = seq.wrapping_add(1);
    }
}

/// Reads echo replies from the VIP carrying `id` until told to stop.
fn recv_loop(socket: &OwnedFd, id: u16, stop: &AtomicBool, shared: &Mutex<Shared>) {
    let mut buf = [0u8; 2048];
    while !stop.load(Ordering::Relaxed) {
        let Ok((n, _)) = rnet::recv(socket, &mut buf[..], RecvFlags::empty()) else {
            continue; // the receive timeout: look at the stop flag
        };
        let at = wall_now();
        if let Some(seq) = echo_reply_seq(&buf[..n], id) {
            let mut s = shared.lock().expect("stream lock");
            let slot = &mut s.answered[usize::from(seq)];
            if std::mem::replace(slot, true) {
                s.duplicates += 1;
            } else {
                s.replies.push((at, seq));
            }
        }
    }
}

/// An echo request with its checksum (etherparse builds it).
fn echo_request(id: u16, seq: u16) -> Vec<u8> {
    let payload = [0u8; PAYLOAD];
    let header = Icmpv4Header::with_checksum(
        Icmpv4Type::EchoRequest(IcmpEchoHeader { id, seq }),
        &payload,
    );
    let mut packet = header.to_bytes().to_vec();
    packet.extend_from_slice(&payload);
    packet
}

/// The sequence number of an IPv4 packet that is an echo reply from the VIP
/// with our `id` (a raw socket reads the IP header too).
fn echo_reply_seq(ip: &[u8], id: u16) -> Option<u16> {
    let packet = SlicedPacket::from_ip(ip).ok()?;
    let Some(NetSlice::Ipv4(v4)) = packet.net else {
        return None;
    };
    let Some(TransportSlice::Icmpv4(icmp)) = packet.transport else {
        return None;
    };
    match icmp.icmp_type() {
        Icmpv4Type::EchoReply(echo) if echo.id == id && v4.header().source_addr() == VIP => {
            Some(echo.seq)
        }
        _ => None,
    }
}

/// Every reply read: (wall-clock stamp, sequence number) in order, and how
/// many were duplicates (two nodes answered one request).
#[derive(Debug, Clone)]
pub struct Record {
    pub replies: Vec<(f64, u16)>,
    pub duplicates: usize,
}

/// What a fault did to the stream.
///
/// Silence between two replies counts as an outage only when requests in
/// between went unanswered (their icmp_seq is missing). When consecutive
/// sequence numbers straddle a silence, the client itself sent nothing (ping
/// was not scheduled): that is reported as `client_stall`, not as a gap,
/// because no request was lost to the network.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The largest interval between consecutive replies with lost requests
    /// between them, from the last reply before the fault to the end of the
    /// window (the client-visible gap).
    pub gap: Duration,
    /// From the fault to the first reply after it.
    pub resume: Duration,
    /// Like `gap`, but only after the first reply that followed the fault,
    /// with the end of the window counted as a reply (so silence at the end
    /// shows).
    pub later_gap: Duration,
    /// The largest silence in the window during which the client sent
    /// nothing (no sequence number missing).
    pub client_stall: Duration,
    /// Replies in the window.
    pub replies: usize,
    /// Replies per second over the second before the fault.
    pub rate_before: f64,
    /// Duplicate replies in the whole record.
    pub duplicates: usize,
}

impl Outcome {
    /// Measures the fault at `fault` over the window that ends at `end`.
    /// `None` if the stream was not flowing before the fault (a broken
    /// setup, not a measurement).
    pub fn measure(record: &Record, fault: f64, end: f64) -> Option<Outcome> {
        let r = &record.replies;
        let before: Vec<(f64, u16)> = r
            .iter()
            .copied()
            .filter(|&(t, _)| t > fault - 1.0 && t <= fault)
            .collect();
        let (last_before, _) = *before.last()?;
        let after: Vec<(f64, u16)> = r
            .iter()
            .copied()
            .filter(|&(t, _)| t > fault && t <= end)
            .collect();
        let first_after = after.first().map_or(end, |&(t, _)| t);
        let mut gap = 0.0f64;
        let mut later = 0.0f64;
        let mut stall = 0.0f64;
        let mut prev = *before.last()?;
        for &(t, seq) in &after {
            let silence = t - prev.0;
            if seq.wrapping_sub(prev.1) > 1 {
                gap = gap.max(silence);
                if prev.0 > fault {
                    later = later.max(silence);
                }
            } else {
                stall = stall.max(silence);
            }
            prev = (t, seq);
        }
        // Silence up to the end of the window: requests were being sent
        // (ping ran until we stopped it), none answered.
        gap = gap.max(end - prev.0);
        later = later.max(end - prev.0);
        if after.is_empty() {
            gap = gap.max(end - last_before);
        }
        Some(Outcome {
            gap: secs(gap),
            resume: secs(first_after - fault),
            later_gap: secs(later),
            client_stall: secs(stall),
            replies: after.len(),
            rate_before: before.len() as f64 / (last_before - before[0].0).max(1e-3),
            duplicates: record.duplicates,
        })
    }
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_replies_from_the_vip_with_our_id_are_matched() {
        let request = echo_request(0x1234, 7);
        // The reply as the node's kernel sends it: an IPv4 header, then the
        // request's echo header as a reply, then its payload.
        let payload = [0u8; PAYLOAD];
        let echo = IcmpEchoHeader { id: 0x1234, seq: 7 };
        let mut reply = Icmpv4Header::with_checksum(Icmpv4Type::EchoReply(echo), &payload)
            .to_bytes()
            .to_vec();
        reply.extend_from_slice(&payload);
        let ip = |from: std::net::Ipv4Addr, icmp: &[u8]| {
            let h = etherparse::Ipv4Header::new(
                icmp.len() as u16,
                64,
                etherparse::IpNumber::ICMP,
                from.octets(),
                [192, 0, 2, 50],
            )
            .unwrap();
            let mut v = h.to_bytes().to_vec();
            v.extend_from_slice(icmp);
            v
        };
        assert_eq!(echo_reply_seq(&ip(VIP, &reply), 0x1234), Some(7));
        assert_eq!(
            echo_reply_seq(&ip(VIP, &reply), 0x4321),
            None,
            "another prober's id"
        );
        let other = std::net::Ipv4Addr::new(192, 0, 2, 11);
        assert_eq!(
            echo_reply_seq(&ip(other, &reply), 0x1234),
            None,
            "not from the VIP"
        );
        assert_eq!(
            echo_reply_seq(&ip(VIP, &request), 0x1234),
            None,
            "not a reply"
        );
        assert_eq!(
            echo_reply_seq(&ip(VIP, &reply)[..24], 0x1234),
            None,
            "truncated"
        );
    }

    fn record(replies: &[(f64, u16)]) -> Record {
        Record {
            replies: replies.to_vec(),
            duplicates: 0,
        }
    }

    #[test]
    fn lost_requests_make_a_gap_a_quiet_client_does_not() {
        // Fault at 10.0; seq 3..=20 lost; then the client stalls 0.1 s
        // (consecutive seqs 22, 23), then flows to the end.
        let mut r = vec![
            (9.996, 1),
            (9.998, 2),
            (10.040, 21),
            (10.042, 22),
            (10.142, 23),
        ];
        r.extend((0..100).map(|i| (10.144 + f64::from(i) * 0.002, 24 + i as u16)));
        let o = Outcome::measure(&record(&r), 10.0, 10.34).unwrap();
        assert!((o.gap.as_secs_f64() - 0.042).abs() < 1e-6, "{o:?}");
        assert!((o.client_stall.as_secs_f64() - 0.1).abs() < 1e-6, "{o:?}");
        assert!(o.later_gap.as_secs_f64() < 0.003, "{o:?}");
    }

    #[test]
    fn silence_to_the_end_is_a_gap() {
        let r = [(9.998, 1), (10.0, 2), (10.03, 10)];
        let o = Outcome::measure(&record(&r), 10.001, 10.5).unwrap();
        assert!((o.later_gap.as_secs_f64() - 0.47).abs() < 1e-6, "{o:?}");
        assert!((o.gap.as_secs_f64() - 0.47).abs() < 1e-6, "{o:?}");
    }
}
