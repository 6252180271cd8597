//! VRRP adverts on the bridge, captured by tcpdump in the switch namespace,
//! with the checksum form of each one worked out independently of vipd.
//!
//! An IPv4 VRRPv3 checksum is either RFC 9568's (over the VRRP message
//! only) or the pseudo-header form keepalived 2.2 sends (over source,
//! destination, zero, protocol 112 and length, then the message). For a
//! valid advert exactly one of the two sums folds to 0xffff.

use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use crate::netns;

/// The checksum form of one advert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// RFC 9568: the VRRP message alone.
    Rfc9568,
    /// With the IPv4 pseudo-header (RFC 5798 reading; keepalived 2.2).
    PseudoHeader,
    /// Neither sum checks out.
    Invalid,
}

/// One captured advert.
#[derive(Debug, Clone, Copy)]
pub struct Advert {
    /// pcap time stamp, wall-clock seconds.
    pub at: f64,
    pub source: Ipv4Addr,
    pub priority: u8,
    pub form: Form,
}

/// A tcpdump writing a pcap, stopped when dropped.
#[derive(Debug)]
struct Tcpdump {
    child: Option<Child>,
    file: PathBuf,
}

impl Tcpdump {
    /// Starts tcpdump on `iface` in namespace `ns`, `snaplen` bytes per
    /// frame, for `filter`, into `file`; returns once it listens.
    fn start(
        ns: &str,
        iface: &str,
        snaplen: u32,
        filter: &[&str],
        file: &Path,
    ) -> Result<Self, String> {
        let child = netns::exec_in(ns)
            .args([
                "tcpdump",
                "-i",
                iface,
                "-U",
                "-s",
                &snaplen.to_string(),
                "-w",
            ])
            .arg(file)
            .args(filter)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("spawn tcpdump: {e}"))?;
        let dump = Tcpdump {
            child: Some(child),
            file: file.to_path_buf(),
        };
        // tcpdump writes the pcap header once it listens.
        if !super::wait_until(Duration::from_secs(5), || {
            fs::metadata(file).is_ok_and(|m| m.len() >= 24)
        }) {
            return Err("tcpdump did not start".into());
        }
        Ok(dump)
    }

    /// The pcap so far (`-U` writes each packet at once).
    fn read(&self) -> Vec<u8> {
        fs::read(&self.file).unwrap_or_default()
    }
}

impl Drop for Tcpdump {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            netns::interrupt(child, Duration::from_secs(1));
        }
    }
}

/// A running tcpdump of VRRP on the switch's bridge.
#[derive(Debug)]
pub struct Capture(Tcpdump);

impl Capture {
    /// Starts capturing IP protocol 112 on `br0` in namespace `ns` into
    /// `file`; returns once tcpdump listens.
    pub fn start(ns: &str, file: &Path) -> Result<Self, String> {
        Tcpdump::start(ns, "br0", 256, &["ip", "proto", "112"], file).map(Capture)
    }

    /// The adverts captured so far.
    pub fn adverts(&self) -> Vec<Advert> {
        parse_pcap(&self.0.read())
    }
}

/// Every frame of a pcap, without times (for replaying).
pub fn pcap_frames(bytes: &[u8]) -> Vec<Vec<u8>> {
    frames(bytes).into_iter().map(|(_, f)| f.to_vec()).collect()
}

/// Every frame of a classic little-endian microsecond pcap, with its time.
fn frames(bytes: &[u8]) -> Vec<(f64, &[u8])> {
    let mut out = Vec::new();
    if bytes.len() < 24 || bytes[..4] != [0xd4, 0xc3, 0xb2, 0xa1] {
        return out;
    }
    let u32le = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let secs = u32le(&bytes[at..]);
        let micros = u32le(&bytes[at + 4..]);
        let caplen = u32le(&bytes[at + 8..]) as usize;
        let Some(frame) = bytes.get(at + 16..at + 16 + caplen) else {
            break;
        };
        at += 16 + caplen;
        out.push((f64::from(secs) + f64::from(micros) / 1e6, frame));
    }
    out
}

/// Reads a classic little-endian microsecond pcap of Ethernet frames.
fn parse_pcap(bytes: &[u8]) -> Vec<Advert> {
    frames(bytes)
        .into_iter()
        .filter_map(|(at, frame)| {
            let (source, priority, form) = classify(frame)?;
            Some(Advert {
                at,
                source,
                priority,
                form,
            })
        })
        .collect()
}

/// A frame that answers for an address: an ARP reply or an ICMP echo reply.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// pcap time stamp, wall-clock seconds.
    pub at: f64,
    /// The Ethernet source.
    pub from_mac: [u8; 6],
    /// What it answers for: the ARP sender or the IPv4 source.
    pub for_addr: Ipv4Addr,
    /// ARP (true) or ICMP (false).
    pub arp: bool,
}

