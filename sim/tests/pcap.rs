//! Captures decode with an independent decoder (etherparse) and with tshark,
//! without a malformed frame.

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;

use sim::trace::PcapWriter;
use sim::{Recording, Scenario, World};

fn capture(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("vipd-sim-{name}-{}.pcap", std::process::id()));
    let scenario = Scenario::from_toml(include_str!("../scenarios/lossy-crash-5.toml")).unwrap();
    let file = std::fs::File::create(&path).unwrap();
    let out: Box<dyn Write> = Box::new(std::io::BufWriter::new(file));
    let rec = Recording {
        trace: None,
        pcap: Some(PcapWriter::new(out).unwrap()),
    };
    let (_, rec) = World::new(scenario, rec).run_keeping_recording();
    rec.pcap.unwrap().finish().unwrap();
    path
}

/// Splits a classic little-endian pcap into frames.
fn frames(bytes: &[u8]) -> Vec<&[u8]> {
    assert_eq!(&bytes[..4], &0xa1b2_c3d4u32.to_le_bytes());
    assert_eq!(u32::from_le_bytes(bytes[20..24].try_into().unwrap()), 1);
    sim::trace::pcap_frames(bytes)
}

#[test]
fn every_frame_decodes_with_etherparse() {
    let path = capture("etherparse");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let frames = frames(&bytes);
    assert!(frames.len() > 1000);
    let (mut arp, mut vrrp, mut udp) = (0, 0, 0);
    for f in frames {
        assert!(f.len() >= 60);
        let p =
            etherparse::SlicedPacket::from_ethernet(f).unwrap_or_else(|e| panic!("{e}: {f:02x?}"));
        match p.net {
            Some(etherparse::NetSlice::Arp(_)) => arp += 1,
            Some(etherparse::NetSlice::Ipv4(ip)) => {
                if ip.header().protocol() == etherparse::IpNumber(112) {
                    assert_eq!(ip.header().ttl(), 255);
                    vrrp += 1;
                } else {
                    assert!(matches!(
                        p.transport,
                        Some(etherparse::TransportSlice::Udp(_))
                    ));
                    udp += 1;
                }
            }
            other => panic!("unexpected frame {other:?}"),
        }
    }
    assert!(arp > 0 && vrrp > 0 && udp > 0, "{arp} {vrrp} {udp}");
}

#[test]
fn tshark_marks_no_frame_malformed() {
    let Ok(version) = Command::new("tshark").arg("--version").output() else {
        let why = "tshark is not installed (CI installs the Debian package tshark)";
        assert!(
            std::env::var_os("CI").is_none(),
            "{why}; CI must run this test"
        );
        println!("note: {why}; skipping");
        return;
    };
    assert!(version.status.success());
    let path = capture("tshark");
    let all = Command::new("tshark")
        .arg("-r")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        all.status.success(),
        "{}",
        String::from_utf8_lossy(&all.stderr)
    );
    assert!(all.stdout.split(|&b| b == b'\n').count() > 1000);
    let malformed = Command::new("tshark")
        .arg("-r")
        .arg(&path)
        .args(["-Y", "_ws.malformed || _ws.expert.severity == error"])
        .output()
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    assert!(malformed.status.success());
    let text = String::from_utf8_lossy(&malformed.stdout);
    assert!(
        text.trim().is_empty(),
        "tshark marks frames malformed:\n{text}"
    );
}
