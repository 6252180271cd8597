//! The classic BPF program of the packet socket, compiled from the core's
//! [`FrameFilter`].
//!
//! The program is the filter's reference semantics ([`FrameFilter::accepts`])
//! in the kernel: a frame passes if its EtherType is listed, or if it is IPv4
//! and its protocol byte is listed, or if it is the first (or only) fragment
//! of an IPv4 UDP datagram to a listed port; a frame with a VLAN tag never
//! passes.
//! Tests run the compiled program in a small interpreter against `accepts`.

use vip_core::filter::FILTER_CAPACITY;
use vip_core::FrameFilter;

const LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const LD_H_ABS: u16 = (libc::BPF_LD | libc::BPF_H | libc::BPF_ABS) as u16;
const LD_B_ABS: u16 = (libc::BPF_LD | libc::BPF_B | libc::BPF_ABS) as u16;
const LD_H_IND: u16 = (libc::BPF_LD | libc::BPF_H | libc::BPF_IND) as u16;
const LDX_B_MSH: u16 = (libc::BPF_LDX | libc::BPF_B | libc::BPF_MSH) as u16;
const TXA: u16 = (libc::BPF_MISC | libc::BPF_TXA) as u16;
const JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const JGE_K: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
const JSET_K: u16 = (libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K) as u16;
const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;

/// The ancillary load that reads 1 if the frame had a VLAN tag, 0 if not.
///
/// A tag the driver (or the receive path) stripped into metadata would
/// otherwise make another VLAN's frames look like ours.
const VLAN_TAG_PRESENT: u32 = (libc::SKF_AD_OFF + libc::SKF_AD_VLAN_TAG_PRESENT) as u32;

const ETHERTYPE_OFFSET: u32 = 12;
const ETHERTYPE_IPV4: u32 = 0x0800;
/// The IPv4 protocol byte: the Ethernet header, then 9 bytes into IPv4.
const IPV4_PROTOCOL_OFFSET: u32 = 14 + 9;
/// Where IPv4 starts (its version and header length byte).
const IPV4_OFFSET: u32 = 14;
/// The flags and fragment offset halfword.
const IPV4_FRAGMENT_OFFSET: u32 = 14 + 6;
/// The fragment offset's bits: non-zero in a later fragment.
const FRAGMENT_BITS: u32 = 0x1fff;
/// The shortest IPv4 header.
const IPV4_MIN_HEADER: u32 = 20;
/// UDP's destination port, after the IPv4 header (X holds its length).
const UDP_DST_PORT_AFTER_HEADER: u32 = 14 + 2;
const PROTOCOL_UDP: u32 = 17;
/// What an accepting program returns: the whole frame.
const ACCEPT: u32 = u32::MAX;

/// The longest program [`compile`] emits: the VLAN test (2), the EtherType
/// load (1), one test per EtherType, the IPv4 test and protocol load (2),
/// one test per protocol, the UDP part (7: protocol, fragment, header
/// length, port load) and one test per port, drop and accept (2). Far
/// below the kernel's `BPF_MAXINSNS`, and every jump offset fits its `u8`.
pub(crate) const MAX_PROGRAM_LEN: usize =
    2 + 1 + FILTER_CAPACITY + 2 + FILTER_CAPACITY + 7 + FILTER_CAPACITY + 2;

