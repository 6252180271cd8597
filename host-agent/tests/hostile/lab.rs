//! A small lab of network namespaces for the hostile-input tests, and the
//! `vipd` processes that run in it.
//!
//! ```text
//!   netns vh<tag>0        vh<tag>1        vh<tag>2   …
//!    e<tag>0 192.0.2.11    e<tag>1 .12     e<tag>2 .13
//!       |                    |               |
//!   ---p<tag>0--------------p<tag>1---------p<tag>2---  bridge b<tag>
//!                     netns vh<tag>s (the switch)
//! ```
//!
//! `<tag>` is the process id in hex plus a counter, so every namespace,
//! veth and bridge name is unique and at most 15 characters. The root
//! namespace is never touched and sends no traffic. Dropping a [`Lab`] (also
//! while a test panics) deletes every namespace it made, which deletes the
//! veths and the bridge with them; dropping a [`Daemon`] kills its process
//! group. Declare daemons after their lab so they go first.

use std::fs::{self, File};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use host_agent::control::{self, Request};
use rustix::process::Signal;

use crate::netns::{self, Net};
// Part of the harness API; not every crate that includes it uses each one.
#[allow(unused_imports)]
pub use crate::netns::{ip, is_root, serial};

/// The programs a lab runs besides vipd: `ip` and `sysctl` build it
/// (hooks run through `/bin/sh`).
pub const TOOLS: &[&str] = &["ip", "sysctl"];

/// The VIP of every lab.
pub const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 100);

/// The `vipd` binary under test.
pub fn vipd() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_vipd"))
}

/// Polls `ready` every 10 ms until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, ready: impl FnMut() -> bool) -> bool {
    netns::wait_until_every(timeout, Duration::from_millis(10), ready)
}

/// One namespace on the lab's bridge.
#[derive(Debug, Clone)]
pub struct Member {
    /// Its namespace.
    pub ns: String,
    /// Its interface (a veth end) in `ns`.
    pub iface: String,
    /// The other veth end, a bridge port in the switch namespace.
    pub port: String,
    /// Its address, 192.0.2.(11 + index)/24.
    pub addr: Ipv4Addr,
}

/// Namespaces joined by one bridge, plus a temp directory for configs,
/// sockets and logs.
#[derive(Debug)]
pub struct Lab {
    /// The switch namespace (holds the bridge).
    pub switch_ns: String,
    /// The members, in order.
    pub members: Vec<Member>,
    net: Net,
    dir: tempfile::TempDir,
}

impl Lab {
    /// Builds `count` member namespaces on one bridge, each interface up
    /// with 192.0.2.(11 + i)/24 and MAC 02:00:00:00:00:(i + 1).
    pub fn new(count: usize) -> Result<Lab, String> {
        let (pid, n) = netns::unique();
        let tag = format!("{pid:x}x{n}");
        let dir = netns::temp_dir(&format!("vipd-hostile-{tag}-"))?;
        let mut lab = Lab {
            switch_ns: format!("vh{tag}s"),
            members: Vec::new(),
            net: Net::new(),
            dir,
        };
        // Filled in step by step, so Drop removes a half-made lab.
        let sw = lab.switch_ns.clone();
        lab.net.add_ns(&sw)?;
        let bridge = format!("b{tag}");
        lab.net.add_bridge(&sw, &bridge)?;
        // With br_netfilter loaded the bridge would check IPv4 headers and
        // drop the junk before it reaches the daemon; a switch does not.
        for table in ["iptables", "ip6tables", "arptables"] {
            let _ = netns::sysctl(&sw, &format!("net.bridge.bridge-nf-call-{table}=0"));
        }
        for i in 0..count {
            let member = Member {
                ns: format!("vh{tag}{i}"),
                iface: format!("e{tag}{i}"),
                port: format!("p{tag}{i}"),
                addr: Ipv4Addr::new(192, 0, 2, 11 + i as u8),
            };
            lab.net.add_ns(&member.ns)?;
            let mac = format!("02:00:00:00:00:{:02x}", i + 1);
            lab.net.plug(
                &sw,
                &bridge,
                &member.port,
                &member.ns,
                &member.iface,
                &mac,
                member.addr,
            )?;
            lab.members.push(member);
        }
        Ok(lab)
    }

