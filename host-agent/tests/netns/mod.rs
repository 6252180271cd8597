//! Network-namespace plumbing shared by the integration-test harnesses
//! (`testbed/` and `hostile/lab.rs`): running `ip`, a [`Net`] guard that
//! deletes every namespace it made (and with them their veths and bridges)
//! when dropped, also while a test panics, and processes started inside a
//! namespace in their own process group, killed as a group.
//!
//! Each file under `tests/` is its own crate: a test root that uses a
//! harness declares `mod netns;` next to it (the failover-bench example
//! does so with `#[path]`). Nothing here touches the root namespace.

#![allow(dead_code)]

use std::net::Ipv4Addr;
use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command, ExitStatus, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rustix::process::{kill_process, kill_process_group, Pid, Signal};

static NEXT: AtomicU32 = AtomicU32::new(0);
static SERIAL: Mutex<()> = Mutex::new(());

/// Whether we run as root (namespaces need CAP_SYS_ADMIN and CAP_NET_ADMIN).
pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Holds the lock that runs timing-sensitive tests one at a time, so that
/// they do not steal each other's CPU on a small CI machine.
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// This process's id and a fresh counter value: names built from both never
/// collide with parallel tests or leftovers of other runs.
pub fn unique() -> (u32, u32) {
    (std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// A fresh temp directory named `PREFIX…` for configs, sockets and logs.
pub fn temp_dir(prefix: &str) -> Result<tempfile::TempDir, String> {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .map_err(|e| format!("temp dir: {e}"))
}

/// Polls `ready` every 5 ms until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, ready: impl FnMut() -> bool) -> bool {
    wait_until_every(timeout, Duration::from_millis(5), ready)
}

/// Polls `ready` every `every` until it holds or `timeout` passes.
pub fn wait_until_every(
    timeout: Duration,
    every: Duration,
    mut ready: impl FnMut() -> bool,
) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if ready() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(every);
    }
}

/// Runs `ip ARGS`; its output, or a message naming the command.
pub fn ip(args: &[&str]) -> Result<Output, String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip {}: {e}", args.join(" ")))?;
    if !out.status.success() {
        return Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(out)
}

/// `sysctl -w SETTING` inside namespace `ns`.
pub fn sysctl(ns: &str, setting: &str) -> Result<(), String> {
    let out = exec_in(ns)
        .args(["sysctl", "-q", "-w", setting])
        .output()
        .map_err(|e| format!("sysctl: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "sysctl {setting} in {ns}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

/// `ip netns exec NS`, ready for the program and its arguments.
pub fn exec_in(ns: &str) -> Command {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns]);
    cmd
}

/// [`exec_in`] in a process group of its own: `ip netns exec` execs the
/// program, so the child's pid is the program's and its group holds
/// whatever it forks (hooks, helper processes); [`kill_group`] ends them all.
pub fn group_in(ns: &str) -> Command {
    let mut cmd = exec_in(ns);
    cmd.process_group(0);
    cmd
}

/// Sends `sig` to a child we started (not its group).
pub fn signal(child: &Child, sig: Signal) {
    let _ = kill_process(Pid::from_child(child), sig);
}

/// kill -9 of the process group led by process `pid`.
pub fn kill_pgid(pid: u32) {
    if let Some(pid) = Pid::from_raw(pid as i32) {
        let _ = kill_process_group(pid, Signal::KILL);
    }
}

/// kill -9 of a child's whole process group, then reaps the child.
pub fn kill_group(mut child: Child) {
    kill_pgid(child.id());
    let _ = child.kill();
    let _ = child.wait();
}

/// SIGINT to a child (so it flushes), up to `grace` for it to exit, then
/// kill -9 and reap.
pub fn interrupt(mut child: Child, grace: Duration) {
    signal(&child, Signal::INT);
    wait_until(grace, || matches!(child.try_wait(), Ok(Some(_))));
    let _ = child.kill();
    let _ = child.wait();
}

/// Waits up to `timeout` for `child` to exit, polling every `every`; its
/// status.
pub fn wait_exit(child: &mut Child, timeout: Duration, every: Duration) -> Option<ExitStatus> {
    let mut status = None;
    wait_until_every(timeout, every, || {
        status = child.try_wait().ok().flatten();
        status.is_some()
    });
    status
}

/// The namespaces one test made. Dropping it (also while the test panics)
/// deletes them in reverse order, which deletes their veths and bridges.
/// Kill the processes running in them first.
#[derive(Debug, Default)]
pub struct Net {
    namespaces: Vec<String>,
}

impl Net {
    pub fn new() -> Net {
        Net::default()
    }

    /// Adds namespace `ns` with `lo` up and IPv6 off (no DAD or router
    /// solicitation chatter).
    pub fn add_ns(&mut self, ns: &str) -> Result<(), String> {
        ip(&["netns", "add", ns])?;
        self.namespaces.push(ns.to_owned());
        sysctl(ns, "net.ipv6.conf.all.disable_ipv6=1")?;
        sysctl(ns, "net.ipv6.conf.default.disable_ipv6=1")?;
        ip(&["-n", ns, "link", "set", "lo", "up"])?;
        Ok(())
    }

    /// Adds bridge `bridge` in namespace `sw`, up, forwarding at once (no
    /// STP, no forward delay, no multicast snooping).
    pub fn add_bridge(&self, sw: &str, bridge: &str) -> Result<(), String> {
        ip(&[
            "-n",
            sw,
            "link",
            "add",
            bridge,
            "type",
            "bridge",
            "stp_state",
            "0",
            "forward_delay",
            "0",
            "mcast_snooping",
            "0",
        ])?;
        ip(&["-n", sw, "link", "set", bridge, "up"])?;
        Ok(())
    }

    /// Connects namespace `ns` to `bridge` in namespace `sw` with a veth:
    /// `port` on the bridge, `iface` in `ns` with `mac` and `addr`/24, both up.
    #[allow(clippy::too_many_arguments)]
    pub fn plug(
        &self,
        sw: &str,
        bridge: &str,
        port: &str,
        ns: &str,
        iface: &str,
        mac: &str,
        addr: Ipv4Addr,
    ) -> Result<(), String> {
        ip(&[
            "-n", sw, "link", "add", port, "type", "veth", "peer", "name", iface, "netns", ns,
        ])?;
        ip(&["-n", sw, "link", "set", port, "master", bridge, "up"])?;
        ip(&["-n", ns, "link", "set", iface, "address", mac])?;
        ip(&[
            "-n",
            ns,
            "address",
            "add",
            &format!("{addr}/24"),
            "dev",
            iface,
        ])?;
        ip(&["-n", ns, "link", "set", iface, "up"])?;
        Ok(())
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for ns in self.namespaces.drain(..).rev() {
            let _ = ip(&["netns", "del", &ns]);
        }
    }
}
