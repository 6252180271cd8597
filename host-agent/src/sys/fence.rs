//! The kernel fence of the quorum election: two small eBPF programs on the
//! management interface's `clsact` qdisc that pass the VIP's traffic only
//! until a deadline, compared in the kernel with `bpf_ktime_get_boot_ns()`.
//!
//! * egress: IPv4 from the VIP, and ARP whose sender address is the VIP;
//! * ingress: IPv4 to the VIP, and ARP requests for the VIP (so the kernel
//!   cannot answer them with the interface's MAC).
//!
//! Everything else passes, so this node still reaches the VIP as a client
//! when another node holds it. The deadline lives in a one-entry array map
//! the daemon rewrites at each lease extension (one `bpf()` call). It closes
//! by itself when the lease ends, whether or not the daemon runs: a stopped,
//! hung or killed process, a paused VM whose kernel keeps counting, a host
//! that was suspended (the boot clock counts suspend). Removing the address
//! is cleanup.
//!
//! The programs are assembled here (no compiler, no object file): about 30
//! instructions each, checked by the kernel's verifier at load.

use std::io;
use std::mem;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::error::{iface_label, Operation, SysError};
use super::netlink::{Request, RequestError, RouteSocket, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST};
use super::rtnl_worker::bounded;

const BPF_MAP_CREATE: libc::c_long = 0;
const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_MAP_TYPE_ARRAY: u32 = 2;
const BPF_PROG_TYPE_SCHED_CLS: u32 = 3;

const RTM_NEWQDISC: u16 = 36;
const RTM_NEWTFILTER: u16 = 44;
const RTM_DELTFILTER: u16 = 45;
const NLM_F_REPLACE: u16 = 0x100;
const TCA_KIND: u16 = 1;
const TCA_OPTIONS: u16 = 2;
const TCA_BPF_FD: u16 = 6;
const TCA_BPF_NAME: u16 = 7;
const TCA_BPF_FLAGS: u16 = 8;
const TCA_BPF_FLAG_ACT_DIRECT: u32 = 1;
const TC_H_CLSACT: u32 = 0xffff_fff1;
const TC_H_MIN_INGRESS: u32 = 0xfff2;
const TC_H_MIN_EGRESS: u32 = 0xfff3;
const TCMSG_LEN: usize = 20;
const ETH_P_ALL: u16 = 0x0003;
/// The filters' priority on the qdisc: fixed, so a restart replaces them.
const FILTER_PRIO: u32 = 0x7a11;
/// The filters' handle.
const FILTER_HANDLE: u32 = 1;

/// Which way a fence program looks at traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Frames arriving at the interface.
    Ingress,
    /// Frames the host sends.
    Egress,
}

/// The fence on one interface: the map the deadline lives in.
#[derive(Debug)]
pub struct Fence {
    map: OwnedFd,
    ifindex: u32,
    vip: Ipv4Addr,
}

impl Fence {
    /// Loads the two programs for `vip`, closed (deadline 0), and attaches
    /// them to `ifindex` (adding its `clsact` qdisc if missing), replacing a
    /// fence an earlier run left. Needs CAP_BPF and CAP_NET_ADMIN (or
    /// CAP_SYS_ADMIN) and a kernel with `bpf_ktime_get_boot_ns` (5.8).
    pub fn install(ifindex: u32, vip: Ipv4Addr) -> Result<Fence, SysError> {
        let op = Operation::InstallFence;
        let fail = |e: io::Error| SysError::io(op, ifindex, e);
        let map = map_create().map_err(fail)?;
        let fence = Fence { map, ifindex, vip };
        fence.set_deadline_ns(0).map_err(fail)?;
        add_clsact(ifindex).map_err(|e| request_failed(op, ifindex, e))?;
        for direction in [Direction::Ingress, Direction::Egress] {
            let program = program(direction, vip, fence.map.as_raw_fd());
            let prog = prog_load(&program).map_err(fail)?;
            attach(ifindex, direction, &prog).map_err(|e| request_failed(op, ifindex, e))?;
        }
        Ok(fence)
    }