    /// The lab's temp directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A path inside the temp directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `text` to `name` in the temp directory; its path.
    pub fn write(&self, name: &str, text: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path
    }

    /// Member `i`'s interface addresses as `ip -4 -o address show` lists them.
    pub fn addresses(&self, i: usize) -> Vec<String> {
        let m = &self.members[i];
        ip(&["-n", &m.ns, "-4", "-o", "address", "show", "dev", &m.iface])
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .filter_map(|l| {
                        let words: Vec<&str> = l.split_whitespace().collect();
                        let p = words.iter().position(|w| *w == "inet")?;
                        words.get(p + 1).map(|s| s.to_string())
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether member `i` lists the VIP (as `VIP/32`) on its interface.
    pub fn has_vip(&self, i: usize) -> bool {
        self.addresses(i).contains(&format!("{VIP}/32"))
    }

    /// Takes member `i`'s bridge port down or up: its interface loses or
    /// regains carrier, as if its cable were pulled and put back.
    pub fn set_port(&self, i: usize, up: bool) -> Result<(), String> {
        let state = if up { "up" } else { "down" };
        ip(&[
            "-n",
            &self.switch_ns,
            "link",
            "set",
            &self.members[i].port,
            state,
        ])
        .map(drop)
    }

    /// Runs `vipd ARGS` to completion inside member `i`'s namespace.
    pub fn vipd_in(&self, i: usize, args: &[&str]) -> Output {
        self.command_in(i, &[], args)
    }

    /// Runs `WRAPPER… vipd ARGS` to completion inside member `i`'s namespace
    /// (a wrapper such as `setpriv` goes between `ip netns exec` and vipd).
    pub fn command_in(&self, i: usize, wrapper: &[&str], args: &[&str]) -> Output {
        let mut cmd = netns::group_in(&self.members[i].ns);
        cmd.args(wrapper)
            .arg(vipd())
            .args(args)
            .stdin(Stdio::null());
        let child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ip netns exec vipd");
        // Reaped here; a run that should have exited but did not is killed
        // after 20 s so the test fails instead of hanging.
        let pid = child.id();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            if rx.recv_timeout(Duration::from_secs(20)).is_err() {
                netns::kill_pgid(pid);
            }
        });
        let out = child.wait_with_output().expect("wait for vipd");
        let _ = tx.send(());
        out
    }

    /// Starts `vipd run --config CONFIG` in member `i`'s namespace; its
    /// output goes to `NAME.log`, its status socket is `socket`.
    pub fn start(&self, i: usize, name: &str, config: &Path, socket: &Path) -> Daemon {
        let log_path = self.path(&format!("{name}.log"));
        let log = File::create(&log_path).expect("create log");
        let err = log.try_clone().expect("clone log");
        // `ip netns exec` execs vipd, so the child's pid is the daemon's; the
        // daemon leads its own process group, which also holds its hooks.
        let child = netns::group_in(&self.members[i].ns)
            .arg(vipd())
            .arg("run")
            .arg("--config")
            .arg(config)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .expect("spawn vipd run");
        Daemon {
            child: Some(child),
            log: log_path,
            socket: socket.to_path_buf(),
        }
    }
}

/// The vipd config of member `i` of `lab`: VRRP at `priority` with adverts
/// every `advert`, its status socket in the lab directory, plus `extra`
/// TOML (tables such as `[hooks]`) at the end.
pub fn config(lab: &Lab, i: usize, name: &str, priority: u8, advert: &str, extra: &str) -> String {
    let m = &lab.members[i];
    format!(
        "cluster = \"hostile\"\n\
         node = \"{name}\"\n\
         interface = \"{iface}\"\n\
         \n\
         [vip]\n\
         address = \"{VIP}\"\n\
         \n\
         [election]\n\
         priority = {priority}\n\
         advert_interval = \"{advert}\"\n\
         vrid = 51\n\
         \n\
         [status]\n\
         socket = \"{socket}\"\n\
         {extra}",
        iface = m.iface,
        socket = lab.path(&format!("{name}.sock")).display(),
    )
}

/// A `vipd run` we started. Dropping it kills its process group.
#[derive(Debug)]
pub struct Daemon {
    child: Option<Child>,
    /// Its log file (stdout and stderr).
    pub log: PathBuf,
    /// Its status socket.
    pub socket: PathBuf,
}

impl Daemon {
    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends `sig` to the daemon (not its group).
    pub fn signal(&self, sig: Signal) {
        if let Some(c) = &self.child {
            netns::signal(c, sig);
        }
    }

