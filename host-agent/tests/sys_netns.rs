//! The sys layer against the real kernel, inside network namespaces.
//!
//! Each test builds its own pair of namespaces joined by a veth pair (names
//! carry the process id and a counter), uses only 192.0.2.0/24, and deletes
//! the namespaces in a Drop guard, so a failing test leaves nothing behind.
//! Code runs inside a namespace on a dedicated thread that calls
//! setns(CLONE_NEWNET) (which affects only that thread) and builds its own
//! current-thread tokio runtime. Needs root and ip; skips with a message
//! otherwise, and fails instead if CI is set.

mod netns;

use std::fs::File;
use std::future::Future;
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use host_agent::sys::{
    add_vip, check_privileges, create_vip_link, has_address, interface_info, quiet_parent_arp,
    remove_vip, remove_vip_link, set_link_up, LinkEvent, LinkWatch, PacketOptions, PacketSocket,
    SysError, REQUEST_BOUND,
};
use vip_core::wire::EthernetAddress;
use vip_core::FrameFilter;

const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 100);
const ADDR_A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const ADDR_B: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const UNASSIGNED: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 77);
const WAIT: Duration = Duration::from_secs(5);
const QUIET: Duration = Duration::from_millis(300);

static NEXT_LAB: AtomicU32 = AtomicU32::new(0);

/// Tests share the kernel; the one that keeps its `rtnl_lock` busy runs
/// alone, so that it slows no other test's netlink calls.
static KERNEL: RwLock<()> = RwLock::new(());

fn shared_kernel() -> RwLockReadGuard<'static, ()> {
    KERNEL
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn kernel_alone() -> RwLockWriteGuard<'static, ()> {
    KERNEL
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Returns from the test unless it can run (see `netns::can_run`); else
/// holds the kernel shared until the test ends.
macro_rules! require_root {
    () => {
        if !netns::can_run("the sys netns suite", &["ip"]) {
            return;
        }
        let _kernel = shared_kernel();
    };
}

/// The names in a lab: namespaces `a` (the node under test) and `b` (its
/// peer), joined by the veth pair `if_a` / `if_b`.
#[derive(Debug, Clone)]
struct Names {
    ns_a: String,
    ns_b: String,
    if_a: String,
    if_b: String,
}

/// A lab, both veth ends up. Dropping it deletes everything.
struct Lab(Names);

impl Lab {
    /// Builds the lab; with `addresses`, `if_a` gets 192.0.2.1/24 and
    /// `if_b` 192.0.2.2/24.
    fn new(addresses: bool) -> Self {
        let pid = std::process::id();
        let n = NEXT_LAB.fetch_add(1, Ordering::Relaxed);
        // Built before any namespace exists, so Drop cleans up a half-made lab.
        let lab = Self(Names {
            ns_a: format!("vipd-sys-{pid}-{n}-a"),
            ns_b: format!("vipd-sys-{pid}-{n}-b"),
            if_a: format!("va{pid}x{n}"),
            if_b: format!("vb{pid}x{n}"),
        });
        let Names {
            ns_a,
            ns_b,
            if_a,
            if_b,
        } = &lab.0;
        ip(&["netns", "add", ns_a]);
        ip(&["netns", "add", ns_b]);
        ip(&[
            "-n", ns_a, "link", "add", "name", if_a, "type", "veth", "peer", "name", if_b, "netns",
            ns_b,
        ]);
        if addresses {
            ip(&["-n", ns_a, "address", "add", "192.0.2.1/24", "dev", if_a]);
            ip(&["-n", ns_b, "address", "add", "192.0.2.2/24", "dev", if_b]);
        }
        ip(&["-n", ns_a, "link", "set", if_a, "up"]);
        ip(&["-n", ns_b, "link", "set", if_b, "up"]);
        lab
    }

    fn names(&self) -> Names {
        self.0.clone()
    }

    fn show_addresses_a(&self) -> String {
        ip_output(&["-n", &self.ns_a, "address", "show", "dev", &self.if_a])
    }
}