    /// The VIP this fence guards.
    pub fn vip(&self) -> Ipv4Addr {
        self.vip
    }

    /// Lets the VIP's traffic pass until `deadline_ns` of the boot clock.
    pub fn set_deadline_ns(&self, deadline_ns: u64) -> io::Result<()> {
        map_update(&self.map, 0, deadline_ns)
    }

    /// Closes the fence now.
    pub fn close(&self) -> io::Result<()> {
        self.set_deadline_ns(0)
    }

    /// Detaches the programs (the `clsact` qdisc stays: others may use it).
    pub fn remove(self) -> Result<(), SysError> {
        remove(self.ifindex)
    }
}

/// Detaches a fence from `ifindex` if one is attached (`vipd cleanup`).
pub fn remove(ifindex: u32) -> Result<(), SysError> {
    for direction in [Direction::Ingress, Direction::Egress] {
        match detach(ifindex, direction) {
            Ok(()) => {}
            Err(RequestError::Kernel { errno, .. })
                if errno == libc::ENOENT || errno == libc::EINVAL =>
            {
                // Nothing attached there (EINVAL: no clsact qdisc at all).
            }
            Err(e) => return Err(request_failed(Operation::RemoveFence, ifindex, e)),
        }
    }
    Ok(())
}

fn request_failed(op: Operation, ifindex: u32, e: RequestError) -> SysError {
    match e.into_io() {
        Ok(source) => SysError::Io {
            op,
            iface: iface_label(ifindex),
            source,
        },
        Err(detail) => SysError::Malformed {
            op,
            iface: iface_label(ifindex),
            detail,
        },
    }
}

// ---- the programs ----

/// One eBPF instruction.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Insn {
    code: u8,
    regs: u8,
    off: i16,
    imm: i32,
}

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | (dst & 0x0f),
        off,
        imm,
    }
}

// Opcodes (linux/bpf.h, bpf_common.h).
const LDX_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const LDX_H: u8 = 0x69; // BPF_LDX | BPF_MEM | BPF_H
const LDX_DW: u8 = 0x79; // BPF_LDX | BPF_MEM | BPF_DW
const ST_W: u8 = 0x62; // BPF_ST | BPF_MEM | BPF_W
const MOV64_X: u8 = 0xbf;
const MOV64_K: u8 = 0xb7;
const ADD64_K: u8 = 0x07;
const JGT_X: u8 = 0x2d;
const JLT_X: u8 = 0xad;
const JEQ_K: u8 = 0x15;
/// 32-bit compares: a loaded word is zero-extended, an immediate sign-extended.
const JEQ32_K: u8 = 0x16;
const JNE32_K: u8 = 0x56;
const JA: u8 = 0x05;
const CALL: u8 = 0x85;
const EXIT: u8 = 0x95;
const LD_IMM64: u8 = 0x18;
const PSEUDO_MAP_FD: u8 = 1;

const HELPER_MAP_LOOKUP: i32 = 1;
const HELPER_KTIME_GET_BOOT_NS: i32 = 125;
const TC_ACT_OK: i32 = 0;
const TC_ACT_SHOT: i32 = 2;
/// `offsetof(struct __sk_buff, data)` and `data_end`.
const SKB_DATA: i16 = 76;
const SKB_DATA_END: i16 = 80;

/// A 16- or 32-bit field as a little-endian load of network-order bytes
/// sees it (the machine is little-endian: the kernel runs eBPF natively).
const fn le16(be: u16) -> i32 {
    be.swap_bytes() as i32
}