/// Compiles `filter` to a classic BPF program of at most
/// [`MAX_PROGRAM_LEN`] instructions.
///
/// Layout: tests that jump to `accept` on a match and fall through
/// otherwise, then `drop`, then `accept`. An empty filter compiles to a
/// program that drops everything.
pub(crate) fn compile(filter: &FrameFilter) -> Vec<libc::sock_filter> {
    let ethertypes = &filter.ethertypes;
    let protocols = &filter.ipv4_protocols;
    let ports = &filter.udp_ports;
    let ipv4 = !protocols.is_empty() || !ports.is_empty();
    let ipv4_part = if ipv4 { 2 + protocols.len() } else { 0 };
    let udp_part = if ports.is_empty() { 0 } else { 7 + ports.len() };
    let drop = 3 + ethertypes.len() + ipv4_part + udp_part;
    let accept = drop + 1;

    let mut program = Vec::with_capacity(accept + 1);
    // The offset of a jump from the instruction about to be pushed to
    // `target`: BPF counts from the instruction after the jump. The
    // program is at most MAX_PROGRAM_LEN long, so it fits a u8.
    let to = |program: &Vec<libc::sock_filter>, target: usize| (target - program.len() - 1) as u8;
    let op = |code, jt, jf, k| libc::sock_filter { code, jt, jf, k };

    program.push(op(LD_W_ABS, 0, 0, VLAN_TAG_PRESENT));
    program.push(op(JEQ_K, 0, to(&program, drop), 0));
    program.push(op(LD_H_ABS, 0, 0, ETHERTYPE_OFFSET));
    for &ethertype in ethertypes {
        program.push(op(JEQ_K, to(&program, accept), 0, u32::from(ethertype)));
    }
    if ipv4 {
        program.push(op(JEQ_K, 0, to(&program, drop), ETHERTYPE_IPV4));
        program.push(op(LD_B_ABS, 0, 0, IPV4_PROTOCOL_OFFSET));
        for &protocol in protocols {
            program.push(op(JEQ_K, to(&program, accept), 0, u32::from(protocol)));
        }
    }
    if !ports.is_empty() {
        program.push(op(JEQ_K, 0, to(&program, drop), PROTOCOL_UDP));
        program.push(op(LD_H_ABS, 0, 0, IPV4_FRAGMENT_OFFSET));
        program.push(op(JSET_K, to(&program, drop), 0, FRAGMENT_BITS));
        program.push(op(LDX_B_MSH, 0, 0, IPV4_OFFSET));
        program.push(op(TXA, 0, 0, 0));
        program.push(op(JGE_K, 0, to(&program, drop), IPV4_MIN_HEADER));
        program.push(op(LD_H_IND, 0, 0, UDP_DST_PORT_AFTER_HEADER));
        for &port in ports {
            program.push(op(JEQ_K, to(&program, accept), 0, u32::from(port)));
        }
    }
    program.push(op(RET_K, 0, 0, 0));
    program.push(op(RET_K, 0, 0, ACCEPT));
    debug_assert!(program.len() == accept + 1 && program.len() <= MAX_PROGRAM_LEN);
    program
}

#[cfg(test)]
mod tests {
    use super::*;
    use vip_core::wire::EthernetAddress;

