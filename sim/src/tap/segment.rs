//! The real segment of a TAP run: one network namespace with the bridge
//! (and one spare bridge per partition group), one namespace per real
//! client with a veth on the bridge, and the lock that keeps a second run
//! from colliding with the first.
//!
//! ```text
//!   netns vipd-sim-tap                           netns vipd-sim-tap-c0
//!    tap0 tap1 tap2 (tap3: DHCP server)   pc0 ─── eth0 192.0.2.201
//!      \    |    /     /                   |
//!      ──────── br0 ───────────────────────┘     (brp1, brp2…: partitions)
//! ```
//!
//! The names are fixed, so an operator can look in while a run goes
//! (`ip netns exec vipd-sim-tap-c0 ping 192.0.2.250`); the lock makes them
//! one run's. Dropping the [`Segment`] deletes every namespace it made,
//! which deletes the veths, bridges and TAP devices in them; a run killed
//! with SIGKILL leaves them, and the next run removes them first. Every
//! address is in 192.0.2.0/24 (documentation range); nothing is sent from
//! or configured in the root namespace.

use std::fs::File;
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::process::{Child, ChildStdin, Command, Stdio};

use vip_core::wire::EthernetAddress;

/// The segment's namespace; clients' are this plus `-c<index>`.
pub const NAMESPACE: &str = "vipd-sim-tap";
/// The lock a run holds from start to cleanup.
pub const LOCK: &str = "/run/vipd-sim-tap.lock";

/// A real client's addresses.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr {
    /// Its eth0 MAC.
    pub mac: EthernetAddress,
    /// Its eth0 address (/24).
    pub address: Ipv4Addr,
}

/// The namespaces, bridges and links of one run.
#[derive(Debug)]
pub struct Segment {
    /// Client namespaces, by index.
    pub clients: Vec<String>,
    /// Namespaces made, deleted in reverse order on drop.
    made: Vec<String>,
    /// `ip -batch -` in the segment's namespace: bridge changes in well
    /// under a millisecond, without a process start each.
    batch: Option<(Child, ChildStdin)>,
    /// Held for the run; closing it releases the lock.
    _lock: File,
}

/// The bridge of partition group `group` when the clients are in
/// `clients_group`: the clients' group keeps `br0`.
pub fn bridge_of(group: u16, clients_group: u16) -> String {
    if group == clients_group {
        "br0".to_string()
    } else {
        format!("brp{group}")
    }
}

impl Segment {
    /// Takes the lock, removes what a killed run left, and builds the
    /// segment's namespace with `br0` and `spare_bridges` partition
    /// bridges, and one namespace per client, each with its neighbour
    /// table's `base_reachable_time_ms` set as the scenario says.
    pub fn create(
        clients: &[ClientAddr],
        spare_bridges: u16,
        base_reachable_ms: u64,
    ) -> Result<Segment, String> {
        let lock = take_lock()?;
        remove_leftovers()?;
        let mut seg = Segment {
            clients: Vec::new(),
            made: Vec::new(),
            batch: None,
            _lock: lock,
        };
        // Built into `seg` step by step, so Drop removes a half-made segment.
        seg.add_ns(NAMESPACE)?;
        for g in 0..=spare_bridges {
            let name = bridge_of(g, 0);
            ip(&["-n", NAMESPACE, "link", "add", &name, "type", "bridge"])?;
            ip(&["-n", NAMESPACE, "link", "set", &name, "up"])?;
        }
        for (c, addr) in clients.iter().enumerate() {
            let ns = format!("{NAMESPACE}-c{c}");
            seg.add_ns(&ns)?;
            let port = format!("pc{c}");
            ip(&[
                "-n", NAMESPACE, "link", "add", &port, "type", "veth", "peer", "name", "eth0",
                "netns", &ns,
            ])?;
            ip(&["-n", NAMESPACE, "link", "set", &port, "master", "br0", "up"])?;
            let mac = vip_core::config::text::MacText(addr.mac).to_string();
            ip(&["-n", &ns, "link", "set", "eth0", "address", &mac])?;
            let cidr = format!("{}/{}", addr.address, crate::scenario::settings::PREFIX_LEN);
            ip(&["-n", &ns, "address", "add", &cidr, "dev", "eth0"])?;
            ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
            let key = format!("net.ipv4.neigh.eth0.base_reachable_time_ms={base_reachable_ms}");
            sysctl(&ns, &key)?;
            seg.clients.push(ns);
        }
        let mut child = Command::new("ip")
            .args(["-n", NAMESPACE, "-batch", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("spawn ip -batch: {e}"))?;
        let stdin = child.stdin.take().ok_or("ip -batch has no stdin")?;
        seg.batch = Some((child, stdin));
        Ok(seg)
    }

    /// Puts TAP device `name` (made by the caller in the segment's
    /// namespace) on `br0` and brings it up.
    pub fn attach(&self, name: &str) -> Result<(), String> {
        ip(&["-n", NAMESPACE, "link", "set", name, "master", "br0", "up"])
    }

    /// Runs one `ip` command line in the segment's namespace at once,
    /// without waiting for it.
    pub fn batch(&mut self, line: &str) -> Result<(), String> {
        let (_, stdin) = self.batch.as_mut().ok_or("no ip -batch")?;
        writeln!(stdin, "{line}")
            .and_then(|()| stdin.flush())
            .map_err(|e| format!("ip -batch: {e}"))
    }

    fn add_ns(&mut self, ns: &str) -> Result<(), String> {
        ip(&["netns", "add", ns])?;
        self.made.push(ns.to_string());
        ip(&["-n", ns, "link", "set", "lo", "up"])?;
        // No IPv6: no router solicitations or DAD probes on the segment.
        sysctl(ns, "net.ipv6.conf.all.disable_ipv6=1")?;
        sysctl(ns, "net.ipv6.conf.default.disable_ipv6=1")
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        if let Some((mut child, stdin)) = self.batch.take() {
            drop(stdin);
            let _ = child.wait();
        }
        for ns in self.made.iter().rev() {
            let _ = ip(&["netns", "del", ns]);
        }
    }
}

/// Runs `ip ARGS`; the error names the command and what it printed.
pub fn ip(args: &[&str]) -> Result<(), String> {
    run("ip", args)
}

fn sysctl(ns: &str, key: &str) -> Result<(), String> {
    run("ip", &["netns", "exec", ns, "sysctl", "-q", "-w", key])
}

fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Takes [`LOCK`] without waiting; a run already holding it is named.
fn take_lock() -> Result<File, String> {
    use rustix::fs::{flock, FlockOperation};
    let mut file = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(LOCK)
        .map_err(|e| format!("{LOCK}: {e}"))?;
    if flock(&file, FlockOperation::NonBlockingLockExclusive).is_err() {
        let holder = std::fs::read_to_string(LOCK).unwrap_or_default();
        return Err(format!(
            "another `sim tap` is running (pid {}, lock {LOCK}): wait for it to end; \
             two runs would share the namespace {NAMESPACE}",
            holder.trim()
        ));
    }
    file.set_len(0).map_err(|e| format!("{LOCK}: {e}"))?;
    writeln!(file, "{}", std::process::id()).map_err(|e| format!("{LOCK}: {e}"))?;
    Ok(file)
}

/// Deletes the namespaces of a run that could not clean up (SIGKILL).
fn remove_leftovers() -> Result<(), String> {
    let out = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .map_err(|e| format!("ip netns list: {e}"))?;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        if name == NAMESPACE || name.starts_with(&format!("{NAMESPACE}-c")) {
            ip(&["netns", "del", name])?;
        }
    }
    Ok(())
}
