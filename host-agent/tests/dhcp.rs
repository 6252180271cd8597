//! The VIP leased by DHCP on real kernels: three `vipd` quorum nodes in
//! network namespaces with `[vip] mode = "dhcp"`, Debian's dnsmasq as the
//! server in a namespace of its own with a static mapping for the VIP MAC
//! (`dhcp-host=02:00:00:09:7f:3f,192.0.2.100`), and a real Linux client.
//!
//! Needs root, ip, sysctl, tcpdump and dnsmasq (skips otherwise; fails if
//! CI is set). Takes the testbed's global lock.

mod netns;
mod testbed;

use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use testbed::{ip, wait_until, wall_now, Outcome, Peer, Testbed, SETUP, VIP};

const A: usize = 0;
const RENEW_MS: u32 = 10;
const VIP_MAC: &str = "02:00:00:09:7f:3f";
const VIP_LINK: &str = "vip00097f3f";
const SERVER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
/// T1 and T2 dnsmasq hands out (its leases last at least two minutes, so
/// renewals are what a short test can see).
const T1_SECS: u32 = 2;
const T2_SECS: u32 = 4;

const TOOLS: &[&str] = &["ip", "sysctl", "tcpdump", "dnsmasq"];
/// [`TOOLS`] and the etcd cluster's.
const ETCD_TOOLS: &[&str] = &[
    "ip", "sysctl", "tcpdump", "dnsmasq", "nft", "etcd", "etcdctl",
];

fn vipd() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_vipd"))
}

macro_rules! require_root {
    () => {
        if !testbed::can_run("the DHCP VIP testbed", TOOLS) {
            return;
        }
    };
}

/// dnsmasq in its own namespace; killed when dropped (before the testbed
/// deletes the namespace, which would not end it).
struct Dnsmasq {
    child: Child,
    log: PathBuf,
    ns: String,
}

impl Dnsmasq {
    fn start(bed: &mut Testbed, mapped: bool) -> Result<Dnsmasq, String> {
        let ns = bed.add_host("dh", "02:00:00:00:00:fe", SERVER)?;
        let log = bed.dir().join("dnsmasq.log");
        let child = Self::spawn(&ns, &log, mapped.then_some(VIP))?;
        Ok(Dnsmasq { child, log, ns })
    }

