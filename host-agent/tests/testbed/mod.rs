//! A failover testbed of network namespaces: VRRP nodes and one client on a
//! bridge, all owned by one [`Testbed`] value.
//!
//! ```text
//!   netns …-n0 (node-a)   …-n1 (node-b)   …-n2 (node-c)   …-cl (client)
//!    eth0 192.0.2.11       eth0 .12        eth0 .13        eth0 .50
//!      |                     |               |               |
//!   ---p0--------------------p1--------------p2--------------pc---  br0
//!                       netns …-sw (the switch)
//! ```
//!
//! Every namespace name carries the process id and a counter, so tests in
//! parallel threads and leftovers of other runs never collide; interface
//! names (`eth0`, `p0`, `br0`) live inside those namespaces, so they are
//! short and fixed. The bridge lives in its own namespace: the root
//! namespace is never touched and sends no traffic. Dropping the testbed
//! (also while a test panics) kills every process it started and deletes
//! every namespace, which deletes the veths and the bridge with them.
//!
//! Faults act on the switch port (`p0`…): taking it down removes the
//! node's carrier, as pulling its cable or powering it off would. They go
//! through one `ip -batch -` process started in advance, so a port goes down
//! within a millisecond of the order, the same moment as a kill -9.
//!
//! Needs root and [`TOOLS`] ([`KEEPALIVED_TOOLS`] with keepalived peers or
//! an advert capture); a test starts with `testbed::can_run(SUITE, TOOLS)`,
//! which skips on a developer's machine and fails in CI without them.

#![allow(dead_code)]

pub mod capture;
pub mod etcd;
pub mod inject;
pub mod peers;
pub mod scenario;
pub mod stream;
pub mod tls;

use std::fs::{self, File};
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::time::Duration;

use crate::netns::{self, kill_group, Net};
// Part of the harness API; not every crate that includes it uses each one.
#[allow(unused_imports)]
pub use crate::netns::{can_run, ip, is_root, serial, signal, wait_until};
pub use peers::Peer;
pub use stream::{wall_now, Outcome, Record, Stream};

/// The programs every testbed runs besides vipd: `ip` and `sysctl` build
/// it (the client prober is ours, in `stream`; tcpdump's segment capture is
/// optional).
pub const TOOLS: &[&str] = &["ip", "sysctl"];

/// [`TOOLS`] plus what keepalived peers and an advert capture run.
pub const KEEPALIVED_TOOLS: &[&str] = &["ip", "sysctl", "tcpdump", "keepalived"];

/// The virtual IP every node contends for.
pub const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 100);
/// The VRRP virtual router id of every node.
pub const VRID: u8 = 51;
/// The client's address.
pub const CLIENT_ADDR: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 50);
/// The advert interval of the failover tests.
pub const ADVERT_MS: u32 = 10;
/// The issue's bound on the client-visible gap: 3 × advert_interval + 50 ms.
pub const fn gap_bound(advert_ms: u32) -> Duration {
    Duration::from_millis(3 * advert_ms as u64 + 50)
}
/// The gap bound after a quorum holder renewing every `renew_ms` is lost:
/// the election's liveness bound at the default lease, drift and fence
/// margin (promises run out, one round, a lost round) plus 50 ms for the
/// client's own ARP and scheduling, as the VRRP bound allows.
pub fn quorum_loss_bound(renew_ms: u32) -> Duration {
    let r = vip_core::Duration::from_millis(u64::from(renew_ms));
    let p = vip_core::QuorumSettings::default_lease(r);
    let b = vip_core::election::quorum::timing::liveness_bound(
        r,
        p,
        500,
        vip_core::Duration::from_millis(1),
        1,
    );
    Duration::from_micros(b.total_micros()) + Duration::from_millis(50)
}

/// Generous deadline for setup steps (daemons start, a first holder
/// settles) on a loaded two-core machine; never used for a measurement.
pub const SETUP: Duration = Duration::from_secs(15);