impl std::ops::Deref for Lab {
    type Target = Names;

    fn deref(&self) -> &Names {
        &self.0
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Deleting a namespace deletes the veth end in it, and with it the peer.
        for ns in [&self.ns_a, &self.ns_b] {
            let _ = Command::new("ip").args(["netns", "delete", ns]).output();
        }
    }
}

fn ip_output(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ip(args: &[&str]) {
    ip_output(args);
}

/// Moves the calling thread into namespace `ns`.
fn enter_netns(ns: &str) {
    let file = File::open(format!("/var/run/netns/{ns}")).expect("open netns file");
    // SAFETY: `file` is an open namespace descriptor for the duration of the
    // call; setns changes only the calling thread's network namespace.
    let ret = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(ret, 0, "setns {ns}: {}", std::io::Error::last_os_error());
}

/// Runs `body` on a fresh thread inside namespace `ns` with its own
/// current-thread tokio runtime; a panic in `body` fails the test.
fn in_netns<T, F, Fut>(ns: &str, body: F) -> T
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T>,
{
    let ns = ns.to_owned();
    std::thread::spawn(move || {
        enter_netns(&ns);
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime")
            .block_on(body())
    })
    .join()
    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

#[test]
fn privileges_are_present_as_root() {
    require_root!();
    check_privileges("eth0", true).expect("root has CAP_NET_RAW, CAP_NET_ADMIN and CAP_BPF");
}

#[test]
fn interface_info_reads_the_link() {
    require_root!();
    let lab = Lab::new(true);
    ip(&["-n", &lab.ns_a, "link", "set", &lab.if_a, "mtu", "1400"]);
    let link_line = ip_output(&["-n", &lab.ns_a, "-o", "link", "show", "dev", &lab.if_a]);
    let if_a = lab.if_a.clone();
    let info = in_netns(&lab.ns_a, move || async move { interface_info(&if_a) }).expect("info");

    assert_eq!(info.name, lab.if_a);
    assert!(
        link_line.starts_with(&format!("{}: ", info.index)),
        "{link_line}"
    );
    let mac = info.mac.map(|b| format!("{b:02x}")).join(":");
    assert!(
        link_line.contains(&format!("link/ether {mac} ")),
        "{mac} in {link_line}"
    );
    assert_eq!(info.ipv4, vec![(ADDR_A, 24)]);
    assert!(info.carrier_up);
    assert_eq!(info.mtu, 1400);
}

#[test]
fn interface_info_errors_name_the_interface() {
    require_root!();
    let lab = Lab::new(false);
    let missing = format!("nosuch{}", std::process::id());
    let (missing_err, lo_err, long_err) = in_netns(&lab.ns_a, {
        let missing = missing.clone();
        move || async move {
            (
                interface_info(&missing).unwrap_err(),
                interface_info("lo").unwrap_err(),
                interface_info("a-name-far-too-long").unwrap_err(),
            )
        }
    });
    assert!(
        matches!(missing_err, SysError::NoSuchInterface { .. }),
        "{missing_err:?}"
    );
    assert_eq!(
        missing_err.to_string(),
        format!("interface {missing}: no such interface")
    );
    assert!(matches!(lo_err, SysError::NotEthernet { .. }), "{lo_err:?}");
    assert!(lo_err.to_string().contains("lo"), "{lo_err}");
    assert!(
        matches!(long_err, SysError::InvalidInterfaceName { .. }),
        "{long_err:?}"
    );
    assert!(
        long_err.to_string().contains("a-name-far-too-long"),
        "{long_err}"
    );
}

#[test]
fn vip_is_added_and_removed_idempotently() {
    require_root!();
    let lab = Lab::new(true);
    let if_a = lab.if_a.clone();
    let ifindex = in_netns(&lab.ns_a, move || async move { interface_info(&if_a) })
        .expect("info")
        .index;
    let listed = format!("inet {VIP}/32 scope global {}", lab.if_a);

    in_netns(&lab.ns_a, move || async move {
        assert!(!has_address(ifindex, VIP).unwrap());
        add_vip(ifindex, VIP).expect("add");
        add_vip(ifindex, VIP).expect("second add is a no-op");
        assert!(has_address(ifindex, VIP).unwrap());
    });
    let shown = lab.show_addresses_a();
    assert!(shown.contains(&listed), "{listed} in {shown}");
    assert_eq!(shown.matches("192.0.2.100").count(), 1, "{shown}");

    in_netns(&lab.ns_a, move || async move {
        remove_vip(ifindex, VIP).expect("remove");
        remove_vip(ifindex, VIP).expect("second remove is a no-op");
        assert!(!has_address(ifindex, VIP).unwrap());
        // Only a /32 is ever removed: the node's own /24 stays.
        remove_vip(ifindex, ADDR_A).expect("no /32 to remove");
        assert!(has_address(ifindex, ADDR_A).unwrap());
    });
    let shown = lab.show_addresses_a();
    assert!(!shown.contains("192.0.2.100"), "{shown}");
    assert!(shown.contains("inet 192.0.2.1/24"), "{shown}");
}

#[test]
fn vip_errors_name_operation_and_interface() {
    require_root!();
    let lab = Lab::new(false);
    let err = in_netns(&lab.ns_a, || async { add_vip(999_999, VIP).unwrap_err() });
    let text = err.to_string();
    assert!(text.contains("add VIP 192.0.2.100/32"), "{text}");
    assert!(text.contains("index 999999"), "{text}");
    assert_eq!(err.raw_os_error(), Some(libc::ENODEV), "{err:?}");
}

#[test]
fn link_watch_reports_carrier_changes() {
    require_root!();
    let lab = Lab::new(true);
    let (if_a, ns_a, ns_b, if_b) = (
        lab.if_a.clone(),
        lab.ns_a.clone(),
        lab.ns_b.clone(),
        lab.if_b.clone(),
    );
    in_netns(&lab.ns_a, move || async move {
        let ifindex = interface_info(&if_a).expect("info").index;
        let mut watch = LinkWatch::new(ifindex).expect("watch");
        assert!(watch.carrier_up());
        let mut next = async || {
            tokio::time::timeout(WAIT, watch.next())
                .await
                .expect("link event in time")
                .expect("link event")
        };

        ip(&["-n", &ns_b, "link", "set", &if_b, "down"]);
        assert_eq!(next().await, LinkEvent::CarrierDown);
        assert!(!interface_info(&if_a).unwrap().carrier_up);

        ip(&["-n", &ns_b, "link", "set", &if_b, "up"]);
        assert_eq!(next().await, LinkEvent::CarrierUp);
        assert!(interface_info(&if_a).unwrap().carrier_up);

        // An MTU change is a link notification but no carrier change.
        ip(&["-n", &ns_a, "link", "set", &if_a, "mtu", "1400"]);
        // Deletion takes the link down first, then removes it.
        ip(&["-n", &ns_a, "link", "delete", &if_a]);
        assert_eq!(next().await, LinkEvent::CarrierDown);
        assert_eq!(next().await, LinkEvent::Removed);
    });
}

// ---- frames ----------------------------------------------------------------

const BROADCAST: [u8; 6] = [0xff; 6];
const ETHERTYPE_IPV6: u16 = 0x86DD;
/// VRRP's IPv4 multicast group 224.0.0.18 as an Ethernet group address.
const VRRP_GROUP_MAC: [u8; 6] = [0x01, 0x00, 0x5e, 0x00, 0x00, 0x12];

/// The filter of a node speaking VRRP and the quorum protocol: ARP,
/// EtherType 0x88B5, IPv4 protocol 112, and VRRP's group.
fn vrrp_and_quorum() -> PacketOptions {
    let mut filter = FrameFilter::default();
    filter.ethertype(0x0806);
    filter.ethertype(0x88B5);
    filter.ipv4_protocol(112);
    filter.group(EthernetAddress(VRRP_GROUP_MAC));
    PacketOptions::new(filter)
}

fn ethernet(dst: [u8; 6], src: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(60);
    frame.extend_from_slice(&dst);
    frame.extend_from_slice(&src);
    frame.extend_from_slice(&ethertype.to_be_bytes());
    frame.extend_from_slice(payload);
    frame.resize(frame.len().max(60), 0);
    frame
}

fn arp_request(sender_mac: [u8; 6], sender: Ipv4Addr, target: Ipv4Addr) -> Vec<u8> {
    let mut arp = vec![0, 1, 0x08, 0x00, 6, 4, 0, 1];
    arp.extend_from_slice(&sender_mac);
    arp.extend_from_slice(&sender.octets());
    arp.extend_from_slice(&[0; 6]);
    arp.extend_from_slice(&target.octets());
    ethernet(BROADCAST, sender_mac, 0x0806, &arp)
}

fn ipv4(dst_mac: [u8; 6], src_mac: [u8; 6], protocol: u8, dst: Ipv4Addr, body: &[u8]) -> Vec<u8> {
    let total = (20 + body.len()) as u16;
    let mut header = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 255, protocol, 0, 0];
    header[2..4].copy_from_slice(&total.to_be_bytes());
    header.extend_from_slice(&ADDR_B.octets());
    header.extend_from_slice(&dst.octets());
    let sum = header
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum::<u32>();
    let sum = !(((sum & 0xffff) + (sum >> 16)) as u16);
    header[10..12].copy_from_slice(&sum.to_be_bytes());
    header.extend_from_slice(body);
    ethernet(dst_mac, src_mac, 0x0800, &header)
}

fn vlan_tagged(frame: &[u8], vid: u16) -> Vec<u8> {
    let mut tagged = frame[..12].to_vec();
    tagged.extend_from_slice(&0x8100u16.to_be_bytes());
    tagged.extend_from_slice(&vid.to_be_bytes());
    tagged.extend_from_slice(&frame[12..]);
    tagged
}

fn ethertype(frame: &[u8]) -> u16 {
    u16::from_be_bytes([frame[12], frame[13]])
}

async fn recv_in_time(socket: &PacketSocket) -> Vec<u8> {
    let mut buf = vec![0u8; 2048];
    let len = socket
        .recv_timeout(&mut buf, WAIT)
        .expect("recv")
        .expect("a frame in time");
    buf.truncate(len);
    buf
}

async fn assert_quiet(socket: &PacketSocket) {
    let mut buf = vec![0u8; 2048];
    if let Some(len) = socket.recv_timeout(&mut buf, QUIET).expect("recv") {
        panic!("unexpected frame: {:02x?}", &buf[..len]);
    }
}

/// A's socket and B's socket, opened from one thread: a socket keeps the
/// namespace it was opened in, so the thread moves from A to B in between.
fn open_pair(lab: &Names) -> (PacketSocket, [u8; 6], PacketSocket, [u8; 6]) {
    enter_netns(&lab.ns_a);
    let a = interface_info(&lab.if_a).expect("info a");
    let sock_a = PacketSocket::open(a.index, &vrrp_and_quorum()).expect("open a");
    enter_netns(&lab.ns_b);
    let b = interface_info(&lab.if_b).expect("info b");
    let sock_b = PacketSocket::open(b.index, &vrrp_and_quorum()).expect("open b");
    (sock_a, a.mac, sock_b, b.mac)
}

#[test]
fn packet_socket_filters_in_the_kernel() {
    require_root!();
    // No addresses: neither kernel answers anything, so only our frames flow.
    let lab = Lab::new(false);
    let names = lab.names();
    in_netns(&names.ns_a.clone(), move || async move {
        let (sock_a, mac_a, sock_b, mac_b) = open_pair(&names);

        let udp_body = [0x30, 0x39, 0, 9, 0, 12, 0, 0, 1, 2, 3, 4];
        let udp = ipv4(mac_a, mac_b, 17, UNASSIGNED, &udp_body);
        let icmp = ipv4(mac_a, mac_b, 1, UNASSIGNED, &[8, 0, 0xf7, 0xff, 0, 0, 0, 0]);
        let ipv6 = ethernet(mac_a, mac_b, ETHERTYPE_IPV6, &[0x60; 40]);
        let other_experimental = ethernet(BROADCAST, mac_b, 0x88B6, b"not ours");
        let arp = arp_request(mac_b, ADDR_B, UNASSIGNED);
        let tagged_arp = vlan_tagged(&arp, 42);
        let advert = [0x31, 7, 100, 1, 0, 100, 0, 0, 192, 0, 2, 100];
        let vrrp = ipv4(
            VRRP_GROUP_MAC,
            mac_b,
            112,
            Ipv4Addr::new(224, 0, 0, 18),
            &advert,
        );
        let quorum = ethernet(BROADCAST, mac_b, 0x88B5, b"quorum hello");

        for dropped in [&udp, &icmp, &ipv6, &other_experimental, &tagged_arp] {
            sock_b.send(dropped).expect("send a kind the filter drops");
        }
        for passed in [&vrrp, &quorum, &arp] {
            sock_b.send(passed).expect("send a kind the filter passes");
        }
        assert_eq!(recv_in_time(&sock_a).await, vrrp);
        assert_eq!(recv_in_time(&sock_a).await, quorum);
        assert_eq!(recv_in_time(&sock_a).await, arp);
        assert_quiet(&sock_a).await;
        // B never sees its own transmissions.
        assert_quiet(&sock_b).await;
    });
}

#[test]
fn packet_socket_follows_its_filter_and_joins_its_groups() {
    require_root!();
    let lab = Lab::new(false);
    let names = lab.names();
    let extra_group = [0x01, 0x00, 0x5e, 0x00, 0x00, 0x42];
    let joined_later = [0x01, 0x00, 0x5e, 0x00, 0x00, 0x43];
    in_netns(&names.ns_a.clone(), move || async move {
        let (sock_a, mac_a, sock_b, mac_b) = open_pair(&names);
        enter_netns(&names.ns_a);
        // Only EtherType 0x88B6: not even ARP.
        let mut filter = FrameFilter::default();
        filter.ethertype(0x88B6);
        filter.group(EthernetAddress(extra_group));
        let custom =
            PacketSocket::open(sock_a.ifindex(), &PacketOptions::new(filter)).expect("open custom");
        custom.join_group(joined_later).expect("join");
        // An empty filter compiles to a program the kernel takes, and passes nothing.
        let deaf = PacketSocket::open(
            sock_a.ifindex(),
            &PacketOptions::new(FrameFilter::default()),
        )
        .expect("open with an empty filter");
        let maddr = ip_output(&["-n", &names.ns_a, "maddress", "show", "dev", &names.if_a]);
        assert!(maddr.contains("01:00:5e:00:00:12"), "{maddr}");
        assert!(maddr.contains("01:00:5e:00:00:42"), "{maddr}");
        assert!(maddr.contains("01:00:5e:00:00:43"), "{maddr}");

        let default_kind = ethernet(BROADCAST, mac_a, 0x88B5, b"default");
        let custom_kind = ethernet(BROADCAST, mac_a, 0x88B6, b"custom");
        let arp = arp_request(mac_b, ADDR_B, UNASSIGNED);
        sock_b.send(&default_kind).expect("send");
        sock_b.send(&custom_kind).expect("send");
        sock_b.send(&arp).expect("send");
        assert_eq!(recv_in_time(&sock_a).await, default_kind);
        assert_eq!(recv_in_time(&sock_a).await, arp);
        assert_eq!(recv_in_time(&custom).await, custom_kind);
        assert_quiet(&sock_a).await;
        assert_quiet(&custom).await;
        assert_quiet(&deaf).await;
    });
}

#[test]
fn packet_socket_skips_frames_this_host_sent() {
    require_root!();
    let lab = Lab::new(false);
    let names = lab.names();
    in_netns(&names.ns_a.clone(), move || async move {
        let (sock_a, mac_a, sock_b, mac_b) = open_pair(&names);
        // A second socket on A sees the first one's frames as outgoing.
        enter_netns(&names.ns_a);
        let other_a = PacketSocket::open(sock_a.ifindex(), &vrrp_and_quorum())
            .expect("open second socket on a");

        let from_a = ethernet(BROADCAST, mac_a, 0x88B5, b"from a");
        let from_b = ethernet(BROADCAST, mac_b, 0x88B5, b"from b");
        sock_a.send(&from_a).expect("send a");
        assert_eq!(recv_in_time(&sock_b).await, from_a);
        sock_b.send(&from_b).expect("send b");
        // A's first frame is B's: its own went out but did not come back.
        assert_eq!(recv_in_time(&sock_a).await, from_b);
        assert_eq!(recv_in_time(&other_a).await, from_b);
        assert_quiet(&sock_a).await;
        assert_quiet(&other_a).await;
        assert_quiet(&sock_b).await;
    });
}

#[test]
fn packet_socket_sees_kernel_arp_but_not_kernel_ip() {
    require_root!();
    let lab = Lab::new(true);
    let names = lab.names();
    in_netns(&names.ns_a.clone(), move || async move {
        let (sock_a, mac_a, sock_b, mac_b) = open_pair(&names);

        // The thread is in B now: B's kernel resolves A by ARP and sends the
        // datagram; A's kernel answers the ARP and sends ICMP port unreachable.
        let udp = std::net::UdpSocket::bind((ADDR_B, 0)).expect("bind in b");
        udp.send_to(b"hello", (ADDR_A, 9)).expect("udp send");

        let request = recv_in_time(&sock_a).await;
        assert_eq!(ethertype(&request), 0x0806, "{request:02x?}");
        assert_eq!(&request[6..12], &mac_b);
        assert_eq!(&request[38..42], &ADDR_A.octets(), "ARP target");

        // Let the datagram and the ICMP answer cross the wire, then mark the
        // end: before the marker only ARP from B may reach A's socket.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let marker = ethernet(BROADCAST, mac_b, 0x88B5, b"marker");
        sock_b.send(&marker).expect("marker");
        loop {
            let frame = recv_in_time(&sock_a).await;
            if frame == marker {
                break;
            }
            assert_eq!(ethertype(&frame), 0x0806, "only ARP may pass: {frame:02x?}");
            assert_ne!(&frame[6..12], &mac_a, "A's own frame came back");
        }
        // A's kernel did answer (B saw it), yet A's socket skipped it above.
        let reply = recv_in_time(&sock_b).await;
        assert_eq!(ethertype(&reply), 0x0806, "{reply:02x?}");
        assert_eq!(&reply[6..12], &mac_a);
    });
}

const VIP_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x09, 0x7f, 0x3f];

