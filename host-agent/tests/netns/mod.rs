//! Network-namespace plumbing shared by the integration-test harnesses
//! (`testbed/` and `hostile/lab.rs`): running `ip`, a [`Net`] guard that
//! deletes every namespace it made (and with them their veths and bridges)
//! when dropped, also while a test panics, and processes started inside a
//! namespace in their own process group, killed as a group.
//!
//! Each file under `tests/` is its own crate: a test root that uses a
//! harness declares `mod netns;` next to it (the failover-bench example
//! does so with `#[path]`). Nothing here touches the root namespace.
//!
//! Every namespace test starts with [`can_run`]: without root or one of its
//! tools it skips with a line on a developer's machine, and fails when the
//! `CI` variable is set, so a broken install step cannot pass as skipped.

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

/// Whether the CI environment variable is set (to any non-empty value).
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty())
}

/// Whether `tool` is an executable file in a directory of `PATH`, where
/// `Command::new(tool)` and `ip netns exec` look for it.
pub fn have_tool(tool: &str) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    let Some(path) = std::env::var_os("PATH") else {
        return false;
    };
    std::env::split_paths(&path).any(|dir| {
        std::fs::metadata(dir.join(tool))
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

/// What a namespace suite does on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Everything it needs is here.
    Run,
    /// Something is missing on a developer's machine: skip, saying this.
    Skip(String),
    /// Something is missing and CI is set: fail with this.
    Fail(String),
}

/// Decides whether `suite` runs, from whether CI is set, whether we are
/// root and which of its tools are `missing`. Pure, so it is tested.
pub fn verdict(suite: &str, ci: bool, root: bool, missing: &[&str]) -> Verdict {
    let mut lacks = Vec::new();
    if !root {
        lacks.push("root (network namespaces)".to_owned());
    }
    if !missing.is_empty() {
        lacks.push(format!("{} (not on PATH)", missing.join(", ")));
    }
    if lacks.is_empty() {
        return Verdict::Run;
    }
    let needs = format!("{suite} needs {}", lacks.join(" and "));
    if ci {
        Verdict::Fail(format!(
            "{needs}; CI is set, so this fails instead of skipping: \
             fix the install step (.ci/install)"
        ))
    } else {
        Verdict::Skip(needs)
    }
}

/// Whether `suite`, which runs `tools`, can run here: `false` with a skip
/// line on a developer's machine without root or a tool; a panic naming
/// what is missing when CI is set, so a broken install cannot leave CI
/// green with the suite skipped.
pub fn can_run(suite: &str, tools: &[&str]) -> bool {
    let missing: Vec<&str> = tools.iter().copied().filter(|t| !have_tool(t)).collect();
    match verdict(suite, in_ci(), is_root(), &missing) {
        Verdict::Run => true,
        Verdict::Skip(needs) => {
            println!("skipping: {needs}");
            false
        }
        Verdict::Fail(message) => panic!("{message}"),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suites_skip_on_a_developer_machine_and_fail_in_ci() {
        assert_eq!(verdict("s", false, true, &[]), Verdict::Run);
        assert_eq!(verdict("s", true, true, &[]), Verdict::Run);
        assert_eq!(
            verdict("s", false, false, &[]),
            Verdict::Skip("s needs root (network namespaces)".into())
        );
        assert_eq!(
            verdict("s", false, true, &["keepalived", "tcpdump"]),
            Verdict::Skip("s needs keepalived, tcpdump (not on PATH)".into())
        );
        let Verdict::Fail(message) = verdict("interop", true, false, &["keepalived"]) else {
            panic!("CI must fail, not skip");
        };
        for named in ["interop", "root", "keepalived", "CI is set"] {
            assert!(message.contains(named), "{named} in {message}");
        }
    }

    #[test]
    fn tools_are_found_on_path_only() {
        assert!(have_tool("sh"), "sh is on every PATH");
        assert!(!have_tool("no-such-tool-vipd"));
        assert!(!have_tool("."), "a directory is not a tool");
    }
}