/// A node's name and addresses.
#[derive(Debug, Clone)]
pub struct NodeAddr {
    /// `node-a`, `node-b`, …
    pub name: String,
    /// 192.0.2.11, .12, …
    pub addr: Ipv4Addr,
    /// Its eth0 MAC, 02:00:00:00:00:0N (N = index + 1).
    pub mac: String,
}

/// One node of the testbed.
#[derive(Debug)]
pub struct Node {
    pub id: NodeAddr,
    pub peer: Peer,
    /// Its namespace.
    pub ns: String,
    /// Its port on the bridge, in the switch namespace.
    pub port: String,
    /// The config file its daemon reads.
    pub config: PathBuf,
    /// vipd's status socket (unused for keepalived).
    pub socket: PathBuf,
    /// Where the daemon's stdout and stderr go.
    pub log: PathBuf,
    daemon: Option<Child>,
    /// Set by a power-off: the node is not live until restarted.
    pub off: bool,
    /// Set while its switch port is down: live, but cut off.
    pub unplugged: bool,
}

/// Namespaces, bridge and processes of one test.
#[derive(Debug)]
pub struct Testbed {
    pub prefix: String,
    pub switch_ns: String,
    pub client_ns: String,
    pub nodes: Vec<Node>,
    pub advert_ms: u32,
    vipd: PathBuf,
    net: Net,
    dir: tempfile::TempDir,
    fault_line: Option<(Child, ChildStdin)>,
    stream: Option<Stream>,
    segment: Option<Child>,
    /// The client prober's interval between echo requests.
    pub ping_interval: Duration,
    /// Run every daemon under SCHED_RR priority 10, as dist/vipd.service
    /// runs vipd (`chrt`; the bench sets it).
    pub realtime: bool,
    /// The MAC every holder answers for the VIP with, when one is shared
    /// (`virtual_mac = true`, the DHCP VIP); `None`: each node's own.
    pub vip_mac: Option<String>,
}