fn sysctl_in(ns: &str, path: &str) -> String {
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "cat", path])
        .output()
        .expect("run ip netns exec");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The macvlan for the VIP MAC: created on the management interface in
/// private mode with the VIP MAC and no IPv6, replaced when an earlier
/// run left one, removed idempotently.
#[test]
fn the_vip_link_carries_the_vip_mac_without_ipv6() {
    require_root!();
    let lab = Lab::new(true);
    let if_a = lab.if_a.clone();
    let link = in_netns(&lab.ns_a, move || async move {
        let parent = interface_info(&if_a).expect("parent");
        let first = create_vip_link(parent.index, VIP_MAC).expect("create");
        set_link_up(first.index, true).expect("up");
        // An earlier run's link is replaced, not refused.
        let link = create_vip_link(parent.index, VIP_MAC).expect("create again");
        assert_ne!(link.index, first.index, "a new link");
        set_link_up(link.index, true).expect("up");
        link
    });
    assert_eq!(link.name, "vip00097f3f");
    let shown = ip_output(&["-n", &lab.ns_a, "-d", "link", "show", "dev", &link.name]);
    assert!(
        shown.contains(&format!("{}@{}", link.name, lab.if_a)),
        "{shown}"
    );
    assert!(shown.contains("link/ether 02:00:00:09:7f:3f"), "{shown}");
    assert!(shown.contains("macvlan mode private"), "{shown}");
    assert!(shown.contains("UP"), "{shown}");
    let v6 = ip_output(&["-n", &lab.ns_a, "-6", "address", "show", "dev", &link.name]);
    assert!(v6.trim().is_empty(), "no IPv6 on the VIP link: {v6}");
    let name = link.name.clone();
    let (removed, again) = in_netns(&lab.ns_a, move || async move {
        (
            remove_vip_link(&name).expect("remove"),
            remove_vip_link(&name).expect("again"),
        )
    });
    assert!(removed && !again, "removed once, then nothing to remove");
    let links = ip_output(&["-n", &lab.ns_a, "link", "show"]);
    assert!(!links.contains(&link.name), "{links}");
}

