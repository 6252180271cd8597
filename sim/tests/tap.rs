//! TAP mode on real kernels (`sim tap`): a crash scenario and a move
//! scenario run in real time with real Linux clients, and the clients' gaps
//! must agree with the virtual-time prediction for the same scenario within
//! `tap::AGREEMENT` plus the scenario's jitter; the capture decodes in
//! tshark without a malformed mark; a second run is refused while one goes,
//! and Ctrl-C removes everything.
//!
//! Needs root, ip, sysctl and tshark: skips on a developer's machine
//! without them, fails under CI.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sim::tap::{segment::NAMESPACE, AGREEMENT};
use sim::Scenario;

/// One TAP run at a time: they share the segment's namespace.
static SERIAL: Mutex<()> = Mutex::new(());

fn can_run() -> bool {
    let root = rustix::process::geteuid().is_root();
    let missing: Vec<&str> = ["ip", "sysctl", "tshark"]
        .into_iter()
        .filter(|t| Command::new(t).arg("--version").output().is_err())
        .collect();
    if root && missing.is_empty() {
        return true;
    }
    let why = format!("TAP mode needs root ({root}) and ip, sysctl, tshark (missing: {missing:?})");
    assert!(std::env::var_os("CI").is_none(), "{why}; CI must run it");
    println!("note: {why}; skipping");
    false
}

fn sim() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_sim"))
}

fn scenario_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(format!("{name}.toml"))
}

fn leftovers() -> Vec<String> {
    let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(NAMESPACE))
        .map(str::to_owned)
        .collect()
}

/// One `failover` line of the summary: (real ms, virtual ms, bound ms).
fn failovers(text: &str) -> Vec<(Option<f64>, Option<f64>, f64)> {
    let field = |line: &str, key: &str| -> Option<f64> {
        let rest = &line[line.find(key)? + key.len()..];
        let value = rest.split([',', ' ']).next()?;
        value.strip_suffix("ms")?.parse().ok()
    };
    text.lines()
        .filter(|l| l.starts_with("failover "))
        .map(|l| {
            (
                field(l, "real gap "),
                field(l, "virtual "),
                field(l, "bound ").expect("a bound"),
            )
        })
        .collect()
}

/// Runs `sim tap` on catalogue scenario `name` with a capture; asserts it
/// passed, that each real gap agrees with the virtual prediction, that
/// tshark decodes the capture cleanly and that nothing is left behind.
fn run_and_compare(name: &str, failovers_expected: usize) {
    let file = scenario_file(name);
    let scenario = Scenario::from_toml(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let tolerance = (AGREEMENT + scenario.network.jitter).total_micros() as f64 / 1000.0;
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join(format!("{name}.pcap"));
    let out = Command::new(sim())
        .arg("tap")
        .arg(&file)
        .arg("--pcap")
        .arg(&pcap)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    println!("{text}");
    assert!(
        out.status.success(),
        "sim tap {name}: {}\n{text}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let f = failovers(&text);
    assert_eq!(f.len(), failovers_expected, "failovers of {name}:\n{text}");
    for (k, &(real, virt, bound)) in f.iter().enumerate() {
        let (real, virt) = (
            real.expect("traffic came back"),
            virt.expect("a prediction"),
        );
        assert!(
            real <= bound,
            "failover {}: {real} ms over the bound {bound} ms",
            k + 1
        );
        assert!(
            (real - virt).abs() <= tolerance,
            "failover {} of {name}: real {real} ms, virtual {virt} ms, more than {tolerance} ms apart",
            k + 1
        );
    }
    assert!(leftovers().is_empty(), "left behind: {:?}", leftovers());
    let frames = tshark(&pcap, &[]);
    let lines = String::from_utf8_lossy(&frames.stdout).lines().count();
    assert!(lines > 1000, "{lines} frames in the capture");
    let protocols = String::from_utf8_lossy(&frames.stdout).to_string();
    assert!(protocols.contains("ARP") && protocols.contains("UDP"));
    let bad = tshark(
        &pcap,
        &["-Y", "_ws.malformed || _ws.expert.severity == error"],
    );
    let bad = String::from_utf8_lossy(&bad.stdout);
    assert!(
        bad.trim().is_empty(),
        "tshark marks frames malformed:\n{bad}"
    );
}

fn tshark(pcap: &Path, args: &[&str]) -> Output {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(pcap)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// VRRP at 100 ms adverts, the holder loses power at 5 s.
#[test]
fn a_crash_in_tap_mode_agrees_with_virtual_time() {
    if !can_run() {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    run_and_compare("crash-holder-3", 1);
}

/// Quorum: two moves and a refused one (three failover faults).
#[test]
fn moves_in_tap_mode_agree_with_virtual_time() {
    if !can_run() {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    run_and_compare("q-move-4", 3);
}

/// While one run goes a second is refused with a reason (exit 2) and
/// touches nothing; SIGINT ends the first with 130 and removes everything.
#[test]
fn a_second_run_is_refused_and_ctrl_c_cleans_up() {
    if !can_run() {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let file = scenario_file("crash-holder-3");
    let first = Command::new(sim())
        .arg("tap")
        .arg(&file)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while leftovers().len() < 3 && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(leftovers().len(), 3, "the first run's namespaces");
    let second = Command::new(sim()).arg("tap").arg(&file).output().unwrap();
    assert_eq!(second.status.code(), Some(2));
    let why = String::from_utf8_lossy(&second.stderr);
    assert!(why.contains("another `sim tap` is running"), "{why}");
    assert_eq!(leftovers().len(), 3, "the second run touched nothing");
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(first.id() as i32).unwrap(),
        rustix::process::Signal::INT,
    )
    .unwrap();
    let out = first.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "interrupted");
    assert!(String::from_utf8_lossy(&out.stdout).contains("interrupted"));
    assert!(leftovers().is_empty(), "left behind: {:?}", leftovers());
}