/// The fence program for `direction`: drop the VIP's traffic after the
/// deadline in map `map_fd` (key 0), pass everything else.
fn program(direction: Direction, vip: Ipv4Addr, map_fd: i32) -> Vec<Insn> {
    let vip = u32::from_ne_bytes(vip.octets()) as i32;
    // Offsets into the frame.
    let (ip_field, arp_field) = match direction {
        Direction::Egress => (14 + 12, 14 + 14), // IPv4 source; ARP sender IP
        Direction::Ingress => (14 + 16, 14 + 24), // IPv4 destination; ARP target IP
    };
    let mut p = Vec::with_capacity(40);
    // Labels are resolved by position below: `pass` and `check` are at the end.
    p.push(insn(LDX_W, 2, 1, SKB_DATA, 0)); // r2 = data
    p.push(insn(LDX_W, 3, 1, SKB_DATA_END, 0)); // r3 = data_end
    p.push(insn(MOV64_X, 4, 2, 0, 0)); // r4 = data
    p.push(insn(ADD64_K, 4, 0, 0, 42)); // r4 = data + 42 (Ethernet + ARP)
    let too_short = p.len();
    p.push(insn(JGT_X, 4, 3, 0, 0)); // if data + 42 > data_end: pass (patched)
    p.push(insn(LDX_H, 5, 2, 12, 0)); // r5 = EtherType
    let to_ip = p.len();
    p.push(insn(JEQ32_K, 5, 0, 0, le16(0x0800))); // IPv4 -> ip (patched)
    let not_arp = p.len();
    p.push(insn(JNE32_K, 5, 0, 0, le16(0x0806))); // not ARP -> pass (patched)

    // ARP. Ingress stops only requests (for the VIP); egress any ARP with
    // the VIP as sender.
    let not_request = (direction == Direction::Ingress).then(|| {
        p.push(insn(LDX_H, 5, 2, 14 + 6, 0)); // r5 = operation
        p.push(insn(JNE32_K, 5, 0, 0, le16(1))); // not a request -> pass (patched)
        p.len() - 1
    });
    p.push(insn(LDX_W, 5, 2, arp_field, 0));
    let arp_other = p.len();
    p.push(insn(JNE32_K, 5, 0, 0, vip)); // not the VIP -> pass (patched)
    let arp_match = p.len();
    p.push(insn(JA, 0, 0, 0, 0)); // -> check (patched)

    // IPv4.
    let ip = p.len();
    p.push(insn(LDX_W, 5, 2, ip_field, 0));
    let ip_other = p.len();
    p.push(insn(JNE32_K, 5, 0, 0, vip)); // not the VIP -> pass (patched)

    let check = tail(&mut p, map_fd);
    let pass = p.len() - 2;
    for jump in [too_short, not_arp, arp_other, ip_other]
        .into_iter()
        .chain(not_request)
    {
        patch(&mut p, jump, pass);
    }
    patch(&mut p, to_ip, ip);
    patch(&mut p, arp_match, check);
    p
}

/// Appends the deadline check, then `drop` and `pass`; returns the check's
/// first instruction. The last two exits are pass (r0 = OK) preceded by the
/// drop exit, so `pass` is `len - 2`.
fn tail(p: &mut Vec<Insn>, map_fd: i32) -> usize {
    let check = p.len();
    // Packet pointers are dead after a helper call; nothing reads them.
    p.push(insn(CALL, 0, 0, 0, HELPER_KTIME_GET_BOOT_NS)); // r0 = now (ns)
    p.push(insn(MOV64_X, 6, 0, 0, 0)); // r6 = now (callee-saved)
    p.push(insn(ST_W, 10, 0, -4, 0)); // *(u32 *)(fp - 4) = 0: the key
    p.push(insn(MOV64_X, 2, 10, 0, 0));
    p.push(insn(ADD64_K, 2, 0, 0, -4)); // r2 = &key
    p.push(insn(LD_IMM64, 1, PSEUDO_MAP_FD, 0, map_fd)); // r1 = map
    p.push(insn(0, 0, 0, 0, 0)); // (second half of the 64-bit load)
    p.push(insn(CALL, 0, 0, 0, HELPER_MAP_LOOKUP)); // r0 = &deadline or NULL
    p.push(insn(JEQ_K, 0, 0, 3, 0)); // NULL -> drop (fail closed)
    p.push(insn(LDX_DW, 1, 0, 0, 0)); // r1 = deadline
    p.push(insn(JLT_X, 6, 1, 3, 0)); // now < deadline -> pass
    p.push(insn(JA, 0, 0, 0, 0)); // -> drop
                                  // drop:
    p.push(insn(MOV64_K, 0, 0, 0, TC_ACT_SHOT));
    p.push(insn(EXIT, 0, 0, 0, 0));
    // pass:
    p.push(insn(MOV64_K, 0, 0, 0, TC_ACT_OK));
    p.push(insn(EXIT, 0, 0, 0, 0));
    // Fix the relative jumps of the tail: from the NULL test (index check+8)
    // to drop (check+12) is +3; from the deadline test (check+10) to pass
    // (check+14) is +3; the JA at check+11 to drop is +0.
    check
}

