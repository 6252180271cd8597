//! Hostile input against the real `vipd` binary: broken configs, missing
//! privileges, hooks that hang or fail, a flooded status socket and a flood
//! of junk frames. The daemon must refuse or survive each with the exit
//! code, message or behaviour docs/operations.md promises, and never panic.
//!
//! Every test builds its own namespaces (see `hostile/lab.rs`), uses only
//! 192.0.2.0/24, and removes everything when it ends or panics. Needs root,
//! ip and sysctl (skips with a message otherwise; fails if CI is set). The frame flood runs for 60 s; the
//! figures it prints are the ones docs/testing.md records ("Hostile input: the daemon").

use std::process::Output;
use std::time::Duration;

use hostile::lab::{config, wait_until, Daemon, Lab};

macro_rules! require_root {
    () => {
        if !crate::netns::can_run("the hostile-input suite", crate::hostile::lab::TOOLS) {
            return;
        }
    };
}

mod netns;

mod hostile {
    pub mod junk;
    pub mod lab;

    mod configs;
    mod daemon;
    mod flood;
}

/// A generous bound for setup steps on a loaded two-core machine.
const SETUP: Duration = Duration::from_secs(15);

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn assert_no_panic(out: &Output, what: &str) {
    let err = stderr(out);
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "{what}: vipd panicked:\n{err}"
    );
}

/// `vipd status --get FIELD` through the CLI, trimmed; panics if it fails.
fn get(daemon: &Daemon, field: &str) -> String {
    let (out, _) = daemon.status_cli(&["--get", field]);
    assert!(
        out.status.success(),
        "vipd status --get {field}: {}",
        stderr(&out)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A master (priority 200) and a backup (100) with 100 ms adverts, settled:
/// the master holds the VIP, the backup knows it.
fn pair(lab: &Lab) -> (Daemon, Daemon) {
    let a = lab.write(
        "node-a.toml",
        config(
            lab,
            0,
            "node-a",
            200,
            "100ms",
            "\n[[member]]\nname = \"node-b\"\naddress = \"192.0.2.12\"\n",
        ),
    );
    let b = lab.write(
        "node-b.toml",
        config(
            lab,
            1,
            "node-b",
            100,
            "100ms",
            "\n[[member]]\nname = \"node-a\"\naddress = \"192.0.2.11\"\n",
        ),
    );
    let master = lab.start(0, "node-a", &a, &lab.path("node-a.sock"));
    let backup = lab.start(1, "node-b", &b, &lab.path("node-b.sock"));
    assert!(
        wait_until(SETUP, || lab.has_vip(0)
            && master.field("state") == "master"
            && backup.field("state") == "backup"
            && backup.field("vipHost") == "node-a"),
        "the pair did not settle:\n{}\n{}",
        master.log(),
        backup.log()
    );
    (master, backup)
}