    /// Waits up to `timeout` for the daemon to exit; its status.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        netns::wait_exit(child, timeout, Duration::from_millis(10))
    }

    /// The status document over the socket (in-process client).
    pub fn status(&self) -> Result<serde_json::Value, String> {
        control::call(&self.socket, &Request::Status)
            .map(|v| v["status"].clone())
            .map_err(|e| e.to_string())
    }

    /// One status field as a string (`state`, `vipHost`…); empty if null.
    pub fn field(&self, name: &str) -> String {
        self.status()
            .ok()
            .and_then(|s| s.get(name).cloned())
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
            .unwrap_or_default()
    }

    /// `vipd status --socket S ARGS` as a separate process (what an operator
    /// runs): its output and how long it took.
    pub fn status_cli(&self, args: &[&str]) -> (Output, Duration) {
        let started = Instant::now();
        let out = Command::new(vipd())
            .arg("status")
            .arg("--socket")
            .arg(&self.socket)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run vipd status");
        (out, started.elapsed())
    }

    /// The metrics as (`name{labels}`, value) pairs, over the socket.
    pub fn metrics(&self) -> Result<Metrics, String> {
        let reply = control::call(&self.socket, &Request::Metrics).map_err(|e| e.to_string())?;
        let text = reply["metrics"].as_str().unwrap_or_default();
        Ok(Metrics(
            text.lines()
                .filter(|l| !l.starts_with('#'))
                .filter_map(|l| {
                    let (name, value) = l.rsplit_once(' ')?;
                    Some((name.to_owned(), value.parse().ok()?))
                })
                .collect(),
        ))
    }

    /// CPU time the daemon used so far (user + system, /proc/PID/stat).
    pub fn cpu_time(&self) -> Duration {
        let stat = fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap_or_default();
        // Fields after "(comm)": state is the first, utime the 12th, stime the 13th.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map_or("", |(_, rest)| rest)
            .split_whitespace()
            .collect();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0)
        };
        // USER_HZ is 100 on every Linux ABI vipd targets.
        Duration::from_millis((ticks(11) + ticks(12)) * 10)
    }

    /// The daemon's resident set size in KiB (/proc/PID/status VmRSS).
    pub fn rss_kib(&self) -> Option<u64> {
        let status = fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            netns::kill_group(child);
        }
    }
}

/// Prometheus samples by `name{labels}`.
#[derive(Debug, Clone, Default)]
pub struct Metrics(pub Vec<(String, u64)>);

impl Metrics {
    /// The value of the sample `key` (e.g. `vipd_holder` or
    /// `vipd_frames_dropped_total{reason="ttl"}`); 0 if absent.
    pub fn get(&self, key: &str) -> u64 {
        self.0.iter().find(|(k, _)| k == key).map_or(0, |(_, v)| *v)
    }

    /// The drop counters by reason, in the daemon's order.
    pub fn drops(&self) -> Vec<(String, u64)> {
        self.0
            .iter()
            .filter_map(|(k, v)| {
                let reason = k
                    .strip_prefix("vipd_frames_dropped_total{reason=\"")?
                    .strip_suffix("\"}")?;
                Some((reason.to_owned(), *v))
            })
            .collect()
    }
}