/// Points the jump at `at` to instruction `to` (offsets count from the next).
fn patch(p: &mut [Insn], at: usize, to: usize) {
    p[at].off = (to as isize - at as isize - 1) as i16;
}

// ---- syscalls ----

#[repr(C)]
#[derive(Default)]
struct MapCreateAttr {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
}

#[repr(C)]
#[derive(Default)]
struct MapElemAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
}

fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a live, initialised `#[repr(C)]` struct of the layout
    // the command expects (a prefix of `union bpf_attr`; the kernel zero-
    // extends shorter ones), and its size is passed with it.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T as *mut libc::c_void,
            mem::size_of::<T>() as libc::c_uint,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn owned(fd: libc::c_long) -> io::Result<OwnedFd> {
    let fd = i32::try_from(fd).map_err(|_| io::Error::other("bpf returned no descriptor"))?;
    // SAFETY: the kernel just returned this new descriptor to us; nothing
    // else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn map_create() -> io::Result<OwnedFd> {
    let mut attr = MapCreateAttr {
        map_type: BPF_MAP_TYPE_ARRAY,
        key_size: 4,
        value_size: 8,
        max_entries: 1,
        map_flags: 0,
    };
    owned(bpf(BPF_MAP_CREATE, &mut attr)?)
}

fn map_update(map: &OwnedFd, key: u32, value: u64) -> io::Result<()> {
    let mut attr = MapElemAttr {
        map_fd: map.as_raw_fd() as u32,
        key: &key as *const u32 as u64,
        value: &value as *const u64 as u64,
        flags: 0, // BPF_ANY
        ..MapElemAttr::default()
    };
    // The pointers in `attr` refer to `key` and `value`, alive for the call.
    bpf(BPF_MAP_UPDATE_ELEM, &mut attr).map(drop)
}

fn prog_load(program: &[Insn]) -> io::Result<OwnedFd> {
    let license = b"GPL\0";
    let mut log = vec![0u8; 64 * 1024];
    let mut attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_SCHED_CLS,
        insn_cnt: program.len() as u32,
        insns: program.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: 1,
        log_size: log.len() as u32,
        log_buf: log.as_mut_ptr() as u64,
        ..ProgLoadAttr::default()
    };
    // `program`, `license` and `log` outlive the call.
    match bpf(BPF_PROG_LOAD, &mut attr) {
        Ok(fd) => owned(fd),
        Err(e) => {
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            let text = String::from_utf8_lossy(&log[..end]);
            let last = text.lines().rev().take(3).collect::<Vec<_>>().join(" / ");
            Err(io::Error::new(
                e.kind(),
                format!("loading the fence program: {e} (verifier: {last})"),
            ))
        }
    }
}

fn tcmsg(ifindex: u32, handle: u32, parent: u32, info: u32) -> [u8; TCMSG_LEN] {
    let mut m = [0u8; TCMSG_LEN];
    m[4..8].copy_from_slice(&ifindex.to_ne_bytes());
    m[8..12].copy_from_slice(&handle.to_ne_bytes());
    m[12..16].copy_from_slice(&parent.to_ne_bytes());
    m[16..20].copy_from_slice(&info.to_ne_bytes());
    m
}

fn one_request(request: Request) -> Result<(), RequestError> {
    // Opened on this thread, so it is in this thread's network namespace.
    let mut socket = RouteSocket::open().map_err(RequestError::Io)?;
    bounded(move || socket.request(request, |_| Ok(()))).and_then(|ack| ack)
}