    /// Runs `program` over `frame` as the kernel's classic BPF interpreter
    /// does for the opcodes [`compile`] emits; `tagged` is the VLAN tag
    /// metadata. Panics on an opcode it does not know or a jump out of the
    /// program, so a compiler bug cannot pass silently.
    fn run(program: &[libc::sock_filter], frame: &[u8], tagged: bool) -> u32 {
        let mut a: u32 = 0;
        let mut x: u32 = 0;
        let mut pc = 0;
        loop {
            let insn = program
                .get(pc)
                .unwrap_or_else(|| panic!("pc {pc} ran off a program of {}", program.len()));
            let load = |width: usize| {
                let at = insn.k as usize;
                frame
                    .get(at..at + width)
                    .map(|bytes| bytes.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b)))
            };
            pc += 1;
            match insn.code {
                LD_W_ABS if insn.k == VLAN_TAG_PRESENT => a = u32::from(tagged),
                // A load past the frame's end ends the program: drop.
                LD_W_ABS => match load(4) {
                    Some(v) => a = v,
                    None => return 0,
                },
                LD_H_ABS => match load(2) {
                    Some(v) => a = v,
                    None => return 0,
                },
                LD_B_ABS => match load(1) {
                    Some(v) => a = v,
                    None => return 0,
                },
                LD_H_IND => {
                    let at = (x + insn.k) as usize;
                    match frame.get(at..at + 2) {
                        Some(b) => a = u32::from(u16::from_be_bytes([b[0], b[1]])),
                        None => return 0,
                    }
                }
                LDX_B_MSH => match load(1) {
                    Some(v) => x = 4 * (v & 0x0f),
                    None => return 0,
                },
                TXA => a = x,
                JEQ_K => {
                    pc += usize::from(if a == insn.k { insn.jt } else { insn.jf });
                }
                JGE_K => {
                    pc += usize::from(if a >= insn.k { insn.jt } else { insn.jf });
                }
                JSET_K => {
                    pc += usize::from(if a & insn.k != 0 { insn.jt } else { insn.jf });
                }
                RET_K => return insn.k,
                code => panic!("opcode {code:#x} at {}", pc - 1),
            }
        }
    }

    /// The checks the kernel's classic verifier makes, and ours: bounded
    /// length, jumps inside the program, a return at the end.
    fn assert_well_formed(program: &[libc::sock_filter]) {
        assert!(
            program.len() <= MAX_PROGRAM_LEN,
            "{} instructions",
            program.len()
        );
        assert!(program.len() <= libc::BPF_MAXINSNS as usize);
        assert_eq!(program.last().map(|i| i.code), Some(RET_K));
        for (i, insn) in program.iter().enumerate() {
            if matches!(insn.code, JEQ_K | JGE_K | JSET_K) {
                for off in [insn.jt, insn.jf] {
                    assert!(i + 1 + usize::from(off) < program.len(), "jump at {i}");
                }
            }
        }
    }

    /// A xorshift64 generator, so that one seed gives the same frames.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn pick<T: Copy>(&mut self, from: &[T]) -> T {
            from[(self.next() % from.len() as u64) as usize]
        }
    }

    fn frame(ethertype: u16, protocol: u8, len: usize) -> Vec<u8> {
        let mut f = vec![0u8; len.max(60)];
        f[..6].copy_from_slice(&[0xff; 6]);
        f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x09]);
        f[12..14].copy_from_slice(&ethertype.to_be_bytes());
        f[23] = protocol;
        f.truncate(len);
        f
    }

    fn filter(ethertypes: &[u16], protocols: &[u8], groups: usize) -> FrameFilter {
        let mut f = FrameFilter::default();
        for &e in ethertypes {
            f.ethertype(e);
        }
        for &p in protocols {
            f.ipv4_protocol(p);
        }
        for g in 0..groups {
            f.group(EthernetAddress([0x01, 0x00, 0x5e, 0, 0, g as u8]));
        }
        f
    }

    fn with_ports(mut f: FrameFilter, ports: &[u16]) -> FrameFilter {
        for &p in ports {
            f.udp_port(p);
        }
        f
    }

    fn filters() -> Vec<(&'static str, FrameFilter)> {
        vec![
            (
                "vrrp with a DHCP VIP",
                with_ports(filter(&[0x0806], &[112], 1), &[68]),
            ),
            (
                "quorum with a DHCP VIP",
                with_ports(filter(&[0x0806, 0x88b5], &[], 0), &[68]),
            ),
            ("ports only", with_ports(FrameFilter::default(), &[68, 53])),
            (
                "UDP whole and a port",
                with_ports(filter(&[], &[17], 0), &[68]),
            ),
            ("empty", FrameFilter::default()),
            ("vrrp", filter(&[0x0806], &[112], 1)),
            ("quorum", filter(&[0x0806, 0x88b5], &[], 0)),
            ("vrrp and quorum", filter(&[0x0806, 0x88b5], &[112], 1)),
            ("protocols only", filter(&[], &[112, 17], 0)),
            ("all of IPv4 and VRRP", filter(&[0x0800], &[112], 0)),
            (
                "full",
                filter(&[0x0806, 0x88b5, 0x88b6, 0x86dd], &[112, 1, 17, 6], 4),
            ),
        ]
    }

    #[test]
    fn compiled_programs_agree_with_the_reference_filter() {
        const ETHERTYPES: [u16; 9] = [
            0x0806, 0x0800, 0x86dd, 0x88b5, 0x88b6, 0x8100, 0x88cc, 0x0000, 0xffff,
        ];
        const PROTOCOLS: [u8; 7] = [112, 1, 17, 6, 0, 111, 255];
        for (name, filter) in filters() {
            let program = compile(&filter);
            assert_well_formed(&program);
            let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
            let mut passed = 0;
            for n in 0..20_000 {
                let ethertype = if n % 8 == 7 {
                    rng.next() as u16
                } else {
                    rng.pick(&ETHERTYPES)
                };
                let protocol = rng.pick(&PROTOCOLS);
                // Mostly whole frames, some cut anywhere (runts included).
                let len = if n % 4 == 0 {
                    (rng.next() % 40) as usize
                } else {
                    60 + (rng.next() % 1455) as usize
                };
                let mut f = frame(ethertype, protocol, len);
                // The IPv4 header's length, fragment field and a UDP
                // destination port where that length puts it.
                if f.len() > 14 {
                    f[14] = 0x40 | (rng.next() % 16) as u8;
                }
                if f.len() > 21 {
                    let frag: u16 = rng.pick(&[0, 0, 0x4000, 0x2000, 0x0010, 0x1fff]);
                    f[20..22].copy_from_slice(&frag.to_be_bytes());
                }
                let at = 14 + usize::from(f.get(14).map_or(0, |b| b & 0x0f)) * 4 + 2;
                if let Some(slot) = f.get_mut(at..at + 2) {
                    let port: u16 = rng.pick(&[68, 68, 67, 53, 0]);
                    slot.copy_from_slice(&port.to_be_bytes());
                }
                let want = filter.accepts(&f);
                let got = run(&program, &f, false);
                assert_eq!(
                    got != 0,
                    want,
                    "{name}: EtherType {ethertype:#06x}, protocol {protocol}, {len} bytes"
                );
                assert!(got == 0 || got == ACCEPT, "{name}: returned {got}");
                assert_eq!(run(&program, &f, true), 0, "{name}: a tagged frame passed");
                passed += usize::from(want);
            }
            if !filter.ethertypes.is_empty()
                || !filter.ipv4_protocols.is_empty()
                || !filter.udp_ports.is_empty()
            {
                assert!(
                    passed > 0,
                    "{name}: no frame passed; the test proves nothing"
                );
            } else {
                assert_eq!(passed, 0, "{name}");
            }
        }
    }

    #[test]
    fn every_kind_of_frame_meets_its_expected_fate() {
        let vrrp_and_quorum = filter(&[0x0806, 0x88b5], &[112], 1);
        let program = compile(&vrrp_and_quorum);
        let cases: [(&str, Vec<u8>, bool); 11] = [
            ("ARP", frame(0x0806, 0, 60), true),
            ("VRRP", frame(0x0800, 112, 60), true),
            ("quorum", frame(0x88b5, 0, 60), true),
            ("UDP", frame(0x0800, 17, 60), false),
            ("ICMP", frame(0x0800, 1, 60), false),
            ("IPv6 next header 112", frame(0x86dd, 112, 60), false),
            (
                "another experimental EtherType",
                frame(0x88b6, 0, 60),
                false,
            ),
            ("inline 802.1Q tag", frame(0x8100, 112, 60), false),
            ("13 bytes", frame(0x0806, 0, 13), false),
            (
                "IPv4 cut before the protocol byte",
                frame(0x0800, 112, 23),
                false,
            ),
            ("bare ARP header", frame(0x0806, 0, 14), true),
        ];
        for (what, f, passes) in cases {
            assert_eq!(run(&program, &f, false) != 0, passes, "{what}");
            assert_eq!(vrrp_and_quorum.accepts(&f), passes, "reference: {what}");
        }
        assert_eq!(run(&program, &frame(0x0806, 0, 60), true), 0, "tagged ARP");
    }

    #[test]
    fn program_length_follows_the_filter() {
        assert_eq!(compile(&FrameFilter::default()).len(), 5);
        assert_eq!(compile(&filter(&[0x0806], &[112], 1)).len(), 9);
        let mut full = filter(&[1, 2, 3, 4], &[1, 2, 3, 4], 4);
        for port in [1, 2, 3, 4] {
            full.udp_port(port);
        }
        assert_eq!(compile(&full).len(), MAX_PROGRAM_LEN);
    }
}
