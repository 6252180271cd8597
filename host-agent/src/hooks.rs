//! Hooks and the health check: commands run by `/bin/sh -c` with a timeout.
//!
//! A command runs in its own process group, so that on timeout the whole
//! group (the shell and whatever it started) is killed, not only the shell.
//! Its standard output and error go to the daemon's (the journal under
//! systemd); standard input is `/dev/null`.
//!
//! Hooks run one at a time, in the order the VIP moved, on a task of their
//! own: the election loop only queues them and never waits.

use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::process::Command;
use tokio::sync::mpsc;

/// How a command run ended.
#[derive(Debug)]
pub enum Outcome {
    /// It exited (successfully or not).
    Exited(ExitStatus),
    /// It could not be started.
    SpawnFailed(std::io::Error),
    /// It ran past the timeout and was killed.
    TimedOut,
}

impl Outcome {
    /// True if it exited with status 0.
    pub fn success(&self) -> bool {
        matches!(self, Outcome::Exited(s) if s.success())
    }
}

/// Runs `command` by `/bin/sh -c` with extra environment `env`; kills its
/// process group once `timeout` has passed.
pub async fn run_command(command: &str, env: &[(&str, String)], timeout: Duration) -> Outcome {
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(command)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return Outcome::SpawnFailed(e),
    };
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) => Outcome::Exited(status),
        Ok(Err(e)) => Outcome::SpawnFailed(e),
        Err(_elapsed) => {
            if let Some(pid) = child
                .id()
                .and_then(|id| rustix::process::Pid::from_raw(id as i32))
            {
                // The child leads its own group (process_group(0)); killing
                // the group also ends what the shell started.
                let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
            }
            let _ = child.kill().await;
            Outcome::TimedOut
        }
    }
}

/// Which hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookKind {
    /// After the VIP was added.
    Acquire,
    /// After the VIP was removed.
    Release,
}

impl HookKind {
    /// Its name in logs and config keys.
    pub const fn as_str(self) -> &'static str {
        match self {
            HookKind::Acquire => "on_acquire",
            HookKind::Release => "on_release",
        }
    }
}

/// One hook run to make.
#[derive(Debug, Clone)]
pub struct HookJob {
    /// Which hook.
    pub kind: HookKind,
    /// The command.
    pub command: String,
    /// The environment (VIPD_VIP, VIPD_INTERFACE, VIPD_NODE, VIPD_STATE,
    /// VIPD_CLUSTER, VIPD_HWADDR; with a leased VIP also VIPD_LEASE_STATE
    /// and VIPD_LEASE_PROBLEM).
    pub env: Vec<(&'static str, String)>,
}

/// What became of a hook run, reported back for logs and metrics.
#[derive(Debug)]
pub struct HookReport {
    /// The job.
    pub kind: HookKind,
    /// Its outcome.
    pub outcome: Outcome,
}

/// Hook runs waiting at most; more are dropped with a warning, so a stuck
/// hook cannot grow memory while the VIP flaps.
pub const HOOK_QUEUE: usize = 16;

/// Queues hook runs to a task that runs them one at a time.
#[derive(Debug, Clone)]
pub struct HookRunner {
    jobs: mpsc::Sender<HookJob>,
}

impl HookRunner {
    /// Starts the runner task; each finished run is reported on `reports`.
    /// The task ends when every `HookRunner` clone is dropped and the queue
    /// is empty.
    pub fn start(
        timeout: Duration,
        reports: mpsc::UnboundedSender<HookReport>,
    ) -> (HookRunner, tokio::task::JoinHandle<()>) {
        let (jobs, mut rx) = mpsc::channel::<HookJob>(HOOK_QUEUE);
        let task = tokio::spawn(async move {
            while let Some(job) = rx.recv().await {
                let env: Vec<(&str, String)> =
                    job.env.iter().map(|(k, v)| (*k, v.clone())).collect();
                let outcome = run_command(&job.command, &env, timeout).await;
                let _ = reports.send(HookReport {
                    kind: job.kind,
                    outcome,
                });
            }
        });
        (HookRunner { jobs }, task)
    }

    /// Queues a run without waiting; false if the queue is full or closed.
    pub fn queue(&self, job: HookJob) -> bool {
        self.jobs.try_send(job).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[tokio::test]
    async fn exit_status_and_environment_reach_the_caller() {
        let env = [("VIPD_VIP", "192.0.2.100".to_string())];
        let ok = run_command(
            "test \"$VIPD_VIP\" = 192.0.2.100",
            &env,
            Duration::from_secs(5),
        )
        .await;
        assert!(ok.success(), "{ok:?}");
        let failed = run_command("exit 3", &[], Duration::from_secs(5)).await;
        assert!(matches!(failed, Outcome::Exited(s) if s.code() == Some(3)));
    }

    #[tokio::test]
    async fn a_hanging_command_is_killed_with_its_children() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("survived");
        let script = format!("sleep 2 && touch {}", marker.display());
        let started = Instant::now();
        let outcome = run_command(&script, &[], Duration::from_millis(100)).await;
        assert!(matches!(outcome, Outcome::TimedOut), "{outcome:?}");
        assert!(started.elapsed() < Duration::from_secs(1));
        // The shell's child (sleep) was in the killed group: nothing touches the file.
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert!(!marker.exists(), "the hook's child outlived the timeout");
    }

    #[tokio::test]
    async fn runner_goes_on_after_a_hook_times_out() {
        let (tx, mut reports) = mpsc::unbounded_channel();
        let (runner, _task) = HookRunner::start(Duration::from_millis(100), tx);
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("env");
        let job = |kind, command: String| HookJob {
            kind,
            command,
            env: vec![("VIPD_STATE", "master".into())],
        };
        let started = Instant::now();
        // Queueing never waits, even behind a hook that hangs.
        assert!(runner.queue(job(HookKind::Acquire, "sleep 30".into())));
        assert!(runner.queue(job(
            HookKind::Release,
            format!("echo $VIPD_STATE > {}", out.display())
        )));
        assert!(started.elapsed() < Duration::from_millis(50));
        let first = reports.recv().await.unwrap();
        assert_eq!(first.kind, HookKind::Acquire);
        assert!(matches!(first.outcome, Outcome::TimedOut));
        let second = reports.recv().await.unwrap();
        assert_eq!(second.kind, HookKind::Release);
        assert!(second.outcome.success(), "{:?}", second.outcome);
        assert_eq!(std::fs::read_to_string(&out).unwrap().trim(), "master");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn a_missing_shell_command_fails_without_panicking() {
        let outcome = run_command("/nonexistent/hook", &[], Duration::from_secs(5)).await;
        assert!(!outcome.success());
    }
}
