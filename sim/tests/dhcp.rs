//! The VIP leased by DHCP in the world: the server is one more port whose
//! frames cross the switch like any other, and a run replays exactly.

use std::io::Write;

use sim::scenario::{Protocol, DHCP_SERVER, DHCP_SERVER_MAC, VIP};
use sim::trace::PcapWriter;
use sim::{Recording, Scenario, World};

const CRASH: &str = include_str!("../scenarios/d-crash-holder-3.toml");

/// Splits a classic little-endian pcap into frames.
fn frames(bytes: &[u8]) -> Vec<&[u8]> {
    sim::trace::pcap_frames(bytes)
}

/// The UDP ports of an IPv4 frame with a 20-byte header.
fn udp_ports(f: &[u8]) -> Option<(u16, u16)> {
    (f[12..14] == [0x08, 0x00] && f[23] == 17).then(|| {
        (
            u16::from_be_bytes([f[34], f[35]]),
            u16::from_be_bytes([f[36], f[37]]),
        )
    })
}

#[test]
fn the_servers_answers_cross_the_switch_from_its_own_port() {
    let path = std::env::temp_dir().join(format!("vipd-sim-dhcp-{}.pcap", std::process::id()));
    let file = std::fs::File::create(&path).unwrap();
    let out: Box<dyn Write> = Box::new(std::io::BufWriter::new(file));
    let rec = Recording {
        trace: None,
        pcap: Some(PcapWriter::new(out).unwrap()),
    };
    let (report, rec) =
        World::new(Scenario::from_toml(CRASH).unwrap(), rec).run_keeping_recording();
    rec.pcap.unwrap().finish().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert!(report.passed(), "{}", report.summary());
    let dhcp = report.dhcp.as_ref().unwrap();
    assert_eq!(dhcp.answered, [1, 3, 0], "an offer, three ACKs, no NAK");
    assert_eq!(report.addresses, [VIP]);
    let frames = frames(&bytes);
    let answers: Vec<&[u8]> = frames
        .iter()
        .copied()
        .filter(|f| udp_ports(f) == Some((67, 68)))
        .collect();
    assert_eq!(answers.len(), 4, "each answer reached the switch once");
    for f in &answers {
        assert_eq!(f[6..12], DHCP_SERVER_MAC.0);
        assert_eq!(f[26..30], DHCP_SERVER.octets());
    }
    let asked: Vec<&[u8]> = frames
        .iter()
        .copied()
        .filter(|f| udp_ports(f) == Some((68, 67)))
        .collect();
    assert_eq!(asked.len() as u64, dhcp.frames);
    let vip_mac = Scenario::from_toml(CRASH).unwrap().nodes[0]
        .config
        .vip_mac();
    assert!(
        asked.iter().all(|f| f[6..12] == vip_mac.0),
        "from the VIP MAC"
    );
}

#[test]
fn one_seed_gives_one_dhcp_run() {
    let a = sim::run(Scenario::from_toml(CRASH).unwrap());
    let b = sim::run(Scenario::from_toml(CRASH).unwrap());
    assert_eq!((a.trace_hash, a.events), (b.trace_hash, b.events));
    let schedules = sim::explore::Schedules {
        dhcp: true,
        ..sim::explore::Schedules::new(Protocol::Quorum, 3)
    };
    let text = schedules.text(7);
    assert!(
        text.contains("[dhcp]") && text.contains("dhcp_down"),
        "{text}"
    );
    let run = || sim::run(Scenario::from_toml(&text).unwrap()).trace_hash;
    assert_eq!(run(), run());
    // The same seed without DHCP is the same schedule, less the server.
    let plain = sim::explore::text(Protocol::Quorum, 7, 3);
    assert!(text.starts_with(&plain));
}