/// With the VIP on the macvlan and the parent told to keep quiet, an ARP
/// request for the VIP is answered with the VIP MAC only: never with the
/// node's own MAC (what a client's neighbour entry must never hold).
#[test]
fn arp_for_the_vip_is_answered_with_the_vip_mac_only() {
    require_root!();
    let lab = Lab::new(true);
    let names = lab.names();
    in_netns(&names.ns_a.clone(), move || async move {
        let parent = interface_info(&names.if_a).expect("parent");
        let link = create_vip_link(parent.index, VIP_MAC).expect("create");
        quiet_parent_arp(&names.if_a, parent.index).expect("quiet");
        set_link_up(link.index, true).expect("up");
        add_vip(link.index, VIP).expect("VIP on the link");
        let (_sock_a, mac_a, sock_b, mac_b) = open_pair(&names);
        // Twice: the kernel may answer the first before the link is ready.
        for round in 0..2 {
            sock_b
                .send(&arp_request(mac_b, ADDR_B, VIP))
                .expect("ask for the VIP");
            let mut answers = Vec::new();
            let deadline = Instant::now() + Duration::from_millis(500);
            let mut buf = vec![0u8; 2048];
            while let Some(left) = deadline.checked_duration_since(Instant::now()) {
                let Some(len) = sock_b.recv_timeout(&mut buf, left).expect("recv") else {
                    break;
                };
                let f = &buf[..len];
                // ARP replies naming the VIP as their sender.
                if ethertype(f) == 0x0806 && f[21] == 2 && f[28..32] == VIP.octets() {
                    answers.push(<[u8; 6]>::try_from(&f[22..28]).unwrap());
                }
            }
            assert!(
                !answers.contains(&mac_a),
                "round {round}: the node's own MAC answered for the VIP"
            );
            assert!(
                answers.contains(&VIP_MAC),
                "round {round}: no answer with the VIP MAC: {answers:02x?}"
            );
        }
    });
    assert_eq!(
        sysctl_in(
            &lab.ns_a,
            &format!("/proc/sys/net/ipv4/conf/{}/arp_ignore", lab.if_a)
        ),
        "1"
    );
    assert_eq!(
        sysctl_in(
            &lab.ns_a,
            &format!("/proc/sys/net/ipv4/conf/{}/arp_announce", lab.if_a)
        ),
        "2"
    );
}

