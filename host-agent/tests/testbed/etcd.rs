//! A real three-member etcd cluster (Debian's etcd-server, 3.4) on the
//! testbed's bridge, for the etcd election (`protocol = "etcd"`).
//!
//! ```text
//!   netns …-n0 … …-cl (the testbed)   …-e0 (etcd-0)  …-e1 (etcd-1)  …-e2 (etcd-2)
//!                                      eth0 .31       eth0 .32       eth0 .33
//!                                      02:…:00:31     …:32           …:33
//!   ---p0---…---pc---------------------pe0------------pe1------------pe2---  br0
//!                             netns …-sw (the switch)
//! ```
//!
//! The members' namespaces are the testbed's own hosts
//! ([`Testbed::add_host`]), so the testbed deletes them with the rest.
//! Each member runs `etcd` under `ip netns exec` in a process group of its
//! own: client URL `http://192.0.2.3X:2379`, peer URL `:2380`, static
//! bootstrap (`--initial-cluster`), `--pre-vote` (not the default before
//! 3.5), its data directory on tmpfs (`/dev/shm`, so fsync costs nothing),
//! its log in the testbed's temp directory (`etcd-N.log`, kept with the
//! others when a test fails).
//!
//! Cutting a node off etcd ([`EtcdCluster::cut_node`]) is a filter in the
//! switch: an nftables `bridge` table drops every frame forwarded between a
//! cut port and an etcd member's port, both ways, ARP included; the node
//! keeps its carrier and still reaches the client and the other nodes. A
//! cut is one atomic `nft` command (an element added to a set).
//!
//! With TLS ([`EtcdCluster::start_tls`]) the cluster runs as an RKE2 or
//! Harvester cluster's etcd does: a private CA (`testbed::tls`, made with
//! `openssl` in the testbed's temp directory, `etcd-tls/`), one certificate
//! per member with its address as IP SAN, used for both its client port and
//! its peers, and client certificates required on both
//! (`--client-cert-auth`, `--peer-client-cert-auth`). Every URL is then
//! `https://`, and the harness's `etcdctl` presents the CA and a client
//! certificate of its own (`--cacert --cert --key`). [`EtcdCluster::start`]
//! is plain http, as before.
//!
//! Dropping the cluster (also while a test panics) kills every member's
//! process group and removes the data directories; the testbed's drop then
//! deletes the namespaces, which takes the veths and the nftables table
//! with them. Declare the cluster after the testbed so that it drops first.
//! Nothing runs in, or listens on, the root namespace: the Debian package's
//! own service (127.0.0.1:2379) is neither used nor in the way.

use std::fs::{self, File};
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use super::tls::{Ca, Pair};
use super::{wall_now, Testbed, SETUP};
use crate::netns::{self, kill_group};

/// What the cluster runs besides the testbed's tools.
pub const TOOLS: &[&str] = &["ip", "sysctl", "etcd", "etcdctl", "nft"];

/// What a cluster with TLS ([`EtcdCluster::start_tls`]) runs: [`TOOLS`]
/// and `openssl`.
pub const TLS_TOOLS: &[&str] = &["ip", "sysctl", "etcd", "etcdctl", "nft", "openssl"];

/// Members of the cluster.
pub const MEMBERS: usize = 3;

/// The client port of every member.
pub const CLIENT_PORT: u16 = 2379;

/// The peer port of every member.
pub const PEER_PORT: u16 = 2380;

/// The nftables table (bridge family) in the switch namespace.
const TABLE: &str = "vipd_etcd";

/// Member `i`'s address: 192.0.2.31, .32, .33.
pub fn member_addr(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(192, 0, 2, 31 + i as u8)
}

/// Member `i`'s MAC: 02:00:00:00:00:31, …:32, …:33 (its address's digits).
pub fn member_mac(i: usize) -> String {
    format!("02:00:00:00:00:{}", 31 + i)
}

/// Member `i`'s name, `etcd-0`….
pub fn member_name(i: usize) -> String {
    format!("etcd-{i}")
}