/// A tcpdump of ARP and ICMP on a namespace's `eth0` (the client's).
#[derive(Debug)]
pub struct AnswerCapture(Tcpdump);

impl AnswerCapture {
    /// Starts capturing on `eth0` in `ns` into `file`.
    pub fn start(ns: &str, file: &Path) -> Result<Self, String> {
        Tcpdump::start(ns, "eth0", 128, &["arp", "or", "icmp"], file).map(AnswerCapture)
    }

    /// Every ARP reply and ICMP echo reply captured so far.
    pub fn answers(&self) -> Vec<Answer> {
        frames(&self.0.read())
            .into_iter()
            .filter_map(|(at, f)| answer(at, f))
            .collect()
    }
}

fn answer(at: f64, f: &[u8]) -> Option<Answer> {
    let from_mac: [u8; 6] = f.get(6..12)?.try_into().ok()?;
    let v4 = |b: &[u8]| Ipv4Addr::new(b[0], b[1], b[2], b[3]);
    match f.get(12..14)? {
        // ARP reply (operation 2): the sender protocol address.
        [0x08, 0x06] if f.get(20..22)? == [0, 2] => Some(Answer {
            at,
            from_mac,
            for_addr: v4(f.get(28..32)?),
            arp: true,
        }),
        // IPv4 ICMP (protocol 1) echo reply (type 0): the source.
        [0x08, 0x00] if *f.get(23)? == 1 => {
            let ihl = usize::from(f.get(14)? & 0x0f) * 4;
            let for_addr = v4(f.get(26..30)?);
            (*f.get(14 + ihl)? == 0).then_some(Answer {
                at,
                from_mac,
                for_addr,
                arp: false,
            })
        }
        _ => None,
    }
}

/// The source, priority and checksum form of an Ethernet/IPv4/VRRP frame.
fn classify(frame: &[u8]) -> Option<(Ipv4Addr, u8, Form)> {
    if frame.get(12..14)? != [0x08, 0x00] {
        return None;
    }
    let ip = frame.get(14..)?;
    let ihl = usize::from(ip.first()? & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([*ip.get(2)?, *ip.get(3)?]));
    if *ip.get(9)? != 112 || total < ihl + 8 {
        return None;
    }
    let vrrp = ip.get(ihl..total)?;
    let source = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
    let plain = sum(0, vrrp);
    let mut pseudo = sum(0, &ip[12..20]);
    pseudo += 112 + vrrp.len() as u32;
    let pseudo = sum(pseudo, vrrp);
    let form = if fold(plain) == 0xffff {
        Form::Rfc9568
    } else if fold(pseudo) == 0xffff {
        Form::PseudoHeader
    } else {
        Form::Invalid
    };
    Some((source, vrrp[2], form))
}

fn sum(mut acc: u32, bytes: &[u8]) -> u32 {
    for pair in bytes.chunks(2) {
        let hi = u32::from(pair[0]) << 8;
        acc += hi | pair.get(1).map_or(0, |&lo| u32::from(lo));
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    /// keepalived 2.2.7's own adverts (core/tests/fixtures) are the
    /// pseudo-header form; the same frame re-summed without it is RFC 9568.
    #[test]
    fn classifies_both_forms() {
        let cap = include_bytes!("../../../core/tests/fixtures/keepalived-2.2-vrrpv3-advert.cap");
        let adverts = parse_pcap(cap);
        assert_eq!(adverts.len(), 3);
        assert!(adverts.iter().all(|a| a.form == Form::PseudoHeader));
        let mut frame =
            include_bytes!("../../../core/tests/fixtures/keepalived-2.2-vrrpv3-advert.bin")
                .to_vec();
        let (_, priority, form) = classify(&frame).unwrap();
        assert_eq!((priority, form), (adverts[0].priority, Form::PseudoHeader));
        let ihl = usize::from(frame[14] & 0x0f) * 4;
        let total = usize::from(u16::from_be_bytes([frame[16], frame[17]]));
        let vrrp = 14 + ihl;
        frame[vrrp + 6..vrrp + 8].fill(0);
        let rfc = !fold(sum(0, &frame[vrrp..14 + total]));
        frame[vrrp + 6..vrrp + 8].copy_from_slice(&rfc.to_be_bytes());
        assert_eq!(classify(&frame).map(|c| c.2), Some(Form::Rfc9568));
        frame[vrrp + 6] ^= 0xff;
        assert_eq!(classify(&frame).map(|c| c.2), Some(Form::Invalid));
    }
}