/// A UDP datagram from the peer's kernel over veth reaches the packet
/// socket with its checksum left to a card that does not exist
/// (TP_STATUS_CSUMNOTREADY); the socket hands it over with the checksum
/// the wire would have carried, so the core's DHCP parser can check it.
#[test]
fn udp_from_a_veth_peer_arrives_with_its_checksum_filled_in() {
    require_root!();
    let lab = Lab::new(true);
    let names = lab.names();
    in_netns(&names.ns_a.clone(), move || async move {
        enter_netns(&names.ns_a);
        let a = interface_info(&names.if_a).expect("info a");
        let mut filter = FrameFilter::default();
        filter.ipv4_protocol(17);
        let sock_a = PacketSocket::open(a.index, &PacketOptions::new(filter)).expect("open a");
        enter_netns(&names.ns_b);
        let udp = std::net::UdpSocket::bind((ADDR_B, 0)).expect("bind in b");
        udp.send_to(&[0x5a; 300], (ADDR_A, 68)).expect("udp send");
        let frame = recv_in_time(&sock_a).await;
        let sliced = etherparse::SlicedPacket::from_ethernet(&frame).expect("parses");
        let Some(etherparse::NetSlice::Ipv4(ip)) = &sliced.net else {
            panic!("not IPv4: {frame:02x?}");
        };
        let Some(etherparse::TransportSlice::Udp(u)) = &sliced.transport else {
            panic!("not UDP: {frame:02x?}");
        };
        let want = u
            .to_header()
            .calc_checksum_ipv4(&ip.header().to_header(), u.payload())
            .expect("checksum");
        assert_eq!(u.checksum(), want, "the UDP checksum is whole");
    });
}