/// etcd's Raft timing. etcd's defaults (100 ms heartbeat, 1 s election
/// timeout) are what an operator's cluster runs, so the testbed uses them.
/// Note that etcd raises every lease TTL to at least
/// ceil(1.5 × election timeout) in seconds ([`Tuning::min_lease_ttl`]):
/// 2 s at the default, 1 s at 500 ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tuning {
    /// `--heartbeat-interval`, milliseconds.
    pub heartbeat_ms: u32,
    /// `--election-timeout`, milliseconds.
    pub election_ms: u32,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            heartbeat_ms: 100,
            election_ms: 1000,
        }
    }
}

impl Tuning {
    /// The shortest lease TTL etcd grants, in seconds: etcd 3.4's lessor is
    /// built with `MinLeaseTTL = ceil(((3 × election ticks) / 2) ×
    /// heartbeat)`, election ticks = election timeout / heartbeat.
    pub fn min_lease_ttl(&self) -> u64 {
        let ticks = u64::from(self.election_ms / self.heartbeat_ms);
        let ms = (3 * ticks / 2) * u64::from(self.heartbeat_ms);
        ms.div_ceil(1000)
    }
}

/// One member.
#[derive(Debug)]
pub struct Member {
    /// `etcd-0`, …
    pub name: String,
    /// Its namespace, `…-e0`.
    pub ns: String,
    /// Its port on the bridge, `pe0`.
    pub port: String,
    /// 192.0.2.31, …
    pub addr: Ipv4Addr,
    /// etcd's stdout and stderr (appended to across restarts).
    pub log: PathBuf,
    /// Its data directory, on tmpfs.
    pub data: PathBuf,
    /// Its certificate (server and peer, IP SAN its address), with TLS.
    pub cert: Option<Pair>,
    child: Option<Child>,
}

impl Member {
    /// `http://192.0.2.3X:2379` (`https://` with TLS).
    pub fn client_url(&self) -> String {
        format!("{}://{}:{CLIENT_PORT}", self.scheme(), self.addr)
    }

    /// `http://192.0.2.3X:2380` (`https://` with TLS).
    pub fn peer_url(&self) -> String {
        format!("{}://{}:{PEER_PORT}", self.scheme(), self.addr)
    }

    fn scheme(&self) -> &'static str {
        if self.cert.is_some() {
            "https"
        } else {
            "http"
        }
    }
}

/// The PKI of a cluster started with TLS: its CA, and etcdctl's client
/// certificate (the members' are [`Member::cert`]).
#[derive(Debug)]
pub struct EtcdTls {
    /// The CA that signed every member's and client's certificate; what
    /// `--trusted-ca-file` (both ports) and a client's `etcd.ca_file` name.
    pub ca: Ca,
    /// The harness's `etcdctl` client certificate (CN `etcdctl`).
    pub etcdctl: Pair,
    /// Where the files are (`etcd-tls/` in the testbed's temp directory).
    pub dir: PathBuf,
}

impl EtcdTls {
    /// A client certificate for `subject` (a node's name), signed by the
    /// cluster's CA: what a vipd node's `etcd.cert_file` and `key_file` name.
    pub fn client(&self, subject: &str) -> Result<Pair, String> {
        self.ca.client(subject)
    }
}

/// A three-member etcd cluster on a testbed's bridge.
#[derive(Debug)]
pub struct EtcdCluster {
    pub members: Vec<Member>,
    /// The testbed's switch namespace (where the cut filter lives).
    pub switch_ns: String,
    /// The Raft timing every member runs.
    pub tuning: Tuning,
    /// How long the first start took, from the first spawn to every member
    /// reporting healthy.
    pub startup: Duration,
    /// The PKI, when the cluster runs TLS ([`EtcdCluster::start_tls`]).
    pub tls: Option<EtcdTls>,
    /// Switch ports currently cut off from the members.
    cut: Vec<String>,
    token: String,
    /// The members' data directories (removed on drop).
    data: tempfile::TempDir,
}