fn add_clsact(ifindex: u32) -> Result<(), RequestError> {
    let header = tcmsg(ifindex, 0xffff_0000, TC_H_CLSACT, 0);
    let request = Request::new(
        RTM_NEWQDISC,
        NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL,
        &header,
    )
    .attr(TCA_KIND, b"clsact\0");
    match one_request(request) {
        Err(RequestError::Kernel { errno, .. }) if errno == libc::EEXIST => Ok(()),
        other => other,
    }
}

fn parent(direction: Direction) -> u32 {
    let minor = match direction {
        Direction::Ingress => TC_H_MIN_INGRESS,
        Direction::Egress => TC_H_MIN_EGRESS,
    };
    (TC_H_CLSACT & 0xffff_0000) | minor
}

fn filter_info() -> u32 {
    (FILTER_PRIO << 16) | u32::from(ETH_P_ALL.to_be())
}

fn attach(ifindex: u32, direction: Direction, prog: &OwnedFd) -> Result<(), RequestError> {
    let header = tcmsg(ifindex, FILTER_HANDLE, parent(direction), filter_info());
    let mut options = Vec::new();
    nested(
        &mut options,
        TCA_BPF_FD,
        &(prog.as_raw_fd() as u32).to_ne_bytes(),
    );
    nested(&mut options, TCA_BPF_NAME, b"vipd-fence\0");
    nested(
        &mut options,
        TCA_BPF_FLAGS,
        &TCA_BPF_FLAG_ACT_DIRECT.to_ne_bytes(),
    );
    let request = Request::new(
        RTM_NEWTFILTER,
        NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE,
        &header,
    )
    .attr(TCA_KIND, b"bpf\0")
    .attr(TCA_OPTIONS | 0x8000, &options); // NLA_F_NESTED
    one_request(request)
}

fn detach(ifindex: u32, direction: Direction) -> Result<(), RequestError> {
    let header = tcmsg(ifindex, FILTER_HANDLE, parent(direction), filter_info());
    let request = Request::new(RTM_DELTFILTER, NLM_F_REQUEST, &header).attr(TCA_KIND, b"bpf\0");
    one_request(request)
}

/// Appends one attribute, padded to 4 bytes, to a nested attribute's body.
fn nested(out: &mut Vec<u8>, ty: u16, payload: &[u8]) {
    let len = (4 + payload.len()) as u16;
    out.extend_from_slice(&len.to_ne_bytes());
    out.extend_from_slice(&ty.to_ne_bytes());
    out.extend_from_slice(payload);
    out.resize(out.len().div_ceil(4) * 4, 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_end_in_two_exits_and_every_jump_lands_inside() {
        for d in [Direction::Ingress, Direction::Egress] {
            let p = program(d, Ipv4Addr::new(192, 0, 2, 100), 3);
            assert_eq!(p.last().unwrap().code, EXIT);
            assert_eq!(p[p.len() - 3].code, EXIT);
            for (i, ins) in p.iter().enumerate() {
                let class = ins.code & 0x07;
                let jump = (class == 0x05 || class == 0x06) && ins.code != CALL && ins.code != EXIT;
                if jump {
                    let to = i as isize + 1 + ins.off as isize;
                    assert!(
                        (0..p.len() as isize).contains(&to),
                        "{d:?} insn {i} jumps to {to}"
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod load_tests {
    use super::*;

    /// The kernel's verifier accepts both programs (needs root: skipped
    /// without it on a laptop, a failure under `CI`). The quorum testbed
    /// suite proves the fence works on real traffic.
    #[test]
    fn the_verifier_accepts_both_programs() {
        if !rustix::process::geteuid().is_root() {
            assert!(
                std::env::var_os("CI").is_none(),
                "the verifier test needs root, and CI is set: run the tests as root"
            );
            eprintln!("the_verifier_accepts_both_programs: SKIPPED (needs root)");
            return;
        }
        let map = map_create().expect("map");
        for d in [Direction::Ingress, Direction::Egress] {
            let p = program(d, Ipv4Addr::new(192, 0, 2, 200), map.as_raw_fd());
            prog_load(&p).unwrap_or_else(|e| panic!("{d:?}: {e}"));
        }
    }
}