    /// Restarts dnsmasq mapping the VIP MAC to `address` instead.
    fn remap(&mut self, address: Ipv4Addr) -> Result<(), String> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = Self::spawn(&self.ns, &self.log, Some(address))?;
        Ok(())
    }

    fn spawn(ns: &str, log: &Path, mapped: Option<Ipv4Addr>) -> Result<Child, String> {
        let mut cmd = netns::exec_in(ns);
        cmd.args([
            "dnsmasq",
            "--no-daemon",
            "--conf-file=/dev/null",
            "--port=0",
            "--interface=eth0",
            "--bind-interfaces",
            "--dhcp-authoritative",
            "--leasefile-ro",
            "--log-dhcp",
            "--pid-file=",
            "--dhcp-range=192.0.2.150,192.0.2.199,255.255.255.0,2m",
        ]);
        cmd.arg(format!("--dhcp-option=option:T1,{T1_SECS}"));
        cmd.arg(format!("--dhcp-option=option:T2,{T2_SECS}"));
        if let Some(address) = mapped {
            cmd.arg(format!("--dhcp-host={VIP_MAC},{address},2m"));
        }
        cmd.arg(format!("--log-facility={}", log.display()));
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("spawn dnsmasq: {e}"))
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// DHCPACKs dnsmasq logged for the VIP MAC.
    fn acks(&self) -> usize {
        self.log()
            .lines()
            .filter(|l| l.contains("DHCPACK") && l.contains(VIP_MAC))
            .count()
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Three quorum nodes (priorities 200, 150, 100) with their VIP leased;
/// each node's hooks append what they were told to `hooks-NODE.log`.
fn bed() -> Result<Testbed, String> {
    leased_bed(&[Peer::quorum(200), Peer::quorum(150), Peer::quorum(100)])
}

/// `peers` (every one renewing or advertising every [`RENEW_MS`]) with
/// their VIP leased, hooks as in [`bed`].
fn leased_bed(peers: &[Peer]) -> Result<Testbed, String> {
    let bed = Testbed::new(vipd(), peers, RENEW_MS)?;
    for node in &bed.nodes {
        let text = fs::read_to_string(&node.config).map_err(|e| e.to_string())?;
        let fixed = format!("[vip]\naddress = \"{VIP}\"\n");
        let leased = format!("[vip]\nmode = \"dhcp\"\nhwaddr = \"{VIP_MAC}\"\n");
        if !text.contains(&fixed) {
            return Err(format!("no [vip] address in {}", node.config.display()));
        }
        let log = bed.dir().join(format!("hooks-{}.log", node.id.name));
        let hook = |what: &str| {
            format!(
                "echo {what} $VIPD_VIP $VIPD_HWADDR $VIPD_LEASE_STATE $VIPD_LEASE_PROBLEM >> {}",
                log.display()
            )
        };
        let hooks = format!(
            "[hooks]\non_acquire = \"{}\"\non_release = \"{}\"\n",
            hook("acquire"),
            hook("release")
        );
        let text = format!("{}{hooks}", text.replace(&fixed, &leased));
        fs::write(&node.config, text).map_err(|e| e.to_string())?;
    }
    Ok(bed)
}

fn hooks_log(bed: &Testbed, i: usize) -> String {
    fs::read_to_string(
        bed.dir()
            .join(format!("hooks-{}.log", bed.nodes[i].id.name)),
    )
    .unwrap_or_default()
}

/// The nodes whose VIP MAC macvlan carries the VIP.
fn holders(bed: &Testbed) -> Vec<usize> {
    (0..bed.nodes.len())
        .filter(|&i| !bed.nodes[i].off && link_has_vip(bed, i))
        .collect()
}

fn link_has_vip(bed: &Testbed, i: usize) -> bool {
    link_has(bed, i, VIP)
}

/// Whether node `i`'s VIP MAC macvlan carries `address`/32.
fn link_has(bed: &Testbed, i: usize, address: Ipv4Addr) -> bool {
    ip(&[
        "-n",
        &bed.nodes[i].ns,
        "-4",
        "-o",
        "address",
        "show",
        "dev",
        VIP_LINK,
    ])
    .map(|o| String::from_utf8_lossy(&o.stdout).contains(&format!("{address}/32")))
    .unwrap_or(false)
}

fn status(bed: &Testbed, i: usize, field: &str) -> String {
    bed.vipd_cmd(i, &["status", "--get", field])
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

/// Waits for node-a (priority 200) to hold the leased VIP on its macvlan.
fn wait_leased_by_a(bed: &Testbed, server: &Dnsmasq) {
    let leased = wait_until(SETUP, || holders(bed) == vec![A]);
    assert!(
        leased,
        "node-a never held the leased VIP: {:?}\n{}",
        holders(bed),
        logs(bed, server)
    );
}

/// Waits until every node's `vipd status` names `address` as the VIP, and
/// asserts each gives the VIP MAC as `hwaddr`.
fn every_node_names(bed: &Testbed, address: &str) {
    for i in 0..bed.nodes.len() {
        let ok = wait_until(SETUP, || status(bed, i, "vip") == address);
        assert!(
            ok,
            "{}: vip {:?}",
            bed.nodes[i].id.name,
            status(bed, i, "vip")
        );
        assert_eq!(
            status(bed, i, "hwaddr"),
            VIP_MAC,
            "{}",
            bed.nodes[i].id.name
        );
    }
}

/// Starts the client stream and waits until it reaches the VIP.
fn stream_to_the_vip(bed: &mut Testbed, server: &Dnsmasq) {
    bed.start_stream().expect("stream");
    let flowing = bed
        .stream()
        .is_some_and(|s| s.wait_flowing(wall_now(), 100, SETUP));
    assert!(
        flowing,
        "the client never reached the VIP\n{}",
        logs(bed, server)
    );
}

fn logs(bed: &Testbed, server: &Dnsmasq) -> String {
    format!("{}\n--- dnsmasq\n{}", bed.logs_tail(20), server.log())
}

/// The mapped address leased, the VIP MAC on every node's status and in
/// the client's neighbour table, a kill -9 of the holder survived with the
/// same address and MAC within the quorum bound, renewals through the new
/// holder, and `vipd cleanup` removing what the killed daemon left.
#[test]
fn the_leased_vip_keeps_its_address_and_mac_through_a_kill_9() {
    require_root!();
    let _serial = testbed::serial();
    let mut bed = bed().expect("testbed");
    let server = Dnsmasq::start(&mut bed, true).expect("dnsmasq");
    bed.start_all().expect("start");
    wait_leased_by_a(&bed, &server);
    // Every node answers the seed's questions: the VIP and its MAC.
    every_node_names(&bed, &VIP.to_string());
    for i in 0..3 {
        assert_eq!(status(&bed, i, "requestedIP"), VIP.to_string());
    }
    stream_to_the_vip(&mut bed, &server);
    let (mac, _) = bed.client_neigh().expect("a neighbour entry for the VIP");
    assert_eq!(mac, VIP_MAC, "the client reaches the VIP at the VIP MAC");
    std::thread::sleep(Duration::from_millis(500));

    let fault = bed.crash(A);
    // The killed daemon's macvlan still carries the address (no one removed
    // it; the fence closed its traffic): the new holder is another node.
    let moved = wait_until(SETUP, || holders(&bed).iter().any(|&i| i != A));
    assert!(
        moved,
        "nobody took over: {:?}\n{}",
        holders(&bed),
        logs(&bed, &server)
    );
    std::thread::sleep(Duration::from_secs(1));
    let end = wall_now();
    let record = bed.stop_stream().expect("stream");
    let outcome = Outcome::measure(&record, fault, end - 0.05).expect("flowing before the fault");
    let bound = testbed::quorum_loss_bound(RENEW_MS);
    println!(
        "DHCP VIP, kill -9 of the holder: client gap {:.1} ms (bound {:.1} ms), first reply {:.1} ms after the kill",
        outcome.gap.as_secs_f64() * 1e3,
        bound.as_secs_f64() * 1e3,
        outcome.resume.as_secs_f64() * 1e3
    );
    assert!(
        outcome.gap <= bound,
        "client gap {:?} over {bound:?}\n{}",
        outcome.gap,
        logs(&bed, &server)
    );
    let (mac, _) = bed.client_neigh().expect("a neighbour entry for the VIP");
    assert_eq!(mac, VIP_MAC, "same MAC after the failover");
    let new = holders(&bed)
        .into_iter()
        .find(|&i| i != A)
        .expect("a new holder");
    for i in 1..3 {
        assert_eq!(status(&bed, i, "vip"), VIP.to_string(), "same address");
    }
    // The new holder renews through dnsmasq: every T1 an ACK for the VIP MAC.
    let before = server.acks();
    let renewed = wait_until(Duration::from_secs(3 * u64::from(T1_SECS)), || {
        server.acks() >= before + 2
    });
    assert!(
        renewed,
        "no renewals by {}: {before} ACKs\n{}",
        bed.nodes[new].id.name,
        logs(&bed, &server)
    );
    assert!(link_has_vip(&bed, new));

    // kill -9 left node-a's macvlan with the address: cleanup removes both.
    let out = bed.vipd_cmd(A, &["cleanup"]).expect("vipd cleanup");
    assert!(
        out.status.success(),
        "cleanup: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let links = ip(&["-n", &bed.nodes[A].ns, "link", "show"]).expect("ip link");
    let links = String::from_utf8_lossy(&links.stdout);
    assert!(
        !links.contains(VIP_LINK),
        "cleanup left the macvlan: {links}"
    );
}

/// The DHCP VIP under the VRRP election: the master leases the mapped
/// address and every node's status names it (the members from the
/// adverts); after a power-off of the master (port down and kill -9: VRRP
/// has no fence, so a kill -9 alone leaves its kernel answering) the next
/// priority asks for the address it heard, gets it, and the client's
/// traffic resumes within the VRRP bound at the same address and MAC.
#[test]
fn vrrp_leases_the_vip_too_and_a_power_off_keeps_address_and_mac() {
    require_root!();
    let _serial = testbed::serial();
    let peers = [Peer::vipd(200), Peer::vipd(150), Peer::vipd(100)];
    let mut bed = leased_bed(&peers).expect("testbed");
    let server = Dnsmasq::start(&mut bed, true).expect("dnsmasq");
    bed.start_all().expect("start");
    wait_leased_by_a(&bed, &server);
    every_node_names(&bed, &VIP.to_string());
    stream_to_the_vip(&mut bed, &server);
    std::thread::sleep(Duration::from_millis(500));
    let acks = server.acks();
    let fault = bed.power_off(A).expect("power off");
    let moved = wait_until(SETUP, || holders(&bed) == vec![1]);
    assert!(
        moved,
        "node-b never took over: {:?}\n{}",
        holders(&bed),
        logs(&bed, &server)
    );
    std::thread::sleep(Duration::from_secs(1));
    let end = wall_now();
    let record = bed.stop_stream().expect("stream");
    let outcome = Outcome::measure(&record, fault, end - 0.05).expect("flowing before the fault");
    let bound = testbed::gap_bound(RENEW_MS);
    println!(
        "DHCP VIP under VRRP, power-off of the master: client gap {:.1} ms (bound {:.1} ms)",
        outcome.gap.as_secs_f64() * 1e3,
        bound.as_secs_f64() * 1e3
    );
    assert!(
        outcome.gap <= bound,
        "gap {:?}\n{}",
        outcome.gap,
        logs(&bed, &server)
    );
    assert!(
        server.acks() > acks,
        "node-b's REQUEST was ACKed\n{}",
        server.log()
    );
    assert!(link_has_vip(&bed, 1), "same address on node-b's macvlan");
    let (mac, _) = bed.client_neigh().expect("a neighbour entry for the VIP");
    assert_eq!(mac, VIP_MAC, "same MAC after the failover");
    assert!(
        !server.log().contains("DHCPNAK"),
        "no NAK\n{}",
        server.log()
    );
}

/// The same three nodes under etcd (Debian's etcd-server on the segment,
/// 2 s TTL): the holder names the leased address in its election key's
/// record, so every node's status names it; a power-off of the holder
/// (port down and kill -9): etcd lets its key go a TTL later, node-b asks
/// dnsmasq for the address and holds it on its macvlan, behind the same
/// VIP MAC.
#[test]
fn etcd_leases_the_vip_too_and_a_power_off_keeps_address_and_mac() {
    if !testbed::can_run("the DHCP VIP testbed under etcd", ETCD_TOOLS) {
        return;
    }
    let _serial = testbed::serial();
    let peers = [Peer::Etcd {
        priority: 100,
        ttl_s: 2,
    }; 3];
    let mut bed = leased_bed(&peers).expect("testbed");
    let etcd = testbed::etcd::EtcdCluster::start(&mut bed).expect("etcd");
    let mut eb = testbed::etcd::EtcdBed { etcd, bed };
    let server = Dnsmasq::start(&mut eb.bed, true).expect("dnsmasq");
    eb.start_all_in_line().expect("start in line");
    let bed = &mut eb.bed;
    wait_leased_by_a(bed, &server);
    every_node_names(bed, &VIP.to_string());
    stream_to_the_vip(bed, &server);
    std::thread::sleep(Duration::from_millis(500));
    let acks = server.acks();
    let fault = bed.power_off(A).expect("power off");
    let moved = wait_until(SETUP, || holders(bed) == vec![1]);
    assert!(
        moved,
        "node-b never took over: {:?}\n{}",
        holders(bed),
        logs(bed, &server)
    );
    std::thread::sleep(Duration::from_secs(1));
    let end = wall_now();
    let record = bed.stop_stream().expect("stream");
    let outcome = Outcome::measure(&record, fault, end - 0.05).expect("flowing before the fault");
    // etcd's TTL after the last keep-alive, its expiry sweep, then two
    // DHCP round trips: the etcd suite's bound.
    let bound = Duration::from_secs(3);
    println!(
        "DHCP VIP under etcd, power-off of the holder: client gap {:.1} ms (bound {:.1} ms)",
        outcome.gap.as_secs_f64() * 1e3,
        bound.as_secs_f64() * 1e3
    );
    assert!(
        outcome.gap <= bound,
        "gap {:?}\n{}",
        outcome.gap,
        logs(bed, &server)
    );
    assert!(
        server.acks() > acks,
        "node-b's REQUEST was ACKed\n{}",
        server.log()
    );
    assert!(link_has_vip(bed, 1), "same address on node-b's macvlan");
    let (mac, _) = bed.client_neigh().expect("a neighbour entry for the VIP");
    assert_eq!(mac, VIP_MAC, "same MAC after the failover");
    assert!(
        !server.log().contains("DHCPNAK"),
        "no NAK\n{}",
        server.log()
    );
    bed.nodes[A].off = true;
    for i in [1, 2] {
        assert!(
            wait_until(SETUP, || status(bed, i, "vip") == VIP.to_string()),
            "{} names the VIP after the failover",
            bed.nodes[i].id.name
        );
    }
}

/// The ARP answers the client gets for the VIP all carry the VIP MAC: the
/// kernel of a holder never answers with its own MAC.
#[test]
fn no_node_answers_arp_for_the_leased_vip_with_its_own_mac() {
    require_root!();
    let _serial = testbed::serial();
    let mut bed = bed().expect("testbed");
    let server = Dnsmasq::start(&mut bed, true).expect("dnsmasq");
    bed.start_all().expect("start");
    assert!(
        wait_until(SETUP, || holders(&bed).len() == 1),
        "no holder\n{}",
        logs(&bed, &server)
    );
    // The capture is live once it sees the client's echo replies.
    bed.start_stream().expect("stream");
    let capture = bed.capture_answers().expect("capture");
    let live = wait_until(SETUP, || capture.answers().iter().any(|a| !a.arp));
    assert!(
        live,
        "the capture saw no echo reply\n{}",
        logs(&bed, &server)
    );
    // The client asks: flush its entry; the next echo needs ARP again.
    let _ = ip(&["-n", &bed.client_ns, "neigh", "flush", "dev", "eth0"]);
    let asked = wait_until(SETUP, || {
        capture.answers().iter().any(|a| a.arp && a.for_addr == VIP)
    });
    std::thread::sleep(Duration::from_millis(300));
    let _ = bed.stop_stream();
    assert!(
        asked,
        "no ARP reply for the VIP seen\n{}",
        logs(&bed, &server)
    );
    let from: Vec<String> = capture
        .answers()
        .into_iter()
        .filter(|a| a.arp && a.for_addr == VIP)
        .map(|a| {
            let m = a.from_mac;
            format!(
                "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
                m[0], m[1], m[2], m[3], m[4], m[5]
            )
        })
        .collect();
    let node_macs: Vec<&str> = bed.nodes.iter().map(|n| n.id.mac.as_str()).collect();
    for mac in &from {
        assert!(
            !node_macs.contains(&mac.as_str()),
            "a node answered ARP for the VIP with its own MAC {mac}"
        );
        assert_eq!(mac, VIP_MAC);
    }
    let (mac, _) = bed.client_neigh().expect("a neighbour entry for the VIP");
    assert_eq!(mac, VIP_MAC);
}

/// Without a mapping the server hands the VIP MAC an address from its
/// pool: the holder configures that one, every node's status says which,
/// and a new holder keeps it (same client to the server, lease learned).
#[test]
fn without_a_mapping_the_pool_address_is_the_vip_and_status_says_so() {
    require_root!();
    let _serial = testbed::serial();
    let mut bed = bed().expect("testbed");
    let server = Dnsmasq::start(&mut bed, false).expect("dnsmasq");
    bed.start_all().expect("start");
    let leased = || {
        let v = status(&bed, A, "vip");
        (v.starts_with("192.0.2.1") && v != VIP.to_string()).then_some(v)
    };
    assert!(
        wait_until(SETUP, || leased().is_some()),
        "no pool address leased: vip {:?}\n{}",
        status(&bed, A, "vip"),
        logs(&bed, &server)
    );
    let address = leased().expect("leased");
    let pool: Ipv4Addr = address.parse().expect("an address");
    assert!(
        (150..=199).contains(&pool.octets()[3]),
        "{pool} is from the pool"
    );
    every_node_names(&bed, &address);
    assert!(link_has(&bed, A, pool), "{pool} on node-a's macvlan");
    bed.crash(A);
    let moved = wait_until(SETUP, || (1..3).any(|i| link_has(&bed, i, pool)));
    assert!(moved, "no new holder of {address}\n{}", logs(&bed, &server));
}

/// The server changes its mapping: at the next renewal it NAKs the old
/// address; the holder lets it go at once (its release hook says why),
/// leases the new one, and every node's status follows.
#[test]
fn a_nak_moves_the_vip_to_the_newly_mapped_address_and_the_hooks_say_why() {
    require_root!();
    let _serial = testbed::serial();
    let mut bed = bed().expect("testbed");
    let mut server = Dnsmasq::start(&mut bed, true).expect("dnsmasq");
    bed.start_all().expect("start");
    wait_leased_by_a(&bed, &server);
    let other = Ipv4Addr::new(192, 0, 2, 101);
    server.remap(other).expect("remap");
    let moved = wait_until(SETUP, || link_has(&bed, A, other));
    assert!(
        moved,
        "node-a never leased {other}\n{}",
        logs(&bed, &server)
    );
    assert!(!link_has_vip(&bed, A), "the refused address is gone");
    assert!(
        server.log().contains("DHCPNAK"),
        "dnsmasq said no\n{}",
        server.log()
    );
    let hooks = hooks_log(&bed, A);
    let release = format!("release {VIP} {VIP_MAC} selecting nak");
    let acquire = format!("acquire {other} {VIP_MAC} bound");
    let (r, a) = (hooks.find(&release), hooks.find(&acquire));
    assert!(
        r.is_some() && a.is_some() && r < a,
        "hooks, in order, {release:?} then {acquire:?}:\n{hooks}"
    );
    every_node_names(&bed, &other.to_string());
}

/// The holder changes while renewals are under way: `vipd move` around
/// the three nodes back to back, so each move lands while the new holder's
/// first renewal (sent the moment it takes the VIP) may still be in
/// flight. Every holder renews the lease it learned: dnsmasq ACKs the
/// same address and never sees a DISCOVER or sends a NAK after the first
/// lease; the client keeps reaching the VIP at the VIP MAC; renewals go on
/// every T1 through the last holder.
#[test]
fn renewals_go_on_while_the_holder_changes() {
    require_root!();
    let _serial = testbed::serial();
    let mut bed = bed().expect("testbed");
    let server = Dnsmasq::start(&mut bed, true).expect("dnsmasq");
    bed.start_all().expect("start");
    wait_leased_by_a(&bed, &server);
    stream_to_the_vip(&mut bed, &server);
    let count = |what: &str| server.log().lines().filter(|l| l.contains(what)).count();
    let discovers = count("DHCPDISCOVER");
    let start = wall_now();
    let names: Vec<String> = bed.nodes.iter().map(|n| n.id.name.clone()).collect();
    let mut holder = A;
    // Six moves back to back, then six a third of T1 apart: both land in
    // and between renewals.
    for n in 0..12 {
        let to = (holder + 1) % 3;
        let acks = server.acks();
        let out = bed
            .vipd_cmd(holder, &["move", "--to", &names[to]])
            .expect("vipd move");
        assert!(
            out.status.success(),
            "move {} -> {}: {}\n{}",
            names[holder],
            names[to],
            String::from_utf8_lossy(&out.stderr),
            logs(&bed, &server)
        );
        assert_eq!(
            holders(&bed),
            vec![to],
            "{} holds after the move",
            names[to]
        );
        holder = to;
        if n >= 6 {
            // This holder renews the lease it learned: an ACK comes.
            let renewed = wait_until(Duration::from_secs(u64::from(T1_SECS) + 2), || {
                server.acks() > acks
            });
            assert!(
                renewed,
                "{} never renewed\n{}",
                names[to],
                logs(&bed, &server)
            );
            std::thread::sleep(Duration::from_millis(u64::from(T1_SECS) * 1000 / 3));
        }
    }
    let acks = server.acks();
    let renewed = wait_until(Duration::from_secs(3 * u64::from(T1_SECS)), || {
        server.acks() >= acks + 2
    });
    assert!(
        renewed,
        "no renewals by {}\n{}",
        names[holder],
        logs(&bed, &server)
    );
    let end = wall_now();
    let record = bed.stop_stream().expect("stream");
    assert_eq!(count("DHCPNAK"), 0, "no NAK\n{}", server.log());
    assert_eq!(
        count("DHCPDISCOVER"),
        discovers,
        "every holder renewed what it learned; none started over\n{}",
        server.log()
    );
    assert!(
        server
            .log()
            .lines()
            .filter(|l| l.contains("DHCPACK"))
            .all(|l| l.contains(&VIP.to_string())),
        "every ACK is for {VIP}\n{}",
        server.log()
    );
    assert_eq!(holders(&bed), vec![holder]);
    let (mac, _) = bed.client_neigh().expect("a neighbour entry for the VIP");
    assert_eq!(mac, VIP_MAC);
    let times: Vec<f64> = record
        .replies
        .iter()
        .map(|r| r.0)
        .filter(|&t| t >= start && t <= end)
        .collect();
    let gap = times.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);
    let bound = testbed::quorum_loss_bound(RENEW_MS).as_secs_f64();
    println!(
        "DHCP VIP, 12 moves through renewals: {} ACKs, largest client gap {:.1} ms (bound {:.1} ms)",
        server.acks(),
        gap * 1e3,
        bound * 1e3
    );
    assert!(
        times.len() > 1000,
        "the client kept reaching the VIP: {} replies",
        times.len()
    );
    assert!(
        gap <= bound,
        "client gap {:.1} ms\n{}",
        gap * 1e3,
        logs(&bed, &server)
    );
}
