//! The client's steady stream to the VIP and what a fault did to it.
//!
//! The stream is iputils `ping -n -D -i 0.002` run in the client namespace
//! (500 echo requests a second). It is the real kernel's ICMP and ARP path,
//! written by nobody here, so a reply proves that the client's neighbour
//! entry led to a node that holds the VIP. `-D` stamps each reply line with
//! the wall clock (`gettimeofday`) when ping read it; fault times are taken
//! with `SystemTime::now()`, the same clock, so the two compare directly.
//! ping writes to a file: its stdio buffering delays when we can read a
//! line, never the stamp on it.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::VIP;
use crate::netns;

/// Seconds between echo requests: 2 ms, 500 a second.
pub const PING_INTERVAL: &str = "0.002";

/// Wall-clock seconds since the epoch, as `ping -D` prints them.
pub fn wall_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// A running ping in the client namespace.
#[derive(Debug)]
pub struct Stream {
    child: Option<Child>,
    out: PathBuf,
}

impl Stream {
    /// Starts pinging the VIP from namespace `ns` every `interval` seconds
    /// (as ping's `-i` takes it), output into `out`.
    pub fn start(ns: &str, out: &Path, interval: &str) -> Result<Self, String> {
        let file = File::create(out).map_err(|e| format!("create {}: {e}", out.display()))?;
        let err = file.try_clone().map_err(|e| e.to_string())?;
        let child = netns::exec_in(ns)
            .args(["ping", "-n", "-D", "-i"])
            .arg(interval)
            .arg(VIP.to_string())
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("spawn ping: {e}"))?;
        Ok(Stream {
            child: Some(child),
            out: out.to_path_buf(),
        })
    }

    /// The reply stamps written so far (ping's buffer may hold the last
    /// ~100 ms back).
    pub fn replies(&self) -> Vec<f64> {
        parse_replies(&fs::read_to_string(&self.out).unwrap_or_default())
            .0
            .iter()
            .map(|r| r.0)
            .collect()
    }

    /// Waits until `count` replies arrived after `since` (wall clock), or
    /// `timeout` passed.
    pub fn wait_flowing(&self, since: f64, count: usize, timeout: Duration) -> bool {
        super::wait_until(timeout, || {
            self.replies().iter().filter(|&&t| t > since).count() >= count
        })
    }

    /// Stops ping (SIGINT, so it flushes) and returns the whole record.
    pub fn stop(mut self) -> Record {
        self.halt();
        let text = fs::read_to_string(&self.out).unwrap_or_default();
        let (replies, duplicates) = parse_replies(&text);
        Record {
            replies,
            duplicates,
        }
    }

    fn halt(&mut self) {
        if let Some(child) = self.child.take() {
            netns::interrupt(child, Duration::from_secs(2));
        }
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.halt();
    }
}

/// Every reply ping printed: (wall-clock stamp, icmp_seq) in order, and how
/// many were duplicates (two nodes answered one request).
#[derive(Debug, Clone)]
pub struct Record {
    pub replies: Vec<(f64, u16)>,
    pub duplicates: usize,
}

/// Parses `[1717000000.123456] 64 bytes from 192.0.2.100: icmp_seq=…`.
fn parse_replies(text: &str) -> (Vec<(f64, u16)>, usize) {
    let mut replies = Vec::new();
    let mut duplicates = 0;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix('[') else {
            continue;
        };
        let Some((stamp, tail)) = rest.split_once(']') else {
            continue;
        };
        if !tail.contains(" bytes from ") {
            continue;
        }
        if tail.contains("DUP!") {
            duplicates += 1;
            continue;
        }
        let seq = tail
            .split_whitespace()
            .find_map(|w| w.strip_prefix("icmp_seq="))
            .and_then(|n| n.parse::<u16>().ok());
        if let (Ok(t), Some(seq)) = (stamp.parse::<f64>(), seq) {
            replies.push((t, seq));
        }
    }
    (replies, duplicates)
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
    fn parses_ping_d_lines() {
        let text = "PING 192.0.2.100 (192.0.2.100) 56(84) bytes of data.\n\
            [1717000000.100000] 64 bytes from 192.0.2.100: icmp_seq=1 ttl=64 time=0.05 ms\n\
            [1717000000.102000] 64 bytes from 192.0.2.100: icmp_seq=2 ttl=64 time=0.05 ms\n\
            [1717000000.102100] 64 bytes from 192.0.2.100: icmp_seq=2 ttl=64 time=0.05 ms (DUP!)\n\
            [1717000000.150000] From 192.0.2.50 icmp_seq=9 Destination Host Unreachable\n";
        let (r, d) = parse_replies(text);
        assert_eq!(r, vec![(1717000000.1, 1), (1717000000.102, 2)]);
        assert_eq!(d, 1);
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