impl EtcdCluster {
    /// Adds three members to `bed` (namespaces `…-e0..e2` on its bridge),
    /// starts etcd in each with the default [`Tuning`] and waits up to
    /// [`SETUP`] until all three report healthy.
    pub fn start(bed: &mut Testbed) -> Result<Self, String> {
        Self::start_with(bed, Tuning::default())
    }

    /// [`EtcdCluster::start`] with this Raft timing.
    pub fn start_with(bed: &mut Testbed, tuning: Tuning) -> Result<Self, String> {
        Self::start_inner(bed, tuning, false)
    }

    /// [`EtcdCluster::start`] with TLS on the client and the peer ports, as
    /// an RKE2 cluster runs etcd: makes a CA (`etcd-tls/` in the testbed's
    /// temp directory), a certificate per member (IP SAN its address) and
    /// one for the harness's etcdctl, and starts every member with
    /// `--client-cert-auth` and `--peer-client-cert-auth`. Every endpoint
    /// is `https://`; clients need [`EtcdTls::client`] certificates.
    pub fn start_tls(bed: &mut Testbed) -> Result<Self, String> {
        Self::start_tls_with(bed, Tuning::default())
    }

    /// [`EtcdCluster::start_tls`] with this Raft timing.
    pub fn start_tls_with(bed: &mut Testbed, tuning: Tuning) -> Result<Self, String> {
        Self::start_inner(bed, tuning, true)
    }

    fn start_inner(bed: &mut Testbed, tuning: Tuning, tls: bool) -> Result<Self, String> {
        let data = tempdir_on_tmpfs(&format!("{}-etcd-", bed.prefix))?;
        let pki = if tls {
            let dir = bed.dir().join("etcd-tls");
            let ca = Ca::new(&dir, "etcd")?;
            let etcdctl = ca.client("etcdctl")?;
            Some(EtcdTls { ca, etcdctl, dir })
        } else {
            None
        };
        let mut members = Vec::new();
        for i in 0..MEMBERS {
            let host = format!("e{i}");
            let ns = bed.add_host(&host, &member_mac(i), member_addr(i))?;
            let name = member_name(i);
            let cert = match &pki {
                Some(p) => Some(p.ca.server(&name, member_addr(i))?),
                None => None,
            };
            members.push(Member {
                log: bed.dir().join(format!("{name}.log")),
                data: data.path().join(&name),
                name,
                ns,
                port: format!("p{host}"),
                addr: member_addr(i),
                cert,
                child: None,
            });
        }
        let mut cluster = EtcdCluster {
            members,
            switch_ns: bed.switch_ns.clone(),
            tuning,
            startup: Duration::ZERO,
            tls: pki,
            cut: Vec::new(),
            token: bed.prefix.clone(),
            data,
        };
        // Built into `cluster` step by step, so Drop kills what started.
        cluster.install_filter()?;
        let spawned = Instant::now();
        for i in 0..MEMBERS {
            cluster.spawn(i)?;
        }
        cluster.wait_healthy(SETUP)?;
        cluster.startup = spawned.elapsed();
        Ok(cluster)
    }

    /// The client URLs of every member, `http://192.0.2.31:2379`, …
    /// (`https://…` with TLS).
    pub fn endpoints(&self) -> Vec<String> {
        self.members.iter().map(Member::client_url).collect()
    }

    /// The endpoints as etcdctl's `--endpoints` wants them (comma-joined).
    pub fn endpoints_arg(&self) -> String {
        self.endpoints().join(",")
    }