/// A namespace full of veth pairs, deleted (if still there) when dropped.
struct Crowd(String);

impl Drop for Crowd {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.0])
            .output();
    }
}

/// While the kernel tears down a namespace of 4,000 veth pairs (holding its
/// `rtnl_lock` for a long stretch), adding and removing the VIP elsewhere
/// never holds the caller for much more than `REQUEST_BOUND`; a request that
/// timed out says the bound, and is still applied in order, so the state
/// the last request asked for is the one the kernel ends in.
#[test]
fn netlink_requests_return_within_their_bound_while_rtnl_is_busy() {
    if !netns::can_run("the sys netns suite", &["ip"]) {
        return;
    }
    let _alone = kernel_alone();
    let lab = Lab::new(true);
    let crowd = Crowd(format!("{}-crowd", lab.ns_a));
    ip(&["netns", "add", &crowd.0]);
    let mut batch = Command::new("ip")
        .args(["-n", &crowd.0, "-batch", "-"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("spawn ip -batch");
    let mut stdin = batch.stdin.take().expect("ip -batch stdin");
    for i in 0..4000 {
        writeln!(stdin, "link add c{i} type veth peer name d{i}").expect("write to ip -batch");
    }
    drop(stdin);
    assert!(
        batch.wait().expect("ip -batch").success(),
        "ip -batch failed"
    );

    let if_a = lab.if_a.clone();
    let ifindex = in_netns(&lab.ns_a, move || async move { interface_info(&if_a) })
        .expect("info")
        .index;
    // `ip netns delete` returns at once; the kernel tears down in the background.
    ip(&["netns", "delete", &crowd.0]);
    let (slowest, calls, timed_out) = in_netns(&lab.ns_a, move || async move {
        let (mut slowest, mut calls, mut timed_out) = (Duration::ZERO, 0, 0);
        let until = Instant::now() + Duration::from_secs(3);
        while Instant::now() < until {
            for add in [true, false] {
                let started = Instant::now();
                let result = if add {
                    add_vip(ifindex, VIP)
                } else {
                    remove_vip(ifindex, VIP)
                };
                slowest = slowest.max(started.elapsed());
                calls += 1;
                if let Err(e) = result {
                    let text = e.to_string();
                    assert!(
                        text.contains(&format!("within {} ms", REQUEST_BOUND.as_millis())),
                        "{text}"
                    );
                    timed_out += 1;
                }
            }
        }
        (slowest, calls, timed_out)
    });
    println!(
        "{calls} requests while rtnl was busy: {timed_out} timed out, slowest took {slowest:?}"
    );
    assert!(
        slowest < REQUEST_BOUND + Duration::from_millis(150),
        "a request held its caller for {slowest:?}"
    );
    // The last request was a removal: once the kernel has caught up, the
    // VIP is gone, whatever timed out on the way.
    let gone = netns::wait_until(Duration::from_secs(20), || {
        !lab.show_addresses_a().contains("192.0.2.100")
    });
    assert!(gone, "the VIP stayed: {}", lab.show_addresses_a());
    in_netns(&lab.ns_a, move || async move {
        add_vip(ifindex, VIP).expect("add once the kernel is free");
        assert!(has_address(ifindex, VIP).unwrap());
        remove_vip(ifindex, VIP).expect("remove once the kernel is free");
    });
}