impl Testbed {
    /// Builds the namespaces, bridge and links for `peers` (node i gets
    /// 192.0.2.(11 + i)) plus the client, and writes each node's config.
    /// Starts nothing. `vipd` is the binary to run.
    pub fn new(vipd: &Path, peers: &[Peer], advert_ms: u32) -> Result<Self, String> {
        let (pid, n) = netns::unique();
        let prefix = format!("vtb-{pid}-{n}");
        let dir = netns::temp_dir(&format!("{prefix}-"))?;
        let ids: Vec<NodeAddr> = (0..peers.len())
            .map(|i| NodeAddr {
                name: format!("node-{}", (b'a' + i as u8) as char),
                addr: Ipv4Addr::new(192, 0, 2, 11 + i as u8),
                mac: format!("02:00:00:00:00:{:02x}", i + 1),
            })
            .collect();
        let mut bed = Testbed {
            switch_ns: format!("{prefix}-sw"),
            client_ns: format!("{prefix}-cl"),
            prefix,
            nodes: Vec::new(),
            advert_ms,
            vipd: vipd.to_path_buf(),
            net: Net::new(),
            dir,
            fault_line: None,
            stream: None,
            segment: None,
            ping_interval: stream::PING_INTERVAL,
            realtime: false,
            vip_mac: None,
        };
        // Built into `bed` step by step, so Drop removes a half-made testbed.
        let sw = bed.switch_ns.clone();
        bed.net.add_ns(&sw)?;
        bed.net.add_bridge(&sw, "br0")?;
        for (i, (id, peer)) in ids.iter().zip(peers).enumerate() {
            let ns = format!("{}-n{i}", bed.prefix);
            let port = format!("p{i}");
            bed.net.add_ns(&ns)?;
            bed.plug(&ns, &port, &id.mac, id.addr)?;
            let config = bed.dir.path().join(format!("{}.conf", id.name));
            let socket = bed.dir.path().join(format!("{}.sock", id.name));
            let text = match *peer {
                Peer::Vipd { priority, checksum } => {
                    peers::vipd_config(id, &ids, priority, checksum, advert_ms, &socket)
                }
                Peer::Keepalived { priority } => peers::keepalived_config(id, priority, advert_ms),
                Peer::Quorum { priority, .. } => {
                    let key = bed.key_file()?;
                    peers::quorum_config(id, &ids, peers, priority, advert_ms, &socket, &key)
                }
                Peer::Etcd { priority, ttl_s } => {
                    peers::etcd_config(id, &ids, priority, ttl_s, &socket)
                }
            };
            fs::write(&config, text).map_err(|e| format!("write config: {e}"))?;
            bed.nodes.push(Node {
                log: bed.dir.path().join(format!("{}.log", id.name)),
                id: id.clone(),
                peer: *peer,
                ns,
                port,
                config,
                socket,
                daemon: None,
                off: false,
                unplugged: false,
            });
        }
        let cl = bed.client_ns.clone();
        bed.net.add_ns(&cl)?;
        bed.plug(&cl, "pc", "02:00:00:00:00:50", CLIENT_ADDR)?;
        // ARP, VRRP and quorum frames on the whole segment, kept with the logs if the
        // test fails (ping's 500 echoes a second are left out).
        let segment = netns::exec_in(&sw)
            .args(["tcpdump", "-i", "br0", "-U", "-s", "256", "-w"])
            .arg(bed.dir.path().join("segment.pcap"))
            .args([
                "arp", "or", "ip", "proto", "112", "or", "ether", "proto", "0x88b5",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        bed.segment = segment.ok();
        let mut ctl = Command::new("ip")
            .args(["-n", &sw, "-batch", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("spawn ip -batch: {e}"))?;
        let stdin = ctl.stdin.take().ok_or("ip -batch has no stdin")?;
        bed.fault_line = Some((ctl, stdin));
        Ok(bed)
    }

    /// Connects namespace `ns` to the bridge: `eth0` there, `port` on br0.
    fn plug(&self, ns: &str, port: &str, mac: &str, addr: Ipv4Addr) -> Result<(), String> {
        self.net
            .plug(&self.switch_ns, "br0", port, ns, "eth0", mac, addr)
    }

    /// Turns on `virtual_mac = true` in every vipd VRRP node's config: the
    /// holder answers for the VIP with the virtual router MAC, so a move
    /// only re-teaches the switch. Call before starting the daemons.
    pub fn use_virtual_mac(&mut self) -> Result<(), String> {
        for node in &self.nodes {
            if !matches!(node.peer, Peer::Vipd { .. }) {
                return Err(format!(
                    "{}: virtual_mac is a vipd VRRP option",
                    node.id.name
                ));
            }
            let text = fs::read_to_string(&node.config).map_err(|e| e.to_string())?;
            if !text.contains("[election]\n") {
                return Err(format!("no [election] in {}", node.config.display()));
            }
            let text = text.replace("[election]\n", "[election]\nvirtual_mac = true\n");
            fs::write(&node.config, text).map_err(|e| e.to_string())?;
        }
        let mac = vip_core::wire::EthernetAddress(vip_core::wire::vrrp::virtual_router_mac(VRID));
        self.vip_mac = Some(vip_core::config::text::MacText(mac).to_string());
        Ok(())
    }

    /// The MAC that answers for the VIP while node `i` holds it.
    pub fn answering_mac(&self, i: usize) -> &str {
        self.vip_mac.as_deref().unwrap_or(&self.nodes[i].id.mac)
    }

    /// The temp directory of this testbed (configs, logs, sockets).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The quorum cluster key every node reads (written once, mode 0600).
    fn key_file(&self) -> Result<PathBuf, String> {
        use std::os::unix::fs::PermissionsExt as _;
        let path = self.dir.path().join("cluster.key");
        if !path.exists() {
            let key: Vec<u8> = (0..32u8)
                .map(|i| i.wrapping_mul(37).wrapping_add(11))
                .collect();
            fs::write(&path, key).map_err(|e| format!("write key: {e}"))?;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o600))
                .map_err(|e| format!("chmod key: {e}"))?;
        }
        Ok(path)
    }

    /// Starts node `i`'s daemon (vipd run or keepalived) in its namespace.
    pub fn start(&mut self, i: usize) -> Result<(), String> {
        let dir = self.dir.path().to_path_buf();
        let vipd = self.vipd.clone();
        let realtime = self.realtime;
        let node = &mut self.nodes[i];
        if let Some(old) = node.daemon.take() {
            kill_group(old);
        }
        let log = File::options()
            .create(true)
            .append(true)
            .open(&node.log)
            .map_err(|e| format!("open log: {e}"))?;
        let err = log.try_clone().map_err(|e| e.to_string())?;
        // `ip netns exec` execs the daemon, so the child's pid is the daemon's;
        // its own process group holds whatever it forks (keepalived's VRRP
        // child, hooks), so a power-off can kill them all at once.
        let mut cmd = netns::group_in(&node.ns);
        if realtime {
            // chrt execs the daemon: the pid stays the daemon's. vipd's
            // hooks fork back to the normal policy (as in the unit);
            // keepalived's VRRP child, which does its work, keeps it.
            cmd.arg("chrt");
            if node.peer.is_vipd() {
                cmd.arg("--reset-on-fork");
            }
            cmd.args(["--rr", "10"]);
        }
        match node.peer {
            Peer::Vipd { .. } | Peer::Quorum { .. } | Peer::Etcd { .. } => {
                cmd.arg(&vipd).arg("run").arg("--config").arg(&node.config);
                cmd.env("RUST_LOG", "info");
            }
            Peer::Keepalived { .. } => {
                let name = &node.id.name;
                // Power cycles clear /run: a pid file left by a killed run
                // whose process is still an unreaped zombie would make
                // keepalived refuse to start ("daemon is already running").
                for pid in ["pid", "vrrp.pid", "check.pid"] {
                    let _ = fs::remove_file(dir.join(format!("{name}.{pid}")));
                }
                cmd.args(["keepalived", "-n", "-l", "-D", "--vrrp", "-f"])
                    .arg(&node.config)
                    .arg("-p")
                    .arg(dir.join(format!("{name}.pid")))
                    .arg("-r")
                    .arg(dir.join(format!("{name}.vrrp.pid")))
                    .arg("-c")
                    .arg(dir.join(format!("{name}.check.pid")));
            }
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("spawn daemon on {}: {e}", node.id.name))?;
        node.daemon = Some(child);
        node.off = false;
        Ok(())
    }

    /// Starts every node's daemon.
    pub fn start_all(&mut self) -> Result<(), String> {
        for i in 0..self.nodes.len() {
            self.start(i)?;
        }
        Ok(())
    }

    /// The process id of node `i`'s daemon (its process group's leader).
    pub fn daemon_pid(&self, i: usize) -> Option<u32> {
        self.nodes[i].daemon.as_ref().map(Child::id)
    }

    /// Whether node `i`'s daemon is still running.
    pub fn running(&mut self, i: usize) -> bool {
        match self.nodes[i].daemon.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Whether node `i` has a daemon we started and did not kill or reap.
    pub fn has_daemon(&self, i: usize) -> bool {
        self.nodes[i].daemon.is_some()
    }

    /// Sends `sig` to node `i`'s daemon.
    pub fn signal(&self, i: usize, sig: rustix::process::Signal) {
        if let Some(c) = &self.nodes[i].daemon {
            signal(c, sig);
        }
    }

    /// Waits up to `timeout` for node `i`'s daemon to exit; its status.
    pub fn wait_exit(&mut self, i: usize, timeout: Duration) -> Option<std::process::ExitStatus> {
        let child = self.nodes[i].daemon.as_mut()?;
        let status = netns::wait_exit(child, timeout, Duration::from_millis(5))?;
        self.nodes[i].daemon = None;
        Some(status)
    }

    /// kill -9 of node `i`'s daemon process (not its group); the node stays
    /// up. Returns the wall time of the kill.
    pub fn crash(&mut self, i: usize) -> f64 {
        let t = wall_now();
        if let Some(mut c) = self.nodes[i].daemon.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        t
    }

    /// Power-off of node `i`: its switch port goes down and its daemon gets
    /// kill -9, at once. Returns the wall time of the fault.
    pub fn power_off(&mut self, i: usize) -> Result<f64, String> {
        let port = self.nodes[i].port.clone();
        let t = wall_now();
        self.fault(&format!("link set {port} down"))?;
        if let Some(c) = self.nodes[i].daemon.take() {
            kill_group(c);
        }
        self.nodes[i].off = true;
        Ok(t)
    }

    /// Takes node `i`'s switch port down (its carrier goes). Wall time.
    pub fn link_down(&mut self, i: usize) -> Result<f64, String> {
        let port = self.nodes[i].port.clone();
        let t = wall_now();
        self.fault(&format!("link set {port} down"))?;
        self.nodes[i].unplugged = true;
        Ok(t)
    }

    /// Brings node `i`'s switch port back up. Wall time.
    pub fn link_up(&mut self, i: usize) -> Result<f64, String> {
        let port = self.nodes[i].port.clone();
        let t = wall_now();
        self.fault(&format!("link set {port} up"))?;
        self.nodes[i].unplugged = false;
        Ok(t)
    }

    /// Powers node `i` back on: port up (its stale VIP, if any, still on
    /// eth0, as after a crash), then its daemon starts.
    pub fn power_on(&mut self, i: usize) -> Result<(), String> {
        let port = self.nodes[i].port.clone();
        ip(&["-n", &self.switch_ns, "link", "set", &port, "up"])?;
        self.nodes[i].unplugged = false;
        self.start(i)
    }

    fn fault(&mut self, line: &str) -> Result<(), String> {
        let (_, stdin) = self.fault_line.as_mut().ok_or("no fault line")?;
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .and_then(|()| stdin.flush())
            .map_err(|e| format!("ip -batch: {e}"))
    }

    /// Runs `vipd ARGS` in node `i`'s namespace (e.g. `cleanup`, `status`).
    pub fn vipd_cmd(&self, i: usize, args: &[&str]) -> Result<Output, String> {
        let node = &self.nodes[i];
        netns::exec_in(&node.ns)
            .arg(&self.vipd)
            .args(args)
            .arg("--config")
            .arg(&node.config)
            .output()
            .map_err(|e| format!("vipd {}: {e}", args.join(" ")))
    }

    /// `vipd status --get vipHost` on node `i`, trimmed.
    pub fn vip_host(&self, i: usize) -> Result<String, String> {
        let out = self.vipd_cmd(i, &["status", "--get", "vipHost"])?;
        if !out.status.success() {
            return Err(format!(
                "vipd status on {} failed ({}): {}",
                self.nodes[i].id.name,
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// Whether node `i` lists the VIP (`ip address show`): on eth0, or on
    /// the macvlan of a VIP MAC of its own (DHCP, `virtual_mac`).
    pub fn has_vip(&self, i: usize) -> bool {
        let node = &self.nodes[i];
        ip(&["-n", &node.ns, "-4", "-o", "address", "show"])
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .split_whitespace()
                    .any(|w| w == format!("{VIP}/32") || w.starts_with(&format!("{VIP}/")))
            })
            .unwrap_or(false)
    }

    /// The live (not powered-off) nodes that list the VIP.
    pub fn holders(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| !self.nodes[i].off && self.has_vip(i))
            .collect()
    }

    /// The MAC of the client's neighbour entry for the VIP and its state.
    pub fn client_neigh(&self) -> Option<(String, String)> {
        let o = ip(&[
            "-n",
            &self.client_ns,
            "neigh",
            "show",
            &VIP.to_string(),
            "dev",
            "eth0",
        ])
        .ok()?;
        // "192.0.2.100 lladdr 02:00:00:00:00:01 REACHABLE"
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        let words: Vec<&str> = text.split_whitespace().collect();
        let mac = words
            .iter()
            .position(|w| *w == "lladdr")
            .and_then(|p| words.get(p + 1))?;
        Some((mac.to_string(), words.last().unwrap_or(&"").to_string()))
    }

    /// Waits up to `timeout` for the client's neighbour entry to show node `i`.
    pub fn wait_client_points_at(&self, i: usize, timeout: Duration) -> bool {
        wait_until(timeout, || self.client_points_at() == Some(i))
    }

    /// The node the client's traffic to the VIP reaches: the one whose MAC
    /// its neighbour entry shows or, with a shared VIP MAC in that entry,
    /// the one whose switch port the bridge has learned that MAC on.
    pub fn client_points_at(&self) -> Option<usize> {
        let (mac, _) = self.client_neigh()?;
        match &self.vip_mac {
            None => self.nodes.iter().position(|n| n.id.mac == mac),
            Some(shared) if *shared == mac => {
                let port = self.switch_port_of(shared)?;
                self.nodes.iter().position(|n| n.port == port)
            }
            Some(_) => None,
        }
    }

    /// The bridge port the switch has learned `mac` on (`bridge fdb`).
    pub fn switch_port_of(&self, mac: &str) -> Option<String> {
        let out = Command::new("bridge")
            .args(["-n", &self.switch_ns, "fdb", "show", "br", "br0"])
            .output()
            .ok()?;
        // "00:00:5e:00:01:33 dev p1 master br0"
        String::from_utf8_lossy(&out.stdout).lines().find_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            (w.first() == Some(&mac) && w.get(1) == Some(&"dev"))
                .then(|| w.get(2).map(|p| p.to_string()))
                .flatten()
        })
    }

    /// Cuts node `i` off the segment without taking its carrier: its switch
    /// port moves to a bridge of its own (`br-cut`). [`Testbed::heal`] undoes it.
    pub fn isolate(&mut self, i: usize) -> Result<f64, String> {
        let sw = self.switch_ns.clone();
        if ip(&["-n", &sw, "link", "show", "br-cut"]).is_err() {
            self.net.add_bridge(&sw, "br-cut")?;
        }
        let port = self.nodes[i].port.clone();
        let t = wall_now();
        self.fault(&format!("link set {port} master br-cut"))?;
        Ok(t)
    }

    /// Puts node `i`'s port back on the segment's bridge.
    pub fn heal(&mut self, i: usize) -> Result<f64, String> {
        let port = self.nodes[i].port.clone();
        let t = wall_now();
        self.fault(&format!("link set {port} master br0"))?;
        Ok(t)
    }

    /// Plugs one more host (`name`, namespace `…-name`) into the bridge with
    /// `mac` and `addr`; returns its namespace. It runs nothing.
    pub fn add_host(&mut self, name: &str, mac: &str, addr: Ipv4Addr) -> Result<String, String> {
        let ns = format!("{}-{name}", self.prefix);
        self.net.add_ns(&ns)?;
        self.plug(&ns, &format!("p{name}"), mac, addr)?;
        Ok(ns)
    }

    /// Starts capturing ARP and ICMP answers on the client's eth0.
    pub fn capture_answers(&self) -> Result<capture::AnswerCapture, String> {
        let file = self.dir.path().join(format!("client-{}.pcap", wall_now()));
        capture::AnswerCapture::start(&self.client_ns, &file)
    }

    /// The wall time of the first line of node `i`'s log after `after` that
    /// contains `pattern` (log lines start with an RFC 3339 UTC time).
    pub fn log_time(&self, i: usize, pattern: &str, after: f64) -> Option<f64> {
        self.log(i)
            .lines()
            .filter(|l| l.contains(pattern))
            .filter_map(|l| parse_rfc3339(l.split_whitespace().next()?))
            .find(|&t| t > after)
    }

    /// Starts the client stream (ping) to the VIP.
    pub fn start_stream(&mut self) -> Result<(), String> {
        let out = self.dir.path().join(format!("stream-{}.txt", wall_now()));
        self.stream = Some(Stream::start(&self.client_ns, &out, self.ping_interval)?);
        Ok(())
    }

    /// Starts capturing VRRP adverts on the bridge.
    pub fn capture(&self) -> Result<capture::Capture, String> {
        let file = self.dir.path().join(format!("vrrp-{}.pcap", wall_now()));
        capture::Capture::start(&self.switch_ns, &file)
    }

    /// The running stream.
    pub fn stream(&self) -> Option<&Stream> {
        self.stream.as_ref()
    }

    /// Stops the client stream and returns its record.
    pub fn stop_stream(&mut self) -> Option<Record> {
        self.stream.take().map(Stream::stop)
    }

    /// Waits until exactly one live node holds the VIP, the client points
    /// at it and the stream flows through it; the holder.
    pub fn settle(&self, timeout: Duration) -> Result<usize, String> {
        let start = wall_now();
        let mut holder = None;
        let ok = wait_until(timeout, || {
            let h = self.holders();
            holder = (h.len() == 1).then(|| h[0]);
            holder.is_some()
                && self.client_points_at() == holder
                && self
                    .stream
                    .as_ref()
                    .is_none_or(|s| s.wait_flowing(start.max(wall_now() - 0.5), 50, Duration::ZERO))
        });
        match (ok, holder) {
            (true, Some(h)) => Ok(h),
            _ => Err(format!(
                "no single settled holder within {timeout:?}: holders {:?}, client points at {:?}\n{}",
                self.holders(),
                self.client_neigh(),
                self.logs_tail(15)
            )),
        }
    }

    /// The last `lines` lines of every daemon log, for failure messages.
    pub fn logs_tail(&self, lines: usize) -> String {
        let mut s = String::new();
        for n in &self.nodes {
            let text = fs::read_to_string(&n.log).unwrap_or_default();
            let all: Vec<&str> = text.lines().collect();
            s.push_str(&format!("--- {} ({:?}) log tail:\n", n.id.name, n.peer));
            for l in &all[all.len().saturating_sub(lines)..] {
                s.push_str(l);
                s.push('\n');
            }
        }
        s
    }

    /// The whole log of node `i`.
    pub fn log(&self, i: usize) -> String {
        fs::read_to_string(&self.nodes[i].log).unwrap_or_default()
    }
}

/// `2026-12-01T23:36:55.060698Z` as Unix seconds.
fn parse_rfc3339(text: &str) -> Option<f64> {
    let (date, time) = text.strip_suffix('Z')?.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let mut t = time.split(':');
    let (h, min) = (
        t.next()?.parse::<i64>().ok()?,
        t.next()?.parse::<i64>().ok()?,
    );
    let sec: f64 = t.next()?.parse().ok()?;
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + h * 3600 + min * 60) as f64 + sec)
}

impl Drop for Testbed {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // Keep configs, daemon logs, ping output and segment.pcap.
            self.dir.disable_cleanup(true);
            eprintln!(
                "testbed {} failed; kept {}; daemon logs:\n{}",
                self.prefix,
                self.dir.path().display(),
                self.logs_tail(40)
            );
        }
        self.stream.take();
        if let Some(c) = self.segment.take() {
            // SIGINT and time to drain: on a starved host tcpdump lags.
            netns::interrupt(c, Duration::from_secs(1));
        }
        for node in &mut self.nodes {
            if let Some(c) = node.daemon.take() {
                kill_group(c);
            }
        }
        if let Some((mut ctl, stdin)) = self.fault_line.take() {
            drop(stdin);
            let _ = ctl.kill();
            let _ = ctl.wait();
        }
        // Then `net` drops: every namespace goes, with the veths and bridge.
    }
}