    /// `--initial-cluster`: `etcd-0=http://192.0.2.31:2380,…`.
    fn initial_cluster(&self) -> String {
        self.members
            .iter()
            .map(|m| format!("{}={}", m.name, m.peer_url()))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Starts member `i`'s etcd (its log appended to). The bootstrap flags
    /// only count on a fresh data directory: a restarted member rejoins
    /// with the identity its data directory holds.
    fn spawn(&mut self, i: usize) -> Result<(), String> {
        let initial = self.initial_cluster();
        let tuning = self.tuning;
        let token = self.token.clone();
        let ca = self.tls.as_ref().map(|t| t.ca.cert().to_path_buf());
        let m = &mut self.members[i];
        if let Some(old) = m.child.take() {
            kill_group(old);
        }
        let log = File::options()
            .create(true)
            .append(true)
            .open(&m.log)
            .map_err(|e| format!("open {}: {e}", m.log.display()))?;
        let err = log.try_clone().map_err(|e| e.to_string())?;
        let client = m.client_url();
        let peer = m.peer_url();
        let mut cmd = netns::group_in(&m.ns);
        clean_env(&mut cmd);
        cmd.arg("etcd")
            .args(["--name", &m.name])
            .arg("--data-dir")
            .arg(&m.data)
            .args(["--listen-client-urls", &client])
            .args(["--advertise-client-urls", &client])
            .args(["--listen-peer-urls", &peer])
            .args(["--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", &initial])
            .args(["--initial-cluster-state", "new"])
            .args(["--initial-cluster-token", &token])
            .arg("--pre-vote")
            .arg(format!("--heartbeat-interval={}", tuning.heartbeat_ms))
            .arg(format!("--election-timeout={}", tuning.election_ms))
            .args(["--logger", "zap", "--log-outputs", "stderr"]);
        if let (Some(ca), Some(cert)) = (&ca, &m.cert) {
            cmd.arg("--cert-file")
                .arg(&cert.cert)
                .arg("--key-file")
                .arg(&cert.key)
                .arg("--trusted-ca-file")
                .arg(ca)
                .arg("--client-cert-auth")
                .arg("--peer-cert-file")
                .arg(&cert.cert)
                .arg("--peer-key-file")
                .arg(&cert.key)
                .arg("--peer-trusted-ca-file")
                .arg(ca)
                .arg("--peer-client-cert-auth");
        }
        cmd.stdin(Stdio::null()).stdout(log).stderr(err);
        let child = cmd
            .spawn()
            .map_err(|e| format!("spawn etcd {}: {e}", m.name))?;
        m.child = Some(child);
        Ok(())
    }

    /// Whether member `i`'s etcd runs.
    pub fn running(&mut self, i: usize) -> bool {
        match self.members[i].child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// The process id of member `i`'s etcd (its process group's leader).
    pub fn pid(&self, i: usize) -> Option<u32> {
        self.members[i].child.as_ref().map(Child::id)
    }

    /// SIGKILL to member `i`'s process group; its data directory stays.
    /// Returns the wall time of the kill.
    pub fn kill(&mut self, i: usize) -> f64 {
        let t = wall_now();
        if let Some(c) = self.members[i].child.take() {
            kill_group(c);
        }
        t
    }

    /// Starts member `i` again (killing it first if it runs) on its data
    /// directory; waits up to [`SETUP`] until it reports healthy.
    pub fn restart(&mut self, i: usize) -> Result<(), String> {
        self.spawn(i)?;
        let ep = self.members[i].client_url();
        let ok = netns::wait_until_every(SETUP, Duration::from_millis(100), || {
            self.health(&ep).is_ok()
        });
        if ok {
            Ok(())
        } else {
            Err(format!(
                "{} not healthy within {SETUP:?} of its restart: {}\n{}",
                self.members[i].name,
                self.health(&ep).err().unwrap_or_default(),
                self.logs_tail(20)
            ))
        }
    }

    /// `etcdctl endpoint health` for `endpoints` (comma-joined) from
    /// member 0's namespace; `Err` with etcdctl's words unless all are
    /// healthy.
    pub fn health(&self, endpoints: &str) -> Result<(), String> {
        let out = self.etcdctl(&[
            "--endpoints",
            endpoints,
            "--dial-timeout=1s",
            "--command-timeout=2s",
            "endpoint",
            "health",
        ])?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// Waits up to `timeout` until every member reports healthy; how long
    /// it took.
    pub fn wait_healthy(&self, timeout: Duration) -> Result<Duration, String> {
        let start = Instant::now();
        let all = self.endpoints_arg();
        if netns::wait_until_every(timeout, Duration::from_millis(100), || {
            self.health(&all).is_ok()
        }) {
            return Ok(start.elapsed());
        }
        Err(format!(
            "etcd cluster not healthy within {timeout:?}: {}\n{}",
            self.health(&all).err().unwrap_or_default(),
            self.logs_tail(20)
        ))
    }

    /// Runs `etcdctl ARGS` (API v3) inside member 0's namespace, with every
    /// member as endpoint, a 2 s dial and a 5 s command timeout; `args` may
    /// override any of them (etcdctl takes the last value of a flag).
    pub fn etcdctl(&self, args: &[&str]) -> Result<Output, String> {
        self.etcdctl_in(&self.members[0].ns, args)
    }

    /// [`EtcdCluster::etcdctl`] from namespace `ns` (a node's, the client's).
    /// With TLS, etcdctl trusts the cluster's CA and presents its own client
    /// certificate (`--cacert --cert --key`; `args` may override them too).
    pub fn etcdctl_in(&self, ns: &str, args: &[&str]) -> Result<Output, String> {
        let mut cmd = netns::exec_in(ns);
        clean_env(&mut cmd);
        cmd.env("ETCDCTL_API", "3")
            .arg("etcdctl")
            .arg(format!("--endpoints={}", self.endpoints_arg()))
            .args(["--dial-timeout=2s", "--command-timeout=5s"]);
        if let Some(tls) = &self.tls {
            cmd.arg("--cacert")
                .arg(tls.ca.cert())
                .arg("--cert")
                .arg(&tls.etcdctl.cert)
                .arg("--key")
                .arg(&tls.etcdctl.key);
        }
        cmd.args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("etcdctl {}: {e}", args.join(" ")))
    }

    /// `etcdctl ARGS` (API v3) from namespace `ns` with nothing of the
    /// harness's: no endpoints, timeouts or TLS files unless `args` has
    /// them. For what a client without the cluster's credentials gets.
    pub fn etcdctl_bare_in(&self, ns: &str, args: &[&str]) -> Result<Output, String> {
        let mut cmd = netns::exec_in(ns);
        clean_env(&mut cmd);
        cmd.env("ETCDCTL_API", "3")
            .arg("etcdctl")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("etcdctl {}: {e}", args.join(" ")))
    }

    /// [`EtcdCluster::etcdctl`] that must succeed: its trimmed stdout, or
    /// an error with its stderr.
    pub fn etcdctl_ok(&self, args: &[&str]) -> Result<String, String> {
        let out = self.etcdctl(args)?;
        if !out.status.success() {
            return Err(format!(
                "etcdctl {} ({}): {}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// The nftables table that makes cuts: a set of etcd member ports, a
    /// set of cut ports (empty), and a forward-hook rule each way between
    /// them.
    fn install_filter(&self) -> Result<(), String> {
        let ports: Vec<String> = self
            .members
            .iter()
            .map(|m| format!("\"{}\"", m.port))
            .collect();
        let rules = format!(
            "table bridge {TABLE} {{\n\
             \x20 set etcd {{ type ifname; elements = {{ {} }} }}\n\
             \x20 set cut {{ type ifname; }}\n\
             \x20 chain forward {{\n\
             \x20   type filter hook forward priority 0; policy accept;\n\
             \x20   iifname @cut oifname @etcd counter drop\n\
             \x20   iifname @etcd oifname @cut counter drop\n\
             \x20 }}\n\
             }}\n",
            ports.join(", ")
        );
        nft(&self.switch_ns, &["-f", "-"], Some(&rules)).map(drop)
    }

    /// Cuts switch port `port` (a node's `p0`, a host's `pNAME`) off every
    /// etcd member, both ways, ARP included, leaving its carrier and its
    /// traffic to everyone else alone. Returns the wall time just before
    /// the (atomic) filter change.
    pub fn cut_port(&mut self, port: &str) -> Result<f64, String> {
        let t = wall_now();
        nft(
            &self.switch_ns,
            &[
                "add",
                "element",
                "bridge",
                TABLE,
                "cut",
                &format!("{{ \"{port}\" }}"),
            ],
            None,
        )?;
        if !self.cut.iter().any(|p| p == port) {
            self.cut.push(port.to_owned());
        }
        Ok(t)
    }

    /// Lets `port` reach the members again. Wall time before the change.
    pub fn heal_port(&mut self, port: &str) -> Result<f64, String> {
        let t = wall_now();
        nft(
            &self.switch_ns,
            &[
                "delete",
                "element",
                "bridge",
                TABLE,
                "cut",
                &format!("{{ \"{port}\" }}"),
            ],
            None,
        )?;
        self.cut.retain(|p| p != port);
        Ok(t)
    }

    /// Cuts testbed node `i` off etcd (see [`EtcdCluster::cut_port`]).
    pub fn cut_node(&mut self, bed: &Testbed, i: usize) -> Result<f64, String> {
        self.cut_port(&bed.nodes[i].port)
    }

    /// Undoes [`EtcdCluster::cut_node`].
    pub fn heal_node(&mut self, bed: &Testbed, i: usize) -> Result<f64, String> {
        self.heal_port(&bed.nodes[i].port)
    }

    /// Heals every cut port.
    pub fn heal_all(&mut self) -> Result<(), String> {
        for port in self.cut.clone() {
            self.heal_port(&port)?;
        }
        Ok(())
    }

    /// The ports cut now.
    pub fn cut_ports(&self) -> &[String] {
        &self.cut
    }

    /// Frames the cut filter has dropped so far (both rules' counters).
    pub fn dropped_frames(&self) -> Result<u64, String> {
        let text = nft(
            &self.switch_ns,
            &["list", "chain", "bridge", TABLE, "forward"],
            None,
        )?;
        // "… counter packets 12 bytes 840 drop"
        Ok(text
            .lines()
            .filter_map(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                let p = w.iter().position(|x| *x == "packets")?;
                w.get(p + 1)?.parse::<u64>().ok()
            })
            .sum())
    }

    /// The last `lines` lines of every member's log, for failure messages.
    pub fn logs_tail(&self, lines: usize) -> String {
        let mut s = String::new();
        for m in &self.members {
            let text = fs::read_to_string(&m.log).unwrap_or_default();
            let all: Vec<&str> = text.lines().collect();
            s.push_str(&format!("--- {} log tail:\n", m.name));
            for l in &all[all.len().saturating_sub(lines)..] {
                s.push_str(l);
                s.push('\n');
            }
        }
        s
    }
}

impl EtcdCluster {
    /// Points every etcd node of `bed` at this cluster over TLS: in each
    /// node's config, `[etcd]` gets the https endpoints, the cluster's CA as
    /// `ca_file` and a client certificate of the node's own (CN its name) as
    /// `cert_file` and `key_file`; `allow_insecure` goes. Call before
    /// starting the daemons.
    pub fn use_tls(&self, bed: &Testbed) -> Result<(), String> {
        let tls = self.tls.as_ref().ok_or("the cluster runs without TLS")?;
        for node in &bed.nodes {
            if !matches!(node.peer, super::Peer::Etcd { .. }) {
                continue;
            }
            let pair = tls.client(&node.id.name)?;
            set_etcd_tls(&node.config, &self.endpoints(), tls.ca.cert(), Some(&pair))?;
        }
        Ok(())
    }
}

/// Rewrites the `[etcd]` table of the vipd config at `config`: `endpoints`,
/// `ca_file` = `ca` and, with `identity`, `cert_file` and `key_file`; any
/// earlier values of those and `allow_insecure` go, the other keys
/// (`lease_ttl`, `prefix`) stay, and so does the rest of the file.
pub fn set_etcd_tls(
    config: &std::path::Path,
    endpoints: &[String],
    ca: &std::path::Path,
    identity: Option<&Pair>,
) -> Result<(), String> {
    let text = fs::read_to_string(config).map_err(|e| format!("{}: {e}", config.display()))?;
    let text = etcd_table_with_tls(&text, endpoints, ca, identity)
        .map_err(|e| format!("{}: {e}", config.display()))?;
    fs::write(config, text).map_err(|e| format!("{}: {e}", config.display()))
}

/// [`set_etcd_tls`] on a config's text.
pub fn etcd_table_with_tls(
    text: &str,
    endpoints: &[String],
    ca: &std::path::Path,
    identity: Option<&Pair>,
) -> Result<String, String> {
    const REPLACED: &[&str] = &[
        "endpoints",
        "allow_insecure",
        "ca_file",
        "cert_file",
        "key_file",
    ];
    let quote = |s: &str| -> String {
        let mut q = String::from("\"");
        for c in s.chars() {
            match c {
                '"' => q.push_str("\\\""),
                '\\' => q.push_str("\\\\"),
                c => q.push(c),
            }
        }
        q.push('"');
        q
    };
    let path = |p: &std::path::Path| -> Result<String, String> {
        p.to_str()
            .map(quote)
            .ok_or_else(|| format!("{} is not UTF-8", p.display()))
    };
    let mut out = String::new();
    let mut in_etcd = false;
    let mut found = false;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            in_etcd = trimmed == "[etcd]";
            if in_etcd {
                found = true;
                out.push_str(line);
                out.push('\n');
                let list: Vec<String> = endpoints.iter().map(|e| quote(e)).collect();
                out.push_str(&format!("endpoints = [{}]\n", list.join(", ")));
                out.push_str(&format!("ca_file = {}\n", path(ca)?));
                if let Some(pair) = identity {
                    out.push_str(&format!("cert_file = {}\n", path(&pair.cert)?));
                    out.push_str(&format!("key_file = {}\n", path(&pair.key)?));
                }
                continue;
            }
        } else if in_etcd {
            let key = trimmed.split('=').next().unwrap_or("").trim();
            if REPLACED.contains(&key) {
                continue;
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    if found {
        Ok(out)
    } else {
        Err("no [etcd] table".into())
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "etcd cluster of {} (logs kept with the testbed's):\n{}",
                self.token,
                self.logs_tail(20)
            );
        }
        for m in &mut self.members {
            if let Some(c) = m.child.take() {
                kill_group(c);
            }
        }
        // The table would go with the switch namespace; a testbed that
        // outlives its cluster should not keep the filter.
        let _ = nft(&self.switch_ns, &["delete", "table", "bridge", TABLE], None);
        // Then `data` drops: the data directories go.
    }
}

/// A temp directory on tmpfs (`/dev/shm`) where there is one, else in the
/// usual temp directory.
fn tempdir_on_tmpfs(prefix: &str) -> Result<tempfile::TempDir, String> {
    let shm = std::path::Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(dir) = tempfile::Builder::new().prefix(prefix).tempdir_in(shm) {
            return Ok(dir);
        }
    }
    netns::temp_dir(prefix)
}

/// Removes every `ETCD_*` and `ETCDCTL_*` variable of ours from a child's
/// environment: etcd refuses a flag that an `ETCD_` variable also sets, and
/// etcdctl would mix `ETCDCTL_ENDPOINTS` with ours.
fn clean_env(cmd: &mut Command) {
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("ETCD") {
            cmd.env_remove(key);
        }
    }
}

/// Runs `nft ARGS` in namespace `ns`, `input` on its stdin; its stdout.
fn nft(ns: &str, args: &[&str], input: Option<&str>) -> Result<String, String> {
    let mut child = netns::exec_in(ns)
        .arg("nft")
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("nft {}: {e}", args.join(" ")))?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin
            .write_all(text.as_bytes())
            .map_err(|e| format!("nft stdin: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("nft {}: {e}", args.join(" ")))?;
    if !out.status.success() {
        return Err(format!(
            "nft {} in {ns}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Where the testbed's vipd nodes keep their election keys
/// (`/vipd/<cluster>/election/`, cluster `testbed`).
pub const ELECTION: &str = "/vipd/testbed/election/";

/// One election key as `etcdctl get -w json` shows it, its record decoded.
pub struct ElectionKey {
    /// The whole key (`ELECTION` and the node's name).
    pub key: String,
    /// The key's value: the holder's record (JSON), as vipd wrote it.
    pub record: serde_json::Value,
    /// The election's term (the key's create revision).
    pub create_revision: u64,
    /// The etcd lease the key is on (0: none).
    pub lease: i64,
}

impl EtcdCluster {
    /// Every election key with its record, oldest first, read with the
    /// documented `etcdctl` command in its JSON form (keys and values
    /// base64-encoded).
    pub fn election_keys(&self) -> Result<Vec<ElectionKey>, String> {
        let out = self.etcdctl_ok(&[
            "get",
            ELECTION,
            "--prefix",
            "--sort-by=CREATE",
            "--order=ASCEND",
            "-w",
            "json",
        ])?;
        let json: serde_json::Value =
            serde_json::from_str(&out).map_err(|e| format!("etcdctl json: {e}: {out}"))?;
        let Some(kvs) = json["kvs"].as_array() else {
            return Ok(Vec::new());
        };
        kvs.iter()
            .map(|kv| {
                let text = |field: &str| {
                    let encoded = kv[field]
                        .as_str()
                        .ok_or_else(|| format!("etcdctl json: no {field} in {kv}"))?;
                    STANDARD
                        .decode(encoded)
                        .map_err(|e| format!("etcdctl json: {field} {encoded:?}: {e}"))
                };
                let key = String::from_utf8(text("key")?).map_err(|e| e.to_string())?;
                let record = serde_json::from_slice(&text("value")?)
                    .map_err(|e| format!("{key}: record: {e}"))?;
                let create_revision = kv["create_revision"]
                    .as_u64()
                    .ok_or_else(|| format!("{key}: no create_revision"))?;
                Ok(ElectionKey {
                    key,
                    record,
                    create_revision,
                    // etcdctl leaves out a zero lease.
                    lease: kv["lease"].as_i64().unwrap_or(0),
                })
            })
            .collect()
    }

    /// etcd's line of election keys, oldest first, read with etcdctl as an
    /// operator reads it (docs/operations.md).
    pub fn line(&self) -> Vec<String> {
        let out = self
            .etcdctl_ok(&[
                "get",
                ELECTION,
                "--prefix",
                "--sort-by=CREATE",
                "--order=ASCEND",
                "--keys-only",
            ])
            .unwrap_or_default();
        out.lines()
            .filter_map(|l| l.strip_prefix(ELECTION))
            .map(str::to_owned)
            .collect()
    }
}

/// A testbed and its etcd cluster; the cluster drops first (field order).
#[derive(Debug)]
pub struct EtcdBed {
    pub etcd: EtcdCluster,
    pub bed: Testbed,
}

impl EtcdBed {
    /// Starts `nodes` one after the other, each once the one before has its
    /// election key in etcd, so that etcd's line ends in that order.
    pub fn start_in_line(&mut self, nodes: &[usize]) -> Result<(), String> {
        for &i in nodes {
            self.bed.start(i)?;
            let name = self.bed.nodes[i].id.name.clone();
            if !super::wait_until(SETUP, || self.etcd.line().contains(&name)) {
                return Err(format!(
                    "{name} put no election key\n{}",
                    self.bed.logs_tail(20)
                ));
            }
        }
        Ok(())
    }

    /// [`EtcdBed::start_in_line`] for every node, checking that etcd's line
    /// is then node-a, node-b, ….
    pub fn start_all_in_line(&mut self) -> Result<(), String> {
        let all: Vec<usize> = (0..self.bed.nodes.len()).collect();
        self.start_in_line(&all)?;
        let names: Vec<String> = self.bed.nodes.iter().map(|n| n.id.name.clone()).collect();
        let line = self.etcd.line();
        if line != names {
            return Err(format!("line {line:?}, want {names:?}"));
        }
        Ok(())
    }
}
